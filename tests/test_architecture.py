"""The stages' import order (pyproject.toml, [tool.importlinter]) holds, and the check would catch a breach.

import-linter reads the contracts; the second test plants a wrong-way import (the language importing a
reporter) in a copy of the package and shows the same command fails on it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports(folder: Path) -> subprocess.CompletedProcess:
    """`lint-imports` run in `folder`, which holds pyproject.toml and the gradcheck_cli it checks."""
    code = ("import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command(['--no-cache']))")
    return subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"})


@pytest.mark.slow
def test_the_stages_import_only_downwards():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.slow
def test_a_wrong_way_import_breaks_the_check(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "gradcheck_cli", tmp_path / "gradcheck_cli",
                    ignore=shutil.ignore_patterns("__pycache__"))
    ops = tmp_path / "gradcheck_cli" / "lang" / "ops" / "__init__.py"
    ops.write_text(ops.read_text() + "\nfrom ...report import table  # planted: the language importing a reporter\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "gradcheck_cli.lang.ops -> gradcheck_cli.report.table" in result.stdout


@pytest.mark.slow
def test_loading_a_sampled_spec_does_not_import_the_check(tmp_path):
    spec = tmp_path / "sampled.yaml"
    spec.write_text("expr: log(x)\nsample: {n: 5, seed: 0, domain: {x: [-1, 1]}}\n")
    code = ("import sys; from pathlib import Path; from gradcheck_cli.spec.spec_file import load; "
            f"specs = load(Path({str(spec)!r})); "
            "print(len(specs), all(s.at['x'] > 0 for s in specs), 'gradcheck_cli.run.case' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["5", "True", "False"], result.stderr


@pytest.mark.slow
def test_ruff_finds_nothing():
    """The lint configured in pyproject.toml ([tool.ruff]) passes on the package, tests, bench, fuzz and examples."""
    command = [sys.executable, "-m", "ruff", "check", "gradcheck_cli", "tests", "bench", "fuzz", "examples"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
