"""Piecewise functions: kinks where a switching function changes sign, ties split evenly (autograd's
convention), and `where` and `detach`."""

from __future__ import annotations

import numpy as np

from .builders import eq, ge, gt, le, lt, ne, sign
from .record import OpSpec, mp_kernel, torch_module


def _torch_clamp(x, lo, hi):
    x, lo, hi = torch_module().broadcast_tensors(x, lo, hi)  # Tensor.clamp keeps x's shape; the rule broadcasts
    return x.clamp(lo, hi)


OPS = [
    OpSpec("abs", 1, np.abs, lambda x: x.abs(), partials=(lambda x, out: sign(x),),
           analytic=False, kinks=lambda x: [x]),
    OpSpec("sign", 1, np.sign, lambda x: x.sign(), analytic=False, mp=mp_kernel("sign"),
           jumps=lambda x: [(x > 0) * 1.0 - (x < 0) * 1.0],  # three pieces: x < 0, x = 0, x > 0
           doc="-1, 0 or 1; zero gradient, a jump at 0"),
    OpSpec("clamp", 3, lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), _torch_clamp,
           partials=(lambda x, lo, hi, out: ge(x, lo) * le(x, hi),
                     lambda x, lo, hi, out: lt(x, lo) * le(lo, hi),
                     lambda x, lo, hi, out: 1 - le(x, hi) * le(lo, hi)),
           analytic=False, kinks=lambda x, lo, hi: [x - lo, x - hi, lo - hi], param_names=("x", "lo", "hi"),
           mp=mp_kernel("clamp")),
    OpSpec("min", 2, np.minimum, lambda a, b: a.minimum(b),
           partials=(lambda a, b, out: lt(a, b) + 0.5 * eq(a, b), lambda a, b, out: lt(b, a) + 0.5 * eq(a, b)),
           analytic=False, kinks=lambda a, b: [a - b], mp=mp_kernel("minimum")),
    OpSpec("max", 2, np.maximum, lambda a, b: a.maximum(b),
           partials=(lambda a, b, out: gt(a, b) + 0.5 * eq(a, b), lambda a, b, out: gt(b, a) + 0.5 * eq(a, b)),
           analytic=False, kinks=lambda a, b: [a - b], mp=mp_kernel("maximum")),
    OpSpec("where", 3, lambda c, a, b: np.where(c != 0, a, b), lambda c, a, b: torch_module().where(c != 0, a, b),
           partials=(lambda c, a, b, out: 0, lambda c, a, b, out: ne(c, 0), lambda c, a, b, out: eq(c, 0)),
           analytic=False, param_names=("cond", "a", "b"), mp=mp_kernel("where"),
           doc="a where cond is non-zero, else b"),
    OpSpec("detach", 1, lambda x: x, lambda x: x.detach(), holds_value=True,
           doc="the value of x, with no gradient flowing through it"),
]
