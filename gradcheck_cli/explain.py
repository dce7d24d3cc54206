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

from .engines.symbolic import adjoints
from .graph import Node, ancestors, to_text
from .ops import OPS
from .parser import Expression
from .plan import Plan, batched
from .shapes import ShapeMap

MAX_PATHS = 12  # paths listed per variable; the total always covers all of them
OUTPUT_NAME = "f"  # what the output is called when no binding names it


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


@dataclass
class Stations:
    """The chain rule's graph: station -> {child station: factor node}, in the expression's graph."""

    output: Node
    labels: dict[int, str]
    edges: dict[int, dict[int, Node]]

    def factor_nodes(self) -> list[Node]:
        return [node for children in self.edges.values() for node in children.values()]

    def variable(self, name: str) -> int | None:
        """The station of a variable the output depends on."""
        return next((i for i, label in self.labels.items() if label == name and i not in self.edges), None)

    def routes(self, target: int, limit: int) -> list[list[int]]:
        """The first `limit` paths of station ids from the output to `target`, depth first."""
        found, stack = [], [[self.output.id]]
        while stack and len(found) < limit:
            route = stack.pop()
            if route[-1] == target:
                found.append(route)
                continue
            stack.extend(route + [child] for child in reversed(list(self.edges.get(route[-1], {}))))
        return found

    def factor_label(self, a: int, b: int) -> str:
        return f"∂{self.labels[a]}/∂{self.labels[b]}"


def stations_of(expression: Expression, shapes: ShapeMap) -> Stations:
    """The output, the named bindings and the variables; every operation when no binding is named."""
    output = expression.output
    nodes = ancestors([output])
    names = expression.names()
    named = [n for n in nodes if n.id in names and n is not output]
    inner = named or [n for n in nodes if n.args and n is not output and OPS[n.op].differentiable]
    points = [output, *inner, *(n for n in nodes if n.op == "var")]
    labels = {n.id: station_label(n, names, output) for n in points}
    leaves = {n.id for n in points}
    edges = {}
    for station in [output, *inner]:
        found = adjoints(station, leaves - {station.id}, shapes)
        edges[station.id] = {i: found[i] for i in sorted(found, reverse=True)}  # nearest the output first
    return Stations(output, labels, edges)


def station_label(node: Node, names: dict[int, str], output: Node) -> str:
    if node.id in names:
        return names[node.id]
    if node is output:
        return OUTPUT_NAME
    if node.op == "var":
        return node.attr
    return f"({to_text(node, names, limit=60)})"


def explain(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], shapes: ShapeMap,
            dtype: str = "float64") -> Explanation:
    """The graph with values and local partials, and the chain rule for each variable in `wrt`."""
    names = expression.names()
    nodes = ancestors([expression.output])
    varying = _varying(nodes)
    partial_nodes = {node.id: _partial_nodes(node) for node in nodes}
    stations = stations_of(expression, shapes)
    extra = [p for ps in partial_nodes.values() for p in ps if p is not None] + stations.factor_nodes()
    plan = Plan([expression.output, *extra], shapes)
    values = plan.run({n: batched(v.astype(dtype)) for n, v in point.items()}, dtype=np.dtype(dtype))

    def value_of(node: Node):
        return _plain(plan.value(values, node)[0])

    views = [NodeView(node.id, node.op, names.get(node.id), to_text(node, {k: v for k, v in names.items()
                                                                         if k != node.id}, limit=200),
                      [a.id for a in node.args], value_of(node),
                      [Partial(a.id, None if p is None else to_text(p, names, limit=200),
                               None if p is None else value_of(p))
                       for a, p in zip(node.args, partial_nodes[node.id]) if a.id in varying])
             for node in nodes]
    scalar = all(np.ndim(plan.value(values, n)[0]) == 0 for n in nodes if n.id in stations.labels)
    if not scalar:
        return Explanation(expression.output.id, stations.labels[expression.output.id], views, [],
                           "the chain rule is listed for scalar graphs only; this one has tensor values")
    chains = [_chain(stations, name, value_of, names) for name in wrt]
    return Explanation(expression.output.id, stations.labels[expression.output.id], views, chains)


def _varying(nodes: list[Node]) -> set[int]:
    """Ids of the nodes that depend on some variable (the others are constants, with nothing to explain)."""
    varying: set[int] = set()
    for node in nodes:
        if node.op == "var" or any(a.id in varying for a in node.args):
            varying.add(node.id)
    return varying


def _partial_nodes(node: Node) -> list[Node | None]:
    """∂node/∂arg for each argument, as nodes; None where the op's rule is a vector-Jacobian product."""
    if not node.args:
        return []
    spec = OPS[node.op]
    if spec.partials is None:
        return [None] * len(node.args)
    graph = node.graph
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
        factors = [Factor(stations.labels[a], stations.labels[b], to_text(stations.edges[a][b], names, limit=200),
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
