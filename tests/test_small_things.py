"""Defects first-time users hit (issue 19, item 4) and the small things of item 6: each message in the words of
the front end that got the input, never a Python object; the expression from stdin or a file; --version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "2 passed" not in result.stderr  # JSON on stdout; the three cases pass
    import json

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


def test_help_examples_are_not_rewrapped_on_a_narrow_terminal():
    done = subprocess.run([sys.executable, "-m", "gradcheck_cli", "--help"], capture_output=True, text=True,
                          cwd=ROOT, env={"COLUMNS": "50", "PATH": "/usr/bin:/bin"}, timeout=60)
    lines = done.stdout.splitlines()
    assert '    gradcheck "sin(x**2)" --x 4' in lines
    assert '    gradcheck expressions/                      # every *.yaml below, as a CI gate' in lines
