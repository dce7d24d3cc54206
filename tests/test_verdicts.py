"""Who is wrong: referees establish the reference, subjects are judged; proven by breaking each engine."""

from __future__ import annotations

import dataclasses
import math

import pytest
from conftest import gradient_row

from gradcheck_cli import check
from gradcheck_cli.lang.ops import OPS
from gradcheck_cli.verdict.compare import GradientRow, Tolerance
from gradcheck_cli.verdict.judge import judge

TOL = Tolerance(rtol=1e-7, atol=1e-7)


def row(**answers) -> GradientRow:
    return judge(GradientRow(wrt="x", index=[], **answers), TOL)


def test_all_agree_passes():
    r = row(symbolic=2.0, autograd=2.0, finite_difference=2.0 + 1e-11, fd_error=1e-10)
    assert r.status == "pass" and r.disagrees == [] and r.reference == 2.0


def test_a_wrong_subject_is_named():
    r = row(symbolic=2.0, autograd=3.0, finite_difference=2.0, fd_error=1e-10)
    assert r.status == "fail" and r.disagrees == ["autograd"]
    assert r.reference == 2.0 and r.reference_source == "symbolic"
    assert r.rel_error == pytest.approx(0.5)


@pytest.mark.parametrize("wrong", ["symbolic", "finite_difference"])
def test_referees_that_disagree_are_inconclusive_until_the_high_precision_referee_settles(wrong):
    answers = {"symbolic": 2.0, "autograd": 2.0, "finite_difference": 2.0}
    answers[wrong] = 3.0
    r = row(**answers, fd_error=1e-10)
    assert r.status == "inconclusive" and r.disagrees == [] and r.reference is None
    assert "disagree" in r.reason
    settled = row(**answers, fd_error=1e-10, precise=2.0, precise_error=1e-30)
    assert settled.status == "pass" and settled.reference == 2.0 and settled.reference_source == "precise"
    assert len(settled.referee_notes) == 1 and settled.referee_notes[0].startswith(wrong.replace("_", " "))


def test_manual_and_expected_are_judged_against_the_engines():
    r = row(symbolic=2.0, autograd=2.0, finite_difference=2.0, fd_error=0.0, manual=1.0, expected=2.0)
    assert r.disagrees == ["manual"]
    r = row(symbolic=2.0, autograd=2.0, finite_difference=2.0, fd_error=0.0, manual=2.0, expected=2.5)
    assert r.disagrees == ["expected"]


def test_finite_difference_error_bar_widens_only_its_own_comparison():
    r = row(symbolic=2.0, autograd=2.0, finite_difference=2.001, fd_error=2e-3)
    assert r.disagrees == [] and r.status == "inconclusive"  # agrees, but a 2e-3 bar confirms nothing at 1e-7
    r = row(symbolic=2.0, autograd=2.0, finite_difference=2.01, fd_error=2e-3)
    assert r.disagrees == [] and r.status == "inconclusive"  # referees disagree: no subject is blamed


def test_subjects_never_vote():
    r = row(symbolic=1.0, autograd=2.0, finite_difference=3.0, fd_error=1e-12)
    assert r.status == "inconclusive" and r.disagrees == []
    r = row(symbolic=1.0, autograd=2.0, finite_difference=3.0, fd_error=1e-12, precise=2.0, precise_error=0.0)
    assert r.status == "pass" and r.reference == 2.0 and len(r.referee_notes) == 2
    r = row(symbolic=2.0, autograd=1.0, manual=1.0, expected=1.0, finite_difference=2.0, fd_error=1e-12)
    assert r.status == "fail" and r.disagrees == ["autograd", "manual", "expected"] and r.reference == 2.0


def test_kinks_that_cancel_take_the_one_sided_value():
    r = row(symbolic=0.0, autograd=0.0, left=1.0, right=1.0)
    assert r.reference == 1.0 and r.reference_source == "one_sided" and r.disagrees == ["autograd"]
    assert any("relu'(0) = 0" in note for note in r.referee_notes)


def test_a_derivative_beyond_the_float_range_is_matched_only_by_the_same_infinity():
    assert row(symbolic=math.inf, autograd=math.inf, precise=math.inf).status == "pass"
    assert row(symbolic=math.inf, autograd=-math.inf, precise=math.inf).disagrees == ["autograd"]


def test_non_finite_answer_disagrees():
    r = row(symbolic=2.0, autograd=math.nan, finite_difference=2.0, fd_error=1e-12)
    assert r.disagrees == ["autograd"]


def test_tolerance_is_absolute_near_zero():
    assert row(symbolic=0.0, autograd=5e-8, finite_difference=0.0, fd_error=0.0).status == "pass"
    assert row(symbolic=0.0, autograd=5e-7, finite_difference=0.0, fd_error=0.0).disagrees == ["autograd"]


def _with(monkeypatch, name: str, **changes) -> None:
    monkeypatch.setitem(OPS, name, dataclasses.replace(OPS[name], **changes))


def test_a_wrong_registry_rule_is_a_note_on_symbolic_naming_the_rule(monkeypatch):
    _with(monkeypatch, "sin", partials=(lambda x, out: -x.graph.apply("cos", x),))  # wrong sign
    result = check("sin(x**2)", at={"x": 4.0})
    (g,) = result.gradients
    assert result.status == "pass" and g.reference_source == "precise"  # autograd, the subject, is right
    assert g.referee_notes and g.referee_notes[0].startswith("symbolic")
    assert "sin" in g.referee_notes[0]  # the rule that is wrong


def test_a_wrong_torch_backward_is_blamed_on_autograd(monkeypatch):
    # Same forward value, but the gradient flows as if sin were the identity.
    _with(monkeypatch, "sin", torch=lambda x: x.sin().detach() + x - x.detach())
    result = check("sin(x**2)", at={"x": 4.0})
    assert result.status == "fail"
    assert result.gradients[0].disagrees == ["autograd"]


def test_a_wrong_forward_is_blamed_on_finite_differences(monkeypatch):
    # numpy's forward (used only by finite differences and values) off by a term in x.
    _with(monkeypatch, "sin", numpy=lambda x: __import__("numpy").sin(x) + 0.01 * x)
    result = check("sin(x**2)", at={"x": 4.0})
    (g,) = result.gradients
    assert result.status == "pass" and g.reference_source == "precise"
    assert len(g.referee_notes) == 1 and g.referee_notes[0].startswith("finite difference")


def test_per_element_verdicts_on_a_vector():
    result = check("sum(x**3)", at={"x": [1.0, 2.0, 3.0]}, manual={"x": "3*x**2 + (x > 2.5)"})
    assert result.status == "fail"
    assert [r.status for r in result.gradients] == ["pass", "pass", "fail"]
    assert [r.index for r in result.gradients] == [[0], [1], [2]]
    assert gradient_row(result.gradients, "x", [2]).disagrees == ["manual"]


def test_answers_passing_only_within_atol_get_a_note():
    lenient = check("x**3", at={"x": 1e-4}, manual={"x": "x**2"})  # 1e-8 vs 3e-8: within atol 1e-7
    assert lenient.status == "pass"
    assert lenient.notes and "within atol = 1e-07" in lenient.notes[0]
    strict = check("x**3", at={"x": 1e-4}, manual={"x": "x**2"}, atol=0)
    assert strict.status == "fail" and strict.gradients[0].disagrees == ["manual"]
    assert check("x**3", at={"x": 1e-4}, manual={"x": "3*x**2"}).notes == []


def test_inconclusive_when_finite_differences_cannot_referee():
    assert row(symbolic=2.0, autograd=2.0, finite_difference=None).status == "inconclusive"
    assert row(symbolic=2.0, autograd=2.0, finite_difference=2.0, fd_error=1e-12).status == "pass"


@pytest.mark.parametrize("subjects", [("autograd",), ("autograd", "manual", "expected")])
def test_the_vote_on_arrays_is_judges_vote_entry_by_entry(subjects):
    """judge.plain_passes (issue 20) finds on whole arrays the entries judge() passes with the symbolic value as
    the reference, and passed_row fills them in as judge() does: on values near every boundary of the tolerance,
    the error bar and informativeness, NaN, infinities and zeros, the same rows, field by field."""
    import numpy as np

    from gradcheck_cli.verdict.compare import gradient_row as unjudged
    from gradcheck_cli.verdict.judge import passed_errors, passed_row, plain_passes

    tolerance = Tolerance(rtol=1e-7, atol=1e-7)
    rng = np.random.default_rng(20)
    size = 20_000
    symbolic = rng.choice([0.0, 1e-9, 1.0, -3.5, 1e8, np.nan, np.inf], size) * (1 + rng.normal(0, 1e-8, size))
    near = lambda: symbolic * (1 + rng.choice([0, 1e-7, -1e-7, 2e-7], size)) + rng.choice([0, 1e-7, -1.1e-7], size)  # noqa: E731
    bars = rng.choice([0.0, 1e-8, 1e-7, 1e-3, np.nan], size)
    answers = {"symbolic": symbolic, "finite_difference": near(), "fd_error": bars}
    answers["finite_difference"][rng.random(size) < 0.05] = np.nan
    for name in subjects:
        answers[name] = near()
        answers[name][rng.random(size) < 0.02] = np.inf
    passes = plain_passes(answers, tolerance)
    gaps, relative = passed_errors(answers)
    assert 0.05 * size < passes.sum() < 0.9 * size  # both kinds are exercised
    for i in range(size):
        values = {name: float(array[i]) for name, array in answers.items()}
        judged = judge(unjudged(values, wrt="x", index=[i]), tolerance)
        assert passes[i] == (judged.status == "pass" and judged.reference_source == "symbolic"), (i, values)
        if passes[i]:
            assert passed_row(values, float(gaps[i]), float(relative[i]), wrt="x", index=[i]) == judged
