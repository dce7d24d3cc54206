"""How much rounding noise f carries near the point: the rounding part of every finite difference's error bar.

Its own module because the noise is measured, not assumed (Moré and Wild's ECnoise), and that measurement
and the magnitude floor beside it are a method of their own, shared by the expression's finite differences,
a projection's and a user function's.
"""

from __future__ import annotations

import math

import numpy as np

from ...lang.graph import Node
from ...lang.ops import OPS
from ...lang.plan import Plan, flat_values
from .kinks import kink_changes

EPS = np.finfo(np.float64).eps
NOISE_POINTS = 7  # evaluations that measure the rounding noise of f
NOISE_STEP = 1e-7
GOLDEN_FRACTION = 0.6180339887498949


def measured_noise(plan: Plan, output: Node, point: dict, wrt: list[str], held: dict) -> np.ndarray:
    """Rounding noise of each output element near the point, from high-order differences of f: (outputs,).

    The noise that limits a finite difference comes from cancellation inside f
    (log(1 - p) with p near 1 amplifies the rounding of p a million-fold), which
    no magnitude reveals.  Following Moré and Wild's ECnoise, f is evaluated at
    seven points a few hundred ulps apart along a random ±1 direction: there the
    smooth part of f has vanishing 4th to 6th differences, and what remains is noise.
    """
    base_values = plan.at(point, held=held)
    for floor in (NOISE_STEP, 0.0):  # the smaller spacing when the first one crosses a kink
        values = plan.run(noise_points(point, wrt, floor), held=held)
        crossed, at_kink = kink_changes(plan, base_values, values, NOISE_POINTS)
        if not (crossed | at_kink).any():
            break
    else:
        return np.zeros(np.size(plan.value(base_values, output)[0]))  # no kink-free spacing: use the floor
    noise, noisy = _noise_of(plan, output, values)
    if floor and not noisy.all():
        # Moré and Wild's "h too large": the differences keep one sign, so they measure f's own curvature
        # (|x - c| at a distance comparable to the spacing), not its rounding.  A thousand times closer
        # the curvature vanishes; taken only where what remains there is noise-like, since a spacing below
        # an ulp of what x is added to (1 + x at 1e-7) hides the rounding instead.
        closer, closer_noisy = _noise_of(plan, output, plan.run(noise_points(point, wrt, floor * CLOSER), held=held))
        noise = np.where(~noisy & closer_noisy, closer, noise)
    return noise


CLOSER = 1e-3  # the noise points' spacing, relative to the first, where the first measured curvature


def _noise_of(plan: Plan, output: Node, values) -> tuple[np.ndarray, np.ndarray]:
    f = plan.value(values, output)
    return noise_level(np.broadcast_to(f, (NOISE_POINTS,) + f.shape[1:]).reshape(NOISE_POINTS, -1), signs=True)


def noise_points(point: dict, wrt: list[str], floor: float) -> dict[str, np.ndarray]:
    """NOISE_POINTS inputs a few hundred ulps apart along a random ±1 direction of the `wrt` variables."""
    rng = np.random.default_rng(0)
    offsets = np.arange(NOISE_POINTS) - NOISE_POINTS // 2
    inputs = {}
    for name, value in point.items():
        x = np.asarray(value, dtype=np.float64)
        if name in wrt:
            # The floor shrinks with a small |x|: points 1e-7 apart around x = 1e-7 would reach 0 (log(1+x)/x).
            # Times the golden ratio's fraction: a spacing a near-whole number of ulps of 1 + x would make the
            # rounding a smooth ramp, and hide it.
            small = (x != 0) & (np.abs(x) < 1)
            scaled_floor = floor * np.where(small, np.abs(x) * GOLDEN_FRACTION, 1.0)
            delta = np.maximum(scaled_floor, 256 * np.spacing(np.abs(x))) * rng.choice([-1.0, 1.0], size=x.shape)
            inputs[name] = x[None] + offsets.reshape((-1,) + (1,) * x.ndim) * delta[None]
        else:
            inputs[name] = x[None]
    return inputs


def noise_level(f: np.ndarray, signs: bool = False):
    """Noise of each output element from its values at the noise points, (NOISE_POINTS, outputs).

    With `signs`, also whether each element's 4th differences change sign, as rounding noise makes them
    (Moré and Wild, "Estimating computational noise", SIAM J. Sci. Comput. 33(3), 2011): (noise, noise_like).
    """
    with np.errstate(all="ignore"):
        levels = []
        differences = f
        noise_like = None
        for k in range(1, NOISE_POINTS):
            differences = np.diff(differences, axis=0)
            if k == 4:
                noise_like = (differences.min(axis=0) < 0) & (differences.max(axis=0) > 0)
            if k >= 4:
                gamma = math.factorial(k) ** 2 / math.factorial(2 * k)
                levels.append(np.sqrt(gamma * np.mean(differences**2, axis=0)))
        noise = np.max(levels, axis=0)
    noise = np.where(np.isfinite(noise), noise, 0.0)
    return (noise, noise_like) if signs else noise


def rounding_floor(plan: Plan, values) -> float:
    """The least rounding noise of f: eps times the magnitudes it adds up (only differences need it)."""
    return EPS * _magnitude(plan, values)


def _magnitude(plan: Plan, values) -> float:
    """Scale of the numbers the function adds up, so its rounding noise is about eps times this.

    The output alone can be misleading: mean(sin(x)*x**2) over a symmetric x is about
    0, yet its terms, and so its rounding errors, are of order one.
    """
    terms = []
    scaled = only_scaled(plan)
    for node in plan.nodes:
        if node.id in scaled:
            continue
        value = plan.value(values, node)
        if node.op in OPS and OPS[node.op].reduction:
            magnitudes = [np.abs(plan.value(values, node.args[0]))] + [plan.value(values, a) for a in node.args[1:]]
            value = OPS[node.op].evaluate(magnitudes, node.attr)
        terms.append(value)
    if not terms:
        return 0.0
    magnitude = np.abs(flat_values(terms))
    return float(np.max(magnitude, where=np.isfinite(magnitude), initial=0.0))


SCALING_OPS = frozenset({"mul", "div", "neg"})  # a product's rounding is relative to the product itself


def only_scaled(plan: Plan) -> set:
    """Ids of the nodes whose every use multiplies, divides or negates: their magnitude reaches f only scaled
    (exp(x) * 1e-300 at x = 700 adds up numbers of 1e4, not 1e304), so the using node's magnitude stands for it."""
    uses: dict = {}
    for node in plan.nodes:
        for arg in node.args:
            if isinstance(arg, Node):
                uses.setdefault(arg.id, set()).add(node.op)
    return {node_id for node_id, ops in uses.items() if ops <= SCALING_OPS}


def added_values(plan: Plan, values: list) -> list:
    """The values of a run's nodes whose rounding can reach f unscaled (all but `only_scaled` ones)."""
    scaled = only_scaled(plan)
    return [plan.value(values, node) for node in plan.nodes if node.id not in scaled]
