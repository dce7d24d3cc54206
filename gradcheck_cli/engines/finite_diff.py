"""Finite differences: central differences refined by Richardson extrapolation.

For each element, central differences at steps h, h/2 and h/4 are combined
into a sixth-order estimate; the gap to the fourth-order estimate plus a
rounding term is the error bar.  The first base step is 1e-3 x max(1, |x|):
large enough that rounding (about eps*|f|/h) stays near 1e-12 relative, small
enough that the h**6 truncation is negligible for smooth functions.  Elements
whose evaluations are not finite (a step left the domain) or whose error bar
is wide (a singularity within a step, e.g. 1/x at 1e-4) try again with base
steps ten times smaller, keeping the estimate with the smallest error bar.

All perturbed points of a chunk of elements are evaluated in one batched run
of the plan.  Finite differences always run in float64: they are the referee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Node
from ..ops import OPS
from ..plan import Plan, batched

BASE_STEP = 1e-3
LEVELS = 3
SHRINK = 0.1  # base step factor between attempts
ATTEMPTS = 8
GOOD_ENOUGH = 1e-9  # relative error bar at which an element stops trying smaller steps
BATCH_ELEMENTS = 2_000_000  # perturbed values materialised at once


@dataclass
class FiniteDifferences:
    gradients: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    evaluations: int


def finite_differences(plan: Plan, output: Node, point: dict[str, np.ndarray], wrt: list[str]) -> FiniteDifferences:
    """Gradient of the scalar `output` w.r.t. each variable in `wrt`, with error bars."""
    base = {name: batched(np.asarray(v, dtype=np.float64)) for name, v in point.items()}
    base_values = plan.run(base)
    held = {n.id: plan.value(base_values, n) for n in plan.nodes if n.op in OPS and OPS[n.op].holds_value}
    noise = np.finfo(np.float64).eps * _magnitude(plan, base_values)
    gradients, errors, evaluations = {}, {}, 0
    for name in wrt:
        x = np.asarray(point[name], dtype=np.float64)
        value, error = np.full(x.size, np.nan), np.full(x.size, np.inf)
        pending = np.arange(x.size)
        for attempt in range(ATTEMPTS):
            if pending.size == 0:
                break
            shifts = Shifts(plan, output, base, name, x, held)
            d, truncation, rounding = shifts.extrapolate(pending, SHRINK**attempt, noise)
            evaluations += 2 * LEVELS * pending.size
            e = truncation + rounding + 4 * np.finfo(np.float64).eps * np.abs(d)
            better = np.isfinite(d) & np.isfinite(e) & (e < error[pending])
            value[pending[better]], error[pending[better]] = d[better], e[better]
            # Smaller steps help only where truncation, not rounding, dominates the error bar.
            settled = better & ((truncation <= rounding) | (e <= GOOD_ENOUGH * np.abs(d)))
            pending = pending[~settled]
        gradients[name], errors[name] = value.reshape(x.shape), error.reshape(x.shape)
    return FiniteDifferences(gradients, errors, evaluations)


def _magnitude(plan: Plan, values) -> float:
    """Scale of the numbers the function adds up, so its rounding noise is about eps times this.

    The output alone can be misleading: mean(sin(x)*x**2) over a symmetric x is about
    0, yet its terms, and so its rounding errors, are of order one.
    """
    largest = 0.0
    for node in plan.nodes:
        value = np.abs(plan.value(values, node))
        if node.op in OPS and OPS[node.op].reduction:
            value = np.abs(OPS[node.op].numpy(np.abs(plan.value(values, node.args[0])), *(
                plan.value(values, a) for a in node.args[1:])))
        if value.size and np.all(np.isfinite(value)):
            largest = max(largest, float(np.max(value)))
    return largest


@dataclass
class Shifts:
    """Evaluations of the output at points shifted along one variable's elements."""

    plan: Plan
    output: Node
    base: dict
    name: str
    x: np.ndarray
    held: dict

    def extrapolate(self, elements: np.ndarray, factor: float, noise: float):
        """(Richardson value, truncation estimate, rounding estimate) per element."""
        steps = BASE_STEP * np.maximum(1.0, np.abs(self.x.ravel()[elements])) * factor
        levels = steps[:, None] * 0.5 ** np.arange(LEVELS)  # (m, LEVELS)
        per_chunk = max(1, BATCH_ELEMENTS // max(1, 2 * LEVELS * self.x.size))
        parts = [self.evaluate(elements[i:i + per_chunk], levels[i:i + per_chunk])
                 for i in range(0, elements.size, per_chunk)]
        f_plus = np.concatenate([p[0] for p in parts])
        f_minus = np.concatenate([p[1] for p in parts])
        central = (f_plus - f_minus) / (2 * levels)
        first = (4 * central[:, 1:] - central[:, :-1]) / 3
        second = (16 * first[:, 1] - first[:, 0]) / 15
        # (64 D2 - 20 D1 + D0)/45 amplifies noise n in f by at most 6.6 n/h.
        scale = np.maximum(noise, np.finfo(np.float64).eps * np.maximum(np.abs(f_plus), np.abs(f_minus)).max(axis=1))
        return second, np.abs(second - first[:, 1]), 8 * scale / levels[:, 0]

    def evaluate(self, elements: np.ndarray, levels: np.ndarray):
        return _evaluate_shifts(self.plan, self.output, self.base, self.name, self.x, elements, levels, self.held)


def _evaluate_shifts(plan, output, base, name, x, elements, levels, held):
    """f at x +/- each level's step in each element: two arrays of shape (m, LEVELS)."""
    m = elements.size
    shifts = np.concatenate([levels, -levels], axis=1).ravel()  # (m * 2 * LEVELS,)
    rows = np.repeat(elements, 2 * LEVELS)
    perturbed = np.broadcast_to(x.ravel(), (shifts.size, x.size)).copy()
    perturbed[np.arange(shifts.size), rows] += shifts
    inputs = dict(base)
    inputs[name] = perturbed.reshape((shifts.size,) + x.shape)
    values = plan.value(plan.run(inputs, held=held), output)
    values = np.broadcast_to(values, (shifts.size,)).reshape(m, 2, LEVELS)  # constant outputs have B = 1
    return values[:, 0, :], values[:, 1, :]
