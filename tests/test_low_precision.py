"""Lower precision as a question of its own (issue 18 item 5): --precision runs the function in float32, bfloat16 or
float16 and judges its forward and backward errors against float64 by each dtype's rounding."""

from __future__ import annotations

import pytest
from conftest import named

from gradcheck_cli import check

SQUARES = """
class Squares(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x * x).sum(dim=-1)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        low = {low}
        return (2 * x.to(low) * g.unsqueeze(-1).to(low)).to(x.dtype)

def squares(x):
    return Squares.apply(x)
"""
RIGHT = "x.dtype"  # the backward computes in its input's dtype
IN_FLOAT16 = "torch.float16 if x.dtype == torch.float32 else x.dtype"  # a float32 backward that computes in float16
INPUT = ("--x", "randn(4, 8)", "--seed", "1")


def _squares(user_module, low: str) -> str:
    return user_module(SQUARES.format(low=low)) + ":squares"


def test_a_correct_function_is_within_each_dtypes_rounding(cli_json, user_module):
    code, document = cli_json("--function", _squares(user_module, RIGHT), *INPUT, "--precision",
                              "float32,bfloat16,float16")
    checks = document["results"][0]["checks"]
    assert code == 0
    for dtype in ("float32", "bfloat16", "float16"):
        check_ = named(checks, f"{dtype} precision")
        assert check_["status"] == "pass" and f"within {dtype}'s rounding" in check_["message"]
        details = check_["details"]
        assert details["dtype"] == dtype and details["result_dtype"] == dtype
        assert max(details["forward_eps"], details["backward_eps"]["x"]) <= details["allowed_eps"]


def test_a_float32_backward_computing_in_float16_is_caught_and_named(cli, cli_json, user_module):
    target = _squares(user_module, IN_FLOAT16)
    code, document = cli_json("--function", target, *INPUT, "--precision", "float32,float16")
    checks = document["results"][0]["checks"]
    float32 = named(checks, "float32 precision")
    assert code == 1 and document["results"][0]["status"] == "fail"
    assert float32["status"] == "fail" and "in the backward of x" in float32["message"]
    assert float32["details"]["like"][0] == "float16" and float32["details"]["digits_beyond"] > 1
    assert float32["details"]["forward_eps"] <= float32["details"]["allowed_eps"]  # the forward is right
    assert named(checks, "float16 precision")["status"] == "pass"  # in float16 itself it is as good as float16 gets
    text = " ".join(cli("--function", target, *INPUT, "--precision", "float32").stdout.split())
    assert "does it compute or accumulate in float16?" in text


def test_the_forward_is_compared_with_the_reference_functions_float64_value(user_module):
    name = user_module(SQUARES.format(low=RIGHT) + """
def truncated(x):  # its float32 value rounded to bfloat16 on the way out; its backward is right
    y = squares(x)
    return y + (y.to(torch.bfloat16).to(y.dtype) - y).detach() if y.dtype == torch.float32 else y

def reference(x):
    return (x * x).sum(dim=-1)
""")
    result = check("", at={"x": "randn(4, 8)"}, seed=1, function=f"{name}:truncated", reference=f"{name}:reference",
                   precision="float32")
    precision = named(result.checks, "float32 precision")
    assert result.status == "fail" and precision.status == "fail"
    assert "in the forward" in precision.message and "bfloat16" in precision.details["like"]
    assert precision.details["backward_eps"]["x"] <= precision.details["allowed_eps"]


def test_an_expression_and_a_function_get_the_check_too(user_module):
    result = check("sum(x*x, 1)", at={"x": "randn(4, 8)"}, seed=1, function=_squares(user_module, IN_FLOAT16),
                   precision=["float32"])
    assert result.status == "fail" and named(result.checks, "float32 precision").status == "fail"


def test_precision_is_a_spec_file_key(cli_json, user_module, tmp_path):
    target = _squares(user_module, RIGHT)
    (tmp_path / "case.yaml").write_text(f"function: {target}\nseed: 1\nat:\n  x: randn(4, 8)\n"
                                        "precision: [float32, bfloat16]\n")
    code, document = cli_json(str(tmp_path / "case.yaml"))
    names = [c["name"] for c in document["results"][0]["checks"]]
    assert code == 0 and "float32 precision" in names and "bfloat16 precision" in names


@pytest.mark.parametrize("args, where", [
    (["--precision", "float8"], "'--precision'"),
    (["--precision", ""], "'--precision'"),
])
def test_a_bad_precision_is_refused_at_its_flag(cli, user_module, args, where):
    result = cli("--function", _squares(user_module, RIGHT), *INPUT, *args)
    assert result.exit_code == 2 and where in result.stderr and "Traceback" not in result.stderr


def test_a_bad_precision_in_a_spec_file_is_refused_at_its_key(cli, tmp_path):
    (tmp_path / "case.yaml").write_text("function: m:f\nat: {x: 1}\nprecision: [float32, int8]\n")
    result = cli(str(tmp_path / "case.yaml"))
    assert result.exit_code == 2 and "case.yaml:3:12: precision: expected dtypes among" in result.stderr


def test_precision_without_a_function_is_refused_in_each_front_ends_words(cli):
    result = cli("x**2", "--x", "1", "--precision", "float32")
    assert result.exit_code == 2 and "--precision runs a --function in lower precision" in result.stderr
    assert check("x**2", at={"x": 1}, precision="float32").error["message"].startswith(
        "precision runs a function in lower precision: give function too")  # worded as check()'s keywords
    assert check("x**2", at={"x": 1}, precision="float8").status == "error"


def test_the_example_kernel_accumulating_in_float16_is_caught_by_projections(cli_json, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    args = ("--x", "randn(2, 8, 16, 16)", "--w", "randn(8, 1, 3, 3)", "--seed", "0", "--fast", "--precision", "float32")
    code, document = cli_json("--function", "examples.custom_ops.depthwise_conv_float16:depthwise_conv3x3", *args)
    float32 = named(document["results"][0]["checks"], "float32 precision")
    assert code == 1 and "in the backward of w" in float32["message"] and float32["details"]["like"][0] == "float16"
    assert all(r["status"] == "pass" for r in document["results"][0]["gradients"])  # right in float64
    code, document = cli_json("--function", "examples.custom_ops.depthwise_conv:depthwise_conv3x3", *args)
    assert code == 0 and named(document["results"][0]["checks"], "float32 precision")["status"] == "pass"


BUFFERED_LAYER = """
from torch import nn

class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 2 * x * g * ({float16_factor} if x.dtype == torch.float16 else 1)

class Shifted(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.linspace(0.5, 1.5, 4))
        self.register_buffer("offset", torch.linspace(-1, 1, 4))
        self.register_buffer("steps", torch.arange(4))

    def forward(self, x):
        return Square.apply(x * self.weight + self.offset) + self.steps
"""


@pytest.mark.parametrize(("factor", "status"), [("1", "pass"), ("1.1", "fail")])
def test_a_modules_buffers_run_in_the_dtype_checked(cli_json, user_module, factor, status):
    """A module's floating buffers are cast to each dtype, as `module.to(dtype)` does (integer ones are left), so
    its float16 run computes in float16: a float64 buffer would lift it to float64 and hide a float16-only bug."""
    target = user_module(BUFFERED_LAYER.format(float16_factor=factor)) + ":Shifted"
    code, document = cli_json("--function", target, "--x", "randn(3, 4)", "--seed", "1", "--precision", "float16")
    float16 = named(document["results"][0]["checks"], "float16 precision")
    assert float16["details"]["result_dtype"] == "float16"
    assert float16["status"] == status and code == (0 if status == "pass" else 1)
