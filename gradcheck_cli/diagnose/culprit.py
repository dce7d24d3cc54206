"""Where a wrong gradient goes wrong: the factor of a manual formula, or the node of the graph.

A table that says "manual disagrees" leaves the person to find the mistake.
This module finds the smallest part responsible:

- a manual formula is compared, as a function (at the point and at a few
  points nearby), with the chain rule through the graph's stations: a wrong
  sign, a dropped factor, a missing path (a variable treated as constant)
  or one wrong factor is named with its numbers;
- a per-node manual factor (`dL/dp` in `manual:`) is checked on its own;
- when autograd or the symbolic engine disagrees with the other two, each
  node's local derivative is checked three ways (the registry's rule, torch's
  backward, finite differences) at the node's actual inputs, and the first
  node that differs is named: the tool checking itself, and torch.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from ..core.errors import UsageError
from ..core.text import shortened
from ..engines.finite_diff import finite_differences
from ..engines.symbolic import adjoints, gradient_nodes, reaching_nodes
from ..engines.torch_engine import autograd_gradients
from ..lang.graph import Graph, Node, format_rounded, to_text
from ..lang.lexer import IDENTIFIER
from ..lang.ops import OPS
from ..lang.parser import Expression
from ..lang.plan import Plan
from ..lang.shapes import ShapeMap
from ..verdict.compare import Status, Tolerance
from .explain import Stations, node_text, output_name, stations_of

NEARBY_POINTS = 4  # besides the point itself: a formula that matches at five points is no coincidence
MIN_POINTS = 3  # a claim about the formula as a function needs at least this many points
MAX_ROUTES = 64
MAX_SUBSET_PATHS = 10
MATCH = Tolerance(rtol=1e-6, atol=1e-9)


@dataclass
class Culprit:
    """The smallest part of the check found responsible for a disagreement."""

    kind: str  # "manual", "manual-factor", "symbolic", "autograd", or "value" (a finding about the forward value)
    node: int | None  # the node in the expression's graph, when one is named
    expr: str  # the text of that node, or of the factor
    source: str  # where that text was written: "expr", "manual.w", "manual.dL/dp"
    span: tuple[int, int] | None  # within the text at `source`
    message: str
    variable: str | None = None  # the variable whose rows it explains; None: every disagreeing row
    label: str = ""  # a few characters for a table cell: "∂p/∂z", "sin(z)"
    diagnosis: str | None = None  # a named diagnosis (compare.DIAGNOSES key): "where-NaN trap", "cancellation"
    fix: str | None = None  # the rewrite a practitioner applies, as an expression


@dataclass
class ManualFactor:
    """A hand-derived chain factor `dA/dB` and the graph's own, checked at the point."""

    name: str
    formula: str
    manual: float | list | None
    symbolic: float | list | None
    symbolic_formula: str
    status: str = "pass"


def _rounded(value) -> str:
    """format_rounded, with a value computed at one point (an array of one element) shown as a number."""
    array = np.asarray(value)
    return format_rounded(array.reshape(()) if array.size == 1 else array)


def _digits_apart(a, b) -> int:
    """4 significant digits, or as many more (up to 12) as it takes to print a and b apart."""
    return next((d for d in range(4, 13) if format_rounded(a, d) != format_rounded(b, d)), 12)


# ---- a hand-derived gradient against the chain rule ----


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
        points = _nearby(point, moved, self.plan, seed)
        self.count = len(next(iter(points.values())))
        self.values = self.plan.run(points)

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


# ---- per-node manual factors: dA/dB ----


@dataclass
class FactorSpec:
    """A manual factor `dA/dB` as written, with the nodes it names."""

    name: str  # normalised: dA/dB
    formula: Expression
    top: Node
    bottom: Node


def factor_ends(expression: Expression, name: str) -> tuple[str, Node, Node]:
    """(dA/dB, A, B) for a factor name: A a binding or the output, B a binding or a variable."""
    outputs = {**expression.bindings, output_name(expression): expression.output}
    inputs = {**expression.bindings, **{v: expression.graph.var(v) for v in expression.variables}}
    match = re.fullmatch(f"d({IDENTIFIER})/d({IDENTIFIER})", name.replace(" ", ""))
    if not match or match.group(1) not in outputs or match.group(2) not in inputs:
        raise UsageError(f"a manual factor is written dA/dB, with A the output or a binding "
                         f"({', '.join(sorted(outputs))}) and B a binding or variable ({', '.join(sorted(inputs))}); "
                         f"got {name!r}")
    top, bottom = outputs[match.group(1)], inputs[match.group(2)]
    if top is bottom:
        raise UsageError(f"the manual factor {name!r} differentiates {match.group(1)} by itself")
    return f"d{match.group(1)}/d{match.group(2)}", top, bottom


def check_factor(expression: Expression, factor: FactorSpec, point, shapes: ShapeMap, tolerance: Tolerance,
                 dtype: str) -> tuple[ManualFactor, Culprit | None]:
    """The manual factor dA/dB against the graph's own: the chain-rule factor ∂A/∂B (the other named
    values held fixed) where B is one of A's stations, else the total derivative of A in B."""
    top, bottom = factor.top, factor.bottom
    if shapes(top) != ():
        raise UsageError(f"the manual factor {factor.name} needs a scalar {factor.name[1:].split('/')[0]}; "
                         f"it has shape {shapes(top)}")
    edges = stations_of(expression, shapes).edges.get(top.id, {})
    partial = bottom.id in edges
    symbolic = edges[bottom.id] if partial else \
        adjoints(top, {bottom.id}, shapes).get(bottom.id, expression.graph.const(0.0))
    plan = Plan([symbolic, factor.formula.output], shapes)
    values = plan.at(point, dtype)
    mine, right = (np.asarray(plan.value(values, n)[0], dtype=np.float64) for n in (factor.formula.output, symbolic))
    names = expression.names()
    row = ManualFactor(factor.name, factor.formula.source, mine.tolist(), right.tolist(), node_text(symbolic, names))
    fits = np.broadcast_shapes(mine.shape, right.shape) == right.shape if mine.ndim <= right.ndim else False
    if fits and _agree(mine, right, 0, tolerance):
        return row, None
    exact = exact_value(symbolic, point, shapes, dtype)  # the float value of the graph's own may be rounding
    if exact is not None:
        right = exact
        row.symbolic = right.tolist()
        if fits and _agree(mine, right, 0, tolerance):
            return row, None
    row.status = Status.FAIL
    top_name, bottom_name = factor.name[1:].split("/d")
    label = f"∂{top_name}/∂{bottom_name}" if partial else f"d{top_name}/d{bottom_name} (through every path)"
    message = (f"your {factor.name} = {factor.formula.source} gives {format_rounded(mine)} at this point; {label} = "
               f"{row.symbolic_formula} = {format_rounded(right)}")
    return row, Culprit("manual-factor", top.id, factor.formula.source, f"manual.{factor.name}",
                        (0, len(factor.formula.source)), message, label=factor.name)


def exact_value(node: Node, point, shapes: ShapeMap, dtype: str) -> np.ndarray | None:
    """The node's value by the high-precision referee, at the point the engines saw; None where undefined."""
    from ..engines.precise import evaluate
    from ..lang.graph import ancestors

    point64 = {name: np.asarray(v).astype(dtype).astype(np.float64) for name, v in point.items()}
    exact = evaluate(ancestors([node]), point64, shapes)
    if np.any(exact.undefined(node)) or node.id in exact.too_large:
        return None
    return exact.as_float64(node)


# ---- each node's local derivative, three ways ----


def node_culprit(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], shapes: ShapeMap,
                 tolerance: Tolerance, engine: str, dtype: str = "float64") -> Culprit | None:
    """The first node whose local derivative from `engine` ("symbolic" or "autograd") disagrees with
    finite differences of the node's own op at its actual inputs (in float64).

    When none does, a float64 check blames how they are combined; a float32 one blames nothing (its
    rounding is the likelier cause)."""
    nodes = expression.nodes
    reaching = reaching_nodes(nodes, set(wrt))
    plan = Plan([expression.output], shapes)
    values = plan.at(point)
    names = expression.names()
    for node in nodes:
        if node.id not in reaching or not node.args:
            continue
        inputs = [np.asarray(plan.value(values, a)[0], dtype=np.float64) for a in node.args]
        reached = [i for i, a in enumerate(node.args) if a.id in reaching]
        local = _local_derivatives(node, inputs, reached)
        for i in reached:
            theirs, fd, error = local[engine][i], local["finite_difference"][i], local["fd_error"][i]
            if np.all(np.isfinite(fd)) and not _agree(theirs, fd, error, tolerance):
                return _node_culprit(expression, node, i, engine, theirs, fd, local, names)
    if dtype != "float64":
        return None
    return Culprit(engine, None, expression.source, "expr", None,
                   f"every node's local derivative agrees with finite differences; the {engine} gradient goes "
                   "wrong where the local derivatives are combined (broadcasting or summing)")


def _node_culprit(expression: Expression, node: Node, i: int, engine: str, theirs, fd, local, names) -> Culprit:
    spec = OPS[node.op]
    text = to_text(node, names, limit=80)
    argument = names.get(node.args[i].id) or to_text(node.args[i], names, limit=40)
    if node.args[i].args and node.args[i].id not in names:
        argument = f"({argument})"
    other = "autograd" if engine == "symbolic" else "symbolic"
    what = f"∂/∂{argument}" if spec.elementwise else f"the vector-Jacobian product in {argument} (fixed cotangent)"
    digits = _digits_apart(theirs, fd)
    shown = {name: format_rounded(v, digits) for name, v in ((engine, theirs), ("fd", fd), (other, local[other][i]))}
    message = (f"{ENGINE_WORDS[engine]} is wrong at {text}: it gives {what} = {shown[engine]} where finite "
               f"differences of {spec.display_name} give {shown['fd']} and {ENGINE_WORDS[other]} gives "
               f"{shown[other]}").replace("{op}", spec.display_name)
    span = expression.spans.get(node.id)
    return Culprit(engine, node.id, text, "expr", None if span is None else tuple(span), message,
                   label=shortened(text, 24))


ENGINE_WORDS = {"symbolic": "the op registry's derivative rule for {op}", "autograd": "torch's backward of {op}"}


def _agree(a, b, error, tolerance: Tolerance) -> bool:
    return bool(tolerance.close(a, b, np.asarray(error)).all())


def _local_derivatives(node: Node, inputs: list[np.ndarray], reached: list[int]) -> dict[str, dict[int, np.ndarray]]:
    """The vector-Jacobian product of the node's op at `inputs`, by three engines, for the reached inputs.

    The op is rebuilt alone in a fresh graph, f(a0, a1, ...) = sum(op(a0, a1, ...) * u) with a fixed
    cotangent u, so each engine runs exactly as it does on a whole expression.
    """
    graph = Graph()
    names = [f"a{i}" for i in range(len(inputs))]
    args = tuple(graph.var(n) for n in names)
    local = graph.raw(node.op, args, node.attr)
    point = {n: v for n, v in zip(names, inputs)}
    shapes = ShapeMap({n: v.shape for n, v in point.items()})
    output_shape = shapes(local)
    if output_shape != ():
        # Ones make an elementwise op's product its partial derivatives; other ops get a random
        # cotangent, which a rule wrong in one direction cannot pass by symmetry.
        point["u"] = np.ones(output_shape) if OPS[node.op].elementwise else \
            np.random.default_rng(1).uniform(0.5, 1.5, output_shape)
        shapes = ShapeMap({n: v.shape for n, v in point.items()})
        local = graph.raw("sum", (graph.raw("mul", (local, graph.var("u"))),))
    wrt = [names[i] for i in reached]
    symbolic = gradient_nodes(local, wrt, shapes)
    plan = Plan([local, *symbolic.values()], shapes)
    values = plan.at(point)
    fd = finite_differences(plan.restricted_to([local]), local, point, wrt, shapes)
    autograd = autograd_gradients(local, point, wrt)[1]
    result = {"symbolic": {}, "autograd": {}, "finite_difference": {}, "fd_error": {}}
    for i, name in zip(reached, wrt):
        result["symbolic"][i] = np.broadcast_to(plan.value(values, symbolic[name])[0], inputs[i].shape)
        result["autograd"][i] = autograd[name]
        result["finite_difference"][i] = fd.gradients[name]  # NaN on a kink: no referee there
        result["fd_error"][i] = fd.errors[name]
    return result
