"""A user's own torch function (a custom autograd.Function, a fused kernel's wrapper) against a reference.

The function's answers beside the reference expression's: its forward value, its autograd Jacobian
and double backward, finite differences of its own forward, and the hygiene that
`torch.autograd.gradcheck` users trip over (float64, a connected graph, raw gradient dtype and shape,
a deterministic backward, non-contiguous inputs, inputs left unchanged).  The calls themselves go
through user_code.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import UserCodeError
from ..engines.finite_diff import FiniteDifferences, finite_differences_of_function
from ..engines.torch_engine import double_backward
from ..verdict.compare import Check, Tolerance
from .user_code import CallTimeout, Runner, UserFunction, guarded, over_batch, stdout_to_stderr


@dataclass
class FunctionAnswers:
    """The function's own answers for one case, and its case-level checks."""

    value: np.ndarray | None  # None: the function could not run in float64
    jacobian: dict[str, np.ndarray]
    finite: FiniteDifferences | None
    checks: list[Check]
    hessian: dict[tuple[str, str], np.ndarray] | None = None
    hessian_finite: dict[str, FiniteDifferences] | None = None


def check(function: UserFunction, point: dict[str, np.ndarray], wrt: list[str], reference_value: np.ndarray,
          tolerance: Tolerance, device: str, order: int = 1) -> FunctionAnswers:
    """Every check of the function at the point, against the reference expression's value.

    A function that only works in float32 gets its float64 check failed and nothing else."""
    with stdout_to_stderr():
        return _check(Runner(function, device, np.shape(reference_value)), point, wrt, reference_value, tolerance,
                      order)


def _check(runner: Runner, point, wrt: list[str], reference_value: np.ndarray, tolerance: Tolerance,
           order: int) -> FunctionAnswers:
    checks = [_float64(runner, point, reference_value)]
    if checks[0].status == "fail" and runner.raises_in_float64:
        return FunctionAnswers(None, {}, None, checks)
    tensors = runner.leaves(point, wrt)
    before = [t.detach().clone() for t in tensors]
    output = runner.call(tensors)
    value = output.detach().numpy(force=True).astype(np.float64)
    unchanged = _unchanged_inputs(runner, before, tensors)
    checks.append(_forward(value, reference_value, tolerance))
    checks.append(_connected(runner, output, wrt))
    checks.append(_gradient_metadata(runner, output, tensors, wrt))
    jacobian = runner.jacobian_of(output, tensors, point, wrt)
    checks.append(_reentrant(runner, point, wrt, jacobian))
    checks.append(_non_contiguous(runner, point, wrt, value, jacobian, tolerance) if checks[-1].status == "pass"
                  else Check("non-contiguous inputs", "skipped", "its backward is not deterministic, so a change "
                                                                 "could not be told from noise"))
    checks.append(unchanged)
    finite = finite_differences_of_function(over_batch(runner.value), point, wrt, value.shape)
    answers = FunctionAnswers(value, jacobian, finite, checks)
    if order == 2:
        answers.hessian = _double_backward(runner, point, wrt)
        answers.hessian_finite = {a: finite_differences_of_function(over_batch(runner.gradient(a, wrt)), point,
                                                                    wrt, np.shape(point[a])) for a in wrt}
    return answers


def _float64(runner: Runner, point, reference_value: np.ndarray) -> Check:
    import torch

    with torch.no_grad():
        try:
            output = runner.call(runner.leaves(point, []))
        except CallTimeout:
            raise  # one time limit per case: never a second wait on a retry in float32
        except UserCodeError as error:
            try:
                runner.call(runner.leaves(point, [], dtype=torch.float32))
            except UserCodeError:
                raise error from None
            runner.raises_in_float64 = True
            return Check("float64", "fail", f"fails on float64 inputs, though it works on float32 ones "
                                            f"({error.message})")
    if tuple(output.shape) != np.shape(reference_value):
        raise UserCodeError(f"{runner.function.label} returned a tensor of shape {tuple(output.shape)}; the "
                            f"reference expression's value has shape {np.shape(reference_value)}")
    if output.dtype != torch.float64:
        return Check("float64", "fail", f"returns {str(output.dtype).removeprefix('torch.')} for float64 inputs: "
                                        "it loses precision, and its gradient can only be checked loosely")
    return Check("float64", "pass", "float64 inputs give a float64 result")


def _forward(value: np.ndarray, reference: np.ndarray, tolerance: Tolerance) -> Check:
    gap = np.abs(value - reference)
    bad = ~tolerance.close(value, reference)
    if not bad.any():
        return Check("forward value", "pass", f"matches the reference expression (largest difference "
                                              f"{float(np.max(gap, initial=0.0)):.1e})")
    index = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(gap, nan=np.inf), -1.0))), value.shape)
    where = f"[{', '.join(map(str, index))}]" if value.ndim else ""
    return Check("forward value", "fail", f"differs from the reference expression at {int(bad.sum())} of "
                                          f"{value.size} element(s): f{where} = {float(value[index]):.10g}, "
                                          f"reference {float(reference[index]):.10g}")


def _unchanged_inputs(runner: Runner, before: list, after: list) -> Check:
    import torch

    changed = [name for name, old, new in zip(runner.function.inputs, before, after)
               if not torch.allclose(old, new.detach(), rtol=0, atol=0, equal_nan=True)]
    if changed:
        return Check("inputs unchanged", "fail", f"it modifies its input(s) {', '.join(changed)} in place: the "
                                                 "caller's tensors change, and autograd may be computing with "
                                                 "values that are gone")
    return Check("inputs unchanged", "pass", "its inputs are the same after the call")


def _connected(runner: Runner, output, wrt: list[str]) -> Check:
    """A result computed outside autograd (numpy, .item(), .detach(), no_grad) has a backward of zeros."""
    if wrt and not output.requires_grad:
        return Check("autograd graph", "fail", "its result does not require grad although its inputs do: it is "
                                               "detached from them (numpy, .item(), .detach() or torch.no_grad "
                                               "inside?), so its backward gives zeros")
    return Check("autograd graph", "pass", "its result is connected to its inputs")


def _gradient_metadata(runner: Runner, output, tensors: list, wrt: list[str]) -> Check:
    """Each custom backward's raw gradients against its inputs' dtype and shape.

    torch casts a float32 gradient to float64 and sums a broadcastable one to the input's shape
    without a word, so the backward of every autograd.Function in the graph is called once more,
    directly, on the gradients the engine gave it.
    """
    import torch

    nodes = _custom_nodes(output.grad_fn)
    seen: dict[int, tuple] = {}
    def keeper(node):
        def keep(grads):
            seen.setdefault(id(node), grads)
        return keep

    handles = [node.register_prehook(keeper(node)) for node in nodes]
    targets = runner.targets(tensors, wrt)
    try:
        with guarded(f"the backward of {runner.function.label} raised"):
            if output.requires_grad and targets:
                torch.autograd.grad(output.sum(), targets, allow_unused=True, retain_graph=True)
            raw = [(node, _raw_gradients(node, seen[id(node)])) for node in nodes if id(node) in seen]
    finally:
        for handle in handles:
            handle.remove()
    try:
        problems = [p for node, gradients in raw for p in _raw_gradient_problems(node, gradients)]
    except _Unmatched as reason:
        return Check("gradient dtype and shape", "skipped", str(reason))
    if problems:
        return Check("gradient dtype and shape", "fail", "; ".join(problems))
    if not nodes:
        return Check("gradient dtype and shape", "skipped", "no custom autograd.Function in the graph: torch's own "
                                                            "backwards are trusted")
    functions = "1 custom autograd.Function" if len(nodes) == 1 else f"{len(nodes)} custom autograd.Functions"
    return Check("gradient dtype and shape", "pass", f"every backward returns gradients of its inputs' dtype and "
                                                     f"shape ({functions} in the graph)")


def _custom_nodes(root) -> list:
    """The autograd.Function nodes of a backward graph."""
    nodes, stack, seen = [], [root], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if hasattr(node, "_forward_cls"):
            nodes.append(node)
        stack.extend(edge[0] for edge in node.next_functions)
    return nodes


class _Unmatched(Exception):
    """The raw gradients of a backward cannot be matched to the inputs they are for."""


def _raw_gradients(node, grad_outputs: tuple) -> tuple:
    import torch

    with torch.no_grad():
        raw = node._forward_cls.backward(node, *grad_outputs)
    return raw if isinstance(raw, tuple) else (raw,)


def _raw_gradient_problems(node, raw: tuple) -> list[str]:
    name = node._forward_cls.__name__
    if len(raw) != len(node.next_functions):
        raise _Unmatched(f"{name}.backward returns {len(raw)} gradients for {len(node.next_functions)} tensor "
                         "inputs (some of its inputs are not tensors): they cannot be matched to check them")
    problems = []
    for position, (gradient, (next_node, slot)) in enumerate(zip(raw, node.next_functions)):
        if gradient is None or next_node is None:
            continue
        metadata = getattr(next_node, "_input_metadata", None)  # a private torch attribute, read defensively
        if metadata is None:
            raise _Unmatched("this torch does not expose the inputs' metadata (_input_metadata) to check against")
        expected = metadata[slot]
        if gradient.dtype != expected.dtype:
            problems.append(f"{name}.backward returns a {str(gradient.dtype).removeprefix('torch.')} gradient for "
                            f"input {position}, which is {str(expected.dtype).removeprefix('torch.')} "
                            "(torch casts it silently)")
        if tuple(gradient.shape) != tuple(expected.shape):
            problems.append(f"{name}.backward returns a gradient of shape {tuple(gradient.shape)} for input "
                            f"{position} of shape {tuple(expected.shape)} (torch sums it silently)")
    return problems


def _reentrant(runner: Runner, point, wrt: list[str], first: dict[str, np.ndarray]) -> Check:
    second = runner.jacobian(point, wrt)
    gaps = {name: float(np.max(np.abs(first[name] - second[name]), initial=0.0)) for name in wrt}
    changed = {name: gap for name, gap in gaps.items()
               if not np.array_equal(first[name], second[name], equal_nan=True)}
    if changed:
        name, gap = max(changed.items(), key=lambda item: item[1])
        return Check("deterministic backward", "fail", f"two backward passes give different gradients for "
                                                       f"{', '.join(changed)} (largest difference {gap:.1e} in {name})")
    return Check("deterministic backward", "pass", "two backward passes give identical gradients")


def _non_contiguous(runner: Runner, point, wrt: list[str], value: np.ndarray, contiguous: dict[str, np.ndarray],
                    tolerance: Tolerance) -> Check:
    """The value and gradient again with strided inputs (and transposed ones, for matrices and up)."""
    if all(np.size(point[name]) <= 1 for name in runner.function.inputs):
        return Check("non-contiguous inputs", "skipped", "every input is a single number")
    try:
        tensors = runner.leaves(point, wrt, contiguous=False)
        output = runner.call(tensors)
        strided = runner.jacobian_of(output, tensors, point, wrt)
    except CallTimeout:
        raise
    except UserCodeError as error:
        return Check("non-contiguous inputs", "fail", f"non-contiguous inputs make it fail: {error.message}")
    if not _close(output.detach().numpy(force=True).astype(np.float64), value, tolerance):
        return Check("non-contiguous inputs", "fail", "non-contiguous inputs change its value")
    differing = [name for name in wrt if not _close(strided[name], contiguous[name], tolerance)]
    if differing:
        return Check("non-contiguous inputs", "fail", f"non-contiguous inputs change the gradient of "
                                                      f"{', '.join(differing)}")
    return Check("non-contiguous inputs", "pass", "non-contiguous inputs give the same value and gradient")


def _close(a: np.ndarray, b: np.ndarray, tolerance: Tolerance) -> bool:
    """Elementwise agreement at the tolerance, NaN agreeing with NaN."""
    return bool(np.all(tolerance.close(a, b) | (np.isnan(a) & np.isnan(b))))


def _double_backward(runner: Runner, point, wrt: list[str]) -> dict[tuple[str, str], np.ndarray]:
    """{(a, b): d2 f / da db} by the function's backward differentiated again (create_graph=True)."""
    import torch

    tensors = runner.leaves(point, wrt)
    output = runner.call(tensors)
    targets = runner.targets(tensors, wrt)
    with guarded(f"the double backward of {runner.function.label} raised"):
        return double_backward(torch, output, targets, point, wrt)


def device_for(requested: str) -> tuple[str, str | None]:
    """The device to run on, and a note when the requested one is not there."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        return "cpu", "{device=cuda} skipped: no CUDA device; the function ran on the CPU"
    return requested, None
