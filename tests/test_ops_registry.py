"""Every operation of the registry (gradcheck_cli/lang/ops/, a module per family), one table row each.

For each op: the numpy and torch implementations agree (one point at a time
and batched, as finite differences run them); where the op is
differentiable, `check()` of the op applied to variables passes with
symbolic == autograd and finite differences close; where it is not, every
engine reports a zero gradient; and the printed form of an expression using
the op parses back to the same graph.  Tensor ops (reductions, softmax,
matmul, indexing, ...) take sample points with their static attribute (`At`)
and are checked through expressions reduced to a scalar (`Case`), e.g.
sum(softmax(x)*w).  Then the printer's precedence rules
are checked against Python's own grammar (the language follows Python's
precedence) and against the parser, for hand-picked tricky expressions, for
every pair of operators, and for derivative graphs built by the symbolic engine.

Adding an op to the registry without a row in OP_TABLE fails
`test_every_op_has_a_row`.
"""

from __future__ import annotations

import ast
import itertools
import math
import re

import numpy as np
import pytest
import torch
from op_rows import FAMILY_ROWS, At, C, Case, Row, S, opts, split

from gradcheck_cli import check
from gradcheck_cli.engines.symbolic import gradient_nodes
from gradcheck_cli.lang.graph import Node, ancestors, same_structure, to_text
from gradcheck_cli.lang.ops import CONSTANTS, FUNCTIONS, INFIX, OPS, OVERLOADS, POSTFIX, PREFIX
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.lang.shapes import ShapeMap

RTOL = 1e-12


M23 = [[0.5, -1.0, 2.0], [1.5, 3.0, -0.25]]
M23B = [[-0.75, 1.25, 0.5], [2.0, -1.5, 1.0]]
M32 = [[0.25, -2.0], [1.25, 0.5], [-1.5, 3.0]]
M22 = [[1.0, -0.5], [0.25, 2.0]]
V3 = [0.5, -1.0, 2.0]
V3B = [1.25, 0.75, -0.5]
V2 = [1.5, -0.5]
# linear algebra: an invertible 3x3, symmetric positive definite matrices (cholesky, logdet)
LA33 = [[1.5, -0.5, 0.25], [0.75, 2.0, -1.0], [0.5, 0.25, 1.25]]
LS22 = [[2.0, 0.5], [0.5, 1.5]]
LS22B = [[1.0, -0.3], [-0.3, 0.8]]
LS33 = [[4.0, 1.0, -0.5], [1.0, 3.0, 0.25], [-0.5, 0.25, 2.0]]
LS33B = [[1.0, 0.2, 0.1], [0.2, 2.0, -0.7], [0.1, -0.7, 5.0]]
LM32B = [[-0.75, 2.0], [1.25, -1.5], [0.5, 1.0]]
BINARY = [(0.7, -1.3), (2.5, 3.25), (-4.0, 0.125)]
COMPARE = [(0.7, -1.3), (-1.3, 0.7), (-2.5, 3.0)]
TIES = [(2.0, 2.0), (-0.5, -0.5)]
# reductions: over everything, along each axis, and of a scalar
AXES = [At((M23,), (0,)), At((M23,), (1,)), At((M23,), (-1,)), At((M23,), (-2,)), At((V3,), (0,)),
        At((V3,), (-1,)), At((1.5,))]
# values whose exp overflows: the kernels must shift by the maximum
LARGE = [At(([1000.0, 1001.0, 999.5],)), At(([[-1000.0, 5.0], [1000.0, 2.0]],), (0,))]

OP_TABLE: dict[str, Row] = {
    "add": Row(("a", "b"), BINARY),
    "sub": Row(("a", "b"), BINARY),
    "mul": Row(("a", "b"), BINARY),
    "div": Row(("a", "b"), BINARY),
    "neg": Row(("a",), [(0.7,), (-2.5,)]),
    "pow": Row(("a", "b"), [(1.7, 2.3), (0.4, -1.5), (3.0, 0.5)],
               # negative bases with integer exponents: forward only (d/db is undefined there)
               forward_only=[(-1.3, 3.0), (-2.0, -2.0)],
               checks=["a**b", "pow(a, b)"]),
    "gt": Row(("a", "b"), COMPARE, TIES),
    "ge": Row(("a", "b"), COMPARE, TIES),
    "lt": Row(("a", "b"), COMPARE, TIES),
    "le": Row(("a", "b"), COMPARE, TIES),
    "eq": Row(("a", "b"), COMPARE, TIES),
    "ne": Row(("a", "b"), COMPARE, TIES),
    "sin": Row(("x",), [(0.7,), (-2.1,), (3.5,)]),
    "cos": Row(("x",), [(0.7,), (-2.1,), (3.5,)]),
    "tan": Row(("x",), [(0.7,), (-1.2,), (2.0,)]),
    "asin": Row(("x",), [(0.3,), (-0.8,), (0.95,)]),
    "acos": Row(("x",), [(0.3,), (-0.8,), (0.95,)]),
    "atan": Row(("x",), [(0.7,), (-3.0,), (12.0,)]),
    "sinh": Row(("x",), [(0.7,), (-1.5,), (3.0,)]),
    "cosh": Row(("x",), [(0.7,), (-1.5,), (3.0,)]),
    "tanh": Row(("x",), [(0.7,), (-1.5,), (3.0,)]),
    "exp": Row(("x",), [(0.7,), (-2.0,), (5.0,)]),
    "expm1": Row(("x",), [(0.7,), (-2.0,), (1e-10,)]),
    "log": Row(("x",), [(0.3,), (2.0,), (150.0,)]),
    "log1p": Row(("x",), [(-0.5,), (0.3,), (20.0,)]),
    "sqrt": Row(("x",), [(0.3,), (2.0,), (150.0,)]),
    "sigmoid": Row(("x",), [(0.7,), (-4.0,), (8.0,)]),
    # (torch's softplus is linear above its threshold 20: stay below it)
    "softplus": Row(("x",), [(0.7,), (-4.0,), (8.0,)]),
    "relu": Row(("x",), [(0.7,), (-1.5,)]),
    "leaky_relu": Row(("x",), [(0.7,), (-1.5,), At((-1.5,), opts("leaky_relu", negative_slope=0.2))],
                      [At((-2.0,), opts("leaky_relu", negative_slope=-0.5))],
                      checks=["leaky_relu(x)", "leaky_relu(x, negative_slope=0.2)", "leaky_relu(x, 1.5)*x"]),
    # ---- activations family of issue 17 (ops/activations.py): points in the tails and on both sides of each
    # kink (gelu not below -3.5: torch's 1 + erf(x/sqrt(2)) loses digits there, 1e-10 at -6 and all at -10, where
    # ours keeps erfc's) ----
    "gelu": Row(("x",), [(0.7,), (-2.5,), (-3.5,), (12.0,), At((-1.5,), opts("gelu", approximate="tanh")),
                         At((2.5,), opts("gelu", approximate="tanh")), At((-3.0,), opts("gelu", approximate="tanh"))],
                checks=["gelu(x)", "gelu(x, approximate='tanh')", "gelu(x, approximate='none')*x"]),
    "elu": Row(("x",), [(0.7,), (-1.5,), (-40.0,), At((-0.5,), opts("elu", alpha=2.0))],
               [At((0.0,), opts("elu", alpha=0.5))],
               checks=["elu(x)", "elu(x, alpha=2.0)", "elu(x, 0.3)*x"]),
    "selu": Row(("x",), [(0.7,), (-1.5,), (-30.0,), (50.0,)], [(0.0,)]),
    "celu": Row(("x",), [(0.7,), (-1.5,), (-30.0,), At((-10.0,), opts("celu", alpha=0.5))],
                [(0.0,), At((0.0,), opts("celu", alpha=2.0))],
                checks=["celu(x)", "celu(x, alpha=0.5)", "celu(x, 2.0)**2"]),
    "silu": Row(("x",), [(0.7,), (-2.5,), (-700.0,), (40.0,)]),
    "mish": Row(("x",), [(0.7,), (-2.5,), (-30.0,), (25.0,)]),
    "hardtanh": Row(("x",), [(0.7,), (-1.5,), (2.0,), At((0.3,), opts("hardtanh", min_val=-2.0, max_val=0.5)),
                             At((0.6,), opts("hardtanh", min_val=-2.0, max_val=0.5))],
                    [(1.0,), (-1.0,)],
                    checks=["hardtanh(x)", "hardtanh(x, min_val=-2.0, max_val=0.5)", "hardtanh(x, -0.5, 3.0)*x"]),
    "hardswish": Row(("x",), [(0.7,), (-2.5,), (-3.5,), (3.5,), (-1e-3,)], [(-3.0,), (3.0,)]),
    "hardsigmoid": Row(("x",), [(0.7,), (-2.5,), (-3.5,), (3.5,)], [(-3.0,), (3.0,)]),
    # (softsign not at 1e6: torch differentiates x/(1 + |x|) as a quotient, 1/(1 + |x|) - |x|/(1 + |x|)**2, which
    # keeps 10 digits there; the rule 1/(1 + |x|)**2 keeps them all)
    "softsign": Row(("x",), [(0.7,), (-2.5,), (1e-3,), (-50.0,)], [(0.0,)]),
    "logsigmoid": Row(("x",), [(0.7,), (-2.5,), (-700.0,), (35.0,)]),
    "abs": Row(("x",), [(0.7,), (-1.5,)]),
    "sign": Row(("x",), [(0.7,), (-1.5,)], forward_only=[(0.0,)]),
    "clamp": Row(("x", "lo", "hi"), [(0.5, -1.0, 2.0), (-3.0, -1.0, 2.0), (4.0, -1.0, 2.0)]),
    "min": Row(("a", "b"), [(0.7, -1.3), (-1.3, 0.7)], forward_only=TIES),
    "max": Row(("a", "b"), [(0.7, -1.3), (-1.3, 0.7)], forward_only=TIES),
    # ---- elementwise family of issue 17 (ops/elementwise.py): powers, logarithms, special functions ----
    "exp2": Row(("x",), [(0.7,), (-3.5,), (10.0,)]),
    "log2": Row(("x",), [(0.3,), (5.0,), (1e5,)]),
    "log10": Row(("x",), [(0.3,), (5.0,), (1e5,)]),
    "reciprocal": Row(("x",), [(0.7,), (-2.5,), (1e-3,)], checks=["reciprocal(x)", "reciprocal(x**2 + 1)*x"]),
    "rsqrt": Row(("x",), [(0.3,), (4.0,), (1e4,)]),
    "square": Row(("x",), [(0.7,), (-2.5,), (1e3,)], checks=["square(x)", "square(sin(x))"]),
    "sinc": Row(("x",), [(0.3,), (-1.7,), (2.5,)], forward_only=[(0.0,), (1e-9,)],
                checks=["sinc(x)", "sinc(x)*x", C("sinc(x)", x=0.0), C("sinc(x)", x=0.1)]),
    "erf": Row(("x",), [(0.7,), (-2.0,), (4.5,), (1e-8,)], forward_only=[(0.0,), (30.0,)]),
    "erfc": Row(("x",), [(0.7,), (-2.0,), (6.0,)], forward_only=[(0.0,), (26.0,)]),
    "erfinv": Row(("x",), [(0.3,), (-0.9,), (0.999999,)], forward_only=[(0.0,), (-1e-10,)]),
    "lgamma": Row(("x",), [(0.7,), (4.5,), (-2.5,), (-3.7,), (1e-3,)], forward_only=[(1.0,), (2.0,), (250.0,)],
                  checks=["lgamma(x)", "exp(lgamma(x))*x"]),
    # torch's float64 trigamma (polygamma(1, x), digamma's derivative) is off by up to 5e-10 relative on about
    # [0.1, 10] (4e-10 at 0.7; scipy and mpmath agree to 1e-16): rows at RTOL keep to points where it is exact
    # (test_elementwise_family.py checks 0.7 against mpmath)
    "digamma": Row(("x",), [(1e-3,), (-10.5,), (50.0,), (-0.01,)], forward_only=[(1.0,), (0.7,), (-2.5,)],
                   checks=["digamma(x)", "digamma(x)**2"]),
    "polygamma": Row(("x",), [(1e-3,), (-10.5,), (50.0,)], forward_only=[At((2.5,), opts("polygamma", n=2)),
                                                                         At((-0.3,), opts("polygamma", n=3))],
                     checks=["polygamma(x)", "polygamma(x, n=2)", "polygamma(x, n=3)*x"]),
    "logit": Row(("x",), [(0.3,), (0.85,), (1e-4,), At((0.05,), opts("logit", eps=0.1)),
                          At((0.5,), opts("logit", eps=0.1))],
                 [At((1.5,), opts("logit", eps=0.2)), At((-3.0,), opts("logit", eps=1e-6))],
                 checks=["logit(x)", "logit(x, eps=0.1)", "logit(x, 1e-6)*x", "logit(sigmoid(x))"]),
    "atan2": Row(("a", "b"), [(0.7, -1.3), (2.5, 3.25), (-4.0, 0.125), (-0.5, -2.0), (1e-3, -1e3)],
                 forward_only=[(0.0, 1.0), (1.0, 0.0)], checks=["atan2(a, b)", "atan2(a, b)**2"]),
    "hypot": Row(("a", "b"), [(0.7, -1.3), (3.0, 4.0), (1e-3, 2e3), (3e100, -4e100)], forward_only=[(0.0, -2.0)]),
    "xlogy": Row(("x", "y"), [(0.7, 1.3), (-2.5, 0.25), (3.0, 40.0)], forward_only=[(0.0, 2.0), (0.0, 0.0)]),
    "maximum": Row(("a", "b"), [(0.7, -1.3), (-1.3, 0.7)], forward_only=TIES),
    "minimum": Row(("a", "b"), [(0.7, -1.3), (-1.3, 0.7)], forward_only=TIES),
    "detach": Row(("x",), [(0.7,), (-2.0,)], checks=["detach(x)", "x*detach(x)", "sin(detach(x))*x"]),
    "expand": Row(("x", "l"), [([1.0, 2.0, 3.0], M23), ([[1.0], [2.0]], M23), (1.5, V3)],
                  checks=["sum(expand(x, l)**2)", "sum(expand(x, l)*l)"]),
    "sum_to": Row(("g", "l"), [(M23, [1.0, 2.0, 3.0]), (M23, [[1.0], [2.0]]), (V3, [1.0])],
                  checks=["sum(sum_to(g, l)**2)", "sum(sum_to(g, l)*l)"]),
    # ---- rounding family of issue 17 (ops/rounding.py, mp_rounding.py): points off the jumps (on them the
    # derivative does not exist: tests/test_jumps.py); the jumps themselves forward only, half to even for round ----
    "floor": Row(("x",), [(2.3,), (-1.7,), (1e6 + 0.25,)], [(2.0,), (-0.5,), (-3.0,)],
                 checks=["floor(x)", C("sin(floor(x)*x)", x=2.3), "x*floor(x)"]),
    "ceil": Row(("x",), [(2.3,), (-1.7,), (0.25,)], [(2.0,), (-0.5,)], checks=["ceil(x)", "x*ceil(x)"]),
    "round": Row(("x",), [(2.3,), (-1.7,), (0.7,), At((1.2345,), opts("round", decimals=2)),
                          At((1234.0,), opts("round", decimals=-2))],
                 [(0.5,), (1.5,), (2.5,), (-0.5,), (-2.5,), At((0.125,), opts("round", decimals=2)),
                  At((1250.0,), opts("round", decimals=-2))],
                 checks=["round(x)", "x*round(x)", "round(x, decimals=2)*x", "x**2 + round(x, decimals=-1)"]),
    "trunc": Row(("x",), [(2.3,), (-1.7,), (0.25,)], [(2.0,), (-2.0,), (-0.5,)], checks=["trunc(x)", "x*trunc(x)"]),
    "frac": Row(("x",), [(2.3,), (-1.7,), (0.25,), (-0.25,)], [(2.0,), (-2.0,), (0.0,)],
                checks=["frac(x)", "frac(x)**2"]),
    "fmod": Row(("a", "b"), [(3.2, 1.5), (-3.2, 1.5), (3.2, -1.5), (-7.0, 2.5), (0.3, 0.7)],
                [(3.0, 1.5), (-3.0, 1.5), (0.0, 2.0)], checks=["fmod(a, b)", "fmod(a*a, b)*b"]),
    "remainder": Row(("a", "b"), [(3.2, 1.5), (-3.2, 1.5), (3.2, -1.5), (-7.0, 2.5), (0.3, 0.7)],
                     [(3.0, 1.5), (-3.0, 1.5), (0.0, 2.0), (-0.0, -2.0)],
                     checks=["remainder(a, b)", "remainder(a*a, b)*b"]),
    # ---- reductions: all elements, or one axis (sum(x, 0)) ----
    "sum": Row(("x",), [(V3,), (M23,)], AXES,
               checks=["sum(x)", "sum(x*x)", C("sum(sum(x, 0)*w)", x=M23, w=V3),
                       C("sum(sum(x, -1)**2)", x=M23), C("sum(x, 0)*y", x=V3, y=1.5)]),
    "mean": Row(("x",), [(V3,), (M23,)], AXES,
                checks=["mean(x)", "mean(sin(x))", C("sum(mean(x, 1)*w)", x=M23, w=V2),
                        C("sum(mean(x, -2)**2)", x=M23)]),
    # (M23 has no ties, overall or along either axis)
    "amax": Row(("x",), [(V3,), (M23,)], AXES + [At(([1.0, 3.0, 3.0],)), At(([[2.0, 2.0], [1.0, 2.0]],), (1,))],
                checks=["amax(x)", "max(x)", "amax(x**2)", C("sum(amax(x, 0)*w)", x=M23, w=V3),
                        C("sum(amax(x, -1)*w)", x=M23, w=V2), C("max(x)*sum(max(x, y))", x=V3, y=1.5)]),
    "amin": Row(("x",), [(V3,), (M23,)], AXES + [At(([1.0, -3.0, -3.0],)), At(([[2.0, 2.0], [1.0, 2.0]],), (0,))],
                checks=["amin(x)", "min(x)", "amin(x**2)", C("sum(amin(x, 1)*w)", x=M23, w=V2),
                        C("sum(amin(x, 0)*w)", x=M23, w=V3), C("min(x)*sum(min(x, y))", x=V3, y=-0.5)]),
    "prod": Row(("x",), [(V3,), (M23,)], AXES + [At(([0.0, 2.0, 3.0],))],
                checks=["prod(x)", "prod(2*x)", C("sum(prod(x, 0)*w)", x=M23, w=V3),
                        C("sum(prod(x, 1)**2)", x=M23)]),
    "norm": Row(("x",), [(V3,), (M23,)], AXES,
                checks=["norm(x)", "norm(x)**2", C("sum(norm(x, dim=1)*w)", x=M23, w=V2),
                        C("sum(norm(x, dim=0)*w)", x=M23, w=V3)]),
    "logsumexp": Row(("x",), [(V3,), (M23,)], AXES + LARGE,
                     checks=["logsumexp(x)", "logsumexp(2*x)", C("sum(logsumexp(x, 0)*w)", x=M23, w=V3),
                             C("sum(logsumexp(x, -1)*w)", x=M23, w=V2)]),
    "softmax": Row(("x",), [(V3,), (M23,)], AXES + LARGE,
                   checks=[C("sum(softmax(x)*w)", x=V3, w=V3B), C("sum(softmax(x)*w)", x=M23, w=M23B),
                           C("sum(softmax(x, 0)*w)", x=M23, w=M23B), C("sum(softmax(x, -2)**2)", x=M23),
                           C("softmax(x)[1]", x=V3)]),
    "log_softmax": Row(("x",), [(V3,), (M23,)], AXES + LARGE,
                       checks=[C("-sum(y*log_softmax(x))", x=V3, y=[0.0, 1.0, 0.0]),
                               C("sum(log_softmax(x)*w)", x=M23, w=M23B),
                               C("sum(log_softmax(x, 0)*w)", x=M23, w=M23B),
                               C("sum(log_softmax(x, 1)**2)", x=M23)]),
    # ---- reductions family: statistics and scans with options (var, std, cumsum, cumprod, logcumsumexp) ----
    "variance": Row(("x",), [(V3,), (M23,), At((M23,), opts("variance", dim=(0,))),
                             At((M23,), opts("variance", dim=(1,), correction=0, keepdim=True)),
                             At((M23,), opts("variance", dim=(0, 1), keepdim=True))],
                    # (near-equal large elements: float64 keeps about 8 digits of x - mean, forward only)
                    [At((1.5,), opts("variance", correction=0)), At((M23,), opts("variance", dim=(-1, -2))),
                     At(([1e8 + 1.0, 1e8 - 2.0, 1e8 + 0.5],), opts("variance", correction=2))],
                    checks=["var(x)", "var(x, correction=0)", C("sum(var(x, 0)*w)", x=M23, w=V3),
                            C("sum(var(x, dim=(0, 1), keepdim=True)*w)", x=M23, w=[[2.0]]),
                            C("sum(var(x, dim=-1, correction=0, keepdim=True)*w)", x=M23, w=[[1.5], [-0.5]])],
                    text="var(x)"),
    "std": Row(("x",), [(V3,), (M23,), At((M23,), opts("std", dim=(0,))),
                        At((M23,), opts("std", dim=(1,), correction=0, keepdim=True))],
               [At(([2.0, 2.0, 2.0],)), At(([1e8 + 1.0, 1e8 - 2.0, 1e8 + 0.5],), opts("std", correction=0))],
               checks=["std(x)", "std(x, correction=0)", C("sum(std(x, 0)*w)", x=M23, w=V3),
                       C("sum(std(x, dim=(1, 0), keepdim=True)*w)", x=M23, w=[[2.0]]),
                       C("sum(std(x, 1, correction=2)*w)", x=M23, w=V2)]),
    "cumsum": Row(("x",), [At((V3,), opts("cumsum", dim=0)), At((M23,), opts("cumsum", dim=1)),
                           At((M23,), opts("cumsum", dim=-2)), At((1.5,), opts("cumsum", dim=0))],
                  checks=[C("sum(cumsum(x, 0)*w)", x=V3, w=V3B), C("sum(cumsum(x, dim=1)**2)", x=M23),
                          C("sum(cumsum(x, -2)*w)", x=M23, w=M23B), C("cumsum(x, 0)*x", x=1.5)],
                  text="cumsum(x, 0)"),
    "cumsum_reverse": Row(("x",), [At((V3,), opts("cumsum_reverse", dim=0)),
                                   At((M23,), opts("cumsum_reverse", dim=1)),
                                   At((M23,), opts("cumsum_reverse", dim=-2))],
                          checks=[C("sum(cumsum_reverse(x, 0)*w)", x=V3, w=V3B),
                                  C("sum(cumsum_reverse(x, dim=0)**2)", x=M23)],
                          text="cumsum_reverse(x, 0)"),
    # cumprod's gradient with one and with two zeros in a slice (torch's rule for zeros is the reference)
    "cumprod": Row(("x",), [At((V3,), opts("cumprod", dim=0)), At((M23,), opts("cumprod", dim=1)),
                            At((M23,), opts("cumprod", dim=0)), At(([0.5, 0.0, 2.0, 3.0],), opts("cumprod", dim=0)),
                            At(([[0.5, 0.0, 2.0, 0.0], [0.0, 1.5, 0.0, 2.0]],), opts("cumprod", dim=1)),
                            At(([[0.0, 2.0], [0.0, -1.5], [3.0, 0.0]],), opts("cumprod", dim=0))],
                   checks=[C("sum(cumprod(x, 0)*w)", x=V3, w=V3B), C("sum(cumprod(x, dim=1)**2)", x=M23),
                           C("sum(cumprod(x, 0)*w)", x=[0.5, 0.0, 2.0, 3.0], w=[1.0, 2.0, -3.0, 0.5]),
                           C("sum(cumprod(x, 0)*w)", x=[0.0, 1.5, -2.0], w=V3B),
                           C("sum(cumprod(x, 0)*w)", x=[1.5, -2.0, 0.0], w=V3B),
                           C("sum(cumprod(x, -1)*w)", x=[[0.5, 0.0, 2.0, 0.0], [0.0, 1.5, 0.0, 2.0]],
                             w=[1.0, 2.0, 3.0, -1.0]),
                           C("sum(cumprod(x, 0)*w)", x=[0.0, 0.0, 2.0], w=V3B)],
                   text="cumprod(x, 0)"),
    "logcumsumexp": Row(("x",), [At((V3,), opts("logcumsumexp", dim=0)), At((M23,), opts("logcumsumexp", dim=1)),
                                 At((M23,), opts("logcumsumexp", dim=0)),
                                 At(([1000.0, 1001.0, 999.5],), opts("logcumsumexp", dim=0)),
                                 At(([-1000.0, 5.0, -3.0],), opts("logcumsumexp", dim=0))],
                        checks=[C("sum(logcumsumexp(x, 0)*w)", x=V3, w=V3B),
                                C("sum(logcumsumexp(x, dim=1)**2)", x=M23),
                                C("sum(logcumsumexp(x, 0)*w)", x=[1000.0, 1001.0, 999.5], w=V3B),
                                C("sum(logcumsumexp(x, -2)*w)", x=M23, w=M23B)],
                        text="logcumsumexp(x, 0)"),
    # sort and topk give values only; the gradient routes to the chosen elements, and ties are kinks
    "sort": Row(("x",), [(V3,), (M23,), At((M23,), opts("sort", dim=0)), At((M23,), opts("sort", descending=True)),
                         At((V3,), opts("sort", dim=0, descending=True)), At((1.5,))],
                [At(([1.0, 1.0, 2.0],)), At(([[2.0, 2.0], [1.0, 2.0]],), opts("sort", dim=0))],
                checks=[C("sum(sort(x)*w)", x=V3, w=V3B), C("sum(sort(x, 0, descending=True)*w)", x=M23, w=M23B),
                        C("sum(sort(x, dim=-1)*w)", x=M23, w=M23B), C("sum(sort(x**2)*w)", x=V3, w=V3B)]),
    "topk": Row(("x",), [At((V3,), opts("topk", k=2)), At((M23,), opts("topk", k=1, dim=0, largest=False)),
                         At((M23,), opts("topk", k=2, dim=1)), At((V3,), opts("topk", k=3, largest=False)),
                         At((V3,), opts("topk", k=0))],
                [At(([1.0, 2.0, 2.0],), opts("topk", k=1)), At(([1.0, 1.0, 2.0],), opts("topk", k=1))],
                checks=[C("sum(topk(x, 2)*w)", x=V3, w=V2), C("sum(topk(x, 1, dim=0, largest=False)*w)", x=M23, w=V3),
                        C("sum(topk(x, k=2, dim=1)**2)", x=M23), C("sum(topk(x, 1)*w)", x=[1.0, 1.0, 2.0], w=[1.5])],
                text="topk(x, 2)"),
    "sort_by": Row(("v", "k"), [At((V3, V3B), opts("sort_by")), At((M23, M23B), opts("sort_by", dim=0, k=1)),
                                At((M23, M23B), opts("sort_by", descending=True, k=2))],
                   checks=[C("sum(sort_by(v, k, 0, descending=True, k=2)*w)", v=V3, k=V3B, w=V2),
                           C("sum(sort_by(v, k)**2)", v=M23, k=M23B)],
                   text="sort_by(v, k)"),
    "unsort": Row(("v", "k"), [At((V3, V3B), opts("unsort")),
                               At(([[0.5, 2.0, -1.0]], M23B), opts("unsort", dim=0, k=1)),
                               At((V2, V3B), opts("unsort", descending=True, k=2))],
                  checks=[C("sum(unsort(v, k, 0, descending=True, k=2)*w)", v=V2, k=V3B, w=V3),
                          C("sum(unsort(v, k)**2)", v=M23, k=M23B)],
                  text="unsort(v, k)"),
    # sum, mean, amax, amin over several dims and with keepdim (the parser's overloads for a tuple of dims or keepdim)
    "sum_dims": Row(("x",), [At((M23,), opts("sum_dims", dim=(0, 1), keepdim=True)),
                             At((M23,), opts("sum_dims", dim=(1,), keepdim=True)),
                             At((M23,), opts("sum_dims", dim=(-1, 0))),
                             At((V3,), opts("sum_dims", keepdim=True)),
                             At((1.5,), opts("sum_dims", dim=(0,), keepdim=True))],
                    checks=[C("sum(sum(x, dim=(0, 1), keepdim=True)*w)", x=M23, w=[[2.0]]),
                            C("sum(sum(x, dim=0, keepdim=True)*w)", x=M23, w=[[1.0, 2.0, 3.0]]),
                            C("sum(sum(x**2, dim=(1,))*w)", x=M23, w=V2)],
                    text="sum(x, dim=(0, 1), keepdim=True)"),
    "mean_dims": Row(("x",), [At((M23,), opts("mean_dims", dim=(0, 1), keepdim=True)),
                              At((M23,), opts("mean_dims", dim=(0,), keepdim=True)),
                              At((M23,), opts("mean_dims", dim=(1, 0))),
                              At((V3,), opts("mean_dims", keepdim=True))],
                     checks=[C("sum(mean(x, dim=(0, 1), keepdim=True)*w)", x=M23, w=[[2.0]]),
                             C("sum(mean(x, dim=-1, keepdim=True)*w)", x=M23, w=[[1.5], [-0.5]])],
                     text="mean(x, dim=(0, 1), keepdim=True)"),
    "amax_dims": Row(("x",), [At((M23,), opts("amax_dims", dim=(0, 1), keepdim=True)),
                              At((M23,), opts("amax_dims", dim=(0,), keepdim=True)),
                              At((M23,), opts("amax_dims", dim=(1, 0))),
                              At((V3,), opts("amax_dims", keepdim=True))],
                     [At(([[1.0, 3.0], [3.0, 0.0]],), opts("amax_dims", dim=(0, 1)))],
                     checks=[C("sum(amax(x, dim=(0, 1), keepdim=True)*w)", x=M23, w=[[2.0]]),
                             C("sum(amax(x, dim=0, keepdim=True)*w)", x=M23, w=[[1.0, 2.0, 3.0]])],
                     text="amax(x, dim=(0, 1), keepdim=True)"),
    "amin_dims": Row(("x",), [At((M23,), opts("amin_dims", dim=(0, 1), keepdim=True)),
                              At((M23,), opts("amin_dims", dim=(1,), keepdim=True)),
                              At((M23,), opts("amin_dims", dim=(1, 0))),
                              At((V3,), opts("amin_dims", keepdim=True))],
                     [At(([[1.0, -3.0], [-3.0, 0.0]],), opts("amin_dims", dim=(0, 1)))],
                     checks=[C("sum(amin(x, dim=(0, 1), keepdim=True)*w)", x=M23, w=[[2.0]]),
                             C("sum(amin(x, dim=1, keepdim=True)*w)", x=M23, w=[[2.0], [-1.0]])],
                     text="amin(x, dim=(0, 1), keepdim=True)"),
    "max_dim": Row(("x",), [At((M23,), opts("max_dim", dim=1)), At((M23,), opts("max_dim", dim=0, keepdim=True)),
                            At((V3,), opts("max_dim", dim=-1))],
                   [At(([[1.0, 3.0], [3.0, 3.0]],), opts("max_dim", dim=1))],
                   checks=[C("sum(max(x, dim=1)[0]*w)", x=M23, w=V2),
                           C("sum(max(x, dim=0, keepdim=True)*w)", x=M23, w=[[1.0, 2.0, 3.0]])],
                   text="max(x, dim=1)"),
    "min_dim": Row(("x",), [At((M23,), opts("min_dim", dim=1)), At((M23,), opts("min_dim", dim=-2, keepdim=True)),
                            At((V3,), opts("min_dim", dim=0))],
                   [At(([[1.0, -3.0], [-3.0, -3.0]],), opts("min_dim", dim=0))],
                   checks=[C("sum(min(x, dim=1)[0]*w)", x=M23, w=V2),
                           C("sum(min(x, dim=-2, keepdim=True)*w)", x=M23, w=[[1.0, 2.0, 3.0]])],
                   text="min(x, dim=1)"),
    # ---- linear algebra and shapes ----
    "matmul": Row(("a", "b"), [(V3, V3B), (M23, V3), (V2, M23), (M23, M32), (M22, M22),
                               # batched over leading dims, broadcasting them (shape and indexing family, issue 17)
                               ([M23, M23B], [M32, M32]), (V3, [M32, M32]), ([M23, M23B], V3), (M23, [[M32], [M32]]),
                               ([[M23, M23B]], [[M32], [M32]])],
                  checks=["sum(a @ b)", "sum((a @ b)**2)", "sum(dot(a, b)**2)", "sum(matmul(a, b)**3)",
                          C("sum((a @ b) @ c)", a=M23, b=M32, c=V2), C("a @ b @ c", a=V2, b=M23, c=V3),
                          C("sum(swapaxes(a @ b, -1, -2) @ c)", a=[M23, M23B], b=[M32, M32], c=[V2, V2])]),
    "swapaxes": Row(("x",), [At(([M23, M23B],), opts("swapaxes", axis0=-2, axis1=-1)),
                             At((M23,), opts("swapaxes", axis0=0, axis1=1)),
                             At(([M23, M23B],), opts("swapaxes", axis0=0, axis1=2))],
                    [At((V3,), opts("swapaxes", axis0=0, axis1=-1))],
                    checks=[C("sum(swapaxes(x, -2, -1)*w)", x=[M23, M23B], w=[M32, M32]),
                            C("sum(swapaxes(x, 0, 2) @ w)", x=[M23, M23B], w=V2)],
                    text="swapaxes(x, 0, 1)"),
    "outer": Row(("a", "b"), [(V3, V2), (V2, V3B)],
                 checks=["sum(outer(a, b)**2)", C("sum(outer(a, b)*c)", a=V2, b=V3, c=M23),
                         C("sum((outer(a, b) @ c)**2)", a=V2, b=V3, c=V3B)]),
    # ---- linear algebra family of issue 17 (ops/linalg.py, linalg_kernels.py, mp_linalg.py) ----
    "trace": Row(("A",), [(M22,), (M23,), (LA33,)],
                 checks=["trace(A)", "trace(A)**2", C("trace(A @ B)", A=M23, B=M32), C("trace(A.T @ A)", A=LA33)]),
    "det": Row(("A",), [(M22,), (LA33,), (LS33,)], [([[1.0, 2.0], [2.0, 4.0]],), ([[2.5]],)],
               checks=["det(A)", "det(A)**2", C("det(A @ A.T)", A=M23), C("det(A*x)", A=LA33, x=0.5)]),
    "logdet": Row(("A",), [(M22,), (LA33,), (LS33,), ([[1e-3, 0.5], [0.0, 2e3]],)],
                  checks=["logdet(A)", "logdet(A)*det(A)", C("logdet(A @ A.T)", A=M23)]),
    "inv": Row(("A",), [(M22,), (LA33,), (LS33,)],
               checks=["sum(inv(A)**2)", "trace(inv(A))", C("sum(inv(A) @ b)", A=LA33, b=V3),
                       C("sum(inv(inv(A))*B)", A=M22, B=LS22)]),
    "solve": Row(("A", "B"), [(LA33, V3), (M22, LS22), (LS33, M32)],
                 checks=["sum(solve(A, B)**2)", C("dot(b, solve(A, b))", A=LS33, b=V3B),
                         C("sum(solve(A, B) @ c)", A=LA33, B=M32, c=V2)]),
    "cholesky": Row(("A",), [(LS22,), (LS22B,), (LS33,), (LS33B,)],
                    checks=["sum(cholesky(A)**3)", C("sum(cholesky(A)*W)", A=LS33, W=LA33),
                            C("sum(cholesky(A @ A.T + eye(2))*W)", A=M23, W=M22)]),
    "matrix_exp": Row(("A",), [(M22,), (LA33,), (LS33,), ([[0.0, 2.0], [-1.0, 0.5]],)],
                      checks=["sum(matrix_exp(A)**2)", "trace(matrix_exp(A))", C("sum(matrix_exp(A*x)*W)", A=LA33,
                                                                                  x=-0.5, W=LS33)]),
    "cross": Row(("a", "b"), [(V3, V3B), (M23, M23B), At((M32, LM32B), opts("cross", dim=0))],
                 [At((M32, LM32B), opts("cross", dim=-2))],
                 checks=[C("sum(cross(a, b)**2)", a=V3, b=V3B), C("sum(cross(a, b)*w)", a=M23, b=M23B, w=M23),
                         C("sum(cross(a, b, dim=0)**2)", a=M32, b=LM32B), C("dot(cross(a, b), a + b)", a=V3, b=V3B)]),
    "slogdet": Row(("A",), [(M22,), (LA33,), ([[0.5, 2.0], [1.0, -1.0]],), (LS33,)],
                   checks=["slogdet(A)", "slogdet(A)**2", C("slogdet(A @ A.T)", A=M23),
                           C("slogdet(A*x)", A=LA33, x=-2.0)]),
    "pinv": Row(("A",), [(M23,), (M32,), (LS33,)],
                checks=["sum(pinv(A)**3)", C("sum(pinv(A) @ b)", A=M32, b=V3),
                        C("sum(pinv(pinv(A))*B)", A=M23, B=M23B), C("sum((A @ pinv(A))*W)", A=M32, W=LA33)]),
    "matrix_power": Row(("A",), [(M22,), At((LA33,), opts("matrix_power", n=3)), At((M22,), opts("matrix_power", n=-2)),
                                 At((LS33,), opts("matrix_power", n=0))],
                        checks=[C("sum(matrix_power(A, 3)**2)", A=LA33),
                                C("sum(matrix_power(A, n=-2)*B)", A=M22, B=LS22),
                                C("sum(matrix_power(A, 0)*A)", A=LS33), C("sum(matrix_power(A)*A)", A=M22),
                                C("trace(matrix_power(A, 5))", A=LS33)]),
    "tensordot": Row(("a", "b"), [(M23, M23B), At((M23, LA33), opts("tensordot", dims=(1,))),
                                  At((V3, V2), opts("tensordot", dims=(0,)))],
                     checks=[C("tensordot(a, b)", a=M23, b=M23B), C("sum(tensordot(a, b, 1)**2)", a=M23, b=LA33),
                             C("sum(tensordot(a, b, dims=0)**3)", a=V3, b=V2),
                             C("sum(tensordot(a, b, dims=1)*w)", a=V3, b=M32, w=V2)]),
    "eigvalsh": Row(("A",), [(LS33,), (LA33,), (LS22,), (M22,)],
                    [([[1.0, 0.0], [0.0, 1.0]],), ([[2.0, 1.0], [1.0, 2.0]],)],
                    checks=["sum(eigvalsh(A)**3)", C("sum(eigvalsh(A)*w)", A=LS33, w=V3), C("eigvalsh(A)[0]", A=LA33),
                            C("sum(eigvalsh(A @ A.T))", A=M23)]),
    "eigh": Row(("A",), [(LS33,), (LS22,), At((LS33,), opts("eigh", part="eigenvectors")),
                         At((LA33,), opts("eigh", part="eigenvectors"))],
                [At((LS22B,), opts("eigh", part="eigenvectors")), At(([[2.0, 1.0], [1.0, 2.0]],))],
                checks=["sum(eigh(A)**2)", C("sum(eigh(A, part='eigenvectors')*W)", A=LS33, W=LA33),
                        C("sum(eigh(A, part='eigenvectors')**3)", A=LA33),
                        C("sum(eigh(A, part='eigenvectors')[:, 0]*w)", A=LS22B, w=V2)]),
    "svdvals": Row(("A",), [(LA33,), (M23,), (M32,), (LS33,)],
                   [([[1.0, 0.0], [0.0, 1.0]],), ([[0.0, 2.0], [2.0, 0.0]],)],
                   checks=["sum(svdvals(A)**3)", C("sum(svdvals(A)*w)", A=M23, w=V2), C("svdvals(A)[0]", A=LA33),
                           C("sum(svdvals(A @ A.T))", A=M32)]),
    "svd": Row(("A",), [(LA33,), (M23,), At((LA33,), opts("svd", part="U")), At((M32,), opts("svd", part="U")),
                        At((M23,), opts("svd", part="U")), At((LA33,), opts("svd", part="Vh")),
                        At((M32,), opts("svd", part="Vh")), At((M23,), opts("svd", part="Vh"))],
               [At(([[1.0, 0.0], [0.0, 1.0]],)), At((LS22,), opts("svd", part="Vh"))],
               checks=["sum(svd(A)**2)", C("sum(svd(A, part='U')*W)", A=LA33, W=LS33),
                       C("sum(svd(A, part='U')**3)", A=M32), C("sum(svd(A, part='U')*W)", A=M23, W=LS22),
                       C("sum(svd(A, part='Vh')*W)", A=LA33, W=LS33), C("sum(svd(A, part='Vh')*W)", A=M32, W=M22),
                       C("sum(svd(A, part='Vh')**3)", A=M23),
                       C("sum((svd(A, part='U')*svd(A)) @ svd(A, part='Vh') * W)", A=M23, W=M23B)]),
    "einsum": Row(("a", "b"), [At((M23, M32), opts("einsum", equation="ij,jk->ik")),
                               At((V3, V2), opts("einsum", equation="i,j->ij")),
                               At((M23, M23B), opts("einsum", equation="ij,ij->i")),
                               At((M23, V3), opts("einsum", equation="ij,j->"))],
                  [At((M23,), opts("einsum", equation="ij->ji")),
                   At((V3, V3B, V3), opts("einsum", equation="i,i,i->"))],
                  checks=[C("sum(einsum(a, b, equation='ij,jk->ik')**2)", a=M23, b=M32),
                          C("sum(einsum(a, b, equation='i,j->ij')*w)", a=V2, b=V3, w=M23),
                          C("sum(einsum(a, b, equation='ij,ij->i')**3)", a=M23, b=M23B),
                          C("einsum(a, b, equation='ij,j->')", a=M23, b=V3),
                          C("sum(einsum(a, b, c, equation='ij,jk,k->i')**2)", a=M23, b=M32, c=V2),
                          C("sum(einsum(a, equation='ij->ji')*w)", a=M23, w=M32)],
                  text="einsum(a, b, equation='ij,jk->ik')"),
    "kron": Row(("a", "b"), [(V3, V2), (M22, M23), (M23, M22)],
                checks=["sum(kron(a, b)**2)",
                        C("sum(kron(a, b) @ c)", a=M22, b=M23, c=[1.0, -2.0, 0.5, 3.0, 0.25, 1.5]),
                        C("sum(kron(a, b)*kron(b, a))", a=V3, b=V3B)]),
    "transpose": Row(("x",), [(M23,), (M32,), (V3,)], [(1.5,), ([[2.0, 3.0]],)],
                     checks=["sum(x.T @ x)", "sum(transpose(x)**3)", C("sum(x.T*w)", x=M23, w=M32),
                             C("sum((x @ w.T)**2)", x=M23, w=M23B)]),
    "index": Row(("x",), [At((M23,), (1, S(0, 2))), At((V3,), (0,)), At((M23,), (S(), 0))],
                 [At((V3,), (S(1, 3),)), At((V3,), (-1,)), At((M23,), (-1, -2)), At((M23,), (S(None, None, 2),)),
                  At((M23,), (1,)), At((M23,), (S(), S(1, None))), At((M32,), (S(1, 3), S(None, 1)))],
                 checks=[C("x[1, 2]", x=M23), C("x[0]*x[2]", x=V3), C("sum(x[1:3]**2)", x=V3),
                         C("sum(x[:, 0]*w)", x=M23, w=V2), C("sum(x[-1]**3)", x=M23),
                         C("sum(x[::2]*w)", x=V3, w=V2), C("x[1][0]*x[0, 2]", x=M23),
                         C("sum(x[0:1, 1:]**2)", x=M23)],
                 text="x[1, 0:2]"),
    "unindex": Row(("v", "l"), [At((V3, M23), (1,)), At((2.0, V3), (0,)), At((V2, V3), (S(1, 3),))],
                   [At((V2, M23), (S(), 2)), At((-1.5, M23), (1, 0))],
                   checks=[C("sum(unindex(v, l, [1])*w)", v=V3, l=M23, w=M23B),
                           C("sum(unindex(v, l, [1:3])**2)", v=V2, l=V3),
                           C("sum(unindex(v, l, [:, 2])*l)", v=V2, l=M23)],
                   text="unindex(v, l, [0:2])"),
    "reshape": Row(("x",), [At((M23,), (3, 2)), At((M23,), (6,)), At((V3,), (3, 1))],
                   [At((M23,), (-1,)), At((M23,), (2, -1)), At((V3,), (1, 3, 1)), At((M23,), (1, 6))],
                   checks=[C("sum(reshape(x, 3, 2)*w)", x=M23, w=M32), C("sum(reshape(x, 3, 2) @ w)", x=M23, w=V2),
                           C("sum(reshape(x, -1)*w)", x=M23, w=M23B[0] + M23B[1]),
                           C("sum((reshape(x, 3, 1)*y)**2)", x=V3, y=V2)],
                   text="reshape(x, 3, 2)"),
    # ---- shape and indexing with options (issue 17): cat/stack along any dim, squeeze ... take, unselect ----
    "concat": Row(("a", "b"), [(V3, V2), (M23, [[1.0, 2.0, 3.0]]), (V2, V2)],
                  [(V3, V2, V3), (M23, M23B, [[4.0, 5.0, 6.0]]), At((M23, M23B, M22), opts("concat", dim=1)),
                   At((M23, M22), opts("concat", dim=1)), At((M23, [[1.0], [2.0]]), opts("concat", dim=-1))],
                  checks=["sum(concat(a, b)**3)", C("sum(concat(a, b, a)*w)", a=V2, b=V3, w=V3 + V2 + V2),
                          C("sum(concat(a, b) @ w)", a=M23, b=M23B, w=V3),
                          C("sum(cat(a, b, dim=1)**3)", a=M23, b=M22),
                          C("sum(cat(a, b, a, dim=-1) @ w)", a=M22, b=[[1.0], [2.0]], w=[1.0, -2.0, 0.5, 3.0, 0.25])]),
    "stack": Row(("a", "b"), [(V3, V3B), (M23, M23B), (1.5, -0.5)],
                 [(V3, V3B, V3), (2.0, 3.0, -1.0), At((M23, M23B, M23), opts("stack", dim=1)),
                  At((M23, M23B), opts("stack", dim=2)), At((V3, V3B), opts("stack", dim=-1))],
                 checks=["sum(stack(a, b)**3)", C("sum(stack(a, b, a)*w)", a=V2, b=[3.0, -1.0], w=M32),
                         C("sum(stack(a, b) @ w)", a=V3, b=V3B, w=V3),
                         C("sum(stack(a, b, dim=1)**3)", a=M23, b=M23B),
                         C("sum(stack(a, b, a, dim=-1) @ w)", a=V2, b=[3.0, -1.0], w=V3)]),
    "squeeze": Row(("x",), [At(([[0.5], [-1.0]],)), At(([[[1.5, -2.0, 0.25]]],), opts("squeeze", dim=(0,))),
                            At((M23,), opts("squeeze", dim=(0, 1)))],
                   [At(([[1.5]],)), At(([[[1.5, 2.0]]],), opts("squeeze", dim=(-3, 2)))],
                   checks=[C("sum(squeeze(x)**3)", x=[[0.5], [-1.0]]), C("sum(squeeze(x, 0) @ w)", x=[M23], w=V3),
                           C("squeeze(x)*y", x=[[0.7]], y=-1.5),
                           C("sum(squeeze(x, dim=(0, 2))**2)", x=[[[0.5], [2.0]]])]),
    "unsqueeze": Row(("x",), [At((V3,), opts("unsqueeze", dim=0)), At((V3,), opts("unsqueeze", dim=-1)),
                              At((M23,), opts("unsqueeze", dim=1))],
                     [At((1.5,), opts("unsqueeze", dim=0))],
                     checks=[C("sum(unsqueeze(x, 1)*w)", x=V3, w=M32),
                             C("sum((unsqueeze(x, -1) @ w)**2)", x=V3, w=[V2]),
                             C("sum(unsqueeze(x, dim=0)**3)", x=M23)],
                     text="unsqueeze(x, 0)"),
    "flip": Row(("x",), [At((M23,), opts("flip", dims=(0,))), At((M23,), opts("flip", dims=(0, 1))),
                         At((V3,), opts("flip", dims=(-1,)))],
                checks=[C("sum(flip(x, dims=(0,))*w)", x=M23, w=M23B), C("sum(flip(x, (1,))*w)", x=M23, w=M23B),
                        C("sum(flip(x, dims=(0, -1)) @ x)", x=M22)],
                text="flip(x, dims=(0,))"),
    "roll": Row(("x",), [At((M23,), opts("roll", shifts=(1,))), At((M23,), opts("roll", shifts=(1, -4), dims=(0, 1))),
                         At((V3,), opts("roll", shifts=(5,), dims=(0,)))],
                checks=[C("sum(roll(x, 2)*w)", x=M23, w=M23B), C("sum(roll(x, 1, 1)*w)", x=M23, w=M23B),
                        C("sum(roll(x, shifts=(1, -4), dims=(0, 1))*w)", x=M23, w=M23B),
                        C("sum(roll(x, -1, 0) @ x)", x=M22)],
                text="roll(x, 1)"),
    "tile": Row(("x",), [At((M23,), opts("tile", dims=(2, 1))), At((V3,), opts("tile", dims=(2, 2))),
                         At((M23,), opts("tile", dims=(2,)))],
                [At((1.5,), opts("tile", dims=(3,)))],
                checks=[C("sum(tile(x, dims=(2, 1, 2))**3)", x=M23),
                        C("sum(tile(x, (2,))*w)", x=V2, w=[1.0, 2.0, -3.0, 0.5]),
                        C("sum(tile(x, (3, 1)) @ w)", x=V2, w=V2)],
                text="tile(x, dims=(2, 1))"),
    "repeat": Row(("x",), [At((M23,), opts("repeat", sizes=(2, 1))), At((V3,), opts("repeat", sizes=(2, 2))),
                           At((M23,), opts("repeat", sizes=(1, 1, 2)))],
                  checks=[C("sum(repeat(x, sizes=(3, 2))**3)", x=V3),
                          C("sum(repeat(x, (1, 2))*w)", x=M22, w=[V3 + [1.0]] * 2)],
                  text="repeat(x, sizes=(2, 1))"),
    "tril": Row(("x",), [At((M23,),), At((M32,), opts("tril", diagonal=-1)),
                         At(([M22, M22],), opts("tril", diagonal=1))],
                checks=[C("sum(tril(x)**3)", x=M23), C("sum(tril(x, -1)*w)", x=M32, w=M32),
                        C("sum(tril(x, diagonal=1) @ w)", x=M23, w=V3)]),
    "triu": Row(("x",), [At((M23,),), At((M32,), opts("triu", diagonal=-1)),
                         At(([M22, M22],), opts("triu", diagonal=1))],
                checks=[C("sum(triu(x)**3)", x=M23), C("sum(triu(x, -1)*w)", x=M32, w=M32),
                        C("sum(triu(x, diagonal=1) @ w)", x=M23, w=V3)]),
    "diag": Row(("x",), [At((V3,),), At((V2,), opts("diag", diagonal=1)), At((M23,),),
                         At((M23,), opts("diag", diagonal=-1)),
                         At((M32,), opts("diag", diagonal=1))],
                [At((M23,), opts("diag", diagonal=3))],
                checks=[C("sum(diag(x)**3)", x=V3), C("sum(diag(x, 1) @ w)", x=V2, w=V3),
                        C("sum(diag(x)*w)", x=M23, w=V2),
                        C("sum(diag(x, -1)**3)", x=M23), C("diag(x)**2 @ diag(x)", x=M22)]),
    "diagonal": Row(("x",), [At((M23,),), At((M23,), opts("diagonal", offset=1)),
                             At(([M23, M23B],), opts("diagonal", dim1=1, dim2=2)),
                             At(([M23, M23B],), opts("diagonal", offset=-1, dim1=2, dim2=0))],
                    checks=[C("sum(diagonal(x)**3)", x=M23), C("sum(diagonal(x, 1)*w)", x=M23, w=V2),
                            C("sum(diagonal(x, dim1=-1, dim2=0)*w)", x=[M23, M23B], w=M22),
                            C("sum(diagonal(x @ x.T)**2)", x=M23)]),
    "gather": Row(("x",), [At((M23,), opts("gather", dim=1, index=((0, 0), (2, 1)))),
                           At((M23,), opts("gather", dim=0, index=((1, 0, 1),))),
                           At((V3,), opts("gather", dim=0, index=(2, 2, 0, 1)))],
                  checks=[C("sum(gather(x, 1, index=((0, 0), (2, 1)))**3)", x=M23),
                          C("sum(gather(x, dim=0, index=((1, 0, 1), (1, 1, 1)))*w)", x=M23, w=M23B),
                          C("sum(gather(log_softmax(z, -1), 1, index=((2,), (0,))))", z=M23)],
                  text="gather(x, 0, index=(0,))"),
    "index_select": Row(("x",), [At((M23,), opts("index_select", dim=1, index=(2, 0, 2))),
                                 At((M23,), opts("index_select", dim=0, index=(1,))),
                                 At((V3,), opts("index_select", dim=-1, index=(0, 0)))],
                        checks=[C("sum(index_select(x, 1, index=(2, 0, 2))**3)", x=M23),
                                C("sum(index_select(x, 0, index=(1, 1, 0)) @ w)", x=M23, w=V3)],
                        text="index_select(x, 0, index=(0,))"),
    "take": Row(("x",), [At((M23,), opts("take", index=((0, 5), (5, -1)))), At((V3,), opts("take", index=(2, 2, -3))),
                         At((M23,), opts("take", index=(4,)))],
                checks=[C("sum(take(x, index=((0, 5), (5, -1)))**3)", x=M23),
                        C("sum(take(x, index=(2, 2, 0))*w)", x=V3, w=V3B)],
                text="take(x, index=(0,))"),
    "unselect": Row(("v", "l"), [At((V2, M23), opts("unselect", of="diagonal")),
                                 At((M22, M23), opts("unselect", of="gather", dim=1, index=((0, 0), (2, 1)))),
                                 At((V3, V3), opts("unselect", of="take", index=(2, 2, -3)))],
                    checks=[C("sum(unselect(v, l, of='take', index=(2, 2, 0))*w)", v=V3, l=V3B, w=V3),
                            C("sum(unselect(v, l, of='index_select', dim=1, index=(1, 1))**2)", v=M22, l=M23)],
                    text="unselect(v, l, of='diag')"),
    "where": Row(("c", "a", "b"), [([1.0, -2.0, 0.5], V3, V3B), ([[1.0], [-1.0]], M23, V3B), (1.0, V3, 0.25)],
                 [([1.0, 0.0, 1.0], V3, V3B), (0.0, V3, V3B), ([[0.0], [1.0]], M23, M23B)],
                 checks=["sum(where(c, a, b)**2)", C("sum(where(a > b, a, b)**2)", a=V3, b=V3B),
                         C("sum(where(c, a, b)*w)", ("a", "b"), c=[1.0, 0.0, 1.0], a=V3, b=V3B, w=V3B),
                         C("sum(where(a < 0.7, a**2, b*a))", a=M23, b=M23B)]),
    # ---- constants: no gradient of their own ----
    "ones": Row((), [At((), (2, 3)), At((), (3,))], [At((), (1,)), At((), (2, 1, 2))],
                checks=[C("sum(ones(2, 3)*x)", x=M23), C("sum((x @ ones(3))**2)", x=M23),
                        C("sum((ones(3) - x)**2)", x=V3)],
                text="ones(2, 3)", reference=lambda attr: torch.ones(attr, dtype=torch.float64)),
    "zeros": Row((), [At((), (2, 3)), At((), (3,))], [At((), (1,))],
                 checks=[C("sum((zeros(3) + x)**3)", x=V3), C("sum((zeros(2, 3) + x)*x)", x=M23)],
                 text="zeros(3)", reference=lambda attr: torch.zeros(attr, dtype=torch.float64)),
    "eye": Row((), [At((), (3,)), At((), (2,))], [At((), (1,))],
               checks=[C("sum((eye(3) + x) @ y)", x=M23B[:1] * 3, y=V3), C("sum((eye(2)*x)**2)", x=M22),
                       C("sum(x @ eye(3) @ y)", x=M23, y=V3)],
               text="eye(3)", reference=lambda attr: torch.eye(attr[0], dtype=torch.float64)),
}
OP_TABLE.update(FAMILY_ROWS)

OP_NAMES = sorted(OPS)


def op_text(name: str) -> str:
    """The op applied to its row's variables, in the op's own syntax."""
    spec, row = OPS[name], OP_TABLE[name]
    if row.text is not None:
        return row.text
    args = row.args
    if spec.syntax == "infix":
        return f"{args[0]} {spec.symbol} {args[1]}"
    if spec.syntax == "prefix":
        return f"{spec.symbol}{args[0]}"
    if spec.syntax == "postfix" and spec.symbol == ".T":
        return f"{args[0]}.T"
    assert spec.syntax == "function", f"{name}: syntax {spec.syntax!r} has no text form"
    return f"{spec.call_name or spec.name}({', '.join(args)})"


def forward_cases():
    for name in OP_NAMES:
        row = OP_TABLE.get(name)
        for i, point in enumerate((row.points + row.forward_only) if row else [None]):
            yield pytest.param(name, point, id=f"{name}-{i}")


def gradient_cases():
    for name in OP_NAMES:
        row = OP_TABLE.get(name)
        if row is None:
            yield pytest.param(name, None, None, None, id=f"{name}-missing")
            continue
        for check_ in row.checks or [op_text(name)]:
            if isinstance(check_, Case):
                yield pytest.param(name, check_.text, check_.at, check_.wrt, id=f"{name}-{check_.text}-case")
                continue
            for i, point in enumerate(row.points):
                values, _ = split(point)
                yield pytest.param(name, check_, dict(zip(row.args, values)), None, id=f"{name}-{check_}-{i}")


def _require_row(name: str) -> Row:
    assert name in OP_TABLE, f"op {name!r} has no row in OP_TABLE: add sample points for it"
    return OP_TABLE[name]


def close(a: float, b: float, rtol: float = RTOL, atol: float = 0.0) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= atol + rtol * max(abs(a), abs(b))


# ---- the table itself -------------------------------------------------------------------------------


def test_every_op_has_a_row():
    missing = sorted(set(OPS) - set(OP_TABLE))
    assert not missing, f"ops without a row in OP_TABLE: {missing}"
    stale = sorted(set(OP_TABLE) - set(OPS))
    assert not stale, f"rows for ops that no longer exist: {stale}"
    assert "const" not in OPS and "var" not in OPS


@pytest.mark.parametrize("name", OP_NAMES)
def test_row_matches_spec(name):
    spec, row = OPS[name], _require_row(name)
    assert spec.name == name
    assert len(row.args) >= spec.arity if spec.variadic else len(row.args) == spec.arity
    assert len(row.points) >= 2
    for point in row.points + row.forward_only:
        values, attr = split(point)
        assert len(values) >= spec.arity if spec.variadic else len(values) == spec.arity
        if attr is not None:
            assert spec.attrs, f"{name} takes no attribute, but a point gives {attr!r}"
    if spec.attrs in ("shape", "index"):  # the attribute is not optional
        assert all(split(p)[1] is not None for p in row.points + row.forward_only)
        assert row.text is not None
    if spec.torch is None:
        assert spec.arity == 0 and row.reference is not None
    for check_ in row.checks or []:
        if isinstance(check_, Case):
            assert set(check_.at) == set(parse(check_.text).variables), check_
    # every op is reachable from the expression language
    if spec.syntax == "infix":
        assert INFIX[spec.symbol] is spec
    elif spec.syntax == "prefix":
        assert PREFIX[spec.symbol] is spec
    elif spec.syntax == "postfix":
        assert POSTFIX[spec.symbol] is spec
    elif spec.call_name and FUNCTIONS[spec.call_name] is not spec:  # an overload: sum(x, dim=(0, 1)) is sum_dims
        assert spec in OVERLOADS[spec.call_name] and FUNCTIONS[spec.name] is spec
    else:
        assert FUNCTIONS[spec.call_name or spec.name] is spec
    for alias in spec.aliases:
        assert spec in OVERLOADS[alias], f"{name} is not callable as {alias}"
    assert isinstance(spec.differentiable, bool)
    assert not (spec.partials is not None and spec.vjp is not None)
    if spec.partials is not None:
        assert len(spec.partials) == spec.arity
    if spec.internal:  # made by the symbolic engine, yet parseable so that printed derivatives read back
        assert FUNCTIONS[spec.name] is spec


def test_registry_tables_are_consistent():
    for symbol, spec in INFIX.items():
        assert spec.symbol == symbol and spec.arity == 2
    for symbol, spec in PREFIX.items():
        assert spec.symbol == symbol and spec.arity == 1
    for symbol, spec in POSTFIX.items():
        assert spec.symbol == symbol and spec.arity == 1
    assert set(INFIX) == {"+", "-", "*", "/", "**", ">", ">=", "<", "<=", "==", "!=", "@"}
    assert set(PREFIX) == {"-"}
    assert set(POSTFIX) == {".T", "[]"}
    for fname, spec in FUNCTIONS.items():
        assert fname in (spec.name, spec.call_name) + spec.aliases
        assert fname not in CONSTANTS
        assert OVERLOADS[fname][0] is spec
    # one name, two ops: max(a, b) elementwise, max(x) the largest element
    # max(x, dim=1, keepdim=True); the parser makes max(x, dim=1) torch's max over one dim, max_dim
    assert [s.name for s in OVERLOADS["max"]] == ["max", "amax", "amax_dims", "max_dim"]
    assert [s.name for s in OVERLOADS["min"]] == ["min", "amin", "amin_dims", "min_dim"]
    assert [s.name for s in OVERLOADS["dot"]] == ["matmul"]
    assert parse("max(a, b)").output.op == "max" and parse("max(x)").output.op == "amax"
    assert parse("min(x)").output.op == "amin" and parse("min(x, y)").output.op == "min"
    # with two arguments it is the elementwise op, even when the second is an integer: amax(x, 1) is the axis form
    assert parse("max(x, 1)").output.op == "max" and parse("amax(x, 1)").output.attr == (1,)
    # Python's precedence: comparisons < +,- < *,/,@ < unary - < ** < postfix (.T, [])
    p = {s: INFIX[s].precedence for s in INFIX}
    assert p[">"] == p[">="] == p["<"] == p["<="] == p["=="] == p["!="] < p["+"] == p["-"]
    assert p["+"] < p["*"] == p["/"] == p["@"] < PREFIX["-"].precedence < p["**"]
    assert all(p["**"] < spec.precedence for spec in POSTFIX.values())
    assert INFIX["**"].right_assoc and not any(s.right_assoc for k, s in INFIX.items() if k != "**")


# ---- numpy vs torch forward -------------------------------------------------------------------------


def _torch_value(name: str, values: tuple, attr) -> np.ndarray:
    spec, row = OPS[name], OP_TABLE[name]
    if spec.torch is None:
        return row.reference(attr).numpy()
    return spec.build_torch([torch.tensor(v, dtype=torch.float64) for v in values], attr).detach().numpy()


@pytest.mark.parametrize("name, point", list(forward_cases()))
def test_numpy_and_torch_forward_agree(name, point):
    spec = OPS[name]
    _require_row(name)
    values, attr = split(point)
    np_args = [np.asarray(v, dtype=np.float64)[np.newaxis] for v in values]  # leading batch axis
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        np_value = np.asarray(spec.evaluate(np_args, attr))
    torch_value = _torch_value(name, values, attr)
    assert np_value.shape == (1,) + torch_value.shape, (np_value.shape, torch_value.shape)
    assert np_value.dtype == np.float64 and torch_value.dtype == np.float64
    np_value, torch_value = np_value[0], torch_value
    assert np.all(np.isfinite(np_value))
    np.testing.assert_allclose(np_value, torch_value, rtol=RTOL, atol=1e-300)
    # and the shape rule predicts the shape
    assert spec.infer_shape([np.shape(v) for v in values], attr) == torch_value.shape


def batched_cases():
    """Points of a row that share shapes and attribute, evaluated as one batch."""
    for name in OP_NAMES:
        row = OP_TABLE.get(name)
        if row is None or OPS[name].arity == 0:
            continue
        groups: dict[tuple, list] = {}
        for point in row.points + row.forward_only:
            values, attr = split(point)
            groups.setdefault((tuple(np.shape(v) for v in values), repr(attr)), []).append(point)
        for i, group in enumerate(groups.values()):
            yield pytest.param(name, group, id=f"{name}-{i}")


@pytest.mark.parametrize("name, group", list(batched_cases()))
def test_numpy_kernels_work_on_batches(name, group):
    """The evaluator runs many points at once (finite differences): batch entries stay independent,
    and an argument with batch size 1 broadcasts against the others.  As the evaluator does (plan.py),
    arguments of elementwise ops get singleton axes after the batch axis up to the result's rank."""
    spec = OPS[name]
    attr = split(group[0])[1]
    rows = [split(p)[0] for p in group]
    if len(rows) == 1:  # a batch of one point and its negation, or of the point twice
        negated = tuple(-np.asarray(v) for v in rows[0])
        rows = rows + [negated if name not in ("log", "log1p", "sqrt", "asin", "acos", "pow", "prod", "norm",
                                               "where", "expand", "sum_to", "unindex") else rows[0]]
    arity, batch = len(rows[0]), len(rows)
    shapes = [np.shape(v) for v in rows[0]]
    rank = len(spec.infer_shape(shapes, attr))
    pads = [rank - len(s) if spec.elementwise else 0 for s in shapes]
    with np.errstate(all="ignore"):
        for shared in [None] + (list(range(arity)) if arity > 1 else []):
            # all arguments batched, or argument `shared` given once for the whole batch
            args = [np.asarray([r[k] for r in (rows[:1] if k == shared else rows)], dtype=np.float64)
                    for k in range(arity)]
            args = [a.reshape(a.shape[:1] + (1,) * p + a.shape[1:]) for a, p in zip(args, pads)]
            value = np.asarray(spec.evaluate(args, attr))
            # batch 1 only where the result does not depend on the batched arguments' values
            assert value.shape[0] == batch or (value.shape[0] == 1 and name in ("sum_to", "unindex")), \
                (name, shared, value.shape)
            value = np.broadcast_to(value, (batch,) + value.shape[1:])
            for b, r in enumerate(rows):
                entry = tuple(rows[0][k] if k == shared else r[k] for k in range(arity))
                expected = _torch_value(name, entry, attr)
                assert value.shape[1:] == expected.shape
                np.testing.assert_allclose(value[b], expected, rtol=RTOL, atol=1e-300,
                                           err_msg=f"{name}{entry} attr={attr} (entry {b}, shared {shared})")


def test_forward_references():
    """Spot values against plain math, so that the two implementations cannot both be wrong."""
    def f(name, *args, attr=None):
        return np.asarray(OPS[name].evaluate([np.asarray([a], dtype=np.float64) for a in args], attr))[0]

    assert f("sigmoid", 0.7) == pytest.approx(1 / (1 + math.exp(-0.7)), rel=1e-15)
    assert f("softplus", 0.7) == pytest.approx(math.log1p(math.exp(0.7)), rel=1e-15)
    assert f("clamp", 4.0, -1.0, 2.0) == 2.0 and f("clamp", -3.0, -1.0, 2.0) == -1.0
    assert f("min", 0.7, -1.3) == -1.3 and f("max", 0.7, -1.3) == 0.7
    assert f("gt", 1.0, 0.0) == 1.0 and f("gt", 0.0, 1.0) == 0.0 and f("ne", 2.0, 2.0) == 0.0
    assert f("pow", -2.0, 3.0) == -8.0 and f("div", 1.0, 4.0) == 0.25 and f("sub", 1.0, 4.0) == -3.0
    assert f("relu", -1.5) == 0.0 and f("sign", -1.5) == -1.0 and f("detach", 0.3) == 0.3
    mean = OPS["mean"].evaluate([np.asarray([M23])])
    assert mean.shape == (1,) and mean[0] == pytest.approx(np.mean(M23), rel=1e-15)
    summed = OPS["sum_to"].numpy(np.asarray([M23]), np.asarray([[[0.0], [0.0]]]))
    np.testing.assert_array_equal(summed, np.sum(M23, axis=1, keepdims=True)[np.newaxis])
    # tensor ops, by hand
    assert f("sum", M23) == 5.75 and list(f("sum", M23, attr=(0,))) == [2.0, 2.0, 1.75]
    assert list(f("mean", M23, attr=(1,))) == [0.5, 1.4166666666666667]
    assert f("amax", M23) == 3.0 and f("amin", M23) == -1.0 and list(f("amax", M23, attr=(1,))) == [2.0, 3.0]
    assert f("prod", V3) == -1.0 and f("norm", [3.0, 4.0]) == 5.0
    assert f("logsumexp", [0.0, 0.0]) == pytest.approx(math.log(2), rel=1e-15)
    assert f("logsumexp", [1000.0, 1000.0]) == pytest.approx(1000 + math.log(2), rel=1e-15)
    np.testing.assert_allclose(f("softmax", [0.0, math.log(3)]), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(f("log_softmax", [0.0, math.log(3)]), [math.log(0.25), math.log(0.75)], rtol=1e-15)
    np.testing.assert_allclose(f("softmax", [[0.0, 1.0], [0.0, 1.0]], attr=(0,)), [[0.5, 0.5], [0.5, 0.5]])
    assert f("matmul", [1.0, 2.0], [3.0, 4.0]) == 11.0
    assert f("matmul", M23, V3).tolist() == [5.25, -2.75]
    assert f("matmul", V2, M23).tolist() == [0.0, -3.0, 3.125]
    assert f("transpose", M23).tolist() == np.transpose(M23).tolist()
    assert f("index", M23, attr=(1, S(0, 2))).tolist() == [1.5, 3.0]
    assert f("index", M23, attr=(S(), -1)).tolist() == [2.0, -0.25]
    assert f("unindex", 7.0, V3, attr=(1,)).tolist() == [0.0, 7.0, 0.0]
    assert f("reshape", M23, attr=(3, 2)).tolist() == [[0.5, -1.0], [2.0, 1.5], [3.0, -0.25]]
    assert f("concat", V3, V2).tolist() == V3 + V2 and f("stack", V2, V2).tolist() == [V2, V2]
    assert f("where", [1.0, 0.0, -1.0], V3, V3B).tolist() == [0.5, 0.75, 2.0]
    assert OPS["eye"].evaluate([], (2,))[0].tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert OPS["ones"].evaluate([], (2,))[0].tolist() == [1.0, 1.0]
    assert OPS["zeros"].evaluate([], (1, 2))[0].tolist() == [[0.0, 0.0]]


# ---- gradients through check() ----------------------------------------------------------------------


@pytest.mark.parametrize("name, text, at, wrt", list(gradient_cases()))
def test_check_of_op(name, text, at, wrt):
    spec = OPS[name]
    _require_row(name)  # asserts the op has a row in OP_TABLE
    expression = parse(text)
    assert name in {n.op for n in ancestors([expression.output])}, f"{text!r} does not use {name}"
    result = check(text, at={v: at[v] for v in expression.variables}, wrt=list(wrt) if wrt else None)
    assert result.status == "pass", (result.error, [(g.wrt, g.index, g.symbolic, g.finite_difference,
                                                      g.autograd, g.disagrees) for g in result.gradients])
    differentiated = wrt or expression.variables
    expected_rows = sum(int(np.asarray(at[v]).size) for v in differentiated)
    assert len(result.gradients) == expected_rows
    assert [(g.wrt, tuple(g.index)) for g in result.gradients] == [
        (v, index) for v in differentiated for index in np.ndindex(np.shape(at[v]))]
    plain = text == op_text(name)
    for g in result.gradients:
        assert g.disagrees == []
        if plain and not spec.differentiable:
            # no gradient flows through the op: every engine says exactly 0
            assert (g.symbolic, g.autograd, g.finite_difference) == (0.0, 0.0, 0.0), g
            continue
        assert close(g.symbolic, g.autograd, atol=1e-300), g
        assert close(g.finite_difference, g.symbolic, rtol=1e-7, atol=1e-9), g
    if plain and not spec.differentiable:
        assert set(result.formulas.values()) == {"0"}
    # the printed derivatives read back as the same graphs
    for formula in result.formulas.values():
        _assert_round_trip(formula)


def test_check_of_op_detects_wrong_manual_gradient():
    """check() is not a rubber stamp: a wrong manual formula for an op fails."""
    result = check("atan(x)", at={"x": 0.7}, manual={"x": "1/(1 - x**2)"})
    assert result.status == "fail" and result.gradients[0].disagrees == ["manual"]
    # and for a tensor op: the softmax Jacobian without its off-diagonal part
    result = check("sum(softmax(x)*w)", at={"x": V3, "w": V3B},
                   manual={"x": "softmax(x)*(1 - softmax(x))*w"})
    assert result.status == "fail"
    assert {tuple(g.index) for g in result.gradients if g.wrt == "x" and "manual" in g.disagrees} == {(0,), (1,), (2,)}


@pytest.mark.parametrize("name", OP_NAMES)
def test_op_round_trips_through_printer(name):
    _require_row(name)
    text = op_text(name)
    expression = parse(text)
    node = expression.output
    assert node.op == name
    # alone, and as an operand on both sides of a few operators
    for wrapped in (text, f"({text})*y", f"y - ({text})", f"-({text})", f"({text})**2", f"2**({text})",
                    f"sin({text})", f"({text}) > y", f"({text}) @ y", f"y @ ({text})", f"({text}).T",
                    f"({text})[0]", f"sum({text}, 0)"):
        _assert_round_trip(wrapped)


# ---- broadcasting ---------------------------------------------------------------------------------


BROADCASTS = [
    ("sum(a*b)", [1.0, 2.0, 3.0], M23),
    ("sum(a*b)", M23, [1.0, 2.0, 3.0]),
    ("sum(a + b)", 1.5, [1.0, 2.0, 3.0]),
    ("mean(a - b)", [[1.5], [2.0]], [[1.0, 2.0, 3.0]]),
    ("sum(sin(a)*b)", [[1.0], [2.0]], [[1.0, 2.0, 3.0]]),
    ("sum(a/b)", [[1.0], [2.0]], [1.0, 2.0, 3.0]),
    ("sum(a*b)", [[1.0], [2.0]], [1.0, 2.0, 3.0]),
    ("mean(a**b)", [[1.5], [2.0]], [1.0, 2.0, 3.0]),
]


@pytest.mark.parametrize("text, a, b", BROADCASTS, ids=[f"{t}-{np.shape(a)}-{np.shape(b)}" for t, a, b in BROADCASTS])
def test_broadcast_gradients(text, a, b):
    result = check(text, at={"a": a, "b": b})
    assert result.status == "pass", result.error
    assert len(result.gradients) == np.size(a) + np.size(b)
    for g in result.gradients:
        assert close(g.symbolic, g.autograd, rtol=1e-12, atol=1e-12), g


# ---- pow at the edges of its domain ---------------------------------------------------------------


def test_pow_gradient_at_zero_base():
    """0**b = 0 for b > 0, so d/db is 0 at a = 0, b = 2; the domain calls the point differentiable."""
    result = check("a**b", at={"a": 0.0, "b": 2.0})
    rows = {g.wrt: g for g in result.gradients}
    assert rows["a"].symbolic == 0.0 and rows["a"].autograd == 0.0
    assert rows["b"].autograd == 0.0 and rows["b"].finite_difference == 0.0
    assert rows["b"].symbolic == 0.0, f"d/db a**b at a=0, b=2: symbolic {rows['b'].symbolic}"
    assert result.status == "pass"


def test_pow_gradient_of_negative_base_is_not_a_discrepancy():
    """(-2)**b has no real derivative in b; that is bad input, not an engine disagreement."""
    result = check("a**b", at={"a": -2.0, "b": 2.0})
    assert result.status in ("error", "undefined"), (
        result.status, [(g.wrt, g.symbolic, g.finite_difference, g.autograd, g.disagrees) for g in result.gradients])
    # differentiating only in a is fine there
    only_a = check("a**b", at={"a": -2.0, "b": 2.0}, wrt=["a"])
    assert only_a.status == "pass" and only_a.gradients[0].symbolic == -4.0


# ---- printer: round trips, and agreement with Python's grammar --------------------------------------


_PY_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow", ast.MatMult: "matmul"}
_PY_COMPARE = {ast.Gt: "gt", ast.GtE: "ge", ast.Lt: "lt", ast.LtE: "le", ast.Eq: "eq", ast.NotEq: "ne"}


class _Interner:
    """Hash-consed trees (op, attr, child ids) -> id, so shared subtrees compare in linear time.

    The attribute is an op's axis, shape or index (None for most ops).
    """

    def __init__(self):
        self.ids: dict[tuple, int] = {}
        self.keys: list[tuple] = []

    def __call__(self, op, attr, children=()):
        key = (op, attr, tuple(children))
        if key not in self.ids:
            self.ids[key] = len(self.keys)
            self.keys.append(key)
        return self.ids[key]

    def const(self, value: float):
        return self("const", float(value))


def node_tree(node: Node, intern: _Interner) -> int:
    memo: dict[int, int] = {}
    stack = [node]
    while stack:
        current = stack[-1]
        pending = [a for a in current.args if a.id not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        if current.op == "const":
            memo[current.id] = intern.const(current.attr)
        elif current.op == "var":
            memo[current.id] = intern("var", current.attr)
        else:
            memo[current.id] = intern(current.op, current.attr, [memo[a.id] for a in current.args])
    return memo[node.id]


def python_tree(text: str, intern: _Interner) -> int:
    """The tree Python's grammar reads from `text` (bindings as assignments), in gradcheck's ops.

    x.T is an attribute and x[1, 0:2] a subscript for Python too.  The index of unindex(v, l, [0:2])
    is no Python expression: it is read as the subscript _INDEX[0:2].
    """
    module = ast.parse(re.sub(r",\s*\[", ", _INDEX[", text))
    scope: dict[str, int] = {}

    def integer(n) -> int:
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -integer(n.operand)
        assert isinstance(n, ast.Constant) and isinstance(n.value, int), ast.dump(n)
        return n.value

    def index_item(n):
        if isinstance(n, ast.Slice):
            return ("slice", *(None if part is None else integer(part) for part in (n.lower, n.upper, n.step)))
        return integer(n)

    def index(n) -> tuple:
        return tuple(index_item(e) for e in n.elts) if isinstance(n, ast.Tuple) else (index_item(n),)

    def literal(n):
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -literal(n.operand)
        if isinstance(n, ast.Tuple):
            return tuple(literal(e) for e in n.elts)
        assert isinstance(n, ast.Constant), ast.dump(n)
        return n.value

    def options(spec, extra, keywords):
        """Positional constants in the op's order, then keywords, each as its kind wants it; and the optional
        operands given (tensor options: an expression, or None), converted, in the op's option order."""
        written = dict(zip([o.name for o in spec.options if not o.keyword_only], extra))
        written.update({k.arg: k.value for k in keywords})
        tensors = {o.name for o in spec.options if o.kind == "tensor"}
        operands = {name: convert(n) for name, n in written.items()
                    if name in tensors and not (isinstance(n, ast.Constant) and n.value is None)}
        given = {name: name in operands if name in tensors else literal(n) for name, n in written.items()}
        kinds = {"float": lambda v: v if isinstance(v, str) else float(v),  # or one of its texts: p='inf'
                 "int": int, "bool": bool, "str": str, "tensor": bool,
                 "ints": lambda v: v if isinstance(v, (tuple, str)) else (v,)}  # or one of its texts: 'same'
        attr = spec.with_options({o.name: kinds[o.kind](given[o.name]) for o in spec.options if o.name in given})
        return attr, [operands[name] for name in spec.present(attr)]

    def expression_for_option(spec, args, keywords) -> bool:
        """Whether an option that is not a tensor would receive an expression rather than a literal."""
        positional = [o for o in spec.options if not o.keyword_only]
        written = list(zip(positional, args[spec.arity:])) + [
            (o, k.value) for k in keywords for o in spec.options if o.name == k.arg]
        literal_types = (ast.Constant, ast.Tuple, ast.UnaryOp)
        return any(o.kind != "tensor" and not isinstance(v, literal_types) for o, v in written)

    def call(n) -> int:
        name = n.func.id
        args = list(n.args)
        if args and isinstance(args[-1], ast.Subscript) and getattr(args[-1].value, "id", "") == "_INDEX":
            spec = next(s for s in OVERLOADS[name] if s.attrs == "index")
            return intern(spec.name, index(args[-1].slice), [convert(a) for a in args[:-1]])
        # the first overload the arguments fit, its trailing integers the attribute (as the language says)
        for spec in OVERLOADS[name]:
            if spec.attrs == "options" and spec is not OVERLOADS[name][-1] and expression_for_option(spec, args,
                                                                                                    n.keywords):
                continue  # cross_entropy(z, p): the overload whose target is an operand
            if spec.attrs == "options" and len(args) >= spec.arity:
                count = len(args) if spec.variadic else spec.arity  # a variadic op's options are keyword-only
                attr, optional = options(spec, args[count:], n.keywords)
                if name in ("max", "min") and spec.name == f"a{name}_dims" and attr.dim is not None:
                    (dim,) = attr.dim  # torch.max(x, dim, keepdim=True): its own op, one dim
                    spec, attr = OPS[f"{name}_dim"], OPS[f"{name}_dim"].with_options({"dim": dim,
                                                                                       "keepdim": attr.keepdim})
                return intern(spec.name, attr, [convert(a) for a in args[:count]] + optional)
            if spec.attrs == "axis" and n.keywords:  # dim=0 is the axis form; a tuple of dims or keepdim is not
                given = {k.arg: literal(k.value) for k in n.keywords}
                if set(given) == {"dim"} and isinstance(given["dim"], int) and len(args) == spec.arity:
                    if name in ("max", "min"):  # torch.max(x, dim): its own op (torch's backward at a tie)
                        chosen = OPS[f"{name}_dim"]
                        return intern(chosen.name, chosen.with_options({"dim": given["dim"]}), [convert(args[0])])
                    return intern(spec.name, (given["dim"],), [convert(args[0])])
                continue
            if spec.attrs is None:
                if len(args) == spec.arity or (spec.variadic and len(args) > spec.arity):
                    return intern(spec.name, None, [convert(a) for a in args])
                continue
            operands, extra = args[: spec.arity], args[spec.arity:]
            if len(operands) < spec.arity or (spec.attrs == "axis" and len(extra) > 1):
                continue
            attr = tuple(integer(a) for a in extra)  # a shape may be empty: reshape(x) is a scalar
            return intern(spec.name, attr if attr or spec.attrs == "shape" else None, [convert(a) for a in operands])
        raise AssertionError(f"no overload of {name} takes {len(args)} arguments")

    def convert(n) -> int:
        if isinstance(n, ast.Constant):
            assert isinstance(n.value, (int, float)) and not isinstance(n.value, bool)
            return intern.const(n.value)
        if isinstance(n, ast.Name):
            if n.id in scope:
                return scope[n.id]
            if n.id in CONSTANTS:
                return intern.const(CONSTANTS[n.id])
            return intern("var", n.id)
        if isinstance(n, ast.UnaryOp):
            operand = n.operand
            if isinstance(n.op, ast.UAdd):
                return convert(operand)
            assert isinstance(n.op, ast.USub)
            inner = convert(operand)
            key = intern.keys[inner]
            if key[0] == "const":  # like gradcheck, fold the sign into a literal
                return intern.const(-key[1])
            return intern("neg", None, [inner])
        if isinstance(n, ast.BinOp):
            return intern(_PY_BINOPS[type(n.op)], None, [convert(n.left), convert(n.right)])
        if isinstance(n, ast.Compare):
            assert len(n.ops) == 1, "comparison chains are not part of the language"
            return intern(_PY_COMPARE[type(n.ops[0])], None, [convert(n.left), convert(n.comparators[0])])
        if isinstance(n, ast.Call):
            return call(n)
        if isinstance(n, ast.Attribute):
            assert n.attr == "T", ast.dump(n)
            return intern("transpose", None, [convert(n.value)])
        if isinstance(n, ast.Subscript):
            return intern("index", index(n.slice), [convert(n.value)])
        raise AssertionError(f"unexpected Python syntax {ast.dump(n)}")

    result = None
    for statement in module.body:
        if isinstance(statement, ast.Assign):
            scope[statement.targets[0].id] = convert(statement.value)
        else:
            result = convert(statement.value)
    assert result is not None
    return result


def _assert_round_trip(source: str, expected_text: str | None = None) -> str:
    node = parse(source).output
    return _assert_node_round_trip(node, source, expected_text)


def _assert_node_round_trip(node: Node, source: str | None = None, expected_text: str | None = None) -> str:
    printed = to_text(node)
    if expected_text is not None:
        assert printed == expected_text, f"{source!r} printed as {printed!r}, expected {expected_text!r}"
    reparsed = parse(printed).output
    assert same_structure(reparsed, node), f"{source!r} -> {printed!r} parses to {to_text(reparsed)!r}"
    assert to_text(reparsed) == printed  # printing is a fixed point
    intern = _Interner()
    mine = node_tree(node, intern)
    assert python_tree(printed, intern) == mine, f"Python reads {printed!r} differently from the graph"
    if source is not None:
        assert python_tree(source, intern) == mine, f"gradcheck parses {source!r} unlike Python"
    return printed


TRICKY = [
    ("-x**2", "-x**2"),
    ("2**-x", "2**-x"),
    ("(-2)**x", "(-2)**x"),
    ("-2**x", "-2**x"),
    ("(-x)**2", "(-x)**2"),
    ("x**-2", "x**-2"),
    ("x**-y**2", "x**-y**2"),
    ("a-(b-c)", "a - (b - c)"),
    ("(a-b)-c", "a - b - c"),
    ("a-(b+c)", "a - (b + c)"),
    ("a+(b-c)", "a + (b - c)"),
    ("(a+b)-c", "a + b - c"),
    ("a/(b*c)", "a/(b*c)"),
    ("a*(b/c)", "a*(b/c)"),
    ("(a*b)/c", "a*b/c"),
    ("a/(b/c)", "a/(b/c)"),
    ("a*(b*c)", "a*(b*c)"),
    ("a**b**c", "a**b**c"),
    ("a**(b**c)", "a**b**c"),
    ("(a**b)**c", "(a**b)**c"),
    ("-(a+b)", "-(a + b)"),
    ("-(a*b)", "-(a*b)"),
    ("(-a)*b", "-a*b"),
    ("x*-2", "x*-2"),
    ("x/-2", "x/-2"),
    ("-2*x", "-2*x"),
    ("(a > b)*c", "(a > b)*c"),
    ("a > b*c", "a > b*c"),
    ("(a > b) > c", "(a > b) > c"),
    ("a > (b > c)", "a > (b > c)"),
    ("(a == b) != (c <= d)", "(a == b) != (c <= d)"),
    ("-(a > b)", "-(a > b)"),
    ("a - -2", "a - -2"),
    ("a - (-b)", "a - -b"),
    ("-(-x)", "--x"),
    ("--x", "--x"),
    ("-(-2)", "2"),
    ("+x - +y", "x - y"),
    ("((a))", "a"),
    ("a**-b**-c", "a**-b**-c"),
    ("(a**-b)**-c", "(a**-b)**-c"),
    ("(-2.5)**2", "(-2.5)**2"),
    ("2**-3**x", "2**-3**x"),
    ("(x - 1)**-1", "(x - 1)**-1"),
    ("-sin(x)**2", "-sin(x)**2"),
    ("sin(-x)**2", "sin(-x)**2"),
    ("max(a, -b)**-c", "max(a, -b)**-c"),
    ("clamp(-x, -1, 1)", "clamp(-x, -1, 1)"),
    ("pow(a, b)", "a**b"),
    ("pow(-a, b)", "(-a)**b"),
    ("pi*e - x", "pi*e - x"),
    ("1e-08*x + 2.5e20", "1e-08*x + 2.5e+20"),
    ("0.1 + x/3", "0.1 + x/3"),
    ("z = x + y; z*z", "(x + y)*(x + y)"),
    # tensor syntax: @ binds like *, postfix .T and [] tighter than anything
    ("dot(a, b)", "a@b"),
    ("matmul(a, b)", "a@b"),
    ("a @ b @ c", "a@b@c"),
    ("a @ (b @ c)", "a@(b@c)"),
    ("a*b @ c", "a*b@c"),
    ("a @ b*c", "a@b*c"),
    ("a @ (b*c)", "a@(b*c)"),
    ("a/b @ c", "a/b@c"),
    ("a + b @ c", "a + b@c"),
    ("(a + b) @ c", "(a + b)@c"),
    ("-a @ b", "-a@b"),
    ("-(a @ b)", "-(a@b)"),
    ("a @ -b", "a@-b"),
    ("a @ b**2", "a@b**2"),
    ("(a @ b)**2", "(a@b)**2"),
    ("a @ b > c", "a@b > c"),
    ("transpose(x)", "x.T"),
    ("x.T.T", "x.T.T"),
    ("-x.T", "-x.T"),
    ("(-x).T", "(-x).T"),
    ("(a @ b).T", "(a@b).T"),
    ("a @ b.T", "a@b.T"),
    ("2**x.T", "2**x.T"),
    ("x.T**2", "x.T**2"),
    ("(x**2).T", "(x**2).T"),
    ("x[0]", "x[0]"),
    ("x[-1]**2", "x[-1]**2"),
    ("-x[0]", "-x[0]"),
    ("(-x)[0]", "(-x)[0]"),
    ("(x + y)[1:3]", "(x + y)[1:3]"),
    ("x[1, 2]", "x[1, 2]"),
    ("x[:, 0]", "x[:, 0]"),
    ("x[::2]", "x[::2]"),
    ("x[1:]", "x[1:]"),
    ("x[:2, 1:]", "x[:2, 1:]"),
    ("x[0][1]", "x[0][1]"),
    ("x.T[0]", "x.T[0]"),
    ("x[0].T", "x[0].T"),
    ("sin(x)[0]", "sin(x)[0]"),
    ("(a @ b)[0]", "(a@b)[0]"),
    ("2**x[0]", "2**x[0]"),
    ("max(x)", "amax(x)"),
    ("min(x, y)", "min(x, y)"),
    ("amax(x, -1)", "amax(x, -1)"),
    ("sum(x, 0)", "sum(x, 0)"),
    ("mean(x - 1, -1)", "mean(x - 1, -1)"),
    ("softmax(x)", "softmax(x)"),
    ("log_softmax(x, 0)", "log_softmax(x, 0)"),
    ("reshape(x, 2, -1)", "reshape(x, 2, -1)"),
    ("concat(a, b, c)", "concat(a, b, c)"),
    ("stack(a, -b)", "stack(a, -b)"),
    ("where(x > 0, x, 0.5*x)", "where(x > 0, x, 0.5*x)"),
    ("ones(2, 3) + eye(3)[0:2]", "ones(2, 3) + eye(3)[0:2]"),
    ("zeros(2)", "zeros(2)"),
    ("unindex(v, l, [1, :])", "unindex(v, l, [1, :])"),
    ("unindex(v, l, [::2])", "unindex(v, l, [::2])"),
    ("a*(b + c)*d", "a*(b + c)*d"),
    ("(a > b) + (c < d)*2", "(a > b) + (c < d)*2"),
]


@pytest.mark.parametrize("source, expected", TRICKY, ids=[s for s, _ in TRICKY])
def test_tricky_precedence_round_trip(source, expected):
    _assert_round_trip(source, expected)


def test_round_trip_check_can_fail():
    """The round-trip machinery notices a mis-parenthesised print (no tautology)."""
    node = parse("a - (b - c)").output
    assert not same_structure(parse("a - b - c").output, node)
    intern = _Interner()
    assert python_tree("a - b - c", intern) != node_tree(node, intern)
    assert python_tree("-x**2", intern) != node_tree(parse("(-x)**2").output, intern)


_OPERANDS = ["a", "-a", "2", "-2", "sin(a)"]


def _operator_forms():
    infix = sorted(INFIX)
    forms = [("infix", s) for s in infix] + [("prefix", "-")]
    return forms


def _apply(form, left, right):
    kind, symbol = form
    return f"({left}) {symbol} ({right})" if kind == "infix" else f"{symbol}({left})"


@pytest.mark.parametrize("outer", _operator_forms(), ids=lambda f: f[1])
def test_every_operator_pair_round_trips(outer):
    """Every operator as the outer operation, with every operator nested on each side."""
    count = 0
    for inner in _operator_forms():
        for x, y in itertools.product(_OPERANDS[:3], repeat=2):
            child = _apply(inner, x, y)
            for left, right in ((child, "c"), ("c", child), (child, child)):
                _assert_round_trip(_apply(outer, left, right))
                count += 1
    assert count > 100


# ---- derivative graphs print and parse back ---------------------------------------------------------


DERIVATIVES = [
    ("sin(x**2)", {}),
    ("x**y", {}),
    ("2**-x*y", {}),
    ("-(x - y)**2/2", {}),
    ("a/(b*c) - a*(b/c)", {}),
    ("exp(-x**2/2)/sqrt(2*pi)", {}),
    ("z = w*x + b; p = clamp(sigmoid(z), 1e-8, 1 - 1e-8); -(y*log(p) + (1 - y)*log(1 - p))", {}),
    ("min(x, y)*max(x, -y) + abs(x - y)", {}),
    ("relu(x)**3 - (x > y)*y", {}),
    ("tan(x)/atan(y) + asin(x/4)*acos(y/4)", {}),
    ("softplus(-x)*log1p(y**2)", {}),
    ("tanh(sinh(x))*cosh(y)**-2", {}),
    ("x*detach(y) + detach(x)*y", {}),
    ("pow(x, -y)**x", {}),
    ("u = x*y; v = u*u + u; w = v*v + v; t = w*w + w; t*t + t", {}),  # long: let-bindings
    ("sum(a*b)", {"a": (3,), "b": (2, 3)}),
    ("mean(a/b)", {"a": (2, 1), "b": (1, 3)}),
    ("sum(sum_to(g, l)**2)", {"g": (2, 3), "l": (3,)}),
    # tensor ops: derivatives made of transpose, reshape, index, unindex, expand, sum_to
    ("sum((A @ x - b)**2)", {"A": (2, 3), "x": (3,), "b": (2,)}),
    ("sum(x @ A)", {"x": (2,), "A": (2, 3)}),
    ("sum((A @ B)**2)", {"A": (2, 3), "B": (3, 2)}),
    ("x @ y", {"x": (3,), "y": (3,)}),
    ("sum(softmax(x)*w)", {"x": (3,), "w": (3,)}),
    ("sum(softmax(x, 0)*w)", {"x": (2, 3), "w": (2, 3)}),
    ("-sum(y*log_softmax(z))", {"y": (3,), "z": (3,)}),
    ("logsumexp(x) + sum(logsumexp(A, 1))", {"x": (3,), "A": (2, 3)}),
    ("mean(x, 0) @ w", {"x": (2, 3), "w": (3,)}),
    ("norm(x) + prod(x) + amax(x) - amin(x)", {"x": (3,)}),
    ("sum(amax(A, 0)*w)", {"A": (2, 3), "w": (3,)}),
    ("sum(x.T @ x)", {"x": (2, 3)}),
    ("x[0]*x[2] + sum(x[1:]**2)", {"x": (3,)}),
    ("sum(A[:, 0]*w) + A[1, 2]", {"A": (2, 3), "w": (2,)}),
    ("sum(reshape(A, 3, 2) @ w)", {"A": (2, 3), "w": (2,)}),
    ("sum(concat(a, b)**2) + sum(stack(a, a)*s)", {"a": (2,), "b": (3,), "s": (2, 2)}),
    ("sum(where(x > y, x, y)**2)", {"x": (3,), "y": (3,)}),
    ("sum((W @ x + b)**2)", {"W": (3, 4), "x": (4,), "b": (3, 1)}),
    ("sum(tanh(W1 @ x + b1)*w)", {"W1": (2, 3), "x": (3,), "b1": (), "w": (2,)}),
    ("sum(unindex(v, l, [1:3])**2)", {"v": (2,), "l": (3,)}),
    ("sum((eye(2) + A) @ ones(2))", {"A": (2, 2)}),
    ("sum(reshape(x, 1)**2)", {"x": ()}),
]


@pytest.mark.parametrize("source, shapes", DERIVATIVES, ids=[s for s, _ in DERIVATIVES])
def test_derivative_graph_round_trip(source, shapes):
    expression = parse(source)
    shape_map = ShapeMap({v: shapes.get(v, ()) for v in expression.variables})
    gradients = gradient_nodes(expression.output, expression.variables, shape_map)
    assert set(gradients) == set(expression.variables)
    for node in gradients.values():
        assert node.graph is expression.graph
        printed = _assert_node_round_trip(node)
        # the printed derivative mentions only the expression's variables (bindings are expanded)
        assert set(parse(printed).variables) <= set(expression.variables), printed
        # the same graph printed with binding names also parses back, given the bindings
        named = to_text(node, expression.names())
        again = parse(named, bindings=expression.bindings, graph=expression.graph)
        assert again.output is node, f"{named!r} re-read is not the derivative node"


def test_long_derivative_uses_let_form():
    expression = parse("u = x*y; v = u*u + u; w = v*v + v; t = w*w + w; t*t + t")
    shape_map = ShapeMap({"x": (), "y": ()})
    node = gradient_nodes(expression.output, ["x"], shape_map)["x"]
    printed = to_text(node)
    assert ";" in printed  # shared nodes became let-bindings
    assert same_structure(parse(printed).output, node)
