"""The batched-gradient check of a user's function (issue 18 item 4), torch.autograd.gradcheck's
check_batched_grad: a backward that breaks under vmap is named with torch's words; its twin passes."""

from __future__ import annotations

import pytest
from conftest import named

CUBE_SUM = """
    class CubeSum(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x ** 3).sum()

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return {scale} * 3 * x ** 2
"""


@pytest.mark.parametrize("scale, status, code", [("grad", "pass", 0), ("grad.item()", "fail", 1)])
def test_a_backward_that_breaks_under_vmap_is_named(cli_json, user_module, scale, status, code):
    name = user_module(CUBE_SUM.format(scale=scale))
    exit_code, document = cli_json("sum(x**3)", "--function", f"{name}:CubeSum", "--x", "1,2,3")
    result = document["results"][0]
    batched = named(result["checks"], "batched gradient (vmap)")
    assert (exit_code, batched["status"]) == (code, status), batched
    assert all(r["status"] == "pass" for r in result["gradients"])  # one backward at a time is right
    if status == "fail":
        assert "while computing batched gradients" in batched["message"]
        assert "check_batched_grad" in batched["message"] and "item" in batched["message"]
