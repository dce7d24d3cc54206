"""A function alone whose result is a tuple, with no [N] (issue 18 item 4): every differentiable output is
checked, each output's rows labelled f[0], f[1] (or a namedtuple's field names) in the table, JSON and JUnit."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree

import pytest

OUTPUTS = """
    from collections import namedtuple

    Stats = namedtuple("Stats", "mean spread")

    def split(x, y):
        return torch.sin(x) * y, (x * y).sum(), torch.tensor([1, 2])  # the index tensor is not differentiable

    def stats(x):
        return Stats(x.mean(), ((x - x.mean()) ** 2).sum())

    class SinCos(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin(), x.cos()

        @staticmethod
        def backward(ctx, ga, gb):
            x, = ctx.saved_tensors
            return ga * x.cos() + gb * x.sin()  # the cosine's derivative is -sin
"""


def test_every_differentiable_output_is_checked_and_labelled(cli_json, user_module):
    name = user_module(OUTPUTS)
    code, document = cli_json("--function", f"{name}:split", "--x", "1,2", "--y", "3,4")
    result = document["results"][0]
    assert code == 0 and result["status"] == "pass"
    rows = {(row["output"], tuple(row["output_index"]), row["wrt"], tuple(row["index"])): row
            for row in result["gradients"]}
    assert len(rows) == len(result["gradients"]) == (2 + 1) * 4
    assert rows[("f[0]", (1,), "x", (1,))]["function"] == pytest.approx(4 * math.cos(2), rel=1e-15)
    assert rows[("f[1]", (), "y", (0,))]["reference"] == 1.0  # d sum(x*y)/dy[0] = x[0]


def test_a_namedtuple_labels_its_outputs_by_field(cli, user_module):
    name = user_module(OUTPUTS)
    result = cli("--function", f"{name}:stats", "--x", "1,2,4", "-v", "--width", "140")
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if "x[0]" in line and "pass" in line]
    assert [line.split("│")[1].strip() for line in lines] == ["mean", "spread"]


def test_a_wrong_gradient_of_one_output_is_named_by_that_output(cli, cli_json, user_module):
    name = user_module(OUTPUTS)
    code, document = cli_json("--function", f"{name}:SinCos", "--x", "1,2")
    result = document["results"][0]
    failing = {(row["output"], tuple(row["output_index"]), tuple(row["index"])) for row in result["gradients"]
               if row["status"] == "fail"}
    assert code == 1 and failing == {("f[1]", (0,), (0,)), ("f[1]", (1,), (1,))}
    junit = ElementTree.fromstring(cli("--function", f"{name}:SinCos", "--x", "1,2", "--format", "junit").stdout)
    message = junit.find(".//failure").get("message")
    assert message.startswith("function backward disagrees on d f[1][0]/d x[0]: function backward 0.8414709848 vs "
                              "reference -0.8414709848")


def test_a_reference_that_returns_a_tuple_is_compared_output_by_output(cli_json, user_module):
    name = user_module(OUTPUTS + """
    def reference(x, y):
        return torch.sin(x) * y, (x * y).sum() + 1, torch.tensor([1, 2])
    """)
    code, document = cli_json("--function", f"{name}:split", "--reference", f"{name}:reference", "--x", "1,2",
                              "--y", "3,4")
    forward = [c for c in document["results"][0]["checks"] if c["name"] == "forward value"]
    assert code == 1 and forward[0]["status"] == "fail"
    assert "at 1 of 3 element(s): f[1] = 11, reference 12" in forward[0]["message"]
