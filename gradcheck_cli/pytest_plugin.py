"""pytest plugin: `pytest --gradcheck expressions/` collects each spec case as a test.

Opt-in: without `--gradcheck` nothing is collected, so installing gradcheck
never changes an unrelated test run.  A discrepancy fails the test with the
case's table; a spec file that cannot be loaded, for whatever reason, is one
item that errors (never a collection error, which would stop the whole run);
a case whose expression or point is invalid is an error in setup.
`--gradcheck-no-import` (or `gradcheck_no_import = true` in the ini file)
collects untrusted specs safely: a case naming a function errors, importing
nothing.  pytest-xdist and --junitxml work on these items like on any others.

An inconclusive or undefined case is skipped, with its sentence as the reason
(`-rs` lists them; JUnit XML gets a <skipped>): nothing was found wrong, but
nothing was confirmed either, and a pytest user reads "skipped" as "not
verified", as the command's summary counts them apart from the passed ones.
`--gradcheck-strict` (or `gradcheck_strict = true`) fails them instead, by the
rule the command's --strict follows (report.fails_the_run).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from .core.errors import GradcheckError, InternalError
from .core.safe_text import printable
from .spec.targets import SUFFIXES
from .verdict.compare import CaseResult

NO_IMPORT_HELP = "never import user code: a case naming a function is an error"
STRICT_HELP = "inconclusive and undefined cases fail (without it they are skipped, with the reason)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck")
    group.addoption("--gradcheck", action="store_true", default=False,
                    help="collect gradcheck spec files (*.yaml, *.yml) as tests")
    group.addoption("--gradcheck-no-import", action="store_true", default=False, help=NO_IMPORT_HELP)
    parser.addini("gradcheck_no_import", type="bool", default=False, help=NO_IMPORT_HELP)
    group.addoption("--gradcheck-strict", action="store_true", default=False, help=STRICT_HELP)
    parser.addini("gradcheck_strict", type="bool", default=False, help=STRICT_HELP)


PROJECT = pytest.StashKey["Config"]()  # the project's [tool.gradcheck] (core.config), read once per run
SKIPPED = pytest.StashKey[list]()  # the YAML files left out (spec.collect.Skipped), listed with -v


def pytest_configure(config: pytest.Config) -> None:
    """Read [tool.gradcheck] as the command does, from the folder pytest was started in."""
    if not config.getoption("gradcheck", False):
        return
    from .core.config import ConfigError, load, missing_paths

    try:
        project = config.stash[PROJECT] = load(Path(config.invocation_params.dir))
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None
    missing = missing_paths(project) if _uses_project_paths(config, project) else []
    if missing:  # as pytest refuses a path on its command line that is not there
        raise pytest.UsageError("\n".join(missing))
    config.stash[SKIPPED] = []


def pytest_collect_file(file_path, parent):
    """A YAML file the command would check in the same folder (spec.collect: not hidden, not excluded, a spec); a
    file named on pytest's command line always is."""
    config = parent.config
    if not config.getoption("gradcheck") or file_path.suffix not in SUFFIXES:
        return None
    if not parent.session.isinitpath(file_path):
        from .spec.collect import HIDDEN, Skipped, skip_reason

        project = config.stash[PROJECT]
        given = _given_folder(config, file_path)
        reason = skip_reason(file_path, project.exclude, project.root, given) \
            or _outside_paths(config, project, file_path)
        if reason is not None:
            if given is not None and reason != HIDDEN:  # as the command lists them: not the files pytest offers
                # beside the folders it walks through to reach those given, nor hidden ones
                config.stash[SKIPPED].append(Skipped(file_path, reason))
            return None
    return SpecFile.from_parent(parent, path=file_path)


def pytest_report_collectionfinish(config: pytest.Config, start_path, items) -> list[str]:
    """With -v, the YAML files left out and why, as the command lists them."""
    if not config.getoption("gradcheck") or config.getoption("verbose") <= 0:
        return []
    return [f"gradcheck skipped {_relative(s.path, config.rootpath)}: {s.reason}" for s in config.stash[SKIPPED]]


def _outside_paths(config: pytest.Config, project, file_path: Path) -> str | None:
    """With no paths on pytest's command line, spec files are collected only below [tool.gradcheck] paths, the
    folders a bare `gradcheck` checks."""
    if not _uses_project_paths(config, project):
        return None
    folders = [(project.root / path).resolve() for path in project.paths]
    if any(file_path.resolve().is_relative_to(folder) for folder in folders):
        return None
    return f"outside [tool.gradcheck] paths ({', '.join(project.paths)})"


def _uses_project_paths(config: pytest.Config, project) -> bool:
    """Whether spec files are collected below [tool.gradcheck] paths: the project has them, and pytest's command
    line names no paths of its own."""
    source = getattr(config, "args_source", None)  # pytest >= 7.4
    return bool(project.paths) and source is not None and source != pytest.Config.ArgsSource.ARGS


def _given_folder(config: pytest.Config, file_path: Path) -> Path | None:
    """The folder named on pytest's command line that holds `file_path` (the innermost), if any."""
    named = [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]
    holding = [folder for folder in named if file_path.resolve().is_relative_to(folder)]
    return max(holding, key=lambda folder: len(folder.parts), default=None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A case skipped as inconclusive or undefined is reported at its line of the spec file (as `-rs` lists it),
    not at the line of this plugin that skipped it."""
    outcome = yield
    report = outcome.get_result()
    if isinstance(item, CaseItem) and report.skipped and isinstance(report.longrepr, tuple):
        path, line = item.reportinfo()[:2]
        report.longrepr = (str(path), line + 1, report.longrepr[2])


class SpecFile(pytest.File):
    def collect(self):
        from .spec.spec_file import load

        display = _relative(self.path, self.config.rootpath)
        try:
            specs = load(self.path, display=display, defaults=self.config.stash[PROJECT].spec_defaults)
        except Exception as error:  # a fault of gradcheck's own too: one item errors, the other files still run
            if not isinstance(error, GradcheckError):
                error = InternalError.from_exception(error, f"reading {display}")
            yield InvalidSpecItem.from_parent(self, name="(invalid spec file)", error=error)
            return
        if self.config.getoption("gradcheck_no_import") or self.config.getini("gradcheck_no_import"):
            specs = [replace(spec, allow_import=False) for spec in specs]
        names: dict[str, int] = {}
        for spec in specs:
            name = printable(spec.display_name)  # data, never markup: no newline or escape in a test id
            names[name] = names.get(name, 0) + 1
            unique = name if names[name] == 1 else f"{name} #{names[name]}"
            yield CaseItem.from_parent(self, name=unique, spec=spec)


class CaseFailure(Exception):
    """A case that fails: a gradient discrepancy, or under strict an inconclusive or undefined verdict; carries
    the result for the report."""

    def __init__(self, result: CaseResult):
        super().__init__(result.name)
        self.result = result


class CaseItem(pytest.Item):
    def __init__(self, *, spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.result: CaseResult | None = None

    def setup(self) -> None:
        from .run.case import run

        self.result = run(self.spec)
        if self.result.status == "error":  # reported as an error, being in setup; no traceback
            pytest.fail(self.result.rendered_error or self.result.error["message"], pytrace=False)

    def runtest(self) -> None:
        from .report import fails_the_run

        status = self.result.status
        if fails_the_run(status, self.strict):
            raise CaseFailure(self.result)
        if status != "pass":  # inconclusive or undefined: not verified, so not a pass; the reason says why
            from .report.text import failure_sentence

            pytest.skip(f"{status}: {failure_sentence(self.result)}")

    @property
    def strict(self) -> bool:
        return bool(self.config.getoption("gradcheck_strict") or self.config.getini("gradcheck_strict")
                    or self.config.stash[PROJECT].strict)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseFailure):
            from .report.table import plain_case
            from .report.text import failure_sentence

            result = excinfo.value.result
            if result.status == "fail":
                return plain_case(result)
            return f"{result.status} under gradcheck's strict mode: {failure_sentence(result)}\n{plain_case(result)}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, (self.spec.line or 1) - 1, f"gradcheck: {self.name}"



class InvalidSpecItem(pytest.Item):
    """Stands for a spec file that could not be loaded: an error in setup, with the message."""

    def __init__(self, *, error: GradcheckError, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def setup(self) -> None:
        pytest.fail(self.message(), pytrace=False)

    def runtest(self) -> None:  # never reached: setup fails
        pytest.fail(self.message(), pytrace=False)

    def message(self) -> str:
        """The error; with -v, the traceback of a fault of gradcheck's own too, for its bug report."""
        trace = getattr(self.error, "trace", None)
        verbose = trace and self.config.getoption("verbose") > 0
        return f"{self.error.render()}\n{trace}" if verbose else self.error.render()

    def reportinfo(self):
        return self.path, None, f"gradcheck: {self.path.name}"


def _relative(path, root) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
