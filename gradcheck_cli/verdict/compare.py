"""The results of a check as plain data, statuses and tolerances; no I/O, no judging (that is `judge.py`).

A `GradientRow` holds one entry of a gradient, Jacobian or Hessian as every
engine sees it: the referees (symbolic, finite differences, the high-precision
value) and the subjects (autograd, a manual formula, an expected value, a
user's torch function's backward and finite differences of its forward), then
the verdict: the reference, which referee settled it, who disagrees.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

ENGINES = ("symbolic", "autograd", "finite_difference", "precise")
USER_ANSWERS = ("manual", "expected")
FUNCTION_ANSWERS = ("function", "function_fd")  # a user's torch function: its backward, its forward's FD


class Status(str, Enum):
    """The verdict on an entry (pass, undefined, inconclusive, fail) or a case (or error), best first.  Each is
    its string too ("pass"), as the JSON report and the spec's readers write it."""

    PASS = "pass"
    UNDEFINED = "undefined"  # the derivative does not exist at the point, or the function is not finite there
    INCONCLUSIVE = "inconclusive"  # the referees cannot settle it (a singularity, kink or domain edge too close)
    FAIL = "fail"
    ERROR = "error"  # the case could not be checked: its input is wrong

    __str__ = str.__str__
    __format__ = str.__format__


STATUS_ORDER = tuple(Status)


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


@dataclass(slots=True)
class GradientRow:
    """One element of one variable's gradient, as every engine sees it."""

    wrt: str | list[str]  # a pair of names for a Hessian entry
    index: list  # a pair of index lists for a Hessian entry
    output_index: list[int] = field(default_factory=list)  # the Jacobian row; [] for a scalar expression
    output: str | None = None  # which output of a function's tuple result (f[1], or its namedtuple field); None: f
    projection: int | None = None  # with --fast: which random projection uᵀ(df/dwrt)v this row is
    left: float | None = None  # one-sided derivatives, where the point sits on a kink
    right: float | None = None
    float64: float | None = None  # with --dtype float32: the symbolic gradient in float64
    precision_loss: float | None = None  # largest relative gap of the float32 engines to `float64`
    diagnosis: str | None = None  # a named diagnosis of a failing entry: a DIAGNOSES key
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
    precise: float | None = None  # the high-precision referee's value, where it ran
    precise_error: float | None = None
    precise_reason: str | None = None  # why it could not settle this entry
    precise_kink: bool = False  # its one-sided derivatives (in left/right) differ
    digits_lost: float | None = None  # of autograd's value against the high-precision one, in the case's dtype
    reference: float | None = None  # the established derivative the subjects are judged against
    reference_source: str | None = None  # symbolic (confirmed by finite differences), one_sided, precise or
    # finite_difference (of a reference that is code: the function alone, or --reference)
    reason: str | None = None  # why an entry is inconclusive or undefined
    referee_notes: list[str] = field(default_factory=list)  # a referee of gradcheck's own that lost here
    abs_error: float | None = None
    rel_error: float | None = None
    status: Status = Status.PASS
    disagrees: list[str] = field(default_factory=list)
    culprit: object | None = None  # culprit.Culprit: the part of the check found responsible

    def answers(self) -> dict[str, float]:
        """Every answer present, by engine name."""
        names = ENGINES + USER_ANSWERS + FUNCTION_ANSWERS
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def gradient_row(answers: Mapping[str, float], **where) -> GradientRow:
    """The row of one entry, unjudged: `where` says which entry (wrt, index, and output_index or projection),
    `answers` gives each answer there (a GradientRow field -> its value, error bars included); finite
    differences that are not finite are left out (`drop_failed_differences`)."""
    row = GradientRow(**where, **answers)
    drop_failed_differences(row)
    return row


def drop_failed_differences(row: GradientRow) -> None:
    """A finite difference that is not finite (no step stayed in the domain, or every step straddled a kink) is
    left out with its error bar: it shows as missing and does not vote.  For the expression's and the user
    function's."""
    if row.finite_difference is not None and not math.isfinite(row.finite_difference):
        row.finite_difference = row.fd_error = None
    if row.function_fd is not None and not math.isfinite(row.function_fd):
        row.function_fd = row.function_fd_error = None


def answers_at(answers: Mapping[str, Mapping], key, entry: tuple) -> dict[str, float]:
    """{answer: its value at `entry`} from arrays by answer and key (a variable, or a pair of variables for a
    Hessian block), for the answers that have that key."""
    return {name: float(by_key[key][entry]) for name, by_key in answers.items() if key in by_key}


@dataclass
class CaseResult:
    """Everything known about one check; the reports render it, the CLI exits on it."""

    name: str
    expr: str
    point: dict = field(default_factory=dict)
    wrt: list[str] = field(default_factory=list)
    value: float | list | None = None
    status: Status = Status.PASS
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
    value_digits_lost: float | None = None  # of the float value against the high-precision one, where it ran
    rendered_error: str | None = None  # the error with its source excerpt, for the table
    factors: list = field(default_factory=list)  # chain_factors.ManualFactor: manual dA/dB factors, checked
    culprits: list = field(default_factory=list)  # culprit.Culprit: where the disagreements come from
    explanation: object | None = None  # explain.Explanation, with --explain
    traceback: str | None = None  # of an error raised by the user's own code, shown with -v
    function: dict | None = None  # the user's torch function checked: target, inputs, device (and reference)
    seed: int | None = None  # that the case's random inputs (randn(2, 3)) were drawn from
    checks: list[Check] = field(default_factory=list)  # case-level checks of that function
    patterns: list[dict] = field(default_factory=list)  # verdict.patterns: where the failing entries lie, per input


@dataclass
class Check:
    """A case-level finding about a user's function: forward value, float64 support, hygiene."""

    name: str
    status: str  # pass, fail or skipped
    message: str
    details: dict | None = None  # the numbers behind the message, where a check has them (JSON "details")


FUNCTION_VERDICTS = {
    "backward": "the function's backward disagrees with both the reference and its own finite "
                "differences",
    "backward, unconfirmed": "the function's backward disagrees with the reference; finite differences "
                             "of its forward could not be taken to confirm it",
    "forward": "the function's forward differs from the reference: its backward agrees with its own finite "
               "differences, not with the reference's gradient",
    "forward and backward": "the function's forward differs from the reference, and its backward disagrees "
                            "with its own finite differences too",
    "forward not finite": "the function's forward is not finite at this point (NaN or infinite), so neither its "
                          "backward nor finite differences of it can be right",
    "inconsistent": "the function's backward matches the reference but not its own finite differences: its "
                    "forward differs from the reference near this point",
    "backward, own reference": "your backward disagrees with finite differences of your function's own forward "
                               "(the function is its own reference)",
}


DIAGNOSES = {
    "where-NaN trap": "the branch that where() does not select is NaN or infinite (or so is its derivative) at "
                      "this point, and the backward multiplies it by 0: 0·NaN = NaN",
    "cancellation": "float arithmetic subtracts nearly equal numbers here and loses the digits that matter",
    "overflow": "a value exceeds the float range here although the exact value is finite",
    "underflow": "a value below the float range rounds to 0 here although the exact value is not 0",
    "precision loss": "an operation amplifies its arguments' rounding here (sin of a large argument, say)",
    "kink convention": "the engine took a convention at a kink (relu'(0) = 0, ties split evenly) where the kinks "
                       "cancel and the function is differentiable",
    "jump": "the function jumps at this point (floor at an integer, round halfway between, fmod at a multiple): "
            "no derivative exists, whatever value an engine gives",
    "0·∞": "the chain rule multiplies a node's infinite local derivative (sqrt at 0) by 0, which gives NaN",
    "precision artefact": "the disagreement is float32 rounding: the same computation in float64 gives the "
                          "reference",
    "real": "the disagreement does not vanish in float64",
}


ROUNDING_DIAGNOSES = ("cancellation", "overflow", "underflow", "precision loss")  # what float rounding explains


def digits_lost(value: float | None, exact: float, dtype: str) -> float | None:
    """How many significant digits `value` has lost against `exact`: 0 for a correctly rounded value, all of the
    dtype's (about 16 or 7) for a value that is wrong in its first digit or not finite."""
    import numpy as np

    if value is None or math.isnan(exact):
        return None
    value, exact = float(value), float(exact)
    eps = float(np.finfo(np.dtype(dtype)).eps)
    total = -math.log10(eps)
    if not math.isfinite(value) or math.isinf(exact):
        return total if value != exact else 0.0
    if exact == 0:
        return 0.0 if value == 0 else total
    relative = abs(value - exact) / abs(exact)
    return round(min(total, max(0.0, math.log10(max(relative, eps) / eps))), 1)


def worst_status(statuses) -> Status:
    return Status(max(statuses, key=STATUS_ORDER.index, default=Status.PASS))


def case_status(result: CaseResult) -> Status:
    """The worst verdict of the case's entries, its function's checks and its manual chain factors."""
    checks = ["fail" if c.status == "fail" else "pass" for c in result.checks]
    checks += ["fail" for c in result.culprits if c.kind == "value"]  # the forward value overflows or cancels
    return worst_status([row.status for row in result.gradients + result.hessian] + checks
                        + [factor.status for factor in result.factors])


def atol_note(rows: list[GradientRow], tolerance: Tolerance) -> str | None:
    """Warn when your own answer passed only because it is within atol of a tiny gradient."""
    relative = Tolerance(rtol=tolerance.rtol, atol=0.0)  # the judgement without atol: what passed only by it
    lenient = [r for r in rows if r.status == "pass" and r.reference is not None and any(
        v is not None and math.isfinite(v) and not relative.agree(v, r.reference)
        for v in (r.manual, r.expected))]  # USER_ANSWERS
    if not lenient:
        return None
    return (f"{len(lenient)} element(s) of your answers passed only within atol = {tolerance.atol:g}, "
            "the gradient being that small; lower {atol} to compare them relatively")
