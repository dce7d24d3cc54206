"""A manual gradient formula against the chain rule: which sign, factor, path or term of it is wrong.

Its own module because it is the largest of the culprit finders: the formula is compared as a function (at
the point and at a few points nearby, where only the differentiated variables move) with the chain rule
through the graph's stations, most specific explanation first: a wrong sign or zero, one dropped factor of
one path, a missing set of paths (naming the station held constant), one wrong factor, a constant factor or
term; otherwise it says that no single cause explains it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..engines.symbolic import gradient_nodes
from ..lang.graph import Node, format_rounded, to_text
from ..lang.parser import Expression
from ..lang.plan import Plan
from ..lang.shapes import ShapeMap
from ..verdict.compare import Tolerance
from .culprit import Culprit
from .explain import Stations, node_text, stations_of

NEARBY_POINTS = 4  # besides the point itself: a formula that matches at five points is no coincidence
MIN_POINTS = 3  # a claim about the formula as a function needs at least this many points
MAX_ROUTES = 64
MAX_SUBSET_PATHS = 10
MATCH = Tolerance(rtol=1e-6, atol=1e-9)


def _rounded(value) -> str:
    """format_rounded, with a value computed at one point (an array of one element) shown as a number."""
    array = np.asarray(value)
    return format_rounded(array.reshape(()) if array.size == 1 else array)


@dataclass
class _Route:
    stations: list[int]
    factors: list[Node]


class ManualAnalysis:
    """Evaluates the chain rule's factors and a manual formula at the point and at points nearby."""

    def __init__(self, expression: Expression, point: dict[str, np.ndarray], moved: list[str], shapes: ShapeMap,
                 extra: list[Node], seed: int = 0):
        self.expression = expression
        self.stations: Stations = stations_of(expression, shapes)
        self.plan = Plan([expression.output, *self.stations.factor_nodes(), *extra], shapes)
        self.point = point
        self.points = _nearby(point, moved, self.plan, seed)  # name -> (count, ...) stacked inputs
        self.count = len(next(iter(self.points.values())))
        self.values = self.plan.run(self.points)

    def of(self, node: Node, shape: tuple = ()) -> np.ndarray:
        """The node's value at every point, broadcast to `shape` (a gradient stored smaller than its
        variable), one flat row per point."""
        value = self.plan.value(self.values, node)
        target = np.broadcast_shapes(value.shape[1:], shape)
        lined_up = value.reshape(value.shape[:1] + (1,) * (len(target) - value.ndim + 1) + value.shape[1:])
        return np.broadcast_to(lined_up, (self.count,) + target).reshape(self.count, -1).astype(np.float64)

    def routes(self, variable: str) -> list[_Route]:
        target = self.stations.variable(variable)
        edges = self.stations.edges
        return [_Route(route, [edges[a][b] for a, b in zip(route, route[1:])])
                for route in ([] if target is None else self.stations.routes(target, MAX_ROUTES + 1))]

    def label(self, a: int, b: int) -> str:
        return self.stations.factor_label(a, b)

    def node(self, station: int) -> Node:
        return self.plan.nodes[self.plan.slot[station]]

    def scalar_stations(self) -> bool:
        return all(self.plan.value(self.values, node).shape[1:] == () for node in self.plan.nodes
                   if node.id in self.stations.labels)


def _nearby(point: dict[str, np.ndarray], moved: list[str], plan: Plan, seed: int) -> dict[str, np.ndarray]:
    """The point and NEARBY_POINTS perturbations of it where every value is finite, stacked on the batch axis.

    Only the differentiated variables move: the others are data (a label y = 0), which a hand-derived
    gradient may rightly take as given.
    """
    rng = np.random.default_rng(seed)
    draws = [point]
    for scale in (0.05, 0.01, 0.002):  # smaller steps where larger ones leave the domain
        for _ in range(NEARBY_POINTS * 2):
            if len(draws) > NEARBY_POINTS:
                break
            candidate = {n: v + scale * rng.standard_normal(v.shape) * np.where(v != 0, np.abs(v), 1.0)
                         if n in moved else v for n, v in point.items()}
            values = plan.at(candidate)
            if all(np.all(np.isfinite(v)) for v in values):
                draws.append(candidate)
    return {n: np.stack([d[n] for d in draws]) for n in point}


def _same(a: np.ndarray, b: np.ndarray, tolerance: Tolerance) -> bool:
    return bool(Tolerance(max(tolerance.rtol, MATCH.rtol), max(tolerance.atol, MATCH.atol)).close(a, b).all())


def manual_culprit(expression: Expression, manual: Expression, variable: str, point: dict[str, np.ndarray],
                   wrt: list[str], shapes: ShapeMap, tolerance: Tolerance) -> Culprit:
    """Why the manual formula for a variable of a scalar expression differs from the chain rule (for a
    tensor variable, or tensor values on the way, only the checks that need no paths: sign, zero, a
    constant factor or term)."""
    factors = _product_factors(manual.output)
    gradient = gradient_nodes(expression.output, [variable], shapes)[variable]
    analysis = ManualAnalysis(expression, point, wrt, shapes, [manual.output, gradient, *factors])
    with np.errstate(all="ignore"):
        return _ManualDiagnosis(expression, manual, variable, analysis, factors, gradient, tolerance).culprit()


def nearby_disagreement(expression: Expression, manual: Expression, variable: str, point: dict[str, np.ndarray],
                        wrt: list[str], shapes: ShapeMap, tolerance: Tolerance) -> str | None:
    """A note where a manual formula that passed at the point differs from the chain rule at the nearby points
    (the same deterministic ones the culprit finders use), else None: "3*x" for x**3 matches at x = 1 only.
    Compared at the looser of the tolerance and MATCH, so rounding alone never raises it."""
    gradient = gradient_nodes(expression.output, [variable], shapes)[variable]
    analysis = ManualAnalysis(expression, point, wrt, shapes, [manual.output, gradient])
    shape = np.shape(point[variable])
    with np.errstate(all="ignore"):
        mine, truth = analysis.of(manual.output, shape), analysis.of(gradient, shape)
        for k in range(1, analysis.count):
            if np.all(np.isfinite(truth[k])) and not _same(mine[k], truth[k], tolerance):
                where = _point_text(analysis, k, wrt)
                return (f"your formula for d/d{variable} agrees at this point but not at nearby points (e.g. "
                        f"{where}: {_rounded(mine[k])} vs {_rounded(truth[k])}): it is probably not the derivative")
    return None


def _point_text(analysis: ManualAnalysis, k: int, moved: list[str]) -> str:
    """at x=1.1, y=2.05 for scalar variables; at a nearby point otherwise."""
    scalars = [(name, analysis.points[name][k]) for name in moved if np.size(analysis.point[name]) == 1]
    if len(scalars) != len(moved):
        return "at a nearby point"
    return "at " + ", ".join(f"{name}={_rounded(value)}" for name, value in scalars)


class _ManualDiagnosis:
    """The checks of a manual formula against the chain rule, most specific first."""

    def __init__(self, expression, manual, variable, analysis: ManualAnalysis, factors, gradient, tolerance):
        self.expression, self.manual, self.variable = expression, manual, variable
        self.analysis, self.factors, self.tolerance = analysis, factors, tolerance
        self.names = expression.names()
        shape = np.shape(analysis.point[variable])
        self.mine, self.truth = analysis.of(manual.output, shape), analysis.of(gradient, shape)
        routes = analysis.routes(variable) if analysis.scalar_stations() else []
        self.routes = routes if len(routes) <= MAX_ROUTES else []  # a partial list of paths explains nothing
        self.shares = [np.prod([analysis.of(f) for f in r.factors], axis=0) for r in self.routes]
        self.at = f"gives {_rounded(self.mine[0])} where the chain rule gives {_rounded(self.truth[0])}"
        self.head = f"your formula for d/d{variable}"

    def culprit(self) -> Culprit:
        if not np.all(np.isfinite(self.mine[0])):
            return self.whole(f"{self.head} is not finite at this point ({_rounded(self.mine[0])})",
                              "not finite")
        if self.analysis.count < MIN_POINTS:
            return self.whole(f"{self.head} {self.at}; no point near this one is in the domain of every step, "
                              "so the formula could not be compared as a function (see {explain=True})")
        return (self.sign_or_zero() or self.dropped_factor() or self.missing_paths() or self.wrong_factors()
                or self.constant_gap() or self.unexplained())

    def sign_or_zero(self) -> Culprit | None:
        if self.same(self.truth, 0 * self.truth):
            return None
        if self.same(self.mine, -self.truth):
            return self.whole(f"{self.head} has the wrong sign: it {self.at}", "sign")
        if self.same(self.mine, 0 * self.mine):
            return self.whole(f"{self.head} is 0 at every point tried: it {self.at}", "zero")
        return None

    def dropped_factor(self) -> Culprit | None:
        for route, share in zip(self.routes, self.shares):
            if len(route.factors) < 2:
                continue
            for (a, b), factor in zip(zip(route.stations, route.stations[1:]), route.factors):
                value = self.analysis.of(factor)
                if np.all(value != 0) and not self.same(value, 1 + 0 * value) \
                        and self.same(self.mine, self.truth - share + share / value):
                    label = self.analysis.label(a, b)
                    return self.at_node(f"{self.head} lacks the factor {label} = {node_text(factor, self.names)} "
                                        f"(= {_rounded(value[0])}) on the path "
                                        f"{_route_text(self.analysis, route)}: "
                                        f"it {self.at}", self.analysis.node(a), f"missing {label}")
        return None

    def missing_paths(self) -> Culprit | None:
        missing = _missing_paths(self.mine, self.shares, self.tolerance)
        if not missing:
            return None
        kept = [r for i, r in enumerate(self.routes) if i not in missing]
        held = _held_constant(self.analysis, [self.routes[i] for i in missing], kept)
        terms = " + ".join(f"{_route_text(self.analysis, self.routes[i])} (= {_rounded(self.shares[i][0])})"
                           for i in missing)
        if held is None:
            return self.whole(f"{self.head} misses the term {terms}: it {self.at}", "missing term")
        label = self.analysis.stations.labels[held.id]
        return self.at_node(f"{self.head} misses the term {terms}; it treats {label} as constant: it {self.at}",
                            held, f"{label} held constant")

    def wrong_factors(self) -> Culprit | None:
        wrong = _wrong_factor(self.analysis, self.factors, self.routes, self.tolerance)
        if wrong is None:
            return None
        group, (a, b), right = wrong
        spans = [self.manual.spans.get(f.id) for f in group]
        text = self.manual.source[spans[0].start:spans[-1].end] if None not in spans else \
            "*".join(node_text(f, self.names) for f in group)
        value = np.prod([self.analysis.of(f) for f in group], axis=0)
        label = self.analysis.label(a, b)
        return Culprit("manual", None, text, "manual." + self.variable,
                       None if None in spans else (spans[0].start, spans[-1].end),
                       f"your factor {text} (= {_rounded(value[0])}) should be {label} = "
                       f"{node_text(right, self.names)} "
                       f"(= {_rounded(self.analysis.of(right)[0])})", self.variable, f"wrong {label}")

    def constant_gap(self) -> Culprit | None:
        if self.same(self.truth, np.full_like(self.truth, self.truth.flat[0])):
            return None  # a constant derivative: a wrong factor and a wrong term look alike
        gap = _constant_gap(self.mine, self.truth, self.tolerance)
        if gap is None:
            return None
        kind, amount = gap
        words = "times" if kind == "a factor" else "away from"
        return self.whole(f"{self.head} is {kind} {_rounded(amount)} {words} the chain rule's at every point "
                          f"tried: it {self.at}", f"{'×' if kind == 'a factor' else '+'}{_rounded(amount)}")

    def unexplained(self) -> Culprit:
        if self.same(self.truth, np.full_like(self.truth, self.truth.flat[0])):
            return self.whole(f"{self.head} {self.at} at every point tried, where a wrong factor and a wrong term "
                              "look alike (see {explain=True})")
        return self.whole(f"{self.head} {self.at}; no single sign, factor or term of the chain rule explains the "
                          "difference (see {explain=True})")

    def same(self, a, b) -> bool:
        return _same(a, b, self.tolerance)

    def whole(self, message: str, label: str = "") -> Culprit:
        return Culprit("manual", None, self.manual.source, "manual." + self.variable, (0, len(self.manual.source)),
                       message, self.variable, label)

    def at_node(self, message: str, node: Node, label: str) -> Culprit:
        span = self.expression.spans.get(node.id)
        return Culprit("manual", node.id, to_text(node, self.names, limit=80), "expr",
                       None if span is None else tuple(span), message, self.variable, label)


def _constant_gap(mine: np.ndarray, truth: np.ndarray, tolerance: Tolerance) -> tuple[str, float] | None:
    """("a factor", c) when mine = c · truth at every point, ("a constant", c) when mine = truth + c."""
    if np.all(truth != 0):
        ratio = mine / truth
        if _same(ratio, np.full_like(ratio, ratio.flat[0]), tolerance) and \
                not _same(ratio, np.ones_like(ratio), tolerance):
            return "a factor", float(ratio.flat[0])
    offset = mine - truth
    if _same(offset, np.full_like(offset, offset.flat[0]), tolerance) and abs(offset.flat[0]) > 0:
        return "a constant", float(offset.flat[0])
    return None


def _route_text(analysis: ManualAnalysis, route: _Route) -> str:
    return "·".join(analysis.label(a, b) for a, b in zip(route.stations, route.stations[1:]))


def _missing_paths(mine: np.ndarray, shares: list[np.ndarray], tolerance: Tolerance) -> list[int] | None:
    """The smallest set of paths whose shares the manual formula leaves out, if leaving some out explains it."""
    if not 1 < len(shares) <= MAX_SUBSET_PATHS:
        return None
    total = np.sum(shares, axis=0)
    for size in range(1, len(shares)):
        for left_out in itertools.combinations(range(len(shares)), size):
            if _same(mine, total - sum(shares[i] for i in left_out), tolerance):
                return list(left_out)
    return None


def _held_constant(analysis: ManualAnalysis, missing: list[_Route], kept: list[_Route]) -> Node | None:
    """The station nearest the output that every missing path passes through and no kept path does."""
    kept_stations = {s for r in kept for s in r.stations}
    common = set.intersection(*(set(r.stations[1:]) for r in missing)) - kept_stations
    if not common:
        return None
    return analysis.node(max(common))


def _product_factors(node: Node) -> list[Node]:
    """The factors of a left-deep product a*b*c (the node itself when it is not a product)."""
    factors = []
    while node.op == "mul":
        factors.append(node.args[1])
        node = node.args[0]
    return [node, *reversed(factors)]


def _wrong_factor(analysis: ManualAnalysis, factors: list[Node], routes: list[_Route], tolerance: Tolerance):
    """(manual factors, station edge, right factor) when a one-path chain matches runs of the manual product
    but for one chain factor, left to one run of manual factors (`2*x*sin(x**2)`: 2*x is ∂(x**2)/∂x,
    sin(x**2) should be cos(x**2))."""
    if len(routes) != 1:
        return None
    route = routes[0]
    values = [analysis.of(f) for f in factors]
    used: set[int] = set()
    unmatched = []
    for k, chain_factor in enumerate(route.factors):
        target = analysis.of(chain_factor)
        if _same(target, 1 + 0 * target, tolerance):
            continue  # a factor of 1 needs no counterpart
        run = next(((i, j) for i in range(len(factors)) for j in range(i + 1, len(factors) + 1)
                    if not used & set(range(i, j)) and _same(np.prod(values[i:j], axis=0), target, tolerance)), None)
        if run is None:
            unmatched.append(k)
        else:
            used |= set(range(*run))
    rest = [i for i in range(len(factors)) if i not in used]
    if len(unmatched) != 1 or not rest or rest != list(range(rest[0], rest[-1] + 1)):
        return None
    k = unmatched[0]
    return factors[rest[0]:rest[-1] + 1], (route.stations[k], route.stations[k + 1]), route.factors[k]
