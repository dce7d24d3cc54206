"""Every output format: parsed, validated, counted; machine formats never carry colour."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from gradcheck_cli.report.github import annotation, escape_data, escape_property
from gradcheck_cli.verdict.compare import CaseResult

FILES = {
    "good.yaml": "name: good\nexpr: sin(x)\nat: {x: 1}\nmanual: {x: cos(x)}\n",
    "wrong.yaml": "name: \"wrong, really: 100%\"\nexpr: sum(x**2)\nat: {x: [1, 2]}\nmanual:\n  x: 2*x + (x > 1.5)\n",
    "broken.yaml": "expr: sin(x\nat: {x: 1}\n",
}
COLOUR_ENV = [{"FORCE_COLOR": "1"}, {"NO_COLOR": "1"}, {"FORCE_COLOR": "1", "TERM": "xterm-256color"}]


@pytest.fixture
def folder(tmp_path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_json_document_validates_and_counts(cli, folder, schema):
    result = cli(str(folder), "--format", "json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, schema)
    assert doc["summary"] == {"total": 3, "passed": 1, "failed": 1, "inconclusive": 0, "undefined": 0, "errors": 1,
                              "failing": 1}
    wrong = next(r for r in doc["results"] if r["name"].startswith("wrong"))
    assert wrong["file"].endswith("wrong.yaml") and wrong["line"] == 2
    assert [g["status"] for g in wrong["gradients"]] == ["pass", "fail"]


def test_jsonl_is_one_valid_result_per_line(cli, folder, schema):
    result = cli(str(folder), "--format", "jsonl")
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        jsonschema.validate(json.loads(line), schema["$defs"]["result"] | {"$defs": schema["$defs"]})
    assert [json.loads(line)["status"] for line in lines] == ["error", "pass", "fail"]  # sorted file order


WORKFLOW_COMMAND = re.compile(r"::(error|warning|notice)(?: ((?:[a-z]+=[^,:\r\n]*)(?:,[a-z]+=[^,:\r\n]*)*))?::(.*)")


def test_github_annotations_follow_the_workflow_command_grammar(cli, folder):
    result = cli(str(folder), "--format", "github", "--color", "never")
    commands = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert len(commands) == 2
    for command in commands:
        match = WORKFLOW_COMMAND.fullmatch(command)
        assert match, command
        assert "\n" not in match.group(3)
    wrong = next(c for c in commands if "wrong.yaml" in c)
    assert "line=2" in wrong and "title=gradcheck%3A wrong%2C really%3A 100%25" in wrong
    broken = next(c for c in commands if "broken.yaml" in c)
    assert "line=1" in broken and "col=" in broken
    assert "✗ 1 passed, 1 failed, 1 error" in result.stdout  # the human table is printed as well


def test_github_format_is_chosen_on_github_actions(cli, folder):
    result = cli(str(folder / "wrong.yaml"), env={"GITHUB_ACTIONS": "true"})
    assert result.stdout.startswith("::error file=")
    assert cli(str(folder / "wrong.yaml"), "--json", env={"GITHUB_ACTIONS": "true"}).stdout.startswith("{")


def test_github_escaping():
    assert escape_data("100%\r\nnext") == "100%25%0D%0Anext"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    assert annotation(CaseResult(name="ok", expr="x", status="pass")) is None


def test_junit_xml_parses_with_the_right_counts(cli, folder):
    result = cli(str(folder), "--format", "junit")
    root = ET.fromstring(result.stdout)
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["wrong, really: 100%"].find("failure") is not None
    assert "manual disagrees" in cases["wrong, really: 100%"].find("failure").get("message")
    assert next(c for n, c in cases.items() if "broken" in n).find("error") is not None
    assert cases["good"].find("failure") is None and cases["good"].find("error") is None


@pytest.mark.parametrize("fmt", ["json", "jsonl", "junit", "github"])
@pytest.mark.parametrize("env", COLOUR_ENV, ids=["FORCE_COLOR", "NO_COLOR", "FORCE_COLOR+TERM"])
def test_machine_formats_never_contain_colour(cli, folder, fmt, env):
    result = cli(str(folder), "--format", fmt, "--color", "never" if fmt == "github" else "auto", env=env)
    if fmt != "github":
        assert "\x1b[" not in result.stdout
    else:
        assert all("\x1b[" not in line for line in result.stdout.splitlines() if line.startswith("::"))


def test_output_file_gets_the_format_while_the_terminal_gets_the_table(cli, folder, tmp_path, schema):
    report = tmp_path / "report.json"
    result = cli(str(folder), "--format", "json", "-o", str(report), "--color", "never")
    assert result.exit_code == 2
    assert "passed" in result.stdout and not result.stdout.lstrip().startswith("{")
    jsonschema.validate(json.loads(report.read_text()), schema)
    xml = tmp_path / "report.xml"
    cli(str(folder), "--format", "junit", "-o", str(xml), env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in xml.read_text()
    ET.fromstring(xml.read_text())
