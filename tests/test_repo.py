"""Promises about the repository itself: README and CI agree, no execution path for input."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_opens_with_the_two_setup_commands():
    run, test = readme_commands()
    assert run.startswith("pip install") and run.endswith('gradcheck "sin(x**2)" --x 4')
    assert test.startswith("pip install") and "pytest" in test


def test_ci_runs_the_readme_test_command():
    ci_lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert readme_commands()[1] in ci_lines


def test_no_execution_path_for_user_input():
    forbidden = re.compile(r"\b(eval|exec|compile|__import__)\(|yaml\.(load|unsafe_load|full_load)\(|"
                           r"\b(pickle|marshal)\.loads?\(|os\.system\(|\bsubprocess\b")
    hits = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            for path in (ROOT / "gradcheck_cli").rglob("*.py")
            for n, line in enumerate(path.read_text().splitlines(), 1) if forbidden.search(line)]
    assert hits == []


def test_the_python_api_survives_importing_every_module():
    """A submodule named like a package attribute would shadow it (gradcheck_cli.check once did)."""
    import importlib
    import pkgutil

    import gradcheck_cli

    for module in pkgutil.walk_packages(gradcheck_cli.__path__, "gradcheck_cli."):
        if not module.name.endswith("__main__"):  # that one runs the command
            importlib.import_module(module.name)
    assert callable(gradcheck_cli.check)
    assert gradcheck_cli.check("x**2", at={"x": 3}).gradients[0].symbolic == 6.0


def readme_examples() -> list[str]:
    """Every `gradcheck ...` command of the README's bash blocks (after the two set-up commands)."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[2:]
    text = "\n".join(blocks).replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("gradcheck ") and "|" not in line and " -o " not in line:
            commands.append(re.sub(r"\s+#.*$", "", line))
    return commands


def test_every_readme_example_runs_and_passes(cli, monkeypatch):
    import shlex

    monkeypatch.chdir(ROOT)
    examples = readme_examples()
    assert len(examples) >= 15
    for command in examples:
        args = shlex.split(command)[1:]
        result = cli(*args)
        assert result.exit_code == 0, f"{command}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
