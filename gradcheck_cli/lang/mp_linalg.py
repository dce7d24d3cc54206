"""Arbitrary-precision (mpmath) kernels of the linear-algebra ops, for the high-precision referee.

As mp_kernels.py: unbatched numpy object arrays of mpf (or mpc, the complex step) in and out, at the caller's
precision.  A matrix mpmath refuses (inv or solve of a singular one, cholesky of one that is not positive
definite) gives NaN entries: the value is undefined there.  Imported only when the referee runs.
"""

from __future__ import annotations

import numpy as np
from mpmath import mp

from . import linalg_kernels as LK

NAN = mp.nan


def _matrix(a) -> mp.matrix:
    return mp.matrix([[a[i, j] for j in range(a.shape[1])] for i in range(a.shape[0])])


def _array(m: mp.matrix) -> np.ndarray:
    out = np.empty((m.rows, m.cols), dtype=object)
    for i in range(m.rows):
        for j in range(m.cols):
            out[i, j] = m[i, j]
    return out


def _nan(shape) -> np.ndarray:
    return np.full(shape, NAN, dtype=object)


def _finite(a) -> bool:
    return all(mp.isfinite(v) for v in np.asarray(a, dtype=object).ravel())


def trace(a):
    return np.asarray(mp.fsum(a[k, k] for k in range(min(a.shape))), dtype=object)


def det(a):
    if not _finite(a):
        return np.asarray(NAN, dtype=object)
    d = mp.det(_matrix(a)) if a.shape[0] else mp.mpf(1)
    return np.asarray(d if isinstance(d, mp.mpc) else mp.mpf(d), dtype=object)  # (a singular one: the int 0)


def logdet(a):
    d = det(a)[()]
    if isinstance(d, mp.mpc):
        return np.asarray(mp.log(d), dtype=object)
    value = mp.log(d) if d > 0 else -mp.inf if d == 0 else NAN
    return np.asarray(value, dtype=object)


def inv(a):
    if not _finite(a):
        return _nan(a.shape)
    try:
        return _array(mp.inverse(_matrix(a)))
    except ZeroDivisionError:
        return _nan(a.shape)


def solve(a, b):
    if not (_finite(a) and _finite(b)):
        return _nan(b.shape)
    columns = b.reshape(b.shape[0], -1)
    try:
        solved = [mp.lu_solve(_matrix(a), mp.matrix([columns[i, k] for i in range(b.shape[0])]))
                  for k in range(columns.shape[1])]
    except ZeroDivisionError:
        return _nan(b.shape)
    out = np.empty(columns.shape, dtype=object)
    for k, x in enumerate(solved):
        for i in range(b.shape[0]):
            out[i, k] = x[i]
    return out.reshape(b.shape)


def cholesky(a):
    s = LK.symmetric_part(a)
    if not _finite(s):
        return _nan(a.shape)
    try:
        return _array(mp.cholesky(_matrix(s)))
    except (ValueError, ZeroDivisionError):  # not positive definite
        return _nan(a.shape)


def matrix_exp(a):
    if not _finite(a):
        return _nan(a.shape)
    return _array(mp.expm(_matrix(a), method="taylor"))


def cross(a, b, options):
    return LK.cross(a[np.newaxis], b[np.newaxis], options)[0]


def kron(a, b):
    return LK.kron(a[np.newaxis], b[np.newaxis])[0]


def _eigh(a):
    s = LK.symmetric_part(a)
    if not _finite(s):
        return _nan(a.shape[:1]), _nan(a.shape)
    values, vectors = mp.eigsy(_matrix(s))
    order = sorted(range(a.shape[0]), key=lambda k: values[k])
    vectors = _array(vectors)[:, order]
    for k in range(a.shape[0]):  # the registry's gauge: the entry of largest magnitude positive
        column = [abs(v) for v in vectors[:, k]]
        if vectors[column.index(max(column)), k] < 0:
            vectors[:, k] = -vectors[:, k]
    return np.array([values[k] for k in order], dtype=object), vectors


def eigvalsh(a):
    return _eigh(a)[0]


def eigh(a, options):
    values, vectors = _eigh(a)
    return values if options.part == "eigenvalues" else vectors


def slogdet(a):
    d = det(a)[()]
    return np.asarray(mp.log(abs(d)) if d != 0 else -mp.inf, dtype=object) if mp.isfinite(d) else det(a)


def pinv(a):
    """The full-rank formula: (A^T A)^-1 A^T for a tall A, A^T (A A^T)^-1 for a wide one."""
    if not _finite(a):
        return _nan(a.shape[::-1])
    m = _matrix(a)
    try:
        result = (m.T * m) ** -1 * m.T if a.shape[0] >= a.shape[1] else m.T * (m * m.T) ** -1
    except ZeroDivisionError:
        return _nan(a.shape[::-1])
    return _array(result)


def matrix_power(a, options):
    n = options.n
    base = inv(a) if n < 0 else a
    result = np.empty(a.shape, dtype=object)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            result[i, j] = mp.mpf(1) if i == j else mp.mpf(0)
    for _ in range(abs(n)):
        result = _product(result, base)
    return result


def _product(p, q):
    out = np.empty((p.shape[0], q.shape[1]), dtype=object)
    for i in range(p.shape[0]):
        for j in range(q.shape[1]):
            out[i, j] = mp.fsum(p[i, k] * q[k, j] for k in range(p.shape[1]))
    return out


def tensordot(a, b, options):
    d = options.dims[0]
    p, k, q = LK._tensordot_split(a.shape, b.shape, d)
    out = _product(a.reshape(p, k), b.reshape(k, q))
    return out.reshape(a.shape[:a.ndim - d] + b.shape[d:])


def _svd(a):
    m, n = a.shape
    k = min(m, n)
    if not _finite(a):
        return _nan((m, k)), _nan((k,)), _nan((k, n))
    u, s, v = mp.svd_r(_matrix(a), full_matrices=False)
    order = sorted(range(k), key=lambda i: -s[i])
    u, v = _array(u)[:, order], _array(v)[order, :]
    for i in range(k):  # the registry's gauge: the entry of largest magnitude of each left vector positive
        column = [abs(x) for x in u[:, i]]
        if u[column.index(max(column)), i] < 0:
            u[:, i], v[i, :] = -u[:, i], -v[i, :]
    return u, np.array([s[i] for i in order], dtype=object), v


def svdvals(a):
    return _svd(a)[1]


def svd(a, options):
    u, s, vh = _svd(a)
    return {"U": u, "S": s, "Vh": vh}[options.part]


def einsum(*args):
    *operands, options = args
    inputs, out = LK.einsum_parts(options.equation)
    return np.asarray(np.einsum(",".join(inputs) + "->" + out, *operands), dtype=object)


def _householder_qr(a):
    """Householder QR as LAPACK's geqrf computes it, pivot by pivot with dlarfg's rule (so in LAPACK's gauge):
    beta = -sign(alpha) * |(alpha, x)| for the pivot alpha and the column x below it, R[k, k] = beta, and no
    reflection at all where x is exactly 0 (R[k, k] = alpha).  Returns (Q (m, k), R (k, n), the signs of R's
    diagonal)."""
    m, n = a.shape
    k = min(m, n)
    r = [[mp.mpf(a[i, j]) for j in range(n)] for i in range(m)]
    q = [[mp.mpf(1) if i == j else mp.mpf(0) for j in range(m)] for i in range(m)]
    signs = []
    for j in range(k):
        alpha = r[j][j]
        below = [r[i][j] for i in range(j + 1, m)]
        xnorm = mp.sqrt(mp.fsum(x * x for x in below))
        if xnorm == 0:
            signs.append(mp.sign(alpha))
            continue
        beta = mp.hypot(alpha, xnorm) * (1 if alpha < 0 else -1)
        tau = (beta - alpha) / beta
        v = [mp.mpf(1)] + [x / (alpha - beta) for x in below]
        for col in range(j, n):  # R <- H R, H = I - tau v v^T on rows j..m-1
            scale = tau * mp.fsum(v[t] * r[j + t][col] for t in range(len(v)))
            for t in range(len(v)):
                r[j + t][col] -= scale * v[t]
        for row in range(m):  # Q <- Q H on columns j..m-1
            scale = tau * mp.fsum(q[row][j + t] * v[t] for t in range(len(v)))
            for t in range(len(v)):
                q[row][j + t] -= scale * v[t]
        for i in range(j + 1, m):
            r[i][j] = mp.mpf(0)
        signs.append(mp.sign(beta))
    q_out = np.array([[q[i][j] for j in range(k)] for i in range(m)], dtype=object).reshape(m, k)
    r_out = np.array([[r[i][j] for j in range(n)] for i in range(k)], dtype=object).reshape(k, n)
    return q_out, r_out, signs


def qr(a, options):
    """Q or R in LAPACK's gauge; NaN where a pivot that reflects (one with a column below it) is 0 to the working
    precision: a column dependent on the ones before it, whose direction in Q is not determined."""
    m, n = a.shape
    k = min(m, n)
    shape = (m, k) if options.part == "Q" else (k, n)
    if not _finite(a):
        return _nan(shape)
    q, r, _ = _householder_qr(a)
    scale = mp.sqrt(mp.fsum(x * x for x in a.ravel()))
    tolerance = scale * mp.eps * 2 ** 10 * max(m, n)
    if any(abs(r[j, j]) <= tolerance for j in range(min(n, m - 1))):
        return _nan(shape)
    return q if options.part == "Q" else r


def qr_signs(a) -> np.ndarray:
    """The signs of R's diagonal in LAPACK's gauge (linalg_kernels.qr_jumps), exactly: float64 numbers."""
    if not _finite(a):
        return np.full(min(a.shape), np.nan)
    return np.array([float(s) for s in _householder_qr(a)[2]])
