"""Calls written as torch writes them, issue 17: einsum with its subscripts first (einsum('ij,jk->ik', a, b)), and
max/min along a dim (torch.max(x, dim=1) returns (values, indices); here the values, with torch.max's backward)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradcheck_cli import check
from gradcheck_cli.core.errors import ParseError
from gradcheck_cli.lang.graph import to_text
from gradcheck_cli.lang.parser import parse

M23 = [[0.5, -1.0, 2.0], [1.5, 3.0, -0.25]]
M32 = [[0.25, -2.0], [1.25, 0.5], [-1.5, 3.0]]


# ---- einsum, positional ----


@pytest.mark.parametrize("positional, keyword", [
    ("einsum('ij,jk->ik', a, b)", "einsum(a, b, equation='ij,jk->ik')"),
    ('einsum("i,j->ij", a, b)', "einsum(a, b, equation='i,j->ij')"),
    ("einsum('ij->ji', a)", "einsum(a, equation='ij->ji')"),
    ("sum(einsum('ij,jk,k->i', a, b, c)**2)", "sum(einsum(a, b, c, equation='ij,jk,k->i')**2)"),
])
def test_the_positional_form_is_the_keyword_form(positional, keyword):
    mine, theirs = parse(positional), parse(keyword)
    assert to_text(mine.output) == to_text(theirs.output) == keyword  # printed in the keyword form, which reads back
    assert to_text(parse(to_text(mine.output)).output) == keyword


def test_the_positional_form_is_checked_against_torch():
    result = check("sum(einsum('ij,jk->ik', a, b)**2)", at={"a": M23, "b": M32})
    assert result.status == "pass"
    a = torch.tensor(M23, dtype=torch.float64, requires_grad=True)
    (torch.einsum("ij,jk->ik", a, torch.tensor(M32, dtype=torch.float64)) ** 2).sum().backward()
    np.testing.assert_allclose([g.symbolic for g in result.gradients if g.wrt == "a"], a.grad.numpy().ravel(),
                               rtol=1e-13)


@pytest.mark.parametrize("text, words", [
    ("einsum('ij->ji')", "takes its operands after the equation"),
    ("einsum('ij->ji', a, equation='ij->ji')", "given by position and by keyword"),
    ("einsum(a, 'ij->ji')", "found the text 'ij->ji'"),
    ("sum('ij', a)", "found the text 'ij'"),
])
def test_misplaced_text_is_a_parse_error_with_a_position(text, words):
    with pytest.raises(ParseError, match=words):
        parse(text)


# ---- max and min along a dim ----

X = [[1.0, 4.0, -2.0], [3.0, 0.5, 2.5]]


@pytest.mark.parametrize("text, function", [
    ("max(x, dim=1)", lambda t: torch.max(t, dim=1).values),
    ("min(x, dim=0)", lambda t: torch.min(t, dim=0).values),
    ("max(x, dim=-1, keepdim=True)", lambda t: torch.max(t, dim=-1, keepdim=True).values),
    ("min(x, dim=1, keepdim=True)", lambda t: torch.min(t, dim=1, keepdim=True).values),
    ("max(x, 0, True)", lambda t: torch.max(t, 0, True).values),
    ("max(x)", torch.max),
])
def test_max_and_min_along_a_dim_are_torchs_values(text, function):
    t = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    expected = function(t)
    weights = np.arange(1.0, expected.numel() + 1).reshape(tuple(expected.shape)).tolist()
    result = check(f"sum({text}*w)", at={"x": X, "w": weights})
    assert result.status == "pass"
    (expected * torch.tensor(weights, dtype=torch.float64)).sum().backward()
    assert [g.symbolic for g in result.gradients if g.wrt == "x"] == t.grad.numpy().ravel().tolist()
    assert parse(text).output.op == ("amax" if text == "max(x)" else text[:3] + "_dim")  # torch.max(x, dim)


def test_max_with_a_number_stays_the_elementwise_max():
    """max(x, 1) is max(x, 1) elementwise, as before (torch.max(x, 1) would reduce along dim 1: write dim=1)."""
    assert parse("max(x, 1)").output.op == "max" and parse("max(x, dim=1)").output.op == "max_dim"


def test_a_tie_along_the_dim_is_a_kink():
    result = check("sum(max(x, dim=1, keepdim=True))", at={"x": [[2.0, 2.0], [1.0, 3.0]]})
    assert result.status == "undefined"
    assert [g.status for g in result.gradients] == ["undefined", "undefined", "pass", "pass"]


@pytest.mark.parametrize("equation, operands", [("ij,jk", ("a", "b")), ("aj,jB", ("a", "b")), ("i,i", ("x", "x")),
                                                ("ji", ("a",))])
def test_einsum_implicit_output_is_torchs(equation, operands):
    """Without '->' torch's output is the letters that appear once, in ASCII order ('aj,jB' gives 'Ba'); it was
    refused ("must name its output after '->'")."""
    at = {"a": M23, "b": M32, "x": [1.5, -2.0]}
    tensors = {name: torch.tensor(v, dtype=torch.float64, requires_grad=True) for name, v in at.items()}
    expected = torch.einsum(equation, *(tensors[name] for name in operands))
    weights = np.arange(1.0, expected.numel() + 1).reshape(tuple(expected.shape)).tolist()
    text = f"sum(einsum('{equation}', {', '.join(operands)})*w)" if expected.dim() else \
        f"einsum('{equation}', {', '.join(operands)})*w"
    result = check(text, at={**{name: at[name] for name in set(operands)}, "w": weights if expected.dim() else 1.0})
    assert result.status == "pass", result.rendered_error
    (expected * torch.tensor(weights, dtype=torch.float64)).sum().backward()
    first = operands[0]
    assert [g.reference for g in result.gradients if g.wrt == first] == \
        pytest.approx(tensors[first].grad.flatten().tolist(), rel=1e-14, abs=1e-14)
