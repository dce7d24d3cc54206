"""The op registry: the only place an operation is defined, one module per family.

Each operation is one `OpSpec` record (record.py).  The lexer and parser read its syntax, the printer its
precedence, the numpy evaluator and the torch builder its two implementations, the symbolic engine its partial
derivatives, and the checks its domain, analytic flag and kinks.  Adding an operation is one entry in its
family's module plus one row in the parametrized registry tests.

Derivative rules are written with the node builders of builders.py, so they read like maths:
`partials=(lambda x, out: cos(x),)` says d sin(x)/dx = cos(x).  A rule receives the op's argument nodes and its
own output node (so `exp` can say `out`), and returns a node or a plain number.
"""

from __future__ import annotations

import math

from . import (
    activations,
    arithmetic,
    convolution,
    distances,
    elementwise,
    linalg,
    losses,
    normalization,
    piecewise,
    reductions,
    rounding,
    shaping,
)
from .builders import cos, cosh, eq, ge, gt, le, log, lt, ne, sigmoid, sign, sin, sinh, sqrt
from .record import OpSpec, broadcast_shapes

__all__ = ["CONSTANTS", "FUNCTIONS", "INFIX", "OPS", "OVERLOADS", "POSTFIX", "PREFIX", "OpSpec", "broadcast_shapes",
           "cos", "cosh", "eq", "ge", "gt", "le", "log", "lt", "ne", "sigmoid", "sign", "sin", "sinh", "sqrt"]

# In this order: a name two families define (max(a, b) and max(x)) is tried as the first one's first.
FAMILIES = (arithmetic, elementwise, activations, piecewise, rounding, reductions, linalg, shaping, convolution,
            normalization, losses, distances)
_OPS: list[OpSpec] = [op for family in FAMILIES for op in family.OPS]
OPS: dict[str, OpSpec] = {op.name: op for op in _OPS}


def _callable_names() -> dict[str, list[OpSpec]]:
    names: dict[str, list[OpSpec]] = {}
    for op in _OPS:
        own = [op.name] if op.syntax == "function" else []
        for name in own + ([op.call_name] if op.call_name else []) + list(op.aliases):
            names.setdefault(name, []).append(op)
    return names


# Names callable as `name(args)` in expressions, each with its overloads (max(a, b) and max(x)).
OVERLOADS: dict[str, list[OpSpec]] = _callable_names()
FUNCTIONS: dict[str, OpSpec] = {name: specs[0] for name, specs in OVERLOADS.items()}
INFIX: dict[str, OpSpec] = {op.symbol: op for op in _OPS if op.syntax == "infix"}
PREFIX: dict[str, OpSpec] = {op.symbol: op for op in _OPS if op.syntax == "prefix"}
POSTFIX: dict[str, OpSpec] = {op.symbol: op for op in _OPS if op.syntax == "postfix"}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
