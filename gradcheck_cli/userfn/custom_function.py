"""A user's own torch function (a custom autograd.Function, a fused kernel's wrapper) against a reference.

The function's answers beside the reference expression's: its forward value, its autograd Jacobian
and double backward, finite differences of its own forward, and the hygiene that
`torch.autograd.gradcheck` users trip over (float64, a connected graph, raw gradient dtype and shape,
a deterministic backward, non-contiguous inputs, inputs left unchanged).  The calls themselves go
through user_code.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import UserCodeError, describe_exception
from ..engines.finite_diff import FiniteDifferences, finite_differences_of_function
from ..engines.torch_engine import double_backward, stacked_gradients
from ..verdict.compare import Check, Tolerance
from .batched import BATCHED, batched_gradient_check
from .double_backward import double_backward_check
from .forward_mode import FORWARD_AD, forward_ad_check
from .user_code import (
    CallTimeout,
    Runner,
    UserFunction,
    custom_function_nodes,
    element_name,
    guarded,
    over_batch,
    stdout_to_stderr,
)


@dataclass
class FunctionAnswers:
    """The function's own answers for one case, and its case-level checks."""

    value: np.ndarray | None  # None: no gradient columns (it could not run in float64, or its backward cannot run)
    jacobian: dict[str, np.ndarray]
    finite: FiniteDifferences | None
    checks: list[Check]
    hessian: dict[tuple[str, str], np.ndarray] | None = None
    hessian_finite: dict[str, FiniteDifferences] | None = None


def check(function: UserFunction, point: dict[str, np.ndarray], wrt: list[str], reference_value: np.ndarray | None,
          tolerance: Tolerance, device: str, order: int = 1, max_entries: int = 1_000_000,
          integers: frozenset[str] = frozenset(), reference: str = "the reference expression",
          nondet_tol: float = 0.0) -> FunctionAnswers:
    """Every check of the function at the point, against the reference's value (an expression's or a reference
    function's); with `reference_value` None (the function alone) there is no forward value check, and the
    function's own output gives the shape.  `integers`: inputs passed as int64 index data; `reference`: what the
    reference is called in the forward value check.

    A function that only works in float32 gets its float64 check failed and nothing else; one whose
    backward raises on the undefined (None) gradient torch gives it, its undefined-gradient check failed and
    no gradient columns.  `max_entries`: the most Jacobian entries of the other outputs of a tuple result
    checked (the reference's own are limited before this is called); `nondet_tol`: the largest difference two
    backward passes may show in the deterministic backward check (0: bitwise equal, as torch's nondet_tol)."""
    with stdout_to_stderr():
        shape = None if reference_value is None else np.shape(reference_value)
        return _check(Runner(function, device, shape, integers=integers), point, wrt, reference_value, tolerance,
                      order, max_entries, reference, nondet_tol)


@dataclass
class _FirstCall:
    """The checks of one float64 call (float64, forward value, autograd graph), and what the others build on."""

    checks: list[Check]
    tensors: list | None = None  # the leaves it was called on; None: it cannot run in float64
    output: object = None
    value: np.ndarray | None = None
    unchanged: Check | None = None


def _first_call(runner: Runner, point, wrt: list[str], reference_value: np.ndarray | None, tolerance: Tolerance,
                reference: str) -> _FirstCall:
    checks = [_float64(runner, point, reference_value, reference)]
    if checks[0].status == "fail" and runner.raises_in_float64:
        return _FirstCall(checks)
    tensors = runner.leaves(point, wrt)
    before = [t.detach().clone() for t in tensors]
    output = runner.call(tensors)
    value = output.detach().numpy(force=True).astype(np.float64)
    unchanged = _unchanged_inputs(runner, before, tensors)
    if reference_value is not None:
        checks.append(_forward(value, reference_value, tolerance, reference, runner.function))
    checks.append(_connected(runner, output, wrt))
    return _FirstCall(checks, tensors, output, value, unchanged)


def _check(runner: Runner, point, wrt: list[str], reference_value: np.ndarray | None, tolerance: Tolerance,
           order: int, max_entries: int, reference: str, nondet_tol: float) -> FunctionAnswers:
    first = _first_call(runner, point, wrt, reference_value, tolerance, reference)
    if first.tensors is None:
        return FunctionAnswers(None, {}, None, first.checks)
    checks, tensors, output, value, unchanged = first.checks, first.tensors, first.output, first.value, first.unchanged
    try:
        checks.append(_gradient_metadata(runner, output, tensors, wrt))
    except _UndefinedGradientCrash as crash:  # no backward pass can run: the checks that need none, and this
        return FunctionAnswers(None, {}, None, _without_backward(runner, checks, str(crash), unchanged))
    checks.append(_undefined_gradients(runner, point, wrt))
    jacobian = runner.jacobian_of(output, tensors, point, wrt)
    checks.append(_reentrant(runner, point, wrt, jacobian, nondet_tol))
    checks.append(_non_contiguous(runner, point, wrt, value, jacobian, tolerance) if checks[-1].status == "pass"
                  else Check("non-contiguous inputs", "skipped", "its backward is not deterministic, so a change "
                                                                 "could not be told from noise"))
    checks.append(unchanged)
    if runner.function.output is not None:
        checks.append(_other_outputs(runner, point, wrt, tolerance, max_entries))
    finite = finite_differences_of_function(over_batch(runner.value), point, wrt, value.shape)
    checks.append(forward_ad_check(runner, point, wrt, jacobian, finite, tolerance))
    checks.append(batched_gradient_check(runner, point, wrt, jacobian, tolerance))
    answers = FunctionAnswers(value, jacobian, finite, checks)
    if order == 2:
        checks.append(double_backward_check(runner, point, wrt))
        if checks[-1].status == "fail":  # its Hessian would read 0: the check says why, with no wrong numbers
            return answers
        answers.hessian = _double_backward(runner, point, wrt)
        answers.hessian_finite = {a: finite_differences_of_function(over_batch(runner.gradient(a, wrt)), point,
                                                                    wrt, np.shape(point[a])) for a in wrt}
    return answers


def quick_checks(runner: Runner, point, wrt: list[str], tolerance: Tolerance, reference_value: np.ndarray | None = None,
                 reference: str = "the reference") -> FunctionAnswers:
    """The checks that cost a call or two, for {fast} (projections, where the full Jacobian is out of reach):
    float64, the forward value against `reference_value` where there is one, the autograd graph, inputs
    unchanged, with the function's value (None where it only works in float32)."""
    with stdout_to_stderr():
        first = _first_call(runner, point, wrt, reference_value, tolerance, reference)
    if first.tensors is None:
        return FunctionAnswers(None, {}, None, first.checks)
    return FunctionAnswers(first.value, {}, None, [*first.checks, first.unchanged])


def _without_backward(runner: Runner, checks: list[Check], crash: str, unchanged: Check) -> list[Check]:
    """The checks of a function whose every backward pass raises on an undefined gradient: those of its
    backward skipped, in their usual order."""
    skipped = "its backward cannot run (see undefined incoming gradient)"
    return [*checks, Check("gradient dtype and shape", "skipped", skipped), Check(UNDEFINED, "fail", crash),
            Check("deterministic backward", "skipped", skipped), Check("non-contiguous inputs", "skipped", skipped),
            unchanged] + ([Check("other outputs", "skipped", skipped)] if runner.function.output is not None else []) \
        + [Check(FORWARD_AD, "skipped", skipped), Check(BATCHED, "skipped", skipped)]


def _float64(runner: Runner, point, reference_value: np.ndarray | None, reference: str) -> Check:
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
    if runner.shape is None:  # the function alone: its output's shape is the one every later call must have
        runner.shape = tuple(output.shape)
    if tuple(output.shape) != tuple(runner.shape):
        raise UserCodeError(f"{runner.function.label} returned a tensor of shape {tuple(output.shape)}; "
                            f"{reference}'s value has shape {np.shape(reference_value)}")
    if output.dtype != torch.float64:
        return Check("float64", "fail", f"returns {str(output.dtype).removeprefix('torch.')} for float64 inputs: "
                                        "it loses precision, and its gradient can only be checked loosely")
    if _float32_inside(runner, point, output):
        return Check("float64", "fail", "returns float64 for float64 inputs, but every value is a float32 number, "
                                        "at the point and off float32's grid: it computes in float32 inside "
                                        "(.float(), a float32 constant or buffer?), so it loses precision, and its "
                                        "gradient can only be checked loosely")
    return Check("float64", "pass", "float64 inputs give a float64 result")


def _float32_inside(runner: Runner, point, output) -> bool:
    """Whether a float64 result was computed in float32.  Its values are float32 numbers (not all whole numbers)
    at the point; they do not move when every input moves by less than float32 can see (times 1 + 2⁻³⁰), as a
    function that rounds its inputs to float32 gives; and when each input moves by its own step that float32
    sees (about 2⁻¹⁹ relative, a different one per element), some values move and every value is still a float32
    number, where a float64 computation gives values float32 cannot hold.  A ratio or a normalisation (the same
    factor on every input cancels) and a saturated clamp or a constant (nothing moves) are float64 functions
    that pass.  Two more calls, without autograd."""
    value = output.detach().numpy(force=True)
    if not _float32_numbers(value) or not np.array_equal(_result(runner, _moved(runner, point, _unseen)), value):
        return False
    seen = _result(runner, _moved(runner, point, _seen))
    return seen is not None and not np.array_equal(seen, value) and _float32_numbers(seen, whole=True)


def _unseen(shape, first: int) -> np.ndarray:
    """One factor for every element, too close to 1 for float32 to tell the product from the input."""
    return np.full(shape, 1 + 2.0**-30)


def _seen(shape, first: int) -> np.ndarray:
    """A different factor for each element of every input (so ratios do not cancel), numbered from `first`, each
    far enough from 1 for float32 to see."""
    golden = (np.sqrt(5) - 1) / 2
    ranks = np.arange(first, first + int(np.prod(shape, dtype=int)), dtype=np.float64).reshape(shape)
    return 1 + 2.0**-19 * (1 + np.mod(ranks * golden, 1))


def _moved(runner: Runner, point, factors) -> dict:
    """The point with every float input times `factors(its shape, its first element's number among all the
    inputs' elements)`; integer inputs stay."""
    moved, first = {}, 1
    for name, v in point.items():
        v = np.asarray(v, dtype=np.float64)
        moved[name] = point[name] if name in runner.integers else v * factors(v.shape, first)
        first += v.size
    return moved


def _result(runner: Runner, point) -> np.ndarray | None:
    """The function's float64 value at `point`, or None where it raises or returns another dtype."""
    import torch

    output = runner.result_or_none(point)
    if output is None or output.dtype != torch.float64:
        return None
    return output.detach().numpy(force=True)


def _float32_numbers(value: np.ndarray, whole: bool = False) -> bool:
    """Every value finite and a float32 number, and (unless `whole`) some of them not whole numbers (which any
    dtype holds)."""
    value = np.asarray(value, dtype=np.float64)
    if value.size == 0 or not np.all(np.isfinite(value)) or (not whole and np.all(value == np.round(value))):
        return False
    return bool(np.all(value.astype(np.float32).astype(np.float64) == value))


def _forward(value: np.ndarray, reference: np.ndarray, tolerance: Tolerance, what: str,
             function: UserFunction) -> Check:
    gap = np.abs(value - reference)
    bad = ~tolerance.close(value, reference)
    if not bad.any():
        return Check("forward value", "pass", f"matches {what} (largest difference "
                                              f"{float(np.max(gap, initial=0.0)):.1e})")
    index = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(gap, nan=np.inf), -1.0))), value.shape)
    return Check("forward value", "fail", f"differs from {what} at {int(bad.sum())} of "
                                          f"{value.size} element(s): {element_name(function, index)} = "
                                          f"{float(value[index]):.10g}, "
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
    without a word, so what the backward of every autograd.Function in the graph returns is caught
    on its way to the engine (_watched), in one ordinary backward pass: called with exactly the
    gradients the engine gives it (zeros for an unused output, or None where the Function opted out
    of them with ctx.set_materialize_grads(False)).  A backward that raises on such a None is the
    undefined-gradient check's failure (_UndefinedGradientCrash), not an error of gradcheck's.
    """
    import torch

    nodes = custom_function_nodes(output.grad_fn)
    targets = runner.targets(tensors, wrt)
    with _watched(nodes) as watch:
        if output.requires_grad and targets:
            _backward_or_crash(runner, lambda: torch.autograd.grad(output.sum(), targets, allow_unused=True,
                                                                    retain_graph=True), watch)
    if nodes and not watch.installed:
        return Check("gradient dtype and shape", "skipped", "this torch does not let gradcheck see the gradients a "
                                                            "backward returns before its engine casts them")
    try:
        problems = [p for call in watch.first_calls() for p in _raw_gradient_problems(call.node, call.raw)]
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


UNDEFINED = "undefined incoming gradient"
MATERIALIZE_HINT = ("; a Function that calls ctx.set_materialize_grads(False) is given None there, not zeros, and "
                    "must handle it")


class _UndefinedGradientCrash(Exception):
    """An ordinary backward pass raised in a Function's backward that torch had given None: its message is the
    failed undefined-gradient check's."""


def _backward_or_crash(runner: Runner, backward: Callable, watch: _Watch):
    """backward() in the guard for user code; where it raised in a backward that got a None gradient,
    _UndefinedGradientCrash naming the Function and the output."""
    try:
        with guarded(f"the backward of {runner.function.label} raised"):
            return backward()
    except CallTimeout:
        raise
    except UserCodeError:
        crash = watch.crash()
        if crash is None or not crash.undefined or _raises_with_zeros(runner, crash):
            raise
        raise _UndefinedGradientCrash(
            f"{crash.name}.backward raised on the undefined (None) gradient torch gave it for {crash.outputs} (not "
            f"used by the result, or its gradient otherwise undefined): {describe_exception(crash.error)}"
            f"{MATERIALIZE_HINT}") from None


def _raises_with_zeros(runner: Runner, crash: _Call) -> bool:
    """Whether the backward that raised on a None gradient raises with zeros in its place too (so its error is not
    the None's).  Called directly, once, on a graph that was kept (retain_graph); where torch does not expose the
    outputs' metadata to make the zeros with, the None is taken for the cause."""
    import torch

    metadata = getattr(crash.node, "_input_metadata", None)  # a private torch attribute, read defensively
    if metadata is None or len(metadata) != len(crash.args):
        return False
    zeros = [torch.zeros(tuple(m.shape), dtype=m.dtype, device=m.device) if arg is None else arg
             for arg, m in zip(crash.args, metadata)]
    try:
        with guarded(f"the backward of {runner.function.label} raised"), torch.no_grad():
            type(crash.node).apply(crash.node, *zeros)
    except CallTimeout:
        raise
    except UserCodeError:
        return True
    return False


@dataclass
class _Call:
    """One call of a custom backward by the engine: the gradients it was given, and what it returned or raised."""

    node: object
    args: tuple
    raw: tuple | None = None
    error: BaseException | None = None

    @property
    def name(self) -> str:
        return self.node._forward_cls.__name__

    @property
    def undefined(self) -> list[int]:
        """The outputs whose gradient it was given as None."""
        return [i for i, arg in enumerate(self.args) if arg is None]

    @property
    def outputs(self) -> str:
        positions = self.undefined
        if len(positions) == 1:
            return f"its output {positions[0]}"
        return f"its outputs {', '.join(map(str, positions[:-1]))} and {positions[-1]}"


@dataclass
class _Watch:
    """The nodes whose backward is watched, and the engine's calls of them, in order."""

    installed: list = field(default_factory=list)
    calls: list[_Call] = field(default_factory=list)

    def first_calls(self) -> list[_Call]:
        seen, first = set(), []
        for call in self.calls:
            if call.raw is not None and id(call.node) not in seen:
                seen.add(id(call.node))
                first.append(call)
        return first

    def crash(self) -> _Call | None:
        return next((call for call in self.calls if call.error is not None), None)


@contextmanager
def _watched(nodes: list):
    """Each custom node's `apply` (what the engine calls, looked up on the node) wrapped for the duration, to
    record the gradients the engine passes to the backward (after torch has materialized zeros, or not) and
    the raw gradients it returns (before the engine casts or sums them)."""
    watch = _Watch()

    def spy_on(node):
        apply = type(node).apply

        def spy(*args):
            call = _Call(node, args)
            watch.calls.append(call)
            try:
                raw = apply(node, *args)
            except BaseException as error:
                call.error = error
                raise
            call.raw = raw if isinstance(raw, tuple) else (raw,)
            return raw
        return spy

    for node in nodes:
        try:
            node.apply = spy_on(node)
        except (AttributeError, TypeError):  # a torch whose nodes take no attributes: nothing is watched
            continue
        watch.installed.append(node)
    try:
        yield watch
    finally:
        for node in watch.installed:
            with suppress(AttributeError):
                del node.apply


class _Unmatched(Exception):
    """The raw gradients of a backward cannot be matched to the inputs they are for."""


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


def _undefined_gradients(runner: Runner, point, wrt: list[str]) -> Check:
    """torch.autograd.gradcheck's check_undefined_grad: with the gradient of every output undefined, and (for a
    tuple result) of each output in turn, the others zero, the backward runs and gives zero (or None)
    gradients.  An autograd.Function is given zeros for an undefined gradient, unless it opted out with
    ctx.set_materialize_grads(False): it is then given None, and must handle it."""
    import torch

    undefined_grad = getattr(getattr(torch._C, "_functions", None), "UndefinedGrad", None)
    if undefined_grad is None:
        return Check(UNDEFINED, "skipped", "this torch has no UndefinedGrad to make an undefined gradient with")
    if not wrt:
        return Check(UNDEFINED, "skipped", "nothing is differentiated")
    outputs = runner.call_all(runner.leaves(point, wrt))
    differentiable = [i for i, o in enumerate(outputs) if isinstance(o, torch.Tensor) and o.requires_grad]
    if not differentiable:
        return Check(UNDEFINED, "skipped", "its result does not require grad")
    one = len(outputs) == 1 and runner.function.output is None
    trials = [differentiable] + ([[i] for i in differentiable] if len(differentiable) > 1 else [])
    for undefined in trials:
        what = _undefined_outputs(undefined, one)
        tensors = runner.leaves(point, wrt)
        outputs = runner.call_all(tensors)
        chosen = [undefined_grad()(outputs[i]) if i in undefined else outputs[i] for i in differentiable]
        targets = runner.targets(tensors, wrt)
        with _watched(custom_function_nodes(*(o.grad_fn for o in chosen))) as watch:
            try:
                with guarded(f"the backward of {runner.function.label} raised"):
                    gradients = torch.autograd.grad(chosen, targets, [torch.zeros_like(o) for o in chosen],
                                                    allow_unused=True)
            except CallTimeout:
                raise
            except UserCodeError as error:
                return Check(UNDEFINED, "fail", _undefined_crash(what, watch.crash(), error))
        nonzero = [name for name, g in zip(wrt, gradients) if g is not None and not bool((g == 0).all())]
        if nonzero:
            return Check(UNDEFINED, "fail", f"with {what} undefined (None), the backward gives a non-zero gradient "
                                            f"for {', '.join(nonzero)} (torch expects zeros or None)")
    each = ", and of each output in turn," if len(trials) > 1 else ","
    return Check(UNDEFINED, "pass", f"with {_undefined_outputs(differentiable, one)} undefined (None){each} the "
                                    "backward runs and gives zero gradients")


def _undefined_outputs(undefined: list[int], one: bool) -> str:
    if one:
        return "its result's gradient"
    if len(undefined) > 1:
        return "the gradients of every output"
    return f"the gradient of output {undefined[0]} of its result"


def _undefined_crash(what: str, crash: _Call | None, error: UserCodeError) -> str:
    if crash is None:  # not in a watched backward
        return f"with {what} undefined (None), {error.message}"
    if not crash.undefined:
        return f"with {what} undefined (None), {crash.name}.backward raised: {describe_exception(crash.error)}"
    gradients = "gradient" if len(crash.undefined) == 1 else "gradients"
    return (f"with {what} undefined (None), {crash.name}.backward got None for the {gradients} of {crash.outputs} "
            f"and raised: {describe_exception(crash.error)}{MATERIALIZE_HINT}")


def _other_outputs(runner: Runner, point, wrt: list[str], tolerance: Tolerance, max_entries: int) -> Check:
    """The outputs of a tuple result that the reference expression is not for: each one's backward against
    finite differences of the function's own forward (the function is their only reference)."""
    import torch

    name = "other outputs"
    tensors = runner.leaves(point, wrt)
    outputs = runner.call_all(tensors)
    selected = runner.function.output % len(outputs)
    others = [i for i in range(len(outputs)) if i != selected]
    checked = [i for i in others if isinstance(outputs[i], torch.Tensor) and outputs[i].is_floating_point()
               and outputs[i].requires_grad]
    notes = [f"output {i} is not differentiable" for i in others if i not in checked]
    if not checked:
        return Check(name, "skipped", "; ".join(notes) or "its result has no other output")
    elements = sum(int(np.size(point[n])) for n in wrt)
    entries = sum(outputs[i].numel() for i in checked) * elements
    if entries > max_entries:
        return Check(name, "skipped", f"their Jacobians would have {entries:,} entries; the limit is {max_entries:,}")
    targets = runner.targets(tensors, wrt)
    try:
        with guarded(f"the backward of {runner.function.label} raised"):
            backward = {i: stacked_gradients(torch, outputs[i].reshape(-1), targets, point, wrt,
                                             tuple(outputs[i].shape)) for i in checked}
    except CallTimeout:
        raise
    except UserCodeError as error:
        return Check(name, "fail", f"through its other outputs ({', '.join(map(str, checked))}): {error.message}")
    shapes = {i: tuple(outputs[i].shape) for i in checked}
    finite = finite_differences_of_function(over_batch(_outputs_value(runner, shapes)), point, wrt,
                                            (sum(math.prod(shape) for shape in shapes.values()),))
    sentences, failed, offset = [], False, 0
    for i in checked:
        size = math.prod(shapes[i])
        sentence, wrong = _compare_output(i, shapes[i], backward[i], finite, offset, wrt, point, tolerance)
        sentences.append(sentence)
        failed |= wrong
        offset += size
    return Check(name, "fail" if failed else "pass", "; ".join(sentences + notes))


def _outputs_value(runner: Runner, shapes: dict[int, tuple]) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """point -> the outputs in `shapes` flattened one after the other; NaN where the function raises."""
    import torch

    size = sum(math.prod(shape) for shape in shapes.values())

    def evaluate(point: dict[str, np.ndarray]) -> np.ndarray:
        outputs = runner.result_or_none(point, every_output=True)
        if outputs is None:
            return np.full(size, np.nan)
        for i, shape in shapes.items():
            output = outputs[i] if i < len(outputs) else None
            if not isinstance(output, torch.Tensor) or tuple(output.shape) != shape:
                shown = ", ".join(f"{n} = {np.array2string(np.asarray(v), threshold=6)}" for n, v in point.items())
                now = "is missing" if i >= len(outputs) else f"has shape {tuple(output.shape)}" \
                    if isinstance(output, torch.Tensor) else f"is a {type(output).__name__}"
                raise UserCodeError(f"{runner.function.label}: output {i} of its result {now} at {shown} (a "
                                    f"finite-difference step), but shape {shape} at the point")
        return np.concatenate([outputs[i].detach().numpy(force=True).astype(np.float64).reshape(-1)
                               for i in shapes])

    return evaluate


def _compare_output(i: int, shape: tuple, backward: dict[str, np.ndarray], finite: FiniteDifferences, offset: int,
                    wrt: list[str], point, tolerance: Tolerance) -> tuple[str, bool]:
    """One other output's backward against finite differences of it: (a sentence, whether it disagrees)."""
    size = math.prod(shape)
    worst, bad, total, largest = None, 0, 0, 0.0
    for name in wrt:
        full = shape + np.shape(point[name])
        fd = finite.gradients[name][offset:offset + size].reshape(full)
        error = finite.errors[name][offset:offset + size].reshape(full)
        ours = backward[name]
        taken = np.isfinite(fd)
        wrong = taken & ~tolerance.close(ours, fd, np.nan_to_num(error, nan=0.0))
        gap = np.where(taken, np.abs(ours - fd), 0.0)
        total += int(taken.sum())
        largest = max(largest, float(np.max(np.nan_to_num(gap, nan=np.inf), initial=0.0)))
        if wrong.any():
            bad += int(wrong.sum())
            index = np.unravel_index(int(np.argmax(np.where(wrong, np.nan_to_num(gap, nan=np.inf), -1.0))), full)
            if worst is None or not worst[0] >= gap[index]:
                worst = (float(gap[index]), name, index, float(ours[index]), float(fd[index]), float(error[index]))
    if worst is not None:
        _, name, index, ours, fd, error = worst
        out = f"out{i}[{', '.join(map(str, index[:len(shape)]))}]" if shape else f"out{i}"
        var = f"{name}[{', '.join(map(str, index[len(shape):]))}]" if np.ndim(point[name]) else name
        return (f"output {i}: its backward disagrees with finite differences of its forward at {bad} of {total} "
                f"entries, e.g. d {out}/d {var} = {ours:.10g} by its backward, {fd:.10g} by finite differences "
                f"(± {error:.1g})"), True
    if total == 0:
        return f"output {i}: finite differences of its forward could not be taken", False
    return (f"output {i}: its backward agrees with finite differences of its forward (largest difference "
            f"{largest:.1e})"), False


def _reentrant(runner: Runner, point, wrt: list[str], first: dict[str, np.ndarray], nondet_tol: float) -> Check:
    """Two backward passes agree within `nondet_tol` (0: bitwise, NaN where NaN): a backward using atomics
    varies in its last bits from run to run, which torch.autograd.gradcheck allows through its nondet_tol."""
    second = runner.jacobian(point, wrt)
    changed = {name: _largest_change(first[name], second[name]) for name in wrt
               if not np.array_equal(first[name], second[name], equal_nan=True)}
    beyond = {name: gap for name, gap in changed.items() if not gap <= nondet_tol}
    allowed = f" a tolerance of {nondet_tol:g} (nondet_tol)" if nondet_tol else ""
    if beyond:
        name, gap = max(beyond.items(), key=lambda item: item[1])
        return Check("deterministic backward", "fail",
                     f"two backward passes give different gradients for {', '.join(beyond)} (largest difference "
                     f"{gap:.1e} in {name}{', beyond' + allowed if allowed else ''})")
    if changed:
        return Check("deterministic backward", "pass", f"two backward passes agree within{allowed} (largest "
                                                       f"difference {max(changed.values()):.1e})")
    return Check("deterministic backward", "pass", "two backward passes give identical gradients")


def _largest_change(first: np.ndarray, second: np.ndarray) -> float:
    """The largest |first - second| over entries, NaN in both counting as equal and NaN in one as infinite."""
    both_nan = np.isnan(first) & np.isnan(second)
    gap = np.where(both_nan, 0.0, np.abs(first - second))
    return float(np.max(np.nan_to_num(gap, nan=np.inf), initial=0.0))


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
