"""Arbitrary-precision (mpmath) kernels: what the registry's `mp` fields point to.

Why this module exists: the high-precision referee (engines/precise.py) evaluates a graph on numpy
object arrays of mpmath numbers.  Many numpy implementations in the registry (lang/ops/) cannot run there: ufuncs such
as np.sin have no loop for Python objects, mpf / 0 raises ZeroDivisionError where float64 gives inf,
mpmath answers sqrt(-1) with a complex number, and np.maximum over objects drops a NaN.  The kernels
here take unbatched object arrays (no leading batch axis; a user's axis is the array's axis) and work
at the caller's mpmath precision (`mp.workdps`).

One rule for real arguments: a value undefined in exact arithmetic (log(-1), 0/0, 1/0, sqrt(-1),
asin(2), (-1)**0.5) is mpf('nan'); a genuine infinity, the same from every side the function is
defined on (log(0) = -inf, 0**-2 = +inf), is that infinity; a NaN argument gives NaN, comparisons
and `where` included.  Complex arguments (`mpc`, the complex step) get the holomorphic extension:
whether the point lies inside the real domain is decided by the caller from the real evaluation.

An argument so large that the op would take unbounded time (exp or sin of 10^1000, which need that
many digits of log 2 or pi) raises `TooLarge` instead of hanging.
"""

from __future__ import annotations

import numpy as np
from mpmath import mp

from .tensor_kernels import index_items

MAX_EXTRA_BITS = 20_000  # more bits than this for the complex step costs more than it can win

NAN = mp.nan
ONE = mp.mpf(1)
ZERO = mp.mpf(0)
MAGNITUDE_BITS = 3300  # |x| beyond 2**3300 (about 1e993): exp, trigonometric and power refuse it


class TooLarge(ArithmeticError):
    """An argument beyond what the high-precision referee computes in bounded time."""


def _complex(x) -> bool:
    return isinstance(x, mp.mpc)


def _check_size(x) -> None:
    if _complex(x):
        _check_size(x.real)
        _check_size(x.imag)
    elif x and mp.isfinite(x) and mp.mag(x) > MAGNITUDE_BITS:
        raise TooLarge(f"an argument of about 2**{mp.mag(x)}")


def _in_complex(function, z, *more):
    """function(z, *more) for a complex z (the complex step), with its imaginary part accurate.

    The complex step puts an imaginary part 10^-dps times the real part into z, and mpmath's complex
    asin, acos and atan lose about that many digits to cancellation (atan(-0.55 + 1e-50 i) keeps six).
    So the call gets as many extra bits as the parts are apart (twice the real part's size, for
    formulas in 1 + z**2), and its result is rounded back to the caller's precision.
    """
    extra = 64
    if z.imag:
        extra += max(0, mp.mag(z.real) - mp.mag(z.imag)) + 2 * max(0, mp.mag(z.real))
    if extra > MAX_EXTRA_BITS:  # parts 2**20000 apart (exp(1e308) with its step): no affordable precision is right
        raise TooLarge(f"an argument of magnitude 2**{int(mp.mag(z.real)):,}")
    with mp.extraprec(extra):
        result = function(z, *more)
    return +result


def elementwise(one, nin: int = 1):
    """An elementwise kernel on object arrays from a function of mpmath numbers (broadcasting as numpy)."""
    ufunc = np.frompyfunc(one, nin, 1)

    def kernel(*args):
        return np.asarray(ufunc(*args), dtype=object)

    kernel.__name__ = one.__name__
    return kernel


# ---- elementwise, real and holomorphic ----


def _entire(function):
    """exp, sin, ...: real for real arguments; only the size of the argument needs a guard."""
    def one(x):
        _check_size(x)
        return _in_complex(function, x) if _complex(x) else function(x)

    one.__name__ = function.__name__
    return elementwise(one)


def _real_valued(function):
    """log, sqrt, asin, ...: where mpmath's answer to a real argument is complex, the real op is undefined."""
    def one(x):
        if _complex(x):
            return _in_complex(function, x)
        if mp.isnan(x):
            return NAN
        y = function(x)
        return NAN if _complex(y) else y

    one.__name__ = function.__name__
    return elementwise(one)


sin, cos, tan = _entire(mp.sin), _entire(mp.cos), _entire(mp.tan)
sinh, cosh, tanh, exp = _entire(mp.sinh), _entire(mp.cosh), _entire(mp.tanh), _entire(mp.exp)
expm1 = _entire(mp.expm1)
atan = _entire(mp.atan)
asin, acos = _real_valued(mp.asin), _real_valued(mp.acos)
log, log1p, sqrt = _real_valued(mp.log), _real_valued(mp.log1p), _real_valued(mp.sqrt)


def _logistic(x):
    return 1 / (1 + mp.exp(-x))


def _log1p_exp(x):
    return mp.log1p(mp.exp(x))  # log1p: exact for large negative x, where 1 + exp(x) rounds to 1


sigmoid, softplus = _entire(_logistic), _entire(_log1p_exp)


# ---- elementwise family of issue 17: powers, logarithms, special functions, two-argument functions ----


def _exp2(x):
    return mp.mpf(2) ** x


def _log2(x):
    return mp.log(x, 2)


def _log10(x):
    return mp.log10(x)


def _reciprocal(x):
    return _div(ONE, x)


def _rsqrt(x):
    root = mp.sqrt(x)
    return mp.inf if root == 0 else 1 / root  # +inf from the only side it is defined on


def _square(x):
    return x * x


def _pole(x) -> bool:
    """A pole of lgamma, digamma and polygamma: 0, -1, -2, ..."""
    return not _complex(x) and x <= 0 and mp.isint(x)


def _lgamma(x):
    if _complex(x):  # mpmath's complex loggamma carries i*pi*k on the negative axis: take it off
        return _in_complex(lambda z: mp.loggamma(z) - mp.j * mp.pi * mp.nint(mp.im(mp.loggamma(z)) / mp.pi), x)
    if mp.isnan(x):
        return NAN
    return mp.inf if _pole(x) else mp.re(mp.loggamma(x))  # log|Gamma| is +inf from both sides of a pole


def _digamma(x):
    if _complex(x):
        return _in_complex(mp.digamma, x)
    return NAN if mp.isnan(x) or _pole(x) else mp.digamma(x)  # -inf on one side of a pole, +inf on the other


def _erfinv(x):
    if mp.isnan(x) or abs(x) > 1:
        return NAN
    return mp.erfinv(x)  # +-inf at +-1


def _logit_of(x):
    if _complex(x):
        return _in_complex(lambda z: mp.log(z / (1 - z)), x)
    if mp.isnan(x) or x < 0 or x > 1:
        return NAN
    if x == 0 or x == 1:
        return -mp.inf if x == 0 else mp.inf
    return mp.log(x / (1 - x))


def _pair_in_complex(function, a, b):
    """function(a, b) as _in_complex computes it, at the precision the argument carrying the step needs."""
    a, b = mp.mpc(a), mp.mpc(b)
    return _in_complex(lambda _: function(a, b), a if a.imag else b)


def _small_atan(q):
    """atan(q) for a complex q: mpmath's formula in log(1 +- iq) cancels for a tiny q (atan(1e-200 + 1e-270i)
    keeps no digit of the imaginary part), so it gets as many extra bits as q is small."""
    size = mp.mag(mp.re(q)) if mp.re(q) else 0
    with mp.extraprec(64 + max(0, -size)):
        return mp.atan(q)


def _atan2(a, b):
    if _complex(a) or _complex(b):
        ra, rb = mp.re(a), mp.re(b)
        if ra == 0 and rb <= 0:  # on the jump: no branch is the function
            return NAN
        if abs(rb) >= abs(ra):  # atan(a/b) plus the quadrant's multiple of pi, as the numpy form
            offset = (-mp.pi if ra < 0 else mp.pi) if rb < 0 else 0
            return _pair_in_complex(lambda z, w: _small_atan(z / w) + offset, a, b)
        return _pair_in_complex(lambda z, w: (-mp.pi / 2 if ra < 0 else mp.pi / 2) - _small_atan(w / z), a, b)
    if _undefined(a, b) or (a == 0 and b == 0):
        return NAN
    return mp.atan2(a, b)


def _hypot(a, b):
    if _complex(a) or _complex(b):
        return _pair_in_complex(lambda z, w: mp.sqrt(z * z + w * w), a, b)
    return mp.hypot(a, b)


def _xlogy(a, b):
    if not _complex(b) and mp.isnan(b):
        return NAN
    if a == 0:
        return ZERO  # torch's convention, b included where log(b) is undefined
    if _complex(a) or _complex(b):
        return a * _in_complex(mp.log, mp.mpc(b))
    if mp.isnan(a) or b < 0:
        return NAN
    return -a * mp.inf if b == 0 else a * mp.log(b)


exp2, log2, log10 = _entire(_exp2), _real_valued(_log2), _real_valued(_log10)
reciprocal, rsqrt, square = elementwise(_reciprocal), _real_valued(_rsqrt), elementwise(_square)


def _sinc(x):
    """sin(pi x)/(pi x).  Complex: near 0 sinc is 1 + O(x**2) and the step's imaginary part is about h*x, so
    the call gets twice as many extra bits as x is small (without them sinc at 1e-200 had a slope of -9e34)."""
    _check_size(x)
    if not _complex(x):
        return mp.sincpi(x)
    small = 2 * max(0, -mp.mag(x.real)) if x.real else 0

    def sinc_pi(z):
        with mp.extraprec(small):
            return mp.sincpi(z)

    return _in_complex(sinc_pi, x)


sinc = elementwise(_sinc)
erf, erfc = _entire(mp.erf), _entire(mp.erfc)
erfinv, lgamma, digamma = elementwise(_erfinv), elementwise(_lgamma), elementwise(_digamma)
atan2, hypot, xlogy = elementwise(_atan2, 2), elementwise(_hypot, 2), elementwise(_xlogy, 2)


def polygamma(x, attr):
    n = attr.n

    def one(v):
        if mp.isnan(v):
            return NAN
        if _pole(v):  # +inf from both sides for odd n; no sign for even n
            return mp.inf if n % 2 else NAN
        return mp.polygamma(n, v)

    return elementwise(one)(x)


def logit(x, attr):
    eps = attr.eps
    if eps is not None:  # the clamp, by the real part (the complex step's constant outside)
        def clamped(v):
            r = mp.re(v)
            if _complex(v) and (r == eps or r == 1 - eps):  # on a kink of the clamp: no branch is the function
                return NAN
            return _logit_of(mp.mpf(eps) if r < eps else mp.mpf(1 - eps) if r > 1 - eps else v)

        return elementwise(clamped)(x)
    return elementwise(_logit_of)(x)


# ---- activations family of issue 17 (torch's constants as the doubles torch uses; the branch x <= 0 at the
# kinks of elu, selu and celu, as the float64 implementations) ----

_SELU_ALPHA, _SELU_SCALE = mp.mpf(1.6732632423543772848170429916717), mp.mpf(1.0507009873554804934193349852946)
_GELU_KAPPA = mp.mpf(0.044715)


def _gelu_exact(x):
    return x * mp.erfc(-x / mp.sqrt(2)) / 2


def _gelu_tanh(x):
    return x / (1 + mp.exp(-2 * mp.sqrt(2 / mp.pi) * (x + _GELU_KAPPA * x**3)))  # x*sigmoid(2u)


_GELU = {"none": _entire(_gelu_exact), "tanh": _entire(_gelu_tanh)}


def gelu(x, attr):
    return _GELU[attr.approximate](x)


def _exponential_unit(alpha, input_scale, scale=ONE):
    """elu's family: scale*x where x > 0, else scale*alpha*(exp(input_scale*x) - 1)."""
    def one(v):
        if mp.isnan(v):
            return NAN
        return scale * (v if v > 0 else alpha * mp.expm1(input_scale * v))

    return elementwise(one)


def elu(x, attr):
    return _exponential_unit(mp.mpf(attr.alpha), ONE)(x)


def celu(x, attr):
    alpha = mp.mpf(attr.alpha)
    if not alpha:  # outside the domain (torch refuses alpha = 0)
        return elementwise(lambda v: NAN)(x)
    return _exponential_unit(alpha, 1 / alpha)(x)


def selu(x):
    return _exponential_unit(_SELU_ALPHA, ONE, _SELU_SCALE)(x)


def _silu(x):
    return x / (1 + mp.exp(-x))


def _mish(x):
    return x * mp.tanh(mp.log1p(mp.exp(x)))


def _logsigmoid(x):
    return -mp.log1p(mp.exp(-x))


silu, mish, logsigmoid = _entire(_silu), _entire(_mish), _entire(_logsigmoid)


def hardtanh(x, attr):
    lo, hi = mp.mpf(attr.min_val), mp.mpf(attr.max_val)
    return elementwise(lambda v: NAN if lo > hi else _clamp(v, lo, hi))(x)


def _relu6_of_shift(v):
    return _clamp(v + 3, ZERO, mp.mpf(6))


def _hardswish(x):
    return x * _relu6_of_shift(x) / 6


def _hardsigmoid(x):
    return _relu6_of_shift(x) / 6


def _softsign(x):
    return x / (1 + abs(x))


hardswish, hardsigmoid, softsign = elementwise(_hardswish), elementwise(_hardsigmoid), elementwise(_softsign)


# ---- arithmetic with undefined points ----


def _div(a, b):
    try:
        return a / b
    except ZeroDivisionError:  # 1/0 has no sign in exact arithmetic, and 0/0 no value
        return NAN


def _check_power(a, b) -> None:
    """a**b = exp(b log a): refuse an exponent whose result would need more than MAGNITUDE_BITS of exponent."""
    if a and b and mp.isfinite(a) and mp.isfinite(b):
        if mp.mag(b) + abs(mp.mag(a)).bit_length() > MAGNITUDE_BITS:
            raise TooLarge("a power too large to compute")


def _pow(a, b):
    if _complex(a) or _complex(b):
        if a == 0:  # 0**z = 0 for Re z > 0 (mpmath answers NaN)
            return ZERO if mp.re(b) > 0 else NAN
        _check_power(a, b)
        return _in_complex(lambda z, w: z**w, a if _complex(a) else mp.mpc(a), b)
    if mp.isnan(a) or mp.isnan(b):
        return NAN
    if a == 0:
        if b > 0:
            return ZERO
        if b == 0:
            return ONE  # as numpy and torch
        # 0**-2 is +inf from both sides, 0**-2.5 from the only side it is defined on; 0**-1 has no sign
        return NAN if mp.isint(b) and int(b) % 2 else mp.inf
    _check_power(a, b)
    y = a**b
    return NAN if _complex(y) else y  # a negative base with a non-integer exponent


div, pow = elementwise(_div, 2), elementwise(_pow, 2)


# ---- piecewise: NaN in, NaN out ----


def _undefined(*values) -> bool:
    return any(mp.isnan(v) for v in values)


def _comparison(test):
    def one(a, b):
        if _undefined(a, b):
            return NAN
        return ONE if test(a, b) else ZERO

    one.__name__ = test.__name__
    return elementwise(one, 2)


gt = _comparison(lambda a, b: a > b)
ge = _comparison(lambda a, b: a >= b)
lt = _comparison(lambda a, b: a < b)
le = _comparison(lambda a, b: a <= b)
eq = _comparison(lambda a, b: a == b)
ne = _comparison(lambda a, b: a != b)


def _maximum(a, b):
    return NAN if _undefined(a, b) else (a if a >= b else b)


def _minimum(a, b):
    return NAN if _undefined(a, b) else (a if a <= b else b)


def _relu(x):
    return NAN if mp.isnan(x) else (x if x > 0 else ZERO)


def _clamp(x, lo, hi):
    return _minimum(_maximum(x, lo), hi)  # crossed bounds (lo > hi) give hi, as numpy and torch


def _where(c, a, b):
    if mp.isnan(c):
        return NAN
    return a if c != 0 else b  # the branch not taken may be undefined: it is not the function's value


def _sign(x):
    return mp.sign(x)


maximum, minimum = elementwise(_maximum, 2), elementwise(_minimum, 2)
relu, sign = elementwise(_relu), elementwise(_sign)
clamp, where = elementwise(_clamp, 3), elementwise(_where, 3)
_MAXIMUM, _MINIMUM = np.frompyfunc(_maximum, 2, 1), np.frompyfunc(_minimum, 2, 1)
_REAL = np.frompyfunc(mp.re, 1, 1)
_ISFINITE = np.frompyfunc(mp.isfinite, 1, 1)


# ---- reductions and axis ops (attr: None for all elements, or (axis,)) ----


def _reduce(ufunc, x: np.ndarray, axis, keepdims: bool = False) -> np.ndarray:
    """A nan-propagating pairwise reduction over one axis, or over all (object ufuncs take one axis at a time)."""
    if axis is None:
        value = ufunc.reduce(x.reshape(-1))
        return np.full((1,) * x.ndim if keepdims else (), value, dtype=object)
    return np.asarray(ufunc.reduce(x, axis=axis, keepdims=keepdims), dtype=object)


def _axis(attr):
    return None if attr is None else attr[0]


def amax(x, attr):
    return _reduce(_MAXIMUM, x, _axis(attr))


def amin(x, attr):
    return _reduce(_MINIMUM, x, _axis(attr))


def norm(x, attr):
    return sqrt(np.asarray(np.sum(x * x, axis=_axis(attr)), dtype=object))  # x*x, not |x|**2: holomorphic


def logsumexp_keep(x, axis) -> np.ndarray:
    """log(sum(exp(x))) along `axis` (None: all), kept as length-1 axes; shifted by the largest real part."""
    top = _reduce(_MAXIMUM, _REAL(x) if x.ndim else np.asarray(mp.re(x[()]), dtype=object), axis, keepdims=True)
    top = np.asarray(np.where(_finite(top), top, ZERO), dtype=object)  # all -inf: exp gives 0 and log -inf
    total = np.asarray(np.sum(exp(x - top), axis=axis, keepdims=True), dtype=object)
    return np.asarray(log(total) + top, dtype=object)  # (0-d object arithmetic gives a bare scalar)


def _finite(x: np.ndarray) -> np.ndarray:
    return np.asarray(_ISFINITE(x), dtype=bool)


def logsumexp(x, attr):
    kept = logsumexp_keep(x, _axis(attr))
    return kept.reshape(()) if attr is None else np.squeeze(kept, axis=attr[0])


def softmax(x, attr):
    if x.ndim == 0:
        return np.full((), ONE, dtype=object)
    axis = attr[0] if attr else -1
    top = _reduce(_MAXIMUM, _REAL(x), axis, keepdims=True)
    shifted = exp(x - np.asarray(np.where(_finite(top), top, ZERO), dtype=object))
    return div(shifted, np.sum(shifted, axis=axis, keepdims=True))


def log_softmax(x, attr):
    if x.ndim == 0:
        return np.full((), ZERO, dtype=object)
    return x - logsumexp_keep(x, attr[0] if attr else -1)


def unindex(values, like, attr):
    out = np.full(like.shape, ZERO, dtype=object)
    out[index_items(attr)] = values[()] if values.ndim == 0 else values  # a 0-d array would be stored as one object
    return out


# ---- constants (nullary: the attribute is the shape) ----


def constant(fill):
    def make(attr):
        return np.full(tuple(attr), fill, dtype=object)

    return make


ones, zeros = constant(ONE), constant(ZERO)


def eye(attr):
    out = np.full((attr[0], attr[0]), ZERO, dtype=object)
    np.fill_diagonal(out, ONE)
    return out
