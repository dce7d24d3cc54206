"""Discontinuities (issue 17, item 4): at a jump the verdict is `undefined` with the jump named; away from it the
zero derivative (or the 1 of frac, fmod and remainder) passes.

The mechanism: `OpSpec.jumps` numbers the pieces of a discontinuous op; finite differences discard a step that
changes a piece (engines/finite_diff/kinks.py), the high-precision referee finds the function jumping, the
judge makes the entry `undefined`, and the diagnosis names the op that sits on its jump ("jump of floor at x = 2").
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradcheck_cli import check
from gradcheck_cli.engines.finite_diff import finite_differences
from gradcheck_cli.lang.ops import OPS
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.lang.plan import Plan
from gradcheck_cli.lang.shapes import ShapeMap


def _rows(text: str, **at):
    result = check(text, at=at)
    return result, result.gradients


def _assert_jump(text: str, op: str, where: str, **at):
    """Every row undefined, named as the jump of `op` at `where`, and no engine's number taken for a derivative."""
    result, rows = _rows(text, **at)
    assert result.status == "undefined", [(g.status, g.reason) for g in rows]
    for g in rows:
        assert g.status == "undefined" and g.diagnosis == "jump", (g.status, g.reason, g.diagnosis)
        assert g.reason.startswith(f"jump of {op} at {where}"), g.reason
        assert "the derivative does not exist" in g.reason
        assert g.finite_difference is None  # no step across the jump is an estimate of anything
        assert g.disagrees == [] and g.reference is None
    return rows


def _assert_pass(text: str, expected: dict, **at):
    result, rows = _rows(text, **at)
    assert result.status == "pass", [(g.status, g.reason, g.symbolic, g.finite_difference) for g in rows]
    for g in rows:
        assert g.reason is None and g.diagnosis is None
        np.testing.assert_allclose([g.symbolic, g.autograd, g.finite_difference], expected[g.wrt], atol=1e-9)
    return rows


# ---- each op on its jump, and beside it ------------------------------------------------------------------------


def test_floor_at_two_is_a_jump_and_at_two_point_three_zero_passes():
    _assert_jump("floor(x)", "floor", "x = 2", x=2.0)
    _assert_pass("floor(x)", {"x": 0.0}, x=2.3)


def test_round_half_to_even_jumps_at_one_half():
    _assert_jump("round(x)", "round", "x = 0.5", x=0.5)
    _assert_pass("round(x)", {"x": 0.0}, x=0.7)
    _assert_pass("round(x)", {"x": 0.0}, x=2.0)  # an integer is the middle of round's piece
    _assert_jump("round(x, decimals=1)", "round", "x = 0.25", x=0.25)  # 2.5 tenths: half to even


def test_fmod_jumps_at_a_multiple_of_its_divisor():
    _assert_jump("fmod(x, 1.5)", "fmod", "x = 3", x=3.0)
    _assert_pass("fmod(x, 1.5)", {"x": 1.0}, x=3.2)
    _assert_pass("fmod(x, 1.5)", {"x": 1.0}, x=0.0)  # fmod(x, b) = x near 0: no jump there, unlike remainder


def test_remainder_in_both_arguments():
    # d/da = 1, d/db = -floor(a/b), as torch's derivatives.yaml; remainder has the divisor's sign
    _assert_pass("remainder(a, b)", {"a": 1.0, "b": -2.0}, a=3.2, b=1.5)
    _assert_pass("remainder(a, b)", {"a": 1.0, "b": 3.0}, a=-3.2, b=1.5)
    _assert_pass("remainder(a, b)", {"a": 1.0, "b": 3.0}, a=3.2, b=-1.5)
    _assert_pass("fmod(a, b)", {"a": 1.0, "b": 2.0}, a=-3.2, b=1.5)  # fmod: -trunc(a/b)
    rows = _assert_jump("remainder(a, b)", "remainder", "a = 3, b = 1.5", a=3.0, b=1.5)
    assert [g.wrt for g in rows] == ["a", "b"]
    _assert_jump("remainder(x, 2.0)", "remainder", "x = 0", x=0.0)  # remainder jumps at 0 too


def test_remainder_and_fmod_gradients_match_torch_at_several_points():
    for a, b in [(3.2, 1.5), (-3.2, 1.5), (3.2, -1.5), (-7.0, 2.5), (100.3, 0.7), (-0.2, 3.0)]:
        for name, function in (("fmod", torch.fmod), ("remainder", torch.remainder)):
            ta = torch.tensor(a, dtype=torch.float64, requires_grad=True)
            tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
            grads = torch.autograd.grad(function(ta, tb), (ta, tb))
            result = check(f"{name}(a, b)", at={"a": a, "b": b})
            assert result.status == "pass", (name, a, b)
            for g, expected in zip(result.gradients, grads):
                assert g.reference == pytest.approx(float(expected), abs=1e-9), (name, a, b, g.wrt)


def test_frac_near_an_integer():
    _assert_pass("frac(x)", {"x": 1.0}, x=2.0 - 1e-9)
    _assert_pass("frac(x)", {"x": 1.0}, x=-2.0 + 1e-9)
    _assert_jump("frac(x)", "frac", "x = -2", x=-2.0)
    _assert_pass("frac(x)", {"x": 1.0}, x=0.0)  # frac(x) = x on (-1, 1): continuous at 0


def test_ceil_and_trunc():
    _assert_jump("ceil(x)*x", "ceil", "x = 1", x=1.0)
    _assert_pass("ceil(x)*x", {"x": 2.0}, x=1.5)
    _assert_jump("trunc(x)", "trunc", "x = -3", x=-3.0)
    _assert_pass("trunc(x)", {"x": 0.0}, x=0.0)  # trunc is 0 on (-1, 1)


def test_sign_is_a_jump_too():
    _assert_jump("sign(x)", "sign", "x = 0", x=0.0)


# ---- composites ----------------------------------------------------------------------------------------------


def test_a_jump_hidden_inside_a_composite():
    _assert_jump("sin(floor(x)*x)", "floor", "x = 2", x=2.0)
    _assert_pass("sin(floor(x)*x)", {"x": 2 * np.cos(4.6)}, x=2.3)


def test_jumps_that_cancel_are_smooth():
    """floor(x) + frac(x) is x: the pieces change at 2 but the function does not jump, and its derivative 1
    passes, settled by the high-precision referee."""
    result, rows = _rows("floor(x) + frac(x)", x=2.0)
    assert result.status == "pass" and rows[0].reference == 1.0 and rows[0].reference_source == "precise"


def test_a_jump_whose_sides_join_is_a_kink_not_a_jump():
    """floor(x)*x at 0 is -x on the left and 0 on the right: continuous, one-sided derivatives -1 and 0."""
    result, rows = _rows("floor(x)*x", x=0.0)
    assert rows[0].status == "undefined" and rows[0].diagnosis is None
    assert "kink" in rows[0].reason and (rows[0].left, rows[0].right) == (-1.0, 0.0)


def test_a_vector_names_the_element_on_the_jump():
    result, rows = _rows("sum(floor(x)*x)", x=[1.5, 2.0])
    assert [g.status for g in rows] == ["pass", "undefined"]
    assert rows[1].reason.startswith("jump of floor at x = 2 (element [1])"), rows[1].reason


# ---- the mechanism ----------------------------------------------------------------------------------------------


def test_finite_differences_give_no_estimate_across_a_jump():
    expression = parse("floor(x)")
    point = {"x": np.asarray(2.0)}
    plan = Plan([expression.output], ShapeMap({"x": ()}))
    fd = finite_differences(plan, expression.output, point, ["x"])
    assert np.isnan(fd.gradients["x"][()])  # not (f(2 + h) - f(2 - h)) / 2h = 1/2h
    near = finite_differences(plan, expression.output, {"x": np.asarray(2.0 + 1e-6)}, ["x"])
    assert near.gradients["x"][()] == 0.0  # smaller steps that stay on the piece


def test_sits_on_jump():
    assert OPS["floor"].sits_on_jump([np.array([2.0, 2.3, -1.0])]).tolist() == [True, False, True]
    assert OPS["round"].sits_on_jump([np.array([0.5, 1.0, 2.5])]).tolist() == [True, False, True]
    assert OPS["fmod"].sits_on_jump([np.array(3.0), np.array(1.5)])
    assert not OPS["fmod"].sits_on_jump([np.array(0.0), np.array(1.5)])
    assert OPS["remainder"].sits_on_jump([np.array(0.0), np.array(1.5)])
    assert OPS["remainder"].sits_on_jump([np.array(3.0), np.array(1.5)])  # moving b moves the multiple too


def test_the_cli_names_the_jump(cli):
    result = cli("floor(x)", "--x", "2")
    assert result.exit_code == 0  # undefined is not a failure
    words = " ".join(result.stdout.split())
    assert "undefined" in words and "jump of floor at x = 2" in words
    result = cli("floor(x)", "--x", "2.3")
    assert result.exit_code == 0 and "1 passed" in result.stdout


def test_an_op_with_options_on_the_finite_difference_paths():
    """round's piece numbers get its Options as the attribute (not taken for an mpmath argument)."""
    _assert_pass("(x + detach(round(x, decimals=2) - x))**2", {"x": 2 * 0.46}, x=0.4567)
    _assert_pass("round(x, decimals=1)*x + x", {"x": 1.3}, x=0.31)


# ---- the high-precision referee ---------------------------------------------------------------------------------


def _referee(text: str, **at):
    from gradcheck_cli.engines.precise import precise_gradient

    expression = parse(text)
    point = {name: np.asarray(value, dtype=np.float64) for name, value in at.items()}
    shapes = ShapeMap({name: value.shape for name, value in point.items()})
    return precise_gradient(expression.output, expression.nodes, point, expression.variables, shapes)


def test_the_referee_finds_the_jump_and_no_derivative():
    for text, x in (("floor(x)", 2.0), ("round(x)", 0.5), ("fmod(x, 1.5)", 3.0), ("frac(x)", -1.0)):
        result = _referee(text, x=x)
        assert np.isnan(result.gradients["x"][()])
        assert result.reason("x", ()).startswith("not differentiable: the function jumps"), (text, result.reasons)


def test_the_referee_steps_past_a_jump_next_to_the_point():
    """floor(x + 1e-250) at 0 is flat (its jump is 1e-250 to the left), but every step of the referee's schedule
    (down to 1e-200) crosses that jump, and the differences would look like a jump at the point.  A step that
    crosses a jump the op does not sit on makes the next step the smallest (1e-340), which does not."""
    for text, expected in (("floor(x + 1e-250)", 0.0), ("floor(x - 1e-250)", 0.0),
                           ("remainder(x + 1e-250, 0.5)", 1.0), ("sign(x - 1e-300)", 0.0)):
        result = _referee(text, x=0.0)
        assert result.gradients["x"][()] == expected, (text, result.reasons)
        assert result.methods["x"][()] == "central differences"
    row = check("floor(x - 1e-250)", at={"x": 0.0}).gradients[0]
    assert row.status == "pass" and row.reference_source == "precise"


def test_no_second_derivative_where_the_first_does_not_exist():
    """--order 2: d/db (df/da) where f jumps in a is undefined too; d/da (df/db) exists (df/db = a is smooth)."""
    result = check("floor(a) + b*a", at={"a": 2.0, "b": 1.0}, order=2)
    by_pair = {tuple(row.wrt): row for row in result.hessian}
    for pair in (("a", "a"), ("a", "b")):
        assert by_pair[pair].status == "undefined" and by_pair[pair].diagnosis == "jump", by_pair[pair].reason
        assert by_pair[pair].reason.startswith("the first derivative does not exist here (jump of floor at a = 2")
    assert by_pair[("b", "a")].status == "pass" and by_pair[("b", "a")].reference == 1.0
    assert by_pair[("b", "b")].status == "pass"
    assert check("floor(x)", at={"x": 2.3}, order=2).status == "pass"


def test_the_json_report_names_the_jump_within_its_schema(cli_json):
    code, document = cli_json("floor(x)", "--x", "2")  # validated against report.schema.json
    row = document["results"][0]["gradients"][0]
    assert code == 0 and row["status"] == "undefined" and row["diagnosis"] == "jump"
    assert row["reason"].startswith("jump of floor at x = 2")


@pytest.mark.parametrize("decimals", [400, -309])
def test_round_with_decimals_past_float64_is_one_message(decimals):
    """10**decimals overflows float64 there (torch's round gives NaN): was an internal OverflowError."""
    result = check(f"round(x, decimals={decimals})", at={"x": [0.5, 2.0]})
    assert result.status == "error" and "internal" not in result.rendered_error
    assert f"round: decimals={decimals} is out of range: 10**{abs(decimals)} overflows float64" in result.rendered_error
