"""--fast: random projections uᵀJv, reproducible by seed, still naming who is wrong."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from gradcheck_cli import check
from gradcheck_cli.lang.ops import OPS
from gradcheck_cli.run.case import run
from gradcheck_cli.spec.spec import Spec


def fast(expr: str, seed: int = 5, **at) -> object:
    return run(Spec(expr=expr, at={k: np.asarray(v, dtype=float) for k, v in at.items()}, fast=True, seed=seed))


def test_projections_agree_with_the_full_jacobian():
    point = {"z": [0.3, -1.2, 2.0]}
    full = check("softmax(z)", at=point)
    projected = fast("softmax(z)", seed=11, **point)
    assert projected.status == "pass" and len(projected.gradients) == 4  # 4 projections x 1 variable
    jacobian = np.zeros((3, 3))
    for row in full.gradients:
        jacobian[row.output_index[0], row.index[0]] = row.symbolic
    rng = np.random.default_rng(11)
    for row in projected.gradients:
        u, v = rng.standard_normal(3), rng.standard_normal(3)
        assert row.symbolic == pytest.approx(u @ jacobian @ v, rel=1e-12)
        assert abs(row.finite_difference - row.symbolic) <= row.fd_error


def test_same_seed_same_projections_and_the_seed_is_printed(cli):
    first = fast("sum(sin(x)*x)", seed=3, x=[1.0, 2.0])
    again = fast("sum(sin(x)*x)", seed=3, x=[1.0, 2.0])
    assert [r.symbolic for r in first.gradients] == [r.symbolic for r in again.gradients]
    result = cli("softmax(z)", "--z", "1,2", "--fast", "--color", "never")
    assert result.exit_code == 0 and "random projections" in result.stdout and "--seed " in result.stdout


def test_a_broken_rule_makes_the_referees_disagree_and_blames_no_subject(monkeypatch):
    """Projections have no high-precision referee: symbolic against finite differences stays inconclusive."""
    monkeypatch.setitem(OPS, "tanh", dataclasses.replace(OPS["tanh"], partials=(lambda x, out: 1 + out**2,)))
    result = fast("tanh(W @ x)", W=[[1.0, 2.0], [0.5, -1.0]], x=[0.3, 0.1])
    assert result.status == "inconclusive"
    assert all(r.disagrees == [] and "disagree" in r.reason for r in result.gradients)


def test_a_wrong_manual_jacobian_fails_under_projection(cli):
    result = cli("x**2", "--x", "1,2,3", "--fast", "--seed", "2", "--manual", "x=2*x")
    assert result.exit_code == 1 and "manual disagrees on uᵀ(df/dx)v [projection 0]" in result.stdout


def test_a_manual_formula_for_some_variables_is_compared_on_those_alone(cli):
    """Each variable has its own direction, so a correct partial manual passes."""
    assert cli("sum(x*y)", "--x", "1,2,3", "--y", "2,3,4", "--manual", "x=y", "--fast", "-q").exit_code == 0
    assert cli("x*y", "--x", "1,2,3", "--y", "2,3,4", "--manual", "x=eye(3)*y", "--fast", "-q").exit_code == 0
    wrong = cli("sum(x*y)", "--x", "1,2,3", "--y", "2,3,4", "--manual", "x=2*y", "--fast", "--seed", "1", "--json")
    rows = json.loads(wrong.stdout)["results"][0]["gradients"]
    assert {(r["wrt"], tuple(r["disagrees"])) for r in rows} == {("x", ("manual",)), ("y", ())}


def test_fast_handles_jacobians_too_big_to_list(cli):
    values = ",".join(str(i / 100) for i in range(1500))
    assert cli("x**2", "--x", values, "-q").exit_code == 2  # 2.25 million entries: refused without --fast
    assert cli("x**2", "--x", values, "--fast", "-q").exit_code == 0


def test_fast_and_yaml(cli_json, tmp_path):
    (tmp_path / "f.yaml").write_text("expr: softmax(z)\nat: {z: [1, 2, 3]}\nfast: true\nseed: 4\n")
    code, doc = cli_json(str(tmp_path / "f.yaml"))
    assert code == 0
    assert [(g["wrt"], g["projection"]) for g in doc["results"][0]["gradients"]] == [("z", k) for k in range(4)]
    assert "seed 4" in doc["results"][0]["notes"][0]


def test_order_2_projections_are_vhw_of_the_full_hessian():
    point = {"x": [0.3, -1.2, 2.0], "y": [0.5, 1.5, -0.7]}
    expr = "sum(sin(x)*y**2) + x[0]*y[1]*x[2]"
    full = check(expr, at=point, order=2)
    projected = run(Spec(expr=expr, at={k: np.asarray(v) for k, v in point.items()}, fast=True, seed=5, order=2))
    assert projected.status == "pass" and len(projected.hessian) == 4 * 4  # 4 projections x 4 pairs
    hessian = {(a, b): np.zeros((3, 3)) for a in "xy" for b in "xy"}
    for row in full.hessian:
        hessian[tuple(row.wrt)][row.index[0][0], row.index[1][0]] = row.symbolic
    rng = np.random.default_rng(6)
    for k in range(4):
        v, w = {a: rng.standard_normal(3) for a in "xy"}, {b: rng.standard_normal(3) for b in "xy"}
        for row in [r for r in projected.hessian if r.projection == k]:
            a, b = row.wrt
            assert row.symbolic == pytest.approx(v[a] @ hessian[(a, b)] @ w[b], rel=1e-10, abs=1e-12)
            assert row.autograd == pytest.approx(row.symbolic, rel=1e-12, abs=1e-14)
            assert abs(row.finite_difference - row.symbolic) <= row.fd_error


def test_hessian_projections_never_blame_autograd_on_a_shared_referee(monkeypatch):
    """Finite differences of the Hessian projections differentiate the symbolic gradient: with a broken rule
    (sin' = 2 cos) they agree with symbolic, so autograd, which is right, must not be blamed: inconclusive."""
    from gradcheck_cli.lang.ops.elementwise import cos

    monkeypatch.setitem(OPS, "sin", dataclasses.replace(OPS["sin"], partials=(lambda x, out: 2 * cos(x),)))
    result = run(Spec(expr="sum(sin(x))", at={"x": np.asarray([0.3, -0.4])}, fast=True, seed=1, order=2))
    assert result.status == "inconclusive"
    assert all(r.disagrees == [] and r.status == "inconclusive" for r in result.gradients + result.hessian)
    assert all("without --fast" in r.reason for r in result.hessian)
