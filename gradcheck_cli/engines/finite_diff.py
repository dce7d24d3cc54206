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
float64: they are the referee."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import UsageError
from ..lang.graph import Node, carries_value, dependents
from ..lang.ops import OPS
from ..lang.plan import DiagonalRun, Plan, batched, flat_values

BASE_STEP = 1e-3
LEVELS = 3
SHRINK = 0.1  # base step factor between attempts
ATTEMPTS = 8
INFORMATIVE = 1e-3  # relative error bar below which an estimate can confirm another
BATCH_BYTES = 256 * 2**20  # node values one batched run may hold
UNSEEN_VALUES_PER_INPUT = 16  # a black-box function's values per input value, assumed for its batches
EPS = np.finfo(np.float64).eps
COMPLEX_STEP = 1e-200
COMPLEX_STEP_RADIUS = 1e40  # how much closer than this to a singularity the step may come
NOISE_POINTS = 7  # evaluations that measure the rounding noise of f
NOISE_STEP = 1e-7


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


CENTRAL_STEP = 1e-6  # torch.autograd.gradcheck's eps, for --method central


@_quiet
def finite_differences(plan: Plan, output: Node, point: dict[str, np.ndarray], wrt: list[str],
                       shapes=None, method: str = "auto", step: float | None = None) -> FiniteDifferences:
    """d output / d variable for each variable in `wrt`, with error bars.

    For a non-scalar output this is the Jacobian: each result has the shape
    output shape + variable shape.  `method` "auto" takes the complex step where
    every op on the path is analytic and Richardson elsewhere; "central" is one
    central difference with `step` (default 1e-6), to reproduce torch's numbers.
    """
    base, base_values, held = _base_point(plan, point)
    output_shape = plan.value(base_values, output).shape[1:]
    result = FiniteDifferences({}, {}, 0)
    reach_output = _variables_reaching(plan, {output.id})
    reach_not_analytic = _variables_reaching(plan, {n.id for n in plan.nodes if n.args and not OPS[n.op].analytic})
    reach_near_zero = _variables_reaching(plan, _values_near_a_branch_point(plan, base_values))
    holomorphic = {name: name in reach_output and name not in reach_not_analytic for name in wrt}
    trusted = {name: holomorphic[name] and name not in reach_near_zero for name in wrt}
    scalars = [n for n in wrt if trusted[n] and np.size(point[n]) == 1] if method in ("auto", "complex") else []
    stepped_together = _complex_step_of_scalars(plan, output, base, scalars, held) if len(scalars) > 1 else {}
    floor = functools.cache(functools.partial(_rounding_floor, plan, base_values))  # once, where first needed
    for name in wrt:
        x = np.asarray(point[name], dtype=np.float64)
        diagonal = DiagonalRun(plan, shapes, name) if shapes is not None and output_shape == () and x.size > 1 \
            else None
        diagonal = diagonal if diagonal is not None and diagonal.supports else None
        shifts = Shifts(plan, output, base, name, x, held, base_values, diagonal)
        n_out = int(np.prod(output_shape, dtype=int))
        value, error = np.full((x.size, n_out), np.nan), np.full((x.size, n_out), np.inf)
        methods, costs = np.full((x.size, n_out), "richardson", dtype=object), np.zeros((x.size, n_out), dtype=int)
        one_sided = (np.full_like(value, np.nan), np.full_like(value, np.nan))
        if method == "complex" and not holomorphic[name]:
            raise UsageError(f"the complex step needs holomorphic ops between {name} and the value "
                             "(abs, relu, max, where, comparisons are not); use {method=auto} or {method=richardson}")
        if method == "central":
            value, error = _central(shifts, x.size, step or CENTRAL_STEP, floor())
            methods[:], costs[:] = "central", 2 * LEVELS
            result.evaluations += 2 * LEVELS * x.size
        elif trusted[name] and method in ("auto", "complex"):
            value, error = stepped_together[name] if name in stepped_together else \
                _complex_step(plan, output, base, base_values, name, x, held, diagonal)
            methods[:], costs[:] = "complex", 1
            result.evaluations += x.size
        # The complex step has no truncation error; where it ran, Richardson could only add noise.
        if method in ("auto", "richardson") and not np.all(np.isfinite(error)):
            # Measured per variable: a switch in one (where(c, a, b) at c = 0) must not blur the others.
            noise = np.maximum(floor(), _measured_noise(plan, output, point, [name], held))
            refined, refined_error, per_element, one_sided = _refine(shifts, x.size, noise)
            result.evaluations += NOISE_POINTS + int(per_element.sum())
            costs += per_element[:, None]
            better = ~(error <= refined_error)  # complex step kept only where its bar is the smaller
            value, error = np.where(better, refined, value), np.where(better, refined_error, error)
            methods[better] = "richardson"
            methods[better & np.isfinite(one_sided[0]) & ~np.isfinite(refined)] = "one-sided"
        _store(result, name, output_shape + x.shape, value, error, methods, costs, one_sided)
    return result


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
    noise = np.maximum(EPS * np.abs(f0), _noise_level(evaluate(_noise_points(base, wrt, NOISE_STEP))))
    result = FiniteDifferences({}, {}, NOISE_POINTS + 1)
    for name in wrt:
        shifts = CallShifts(evaluate, base, name, f0)
        value, error, per_element, one_sided = _refine(shifts, base[name].size, noise)
        result.evaluations += int(per_element.sum())
        methods = np.full(value.shape, "richardson", dtype=object)
        _store(result, name, output_shape + base[name].shape, value, error, methods,
               np.broadcast_to(per_element[:, None], value.shape), one_sided)
    return result


def _central(shifts: Shifts, size: int, step: float, floor: float):
    """One central difference at a fixed step (torch's method), with an honest error bar from step/2."""
    elements = np.arange(size)
    levels = np.broadcast_to(step * 0.5 ** np.arange(LEVELS), (size, LEVELS))
    f_plus, f_minus, *_ = shifts.evaluate_in_batches(elements, levels)
    with np.errstate(all="ignore"):
        central = (f_plus - f_minus) / (2 * levels[:, :, None])
        error = 4 / 3 * np.abs(central[:, 0] - central[:, 1]) + 8 * floor / step
    return central[:, 0], error


def complex_step_applies(plan: Plan, output: Node, name: str) -> bool:
    """Whether every op between the variable and the output is holomorphic (OpSpec.analytic)."""
    return _holomorphic(plan, output, _dependents(plan, name))


def _holomorphic(plan: Plan, output: Node, path: set[int]) -> bool:
    return output.id in path and all(OPS[n.op].analytic for n in plan.nodes if n.id in path and n.op != "var")


def _dependents(plan: Plan, name: str) -> set[int]:
    """Ids of the nodes whose value changes with the variable (detach holds its value: not one)."""
    return dependents(plan.nodes, {n.id for n in plan.nodes if n.op == "var" and n.attr == name}, carries_value)


def _variables_reaching(plan: Plan, targets: set[int]) -> set[str]:
    """Names of the variables some node of `targets` depends on (as `_dependents` has it), for all variables
    in one backward pass: a walk per variable would cost variables x nodes (12,000 scalars: minutes)."""
    marked, names = set(targets), set()
    for node in reversed(plan.nodes):
        if node.id in marked:
            if node.op == "var":
                names.add(node.attr)
            elif node.args and carries_value(node):
                marked.update(a.id for a in node.args)
    return names


def _values_near_a_branch_point(plan: Plan, base_values: list) -> set[int]:
    """Nodes whose value is so close to 0 that the complex step cannot be trusted through them.

    Im f(x + ih)/h is the derivative only while f is analytic within h of x; sqrt, log, 1/x
    and x**p are singular at 0, so a value there within a factor of COMPLEX_STEP_RADIUS of h
    (sqrt(x) at 1e-320) would give a confident, wrong answer.  Richardson referees instead.
    """
    def tiny(value) -> bool:
        magnitude = np.abs(value)
        return bool(np.any((magnitude > 0) & (magnitude < COMPLEX_STEP * COMPLEX_STEP_RADIUS)))

    if not tiny(flat_values(base_values)):
        return set()  # the usual case, in one pass
    return {node.id for node in plan.nodes if tiny(plan.value(base_values, node))}


def _complex_step(plan: Plan, output: Node, base: dict, base_values: list, name: str, x: np.ndarray, held: dict,
                  diagonal: DiagonalRun | None):
    """f'(x) = Im f(x + i h e_j) / h with h = 1e-200: no subtraction, so no cancellation, one run per element.

    The error bar is a few ulps of the largest derivative the computation carries (the
    imaginary parts of the nodes), which bounds the rounding in the forward-mode sums.
    Returns (value, error), each (elements, outputs).
    """
    if diagonal is not None:  # elementwise-then-reduce: all elements in one O(n) pass
        elements = np.arange(x.size)
        f = diagonal.run(base_values, elements, x.ravel() + 1j * COMPLEX_STEP).reshape(x.size, 1)
        derivative = f.imag / COMPLEX_STEP
        return derivative, 16 * EPS * np.maximum(np.abs(derivative), np.max(np.abs(derivative), initial=1.0))
    per_chunk = _points_per_batch(plan.elements, np.complex128)
    values, errors = [], []
    for start in range(0, x.size, per_chunk):
        elements = np.arange(start, min(x.size, start + per_chunk))
        perturbed = np.broadcast_to(x.ravel(), (elements.size, x.size)).astype(np.complex128)
        perturbed[np.arange(elements.size), elements] += 1j * COMPLEX_STEP
        inputs = dict(base)
        inputs[name] = perturbed.reshape((elements.size,) + x.shape)
        all_values = plan.run(inputs, held=held)
        f = plan.value(all_values, output)
        f = np.broadcast_to(f, (elements.size,) + f.shape[1:]).reshape(elements.size, -1)
        with np.errstate(over="ignore"):  # a derivative beyond the float range is inf, as it should be
            derivative = f.imag / COMPLEX_STEP
            carried = max(float(np.max(np.abs(np.imag(v)), initial=0.0)) for v in all_values) / COMPLEX_STEP
        values.append(derivative)
        errors.append(16 * EPS * np.maximum(np.abs(derivative), carried))
    return np.concatenate(values), np.concatenate(errors)


def _complex_step_of_scalars(plan: Plan, output: Node, base: dict, names: list[str], held: dict) -> dict:
    """The complex step for several scalar variables in batched runs (row j perturbs names[j]).

    Batched instead of one run per variable: for small functions of a few scalars the Python
    overhead of a run is most of the cost.  Each run takes as many variables as BATCH_BYTES allow,
    since every node then holds a value per variable (12,000 scalars in one run: gigabytes).
    Returns name -> (value, error), each (1, outputs).
    """
    per_batch = _points_per_batch(plan.elements, np.complex128)
    found = {}
    for start in range(0, len(names), per_batch):
        found.update(_complex_step_of_these_scalars(plan, output, base, names[start:start + per_batch], held))
    return found


def _complex_step_of_these_scalars(plan: Plan, output: Node, base: dict, names: list[str], held: dict) -> dict:
    rows = len(names)
    inputs = dict(base)
    for row, name in enumerate(names):
        column = np.repeat(base[name].astype(np.complex128), rows)
        column[row] += 1j * COMPLEX_STEP
        inputs[name] = column
    values = plan.run(inputs, held=held)
    f = plan.value(values, output)
    derivative = np.broadcast_to(f, (rows,) + f.shape[1:]).reshape(rows, -1).imag / COMPLEX_STEP
    # Only values that vary along the batch carry an imaginary part; the others are real.
    carried = np.zeros(rows)
    for value in values:
        if len(value) == rows and np.iscomplexobj(value):
            carried = np.maximum(carried, np.max(np.abs(value.reshape(rows, -1).imag), axis=1, initial=0.0))
    error = 16 * EPS * np.maximum(np.abs(derivative), carried[:, None] / COMPLEX_STEP)
    return {name: (derivative[row:row + 1], error[row:row + 1]) for row, name in enumerate(names)}


def _points_per_batch(values_per_point: int, dtype) -> int:
    """How many perturbed points one batched run may evaluate, each holding `values_per_point` values."""
    return max(1, BATCH_BYTES // (max(1, values_per_point) * np.dtype(dtype).itemsize))


def _base_point(plan: Plan, point: dict[str, np.ndarray]):
    """(batched inputs, node values there, detach values to hold) at the unperturbed point."""
    base = {name: batched(np.asarray(v, dtype=np.float64)) for name, v in point.items()}
    values = plan.run(base)
    held = {n.id: plan.value(values, n) for n in plan.nodes if n.op in OPS and OPS[n.op].holds_value}
    return base, values, held


def _rounding_floor(plan: Plan, values) -> float:
    """The least rounding noise of f: eps times the magnitudes it adds up (only differences need it)."""
    return EPS * _magnitude(plan, values)


def _refine(shifts: _Richardson, size: int, noise: np.ndarray):
    """Shrink the base step until two successive estimates agree within their error bars.

    One estimate alone can look precise and be wrong (a step that aliases with an
    oscillation, sin(x) at x = 1e7), so an entry settles only when the next step
    confirms it; it keeps the confirmed estimate with the smaller error bar.
    Arrays are (input elements, output elements).
    """
    outputs = noise.size
    value, error = np.full((size, outputs), np.nan), np.full((size, outputs), np.inf)
    previous_value, previous_error = value.copy(), error.copy()
    done = np.zeros((size, outputs), dtype=bool)
    left, right = np.full((size, outputs), np.nan), np.full((size, outputs), np.nan)
    pending, evaluations = np.arange(size), np.zeros(size, dtype=int)
    for attempt in range(ATTEMPTS):
        if pending.size == 0:
            break
        d, truncation, rounding, (minus, plus) = shifts.extrapolate(pending, SHRINK**attempt, noise)
        # One-sided values from the largest step that met no other kink: the least rounding.
        left[pending] = np.where(np.isfinite(left[pending]), left[pending], minus)
        right[pending] = np.where(np.isfinite(right[pending]), right[pending], plus)
        evaluations[pending] += 2 * LEVELS
        e = truncation + rounding + 4 * EPS * np.abs(d)
        open_ = ~done[pending]
        # An estimate can confirm another only if it says something: a bar that is small
        # next to the value, or as small as rounding allows.
        informative = np.isfinite(d) & ((e <= INFORMATIVE * np.abs(d)) | (truncation <= rounding))
        before, before_error = previous_value[pending], previous_error[pending]
        gap = np.abs(d - before)  # NaN where there is no earlier informative estimate
        confirmed = open_ & informative & (gap <= e + before_error)
        take_new = e <= before_error
        chosen, chosen_error = np.where(take_new, d, before), np.where(take_new, e, before_error)
        # Unconfirmed: keep the best so far, its error bar widened by any disagreement.
        honest = np.fmax(e, gap)
        better = open_ & np.isfinite(d) & np.isfinite(e) & ~confirmed & (honest < error[pending])
        rows_value, rows_error = value[pending], error[pending]
        rows_value[confirmed], rows_error[confirmed] = chosen[confirmed], chosen_error[confirmed]
        rows_value[better], rows_error[better] = d[better], honest[better]
        value[pending], error[pending] = rows_value, rows_error
        previous_value[pending], previous_error[pending] = np.where(informative, d, np.nan), e
        done[pending] |= confirmed
        pending = pending[~done[pending].all(axis=1)]
    kinked = ~np.isfinite(value)
    return value, error, evaluations, (np.where(kinked, left, np.nan), np.where(kinked, right, np.nan))


class KinkWatch:
    """Per perturbed point: did it cross a kink (a switching function changed sign), or leave one it sat on?

    Switching functions come from the registry (`OpSpec.kinks`: relu's x, clamp's x - lo and x - hi, amax's
    lead of each element over the rest of its slice, ...); ops with an attribute (amax's axis) get it too.
    `observe` takes a node's arguments at the base point and at the perturbed points.
    """

    def __init__(self, batch: int):
        self.batch = batch
        self.crossed, self.at_kink = np.zeros(batch, dtype=bool), np.zeros(batch, dtype=bool)

    def observe(self, node: Node, base_args: list, perturbed_args: list) -> None:
        spec = OPS.get(node.op)
        if spec is None or spec.kinks is None:
            return
        extra = (node.attr,) if spec.attrs else ()
        for switch_before, switch_after in zip(spec.kinks(*base_args, *extra), spec.kinks(*perturbed_args, *extra)):
            sign_after = np.broadcast_to(np.sign(switch_after), (self.batch,) + np.shape(switch_after)[1:])
            sign_before = np.broadcast_to(np.sign(switch_before), sign_after.shape)
            changed = (sign_after != sign_before).reshape(self.batch, -1)
            sitting = (sign_before == 0).reshape(self.batch, -1)
            self.crossed |= (changed & ~sitting).any(axis=1)
            self.at_kink |= (changed & sitting).any(axis=1)


def kink_changes(plan: Plan, base_values: list, values: list, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """KinkWatch over every node of a dense batched run."""
    watch = KinkWatch(batch)
    for node in plan.nodes:
        if OPS.get(node.op) is not None and OPS[node.op].kinks is not None:
            watch.observe(node, plan.arguments(base_values, node), plan.arguments(values, node))
    return watch.crossed, watch.at_kink


def _measured_noise(plan: Plan, output: Node, point: dict, wrt: list[str], held: dict) -> np.ndarray:
    """Rounding noise of each output element near the point, from high-order differences of f.

    The noise that limits a finite difference comes from cancellation inside f
    (log(1 - p) with p near 1 amplifies the rounding of p a million-fold), which
    no magnitude reveals.  Following Moré and Wild's ECnoise, f is evaluated at
    seven points a few hundred ulps apart along a random ±1 direction: there the
    smooth part of f has vanishing 4th to 6th differences, and what remains is noise.
    """
    base_values = plan.at(point, held=held)
    for floor in (NOISE_STEP, 0.0):  # the smaller spacing when the first one crosses a kink
        values = plan.run(_noise_points(point, wrt, floor), held=held)
        crossed, at_kink = kink_changes(plan, base_values, values, NOISE_POINTS)
        if not (crossed | at_kink).any():
            break
    else:
        return np.zeros(np.size(plan.value(base_values, output)[0]))  # no kink-free spacing: use the floor
    f = plan.value(values, output)
    return _noise_level(np.broadcast_to(f, (NOISE_POINTS,) + f.shape[1:]).reshape(NOISE_POINTS, -1))


def _noise_points(point: dict, wrt: list[str], floor: float) -> dict[str, np.ndarray]:
    """NOISE_POINTS inputs a few hundred ulps apart along a random ±1 direction of the `wrt` variables."""
    rng = np.random.default_rng(0)
    offsets = np.arange(NOISE_POINTS) - NOISE_POINTS // 2
    inputs = {}
    for name, value in point.items():
        x = np.asarray(value, dtype=np.float64)
        if name in wrt:
            delta = np.maximum(floor, 256 * np.spacing(np.abs(x))) * rng.choice([-1.0, 1.0], size=x.shape)
            inputs[name] = x[None] + offsets.reshape((-1,) + (1,) * x.ndim) * delta[None]
        else:
            inputs[name] = x[None]
    return inputs


def _noise_level(f: np.ndarray) -> np.ndarray:
    """Noise of each output element from its values at the noise points, (NOISE_POINTS, outputs)."""
    with np.errstate(all="ignore"):
        levels = []
        differences = f
        for k in range(1, NOISE_POINTS):
            differences = np.diff(differences, axis=0)
            if k >= 4:
                gamma = math.factorial(k) ** 2 / math.factorial(2 * k)
                levels.append(np.sqrt(gamma * np.mean(differences**2, axis=0)))
        noise = np.max(levels, axis=0)
    return np.where(np.isfinite(noise), noise, 0.0)


def _magnitude(plan: Plan, values) -> float:
    """Scale of the numbers the function adds up, so its rounding noise is about eps times this.

    The output alone can be misleading: mean(sin(x)*x**2) over a symmetric x is about
    0, yet its terms, and so its rounding errors, are of order one.
    """
    terms = []
    for node in plan.nodes:
        value = plan.value(values, node)
        if node.op in OPS and OPS[node.op].reduction:
            magnitudes = [np.abs(plan.value(values, node.args[0]))] + [plan.value(values, a) for a in node.args[1:]]
            value = OPS[node.op].evaluate(magnitudes, node.attr)
        terms.append(value)
    magnitude = np.abs(flat_values(terms))
    return float(np.max(magnitude, where=np.isfinite(magnitude), initial=0.0))


class _Richardson:
    """Central differences at three steps, extrapolated; subclasses say where to step and how."""

    values_per_point = 1  # values a run holds per perturbed point, for sizing batches

    def steps(self, elements: np.ndarray, factor: float) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, elements: np.ndarray, levels: np.ndarray):
        raise NotImplementedError

    def evaluate_in_batches(self, elements: np.ndarray, levels: np.ndarray):
        """`evaluate` over chunks of elements that fit BATCH_BYTES (2 * LEVELS points per element)."""
        per_chunk = max(1, _points_per_batch(self.values_per_point, np.float64) // (2 * LEVELS))
        parts = [self.evaluate(elements[i:i + per_chunk], levels[i:i + per_chunk])
                 for i in range(0, elements.size, per_chunk)]
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(5))

    def extrapolate(self, elements: np.ndarray, factor: float, noise: np.ndarray):
        """(Richardson value, truncation estimate, rounding estimate), each (elements, outputs)."""
        levels = self.steps(elements, factor)  # (m, LEVELS)
        # (m, LEVELS, outputs) each, then (m, LEVELS) each: a kink strictly between x and the step, or one at x.
        f_plus, f_minus, crossed_plus, crossed_minus, at_kink = self.evaluate_in_batches(elements, levels)
        one_sided = (self._one_sided(f_minus, -levels, crossed_minus), self._one_sided(f_plus, levels, crossed_plus))
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

    def _one_sided(self, f_side: np.ndarray, signed_levels: np.ndarray, crossed: np.ndarray) -> np.ndarray:
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
class Shifts(_Richardson):
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
class CallShifts(_Richardson):
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
class Direction(_Richardson):
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


@_quiet
def directional_derivative(plan: Plan, output: Node, point: dict[str, np.ndarray],
                           direction: dict[str, np.ndarray]) -> tuple[float, float, int]:
    """(d/dt output(point + t*direction) at t = 0, its error bar, evaluations) for a scalar output."""
    base, base_values, held = _base_point(plan, point)
    noise = np.maximum(_rounding_floor(plan, base_values), _measured_noise(plan, output, point, list(direction), held))
    value, error, count, _ = _refine(Direction(plan, output, base, held, direction), 1, noise)
    return float(value[0, 0]), float(error[0, 0]), int(count.sum()) + NOISE_POINTS
