"""Kinks: a point on relu's, abs's or clamp's corner has no derivative; the verdict says so."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_row

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
    if row.finite_difference is None:  # on the kink itself: both one-sided derivatives, equal, are the reference
        assert row.reference_source in ("one_sided", "precise") and row.left == pytest.approx(row.right, abs=1e-9)
        assert row.reference == pytest.approx(row.symbolic, abs=1e-9)
    else:
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


@pytest.mark.slow
def test_kinks_are_found_on_the_linear_path_for_large_vectors():
    """Elementwise-then-reduce graphs with kinks take the O(n) diagonal run, which must still see the kink."""
    from gradcheck_cli.lang.parser import parse
    from gradcheck_cli.lang.plan import DiagonalRun, Plan
    from gradcheck_cli.lang.shapes import ShapeMap

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


@pytest.mark.parametrize("expr, x, left, right", [
    ("amax(x)", [1.0, 1.0], 0.0, 1.0),
    ("max(x)", [1.0, 1.0], 0.0, 1.0),
    ("amin(x)", [2.0, 2.0], 1.0, 0.0),  # x_k - h becomes the unique minimum, x_k + h leaves it
    ("min(x)", [-3.0, -3.0, -3.0], 1.0, 0.0),
])
def test_a_tie_of_amax_or_amin_is_a_kink_for_every_tied_element(expr, x, left, right):
    result = check(expr, at={"x": x})
    assert result.status == "undefined"
    for row in result.gradients:
        assert row.status == "undefined" and row.finite_difference is None
        assert row.left == pytest.approx(left, abs=1e-6) and row.right == pytest.approx(right, abs=1e-6)
        assert row.symbolic == row.autograd == pytest.approx(1 / len(x))  # torch's convention: an even split


def test_only_the_tied_elements_of_a_reduction_are_kinks():
    rows = check("amax(x)", at={"x": [1.0, 1.0, 0.5]}).gradients
    assert [r.status for r in rows] == ["undefined", "undefined", "pass"]
    tied, other = gradient_row(rows, "x", [1]), gradient_row(rows, "x", [2])
    assert (tied.left, tied.right) == (pytest.approx(0.0, abs=1e-6), pytest.approx(1.0, abs=1e-6))
    assert other.finite_difference == pytest.approx(0.0, abs=1e-9)  # an ordinary central difference
    assert other.left is None and other.right is None


@pytest.mark.parametrize("expr, x, gradient", [
    ("amax(x)", [1.0, 2.0, 0.5], [0.0, 1.0, 0.0]),
    ("amin(x)", [1.0, 1.0, 0.5], [0.0, 0.0, 1.0]),  # the tie is not at the minimum
])
def test_a_unique_extremum_stays_smooth(expr, x, gradient):
    result = check(expr, at={"x": x})
    assert result.status == "pass"
    assert [r.finite_difference for r in result.gradients] == [pytest.approx(v, abs=1e-9) for v in gradient]
    assert all(r.left is None and r.right is None for r in result.gradients)


def test_ties_along_an_axis_count_only_within_their_slice():
    """amax(X, 0) of [[1, 2], [1, 3]]: column 0 is tied, column 1 has a unique maximum."""
    rows = check("sum(amax(X, 0))", at={"X": [[1.0, 2.0], [1.0, 3.0]]}).gradients
    by_index = {tuple(r.index): r for r in rows}
    for tied in ((0, 0), (1, 0)):
        row = by_index[tied]
        assert row.status == "undefined" and row.symbolic == pytest.approx(0.5)
        assert (row.left, row.right) == (pytest.approx(0.0, abs=1e-6), pytest.approx(1.0, abs=1e-6))
    assert by_index[(0, 1)].status == by_index[(1, 1)].status == "pass"
    assert by_index[(0, 1)].finite_difference == pytest.approx(0.0, abs=1e-9)
    assert by_index[(1, 1)].finite_difference == pytest.approx(1.0, abs=1e-9)
    # Along axis 1 the same matrix has no tie: every row of the Jacobian is smooth.
    assert check("sum(amax(X, 1))", at={"X": [[1.0, 2.0], [1.0, 3.0]]}).status == "pass"


def test_a_step_that_changes_the_extremum_crosses_a_kink_and_one_that_breaks_a_tie_leaves_it():
    from gradcheck_cli.engines.finite_diff import kink_changes
    from gradcheck_cli.lang.parser import parse
    from gradcheck_cli.lang.plan import Plan
    from gradcheck_cli.lang.shapes import ShapeMap

    def watch(x, perturbed):
        plan = Plan([parse("amax(X, 1)").output], ShapeMap({"X": np.shape(x)}))
        base = plan.run({"X": np.asarray(x)[None]})
        values = plan.run({"X": np.asarray(perturbed)})
        crossed, at_kink = kink_changes(plan, base, values, len(perturbed))
        return crossed.tolist(), at_kink.tolist()

    close = [[1.0, 1.0 + 1e-5], [0.0, 5.0]]  # row 0: two elements 1e-5 apart
    steps = [[[1.0 + 1e-3, 1.0 + 1e-5], [0.0, 5.0]],  # x[0, 0] overtakes x[0, 1]: crossed
             [[1.0 + 1e-6, 1.0 + 1e-5], [0.0, 5.0]],  # still below: nothing
             [[1.0, 1.0 + 1e-5], [0.0, 5.0 - 1.0]]]  # row 1 keeps its maximum: nothing
    assert watch(close, steps) == ([True, False, False], [False, False, False])
    tied = [[2.0, 2.0], [0.0, 5.0]]
    steps = [[[2.0 - 1e-3, 2.0], [0.0, 5.0]], [[2.0, 2.0], [1.0, 5.0]]]  # break the tie; move an untied element
    assert watch(tied, steps) == ([False, False], [True, False])


def test_extremum_switches_are_zero_exactly_at_ties():
    from gradcheck_cli.lang.ops import OPS

    x = np.array([[[1.0, 2.0], [1.0, 3.0]]])  # batched: one point of shape (2, 2)
    (over_all,) = OPS["amax"].kinks(x, None)
    assert over_all.tolist() == [[[-2.0, -1.0], [-2.0, 1.0]]]
    (columns,) = OPS["amax"].kinks(x, (0,))
    assert columns.tolist() == [[[0.0, -1.0], [0.0, 1.0]]]
    (rows,) = OPS["amin"].kinks(x, (-1,))
    assert rows.tolist() == [[[1.0, -1.0], [2.0, -2.0]]]
    assert OPS["amax"].kinks(np.array([3.0]), None) == []  # amax of a scalar: no kink


def test_a_tie_of_amax_is_found_on_the_linear_path():
    """amax over a scalar the O(n) diagonal run computes densely (after the sum) is watched there too."""
    from gradcheck_cli.lang.parser import parse
    from gradcheck_cli.lang.plan import DiagonalRun, Plan
    from gradcheck_cli.lang.shapes import ShapeMap

    text = "sum(relu(x)) + amax(stack(sum(x), 2.25))"
    x = np.array([0.5, 1.5, 0.25])  # sum(x) = 2.25: a tie inside amax; relu is smooth at every element
    shapes = ShapeMap({"x": x.shape})
    assert DiagonalRun(Plan([parse(text).output], shapes), shapes, "x").supports
    rows = check(text, at={"x": x}).gradients
    assert [r.status for r in rows] == ["undefined"] * 3
    assert all((r.left, r.right) == (pytest.approx(1.0, abs=1e-6), pytest.approx(2.0, abs=1e-6)) for r in rows)
    assert check(text, at={"x": [0.5, 1.5, 0.5]}).status == "pass"  # no tie: relu's 1 plus the sum's 1
