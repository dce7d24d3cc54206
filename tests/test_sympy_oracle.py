"""sympy as an independent oracle for the symbolic engine and its printed formulas.

Every case is a scalar expression with an in-domain point.  The expression text
is read a second time, independently of gradcheck's parser, by Python's own
grammar (`ast`) and `sympy.sympify`; sympy differentiates it and evaluates the
derivative at the point with 50 significant digits.  For each case:

(a) the symbolic gradient gradcheck evaluates equals sympy's to rel 1e-12;
(b) the printed derivative formula `r.formulas[var]`, read back by sympy
    (bindings resolved to their definitions), has the same value;
(c) the case passes (symbolic, finite differences and autograd agree).

The point values are float64 numbers, and sympy receives their exact binary
values, so both sides evaluate the same mathematical function at the same point.
"""

from __future__ import annotations

import ast
import functools
import math

import pytest
import sympy

from gradcheck_cli import check

DIGITS = 50
RTOL = 1e-12
ATOL = 1e-12  # absolute floor, for derivatives that are (near) zero


# ---- expression text -> sympy, via Python's grammar -------------------------------------------------


class Detach(sympy.Function):
    """detach(x): the value of x, with zero derivative."""

    @classmethod
    def eval(cls, arg):
        if arg.is_Number:
            return arg

    def fdiff(self, argindex=1):
        return sympy.Integer(0)


def _indicator(relation):
    return sympy.Piecewise((sympy.Integer(1), relation), (sympy.Integer(0), True))


FUNCTIONS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan,
    "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan,
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
    "exp": sympy.exp, "log": sympy.log, "log1p": lambda x: sympy.log(1 + x), "sqrt": sympy.sqrt,
    "abs": sympy.Abs, "sign": sympy.sign,
    "sigmoid": lambda x: 1 / (1 + sympy.exp(-x)),
    "softplus": lambda x: sympy.log(1 + sympy.exp(x)),
    "relu": lambda x: sympy.Max(0, x),
    "pow": sympy.Pow,
    "min": sympy.Min, "max": sympy.Max,
    "clamp": lambda x, lo, hi: sympy.Min(sympy.Max(x, lo), hi),
    "detach": Detach,
    # comparisons (rewritten from Python's `a > b` syntax below): 1 or 0
    "_gt": lambda a, b: _indicator(sympy.StrictGreaterThan(a, b)),
    "_ge": lambda a, b: _indicator(sympy.GreaterThan(a, b)),
    "_lt": lambda a, b: _indicator(sympy.StrictLessThan(a, b)),
    "_le": lambda a, b: _indicator(sympy.LessThan(a, b)),
    "_eq": lambda a, b: _indicator(sympy.Eq(a, b)),
    "_ne": lambda a, b: _indicator(sympy.Ne(a, b)),
}
CONSTANTS = {"pi": sympy.pi, "e": sympy.E}
_COMPARE = {ast.Gt: "_gt", ast.GtE: "_ge", ast.Lt: "_lt", ast.LtE: "_le", ast.Eq: "_eq", ast.NotEq: "_ne"}


class _ComparisonsToCalls(ast.NodeTransformer):
    """`a > b` -> `_gt(a, b)`, so that a comparison is a number that can be multiplied."""

    def visit_Compare(self, node: ast.Compare):
        self.generic_visit(node)
        assert len(node.ops) == 1, "gradcheck never chains comparisons"
        name = _COMPARE[type(node.ops[0])]
        return ast.Call(ast.Name(name, ast.Load()), [node.left, node.comparators[0]], [])


def to_sympy(text: str, symbols: dict[str, sympy.Symbol], scope: dict[str, sympy.Expr] | None = None):
    """The value of a program `b1 = ...; b2 = ...; expr` as a sympy expression.

    Returns (expression, bindings).  `scope` holds names already bound (for a formula that
    refers to the bindings of its expression by name).
    """
    scope = dict(scope or {})
    module = ast.parse(text)
    result = None
    for statement in module.body:
        value = statement.value
        value = ast.fix_missing_locations(_ComparisonsToCalls().visit(value))
        code = ast.unparse(value)
        expression = sympy.sympify(code, locals={**FUNCTIONS, **CONSTANTS, **symbols, **scope})
        if isinstance(statement, ast.Assign):
            (target,) = statement.targets
            scope[target.id] = expression
        else:
            assert isinstance(statement, ast.Expr)
            result = expression
    assert result is not None
    return result, scope


def evaluate(expression, point: dict[sympy.Symbol, float]) -> sympy.Float:
    exact = {s: sympy.Float(v, DIGITS + 10) for s, v in point.items()}
    value = sympy.N(expression.subs(exact), DIGITS)
    assert value.is_real and value.is_finite, f"sympy gives {value} for {expression} at {point}"
    return value


def close(got: float, expected, rtol: float = RTOL, atol: float = ATOL) -> bool:
    expected = float(expected)
    return math.isfinite(got) and abs(got - expected) <= atol + rtol * abs(expected)


# ---- the cases: (id, expression, point) ---------------------------------------------------------------

CASES = [
    # single functions and simple compositions
    ("sin_sq", "sin(x**2)", {"x": 4.0}),
    ("cos_lin", "cos(3*x) + x", {"x": 0.7}),
    ("tan_over_x", "tan(x)/x", {"x": 0.9}),
    ("asin_half", "asin(x/2)", {"x": 0.6}),
    ("acos_sq", "acos(x**2)", {"x": 0.5}),
    ("atan_prod", "atan(x*y)", {"x": 1.3, "y": -0.4}),
    ("sinh_cosh", "sinh(x) - cosh(x)*x", {"x": 0.8}),
    ("tanh_affine", "tanh(2*x - 1)", {"x": 0.3}),
    ("gauss", "exp(-x**2/2)", {"x": 1.1}),
    ("log_sq1", "log(x**2 + 1)", {"x": -2.5}),
    ("log1p_sq", "log1p(x*x)", {"x": 0.2}),
    ("hypot", "sqrt(x**2 + y**2)", {"x": 3.0, "y": 4.0}),
    ("abs_shift", "abs(x - 2)*x", {"x": 0.5}),
    ("sigmoid_scaled", "sigmoid(3*x)", {"x": 0.4}),
    ("softplus_diff", "softplus(x - y)", {"x": 1.5, "y": 0.25}),
    # powers
    ("pow_call_int", "pow(x, 3)", {"x": 1.7}),
    ("pow_call_both", "pow(x, y)", {"x": 1.7, "y": 2.3}),
    ("pow_neg_exponent", "x**y", {"x": 2.5, "y": -0.7}),
    ("exp2", "2**x", {"x": 1.3}),
    ("inverse_square", "x**-2", {"x": 1.9}),
    ("cube_negative_base", "x**3", {"x": -1.3}),
    ("self_power", "x**x", {"x": 1.5}),
    ("root", "y**(1/x)", {"x": 2.0, "y": 3.0}),
    ("exp2_neg", "2**-x", {"x": 0.7}),
    ("right_assoc_pow", "x**y**2", {"x": 1.4, "y": 0.9}),
    ("left_pow", "(x**y)**2", {"x": 1.4, "y": 0.9}),
    ("poly", "(x + 1)**3 - (x + 1)**2", {"x": 0.4}),
    ("neg_square", "-x**2 + 3*x - 1", {"x": 0.8}),
    # quotients
    ("reciprocal", "1/x", {"x": -0.8}),
    ("rational", "x/(1 + x**2)", {"x": 0.6}),
    ("ratio_two", "(x - y)/(x + y)", {"x": 2.0, "y": 0.5}),
    ("quotient_sq", "(x*y)/(x - y)**2", {"x": 3.0, "y": 1.0}),
    ("chained_div", "x/y/(x + 2)", {"x": 1.2, "y": 0.7}),
    ("exp_over", "exp(x*y)/y", {"x": 0.5, "y": 1.5}),
    ("sinh_over_x", "sinh(x)/x", {"x": 0.5}),
    # nested compositions
    ("exp_sin", "exp(sin(x))", {"x": 2.2}),
    ("log_cosh", "log(cosh(x))", {"x": 0.9}),
    ("sin_cos_tan", "sin(cos(tan(x)))", {"x": 0.4}),
    ("sqrt_exp", "sqrt(1 + exp(-x))", {"x": 0.3}),
    ("gudermannian", "atan(sinh(x))", {"x": 1.2}),
    ("asinh_by_hand", "log(x + sqrt(x**2 + 1))", {"x": 0.75}),
    ("acos_cos", "acos(cos(x))", {"x": 0.5}),
    ("asin_sin", "asin(sin(x)*0.5)", {"x": 1.0}),
    ("exp_log", "exp(log(x)*y)", {"x": 1.8, "y": 0.6}),
    ("sqrt_abs", "sqrt(abs(x))", {"x": -2.3}),
    ("softplus_neg", "softplus(-x**2)", {"x": 0.9}),
    ("sigmoid_bilinear", "sigmoid(x*y - 1)", {"x": 0.2, "y": 3.0}),
    ("tan_half_sq", "tan(x/2)**2", {"x": 0.6}),
    ("log1p_exp", "log1p(exp(x))", {"x": -1.2}),
    ("atan_ratio", "atan(y/x)", {"x": -1.5, "y": 0.8}),
    ("tanh_sigmoid_log", "tanh(sigmoid(log(x)))", {"x": 2.7}),
    # products, sums and identities (zero derivatives)
    ("sigmoid_slope", "sigmoid(x)*(1 - sigmoid(x))", {"x": 0.7}),
    ("triple_product", "x*exp(x)*sin(x)", {"x": 1.1}),
    ("sin_sum", "sin(x)*cos(y) + cos(x)*sin(y)", {"x": 0.3, "y": 1.2}),
    ("monomial", "x**2*y**3", {"x": 1.5, "y": -0.5}),
    ("log_log", "log(x)*log(y)", {"x": 2.0, "y": 3.0}),
    ("tanh_identity", "tanh(x)**2 + 1/cosh(x)**2", {"x": 0.5}),
    ("cosh_identity", "cosh(x)**2 - sinh(x)**2", {"x": 0.6}),
    ("sigmoid_identity", "1/(1 + exp(-x)) - sigmoid(x)", {"x": 0.3}),
    ("neg_quadratic", "-(x - y)**2/2", {"x": 0.2, "y": 1.4}),
    ("minus_negative", "x - -2*y", {"x": 1.0, "y": 2.0}),
    ("abs_sin", "abs(sin(x))*y", {"x": 4.0, "y": 1.5}),
    ("sign_square", "sign(x)*x**2", {"x": -0.7}),
    # shared subexpressions, without and with bindings
    ("shared_sq", "sin(x**2) + cos(x**2)*x**2", {"x": 1.3}),
    ("shared_exp", "exp(x)/(1 + exp(x)) + exp(x)", {"x": -0.4}),
    ("bind_simple", "z = x*2; sin(z)", {"x": 0.3}),
    ("bind_two", "u = x**2; v = sin(u); u*v + v", {"x": 1.2}),
    ("bind_sum_prod", "s = x + y; p = x*y; s**2 - 2*p", {"x": 1.1, "y": 0.7}),
    ("bind_logistic", "t = exp(x); t/(1 + t)", {"x": 0.4}),
    ("bind_sqrt_log", "q = sqrt(x); r = log(q); q*r", {"x": 2.5}),
    ("bind_neuron", "z = sigmoid(1.7*w + b); -log(z)", {"w": 0.5, "b": -0.3}),
    ("bind_chain", "a = sin(x); b = a*a; c = b*a + y; c*exp(-c)", {"x": 0.8, "y": 0.1}),
    ("bind_trailing_semicolon", "r = x**2 + y**2; sqrt(r);", {"x": 0.6, "y": 0.8}),
    # piecewise functions and comparisons, away from kinks and ties
    ("min_product", "min(x, y)*x", {"x": 1.0, "y": 2.0}),
    ("max_square", "max(x**2, y)", {"x": 1.5, "y": 1.0}),
    ("clamp_inside", "clamp(x, 0, 1)*x", {"x": 0.3}),
    ("clamp_above", "clamp(x*y, -1, 1) + x", {"x": 2.0, "y": 0.75}),
    ("relu_shifted", "relu(x - 1)*y", {"x": 2.0, "y": 3.0}),
    ("indicator", "x*(x > 0.5) + (x <= 0.5)*x**2", {"x": 0.9}),
    ("detach_product", "x*detach(x)", {"x": 2.0}),
    ("detach_shared", "d = detach(sin(x)); d*cos(x) + sin(x)", {"x": 0.6}),
    ("constants", "pi*x + e**x", {"x": 0.5}),
]


def _symbols(point):
    return {name: sympy.Symbol(name, real=True) for name in point}


@functools.cache
def _run(expr: str, point_items: tuple):
    return check(expr, at=dict(point_items))


def _case(expr, point):
    result = _run(expr, tuple(sorted(point.items())))
    assert result.status != "error", result.error
    return result


@functools.cache
def _oracle(expr: str, point_items: tuple):
    """sympy's value and gradient of `expr` at the point, to DIGITS digits."""
    point = dict(point_items)
    symbols = _symbols(point)
    expression, _ = to_sympy(expr, symbols)
    at = {symbols[n]: v for n, v in point.items()}
    value = evaluate(expression, at)
    gradient = {n: evaluate(sympy.diff(expression, s), at) for n, s in symbols.items()}
    return value, gradient


ids = [c[0] for c in CASES]


def test_enough_cases():
    assert len(CASES) >= 60
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("name, expr, point", CASES, ids=ids)
def test_symbolic_gradient_matches_sympy(name, expr, point):
    result = _case(expr, point)
    value, gradient = _oracle(expr, tuple(sorted(point.items())))
    assert close(result.value, value), f"value {result.value!r}, sympy {value}"
    rows = {row.wrt: row for row in result.gradients}
    assert set(rows) == set(point), f"rows for {sorted(rows)}, variables {sorted(point)}"
    for var, expected in gradient.items():
        got = rows[var].symbolic
        assert got is not None and close(got, expected), \
            f"d/d{var} {expr} at {point}: symbolic {got!r}, sympy {expected}"


@pytest.mark.parametrize("name, expr, point", CASES, ids=ids)
def test_printed_formula_matches_sympy(name, expr, point):
    result = _case(expr, point)
    _, gradient = _oracle(expr, tuple(sorted(point.items())))
    symbols = _symbols(point)
    _, bindings = to_sympy(expr, symbols)  # formulas name the expression's bindings
    at = {symbols[n]: v for n, v in point.items()}
    assert set(result.formulas) == set(point)
    for var, expected in gradient.items():
        text = result.formulas[var]
        formula, _ = to_sympy(text, symbols, bindings)
        got = evaluate(formula, at)
        assert close(float(got), expected), f"d/d{var} {expr}: formula {text!r} = {got}, sympy {expected}"


@pytest.mark.parametrize("name, expr, point", CASES, ids=ids)
def test_case_passes(name, expr, point):
    result = _case(expr, point)
    assert result.status == "pass", [(r.wrt, r.symbolic, r.finite_difference, r.autograd, r.disagrees)
                                     for r in result.gradients]
    for row in result.gradients:
        assert row.disagrees == []
        assert row.autograd is not None and row.finite_difference is not None
        # the three engines agree far better than the default tolerance
        assert close(row.autograd, row.symbolic, rtol=1e-10, atol=1e-10)
        assert close(row.finite_difference, row.symbolic, rtol=1e-7, atol=1e-8)


def test_oracle_can_fail():
    """The comparison machinery notices a wrong formula (no tautology)."""
    symbols = _symbols({"x": 1.0})
    _, gradient = _oracle("sin(x**2)", (("x", 4.0),))
    wrong, _ = to_sympy("x*cos(x**2)", symbols)
    assert not close(float(evaluate(wrong, {symbols["x"]: 4.0})), gradient["x"])
    right, _ = to_sympy("2*x*cos(x**2)", symbols)
    assert close(float(evaluate(right, {symbols["x"]: 4.0})), gradient["x"])
    # precedence follows Python: -x**2 is -(x**2), 2**-x is 2**(-x), a**b**c is a**(b**c)
    assert to_sympy("-x**2", symbols)[0] == -symbols["x"] ** 2
    assert to_sympy("2**-x", symbols)[0] == 2 ** (-symbols["x"])
    # a comparison is 1 or 0
    assert float(evaluate(to_sympy("(x > 0)*3", symbols)[0], {symbols["x"]: 1.0})) == 3.0
    assert float(evaluate(to_sympy("(x > 0)*3", symbols)[0], {symbols["x"]: -1.0})) == 0.0
