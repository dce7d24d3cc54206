"""Central differences at three steps, extrapolated (Richardson), with a step that shrinks until it is confirmed.

Its own module because this is the method for everything the complex step cannot do (kinks, non-holomorphic
ops, a black-box function, a direction): one step sequence, one confirmation rule and one error bar for the
three kinds of points it evaluates (`Shifts` of the expression, `CallShifts` of a function, a `Direction`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...lang.graph import Node
from ...lang.plan import DiagonalRun, Plan
from .batches import points_per_batch
from .kinks import KinkWatch, kink_changes
from .noise import EPS

BASE_STEP = 1e-3
LEVELS = 3
SHRINK = 0.1  # base step factor between attempts
ATTEMPTS = 8
INFORMATIVE = 1e-3  # relative error bar below which an estimate can confirm another
ONE_SIDED_SETTLES = 1e-6  # relative change between two steps below which a one-sided value is a limit
UNSEEN_VALUES_PER_INPUT = 16  # a black-box function's values per input value, assumed for its batches


def refine(shifts: Richardson, size: int, noise: np.ndarray):
    """Shrink the base step until two successive estimates agree within their error bars.

    One estimate alone can look precise and be wrong (a step that aliases with an
    oscillation, sin(x) at x = 1e7), so an entry settles only when the next step
    confirms it; it keeps the confirmed estimate with the smaller error bar.
    Returns (value, error, evaluations per input element, (left, right)); arrays are (input elements,
    output elements), left and right the one-sided derivatives where no central difference was finite.
    """
    refinement = _Refinement(size, noise.size)
    for attempt in range(ATTEMPTS):
        if refinement.pending.size == 0:
            break
        refinement.take(*shifts.extrapolate(refinement.pending, SHRINK**attempt, noise))
    return refinement.result()


class _Refinement:
    """The best estimate so far of each entry, and which input elements still need a smaller step."""

    def __init__(self, size: int, outputs: int):
        self.value, self.error = np.full((size, outputs), np.nan), np.full((size, outputs), np.inf)
        self.previous_value, self.previous_error = self.value.copy(), self.error.copy()
        self.done = np.zeros((size, outputs), dtype=bool)
        self.left, self.right = np.full((size, outputs), np.nan), np.full((size, outputs), np.nan)
        self.previous_left, self.previous_right = self.left.copy(), self.right.copy()
        self.pending, self.evaluations = np.arange(size), np.zeros(size, dtype=int)

    def take(self, d: np.ndarray, truncation: np.ndarray, rounding: np.ndarray, one_sided: tuple) -> None:
        """One attempt's estimates for the pending elements: confirm, improve, or wait for the next step."""
        pending = self.pending
        self._keep_one_sided(*one_sided, rounding)
        self.evaluations[pending] += 2 * LEVELS
        e = truncation + rounding + 4 * EPS * np.abs(d)
        open_ = ~self.done[pending]
        # An estimate can confirm another only if it says something: a bar that is small
        # next to the value, or as small as rounding allows.
        informative = np.isfinite(d) & ((e <= INFORMATIVE * np.abs(d)) | (truncation <= rounding))
        before, before_error = self.previous_value[pending], self.previous_error[pending]
        gap = np.abs(d - before)  # NaN where there is no earlier informative estimate
        confirmed = open_ & informative & (gap <= e + before_error)
        take_new = e <= before_error
        chosen, chosen_error = np.where(take_new, d, before), np.where(take_new, e, before_error)
        # Unconfirmed: keep the best so far, its error bar widened by any disagreement.
        honest = np.fmax(e, gap)
        better = open_ & np.isfinite(d) & np.isfinite(e) & ~confirmed & (honest < self.error[pending])
        rows_value, rows_error = self.value[pending], self.error[pending]
        rows_value[confirmed], rows_error[confirmed] = chosen[confirmed], chosen_error[confirmed]
        rows_value[better], rows_error[better] = d[better], honest[better]
        self.value[pending], self.error[pending] = rows_value, rows_error
        self.previous_value[pending], self.previous_error[pending] = np.where(informative, d, np.nan), e
        self.done[pending] |= confirmed
        self.pending = pending[~self.done[pending].all(axis=1)]

    def _keep_one_sided(self, minus: np.ndarray, plus: np.ndarray, rounding: np.ndarray) -> None:
        """One-sided values established as limits: the first step whose value the previous (ten times larger)
        step confirms.  A value that keeps moving with the step (|x|**1.5 at 0: about sqrt(h)) is no
        derivative of either side and stays NaN, for the high-precision referee to settle."""
        pending = self.pending
        rounding = np.nan_to_num(rounding, nan=0.0)  # NaN where the central differences straddled a kink
        for side, previous, value in ((self.left, self.previous_left, minus), (self.right, self.previous_right, plus)):
            with np.errstate(invalid="ignore"):
                settled = np.abs(value - previous[pending]) <= (
                    2 * rounding + ONE_SIDED_SETTLES * np.fmax(np.abs(value), np.abs(previous[pending])))
            side[pending] = np.where(np.isfinite(side[pending]), side[pending], np.where(settled, value, np.nan))
            previous[pending] = value

    def result(self):
        kinked = ~np.isfinite(self.value)
        one_sided = (np.where(kinked, self.left, np.nan), np.where(kinked, self.right, np.nan))
        return self.value, self.error, self.evaluations, one_sided


def central_difference(shifts: Shifts, size: int, step: float, floor: float):
    """One central difference at a fixed step (torch's method), with an honest error bar from step/2.
    Returns (value, error), each (elements, outputs)."""
    elements = np.arange(size)
    levels = np.broadcast_to(step * 0.5 ** np.arange(LEVELS), (size, LEVELS))
    f_plus, f_minus, *_ = shifts.evaluate_in_batches(elements, levels)
    with np.errstate(all="ignore"):
        central = (f_plus - f_minus) / (2 * levels[:, :, None])
        error = 4 / 3 * np.abs(central[:, 0] - central[:, 1]) + 8 * floor / step
    return central[:, 0], error


class Richardson:
    """Central differences at three steps, extrapolated; subclasses say where to step and how."""

    values_per_point = 1  # values a run holds per perturbed point, for sizing batches

    def steps(self, elements: np.ndarray, factor: float) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, elements: np.ndarray, levels: np.ndarray):
        raise NotImplementedError

    def evaluate_in_batches(self, elements: np.ndarray, levels: np.ndarray):
        """`evaluate` over chunks of elements that fit the batch budget (2 * LEVELS points per element)."""
        per_chunk = max(1, points_per_batch(self.values_per_point, np.float64) // (2 * LEVELS))
        parts = [self.evaluate(elements[i:i + per_chunk], levels[i:i + per_chunk])
                 for i in range(0, elements.size, per_chunk)]
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(5))

    def extrapolate(self, elements: np.ndarray, factor: float, noise: np.ndarray):
        """(Richardson value, truncation estimate, rounding estimate), each (elements, outputs), and the
        one-sided values (left, right)."""
        levels = self.steps(elements, factor)  # (m, LEVELS)
        # (m, LEVELS, outputs) each, then (m, LEVELS) each: a kink strictly between x and the step, or one at x.
        f_plus, f_minus, crossed_plus, crossed_minus, at_kink = self.evaluate_in_batches(elements, levels)
        one_sided = (self.one_sided(f_minus, -levels, crossed_minus), self.one_sided(f_plus, levels, crossed_plus))
        straddles = (crossed_plus | crossed_minus | at_kink).any(axis=1)
        f_plus = np.where(straddles[:, None, None], np.nan, f_plus)  # central differences mean nothing there
        with np.errstate(all="ignore"):
            central = (f_plus - f_minus) / (2 * levels[:, :, None])
            first = (4 * central[:, 1:] - central[:, :-1]) / 3
            second = (16 * first[:, 1] - first[:, 0]) / 15
            # (64 D2 - 20 D1 + D0)/45 amplifies noise n in f by at most 6.6 n/h.
            scale = np.maximum(noise, EPS * np.maximum(np.abs(f_plus), np.abs(f_minus)).max(axis=1))
            rounding = 8 * scale / levels[:, :1]
            truncation = np.abs(second - first[:, 1])
            # In the asymptotic range successive central differences shrink 4-fold; where they
            # do not (the step aliases with an oscillation, or straddles a singularity), the
            # extrapolation means nothing and only the spread of the raw differences is honest.
            step_changes = np.abs(np.diff(central, axis=1))
            ratio = step_changes[:, 0] / step_changes[:, 1]
            asymptotic = (step_changes.max(axis=1) <= rounding) | ((ratio >= 2) & (ratio <= 8))
            truncation = np.where(asymptotic, truncation, np.maximum(truncation, step_changes.max(axis=1)))
        return second, truncation, rounding, one_sided

    def one_sided(self, f_side: np.ndarray, signed_levels: np.ndarray, crossed: np.ndarray) -> np.ndarray:
        """Richardson-extrapolated one-sided differences (O(h) errors), NaN where a step crossed a kink."""
        with np.errstate(all="ignore"):
            forward = (f_side - self.base_output()[None, None, :]) / signed_levels[:, :, None]
            first = 2 * forward[:, 1:] - forward[:, :-1]
            second = (4 * first[:, 1] - first[:, 0]) / 3
        return np.where(crossed.any(axis=1)[:, None], np.nan, second)

    def base_output(self) -> np.ndarray:
        """f at the unperturbed point, flattened over output elements."""
        raise NotImplementedError


@dataclass
class Shifts(Richardson):
    """Evaluations of the output at points shifted along one variable's elements."""

    plan: Plan
    output: Node
    base: dict
    name: str
    x: np.ndarray
    held: dict
    base_values: list
    diagonal: DiagonalRun | None = None  # the O(n) path, where the graph allows it

    @property
    def values_per_point(self) -> int:
        return len(self.plan.nodes) if self.diagonal is not None else self.plan.elements

    def steps(self, elements: np.ndarray, factor: float) -> np.ndarray:
        return _element_steps(self.x, elements, factor)

    def base_output(self) -> np.ndarray:
        return self.plan.value(self.base_values, self.output).reshape(-1)

    def evaluate(self, elements: np.ndarray, levels: np.ndarray):
        """f at x +/- each level's step, (elements, LEVELS, outputs) each, and where kinks were met."""
        m = elements.size
        shifts = np.concatenate([levels, -levels], axis=1).ravel()  # (m * 2 * LEVELS,)
        rows = np.repeat(elements, 2 * LEVELS)
        if self.diagonal is not None:
            watch = KinkWatch(shifts.size)
            values = self.diagonal.run(self.base_values, rows, self.x.ravel()[rows] + shifts, watch.observe)
            values = np.broadcast_to(values, (shifts.size,)).reshape(m, 2, LEVELS, 1)
            crossed, at_kink = watch.crossed.reshape(m, 2, LEVELS), watch.at_kink.reshape(m, 2, LEVELS)
            return values[:, 0], values[:, 1], crossed[:, 0], crossed[:, 1], at_kink.any(axis=1)
        perturbed = np.broadcast_to(self.x.ravel(), (shifts.size, self.x.size)).copy()
        perturbed[np.arange(shifts.size), rows] += shifts
        inputs = dict(self.base)
        inputs[self.name] = perturbed.reshape((shifts.size,) + self.x.shape)
        all_values = self.plan.run(inputs, held=self.held)
        values = self.plan.value(all_values, self.output)
        values = np.broadcast_to(values, (shifts.size,) + values.shape[1:])  # constant outputs have B = 1
        values = values.reshape(m, 2, LEVELS, -1)
        crossed, at_kink = kink_changes(self.plan, self.base_values, all_values, shifts.size)
        crossed, at_kink = crossed.reshape(m, 2, LEVELS), at_kink.reshape(m, 2, LEVELS)
        return values[:, 0], values[:, 1], crossed[:, 0], crossed[:, 1], at_kink.any(axis=1)


def _element_steps(x: np.ndarray, elements: np.ndarray, factor: float) -> np.ndarray:
    """(elements, LEVELS) steps of the base step times `factor`, halved per level, exact on x's grid."""
    x = x.ravel()[elements, None]
    levels = BASE_STEP * np.maximum(1.0, np.abs(x)) * factor * 0.5 ** np.arange(LEVELS)
    return (x + levels) - x  # steps the floating-point grid can represent exactly


@dataclass
class CallShifts(Richardson):
    """Evaluations of a black-box function at points shifted along one variable's elements."""

    function: Callable[[dict[str, np.ndarray]], np.ndarray]  # batched inputs -> (B, outputs)
    base: dict[str, np.ndarray]
    name: str
    f0: np.ndarray  # the function at the point, flattened

    @property
    def values_per_point(self) -> int:
        return UNSEEN_VALUES_PER_INPUT * self.base[self.name].size  # its inside is unknown

    def steps(self, elements: np.ndarray, factor: float) -> np.ndarray:
        return _element_steps(self.base[self.name], elements, factor)

    def base_output(self) -> np.ndarray:
        return self.f0

    def evaluate(self, elements: np.ndarray, levels: np.ndarray):
        m, x = elements.size, self.base[self.name]
        shifts = np.concatenate([levels, -levels], axis=1).ravel()
        rows = np.repeat(elements, 2 * LEVELS)
        perturbed = np.broadcast_to(x.ravel(), (shifts.size, x.size)).copy()
        perturbed[np.arange(shifts.size), rows] += shifts
        inputs = {n: v[None] for n, v in self.base.items()}
        inputs[self.name] = perturbed.reshape((shifts.size,) + x.shape)
        values = self.function(inputs).reshape(m, 2, LEVELS, -1)
        none = np.zeros((m, LEVELS), dtype=bool)  # a black box shows no kinks
        return values[:, 0], values[:, 1], none, none, none


@dataclass
class Direction(Richardson):
    """Evaluations of the output along one direction in the space of all differentiated variables."""

    plan: Plan
    output: Node
    base: dict
    held: dict
    direction: dict[str, np.ndarray]  # variable -> its component of the direction

    def steps(self, elements: np.ndarray, factor: float) -> np.ndarray:
        scale = max([1.0] + [float(np.max(np.abs(self.base[n]))) for n in self.direction])
        return np.broadcast_to(BASE_STEP * scale * factor * 0.5 ** np.arange(LEVELS), (elements.size, LEVELS))

    def evaluate(self, elements: np.ndarray, levels: np.ndarray):
        t = np.concatenate([levels, -levels], axis=1).ravel()  # (m * 2 * LEVELS,)
        inputs = dict(self.base)
        for name, v in self.direction.items():
            inputs[name] = self.base[name] + t.reshape((-1,) + (1,) * v.ndim) * v[None]
        values = self.plan.value(self.plan.run(inputs, held=self.held), self.output)
        values = np.broadcast_to(values, (t.size,) + values.shape[1:]).reshape(elements.size, 2, LEVELS, -1)
        none = np.zeros((elements.size, LEVELS), dtype=bool)  # projections are not checked for kinks
        return values[:, 0], values[:, 1], none, none, none

    def base_output(self) -> np.ndarray:
        return self.plan.value(self.plan.run(self.base, held=self.held), self.output).reshape(-1)
