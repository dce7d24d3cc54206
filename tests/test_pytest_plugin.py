"""The pytest plugin: opt-in, one item per case, failures and errors, a loader fault, untrusted specs.

One real `pytest --gradcheck -rA --junitxml` process (`session`, run once for all the tests that read it) collects
every kind of spec file side by side, and each test asserts the items of its own files: in a fresh interpreter the
plugin comes from its entry point, a conftest that breaks the loader reaches no other test, and a case's function
is imported from PYTHONPATH.  The runs that need other options or files (no flag, one file, -v, the no-import
option and ini key) run in-process under pytester: they import no user code and pay no second torch import.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

# What an in-process run imports, imported here first so that pytester's snapshot of sys.modules keeps it: numpy's
# and torch's C extensions cannot be imported twice in one process, and hypothesis (its plugin's summary) would be
# imported anew by every run.
import hypothesis  # noqa: F401
import numpy  # noqa: F401
import pytest
import torch  # noqa: F401

import gradcheck_cli.run.case  # noqa: F401
import gradcheck_cli.spec.spec_file  # noqa: F401

GOOD = "name: good\nexpr: sin(x)\nat: {x: 1}\nmanual: {x: cos(x)}\ncases:\n  - {name: other point, at: {x: 2}}\n"
WRONG = "name: wrong\nexpr: x**2\nat: {x: 3}\nmanual: {x: x}\n"
INVALID_EXPR = "name: bad expression\nexpr: sinn(x)\nat: {x: 1}\n"
INVALID_FILE = "expr: x\nat: {x: one}\n"
PLAIN = "expr: sin(x)\nat: {x: 1}\nmanual: {x: cos(x)}\n"
BAD_NUMBER = "expr: x\nat: {x: 1}\norder: 1.9\n"
WIDE = "expr: x\nsample: {n: 2, seed: 1, domain: {x: [-1e308, 1e308]}}\n"
IMPORTS = "expr: x\nat: {x: 1}\nfunction: marker_module:f\n"

BREAK_LOAD = """
import gradcheck_cli.spec.spec_file as spec_file

_load = spec_file.load


def load(path, *args, **kwargs):
    if path.name == "boom.yaml":
        raise RuntimeError("kaboom")
    return _load(path, *args, **kwargs)


spec_file.load = load
"""

MARKER_MODULE = """
from pathlib import Path

Path("imported.marker").write_text("user code ran")


def f(x):
    return x
"""

SESSION_FILES = {
    "good.yaml": GOOD, "wrong.yaml": WRONG, "invalid_expr.yaml": INVALID_EXPR, "invalid_file.yml": INVALID_FILE,
    "a_good.yaml": PLAIN, "boom.yaml": PLAIN, "bad_number.yaml": BAD_NUMBER, "conftest.py": BREAK_LOAD,
    "wide.yaml": WIDE, "imports.yaml": IMPORTS, "marker_module.py": MARKER_MODULE,
}
SUMMARY_LINE = re.compile(r"(PASSED|FAILED|ERROR) (.+?)(?: - .*)?")


def _run_session(folder) -> dict:
    for name, text in SESSION_FILES.items():
        (folder / name).write_text(text)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}  # not an xdist worker
    env |= {"PYTHONPATH": str(folder), "PY_COLORS": "0"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "--gradcheck", "-p", "no:cacheprovider", "-rA",
                           "--junitxml=out.xml", f"--basetemp={folder / 'tmp'}"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    junit, marker = folder / "out.xml", folder / "imported.marker"
    return {"ret": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
            "duration": time.perf_counter() - start, "junit": junit.read_text() if junit.exists() else None,
            "marker": marker.read_text() if marker.exists() else None}


@pytest.fixture
def session(once):
    """The one subprocess run over SESSION_FILES: (its RunResult, the outcome of each item by id, the run)."""
    run = once("pytest-plugin-session", _run_session)
    result = pytest.RunResult(run["ret"], run["stdout"].splitlines(), run["stderr"].splitlines(), run["duration"])
    outcomes = {}
    for line in result.outlines:
        match = SUMMARY_LINE.fullmatch(line)
        if match:
            outcomes[match[2]] = match[1]
    return result, outcomes, run


def _of_file(outcomes: dict, file: str) -> dict:
    return {item: outcome for item, outcome in outcomes.items() if item.startswith(f"{file}::")}


@pytest.fixture
def inprocess(pytester, monkeypatch):
    """inprocess(*args): pytest run in this process, in pytester's folder, as if this were not an xdist worker."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # pytest-benchmark would warn in the inner run
    return lambda *args: pytester.runpytest_inprocess(*args, "-p", "no:cacheprovider")


@pytest.fixture
def specs(pytester):
    pytester.makefile(".yaml", good=GOOD, wrong=WRONG, invalid_expr=INVALID_EXPR)
    pytester.makefile(".yml", invalid_file=INVALID_FILE)
    return pytester


def test_without_the_flag_nothing_is_collected(specs, inprocess):
    result = inprocess()
    result.assert_outcomes()  # no tests at all
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.mark.slow
def test_each_case_is_an_item_with_pass_fail_and_error(session):
    result, outcomes, _ = session
    result.assert_outcomes(passed=6, failed=1, errors=4)  # the whole session: every file's items, nothing else
    assert {**_of_file(outcomes, "good.yaml"), **_of_file(outcomes, "wrong.yaml"),
            **_of_file(outcomes, "invalid_expr.yaml"), **_of_file(outcomes, "invalid_file.yml")} == {
        "good.yaml::good": "PASSED", "good.yaml::other point": "PASSED", "wrong.yaml::wrong": "FAILED",
        "invalid_expr.yaml::bad expression": "ERROR", "invalid_file.yml::(invalid spec file)": "ERROR"}
    result.stdout.fnmatch_lines([
        "*invalid_expr.yaml:2:7: expr: unknown function 'sinn'*",
        "*invalid_file.yml:2:9: at.x: expected a number or a list of numbers, got 'one'*",
        "*fail: manual*",                                   # the discrepancy row
        "PASSED good.yaml::good",
        "PASSED good.yaml::other point",
        "FAILED wrong.yaml::wrong*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_only_a_passing_file(pytester, inprocess):
    pytester.makefile(".yaml", good=GOOD)
    result = inprocess("--gradcheck", "good.yaml")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.slow
def test_junitxml_works_for_free(session):
    _, _, run = session
    xml = run["junit"]
    assert xml is not None, run["stdout"][-3000:] + run["stderr"][-3000:]
    assert 'name="wrong"' in xml and "<failure" in xml and "<error" in xml


@pytest.mark.slow
def test_a_spec_that_breaks_the_loader_is_an_error_item_not_a_collection_abort(session):
    result, outcomes, _ = session
    assert {**_of_file(outcomes, "a_good.yaml"), **_of_file(outcomes, "boom.yaml"),
            **_of_file(outcomes, "bad_number.yaml")} == {
        "a_good.yaml::a_good": "PASSED", "boom.yaml::(invalid spec file)": "ERROR",
        "bad_number.yaml::(invalid spec file)": "ERROR"}
    result.stdout.fnmatch_lines([
        "*bad_number.yaml:3:8: order: expected 1 or 2, got 1.9*",
        "*internal error while reading boom.yaml: RuntimeError: kaboom*",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "Interrupted" not in result.stdout.str() and "Traceback" not in result.stdout.str()


def test_with_verbose_a_loader_fault_shows_its_traceback(pytester, inprocess, monkeypatch):
    from gradcheck_cli.spec import spec_file

    monkeypatch.setattr(spec_file, "load", spec_file.load)  # put back after the in-process run's conftest
    pytester.makefile(".yaml", boom=PLAIN)
    pytester.makeconftest(BREAK_LOAD)
    verbose = inprocess("--gradcheck", "-v", "boom.yaml")
    verbose.assert_outcomes(errors=1)
    verbose.stdout.fnmatch_lines(["*internal error while reading boom.yaml*", "Traceback*", "*kaboom*"])


@pytest.mark.slow
def test_a_domain_wider_than_float64_is_collected(session):
    _, outcomes, _ = session
    assert list(_of_file(outcomes, "wide.yaml").values()) == ["PASSED", "PASSED"]


@pytest.mark.parametrize("how", ["option", "ini"])
def test_gradcheck_no_import_refuses_a_function_before_importing_it(pytester, inprocess, how):
    pytester.makepyfile(marker_module=MARKER_MODULE)
    pytester.makefile(".yaml", case=IMPORTS, plain=PLAIN)
    args = ["--gradcheck"]
    if how == "option":
        args.append("--gradcheck-no-import")
    else:
        pytester.makeini("[pytest]\ngradcheck_no_import = true\n")
    result = inprocess(*args)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*case.yaml:3:11: function: *nothing was imported*"])
    assert not (pytester.path / "imported.marker").exists()


@pytest.mark.slow
def test_without_no_import_the_function_is_imported(session):
    _, outcomes, run = session
    assert _of_file(outcomes, "imports.yaml") == {"imports.yaml::imports": "PASSED"}
    assert run["marker"] == "user code ran"
