"""An nn.Module as the function checked (issue 18 item 4): its parameters are variables by name, at their current
values unless given; a wrong custom Function inside it is named."""

from __future__ import annotations

import pytest
from conftest import named

from gradcheck_cli import check

LAYERS = """
    from torch import nn

    class Scale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, s):
            ctx.save_for_backward(x, s)
            return x * s

        @staticmethod
        def backward(ctx, g):
            x, s = ctx.saved_tensors
            return g * s, {scale_gradient}

    class Scaled(nn.Module):
        def __init__(self, features=3):
            super().__init__()
            self.linear = nn.Linear(features, 2)
            self.scale = nn.Parameter(torch.ones(2) * 1.5)

        def forward(self, x):
            return Scale.apply(torch.tanh(self.linear(x)), self.scale)
"""
LINEAR = ("--function", "torch.nn:Linear", "--init-kwargs", "in_features=3, out_features=2")


def test_a_linear_layer_is_checked_in_its_input_and_its_parameters(cli_json):
    code, document = cli_json(*LINEAR, "--input", "randn(1, 3)", "--seed", "0")
    result = document["results"][0]
    assert code == 0 and result["status"] == "pass"
    assert result["function"]["inputs"] == ["input", "weight", "bias"]
    assert {row["wrt"] for row in result["gradients"]} == {"input", "weight", "bias"}
    assert len(result["gradients"]) == 2 * (3 + 6 + 2)
    weight = [row for row in result["gradients"] if row["wrt"] == "weight" and row["output_index"] == [0, 0]]
    assert [row["function"] for row in weight] == pytest.approx([row["finite_difference"] for row in weight])


def test_the_point_reported_holds_the_parameters_at_the_values_checked(cli_json):
    """JSON's `point` is the point the case was checked at, a layer's parameters included (they were left out, so
    a failing report could not be reproduced from it)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        layer = torch.nn.Linear(3, 2).double()
    code, document = cli_json(*LINEAR, "--input", "1,2,3", "--bias", "10,20")
    point = document["results"][0]["point"]
    assert code == 0 and point["input"] == [1.0, 2.0, 3.0] and point["bias"] == [10.0, 20.0]
    assert point["weight"] == layer.weight.tolist()


def test_a_parameter_given_a_value_takes_it(cli_json):
    code, document = cli_json(*LINEAR, "--input", "1,2,3", "--weight", "[[1,0,0],[0,1,0]]", "--bias", "10,20")
    assert code == 0 and document["results"][0]["value"] == [11.0, 22.0]


def test_against_an_expression_a_parameter_not_given_takes_its_current_value(cli_json):
    """The expression's variables named after the layer's parameters take their current values unless given, as
    with the layer alone (it was refused: "Missing option '--weight'")."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the module class is constructed under torch's generator seeded 0
        layer = torch.nn.Linear(3, 2).double()
    code, document = cli_json("weight @ input + bias", *LINEAR, "--input", "1,2,3")
    result = document["results"][0]
    expected = (layer.weight @ torch.tensor([1.0, 2, 3], dtype=torch.float64) + layer.bias).tolist()
    assert code == 0 and result["status"] == "pass", result.get("error")
    assert result["value"] == pytest.approx(expected) and result["point"]["weight"] == layer.weight.tolist()
    given = cli_json("weight @ input + bias", *LINEAR, "--input", "1,2,3", "--bias", "10,20")[1]["results"][0]
    assert given["value"] == pytest.approx((torch.tensor(expected) - layer.bias + torch.tensor([10, 20])).tolist())


def test_a_small_conv_module_passes(cli_json):
    code, document = cli_json("--function", "torch.nn:Conv2d", "--init-kwargs",
                              "in_channels=1, out_channels=2, kernel_size=(2, 2)", "--input", "randn(1, 1, 3, 3)",
                              "--seed", "1")
    result = document["results"][0]
    assert code == 0 and result["status"] == "pass", [c for c in result["checks"] if c["status"] == "fail"]
    assert result["function"]["inputs"] == ["input", "weight", "bias"]


def test_a_sequential_instance_names_its_parameters_by_path_from_python():
    import torch

    layers = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1))
    result = check("", at={"input": [[0.5, -1.0]], "2.bias": [0.25]}, function=layers)
    assert result.status == "pass"
    assert result.function["inputs"] == ["input", "0.weight", "0.bias", "2.weight", "2.bias"]
    assert result.function["target"] == "a Sequential"
    expected = layers(torch.tensor([[0.5, -1.0]])).item() - layers[2].bias.item() + 0.25
    assert float(result.value[0][0]) == pytest.approx(expected, rel=1e-6)
    assert layers[2].bias.dtype == torch.float32  # the caller's module is not changed


@pytest.mark.parametrize("scale_gradient, status", [("(g * x * 2).sum(0)", "fail"), ("(g * x).sum(0)", "pass")])
def test_a_wrong_custom_function_inside_a_module_is_named(cli_json, user_module, scale_gradient, status):
    name = user_module(LAYERS.format(scale_gradient=scale_gradient))
    code, document = cli_json("--function", f"{name}:Scaled", "--init-kwargs", "features=2", "--x", "randn(1, 2)",
                              "--seed", "0")
    result = document["results"][0]
    assert result["status"] == status and code == (1 if status == "fail" else 0)
    assert result["function"]["inputs"] == ["x", "scale", "linear.weight", "linear.bias"]
    if status == "pass":
        assert "custom Functions" not in [c["name"] for c in result["checks"]]  # asked only of a wrong backward
        return
    wrong = {row["wrt"] for row in result["gradients"] if row["status"] == "fail"}
    assert wrong == {"scale"}
    culprit = named(result["checks"], "custom Functions")
    assert culprit["status"] == "fail"
    assert culprit["message"].startswith("Scale.backward disagrees with finite differences of Scale.forward "
                                         "(Jacobian mismatch for output 0 with respect to input 1)")


def test_init_keywords_need_a_module_class(cli, user_module):
    name = user_module("def f(x):\n    return x * 2\n")
    result = cli("--function", f"{name}:f", "--x", "1", "--init-kwargs", "a=1")
    assert result.exit_code == 2 and "--init-kwargs construct an nn.Module; " in result.stderr
    result = cli(*LINEAR[:2], "--input", "1,2", "--init-kwargs", "in_features=2, out_featurs=1")
    assert result.exit_code == 2 and "constructing torch.nn:Linear raised: TypeError" in result.stderr


def test_a_function_that_cannot_be_checked_alone_is_a_note_not_a_culprit(cli_json, user_module):
    """Inside a wrong layer, a Function whose arguments gradcheck cannot differentiate is never the one blamed."""
    name = user_module("""
        class Constant(torch.autograd.Function):
            @staticmethod
            def forward(ctx, n):
                return n * 2.0

            @staticmethod
            def backward(ctx, g):
                return None

        def f(x):
            return x ** 3 * Constant.apply(torch.tensor(3))  # an integer tensor: nothing to differentiate
    """)
    code, document = cli_json("--function", f"{name}:f", "--x", "1,2")
    assert code == 0
    name = user_module("""
        class Constant(torch.autograd.Function):
            @staticmethod
            def forward(ctx, n):
                return n * 2.0

            @staticmethod
            def backward(ctx, g):
                return None

        def f(x):
            return x.detach() ** 3 * Constant.apply(torch.tensor(3)) + x  # wrong: the detached x**3
    """)
    code, document = cli_json("--function", f"{name}:f", "--x", "1,2")
    assert code == 1
    culprit = named(document["results"][0]["checks"], "custom Functions")
    assert culprit["status"] == "skipped" and culprit["message"].startswith("none could be checked alone: Constant (")
