"""Vector-valued expressions: every engine's Jacobian against torch.autograd.functional.jacobian."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradcheck_cli import check

RNG = np.random.default_rng(7)
W, X, B = RNG.normal(size=(3, 2)), RNG.normal(size=2), RNG.normal(size=3)
Z = RNG.normal(size=4)
A = RNG.normal(size=(2, 3))

CASES = [
    ("softmax(z)", {"z": Z}, lambda z: torch.softmax(z, -1)),
    ("log_softmax(z)", {"z": Z}, lambda z: torch.log_softmax(z, -1)),
    ("W @ x + b", {"W": W, "x": X, "b": B}, lambda W, x, b: W @ x + b),
    ("tanh(W @ x)", {"W": W, "x": X}, lambda W, x: torch.tanh(W @ x)),
    ("x * x[0]", {"x": X}, lambda x: x * x[0]),
    ("A.T @ A", {"A": A}, lambda A: A.T @ A),
    ("sum(A, 0) * mean(A, 1)[0]", {"A": A}, lambda A: A.sum(0) * A.mean(1)[0]),
    ("concat(x, x**2)", {"x": X}, lambda x: torch.cat([x, x**2])),
    ("reshape(A, 3, 2)[1:, :]", {"A": A}, lambda A: A.reshape(3, 2)[1:, :]),
]


@pytest.mark.parametrize("expr, point, function", CASES, ids=[c[0] for c in CASES])
def test_jacobian_matches_torch(expr, point, function):
    result = check(expr, at=point)
    assert result.status == "pass", result.rendered_error
    names = list(point)
    tensors = tuple(torch.tensor(point[n], dtype=torch.float64) for n in names)
    jacobians = torch.autograd.functional.jacobian(function, tensors)
    for name, jac in zip(names, jacobians):
        rows = [r for r in result.gradients if r.wrt == name]
        expected = jac.numpy()
        assert len(rows) == expected.size
        for row in rows:
            exact = expected[tuple(row.output_index + row.index)]
            assert row.symbolic == pytest.approx(exact, rel=1e-10, abs=1e-12)
            assert row.autograd == pytest.approx(exact, rel=1e-10, abs=1e-12)
            assert abs(row.finite_difference - exact) <= row.fd_error + 1e-12


def test_a_wrong_manual_jacobian_names_the_entries(cli_json):
    # d(x**2)/dx is diag(2x); the manual formula forgets the diagonal
    code, doc = cli_json("x**2", "--x", "1,2", "--manual", "x=2*x")
    assert code == 1
    failing = [(g["output_index"], g["index"]) for g in doc["results"][0]["gradients"] if g["status"] == "fail"]
    assert failing == [([0], [1]), ([1], [0])]
    passing = check("x**2", at={"x": [1.0, 2.0]}, manual={"x": "2*x*eye(2)"})
    assert passing.status == "pass"


def test_scalar_outputs_have_an_empty_output_index(cli_json):
    _, doc = cli_json("sum(x**2)", "--x", "1,2")
    assert all(g["output_index"] == [] for g in doc["results"][0]["gradients"])
    assert doc["results"][0]["formulas"] == {"x": "2*x"}
