"""Code as the reference (issue 18 item 2): `--reference MODULE:ATTR` / `reference:`, compared in value and gradient."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import named

from gradcheck_cli.verdict.compare import FUNCTION_VERDICTS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "custom_ops"
DEPTHWISE = "examples.custom_ops.depthwise_conv:depthwise_conv3x3"
DEPTHWISE_BUGGY = "examples.custom_ops.depthwise_conv_buggy:depthwise_conv3x3"
CONV2D = "examples.custom_ops.depthwise_conv:reference"
INPUTS = ("--x", "randn(1, 2, 3, 3)", "--w", "randn(2, 1, 3, 3)", "--seed", "1")


SOFTPLUS = """
    def reference(x):
        return torch.nn.functional.softplus(x)


    class Fused(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return {forward}

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return grad * {backward}
"""
RIGHT_FORWARD, RIGHT_BACKWARD = "torch.log1p(torch.exp(x))", "torch.sigmoid(x)"


def test_a_kernel_against_torchs_own_conv2d_passes_in_value_and_gradient(cli_json, in_root):
    code, document = cli_json("--function", DEPTHWISE, "--reference", CONV2D, *INPUTS)
    result = document["results"][0]
    assert code == 0 and result["status"] == "pass"
    assert result["function"] == {"target": DEPTHWISE, "inputs": ["x", "w"], "device": "cpu", "reference": CONV2D}
    assert named(result["checks"], "forward value")["message"].startswith(f"matches the reference {CONV2D}")
    rows = result["gradients"]
    assert {r["reference_source"] for r in rows} == {"finite_difference"}
    assert all(r["function_fd"] is not None for r in rows)  # its own finite differences, beside the reference's
    assert result["evaluations"]["function_finite_difference"] > 0


def test_a_gradient_mismatch_is_named_as_the_backward(cli_json, in_root):
    code, document = cli_json("--function", DEPTHWISE_BUGGY, "--reference", CONV2D, *INPUTS)
    result = document["results"][0]
    assert code == 1
    assert named(result["checks"], "forward value")["status"] == "pass"
    failing = [r for r in result["gradients"] if r["status"] == "fail"]
    assert failing and all(r["function_verdict"] == "backward" and r["disagrees"] == ["function"] for r in failing)


def test_a_forward_mismatch_is_named_as_the_forward(cli, cli_json, user_module):
    """A fused softplus that forgot the log: its backward is right for what it computes, not for the reference."""
    name = user_module(SOFTPLUS.format(forward="torch.exp(x)", backward="torch.exp(x)"))
    args = ("--function", f"{name}:Fused", "--reference", f"{name}:reference", "--x", "0.5,-1")
    code, document = cli_json(*args)
    result = document["results"][0]
    assert code == 1
    forward = named(result["checks"], "forward value")
    assert forward["status"] == "fail"
    assert forward["message"].startswith(f"differs from the reference {name}:reference at 2 of 2 element(s)")
    diagonal = [r for r in result["gradients"] if r["output_index"] == r["index"]]
    assert all(r["function_verdict"] == "forward" and r["disagrees"] == ["function", "function_fd"] for r in diagonal)
    assert " ".join(cli(*args).stdout.split()).count(FUNCTION_VERDICTS["forward"]) >= 1


@pytest.mark.parametrize("forward, backward, verdict", [
    (RIGHT_FORWARD, RIGHT_BACKWARD, None),
    (RIGHT_FORWARD, "torch.sigmoid(-x)", "backward"),
    ("torch.exp(x)", "torch.sigmoid(2 * x)", "forward and backward"),
    ("torch.exp(x)", RIGHT_BACKWARD, "inconsistent"),
])
def test_buggy_twins_against_a_reference(cli_json, user_module, forward, backward, verdict):
    name = user_module(SOFTPLUS.format(forward=forward, backward=backward))
    code, document = cli_json("--function", f"{name}:Fused", "--reference", f"{name}:reference", "--x", "0.5")
    [row] = document["results"][0]["gradients"]
    assert row["function_verdict"] == verdict and code == (0 if verdict is None else 1)
    assert row["reference"] == pytest.approx(0.6224593312, rel=1e-9)  # sigmoid(0.5): the reference's derivative


def test_the_example_spec_file_names_its_reference(cli_json, in_root):
    code, document = cli_json(str(EXAMPLES / "depthwise_conv_reference.yaml"))
    result = document["results"][0]
    assert code == 0 and result["function"]["reference"] == CONV2D and result["seed"] == 0


@pytest.mark.parametrize("args, message", [
    (("x*2", "--function", DEPTHWISE, "--reference", CONV2D, "--x", "1"),
     "the reference is the expression or the code of --reference, not both"),
    (("--reference", CONV2D, "--x", "1"), "--reference is what --function is checked against"),
    (("--function", DEPTHWISE, "--reference", "examples.custom_ops.swish:swish", "--x", "1", "--w", "1"),
     "the reference examples.custom_ops.swish:swish takes x; the function takes x, w"),
    (("--function", DEPTHWISE, "--reference", "examples.custom_ops.depthwise_conv:nothing", "--x", "1", "--w", "1"),
     "--reference: examples.custom_ops.depthwise_conv:nothing: 'examples.custom_ops.depthwise_conv' has no "
     "attribute 'nothing'"),
])
def test_a_reference_that_cannot_be_used_is_one_line(cli, in_root, args, message):
    result = cli(*args)
    assert result.exit_code == 2 and message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr


def test_a_reference_that_raises_is_one_line_naming_it(cli, user_module):
    name = user_module("""
        def broken(x):
            raise ValueError("no kernel for this shape")

        def f(x):
            return x * 2
    """)
    result = cli("--function", f"{name}:f", "--reference", f"{name}:broken", "--x", "1")
    assert result.exit_code == 2
    assert f"error: --reference: {name}:broken raised: ValueError: no kernel for this shape" in result.stderr


def test_a_spec_file_reference_error_points_at_its_key(cli, in_root, tmp_path):
    spec = tmp_path / "ref.yaml"
    spec.write_text(f"function: {DEPTHWISE}\nreference: examples.custom_ops.swish:swish\nat: {{x: 1, w: 1}}\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}:2:12: reference: the reference examples.custom_ops.swish:swish takes x" in result.stderr
