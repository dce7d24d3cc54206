"""Defects a fresh-eyes tester found in the notebook, terminal, plot and config features (issue 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gradcheck_cli import check

AT = {"x": 1.0, "y": 2.0}
ROOT = str(Path(__file__).resolve().parent.parent)


# ---- item 12: check()'s settings are validated by the settings table, each error naming its keyword ----


@pytest.mark.parametrize("keywords, message", [
    ({"method": "nope"}, "method='nope': expected one of 'auto', 'complex', 'richardson', 'central'"),
    ({"rtol": -1}, "rtol=-1: expected a non-negative finite number"),
    ({"atol": float("nan")}, "atol=nan: expected a non-negative finite number"),
    ({"order": 3}, "order=3: expected 1 or 2"),
    ({"dtype": "float16"}, "dtype='float16': expected one of 'float64', 'float32'"),
    ({"device": "tpu"}, "device='tpu': expected one of 'cpu', 'cuda'"),
    ({"step": 0}, "step=0: expected a positive finite number"),
    ({"seed": -1}, "seed=-1: expected an integer from 0 to 2**63 - 1"),
    ({"fast": 1}, "fast=1: expected True or False"),
    ({"manual": {"x": None}}, "manual['x']: expected a formula as a str"),
])
def test_a_bad_setting_is_an_error_naming_its_keyword(keywords, message):
    result = check("x*y", at=AT, **keywords)
    assert result.status == "error" and result.error["message"].startswith(message), result.error


@pytest.mark.parametrize("expr", [None, 123])
def test_an_expression_that_is_not_text_is_an_error_not_a_type_error(expr):
    result = check(expr, at=AT)
    assert result.status == "error"
    assert result.error["message"].startswith(f"expr={expr!r}: expected the expression as a str")


def test_wrt_as_text_is_read_as_the_command_line_reads_it():
    assert [row.wrt for row in check("x*y", at=AT, wrt="x,y").gradients] == ["x", "y"]
    assert [row.wrt for row in check("x*y", at=AT, wrt="y").gradients] == ["y"]
    assert check("x*y", at=AT, wrt="xy").status == "error"  # one name, not the letters x and y


def test_a_number_is_a_manual_formula():
    assert check("x*y", at=AT, manual={"x": 2}).status == "pass"
    assert check("x*y", at=AT, manual={"x": 3}).status == "fail"


# ---- item 3: a narrow COLUMNS never cuts a number into a wrong one ----


@pytest.mark.parametrize("columns", ["1", "10", "11", "19"])
def test_columns_under_the_least_width_is_raised_to_it(cli, columns):
    assert cli("sin(x**2)", "--x", "4", env={"COLUMNS": columns}).stdout == \
        cli("sin(x**2)", "--x", "4", "--width", "20").stdout


def test_the_vertical_layout_keeps_every_number_whole_at_every_narrow_width():
    from gradcheck_cli.report import ReportSettings, reporter

    result = check("sin(x**2)", at={"x": 4})
    for width in range(20, 41):
        shown = reporter("table").render([result], ReportSettings(color="never", width=width))
        assert all(len(line) <= width for line in shown.splitlines()), (width, shown)
        assert "-7.6612758" in shown and "± 2.8e-14" in shown, (width, shown)


# ---- item 4: the project's strict = true can be overridden, and the summary says where strict came from ----


def _run_in(folder, *args: str):
    """The command run in `folder` (in this process: its project file and outputs are the folder's)."""
    import contextlib
    import types

    from click.testing import CliRunner

    from gradcheck_cli.cli import main

    with contextlib.chdir(folder):
        result = CliRunner().invoke(main, list(args), prog_name="gradcheck", catch_exceptions=False)
    return types.SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def test_no_strict_overrides_the_projects_strict(cli, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.gradcheck]\nstrict = true\n")
    monkeypatch.chdir(tmp_path)
    from_project = cli("abs(x)", "--x", "0")
    assert from_project.exit_code == 1 and "(failing under strict = true in pyproject.toml)" in from_project.stdout
    assert cli("abs(x)", "--x", "0", "--no-strict").exit_code == 0
    flagged = cli("abs(x)", "--x", "0", "--strict")
    assert flagged.exit_code == 1 and "(failing under --strict)" in flagged.stdout


# ---- item 2: %gradcheck draws the --plot it is given ----


def test_the_line_magic_draws_its_plot(tmp_path):
    from gradcheck_cli.magics import check_line

    picture = tmp_path / "p.png"
    assert check_line(f'"sin(x)" --x 1 --plot {picture}').status == "pass"
    assert picture.read_bytes().startswith(b"\x89PNG")


# ---- items 5, 6, 7, 18: --plot honours its extension, draws an exact difference with no warning, takes a spec
# file's one case, and leaves no meaningless ticks on an empty error panel ----


@pytest.mark.parametrize("name, magic", [("a.pdf", b"%PDF"), ("a.svg", b"<?xml"), ("a.png", b"\x89PNG")])
def test_the_picture_is_written_in_the_format_its_name_says(tmp_path, name, magic):
    ran = _run_in(tmp_path, "sin(x)", "--x", "1", "--plot", name)
    assert ran.returncode == 0 and (tmp_path / name).read_bytes().startswith(magic)


def test_a_picture_name_of_no_known_format_is_refused_before_the_run(tmp_path):
    ran = _run_in(tmp_path, "sin(x)", "--x", "1", "--plot", "noext")
    assert ran.returncode == 2 and "must end in .png, .pdf or .svg, got 'noext'" in ran.stderr
    assert ran.stdout == "" and not (tmp_path / "noext").exists()


def test_an_exact_central_difference_is_said_in_the_panel_without_warnings(tmp_path):
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401  (the test extra installs it)

    from gradcheck_cli.plot import figure_data
    from gradcheck_cli.plot.draw import draw

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = draw(figure_data(check("x**2", at={"x": 3})), tmp_path / "sq.png")
    texts = [text.get_text() for text in figure.axes[1].texts]
    assert texts == ["every step's central difference equals the reference exactly:\n"
                     "an error of 0 has no place on a log scale"]
    assert len(figure.axes[1].get_yticks()) == 0


def test_a_spec_file_of_one_case_is_drawn_and_of_two_refused(tmp_path):
    (tmp_path / "one.yaml").write_text("expr: sin(x)\nat: {x: 1}\n")
    assert _run_in(tmp_path, "one.yaml", "--plot", "one.png").returncode == 0
    assert (tmp_path / "one.png").read_bytes().startswith(b"\x89PNG")
    (tmp_path / "two.yaml").write_text("cases:\n  - expr: sin(x)\n    at: {x: 1}\n  - expr: cos(x)\n    at: {x: 1}\n")
    two = _run_in(tmp_path, "two.yaml", "--plot", "two.png")
    assert two.returncode == 2 and "--plot draws one case; these spec files have 2" in two.stderr


# ---- items 9, 11, 14: the seed of --fast in JSON, empty standard input, one program name in usage lines ----


def test_the_seed_of_fast_projections_is_in_the_json(tmp_path):
    import json

    ran = _run_in(tmp_path, "sin(x)", "--x", "1,2", "--fast", "--json")
    case = json.loads(ran.stdout)["results"][0]
    assert isinstance(case["seed"], int) and f"seed {case['seed']}" in " ".join(case["notes"])


def test_empty_standard_input_is_said(tmp_path):
    from conftest import command_in_a_fork

    ran = command_in_a_fork(["-", "--x", "1"], cwd=tmp_path, input="")  # stdin: an empty file, not a terminal
    assert ran.returncode == 2 and ran.stderr.startswith("error: - (standard input): standard input is empty")


@pytest.mark.parametrize("args", [["--expr-file", "nope.txt", "--x", "1"], ["x", "--y", "1"]])
def test_every_usage_line_names_the_program_gradcheck(tmp_path, args):
    ran = _run_in(tmp_path, *args)
    assert ran.returncode == 2 and "\n  usage: gradcheck [OPTIONS] EXPRESSION | PATH..." in ran.stderr, ran.stderr


# ---- item 10: --step 0 and --step without --method central are refused ----


@pytest.mark.parametrize("args, message", [
    (["--step", "0", "--method", "central"], "'--step': '0' is not a positive finite number"),
    (["--step", "1e-4"], "--step is the step of --method central"),
])
def test_a_step_that_would_be_ignored_is_refused(tmp_path, args, message):
    ran = _run_in(tmp_path, "sin(x)", "--x", "1", *args)
    assert ran.returncode == 2 and message in ran.stderr and ran.stdout == ""


# ---- item 13: check()'s messages name what it was given ----


@pytest.mark.parametrize("value, message", [
    (np.array([]), "at['x']: empty array"),
    (torch.tensor([]), "at['x']: empty array"),
    ([], "at['x']: empty list"),
    (None, "at['x']: expected numbers, got None"),
    ([1, None], "at['x']: expected numbers, got None"),
])
def test_a_bad_value_is_called_what_it_is(value, message):
    assert check("sum(x)", at={"x": value}).error["message"] == message


def test_an_empty_expression_is_shown_as_one():
    assert repr(check("", at={"x": 1})).startswith('<CheckResult "" at x=1: error:')


# ---- item 8: the summary gives an error's reason, which -q prints nowhere else ----


def test_a_missing_project_path_is_summarised_with_its_reason(tmp_path):
    (tmp_path / "ok.yaml").write_text("expr: sin(x)\nat: {x: 1}\n")
    (tmp_path / "pyproject.toml").write_text('[tool.gradcheck]\npaths = ["nope", "ok.yaml"]\n')
    ran = _run_in(tmp_path, "-q")
    assert "nope  (nope): spec error: nope: no such file or folder" in ran.stdout, ran.stdout


# ---- eyes19: a number given as a manual gradient, whatever Python object holds it ----


@pytest.mark.parametrize("number", [
    np.float64(-7.661275842587077), np.float32(-7.6612759), np.array(-7.661275842587077),
    torch.tensor(-7.661275842587077, dtype=torch.float64), torch.tensor([-7.661275842587077]),
])
def test_a_number_held_by_numpy_or_torch_is_a_manual_formula(number):
    """The seed notebook computes its hand derivative as a tensor (dL_dw = ...): it is the number it holds, not
    'np.float64: the language uses torch's function names' or 'expected a formula as a str, got Tensor'."""
    result = check("sin(x**2)", at={"x": 4}, manual={"x": number}, rtol=1e-6)
    assert result.status == "pass", result.error
    assert result.gradients[0].manual == pytest.approx(-7.661275842587077, rel=1e-6)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), np.float64("-inf"), torch.tensor(float("nan"))])
def test_a_manual_number_that_is_not_finite_is_called_so(number):
    result = check("sin(x**2)", at={"x": 4}, manual={"x": number})
    assert result.status == "error"
    assert result.error["message"].startswith("manual['x']: expected a finite number or a formula as a str, got "), \
        result.error


def test_a_manual_tensor_of_several_numbers_says_it_is_not_one_number():
    result = check("mean(x**2)", at={"x": [1.0, 2.0, 3.0]}, manual={"x": torch.tensor([2 / 3, 4 / 3, 2.0])})
    assert result.status == "error"
    assert result.error["message"] == ("manual['x']: expected a formula as a str (e.g. \"2*x\") or one number, got a "
                                       "Tensor of 3 numbers")


# ---- eyes19: the progress bar never cuts its count or its clock on an 80-column terminal ----


@pytest.mark.parametrize("width", [80, 60, 40])
def test_the_progress_line_keeps_its_count_and_clock_whole(width):
    """A long case name took the room of `464/465` and the elapsed time: rich cut them to `464/4…` `0:00:…`."""
    import io

    from rich.console import Console

    from gradcheck_cli.report.progress import fitted_name, progress_bar

    console = Console(file=io.StringIO(), width=width, color_system=None)
    bar = progress_bar(console, total=465)
    bar.update(bar.task_ids[0], completed=464,
               description=fitted_name(bar, "vectors: standardized score sum(c*(x - mean(x)))/std and more"))
    console.print(bar.make_tasks_table(bar.tasks))
    line = console.file.getvalue().rstrip("\n")
    assert "\n" not in line and len(line) <= width, line
    assert " 464/465 " in line and "0:00:00" in line, line


# ---- eyes19: a missing folder beside a variable's option is still "no such file or folder" ----


@pytest.mark.parametrize("target", ["missing/", "specs/missing.yaml", "nothere.yml"])
def test_a_missing_path_with_a_value_option_says_the_path_is_missing(cli, tmp_path, monkeypatch, target):
    """`gradcheck missing/ --x 1` said "No such option '--x'": the path was the mistake."""
    monkeypatch.chdir(tmp_path)
    result = cli(target, "--x", "1")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {target}: no such file or folder"


def test_a_value_option_beside_spec_files_says_where_their_values_go(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text("expr: sin(x)\nat: {x: 1}\n")
    result = cli("specs/", "--x", "1")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: No such option '--x': specs/ names spec files, whose cases give "
                                    "their variables' values under at:"), result.stderr
    assert "'--json'" in cli("specs/", "--jsno").stderr  # a near option of gradcheck's own keeps click's hint


# ---- eyes19: --plot with --fast is refused before the run, not after a passing table ----


@pytest.mark.parametrize("fast_from", ["flag", "spec"])
def test_a_picture_of_fast_projections_is_refused_before_the_run(cli, tmp_path, monkeypatch, fast_from):
    """It printed the table and `✓ 1 passed`, then "no gradient entry to draw" and exit 2."""
    monkeypatch.chdir(tmp_path)
    if fast_from == "flag":
        args = ("sum(sin(x))", "--x", "1,2,3", "--fast", "--seed", "1")
    else:
        (tmp_path / "case.yaml").write_text("expr: sum(sin(x))\nat: {x: [1, 2, 3]}\nfast: true\nseed: 1\n")
        args = ("case.yaml",)
    result = cli(*args, "--plot", "fast.png")
    assert result.exit_code == 2 and result.stdout == ""
    assert "--plot draws the gradient's entries; --fast checks only random projections of it" in result.stderr
    assert not (tmp_path / "fast.png").exists()


# ---- eyes19: a lone word with no value is said to be no folder either ----


def test_a_lone_name_that_is_no_folder_says_so_beside_its_missing_value(cli, tmp_path, monkeypatch):
    """`gradcheck expressions` outside the repository said only "Missing option '--expressions'"."""
    monkeypatch.chdir(tmp_path)
    result = cli("expressions")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Missing option '--expressions' (and no file or folder is named "
                                    "'expressions' here)."), result.stderr
    assert "no file or folder" not in cli("x*y", "--x", "1").stderr  # an expression of several names: as before


# ---- eyes19: check()'s table in IPython follows COLUMNS as %gradcheck's and the command's do ----


def test_a_result_shown_outside_a_terminal_follows_columns(monkeypatch):
    """In one IPython session piped with COLUMNS=80, %gradcheck's table fit 80 columns and check()'s was 140 wide."""
    from gradcheck_cli import results

    monkeypatch.setattr(results, "is_tty", lambda stream=None: False)
    monkeypatch.setenv("COLUMNS", "80")
    assert results.notebook_settings().width == 80
    shown = results._table_text([check("x**3", at={"x": 1}, manual={"x": "3*x"})], None)
    assert max(len(line) for line in shown.splitlines()) <= 80, shown
    monkeypatch.delenv("COLUMNS")
    assert results.notebook_settings().width == 140  # Jupyter, with no COLUMNS: as wide as before


# ---- eyes19: the tolerance is never split from its numbers on a narrow terminal ----


def test_the_tolerance_goes_whole_to_its_own_line_when_the_value_line_is_too_long(cli):
    """At 60 columns the line wrapped as `... (tolerance: rtol 1e-07, atol` / `1e-07)`."""
    lines = cli("sin(x**2)", "--x", "4", "--width", "60").stdout.splitlines()
    assert lines[1] == "value = -0.2879033166650653"
    assert lines[2] == "(tolerance: rtol 1e-07, atol 1e-07)"
    wide = cli("sin(x**2)", "--x", "4", "--width", "100").stdout.splitlines()
    assert wide[1] == "value = -0.2879033166650653   (tolerance: rtol 1e-07, atol 1e-07)"


# ---- eyes19: a float32 reference is printed at float32's digits ----


def test_a_reference_computed_in_float32_is_not_printed_to_sixteen_digits(cli):
    """The symbolic engine's float32 value was shown as -7.661275863647461 beside the float64 -7.661275842587077:
    eight of its digits are rounding, printed as if they held."""
    table = cli("sin(x**2)", "--x", "4", "--dtype", "float32", "--width", "200").stdout
    row = next(line for line in table.splitlines() if line.startswith("│ x"))
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[1] == cells[3] == "-7.6612759", row  # reference and autograd: the same float32 number
    assert cells[4] == "-7.661275842587077", row  # the float64 column keeps its digits


# ---- eyes19: in a notebook, %gradcheck --plot shows the picture it wrote (issue 19, item 3: inline in Jupyter) ----


@pytest.mark.parametrize("name, kind", [("p.png", "Image"), ("p.svg", "SVG")])
def test_the_line_magic_shows_its_picture_in_the_notebook(tmp_path, monkeypatch, name, kind):
    """It wrote the file and showed nothing: the notebook user had to open it."""
    import IPython.display

    from gradcheck_cli.magics import check_line

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects, **_: shown.extend(objects))
    picture = tmp_path / name
    assert check_line(f'"sin(x)" --x 1 --plot {picture}').status == "pass"
    assert [type(o).__name__ for o in shown] == [kind]
    assert (shown[0].data or b"")[:4] in (b"\x89PNG", b"<?xm", "<?xm", "<svg")


# ---- eyes19: a spec's manual or wrt for a name the expression does not differentiate is located at its key ----


@pytest.mark.parametrize("text, located", [
    ("expr: x*y\nat: {x: 1, y: 2}\nmanual: {z: 2*x}\n", ":3:13: manual.z: a manual gradient is given for 'z', which "
                                                       "is not differentiated"),
    ("expr: x*y\nat: {x: 1, y: 2}\nwrt: [z]\n", ":3:6: wrt: cannot differentiate with respect to 'z'"),
    ("expr: x*y\nat: {x: 1, y: 2}\nwrt: [x]\nmanual: {y: x}\n", ":4:13: manual.y: a manual gradient is given for "
                                                               "'y', which is not differentiated"),
])
def test_a_name_a_spec_cannot_differentiate_is_located_at_its_key(cli, tmp_path, text, located):
    """Like `at:` for an unused name (issue 19), these said no file or line: `error: a manual gradient is given for
    'z', which is not differentiated`."""
    spec = tmp_path / "case.yaml"
    spec.write_text(text)
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}{located}" in result.stderr, result.stderr


# ---- eyes19: an expected gradient for a name not differentiated is an error, never ignored ----


@pytest.mark.parametrize("keywords, message", [
    ({"wrt": "x", "expected": {"y": 5}}, "an expected gradient is given for 'y', which is not differentiated"),
    ({"expected": {"z": 1}}, "an expected gradient is given for 'z', which is not differentiated (its variables: "
                             "x, y)"),
    ({"expected": {"x": [1, 2]}}, "the expected gradient for x has shape (2,); expected ()"),
])
def test_an_expected_gradient_that_cannot_be_compared_is_an_error(keywords, message):
    """`expected={'y': 5}` with wrt='x' passed, the 5 never compared (a wrong pass); `expected={'z': 1}` was an
    internal error (KeyError: 'z')."""
    result = check("x*y", at=AT, **keywords)
    assert result.status == "error" and result.error["kind"] == "usage", result.error
    assert result.error["message"].startswith(message), result.error


def test_a_spec_files_expect_for_a_name_not_differentiated_is_located_at_its_value(cli, tmp_path):
    spec = tmp_path / "case.yaml"
    spec.write_text("expr: x*y\nat: {x: 1, y: 2}\nwrt: [x]\nexpect: {y: 5}\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}:4:13: expect.y: an expected gradient is given for 'y', which is not differentiated" \
        in result.stderr, result.stderr


# ---- eyes19: a function's settings without a function are refused in a spec file and check(), as --args is ----


@pytest.mark.parametrize("key, value, message", [
    ("reference", "a.b:c", "reference: a.b:c is what function is checked against; give function too"),
    ("args", "[x]", "args: [x] names the inputs of function; give function too"),
    ("nondet_tol", "1e-9", "nondet_tol: 1e-09 is how far two backward passes of function may differ"),
    ("device", "cuda", "device: cuda chooses where function runs (expressions run on the CPU)"),
])
def test_a_spec_with_a_function_setting_and_no_function_is_refused_at_its_key(cli, tmp_path, key, value, message):
    """The command refuses `--reference` without `--function`; a spec file's `reference:` was ignored and the case
    passed on the expression alone."""
    spec = tmp_path / "case.yaml"
    spec.write_text(f"expr: x*sigmoid(x)\nat: {{x: 0.5}}\n{key}: {value}\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}:3:" in result.stderr and message in result.stderr, result.stderr


def test_check_refuses_a_reference_without_a_function():
    result = check("x*sigmoid(x)", at={"x": 0.5}, reference="a.b:c")
    assert result.status == "error"
    assert result.error["message"].startswith("reference='a.b:c' is what function is checked against; give function")


# ---- eyes19: check()'s arguments of the wrong type are error results, never exceptions ----


@pytest.mark.parametrize("keywords, message", [
    ({"wrt": 5}, "wrt=5: expected variable names"),
    ({"limits": 5}, "limits=5: expected a gradcheck_cli.core.limits.Limits"),
    ({"at": {1: 2.0}}, "at[1]: expected a variable name as a str"),
])
def test_a_wrongly_typed_argument_is_an_error_result(keywords, message):
    """wrt=5 raised TypeError and limits=5 AttributeError out of check(); at={1: 2} said 'no value for x'."""
    result = check("x**2", **{"at": {"x": 1.0}, **keywords})
    assert result.status == "error" and result.error["message"].startswith(message), result.error


def test_an_empty_expr_in_a_spec_file_is_said_to_be_empty_not_missing(cli, tmp_path):
    spec = tmp_path / "case.yaml"
    spec.write_text('name: e\nexpr: ""\nat: {x: 1}\n')
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}:2:8: expr: the expression is empty" in result.stderr, result.stderr


# ---- eyes19: %gradcheck --function NAME takes a function the notebook defined ----


def test_the_line_magic_takes_a_function_of_the_notebook_by_its_name(monkeypatch):
    """`--function swish` with swish defined in a cell said "'swish' does not name a callable: expected
    MODULE:ATTRIBUTE"; `__main__:swish` worked, and is what the bare name now means in a notebook."""
    import sys
    import types

    from gradcheck_cli.magics import check_line

    notebook = types.ModuleType("__main__")
    exec("import torch\ndef swish(x):\n    return x*torch.sigmoid(x)\n", notebook.__dict__)
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    result = check_line('"x*sigmoid(x)" --x 0.5 --function swish', notebook.__dict__)
    assert result is not None and result.status == "pass" and result.function["target"] == "__main__:swish"
