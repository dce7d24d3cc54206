"""Finite differences: central differences refined by Richardson extrapolation.

For each element, central differences at steps h, h/2 and h/4 are combined
into a sixth-order estimate; the gap to the fourth-order estimate plus a
rounding term is the error bar.  The base step is 1e-3 x max(1, |x|): large
enough that rounding (about eps*|f|/h) stays near 1e-12 relative, small enough
that the h**6 truncation is negligible for smooth functions.  An element whose
perturbed points leave the function's domain retries with smaller steps.

All perturbed points of a chunk of elements are evaluated in one batched run
of the plan.  Finite differences always run in float64: they are the referee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Node
from ..plan import Plan, batched

BASE_STEP = 1e-3
LEVELS = 3
SHRINK = 1 / 16  # step factor for a retry after a non-finite evaluation
RETRIES = 4
BATCH_ELEMENTS = 2_000_000  # perturbed values materialised at once


@dataclass
class FiniteDifferences:
    gradients: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    evaluations: int


def finite_differences(plan: Plan, output: Node, point: dict[str, np.ndarray], wrt: list[str],
                       held: dict[int, np.ndarray] | None = None) -> FiniteDifferences:
    """Gradient of the scalar `output` w.r.t. each variable in `wrt`, with error bars."""
    base = {name: batched(np.asarray(v, dtype=np.float64)) for name, v in point.items()}
    gradients, errors, evaluations = {}, {}, 0
    for name in wrt:
        x = np.asarray(point[name], dtype=np.float64)
        value, error = np.full(x.size, np.nan), np.full(x.size, np.inf)
        factor = np.ones(x.size)
        pending = np.arange(x.size)
        for _ in range(RETRIES + 1):
            if pending.size == 0:
                break
            d, e, count = _extrapolate(plan, output, base, name, x, pending, factor[pending], held)
            evaluations += count
            good = np.isfinite(d) & np.isfinite(e)
            value[pending[good]], error[pending[good]] = d[good], e[good]
            pending = pending[~good]
            factor[pending] *= SHRINK
        gradients[name], errors[name] = value.reshape(x.shape), error.reshape(x.shape)
    return FiniteDifferences(gradients, errors, evaluations)


def _extrapolate(plan, output, base, name, x, elements, factors, held):
    """Richardson-extrapolated central differences for the given flat elements."""
    steps = BASE_STEP * np.maximum(1.0, np.abs(x.ravel()[elements])) * factors
    levels = steps[:, None] * 0.5 ** np.arange(LEVELS)  # (m, LEVELS)
    per_chunk = max(1, BATCH_ELEMENTS // max(1, 2 * LEVELS * x.size))
    plus, minus = [], []
    for start in range(0, elements.size, per_chunk):
        chunk = slice(start, start + per_chunk)
        f = _evaluate_shifts(plan, output, base, name, x, elements[chunk], levels[chunk], held)
        plus.append(f[0])
        minus.append(f[1])
    f_plus, f_minus = np.concatenate(plus), np.concatenate(minus)
    central = (f_plus - f_minus) / (2 * levels)
    first = (4 * central[:, 1:] - central[:, :-1]) / 3
    second = (16 * first[:, 1] - first[:, 0]) / 15
    rounding = 8 * np.finfo(np.float64).eps * np.maximum(np.abs(f_plus), np.abs(f_minus)).max(axis=1) / levels[:, 0]
    error = np.abs(second - first[:, 1]) + rounding + 4 * np.finfo(np.float64).eps * np.abs(second)
    return second, error, 2 * LEVELS * elements.size


def _evaluate_shifts(plan, output, base, name, x, elements, levels, held):
    """f at x +/- each level's step in each element: two arrays of shape (m, LEVELS)."""
    m = elements.size
    shifts = np.concatenate([levels, -levels], axis=1).ravel()  # (m * 2 * LEVELS,)
    rows = np.repeat(elements, 2 * LEVELS)
    perturbed = np.broadcast_to(x.ravel(), (shifts.size, x.size)).copy()
    perturbed[np.arange(shifts.size), rows] += shifts
    inputs = dict(base)
    inputs[name] = perturbed.reshape((shifts.size,) + x.shape)
    values = plan.value(plan.run(inputs, held=held), output).reshape(m, 2, LEVELS)
    return values[:, 0, :], values[:, 1, :]
