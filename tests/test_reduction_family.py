"""The reductions family of issue 17 beyond its registry rows: the forms of sum/mean/amax/amin (the axis forms
kept, the overloads with a tuple of dims or keepdim), cumprod's gradient at zeros against torch, and the points
where var, std, sort and topk are not differentiable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradcheck_cli import check
from gradcheck_cli.lang.graph import to_text
from gradcheck_cli.lang.parser import parse


@pytest.mark.parametrize("text, op, attr", [
    ("sum(x)", "sum", None), ("sum(x, 0)", "sum", (0,)), ("sum(x, dim=0)", "sum", (0,)), ("max(x)", "amax", None),
    ("amax(x, dim=-1)", "amax", (-1,)), ("mean(x, 1)", "mean", (1,)),
    ("sum(x, dim=(0, 1), keepdim=True)", "sum_dims", (("dim", (0, 1)), ("keepdim", True))),
    ("sum(x, dim=0, keepdim=True)", "sum_dims", (("dim", (0,)), ("keepdim", True))),
    ("mean(x, dim=(1,))", "mean_dims", (("dim", (1,)), ("keepdim", False))),
    ("amin(x, keepdim=True)", "amin_dims", (("dim", None), ("keepdim", True))),
    ("var(x, 1, correction=0)", "variance", (("dim", (1,)), ("correction", 0), ("keepdim", False))),
    # torch.max/min over one dim: their own op, whose torch builder is torch.max(x, dim) (not amax)
    ("max(x, dim=1)", "max_dim", (("dim", 1), ("keepdim", False))),
    ("min(x, dim=-1, keepdim=True)", "min_dim", (("dim", -1), ("keepdim", True))),
    ("max(x, dim=(0,), keepdim=True)[0]", "max_dim", (("dim", 0), ("keepdim", True))),
])
def test_the_forms_of_the_reductions(text, op, attr):
    expression = parse(text)
    node = expression.output
    assert node.op == op
    assert (node.attr if node.attr is None or op in ("sum", "amax", "mean") else node.attr.items) == attr
    printed = to_text(node, expression.names())
    assert parse(printed).output.op == op


@pytest.mark.parametrize("x", [[0.5, 0.0, 2.0, 3.0], [0.0, 1.5, -2.0], [1.5, -2.0, 0.0], [0.0, 0.0, 2.0],
                               [1.5, 0.0, -2.0, 0.0, 4.0]])
def test_cumprod_gradient_at_zeros_is_torchs(x):
    w = np.linspace(1.0, -1.5, len(x))
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (torch.cumprod(t, 0) * torch.tensor(w)).sum().backward()
    result = check("sum(cumprod(x, 0)*w)", at={"x": x, "w": list(w)}, wrt=["x"])
    assert result.status == "pass", result.rendered_error
    np.testing.assert_allclose([row.symbolic for row in result.gradients], t.grad.numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("text, x", [("std(x)", [2.0, 2.0, 2.0]), ("sum(sort(x)*w)", [1.0, 1.0, 2.0]),
                                     ("sum(topk(x, 1)*w)", [1.0, 2.0, 2.0])])
def test_not_differentiable_points(text, x):
    at = {"x": x} if "w" not in text else {"x": x, "w": [1.0, 2.0, 3.0][: 1 if "topk" in text else 3]}
    assert check(text, at=at).status == "undefined"


def test_a_tie_outside_the_top_k_is_no_kink():
    assert check("sum(topk(x, 1)*w)", at={"x": [1.0, 1.0, 2.0], "w": [1.5]}).status == "pass"


def test_var_refuses_too_few_elements():
    result = check("var(x)", at={"x": 1.5})
    assert result.status == "error" and "correction" in result.rendered_error


@pytest.mark.parametrize("text, torch_call", [
    ("sum(max(A, dim=1)[0]*w)", lambda A: torch.max(A, dim=1).values),
    ("sum(min(A, dim=0, keepdim=True)*w)", lambda A: torch.min(A, dim=0, keepdim=True).values),
])
def test_the_autograd_column_of_max_over_a_dim_is_torchs_own_at_a_tie(text, torch_call):
    """torch.max(x, dim)'s backward gives a tie's gradient to the one index it picked; amax shares it.  The
    autograd column is torch's op (was: amax's 0.5, 0.5 at the tie), and the tie is a kink either way."""
    A = [[1.0, 2.0], [3.0, 3.0]] if "max" in text else [[1.0, 2.0], [1.0, 3.0]]
    w = [1.0, 2.0] if "max" in text else [[1.0, 2.0]]
    leaf = torch.tensor(A, dtype=torch.float64, requires_grad=True)
    (torch_call(leaf) * torch.tensor(w, dtype=torch.float64)).sum().backward()
    result = check(text, at={"A": A, "w": w}, wrt=["A"])
    assert result.status == "undefined"
    assert [row.autograd for row in result.gradients] == leaf.grad.flatten().tolist()
    tied = [row for row in result.gradients if row.status == "undefined"]
    assert len(tied) == 2 and sorted(row.autograd for row in tied) != [row.symbolic for row in tied]


@pytest.mark.parametrize("text, value", [("sum(x, dim=None)", 3.0), ("mean(x, dim=None)", 1.5),
                                         ("amax(x, dim=None)", 2.0), ("sum(x, None)", 3.0), ("mean(x, None)", 1.5)])
def test_dim_none_is_every_element_as_torch(text, value):
    """torch.sum(x, dim=None) reduces every element (was: an internal error, comparing an int with None)."""
    result = check(text, at={"x": [1.0, 2.0]})
    assert result.status == "pass" and result.value == value


def test_max_with_dim_none_is_refused_as_torch_does():
    result = check("max(x, dim=None)", at={"x": [1.0, 2.0]})
    assert result.status == "error"
    assert "max(): dim must be an integer, as torch.max's" in result.rendered_error


@pytest.mark.parametrize("text, torch_call", [
    ("sum(sort(x, dim=0, descending=True, stable=True)*w)",
     lambda t: torch.sort(t, dim=0, descending=True, stable=True).values),
    ("sum(topk(x, k=2, sorted=True)*w[:2])", lambda t: torch.topk(t, k=2, sorted=True).values),
])
def test_torchs_sort_and_topk_keywords_are_taken(text, torch_call):
    """stable= orders only the indices; sorted=True is topk's default (was: 'takes no keyword argument')."""
    x, w = [3.0, 1.0, 2.0], [1.0, 2.0, 3.0]
    result = check(text, at={"x": x, "w": w}, wrt=["x"])
    leaf = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    weights = torch.tensor(w, dtype=torch.float64)
    value = (torch_call(leaf) * weights[: torch_call(leaf).numel()]).sum()
    value.backward()
    assert result.status == "pass" and result.value == value.item()
    assert [row.reference for row in result.gradients] == leaf.grad.tolist()


def test_topk_unsorted_is_refused():
    result = check("sum(topk(x, 2, sorted=False))", at={"x": [3.0, 1.0, 2.0]})
    assert result.status == "error" and "sorted=False leaves the order of the k values unspecified" in \
        result.rendered_error


@pytest.mark.parametrize("text", ["sum(norm(A, 1))", "norm(A, 0)", "norm(A, -1)", "norm(A, 3)", "norm(A, p=1)",
                                  "sum(norm(A, 1, dim=1))", "sum(norm(A, p=3, dim=0))", "sum(norm(A, 1, 0))"])
def test_norms_second_positional_argument_is_torchs_p_not_dim(text):
    """torch.norm(A, 1) is the 1-norm of every element (its second argument is p), not the 2-norm along dim 1: the
    positional form is refused, pointing at the number, with the dim= spelling."""
    with pytest.raises(Exception) as raised:
        parse(text)
    message = str(raised.value)
    assert "order p, not dim" in message and "norm(x, dim=1)" in message


@pytest.mark.parametrize("text, torch_value", [
    ("norm(A, 2)", lambda a: torch.norm(a, 2)),
    ("sum(norm(A, dim=1))", lambda a: torch.norm(a, dim=1).sum()),
    ("sum(norm(A, dim=0))", lambda a: torch.linalg.vector_norm(a, dim=0).sum()),
    ("sum(norm(A, 2, dim=1))", lambda a: torch.norm(a, 2, dim=1).sum()),
    ("sum(norm(A, 2, 0))", lambda a: torch.norm(a, 2, 0).sum()),
    ("sum(norm(A, p=2, dim=1))", lambda a: torch.norm(a, p=2, dim=1).sum()),
    ("norm(A, p=2)", lambda a: torch.norm(a, p=2)),
])
def test_norm_spelled_as_torch_computes_torchs_value(text, torch_value):
    a = [[1.0, -2.0], [3.0, 4.0]]
    result = check(text, at={"A": a})
    assert result.status == "pass"
    assert result.value == pytest.approx(float(torch_value(torch.tensor(a, dtype=torch.float64))))


def test_norm_along_a_dim_prints_its_dim_by_name():
    """A derivative graph's text re-parses to the same function: norm(A, dim=1), never norm(A, 1)."""
    expression = parse("norm(A, dim=1)")
    assert to_text(expression.output, expression.names()) == "norm(A, dim=1)"


@pytest.mark.parametrize("text", ["sum(logsumexp(A, 0, dim=1))", "sum(norm(A, 2, 1, dim=0))"])
def test_dim_by_position_and_by_keyword_is_said_so(text):
    """An op that takes dim, given it twice: not 'takes no keyword argument 'dim' (its options: dim)'."""
    with pytest.raises(Exception) as raised:
        parse(text)
    assert "dim is given by position and by keyword" in str(raised.value)
