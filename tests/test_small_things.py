"""Defects first-time users hit (issue 19, item 4) and the small things of item 6: each message in the words of
the front end that got the input, never a Python object; the expression from stdin or a file; --version."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import on_a_terminal

from gradcheck_cli import __version__
from gradcheck_cli.cli import main
from gradcheck_cli.report.progress import MIN_CASES
from gradcheck_cli.report.table import plain_case
from gradcheck_cli.spec.spec import Spec

ROOT = Path(__file__).resolve().parent.parent


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---- spec files: values at the point ----


def test_an_at_value_for_a_name_the_expression_does_not_use_is_located_at_its_key(cli, tmp_path):
    spec = write(tmp_path, "unused.yaml", "expr: sin(x)\nat: {x: 1, y: 2}\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}:2:12: at.y: 'y' is not a variable of the expression" in result.stderr
    assert "--y" not in result.stderr and "--x" not in result.stderr


def test_a_sampled_name_the_expression_does_not_use_is_located_at_its_domain_key(cli, tmp_path):
    spec = write(tmp_path, "s.yaml", "expr: sin(x)\nat: {x: 1}\nsample:\n  n: 2\n  domain: {x: [-1, 1], z: [0, 1]}\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}:5:24: sample.domain.z: 'z' is not a variable" in result.stderr


def test_a_missing_at_value_points_at_the_at_key_not_at_an_option(cli, tmp_path):
    spec = write(tmp_path, "missing.yaml", "expr: sin(x)*y\nat: {x: 1}\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}:2:5: at: no value for y" in result.stderr
    assert "VALUE" not in result.stderr


def test_a_case_with_its_own_expression_inherits_only_the_values_it_uses(cli, tmp_path):
    spec = write(tmp_path, "cases.yaml", "expr: sin(x)*y\nat: {x: 1, y: 2}\ncases:\n  - {expr: cos(x)}\n"
                                          "  - {where: {q: x*z}, expr: q, at: {z: 3}}\n")
    result = cli(str(spec), "--json")
    assert result.exit_code == 0, result.stdout
    document = json.loads(result.stdout)
    assert [r["status"] for r in document["results"]] == ["pass", "pass", "pass"]
    assert list(document["results"][1]["point"]) == ["x"]


def test_a_value_the_case_gives_itself_for_an_unused_name_is_still_an_error(cli, tmp_path):
    spec = write(tmp_path, "cases.yaml", "expr: sin(x)*y\nat: {x: 1, y: 2}\ncases:\n  - {expr: cos(x), at: {z: 3}}\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}:4:25: cases[0].at.z: 'z' is not a variable" in result.stdout


# ---- no Python objects in messages ----


def test_the_hessian_summary_names_blocks_not_python_lists():
    from gradcheck_cli.run.case import run

    result = run(Spec(expr="sum(y*z*y)", at={"y": [1.0, 2, 3, 4, 5], "z": [1.0, 2, 3, 4, 5]}, order=2))
    text = plain_case(result)
    assert "d²/dy dz: 25 entries" in text
    assert "['y', 'z']" not in text and "('y', 'z')" not in text


# ---- the command line's words ----


def test_an_option_for_a_variable_the_expression_does_not_use_says_which_it_uses(cli):
    result = cli("sin(x)", "--x", "1", "--y", "2")
    assert result.exit_code == 2
    assert "No such option '--y': the expression uses only x." in result.stderr
    assert "--dtype" not in result.stderr


def test_a_near_variable_is_suggested_and_a_near_option_keeps_clicks_hint(cli):
    near_variable = cli("sin(x)*yy", "--x", "1", "--yy", "1", "--y", "2")
    assert "the expression uses x, yy (did you mean --yy?)" in near_variable.stderr
    near_option = cli("sin(x)", "--x", "1", "--jsno")
    assert "'--json'" in near_option.stderr and "the expression uses" not in near_option.stderr


@pytest.mark.parametrize("target", ["nonexistent_dir/", "./nope", "specs/gpu-2.0x", "nothere.yml"])
def test_a_missing_path_is_no_such_file_or_folder_not_a_parse_error(cli, tmp_path, monkeypatch, target):
    monkeypatch.chdir(tmp_path)
    result = cli(target)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {target}: no such file or folder"


def test_a_slash_that_reads_as_division_is_still_an_expression(cli):
    result = cli("x/y", "--x", "1", "--y", "2", "-q")
    assert result.exit_code == 0, result.stderr
    mistyped = cli("x/(y", "--x", "1", "--y", "2")
    assert mistyped.exit_code == 2 and "'(' was never closed" in mistyped.stderr


def test_help_examples_are_not_rewrapped_on_a_narrow_terminal():
    done = subprocess.run([sys.executable, "-m", "gradcheck_cli", "--help"], capture_output=True, text=True,
                          cwd=ROOT, env={"COLUMNS": "50", "PATH": "/usr/bin:/bin"}, timeout=60)
    lines = done.stdout.splitlines()
    assert '    gradcheck "sin(x**2)" --x 4' in lines
    assert '    gradcheck expressions/                      # every *.yaml below, as a CI gate' in lines


# ---- the expression from standard input or a file ----


def test_the_expression_from_standard_input(cli):
    result = CliRunner().invoke(main, ["-", "--x", "4", "--json"], input="sin(x**2)\n", catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["results"][0]["expr"] == "sin(x**2)"


def test_an_expression_from_standard_input_may_start_with_a_minus():
    result = CliRunner().invoke(main, ["-", "--x", "4", "-q"], input="-x**2", catch_exceptions=False)
    assert result.exit_code == 0, result.stderr


def test_the_expression_from_a_file_gives_its_variables_options(cli, tmp_path):
    (tmp_path / "f.txt").write_text("z = w*x;\n  sigmoid(z)\n")
    result = cli("--expr-file", str(tmp_path / "f.txt"), "--w", "2", "--x", "0.5", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["point"] == {"w": 2.0, "x": 0.5}
    missing = cli(f"--expr-file={tmp_path / 'f.txt'}", "--w", "2")
    assert missing.exit_code == 2 and "Missing option '--x'" in missing.stderr


@pytest.mark.parametrize("args, message", [
    (["--expr-file", "nope.txt", "--x", "1"], "--expr-file nope.txt: no such file or folder"),
    (["--expr-file", "f.txt", "sin(x)", "--x", "1"],
     "give the expression as an argument or with --expr-file, not both"),
    (["--expr-file", "f.txt", "--expr-file", "f.txt"], "--expr-file is given twice"),
    (["--expr-file", "bad.txt", "--x", "1"], "--expr-file bad.txt: not UTF-8 text (byte 4)"),
    (["--expr-file", "."], "--expr-file .: cannot read: Is a directory"),
])
def test_expression_file_mistakes_are_one_line(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.txt").write_text("sin(x)")
    (tmp_path / "bad.txt").write_bytes(b"sin(\xff)")
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"error: {message}"


# ---- --version ----


def test_version_names_gradcheck_torch_numpy_and_python_without_importing_them():
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "gradcheck_cli", "--version"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [f"gradcheck {__version__}", f"torch {version('torch')}",
                                        f"numpy {version('numpy')}", f"Python {platform.python_version()}"]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"torch", "numpy", "click", "rich", "yaml", "gradcheck_cli.cli"}
    assert CliRunner().invoke(main, ["-V"]).stdout == done.stdout  # the command's own option says the same


# ---- progress on a terminal ----


def _on_a_terminal(args: list[str], cwd: Path) -> str:
    """The command with stdin, stdout and stderr on one pseudo-terminal, as a person runs it; what the terminal got."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", on_a_terminal(args, cwd=cwd))  # colours off


@pytest.mark.slow
def test_a_long_folder_run_on_a_terminal_shows_progress_on_stderr_unless_quiet_or_piped(tmp_path, cli, monkeypatch):
    for i in range(MIN_CASES):
        (tmp_path / f"case{i:02}.yaml").write_text(f"expr: x**2\nat: {{x: {i}}}\n")
    shown = _on_a_terminal([".", "-j", "1"], tmp_path)
    assert f"{MIN_CASES}/{MIN_CASES}" in shown and "checking" in shown
    assert f"✓ case{MIN_CASES - 1:02}" in shown and f"{MIN_CASES} passed" in shown
    assert "checking" not in _on_a_terminal([".", "-j", "1", "-q"], tmp_path)
    monkeypatch.chdir(tmp_path)
    piped = cli(".", "-j", "1")  # click's runner: stdout and stderr are pipes, no terminal
    assert "checking" not in piped.stdout + piped.stderr and f"{MIN_CASES} passed" in piped.stdout


def test_progress_is_shown_only_to_a_person(monkeypatch):
    from gradcheck_cli.report import progress

    monkeypatch.setattr(progress, "is_tty", lambda stream: True)
    assert progress.shown_for(MIN_CASES, quiet=False)
    assert not progress.shown_for(MIN_CASES - 1, quiet=False)
    assert not progress.shown_for(MIN_CASES, quiet=True)
    monkeypatch.setattr(progress, "is_tty", lambda stream: stream is not sys.stdout)
    assert not progress.shown_for(MIN_CASES, quiet=False)
