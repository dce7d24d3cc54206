"""Arbitrary-precision (mpmath) kernels of the rounding family (lang/ops/rounding.py): floor, ceil, round (half
to even), trunc, frac, fmod and remainder on unbatched object arrays of mpmath numbers, for the high-precision
referee (engines/precise.py), and the same for their jump labels (the integer each piece is numbered by).

The rule of mp_kernels.py holds: a NaN argument gives NaN, and fmod or remainder by 0 is undefined (NaN), as
in float arithmetic.  The quotient of fmod and remainder is taken at the caller's precision, which is far
beyond what separates a float64 quotient from the integer next to it, so the piece is the exact one.
"""

from __future__ import annotations

from mpmath import mp

from .mp_kernels import elementwise

NAN = mp.nan


def _trunc(x):
    return mp.floor(x) if x >= 0 else mp.ceil(x)


def _round(x, decimals: int = 0):
    """Half to even, as torch.round (mpmath's nint), at `decimals` places (torch: x*10^d rounded, then / 10^d)."""
    if decimals == 0:
        return mp.nint(x)
    if decimals > 0:
        scale = mp.mpf(10) ** decimals
        return mp.nint(x * scale) / scale
    scale = mp.mpf(10) ** -decimals
    return mp.nint(x / scale) * scale


def _guard(function):
    def one(*args):
        if any(mp.isnan(a) or mp.isinf(a) for a in args):
            return NAN
        return function(*args)

    one.__name__ = function.__name__
    return one


def _fmod_quotient(a, b):
    return _trunc(a / b)


def _remainder_quotient(a, b):
    return mp.floor(a / b)


def _fmod(a, b):
    return NAN if b == 0 else a - _fmod_quotient(a, b) * b


def _remainder(a, b):
    return NAN if b == 0 else a - _remainder_quotient(a, b) * b


floor, ceil, trunc = elementwise(_guard(mp.floor)), elementwise(_guard(mp.ceil)), elementwise(_guard(_trunc))
frac = elementwise(_guard(lambda x: x - _trunc(x)))
fmod, remainder = elementwise(_guard(_fmod), 2), elementwise(_guard(_remainder), 2)
fmod_quotient = elementwise(_guard(lambda a, b: NAN if b == 0 else _fmod_quotient(a, b)), 2)
remainder_quotient = elementwise(_guard(lambda a, b: NAN if b == 0 else _remainder_quotient(a, b)), 2)


def round(x, attr):  # noqa: A001 - torch's name
    return elementwise(_guard(lambda v: _round(v, attr.decimals)))(x)


def round_label(x, attr):
    """The integer a piece of round(x, decimals=d) is numbered by: x*10^d (or x/10^-d) rounded."""
    return elementwise(_guard(lambda v: _round(v * mp.mpf(10) ** attr.decimals)))(x)
