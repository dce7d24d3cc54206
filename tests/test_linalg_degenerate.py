"""The linear-algebra ops at singular and degenerate points: a right verdict or `undefined`, never a wrong
culprit (issue 17's wrong-culprit class; qr's own cases are in tests/test_qr.py).

A singular A where the value itself is undefined (inv, solve, cholesky, logdet, slogdet, a negative
matrix_power) is bad input: exit 2 naming the op.  Where the value exists but the op is not differentiable
(repeated eigenvalues or singular values, pinv's rank, svd's U of a tall A with a zero singular value), the
entries are undefined with the reason in words, even where each partial derivative exists.
"""

from __future__ import annotations

import pytest

from gradcheck_cli import check

SINGULAR = [[1.0, 2.0], [2.0, 4.0]]


@pytest.mark.parametrize("text, at, words", [
    ("sum(inv(A))", SINGULAR, "must be invertible"),
    ("sum(solve(A, A[0]))", SINGULAR, "must be invertible"),
    ("sum(matrix_power(A, -2))", SINGULAR, "must be invertible"),
    ("sum(cholesky(A))", [[1.0, 2.0], [2.0, 1.0]], "positive definite"),
    ("logdet(A)", [[1.0, 2.0], [2.0, 1.0]], "det(A) > 0"),
    ("slogdet(A)", SINGULAR, "det(A) != 0"),
])
def test_an_undefined_value_is_bad_input(text, at, words):
    result = check(text, at={"A": at})
    assert result.status == "error" and words in result.error["message"], result.error


@pytest.mark.parametrize("text, at, words", [
    ("sum(eigh(A, part='eigenvectors')*A)", [[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 3.0]], ""),
    ("eigvalsh(A)[0]", [[1.0, 0.0], [0.0, 1.0]], "kink"),
    ("svdvals(A)[0]", [[1.0, 0.0], [0.0, 1.0]], "kink"),
    ("sum(svd(A, part='U')*A)", [[1.0, 0.0], [0.0, 1.0]], ""),
    ("sum(pinv(A))", SINGULAR, "full rank"),
])
def test_a_degenerate_decomposition_is_undefined(text, at, words):
    result = check(text, at={"A": at}, wrt=["A"])
    assert result.status == "undefined"
    assert all(g.status in ("undefined", "pass") for g in result.gradients)
    assert all(words in g.reason for g in result.gradients if g.status == "undefined")


def test_partial_derivatives_without_a_derivative_are_undefined():
    """sum(svd(A, part='U')*A) at a tall A with singular values 1 and 0: U's second column is a*/|a*| signed by
    its largest entry, so the function is linear along each line through the point, its slope not linear in the
    line's direction.  The referees settle each partial derivative; torch's NaN was 'fail: autograd (0·∞)', with
    a note that the function is differentiable here."""
    result = check("sum(svd(A, part='U')*A)", at={"A": [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]}, wrt=["A"])
    assert result.status == "undefined"
    assert all(g.status == "undefined" and "partial derivatives exist" in g.reason for g in result.gradients)
    assert not [c for c in result.culprits if c.kind == "autograd"]


def test_a_removable_singularity_keeps_its_finding():
    """The mixed-direction slope agrees with the partial derivatives where the function is differentiable:
    torch's NaN at sqrt(x**2)**2 is still a failure of autograd (0·∞)."""
    result = check("sum(sqrt(x**2)**2)", at={"x": [0.0, 1.0]}, wrt=["x"])
    assert [g.status for g in result.gradients] == ["fail", "pass"]
    assert result.gradients[0].diagnosis == "0·∞"


def test_nearby_the_svd_is_differentiable_and_passes():
    result = check("sum(svd(A, part='U')*A)", at={"A": [[1.0, 0.0], [0.0, 0.5], [0.0, 0.0]]}, wrt=["A"])
    assert result.status == "pass"


@pytest.mark.parametrize("text, name", [("sum(eigvalsh(A)*w)", "eigvalsh"), ("sum(eigh(A)*w)", "eigh"),
                                        ("sum(cholesky(A)[1]*w)", "cholesky")])
def test_a_non_symmetric_argument_says_torch_reads_it_otherwise(text, name):
    """torch.linalg.eigvalsh/eigh/cholesky read only A's lower triangle; here they are of the symmetric part.  On
    a non-symmetric A the values differ from the user's torch code's: a note says so (was: silently)."""
    at = {"A": [[4.0, 2.0], [0.0, 3.0]], "w": [1.0, 2.0]}
    result = check(text, at=at)
    assert result.status == "pass"
    assert [n for n in result.notes if "not symmetric" in n] == [
        f"{name}: its argument is not symmetric (|A - A^T| up to 2): here {name} is of the symmetric part "
        f"(A + A^T)/2, as the gradient torch gives assumes, while torch.linalg.{name}(A) reads only A's lower "
        "triangle, so its values differ on this A"]
    symmetric = check(text.replace("(A)", "(A + A.T)"), at=at)
    assert symmetric.status == "pass" and not any("not symmetric" in n for n in symmetric.notes)
