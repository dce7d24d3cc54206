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
    gradients = stacked_gradients(torch, result.reshape(-1), targets, point, wrt, tuple(result.shape))
    return result.detach().numpy(force=True).astype(np.float64), gradients


def autograd_hessian(output: Node, point: dict[str, np.ndarray], wrt: list[str],
                     dtype: str = "float64") -> dict[tuple[str, str], np.ndarray]:
    """{(a, b): d2 f / da db} by double backward (create_graph=True), shaped a's shape + b's shape."""
    import torch

    result, targets = _build(torch, output, point, wrt, dtype)
    if not result.requires_grad:  # f depends on no variable at all
        return {(a, b): np.zeros(np.shape(point[a]) + np.shape(point[b])) for a in wrt for b in wrt}
    return double_backward(torch, result, targets, point, wrt)


def double_backward(torch, output, targets: list, point: dict[str, np.ndarray],
                    wrt: list[str]) -> dict[tuple[str, str], np.ndarray]:
    """{(a, b): d2 output / da db}, shaped a's shape + b's shape: the gradient of the scalar `output` taken with
    create_graph=True, then each of its elements differentiated again; zeros where output does not depend
    on a.  `targets`: the leaf tensors of `wrt`, in order.  Raises what torch.autograd.grad raises (an
    output that does not require grad, a backward that fails)."""
    firsts = torch.autograd.grad(output, targets, create_graph=True, allow_unused=True)
    hessian = {}
    for a, first in zip(wrt, firsts):
        elements = first.reshape(-1) if first is not None else torch.zeros(int(np.size(point[a])))
        by_b = stacked_gradients(torch, elements, targets, point, wrt, np.shape(point[a]))
        hessian.update({(a, b): by_b[b] for b in wrt})
    return hessian


def stacked_gradients(torch, elements, targets: list, point: dict[str, np.ndarray], wrt: list[str],
                      shape: tuple) -> dict[str, np.ndarray]:
    """{variable: the gradients of each of `elements` (a flat tensor) stacked}, shaped `shape` (the elements'
    own, unflattened) + the variable's shape: a Jacobian, one backward per element."""
    rows = [_element_gradients(torch, element, targets, point, wrt) for element in elements]
    return {name: np.stack([row[i] for row in rows]).reshape(tuple(shape) + np.shape(point[name]))
            for i, name in enumerate(wrt)}


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


def _element_gradients(torch, scalar, targets, point, wrt) -> list[np.ndarray]:
    """The gradient of one output element with respect to each target (zeros where unused)."""
    if not scalar.requires_grad:
        return [np.zeros(np.shape(point[name])) for name in wrt]
    grads = torch.autograd.grad(scalar, targets, allow_unused=True, retain_graph=True)
    return [np.zeros(np.shape(point[name])) if g is None else g.detach().numpy(force=True).astype(np.float64)
            for name, g in zip(wrt, grads)]
