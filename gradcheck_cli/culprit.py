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
from dataclasses import dataclass

import numpy as np

from .compare import Tolerance
from .engines.finite_diff import finite_differences
from .engines.symbolic import adjoints, gradient_nodes, reaching_nodes
from .engines.torch_engine import autograd_gradients
from .explain import Stations, stations_of
from .graph import Graph, Node, ancestors, format_rounded, to_text
from .ops import OPS
from .parser import Expression
from .plan import Plan, batched
from .shapes import ShapeMap

NEARBY_POINTS = 4  # besides the point itself: a formula that matches at five points is no coincidence
MAX_ROUTES = 64
MAX_SUBSET_PATHS = 10
MATCH = Tolerance(rtol=1e-6, atol=1e-9)


@dataclass
class Culprit:
    """The smallest part of the check found responsible for a disagreement."""

    kind: str  # "manual", "manual-factor", "symbolic" or "autograd"
    node: int | None  # the node in the expression's graph, when one is named
    expr: str  # the text of that node, or of the factor
    source: str  # where that text was written: "expr", "manual.w", "manual.dL/dp"
    span: tuple[int, int] | None  # within the text at `source`
    message: str
    variable: str | None = None  # the variable whose rows it explains; None: every disagreeing row
    label: str = ""  # a few characters for a table cell: "∂p/∂z", "sin(z)"


@dataclass
class ManualFactor:
    """A hand-derived chain factor `dA/dB` and the graph's own, checked at the point."""

    name: str
    formula: str
    manual: float | list | None
    symbolic: float | list | None
    symbolic_formula: str
    status: str = "pass"


def _short(value) -> str:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return format_rounded(float(array))
    return np.array2string(array, threshold=6, edgeitems=2, precision=4, separator=", ")


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
        points = _nearby(point, moved, self.plan, seed)
        self.count = len(next(iter(points.values())))
        self.values = self.plan.run(points)

    def of(self, node: Node) -> np.ndarray:
        """The node's (scalar) value at every point."""
        value = self.plan.value(self.values, node)
        return np.broadcast_to(value.reshape(value.shape[0], -1)[:, 0], (self.count,)).astype(np.float64)

    def routes(self, variable: str) -> list[_Route]:
        target = self.stations.variable(variable)
        edges = self.stations.edges
        return [_Route(route, [edges[a][b] for a, b in zip(route, route[1:])])
                for route in ([] if target is None else self.stations.routes(target, MAX_ROUTES))]

    def label(self, a: int, b: int) -> str:
        return self.stations.factor_label(a, b)

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
    for _ in range(NEARBY_POINTS * 4):
        if len(draws) > NEARBY_POINTS:
            break
        candidate = {n: v * (1 + 0.05 * rng.standard_normal(v.shape)) + 0.05 * rng.standard_normal(v.shape)
                     if n in moved else v for n, v in point.items()}
        values = plan.run({n: batched(v) for n, v in candidate.items()})
        if all(np.all(np.isfinite(v)) for v in values):
            draws.append(candidate)
    return {n: np.stack([d[n] for d in draws]) for n in point}


def _same(a: np.ndarray, b: np.ndarray, tolerance: Tolerance) -> bool:
    scale = max(tolerance.rtol, MATCH.rtol)
    return bool(np.all(np.abs(a - b) <= max(tolerance.atol, MATCH.atol) + scale * np.maximum(np.abs(a), np.abs(b))))


def manual_culprit(expression: Expression, manual: Expression, variable: str, point: dict[str, np.ndarray],
                   wrt: list[str], shapes: ShapeMap, tolerance: Tolerance) -> Culprit:
    """Why the manual formula for a scalar variable of a scalar expression differs from the chain rule."""
    factors = _product_factors(manual.output)
    gradient = gradient_nodes(expression.output, [variable], shapes)[variable]
    analysis = ManualAnalysis(expression, point, wrt, shapes, [manual.output, gradient, *factors])
    mine, truth = analysis.of(manual.output), analysis.of(gradient)
    routes = analysis.routes(variable) if analysis.scalar_stations() else []
    routes = routes if len(routes) < MAX_ROUTES else []  # shares of a partial list of paths explain nothing
    shares = [np.prod([analysis.of(f) for f in r.factors], axis=0) for r in routes]
    at = f"gives {_short(mine[0])} where the chain rule gives {_short(truth[0])}"

    def found(message: str, node: Node | None = None, text: str | None = None, span=None, label: str = "") -> Culprit:
        names = expression.names()
        shown = text or (to_text(node, names, limit=80) if node is not None else manual.source)
        place = "manual." + variable
        if node is not None and text is None:
            place, span = "expr", expression.spans.get(node.id)
        return Culprit("manual", None if node is None else node.id, shown, place,
                       None if span is None else tuple(span), message, variable, label)

    whole = {"text": manual.source, "span": (0, len(manual.source))}
    if not _same(truth, 0 * truth, tolerance):
        if _same(mine, -truth, tolerance):
            return found(f"your formula for d/d{variable} has the wrong sign: it {at}", label="sign", **whole)
        if _same(mine, 0 * mine, tolerance):
            return found(f"your formula for d/d{variable} is 0 at every point tried: it {at}", label="zero",
                         **whole)
    varies = not _same(truth, np.full_like(truth, truth[0]), tolerance)  # else a factor and a term look alike
    constant = _constant_gap(mine, truth, tolerance) if varies else None
    if constant is not None:
        kind, amount = constant
        return found(f"your formula for d/d{variable} is {kind} {format_rounded(amount)} "
                     f"{'times' if kind == 'a factor' else 'away from'} the chain rule's at every point tried: it {at}",
                     **whole, label=f"{'×' if kind == 'a factor' else '+'}{format_rounded(amount)}")
    for route, share in zip(routes, shares):
        if len(route.factors) < 2:
            continue
        for (a, b), factor in zip(zip(route.stations, route.stations[1:]), route.factors):
            value = analysis.of(factor)
            if np.all(value != 0) and _same(mine, truth - share + share / value, tolerance) \
                    and not _same(value, 1 + 0 * value, tolerance):
                node = analysis.plan.nodes[analysis.plan.slot[a]]
                return found(f"your formula for d/d{variable} lacks the factor {analysis.label(a, b)} = "
                             f"{to_text(factor, expression.names(), limit=80)} (= {_short(value[0])}) "
                             f"on the path {_route_text(analysis, route)}: it {at}", node,
                             label=f"missing {analysis.label(a, b)}")
    missing = _missing_paths(mine, shares, tolerance)
    if missing:
        held = _held_constant(analysis, [routes[i] for i in missing], [r for i, r in enumerate(routes)
                                                                         if i not in missing])
        terms = " + ".join(f"{_route_text(analysis, routes[i])} (= {_short(shares[i][0])})" for i in missing)
        why = f"; it treats {analysis.stations.labels[held.id]} as constant" if held is not None else ""
        return found(f"your formula for d/d{variable} misses the term {terms}{why}: it {at}", held,
                     label=f"{analysis.stations.labels[held.id]} held constant" if held is not None else "missing term")
    wrong = _one_wrong_factor(analysis, factors, routes, tolerance)
    if wrong is not None:
        factor, (a, b), right = wrong
        span = manual.spans.get(factor.id)
        return found(f"your factor {to_text(factor, expression.names(), limit=80)} (= "
                     f"{_short(analysis.of(factor)[0])}) should be {analysis.label(a, b)} = "
                     f"{to_text(right, expression.names(), limit=80)} (= {_short(analysis.of(right)[0])})",
                     text=to_text(factor, expression.names(), limit=80), span=None if span is None else tuple(span),
                     label=f"wrong {analysis.label(a, b)}")
    if not varies:
        return found(f"your formula for d/d{variable} {at} at every point tried, where a wrong factor and a wrong "
                     "term look alike (see --explain)", **whole)
    return found(f"your formula for d/d{variable} {at}; no single sign, factor or term of the chain rule "
                 "explains the difference (see --explain)", **whole)


def _constant_gap(mine: np.ndarray, truth: np.ndarray, tolerance: Tolerance) -> tuple[str, float] | None:
    """("a factor", c) when mine = c · truth at every point, ("a constant", c) when mine = truth + c."""
    if np.all(truth != 0):
        ratio = mine / truth
        if _same(ratio, np.full_like(ratio, ratio[0]), tolerance) and not _same(ratio, np.ones_like(ratio), tolerance):
            return "a factor", float(ratio[0])
    offset = mine - truth
    if _same(offset, np.full_like(offset, offset[0]), tolerance) and abs(offset[0]) > 0:
        return "a constant", float(offset[0])
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
    return analysis.plan.nodes[analysis.plan.slot[max(common)]]


def _product_factors(node: Node) -> list[Node]:
    """The factors of a left-deep product a*b*c (the node itself when it is not a product)."""
    factors = []
    while node.op == "mul":
        factors.append(node.args[1])
        node = node.args[0]
    return [node, *reversed(factors)]


def _one_wrong_factor(analysis: ManualAnalysis, factors: list[Node], routes: list[_Route], tolerance: Tolerance):
    """(manual factor, station edge, right factor) when a one-path chain matches the manual product but for one factor."""
    if len(routes) != 1 or len(factors) != len(routes[0].factors) or len(factors) < 2:
        return None
    route = routes[0]
    edges = list(zip(route.stations, route.stations[1:]))
    unmatched_chain = [i for i, f in enumerate(route.factors)
                       if not any(_same(analysis.of(f), analysis.of(m), tolerance) for m in factors)]
    unmatched_manual = [m for m in factors
                        if not any(_same(analysis.of(f), analysis.of(m), tolerance) for f in route.factors)]
    if len(unmatched_chain) == 1 and len(unmatched_manual) == 1:
        i = unmatched_chain[0]
        return unmatched_manual[0], edges[i], route.factors[i]
    return None


# ---- per-node manual factors: dA/dB ----


def factor_nodes(expression: Expression, name: str) -> tuple[Node, Node]:
    """The nodes A and B of a factor named `dA/dB` (A: a binding or the output; B: a binding or a variable)."""
    top, _, bottom = name.partition("/")
    stations = {**{n: node for n, node in expression.bindings.items()},
                **{v: expression.graph.var(v) for v in expression.variables}}
    outputs = {**expression.bindings, "f": expression.output} if expression.output.id not in expression.names() \
        else dict(expression.bindings)
    return outputs[top[1:]], stations[bottom[1:]]


def check_factor(expression: Expression, name: str, formula: Expression, point, shapes: ShapeMap,
                 tolerance: Tolerance, dtype: str) -> tuple[ManualFactor, Culprit | None]:
    """The manual factor dA/dB against the derivative of A in B (B treated as an input)."""
    top, bottom = factor_nodes(expression, name)
    symbolic = adjoints(top, {bottom.id}, shapes).get(bottom.id, expression.graph.const(0.0))
    plan = Plan([symbolic, formula.output], shapes)
    values = plan.run({n: batched(v.astype(dtype)) for n, v in point.items()}, dtype=np.dtype(dtype))
    mine, right = (np.asarray(plan.value(values, n)[0], dtype=np.float64) for n in (formula.output, symbolic))
    names = expression.names()
    row = ManualFactor(name, formula.source, mine.tolist(), right.tolist(), to_text(symbolic, names, limit=200))
    scale = tolerance.atol + tolerance.rtol * np.maximum(np.abs(mine), np.abs(right))
    if np.shape(mine) == np.shape(right) or np.ndim(mine) == 0 or np.ndim(right) == 0:
        agree = bool(np.all(np.abs(mine - right) <= scale))
    else:
        agree = False
    if agree:
        return row, None
    row.status = "fail"
    label = f"∂{name[1:].replace('/d', '/∂')}"
    message = (f"your {name} = {formula.source} gives {_short(mine)} at this point; {label} = "
               f"{row.symbolic_formula} = {_short(right)}")
    return row, Culprit("manual-factor", top.id, formula.source, f"manual.{name}", (0, len(formula.source)),
                        message, label=name)


# ---- each node's local derivative, three ways ----


def node_culprit(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], shapes: ShapeMap,
                 tolerance: Tolerance, engine: str) -> Culprit:
    """The first node whose local derivative from `engine` ("symbolic" or "autograd") disagrees with
    finite differences of the node's own op at its actual inputs (in float64)."""
    nodes = ancestors([expression.output])
    reaching = reaching_nodes(nodes, set(wrt))
    plan = Plan([expression.output], shapes)
    values = plan.run({n: batched(v) for n, v in point.items()})
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
    message = (f"{ENGINE_WORDS[engine]} is wrong at {text}: it gives ∂/∂{argument} = {_short(theirs)} where finite "
               f"differences of {spec.display_name} give {_short(fd)} and {ENGINE_WORDS[other]} gives "
               f"{_short(local[other][i])}").replace("{op}", spec.display_name)
    span = expression.spans.get(node.id)
    return Culprit(engine, node.id, text, "expr", None if span is None else tuple(span), message,
                   label=text if len(text) <= 24 else text[:23] + "…")


ENGINE_WORDS = {"symbolic": "the op registry's derivative rule for {op}", "autograd": "torch's backward of {op}"}


def _agree(a, b, error, tolerance: Tolerance) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    bound = tolerance.atol + tolerance.rtol * np.maximum(np.abs(a), np.abs(b)) + np.asarray(error)
    return bool(np.all(np.abs(a - b) <= bound))


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
        point["u"] = np.random.default_rng(1).uniform(0.5, 1.5, output_shape)
        shapes = ShapeMap({n: v.shape for n, v in point.items()})
        local = graph.raw("sum", (graph.raw("mul", (local, graph.var("u"))),))
    wrt = [names[i] for i in reached]
    symbolic = gradient_nodes(local, wrt, shapes)
    plan = Plan([local, *symbolic.values()], shapes)
    values = plan.run({n: batched(v) for n, v in point.items()})
    fd = finite_differences(plan.restricted_to([local]), local, point, wrt, shapes)
    autograd = autograd_gradients(local, point, wrt)[1]
    result = {"symbolic": {}, "autograd": {}, "finite_difference": {}, "fd_error": {}}
    for i, name in zip(reached, wrt):
        result["symbolic"][i] = np.broadcast_to(plan.value(values, symbolic[name])[0], inputs[i].shape)
        result["autograd"][i] = autograd[name]
        result["finite_difference"][i] = fd.gradients[name]  # NaN on a kink: no referee there
        result["fd_error"][i] = fd.errors[name]
    return result
