"""[tool.gradcheck] in pyproject.toml (issue 19, item 5): found by walking up from the current folder like ruff and
pytest, under a spec file's own keys and the command line's flags; every mistake is one line at
`pyproject.toml:LINE: [tool.gradcheck] KEY`, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradcheck_cli.core.config import Config, find, load

SPEC = "expr: sin(x)\nat: {x: 1}\n"
UNDEFINED = "expr: abs(x)\nat: {x: 0}\n"  # one-sided derivatives -1 and 1: undefined, not a failure


def project(folder: Path, table: str, preamble: str = '[project]\nname = "demo"\n\n') -> Path:
    path = folder / "pyproject.toml"
    path.write_text(f"{preamble}[tool.gradcheck]\n{table}")
    return path


def settings_of(cli, *args) -> dict:
    result = cli(*args, "--json")
    return json.loads(result.stdout)["settings"]


@pytest.mark.parametrize("line, message", [
    ("rtol = -1", "rtol: expected a finite non-negative number, got -1"),
    ("rtol = true", "rtol: expected a finite non-negative number, got true"),
    ("atol = 'small'", "atol: expected a finite non-negative number, got 'small'"),
    ("step = 1e-3", "step: unknown key (allowed: rtol, atol, dtype, method, strict, exclude, paths)"),
    ("rtoll = 1e-3", "rtoll: unknown key (did you mean 'rtol'?)"),
    ("colour = 'red'", "colour: unknown key (allowed: rtol, atol, dtype, method, strict, exclude, paths)"),
    ('dtype = "float16"', "dtype: expected one of 'float64', 'float32', got 'float16'"),
    ('method = "forward"', "method: expected one of 'auto', 'complex', 'richardson', 'central', got 'forward'"),
    ('strict = "yes"', "strict: expected true or false, got 'yes'"),
    ('exclude = "drafts"', "exclude: expected a list of glob patterns in quotes, got 'drafts'"),
    ("paths = [1]", "paths: expected a list of paths in quotes, got [1]"),
])
def test_a_bad_key_or_value_is_one_line_at_its_line_of_pyproject(cli, tmp_path, monkeypatch, line, message):
    project(tmp_path, f"{'paths = []' if line.startswith('exclude') else 'exclude = []'}\n{line}\n")
    monkeypatch.chdir(tmp_path)
    for args in (["sin(x)", "--x", "1"], ["."]):
        result = cli(*args)
        assert result.exit_code == 2
        assert result.stderr == f"error: pyproject.toml:6: [tool.gradcheck] {message}\n"
        assert result.stdout == ""


def test_invalid_toml_is_an_error_too(cli, tmp_path, monkeypatch):
    project(tmp_path, "rtol = [\n")
    monkeypatch.chdir(tmp_path)
    result = cli("sin(x)", "--x", "1")
    assert result.exit_code == 2 and result.stderr.startswith("error: pyproject.toml: invalid TOML: ")


def test_the_nearest_pyproject_with_the_table_is_used_walking_up(tmp_path):
    outer = project(tmp_path, "rtol = 1e-3\n")
    inner = tmp_path / "pkg" / "sub"
    inner.mkdir(parents=True)
    (tmp_path / "pkg" / "pyproject.toml").write_text('[project]\nname = "no table here"\n')
    assert find(inner) == outer
    assert load(inner) == Config(root=tmp_path, path=outer, defaults=(("rtol", 1e-3),))
    assert load(tmp_path.parent).path != outer  # a folder above the project does not see it


def test_a_nested_table_alone_is_not_the_tool_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.gradcheck.extra]\nx = 1\n")
    assert find(tmp_path) != tmp_path / "pyproject.toml"


def test_the_project_tolerance_applies_and_a_flag_overrides_it(cli, tmp_path, monkeypatch):
    project(tmp_path, 'rtol = 1e-3\natol = 0\ndtype = "float32"\n')
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    plain = settings_of(cli, "sin(x)", "--x", "1")
    assert (plain["rtol"], plain["atol"], plain["dtype"]) == (1e-3, 0.0, "float32")
    flagged = settings_of(cli, "sin(x)", "--x", "1", "--rtol", "1e-5", "--dtype", "float64")
    assert (flagged["rtol"], flagged["atol"], flagged["dtype"]) == (1e-5, 0.0, "float64")


def test_a_spec_files_own_keys_override_the_project_and_flags_override_both(cli, tmp_path, monkeypatch):
    project(tmp_path, 'rtol = 1e-3\nmethod = "richardson"\n')
    (tmp_path / "own.yaml").write_text(SPEC + "tolerance: {rtol: 1e-9}\n")
    (tmp_path / "plain.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    results = {r["name"]: r for r in json.loads(cli(".", "--json").stdout)["results"]}
    assert results["own"]["tolerance"]["rtol"] == 1e-9
    assert results["plain"]["tolerance"]["rtol"] == 1e-3
    assert "complex" not in json.dumps(results["plain"]["evaluations"])  # method = "richardson" reached the case
    flagged = {r["name"]: r for r in json.loads(cli(".", "--json", "--rtol", "1e-4").stdout)["results"]}
    assert flagged["own"]["tolerance"]["rtol"] == flagged["plain"]["tolerance"]["rtol"] == 1e-4


def test_strict_in_the_project_fails_an_undefined_case(cli, tmp_path, monkeypatch):
    (tmp_path / "kink.yaml").write_text(UNDEFINED)
    monkeypatch.chdir(tmp_path)
    assert cli(".", "-q").exit_code == 0
    project(tmp_path, "strict = true\n")
    assert cli(".", "-q").exit_code == 1


def test_paths_are_what_gradcheck_alone_checks(cli, tmp_path, monkeypatch):
    project(tmp_path, 'paths = ["specs"]\n')
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "one.yaml").write_text(SPEC)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    result = cli("--json")
    assert result.exit_code == 0, result.stderr
    assert [r["file"] for r in json.loads(result.stdout)["results"]] == [str(Path("..", "specs", "one.yaml"))]


def test_without_paths_a_bare_gradcheck_still_asks_for_an_argument(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli()
    assert result.exit_code == 2 and "Missing argument" in result.stderr


def test_the_pytest_plugin_reads_the_same_table(pytester):
    pytester.makefile(".toml", pyproject='[tool.gradcheck]\nstrict = true\nrtol = 0.5\nexclude = ["drafts"]\n')
    pytester.makefile(".yaml", kink=UNDEFINED, loose="expr: x**2\nat: {x: 3}\nmanual: {x: 2*x + 1}\n")
    (pytester.path / "drafts").mkdir()
    (pytester.path / "drafts" / "wip.yaml").write_text(SPEC)
    result = pytester.runpytest_inprocess("--gradcheck", "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=1)  # loose passes under rtol 0.5 (7 vs 6); kink fails under strict
    assert "wip" not in result.stdout.str()


def test_a_bad_table_stops_the_pytest_run_with_its_line(pytester):
    pytester.makefile(".toml", pyproject="[tool.gradcheck]\nrtol = -1\n")
    pytester.makefile(".yaml", plain=SPEC)
    result = pytester.runpytest_inprocess("--gradcheck", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pyproject.toml:2: [[]tool.gradcheck] rtol: expected a finite non-negative*"])


def test_a_bad_table_under_json_is_one_json_document(cli_json, tmp_path, monkeypatch):
    project(tmp_path, "rtol = -1\n", preamble="")
    monkeypatch.chdir(tmp_path)
    code, document = cli_json("sin(x)", "--x", "1")  # validated against the report's schema
    assert code == 2
    error = document["results"][0]["error"]
    assert error["kind"] == "config"
    assert error["message"] == "pyproject.toml:2: [tool.gradcheck] rtol: expected a finite non-negative number, got -1"


def test_paths_limit_what_a_bare_pytest_run_collects_but_not_named_folders(pytester):
    pytester.makefile(".toml", pyproject='[tool.gradcheck]\npaths = ["specs"]\n')
    for folder in ("specs", "elsewhere"):
        (pytester.path / folder).mkdir()
        (pytester.path / folder / f"{folder}_case.yaml").write_text(SPEC)
    bare = pytester.runpytest_inprocess("--gradcheck", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert [line for line in bare.outlines if "::" in line] == ["specs/specs_case.yaml::specs_case"]
    named = pytester.runpytest_inprocess("--gradcheck", "--collect-only", "-q", "-p", "no:cacheprovider", "elsewhere")
    assert [line for line in named.outlines if "::" in line] == ["elsewhere/elsewhere_case.yaml::elsewhere_case"]


def test_a_missing_folder_in_paths_stops_a_bare_pytest_run_as_the_command_says_it(pytester):
    """The command says `nope: no such file or folder`; a bare `pytest --gradcheck` collected nothing from it and
    passed, silently.  A path pytest is given that does not exist is a usage error there too."""
    pytester.makefile(".toml", pyproject='[tool.gradcheck]\npaths = ["specs", "nope"]\n')
    (pytester.path / "specs").mkdir()
    (pytester.path / "specs" / "case.yaml").write_text(SPEC)
    bare = pytester.runpytest_inprocess("--gradcheck", "-q", "-p", "no:cacheprovider")
    assert bare.ret == pytest.ExitCode.USAGE_ERROR
    assert "pyproject.toml:2: [tool.gradcheck] paths: nope: no such file or folder" in "\n".join(bare.errlines)
    named = pytester.runpytest_inprocess("--gradcheck", "-q", "-p", "no:cacheprovider", "specs")
    assert named.ret == pytest.ExitCode.OK  # paths on the command line: [tool.gradcheck] paths are not used
