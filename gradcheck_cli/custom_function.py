"""A user's own torch function (a custom autograd.Function, a fused kernel's wrapper) against a reference.

Importing a module runs its code, so this module is reached only when a spec or flag names a callable
(`function: mypkg.ops:swish`): never for a plain expression, and never under --no-import.  It owns all
contact with that code: resolving `module:attribute` (the current folder first on sys.path, then
PYTHONPATH), matching the reference expression's variables to the callable's parameters, calling it on
float64 torch leaves, its autograd Jacobian and double backward, finite differences of its own forward,
and the hygiene that `torch.autograd.gradcheck` users trip over.  Anything the user's code raises becomes
one line (UserCodeError), its traceback kept for -v.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import re
import sys
import traceback
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .compare import Check, Tolerance
from .engines.finite_diff import FiniteDifferences, finite_differences_of_function
from .engines.torch_engine import element_gradients
from .errors import UsageError, UserCodeError

MODULE_NAME = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*"
ATTRIBUTE_PATH = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*"


@dataclass(frozen=True)
class UserFunction:
    """The callable, what to call it in messages, and the expression's variables in its parameter order."""

    label: str
    call: Callable
    inputs: tuple[str, ...]


# ---- finding the callable ----


def resolve(target: str | Callable, args: list[str] | None, variables: list[str]) -> UserFunction:
    """The callable named by `module:attribute` (or given), with its inputs matched to `variables`."""
    label = target if isinstance(target, str) else getattr(target, "__qualname__", repr(target))
    with _stdout_to_stderr():
        found = _imported(target) if isinstance(target, str) else target
    call, parameters = _callable_and_parameters(found, label)
    return UserFunction(label, call, tuple(_inputs(label, parameters, args, variables)))


def _imported(target: str):
    module_name, _, attribute = target.partition(":")
    if not (re.fullmatch(MODULE_NAME, module_name) and re.fullmatch(ATTRIBUTE_PATH, attribute)):
        hint = " (a module name, not a file path: run from the file's folder and write ops:swish for ops.py)" \
            if "/" in module_name or module_name.endswith(".py") else ""
        raise UsageError(f"{target!r} does not name a callable: expected MODULE:ATTRIBUTE, e.g. mypkg.ops:swish{hint}")
    with _current_folder_on_path(), _user_code(f"cannot import {module_name!r}"):
        try:
            importlib.invalidate_caches()
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and module_name.startswith(error.name):
                error.args = (f"{error.args[0]} (modules are imported from the current folder, {os.getcwd()}, "
                              "and PYTHONPATH)",)
            raise
    found = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            names = [n for n in dir(found) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"{target}: {getattr(found, '__name__', module_name)!r} has no attribute {part!r}{hint}")
        found = getattr(found, part)
    return found


@contextmanager
def _current_folder_on_path():
    """The current folder first on sys.path while importing (as `python -m` has it); afterwards that entry is
    taken out again, and what the imported module added itself stays (it may import lazily from there)."""
    folder = os.getcwd()
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


@contextmanager
def _user_code(what: str):
    """Around every call into the user's code: whatever it raises (sys.exit too) becomes one UserCodeError
    saying `what`, and a change of the current folder is undone, so later cases are not affected."""
    folder = os.getcwd()
    try:
        yield
    except UserCodeError:
        raise
    except (Exception, SystemExit) as error:
        raise _raised(what, error) from None
    finally:
        if os.getcwd() != folder:
            os.chdir(folder)


@contextmanager
def _stdout_to_stderr():
    """What user code prints, from Python or from C (a kernel's printf), goes to stderr: a JSON report on
    stdout must stay one document."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (an embedding host): Python-level redirection only
        saved = None
    if saved is not None:
        os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            sys.stderr.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _callable_and_parameters(found, label: str) -> tuple[Callable, list[inspect.Parameter] | None]:
    """An autograd.Function subclass is called through `apply`, its parameters read from `forward`."""
    import torch

    if isinstance(found, type) and issubclass(found, torch.autograd.Function):
        parameters = list(inspect.signature(found.forward).parameters.values())
        if not _has_own_setup_context(found):
            parameters = parameters[1:]  # forward(ctx, ...)
        return found.apply, parameters
    if not callable(found):
        raise UsageError(f"{label} is not callable (it is of type {type(found).__name__})")
    try:
        return found, list(inspect.signature(found).parameters.values())
    except (TypeError, ValueError):
        return found, None


def _has_own_setup_context(function_class) -> bool:
    """New-style Functions define setup_context (forward then takes no ctx); torch's own base classes do not."""
    return any("setup_context" in vars(base) for base in function_class.__mro__
               if not base.__module__.startswith("torch."))


def _inputs(label: str, parameters, args: list[str] | None, variables: list[str]) -> list[str]:
    if args is None:
        if parameters is None or any(p.kind == p.VAR_POSITIONAL for p in parameters):
            raise UsageError(f"cannot tell which variables {label} takes: name them in order with "
                             "args: [x, w] (--args x,w)")
        names = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                 and (p.default is p.empty or p.name in variables)]
    else:
        names = list(args)
        _check_arity(label, parameters, names)
    if len(set(names)) != len(names):
        raise UsageError(f"{label}: an input is named twice in {', '.join(names)}")
    for name in names:
        if name not in variables:
            close = difflib.get_close_matches(name, variables, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (its variables: {', '.join(variables)})"
            raise UsageError(f"{label} takes {name!r}, which is not a variable of the reference expression{hint}")
    missing = [v for v in variables if v not in names]
    if missing:
        raise UsageError(f"the reference expression uses {', '.join(missing)}, which {label} does not take "
                         f"(its inputs: {', '.join(names) or 'none'}); name them in order with args:")
    return names


def _check_arity(label: str, parameters, names: list[str]) -> None:
    if parameters is None:
        return
    try:
        inspect.Signature(parameters).bind(*names)
    except TypeError as error:
        raise UsageError(f"{label} cannot take {len(names)} input(s) ({', '.join(names)}): {error}") from None


def _raised(what: str, error: BaseException) -> UserCodeError:
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return UserCodeError(f"{what}: {text}", "".join(traceback.format_exception(error)))


# ---- calling it ----


@dataclass
class Runner:
    """Calls the function on torch tensors made from a point, on one device."""

    function: UserFunction
    device: str = "cpu"
    shape: tuple = ()  # the reference expression's value shape, which every output must have
    raises_in_float64: bool = False

    def leaves(self, point: dict[str, np.ndarray], wrt: list[str], dtype=None, contiguous: bool = True) -> list:
        import torch

        tensors = []
        for name in self.function.inputs:
            value = torch.tensor(np.asarray(point[name]), dtype=dtype or torch.float64, device=self.device)
            if not contiguous and value.dim() >= 2:  # the same values, laid out transposed in memory
                value = value.transpose(-1, -2).contiguous().transpose(-1, -2)
            elif not contiguous and value.numel() > 1:  # every other element of a buffer twice as long
                value = torch.stack([value, torch.zeros_like(value)], dim=-1)[..., 0].detach()
            tensors.append(value.requires_grad_(name in wrt))
        return tensors

    def targets(self, tensors: list, wrt: list[str]) -> list:
        """The leaves of the differentiated variables, in the order of `wrt`."""
        by_name = dict(zip(self.function.inputs, tensors))
        return [by_name[name] for name in wrt]

    def call(self, tensors: list):
        import torch

        with _user_code(f"{self.function.label} raised"):
            output = self.function.call(*tensors)
        if not isinstance(output, torch.Tensor):
            raise UserCodeError(f"{self.function.label} returned a {type(output).__name__}, not a torch tensor")
        return output

    def jacobian(self, point, wrt: list[str], contiguous: bool = True) -> dict[str, np.ndarray]:
        """d output / d input by the function's own backward, shaped output shape + input shape."""
        tensors = self.leaves(point, wrt, contiguous=contiguous)
        output = self.call(tensors)
        return self.jacobian_of(output, tensors, point, wrt)

    def jacobian_of(self, output, tensors: list, point, wrt: list[str]) -> dict[str, np.ndarray]:
        import torch

        targets = self.targets(tensors, wrt)
        with _user_code(f"the backward of {self.function.label} raised"):
            rows = [element_gradients(torch, element, targets, point, wrt) for element in output.reshape(-1)]
        return {name: np.stack([row[i] for row in rows]).reshape(tuple(output.shape) + np.shape(point[name]))
                for i, name in enumerate(wrt)}

    def value(self, point: dict[str, np.ndarray]) -> np.ndarray:
        """The flat output at a (finite-difference) point; NaN where the function raises there, as a step
        outside an op's domain does."""
        import torch

        try:
            with torch.no_grad():
                output = self.call(self.leaves(point, []))
        except UserCodeError:
            return np.full(int(np.prod(self.shape, dtype=int)), np.nan)
        if tuple(output.shape) != tuple(self.shape):
            shown = ", ".join(f"{n} = {np.array2string(np.asarray(v), threshold=6)}" for n, v in point.items())
            raise UserCodeError(f"{self.function.label} returned shape {tuple(output.shape)} at {shown} (a "
                                f"finite-difference step), but shape {tuple(self.shape)} at the point")
        return output.detach().numpy(force=True).astype(np.float64).reshape(-1)

    def gradient(self, name: str, wrt: list[str]) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        """point -> the flat gradient of the (scalar) function with respect to `name`, by its backward."""
        return lambda point: self.jacobian(point, wrt)[name].reshape(-1)


def _over_batch(outputs: Callable) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """`outputs(point) -> flat array` over a batch of points (name -> (B,) + shape), as finite differences
    want it; an input of batch size 1 is shared by every point."""
    def evaluate(inputs: dict[str, np.ndarray]) -> np.ndarray:
        size = max(len(v) for v in inputs.values())
        return np.stack([outputs({n: v[min(b, len(v) - 1)] for n, v in inputs.items()}) for b in range(size)])

    return evaluate


# ---- what is checked ----


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
    with _stdout_to_stderr():
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
    finite = finite_differences_of_function(_over_batch(runner.value), point, wrt, value.shape)
    answers = FunctionAnswers(value, jacobian, finite, checks)
    if order == 2:
        answers.hessian = _double_backward(runner, point, wrt)
        answers.hessian_finite = {a: finite_differences_of_function(_over_batch(runner.gradient(a, wrt)), point,
                                                                    wrt, np.shape(point[a])) for a in wrt}
    return answers


def _float64(runner: Runner, point, reference_value: np.ndarray) -> Check:
    import torch

    with torch.no_grad():
        try:
            output = runner.call(runner.leaves(point, []))
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
        with _user_code(f"the backward of {runner.function.label} raised"):
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
    with _user_code(f"the double backward of {runner.function.label} raised"):
        firsts = torch.autograd.grad(output, targets, create_graph=True, allow_unused=True)
        hessian = {}
        for a, first in zip(wrt, firsts):
            elements = first.reshape(-1) if first is not None else torch.zeros(int(np.size(point[a])))
            rows = [element_gradients(torch, e, targets, point, wrt) for e in elements]
            for j, b in enumerate(wrt):
                hessian[(a, b)] = np.stack([row[j] for row in rows]).reshape(np.shape(point[a]) + np.shape(point[b]))
    return hessian


def device_for(requested: str) -> tuple[str, str | None]:
    """The device to run on, and a note when the requested one is not there."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        return "cpu", "--device cuda skipped: no CUDA device; the function ran on the CPU"
    return requested, None
