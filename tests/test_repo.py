"""Promises about the repository itself: README and CI agree, no execution path for input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcheck_cli.cli import main

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_opens_with_the_two_setup_commands():
    run, test = readme_commands()
    assert run.startswith("pip install") and run.endswith('gradcheck "sin(x**2)" --x 4')
    assert test.startswith("pip install") and "pytest" in test


def test_ci_runs_the_readme_test_command():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert readme_commands()[1] in ci_lines


def test_no_execution_path_for_user_input():
    # the builtins (re.compile is a regular expression's compile, not Python's)
    forbidden = re.compile(r"(?<![\w.])(eval|exec|compile|__import__)\(|\bbuiltins\b|"
                           r"yaml\.(load|unsafe_load|full_load)\(|"
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


def readme_examples(document: str = "README.md", after: int = 2) -> list[str]:
    """Every `gradcheck ...` command of a document's bash blocks (in the README, after the two set-up commands)."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / document).read_text(), re.S)[after:]
    text = "\n".join(blocks).replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("gradcheck ") and "|" not in line and " -o " not in line:
            commands.append(re.sub(r"\s+#.*$", "", line))
    return commands


@pytest.mark.slow
def test_every_readme_example_runs_and_passes(cli, monkeypatch):
    import shlex

    monkeypatch.chdir(ROOT)
    examples = readme_examples()
    assert len(examples) >= 15
    for command in examples:
        args = shlex.split(command)[1:]
        result = cli(*args)
        assert result.exit_code == 0, f"{command}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"


def test_the_seed_notebook_page_runs_each_command_it_shows(cli, monkeypatch):
    import shlex

    monkeypatch.chdir(ROOT)
    examples = readme_examples("docs/seed-notebook.md", after=0)
    assert len(examples) >= 6
    for command in examples:
        result = cli(*shlex.split(command)[1:])
        assert result.exit_code == 0, f"{command}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"


def test_links_in_the_docs_point_inside_the_repository():
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", document.read_text()):
            if "://" in target:
                continue
            path = (document.parent / target).resolve()
            assert path.is_relative_to(ROOT) and path.exists(), f"{document.name}: {target}"


def readme_console_examples() -> list[tuple[str, list[str]]]:
    """(command, the output lines the README shows for it) of every `$ gradcheck ...` in its console blocks."""
    examples = []
    for block in re.findall(r"```console\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            lines = chunk.replace("\\\n", " ").splitlines()
            examples.append((lines[0], lines[1:]))
    return examples


def _squeezed(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command, shown", readme_console_examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_readme_console_output_is_what_the_tool_prints(cli, monkeypatch, command, shown):
    """Each line the README shows is in the real output, whitespace aside; `...` elides."""
    import shlex

    monkeypatch.chdir(ROOT)
    args = shlex.split(command)
    assert args[0] == "gradcheck"
    result = CliRunner().invoke(main, args[1:], prog_name="gradcheck")
    actual = _squeezed(result.output)
    for line in shown:
        for fragment in (_squeezed(part) for part in line.split("...")):
            assert fragment in actual, f"{command}\nREADME shows: {fragment}\nit prints:\n{result.output}"
