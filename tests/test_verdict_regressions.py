"""Wrong verdicts and false labels a tester found: each test failed before its fix."""

from __future__ import annotations

import re

import pytest

from gradcheck_cli import check


def test_reference_legend_names_jacobian_entries_like_the_table_rows(cli):
    result = cli("A @ x", "--A", "[[1,2,3],[4,5,6],[7,8,10]]", "--x", "0.1,-0.2,0.3", "--wrt", "x",
                 "--manual", "x=A.T", env={"COLUMNS": "200"})
    legend = next(line for line in result.output.splitlines() if line.startswith("reference of"))
    assert "d f[0]/d x[1]" in legend
    assert not re.search(r"(^|, )x\[\d\]", legend.split(":")[0].removeprefix("reference of "))


@pytest.mark.parametrize("expr", ["abs(x)**1.5", "abs(x)**2.5", "abs(x)**1.5 + 2*x"])
def test_a_derivative_that_is_the_same_from_both_sides_is_no_kink(expr):
    result = check(expr, at={"x": 0.0})
    row = result.gradients[0]
    assert result.status == "pass" and row.status == "pass"
    assert row.reference == pytest.approx(2.0 if "2*x" in expr else 0.0, abs=1e-12)


def test_a_derivative_through_a_sum_with_both_sides_equal_passes():
    row = check("sum(abs(x)**1.5)", at={"x": [0.0, 1.0]}).gradients[0]
    assert row.status == "pass" and row.reference == pytest.approx(0.0, abs=1e-12)


def test_a_manual_value_away_from_the_derivative_fails_against_it_not_a_made_up_interval():
    result = check("abs(x)**1.5", at={"x": 0.0}, manual={"x": "0.005"})
    row = result.gradients[0]
    assert row.status == "fail" and row.disagrees == ["manual"] and row.reference == pytest.approx(0.0, abs=1e-12)


def test_autograd_nan_where_both_sides_agree_is_the_culprit():
    row = check("sqrt(abs(x))**3", at={"x": 0.0}).gradients[0]
    assert row.status == "fail" and row.disagrees == ["autograd"] and row.reference == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("expr, x", [("abs(x)**1.5", 0.0), ("relu(x)**1.5", 0.0)])
def test_one_sided_values_that_do_not_settle_are_never_reported(expr, x):
    row = check(expr, at={"x": x}).gradients[0]
    assert row.status != "undefined"
    if row.left is not None:
        assert row.left == pytest.approx(0.0, abs=1e-9) and row.right == pytest.approx(0.0, abs=1e-9)


def test_no_atol_note_where_the_answer_passed_relatively(cli):
    result = cli("exp(x)*y", "--x", "700", "--y", "-1.2345678901234e-300", "--manual", "x=exp(x)*y*1.0000001",
                 "--atol", "0")
    assert result.exit_code == 0 and "only within atol" not in result.output


@pytest.mark.parametrize("expr, at", [("exp(x)*y", {"x": 700.0, "y": -1.2345678901234e-300}),
                                      ("y*exp(x)/3", {"x": 700.0, "y": 1e-300}),
                                      ("-exp(x)*y", {"x": 650.0, "y": 1e-280})])
def test_a_large_factor_scaled_away_leaves_a_sane_error_bar(expr, at):
    row = next(r for r in check(expr, at=at, wrt=["x"]).gradients)
    assert row.status == "pass"
    assert abs(row.finite_difference - row.reference) <= row.fd_error <= 1e-6 * abs(row.reference)


@pytest.mark.parametrize("expr, x", [("(exp(x)-1)/x", 1e-5), ("(1-cos(x))/x**2", 1e-3),
                                     ("(sqrt(1+x)-1)/x", 1e-6)])
def test_the_error_bar_covers_the_truth_where_f_itself_cancels(expr, x):
    row = check(expr, at={"x": x}, wrt=["x"]).gradients[0]
    assert row.precise is not None
    assert abs(row.finite_difference - row.precise) <= row.fd_error


@pytest.mark.parametrize("expr, at, manual", [("x**3", {"x": 1.0}, {"x": "3*x"}),
                                              ("x*y", {"x": 2.0, "y": 2.0}, {"x": "x"}),
                                              ("sum(x**2)", {"x": [2.0, 2.0]}, {"x": "4"})])
def test_a_manual_formula_right_at_the_point_only_gets_a_note_not_a_failure(expr, at, manual):
    result = check(expr, at=at, manual=manual)
    assert result.status == "pass"
    assert any("agrees at this point but not at nearby points" in note for note in result.notes)


@pytest.mark.parametrize("expr, at, manual", [("x**3", {"x": 1.0}, {"x": "3*x**2"}),
                                              ("x*y", {"x": 2.0, "y": 2.0}, {"x": "y"}),
                                              ("exp(x)*1e-9", {"x": 0.5}, {"x": "exp(x)*1e-9"})])
def test_a_right_manual_formula_gets_no_nearby_note(expr, at, manual):
    result = check(expr, at=at, manual=manual)
    assert result.status == "pass" and not any("nearby points" in note for note in result.notes)


def test_a_manual_hessian_block_also_fills_its_transpose():
    result = check("sum(x*y**2)", at={"x": [1.0, 2.0], "y": [3.0, 4.0]}, order=2,
                   manual_hessian={"x,y": "diag(2*y)"})
    mixed = [r for r in result.hessian if r.wrt[0] != r.wrt[1]]
    assert len(mixed) == 8 and all(r.manual is not None and r.status == "pass" for r in mixed)
    wrong = check("sum(x*y**2)", at={"x": [1.0, 2.0], "y": [3.0, 4.0]}, order=2,
                  manual_hessian={"x,y": "diag(2*y) + 1"})
    assert any(r.wrt == ["y", "x"] and r.index == [[0], [1]] and "manual" in r.disagrees for r in wrong.hessian)
