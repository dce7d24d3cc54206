"""Random points for `sample:` in spec files, drawn inside the given box and the ops' domains."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .spec import Spec

MAX_DRAWS = 100  # draws per point before giving up on finding one inside the domains
DRAW_BUDGET = 10  # draws per sampled point on average, over the whole sample


def sample_specs(spec: Spec, sampling) -> list[Spec]:
    """One spec per sampled point, named `<name> sampled [k/n, seed s]`.

    Points outside the ops' domains are redrawn, within a budget: when the box
    holds (almost) no valid point, the sample ends with one failing case that
    says why, rather than a thousand of them after a hundred thousand draws.
    """
    rng = np.random.default_rng(sampling.seed)
    probe = domain_probe(spec) if spec.expr else None  # a function alone: its own forward says, when it runs
    budget = DRAW_BUDGET * sampling.n + MAX_DRAWS
    specs = []
    for k in range(1, sampling.n + 1):
        name = f"{spec.name} sampled [{k}/{sampling.n}, seed {sampling.seed}]"
        inside = False
        for _ in range(MAX_DRAWS if probe else 1):  # no probe: the expression itself is broken
            candidate = replace(spec, name=name, at=_draw(spec, sampling, rng))
            budget -= 1
            inside = probe(candidate.at) if probe is not None else not spec.expr
            if inside or budget <= 0:
                break
        specs.append(candidate)
        if not inside:
            break  # this last spec reports the problem, once
    return specs


def _draw(spec: Spec, sampling, rng: np.random.Generator) -> dict[str, np.ndarray]:
    point = dict(spec.at)
    for name, (low, high) in sampling.domain.items():
        shape = np.shape(spec.at[name]) if name in spec.at else ()
        point[name] = _uniform(rng, low, high, shape)
    return point


def _uniform(rng: np.random.Generator, low: float, high: float, shape: tuple) -> np.ndarray:
    """rng.uniform(low, high), also for a box wider than float64's range such as [-1e308, 1e308].

    numpy computes high - low, which overflows there; a weighted mean of the bounds never does.
    A box that fits keeps numpy's own draw, so a seed written in a file reproduces the same points.
    """
    if np.isfinite(high - low):
        return np.asarray(rng.uniform(low, high, size=shape))
    u = rng.random(size=shape)
    return np.asarray(low * (1 - u) + high * u)


def domain_probe(spec: Spec):
    """A test `at -> bool`: is the expression's value finite at this point?  None when the spec fails whatever
    the point (an expression that does not parse, or a `wrt` naming no variable of it), so sampling need not
    retry.  The expression is parsed once, and compiled once per shape of the point, however many points are
    probed.  A point the check itself would refuse (a shape that does not fit, a node past the limits) is
    outside: the case drawn there reports why."""
    from ..core.errors import GradcheckError
    from ..lang.parser import parse
    from ..lang.plan import Plan
    from ..lang.shapes import ShapeMap, ShapeMismatch, TooManyElements

    try:
        expression = parse(spec.program, limits=spec.limits)
    except GradcheckError:
        return None
    if not expression.variables or not set(spec.wrt or []) <= set(expression.variables):
        return None
    plans: dict[tuple, Plan] = {}

    def inside(at: dict) -> bool:
        if set(at) != set(expression.variables):
            return False
        point = {name: np.asarray(at[name], dtype=np.float64) for name in expression.variables}
        shapes = tuple((name, value.shape) for name, value in sorted(point.items()))
        try:
            if shapes not in plans:
                plans[shapes] = Plan([expression.output], ShapeMap(dict(shapes), spec.limits))
            plan = plans[shapes]
            values = plan.at(point)
        except (GradcheckError, ShapeMismatch, TooManyElements):
            return False
        with np.errstate(all="ignore"):
            return bool(np.all(np.isfinite(plan.value(values, expression.output))))

    return inside
