"""--strict agrees everywhere (issue 19): an inconclusive or undefined verdict that fails the run under --strict is a
failure in the exit code, the summary line (its mark and colour), JSON's `summary`, JUnit's `<failure>`, GitHub's
`::error` and the pytest plugin (`--gradcheck-strict`, `gradcheck_strict = true`); without it, it is reported and
passes.  One rule (report.fails_the_run) decides for all of them."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import pytest

from gradcheck_cli.cli import exit_code
from gradcheck_cli.lang.ops import OPS
from gradcheck_cli.report import ReportSettings, reporter
from gradcheck_cli.verdict.compare import CaseResult, Status

KINK = ("abs(x)", "--x", "0")  # undefined: the point sits on a kink
KINK_SPEC = "name: kink\nexpr: abs(x)\nat: {x: 0}\n"
GOOD_SPEC = "name: good\nexpr: sin(x)\nat: {x: 1}\n"
INCONCLUSIVE_SPEC = ("name: unsettled\nexpr: tanh(W @ x)\nat: {W: [[1, 2], [0.5, -1]], x: [0.3, 0.1]}\n"
                     "fast: true\nseed: 5\n")
RED, GREEN = "\x1b[1;31m", "\x1b[1;32m"


@pytest.fixture
def broken_tanh(monkeypatch):
    """tanh's rule made wrong: under --fast (no high-precision referee) symbolic and finite differences then disagree,
    and the case is inconclusive (as in test_projections)."""
    monkeypatch.setitem(OPS, "tanh", dataclasses.replace(OPS["tanh"], partials=(lambda x, out: 1 + out**2,)))


def _last_line(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


# ---- the command: summary line, JSON, JUnit, GitHub ----


def test_the_summary_line_fails_under_strict(cli):
    plain = cli(*KINK, "--color", "never")
    assert plain.exit_code == 0 and _last_line(plain.stdout) == "✓ 0 passed, 1 undefined"
    strict = cli(*KINK, "--strict", "--color", "never")
    assert strict.exit_code == 1
    assert _last_line(strict.stdout).startswith("✗ 0 passed, 1 undefined (failing under --strict) — d/dx is undefined: "
                                                "the point sits on a kink")


def test_the_summary_line_is_red_under_strict(cli):
    assert GREEN in _last_line(cli(*KINK, "--color", "always").stdout)
    strict = _last_line(cli(*KINK, "--strict", "--color", "always").stdout)
    assert RED in strict and GREEN not in strict


def test_a_folder_run_names_the_cases_that_fail_under_strict(cli, tmp_path):
    (tmp_path / "a_good.yaml").write_text(GOOD_SPEC)
    (tmp_path / "b_kink.yaml").write_text(KINK_SPEC)
    plain = cli(str(tmp_path), "--color", "never")
    assert plain.exit_code == 0 and _last_line(plain.stdout) == "✓ 1 passed, 1 undefined"
    strict = cli(str(tmp_path), "--strict", "--color", "never", "-q")
    assert strict.exit_code == 1
    assert " ".join(strict.stdout.split()) == (  # -q: only the summary, which names the failing case (wrapped)
        f"✗ 1 passed, 1 undefined (failing under --strict) kink ({tmp_path / 'b_kink.yaml'}:2): d/dx is undefined: "
        "the point sits on a kink: the one-sided derivatives are -1 and 1")


def test_json_says_strict_and_what_fails_the_run(cli_json):
    code, plain = cli_json(*KINK)
    assert code == 0 and plain["settings"]["strict"] is False
    assert plain["summary"] == {"total": 1, "passed": 0, "failed": 0, "inconclusive": 0, "undefined": 1, "errors": 0,
                                "failing": 0}
    code, strict = cli_json(*KINK, "--strict")
    assert code == 1 and strict["settings"]["strict"] is True
    assert strict["summary"]["failing"] == 1 and strict["summary"]["undefined"] == 1
    assert strict["results"][0]["status"] == "undefined"  # the verdict itself is unchanged: the run's rule is stricter


def test_junit_counts_a_failure_under_strict(cli):
    plain = ET.fromstring(cli(*KINK, "--format", "junit").stdout).find("testsuite")
    assert plain.get("failures") == "0" and plain.find("testcase/failure") is None
    assert "is undefined" in plain.find("testcase/system-out").text
    strict = cli(*KINK, "--format", "junit", "--strict")
    assert strict.exit_code == 1
    suite = ET.fromstring(strict.stdout).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "1", "0")
    failure = suite.find("testcase/failure")
    assert failure.get("type") == "undefined" and "d/dx is undefined" in failure.get("message")
    assert "left -1 | right 1" in failure.text  # the case's table, as for any failure


def test_github_annotates_an_error_under_strict(cli):
    plain = cli(*KINK, "--format", "github", "--color", "never")
    assert plain.stdout.startswith("::warning title=gradcheck%3A abs(x)::d/dx is undefined")
    strict = cli(*KINK, "--format", "github", "--color", "never", "--strict")
    assert strict.exit_code == 1 and strict.stdout.startswith("::error title=gradcheck%3A abs(x)::d/dx is undefined")
    assert "✗ 0 passed, 1 undefined (failing under --strict)" in strict.stdout  # the table beside it agrees


def test_an_inconclusive_case_fails_everywhere_under_strict(cli, cli_json, broken_tanh, tmp_path):
    spec = tmp_path / "unsettled.yaml"
    spec.write_text(INCONCLUSIVE_SPEC)
    code, plain = cli_json(str(spec))
    assert code == 0 and plain["results"][0]["status"] == "inconclusive" and plain["summary"]["failing"] == 0
    code, strict = cli_json(str(spec), "--strict")
    assert code == 1 and strict["summary"]["inconclusive"] == 1 and strict["summary"]["failing"] == 1
    table = cli(str(spec), "--strict", "--color", "never")
    assert table.exit_code == 1 and "✗ 0 passed, 1 inconclusive (failing under --strict) — " in table.stdout
    suite = ET.fromstring(cli(str(spec), "--strict", "--format", "junit").stdout).find("testsuite")
    assert suite.get("failures") == "1" and suite.find("testcase/failure").get("type") == "inconclusive"
    assert cli(str(spec), "--strict", "--format", "github").stdout.startswith("::error ")


def test_strict_keeps_2_for_errors_and_exit_zero_still_exits_0(cli, tmp_path):
    (tmp_path / "kink.yaml").write_text(KINK_SPEC)
    assert cli(str(tmp_path), "--strict", "--exit-zero", "-q").exit_code == 0
    (tmp_path / "broken.yaml").write_text("expr: x**\nat: {x: 3}\n")
    assert cli(str(tmp_path), "--strict", "-q").exit_code == 2


# ---- one rule: every reporter and the exit code read it ----


@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
@pytest.mark.parametrize("status", [s.value for s in Status if s is not Status.ERROR])
def test_every_reporter_and_the_exit_code_agree_on_what_fails(status, strict):
    from gradcheck_cli.report import fails_the_run

    result = CaseResult(name="case", expr="x", status=status)
    settings = ReportSettings(color="never", strict=strict)
    fails = fails_the_run(status, strict)
    assert fails == (status == "fail" or (strict and status in ("inconclusive", "undefined")))
    assert exit_code([result], strict=strict) == (1 if fails else 0)
    assert settings.fails(status) == fails
    assert (reporter("table").render_summary([result], settings).startswith("✗")) == fails
    assert (json.loads(reporter("json").render([result], settings))["summary"]["failing"] == 1) == fails
    suite = ET.fromstring(reporter("junit").render([result], settings)).find("testsuite")
    assert (suite.get("failures") == "1") == fails == (suite.find("testcase/failure") is not None)
    assert reporter("github").render([result], settings).startswith("::error ") == fails


# ---- the pytest plugin ----


@pytest.fixture
def inprocess(pytester, monkeypatch):
    """inprocess(*args): pytest run in this process, in pytester's folder, as if this were not an xdist worker."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    return lambda *args: pytester.runpytest_inprocess(*args, "-p", "no:cacheprovider")


def test_the_plugin_skips_an_undefined_case_with_its_sentence(pytester, inprocess):
    pytester.makefile(".yaml", kink=KINK_SPEC, good=GOOD_SPEC)
    result = inprocess("--gradcheck", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["SKIPPED [[]1] kink.yaml:2: undefined: d/dx is undefined: the point sits on a kink*"])


@pytest.mark.parametrize("how", ["option", "ini"])
def test_the_plugin_fails_an_undefined_case_under_strict(pytester, inprocess, how):
    pytester.makefile(".yaml", kink=KINK_SPEC, good=GOOD_SPEC)
    args = ["--gradcheck"]
    if how == "option":
        args.append("--gradcheck-strict")
    else:
        pytester.makeini("[pytest]\ngradcheck_strict = true\n")
    result = inprocess(*args)
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*undefined under gradcheck's strict mode: d/dx is undefined: the point sits on a "
                                 "kink*", "*left -1 | right 1*"])


def test_the_plugin_skips_an_inconclusive_case_and_fails_it_under_strict(pytester, inprocess, broken_tanh):
    pytester.makefile(".yaml", unsettled=INCONCLUSIVE_SPEC)
    plain = inprocess("--gradcheck", "-rs")
    plain.assert_outcomes(skipped=1)
    plain.stdout.fnmatch_lines(["SKIPPED * inconclusive: *is inconclusive: *"])
    strict = inprocess("--gradcheck", "--gradcheck-strict")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*inconclusive under gradcheck's strict mode: *is inconclusive: *"])
