"""Kinks: a point on relu's, abs's or clamp's corner has no derivative; the verdict says so."""

from __future__ import annotations

import pytest

from gradcheck_cli import check


@pytest.mark.parametrize("expr, x, left, right", [
    ("relu(x)", 0.0, 0.0, 1.0),
    ("abs(x)", 0.0, -1.0, 1.0),
    ("clamp(x, 0, 1)", 1.0, 1.0, 0.0),
    ("clamp(x, 0, 1)", 0.0, 0.0, 1.0),
    ("max(x, 2*x)", 0.0, 1.0, 2.0),
    ("min(x, 0)*3", 0.0, 3.0, 0.0),
])
def test_on_a_kink_the_verdict_is_undefined_with_both_one_sided_values(expr, x, left, right):
    result = check(expr, at={"x": x})
    row = result.gradients[0]
    assert result.status == "undefined" and row.status == "undefined"
    assert row.left == pytest.approx(left, abs=1e-6) and row.right == pytest.approx(right, abs=1e-6)
    assert row.finite_difference is None and row.disagrees == []


@pytest.mark.parametrize("expr, x", [("relu(x)", 1e-9), ("relu(x)", -1e-9), ("abs(x)", 1e-8), ("relu(x)**2", 0.0)])
def test_near_a_kink_or_where_both_sides_agree_it_passes(expr, x):
    result = check(expr, at={"x": x})
    assert result.status == "pass"
    row = result.gradients[0]
    assert abs(row.finite_difference - row.symbolic) <= row.fd_error


def test_undefined_exits_0_unless_strict(cli):
    assert cli("relu(x)", "--x", "0", "-q").exit_code == 0
    assert cli("relu(x)", "--x", "0", "-q", "--strict").exit_code == 1
    table = cli("relu(x)", "--x", "0", "--color", "never")
    assert "left 0 | right 1" in table.stdout and "undefined" in table.stdout


def test_an_answer_outside_the_one_sided_interval_is_wrong(cli):
    result = check("relu(x)", at={"x": 0.0}, manual={"x": "2"})
    assert result.status == "fail" and result.gradients[0].disagrees == ["manual"]
    assert check("relu(x)", at={"x": 0.0}, manual={"x": "0.5"}).status == "undefined"  # a subgradient


def test_only_the_kinked_element_of_a_vector_is_undefined():
    rows = check("sum(relu(x))", at={"x": [-1.0, 0.0, 1.0]}).gradients
    assert [r.status for r in rows] == ["pass", "undefined", "pass"]


def test_kinks_in_json(cli_json):
    code, doc = cli_json("abs(x)", "--x", "0")
    assert code == 0
    row = doc["results"][0]["gradients"][0]
    assert (row["status"], row["left"], row["right"], row["finite_difference"]) == ("undefined", -1.0, 1.0, None)
    assert doc["summary"]["undefined"] == 1


def test_a_tie_in_where_with_a_comparison_is_undefined_not_a_failure():
    rows = check("sum(where(x > y, x, y))", at={"x": [1.0, 2.0, 3.0], "y": [1.0, 5.0, 3.0]}).gradients
    assert [r.status for r in rows] == ["undefined", "pass", "undefined"] * 2
    assert check("where(x > 0, x, 2*x)", at={"x": 0.0}).status == "undefined"
