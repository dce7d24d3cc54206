"""Rounding and remainders, under torch's names: floor, ceil, round (half to even, `decimals=`), trunc, frac, fmod
and remainder.  Each is piecewise: constant (or x plus a constant) on each piece, with a jump in value between
pieces.  `OpSpec.jumps` numbers the pieces (floor(x) for floor, the integer quotient for fmod); a step that
changes a piece's number crosses a jump, and a point where the number changes however small the step sits on one:
there the derivative does not exist.  Away from the jumps the derivative is 0 (1 for frac, and for fmod and
remainder in their first argument; minus the integer quotient in their second, as torch's derivatives.yaml).

Not analytic: no complex step through them.  The arbitrary-precision kernels are in mp_rounding.py."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .builders import builder
from .record import OpSpec, Option, torch_module

floor_, trunc_ = builder("floor"), builder("trunc")


def _mp(name: str) -> Callable:
    """mp_rounding.<name>, imported on first use (mpmath is loaded only when the high-precision referee runs)."""
    def call(*args):
        from .. import mp_rounding

        return getattr(mp_rounding, name)(*args)

    call.__name__ = f"mp_{name}"
    return call


def _objects(*args) -> bool:
    """Arguments from the high-precision referee (object arrays of mpmath numbers)."""
    return any(isinstance(a, np.ndarray) and a.dtype.kind == "O" for a in args)


def _either(numpy: Callable, mp_name: str) -> Callable:
    """A piece numbering that runs on float arrays (finite differences) and on mpmath objects (the referee)."""
    mp = _mp(mp_name)

    def label(*args):
        return mp(*args) if _objects(*args) else numpy(*args)

    return label


def _round(x, o):
    return np.round(x, o.decimals)


def _round_shape(shape: tuple, o) -> tuple:
    """round's shape is its argument's; its decimals must keep 10**decimals a float64 (torch's round gives NaN past
    that, and the piece numbers here overflow)."""
    if abs(o.decimals) > 308:
        raise ValueError(f"decimals={o.decimals} is out of range: 10**{abs(o.decimals)} overflows float64 (torch's "
                         "round gives NaN there); |decimals| must be at most 308")
    return tuple(shape)


def _round_label_float(x, o):
    """The integer a piece of round(x, decimals=d) is numbered by (x*10^d rounded half to even, as numpy's round)."""
    d = o.decimals
    return np.rint(x * 10.0**d) if d >= 0 else np.rint(x / 10.0**-d)


def _fmod_quotient(a, b):
    """The integer n with fmod(a, b) = a - n*b, from fmod's own value (so that it changes exactly where fmod jumps)."""
    with np.errstate(all="ignore"):
        return np.rint((a - np.fmod(a, b)) / b)


def _remainder_quotient(a, b):
    with np.errstate(all="ignore"):
        return np.rint((a - np.remainder(a, b)) / b)


def _frac(x):
    return x - np.trunc(x)  # torch.frac: the sign of x


_trunc_label = _either(np.trunc, "trunc")
_fmod_label = _either(_fmod_quotient, "fmod_quotient")
_remainder_label = _either(_remainder_quotient, "remainder_quotient")
_floor_label = _either(np.floor, "floor")
_ceil_label = _either(np.ceil, "ceil")
_round_label = _either(_round_label_float, "round_label")

_NONZERO_DIVISOR = "fmod(a, b) and remainder(a, b) are undefined where b = 0"

OPS = [
    OpSpec("floor", 1, np.floor, lambda x: torch_module().floor(x), partials=(lambda x, out: 0,),
           analytic=False, jumps=lambda x: [_floor_label(x)], mp=_mp("floor"),
           doc="the largest integer <= x (torch.floor); zero gradient, jumps at the integers"),
    OpSpec("ceil", 1, np.ceil, lambda x: torch_module().ceil(x), partials=(lambda x, out: 0,),
           analytic=False, jumps=lambda x: [_ceil_label(x)], mp=_mp("ceil"),
           doc="the smallest integer >= x (torch.ceil); zero gradient, jumps at the integers"),
    OpSpec("round", 1, _round, lambda x, o: torch_module().round(x, decimals=o.decimals),
           partials=(lambda x, out: 0,), attrs="options", options=(Option("decimals", 0, "int", keyword_only=True),),
           shape=_round_shape, analytic=False, jumps=lambda x, o: [_round_label(x, o)], mp=_mp("round"),
           doc="x rounded to the nearest integer, half to even (torch.round), or to `decimals` places; zero "
               "gradient, jumps halfway between"),
    OpSpec("trunc", 1, np.trunc, lambda x: torch_module().trunc(x), partials=(lambda x, out: 0,),
           analytic=False, jumps=lambda x: [_trunc_label(x)], mp=_mp("trunc"),
           doc="x rounded toward zero (torch.trunc); zero gradient, jumps at the non-zero integers"),
    OpSpec("frac", 1, _frac, lambda x: torch_module().frac(x), partials=(lambda x, out: 1,),
           analytic=False, jumps=lambda x: [_trunc_label(x)], mp=_mp("frac"),
           doc="x - trunc(x), with the sign of x (torch.frac); gradient 1, jumps at the non-zero integers"),
    OpSpec("fmod", 2, np.fmod, lambda a, b: torch_module().fmod(a, b),
           partials=(lambda a, b, out: 1, lambda a, b, out: -trunc_(a / b)),
           analytic=False, jumps=lambda a, b: [_fmod_label(a, b)], mp=_mp("fmod"),
           domain=lambda a, b: b != 0, domain_text=_NONZERO_DIVISOR, param_names=("input", "other"),
           doc="a - trunc(a/b)*b, the sign of a (torch.fmod); jumps where a/b crosses a non-zero integer"),
    OpSpec("remainder", 2, np.remainder, lambda a, b: torch_module().remainder(a, b),
           partials=(lambda a, b, out: 1, lambda a, b, out: -floor_(a / b)),
           analytic=False, jumps=lambda a, b: [_remainder_label(a, b)], mp=_mp("remainder"),
           domain=lambda a, b: b != 0, domain_text=_NONZERO_DIVISOR, param_names=("input", "other"),
           doc="a - floor(a/b)*b, the sign of b (torch.remainder, Python's %); jumps where a/b crosses an integer"),
]
