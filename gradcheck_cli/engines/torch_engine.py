"""torch.autograd as an engine: the graph rebuilt from torch ops, then autograd.grad.

torch is imported here, on first use, and nowhere else: runs that fail on a
parse error or only print help never pay for it.
"""

from __future__ import annotations

import numpy as np

from ..lang.graph import Node, ancestors
from ..lang.ops import OPS


def autograd_gradients(output: Node, point: dict[str, np.ndarray], wrt: list[str], dtype: str = "float64",
                       nodes: list[Node] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(value, {variable: gradient}) as torch computes them in `dtype`.

    For a non-scalar value the gradient is the Jacobian, shaped value shape + variable shape.
    `nodes`: the output's ancestors, when the caller has them.
    """
    import torch

    result, targets = _build(torch, output, point, wrt, dtype, nodes)
    rows = [element_gradients(torch, element, targets, point, wrt) for element in result.reshape(-1)]
    gradients = {name: np.stack([row[i] for row in rows]).reshape(result.shape + np.shape(point[name]))
                 for i, name in enumerate(wrt)}
    return result.detach().numpy(force=True).astype(np.float64), gradients


def autograd_hessian(output: Node, point: dict[str, np.ndarray], wrt: list[str],
                     dtype: str = "float64") -> dict[tuple[str, str], np.ndarray]:
    """{(a, b): d2 f / da db} by double backward (create_graph=True), shaped a's shape + b's shape."""
    import torch

    result, targets = _build(torch, output, point, wrt, dtype)
    firsts = torch.autograd.grad(result, targets, create_graph=True, allow_unused=True) \
        if result.requires_grad else [None] * len(wrt)
    hessian = {}
    for a, first in zip(wrt, firsts):
        shape_a = np.shape(point[a])
        if first is None:  # f does not depend on a at all
            rows = [[np.zeros(np.shape(point[b])) for b in wrt] for _ in range(int(np.prod(shape_a)))]
        else:
            rows = [element_gradients(torch, e, targets, point, wrt) for e in first.reshape(-1)]
        for j, b in enumerate(wrt):
            hessian[(a, b)] = np.stack([row[j] for row in rows]).reshape(shape_a + np.shape(point[b]))
    return hessian


def _build(torch, output: Node, point, wrt, dtype: str, nodes: list[Node] | None = None):
    """The output tensor, computed by torch ops from leaves that require grad for `wrt`."""
    torch_dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    differentiated = set(wrt)
    leaves = {name: torch.from_numpy(np.array(value, dtype=dtype)).requires_grad_(name in differentiated)
              for name, value in point.items()}
    values: dict[int, torch.Tensor] = {}
    for node in nodes if nodes is not None else ancestors([output]):
        if node.op == "const":
            values[node.id] = torch.scalar_tensor(node.attr, dtype=torch_dtype)
        elif node.op == "var":
            values[node.id] = leaves[node.attr]
        elif not node.args:  # ones(3), eye(2): constants built by the registry's numpy kernel
            values[node.id] = torch.tensor(OPS[node.op].evaluate([], node.attr)[0], dtype=torch_dtype)
        else:
            values[node.id] = OPS[node.op].build_torch([values[a.id] for a in node.args], node.attr)
    return values[output.id], [leaves[name] for name in wrt]


def element_gradients(torch, scalar, targets, point, wrt) -> list[np.ndarray]:
    """The gradient of one output element with respect to each target (zeros where unused)."""
    if not scalar.requires_grad:
        return [np.zeros(np.shape(point[name])) for name in wrt]
    grads = torch.autograd.grad(scalar, targets, allow_unused=True, retain_graph=True)
    return [np.zeros(np.shape(point[name])) if g is None else g.detach().numpy(force=True).astype(np.float64)
            for name, g in zip(wrt, grads)]
