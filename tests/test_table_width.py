"""The table on a terminal of 80, 60 and 40 columns cuts no number, and NO_COLOR / FORCE_COLOR are honoured.

The command runs on a pseudo-terminal (python's pty module) of the given size, as a person would see it: rich
then measures the terminal itself (conftest.on_a_terminal: in a child forked from the test process).  A number
cut short shows as `…` beside a digit (`-7.661275…`, issue 19).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import on_a_terminal

from gradcheck_cli.report.digits import row_digits
from gradcheck_cli.verdict.compare import GradientRow, Tolerance

CUT_NUMBER = re.compile(r"[0-9.]…|…[0-9]")
COLOUR_SGR = re.compile(r"\x1b\[([0-9;]*)m")
SEED_CASES = """\
cases:
  - {name: square, expr: "x**2", at: {x: 3}}
  - {name: sine, expr: "sin(x**2)", at: {x: 4}, manual: {x: "2*x*cos(x**2)"}}
  - {name: sine wrong, expr: "sin(x**2)", at: {x: 4}, manual: {x: "2*x*cos(x**2)*(1 + 1e-6)"}}
  - name: bce
    expr: "z = w*x + b; p = clamp(sigmoid(z), 1e-8, 1 - 1e-8); -(y*log(p) + (1-y)*log(1-p))"
    at: {w: 1, b: 0, x: 6.7, y: 0}
    wrt: [w, b]
  - {name: mean, expr: "mean(x**2)", at: {x: [1.5, -2.25, 3.125]}}
  - name: jacobian
    expr: "A @ x"
    at: {A: [[1.1, 2.2, 3.3], [4.4, 5.5, 6.6], [7.7, 8.8, 10.1]], x: [0.3, 0.7, 1.1]}
    wrt: [x]
  - name: function
    expr: "x*sigmoid(x)"
    function: "examples.custom_ops.swish_buggy:swish"
    at: {x: [-2.0, 0.5, 3.0]}
"""


def on_terminal(args: list[str], columns: int, env: dict | None = None) -> str:
    """What `python -m gradcheck_cli ARGS` writes to a pseudo-terminal `columns` wide (COLUMNS unset)."""
    return on_a_terminal(args, columns, env)


@pytest.fixture(scope="module")
def seed_spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "seed.yaml"
    path.write_text(SEED_CASES)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 60, 40])
def test_no_number_is_cut_on_a_narrow_terminal(seed_spec, columns):
    output = on_terminal([str(seed_spec), "-v", "-j", "1", "--color", "never"], columns)
    assert "5 passed, 2 failed" in output, output
    assert not CUT_NUMBER.findall(output), output
    assert max(map(len, output.splitlines())) <= columns, output
    for digits in ("-7.6612758", "6.691763", "0.9987706", "0.73996119"):  # each seed case's derivative is shown
        assert digits in output, output
    # the wrong manual formula differs from the reference at its 7th digit: shown, beside the reference
    assert "-7.6612835" in output, output


@pytest.mark.slow
def test_a_wide_terminal_keeps_every_digit(seed_spec):
    output = on_terminal([str(seed_spec), "-v", "-j", "1", "--color", "never"], 160)
    assert "│ x   │ -7.661275842587077 │ -7.661275842587077 │" in output, output
    assert not CUT_NUMBER.findall(output)


def test_piped_output_follows_columns_and_width(cli):
    wide = cli("sin(x**2)", "--x", "4", env={"COLUMNS": None})
    assert "-7.661275842587077" in wide.stdout
    for given in ({"env": {"COLUMNS": "40"}}, {"args": ["--width", "40"], "env": {"COLUMNS": "200"}}):
        narrow = cli("sin(x**2)", "--x", "4", *given.get("args", []), env=given["env"])
        assert narrow.exit_code == 0
        assert max(map(len, narrow.stdout.splitlines())) <= 40, narrow.stdout
        assert "-7.6612758" in narrow.stdout and not CUT_NUMBER.findall(narrow.stdout), narrow.stdout


def test_a_width_too_small_is_refused(cli):
    result = cli("x**2", "--x", "3", "--width", "5")
    assert result.exit_code == 2 and "--width" in result.stderr and "Traceback" not in result.stderr


def _colours(text: str) -> list[str]:
    """The colour parameters (foreground or background) of the SGR sequences in `text`; bold is no colour."""
    found = []
    for params in COLOUR_SGR.findall(text):
        codes = [int(p) for p in params.split(";") if p]
        found += [str(c) for c in codes if 30 <= c <= 49 or 90 <= c <= 107]
    return found


@pytest.mark.slow
def test_no_color_is_honoured_on_a_terminal():
    failing = ["x**2", "--x", "3", "--manual", "x=x"]
    assert _colours(on_terminal(failing, 100))  # a terminal gets colour
    assert not _colours(on_terminal(failing, 100, {"NO_COLOR": "1"}))
    assert _colours(on_terminal(failing, 100, {"NO_COLOR": ""}))  # empty: not set (no-color.org)
    assert _colours(on_terminal([*failing, "--color", "always"], 100, {"NO_COLOR": "1"}))  # the flag wins


def test_force_color_colours_a_pipe(cli):
    failing = ["x**2", "--x", "3", "--manual", "x=x"]
    assert not _colours(cli(*failing, env={"FORCE_COLOR": None, "NO_COLOR": None}).stdout)
    assert _colours(cli(*failing, env={"FORCE_COLOR": "1", "NO_COLOR": None}).stdout)
    assert not _colours(cli(*failing, "--color", "never", env={"FORCE_COLOR": "1"}).stdout)


TOLERANCE = Tolerance(rtol=1e-7, atol=1e-7)


def test_digits_show_where_values_differ():
    agreeing = GradientRow(wrt="x", index=[], reference=-7.661275842587077, autograd=-7.661275842587078,
                           finite_difference=-7.66127584258)
    assert row_digits(agreeing, TOLERANCE, "float64") == 8  # what rtol 1e-7 can see
    apart = GradientRow(wrt="x", index=[], reference=-7.661275842587077, manual=-7.661275842587077 * (1 + 3e-7))
    digits = row_digits(apart, TOLERANCE, "float64")
    assert f"{apart.manual:.{digits}g}" != f"{apart.reference:.{digits}g}"
    strict = Tolerance(rtol=1e-12, atol=0.0)  # a difference at the 13th digit that the tolerance sees
    close = GradientRow(wrt="x", index=[], reference=1.0, autograd=1.0 + 4e-12)
    digits = row_digits(close, strict, "float64")
    assert digits == 13 and f"{close.autograd:.{digits}g}" != f"{close.reference:.{digits}g}"
    assert row_digits(close, strict, "float32") == 8  # never more than the dtype holds
    assert row_digits(agreeing, None, "float64") == 16  # no tolerance: every digit


@pytest.mark.parametrize("args, verdict", [
    (["relu(x) + x**2", "--x", "0"], r"~"),
    (["sin(x**2)", "--x", "4", "--manual", "x=2*x*cos(x**2)*(1 + 1e-6)"], r"\bfail:"),
    (["A @ x", "--A", "[[1.1,2.2],[3.3,4.4]]", "--x", "0.5,-0.25"], r"\bpass\b"),
])
def test_every_width_shows_each_verdict_and_cuts_nothing(cli, args, verdict):
    """A sweep of widths: no layout squeezes a column out of sight (a verdict column once shrank to nothing)."""
    for width in range(40, 141, 6):
        result = cli(*args, "--width", str(width), "--color", "never")
        lines = result.stdout.splitlines()
        assert max(map(len, lines)) <= width and not CUT_NUMBER.findall(result.stdout), result.stdout
        assert re.search(verdict, result.stdout), (width, result.stdout)  # a word only the verdict column has
