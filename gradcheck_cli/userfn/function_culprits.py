"""Which custom autograd.Function inside a function is wrong, once its gradient is.

A layer (an nn.Module, a fused block) often calls several custom Functions among torch's own ops; when its
backward disagrees with its forward's finite differences, the question is which Function.  Each custom Function
the function calls is recorded with the arguments it was given (one forward pass, `Function.apply` watched), then
checked alone on those arguments in float64 with `torch.autograd.gradcheck` (its backward against central
differences of its own forward), and the ones that fail are named with torch's words.
"""

from __future__ import annotations

from contextlib import contextmanager

from ..core.errors import UserCodeError
from ..verdict.compare import Check
from .user_code import CallTimeout, Runner, guarded

CULPRITS = "custom Functions"
MAX_ELEMENTS = 2_000  # the most input elements of one Function checked (one forward pass each, twice)


def culprit_functions_check(runner: Runner, point, wrt: list[str]) -> Check | None:
    """`fail` naming each custom Function called inside the function whose backward fails torch.autograd.gradcheck
    on the arguments it was given; `pass` where each passes; None where the function calls none (from inside)."""
    calls = _recorded(runner, point, wrt)
    if not calls:
        return None
    failing, passing, skipped = [], [], []
    for function, args in calls.items():
        elements = sum(a.numel() for a in args if _differentiable(a))
        if elements > MAX_ELEMENTS:
            skipped.append(f"{function.__name__} ({elements} input elements, more than {MAX_ELEMENTS})")
            continue
        try:
            problem = _gradcheck(function, args, runner.function.label)
        except _Unchecked as reason:
            skipped.append(f"{function.__name__} ({reason})")
            continue
        if problem:
            failing.append(f"{function.__name__}.backward {problem}")
        else:
            passing.append(function.__name__)
    note = f"; not checked: {', '.join(skipped)}" if skipped else ""
    if failing:
        return Check(CULPRITS, "fail", "; ".join(failing) + ": checked alone by torch.autograd.gradcheck, in float64, "
                                                            "on the arguments it was given here" + note)
    if not passing:
        return Check(CULPRITS, "skipped", f"none could be checked alone: {', '.join(skipped)}")
    return Check(CULPRITS, "pass", f"{', '.join(passing)}: each passes torch.autograd.gradcheck alone on the "
                                   f"arguments it was given here{note}")


def _differentiable(arg) -> bool:
    import torch

    return isinstance(arg, torch.Tensor) and (arg.is_floating_point() or arg.is_complex())


def _recorded(runner: Runner, point, wrt: list[str]) -> dict:
    """Function class -> the arguments of its first call (detached), over one forward pass of the function."""
    calls: dict = {}
    with _watching_apply(calls):
        try:
            runner.call(runner.leaves(point, wrt))
        except CallTimeout:
            raise
        except UserCodeError:
            return {}
    return calls


@contextmanager
def _watching_apply(calls: dict):
    """torch.autograd.Function.apply, for the duration, records each Function subclass's first arguments."""
    import torch

    base = torch.autograd.Function
    original = base.__dict__["apply"]

    def apply(cls, *args, **kwargs):
        if cls not in calls:
            calls[cls] = tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args)
        return original.__func__(cls, *args, **kwargs)

    base.apply = classmethod(apply)
    try:
        yield
    finally:
        base.apply = original


def _gradcheck(function, args: tuple, label: str) -> str | None:
    """torch.autograd.gradcheck of `function` alone at `args` (float64 copies): None, or what it found."""
    import torch
    from torch.autograd.gradcheck import GradcheckError  # the module, which torch.autograd.gradcheck (a function) hides

    inputs = tuple(a.to(torch.float64).requires_grad_() if _differentiable(a) and not a.is_complex() else a
                   for a in args)
    try:
        with guarded(f"{function.__name__} inside {label} raised"):
            try:
                torch.autograd.gradcheck(function.apply, inputs, check_undefined_grad=False)
            except GradcheckError as mismatch:
                return f"disagrees with finite differences of {function.__name__}.forward ({_first_line(mismatch)})"
    except CallTimeout:
        raise
    except UserCodeError as error:  # it raised, or gradcheck could not run it (no input it can differentiate)
        raise _Unchecked(error.message) from None
    return None


class _Unchecked(Exception):
    """A Function that could not be checked alone: a note, never a Function blamed."""


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0].rstrip(",:")
