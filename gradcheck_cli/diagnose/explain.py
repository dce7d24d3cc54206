"""Why a gradient is what it is: every node's value and local partials, and the chain rule.

The notebook explains a gradient by hand: it writes dL/dp, dp/dz and dz/dw
separately and multiplies them.  This module does the same from the graph,
as plain data the reports render (`--explain`):

- the graph: each node with its value and, per input, the local partial
  derivative (the registry's rule, as a formula and a value);
- the chain rule through the *stations* of the graph (the output, the named
  bindings and the variables; every operation when nothing is named): one
  factor per edge, a product per path, summed over the paths.

A factor ∂A/∂B is the derivative of A's definition in B, holding the other
stations fixed, so the factors of a path multiply to that path's share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.text import shortened
from ..engines.symbolic import adjoints
from ..lang.graph import ATOM, Node, dependents, render, to_text
from ..lang.ops import OPS
from ..lang.parser import Expression
from ..lang.plan import Plan
from ..lang.shapes import ShapeMap

MAX_PATHS = 12  # paths listed per variable; the total always covers all of them
MAX_UNNAMED_STATIONS = 60  # with no binding named, every operation is a station up to this many
LABEL_WIDTH = 40  # characters of an unnamed station's label
TEXT_WIDTH = 120  # characters of a node's text in the graph


def output_name(expression: Expression) -> str:
    """What the output is called: its binding's name, else f (or the first of f_, f__, ... that is free)."""
    names = expression.names()
    if expression.output.id in names:
        return names[expression.output.id]
    taken = set(expression.bindings) | set(expression.variables)
    name = "f"
    while name in taken:
        name += "_"
    return name


@dataclass
class Partial:
    """∂node/∂input: the registry's local derivative at this point."""

    input: int
    formula: str | None  # None for ops whose rule is a vector-Jacobian product, not a partial
    value: float | list | None


@dataclass
class NodeView:
    id: int
    op: str
    name: str | None  # the binding that names it
    expr: str
    inputs: list[int]
    value: float | list
    partials: list[Partial] = field(default_factory=list)


@dataclass
class Factor:
    of: str  # station labels: ∂of/∂wrt
    wrt: str
    formula: str
    value: float


@dataclass
class ChainPath:
    factors: list[Factor]
    product: float


@dataclass
class Chain:
    """d output / d variable as a sum over station paths of products of factors."""

    variable: str
    paths: list[ChainPath]
    total: float
    unlisted: int = 0  # paths beyond MAX_PATHS, counted in `total` but not listed


@dataclass
class Explanation:
    output: int
    output_name: str
    nodes: list[NodeView]
    chains: list[Chain]
    note: str | None = None  # why there is no chain (a tensor graph)
    stations: str = "named values"  # what the chain runs through: named values, operations, or nothing between


@dataclass
class Stations:
    """The chain rule's graph: station -> {child station: factor node}, in the expression's graph."""

    output: Node
    labels: dict[int, str]
    edges: dict[int, dict[int, Node]]
    variables: dict[str, int]  # variable name -> its station
    kind: str  # "named values", "operations" (nothing named), or "values" (too many operations to list)

    def factor_nodes(self) -> list[Node]:
        return [node for children in self.edges.values() for node in children.values()]

    def variable(self, name: str) -> int | None:
        """The station of a variable the output depends on."""
        return self.variables.get(name)

    def routes(self, target: int, limit: int) -> list[list[int]]:
        """The first `limit` paths of station ids from the output to `target`, depth first.

        Only stations that lead to the target are entered, so the cost grows with the paths listed,
        not with the paths elsewhere in the graph.
        """
        leads = self.leading_to(target)
        found, stack = [], [[self.output.id]] if self.output.id in leads else []
        while stack and len(found) < limit:
            route = stack.pop()
            if route[-1] == target:
                found.append(route)
                continue
            stack.extend(route + [child] for child in reversed(list(self.edges.get(route[-1], {})))
                         if child in leads)
        return found

    def leading_to(self, target: int) -> set[int]:
        leads = {target}
        for station in sorted(self.edges):  # ids grow towards the output: children come first
            if station != target and any(child in leads for child in self.edges[station]):
                leads.add(station)
        return leads

    def factor_label(self, a: int, b: int) -> str:
        return f"∂{self.labels[a]}/∂{self.labels[b]}"


def stations_of(expression: Expression, shapes: ShapeMap) -> Stations:
    """The output, the named bindings and the variables; every operation when no binding is named
    (and there are few enough of them to read)."""
    output = expression.output
    nodes = expression.nodes
    names = expression.names()
    variables = [n for n in nodes if n.op == "var"]
    inner = [n for n in nodes if n.id in names and n is not output and n.op != "var"]
    if not inner:
        operations = [n for n in nodes if n.args and n is not output and OPS[n.op].differentiable]
        inner = operations if len(operations) <= MAX_UNNAMED_STATIONS else []
    kind = "named values" if inner and inner[0].id in names else "operations" if inner else "values"
    labels = {n.id: station_label(n, names) for n in [*inner, *variables]}
    labels[output.id] = output_name(expression)
    leaves = {n.id for n in [*inner, *variables]}
    edges = {}
    for station in ([output] if output.op != "var" else []) + inner:
        found = adjoints(station, leaves - {station.id}, shapes)
        edges[station.id] = {i: found[i] for i in sorted(found, reverse=True)}  # nearest the output first
    return Stations(output, labels, edges, {n.attr: n.id for n in variables}, kind)


def station_label(node: Node, names: dict[int, str]) -> str:
    if node.op == "var":
        return node.attr
    if node.id in names:
        return names[node.id]
    text = to_text(node, names, limit=LABEL_WIDTH)
    return f"({shortened(text, LABEL_WIDTH)})"


def node_text(node: Node, names: dict[int, str]) -> str:
    """How a node reads where it is used: its binding's name, else its expression (cut at TEXT_WIDTH)."""
    if node.id in names:
        return names[node.id]
    text = to_text(node, names, limit=TEXT_WIDTH)
    return shortened(text, TEXT_WIDTH)


def explain(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], shapes: ShapeMap,
            dtype: str = "float64") -> Explanation:
    """The graph with values and local partials, and the chain rule for each variable in `wrt`."""
    names = expression.names()
    nodes = expression.nodes
    varying = _varying(nodes)
    partial_nodes = {node.id: _partial_nodes(node) for node in nodes}
    stations = stations_of(expression, shapes)
    extra = [p for ps in partial_nodes.values() for p in ps if p is not None] + stations.factor_nodes()
    plan = Plan([expression.output, *extra], shapes)
    values = plan.at(point, dtype)

    def value_of(node: Node):
        return _plain(plan.value(values, node)[0])

    texts = definitions(nodes, names, TEXT_WIDTH)
    views = [NodeView(node.id, node.op, names.get(node.id), texts[node.id], [a.id for a in node.args],
                      value_of(node),
                      [Partial(a.id, None if p is None else node_text(p, names), None if p is None else value_of(p))
                       for a, p in zip(node.args, partial_nodes[node.id]) if a.id in varying])
             for node in nodes]
    name = stations.labels[expression.output.id]
    if expression.output.op == "var":
        return Explanation(expression.output.id, name, views, [],
                           f"the expression is the variable {expression.output.attr} itself: its derivative is 1")
    scalar = all(np.ndim(plan.value(values, n)[0]) == 0 for n in nodes if n.id in stations.labels)
    if not scalar:
        return Explanation(expression.output.id, name, views, [],
                           "the chain rule is listed for scalar graphs only; this one has tensor values")
    chains = [_chain(stations, variable, value_of, names) for variable in wrt]
    return Explanation(expression.output.id, name, views, chains, stations=stations.kind)


def definitions(nodes: list[Node], names: dict[int, str], width: int) -> dict[int, str]:
    """Each node's expression, cut at `width` characters, named bindings below it read by name.

    One pass, each text built from its arguments' texts, so a graph of thousands of nodes costs linear time.
    """
    own: dict[int, tuple[str, int]] = {}
    for node in nodes:
        text, precedence = render(node, [(names[a.id], ATOM) if a.id in names else own[a.id] for a in node.args])
        own[node.id] = (shortened(text, width), precedence)
    return {i: text for i, (text, _) in own.items()}


def _varying(nodes: list[Node]) -> set[int]:
    """Ids of the nodes that depend on some variable (the others are constants, with nothing to explain)."""
    return dependents(nodes, {node.id for node in nodes if node.op == "var"})


def _partial_nodes(node: Node) -> list[Node | None]:
    """∂node/∂arg for each argument, as nodes; None where the op's rule is a vector-Jacobian product."""
    if not node.args:
        return []
    spec = OPS[node.op]
    graph = node.graph
    if not spec.differentiable:  # detach: no gradient flows
        return [graph.const(0.0)] * len(node.args)
    if spec.partials is None:
        return [None] * len(node.args)
    parts = [rule(*node.args, node) for rule in spec.partials]
    return [p if isinstance(p, Node) else graph.const(p) for p in parts]


def _chain(stations: Stations, variable: str, value_of, names: dict[int, str]) -> Chain:
    target = stations.variable(variable)
    if target is None:  # the output does not depend on it
        return Chain(variable, [], 0.0)
    factor = {(a, b): float(value_of(node)) for a, children in stations.edges.items() for b, node in children.items()}
    total, count = _sum_over_paths(stations, factor, target)
    paths = []
    for route in stations.routes(target, MAX_PATHS):
        edges = list(zip(route, route[1:]))
        factors = [Factor(stations.labels[a], stations.labels[b], node_text(stations.edges[a][b], names),
                          factor[a, b]) for a, b in edges]
        paths.append(ChainPath(factors, math.prod(f.value for f in factors)))
    return Chain(variable, paths, total[stations.output.id], count[stations.output.id] - len(paths))


def _sum_over_paths(stations: Stations, factor: dict, target: int) -> tuple[dict, dict]:
    """Per station: the sum over its paths to `target` of the factors' products, and the number of paths.

    Dynamic programming from the target up (station ids grow towards the output), so a graph
    with exponentially many paths costs one pass.
    """
    total, count = {target: 1.0}, {target: 1}
    for station in sorted(stations.edges):
        children = [c for c in stations.edges[station] if c in total]
        total[station] = sum(factor[station, c] * total[c] for c in children)
        count[station] = sum(count[c] for c in children)
    return total, count


def _plain(value):
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array.tolist()
