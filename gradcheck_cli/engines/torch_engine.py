"""torch.autograd as an engine: the graph rebuilt from torch ops, then autograd.grad.

torch is imported here, on first use (`loaded_torch`): runs that fail on a parse error or only print help
never pay for it.
"""

from __future__ import annotations

import gc

import numpy as np

from ..lang.graph import Node, ancestors
from ..lang.ops import OPS


def autograd_gradients(output: Node, point: dict[str, np.ndarray], wrt: list[str], dtype: str = "float64",
                       nodes: list[Node] | None = None,
                       notes: list[str] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(value, {variable: gradient}) as torch computes them in `dtype`.

    For a non-scalar value the gradient is the Jacobian, shaped value shape + variable shape.
    `nodes`: the output's ancestors, when the caller has them.  `notes` receives a note for each op that torch
    does not differentiate in an operand that needs a gradient here, and that is differentiated written out.
    """
    torch = loaded_torch()
    result, targets = _build(torch, output, point, wrt, dtype, nodes, notes)
    if result.numel() == 1:
        return _scalar_gradients(torch, result, targets, point, wrt)
    gradients = stacked_gradients(torch, result.reshape(-1), targets, point, wrt, tuple(result.shape))
    return result.detach().numpy(force=True).astype(np.float64), gradients


def loaded_torch():
    """torch, imported on first use.  At the first call, the objects alive then (torch's own, a few hundred
    thousand, with the modules already imported) are moved out of the garbage collector's reach with gc.freeze:
    they live as long as the process, and every full collection afterwards would walk them again (a one-line
    check spent a fifth of its time there; a 10,000-node check grew faster than linearly with its size)."""
    import torch

    global _FROZEN
    if not _FROZEN:
        gc.freeze()
        _FROZEN = True
    return torch


_FROZEN = False


def _scalar_gradients(torch, result, targets: list, point: dict[str, np.ndarray],
                      wrt: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """autograd_gradients of a one-element output: one backward for every variable, scalars read as numbers."""
    shape = tuple(result.shape)
    value = np.asarray(result.item(), dtype=np.float64).reshape(shape)
    if not result.requires_grad:
        return value, {name: np.zeros(shape + np.shape(point[name])) for name in wrt}
    grads = torch.autograd.grad(result.reshape(()), targets, allow_unused=True)
    return value, {name: _as_array(g, shape + np.shape(point[name])) for name, g in zip(wrt, grads)}


def _as_array(gradient, shape: tuple) -> np.ndarray:
    """A gradient tensor (None where unused: zeros) as a float64 array of `shape`."""
    if gradient is None:
        return np.zeros(shape)
    if gradient.numel() == 1:
        return np.full(shape, gradient.item())
    return gradient.detach().numpy(force=True).astype(np.float64).reshape(shape)


def autograd_hessian(output: Node, point: dict[str, np.ndarray], wrt: list[str],
                     dtype: str = "float64") -> dict[tuple[str, str], np.ndarray]:
    """{(a, b): d2 f / da db} by double backward (create_graph=True), shaped a's shape + b's shape."""
    torch = loaded_torch()

    result, targets = _build(torch, output, point, wrt, dtype)
    if not result.requires_grad:  # f depends on no variable at all
        return {(a, b): np.zeros(np.shape(point[a]) + np.shape(point[b])) for a in wrt for b in wrt}
    return double_backward(torch, result, targets, point, wrt)


def autograd_hessian_vector(output: Node, point: dict[str, np.ndarray], wrt: list[str],
                            directions: dict[str, np.ndarray],
                            dtype: str = "float64") -> dict[str, dict[str, np.ndarray]]:
    """{a: {b: d/db (∇_a f · directions[a])}} by double backward: one backward of f with create_graph=True, then
    one per variable a; each shaped b's shape.  Raises NotImplementedError where torch has no double backward."""
    torch = loaded_torch()

    result, targets = _build(torch, output, point, wrt, dtype)
    zeros = {b: np.zeros(np.shape(point[b])) for b in wrt}
    if not result.requires_grad:
        return {a: dict(zeros) for a in wrt}
    firsts = torch.autograd.grad(result, targets, create_graph=True, allow_unused=True)
    products = {}
    for a, first in zip(wrt, firsts):
        if first is None or not first.requires_grad:
            products[a] = dict(zeros)
            continue
        along = (first * torch.as_tensor(directions[a], dtype=first.dtype)).sum()
        seconds = torch.autograd.grad(along, targets, retain_graph=True, allow_unused=True)
        products[a] = {b: _as_array(g, np.shape(point[b])) for b, g in zip(wrt, seconds)}
    return products


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


def _build(torch, output: Node, point, wrt, dtype: str, nodes: list[Node] | None = None,
           notes: list[str] | None = None):
    """The output tensor, computed by torch ops from leaves that require grad for `wrt`; in `notes`, what an op
    torch does not differentiate in one of its operands was differentiated as (`_written_out`)."""
    torch_dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    differentiated = set(wrt)
    leaves = {name: _leaf(torch, value, torch_dtype, dtype, name in differentiated) for name, value in point.items()}
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
            if notes is not None and OPS[node.op].torch_refuses:
                _written_out(node, values, notes)
    return values[output.id], [leaves[name] for name in wrt]


def _written_out(node: Node, values: dict, notes: list[str]) -> None:
    """A note, once, where the node's op was built written out because torch refuses to differentiate it in an
    operand that requires grad (cross_entropy's weight): the autograd column is then not torch's own backward."""
    spec = OPS[node.op]
    refused = [name for name, operand in zip(spec.operand_names(node.attr), node.args)
               if name in spec.torch_refuses and values[operand.id].requires_grad]
    note = spec.written_out(refused) if refused else None
    if note and note not in notes:
        notes.append(note)


def _leaf(torch, value, torch_dtype, dtype: str, requires_grad: bool):
    """A variable's tensor; a scalar built directly (a numpy round trip costs more than the scalar's backward), by
    torch.scalar_tensor: torch.tensor parses its argument as a nested sequence first (13 us against 5)."""
    if np.ndim(value) == 0:
        return torch.scalar_tensor(float(value), dtype=torch_dtype).requires_grad_(requires_grad)
    return torch.from_numpy(np.array(value, dtype=dtype)).requires_grad_(requires_grad)


def _element_gradients(torch, scalar, targets, point, wrt) -> list[np.ndarray]:
    """The gradient of one output element with respect to each target (zeros where unused)."""
    if not scalar.requires_grad:
        return [np.zeros(np.shape(point[name])) for name in wrt]
    grads = torch.autograd.grad(scalar, targets, allow_unused=True, retain_graph=True)
    return [_as_array(g, np.shape(point[name])) for name, g in zip(wrt, grads)]
