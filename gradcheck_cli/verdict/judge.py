"""The judge: referees establish the true derivative, subjects are judged against it.

Referees are gradcheck's own engines: the symbolic engine, finite differences
with error bars (their one-sided values at a kink), and the high-precision
referee (mpmath, `engines/precise.py`), which runs only where the float64
referees cannot settle an entry or a subject disagrees.  Subjects are what the
user wants checked: torch's autograd, a manual formula, an expected value, a
torch function's backward and finite differences of its forward.  Subjects
never vote.

How one entry's verdict is reached (`judge`):

1. One-sided derivatives that differ mean a kink: there is no derivative.  The
   entry is `undefined`, and a subject outside [left, right] is wrong.
2. Otherwise the reference is the first of: the high-precision value, the
   one-sided derivatives where they coincide (kinks that cancel), the symbolic
   value confirmed by an informative finite difference.  Where the reference
   is code (a user's function alone, or `--reference`), there is no symbolic
   value: an informative finite difference of that code's forward is it.
3. With none of these the entry is `inconclusive`, and `reason` says why.
4. A subject that differs from the reference fails the entry; a referee that
   differs gets a note on gradcheck's own engine, never a failure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .compare import FUNCTION_ANSWERS, USER_ANSWERS, GradientRow, Status, Tolerance

NOT_DIFFERENTIABLE = "not differentiable"  # how the high-precision referee's reasons for a jump or a pole begin
TOO_LARGE = "too large"
JUMPS = NOT_DIFFERENTIABLE + ": the function jumps"  # how the high-precision referee's reason for a jump begins
SUBJECTS = ("autograd",) + USER_ANSWERS + FUNCTION_ANSWERS


def judge(row: GradientRow, tolerance: Tolerance) -> GradientRow:
    """Fill in the row's reference, its source, errors, status, who disagrees and the referees' notes."""
    row.disagrees, row.referee_notes, row.reason = [], [], None
    row.reference = row.reference_source = row.abs_error = row.rel_error = None
    if _no_derivative(row):  # a jump, or an infinite one-sided derivative: nothing to judge against
        row.reference_source, row.reason, row.status = "precise", row.precise_reason, Status.UNDEFINED
        row.function_verdict = None
        return row
    interval = _kink_interval(row, tolerance)
    if interval is not None:
        _judge_on_kink(row, interval, tolerance)
    else:
        _establish(row, tolerance)
        _judge_subjects(row, tolerance)
    _note_referees(row, tolerance)
    row.function_verdict = _function_verdict(row, tolerance)
    return row


def plain_passes(answers: Mapping[str, np.ndarray], tolerance: Tolerance) -> np.ndarray:
    """The entries `judge` passes with the symbolic value as the reference, found on whole arrays (one variable's
    answers by name, each of the same shape; a bool array of that shape): symbolic and finite differences finite
    and agreeing within the error bar, the bar informative, every subject present finite and within tolerance
    of the symbolic value.  The same tests in the same float operations as `judge`'s, so the verdicts are the
    same; an entry with a one-sided value, a high-precision one or a user's function is judged one by one
    (there are none here: the high-precision referee runs after this first vote)."""
    symbolic, difference = answers.get("symbolic"), answers.get("finite_difference")
    if symbolic is None or difference is None or any(name in answers for name in FUNCTION_ANSWERS):
        return np.zeros(np.shape(next(iter(answers.values()), ())), dtype=bool)
    error = answers["fd_error"]
    with np.errstate(invalid="ignore", over="ignore"):
        passes = (np.isfinite(symbolic) & np.isfinite(difference) & tolerance.close(symbolic, difference, error)
                  & (error <= tolerance.atol + tolerance.rtol * np.abs(symbolic)))
        for name in SUBJECTS:
            if name in answers:
                passes &= np.isfinite(answers[name]) & tolerance.close(answers[name], symbolic)
    return passes


def passed_errors(answers: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(abs_error, rel_error) of entries judged against the symbolic value, on arrays, as `judge` computes them
    for one row: the largest gap of a subject, relative to the reference (0 or inf where it is 0)."""
    reference = answers.get("symbolic")
    if reference is None:  # a user's function alone: no entry passes plainly
        nothing = np.full(np.shape(next(iter(answers.values()), ())), np.nan)
        return nothing, nothing
    gap = np.zeros(np.shape(reference))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for name in SUBJECTS:
            if name in answers:
                gap = np.maximum(gap, np.abs(answers[name] - reference))
        relative = np.where(reference != 0, gap / np.abs(reference), np.where(gap == 0, 0.0, np.inf))
    return gap, relative


def passed_row(answers: Mapping[str, float], abs_error: float, rel_error: float, **where) -> GradientRow:
    """The row of an entry `plain_passes` found passing, filled in as `judge` fills it (errors from
    `passed_errors`)."""
    return GradientRow(**where, **answers, reference=answers["symbolic"], reference_source="symbolic",
                       abs_error=abs_error, rel_error=rel_error)


def needs_precise(row: GradientRow, tolerance: Tolerance) -> bool:
    """Whether the high-precision referee should look at this (already judged) entry: the float64
    referees could not settle it, disagree with each other, or a subject disagrees with them."""
    if row.precise is not None or row.precise_reason is not None:
        return False
    # One-sided finite differences converge as O(h) and cannot tell a kink from a jump or a slow limit.
    return row.status in ("inconclusive", "fail") or bool(row.referee_notes) or row.left is not None


def add_precise(row: GradientRow, exact, name: str, entry: tuple) -> None:
    """Take the high-precision referee's answer for one entry (an engines.precise.PreciseGradient); its
    one-sided derivatives replace those of finite differences."""
    left, right = float(exact.left[name][entry]), float(exact.right[name][entry])
    if math.isfinite(left) and math.isfinite(right):
        row.left, row.right, row.precise_kink = left, right, True
    value = float(exact.gradients[name][entry])
    if math.isnan(value):
        row.precise_reason = exact.reason(name, entry) or "it did not converge"
        if _no_derivative(row) or not _trusted_one_sided(row):  # finite differences' O(h) one-sided values
            row.left = row.right = None
    else:
        row.precise, row.precise_error = value, float(exact.errors[name][entry])


def at_jump(row: GradientRow) -> bool:
    """The high-precision referee found the function jumping at the point (floor(x) at 2): no derivative."""
    return row.status == Status.UNDEFINED and (row.precise_reason or "").startswith(JUMPS)


# ---- establishing the reference ----


def _no_derivative(row: GradientRow) -> bool:
    """The high-precision referee found no derivative: a jump, or an infinite one-sided derivative."""
    return (row.precise_reason or "").startswith(NOT_DIFFERENTIABLE)


def _trusted_one_sided(row: GradientRow) -> bool:
    """One-sided values to go by: the high-precision referee's, or finite differences' unless that referee
    tried and could not confirm them (x**2*sin(1/x) at 0: O(h) values that only look like a kink)."""
    if row.left is None or row.right is None:
        return False
    return row.precise_kink or row.precise_reason is None or row.precise_reason.startswith(TOO_LARGE)


def _kink_interval(row: GradientRow, tolerance: Tolerance) -> tuple[float, float] | None:
    """[left, right] where the one-sided derivatives differ (no derivative exists), else None."""
    if not _trusted_one_sided(row) or tolerance.agree(row.left, row.right):
        return None
    return (min(row.left, row.right), max(row.left, row.right))


def _establish(row: GradientRow, tolerance: Tolerance) -> None:
    if row.precise is not None and _finite_or_overflow(row.precise):
        row.reference, row.reference_source = row.precise, "precise"
        if math.isinf(row.precise):
            row.reason = f"the exact derivative is beyond the float range; {row.precise} is its correctly rounded value"
    elif _trusted_one_sided(row):  # a kink whose sides coincide: differentiable
        row.reference, row.reference_source = (row.left + row.right) / 2, "one_sided"
    elif _confirmed(row, tolerance):
        row.reference, row.reference_source = row.symbolic, "symbolic"
    elif row.symbolic is None and _finite(row.finite_difference) and _informative(row, tolerance):
        row.reference, row.reference_source = row.finite_difference, "finite_difference"
    else:
        row.reason = _unsettled_reason(row, tolerance)


def _confirmed(row: GradientRow, tolerance: Tolerance) -> bool:
    """Symbolic and an informative finite difference agree."""
    if not _finite(row.symbolic) or not _finite(row.finite_difference):
        return False
    return tolerance.agree(row.symbolic, row.finite_difference, row.fd_error or 0.0) and _informative(row, tolerance)


def _informative(row: GradientRow, tolerance: Tolerance) -> bool:
    """A finite difference whose error bar is within the tolerance can confirm a value."""
    scale = abs(row.finite_difference if row.symbolic is None else row.symbolic)
    return (row.fd_error or 0.0) <= tolerance.atol + tolerance.rtol * scale


def _unsettled_reason(row: GradientRow, tolerance: Tolerance) -> str:
    precise = f"; the high-precision referee could not settle it ({row.precise_reason})" if row.precise_reason else ""
    if not _finite(row.finite_difference):
        what = ("finite differences found no two-sided estimate (the steps left the domain, met a singularity, "
                "or straddle what looks like a kink)")
    elif row.symbolic is None:
        what = (f"the finite-difference error bar of ±{row.fd_error:.2g} on {row.finite_difference:.10g} cannot "
                "settle it at this tolerance")
    elif not _finite(row.symbolic):
        what = f"the symbolic derivative is {row.symbolic} while finite differences give {row.finite_difference:.10g}"
    elif not tolerance.agree(row.symbolic, row.finite_difference, row.fd_error or 0.0):
        what = (f"symbolic ({row.symbolic:.10g}) and finite differences ({row.finite_difference:.10g} ± "
                f"{row.fd_error:.2g}) disagree")
    else:
        what = (f"a finite-difference error bar of ±{row.fd_error:.2g} cannot confirm the symbolic "
                f"{row.symbolic:.10g} at this tolerance")
    return what + precise


# ---- judging ----


def _judge_subjects(row: GradientRow, tolerance: Tolerance) -> None:
    if row.reference is None:
        row.status = Status.INCONCLUSIVE
        return
    answers = _answers(row, SUBJECTS)
    row.disagrees = [name for name, value in answers.items()
                     if not _agrees(value, row.reference, tolerance, _widen(row, name))]
    _fill_errors(row, answers)
    row.status = Status.FAIL if row.disagrees else Status.PASS


def _judge_on_kink(row: GradientRow, interval: tuple[float, float], tolerance: Tolerance) -> None:
    """No derivative here: any value between the one-sided ones is a subgradient; a value outside is wrong.

    A NaN or infinite answer lies in no interval."""
    low, high = interval
    slack = tolerance.atol + tolerance.rtol * max(abs(low), abs(high))
    row.disagrees = [name for name, value in _answers(row, SUBJECTS).items()
                     if not (low - slack <= value <= high + slack)]
    row.reference_source = "precise" if row.precise_kink else "one_sided"
    row.reason = f"the point sits on a kink: the one-sided derivatives are {row.left:.10g} and {row.right:.10g}"
    if row.precise is not None and not row.precise_kink:  # the exact point is off it: float rounding put it there
        row.reason += (f" (the kink is within float rounding of the point: in exact arithmetic the point lies just "
                       f"beside it, where the derivative is {row.precise:.10g})")
    row.status = Status.FAIL if row.disagrees else Status.UNDEFINED


def _note_referees(row: GradientRow, tolerance: Tolerance) -> None:
    """A referee that lost is a finding about gradcheck's own engine at this point, never the user's failure."""
    interval = _kink_interval(row, tolerance)
    for name in ("symbolic", "finite_difference"):
        value = getattr(row, name)
        if value is None or name == row.reference_source:
            continue
        if interval is not None:
            slack = tolerance.atol + tolerance.rtol * max(abs(interval[0]), abs(interval[1]))
            if not (_finite(value) and interval[0] - slack <= value <= interval[1] + slack):
                row.referee_notes.append(f"{_engine(name)} gives {value:.10g}, outside the one-sided derivatives")
        elif row.reference is not None and not _agrees(value, row.reference, tolerance, _widen(row, name)):
            row.referee_notes.append(_referee_note(row, name, value))


def _referee_note(row: GradientRow, name: str, value: float) -> str:
    settled = {"precise": "the high-precision referee", "one_sided": "the one-sided derivatives",
               "symbolic": "symbolic and finite differences"}[row.reference_source]
    shown = f"{value:.10g}" if math.isfinite(value) else str(value)
    note = f"{_engine(name)} gives {shown} here; {settled} settled {row.reference:.10g}"
    convention = kink_convention(row, value)
    return note + (f" ({convention})" if convention else "")


def kink_convention(row: GradientRow, value: float) -> str | None:
    """The convention an engine followed at kinks whose one-sided derivatives coincide, when it is a known one:
    torch and the symbolic engine take relu'(0) = abs'(0) = 0 and split ties of max/min evenly."""
    if row.left is None or row.right is None or row.reference is None or not math.isfinite(value):
        return None
    if value == 0:
        return "the convention relu'(0) = 0 at each kink, which is not the derivative where kinks cancel"
    if abs(value - row.reference / 2) <= 1e-12 * abs(row.reference):
        return "the convention that ties share the gradient evenly, which is not the derivative where kinks cancel"
    return None


def _function_verdict(row: GradientRow, tolerance: Tolerance) -> str | None:
    """Which part of a user's function differs from the reference: its backward, its forward, or both."""
    backward, forward = "function" in row.disagrees, "function_fd" in row.disagrees
    if not (backward or forward):
        return None
    if backward and not forward:
        return "backward" if row.function_fd is not None else "backward, unconfirmed"
    if not backward:
        return "inconsistent"
    own = row.function_fd is None or tolerance.agree(row.function, row.function_fd, row.function_fd_error or 0.0)
    return "forward" if own else "forward and backward"


# ---- small helpers ----


def _engine(name: str) -> str:
    return name.replace("_", " ")


def _answers(row: GradientRow, names) -> dict[str, float]:
    return {n: getattr(row, n) for n in names if getattr(row, n) is not None}


def _widen(row: GradientRow, name: str) -> float:
    return {"finite_difference": row.fd_error, "function_fd": row.function_fd_error,
            "precise": row.precise_error}.get(name) or 0.0


def _agrees(value: float, reference: float, tolerance: Tolerance, widen: float) -> bool:
    """Within tolerance; an infinite reference (a derivative beyond float64's range) is matched only by the
    same infinity, its correctly rounded value."""
    if math.isinf(reference) or math.isinf(value):
        return value == reference
    return math.isfinite(value) and tolerance.agree(value, reference, widen)


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _finite_or_overflow(value: float) -> bool:
    return not math.isnan(value)


def _fill_errors(row: GradientRow, answers: dict[str, float]) -> None:
    if row.reference is None or not math.isfinite(row.reference):
        return
    gaps = [abs(v - row.reference) if math.isfinite(v) else math.inf for v in answers.values()]
    row.abs_error = max(gaps, default=0.0)
    if row.reference != 0:
        row.rel_error = row.abs_error / abs(row.reference)
    else:
        row.rel_error = 0.0 if row.abs_error == 0 else math.inf
