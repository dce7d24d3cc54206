"""Elementwise functions, analytic where defined: trigonometric, hyperbolic, exponential and logarithmic, the
special functions (erf, lgamma, digamma, ... from scipy.special), and torch's elementwise functions of two
arguments (atan2, hypot, xlogy, maximum, minimum)."""

from __future__ import annotations

import math

import numpy as np

from .builders import builder, cos, cosh, eq, ge, gt, le, log, lt, sin, sinh, sqrt
from .record import OpSpec, Option, Options, mp_kernel, torch_module

exp, clamp, where, abs_ = builder("exp"), builder("clamp"), builder("where"), builder("abs")

# ---- special functions: scipy.special, with complex forms for the complex step ----


def _special():
    import scipy.special  # on first use: start-up pays nothing for it

    return scipy.special


def _in_double(function):
    """A scipy.special kernel that also takes extended precision (the forward rounding estimate runs the graph
    in np.longdouble, which scipy has no loops for): computed in double precision and given back in the
    caller's dtype, so that op adds no rounding of its own to that estimate."""
    def kernel(*args):
        x = args[0]
        dtype = getattr(x, "dtype", None)
        if dtype in (np.longdouble, np.clongdouble):
            double = np.complex128 if dtype == np.clongdouble else np.float64
            return np.asarray(function(x.astype(double), *args[1:])).astype(dtype)
        return function(*args)

    kernel.__name__ = function.__name__
    return kernel


@_in_double
def _erf(x):
    return _special().erf(x)


@_in_double
def _erfc(x):
    return _special().erfc(x)


@_in_double
def _erfinv(x):
    return _special().erfinv(x)


def _near_integer(x):
    """n = round(x) and r = x - n (exact), so that sin(pi*x) = (-1)**n sin(pi*r) loses nothing near a pole."""
    n = np.round(np.real(x))
    return n, x - n


@_in_double
def _lgamma(x):
    """log|Gamma(x)| (torch.lgamma).  Complex (the complex step): the holomorphic extension near the real axis,
    by reflection where Re x < 0.5 (scipy's complex loggamma there carries i*pi*k, which swamps the step); the
    real part is gammaln of the real part, equal to the extension's to O(Im x ** 2)."""
    special = _special()
    if not np.iscomplexobj(x):
        return special.gammaln(x)
    with np.errstate(all="ignore"):
        n, r = _near_integer(x)
        side = np.where(np.real(r) < 0, -1.0, 1.0)
        reflected = math.log(math.pi) - np.log(side * np.sin(math.pi * r)) - special.loggamma(1 - x)
        imag = np.where(np.real(x) < 0.5, np.imag(reflected), np.imag(special.loggamma(x)))
    return special.gammaln(np.real(x)) + 1j * imag


@_in_double
def _digamma(x):
    """psi(x) (torch.digamma).  Complex: psi(x) = psi(1 - x) - pi/tan(pi x) where Re x < 0.5, with pi*x reduced
    by the nearest integer first (scipy's complex psi loses digits next to a pole)."""
    special = _special()
    if not np.iscomplexobj(x):
        return special.psi(x)
    with np.errstate(all="ignore"):
        _, r = _near_integer(x)
        return np.where(np.real(x) < 0.5, special.psi(1 - x) - math.pi / np.tan(math.pi * r), special.psi(x))


@_in_double
def _polygamma(x, o):
    value = _special().polygamma(o.n, x)  # float64 for any real input: back to float32 for float32
    return value.astype(np.float32) if getattr(x, "dtype", None) == np.float32 else value


def _polygamma_of(x, n: int):
    """The node polygamma(x, n=n): the n-th derivative of digamma."""
    return x.graph.apply("polygamma", x, attr=Options((("n", n),)))


def _not_a_pole(x):
    return (x > 0) | (x != np.round(x))


def _sinc(x):
    return np.sinc(x)  # sin(pi x)/(pi x), 1 at 0 (torch.sinc); complex-safe


_SINC_SERIES = (-1 / 3, 1 / 30, -1 / 840, 1 / 45360, -1 / 3991680, 1 / 518918400)


def _sinc_partial(x, out):
    """d/dx sinc(x) = pi*g(pi x), g(t) = (t cos t - sin t)/t**2.  That quotient cancels near 0 (torch's loses
    digits as 1e-16/x**2), so for |x| < 0.125 g is its Taylor series in t (-t/3 + t**3/30 - ..., 6 terms: the
    next is below 1e-15 relative), which also gives the right second derivative at 0.  The quotient is taken
    at x replaced by 1 there, so that no branch is infinite at any order (no 0*inf in the adjoints)."""
    small = lt(abs_(x), 0.125)
    t = math.pi * x
    square = t * t
    series = _SINC_SERIES[-1]
    for coefficient in reversed(_SINC_SERIES[:-1]):
        series = coefficient + square * series
    safe = where(small, 1.0, x)
    quotient = (cos(math.pi * safe) - x.graph.apply("sinc", safe)) / safe
    return where(small, math.pi * t * series, quotient)


def _logit(x, o):
    if o.eps is not None:
        if np.iscomplexobj(x):  # the clamp reads the real part: a constant (zero derivative) outside, and NaN on
            real = np.real(x)  # its kinks, so that the complex step gives way to differences, which see them
            x = np.where(real < o.eps, o.eps, np.where(real > 1 - o.eps, 1 - o.eps, x))
            x = np.where((real == o.eps) | (real == 1 - o.eps), np.nan, x)
        else:
            x = np.clip(x, o.eps, 1 - o.eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x / (1 - x))


def _logit_partial(x, out):
    eps = out.attr.eps
    if eps is None:
        return 1 / (x * (1 - x))
    z = clamp(x, eps, 1 - eps)  # in [eps, 1 - eps]: the denominator is never 0 (torch: 0 outside, as here)
    return ge(x, eps) * le(x, 1 - eps) / (z * (1 - z))


def _logit_domain(x, o):
    if o.eps is None:
        return (x > 0) & (x < 1)
    return np.full(np.shape(x), 0 < o.eps < 0.5)


def _logit_kinks(x, o):
    return [] if o.eps is None else [x - o.eps, x - (1 - o.eps)]


def _torch_logit(x, o):
    return torch_module().logit(x, o.eps)


# ---- two arguments ----


def _atan2(a, b):
    """atan2(a, b) = the angle of (b, a) (torch.atan2(input, other)).  Complex: atan(a/b) plus the quadrant's
    multiple of pi (chosen by the real parts), or pi/2 - atan(b/a) where |b| < |a|: holomorphic in each."""
    if not (np.iscomplexobj(a) or np.iscomplexobj(b)):
        return np.arctan2(a, b)
    ra, rb = np.real(a), np.real(b)
    with np.errstate(all="ignore"):
        steep = np.abs(rb) < np.abs(ra)
        flat = np.arctan(a / b) + np.where(rb < 0, np.where(ra < 0, -math.pi, math.pi), 0.0)
        upright = np.where(ra < 0, -math.pi / 2, math.pi / 2) - np.arctan(b / a)
        # on the jump (a = 0, b <= 0) no branch is the function: NaN, so the complex step gives way to
        # differences, which see the jump
        return np.where((ra == 0) & (rb <= 0), np.nan, np.where(steep, upright, flat))


def _hypot(a, b):
    if np.iscomplexobj(a) or np.iscomplexobj(b):  # scaled by the larger real part: no overflow in a*a
        scale = np.maximum(np.abs(np.real(a)), np.abs(np.real(b)))
        scale = np.where(scale > 0, scale, 1.0)
        return scale * np.sqrt((a / scale) ** 2 + (b / scale) ** 2)
    return np.hypot(a, b)


def _xlogy(a, b):
    """a*log(b), and 0 where a = 0 (unless b is NaN), as torch.xlogy."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((a == 0) & ~np.isnan(b), 0.0 * b, a * np.log(b))

OPS = [
    # ---- trigonometric ----
    OpSpec("sin", 1, np.sin, lambda x: x.sin(), partials=(lambda x, out: cos(x),), mp=mp_kernel("sin")),
    OpSpec("cos", 1, np.cos, lambda x: x.cos(), partials=(lambda x, out: -sin(x),), mp=mp_kernel("cos")),
    OpSpec("tan", 1, np.tan, lambda x: x.tan(), partials=(lambda x, out: 1 + out**2,), mp=mp_kernel("tan"),
           domain=lambda x: np.cos(x) != 0, domain_text="tan is undefined where cos(x) = 0"),
    OpSpec("asin", 1, np.arcsin, lambda x: x.asin(), partials=(lambda x, out: 1 / sqrt(1 - x**2),),
           mp=mp_kernel("asin"),
           domain=lambda x: np.abs(x) < 1, domain_text="asin is differentiable for -1 < x < 1"),
    OpSpec("acos", 1, np.arccos, lambda x: x.acos(), partials=(lambda x, out: -1 / sqrt(1 - x**2),),
           mp=mp_kernel("acos"),
           domain=lambda x: np.abs(x) < 1, domain_text="acos is differentiable for -1 < x < 1"),
    OpSpec("atan", 1, np.arctan, lambda x: x.atan(), partials=(lambda x, out: 1 / (1 + x**2),), mp=mp_kernel("atan")),
    # ---- hyperbolic ----
    OpSpec("sinh", 1, np.sinh, lambda x: x.sinh(), partials=(lambda x, out: cosh(x),), mp=mp_kernel("sinh")),
    OpSpec("cosh", 1, np.cosh, lambda x: x.cosh(), partials=(lambda x, out: sinh(x),), mp=mp_kernel("cosh")),
    OpSpec("tanh", 1, np.tanh, lambda x: x.tanh(), partials=(lambda x, out: 1 - out**2,), mp=mp_kernel("tanh")),
    # ---- exponential and logarithmic ----
    OpSpec("exp", 1, np.exp, lambda x: x.exp(), partials=(lambda x, out: out,), mp=mp_kernel("exp")),
    OpSpec("expm1", 1, np.expm1, lambda x: x.expm1(), partials=(lambda x, out: out + 1,), mp=mp_kernel("expm1"),
           doc="exp(x) - 1, without cancellation for small x (torch.expm1)"),
    OpSpec("log", 1, np.log, lambda x: x.log(), partials=(lambda x, out: 1 / x,), mp=mp_kernel("log"),
           domain=lambda x: x > 0, domain_text="log is defined for x > 0"),
    OpSpec("log1p", 1, np.log1p, lambda x: x.log1p(), partials=(lambda x, out: 1 / (1 + x),), mp=mp_kernel("log1p"),
           domain=lambda x: x > -1, domain_text="log1p is defined for x > -1"),
    OpSpec("sqrt", 1, np.sqrt, lambda x: x.sqrt(), partials=(lambda x, out: 0.5 / out,), mp=mp_kernel("sqrt"),
           domain=lambda x: x > 0, domain_text="sqrt is differentiable for x > 0"),
    OpSpec("exp2", 1, np.exp2, lambda x: x.exp2(), partials=(lambda x, out: math.log(2) * out,),
           mp=mp_kernel("exp2"), doc="2**x (torch.exp2)"),
    OpSpec("log2", 1, np.log2, lambda x: x.log2(), partials=(lambda x, out: 1 / (math.log(2) * x),),
           mp=mp_kernel("log2"), domain=lambda x: x > 0, domain_text="log2 is defined for x > 0",
           doc="the base-2 logarithm (torch.log2)"),
    OpSpec("log10", 1, np.log10, lambda x: x.log10(), partials=(lambda x, out: 1 / (math.log(10) * x),),
           mp=mp_kernel("log10"), domain=lambda x: x > 0, domain_text="log10 is defined for x > 0",
           doc="the base-10 logarithm (torch.log10)"),
    # ---- powers ----
    OpSpec("reciprocal", 1, np.reciprocal, lambda x: x.reciprocal(), partials=(lambda x, out: -out**2,),
           mp=mp_kernel("reciprocal"), domain=lambda x: x != 0, domain_text="reciprocal is undefined at x = 0",
           doc="1/x (torch.reciprocal)"),
    OpSpec("rsqrt", 1, lambda x: 1 / np.sqrt(x), lambda x: x.rsqrt(), partials=(lambda x, out: -0.5 * out / x,),
           mp=mp_kernel("rsqrt"), domain=lambda x: x > 0, domain_text="rsqrt is defined for x > 0",
           doc="1/sqrt(x) (torch.rsqrt)"),
    OpSpec("square", 1, np.square, lambda x: x.square(), partials=(lambda x, out: 2 * x,), mp=mp_kernel("square"),
           doc="x*x (torch.square)"),
    OpSpec("sinc", 1, _sinc, lambda x: x.sinc(),
           partials=(_sinc_partial,), mp=mp_kernel("sinc"),
           doc="sin(pi*x)/(pi*x), 1 at x = 0 (torch.sinc, the normalized sinc)"),
    # ---- special functions (scipy.special) ----
    OpSpec("erf", 1, _erf, lambda x: x.erf(), partials=(lambda x, out: 2 / math.sqrt(math.pi) * exp(-x**2),),
           mp=mp_kernel("erf"), doc="the error function (torch.erf)"),
    OpSpec("erfc", 1, _erfc, lambda x: x.erfc(),
           partials=(lambda x, out: -2 / math.sqrt(math.pi) * exp(-x**2),), mp=mp_kernel("erfc"),
           doc="1 - erf(x), without cancellation for large x (torch.erfc)"),
    OpSpec("erfinv", 1, _erfinv, lambda x: x.erfinv(),
           partials=(lambda x, out: math.sqrt(math.pi) / 2 * exp(out**2),), mp=mp_kernel("erfinv"),
           analytic=False,  # scipy's erfinv takes no complex numbers
           domain=lambda x: np.abs(x) < 1, domain_text="erfinv is defined for -1 < x < 1",
           doc="the inverse of erf (torch.erfinv)"),
    OpSpec("lgamma", 1, _lgamma, lambda x: x.lgamma(), partials=(lambda x, out: x.graph.apply("digamma", x),),
           mp=mp_kernel("lgamma"), domain=_not_a_pole,
           domain_text="lgamma has poles at 0, -1, -2, ...", doc="log|Gamma(x)| (torch.lgamma)"),
    OpSpec("digamma", 1, _digamma, lambda x: x.digamma(),
           partials=(lambda x, out: _polygamma_of(x, 1),),
           mp=mp_kernel("digamma"), domain=_not_a_pole,
           domain_text="digamma has poles at 0, -1, -2, ...", doc="d/dx lgamma(x) (torch.digamma)"),
    OpSpec(
        "polygamma", 1, _polygamma, lambda x, o: torch_module().polygamma(o.n, x),
        partials=(lambda x, out: _polygamma_of(x, out.attr.n + 1),),
        attrs="options", options=(Option("n", 1, "int", keyword_only=True),), internal=True,
        analytic=False,  # scipy's polygamma takes no complex numbers
        mp=mp_kernel("polygamma"), domain=lambda x, o: _not_a_pole(x),
        domain_text="polygamma has poles at 0, -1, -2, ...",
        doc="the n-th derivative of digamma (torch.polygamma(n, x)), written polygamma(x, n=1); made by the "
            "derivative of digamma"),
    OpSpec("logit", 1, _logit, _torch_logit, partials=(_logit_partial,),
           attrs="options", options=(Option("eps", None),), mp=mp_kernel("logit"),
           domain=_logit_domain, domain_text="logit is defined for 0 < x < 1 (with eps, for 0 < eps < 0.5)",
           kinks=_logit_kinks,
           doc="log(x/(1 - x)); with eps, of x clamped to [eps, 1 - eps], zero gradient outside (torch.logit)"),
    # ---- two arguments ----
    OpSpec("atan2", 2, _atan2, lambda a, b: torch_module().atan2(a, b),
           partials=(lambda a, b, out: b / (a**2 + b**2), lambda a, b, out: -a / (a**2 + b**2)),
           mp=mp_kernel("atan2"), param_names=("input", "other"),
           domain=lambda a, b: (a != 0) | (b > 0),
           domain_text="atan2(a, b) is undefined at (0, 0) and jumps by 2*pi across a = 0 where b < 0",
           doc="the angle of the point (other, input), in (-pi, pi] (torch.atan2(input, other))"),
    OpSpec("hypot", 2, _hypot, lambda a, b: torch_module().hypot(a, b),
           partials=(lambda a, b, out: a / out, lambda a, b, out: b / out), mp=mp_kernel("hypot"),
           domain=lambda a, b: (a != 0) | (b != 0), domain_text="hypot is not differentiable at (0, 0)",
           doc="sqrt(a**2 + b**2), without overflow (torch.hypot)"),
    OpSpec("xlogy", 2, _xlogy, lambda a, b: torch_module().xlogy(a, b),
           # d/dy is 0 where x = 0 (xlogy(0, y) = 0 for every y): x/y with y replaced by 1 there, no 0/0
           partials=(lambda a, b, out: log(b), lambda a, b, out: a / where(eq(a, 0), 1.0, b)), mp=mp_kernel("xlogy"),
           domain=lambda a, b: b > 0,
           domain_text="xlogy(x, y) = x*log(y) is differentiable where y > 0 (its value is 0 where x = 0)",
           param_names=("x", "y"), doc="x*log(y), and 0 where x = 0 (torch.xlogy)"),
    # torch.maximum and torch.minimum: max(a, b) and min(a, b) under torch's names; a tie splits the gradient
    # evenly between a and b, as torch does
    OpSpec("maximum", 2, np.maximum, lambda a, b: torch_module().maximum(a, b),
           partials=(lambda a, b, out: gt(a, b) + 0.5 * eq(a, b), lambda a, b, out: gt(b, a) + 0.5 * eq(a, b)),
           analytic=False, kinks=lambda a, b: [a - b], mp=mp_kernel("maximum"),
           doc="the larger of a and b (torch.maximum); a tie splits the gradient evenly, as torch; kinks at a = b"),
    OpSpec("minimum", 2, np.minimum, lambda a, b: torch_module().minimum(a, b),
           partials=(lambda a, b, out: lt(a, b) + 0.5 * eq(a, b), lambda a, b, out: lt(b, a) + 0.5 * eq(a, b)),
           analytic=False, kinks=lambda a, b: [a - b], mp=mp_kernel("minimum"),
           doc="the smaller of a and b (torch.minimum); a tie splits the gradient evenly, as torch; kinks at a = b"),
]
