"""The shape and indexing family of issue 17 beyond its registry rows: tuple literals for options (nested for
gather's index, and positional as torch writes flip(x, (0,))), variadic ops with a dim option, index data out
of range or not rectangular reported as a shape error that names the option (never an internal error), and
repeated indices whose adjoints accumulate, against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradcheck_cli import check
from gradcheck_cli.core.errors import ParseError
from gradcheck_cli.lang.graph import to_text
from gradcheck_cli.lang.parser import parse

M23 = [[0.5, -1.0, 2.0], [1.5, 3.0, -0.25]]


@pytest.mark.parametrize("text, printed", [
    ("gather(x, 1, index=((0, 1), (1, 0)))", "gather(x, dim=1, index=((0, 1), (1, 0)))"),
    ("gather(x, 0, index=(((1,),),))", "gather(x, dim=0, index=(((1,),),))"),
    ("flip(x, (0, 1))", "flip(x, dims=(0, 1))"),
    ("tile(x, (2,))", "tile(x, dims=(2,))"),
    ("roll(x, (1, -2), (0, 1))", "roll(x, shifts=(1, -2), dims=(0, 1))"),
    ("roll(x, -1)", "roll(x, shifts=-1)"),
    ("sum((x))", "sum(x)"),  # a parenthesized operand is no tuple
    ("cat(a, b, a, dim=1)", "concat(a, b, a, dim=1)"),
    ("concat(a, b)", "concat(a, b)"),
    ("stack(a, b, dim=-1)", "stack(a, b, dim=-1)"),
])
def test_tuple_literals_and_dims_parse_and_print_back(text, printed):
    expression = parse(text)
    assert to_text(expression.output) == printed
    assert parse(printed).output.attr == expression.output.attr


@pytest.mark.parametrize("text, message", [
    ("sin(x, (0, 1))", "sin(): a tuple of integers is not an argument it takes here"),
    ("concat((1, 2), x)", "a tuple of integers is an option's value, not an operand"),
    ("gather(x, 1, index=((0, 1.5),))", "index must be an integer or a tuple of integers, got ((0, 1.5),)"),
])
def test_misplaced_tuples_are_parse_errors(text, message):
    with pytest.raises(ParseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


@pytest.mark.parametrize("text, message", [
    ("sum(take(x, index=(6,)))", "take: index 6 is out of range (-6 to 5) for size 6"),
    ("sum(take(x, index=(-7, 0)))", "take: index -7 is out of range"),
    ("sum(index_select(x, 1, index=(0, 3)))", "index_select: index 3 is out of range (0 to 2) for size 3"),
    ("sum(index_select(x, 0, index=(-1,)))", "index_select: index -1 is out of range (0 to 1)"),
    ("sum(gather(x, 1, index=((0, 3), (1, 1))))", "gather: index 3 is out of range (0 to 2) for size 3"),
    ("sum(gather(x, 1, index=((0, 1), (1,))))", "not rectangular"),
    ("sum(gather(x, 1, index=(0, 1)))", "gather: index has rank 1, the input 2"),
    ("sum(gather(x, 2, index=((0,),)))", "gather: dim 2 is out of range for a tensor of rank 2"),
    ("sum(gather(x, 1))", "gather needs index="),
    ("sum(flip(x))", "flip needs dims="),
    ("sum(flip(x, (0, -2)))", "a dim appears more than once"),
    ("sum(roll(x, (1, 2), 0))", "roll: 2 shifts for 1 dims"),
    ("sum(repeat(x, (2,)))", "repeat: 1 sizes for a tensor of rank 2"),
    ("sum(tril(x[0]))", "tril and triu take a matrix"),
    ("sum(diagonal(x, dim1=1, dim2=1))", "a dim appears more than once"),
    ("sum(cat(x, x[0], dim=1))", "cannot be concatenated along dim 1"),
    ("sum(unsqueeze(x))", "unsqueeze needs the dim"),
    ("sum(take(x, index=" + "(" * 40 + "1," + ")" * 40 + "))", "take: index= nests 40 tuples deep; at most 16"),
])
def test_bad_options_are_shape_errors_naming_them(text, message):
    result = check(text, at={"x": M23})
    assert result.status == "error" and result.error["kind"] == "shape", result.error
    assert message in result.error["message"], result.error["message"]


@pytest.mark.parametrize("text, message", [
    ("sum(take(x, index=(99999999999999999999999,)))", "take(): index is too large ((99999999999999999999999,))"),
    ("sum(index_select(x, 0, index=99999999999999999999))", "index_select(): index is too large (1e+20)"),
])
def test_an_index_beyond_64_bits_is_a_parse_error_at_its_place(text, message):
    result = check(text, at={"x": M23})
    assert result.status == "error" and result.error["kind"] == "parse", result.error
    assert message in result.error["message"] and result.error["column"], result.error


@pytest.mark.parametrize("text, build", [
    ("sum(take(x, index=((0, 5), (5, 5)))*w)",
     lambda x, w: (torch.take(x, torch.tensor([[0, 5], [5, 5]])) * w).sum()),
    ("sum(index_select(x, 1, index=(2, 2, 0, 2))**2)",
     lambda x, w: (torch.index_select(x, 1, torch.tensor([2, 2, 0, 2])) ** 2).sum()),
    ("sum(gather(x, 0, index=((1, 1, 1), (1, 0, 1)))*w[0])",
     lambda x, w: (torch.gather(x, 0, torch.tensor([[1, 1, 1], [1, 0, 1]])) * w[0]).sum()),
])
def test_repeated_indices_accumulate_as_torch_does(text, build):
    w = [[1.5, -2.0], [0.25, 3.0]] if "take" in text else [[1.5, -2.0, 0.5], [0.25, 3.0, 1.0]]
    result = check(text, at={"x": M23, **({"w": w} if "w" in text else {})}, wrt=["x"])
    assert result.status == "pass", result.error
    x = torch.tensor(M23, dtype=torch.float64, requires_grad=True)
    build(x, torch.tensor(w, dtype=torch.float64)).backward()
    symbolic = np.array([g.symbolic for g in result.gradients]).reshape(2, 3)
    np.testing.assert_allclose(symbolic, x.grad.numpy(), rtol=1e-14)


def test_second_order_through_selections():
    """The adjoints (unselect, and the selections as its adjoint) are differentiable in turn."""
    for text in ("sum(take(x, index=(0, 0, 4))**3)", "sum(gather(x*x, 1, index=((2, 2), (0, 1)))**2)",
                 "sum(diag(diag(x[0]*x[1]))**3)", "sum(tile(x, (2, 1))**3)", "sum(roll(x, 1)**3)"):
        result = check(text, at={"x": M23}, order=2)
        assert result.status == "pass", (text, result.error)
