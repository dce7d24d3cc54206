"""Verdicts at hard points a tester probed (kinks within a step or a rounding of the point, chain factors on a
kink, black-box forwards across a kink): each test failed before its fix."""

from __future__ import annotations

import pytest
import torch

from gradcheck_cli import check


def _abs(x):
    return torch.abs(x)


def _relu(x):
    return torch.relu(x)


@pytest.mark.parametrize("function, x, right_answer", [(_abs, 1e-300, 1.0), (_relu, 1e-20, 1.0),
                                                       (_abs, -1e-200, -1.0)])
def test_a_black_box_kink_closer_than_any_step_never_names_a_right_backward(function, x, right_answer):
    """Central differences of |x| at 1e-300 straddle the kink at every step and agree on 0 (relu: 0.5); the
    backward's 1 is a subgradient there, not a wrong backward."""
    row = check("", at={"x": x}, function=function).gradients[0]
    assert row.function == pytest.approx(right_answer)
    assert row.status != "fail" and row.function_verdict is None
    assert row.left is not None and row.left <= right_answer <= row.right


def test_a_black_box_backward_outside_the_sides_of_a_near_kink_still_fails():
    row = check("", at={"x": 1e-300}, function=lambda x: 3 * torch.abs(x.detach()) + (x - x.detach()) * 5).gradients[0]
    assert row.status == "fail" and "function" in row.disagrees


@pytest.mark.parametrize("expr, at, factor, formula", [
    ("z = relu(x); z**2", {"x": 0.0}, "dz/dx", "0.5"),
    ("z = relu(x); z**2", {"x": 0.0}, "dz/dx", "1"),
    ("z = abs(x - y); 3*z", {"x": 1.0, "y": 1.0}, "dz/dx", "-0.25"),
    ("z = w*x; p = relu(z); p*x", {"w": 1.0, "x": 0.0}, "dp/dz", "0.7"),
])
def test_a_chain_factor_on_a_kink_passes_as_a_subgradient(expr, at, factor, formula):
    """relu's factor at 0 has one-sided values 0 and 1; the graph's convention (0) is not the only right answer."""
    result = check(expr, at=at, manual={factor: formula})
    assert [f.status for f in result.factors] == ["pass"] and not result.culprits
    assert result.status != "fail"


def test_a_chain_factor_outside_the_sides_of_a_kink_fails_and_names_them():
    result = check("z = relu(x); z**2", at={"x": 0.0}, manual={"dz/dx": "3"})
    assert [f.status for f in result.factors] == ["fail"] and result.status == "fail"
    assert "one-sided values are 0 and 1" in result.culprits[0].message


@pytest.mark.parametrize("formula, status", [("-cos(z)", "fail"), ("cos(z)", "pass")])
def test_a_smooth_chain_factor_is_still_judged_against_its_value(formula, status):
    result = check("z = x**2; p = sin(z); p**2", at={"x": 2.0}, manual={"dp/dz": formula})
    assert [f.status for f in result.factors] == [status]


@pytest.mark.parametrize("expr, function, x", [("abs(x)", _abs, 1e-300), ("relu(x)", _relu, -1e-300),
                                               ("relu(x)", _relu, 1e-20),
                                               ("relu(x - 1e-15)", lambda x: torch.relu(x - 1e-15), 0.0)])
def test_a_right_function_next_to_a_kink_is_not_called_inconsistent(expr, function, x):
    """Its forward's central differences straddle the kink at every step (relu at -1e-300: 0.5), so they cannot
    match the reference; its one-sided derivatives show the kink, and hold the reference between them."""
    result = check(expr, at={"x": x}, function=function, args=["x"])
    row = result.gradients[0]
    assert result.status == "pass" and row.function_verdict is None and row.function_fd is None
    assert any("across a kink next to the point" in note for note in row.referee_notes)


def test_a_function_whose_forward_is_wrong_next_to_a_kink_is_still_caught():
    result = check("relu(x)", at={"x": -1e-300}, function=lambda x: torch.relu(x) + 0.1 * x, args=["x"])
    row = result.gradients[0]
    assert result.status == "fail" and "function" in row.disagrees


@pytest.mark.parametrize("expr, manual, sides", [("relu(x)", "2", "0 and 1"), ("abs(x) + x**2", "-3", "-1 and 1")])
def test_a_manual_formula_outside_the_sides_of_a_kink_is_told_so_not_given_one_convention(expr, manual, sides):
    """relu(x) at 0 with 2: the culprit said 'should be x > 0 (= 0)', as if 0 were the one right answer."""
    result = check(expr, at={"x": 0.0}, manual={"x": manual})
    assert result.status == "fail" and len(result.culprits) == 1
    message = result.culprits[0].message
    assert f"one-sided derivatives are {sides}" in message and "should be" not in message


@pytest.mark.parametrize("expr, at", [
    ("relu(norm(x) - 1e-8)", {"x": [6e-9, 8e-9]}),  # float64's norm is 1e-8 exactly; the exact one 3.7e-25 more
    ("relu(norm(x) - 1)", {"x": [0.6, 0.8]}),  # the same point scaled by 1e8: undefined before the fix too
    ("cosine_similarity(a, b, dim=0)", {"a": [6e-9, 8e-9], "b": [1.0, 2.0]}),  # |a| = eps after rounding
])
def test_a_kink_that_rounding_puts_the_point_on_is_undefined_at_every_scale(expr, at):
    """At a = [6e-9, 8e-9] the function bends on the scale of a, below every step finite differences took
    (1e-10 the smallest), so their one-sided values never settled: the exact derivative of one side read as a
    plain pass (cosine_similarity) or as autograd's failure by cancellation (relu(norm(x) - 1e-8))."""
    result = check(expr, at=at)
    first = result.gradients[0]
    assert result.status == "undefined" and first.status == "undefined"
    assert first.left is not None and not first.left == pytest.approx(first.right)
    assert not result.culprits


@pytest.mark.parametrize("expr", ["x**1.5", "x**1.5 + x", "x**1.1"])
def test_a_branch_point_gets_the_same_verdict_from_the_complex_step_as_from_richardson(expr):
    """At x = 0, x**1.5 is not defined left of the point (the registry's domain: a > 0 unless b is an integer);
    the complex step, Im (ih)**1.5/h = 0.71 sqrt(h), looked like a derivative of 0 and made it a plain pass."""
    auto, richardson = (check(expr, at={"x": 0.0}, method=method) for method in ("auto", "richardson"))
    assert richardson.status == "undefined"
    assert auto.status == richardson.status and auto.gradients[0].reason == richardson.gradients[0].reason


def test_a_kink_that_rounding_alone_puts_the_point_on_says_where_the_exact_point_lies():
    """float64's norm of [6e-9, 8e-9] is 1e-8 exactly, the exact one 3.7e-25 more: the verdict stays undefined, and
    the reason says the exact point lies beside the kink, with the derivative there."""
    row = check("relu(norm(x) - 1e-8)", at={"x": [6e-9, 8e-9]}).gradients[0]
    assert row.status == "undefined" and row.precise == pytest.approx(0.6)
    assert "within float rounding of the point" in row.reason and "derivative is 0.6" in row.reason


def test_a_kink_the_exact_point_is_on_says_nothing_of_rounding():
    row = check("relu(x - 1)", at={"x": 1.0}).gradients[0]
    assert row.status == "undefined" and "rounding" not in row.reason
