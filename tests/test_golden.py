"""Golden files: the command's whole output, compared exactly, for three cases in every format.

tests/golden/cases/ holds a passing case, a failing one (its name needs escaping in annotations) and one that is an
error; tests/golden/ holds what `gradcheck cases --format FORMAT` prints for them: the table at 140 columns (output
that is not a terminal) and at 80 (a terminal of 80 columns), colour off; json; jsonl; github; junit.  The run is
deterministic (-j 1, relative paths, polynomial cases whose float64 arithmetic is exact); only the version number
is replaced by <version>.

After an intended change of the output, regenerate the files and review their diff like any other change:

    GRADCHECK_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gradcheck_cli import __version__

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("GRADCHECK_UPDATE_GOLDEN") == "1"

FORMATS = {  # golden file: (options, the terminal's columns or None for output that is not a terminal)
    "table-140.txt": (["--format", "table", "--color", "never"], None),
    "table-80.txt": (["--format", "table", "--color", "never"], 80),
    "report.json": (["--format", "json"], None),
    "report.jsonl": (["--format", "jsonl"], None),
    "github.txt": (["--format", "github", "--color", "never"], None),
    "junit.xml": (["--format", "junit"], None),
}


def _normalised(text: str) -> str:
    return text.replace(f'"version": "{__version__}"', '"version": "<version>"')


@pytest.mark.parametrize("name", FORMATS)
def test_the_output_is_its_golden_file(cli, monkeypatch, name):
    options, columns = FORMATS[name]
    monkeypatch.chdir(GOLDEN)
    env = {"GITHUB_ACTIONS": None, "NO_COLOR": None, "FORCE_COLOR": None, "COLUMNS": None}  # piped: 140
    if columns:
        monkeypatch.setattr("gradcheck_cli.cli.is_tty", lambda: True)  # as on a terminal, whose width is COLUMNS
        env["COLUMNS"] = str(columns)
    result = cli("cases", "-j", "1", *options, env=env)
    assert result.exit_code == 2, result.stderr  # an error case: 2 wins over the failure's 1
    text = _normalised(result.stdout)
    if UPDATE:
        (GOLDEN / name).write_text(text)
    assert text == (GOLDEN / name).read_text()
    if columns:
        assert max(map(len, text.splitlines())) <= columns
