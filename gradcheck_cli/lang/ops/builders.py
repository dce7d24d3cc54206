"""Node builders for derivative rules, so that rules read like maths: `partials=(lambda x, out: cos(x),)` says
d sin(x)/dx = cos(x).  Each builds a node of the op of its name in the graph of its arguments."""

from __future__ import annotations

from collections.abc import Callable


def builder(op: str) -> Callable:
    def build(*args):
        graph = next(a.graph for a in args if hasattr(a, "graph"))
        return graph.apply(op, *args)

    build.__name__ = op
    return build


sin, cos, sqrt, log, sigmoid, sign = (builder(n) for n in ("sin", "cos", "sqrt", "log", "sigmoid", "sign"))
sinh, cosh = builder("sinh"), builder("cosh")
gt, ge, lt, le, eq, ne = (builder(n) for n in ("gt", "ge", "lt", "le", "eq", "ne"))
