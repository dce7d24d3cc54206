"""All contact with a user's own code: finding a callable, and calling it safely.

Importing a module runs its code, so this module is reached only when a spec or flag names a callable
(`function: mypkg.ops:swish`): never for a plain expression, and never under --no-import.  It resolves
`module:attribute` (the current folder first on sys.path, then PYTHONPATH), matches the reference
expression's variables to the callable's parameters, and calls it on torch tensors made from a point.
Every call goes through one guard: anything the user's code raises (sys.exit too) becomes one line
(UserCodeError, its traceback kept for -v), a change of the current folder is undone, and what it prints,
from Python or C, goes to stderr.  What is checked about the function is custom_function.py's.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import UsageError, UserCodeError, describe_exception
from ..core.interrupts import Interrupted, raise_if_interrupted, signals_raise_interrupted
from ..core.text import did_you_mean
from ..engines.torch_engine import stacked_gradients
from . import modules

CALL_TIMEOUT = 120.0  # seconds one call into user code may take (import, forward, backward)


@dataclass(frozen=True)
class UserFunction:
    """The callable, what to call it in messages, and the expression's variables in its parameter order.

    `output`: for a callable whose result is a tuple of tensors, the one the reference expression is for
    (`mypkg.ops:split[0]`); None for a callable that returns one tensor."""

    label: str
    call: Callable
    inputs: tuple[str, ...]
    output: int | None = None
    keywords: dict = field(default_factory=dict)  # passed to every call ({kwargs}): literals, never tensors
    values: dict = field(default_factory=dict)  # input -> its value where none is given (a module's parameters)
    outputs: tuple[Output, ...] | None = None  # a tuple result checked whole: its differentiable outputs, in order


@dataclass(frozen=True)
class Output:
    """One differentiable output of a tuple result checked whole: its position, its label and its shape."""

    position: int
    label: str  # f[1], or the namedtuple's field name
    shape: tuple[int, ...]


# ---- finding the callable ----


OUTPUT_INDEX = r"\[\s*(-?[0-9]{1,9})\s*\]"  # `module:split[1]`: one output of a tuple result


def resolve(target: str | Callable, args: list[str] | None, variables: list[str], alone: bool = False,
            keywords: dict | None = None, init_keywords: dict | None = None) -> UserFunction:
    """The callable named by `module:attribute` (or given), with its inputs matched to `variables`; a
    trailing `[N]` names the output of a tuple result that the reference expression is for.  `alone`: there is
    no reference expression, `variables` are the inputs given values, and the caller matches them to the
    inputs (a parameter with a default is an input only where it is given one).  `keywords` ({kwargs}) are
    passed to every call; a parameter they name is not an input, and a name it does not take is refused.  An
    nn.Module (class, constructed with `init_keywords`, or instance) takes its forward's inputs, then its
    parameters by name (userfn.modules)."""
    label = target if isinstance(target, str) else getattr(target, "__qualname__", None) or \
        f"a {type(target).__qualname__}"  # an instance (a module) is named by its class: its repr may be long
    output = None
    if isinstance(target, str) and target.endswith("]"):
        index = re.search(OUTPUT_INDEX, target)
        if index is None or index.end() != len(target):
            _not_a_target(target)
        target, output = target[:index.start()], int(index.group(1))
    with stdout_to_stderr():
        found = _imported(target, label) if isinstance(target, str) else target
    if modules.is_module(found):
        return _module_function(found, label, args, variables, alone, dict(keywords or {}), output,
                                dict(init_keywords or {}))
    if init_keywords:
        raise UsageError(f"{{init_kwargs}} construct an nn.Module; {label} is not one")
    call, parameters = _callable_and_parameters(found, label)
    keywords = dict(keywords or {})
    _check_keywords(label, parameters, keywords)
    _check_keywords_are_not_inputs(label, keywords, variables)
    if parameters is not None:
        parameters = [p for p in parameters if p.name not in keywords]
    return UserFunction(label, call, tuple(_inputs(label, parameters, args, variables, alone)), output, keywords)


def _module_function(found, label: str, args, variables: list[str], alone: bool, keywords: dict, output,
                     init_keywords: dict) -> UserFunction:
    """A module's forward inputs (as a function's parameters), then its parameters by name, with their values."""
    if not isinstance(found, type) and init_keywords:
        raise UsageError(f"{{init_kwargs}} construct a module class; {label} is an instance, already constructed")
    with stdout_to_stderr(), guarded(f"constructing {label} raised"):
        module = modules.constructed(found, init_keywords)
    forward = modules.forward_parameters(module)
    _check_keywords(label, forward, keywords)
    _check_keywords_are_not_inputs(label, keywords, variables)
    forward = [p for p in forward if p.name not in keywords]
    values = modules.parameter_values(module)
    inputs = _inputs(label, forward, args, [v for v in variables if v not in values], alone=True)
    clash = [name for name in inputs if name in values]
    if clash:
        raise UsageError(f"{label}: its forward's input {clash[0]!r} has the name of one of its parameters")
    if not alone:
        _matched(label, inputs + list(values), variables)
    call = modules.ModuleCall(module, len(inputs), tuple(values))
    return UserFunction(label, call, tuple(inputs) + tuple(values), output, keywords, values)


def _check_keywords(label: str, parameters, keywords: dict) -> None:
    """Every keyword of {kwargs} names a parameter that may be given by keyword (or the callable takes **kwargs)."""
    if not keywords or parameters is None or any(p.kind == p.VAR_KEYWORD for p in parameters):
        return
    takes = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    for name in keywords:
        if name not in takes:
            hint = did_you_mean(name, sorted(takes)) or f"its keyword parameters: {', '.join(sorted(takes)) or 'none'}"
            raise UnknownKeyword(f"{label} takes no keyword argument {name!r} ({hint})")


def _check_keywords_are_not_inputs(label: str, keywords: dict, variables: list[str]) -> None:
    """A keyword of {kwargs} that is also a variable given a value (or of the reference expression) is one value
    too many: refused at {kwargs}, rather than as an input the function no longer takes."""
    both = [name for name in keywords if name in variables]
    if both:
        raise UnknownKeyword(f"{label}: {both[0]!r} is given both as a keyword and as an input with a value; give "
                             "it one way")


class UnknownKeyword(UsageError):
    """A keyword of {kwargs} that the function does not take, or that is also an input: an error at {kwargs}, not
    at {function}."""


def _not_a_target(target: str):
    module_name = target.partition(":")[0]
    hint = " (a module name, not a file path: run from the file's folder and write ops:swish for ops.py)" \
        if "/" in module_name or module_name.endswith(".py") else ""
    if "[" in target:
        hint += ", or MODULE:ATTRIBUTE[OUTPUT] for one output of a tuple result, e.g. mypkg.ops:split[0]"
    raise UsageError(f"{target!r} does not name a callable: expected MODULE:ATTRIBUTE, e.g. mypkg.ops:swish{hint}")


def _imported(target: str, label: str):
    module_name, _, attribute = target.partition(":")
    if not (_dotted_identifiers(module_name) and _dotted_identifiers(attribute)):
        _not_a_target(label)
    with _current_folder_on_path(), guarded(f"cannot import {module_name!r}"):
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
            suggestion = did_you_mean(part, names)
            hint = f" ({suggestion})" if suggestion else ""
            raise UsageError(f"{label}: {getattr(found, '__name__', module_name)!r} has no attribute {part!r}{hint}")
        found = getattr(found, part)
    return found


def _dotted_identifiers(text: str) -> bool:
    """Whether `text` is Python identifiers joined by dots, as a module name or an attribute path is."""
    return all(part.isidentifier() for part in text.split("."))


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
def guarded(what: str):
    """Around every call into the user's code: whatever it raises (sys.exit too) becomes one UserCodeError
    saying `what`, a change of the current folder is undone, so later cases are not affected, and a call
    that does not return within CALL_TIMEOUT seconds is stopped, so a CI run cannot hang on it."""
    folder, process = os.getcwd(), os.getpid()
    torch_state = TorchState.saved()
    settings = _process_settings()
    try:
        with signals_raise_interrupted((signal.SIGINT,)), _time_limit(CALL_TIMEOUT):
            yield
    except (UserCodeError, Interrupted):
        raise
    except _TookTooLong:
        raise CallTimeout(f"{what.removesuffix(' raised')}: it did not return within {CALL_TIMEOUT:g} s (stopped)") \
            from None
    except BaseException as error:  # anything else it raises, KeyboardInterrupt and GeneratorExit too
        raise _raised(what, error) from None
    finally:
        if os.getpid() != process:  # the user's code forked and this is the child: it must not run on
            os._exit(0)
        if os.getcwd() != folder:
            os.chdir(folder)
        torch_state.restore()
        _restore_process_settings(settings)
    raise_if_interrupted()  # a signal that the user's own `except:` swallowed still ends the run


def _process_settings() -> dict:
    """What user code may change for the whole process: the handlers of the signals that end or time a run
    (SIG_IGN for SIGTERM), and the recursion limit."""
    if threading.current_thread() is not threading.main_thread():
        return {"recursion limit": sys.getrecursionlimit()}
    return {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)} | {
        "recursion limit": sys.getrecursionlimit()}


def _restore_process_settings(settings: dict) -> None:
    sys.setrecursionlimit(settings.pop("recursion limit"))
    for signum, handler in settings.items():
        if signal.getsignal(signum) != handler and handler is not None:
            signal.signal(signum, handler)


@dataclass(frozen=True)
class TorchState:
    """torch's process-wide switches that a user's module or function may flip (`torch.set_grad_enabled(False)`
    at import, a default dtype, deterministic algorithms, thread count, anomaly mode): saved before each call into
    user code and put back after it, so a later case in the same process is not checked under them."""

    values: tuple | None

    SWITCHES = (("is_grad_enabled", "set_grad_enabled"), ("get_default_dtype", "set_default_dtype"),
                ("are_deterministic_algorithms_enabled", None), ("get_num_threads", "set_num_threads"),
                ("is_anomaly_enabled", "set_anomaly_enabled"))

    @classmethod
    def saved(cls) -> TorchState:
        torch = sys.modules.get("torch")  # not imported yet: nothing to save (the import is guarded too)
        return cls(None if torch is None else tuple(getattr(torch, get)() for get, _ in cls.SWITCHES)
                   + (torch.is_deterministic_algorithms_warn_only_enabled(),))

    def restore(self) -> None:
        torch = sys.modules.get("torch")
        if torch is None:
            return
        # A call that imported torch: torch's own defaults are the state to return to (threads as they are).
        saved = self.values or (True, torch.float32, False, torch.get_num_threads(), False, False)
        torch.set_flush_denormal(False)  # torch's default, and it has no getter: subnormals matter here
        if TorchState.saved().values == saved:
            return
        *switches, warn_only = saved
        for (_, set_name), value in zip(self.SWITCHES, switches):
            if set_name is not None:
                getattr(torch, set_name)(value)
        torch.use_deterministic_algorithms(switches[2], warn_only=warn_only)


class CallTimeout(UserCodeError):
    """A call into user code that was stopped: never taken for a step outside the function's domain."""


class _TookTooLong(BaseException):
    """Raised into user code by the timer; a BaseException, so the user's `except Exception` cannot eat it."""


@contextmanager
def _time_limit(seconds: float):
    """A wall-clock limit by SIGALRM, where there is one and this is the main thread (else none).

    Python code is stopped between bytecodes; a C call that does not return (a kernel spinning) is not."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise _TookTooLong()

    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous_handler is None else previous_handler)
        if previous_delay:  # someone else's timer (pytest-timeout, say) keeps running: what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(previous_delay - (time.monotonic() - started), 0.001))


@contextmanager
def stdout_to_stderr():
    """What user code prints, from Python or from C (a kernel's printf), goes to stderr: a JSON report on
    stdout must stay one document."""
    if sys.stdout is not None:
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (an embedding host): Python-level redirection only
        saved = None
    if saved is not None:
        try:
            os.dup2(2, 1)
        except OSError:  # no stderr either: what it prints is lost, the report on stdout is not
            os.close(saved)
            saved = None
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            if sys.stderr is not None:
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


def _inputs(label: str, parameters, args: list[str] | None, variables: list[str], alone: bool = False) -> list[str]:
    if args is None:
        if parameters is None or any(p.kind == p.VAR_POSITIONAL for p in parameters):
            raise UsageError(f"cannot tell which variables {label} takes: name them in order with "
                             "{args=x,w}")
        names = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                 and (p.default is p.empty or p.name in variables)]
    else:
        names = list(args)
        _check_arity(label, parameters, names)
    if len(set(names)) != len(names):
        raise UsageError(f"{label}: an input is named twice in {', '.join(names)}")
    if alone:
        return names
    _matched(label, names, variables)
    return names


def _matched(label: str, names: list[str], variables: list[str]) -> None:
    """Every input is a variable of the reference expression, and every variable an input."""
    for name in names:
        if name not in variables:
            hint = did_you_mean(name, variables) or f"its variables: {', '.join(variables)}"
            raise UsageError(f"{label} takes {name!r}, which is not a variable of the reference expression ({hint})")
    missing = [v for v in variables if v not in names]
    if missing:
        raise UsageError(f"the reference expression uses {', '.join(missing)}, which {label} does not take "
                         f"(its inputs: {', '.join(names) or 'none'}); name them in order with {{args}}")


def _check_arity(label: str, parameters, names: list[str]) -> None:
    if not names:
        raise UsageError(f"args names no inputs: list the variables {label} takes, in order (args: [x, w])")
    if parameters is None:
        return
    try:
        inspect.Signature(parameters).bind(*names)
    except TypeError as error:
        raise UsageError(f"{label} cannot take {len(names)} input(s) ({', '.join(names)}): {error}") from None


def _raised(what: str, error: BaseException) -> UserCodeError:
    return UserCodeError(f"{what}: {describe_exception(error)}", "".join(traceback.format_exception(error)))


# ---- calling it ----


@dataclass
class Runner:
    """Calls the function on torch tensors made from a point, on one device."""

    function: UserFunction
    device: str = "cpu"
    shape: tuple | None = ()  # the reference's value shape, which every output must have (None: not known yet)
    raises_in_float64: bool = False
    integers: frozenset[str] = frozenset()  # inputs of index data: int64, never requiring grad

    def leaves(self, point: dict[str, np.ndarray], wrt: list[str], dtype=None, contiguous: bool = True) -> list:
        import torch

        tensors = []
        for name in self.function.inputs:
            if name in self.integers:
                tensors.append(torch.tensor(np.asarray(point[name]), dtype=torch.int64, device=self.device))
                continue
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
        """The output the reference expression is for: the result, or the one its target names (`split[0]`)."""
        return self.select(self.result(tensors))

    def call_all(self, tensors: list) -> tuple:
        """Every output of the function: (its result,), or the tuple (or list) it returns, whose output named by
        the target is a tensor (the same one-line errors as `call` otherwise)."""
        result = self.result(tensors)
        self.select(result)
        return tuple(result) if isinstance(result, (tuple, list)) else (result,)

    def result(self, tensors: list):
        """What the function returns, as it returns it (a tensor, or a tuple)."""
        with guarded(f"{self.function.label} raised"):
            return self.function.call(*tensors, **self.function.keywords)

    def select(self, result):
        """The output of `result` that the reference expression is for, a tensor; one line otherwise."""
        import torch

        label, index = self.function.label, self.function.output
        if self.function.outputs is not None:
            return whole(self.function, result)
        if not isinstance(result, (tuple, list)) or not result:
            what = f"an empty {type(result).__name__}" if isinstance(result, (tuple, list)) \
                else f"a {type(result).__name__}"
            if not isinstance(result, torch.Tensor):
                raise UserCodeError(f"{label} returned {what}, not a torch tensor")
            if index is not None:
                raise UserCodeError(f"{label} returned a tensor, not a tuple: drop [{index}]")
            return result
        kind, count = ("tuple" if isinstance(result, tuple) else "list"), len(result)
        if index is None:
            values = "tensors" if all(isinstance(o, torch.Tensor) for o in result) else "values"
            raise UserCodeError(f"{label} returned a {kind} of {count} {values}: name the one the expression is the "
                                f"reference for, {label}[0] to {label}[{count - 1}]")
        if not -count <= index < count:
            raise UserCodeError(f"{label}: its result has {count} outputs (0 to {count - 1}); there is no output "
                                f"{index}")
        if not isinstance(result[index], torch.Tensor):
            raise UserCodeError(f"{label}: output {index} of its result is a {type(result[index]).__name__}, not a "
                                "torch tensor")
        return result[index]

    def jacobian(self, point, wrt: list[str], contiguous: bool = True) -> dict[str, np.ndarray]:
        """d output / d input by the function's own backward, shaped output shape + input shape."""
        tensors = self.leaves(point, wrt, contiguous=contiguous)
        output = self.call(tensors)
        return self.jacobian_of(output, tensors, point, wrt)

    def jacobian_of(self, output, tensors: list, point, wrt: list[str]) -> dict[str, np.ndarray]:
        import torch

        targets = self.targets(tensors, wrt)
        with guarded(f"the backward of {self.function.label} raised"):
            return stacked_gradients(torch, output.reshape(-1), targets, point, wrt, tuple(output.shape))

    def result_or_none(self, point: dict[str, np.ndarray], every_output: bool = False):
        """Its result at `point` without autograd (every output of a tuple with `every_output`), or None where it
        raises there; a call past the time limit still stops the run (CallTimeout)."""
        import torch

        try:
            with torch.no_grad():
                leaves = self.leaves(point, [])
                return self.call_all(leaves) if every_output else self.call(leaves)
        except CallTimeout:
            raise
        except UserCodeError:
            return None

    def value(self, point: dict[str, np.ndarray]) -> np.ndarray:
        """The flat output at a (finite-difference) point; NaN where the function raises there, as a step
        outside an op's domain does."""
        output = self.result_or_none(point)
        if output is None:
            return np.full(int(np.prod(self.shape, dtype=int)), np.nan)
        if tuple(output.shape) != tuple(self.shape):
            shown = ", ".join(f"{n} = {np.array2string(np.asarray(v), threshold=6)}" for n, v in point.items())
            raise UserCodeError(f"{self.function.label} returned shape {tuple(output.shape)} at {shown} (a "
                                f"finite-difference step), but shape {tuple(self.shape)} at the point")
        return output.detach().numpy(force=True).astype(np.float64).reshape(-1)

    def complex_value(self, point: dict[str, np.ndarray]) -> np.ndarray | None:
        """The flat output at a point with complex inputs (the complex step), or None where the function takes
        none: it raises, or its result is not complex."""
        import torch

        try:
            with torch.no_grad():
                output = self.call(self.leaves(point, [], dtype=torch.complex128))
        except CallTimeout:
            raise
        except UserCodeError:
            return None
        if not output.is_complex() or tuple(output.shape) != tuple(self.shape):
            return None
        return output.detach().numpy(force=True).astype(np.complex128).reshape(-1)

    def gradient(self, name: str, wrt: list[str]) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        """point -> the flat gradient of the (scalar) function with respect to `name`, by its backward."""
        return lambda point: self.jacobian(point, wrt)[name].reshape(-1)


def tuple_outputs(result) -> tuple[Output, ...] | None:
    """The differentiable (floating-point tensor) outputs of a tuple (or list) result, labelled by a namedtuple's
    field names or f[i]; None for a result that is not a tuple, or has no differentiable output."""
    import torch

    if not isinstance(result, (tuple, list)):
        return None
    names = getattr(result, "_fields", None)
    found = tuple(Output(i, names[i] if names else f"f[{i}]", tuple(o.shape)) for i, o in enumerate(result)
                  if isinstance(o, torch.Tensor) and (o.is_floating_point() or o.is_complex()))
    return found or None


def element_name(function: UserFunction, index: tuple) -> str:
    """An element of the function's output in words: f[0, 1]; of a tuple result checked whole (a flat index), its
    output's label and index there, f[1][0] (or the namedtuple field's name)."""
    if function.outputs is None or not index:
        return f"f[{', '.join(map(str, index))}]" if index else "f"
    flat = int(index[0])
    for output in function.outputs:
        size = int(np.prod(output.shape, dtype=int))
        if flat < size:
            inner = np.unravel_index(flat, output.shape) if output.shape else ()
            return output.label + (f"[{', '.join(map(str, map(int, inner)))}]" if inner else "")
        flat -= size
    return f"f[{index[0]}]"


def whole(function: UserFunction, result):
    """A tuple result checked whole: its differentiable outputs flattened one after the other (one tensor of
    their total size), so every check sees one output; an output that changed kind or shape is one line."""
    import torch

    if not isinstance(result, (tuple, list)) or len(result) <= max(o.position for o in function.outputs):
        raise UserCodeError(f"{function.label} returned a {type(result).__name__}, not the tuple of "
                            f"{len(function.outputs)} or more outputs it returned at the point")
    parts = []
    for output in function.outputs:
        part = result[output.position]
        if not isinstance(part, torch.Tensor) or tuple(part.shape) != output.shape:
            now = f"has shape {tuple(part.shape)}" if isinstance(part, torch.Tensor) else \
                f"is a {type(part).__name__}"
            raise UserCodeError(f"{function.label}: its output {output.label} {now}, but shape {output.shape} at "
                                "the point")
        parts.append(part.reshape(-1))
    return torch.cat(parts)


def over_batch(outputs: Callable) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """`outputs(point) -> flat array` over a batch of points (name -> (B,) + shape), as finite differences
    want it; an input of batch size 1 is shared by every point.  An output of None (no complex input taken)
    makes the batch's None."""
    def evaluate(inputs: dict[str, np.ndarray]) -> np.ndarray | None:
        size = max(len(v) for v in inputs.values())
        rows = []
        for b in range(size):
            row = outputs({n: v[min(b, len(v) - 1)] for n, v in inputs.items()})
            if row is None:
                return None
            rows.append(row)
        return np.stack(rows)

    return evaluate


def custom_function_nodes(*roots) -> list:
    """The autograd.Function nodes of a backward graph (from the grad_fn of each output)."""
    nodes, stack, seen = [], list(roots), set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if hasattr(node, "_forward_cls"):
            nodes.append(node)
        stack.extend(edge[0] for edge in node.next_functions)
    return nodes


# ---- what is checked ----
