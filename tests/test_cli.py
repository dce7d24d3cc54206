"""The command line: options per variable, errors with carets, exit codes, output formats."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from gradcheck_cli import __version__

BAD_EXPRESSIONS = [
    # (expression, text the message must contain, column the caret points at)
    ("sin(x**", "expected an expression after '**'", 8),
    ("x^2", "use ** for powers", 2),
    ("sinn(x)", "did you mean 'sin'?", 1),
    ("(x", "'(' was never closed", 1),
    ("2x", "missing operator", 2),
    ("x +", "expected an expression after '+'", 4),
    ("sin(x, x)", "sin() takes 1 argument, got 2", 1),
    ("x)", "unmatched ')'", 2),
    ("x = 1", "ends with a binding", 6),
    ("x; x", "only bindings", 1),
    ("sin + x", "'sin' is a function", 1),
    ("pi = 3; pi*x", "cannot bind 'pi'", 1),
    ("z = x; z = 2*x; z", "bound twice", 8),
    ("a < x < b", "cannot be chained", 7),
    ("x $ 2", "unexpected character '$'", 3),
    ("1e999*x", "too large", 1),
    ("", "expected an expression", 1),
    ("x[1.5]", "expected an integer for an index", 3),
]


@pytest.mark.parametrize("expr, message, column", BAD_EXPRESSIONS, ids=[b[0] or "empty" for b in BAD_EXPRESSIONS])
def test_bad_expression_is_one_message_with_a_caret(cli, expr, message, column):
    result = cli(expr, "--x", "1")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.stderr
    caret_line = lines[-1]
    assert caret_line.index("^") - 2 == column - 1  # two spaces of indent under the source line


def test_bad_expression_in_json_is_one_document(cli_json):
    code, doc = cli_json("sinn(x)", "--x", "1")
    assert code == 2
    result = doc["results"][0]
    assert result["status"] == "error"
    assert result["error"]["kind"] == "parse"
    assert result["error"]["column"] == 1
    assert doc["summary"]["errors"] == 1


@pytest.mark.parametrize("args, message", [
    (("x*y", "--x", "1"), "Missing option '--y'"),
    (("x", "--x", "abc"), "Invalid value for '--x': 'abc' is not a number"),
    (("x", "--x", "1", "--jsno"), "'--json'"),
    (("x", "--x", "[[1,2],[3]]"), "rectangular"),
    (("x", "--x", "[1,2"), "unclosed"),
    (("x", "--x", "inf"), "not a finite number"),
    (("x", "--at", "x"), "expected NAME=VALUE"),
    (("x", "--x", "1", "--at", "x=2"), "x is given twice"),
    (("x", "--x", "1", "--manual", "oops"), "expected NAME=FORMULA"),
    (("x", "--x", "1", "--dtype", "float16"), "float16"),
    (("x*y", "--x", "1", "--y", "2", "--wrt", "z"), "cannot differentiate with respect to 'z'"),
    (("x*y", "--x", "1", "--y", "2", "--wrt", "x", "--manual", "y=x"), "not differentiated"),
    (("x*y", "--x", "1", "--y", "2", "--manual", "x=q"), "uses 'q'"),
    (("x*y", "--x", "1", "--y", "2", "--manual", "x=y +"), "expected an expression after '+'"),
    (("x", "--x", ",".join(["1"] * 1500)), "its Jacobian would have 2,250,000 entries"),
    (("sum(x*y)", "--x", "1,2", "--y", "1,2,3"), "cannot be broadcast"),
    (("mean(x)", "--x", "1,2", "--manual", "x=onez"), "uses 'onez'"),
    (("log(x)", "--x", "-1"), "log is defined for x > 0"),
    (("1/x", "--x", "0"), "the divisor must be non-zero"),
    (("x", "--at", "y=1", "--x", "1"), "'y' is not a variable of the expression"),
    (("wrt*x", "--wrt", "1", "--x", "2"), "give it as --at wrt=VALUE"),
    (("x", "--x", "1", "--manual", "x=1", "--manual", "x=2"), "x is given twice"),
    (("x", "--x", "1", "--wrt", ""), "expected one or more variable names"),
    (("x", "--x", "[1,2,]"), "trailing comma"),
    (("x", "--x", "1", "--rtol", "nan"), "not a finite non-negative number"),
    (("x", "--x", "1", "--atol", "inf"), "not a finite non-negative number"),
    (("z = 2; z**2",), "the expression has no variables"),
    (("x", "--x", "1", "--manual", "x=1,1"), "--manual x: column 2: unexpected ','"),
    (("x", "--x", "1,2,3", "--max-elements", "2"), "limit is 2"),
    (("-" * 300 + "x", "--x", "1"), "nests deeper than 200 levels"),
    (("sum(x)+sum(ones(-1))", "--x", "1,2"), "dimensions must not be negative"),
    (("sum(x)+sum(eye(100000))", "--x", "1,2"), "is more than 10,000,000"),
    (("sum(unindex(x, y))", "--x", "1", "--y", "1,2"), "takes its index in brackets"),
])
def test_bad_input_exits_2_with_one_message(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_domain_error_points_at_the_node(cli):
    result = cli("x + log(x - 2)", "--x", "1")
    assert result.exit_code == 2
    first, source, marker = result.stderr.splitlines()
    assert "log(x - 2)" in first and "x - 2 = -1" in first
    assert marker.strip() == "^~~~~~~~~~"


def test_variables_become_options_listed_in_help(cli):
    result = cli("w*x + b", "--help")
    assert result.exit_code == 0
    for name in ("--w", "--x", "--b"):
        assert name in result.stdout


def test_at_is_the_same_as_the_variable_option(cli_json):
    _, by_option = cli_json("w*x", "--w", "2", "--x", "3")
    _, by_at = cli_json("w*x", "--at", "w=2", "--at", "x=3")
    assert by_option["results"][0]["gradients"] == by_at["results"][0]["gradients"]


def test_values_may_be_constant_expressions(cli_json):
    code, doc = cli_json("sin(x)", "--x", "pi/2")
    assert code == 0
    assert doc["results"][0]["value"] == pytest.approx(1.0, rel=1e-15)


def test_expression_starting_with_minus(cli_json):
    code, doc = cli_json("-x**2", "--x", "-1.5")
    assert code == 0
    assert doc["results"][0]["gradients"][0]["symbolic"] == 3.0


def test_wrt_restricts_the_variables(cli_json):
    code, doc = cli_json("w*x", "--w", "2", "--x", "3", "--wrt", "w")
    assert code == 0
    assert [g["wrt"] for g in doc["results"][0]["gradients"]] == ["w"]
    assert doc["results"][0]["wrt"] == ["w"]


def test_matrix_values_and_indices(cli_json):
    code, doc = cli_json("sum(W*W)", "--W", "[[1,2],[3,4]]")
    assert code == 0
    rows = doc["results"][0]["gradients"]
    assert [r["index"] for r in rows] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert [r["symbolic"] for r in rows] == [2.0, 4.0, 6.0, 8.0]


def test_quiet_prints_only_the_summary_and_keeps_the_exit_code(cli):
    passing = cli("x**2", "--x", "3", "-q")
    assert passing.exit_code == 0 and passing.stdout.strip() == "✓ 1 passed"
    failing = cli("x**2", "--x", "3", "--manual", "x=x", "-q")
    assert failing.exit_code == 1
    assert len(failing.stdout.strip().splitlines()) == 1


def test_table_has_no_escape_codes_unless_asked(cli):
    plain = cli("x**2", "--x", "3", env={"FORCE_COLOR": None, "NO_COLOR": None})
    assert "\x1b[" not in plain.stdout
    coloured = cli("x**2", "--x", "3", "--color", "always", env={"NO_COLOR": None})
    assert "\x1b[" in coloured.stdout
    never = cli("x**2", "--x", "3", "--color", "never", env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in never.stdout


def test_json_never_has_colour(cli):
    result = cli("x**2", "--x", "3", "--json", "--color", "always", env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in result.stdout
    json.loads(result.stdout)


def test_version_and_list_ops(cli):
    from importlib.metadata import version

    lines = cli("--version").stdout.splitlines()
    assert lines[:3] == [f"gradcheck {__version__}", f"torch {version('torch')}", f"numpy {version('numpy')}"]
    assert lines[3] == f"Python {sys.version.split()[0]}" and len(lines) == 4
    listing = cli("--list-ops")
    assert listing.exit_code == 0
    for name in ("sigmoid(x)", "clamp(x, lo, hi)", "pow(a, b)", "detach(x)", "**"):
        assert name in listing.stdout


def _command(args: list[str], cwd=None) -> dict:
    """`python -X importtime -m gradcheck_cli ARGS` in a fresh process: exit code, stdout, stderr (less the import
    lines) and every module it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "gradcheck_cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    lines = done.stderr.splitlines()
    return {"returncode": done.returncode, "stdout": done.stdout,
            "stderr": "\n".join(line for line in lines if not line.startswith("import time:")),
            "imported": [line.split("|")[-1].strip() for line in lines if line.startswith("import time:")][1:]}


ONE_LINE_CHECK = ["sin(x**2)", "--x", "4"]


def _one_line_check(once) -> dict:
    """The README's first command, run once for the two tests below."""
    return once("command-one-line-check", lambda folder: _command(ONE_LINE_CHECK, cwd=folder))


@pytest.mark.slow
def test_the_installed_command_runs(once):
    """The command end to end, in a real process."""
    ok = _one_line_check(once)
    assert ok["returncode"] == 0, ok["stderr"][-2000:]
    assert "-7.66127584258" in ok["stdout"]
    bad = _command(["x^2", "--x", "1"])
    assert bad["returncode"] == 2
    assert "Traceback" not in bad["stderr"] and "use ** for powers" in bad["stderr"]


@pytest.mark.parametrize("args, message", [
    (("x**2", "--json"), "Missing option '--x'"),
    (("x**2", "--x", "abc", "--json"), "'abc' is not a number"),
    (("x**2", "--x", "1", "--format", "json", "--wrt", ""), "expected one or more variable names"),
    (("x", "--x", "1", "--format", "table", "--json"), "--json contradicts"),
])
def test_usage_errors_still_give_one_json_document(cli, schema, args, message):
    result = cli(*args)
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    jsonschema.validate(document, schema)
    assert document["results"][0]["status"] == "error"
    assert message in document["results"][0]["error"]["message"]


def test_variable_named_like_an_option_works_through_at(cli_json):
    code, doc = cli_json("wrt*x", "--at", "wrt=1", "--x", "2")
    assert code == 0
    assert {g["wrt"]: g["symbolic"] for g in doc["results"][0]["gradients"]} == {"wrt": 2.0, "x": 1.0}


def test_long_expressions_are_not_taken_for_paths(cli):
    result = cli("x+" * 200 + "x", "--x", "1", "-q")
    assert result.exit_code == 0


def test_a_folder_named_like_a_variable(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    assert cli("x", "--x", "1", "-q").exit_code == 0        # --x given: the expression
    assert "no spec files" in cli("x").stderr                # otherwise: the folder


def test_tabs_keep_the_caret_under_the_character(cli):
    result = cli("x\t+\t^2", "--x", "1")
    source, marker = result.stderr.splitlines()[1:]
    assert source[marker.index("^")] == "^"


def test_a_derivative_beyond_the_float_range_is_its_correctly_rounded_infinity(cli):
    """d/dx log(x) at 1e-320 is 1e320: not bad input; autograd's inf is the right float64 answer."""
    result = cli("log(x)", "--x", "1e-320")
    assert result.exit_code == 0, result.stdout
    assert "the exact derivative is beyond the float range; inf is its correctly rounded value" in result.stdout


def test_raising_max_depth_lets_deep_expressions_through(cli):
    result = cli("(" * 5000 + "x" + ")" * 5000, "--x", "1", "--max-depth", "10000", "-q")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("value", [[], [[1.0], [1.0, 2.0]], [1.0, float("nan")]])
def test_the_python_api_returns_error_results_for_bad_values(value):
    from gradcheck_cli import check

    result = check("sum(x)", at={"x": value})
    assert result.status == "error" and result.error["kind"] == "value"


def test_transpose_of_a_number_prints_so_that_it_parses_back():
    from gradcheck_cli import check
    from gradcheck_cli.lang.parser import parse

    formula = check("x.T", at={"x": 2.0}).formulas["x"]
    assert formula == "(1).T" and parse(formula).output.op == "transpose"


def test_the_cli_offers_every_reporter(cli):
    from gradcheck_cli import report

    help_text = " ".join(cli("--help").stdout.split())
    assert f"--format [{'|'.join(report.FORMATS)}]" in help_text


@pytest.mark.slow
@pytest.mark.parametrize("args, absent", [
    (["--version"], ["numpy", "yaml", "rich", "torch"]),
    (["--help"], ["numpy", "yaml", "rich", "torch"]),
    (["sinn(x)", "--x", "1"], ["torch", "sympy"]),      # a parse error never pays for torch
    # a passing one-line check pays for neither spec files, other reporters, culprits nor --explain
    (ONE_LINE_CHECK, ["yaml", "gradcheck_cli.report.junit", "gradcheck_cli.report.json_",
                      "gradcheck_cli.diagnose.culprit", "gradcheck_cli.diagnose.explain",
                      "gradcheck_cli.run.second_order", "gradcheck_cli.run.projections", "sympy"]),
])
def test_fast_paths_do_not_import_heavy_modules(once, args, absent):
    run = _one_line_check(once) if args == ONE_LINE_CHECK else _command(args)
    assert "gradcheck_cli.core.version" in run["imported"], run["stderr"][-2000:]  # the list that would name them
    assert sorted(set(absent) & set(run["imported"])) == []


def test_large_tables_show_the_20_worst_entries_and_a_summary(cli):
    values = ",".join(str(i / 10) for i in range(40))
    args = ("sum(x**3)", "--x", values, "--manual", "x=3*x**2 + (x > 3.65)", "--color", "never")
    short = cli(*args).stdout
    assert "the 20 worst of 40 entries" in short
    assert "x: 40 entries, 3 failing; worst d/dx[37]" in short
    assert sum(line.startswith("│ x[") for line in short.splitlines()) == 20
    full = cli(*args, "--all-elements").stdout
    assert sum(line.startswith("│ x[") for line in full.splitlines()) == 40


def test_help_keeps_each_example_on_its_own_line(cli):
    lines = [line.strip() for line in cli("--help").stdout.splitlines()]
    for example in ('gradcheck "x*sigmoid(x)" --x 0.5 --function examples.custom_ops.swish:Swish',
                    "gradcheck expressions/ --format junit -o report.xml"):
        assert example in lines
