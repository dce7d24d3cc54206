"""A user's function with no expression (issue 18 item 1): its backward against finite differences of its forward."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CUBE, named

from gradcheck_cli import check
from gradcheck_cli.verdict.compare import FUNCTION_VERDICTS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "custom_ops"
DEPTHWISE = "examples.custom_ops.depthwise_conv:depthwise_conv3x3"
DEPTHWISE_BUGGY = "examples.custom_ops.depthwise_conv_buggy:depthwise_conv3x3"
INPUTS = ("--x", "randn(1, 2, 4, 4)", "--w", "randn(2, 1, 3, 3)", "--seed", "0")


# ---- the kernel-style example and its buggy twin ----


def test_the_depthwise_conv_alone_passes_against_its_own_finite_differences(cli_json, in_root):
    code, document = cli_json("--function", DEPTHWISE, *INPUTS)
    result = document["results"][0]
    assert code == 0 and result["status"] == "pass"
    assert result["seed"] == 0 and result["expr"] == ""
    assert result["function"] == {"target": DEPTHWISE, "inputs": ["x", "w"], "device": "cpu"}
    rows = result["gradients"]
    assert len(rows) == 32 * (32 + 18)  # the whole Jacobian: every output element by every input element
    assert {r["reference_source"] for r in rows} == {"finite_difference"}
    assert all(r["function"] == pytest.approx(r["finite_difference"], rel=1e-7, abs=1e-9) for r in rows)
    assert all(r["function_fd"] is None and r["function_verdict"] is None for r in rows)
    checks = {c["name"]: c["status"] for c in result["checks"]}
    assert "forward value" not in checks  # there is nothing to compare the forward with
    assert checks["gradient dtype and shape"] == "pass" and checks["non-contiguous inputs"] == "pass"


def test_a_wrong_backward_is_named_as_yours_with_no_expression(cli, cli_json, in_root):
    code, document = cli_json("--function", DEPTHWISE_BUGGY, *INPUTS)
    result = document["results"][0]
    assert code == 1 and result["status"] == "fail"
    failing = [r for r in result["gradients"] if r["status"] != "pass"]
    assert failing and {r["wrt"] for r in failing} == {"x"}  # the flipped window is in the input's gradient only
    assert all(r["disagrees"] == ["function"] and r["function_verdict"] == "backward, own reference"
               for r in failing)
    text = " ".join(cli("--function", DEPTHWISE_BUGGY, *INPUTS).stdout.split())
    assert "your backward disagrees with finite differences of your function's own forward" in text
    assert FUNCTION_VERDICTS["backward, own reference"] in text


def test_the_example_spec_files_check_the_function_alone(cli_json, in_root):
    code, document = cli_json(str(EXAMPLES / "depthwise_conv.yaml"), str(EXAMPLES / "depthwise_conv_buggy.yaml"))
    assert code == 1
    statuses = {r["name"]: (r["status"], r["seed"]) for r in document["results"]}
    assert statuses == {"depthwise conv, alone": ("pass", 0), "depthwise conv with a backward bug": ("fail", 0)}


@pytest.mark.parametrize("backward, status", [("3 * x ** 2", "pass"), ("2 * x ** 2", "fail")])
def test_buggy_twins_of_a_scalar_function(cli_json, user_module, backward, status):
    name = user_module(CUBE.format(backward=backward))
    code, document = cli_json("--function", f"{name}:Cube", "--x", "0.5,-1.5,2")
    result = document["results"][0]
    assert result["status"] == status and code == (0 if status == "pass" else 1)
    for row, x in zip(result["gradients"], (0.5, -1.5, 2.0)):
        assert row["finite_difference"] == pytest.approx(3 * x**2, rel=1e-9)
        assert row["reference"] == pytest.approx(3 * x**2, rel=1e-9)
        assert row["function"] == pytest.approx((3 if status == "pass" else 2) * x**2, rel=1e-12)


@pytest.mark.parametrize("at_zero, status", [("3.0", "fail"), ("0.5", "undefined")])
def test_a_kink_of_the_function_is_found_and_only_a_subgradient_passes(cli_json, user_module, at_zero, status):
    """abs at 0: central differences give 0 with a wide bar; the one-sided ones settle at -1 and 1."""
    name = user_module(f"""
        class Abs(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.abs()

            @staticmethod
            def backward(ctx, grad):
                x, = ctx.saved_tensors
                return grad * torch.where(x == 0, torch.full_like(x, {at_zero}), torch.sign(x))
    """)
    code, document = cli_json("--function", f"{name}:Abs", "--x", "0,1")
    result = document["results"][0]
    rows = {(tuple(r["output_index"]), tuple(r["index"])): r for r in result["gradients"]}
    on_kink = rows[(0,), (0,)]
    assert (on_kink["left"], on_kink["right"]) == (pytest.approx(-1), pytest.approx(1))
    assert on_kink["finite_difference"] is None and on_kink["status"] == status
    assert on_kink["disagrees"] == (["function"] if status == "fail" else [])
    assert all(r["status"] == "pass" for key, r in rows.items() if key != ((0,), (0,)))
    assert result["status"] == status and code == (1 if status == "fail" else 0)
    assert result["evaluations"]["one_sided"] > 0


def test_integer_index_data_is_passed_as_int64_and_not_differentiated(cli_json, user_module):
    name = user_module("""
        def pick(x, idx):
            assert idx.dtype == torch.int64, idx.dtype
            return x[idx] ** 2
    """)
    code, document = cli_json("--function", f"{name}:pick", "--x", "randn(3)", "--idx", "randint(0, 3, (4,))",
                              "--seed", "7")
    result = document["results"][0]
    assert code == 0, result
    assert result["wrt"] == ["x"] and {r["wrt"] for r in result["gradients"]} == {"x"}
    assert all(i in (0.0, 1.0, 2.0) for i in result["point"]["idx"])


@pytest.mark.parametrize("integers", ["torch", "numpy"])
def test_an_integer_tensor_from_python_is_index_data(integers):
    """check(at={"idx": torch.tensor([2, 0])}) passes an index tensor as int64, never differentiated, as randint
    and integer files are: made float64, it made x[idx] raise."""
    import numpy as np
    import torch

    def pick(x, idx):
        assert idx.dtype == torch.int64, idx.dtype
        return x[idx] ** 2

    idx = torch.tensor([2, 0, 2]) if integers == "torch" else np.array([2, 0, 2], dtype=np.int32)
    result = check("", at={"x": [0.5, -1.0, 2.0], "idx": idx}, function=pick)
    assert result.status == "pass", result.error
    assert result.wrt == ["x"] and {row.wrt for row in result.gradients} == {"x"}


def test_from_python_with_no_expression():
    import torch

    right = check("", at={"x": [0.5, 1.0]}, function=lambda x: torch.sin(x) * x)
    assert right.status == "pass" and right.name.endswith("<lambda>")
    assert [r.reference_source for r in right.gradients] == ["finite_difference"] * 4


# ---- refused, one line each ----


@pytest.mark.parametrize("extra, message", [
    ((), "no value for w: {target} takes x, w (give it as --w VALUE or --at w=VALUE)"),
    (("--w", "1", "--y", "3"), "'y' is not an input of {target} (its inputs: x, w; name its inputs in order "
                               "with --args)"),
    (("--w", "1", "--manual", "x=1"), "--manual needs a reference expression"),
    (("--w", "1", "--wrt", "z"), "cannot differentiate with respect to 'z': it is not an input of {target}"),
])
def test_what_a_function_alone_cannot_take_is_refused(cli, in_root, extra, message):
    result = cli("--function", DEPTHWISE, "--x", "1", *extra)
    assert result.exit_code == 2
    assert message.format(target=DEPTHWISE) in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_a_spec_file_with_neither_expr_nor_function_still_needs_expr(cli, tmp_path):
    spec = tmp_path / "nothing.yaml"
    spec.write_text("at: {x: 1}\n")
    result = cli(str(spec))
    assert result.exit_code == 2 and "missing key 'expr'" in result.stderr + result.stdout


def test_a_spec_file_with_function_and_no_expr_checks_the_function_alone(cli_json, user_module, tmp_path):
    name = user_module(CUBE.format(backward="2 * x ** 2"))
    spec = tmp_path / "cube.yaml"
    spec.write_text(f"function: {name}:Cube\nat: {{x: [1.0, 2.0]}}\n")
    code, document = cli_json(str(spec))
    result = document["results"][0]
    assert code == 1 and result["line"] == 1
    assert [r["function_verdict"] for r in result["gradients"]] == ["backward, own reference"] * 2
    assert named(result["checks"], "float64")["status"] == "pass"


def test_sampled_points_of_a_function_alone_are_each_checked(cli_json, in_root, tmp_path):
    """With no expression there is no domain probe: every drawn point is a case of its own."""
    spec = tmp_path / "sampled.yaml"
    spec.write_text("function: examples.custom_ops.swish:swish\nsample: {n: 3, seed: 1, domain: {x: [-2, 2]}}\n")
    code, document = cli_json(str(spec))
    points = [r["point"]["x"] for r in document["results"]]
    assert code == 0 and len(points) == 3 and len(set(points)) == 3
    assert all(r["status"] == "pass" for r in document["results"])


def test_order_2_checks_the_double_backward_against_the_backward(cli, cli_json, in_root):
    code, document = cli_json("--function", "examples.custom_ops.swish:swish", "--x", "0.5", "--order", "2")
    [entry] = document["results"][0]["hessian"]
    assert code == 0 and entry["reference_source"] == "finite_difference"
    assert entry["function"] == pytest.approx(0.4412290269770286, rel=1e-12)  # swish'' at 0.5
    # The fused softmax cross-entropy's backward uses a log_softmax saved from its no-grad forward.
    args = ("--function", "examples.custom_ops.softmax_xent:softmax_xent", "--args", "z,y", "--z", "1,-0.5,2",
            "--y", "0.1,0.3,0.6", "--order", "2")
    code, document = cli_json(*args)
    zz = [r for r in document["results"][0]["hessian"] if r["wrt"] == ["z", "z"] and r["index"] == [[0], [0]]][0]
    assert code == 1 and zz["function"] == 0.0 and zz["function_verdict"] == "backward, own reference"
    assert zz["reference"] == pytest.approx(0.1893442808, rel=1e-7)
    text = " ".join(cli(*args).stdout.split())
    assert "your double backward disagrees with finite differences of your backward" in text


@pytest.mark.parametrize("extra, message", [
    (("--x", "0.5,1"), "--function: the function's value has shape (2,); --order 2 needs a scalar"),
    (("--x", "0.5", "--reference", "examples.custom_ops.swish:swish"), "--order 2 with --reference"),
])
def test_order_2_needs_a_scalar_function_alone(cli, in_root, extra, message):
    result = cli("--function", "examples.custom_ops.swish:swish", "--order", "2", *extra)
    assert result.exit_code == 2 and message in " ".join(result.stderr.split()), result.stderr


def test_the_complex_step_sharpens_the_reference_where_the_function_takes_complex_input(cli_json, in_root):
    code, document = cli_json("--function", DEPTHWISE, "--x", "randn(1, 1, 3, 3)", "--w", "randn(1, 1, 3, 3)",
                              "--seed", "3")
    result = document["results"][0]
    assert code == 0 and result["evaluations"]["complex_step"] == 9 + 9  # one evaluation per input element
    rows = result["gradients"]
    assert {r["fd_method"] for r in rows} == {"complex"} and max(r["fd_error"] for r in rows) < 1e-13


@pytest.mark.parametrize("body", [
    "return x * torch.conj(x)",  # not holomorphic: its complex step (0 on the diagonal) is refused by Richardson's 2x
    "return torch.relu(x) + x ** 2",  # relu raises on complex input
    "return x.abs() * x",  # abs returns |z| for complex input: a real result is not used
])
def test_a_complex_step_that_richardson_does_not_confirm_is_never_used(cli_json, user_module, body):
    name = user_module(f"""
        def f(x):
            {body}
    """)
    code, document = cli_json("--function", f"{name}:f", "--x", "0.5,1.5")
    result = document["results"][0]
    assert code == 0 and result["status"] == "pass", result
    diagonal = [r for r in result["gradients"] if r["output_index"] == r["index"]]
    assert [r["fd_method"] for r in diagonal] == ["richardson"] * 2  # where the complex step is wrong or absent


@pytest.mark.parametrize("source, args, message", [
    ("def f():\n    return torch.ones(())\n", (), "takes no inputs: there is nothing to differentiate"),
    ("def f(x):\n    return x[:0]\n", ("--x", "1,2"), "the function's value is empty (shape (0,))"),
    ("def f(x):\n    return 3.0\n", ("--x", "1"), "returned a float, not a torch tensor"),
    ("def f(x, idx):\n    return x[idx]\n", ("--x", "1,2", "--idx", "randint(0, 2, (3,))", "--wrt", "idx"),
     "cannot differentiate with respect to 'idx': it holds integer (index) data"),
])
def test_a_function_alone_with_nothing_to_check_is_one_line(cli, user_module, source, args, message):
    name = user_module(source)
    result = cli("--function", f"{name}:f", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


@pytest.mark.parametrize("reference", [(), ("--reference", "examples.custom_ops.depthwise_conv:reference")])
def test_a_jacobian_past_max_entries_is_refused_before_it_is_computed(cli, in_root, reference):
    result = cli("--function", DEPTHWISE, *reference, *INPUTS, "--max-entries", "100")
    assert result.exit_code == 2
    assert "its Jacobian would have 1,600 entries; the limit is 100 (check smaller inputs, fewer of them (--wrt), " \
           "or raise --max-entries)" in " ".join(result.stderr.split()), result.stderr
