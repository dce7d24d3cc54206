"""Comparison of the engines' answers: verdicts as plain data, no I/O.

The three independent engines (symbolic, finite differences, autograd) vote:
the reference is the first of them, in that order of trust, that agrees with
at least one other.  Anyone who disagrees with the reference is named, and
so are the user's own answers (a manual formula, an expected value) when
they disagree with it.  With no two engines in agreement, all are named.

A user's own torch function (`function:`) brings two more answers that are
judged, never vote: its autograd gradient (`function`) and finite differences
of its own forward (`function_fd`).  Between them they say whether its
backward or its forward is the one that differs from the reference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

ENGINES = ("symbolic", "autograd", "finite_difference")
USER_ANSWERS = ("manual", "expected")
FUNCTION_ANSWERS = ("function", "function_fd")  # a user's torch function: its backward, its forward's FD
STATUS_ORDER = ("pass", "undefined", "inconclusive", "fail", "error")


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def agree(self, a: float, b: float, widen: float = 0.0) -> bool:
        return abs(a - b) <= self.atol + self.rtol * max(abs(a), abs(b)) + widen

    def close(self, a, b, widen=0.0):
        """`agree`, elementwise over arrays (NaN agrees with nothing)."""
        import numpy as np  # not at import time: --version and --help stay free of numpy

        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return np.abs(a - b) <= self.atol + self.rtol * np.maximum(np.abs(a), np.abs(b)) + widen


DEFAULT_TOLERANCE = {"float64": Tolerance(rtol=1e-7, atol=1e-7), "float32": Tolerance(rtol=1e-4, atol=1e-5)}


@dataclass
class GradientRow:
    """One element of one variable's gradient, as every engine sees it."""

    wrt: str | list[str]  # a pair of names for a Hessian entry
    index: list  # a pair of index lists for a Hessian entry
    output_index: list[int] = field(default_factory=list)  # the Jacobian row; [] for a scalar expression
    projection: int | None = None  # with --fast: which random projection uᵀ(df/dwrt)v this row is
    left: float | None = None  # one-sided derivatives, where the point sits on a kink
    right: float | None = None
    float64: float | None = None  # with --dtype float32: the symbolic gradient in float64
    precision_loss: float | None = None  # largest relative gap of the float32 engines to `float64`
    diagnosis: str | None = None  # for a failing float32 entry: "precision artefact" or "real"
    symbolic: float | None = None
    manual: float | None = None
    finite_difference: float | None = None
    fd_error: float | None = None
    fd_method: str | None = None  # complex, richardson, one-sided or central
    fd_evaluations: int | None = None  # function evaluations this entry's finite difference cost
    autograd: float | None = None
    expected: float | None = None
    function: float | None = None  # the user's function's autograd gradient
    function_fd: float | None = None  # finite differences of the user's function's forward
    function_fd_error: float | None = None
    function_verdict: str | None = None  # which part of the function is wrong: a FUNCTION_VERDICTS key
    reference: float | None = None
    abs_error: float | None = None
    rel_error: float | None = None
    status: str = "pass"
    disagrees: list[str] = field(default_factory=list)
    culprit: object | None = None  # culprit.Culprit: the part of the check found responsible

    def answers(self) -> dict[str, float]:
        """Every answer present, by engine name."""
        names = ENGINES + USER_ANSWERS + FUNCTION_ANSWERS
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass
class CaseResult:
    """Everything known about one check; the reports render it, the CLI exits on it."""

    name: str
    expr: str
    point: dict = field(default_factory=dict)
    wrt: list[str] = field(default_factory=list)
    value: float | list | None = None
    status: str = "pass"
    error: dict | None = None
    formulas: Mapping[str, str] = field(default_factory=dict)  # rendered when read
    gradients: list[GradientRow] = field(default_factory=list)
    hessian: list[GradientRow] = field(default_factory=list)  # with --order 2; wrt and index are pairs
    dtype: str = "float64"
    tolerance: Tolerance | None = None
    file: str | None = None
    line: int | None = None
    evaluations: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # things a careful reader should know
    rendered_error: str | None = None  # the error with its source excerpt, for the table
    factors: list = field(default_factory=list)  # culprit.ManualFactor: manual dA/dB factors, checked
    culprits: list = field(default_factory=list)  # culprit.Culprit: where the disagreements come from
    explanation: object | None = None  # explain.Explanation, with --explain
    traceback: str | None = None  # of an error raised by the user's own code, shown with -v
    function: dict | None = None  # the user's torch function checked: target, inputs, device
    checks: list[Check] = field(default_factory=list)  # case-level checks of that function


@dataclass
class Check:
    """A case-level finding about a user's function: forward value, float64 support, hygiene."""

    name: str
    status: str  # pass, fail or skipped
    message: str


FUNCTION_VERDICTS = {
    "backward": "the function's backward disagrees with both the reference (symbolic) and its own finite "
                "differences",
    "backward, unconfirmed": "the function's backward disagrees with the reference (symbolic); finite differences "
                             "of its forward could not be taken to confirm it",
    "forward": "the function's forward differs from the reference: its backward agrees with its own finite "
               "differences, not with the reference's gradient",
    "forward and backward": "the function's forward differs from the reference, and its backward disagrees "
                            "with its own finite differences too",
    "forward not finite": "the function's forward is not finite at this point (NaN or infinite), so neither its "
                          "backward nor finite differences of it can be right",
    "inconsistent": "the function's backward matches the reference but not its own finite differences: its "
                    "forward differs from the reference near this point",
}


def judge(row: GradientRow, tolerance: Tolerance) -> GradientRow:
    """Fill in the row's reference, errors, status and who disagrees."""
    if row.left is not None and row.right is not None:
        if not tolerance.agree(row.left, row.right):
            return _judge_at_kink(row, tolerance)
        # Both sides agree: the function is differentiable here after all.
        row.finite_difference = (row.left + row.right) / 2
        row.fd_error = abs(row.left - row.right) / 2 + tolerance.rtol * abs(row.finite_difference)
    answers = {n: v for n, v in row.answers().items() if math.isfinite(v)}
    widen = {"finite_difference": row.fd_error or 0.0, "function_fd": row.function_fd_error or 0.0}

    def agree(a: str, b: str) -> bool:
        return tolerance.agree(answers[a], answers[b], widen.get(a, 0.0) + widen.get(b, 0.0))

    engines = [e for e in ENGINES if e in answers]
    reference = next((e for e in engines if any(agree(e, o) for o in engines if o != e)), None)
    if reference is None:
        row.disagrees = engines if len(engines) > 1 else []
        reference = engines[0] if engines else None
    else:
        row.disagrees = [n for n in answers if n != reference and not agree(n, reference)]
    row.disagrees += [n for n in row.answers() if n not in answers]  # NaN or infinite answers
    row.reference = answers.get(reference) if reference else None
    _fill_errors(row, answers)
    row.status = "fail" if row.disagrees else ("inconclusive" if _unrefereed(row, tolerance) else "pass")
    row.function_verdict = _function_verdict(row, tolerance)
    return row


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


def _unrefereed(row: GradientRow, tolerance: Tolerance) -> bool:
    """Symbolic and autograd agree, but finite differences cannot confirm it at this tolerance."""
    if row.reference is None or row.symbolic is None or row.autograd is None:
        return False
    if row.finite_difference is None:
        return True
    return row.fd_error is not None and row.fd_error > tolerance.atol + tolerance.rtol * abs(row.reference)


def _fill_errors(row: GradientRow, answers: dict[str, float]) -> None:
    if row.reference is None:
        return
    others = [abs(v - row.reference) for n, v in answers.items()]
    row.abs_error = max(others, default=0.0)
    if row.reference != 0:
        row.rel_error = row.abs_error / abs(row.reference)
    else:
        row.rel_error = 0.0 if row.abs_error == 0 else math.inf


def worst_status(statuses) -> str:
    return max(statuses, key=STATUS_ORDER.index, default="pass")


def case_status(result: CaseResult) -> str:
    """The worst verdict of the case's entries, its function's checks and its manual chain factors."""
    checks = ["fail" if c.status == "fail" else "pass" for c in result.checks]
    return worst_status([row.status for row in result.gradients + result.hessian] + checks
                        + [factor.status for factor in result.factors])


def atol_note(rows: list[GradientRow], tolerance: Tolerance) -> str | None:
    """Warn when your own answer passed only because it is within atol of a tiny gradient."""
    lenient = [r for r in rows if r.status == "pass" and r.reference is not None and any(
        abs(v - r.reference) > tolerance.rtol * abs(r.reference)
        for n, v in r.answers().items() if n in USER_ANSWERS and math.isfinite(v))]
    if not lenient:
        return None
    return (f"{len(lenient)} element(s) of your answers passed only within atol = {tolerance.atol:g}, "
            "the gradient being that small; lower --atol (or tolerance.atol) to compare them relatively")


def _judge_at_kink(row: GradientRow, tolerance: Tolerance) -> GradientRow:
    """At a kink there is no derivative: any value between the one-sided ones is a valid subgradient.

    The verdict is `undefined`, unless an answer lies outside that interval (then it is wrong).
    """
    low, high = sorted((row.left, row.right))
    slack = tolerance.atol + tolerance.rtol * max(abs(low), abs(high))
    row.disagrees = [name for name, value in row.answers().items()
                     if name != "finite_difference" and not (low - slack <= value <= high + slack)]
    row.status = "fail" if row.disagrees else "undefined"
    return row
