"""The pytest plugin, driven through pytester: opt-in, one item per case, failures and errors."""

from __future__ import annotations

import pytest

GOOD = "name: good\nexpr: sin(x)\nat: {x: 1}\nmanual: {x: cos(x)}\ncases:\n  - {name: other point, at: {x: 2}}\n"
WRONG = "name: wrong\nexpr: x**2\nat: {x: 3}\nmanual: {x: x}\n"
INVALID_EXPR = "name: bad expression\nexpr: sinn(x)\nat: {x: 1}\n"
INVALID_FILE = "expr: x\nat: {x: one}\n"


@pytest.fixture
def specs(pytester):
    pytester.makefile(".yaml", good=GOOD, wrong=WRONG, invalid_expr=INVALID_EXPR)
    pytester.makefile(".yml", invalid_file=INVALID_FILE)
    return pytester


def test_without_the_flag_nothing_is_collected(specs):
    result = specs.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes()  # no tests at all
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_each_case_is_an_item_with_pass_fail_and_error(specs):
    result = specs.runpytest_subprocess("--gradcheck", "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=2, failed=1, errors=2)
    result.stdout.fnmatch_lines([
        "*invalid_expr.yaml:2:7: expr: unknown function 'sinn'*",
        "*invalid_file.yml:2:9: at.x: expected a number or a list of numbers, got 'one'*",
        "*fail: manual*",                                   # the discrepancy row
        "PASSED good.yaml::good",
        "PASSED good.yaml::other point",
        "FAILED wrong.yaml::wrong*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_only_a_passing_file(pytester):
    pytester.makefile(".yaml", good=GOOD)
    result = pytester.runpytest_subprocess("--gradcheck", "good.yaml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_junitxml_works_for_free(specs):
    result = specs.runpytest_subprocess("--gradcheck", "-p", "no:cacheprovider", "--junitxml=out.xml")
    result.assert_outcomes(passed=2, failed=1, errors=2)
    xml = (specs.path / "out.xml").read_text()
    assert 'name="wrong"' in xml and "<failure" in xml and "<error" in xml
