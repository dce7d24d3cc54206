"""Local algebraic rewrites applied while the symbolic engine builds nodes.

Light on purpose: constant folding, identities of 0 and 1, sign pulling, and
numeric coefficients gathered to the front, so that d/dx sin(x**2) prints as
`2*x*cos(x**2)`.  Every rule looks at most two levels down, so building a
derivative stays linear in the size of the graph.  Products are kept
left-deep (`2*x*y`), which the printer writes without parentheses.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .ops import OPS


def rewrite(graph, op: str, args: tuple, attr=None) -> Node:  # noqa: F821 (Node lives in graph.py)
    if attr is not None:
        return graph.raw(op, args, attr)
    folded = _fold_constants(graph, op, args)
    if folded is not None:
        return folded
    rule = _RULES.get(op)
    result = rule(graph, *args) if rule else None
    return result if result is not None else graph.raw(op, args)


def _fold_constants(graph, op: str, args: tuple):
    if not args:
        return None
    for a in args:  # the usual case, a non-constant argument, decided first (a loop: cheaper than any())
        if a.op != "const":
            return None
    spec = OPS[op]
    if spec.holds_value or not spec.elementwise:
        return None
    value = _folded(op, tuple([float.hex(a.attr) for a in args]))
    return graph.const(value) if math.isfinite(value) else None


@functools.lru_cache(maxsize=4096)
def _folded(op: str, constants: tuple[str, ...]) -> float:
    """The op on constants (each as float.hex: -0.0 and NaN keep their identity), once per run: a derivative
    folds the same few numbers again and again, and numpy's error state is costly to enter."""
    with np.errstate(all="ignore"):
        return float(OPS[op].numpy(*(np.float64(float.fromhex(c)) for c in constants)))


def _coefficient(node) -> tuple[float, object]:
    """Split `c*rest` into (c, rest); (1, node) when there is no numeric factor."""
    if node.op == "mul" and node.args[0].is_const:
        return node.args[0].attr, node.args[1]
    return 1.0, node


def _add(g, a, b):
    if a.is_value(0):
        return b
    if b.is_value(0):
        return a
    if b.op == "neg":
        return g.apply("sub", a, b.args[0])
    if a.op == "neg":
        return g.apply("sub", b, a.args[0])
    if a is b:
        return g.apply("mul", g.const(2.0), a)
    return None


def _sub(g, a, b):
    if b.is_value(0):
        return a
    if a.is_value(0):
        return g.apply("neg", b)
    if a is b:
        return g.const(0.0)
    if b.op == "neg":
        return g.apply("add", a, b.args[0])
    if b.is_const and b.attr < 0:
        return g.apply("add", a, g.const(-b.attr))
    return None


def _mul(g, a, b):
    if b.is_const and not a.is_const:
        return g.apply("mul", b, a)
    if a.is_value(0):
        return a
    if a.is_value(1):
        return b
    if a.is_value(-1):
        return g.apply("neg", b)
    if a.op == "neg":
        return g.apply("neg", g.apply("mul", a.args[0], b))
    if b.op == "neg":
        return g.apply("neg", g.apply("mul", a, b.args[0]))
    if a.op == "div" and a.args[0].is_value(1):
        return g.apply("div", b, a.args[1])
    if b.op == "div" and b.args[0].is_value(1):
        return g.apply("div", a, b.args[1])
    if a is b:
        return g.apply("pow", a, g.const(2.0))
    (ca, ra), (cb, rb) = _coefficient(a), _coefficient(b)
    if cb == 1:  # already c*a*b, or nothing to gather
        return None
    coefficient = ca * cb
    if a.is_const:
        return g.apply("mul", g.const(a.attr * cb), rb)
    # Keep a monomial like 2*x in front: cos(x**2)*(2*x) -> 2*x*cos(x**2).
    if rb.op == "var" and ca == 1:
        return g.apply("mul", g.apply("mul", g.const(coefficient), rb), ra)
    return g.apply("mul", g.apply("mul", g.const(coefficient), ra), rb)


def _div(g, a, b):
    if b.is_value(1):
        return a
    if a.is_value(0):
        return a
    if a is b:
        return g.const(1.0)
    if a.op == "neg":
        return g.apply("neg", g.apply("div", a.args[0], b))
    if b.op == "neg":
        return g.apply("neg", g.apply("div", a, b.args[0]))
    return None


def _neg(g, a):
    if a.op == "neg":
        return a.args[0]
    if a.op == "sub":
        return g.apply("sub", a.args[1], a.args[0])
    coefficient, rest = _coefficient(a)
    if coefficient != 1:
        return g.apply("mul", g.const(-coefficient), rest)
    return None


def _pow(g, a, b):
    if b.is_value(0):
        return g.const(1.0)
    if b.is_value(1):
        return a
    if a.is_value(1):
        return a
    return None


_RULES = {"add": _add, "sub": _sub, "mul": _mul, "div": _div, "neg": _neg, "pow": _pow}
