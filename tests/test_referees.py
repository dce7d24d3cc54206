"""Verdicts at the hard points: referees establish the reference, subjects are judged against it (issue 14).

Each case is one where gradients really go wrong: a NaN in the unselected branch of `where`, a node that
is not differentiable inside a function that is, kinks that cancel, ties, catastrophic cancellation,
overflow, float32.  The right answers were worked out by hand (and by mpmath where noted).
"""

from __future__ import annotations

import json
import math

import mpmath
import pytest
from click.testing import CliRunner

from gradcheck_cli import check
from gradcheck_cli.cli import main


def run_cli(*args: str):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def run_json(*args: str) -> tuple[int, dict]:
    code, output = run_cli(*args, "--json")
    return code, json.loads(output)["results"][0]


def culprits_of(result, diagnosis: str) -> list:
    return [c for c in result.culprits if getattr(c, "diagnosis", None) == diagnosis]


# ---- the cases, each with its right value and named party ----


def test_where_nan_trap_is_named_and_the_point_is_not_refused():
    result = check("where(x > 0, sqrt(x), x)", at={"x": -1.0})
    (row,) = result.gradients
    assert result.status == "fail"
    assert row.reference == pytest.approx(1.0, abs=1e-12)
    assert row.disagrees == ["autograd"] and math.isnan(row.autograd)
    assert row.diagnosis == "where-NaN trap"
    (trap,) = culprits_of(result, "where-NaN trap")
    assert trap.expr == "sqrt(x)" and trap.fix == "sqrt(where(x > 0, x, 1))"
    code, output = run_cli("where(x > 0, sqrt(x), x)", "--x", "-1")
    assert code == 1 and "where-NaN trap" in output and "sqrt(where(x > 0, x, 1))" in output


@pytest.mark.parametrize("text, at, reference, inner", [
    ("where(x > 0, x**0.5, x)", -4.0, 1.0, "x**0.5"),
    ("where(x != 0, sin(x)/x, 1 + 0*x)", 0.0, 0.0, "sin(x)/x"),
    ("where(x > 1, x**2, acos(x))", 3.0, 6.0, "acos(x)"),
])
def test_where_nan_trap_of_every_kind(text, at, reference, inner):
    result = check(text, at={"x": at})
    (row,) = result.gradients
    assert row.reference == pytest.approx(reference, abs=1e-9), (row.reference, row.reference_source)
    assert "autograd" in row.disagrees and not math.isfinite(row.autograd)
    (trap,) = culprits_of(result, "where-NaN trap")
    assert trap.expr == inner


def test_where_nan_trap_with_a_finite_branch_whose_derivative_is_infinite():
    result = check("where(y > 0, sqrt(x), x)", at={"x": 0.0, "y": -1.0}, wrt=["x"])
    (row,) = result.gradients
    assert row.reference == pytest.approx(1.0, abs=1e-12) and row.diagnosis == "where-NaN trap"
    assert [c.expr for c in culprits_of(result, "where-NaN trap")] == ["sqrt(x)"]


def test_norm_at_zero_inside_a_smooth_function():
    code, out = run_json("norm(x)**2", "--x", "0,0")
    assert code == 0 and out["status"] == "pass"
    assert [g["reference"] for g in out["gradients"]] == [0.0, 0.0]
    assert all(g["autograd"] == 0.0 and g["disagrees"] == [] for g in out["gradients"])
    # the symbolic chain rule meets 0·∞ at norm(x): a note on gradcheck's own engine, not a failure
    assert all(any("removable singularity" in n for n in g["referee_notes"]) for g in out["gradients"])


def test_an_eps_guard_around_a_norm():
    result = check("sum(x/max(norm(x), 1e-6))", at={"x": [0.0, 0.0]})
    assert result.status == "pass", [(g.reference, g.symbolic, g.autograd, g.reason) for g in result.gradients]
    assert [g.reference for g in result.gradients] == [pytest.approx(1e6, rel=1e-9)] * 2


def test_kinks_that_cancel_have_a_derivative_and_autograd_convention_is_named():
    code, out = run_json("relu(x) - relu(-x)", "--x", "0")
    (row,) = out["gradients"]
    assert code == 1 and row["reference"] == pytest.approx(1.0, abs=1e-9)
    assert row["disagrees"] == ["autograd"] and row["autograd"] == 0.0
    assert row["diagnosis"] == "kink convention"
    assert any("relu'(0) = 0" in c["message"] for c in out["culprits"])
    assert "finite_difference" not in row["disagrees"]


def test_amax_tie_is_a_kink_with_one_sided_values():
    code, out = run_json("amax(x)", "--x", "1,1")
    assert code == 0 and out["status"] == "undefined"
    for row in out["gradients"]:
        assert row["status"] == "undefined" and row["reference"] is None
        assert (row["left"], row["right"]) == (pytest.approx(0.0, abs=1e-9), pytest.approx(1.0, abs=1e-9))


def test_logsumexp_of_huge_equal_entries():
    code, out = run_json("logsumexp(x)", "--x=1e16,1e16")
    assert code == 1
    for row in out["gradients"]:
        assert row["reference"] == pytest.approx(0.5, abs=1e-12) and row["reference_source"] == "precise"
        assert row["autograd"] == 1.0 and row["disagrees"] == ["autograd"]
        assert any(n.startswith("symbolic") for n in row["referee_notes"])


def test_cancellation_in_the_forward_value_is_a_finding_with_its_fix():
    code, output = run_cli("-log(1 - sigmoid(x))", "--x", "50")
    assert code == 1, output
    assert "cancels" in output and "-softplus(x)" in output
    result = check("-log(1 - sigmoid(x))", at={"x": 50.0})
    (row,) = result.gradients
    with mpmath.workdps(50):
        exact = 1 / (1 + mpmath.exp(-50))  # d/dx -log(1 - sigmoid(x)) = sigmoid(x)
    assert row.reference == pytest.approx(float(exact), rel=1e-15)
    (finding,) = [c for c in result.culprits if c.kind == "value"]
    assert finding.diagnosis == "cancellation" and finding.expr == "1 - sigmoid(x)"


def test_overflow_in_the_forward_value_is_a_finding_not_bad_input():
    code, output = run_cli("exp(x)", "--x", "1000")
    assert code == 1 and "overflow" in output
    result = check("exp(exp(x))", at={"x": 10.0})
    assert result.status == "fail" and [c.diagnosis for c in result.culprits if c.kind == "value"] == ["overflow"]


@pytest.mark.parametrize("text, value", [("exp(exp(x))", "10"), ("x*9**9**9**9", "1"), ("x**9**9**9", "2"),
                                         ("exp(x)", "1000"), ("x*exp(1000)", "1")])
def test_every_float_overflow_of_a_finite_value_is_a_finding(text, value):
    code, output = run_cli(text, "--x", value)
    assert code == 1 and "overflows to inf" in output and "Traceback" not in output


def test_power_of_zero_in_the_exponent():
    code, out = run_json("a**b", "--a", "0", "--b", "2.5", "--wrt", "b")
    assert code == 0 and out["gradients"][0]["reference"] == 0.0


def test_an_exact_manual_formula_is_not_blamed_for_the_engines_cancellation():
    result = check("exp(x)/(1 + exp(x))", at={"x": 30.0}, manual={"x": "exp(x)/(1 + exp(x))**2"}, atol=0)
    (row,) = result.gradients
    exact = mpmath.exp(30) / (1 + mpmath.exp(30)) ** 2
    assert row.reference == pytest.approx(float(exact), rel=1e-14) and row.reference_source == "precise"
    assert "manual" not in row.disagrees
    assert any(n.startswith("symbolic") for n in row.referee_notes)  # symbolic lost: gradcheck's own note


def test_referees_that_share_a_cancelling_forward_do_not_pass_a_wrong_value():
    """Symbolic and the complex step both differentiate the rounded forward of exp(x) - 1: they agree on -81.7.
    The cancellation is seen at the point, and the high-precision referee settles 1/2 + x/3."""
    result = check("(exp(x) - 1)/x", at={"x": 1e-9})
    (row,) = result.gradients
    assert row.reference == pytest.approx(0.5 + 1e-9 / 3, rel=1e-12) and row.reference_source == "precise"
    assert row.disagrees == ["autograd"] and row.diagnosis == "cancellation"
    (culprit,) = [c for c in result.culprits if c.diagnosis == "cancellation"]
    assert culprit.fix == "exp(x) - 1 → expm1(x)"
    assert check("expm1(x)/x", at={"x": 1e-9}).status == "pass"


def test_float32_cancellation_is_a_precision_artefact():
    result = check("(exp(x) - 1)/x", at={"x": 1e-3}, dtype="float32")
    (row,) = result.gradients
    assert row.status == "fail" and row.diagnosis == "precision artefact"
    assert row.reference == pytest.approx(0.50033345832, rel=1e-9)


def test_a_wrong_float32_manual_formula_is_real():
    result = check("x**3", at={"x": 1.5}, dtype="float32", manual={"x": "2*x**2"})
    (row,) = result.gradients
    assert row.disagrees == ["manual"] and row.diagnosis == "real"


# ---- what is still refused, and what is undefined ----


@pytest.mark.parametrize("text, value, words", [
    ("log(x)", "-1", "log(x) is NaN at this point: log is defined for x > 0"),
    ("x + log(x - 2)", "1", "log is defined for x > 0, and x - 2 = -1"),
    ("x/x", "0", "is NaN at this point"),
    ("1/x", "0", "the divisor must be non-zero"),
])
def test_an_undefined_exact_value_is_still_bad_input(text, value, words):
    code, output = run_cli(text, "--x", value)
    assert code == 2 and words in output


@pytest.mark.parametrize("text, value, words", [
    ("sqrt(x)", "0", "sqrt is differentiable for x > 0"),
    ("acos(x)", "1", "acos is differentiable for -1 < x < 1"),
])
def test_a_derivative_that_does_not_exist_is_undefined_not_an_error(text, value, words):
    code, out = run_json(text, "--x", value)
    assert code == 0 and out["status"] == "undefined"
    assert words in out["gradients"][0]["reason"]


def test_no_refusal_names_a_node_in_an_unselected_branch():
    code, output = run_cli("where(x > 0, log(x), log(-x))", "--x", "-2")
    assert code == 0, output


def test_the_common_path_does_not_run_the_high_precision_referee():
    result = check("sin(x**2)", at={"x": 4.0})
    assert result.gradients[0].reference_source == "symbolic" and result.gradients[0].precise is None
    assert "precise" not in result.evaluations


def test_precise_on_request():
    result = check("sin(x**2)", at={"x": 4.0}, precise=True)
    (row,) = result.gradients
    assert row.reference_source == "precise" and row.precise == pytest.approx(8 * math.cos(16), rel=1e-15)


# ---- found by a fresh-eyes review: more of the same kinds ----


@pytest.mark.parametrize("text, at, exact", [
    ("log(1 + x)/x", 1e-12, -0.5 + 2e-12 / 3),  # 1 + x rounds without cancelling; log amplifies it
    ("log(cos(x))/x**2", 1e-9, -1e-9 / 6),
    ("log(1 + x**2)/x**2", 1e-9, -1e-9),
    ("(exp(x) - 1)/x", 1e-5, 0.5 + 2e-5 / 6),
])
def test_a_forward_that_loses_digits_is_refereed_in_high_precision(text, at, exact):
    (row,) = check(text, at={"x": at}).gradients
    assert row.reference_source == "precise" and row.reference == pytest.approx(exact, rel=1e-6)
    assert row.status == "fail" and "autograd" in row.disagrees


@pytest.mark.parametrize("text, words", [
    ("where(x != 0, 1/where(x != 0, x, 1), 0)", "jumps"),
    ("where(x > 0, 1, 0)", "jumps"),
    ("where(x >= 0, sqrt(x), 0)", "infinite"),
])
def test_finite_differences_one_sided_values_are_confirmed_before_a_kink_is_claimed(text, words):
    (row,) = check(text, at={"x": 0.0}).gradients
    assert row.status == "undefined" and row.disagrees == [] and words in row.reason
    assert row.left is None and row.right is None  # finite differences' step-dependent values are not shown


@pytest.mark.parametrize("text", ["where(x != 0, x**2*sin(1/where(x != 0, x, 1)), 0)",
                                  "where(x > 0, x**2*log(where(x > 0, x, 1)), 0)"])
def test_slowly_converging_one_sided_values_are_not_a_reference(text):
    result = check(text, at={"x": 0.0}, manual={"x": "0*x - 0.0002"})
    (row,) = result.gradients
    assert row.status == "inconclusive" and row.reference is None  # never a wrong reference, nor a pass


def test_one_sided_values_at_large_magnitude_come_from_the_high_precision_referee():
    result = check("sum(exp(x - max(x)))", at={"x": [1000.0, 1000.0]}, manual={"x": "ones(2)"})
    assert all(g.status == "undefined" and sorted((g.left, g.right)) == [-1.0, 1.0] for g in result.gradients)


@pytest.mark.parametrize("text, at, words", [
    ("log(sigmoid(x))", -800.0, "sigmoid(x) underflows to 0"),
    ("log(1 + exp(x))", 800.0, "softplus(x)"),
    ("log(sum(exp(x)))", [1000.0, 1000.0], "logsumexp(x)"),
])
def test_findings_name_the_node_and_the_outermost_stable_form(text, at, words):
    (finding,) = [c for c in check(text, at={"x": at}).culprits if c.kind == "value"]
    assert words in finding.message


def test_an_overflow_in_the_backward_is_named_with_its_fix():
    result = check("1/(1 + exp(-x))", at={"x": -800.0})
    (culprit,) = [c for c in result.culprits if c.kind == "autograd"]
    assert culprit.diagnosis == "overflow" and culprit.fix == "1/(1 + exp(-x)) → sigmoid(x)"


@pytest.mark.parametrize("text", ["1/(1/x)", "atan(1/x)", "exp(1/x)"])
def test_an_undefined_inner_value_is_bad_input_even_when_float_hides_it(text):
    code, output = run_cli(text, "--x", "0")
    assert code == 2 and "1/x is infinite at this point" in output


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float32_keeps_the_named_diagnoses(dtype):
    trap = check("where(x > 0, sqrt(x), x)", at={"x": -1.0}, dtype=dtype)
    assert trap.gradients[0].diagnosis == "where-NaN trap"
    kink = check("relu(x) - relu(-x)", at={"x": 0.0}, dtype=dtype)
    assert kink.gradients[0].diagnosis == "kink convention"


def test_a_nan_from_zero_times_infinity_is_named():
    result = check("sqrt(x**2)", at={"x": 0.0})
    (row,) = result.gradients
    assert row.status == "fail" and row.diagnosis == "0·∞" and sorted((row.left, row.right)) == [-1.0, 1.0]
    assert [c.expr for c in result.culprits if c.diagnosis == "0·∞"] == ["sqrt(x**2)"]


def test_any_convention_at_a_kink_is_named_where_the_function_is_differentiable():
    result = check("clamp(x, 0, 0)", at={"x": 0.0})  # constant 0; torch passes the gradient at the bound
    (row,) = result.gradients
    assert row.reference == 0.0 and row.autograd == 1.0 and row.diagnosis == "kink convention"


def test_a_right_chain_factor_is_not_blamed_for_the_graphs_own_rounding():
    result = check("log(sigmoid(x))", at={"x": -800.0}, manual={"df/dx": "1 - sigmoid(x)"})
    (factor,) = result.factors
    assert factor.status == "pass" and factor.symbolic == 1.0


@pytest.mark.parametrize("text, at, exact", [
    ("log(1 + x)/x", 1e-20, -0.5),  # 1 + x absorbs x whole, in long double too
    ("(sqrt(1 + x) - 1)/x", 1e-20, -0.125),
    ("(1 - cos(x))/x**2", 1e-10, -1e-10 / 12),  # 1 - cos(x) cancels to exactly 0
])
def test_rounding_that_long_double_cannot_see_is_still_refereed(text, at, exact):
    (row,) = check(text, at={"x": at}).gradients
    assert row.reference_source == "precise" and row.reference == pytest.approx(exact, rel=1e-6)
    assert row.status == "fail"


def test_a_large_term_does_not_hide_a_cancelling_node():
    result = check("log(1 + x)/x + 1e9*y", at={"x": 1e-12, "y": 1.0})
    row = next(g for g in result.gradients if g.wrt == "x")
    assert row.reference == pytest.approx(-0.5, rel=1e-9) and row.status == "fail"


def test_the_hessian_is_refereed_where_the_forward_rounds():
    result = check("log(1 + x)/x", at={"x": 1e-12}, order=2)
    (entry,) = result.hessian
    assert entry.reference == pytest.approx(2 / 3, rel=1e-9) and entry.reference_source == "precise"


@pytest.mark.parametrize("text, at", [("log(exp(x))", -800.0), ("log(1 - sigmoid(x))", 40.0)])
def test_a_nan_from_a_rounded_value_is_not_called_zero_times_infinity(text, at):
    result = check(text, at={"x": at})
    assert result.gradients[0].diagnosis in ("underflow", "cancellation")
    assert not [c for c in result.culprits if c.diagnosis == "0·∞"]


def test_a_manual_formula_right_in_exact_arithmetic_is_told_so():
    result = check("log(1 + x)/x", at={"x": 1e-12}, manual={"x": "1/(1 + x)/x - log(1 + x)/x**2"})
    (culprit,) = [c for c in result.culprits if c.kind == "manual"]
    assert culprit.diagnosis == "precision loss" and "right in exact arithmetic" in culprit.message


def test_precise_from_the_command_line_and_a_spec_file(tmp_path):
    code, out = run_json("sin(x**2)", "--x", "4", "--precise")
    assert code == 0 and out["gradients"][0]["reference_source"] == "precise"
    spec = tmp_path / "p.yaml"
    spec.write_text("expr: sin(x**2)\nat: {x: 4}\nprecise: true\n")
    code, out = run_json(str(spec))
    assert code == 0 and out["gradients"][0]["reference_source"] == "precise"
