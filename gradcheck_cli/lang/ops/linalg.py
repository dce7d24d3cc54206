"""Linear algebra: the matrix product and the outer product; trace, det, logdet, inv, solve, cholesky,
matrix_exp, cross, kron, the decompositions (eigh, svd, qr) and einsum as torch and torch.linalg name them
(kernels and Giles 2008 vjps in linalg_kernels.py, arbitrary-precision kernels in mp_linalg.py)."""

from __future__ import annotations

from collections.abc import Callable

from .. import linalg_kernels as LK
from .. import tensor_kernels as K
from .record import OpSpec, Option, torch_module


def _mp(name: str) -> Callable:
    """mp_linalg.<name>, imported on first use (mpmath is loaded only when the high-precision referee runs)."""
    def call(*args):
        from .. import mp_linalg

        return getattr(mp_linalg, name)(*args)

    call.__name__ = f"mp_{name}"
    return call


def _linalg():
    return torch_module().linalg


def _torch_cholesky(a):
    return _linalg().cholesky((a + a.transpose(-1, -2)) / 2)


def _torch_eigh(a, options):
    values, vectors = _linalg().eigh((a + a.transpose(-1, -2)) / 2)
    if options.part == "eigenvalues":
        return values
    top = vectors.gather(-2, vectors.abs().argmax(-2, keepdim=True))  # the registry's gauge (linalg_kernels)
    return vectors * (top >= 0).to(vectors.dtype).mul(2).sub(1)


REPEATED = "the eigenvalues must be distinct (at a repeated eigenvalue eigvalsh has a kink, eigenvectors are undefined)"
def _torch_svd(a, options):
    u, s, vh = _linalg().svd(a, full_matrices=False)
    if options.part == "S":
        return s
    top = u.gather(-2, u.abs().argmax(-2, keepdim=True))  # the registry's gauge (linalg_kernels.svd_gauge)
    signs = (top >= 0).to(u.dtype).mul(2).sub(1)
    return u * signs if options.part == "U" else vh * signs.transpose(-1, -2)


def _torch_qr(a, options):
    q, r = _linalg().qr(a, mode=options.mode)
    return q if options.part == "Q" else r


REPEATED_SV = ("the singular values must be distinct, and non-zero for a non-square matrix (at a repeated one "
               "svdvals has a kink, the singular vectors are undefined)")
SINGULAR = "the matrix must be invertible (it is singular, to float64 precision)"

OPS = [
    OpSpec("matmul", 2, K.matmul, lambda a, b: a @ b, vjp=K.matmul_vjp, shape=K.matmul_shape,
           syntax="infix", symbol="@", precedence=20, call_name="matmul", aliases=("dot",), elementwise=False,
           doc="matrix product of vectors and matrices (a @ b)"),
    OpSpec("outer", 2, K.outer, lambda a, b: torch_module().outer(a, b), vjp=K.outer_vjp, shape=K.outer_shape,
           elementwise=False, doc="the outer product of two vectors: outer(a, b)[i, j] = a[i]*b[j]"),
    # ---- linear algebra family of issue 17: torch / torch.linalg names ----
    OpSpec("trace", 1, LK.trace, lambda a: torch_module().trace(a), vjp=LK.trace_vjp, shape=LK.trace_shape,
           elementwise=False, mp=_mp("trace"), param_names=("A",),
           doc="the sum of the diagonal of a matrix (torch.trace)"),
    OpSpec("det", 1, LK.det, lambda a: _linalg().det(a), vjp=LK.det_vjp, shape=LK.determinant_shape,
           elementwise=False, mp=_mp("det"), param_names=("A",),
           domain=LK.invertible, domain_text="the gradient rule of det, det(A) A^-T, needs an invertible matrix",
           doc="the determinant of a square matrix (torch.linalg.det)"),
    OpSpec("logdet", 1, LK.logdet, lambda a: torch_module().logdet(a), vjp=LK.logdet_vjp,
           shape=LK.determinant_shape, elementwise=False, mp=_mp("logdet"), param_names=("A",),
           domain=LK.positive_determinant, domain_text="logdet needs det(A) > 0 (NaN below, -inf at a singular A)",
           doc="log det(A) (torch.logdet): NaN where det(A) < 0"),
    OpSpec("inv", 1, LK.inv, lambda a: _linalg().inv(a), vjp=LK.inv_vjp, shape=LK.inv_shape,
           elementwise=False, mp=_mp("inv"), param_names=("A",), domain=LK.invertible, domain_text=SINGULAR,
           doc="the inverse of a square matrix (torch.linalg.inv)"),
    OpSpec("solve", 2, LK.solve, lambda a, b: _linalg().solve(a, b), vjp=LK.solve_vjp, shape=LK.solve_shape,
           elementwise=False, mp=_mp("solve"), param_names=("A", "B"),
           domain=lambda a, b: LK.invertible(a), domain_text=SINGULAR,
           doc="X with A X = B, B a vector or a matrix (torch.linalg.solve(A, B))"),
    OpSpec("cholesky", 1, LK.cholesky, _torch_cholesky, vjp=LK.cholesky_vjp, shape=LK.cholesky_shape,
           elementwise=False, analytic=False, mp=_mp("cholesky"), param_names=("A",),
           domain=LK.positive_definite, domain_text="cholesky needs a symmetric positive definite matrix",
           torch_reads=LK.symmetric_part_note("cholesky"),
           doc="the lower Cholesky factor L of (A + A^T)/2 = L L^T (torch.linalg.cholesky of a symmetric A, "
               "whose gradient torch gives symmetric)"),
    OpSpec("matrix_exp", 1, LK.matrix_exp, lambda a: _linalg().matrix_exp(a), vjp=LK.matrix_exp_vjp,
           shape=LK.matrix_exp_shape, elementwise=False, mp=_mp("matrix_exp"), param_names=("A",),
           doc="the matrix exponential (torch.linalg.matrix_exp)"),
    OpSpec("cross", 2, LK.cross, lambda a, b, o: _linalg().cross(a, b, dim=o.dim), vjp=LK.cross_vjp,
           shape=LK.cross_shape, elementwise=False, attrs="options", options=(Option("dim", -1, "int"),),
           mp=_mp("cross"), param_names=("a", "b"),
           doc="the cross product of 3-vectors along dim (torch.linalg.cross(a, b, dim=-1))"),
    OpSpec("slogdet", 1, LK.slogdet, lambda a: _linalg().slogdet(a)[1], vjp=LK.slogdet_vjp,
           shape=LK.determinant_shape, elementwise=False, analytic=False, mp=_mp("slogdet"), param_names=("A",),
           domain=LK.invertible, domain_text="log|det A| needs det(A) != 0 (it is -inf at a singular A)",
           doc="log |det A|, the logabsdet of torch.linalg.slogdet (its sign is sign(det(A)), without a gradient)"),
    OpSpec("pinv", 1, LK.pinv, lambda a: _linalg().pinv(a), vjp=LK.pinv_vjp, shape=LK.pinv_shape,
           elementwise=False, analytic=False, mp=_mp("pinv"), param_names=("A",), domain=LK.full_rank,
           domain_text="pinv is differentiable where its rank is locally constant: A must have full rank",
           doc="the Moore-Penrose pseudo-inverse (torch.linalg.pinv) of a full-rank matrix"),
    OpSpec("matrix_power", 1, LK.matrix_power, lambda a, o: _linalg().matrix_power(a, o.n), vjp=LK.matrix_power_vjp,
           shape=LK.matrix_power_shape, elementwise=False, attrs="options", options=(Option("n", 1, "int"),),
           mp=_mp("matrix_power"), param_names=("A",), domain=LK.power_domain, domain_text=SINGULAR,
           doc="A**n as a matrix product, n an integer (negative: of the inverse) (torch.linalg.matrix_power)"),
    OpSpec("tensordot", 2, LK.tensordot, lambda a, b, o: torch_module().tensordot(a, b, dims=o.dims[0]),
           vjp=LK.tensordot_vjp, shape=LK.tensordot_shape, elementwise=False, attrs="options",
           options=(Option("dims", (2,), "ints"),), mp=_mp("tensordot"), param_names=("a", "b"),
           doc="the last dims axes of a contracted with the first dims of b (torch.tensordot(a, b, dims=2))"),
    OpSpec("eigvalsh", 1, LK.eigvalsh, lambda a: _linalg().eigvalsh((a + a.transpose(-1, -2)) / 2),
           vjp=LK.eigvalsh_vjp, shape=LK.eigh_shape, elementwise=False, analytic=False, mp=_mp("eigvalsh"),
           param_names=("A",), domain=LK.distinct_eigenvalues, domain_text=REPEATED, kinks=LK.eigenvalue_gaps,
           torch_reads=LK.symmetric_part_note("eigvalsh"),
           doc="the eigenvalues, ascending, of the symmetric part (A + A^T)/2 (torch.linalg.eigvalsh of a "
               "symmetric A)"),
    OpSpec("eigh", 1, LK.eigh, _torch_eigh, vjp=LK.eigh_vjp, shape=LK.eigh_shape, elementwise=False,
           analytic=False, attrs="options",
           options=(Option("part", "eigenvalues", "str", ("eigenvalues", "eigenvectors"), keyword_only=True),),
           mp=_mp("eigh"), param_names=("A",), domain=lambda a, o: LK.distinct_eigenvalues(a), domain_text=REPEATED,
           kinks=lambda a, o: LK.eigenvalue_gaps(a), torch_reads=LK.symmetric_part_note("eigh"),
           doc="torch.linalg.eigh of (A + A^T)/2: part='eigenvalues' (ascending) or 'eigenvectors' (columns, each "
               "signed so that its entry of largest magnitude is positive)"),
    OpSpec("svdvals", 1, LK.svdvals, lambda a: _linalg().svdvals(a), vjp=LK.svdvals_vjp, shape=LK.svd_shape,
           elementwise=False, analytic=False, mp=_mp("svdvals"), param_names=("A",),
           domain=LK.distinct_singular_values, domain_text=REPEATED_SV, kinks=LK.singular_value_gaps,
           doc="the singular values, descending (torch.linalg.svdvals)"),
    OpSpec("svd", 1, LK.svd, _torch_svd, vjp=LK.svd_vjp, shape=LK.svd_shape, elementwise=False, analytic=False,
           attrs="options", options=(Option("part", "S", "str", ("U", "S", "Vh"), keyword_only=True),),
           mp=_mp("svd"), param_names=("A",), domain=lambda a, o: LK.distinct_singular_values(a),
           domain_text=REPEATED_SV, kinks=lambda a, o: LK.singular_value_gaps(a),
           doc="torch.linalg.svd(A, full_matrices=False): part='U', 'S' (descending) or 'Vh'; each left vector "
               "signed so that its entry of largest magnitude is positive, its right vector with it"),
    OpSpec("qr", 1, LK.qr, _torch_qr, vjp=LK.qr_vjp, shape=LK.qr_shape, elementwise=False, analytic=False,
           attrs="options", options=(Option("mode", "reduced", "str", ("reduced", "complete", "r")),
                                     Option("part", "R", "str", ("Q", "R"), keyword_only=True)),
           mp=_mp("qr"), param_names=("A",), domain=lambda a, o: LK.leading_columns_independent(a),
           domain_text="the first min(n, m - 1) columns of A must be linearly independent (a column dependent on "
                       "the ones before it has no direction for Q)", jumps=LK.qr_jumps,
           torch_domain=lambda a, o: LK.leading_columns_independent(a, count=min(a.shape)),
           torch_domain_text="torch documents linalg.qr's gradient only where the first min(m, n) columns of A are "
                             "linearly independent (\"the gradient computed may be incorrect\" otherwise)",
           doc="torch.linalg.qr(A, mode='reduced'): part='R' (the default, (k, n)) or 'Q' (m, k), k = min(m, n), "
               "signed as LAPACK's Householder QR signs them (R's diagonal may be negative; Q's column and R's row "
               "flip together where a pivot crosses 0 or the column below it becomes 0, as at a triangular A: a "
               "jump)"),
    OpSpec("einsum", 1, LK.einsum, lambda *args: torch_module().einsum(args[-1].equation, *args[:-1]),
           vjp=LK.einsum_vjp, shape=LK.einsum_shape, elementwise=False, variadic=True, attrs="options",
           options=(Option("equation", "i->i", "str", keyword_only=True),), mp=_mp("einsum"), param_names=("a",),
           doc="torch.einsum: einsum('ij,jk->ik', a, b) or einsum(a, b, equation='ij,jk->ik'); without '->' torch's "
               "implicit output ('ij,jk' is 'ij,jk->ik'); no letter repeated within one operand, no '...'"),
    OpSpec("kron", 2, LK.kron, lambda a, b: torch_module().kron(a, b), vjp=LK.kron_vjp, shape=LK.kron_shape,
           elementwise=False, mp=_mp("kron"), param_names=("a", "b"),
           doc="the Kronecker product of two vectors or two matrices (torch.kron)"),
]
