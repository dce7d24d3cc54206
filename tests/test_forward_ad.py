"""Forward-mode AD of a user's function (issue 18 item 4), torch.autograd.gradcheck's check_forward_ad: a wrong
jvp is named, a missing one is a note."""

from __future__ import annotations

import pytest
from conftest import named

SQUARE = """
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(x):
            return x ** 2

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.save_for_forward(inputs[0])

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return grad * 2 * x
{jvp}
"""
JVP = """
        @staticmethod
        def jvp(ctx, tangent):
            x, = ctx.saved_tensors
            return tangent * {formula}
"""


@pytest.mark.parametrize("formula, status, code", [("2 * x", "pass", 0), ("3 * x", "fail", 1)])
def test_a_wrong_jvp_is_named_and_its_correct_twin_passes(cli_json, user_module, formula, status, code):
    name = user_module(SQUARE.format(jvp=JVP.format(formula=formula)))
    exit_code, document = cli_json("x**2", "--function", f"{name}:Square", "--x", "1,2,3")
    forward = named(document["results"][0]["checks"], "forward AD (jvp)")
    assert (exit_code, forward["status"]) == (code, status), forward
    if status == "fail":
        assert "your jvp" in forward["message"] and "x" in forward["message"]
        assert all(r["status"] == "pass" for r in document["results"][0]["gradients"])  # the backward is right


def test_a_function_without_jvp_gets_a_note_not_a_failure(cli_json, user_module):
    name = user_module(SQUARE.format(jvp=""))
    exit_code, document = cli_json("x**2", "--function", f"{name}:Square", "--x", "1,2,3")
    forward = named(document["results"][0]["checks"], "forward AD (jvp)")
    assert exit_code == 0 and forward["status"] == "skipped"
    assert "jvp" in forward["message"] and "check_forward_ad" in forward["message"]


def test_plain_torch_ops_are_checked_in_forward_mode(cli_json, user_module):
    name = user_module("def f(x, y):\n    return torch.sin(x) * y\n")
    exit_code, document = cli_json("sin(x)*y", "--function", f"{name}:f", "--x", "1,2", "--y", "3,4")
    assert exit_code == 0 and named(document["results"][0]["checks"], "forward AD (jvp)")["status"] == "pass"


def test_a_result_computed_outside_forward_mode_is_a_note_not_a_wrong_jvp(cli_json, user_module):
    name = user_module("def f(x):\n    return torch.from_numpy(x.detach().numpy() ** 2)\n")
    exit_code, document = cli_json("x**2", "--function", f"{name}:f", "--x", "1,2")
    checks = document["results"][0]["checks"]
    assert named(checks, "autograd graph")["status"] == "fail"  # the graph check names the real defect
    forward = named(checks, "forward AD (jvp)")
    assert forward["status"] == "skipped" and "no forward AD tangent" in forward["message"]
