"""The elementwise family of issue 17 (lang/ops/elementwise.py): erf, erfc, erfinv, lgamma, digamma (and the
internal polygamma), exp2, log2, log10, reciprocal, rsqrt, square, sinc, logit, atan2, hypot, xlogy, maximum,
minimum.

The registry rows (test_ops_registry.py) check these ops against torch; here they are checked against mpmath
at hard points (where torch itself is off: its float64 trigamma), in extended precision (the forward rounding
estimate runs graphs in np.longdouble, which scipy has no loops for), and at their undefined points, where the
verdict must say so and never be an internal error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_matches_mpmath
from mpmath import mp

from gradcheck_cli import check
from gradcheck_cli.engines.precise import precise_gradient
from gradcheck_cli.lang.ops import OPS
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.lang.shapes import ShapeMap

FAMILY = ("erf", "erfc", "erfinv", "lgamma", "digamma", "polygamma", "exp2", "log2", "log10", "reciprocal",
          "rsqrt", "square", "sinc", "logit", "atan2", "hypot", "xlogy", "maximum", "minimum")

# (expression in x, point, the function in mpmath): values and first derivatives to 1e-13
REFERENCES = [
    ("erf(x)", 0.7, mp.erf), ("erf(x)", -4.5, mp.erf), ("erf(x)", 1e-8, mp.erf),
    ("erfc(x)", 6.0, mp.erfc), ("erfc(x)", -1.5, mp.erfc),
    ("erfinv(x)", 0.3, mp.erfinv), ("erfinv(x)", -0.999999, mp.erfinv), ("erfinv(x)", 1e-9, mp.erfinv),
    ("lgamma(x)", 0.7, lambda t: mp.re(mp.loggamma(t))), ("lgamma(x)", -2.5, lambda t: mp.re(mp.loggamma(t))),
    ("lgamma(x)", -2.0001, lambda t: mp.re(mp.loggamma(t))), ("lgamma(x)", 1e-3, lambda t: mp.re(mp.loggamma(t))),
    ("lgamma(x)", 300.0, lambda t: mp.re(mp.loggamma(t))),
    # torch's digamma gradient (its float64 trigamma) is off by 4e-10 at 0.7 and 5e-10 at 1: ours is not
    ("digamma(x)", 0.7, mp.digamma), ("digamma(x)", 1.0, mp.digamma), ("digamma(x)", -2.5, mp.digamma),
    ("digamma(x)", -0.01, mp.digamma),
    ("polygamma(x, n=2)", 0.7, lambda t: mp.polygamma(2, t)),
    ("exp2(x)", -3.5, lambda t: mp.mpf(2) ** t), ("log2(x)", 1e5, lambda t: mp.log(t, 2)),
    ("log10(x)", 0.3, mp.log10), ("reciprocal(x)", -2.5, lambda t: 1 / t), ("rsqrt(x)", 1e-4, lambda t: 1 / mp.sqrt(t)),
    ("square(x)", -1e3, lambda t: t * t),
    # sinc near 0: the quotient rule cancels (torch's gradient at 1e-4 is off by 2e-9); ours uses the series
    ("sinc(x)", 1e-4, mp.sincpi), ("sinc(x)", 0.1, mp.sincpi), ("sinc(x)", 0.124, mp.sincpi),
    ("sinc(x)", 0.126, mp.sincpi), ("sinc(x)", 2.5, mp.sincpi),
    ("logit(x)", 1e-4, lambda t: mp.log(t / (1 - t))), ("logit(x)", 0.999, lambda t: mp.log(t / (1 - t))),
    ("atan2(x, -2)", 0.001, lambda t: mp.atan2(t, -2)), ("atan2(-3, x)", -0.5, lambda t: mp.atan2(-3, t)),
    ("hypot(x, 4)", 3.0, lambda t: mp.hypot(t, 4)), ("xlogy(x, 40)", 3.0, lambda t: t * mp.log(40)),
    ("xlogy(2, x)", 0.25, lambda t: 2 * mp.log(t)),
]


@pytest.mark.parametrize("text, x, reference", REFERENCES, ids=[f"{t}@{x}" for t, x, _ in REFERENCES])
def test_values_and_derivatives_against_mpmath(text, x, reference):
    assert_matches_mpmath(text, x, reference)


def test_second_derivatives_against_mpmath():
    for text, x, reference in [("sinc(x)", 0.0, mp.sincpi), ("sinc(x)", 0.05, mp.sincpi),
                               ("digamma(x)", 0.7, mp.digamma), ("lgamma(x)", -2.5, lambda t: mp.re(mp.loggamma(t))),
                               ("erfinv(x)", 0.6, mp.erfinv)]:
        result = check(text, at={"x": x}, order=2)
        with mp.workdps(50):
            expected = float(mp.diff(reference, mp.mpf(x), 2))
        assert result.hessian[0].symbolic == pytest.approx(expected, rel=1e-12), (text, x)
        if text != "sinc(x)" or x != 0.0:  # torch's double backward of sinc at 0 is NaN: a fail, rightly
            assert result.status == "pass", (text, x, result.error)


@pytest.mark.parametrize("name", FAMILY)
def test_extended_and_single_precision_inputs(name):
    """np.longdouble (the forward rounding estimate) and float32 (dtype: float32) keep their dtype."""
    spec = OPS[name]
    for dtype in (np.longdouble, np.float32, np.float64):
        args = [np.array([[0.3, 0.6]], dtype=dtype)] * spec.arity
        value = np.asarray(spec.evaluate(args))
        assert value.dtype == dtype, (name, dtype, value.dtype)
        expected = np.asarray(spec.evaluate([a.astype(np.float64) for a in args]))
        np.testing.assert_allclose(value.astype(np.float64), expected, rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_a_spec_through_the_rounding_estimate():
    """lgamma in a sum with cancellation runs the long-double forward estimate: once an internal error."""
    result = check("sum(lgamma(k) + k*log(theta) - (k - 1)*log(x) + x/theta)",
                   at={"k": [0.7, 4.0, 12.0], "theta": [0.5, 1.0, 3.0], "x": [0.2, 4.5, 30.0]}, wrt=["k", "theta"])
    assert result.status == "pass", result.error


@pytest.mark.parametrize("text, at", [("lgamma(x)", {"x": -2.0}), ("digamma(x)", {"x": 0.0}),
                                      ("polygamma(x)", {"x": -3.0}), ("erfinv(x)", {"x": 1.0}),
                                      ("logit(x)", {"x": 0.0}), ("rsqrt(x)", {"x": 0.0}),
                                      ("reciprocal(x)", {"x": 0.0})])
def test_poles_and_domain_edges_are_errors_that_name_them(text, at):
    result = check(text, at=at)
    assert result.status == "error" and result.error["kind"] != "internal", result.error
    assert "infinite at this point" in result.error["message"]


def test_undefined_points_are_undefined():
    # atan2 at the origin, and on its jump (a = 0, b < 0): torch says -1 there, one side's derivative
    result = check("atan2(a, b)", at={"a": 0.0, "b": -1.0})
    assert result.status == "undefined"
    assert result.gradients[0].status == "undefined" and "jumps" in result.gradients[0].reason
    assert check("atan2(a, b)", at={"a": 0.0, "b": 0.0}).status == "undefined"
    assert check("atan2(a, b)", at={"a": 0.0, "b": 1.0}).status == "pass"  # the positive side is smooth
    # 1e-300 off the jump: float64 differences cross it, the referee's complex step settles -1 (mpmath's complex
    # atan of a tiny argument needs the extra bits _small_atan gives it)
    result = check("atan2(a, b)", at={"a": 1e-300, "b": -1.0})
    assert result.status == "pass" and result.gradients[0].precise == -1.0
    # hypot at the origin is a cone: not differentiable, never a pass
    assert check("hypot(a, b)", at={"a": 0.0, "b": 0.0}).status != "pass"
    # maximum at a tie: torch splits the gradient evenly (0.5 each), as the symbolic rule; a kink
    result = check("maximum(a, b)", at={"a": 1.0, "b": 1.0})
    assert result.status == "undefined"
    assert [(g.symbolic, g.autograd) for g in result.gradients] == [(0.5, 0.5), (0.5, 0.5)]


def test_xlogy_at_zero():
    # torch's convention: xlogy(0, y) = 0 for every y, so d/dy is 0 there, and d/dx = log(y) for y > 0
    result = check("xlogy(x, y)", at={"x": 0.0, "y": 2.0})
    assert result.status == "pass"
    assert [g.symbolic for g in result.gradients] == [math.log(2.0), 0.0]
    # at (0, 0): d/dx does not exist (x*log(0)); d/dy is 0, where torch gives NaN
    result = check("xlogy(x, y)", at={"x": 0.0, "y": 0.0})
    dx, dy = result.gradients
    assert dx.status == "undefined"
    assert dy.symbolic == 0.0 and math.isnan(dy.autograd) and dy.status == "fail"


def test_logit_eps_clamps_with_zero_gradient_outside():
    result = check("logit(x, eps=0.1)", at={"x": 0.05})
    assert result.status == "pass" and result.gradients[0].symbolic == 0.0
    assert float(result.value) == pytest.approx(math.log(0.1 / 0.9), rel=1e-15)
    result = check("logit(x, eps=0.1)", at={"x": 0.5})
    assert result.gradients[0].symbolic == pytest.approx(4.0, rel=1e-15)
    # at the clamp's ends the one-sided derivatives differ: a kink, never a pass (the complex step, one-sided
    # there, gives way to differences)
    for x in (0.1, 0.9):
        result = check("logit(x, eps=0.1)", at={"x": x})
        assert result.status == "undefined" and "kink" in result.gradients[0].reason, (x, result.gradients)


def _log_gamma(t):
    return mp.re(mp.loggamma(t))


FORTY_DIGITS = {"erf": ([0.7, -4.5], mp.erf), "erfc": ([0.7, 6.0], mp.erfc),
                "lgamma": ([0.7, -2.5, -2.0001, 1e-3], _log_gamma), "digamma": ([0.7, -2.5, -0.01], mp.digamma),
                "exp2": ([-3.5, 10.0], lambda t: mp.mpf(2) ** t), "log2": ([0.3, 1e5], lambda t: mp.log(t, 2)),
                "log10": ([0.3, 1e-7], mp.log10), "reciprocal": ([-2.5, 1e-3], lambda t: 1 / t),
                "rsqrt": ([0.3, 1e4], lambda t: 1 / mp.sqrt(t)), "square": ([-2.5, 1e3], lambda t: t * t),
                "sinc": ([0.3, 1e-4, 2.5], mp.sincpi), "logit": ([0.3, 1e-4, 0.999], lambda t: mp.log(t / (1 - t)))}


@pytest.mark.parametrize("name", sorted(FORTY_DIGITS))
def test_precise_referee_takes_the_complex_step_to_forty_digits(name):
    """The mp kernels' complex forms (lgamma and digamma by reflection off the i*pi*k of mpmath's loggamma),
    against mpmath's own numerical derivative of the real function at 150 digits."""
    points, real = FORTY_DIGITS[name]
    assert OPS[name].analytic and OPS[name].arity == 1
    for x in points:
        expression = parse(f"{name}(x)")
        point = {"x": np.asarray(x, dtype=np.float64)}
        result = precise_gradient(expression.output, expression.nodes, point, ["x"], ShapeMap({"x": ()}))
        assert result.methods["x"][()] == "complex step", (name, x)
        with mp.workdps(150):
            expected = mp.diff(real, mp.mpf(x))
        with mp.workdps(60):
            error = abs(mp.mpf(result.high_precision["x"][()]) - expected)
            assert error <= mp.mpf(10) ** -40 * abs(expected), (name, x)


def test_precise_referee_near_zero():
    """sinc is 1 + O(x**2) near 0, so the step's imaginary part is h*x: the mp kernel adds bits for it (without
    them sinc at 1e-200 had a slope of -9e34); lgamma's slope there is -1/x."""
    for text, x, expected in [("sinc(x)", 1e-200, -math.pi**2 / 3 * 1e-200),
                              ("sinc(x)", 1e-30, -math.pi**2 / 3 * 1e-30), ("lgamma(x)", 1e-200, -1e200),
                              ("hypot(1e-200, x)", 1e-200, 2**-0.5), ("logit(x)", 1e-300, 1e300)]:
        expression = parse(text)
        point = {"x": np.asarray(x, dtype=np.float64)}
        result = precise_gradient(expression.output, expression.nodes, point, ["x"], ShapeMap({"x": ()}))
        assert result.methods["x"][()] == "complex step"
        assert result.gradients["x"][()] == pytest.approx(expected, rel=1e-14), (text, x)
