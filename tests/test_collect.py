"""Which files a folder run checks (issue 19, items 4 and 5): one collector (spec/collect.py) for the command and the
pytest plugin; hidden folders, excluded globs and YAML files that are not specs are left out, and listed with -v."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradcheck_cli.spec.collect import NOT_A_SPEC, collect, is_spec

SPEC = "expr: sin(x)\nat: {x: 1}\n"
TREE = {
    "specs/a.yaml": SPEC,
    "specs/flow.yml": "{expr: cos(x), at: {x: 2}}\n",
    "specs/commented.yaml": "# a spec\n---\nname: c\n'expr': x**2\nat: {x: 1}\n",
    "specs/only_cases.yaml": "cases:\n  - {expr: x**3, at: {x: 1}}\n",
    "specs/broken.yaml": "expr: sin(x\nat: {x: [\n",  # a spec with a YAML error: collected, so its error shows
    "specs/drafts/wip.yaml": SPEC,
    "specs/.hidden/h.yaml": SPEC,
    "specs/.dot.yaml": SPEC,
    ".github/workflows/ci.yml": "on: push\njobs:\n  test: {runs-on: ubuntu-latest}\n",
    "docker-compose.yml": "services:\n  web: {image: nginx}\n",
    "config/mkdocs.yaml": "site_name: docs\nnav:\n  - expr: not at the top level\n",
    "notes.txt": SPEC,
}
CHECKED = ["specs/a.yaml", "specs/broken.yaml", "specs/commented.yaml", "specs/drafts/wip.yaml", "specs/flow.yml",
           "specs/only_cases.yaml"]


@pytest.fixture
def tree(tmp_path, monkeypatch):
    for name, text in TREE.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def names(paths) -> list[str]:
    return sorted(Path(p).as_posix() for p in paths)


def test_a_folder_holds_its_specs_and_nothing_else(tree):
    collection = collect(["."])
    assert names(collection.files) == CHECKED
    assert {(Path(s.path).as_posix(), s.reason) for s in collection.skipped} == {
        ("docker-compose.yml", NOT_A_SPEC), ("config/mkdocs.yaml", NOT_A_SPEC)}


@pytest.mark.parametrize("text, expected", [
    (SPEC, True), ("function: m:f\nexpr: x\n", True), ('"expr": x\n', True), ("{ 'expr': x }\n", True),
    ("cases: []\n", True), ("name: n\n  expr: indented\n", False), ("# expr: x\nkey: 1\n", False),
    ("expression: x\n", False), ("- expr: x\n", False),
])
def test_a_spec_has_expr_function_or_cases_at_its_top_level(tmp_path, text, expected):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    assert is_spec(path) is expected


def test_exclude_globs_match_folders_paths_and_names(tree):
    assert names(collect(["."], ["drafts"]).files) == [f for f in CHECKED if "drafts" not in f]
    assert names(collect(["."], ["specs/drafts/"]).files) == [f for f in CHECKED if "drafts" not in f]
    assert names(collect(["."], ["*.yml", "broken*"]).files) == [
        "specs/a.yaml", "specs/commented.yaml", "specs/drafts/wip.yaml", "specs/only_cases.yaml"]
    skipped = {Path(s.path).as_posix(): s.reason for s in collect(["."], ["drafts"]).skipped}
    assert skipped["specs/drafts"] == "excluded by 'drafts'"


def test_a_named_file_or_folder_is_checked_even_when_it_would_be_left_out(tree):
    assert names(collect(["specs/drafts"], ["drafts"]).files) == ["specs/drafts/wip.yaml"]
    assert names(collect(["specs/.hidden"]).files) == ["specs/.hidden/h.yaml"]
    assert names(collect(["docker-compose.yml"]).files) == ["docker-compose.yml"]


def test_the_command_checks_the_collected_files_and_lists_the_skipped_with_v(cli, tree):
    result = cli(".", "--json", "-v")
    files = {r["file"] for r in json.loads(result.stdout)["results"]}
    assert names(files) == CHECKED
    assert f"skipped docker-compose.yml: {NOT_A_SPEC}" in result.stderr
    assert "skipped" not in cli(".", "--json").stderr


def test_exclude_on_the_command_line_replaces_the_projects(cli, tree):
    (tree / "pyproject.toml").write_text('[tool.gradcheck]\nexclude = ["drafts", "broken.yaml"]\n')
    project = {r["file"] for r in json.loads(cli(".", "--json").stdout)["results"]}
    assert names(project) == [f for f in CHECKED if "drafts" not in f and "broken" not in f]
    flagged = {r["file"] for r in json.loads(cli(".", "--json", "--exclude", "*.yml").stdout)["results"]}
    assert names(flagged) == [f for f in CHECKED if not f.endswith(".yml")]


def test_the_command_and_the_pytest_plugin_collect_the_same_files(cli, pytester):
    for name, text in TREE.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (pytester.path / "pyproject.toml").write_text('[tool.gradcheck]\nexclude = ["drafts"]\n')
    result = pytester.runpytest_inprocess("--gradcheck", "--collect-only", "-q", "-p", "no:cacheprovider")
    collected = {line.split("::")[0] for line in result.outlines if "::" in line}
    by_command = {r["file"] for r in json.loads(cli(".", "--json").stdout)["results"]}
    assert collected == by_command == {f for f in CHECKED if "drafts" not in f}
    verbose = pytester.runpytest_inprocess("--gradcheck", "--collect-only", "-v", "-p", "no:cacheprovider")
    verbose.stdout.fnmatch_lines([f"gradcheck skipped docker-compose.yml: {NOT_A_SPEC}"])


def test_exclude_with_an_expression_is_a_mistake_not_ignored(cli):
    result = cli("sin(x)", "--x", "1", "--exclude", "drafts")
    assert result.exit_code == 2 and "--exclude leaves files out of folders of spec files" in result.stderr


def test_an_exclude_written_as_a_path_matches_as_the_glob_it_spells(tree):
    """`--exclude ./specs/drafts` (a path as the shell completes it) and an absolute path excluded nothing,
    silently; they name the same folder as `specs/drafts`, from the project root."""
    for pattern in ("./specs/drafts", str(tree / "specs" / "drafts"), "./specs/drafts/"):
        files = [p.as_posix() for p in collect(["."], [pattern], tree).files]
        assert "specs/drafts/wip.yaml" not in files, pattern
        assert "specs/a.yaml" in files


def test_the_plugin_lists_as_skipped_only_files_below_the_paths_it_was_given(pytester):
    """`pytest --gradcheck -v specs` listed `gradcheck skipped docker-compose.yml` from the folder above specs/, which
    pytest walks to reach it; `gradcheck specs -v` lists only what lies in specs/."""
    for name, text in TREE.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (pytester.path / "specs" / "list.yaml").write_text("- 1\n- 2\n")
    verbose = pytester.runpytest_inprocess("--gradcheck", "--collect-only", "-v", "-p", "no:cacheprovider", "specs")
    listed = [line for line in verbose.outlines if line.startswith("gradcheck skipped")]
    assert listed == [f"gradcheck skipped specs/list.yaml: {NOT_A_SPEC}"], verbose.outlines
