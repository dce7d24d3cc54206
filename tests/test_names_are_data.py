"""Names are data, never markup: text from a spec is shown escaped in every human-readable output,
cannot forge or silence GitHub annotations, and leaves JUnit and JSON valid (issue 15)."""

from __future__ import annotations

import json
import os
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gradcheck_cli.core.safe_text import inert_lines, printable
from gradcheck_cli.report import FORMATS

ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
ANNOTATION = re.compile(r"::(error|warning) ((?:file|line|col|title)=[^,:]*(?:,(?:file|line|col|title)=[^,:]*)*)::")

# Each passes; its name tries to start a workflow command of its own.
FORGING = """\
cases:
  - name: "ok\\n::error file=x::forged"
    expr: sin(x)
    at: {x: 1}
  - name: "::stop-commands::tok"
    expr: x**2
    at: {x: 3}
  - name: "legacy ##[stop-commands]tok"
    expr: cos(x)
    at: {x: 1}
"""

# One fails, so there is a real annotation and a table; its name and manual formula carry control characters.
HOSTILE = """\
cases:
  - name: "red\\e[31m title\\e]0;title\\a bidi\\u202eevil nul\\0 sep\\u2028 lone\\ud800"
    expr: x**2
    at: {x: 3}
    manual: {x: x}
  - name: "passes\\x85too"
    expr: sin(x)
    at: {x: 1}
"""


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def command_lines(stdout: str) -> list[str]:
    """The lines a GitHub runner would read as workflow commands (it trims each line first)."""
    return [line for line in stdout.splitlines() if ANSI_COLOUR.sub("", line).lstrip().startswith("::")]


def xml_document(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


# ---- printable ----

@pytest.mark.parametrize("text, shown", [
    ("a\nb", "a\\nb"), ("tab\there", "tab\\there"), ("cr\r", "cr\\r"), ("\x1b[2J", "\\x1b[2J"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"), ("nul\x00", "nul\\x00"), ("del\x7f", "del\\x7f"),
    ("c1\x85\x9b", "c1\\x85\\x9b"), ("\v\f\x1c\x1d\x1e", "\\x0b\\x0c\\x1c\\x1d\\x1e"),
    ("line\u2028para\u2029", "line\\u2028para\\u2029"), ("\u202eevil\u2066x\u2069", "\\u202eevil\\u2066x\\u2069"),
    ("bad\udcff.yaml", "bad\\udcff.yaml"), ("é ² λ ∂f/∂x ✓ 日本", "é ² λ ∂f/∂x ✓ 日本"),
])
def test_printable_escapes_controls_and_keeps_ordinary_unicode(text, shown):
    assert printable(text) == shown


def test_printable_text_is_one_line_of_utf8_whatever_the_input():
    everything = "".join(map(chr, range(0x110000)))
    shown = printable(everything)
    assert len(shown.splitlines()) == 1
    shown.encode("utf-8")  # no lone surrogate left


def test_inert_lines_touches_only_lines_a_runner_would_obey():
    text = "ok\n  ::error x::y\n\x1b[1m::stop-commands::t\x1b[0m\nfine :: here\nsays ##[error]x"
    assert command_lines(inert_lines(text)) == []
    assert "##[" not in inert_lines(text)
    assert inert_lines("fine :: here\n✓ 1 passed") == "fine :: here\n✓ 1 passed"


# ---- GitHub: no forged or silenced annotations ----

@pytest.mark.parametrize("color", ["never", "always"])
def test_passing_cases_with_forging_names_write_no_workflow_command(cli, tmp_path, color):
    result = cli(write(tmp_path, "forge.yaml", FORGING), "--format", "github", "--color", color, "-v")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert command_lines(result.stdout) == [] and command_lines(result.stderr) == []
    assert "##[" not in result.stdout
    assert "ok\\n::error file=x::forged" in result.stdout  # shown, escaped


def test_a_long_name_wrapped_onto_a_line_of_its_own_is_not_a_command(cli, tmp_path):
    name = "w" * 139 + " ::error::wrapped"  # the table is 140 columns wide: the tail starts a line
    result = cli(write(tmp_path, "long.yaml", f'name: "{name}"\nexpr: x**3\nat: {{x: 2}}\n'), "--format", "github")
    assert result.exit_code == 0
    assert "error::wrapped" in result.stdout and command_lines(result.stdout) == []


def test_every_command_line_in_github_output_is_gradchecks_own_annotation(cli, tmp_path):
    path = write(tmp_path, "forge.yaml", FORGING + textwrap.indent(textwrap.dedent("""\
        - name: "wrong\\n::error file=x::forged\\n::stop-commands::tok"
          expr: x**2
          at: {x: 3}
          manual: {x: x}
        """), "  "))
    result = cli(path, "--format", "github")
    assert result.exit_code == 1
    commands = command_lines(result.stdout)
    assert len(commands) == 1, commands
    assert ANNOTATION.match(commands[0]), commands[0]
    assert commands[0].startswith(f"::error file={path.replace(':', '%3A')},line=")
    assert "title=gradcheck%3A wrong\\n%3A%3Aerror file=x%3A%3Aforged\\n%3A%3Astop-commands%3A%3Atok::" in commands[0]


# ---- the table: escapes shown, never emitted ----

def test_escape_sequences_in_names_are_shown_escaped_in_the_table(cli, tmp_path):
    result = cli(write(tmp_path, "hostile.yaml", HOSTILE), "--color", "never", "-v")
    assert result.exit_code == 1
    for raw in ("\x1b", "\x07", "\u202e", "\x00", "\u2028", "\x85"):
        assert raw not in result.stdout
    for shown in ("red\\x1b[31m", "title\\x1b]0;title\\x07", "bidi\\u202eevil", "nul\\x00", "sep\\u2028",
                  "lone\\ud800", "passes\\x85too"):
        assert shown in result.stdout


def test_gradchecks_own_colours_stay_while_names_are_escaped(cli, tmp_path):
    result = cli(write(tmp_path, "hostile.yaml", HOSTILE), "--color", "always")
    assert "\x1b[" in result.stdout  # gradcheck's own colour codes
    assert "\x1b]" not in result.stdout and "\x07" not in result.stdout and "\u202e" not in result.stdout
    assert "red\\x1b[31m" in ANSI_COLOUR.sub("", result.stdout)


def test_an_expression_the_parser_refuses_is_quoted_escaped_with_the_marker_under_it(cli, tmp_path):
    result = cli(write(tmp_path, "e.yaml", 'expr: "x\\x1b[2J"\nat: {x: 1}\n'))
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr
    assert "  x\\x1b[2J\n   ^~~~" in result.stderr


def test_an_unknown_key_with_an_escape_is_shown_escaped_and_kept_exact_in_json(cli, tmp_path):
    path = write(tmp_path, "k.yaml", 'expr: sin(x)\nat: {x: 1}\n"bad\\e]0;title\\a": 1\n')
    other = write(tmp_path, "fine.yaml", "expr: sin(x)\nat: {x: 1}\n")
    single = cli(path)
    assert single.exit_code == 2 and "\x1b" not in single.stderr and "bad\\x1b]0;title\\x07" in single.stderr
    several = cli(path, other, "--color", "never")
    assert several.exit_code == 2 and "\x1b" not in several.stdout and "bad\\x1b]0;title\\x07" in several.stdout
    document = json.loads(cli(path, "--json").stdout)
    assert "bad\x1b]0;title\x07" in document["results"][0]["error"]["message"]  # JSON keeps the exact text


def test_a_line_of_the_expression_that_starts_with_two_colons_is_not_a_command(cli, tmp_path):
    result = cli(write(tmp_path, "c.yaml", 'expr: "x +\\n::error::forged"\nat: {x: 1}\n'))
    assert result.exit_code == 2
    assert command_lines(result.stderr) == []


# ---- JUnit and JSON stay valid and exact ----

def test_junit_is_well_formed_xml_for_control_characters_and_surrogates(cli, tmp_path):
    bad_expr = write(tmp_path, "b.yaml", 'name: "broken\\0\\e"\nexpr: "x\\x01\\udc80"\nat: {x: 1}\n')
    result = cli(write(tmp_path, "hostile.yaml", HOSTILE), bad_expr, "--format", "junit")
    assert result.exit_code == 2
    root = xml_document(result.stdout)
    names = [case.get("name") for case in root.iter("testcase")]
    assert "red\\x1b[31m title\\x1b]0;title\\x07 bidi\\u202eevil nul\\x00 sep\\u2028 lone\\ud800" in names
    assert "broken\\x00\\x1b" in names
    assert root.find(".//failure") is not None and root.find(".//error") is not None


def test_a_legacy_command_in_a_name_is_inert_in_json_and_junit_yet_exact(cli, tmp_path):
    path = write(tmp_path, "l.yaml", 'name: "##[stop-commands]tok"\nexpr: x**2\nat: {x: 3}\nmanual: {x: x}\n')
    as_json = cli(path, "--json").stdout
    as_lines = cli(path, "--format", "jsonl").stdout
    as_junit = cli(path, "--format", "junit").stdout
    assert "##[" not in as_json + as_lines + as_junit
    assert json.loads(as_json)["results"][0]["name"] == "##[stop-commands]tok"
    assert json.loads(as_lines)["name"] == "##[stop-commands]tok"
    assert xml_document(as_junit).find(".//testcase").get("name") == "##[stop-commands]tok"


@pytest.fixture
def non_utf8_folder(tmp_path) -> Path:
    """A folder with a failing spec whose file name is not UTF-8 (bytes b'bad\\xff.yaml'), and a passing one."""
    folder = tmp_path / "specs"
    folder.mkdir()
    try:
        with open(os.path.join(os.fsencode(folder), b"bad\xff.yaml"), "w") as handle:
            handle.write("expr: x**2\nat: {x: 3}\nmanual: {x: x}\n")
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses non-UTF-8 file names")
    write(folder, "good.yaml", "expr: sin(x)\nat: {x: 1}\n")
    assert "bad\udcff.yaml" in os.listdir(folder)
    return folder


@pytest.mark.parametrize("output_format", FORMATS)
def test_a_non_utf8_file_name_renders_in_every_format(cli, non_utf8_folder, output_format):
    result = cli(str(non_utf8_folder), "--format", output_format)
    assert result.exit_code == 1, result.stdout + result.stderr  # the content: one wrong manual formula
    result.stdout_bytes.decode("utf-8")  # strict: nothing unencodable reached the stream
    if output_format == "json":
        files = [r["file"] for r in json.loads(result.stdout)["results"]]
        assert any(f.endswith("bad\\udcff.yaml") for f in files)  # spelled out: strict decoders refuse a lone surrogate
    elif output_format == "jsonl":
        assert any(json.loads(line)["file"].endswith("bad\\udcff.yaml") for line in result.stdout.splitlines())
    elif output_format == "junit":
        files = [case.get("file") for case in xml_document(result.stdout).iter("testcase")]
        assert any(f.endswith("bad\\udcff.yaml") for f in files)
    else:
        assert "bad\\udcff.yaml" in result.stdout
