"""Arbitrary-precision (mpmath) kernels of the loss ops, for the high-precision referee.

The losses are written once, in loss_kernels.py, over a numeric namespace; here that namespace is mpmath's
(mp_kernels: NaN for log(-1), -inf for log(0), the holomorphic extension for mpc in the complex step), and each
kernel takes unbatched object arrays, as the referee calls them.  Imported only when the referee runs.
"""

from __future__ import annotations

import numpy as np
from mpmath import mp

from . import loss_kernels as L
from . import mp_kernels as M


class MPMATH:
    """numpy object arrays of mpf (or mpc, the complex step)."""

    zero, nan = M.ZERO, M.NAN
    log, log1p, exp, softplus, div = M.log, M.log1p, M.exp, M.softplus, M.div
    abs = staticmethod(np.abs)
    real = staticmethod(np.frompyfunc(mp.re, 1, 1))
    logsumexp_keep = staticmethod(M.logsumexp_keep)


def _unbatched(loss, op: str):
    def kernel(*args):
        *arrays, o = args
        batched = [np.asarray(a, dtype=object)[np.newaxis] for a in arrays]
        return np.asarray(loss(op, batched, o, MPMATH), dtype=object)[0]

    kernel.__name__ = f"mp_{op}"
    return kernel


def pointwise(op: str):
    return _unbatched(L.pointwise_loss, op)


def classes(op: str):
    return _unbatched(L.class_loss, op)


def probabilities(op: str):
    return _unbatched(L.probability_loss, op)
