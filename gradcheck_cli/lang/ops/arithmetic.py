"""Arithmetic and comparisons: + - * / unary - ** and > >= < <= == != (which derivative rules of piecewise ops
use: a comparison is 1 or 0, with a zero gradient)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .builders import eq, log
from .record import OpSpec, mp_kernel


def _pow_domain(a, b):
    integral = np.equal(np.round(b), b)
    return (a > 0) | (integral & ((a != 0) | (b >= 1)))


def _comparison(name: str, symbol: str, np_fn: Callable, torch_fn: Callable) -> OpSpec:
    return OpSpec(
        name, 2, mp=mp_kernel(name),
        numpy=lambda a, b: np_fn(a, b).astype(np.result_type(a, b, np.float32)),
        torch=lambda a, b: torch_fn(a, b).to(a.dtype),
        syntax="infix", symbol=symbol, precedence=5, analytic=False, kinks=lambda a, b: [a - b],
        doc=f"1 where a {symbol} b, else 0; zero gradient",
    )


OPS = [
    # ---- arithmetic ----
    OpSpec("add", 2, np.add, lambda a, b: a + b, partials=(lambda a, b, out: 1, lambda a, b, out: 1),
           syntax="infix", symbol="+", precedence=10),
    OpSpec("sub", 2, np.subtract, lambda a, b: a - b, partials=(lambda a, b, out: 1, lambda a, b, out: -1),
           syntax="infix", symbol="-", precedence=10),
    OpSpec("mul", 2, np.multiply, lambda a, b: a * b, partials=(lambda a, b, out: b, lambda a, b, out: a),
           syntax="infix", symbol="*", precedence=20),
    OpSpec("div", 2, np.divide, lambda a, b: a / b,
           partials=(lambda a, b, out: 1 / b, lambda a, b, out: -a / b**2),
           syntax="infix", symbol="/", precedence=20, mp=mp_kernel("div"),
           domain=lambda a, b: b != 0, domain_text="the divisor must be non-zero"),
    OpSpec("neg", 1, np.negative, lambda a: -a, partials=(lambda a, out: -1,),
           syntax="prefix", symbol="-", precedence=30),
    OpSpec("pow", 2, np.power, lambda a, b: a**b,
           # d/db is 0 at a = 0 (b > 0): log(a + (a == 0)) is log(a) elsewhere and 0 there.
           partials=(lambda a, b, out: b * a ** (b - 1), lambda a, b, out: out * log(a + eq(a, 0))),
           syntax="infix", symbol="**", precedence=40, right_assoc=True, call_name="pow", mp=mp_kernel("pow"),
           domain=_pow_domain, domain_text="a**b needs a > 0 unless b is an integer (and b >= 1 at a = 0)",
           arg_domains={1: (lambda a, b: (a > 0) | ((a == 0) & (b > 0)),
                            "a**b is differentiable in b only where a > 0")}),
    # ---- comparisons ----
    _comparison("gt", ">", np.greater, lambda a, b: a > b),
    _comparison("ge", ">=", np.greater_equal, lambda a, b: a >= b),
    _comparison("lt", "<", np.less, lambda a, b: a < b),
    _comparison("le", "<=", np.less_equal, lambda a, b: a <= b),
    _comparison("eq", "==", np.equal, lambda a, b: a == b),
    _comparison("ne", "!=", np.not_equal, lambda a, b: a != b),
]
