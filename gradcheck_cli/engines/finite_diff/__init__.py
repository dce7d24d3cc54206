"""Finite differences, the referee: complex step where it applies, Richardson elsewhere, with error bars.

Where every op between a variable and the output is holomorphic, f'(x) = Im f(x + ih e_j)/h with
h = 1e-200: exact to rounding, one evaluation per element.  Elsewhere, central differences at steps
h, h/2 and h/4 are combined into a sixth-order estimate; the gap to the fourth-order estimate plus a
rounding term (from the measured noise of f) is the error bar.  The first base step is
1e-3 x max(1, |x|); elements try base steps ten times smaller until two successive estimates agree
within their error bars (a step can alias with an oscillation, straddle a singularity such as 1/x
at 1e-4, leave the domain, or cross a kink).  On a kink, one-sided differences give the left and
right derivatives.

All perturbed points of a chunk of elements are evaluated in one batched run of the plan (in O(n)
for elementwise-then-reduce graphs).  A run holds every node's value for every perturbed point, so a
chunk is as many points as BATCH_BYTES hold, from the plan's size.  Finite differences always run in
float64: they are the referee.

This package chooses the method per variable and gathers the results; each method is a module of its own:
`complex_step`, `richardson` (and torch's fixed-step central difference), `noise` (the rounding part of the
error bars) and `kinks` (steps that cross one)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...core.errors import UsageError
from ...lang.graph import Node
from ...lang.ops import OPS
from ...lang.plan import DiagonalRun, Plan, batched
from .complex_step import complex_step, complex_step_applies, complex_step_of_scalars, complex_step_variables
from .kinks import KinkWatch, kink_changes
from .noise import EPS, NOISE_POINTS, NOISE_STEP, measured_noise, noise_level, noise_points, rounding_floor
from .richardson import INFORMATIVE, LEVELS, CallShifts, Direction, Shifts, central_difference, refine

__all__ = ["BATCH_BYTES", "CENTRAL_STEP", "FiniteDifferences", "KinkWatch", "complex_step_applies",
           "directional_derivative", "finite_differences", "finite_differences_of_function", "kink_changes",
           "complex_step_of_function", "one_sided_of_function"]

BATCH_BYTES = 256 * 2**20  # node values one batched run may hold
CENTRAL_STEP = 1e-6  # torch.autograd.gradcheck's eps, for --method central


def _quiet(function: Callable) -> Callable:
    """Run with numpy's floating-point warnings off: steps that leave the domain or overflow are expected,
    handled (a NaN step is discarded), and must not print on stderr."""
    @functools.wraps(function)
    def quiet(*args, **kwargs):
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)

    return quiet


@dataclass
class FiniteDifferences:
    gradients: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    evaluations: int
    # One-sided derivatives where every central difference straddled a kink (relu(x) at 0), else NaN.
    left: dict[str, np.ndarray] = field(default_factory=dict)
    right: dict[str, np.ndarray] = field(default_factory=dict)
    # Per entry: "complex", "richardson", "one-sided" or "central", and the evaluations it cost.
    methods: dict[str, np.ndarray] = field(default_factory=dict)
    costs: dict[str, np.ndarray] = field(default_factory=dict)


@_quiet
def finite_differences(plan: Plan, output: Node, point: dict[str, np.ndarray], wrt: list[str],
                       shapes=None, method: str = "auto", step: float | None = None,
                       values: list[np.ndarray] | None = None) -> FiniteDifferences:
    """d output / d variable for each variable in `wrt`, with error bars.

    For a non-scalar output this is the Jacobian: each result has the shape
    output shape + variable shape.  `method` "auto" takes the complex step where
    every op on the path is analytic and Richardson elsewhere; "central" is one
    central difference with `step` (default 1e-6), to reproduce torch's numbers.
    `values`: plan.at(point) in float64, when the caller has it (the base point is not evaluated again).
    Raises UsageError for "complex" where a variable's path is not holomorphic.
    """
    base, base_values, held = _base_point(plan, point, values)
    output_shape = plan.value(base_values, output).shape[1:]
    result = FiniteDifferences({}, {}, 0)
    holomorphic, trusted = complex_step_variables(plan, output, base_values, wrt)
    scalars = [n for n in wrt if trusted[n] and np.size(point[n]) == 1] if method in ("auto", "complex") else []
    stepped_together = complex_step_of_scalars(plan, output, base, scalars, held) if len(scalars) > 1 else {}
    floor = _once(rounding_floor, plan, base_values)  # once, where first needed
    may_cancel = _once(_may_cancel, plan, base_values)  # a scan of every node: once
    for name in wrt:
        x = np.asarray(point[name], dtype=np.float64)
        shifts = Shifts(plan, output, base, name, x, held, base_values, _diagonal(plan, shapes, name, x, output_shape))
        entries = _Entries(x.size, int(np.prod(output_shape, dtype=int)))
        if method == "complex" and not holomorphic[name]:
            raise UsageError(f"the complex step needs holomorphic ops between {name} and the value "
                             "(abs, relu, max, where, comparisons are not); use {method=auto} or {method=richardson}")
        if method == "central":
            entries.set("central", 2 * LEVELS, *central_difference(shifts, x.size, step or CENTRAL_STEP, floor()))
        elif trusted[name] and method in ("auto", "complex"):
            entries.set("complex", 1, *(stepped_together[name] if name in stepped_together else
                                        complex_step(plan, output, base, base_values, name, x, held, shifts.diagonal)))
        noise = _Noise(plan, output, point, name, held, floor, base_values)
        if entries.methods[0, 0] == "complex" and method == "auto" and may_cancel():
            entries.widen_complex(x, noise())
        # The complex step has no truncation error; where it ran with a bar that says something, Richardson
        # could only add noise.  Its bar counts every derivative the computation carries, even one a later
        # factor scales away (exp(x) * 1e-300 at x = 700): where that leaves it uninformative, Richardson runs too.
        if method in ("auto", "richardson") and not np.all(_informative(entries.value, entries.error)):
            entries.refine(shifts, noise())
        entries.evaluations += NOISE_POINTS if noise.measured else 0
        result.evaluations += entries.evaluations
        _store(result, name, output_shape + x.shape, entries.value, entries.error, entries.methods, entries.costs,
               entries.one_sided)
    return result


def _once(function: Callable, *args) -> Callable[[], object]:
    """function(*args), computed at the first call and kept (functools.cache of a partial costs more to make, per
    case, than the scalar checks it guards)."""
    kept: list = []

    def value():
        if not kept:
            kept.append(function(*args))
        return kept[0]

    return value


CANCELLATION = 64  # terms of a sum beyond this many times the sum: f may cancel inside


class _Noise:
    """f's rounding noise along one variable (at least the magnitude floor), measured once, where first needed
    (per variable: a switch in one, where(c, a, b) at c = 0, must not blur the others)."""

    def __init__(self, plan, output, point, name, held, floor, base_values):
        self.arguments, self.floor, self.value = (plan, output, point, [name], held, base_values), floor, None

    @property
    def measured(self) -> bool:
        return self.value is not None

    def __call__(self) -> np.ndarray:
        if self.value is None:
            self.value = np.maximum(self.floor(), measured_noise(*self.arguments))
        return self.value


def _may_cancel(plan: Plan, base_values: list) -> bool:
    """Does f add or subtract terms far larger than their result (exp(x) - 1 at 1e-5)?  Free: from the base run.
    (Called by finite_differences, numpy's warnings off.)"""
    for node in plan.nodes:
        if node.op in ("add", "sub") and len(node.args) == 2:
            a, b = (plan.value(base_values, arg) for arg in node.args)
            result = plan.value(base_values, node)
            if a.size == b.size == result.size == 1:  # scalars, the common case: plain floats are faster than arrays
                if abs(a.item()) + abs(b.item()) > CANCELLATION * abs(result.item()):
                    return True
            elif np.any(np.abs(a) + np.abs(b) > CANCELLATION * np.abs(result)):
                return True
    return False


def _informative(value: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Finite error bars small next to the value (or to 1, for a derivative near 0)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(error) & (error <= INFORMATIVE * np.maximum(np.abs(value), 1.0))


def _diagonal(plan: Plan, shapes, name: str, x: np.ndarray, output_shape: tuple) -> DiagonalRun | None:
    """The O(n) run for a scalar output that is elementwise in a vector x up to a sum or mean, else None."""
    if shapes is None or output_shape != () or x.size <= 1:
        return None
    diagonal = DiagonalRun(plan, shapes, name)
    return diagonal if diagonal.supports else None


class _Entries:
    """One variable's estimates, (input elements, output elements) each: value, error bar, the method that gave
    it, the evaluations it cost, the one-sided values at a kink; and the evaluations spent on the variable."""

    def __init__(self, size: int, outputs: int):
        self.value, self.error = np.full((size, outputs), np.nan), np.full((size, outputs), np.inf)
        self.methods = np.full((size, outputs), "richardson", dtype=object)
        self.costs = np.zeros((size, outputs), dtype=int)
        self.one_sided = (np.full_like(self.value, np.nan), np.full_like(self.value, np.nan))
        self.evaluations = 0

    def set(self, method: str, cost: int, value: np.ndarray, error: np.ndarray) -> None:
        """Every entry from one method, at `cost` evaluations per input element."""
        self.value, self.error = value, error
        self.methods[:], self.costs[:] = method, cost
        self.evaluations += cost * self.value.shape[0]

    def widen_complex(self, x: np.ndarray, noise: np.ndarray) -> None:
        """The complex step's bar counts the rounding of derivatives, not that of f's values, which a cancellation
        in f amplifies ((exp(x) - 1)/x at 1e-5: noise 1e-11 in f, 1e-6 in the derivative).  That noise, varying
        on the scale of x (or 1), changes the derivative by about noise / scale: the bar is at least 8 times that,
        as Richardson's rounding term is."""
        scale = np.where(x.ravel() != 0, np.minimum(1.0, np.abs(x.ravel())), 1.0)
        self.error = np.fmax(self.error, 8 * noise[None, :] / scale[:, None])

    def refine(self, shifts: Shifts, noise: np.ndarray) -> None:
        """Richardson for every element, kept where its error bar is the smaller."""
        refined, refined_error, per_element, self.one_sided = refine(shifts, self.value.shape[0], noise)
        self.evaluations += int(per_element.sum())
        self.costs += per_element[:, None]
        better = ~(self.error <= refined_error)  # complex step kept only where its bar is the smaller
        self.value, self.error = np.where(better, refined, self.value), np.where(better, refined_error, self.error)
        self.methods[better] = "richardson"
        self.methods[better & np.isfinite(self.one_sided[0]) & ~np.isfinite(refined)] = "one-sided"


def _store(result: FiniteDifferences, name: str, shape: tuple, value, error, methods, costs, one_sided) -> None:
    """One variable's (elements, outputs) arrays, shaped output shape + variable shape."""
    for store, array in ((result.gradients, value), (result.errors, error), (result.methods, methods),
                         (result.costs, costs), (result.left, one_sided[0]), (result.right, one_sided[1])):
        store[name] = array.T.reshape(shape)


@_quiet
def finite_differences_of_function(evaluate: Callable[[dict[str, np.ndarray]], np.ndarray],
                                   point: dict[str, np.ndarray], wrt: list[str],
                                   output_shape: tuple) -> FiniteDifferences:
    """The Jacobian of a black box by Richardson, with error bars from its measured noise.

    `evaluate` maps batched inputs (name -> (B,) + shape) to outputs (B, output elements).  Nothing is
    known of its inside: no complex step (it may not take complex numbers) and no kink detection.
    """
    base = {name: np.asarray(value, dtype=np.float64) for name, value in point.items()}
    f0 = evaluate({name: value[None] for name, value in base.items()})[0]
    noise = np.maximum(EPS * np.abs(f0), noise_level(evaluate(noise_points(base, wrt, NOISE_STEP))))
    result = FiniteDifferences({}, {}, NOISE_POINTS + 1)
    for name in wrt:
        value, error, per_element, one_sided = refine(CallShifts(evaluate, base, name, f0), base[name].size, noise)
        result.evaluations += int(per_element.sum())
        methods = np.full(value.shape, "richardson", dtype=object)
        _store(result, name, output_shape + base[name].shape, value, error, methods,
               np.broadcast_to(per_element[:, None], value.shape), one_sided)
    return result


ONE_SIDED_FACTORS = (0.1, 0.01)  # two base steps, 1e-4 and 1e-5 times max(1, |x|): a side settles where they agree


@_quiet
def one_sided_of_function(evaluate: Callable[[dict[str, np.ndarray]], np.ndarray], point: dict[str, np.ndarray],
                          name: str, elements: np.ndarray, settle: Callable[[np.ndarray, np.ndarray], np.ndarray]
                          ) -> tuple[np.ndarray, np.ndarray, int]:
    """A black box's one-sided derivatives along some elements of `name`: (left, right, evaluations), each side
    (elements, output elements), NaN where it does not settle.

    Its central differences cannot see a kink at the point (|x| at 0 gives 0 with a wide error bar); its
    one-sided differences can: each side, extrapolated from three steps, at two base steps, is kept where the
    two agree by `settle(a, b)` (elementwise booleans)."""
    base = {n: np.asarray(v, dtype=np.float64) for n, v in point.items()}
    f0 = evaluate({n: v[None] for n, v in base.items()})[0]
    shifts = CallShifts(evaluate, base, name, f0)
    sides, none = [], np.zeros((elements.size, LEVELS), dtype=bool)
    for factor in ONE_SIDED_FACTORS:
        levels = shifts.steps(elements, factor)
        f_plus, f_minus, *_ = shifts.evaluate_in_batches(elements, levels)
        sides.append((shifts.one_sided(f_minus, -levels, none), shifts.one_sided(f_plus, levels, none)))
    (left, right), (left_small, right_small) = sides
    left = np.where(settle(left, left_small), left_small, np.nan)
    right = np.where(settle(right, right_small), right_small, np.nan)
    return left, right, 1 + 2 * LEVELS * len(ONE_SIDED_FACTORS) * elements.size


BLACK_BOX_STEP = 1e-20  # a black box's own complex arithmetic may square the step: 1e-200 would underflow there


@_quiet
def complex_step_of_function(evaluate: Callable[[dict[str, np.ndarray]], np.ndarray | None],
                             point: dict[str, np.ndarray], name: str) -> np.ndarray | None:
    """Im f(x + ih e_j)/h of a black box for each element j of `name`: (elements, output elements), or None where
    it takes no complex input (`evaluate`, on complex inputs, gives None).

    Exact to rounding where the black box is holomorphic, and silently wrong where it is not (abs, .real,
    conj inside): the caller trusts it only where Richardson's informative estimate confirms it."""
    x = np.asarray(point[name], dtype=np.float64)
    perturbed = np.broadcast_to(x.ravel(), (x.size, x.size)).astype(np.complex128)
    perturbed[np.arange(x.size), np.arange(x.size)] += 1j * BLACK_BOX_STEP
    inputs = {n: np.asarray(v)[None] for n, v in point.items()}
    inputs[name] = perturbed.reshape((x.size,) + x.shape)
    values = evaluate(inputs)
    return None if values is None else np.asarray(values).imag / BLACK_BOX_STEP


def _base_point(plan: Plan, point: dict[str, np.ndarray], values: list[np.ndarray] | None = None):
    """(batched inputs, node values there, detach values to hold) at the unperturbed point (`values`: the
    plan's run there, when known)."""
    base = {name: batched(np.asarray(v, dtype=np.float64)) for name, v in point.items()}
    values = plan.run(base) if values is None else values
    held = {n.id: plan.value(values, n) for n in plan.nodes if n.op in OPS and OPS[n.op].holds_value}
    return base, values, held


@_quiet
def directional_derivative(plan: Plan, output: Node, point: dict[str, np.ndarray],
                           direction: dict[str, np.ndarray]) -> tuple[float, float, int]:
    """(d/dt output(point + t*direction) at t = 0, its error bar, evaluations) for a scalar output."""
    base, base_values, held = _base_point(plan, point)
    noise = np.maximum(rounding_floor(plan, base_values), measured_noise(plan, output, point, list(direction), held))
    value, error, count, _ = refine(Direction(plan, output, base, held, direction), 1, noise)
    return float(value[0, 0]), float(error[0, 0]), int(count.sum()) + NOISE_POINTS
