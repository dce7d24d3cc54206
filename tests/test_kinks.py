"""Kinks: a point on relu's, abs's or clamp's corner has no derivative; the verdict says so."""

from __future__ import annotations

import numpy as np
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


def test_kinks_are_found_on_the_linear_path_for_large_vectors():
    """Elementwise-then-reduce graphs with kinks take the O(n) diagonal run, which must still see the kink."""
    from gradcheck_cli.parser import parse
    from gradcheck_cli.plan import DiagonalRun, Plan
    from gradcheck_cli.shapes import ShapeMap

    x = np.linspace(-1.0, 1.0, 2001)  # x[1000] == 0: on relu's kink; clamp's kinks at +-0.5 are x[500], x[1500]
    text = "sum(relu(x)*x) + mean(clamp(x, -0.5, 0.5))"
    expression = parse(text)
    shapes = ShapeMap({"x": x.shape})
    assert DiagonalRun(Plan([expression.output], shapes), shapes, "x").supports
    result = check(text, at={"x": x})
    not_passing = {g.index[0]: g.status for g in result.gradients if g.status != "pass"}
    assert not_passing == {500: "undefined", 1500: "undefined"}  # relu(x)*x is smooth at 0
    row = next(g for g in result.gradients if g.index[0] == 500)
    # At x = -0.5, relu(x)*x is flat; clamp's slope goes 0 -> 1, divided by the mean's 2001.
    assert (row.left, row.right) == (pytest.approx(0.0, abs=1e-9), pytest.approx(1 / 2001, rel=1e-6))
