"""The machinery behind the linear-algebra ops of the registry (lang/ops/linalg.py): batched numpy kernels,
shape rules, domain predicates and vjp rules.

Kernels receive arrays with a leading batch axis (see plan.py) and accept complex input where the op is
analytic (the complex step).  A batch entry where LAPACK refuses the matrix (inv of a singular one) is NaN,
not an exception: finite differences evaluate many points at once.  Domain predicates see one unbatched
point (float64, or mpmath numbers that they answer on the float64 values).

The vjp rules are the standard matrix-calculus results (M. B. Giles, "An extended collection of matrix
derivative results for forward and reverse mode algorithmic differentiation", 2008), written with graph
nodes so that the symbolic engine differentiates through them again (second order); each builds a fixed
number of nodes, so the derivative graph stays linear in the size of the function's graph.
"""

from __future__ import annotations

import functools

import numpy as np

from .tensor_kernels import batch_axis, matrix_product

# ---- batched kernels ----


def _lapack(kernel):
    """The kernel run in float64 on long double arrays (LAPACK, numpy.linalg and scipy.linalg have no long double
    routines; the forward-rounding screen evaluates the plan in long double), its value returned as long double."""
    @functools.wraps(kernel)
    def run(*args):
        wide = [isinstance(a, np.ndarray) and a.dtype == np.longdouble != np.float64 for a in args]
        if not any(wide):
            return kernel(*args)
        narrowed = [a.astype(np.float64) if w else a for a, w in zip(args, wide)]
        return np.asarray(kernel(*narrowed)).astype(np.longdouble)
    return run



def _per_entry(function, *arrays):
    """function(*arrays) on batched arrays; where LAPACK refuses some entry, that entry is NaN."""
    try:
        return function(*arrays)
    except np.linalg.LinAlgError:
        pass
    batch = max(a.shape[0] for a in arrays)
    arrays = [np.broadcast_to(a, (batch,) + a.shape[1:]) for a in arrays]
    results: list = []
    for b in range(batch):
        try:
            results.append(function(*[a[b:b + 1] for a in arrays]))
        except np.linalg.LinAlgError:
            results.append(None)
    like = next((r for r in results if r is not None), None)
    if like is None:  # every entry refused: NaN of the shape a regular matrix gives
        regular = [np.broadcast_to(np.eye(a.shape[-1]), a[:1].shape) if a.ndim >= 3 else a[:1] for a in arrays]
        like = function(*regular)
    nan = np.full(like.shape, np.nan, dtype=like.dtype)
    return np.concatenate([nan if r is None else r for r in results], axis=0)


def trace(a):
    return np.trace(a, axis1=-2, axis2=-1)


@_lapack
def det(a):
    return np.linalg.det(a)


@_lapack
def logdet(a):
    """log det(a) as torch.logdet: NaN where det < 0, -inf where det = 0; the complex log for complex input."""
    sign, logabs = np.linalg.slogdet(a)
    if np.iscomplexobj(sign):
        return np.log(sign) + logabs
    with np.errstate(invalid="ignore"):
        return np.where(sign > 0, logabs, np.where(sign == 0, -np.inf, np.nan))


@_lapack
def inv(a):
    return _per_entry(np.linalg.inv, a)


@_lapack
def solve(a, b):
    """torch.linalg.solve(A, B): B a vector (n,) or a matrix (n, k)."""
    if b.ndim == 2:
        return _per_entry(lambda p, q: np.linalg.solve(p, q[..., np.newaxis])[..., 0], a, b)
    return _per_entry(np.linalg.solve, a, b)


def symmetric_part(a):
    return (a + np.swapaxes(a, -1, -2)) / 2


@_lapack
def cholesky(a):
    """The lower Cholesky factor of the symmetric part of a (for a symmetric a, torch.linalg.cholesky)."""
    return _per_entry(np.linalg.cholesky, symmetric_part(a))


@_lapack
def matrix_exp(a):
    from scipy.linalg import expm

    return expm(a)


def cross(a, b, options):
    """torch.linalg.cross: along `dim`, of length 3 (plain products: it runs on mpmath objects too)."""
    a, b = np.broadcast_arrays(a, b)
    axis = batch_axis(options.dim)
    a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
    parts = [a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1], a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
             a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]]
    return np.moveaxis(np.stack(parts, axis=-1), -1, axis)


def kron(a, b):
    """torch.kron of two vectors or two matrices (broadcast products: it runs on mpmath objects too)."""
    a, b = _same_batch(a, b)
    batch = a.shape[0]
    if a.ndim == 2:
        return (a[:, :, np.newaxis] * b[:, np.newaxis, :]).reshape(batch, -1)
    (m, n), (p, q) = a.shape[1:], b.shape[1:]
    return (a[:, :, np.newaxis, :, np.newaxis] * b[:, np.newaxis, :, np.newaxis, :]).reshape(batch, m * p, n * q)


@_lapack
def slogdet(a):
    """torch.linalg.slogdet(A).logabsdet: log |det A| (-inf at a singular A); sign(det A) is det's sign."""
    return np.linalg.slogdet(a)[1]


@_lapack
def pinv(a):
    return _per_entry(np.linalg.pinv, a)


@_lapack
def matrix_power(a, options):
    """torch.linalg.matrix_power(A, n): n = 0 the identity, n < 0 the |n|-th power of the inverse."""
    if options.n < 0:
        return _per_entry(lambda m: np.linalg.matrix_power(m, options.n), a)
    return np.linalg.matrix_power(a, options.n)


def _tensordot_split(sa: tuple, sb: tuple, dims: int) -> tuple[int, int, int]:
    """(free size of a, contracted size, free size of b) for tensordot over the last `dims` axes of a."""
    free_a, free_b = sa[:len(sa) - dims], sb[dims:]
    return int(np.prod(free_a)), int(np.prod(sb[:dims])), int(np.prod(free_b))


def tensordot(a, b, options):
    """torch.tensordot(a, b, dims=d): the last d axes of a against the first d of b (d an integer)."""
    d = options.dims[0]
    p, k, q = _tensordot_split(a.shape[1:], b.shape[1:], d)
    out = matrix_product(a.reshape(a.shape[0], p, k), b.reshape(b.shape[0], k, q))
    return out.reshape(out.shape[:1] + a.shape[1:a.ndim - d] + b.shape[1 + d:])


def svd_gauge(u, vh):
    """Each singular pair's sign chosen so that the entry of largest magnitude of its left vector (a column of U)
    is positive, the right vector (a row of Vh) flipped with it: the gauge svd(A, part='U'/'Vh') gives."""
    top = np.take_along_axis(u, np.argmax(np.abs(u), axis=-2)[..., np.newaxis, :], axis=-2)
    signs = np.where(top < 0, -1.0, 1.0)
    return u * signs, vh * np.swapaxes(signs, -1, -2)


@_lapack
def svd(a, options):
    """torch.linalg.svd(A, full_matrices=False): part 'U' (m, k), 'S' (k,), descending, or 'Vh' (k, n)."""
    if options.part == "S":
        return np.linalg.svd(a, compute_uv=False)
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    u, vh = svd_gauge(u, vh)
    return u if options.part == "U" else vh


@_lapack
def svdvals(a):
    return np.linalg.svd(a, compute_uv=False)


@_lapack
def qr(a, options):
    """torch.linalg.qr(A, mode='reduced'): part 'Q' (m, k) or 'R' (k, n), k = min(m, n), in LAPACK's gauge (see
    qr_jumps)."""
    q, r = np.linalg.qr(a, mode="reduced")
    return q if options.part == "Q" else r


def qr_jumps(a, options) -> list:
    """The pieces of LAPACK's QR (OpSpec.jumps): the sign of each diagonal element of R, each label shaped like A.
    Householder QR (geqrf, dlarfg) makes R[k, k] = -sign(alpha) * norm, alpha the pivot after the earlier
    reflections, and, where the column below the pivot is already exactly 0, reflects nothing: R[k, k] = alpha.
    So Q's column k and R's row k flip sign where alpha crosses 0 and where the column below the pivot becomes 0
    (at a triangular A, the identity among them): there the op jumps.  The m-th pivot (of a square or wide A) has
    no column below it: LAPACK reflects nothing there (R[m-1, m-1] = alpha, Q's last column fixed by the others),
    so its sign changes continuously as alpha crosses 0 and is no label.  Labels: the first min(n, m - 1) pivots.
    Batched A (3 dims), or one point (2 dims, as OpSpec.sits_on_jump passes it); float64 or mpmath objects (the
    exact rule, mp_linalg.qr_signs)."""
    batch = a if a.ndim == 3 else a[np.newaxis]
    if batch.dtype == object:
        from . import mp_linalg

        signs = np.stack([mp_linalg.qr_signs(entry) for entry in batch])
    else:
        signs = np.sign(np.diagonal(np.linalg.qr(batch, mode="reduced")[1], axis1=-2, axis2=-1))
    return [np.broadcast_to(signs[:, k, np.newaxis, np.newaxis], batch.shape)[0 if a.ndim == 2 else slice(None)]
            for k in range(min(a.shape[-1], a.shape[-2] - 1))]


def einsum_parts(equation: str) -> tuple[list[str], str]:
    """('ij,jk->ik') -> (['ij', 'jk'], 'ik'): letters only, none repeated within one operand or the output, every
    output letter in some operand (no traces 'ii->', no '...'); ValueError otherwise.  Without '->' the output is
    torch's implicit one: the letters that appear once, in alphabetical (ASCII) order ('ij,jk' is 'ij,jk->ik')."""
    text = equation.replace(" ", "")
    if "->" not in text and "." not in text:
        letters = text.replace(",", "")
        text += "->" + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if text.count("->") != 1:
        raise ValueError(f"the equation {equation!r} must name its output after '->', e.g. 'ij,jk->ik'")
    left, out = text.split("->")
    inputs = left.split(",")
    for part in inputs + [out]:
        if not all(c.isascii() and c.isalpha() for c in part):
            raise ValueError(f"the equation {equation!r} may hold only letters, commas and '->'")
        if len(set(part)) != len(part):
            raise ValueError(f"the equation {equation!r} repeats a letter within {part!r} (a trace or diagonal: "
                             "use trace or diagonal)")
    if set(out) - set("".join(inputs)):
        raise ValueError(f"the output of {equation!r} names a letter no operand has")
    return inputs, out


def einsum(*args):
    """torch.einsum(equation, *operands) on batched operands (the batch axis as numpy's '...')."""
    *operands, options = args
    inputs, out = einsum_parts(options.equation)
    return np.einsum(",".join("..." + part for part in inputs) + "->..." + out, *operands)


def eigh_gauge(vectors):
    """Each eigenvector's sign chosen so that its entry of largest magnitude (the first of equal ones) is
    positive: eigenvectors are defined up to sign, and this is the gauge eigh(A, part='eigenvectors') gives."""
    top = np.take_along_axis(vectors, np.argmax(np.abs(vectors), axis=-2)[..., np.newaxis, :], axis=-2)
    return vectors * np.where(top < 0, -1.0, 1.0)


@_lapack
def eigh(a, options):
    """torch.linalg.eigh of the symmetric part of a: the eigenvalues ascending, or the eigenvectors (columns)."""
    values, vectors = np.linalg.eigh(symmetric_part(a))
    return values if options.part == "eigenvalues" else eigh_gauge(vectors)


@_lapack
def eigvalsh(a):
    return np.linalg.eigvalsh(symmetric_part(a))


def _same_batch(a, b):
    batch = max(a.shape[0], b.shape[0])
    return np.broadcast_to(a, (batch,) + a.shape[1:]), np.broadcast_to(b, (batch,) + b.shape[1:])


# ---- shape rules (plain shapes) ----


def matrix_shape(a: tuple, what: str) -> tuple:
    if len(a) != 2:
        raise ValueError(f"it takes a matrix, got shape {a}")
    return a


def square_shape(a: tuple, what: str) -> tuple:
    if len(a) != 2 or a[0] != a[1]:
        raise ValueError(f"it takes a square matrix, got shape {a}")
    return a


def trace_shape(a: tuple) -> tuple:
    matrix_shape(a, "trace")
    return ()


def determinant_shape(a: tuple) -> tuple:
    square_shape(a, "det and logdet")
    return ()


def inv_shape(a: tuple) -> tuple:
    return square_shape(a, "inv")


def cholesky_shape(a: tuple) -> tuple:
    return square_shape(a, "cholesky")


def matrix_exp_shape(a: tuple) -> tuple:
    return square_shape(a, "matrix_exp")


def solve_shape(a: tuple, b: tuple) -> tuple:
    square_shape(a, "solve(A, B): A")
    if len(b) not in (1, 2) or b[0] != a[0]:
        raise ValueError(f"B must be a vector or a matrix of {a[0]} rows to match A of shape {a}, "
                         f"got shape {b}")
    return b


def cross_shape(a: tuple, b: tuple, options) -> tuple:
    if a != b:
        raise ValueError(f"its two arguments must have one shape, got {a} and {b}")
    if not -len(a) <= options.dim < len(a) or a[options.dim] != 3:
        raise ValueError(f"dim {options.dim} of shape {a} must exist and have length 3")
    return a


def kron_shape(a: tuple, b: tuple) -> tuple:
    if len(a) != len(b) or len(a) not in (1, 2):
        raise ValueError(f"it takes two vectors or two matrices, got shapes {a} and {b}")
    return tuple(p * q for p, q in zip(a, b))


def eigh_shape(a: tuple, options=None) -> tuple:
    square_shape(a, "eigh and eigvalsh")
    return a[:1] if options is None or options.part == "eigenvalues" else a


def pinv_shape(a: tuple) -> tuple:
    matrix_shape(a, "pinv")
    return (a[1], a[0])


def matrix_power_shape(a: tuple, options) -> tuple:
    return square_shape(a, "matrix_power")


def tensordot_shape(a: tuple, b: tuple, options) -> tuple:
    if len(options.dims) != 1:
        raise ValueError("dims must be one integer here (the last dims axes of a against the first of b)")
    d = options.dims[0]
    if not 0 <= d <= min(len(a), len(b)) or a[len(a) - d:] != b[:d]:
        raise ValueError(f"the last {d} axes of {a} do not match the first {d} of {b}")
    return a[:len(a) - d] + b[d:]


def svd_shape(a: tuple, options=None) -> tuple:
    m, n = matrix_shape(a, "svd")
    k = min(m, n)
    part = "S" if options is None else options.part
    return (k,) if part == "S" else (m, k) if part == "U" else (k, n)


def qr_shape(a: tuple, options=None) -> tuple:
    m, n = matrix_shape(a, "qr")
    mode, part = ("reduced", "R") if options is None else (options.mode, options.part)
    if mode == "r":
        raise ValueError("mode='r' computes no Q, and torch cannot differentiate it: use mode='reduced' with "
                         "part='R'")
    if mode == "complete" and m > n:
        raise ValueError(f"mode='complete' of a tall matrix {tuple(a)}: Q's last {m - n} columns are not determined "
                         "by A, and torch does not differentiate them; use mode='reduced'")
    k = min(m, n)
    return (m, k) if part == "Q" else (k, n)


def einsum_shape(*args) -> tuple:
    *shapes, options = args
    inputs, out = einsum_parts(options.equation)
    if len(inputs) != len(shapes):
        raise ValueError(f"the equation {options.equation!r} has {len(inputs)} operands, the call {len(shapes)}")
    sizes: dict[str, int] = {}
    for part, shape in zip(inputs, shapes):
        if len(part) != len(shape):
            raise ValueError(f"operand {part!r} of {options.equation!r} has {len(part)} axes, its argument shape "
                             f"{tuple(shape)}")
        for letter, size in zip(part, shape):
            if sizes.setdefault(letter, size) != size:
                raise ValueError(f"letter {letter!r} of {options.equation!r} has sizes {sizes[letter]} and {size}")
    return tuple(sizes[letter] for letter in out)


# ---- domains (one unbatched point) ----


def _floats(a) -> np.ndarray:
    return np.asarray(np.asarray(a).tolist(), dtype=np.float64) if np.asarray(a).dtype == object else np.asarray(a)


def invertible(a, *more) -> bool:
    """Full rank to float64 precision (numpy's matrix_rank: singular values above n*eps*largest)."""
    a = _floats(a)
    return bool(np.all(np.isfinite(a))) and np.linalg.matrix_rank(a) == a.shape[-1]


def positive_determinant(a) -> bool:
    return invertible(a) and np.linalg.slogdet(_floats(a))[0] > 0


def full_rank(a) -> bool:
    """Rank min(m, n) to float64 precision: where pinv is differentiable (its rank is locally constant)."""
    a = _floats(a)
    return bool(np.all(np.isfinite(a))) and np.linalg.matrix_rank(a) == min(a.shape)


def power_domain(a, options) -> bool:
    return options.n >= 0 or invertible(a)


def distinct_singular_values(a, *more) -> bool:
    """Singular values apart, and (for a non-square A, whose U or V has a free complement) above 0, by more than
    1e-10 of the largest: at a repeated singular value svdvals has a kink and the vectors are undefined."""
    a = _floats(a)
    if not np.all(np.isfinite(a)):
        return False
    values = np.linalg.svd(a, compute_uv=False)
    scale = max(values[0] if values.size else 0.0, np.finfo(float).tiny)
    separated = bool(np.all(-np.diff(values) > 1e-10 * scale))
    return separated and (a.shape[0] == a.shape[1] or bool(values[-1] > 1e-10 * scale))


def singular_value_gaps(a) -> list:
    """Switching functions (OpSpec.kinks, batched): the gaps between successive singular values."""
    return [-np.diff(svdvals(a), axis=-1)] if min(a.shape[-2:]) > 1 else []


def leading_columns_independent(a, *more, count: int | None = None) -> bool:
    """The first min(n, m - 1) columns of A linearly independent (numpy's matrix_rank): where QR is differentiable
    (each pivot that LAPACK reflects, every one but the m-th, is non-zero; torch asks the first min(m, n), `count`)."""
    a = _floats(a)
    k = min(a.shape[1], a.shape[0] - 1) if count is None else count
    return bool(np.all(np.isfinite(a))) and (k <= 0 or np.linalg.matrix_rank(a[:, :k]) == k)


def symmetric_part_note(name: str):
    """OpSpec.torch_reads of cholesky, eigh, eigvalsh: a note where A is not symmetric, since torch.linalg.<name>
    reads only A's lower triangle and the op here is of the symmetric part (A + A^T)/2."""
    def note(a, *more) -> str | None:
        a = _floats(a)
        gap = float(np.max(np.abs(a - np.swapaxes(a, -1, -2)), initial=0.0))
        if not gap > 1e-10 * max(float(np.max(np.abs(a), initial=0.0)), np.finfo(float).tiny):
            return None
        return (f"{name}: its argument is not symmetric (|A - A^T| up to {gap:.3g}): here {name} is of the symmetric "
                f"part (A + A^T)/2, as the gradient torch gives assumes, while torch.linalg.{name}(A) reads only A's "
                "lower triangle, so its values differ on this A")

    return note


def positive_definite(a) -> bool:
    """The symmetric part positive definite to float64 precision."""
    s = symmetric_part(_floats(a))
    if not np.all(np.isfinite(s)):
        return False
    values = np.linalg.eigvalsh(s)
    return bool(values[0] > s.shape[-1] * np.finfo(float).eps * max(abs(values[-1]), np.finfo(float).tiny))


def distinct_eigenvalues(a, *more) -> bool:
    """The eigenvalues of the symmetric part apart by more than 1e-10 of the largest |eigenvalue| (at a repeated
    eigenvalue eigvalsh has a kink and the eigenvectors are not defined)."""
    s = symmetric_part(_floats(a))
    if not np.all(np.isfinite(s)):
        return False
    values = np.linalg.eigvalsh(s)
    scale = max(np.max(np.abs(values), initial=0.0), np.finfo(float).tiny)
    return bool(np.all(np.diff(values) > 1e-10 * scale))


def eigenvalue_gaps(a) -> list:
    """Switching functions (OpSpec.kinks, batched): the gaps between successive eigenvalues, exactly 0 at a
    repeated eigenvalue, where eigvalsh has a kink (as amax at a tie)."""
    return [np.diff(eigvalsh(a), axis=-1)] if a.shape[-1] > 1 else []


# ---- vjp rules: (adjoint, node, shape_of) -> adjoints of the arguments ----


def _t(m):
    return m.graph.apply("transpose", m)


def _mm(p, q):
    return p.graph.apply("matmul", p, q)


def trace_vjp(adj, node, shape_of):
    """d tr(A) = tr(dA): the adjoint times the identity (of A's shape, for a rectangular A)."""
    g = adj.graph
    m, n = shape_of(node.args[0])
    eye = g.apply("eye", attr=(max(m, n),))
    if m != n:
        eye = g.apply("index", eye, attr=(("slice", 0, m, None), ("slice", 0, n, None)))
    return [adj * eye]


def det_vjp(adj, node, shape_of):
    """Giles 2.2.2: d det(A) = det(A) tr(A^-1 dA), so Ā = adj det(A) A^-T."""
    a = node.args[0]
    return [(adj * node) * _t(a.graph.apply("inv", a))]


def logdet_vjp(adj, node, shape_of):
    """d log det(A) = tr(A^-1 dA), so Ā = adj A^-T."""
    a = node.args[0]
    return [adj * _t(a.graph.apply("inv", a))]


def inv_vjp(adj, node, shape_of):
    """Giles 2.2.3: C = A^-1, dC = -C dA C, so Ā = -C^T adj C^T."""
    return [-_mm(_mm(_t(node), adj), _t(node))]


def solve_vjp(adj, node, shape_of):
    """Giles 2.3.1: X = A^-1 B; B̄ = A^-T adj (a solve with A^T), Ā = -B̄ X^T."""
    a, b = node.args
    g = adj.graph
    b_bar = g.apply("solve", _t(a), adj)
    a_bar = g.apply("outer", b_bar, node) if len(shape_of(b)) == 1 else _mm(b_bar, _t(node))
    return [-a_bar, b_bar]


def _lower_mask(g, n: int, diagonal: float):
    """The constant n-by-n matrix with ones below the diagonal, `diagonal` on it and zeros above: the row index
    greater than the column index, from one vector 0..n-1 (n nodes, not n*n)."""
    count = g.apply("stack", *[g.const(float(k)) for k in range(n)]) if n > 1 else \
        g.apply("reshape", g.const(0.0), attr=(1,))
    below = g.apply("gt", g.apply("reshape", count, attr=(n, 1)), g.apply("reshape", count, attr=(1, n)))
    return below + diagonal * g.apply("eye", attr=(n,))


def cholesky_vjp(adj, node, shape_of):
    """L = chol(sym(A)) (Murray 2016, "Differentiation of the Cholesky decomposition"; torch's rule):
    P = Φ(L^T tril(adj)) with Φ the lower triangle and half the diagonal, Ā = sym(L^-T P L^-1).
    (The upper triangle of L is 0 whatever A is: the adjoint there does not count.)"""
    g = adj.graph
    n = shape_of(node)[0]
    lower = adj * _lower_mask(g, n, 1.0)
    p = _mm(_t(node), lower) * _lower_mask(g, n, 0.5)
    l_inv = g.apply("inv", node)
    s = _mm(_mm(_t(l_inv), p), l_inv)
    return [(s + _t(s)) * 0.5]


def matrix_exp_vjp(adj, node, shape_of):
    """Ā = the upper right block of exp([[A^T, adj], [0, A^T]]) (Mathias 1996; Giles 2008, 3.4)."""
    a = node.args[0]
    g = adj.graph
    n = shape_of(a)[0]
    zeros = g.apply("zeros", attr=(n, n))
    top = _t(g.apply("concat", a, _t(adj)))  # [A^T, adj]
    bottom = _t(g.apply("concat", zeros, a))  # [0, A^T]
    big = g.apply("matrix_exp", g.apply("concat", top, bottom))
    return [g.apply("index", big, attr=(("slice", 0, n, None), ("slice", n, 2 * n, None)))]


def cross_vjp(adj, node, shape_of):
    """adj·(a×b) = a·(b×adj) = b·(adj×a)."""
    a, b = node.args
    g = adj.graph
    return [g.apply("cross", b, adj, attr=node.attr), g.apply("cross", adj, a, attr=node.attr)]


def kron_vjp(adj, node, shape_of):
    """K[i p + k, j q + l] = A[i, j] B[k, l]: adj seen as (m, p, n, q) (vectors: (m, p)), times the other
    factor broadcast into it, summed over the other factor's axes."""
    a, b = node.args
    g = adj.graph
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 1:
        blocks = g.apply("reshape", adj, attr=(sa[0], sb[0]))
        return [_mm(blocks, b), _mm(a, blocks)]
    (m, n), (p, q) = sa, sb
    blocks = g.apply("reshape", adj, attr=(m, p, n, q))
    b_wide = g.apply("reshape", b, attr=(p, 1, q))
    a_wide = g.apply("reshape", a, attr=(m, 1, n, 1))
    a_bar = g.apply("sum", g.apply("sum", blocks * b_wide, attr=(3,)), attr=(1,))
    b_bar = g.apply("sum", g.apply("sum", blocks * a_wide, attr=(2,)), attr=(0,))
    return [a_bar, b_bar]



def _eigenvectors(a):
    from .ops.record import Options

    return a.graph.apply("eigh", a, attr=Options((("part", "eigenvectors"),)))


def eigvalsh_vjp(adj, node, shape_of):
    """Giles 2008, 3.1 (symmetric case): dλ_k = v_k^T dA v_k, so Ā = V diag(adj) V^T (gauge-free)."""
    v = _eigenvectors(node.args[0])
    return [_mm(v * adj, _t(v))]


def eigh_vjp(adj, node, shape_of):
    """Eigenvalues: as eigvalsh.  Eigenvectors (Giles 2008, 3.1): Ā = sym(V (F ∘ V^T adj) V^T) with
    F[i, j] = 1/(λ_j - λ_i) off the diagonal and 0 on it, built as D/(D*D + I) from D[i, j] = λ_j - λ_i; valid
    for any locally constant sign gauge."""
    a = node.args[0]
    if node.attr.part == "eigenvalues":
        return eigvalsh_vjp(adj, node, shape_of)
    g = adj.graph
    n = shape_of(a)[0]
    values = g.apply("eigvalsh", a)
    ones = g.apply("ones", attr=(n,))
    d = g.apply("outer", ones, values) - g.apply("outer", values, ones)
    f = d / (d * d + g.apply("eye", attr=(n,)))
    s = _mm(_mm(node, f * _mm(_t(node), adj)), _t(node))
    return [(s + _t(s)) * 0.5]


def slogdet_vjp(adj, node, shape_of):
    """d log|det A| = tr(A^-1 dA), so Ā = adj A^-T."""
    return logdet_vjp(adj, node, shape_of)


def pinv_vjp(adj, node, shape_of):
    """Golub and Pereyra 1973 (constant rank): dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P, so
    Ā = -P^T adj P^T + (I - A P) adj^T P P^T + P^T P adj^T (I - P A)."""
    a = node.args[0]
    g = adj.graph
    m, n = shape_of(a)
    p, gt = node, _t(adj)
    left = g.apply("eye", attr=(m,)) - _mm(a, p)
    right = g.apply("eye", attr=(n,)) - _mm(p, a)
    return [-_mm(_mm(_t(p), adj), _t(p)) + _mm(_mm(left, gt), _mm(p, _t(p))) + _mm(_mm(_t(p), p), _mm(gt, right))]


def matrix_power_vjp(adj, node, shape_of):
    """A^n (n > 0): Ā = sum over k < n of (A^T)^k adj (A^T)^(n-1-k), |n| terms of a fixed size; n < 0 through
    B = A^-1 (Ā = -B^T B̄ B^T); n = 0 has gradient 0."""
    a = node.args[0]
    g = adj.graph
    n = node.attr.n
    if n == 0:
        return [g.apply("zeros", attr=shape_of(a))]
    base = _t(a) if n > 0 else _t(g.apply("inv", a))
    powers = [g.apply("eye", attr=(shape_of(a)[0],))]
    for _ in range(abs(n) - 1):
        powers.append(_mm(powers[-1], base))
    total = _mm(powers[0], _mm(adj, powers[-1]))
    for k in range(1, abs(n)):
        total = total + _mm(powers[k], _mm(adj, powers[abs(n) - 1 - k]))
    return [total] if n > 0 else [-_mm(_mm(base, total), base)]


def tensordot_vjp(adj, node, shape_of):
    """As a matrix product of a seen as (p, k) and b as (k, q): Ā = adj B^T, B̄ = A^T adj, reshaped back."""
    a, b = node.args
    g = adj.graph
    sa, sb = shape_of(a), shape_of(b)
    p, k, q = _tensordot_split(sa, sb, node.attr.dims[0])
    a2, b2 = g.apply("reshape", a, attr=(p, k)), g.apply("reshape", b, attr=(k, q))
    g2 = g.apply("reshape", adj, attr=(p, q))
    return [g.apply("reshape", _mm(g2, _t(b2)), attr=sa), g.apply("reshape", _mm(_t(a2), g2), attr=sb)]


def _svd_part(a, part: str):
    from .ops.record import Options

    return a.graph.apply("svd", a, attr=Options((("part", part),)))


def svdvals_vjp(adj, node, shape_of):
    """Giles 2008, 3.2: dσ_k = u_k^T dA v_k, so Ā = U diag(adj) Vh (gauge-free)."""
    a = node.args[0]
    return [_mm(_svd_part(a, "U") * adj, _svd_part(a, "Vh"))]


def svd_vjp(adj, node, shape_of):
    """The reduced SVD's vjp as torch writes it (linalg_svd_backward; Townsend 2016), one part at a time: with
    E[i, j] = S_j**2 - S_i**2 (1 on the diagonal) and skew(X) = X - X^T,
    U: Ā = U ((skew(U^T Ū)/E) S) Vh, plus (I - U U^T) Ū S^-1 Vh for a tall A;
    Vh: V̄ = Vh̄^T, Ā = U (S (skew(Vh V̄)/E)) Vh, plus U S^-1 V̄^T (I - V Vh) for a wide A."""
    a = node.args[0]
    if node.attr.part == "S":
        return svdvals_vjp(adj, node, shape_of)
    g = adj.graph
    m, n = shape_of(a)
    k = min(m, n)
    u, s, vh = _svd_part(a, "U"), g.apply("svdvals", a), _svd_part(a, "Vh")
    ones = g.apply("ones", attr=(k,))
    s2 = s * s
    e = g.apply("outer", ones, s2) - g.apply("outer", s2, ones) + g.apply("eye", attr=(k,))
    if node.attr.part == "U":
        x = _mm(_t(u), adj)
        inner = _mm(_mm(u, ((x - _t(x)) / e) * s), vh)
        if m > k:
            scaled = adj / s
            inner = inner + _mm(scaled - _mm(u, _mm(_t(u), scaled)), vh)
        return [inner]
    v_bar = _t(adj)
    x = _mm(vh, v_bar)
    inner = _mm(_mm(u, g.apply("reshape", s, attr=(k, 1)) * ((x - _t(x)) / e)), vh)
    if n > k:
        scaled = _t(v_bar / s)  # S^-1 V̄^T
        inner = inner + _mm(u, scaled - _mm(_mm(scaled, _t(vh)), vh))
    return [inner]


def einsum_vjp(adj, node, shape_of):
    """Operand k's adjoint is the einsum of the output's adjoint with the other operands, to k's subscripts; a
    letter only k has (summed away) comes back through a vector of ones of its size."""
    from .ops.record import Options

    g = adj.graph
    inputs, out = einsum_parts(node.attr.equation)
    sizes = {letter: size for part, arg in zip(inputs, node.args) for letter, size in zip(part, shape_of(arg))}
    adjoints = []
    for k, part in enumerate(inputs):
        others = [(p, a) for i, (p, a) in enumerate(zip(inputs, node.args)) if i != k]
        seen = set(out).union(*[set(p) for p, _ in others])
        ones = [(letter, g.apply("ones", attr=(sizes[letter],))) for letter in part if letter not in seen]
        subscripts = [out] + [p for p, _ in others] + [letter for letter, _ in ones]
        equation = ",".join(subscripts) + "->" + part
        operands = [adj] + [a for _, a in others] + [o for _, o in ones]
        adjoints.append(g.apply("einsum", *operands, attr=Options((("equation", equation),))))
    return adjoints


def _qr_part(a, part: str, mode: str):
    from .ops.record import Options

    return a.graph.apply("qr", a, attr=Options((("mode", mode), ("part", part))))


def _copyltu(m):
    """The symmetric matrix with m's lower triangle: tril(m) + tril(m, -1)^T."""
    from .ops.record import Options

    g = m.graph
    return g.apply("tril", m, attr=Options((("diagonal", 0),))) + \
        _t(g.apply("tril", m, attr=Options((("diagonal", -1),))))


def _qr_square_vjp(q, r, q_bar, r_bar, tall: bool):
    """A = QR with R square (m >= n; Walter and Lehmann 2018, Seeger et al. 2017, torch's linalg_qr_backward):
    M = R R̄^T - Q̄^T Q, Ā = (Q (Q^T Q̄ + copyltu(M)) + (Q̄ - Q Q^T Q̄)) R^-T, the last term only for a tall A (for a
    square Q it is 0, and leaving it out keeps exact the zeros of Q's gradient in A's last column, on which Q does
    not depend); R^-T as a solve with R.  q_bar or r_bar None: that adjoint is 0."""
    g = q.graph
    if q_bar is None:
        b = _mm(q, _copyltu(_mm(r, _t(r_bar))))
    else:
        projected = _mm(_t(q), q_bar)
        m_ = -_t(projected) if r_bar is None else _mm(r, _t(r_bar)) - _t(projected)
        b = _mm(q, projected + _copyltu(m_))
        if tall:
            b = b + (q_bar - _mm(q, projected))
    return _t(g.apply("solve", r, _t(b)))


def qr_vjp(adj, node, shape_of):
    """The reduced QR's vjp, one part at a time; for a wide A = [X | Y] (m < n), R = [U | V] with X = QU square:
    Ȳ = Q V̄ and X̄ the square rule with Q̄ + Y V̄^T for Q̄ and Ū for R̄ (as torch and TensorFlow split it).  Valid
    for any locally constant sign gauge."""
    a = node.args[0]
    g = adj.graph
    m, n = shape_of(a)
    mode, part = node.attr.mode, node.attr.part
    q, r = _qr_part(a, "Q", mode), _qr_part(a, "R", mode)
    q_bar, r_bar = (adj, None) if part == "Q" else (None, adj)
    if m >= n:
        return [_qr_square_vjp(q, r, q_bar, r_bar, m > n)]
    every, left, right = ("slice", None, None, None), ("slice", 0, m, None), ("slice", m, n, None)
    u = g.apply("index", r, attr=(every, left))
    if r_bar is None:
        x_bar = _qr_square_vjp(q, u, q_bar, None, False)
        return [g.apply("concat", x_bar, g.apply("zeros", attr=(m, n - m)), attr=_concat_columns())]
    y = g.apply("index", a, attr=(every, right))
    u_bar, v_bar = g.apply("index", r_bar, attr=(every, left)), g.apply("index", r_bar, attr=(every, right))
    x_bar = _qr_square_vjp(q, u, _mm(y, _t(v_bar)), u_bar, False)
    return [g.apply("concat", x_bar, _mm(q, v_bar), attr=_concat_columns())]


def _concat_columns():
    from .ops.record import Options

    return Options((("dim", 1),))
