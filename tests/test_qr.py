"""qr(A, mode='reduced', part='R'|'Q') (lang/ops/linalg.py, linalg_kernels.qr*, mp_linalg.qr): torch.linalg.qr's
values in LAPACK's gauge, its gradient as torch's linalg_qr_backward for tall, square and wide A, second order,
the jumps of that gauge, rank deficiency, and the modes torch does not differentiate.

The gauge: Householder QR (geqrf, dlarfg) makes R[k, k] = -sign(alpha) * |column|, alpha the pivot after the
earlier reflections, and reflects nothing where the column below the pivot is already 0 (R[k, k] = alpha).  So R's
diagonal may be negative, and Q's column k with R's row k flips sign where alpha crosses 0 or the column below it
becomes exactly 0: at every triangular matrix, the identity among them.  There the op jumps, and a function of it
that sees the sign (Q, or R alone) has no derivative; one that does not (R**2, Q @ R) is smooth.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mpmath import mp

from gradcheck_cli import check
from gradcheck_cli.lang import mp_linalg
from gradcheck_cli.lang.linalg_kernels import qr_jumps
from gradcheck_cli.lang.ops import OPS


def _values(seed: int, *shape: int) -> list:
    return np.random.default_rng(seed).normal(size=shape).round(2).tolist()


def _evaluate(a, part: str, mode: str = "reduced") -> np.ndarray:
    return OPS["qr"].evaluate([np.asarray([a], dtype=np.float64)], OPS["qr"].with_options({"part": part,
                                                                                          "mode": mode}))[0]


SHAPES = [(4, 3), (3, 3), (2, 4), (5, 1), (1, 3), (3, 2)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_values_are_torchs_and_a_factorization(shape):
    a = np.asarray(_values(sum(shape), *shape))
    q, r = torch.linalg.qr(torch.tensor(a))
    mine_q, mine_r = _evaluate(a, "Q"), _evaluate(a, "R")
    np.testing.assert_allclose(mine_q, q.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mine_r, r.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mine_q @ mine_r, a, atol=1e-14)
    np.testing.assert_allclose(mine_q.T @ mine_q, np.eye(min(shape)), atol=1e-14)
    assert np.allclose(np.tril(mine_r, -1), 0)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_the_mpmath_kernel_is_lapacks_to_float64(shape):
    a = np.asarray(_values(10 + sum(shape), *shape))
    objects = np.array([[mp.mpf(x) for x in row] for row in a], dtype=object)
    with mp.workdps(40):
        for part in "QR":
            exact = mp_linalg.qr(objects, OPS["qr"].with_options({"part": part}))
            np.testing.assert_allclose(exact.astype(float), _evaluate(a, part), rtol=1e-13, atol=1e-15)


def test_lapacks_signs_some_negative_and_the_mpmath_rule_agrees():
    a = np.asarray(_values(3, 4, 3))
    r = _evaluate(a, "R")
    signs = np.sign(np.diag(r))
    assert -1 in signs  # the gauge is not 'R's diagonal positive'
    objects = np.array([[mp.mpf(x) for x in row] for row in a], dtype=object)
    assert mp_linalg.qr_signs(objects).tolist() == signs.tolist()


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (2, 4), (3, 1)], ids=str)
@pytest.mark.parametrize("part", ["Q", "R"])
def test_gradient_and_hessian(shape, part):
    a, w = _values(20 + sum(shape), *shape), _values(30 + sum(shape), *_evaluate(np.zeros(shape) + 1, part).shape)
    first = check(f"sum(qr(A, part='{part}')*W)", at={"A": a, "W": w}, wrt=["A"])
    assert first.status == "pass", first.gradients
    t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    q, r = torch.linalg.qr(t)
    ((q if part == "Q" else r) * torch.tensor(w, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose([g.symbolic for g in first.gradients], t.grad.numpy().ravel(), rtol=1e-10,
                               atol=1e-13)
    second = check(f"sum(qr(A, part='{part}')**3*W)", at={"A": a, "W": w}, wrt=["A"], order=2)
    assert second.status == "pass", [row for row in second.hessian if row.status != "pass"][:2]


def test_q_of_a_square_matrix_does_not_depend_on_its_last_column():
    """Exactly 0 here, where torch's gradient is rounding noise (1e-15): the referee settles it."""
    a, w = _values(40, 3, 3), _values(41, 3, 3)
    result = check("sum(qr(A, part='Q')*W)", at={"A": a, "W": w}, wrt=["A"], precise=True)
    assert result.status == "pass"
    last = [g for g in result.gradients if g.index[1] == 2]
    assert [g.symbolic for g in last] == [0.0, 0.0, 0.0]
    assert all(abs(g.precise) < 1e-30 and abs(g.autograd) < 1e-13 for g in last)


def test_a_gauge_free_function_through_the_wide_split():
    """Q @ R = A: its gradient is the weight itself, through the square and the wide parts of the rule."""
    a, w = _values(50, 2, 4), _values(51, 2, 4)
    result = check("sum((qr(A, part='Q') @ qr(A))*W)", at={"A": a, "W": w}, wrt=["A"])
    assert result.status == "pass"
    np.testing.assert_allclose([g.symbolic for g in result.gradients], np.ravel(w), rtol=1e-12)


# ---- the jumps of LAPACK's gauge ----

UPPER = [[2.0, -1.0, 0.5], [0.0, 1.5, 0.25], [0.0, 0.0, -3.0]]


def test_lapacks_qr_jumps_at_a_triangular_matrix():
    """A tiny entry below the diagonal flips R's first row (and Q's first column): numpy's and torch's alike."""
    for lapack in (lambda m: np.linalg.qr(m)[1], lambda m: torch.linalg.qr(torch.tensor(m))[1].numpy()):
        assert lapack(np.asarray(UPPER))[0, 0] == 2.0
        nudged = np.asarray(UPPER)
        nudged[1, 0] = 1e-12
        assert lapack(nudged)[0, 0] == pytest.approx(-2.0)
    labels = qr_jumps(np.asarray([UPPER, np.asarray(UPPER) + np.tril(np.full((3, 3), 1e-12), -1)]), None)
    # the m-th pivot has no column below it: LAPACK reflects nothing there, and its sign is no label
    assert [label[:, 0, 0].tolist() for label in labels] == [[1.0, -1.0], [1.0, -1.0]]
    assert all(label.shape == (2, 3, 3) for label in labels)


def test_the_last_pivot_of_a_square_matrix_crosses_zero_continuously():
    """R[m-1, m-1] = alpha, unreflected: as A's last column moves through the span of the others it passes 0
    without a jump (R[1, 1] = -det(A)/R[0, 0] for a 2x2 A), so finite differences settle the derivative."""
    r = [np.linalg.qr(np.asarray([[1.0, 2.0], [1.0, 2.0 + t]]))[1][1, 1] for t in (-1e-6, 0.0, 1e-6)]
    assert r[0] == pytest.approx(-r[2], rel=1e-6) and abs(r[1]) < 1e-15 and r[0] != 0
    assert len(qr_jumps(np.asarray([[1.0, 2.0], [1.0, 2.0]]), None)) == 1  # the first pivot's sign only
    result = check("sum(qr(A)**3)", at={"A": [[1.0, 2.0], [1.0, 2.0]]}, wrt=["A"])
    assert all(g.finite_difference is not None for g in result.gradients)


@pytest.mark.parametrize("at", [np.eye(3).tolist(), UPPER], ids=["identity", "upper triangular"])
@pytest.mark.parametrize("part", ["Q", "R"])
def test_on_a_jump_the_derivative_is_undefined(at, part):
    result = check(f"sum(qr(A, part='{part}')*W)", at={"A": at, "W": _values(60, 3, 3)}, wrt=["A"])
    assert result.status == "undefined"
    jumping = [g for g in result.gradients if g.status == "undefined"]
    assert jumping and all("jump" in g.reason for g in jumping)
    # the entries above the diagonal move no pivot's column below it: there the derivative exists
    assert all(g.status == "pass" for g in result.gradients if g.index[0] <= g.index[1])


def test_a_function_blind_to_the_sign_is_smooth_on_a_jump():
    result = check("sum(qr(A)**2*W)", at={"A": UPPER, "W": _values(61, 3, 3)}, wrt=["A"])
    assert result.status == "pass"


# ---- rank deficiency and modes ----


SINGULAR_LAST = [[1.0, 2.0], [1.0, 2.0]]  # the last column a multiple of the first: R[1, 1] = 0
# The derivative exists there, and torch's backward is NaN; but gradcheck's own rule for qr (the same formula,
# solving with R) is NaN too, and torch documents its gradient only for independent first min(m, n) columns: the
# culprit says both (was: "torch's backward of qr is wrong", as though gradcheck's rule did better)
BOTH_BREAK_DOWN = "torch's backward of qr and the op registry's derivative rule for qr both break down at"
OUTSIDE_TORCHS_PROMISE = ("torch documents linalg.qr's gradient only where the first min(m, n) columns of A are "
                          "linearly independent (\"the gradient computed may be incorrect\" otherwise), and here "
                          "they are not")


@pytest.mark.parametrize("text", ["sum(qr(A)**3)", "sum(qr(A))", "sum(qr(A, part='Q')*A)"])
def test_a_square_matrix_singular_in_its_last_column_names_torchs_backward(text):
    """The derivative exists there (Q does not depend on the last column, R[1, 1] = -det(A)/R[0, 0] is smooth:
    the high-precision referee and finite differences agree); torch's linalg_qr_backward solves with R, singular
    here, and gives NaN or inf.  It was blamed on 'precision loss' (and 'combining local derivatives')."""
    result = check(text, at={"A": SINGULAR_LAST}, wrt=["A"])
    assert result.status == "fail"
    assert all(g.status == "fail" and g.disagrees == ["autograd"] for g in result.gradients)
    assert all(abs(g.reference - g.finite_difference) < 1e-8 for g in result.gradients)
    assert all(g.diagnosis not in ("precision loss", "cancellation") for g in result.gradients)
    (culprit,) = [c for c in result.culprits if c.kind == "autograd"]
    assert culprit.message.startswith(BOTH_BREAK_DOWN) and culprit.node is not None
    assert culprit.message.endswith(OUTSIDE_TORCHS_PROMISE)


def test_a_triangular_rank_deficient_matrix_names_torchs_backward_and_the_jump():
    """The task's point: A = [[1, 2], [0, 0]] sits on the jump in A[1, 0] (undefined there) and the other
    entries have derivatives torch's backward makes NaN; it was blamed on how local derivatives are combined."""
    result = check("sum(qr(A)**3)", at={"A": [[1.0, 2.0], [0.0, 0.0]]}, wrt=["A"])
    statuses = {tuple(g.index): g.status for g in result.gradients}
    assert statuses == {(0, 0): "fail", (0, 1): "fail", (1, 0): "undefined", (1, 1): "fail"}
    assert [g.reference for g in result.gradients if g.status == "fail"] == pytest.approx([3.0, 12.0, 0.0], abs=1e-9)
    (culprit,) = [c for c in result.culprits if c.kind == "autograd"]
    assert culprit.message.startswith(BOTH_BREAK_DOWN) and culprit.message.endswith(OUTSIDE_TORCHS_PROMISE)
    assert "neither formula computes it" in culprit.message and "is wrong" not in culprit.message


def test_a_dependent_middle_column_is_undefined_even_where_the_float_referees_agree():
    """Columns 0 and 1 dependent: float rounding gives Q's second column a direction, and symbolic and finite
    differences agree on the derivative in the last column of that accident (-2.7 where exact arithmetic says
    -17.3, torch's value): it was a failure of autograd.  The exact value is undefined: every entry is."""
    result = check("sum(qr(A)**3)", at={"A": [[1.0, 2.0, 0.0], [1.0, 2.0, 1.0], [1.0, 2.0, 3.0]]}, wrt=["A"])
    assert result.status == "undefined"
    assert all(g.status == "undefined" and "linearly independent" in g.reason and g.reference is None
               for g in result.gradients)


def test_a_rank_deficient_matrix_has_no_derivative():
    result = check("sum(qr(A)*W)", at={"A": [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]], "W": [[1.0, 2.0], [3.0, 4.0]]},
                   wrt=["A"])
    assert result.status == "undefined"
    assert all(g.status == "undefined" and "linearly independent" in g.reason for g in result.gradients)


@pytest.mark.parametrize("text, words", [("qr(A, mode='r')", "use mode='reduced' with part='R'"),
                                         ("qr(A, 'complete', part='Q')", "mode='complete' of a tall matrix"),
                                         ("qr(A, mode='full')", "mode must be one of"),
                                         ("qr(A, part='S')", "part must be one of")])
def test_modes_torch_does_not_differentiate_are_errors(text, words):
    result = check(f"sum({text})", at={"A": _values(70, 3, 2)})
    assert result.status == "error" and words in result.error["message"], result.error


def test_complete_mode_of_a_wide_matrix_is_the_reduced_one():
    a, w = _values(71, 2, 3), _values(72, 2, 2)
    complete = check("sum(qr(A, 'complete', part='Q')*W)", at={"A": a, "W": w})
    reduced = check("sum(qr(A, part='Q')*W)", at={"A": a, "W": w})
    assert complete.status == reduced.status == "pass"
    assert [g.symbolic for g in complete.gradients] == [g.symbolic for g in reduced.gradients]
