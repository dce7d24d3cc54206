"""Symbolic differentiation: reverse mode over the DAG, building derivative nodes.

One generic chain rule: each node's adjoint is pushed to its arguments
through the op's registered partials (elementwise ops) or vjp (reductions).
Adjoints are graph nodes in the same hash-consed graph, so the derivative
reuses the forward nodes and grows linearly with the graph.
"""

from __future__ import annotations

import math

import numpy as np

from ..lang.graph import Node, ancestors, carries_derivative, dependents
from ..lang.ops import OPS, broadcast_shapes
from ..lang.shapes import ShapeMap


def gradient_nodes(output: Node, wrt: list[str], shapes: ShapeMap, nodes: list[Node] | None = None) -> dict[str, Node]:
    """d output / d variable, as a node, for each variable named in `wrt`.

    A variable the output does not depend on gets the constant 0.  A
    derivative may have a smaller shape than its variable (e.g. 1 for
    `sum(x)`); it is broadcast when evaluated.
    """
    nodes = nodes if nodes is not None else ancestors([output])
    wanted = set(wrt)  # a set: with thousands of scalar variables, `in wrt` on the list would cost N²
    by_name = {n.attr: n for n in nodes if n.op == "var" and n.attr in wanted}
    found = adjoints(output, {n.id for n in by_name.values()}, shapes, nodes)
    zero = output.graph.const(0.0)
    return {name: found.get(by_name[name].id, zero) if name in by_name else zero for name in wrt}


def adjoints(output: Node, leaves: set[int], shapes: ShapeMap, nodes: list[Node] | None = None) -> dict[int, Node]:
    """d output / d leaf, by leaf id, for the leaves the output reaches, treating each leaf as an input.

    Reverse mode that does not look through a leaf: with leaves {p, z} of `L(p(z), z)`, the
    result is the partial derivatives of L in p and in z, not the total derivative in z.
    """
    graph = output.graph
    nodes = nodes if nodes is not None else ancestors([output])
    reaches = dependents(nodes, leaves, carries_derivative)
    pending: dict[int, list[Node]] = {output.id: [graph.const(1.0)]}
    for node in reversed(nodes):
        if node.id not in reaches or node.op == "var" or node.id not in pending or \
                (node.id in leaves and node is not output):
            continue
        adjoint = _sum(pending.pop(node.id))
        for arg, arg_adjoint in _push(node, adjoint, reaches, shapes):
            pending.setdefault(arg.id, []).append(arg_adjoint)
    return {i: _sum(pending[i]) for i in leaves if i in pending}


def jacobian_nodes(output: Node, wrt: list[str], shapes: ShapeMap,
                   nodes: list[Node] | None = None) -> list[dict[str, Node]]:
    """One `gradient_nodes` per output element, in row-major order (one for a scalar output).

    `nodes`: the output's ancestors, when the caller has them."""
    shape = shapes(output)
    if shape == ():
        return [gradient_nodes(output, wrt, shapes, nodes)]
    return [gradient_nodes(output.graph.apply("index", output, attr=tuple(index)), wrt, shapes)
            for index in np.ndindex(shape)]


def reaching_nodes(nodes: list[Node], wrt: set[str]) -> set[int]:
    """Ids of the nodes through which some variable in `wrt` can influence the output."""
    return dependents(nodes, {n.id for n in nodes if n.op == "var" and n.attr in wrt}, carries_derivative)


def _push(node: Node, adjoint: Node, reaches: set[int], shapes: ShapeMap):
    """(argument, its share of the adjoint) for each argument a variable reaches."""
    spec = OPS[node.op]
    if spec.vjp is not None:
        if shapes(adjoint) != shapes(node):  # vjp rules expect the adjoint at the node's full shape
            adjoint = adjoint.graph.apply("expand", adjoint, node)
        shares = spec.vjp(adjoint, node, shapes)
        return [(a, s) for a, s in zip(node.args, shares) if a.id in reaches]
    pushed = []
    for arg, partial in zip(node.args, spec.partials):
        if arg.id in reaches:
            share = adjoint * partial(*node.args, node)
            pushed.append((arg, _sum_to_shape(share, arg, node, shapes)))
    return pushed


def _sum_to_shape(share: Node, arg: Node, out: Node, shapes: ShapeMap) -> Node:
    """Undo broadcasting: sum the share over the axes along which `arg` was broadcast to `out`.

    A share may be stored smaller than `out` (an adjoint of 1 stands for ones
    of out's shape), so where it is constant along those axes the sum is a
    multiplication by their length; elsewhere it is expanded, then summed.
    """
    arg_shape, out_shape = shapes(arg), shapes(out)
    if arg_shape == out_shape:
        return share
    share_shape = shapes(share)
    if broadcast_shapes(share_shape, arg_shape) == arg_shape:
        return share * (math.prod(out_shape) // max(1, math.prod(arg_shape)))
    if share_shape != out_shape:
        share = share.graph.apply("expand", share, out)
    if arg_shape == ():
        return share.graph.apply("sum", share)
    return share.graph.apply("sum_to", share, arg)


def _sum(terms: list[Node]) -> Node:
    if len(terms) == 1:  # most adjoints have one term: nothing to cancel or add
        return terms[0]
    terms = _without_opposites(terms)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _without_opposites(terms: list[Node]) -> list[Node]:
    """The adjoint terms less each pair of a term t and its negation -t (the same node under a `neg`).

    They cancel exactly, but summed in order around another term they would not: with the shares
    `[a, -t, t]` of g in `kl_div(g, g, log_target=True) + sum(sin(g))` (t = exp(g)), `a - t + t` keeps
    only t's rounding error when t is far larger than a.  All terms cancelled: [0].
    """
    remaining = list(terms)
    for term in terms:
        if term.op == "neg" and _position(remaining, term) is not None \
                and _position(remaining, term.args[0]) is not None:
            del remaining[_position(remaining, term)]
            del remaining[_position(remaining, term.args[0])]
    return remaining or [terms[0].graph.const(0.0)]


def _position(terms: list[Node], node: Node) -> int | None:
    """Index of the first occurrence of node (by identity) in terms, None if absent."""
    return next((i for i, term in enumerate(terms) if term.id == node.id), None)
