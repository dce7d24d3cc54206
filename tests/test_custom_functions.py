"""A user's own torch function checked against a reference expression (`function:` / `--function`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import torch
from conftest import command_in_a_fork, named

from gradcheck_cli import check
from gradcheck_cli.verdict.compare import FUNCTION_VERDICTS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "custom_ops"
BACKWARD_VERDICT = ("the function's backward disagrees with both the reference and its own finite "
                    "differences")


def _failing(document: dict) -> list[dict]:
    return [row for row in document["results"][0]["gradients"] if row["status"] != "pass"]


# ---- the examples ----


def test_the_correct_swish_function_passes_every_check(cli_json, in_root):
    code, document = cli_json("x*sigmoid(x)", "--x", "0.5", "--function", "examples.custom_ops.swish:Swish")
    result = document["results"][0]
    assert code == 0 and result["status"] == "pass"
    assert result["function"] == {"target": "examples.custom_ops.swish:Swish", "inputs": ["x"], "device": "cpu"}
    row = result["gradients"][0]
    assert row["function"] == pytest.approx(row["symbolic"], rel=1e-12)
    assert row["function_fd"] == pytest.approx(row["symbolic"], rel=1e-9) and row["function_fd_error"] < 1e-9
    assert row["disagrees"] == [] and row["function_verdict"] is None
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert statuses == {"float64": "pass", "forward value": "pass", "autograd graph": "pass",
                        "gradient dtype and shape": "pass", "undefined incoming gradient": "pass",
                        "deterministic backward": "pass", "non-contiguous inputs": "skipped",
                        "inputs unchanged": "pass", "forward AD (jvp)": "skipped", "batched gradient (vmap)": "pass"}


def test_the_buggy_swish_fails_on_its_backward_naming_variable_elements_and_verdict(cli, cli_json, in_root):
    spec = str(EXAMPLES / "swish_buggy.yaml")
    code, document = cli_json(spec)
    assert code == 1
    failing = _failing(document)
    # Elementwise: only the diagonal of the Jacobian is non-zero, and every diagonal entry is wrong.
    assert [(r["wrt"], r["output_index"], r["index"]) for r in failing] == \
        [("x", [0], [0]), ("x", [1], [1]), ("x", [2], [2])]
    for row in failing:
        assert row["disagrees"] == ["function"]
        assert row["function_verdict"] == "backward"
        assert row["function_fd"] == pytest.approx(row["symbolic"], rel=1e-9)
    assert named(document["results"][0]["checks"], "forward value") == {
        "name": "forward value", "status": "pass",
        "message": "matches the reference expression (largest difference 4.4e-16)"}
    text = cli(spec).stdout
    assert f"function backward disagrees on d f[1]/d x[1]: function backward 0.9336889968 vs reference " \
           f"0.7399611873 — {BACKWARD_VERDICT}" in " ".join(text.split())


def test_the_fused_softmax_cross_entropy_passes_with_inputs_named_by_args(cli_json, in_root):
    code, document = cli_json(str(EXAMPLES / "softmax_xent.yaml"))
    result = document["results"][0]
    assert code == 0, result
    assert result["function"]["inputs"] == ["z", "y"]
    assert {r["wrt"] for r in result["gradients"]} == {"z", "y"}
    assert all(r["function"] == pytest.approx(r["symbolic"], rel=1e-10, abs=1e-12) for r in result["gradients"])
    assert {c["name"]: c["status"] for c in result["checks"]}["non-contiguous inputs"] == "pass"


def test_the_examples_folder_fails_only_on_the_buggy_function(cli_json, in_root):
    code, document = cli_json(str(EXAMPLES))
    assert code == 1
    assert {r["name"]: r["status"] for r in document["results"]} == {
        "fused softmax cross-entropy": "pass", "swish": "pass", "swish with a backward bug": "fail",
        "depthwise conv, alone": "pass", "depthwise conv against conv2d": "pass",
        "depthwise conv with a backward bug": "fail"}


def test_the_fused_function_is_not_twice_differentiable_and_order_2_says_so(cli, cli_json, in_root):
    """Its backward uses log_softmax saved from a no-grad forward: double backward misses d2/dz2."""
    code, document = cli_json(str(EXAMPLES / "softmax_xent.yaml"), "--order", "2")
    hessian = document["results"][0]["hessian"]
    zz = [r for r in hessian if r["wrt"] == ["z", "z"] and r["index"] == [[0], [0]]][0]
    assert code == 1 and zz["function"] == 0.0 and zz["function_verdict"] == "backward"
    text = " ".join(cli(str(EXAMPLES / "softmax_xent.yaml"), "--order", "2").stdout.split())
    assert "the function's double backward disagrees with both the reference and finite differences " \
           "of its backward" in text
    assert zz["function_fd"] == pytest.approx(zz["symbolic"], rel=1e-6)
    assert all(r["status"] == "pass" for r in hessian if r["wrt"] == ["z", "y"])


def test_order_2_checks_the_double_backward_of_a_correct_function(cli_json, in_root):
    code, document = cli_json("x*sigmoid(x)", "--x", "0.5", "--order", "2",
                              "--function", "examples.custom_ops.swish:swish")
    [entry] = document["results"][0]["hessian"]
    assert code == 0
    assert entry["function"] == pytest.approx(entry["symbolic"], rel=1e-12)
    assert entry["function_fd"] == pytest.approx(entry["symbolic"], rel=1e-8)


# ---- what a wrong function is told ----


@pytest.mark.parametrize("function, function_fd, verdict, disagrees", [
    (1.0, 1.0, None, []),
    (2.0, 1.0, "backward", ["function"]),
    (2.0, None, "backward, unconfirmed", ["function"]),
    (2.0, 2.0, "forward", ["function", "function_fd"]),
    (2.0, 3.0, "forward and backward", ["function", "function_fd"]),
    (1.0, 3.0, "inconsistent", ["function_fd"]),
])
def test_the_function_verdict_reads_its_two_columns_together(function, function_fd, verdict, disagrees):
    from gradcheck_cli.verdict.compare import GradientRow, Tolerance
    from gradcheck_cli.verdict.judge import judge

    row = judge(GradientRow(wrt="x", index=[], symbolic=1.0, autograd=1.0, finite_difference=1.0, fd_error=1e-12,
                            function=function, function_fd=function_fd,
                            function_fd_error=None if function_fd is None else 1e-12), Tolerance(1e-7, 1e-7))
    assert (row.function_verdict, row.disagrees, row.status) == (verdict, disagrees, "fail" if verdict else "pass")
    assert row.reference == 1.0  # the function's answers never vote


def test_a_forward_that_differs_from_the_reference_is_reported_as_such(cli, cli_json, user_module):
    name = user_module("""
        def swish(x):
            return x * torch.sigmoid(1.1 * x)
    """)
    code, document = cli_json("x*sigmoid(x)", "--x", "0.5", "--function", f"{name}:swish")
    result = document["results"][0]
    assert code == 1
    forward = named(result["checks"], "forward value")
    assert forward["status"] == "fail"
    assert forward["message"].startswith("differs from the reference expression at 1 of 1 element(s): f = 0.3")
    [row] = result["gradients"]
    assert row["disagrees"] == ["function", "function_fd"] and row["function_verdict"] == "forward"
    assert row["function"] == pytest.approx(row["function_fd"], rel=1e-9)
    text = " ".join(cli("x*sigmoid(x)", "--x", "0.5", "--function", f"{name}:swish").stdout.split())
    assert FUNCTION_VERDICTS["forward"] in text


def test_a_wrong_forward_and_a_wrong_backward_are_both_named(cli_json, user_module):
    name = user_module("""
        class Twice(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return 2 * x * x

            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * 3 * x
    """)
    code, document = cli_json("x**2", "--x", "1.5", "--function", f"{name}:Twice")
    [row] = document["results"][0]["gradients"]
    assert code == 1 and row["function_verdict"] == "forward and backward"
    assert row["function"] == pytest.approx(4.5) and row["function_fd"] == pytest.approx(6.0)


def _function_class(forward: str, backward: str, preamble: str = "") -> str:
    """The source of an autograd.Function F of one input x, saved for its backward."""
    return preamble + f"""
class F(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return {forward}

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return {backward}
"""


COUNTER = """
CALLS = [0]

def count():
    CALLS[0] += 1
    return CALLS[0]
"""


@pytest.mark.parametrize("source, expr, at, check_name, message", [
    (_function_class("x * x", "(2 * x * g).float()"), "x**2", "1,2", "gradient dtype and shape",
     "F.backward returns a float32 gradient for input 0, which is float64 (torch casts it silently)"),
    (_function_class("(x * x).sum()", "(2 * x * g).expand(2, *x.shape) / 2"), "sum(x**2)", "1,2",
     "gradient dtype and shape",
     "F.backward returns a gradient of shape (2, 2) for input 0 of shape (2,) (torch sums it silently)"),
    (_function_class("x * x", "2 * x * g * (1 + 1e-14 * count())", COUNTER), "x**2", "1,2",
     "deterministic backward", "two backward passes give different gradients for x"),
    ("""
     def F(x):
         return (x * x).float()
     """, "x**2", "1,2", "float64", "returns float32 for float64 inputs"),
    ("""
     def F(x):
         return torch.sin(x.float()).double()
     """, "sin(x)", "0.3,1.7", "float64", "returns float64 for float64 inputs, but every value is a float32 number"),
    ("""
     def F(x):
         if x.dtype == torch.float64:
             raise TypeError("this kernel takes float32 only")
         return x * x
     """, "x**2", "1,2", "float64", "fails on float64 inputs, though it works on float32 ones "
                                    "(F raised: TypeError: this kernel takes float32 only)"),
    ("""
     def F(x):
         if not x.is_contiguous():
             raise RuntimeError("expected a contiguous tensor")
         return x * x
     """, "x**2", "1,2", "non-contiguous inputs", "non-contiguous inputs make it fail"),
    ("""
     def F(x):
         return torch.from_numpy(x.detach().numpy() ** 2)
     """, "x**2", "1,2", "autograd graph", "its result does not require grad although its inputs do"),
], ids=["float32 gradient", "broadcast gradient", "non-deterministic", "float32 result", "float32 inside",
        "float32 only", "contiguous only", "detached result"])
def test_hygiene_findings_fail_the_case(cli_json, user_module, source, expr, at, check_name, message):
    name = user_module(source)
    code, document = cli_json(expr, "--x", at, "--function", f"{name}:F")
    checks = {c["name"]: c for c in document["results"][0]["checks"]}
    assert code == 1 and document["results"][0]["status"] == "fail"
    assert checks[check_name]["status"] == "fail"
    assert message in checks[check_name]["message"].replace(f"{name}:", "")


@pytest.mark.parametrize("body, expr, inputs", [
    ("x / y", "x/y", ["--x", "1", "--y", "2"]),
    ("x / x.sum()", "x/sum(x)", ["--x", "1,3"]),
    ("torch.softmax(x, 0)", "softmax(x, 0)", ["--x", "0,0"]),
    ("torch.clamp(x, -0.5, 0.5)", "clamp(x, -0.5, 0.5)", ["--x", "2,-3"]),
    ("(x.float() / y.float()).double()", None, ["--x", "1", "--y", "2"]),
], ids=["ratio", "normalised", "softmax at zero", "saturated clamp", "ratio in float32"])
def test_float32_inside_is_told_from_float64_values_that_float32_holds(cli_json, user_module, body, expr, inputs):
    """A ratio or normalisation (the same factor on every input cancels) and a function that does not move near
    the point give float32 numbers at both points of a one-factor probe: they compute in float64 and pass; a
    ratio computed in float32 still fails."""
    name = user_module(f"def F(x, y=None):\n    return {body}\n")
    args = [expr] if expr else []
    code, document = cli_json(*args, *inputs, "--function", f"{name}:F", "--args", "x" if len(inputs) == 2 else "x,y")
    checks = {c["name"]: c for c in document["results"][0]["checks"]}
    assert checks["float64"]["status"] == ("pass" if expr else "fail"), checks["float64"]["message"]


def test_a_new_style_function_with_setup_context_takes_its_forward_parameters(user_module):
    name = user_module("""
        class Square(torch.autograd.Function):
            @staticmethod
            def forward(x):
                return x * x

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(inputs[0])

            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return 2 * x * g
    """)
    result = check("x**2", at={"x": [1.0, -2.0]}, function=f"{name}:Square")
    assert result.status == "pass" and result.function["inputs"] == ["x"]


def test_a_python_callable_needs_no_import():
    import torch

    result = check("x*w", at={"x": 2.0, "w": 3.0}, function=lambda w, x: w * x)
    assert result.status == "pass" and result.function["inputs"] == ["w", "x"]
    assert [(r.wrt, r.function) for r in result.gradients] == [("x", 3.0), ("w", 2.0)]
    assert torch.is_tensor(torch.zeros(1))


# ---- bad input: one line, exit 2 ----


@pytest.mark.parametrize("target, args, message", [
    ("no_such_module_xyz:f", [], "error: --function: cannot import 'no_such_module_xyz': ModuleNotFoundError: "
                                 "No module named 'no_such_module_xyz'"),
    ("{name}:swsh", [], "error: --function: {name}:swsh: '{name}' has no attribute 'swsh' (did you mean 'swish'?)"),
    ("{name}:NUMBER", [], "error: --function: {name}:NUMBER is not callable (it is of type int)"),
    ("{name}:swish", ["--args", "x,y"], "error: --function: {name}:swish cannot take 2 input(s) (x, y): "
                                        "too many positional arguments"),
    ("{name}:raises", [], "error: --function: {name}:raises raised: ValueError: boom"),
    ("{name}:not_a_tensor", [], "error: --function: {name}:not_a_tensor returned a float, not a torch tensor"),
    ("{name}:wrong_shape", [], "error: --function: {name}:wrong_shape returned a tensor of shape (2,); the "
                               "reference expression's value has shape ()"),
    ("{name}:other_variable", [], "error: --function: {name}:other_variable takes 'w', which is not a variable of "
                                  "the reference expression (its variables: x)"),
    ("{name}", [], "error: --function: '{name}' does not name a callable: expected MODULE:ATTRIBUTE, "
                   "e.g. mypkg.ops:swish"),
])
def test_bad_functions_exit_2_with_one_line(cli, user_module, target, args, message):
    name = user_module("""
        NUMBER = 3

        def swish(x):
            return x * torch.sigmoid(x)

        def raises(x):
            raise ValueError("boom\\nwith a second line")

        def not_a_tensor(x):
            return 1.0

        def wrong_shape(x):
            return torch.stack([x, x])

        def other_variable(w):
            return w
    """)
    result = cli("x*sigmoid(x)", "--x", "0.5", "--function", target.format(name=name), *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [message.format(name=name)]
    assert result.stdout == ""


def test_a_failing_case_in_a_folder_shows_its_traceback_with_verbose(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken_ops.py").write_text("def f(x):\n    raise KeyError('lost')\n")
    (tmp_path / "a.yaml").write_text("expr: x\nat: {x: 1}\nfunction: broken_ops:f\n")
    (tmp_path / "b.yaml").write_text("expr: x\nat: {x: 1}\n")
    verbose, plain = cli(".", "-v"), cli(".")
    sys.modules.pop("broken_ops", None)
    assert verbose.exit_code == plain.exit_code == 2
    assert "a.yaml:3:11: function: broken_ops:f raised: KeyError: 'lost'" in plain.stdout
    assert "Traceback (most recent call last):" in verbose.stdout and "Traceback" not in plain.stdout


def test_an_import_error_shows_its_traceback_only_with_verbose(cli, user_module):
    name = user_module("""
        raise ImportError("needs the triton extension")
    """)
    quiet = cli("x", "--x", "1", "--function", f"{name}:f")
    assert quiet.exit_code == 2
    assert quiet.stderr.splitlines() == [f"error: --function: cannot import '{name}': ImportError: needs the "
                                         "triton extension"]
    verbose = cli("x", "--x", "1", "--function", f"{name}:f", "-v")
    assert verbose.exit_code == 2
    assert verbose.stderr.startswith("Traceback (most recent call last):")
    assert verbose.stderr.splitlines()[-1] == quiet.stderr.strip()


def test_a_spec_file_error_about_the_function_points_at_its_key(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "case.yaml").write_text("expr: x\nat: {x: 1}\nfunction: nowhere_to_be_found:f\n")
    result = cli("case.yaml")
    assert result.exit_code == 2
    assert "case.yaml:3:11: function: cannot import 'nowhere_to_be_found': ModuleNotFoundError" in result.stderr


def test_spec_keys_of_a_function_are_checked(cli, tmp_path):
    spec = tmp_path / "case.yaml"
    spec.write_text("expr: x\nat: {x: 1}\nfunction: m:f\ndevice: tpu\n")
    result = cli(str(spec))
    assert result.exit_code == 2 and "case.yaml:4:9: device: expected one of cpu, cuda" in result.stderr


def test_options_of_a_function_are_refused_where_they_make_no_sense(cli, in_root):
    swish = "examples.custom_ops.swish:swish"
    assert "--fast does not combine with a function checked against an expression" in cli(
        "x", "--x", "1", "--function", swish, "--fast").stderr
    assert "drop --dtype float32" in cli("x", "--x", "1", "--function", swish, "--dtype", "float32").stderr
    assert "--args names the inputs of --function" in cli("x", "--x", "1", "--args", "x").stderr
    spec_mode = cli(str(EXAMPLES / "swish.yaml"), "--function", swish)
    assert spec_mode.exit_code == 2 and "--function applies to an expression" in spec_mode.stderr
    spec_args = cli(str(EXAMPLES / "swish.yaml"), "--args", "x")
    assert spec_args.exit_code == 2 and "--args applies to an expression" in spec_args.stderr


# ---- importing is opt-in ----


MARKER_MODULE = """
from pathlib import Path
Path("imported.marker").write_text("user code ran")

def f(x):
    return x
"""


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return command_in_a_fork(args, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
def test_no_import_refuses_a_spec_naming_a_function_before_importing_it(tmp_path):
    (tmp_path / "marker_module.py").write_text(MARKER_MODULE)
    (tmp_path / "case.yaml").write_text("expr: x\nat: {x: 1}\nfunction: marker_module:f\n")
    refused = _run_cli(["case.yaml", "--no-import"], tmp_path)
    assert refused.returncode == 2
    assert "case.yaml:3:11: function: --no-import: this case names a function to import (marker_module:f); " \
           "nothing was imported" in refused.stderr
    assert not (tmp_path / "imported.marker").exists()
    # The same spec without --no-import does import it: the marker proves the test can tell.
    allowed = _run_cli(["case.yaml"], tmp_path)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert (tmp_path / "imported.marker").read_text() == "user code ran"


def test_no_import_refuses_the_function_option_too(cli, user_module):
    name = user_module(MARKER_MODULE)
    result = cli("x", "--x", "1", "--function", f"{name}:f", "--no-import")
    assert result.exit_code == 2 and name not in sys.modules
    assert result.stderr.splitlines() == [f"error: --no-import: this case names a function to import ({name}:f); "
                                          "nothing was imported"]


@pytest.mark.slow
def test_plain_expressions_never_reach_the_importing_module(library_run):
    """check() from Python, then `gradcheck expressions --json -j 1`, in one fresh process."""
    assert "check: pass" in library_run["stderr"], library_run["stderr"][-50:]
    assert library_run["exit_code"] == 0, library_run["stderr"][-50:]
    assert "gradcheck_cli.run.case" in library_run["imported"]  # the list is the one that would name them
    imported = {"gradcheck_cli.userfn.user_code", "gradcheck_cli.userfn.custom_function"} & set(library_run["imported"])
    assert imported == set()


def test_the_importing_path_is_restored_after_an_import(user_module):
    before = list(sys.path)
    name = user_module("""
        def f(x):
            return x
    """)
    assert check("x", at={"x": 1.0}, function=f"{name}:f").status == "pass"
    assert sys.path == before


# ---- devices ----


def test_cuda_without_a_device_runs_on_the_cpu_with_a_note(cli_json, in_root):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    code, document = cli_json("x*sigmoid(x)", "--x", "0.5", "--function", "examples.custom_ops.swish:Swish",
                              "--device", "cuda")
    result = document["results"][0]
    assert code == 0 and result["function"]["device"] == "cpu"
    assert "--device cuda skipped: no CUDA device; the function ran on the CPU" in result["notes"]


def test_cuda_runs_the_function_on_the_gpu_when_there_is_one(user_module):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    name = user_module("""
        def swish(x):
            assert x.is_cuda, "expected a CUDA tensor"
            return x * torch.sigmoid(x)
    """)
    result = check("x*sigmoid(x)", at={"x": [0.5, -1.0, 2.0]}, function=f"{name}:swish", device="cuda")
    assert result.status == "pass", result.error or [c for c in result.checks if c.status == "fail"]
    assert result.function["device"] == "cuda" and result.notes == []
    buggy = check("x*sigmoid(x)", at={"x": 0.5}, function="examples.custom_ops.swish_buggy:swish", device="cuda")
    assert buggy.status == "fail" and buggy.gradients[0].function_verdict == "backward"


@pytest.mark.slow
def test_what_user_code_prints_goes_to_stderr_and_json_stays_one_document(cli, user_module):
    name = user_module("""
        import os
        print("loading the kernel")

        def f(x):
            print("forward called")
            os.write(1, b"noise from a kernel\\n")  # from C, past Python's sys.stdout
            return x * x
    """)
    # the real command (its streams are files, not click's): a function runs in a worker process, whose stderr is
    # the command's
    result = command_in_a_fork(["x**2", "--x", "1,2", "--function", f"{name}:f", "--json"], cwd=Path.cwd())
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["passed"] == 1 and document["results"][0]["status"] == "pass"
    assert "loading the kernel" in result.stderr and "forward called" in result.stderr
    assert "noise from a kernel" in result.stderr


def test_the_json_of_a_function_case_validates(cli, schema, in_root):
    result = cli(str(EXAMPLES), "--format", "jsonl")
    for line in result.stdout.splitlines():
        document = json.loads(line)
        assert document["function"]["target"].startswith("examples.custom_ops.")
        jsonschema.validate({"schema_version": 1, "tool": {"name": "gradcheck", "version": "0"},
                             "settings": {"dtype": "float64", "rtol": 0, "atol": 0},
                             "summary": {"total": 1, "passed": 0, "failed": 0, "inconclusive": 0, "errors": 0},
                             "results": [document]}, schema)


# ---- found in review: each of these once went wrong ----


def test_a_function_that_raises_outside_its_domain_is_differenced_one_sided(cli_json, user_module):
    name = user_module("""
        def root(x):
            assert (x > 0).all(), "x must be positive"
            return x.sqrt()
    """)
    code, document = cli_json("sqrt(x)", "--x", "1e-9,1", "--function", f"{name}:root")
    assert code == 0 and document["results"][0]["status"] == "pass"


def test_an_output_shape_that_changes_at_a_step_is_one_line(cli, user_module):
    name = user_module("""
        def shifty(x):
            return x * x if (x > 0).all() else torch.cat([x * x, x[:1]])
    """)
    result = cli("x*x", "--x", "1e-9,1", "--function", f"{name}:shifty")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "returned shape (3,) at x = " in result.stderr and "(a finite-difference step)" in result.stderr


@pytest.mark.parametrize("body", ["sys.exit(5)", "raise SystemExit"])
def test_sys_exit_in_user_code_is_an_error_not_an_exit(cli, user_module, body):
    name = user_module(f"""
        import sys
        def quits(x):
            {body}
    """)
    result = cli("x*x", "--x", "0.5", "--function", f"{name}:quits")
    assert result.exit_code == 2 and "raised: SystemExit" in result.stderr


def test_user_code_that_changes_folder_does_not_break_the_next_case(cli_json, user_module, tmp_path):
    wanders = user_module("""
        import os
        def f(x):
            os.chdir("/")
            return x * x
    """)
    later = user_module("""
        def f(x):
            return x * x
    """)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text(f"expr: x*x\nat: {{x: 0.5}}\nfunction: {wanders}:f\n")
    (specs / "b.yaml").write_text(f"expr: x*x\nat: {{x: 0.5}}\nfunction: {later}:f\n")
    code, document = cli_json(str(specs), "-j", "1")
    assert code == 0 and [r["status"] for r in document["results"]] == ["pass", "pass"]
    assert os.getcwd() == str(tmp_path)


def test_a_module_may_extend_sys_path_for_its_own_lazy_imports(cli_json, user_module, tmp_path):
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "helper_for_lazy.py").write_text("def square(x):\n    return x * x\n")
    name = user_module("""
        import os, sys
        sys.path.append(os.path.join(os.path.dirname(__file__), "vendor"))
        def f(x):
            import helper_for_lazy
            return helper_for_lazy.square(x)
    """)
    try:
        code, document = cli_json("x*x", "--x", "0.5", "--function", f"{name}:f")
        assert code == 0, document["results"][0]["error"]
    finally:
        sys.path[:] = [p for p in sys.path if not p.endswith("vendor")]
        sys.modules.pop("helper_for_lazy", None)


def test_a_function_that_modifies_its_input_is_named(cli_json, user_module):
    name = user_module("""
        def f(x):
            with torch.no_grad():
                x.add_(1.0)
            return x * x
    """)
    code, document = cli_json("x*x", "--x", "0.5,1", "--function", f"{name}:f")
    checks = {c["name"]: c for c in document["results"][0]["checks"]}
    assert code == 1 and checks["inputs unchanged"]["status"] == "fail"
    assert "modifies its input(s) x in place" in checks["inputs unchanged"]["message"]


def test_a_random_backward_is_not_also_blamed_on_strides(cli_json, user_module):
    name = user_module("""
        class Noisy(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return grad * 2 * x * (1 + 1e-3 * torch.rand_like(x))
    """)
    code, document = cli_json("x*x", "--x", "0.5,1", "--function", f"{name}:Noisy")
    checks = {c["name"]: c["status"] for c in document["results"][0]["checks"]}
    assert checks["deterministic backward"] == "fail" and checks["non-contiguous inputs"] == "skipped"


def test_a_forward_wrong_only_for_transposed_matrices_is_caught(cli_json, user_module):
    name = user_module("""
        def f(x):
            return x.view(-1).reshape(x.shape) * 2
    """)
    code, document = cli_json("2*x", "--x", "[[1,2],[3,4]]", "--function", f"{name}:f")
    checks = {c["name"]: c for c in document["results"][0]["checks"]}
    assert code == 1 and checks["non-contiguous inputs"]["status"] == "fail"


def test_gradients_of_non_tensor_inputs_are_not_misread(cli_json, user_module):
    name = user_module("""
        class Scaled(torch.autograd.Function):
            @staticmethod
            def forward(ctx, s, x):
                ctx.s = s
                return s * x * x

            @staticmethod
            def backward(ctx, grad):
                return None, (grad * 2 * ctx.s).float()

        def scaled(x):
            return Scaled.apply(2.0, x)
    """)
    code, document = cli_json("2*x*x", "--x", "0.5,1", "--function", f"{name}:scaled")
    checks = {c["name"]: c for c in document["results"][0]["checks"]}
    assert checks["gradient dtype and shape"]["status"] == "skipped"
    assert "cannot be matched" in checks["gradient dtype and shape"]["message"]


def test_device_without_a_function_is_a_usage_error(cli):
    result = cli("x*x", "--x", "1", "--device", "cuda")
    assert result.exit_code == 2 and "--device chooses where --function runs" in result.stderr


def test_a_file_path_gets_a_hint(cli, user_module):
    result = cli("x*x", "--x", "1", "--function", "./ops.py:f")
    assert result.exit_code == 2 and "a module name, not a file path" in result.stderr


def test_python_callers_can_refuse_imports_too():
    result = check("x*x", at={"x": 0.5}, function="never_imported_module_xyz:f", allow_import=False)
    assert result.status == "error" and "never_imported_module_xyz" not in sys.modules


@pytest.mark.parametrize("line", ["fast: true", "dtype: float32"])
def test_options_a_function_refuses_point_at_the_spec(cli, tmp_path, line):
    spec = tmp_path / "case.yaml"
    spec.write_text(f"expr: x*x\nat: {{x: 0.5}}\nfunction: anything:f\n{line}\n")
    result = cli(str(spec))
    assert result.exit_code == 2 and f"{spec}:3:11: function:" in result.stderr


def test_a_forward_that_is_not_finite_is_blamed_on_the_forward(cli_json, user_module):
    name = user_module("""
        def f(x):
            return x * float("nan")
    """)
    code, document = cli_json("x*x", "--x", "0.5,1.5", "--function", f"{name}:f")
    result = document["results"][0]
    assert code == 1 and {r["function_verdict"] for r in result["gradients"] if r["status"] == "fail"} == \
        {"forward not finite"}
    checks = {c["name"]: c["status"] for c in result["checks"]}
    assert checks["deterministic backward"] == "pass" and checks["forward value"] == "fail"


def test_empty_args_say_what_to_write(cli, tmp_path):
    spec = tmp_path / "case.yaml"
    spec.write_text("expr: x*x\nat: {x: 0.5}\nfunction: builtins:abs\nargs: []\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    assert "case.yaml:4:7: args: expected at least one variable name: the inputs builtins:abs takes" in result.stderr


def test_a_function_that_never_returns_is_stopped(cli, user_module, monkeypatch):
    from gradcheck_cli.userfn import user_code

    monkeypatch.setattr(user_code, "CALL_TIMEOUT", 0.5)
    name = user_module("""
        def spins(x):
            while True:
                try:
                    pass
                except Exception:
                    pass
    """)
    result = cli("x*x", "--x", "0.5", "--function", f"{name}:spins")
    assert result.exit_code == 2 and "did not return within 0.5 s (stopped)" in result.stderr
    assert "raised" not in result.stderr  # it never returned: it raised nothing


# ---- multi-output Functions: undefined incoming gradients, tuple results ----

SIN_MUL = """
class SinMul(torch.autograd.Function):
    \"\"\"(sin(x)*y, x*y); like many real backwards, it assumes both incoming gradients are tensors.\"\"\"

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        {forward_extra}
        return torch.sin(x) * y, x * y

    @staticmethod
    def backward(ctx, grad_a, grad_b):
        x, y = ctx.saved_tensors
        {backward_extra}
        return grad_a * torch.cos(x) * y + grad_b * y, grad_a * torch.sin(x) + grad_b * x{wrong}

def first(x, y):
    return SinMul.apply(x, y)[0]

def both(x, y):
    return SinMul.apply(x, y)

def listed(x, y):
    return list(SinMul.apply(x, y))
"""

AT_XY = ("--x", "0.5,-1.25", "--y", "2,3")


def _sin_mul(user_module, forward_extra: str = "pass", backward_extra: str = "pass", wrong: str = "") -> str:
    return user_module(SIN_MUL.format(forward_extra=forward_extra, backward_extra=backward_extra, wrong=wrong))


def test_a_correct_multi_output_function_used_through_one_output_passes(cli_json, user_module):
    """torch passes zeros for the unused output (its gradients are materialized): so does every check of gradcheck's
    (the gradient dtype and shape check once re-called the backward with a raw None: TypeError, exit 2)."""
    name = _sin_mul(user_module)
    code, document = cli_json("sin(x)*y", *AT_XY, "--function", f"{name}:first")
    result = document["results"][0]
    assert (code, result["status"]) == (0, "pass"), result
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["gradient dtype and shape"]["status"] == "pass"
    assert named(result["checks"], "undefined incoming gradient") == {
        "name": "undefined incoming gradient", "status": "pass",
        "message": "with its result's gradient undefined (None), the backward runs and gives zero gradients"}
    assert "other outputs" not in checks  # a tensor result has none


def test_a_backward_that_opts_out_of_zeros_and_crashes_on_none_is_named(cli, cli_json, user_module):
    """With ctx.set_materialize_grads(False) torch itself passes None for the unused output: the crash is the
    function's bug, a failed check naming the Function and the output, not an error of gradcheck's (exit 2)."""
    name = _sin_mul(user_module, forward_extra="ctx.set_materialize_grads(False)")
    code, document = cli_json("sin(x)*y", *AT_XY, "--function", f"{name}:first")
    result = document["results"][0]
    assert code == 1 and result["status"] == "fail" and result["error"] is None
    check = named(result["checks"], "undefined incoming gradient")
    assert check["status"] == "fail"
    assert check["message"] == (
        "SinMul.backward raised on the undefined (None) gradient torch gave it for its output 1 (not used by the "
        "result, or its gradient otherwise undefined): TypeError: unsupported operand type(s) for *: 'NoneType' and "
        "'Tensor'; a Function that calls ctx.set_materialize_grads(False) is given None there, not zeros, and must "
        "handle it")
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert statuses == {"float64": "pass", "forward value": "pass", "autograd graph": "pass",
                        "gradient dtype and shape": "skipped", "undefined incoming gradient": "fail",
                        "deterministic backward": "skipped", "non-contiguous inputs": "skipped",
                        "inputs unchanged": "pass", "forward AD (jvp)": "skipped",
                        "batched gradient (vmap)": "skipped"}
    assert all(r["function"] is None for r in result["gradients"])  # no backward to show
    assert all(r["status"] == "pass" for r in result["gradients"])  # the reference's own entries still agree
    text = " ".join(cli("sin(x)*y", *AT_XY, "--function", f"{name}:first").stdout.split())
    assert "✗ undefined incoming gradient: SinMul.backward raised" in text


def test_a_backward_that_raises_with_zeros_too_is_not_blamed_on_the_undefined_gradient(cli, user_module):
    """It was given None for the unused output, but it raises with zeros in its place as well: its error is its own
    (one line, exit 2, as any backward that raises)."""
    name = _sin_mul(user_module, forward_extra="ctx.set_materialize_grads(False)",
                    backward_extra="raise ValueError('boom in backward')")
    result = cli("sin(x)*y", *AT_XY, "--function", f"{name}:first")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: --function: the backward of {name}:first raised: ValueError: boom "
                                          "in backward"]


def test_a_single_output_function_that_crashes_on_an_undefined_gradient_fails_as_torch_gradcheck_does(
        cli_json, user_module):
    """torch.autograd.gradcheck's check_undefined_grad: with the result's gradient undefined, the backward of a
    Function that opted out of zeros gets None and must handle it.  Its twin that handles None passes."""
    backward = "None if g is None else 2 * x * g"
    source = _function_class("x * x", "2 * x * g").replace("ctx.save_for_backward(x)",
                                                           "ctx.save_for_backward(x); ctx.set_materialize_grads(False)")
    buggy, correct = user_module(source), user_module(source.replace("return 2 * x * g", f"return {backward}"))
    code, document = cli_json("x**2", "--x", "1,2", "--function", f"{buggy}:F")
    result = document["results"][0]
    check = named(result["checks"], "undefined incoming gradient")
    assert code == 1 and check["status"] == "fail"
    assert check["message"] == (
        "with its result's gradient undefined (None), F.backward got None for the gradient of its output 0 and "
        "raised: TypeError: unsupported operand type(s) for *: 'Tensor' and 'NoneType'; a Function that calls "
        "ctx.set_materialize_grads(False) is given None there, not zeros, and must handle it")
    assert all(r["status"] == "pass" for r in result["gradients"])  # its gradient itself is right
    code, document = cli_json("x**2", "--x", "1,2", "--function", f"{correct}:F")
    assert code == 0 and named(document["results"][0]["checks"], "undefined incoming gradient")["status"] == "pass"


def test_a_backward_that_gives_non_zero_gradients_for_undefined_ones_fails(cli_json, user_module):
    name = user_module(_function_class("x * x", "2 * x * (1 if g is None else g)").replace(
        "ctx.save_for_backward(x)", "ctx.save_for_backward(x); ctx.set_materialize_grads(False)"))
    code, document = cli_json("x**2", "--x", "1,2", "--function", f"{name}:F")
    check = named(document["results"][0]["checks"], "undefined incoming gradient")
    assert code == 1 and check["status"] == "fail"
    assert check["message"] == ("with its result's gradient undefined (None), the backward gives a non-zero "
                                "gradient for x (torch expects zeros or None)")


@pytest.mark.parametrize("target, expr", [("both[0]", "sin(x)*y"), ("both[1]", "x*y"), ("listed[-1]", "x*y")])
def test_a_tuple_result_is_checked_through_the_output_its_target_names(cli_json, user_module, target, expr):
    name = _sin_mul(user_module)
    code, document = cli_json(expr, *AT_XY, "--function", f"{name}:{target}")
    result = document["results"][0]
    assert (code, result["status"]) == (0, "pass"), result
    assert result["function"]["target"] == f"{name}:{target}"
    assert all(r["function"] == pytest.approx(r["symbolic"], rel=1e-12, abs=1e-15) for r in result["gradients"])
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["undefined incoming gradient"] == {
        "name": "undefined incoming gradient", "status": "pass",
        "message": "with the gradients of every output undefined (None), and of each output in turn, the backward "
                   "runs and gives zero gradients"}
    other = "1" if target == "both[0]" else "0"
    assert checks["other outputs"]["status"] == "pass"
    assert checks["other outputs"]["message"].startswith(
        f"output {other}: its backward agrees with finite differences of its forward (largest difference ")


def test_a_wrong_gradient_of_an_output_the_reference_does_not_cover_is_caught(cli_json, user_module):
    """Output 1's term of the backward is wrong: invisible through output 0's gradient, which the reference covers;
    the other outputs are checked against finite differences of the function's own forward."""
    name = _sin_mul(user_module, wrong=" + grad_b")
    code, document = cli_json("sin(x)*y", *AT_XY, "--function", f"{name}:both[0]")
    result = document["results"][0]
    assert code == 1 and all(r["status"] == "pass" for r in result["gradients"])
    check = named(result["checks"], "other outputs")
    assert check["status"] == "fail"
    assert check["message"].startswith("output 1: its backward disagrees with finite differences of its forward at "
                                       "2 of 8 entries, e.g. d out1[0]/d y[0] = 1.5 by its backward, 0.5 by finite "
                                       "differences")


def test_the_function_target_in_a_spec_file_and_in_python_may_name_an_output(cli_json, user_module, tmp_path):
    name = _sin_mul(user_module)
    (tmp_path / "case.yaml").write_text(f"expr: x*y\nfunction: {name}:both[1]\nat: {{x: [0.5, 2], y: [1, 3]}}\n")
    code, document = cli_json(str(tmp_path / "case.yaml"))
    assert code == 0 and document["results"][0]["status"] == "pass"
    assert check("sin(x)*y", at={"x": 0.5, "y": 2.0}, function=f"{name}:both[0]").status == "pass"


@pytest.mark.parametrize("target, message", [
    ("both", "{name}:both returned a tuple of 2 tensors: name the one the expression is the reference for, "
             "{name}:both[0] to {name}:both[1]"),
    ("both[2]", "{name}:both[2]: its result has 2 outputs (0 to 1); there is no output 2"),
    ("first[0]", "{name}:first[0] returned a tensor, not a tuple: drop [0]"),
    ("both[x]", "'{name}:both[x]' does not name a callable: expected MODULE:ATTRIBUTE, e.g. mypkg.ops:swish, "
                "or MODULE:ATTRIBUTE[OUTPUT] for one output of a tuple result, e.g. mypkg.ops:split[0]"),
])
def test_a_tuple_result_without_a_valid_output_is_one_line(cli, user_module, target, message):
    name = _sin_mul(user_module)
    result = cli("sin(x)*y", *AT_XY, "--function", f"{name}:{target}")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: --function: " + message.format(name=name)]


@pytest.mark.parametrize("function, x", [
    (lambda x: x * 0 + 0.5, [0.5, 1.5]),  # a constant output: float32 holds it, and it does not move with x
    (lambda x: x - x.detach() + torch.round(x.detach() * 2) / 2, [0.5, 1.5]),  # a straight-through estimator
    (lambda x: x * 4, [0.5, 1.5]),
    (lambda x: torch.relu(x) ** 2, [0.5, -1.5]),
])
def test_a_float64_function_whose_values_float32_holds_passes_the_float64_check(function, x):
    """Values on float32's grid that do not move with the input (a constant, a quantized forward) are no sign of a
    float32 computation inside; only values that move and stay on the grid are."""
    result = check("", at={"x": x}, function=function)
    assert next(c for c in result.checks if c.name == "float64").status == "pass"


def test_a_float32_computation_inside_fails_the_float64_check():
    result = check("", at={"x": [0.3, 1.7]}, function=lambda x: torch.sin(x.float()).double())
    assert next(c for c in result.checks if c.name == "float64").status == "fail"
