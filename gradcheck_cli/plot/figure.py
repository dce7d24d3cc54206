"""What a --plot shows, as numbers: the function around the point, each engine's tangent there, and the
central difference's error at many steps (truncation falling as h², rounding rising as 1/h: a V).

One gradient entry is drawn: the case's only one, or for tensors and Jacobians the worst (the table's order,
report.table.badness), and the title says so.  The expression is evaluated again in float64 along that entry's
input element, the other inputs held at the point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import GradcheckError
from ..core.limits import DEFAULT_LIMITS, Limits
from ..engines.finite_diff import CENTRAL_STEP
from ..engines.finite_diff.batches import points_per_batch
from ..engines.finite_diff.complex_step import COMPLEX_STEP
from ..engines.finite_diff.richardson import BASE_STEP, LEVELS, SHRINK
from ..lang.parser import parse
from ..lang.plan import Plan, batched
from ..lang.shapes import ShapeMap
from ..report.table import badness
from ..report.text import derivative_label, element_label
from ..verdict.compare import CaseResult, GradientRow

SPAN = 0.05  # the function is drawn over x0 ± SPAN·max(1, |x0|)
CURVE_POINTS = 201
RELATIVE_STEPS = np.logspace(-15, 0, 61)  # the V's steps, times max(1, |x0|)
SUBJECTS = (("reference", "reference"), ("autograd", "autograd"), ("manual", "manual"),
            ("function", "function backward"))  # GradientRow field, label: the tangents drawn


class PlotError(ValueError):
    """A case that has nothing to draw."""


@dataclass(frozen=True)
class Tangent:
    """A slope drawn through (x0, f0): on both sides, or on one (`left`, `right`) where the point is a kink."""

    label: str
    slope: float
    side: str = "both"


@dataclass
class PlotData:
    """Everything drawn.  `t`, `f`: the input element and the output element around the point (x0, f0);
    `steps`, `step_errors`: |central difference at h − baseline| for each h (NaN where it is not finite);
    `taken_steps`: the finite-difference engine's steps (its last one is the one it ended on); `step_note`
    says which method those are, or why there are none (the complex step is off the axis)."""

    title: str
    variable: str
    x0: float
    f0: float
    t: np.ndarray
    f: np.ndarray
    tangents: list[Tangent]
    steps: np.ndarray
    step_errors: np.ndarray
    baseline: str
    taken_steps: list[float] = field(default_factory=list)
    step_note: str = ""
    fd_error: float | None = None

    def slopes(self) -> dict[str, float]:
        """Each tangent's slope by its label."""
        return {t.label: t.slope for t in self.tangents}


def figure_data(result: CaseResult, step: float | None = None, limits: Limits | None = None) -> PlotData:
    """The numbers to draw for `result`; `step` is the --step of --method central, if one was given; `limits`
    those the case was checked under (default: core.limits' defaults).  Raises PlotError where there is nothing
    to draw."""
    row = _drawn_row(result)
    line = _Line(result, row, limits or DEFAULT_LIMITS)
    x0 = line.x0
    scale = max(1.0, abs(x0))
    t = x0 + np.linspace(-SPAN, SPAN, CURVE_POINTS) * scale
    f = line.values(t)
    f0 = float(line.values(np.array([x0]))[0])
    steps = (x0 + RELATIVE_STEPS * scale) - x0  # steps the floating-point grid holds exactly
    with np.errstate(all="ignore"):
        central = (line.values(x0 + steps) - line.values(x0 - steps)) / (2 * steps)
    baseline, baseline_name = ((row.reference, "reference") if row.reference is not None
                               else (row.finite_difference, "finite difference"))  # None at a kink
    errors = np.abs(central - baseline) if baseline is not None else np.full(steps.shape, np.nan)
    taken, note = _taken_steps(row, x0, step)
    many = len(result.gradients) > 1
    title = (f"{result.name}: {derivative_label(row)}" + (" (the worst entry)" if many else "")
             + f" at {element_label(row)} = {x0:.6g}")
    return PlotData(title=title, variable=element_label(row), x0=x0, f0=f0, t=t, f=f, tangents=_tangents(row),
                    steps=steps, step_errors=np.where(np.isfinite(errors), errors, np.nan), baseline=baseline_name,
                    taken_steps=taken, step_note=note, fd_error=row.fd_error)


def _drawn_row(result: CaseResult) -> GradientRow:
    if result.status == "error":
        raise PlotError("the case is an error: there is no gradient to draw")
    if not result.expr.strip():
        raise PlotError("the case checks code with no expression (a function alone, or against reference code); "
                        "the plot draws an expression around its point")
    rows = [r for r in result.gradients if r.projection is None]
    if not rows:
        raise PlotError("there is no gradient entry to draw (the fast check keeps only random projections)")
    return max(rows, key=badness)


def _tangents(row: GradientRow) -> list[Tangent]:
    tangents = [Tangent(label, getattr(row, name)) for name, label in SUBJECTS if getattr(row, name) is not None]
    if row.left is not None and row.right is not None:
        tangents += [Tangent("left derivative", row.left, "left"), Tangent("right derivative", row.right, "right")]
    return tangents


def _taken_steps(row: GradientRow, x0: float, step: float | None) -> tuple[list[float], str]:
    """The steps finite differences took for this entry, as the engine chooses them, and what they are."""
    if row.fd_method == "central":
        return [step or CENTRAL_STEP], "one central difference at a fixed step (torch's method)"
    if row.fd_method == "complex":
        return [], f"complex step (h = {COMPLEX_STEP:g}): no difference is taken, so no rounding error"
    if row.fd_method in ("richardson", "one-sided") and row.fd_evaluations:
        attempts = max(1, row.fd_evaluations // (2 * LEVELS))
        scale = max(1.0, abs(x0))
        return ([BASE_STEP * scale * SHRINK**k for k in range(attempts)],
                f"Richardson's base steps (each halved {LEVELS - 1} times); the last is where it stopped")
    return [], "no finite difference ran for this entry"


class _Line:
    """The expression as a function of one input element, the other inputs held at the point."""

    def __init__(self, result: CaseResult, row: GradientRow, limits: Limits):
        try:
            expression = parse(result.expr, limits=limits)
        except GradcheckError as error:  # a case checked under other limits than these
            raise PlotError(f"the expression cannot be read again to draw it: {error.message}") from None
        self.point = {name: np.asarray(value, dtype=np.float64) for name, value in result.point.items()}
        shapes = ShapeMap({name: value.shape for name, value in self.point.items()})
        self.output = expression.output
        self.plan = Plan([self.output], shapes)
        self.name = row.wrt
        x = self.point[self.name]
        self.element = int(np.ravel_multi_index(tuple(row.index), x.shape)) if row.index else 0
        output_shape = shapes(self.output)
        self.output_element = (int(np.ravel_multi_index(tuple(row.output_index), output_shape))
                               if row.output_index else 0)
        self.x0 = float(x.reshape(-1)[self.element])

    def values(self, t: np.ndarray) -> np.ndarray:
        """The output element at each value `t` of the input element (float64, NaN where undefined), in runs
        that fit the finite differences' memory budget."""
        per_run = points_per_batch(self.plan.elements, np.float64)
        return np.concatenate([self._run(t[i:i + per_run]) for i in range(0, t.size, per_run)])

    def _run(self, t: np.ndarray) -> np.ndarray:
        x = self.point[self.name]
        varied = np.broadcast_to(x.reshape(-1), (t.size, x.size)).copy()
        varied[:, self.element] = t
        inputs = {name: batched(value) for name, value in self.point.items()}
        inputs[self.name] = varied.reshape((t.size,) + x.shape)
        value = self.plan.value(self.plan.run(inputs), self.output)
        value = np.broadcast_to(value, (t.size,) + value.shape[1:]).reshape(t.size, -1)
        return value[:, self.output_element].astype(np.float64)
