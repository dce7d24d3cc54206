"""--fast with code as the reference (issue 18 item 6): random projections uᵀJv of a user's function, and vᵀHw
with --order 2, so a 2×8×32×32 kernel checks in seconds and a wrong backward is still named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import CUBE, named

from gradcheck_cli import check

ROOT = Path(__file__).resolve().parent.parent
DEPTHWISE = "examples.custom_ops.depthwise_conv:depthwise_conv3x3"
BIG = ("--x", "randn(2, 8, 32, 32)", "--w", "randn(8, 1, 3, 3)", "--seed", "0", "--fast")


def test_a_big_kernel_checks_by_projections(cli_json, in_root):
    code, document = cli_json("--function", DEPTHWISE, *BIG)
    result = document["results"][0]
    assert code == 0 and result["seed"] == 0
    assert [(r["wrt"], r["projection"]) for r in result["gradients"]] == [(n, k) for k in range(4) for n in "xw"]
    assert all(r["reference_source"] == "finite_difference" and r["function_verdict"] is None
               for r in result["gradients"])
    assert any("8 random projections uᵀJv with seed 0" in note for note in result["notes"])
    assert [c["name"] for c in result["checks"]] == ["float64", "autograd graph", "inputs unchanged"]


def test_a_wrong_backward_is_named_by_its_projections(cli_json, in_root):
    code, document = cli_json("--function", "examples.custom_ops.depthwise_conv_buggy:depthwise_conv3x3", *BIG)
    rows = document["results"][0]["gradients"]
    assert code == 1
    assert {r["wrt"] for r in rows if r["status"] == "fail"} == {"x"}  # the flipped window is in x's gradient only
    assert all(r["function_verdict"] == "backward, own reference" for r in rows if r["status"] == "fail")


def test_projections_are_ujv_of_the_full_jacobian(in_root):
    at = {"x": "randn(1, 2, 3, 3)", "w": "randn(2, 1, 3, 3)"}
    full = check("", at=at, seed=3, function=DEPTHWISE)
    fast = check("", at=at, seed=3, function=DEPTHWISE, fast=True)
    shapes = {"x": (1, 2, 3, 3), "w": (2, 1, 3, 3)}
    jacobian = {n: np.zeros((18,) + shapes[n]) for n in shapes}
    for row in full.gradients:
        jacobian[row.wrt][(int(np.ravel_multi_index(row.output_index, (1, 2, 3, 3))),) + tuple(row.index)] = \
            row.function
    rng = np.random.default_rng(3)
    for k in range(4):
        u = rng.standard_normal((1, 2, 3, 3)).reshape(-1)
        v = {n: rng.standard_normal(shapes[n]) for n in "xw"}
        for row in [r for r in fast.gradients if r.projection == k]:
            expected = np.tensordot(u, jacobian[row.wrt], axes=1).ravel() @ v[row.wrt].ravel()
            assert row.function == pytest.approx(expected, rel=1e-10)
            assert abs(row.finite_difference - row.function) <= row.fd_error + 1e-7 * abs(row.function)


def test_against_a_reference_by_projections(cli_json, in_root):
    code, document = cli_json("--function", DEPTHWISE, "--reference", "examples.custom_ops.depthwise_conv:reference",
                              *BIG)
    result = document["results"][0]
    assert code == 0 and named(result["checks"], "forward value")["status"] == "pass"
    assert all(r["function_fd"] is not None for r in result["gradients"])


@pytest.mark.parametrize("backward, status", [
    ("3 * x ** 2", "pass"),
    ("3 * x.detach() ** 2", "fail"),  # right first derivative, a double backward of 0
])
def test_order_2_by_projections(user_module, backward, status):
    name = user_module(CUBE.format(backward=backward))
    result = check("", at={"x": "randn(3, 4)"}, seed=1, function=f"{name}:Cube", fast=True, order=2)
    assert result.status == status
    assert all(r.status == "pass" for r in result.gradients)
    assert len(result.hessian) == 4 and {r.status for r in result.hessian} == {status}
    if status == "fail":
        assert all(r.function == 0 and r.function_verdict == "backward, own reference" for r in result.hessian)


def test_order_2_by_projections_names_a_once_differentiable_backward(user_module):
    """As without {fast}: the double backward check says the backward cannot be differentiated, rather than
    projections reading its Hessian as 0 and blaming numbers."""
    source = "from torch.autograd.function import once_differentiable\n" + CUBE.format(backward="3 * x ** 2")
    marked = "    @staticmethod\n    @once_differentiable\n    def backward"
    name = user_module(source.replace("    @staticmethod\n    def backward", marked))
    result = check("", at={"x": "randn(3, 4)"}, seed=1, function=f"{name}:Cube", fast=True, order=2)
    double = named(result.checks, "double backward")
    assert result.status == "fail" and double.status == "fail"
    assert "Cube.backward is marked @once_differentiable" in double.message
    assert all(r.status == "pass" for r in result.gradients) and result.hessian == []


def test_fast_with_a_function_against_an_expression_is_still_refused(cli, in_root):
    result = cli("x*sigmoid(x)", "--x", "0.5", "--function", "examples.custom_ops.swish:Swish", "--fast")
    assert result.exit_code == 2 and "alone, or against --reference, it checks projections" in result.stderr
