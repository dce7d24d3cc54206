"""Keyword arguments as torch writes them: `softmax(z, dim=-1)`, `leaky_relu(x, negative_slope=0.2)`."""

from __future__ import annotations

import pytest

from gradcheck_cli import check
from gradcheck_cli.core.errors import ParseError
from gradcheck_cli.lang.graph import Graph, to_text
from gradcheck_cli.lang.parser import parse


def _same_node(a: str, b: str) -> bool:
    graph = Graph()
    return parse(a, graph=graph).output is parse(b, graph=graph).output


@pytest.mark.parametrize("written, same_as", [
    ("softmax(z, dim=-1)", "softmax(z, -1)"),
    ("sum(x, dim=0)", "sum(x, 0)"),
    ("leaky_relu(x, negative_slope=0.2)", "leaky_relu(x, 0.2)"),
    ("leaky_relu(x, negative_slope=0.01)", "leaky_relu(x)"),
    ("leaky_relu(x, negative_slope=1)", "leaky_relu(x, 1.0)"),
    ("leaky_relu(x, negative_slope = -0.5)", "leaky_relu(x, -0.5)"),
])
def test_a_keyword_argument_is_the_same_node_as_its_positional_form(written, same_as):
    assert _same_node(written, same_as)


def test_options_that_differ_are_different_nodes_and_print_back_only_when_not_the_default():
    assert not _same_node("leaky_relu(x, 0.2)", "leaky_relu(x, 0.3)")
    assert to_text(parse("leaky_relu(x, negative_slope=0.2) + leaky_relu(x)").output) == \
        "leaky_relu(x, negative_slope=0.2) + leaky_relu(x)"


@pytest.mark.parametrize("text, message", [
    ("leaky_relu(x, negative_slop=0.2)", "leaky_relu() takes no keyword argument 'negative_slop' (did you mean"),
    ("leaky_relu(x, negative_slope=0.2, negative_slope=0.3)", "negative_slope is given twice"),
    ("leaky_relu(x, 0.2, negative_slope=0.3)", "negative_slope is given by position and by keyword"),
    ("leaky_relu(negative_slope=0.2, x)", "a positional argument after keyword arguments"),
    ("leaky_relu(x, negative_slope='a')", "negative_slope must be a number, got 'a'"),
    ("leaky_relu(x, negative_slope=True)", "negative_slope must be a number, got True"),
    # the kind the option takes, not every kind there is (was: "a number, text in quotes, True, False or a tuple")
    ("leaky_relu(x, negative_slope=y)", "negative_slope must be a constant written in the expression: a number, not "
                                        "a variable or an expression"),
    ("leaky_relu(x, y)", "negative_slope must be a constant"),
    ("leaky_relu(x, 0.1, 0.2)", "leaky_relu() takes input, negative_slope by position, got 3 arguments"),
    ("sin(x, dim=0)", "sin() takes no keyword argument 'dim'"),
    ("sum(x, dim=0.5)", "sum(): dim must be an integer, got 0.5"),
    ("sum(x, keep=True)", "sum() takes no keyword argument 'keep' (did you mean 'keepdim'?)"),
    # the keyword it does not take (was: "logsumexp() takes no keyword argument 'dim' (its options: dim)")
    ("logsumexp(x, dim=0, keepdim=True)", "logsumexp() takes no keyword argument 'keepdim' (its options: dim)"),
    ("sin('x')", "found the text 'x'"),
    # optional operands (tensor options), text choices, integer bounds, True/None by position
    ("conv2d(x, w, bias=(1, 2))", "bias must be a tensor (an expression) or None, got (1, 2)"),
    ("conv2d(x, w, bias='b')", "bias must be a tensor (an expression) or None, got 'b'"),
    ("conv2d(x, w, stride=s)", "stride must be a constant written in the expression: an integer or a tuple of "
                               "integers, not"),
    ("conv2d(x, w, padding=s)", "padding must be a constant written in the expression: an integer or a tuple of "
                                "integers, or one of 'valid', 'same', not a variable"),
    ("conv2d(None, w)", "None only leaves out an optional operand"),
    ("conv2d(x, w, padding='full')", "padding must be an integer or a tuple of integers, or one of 'valid', 'same'"),
    ("conv2d(x, w, b, bias=b)", "bias is given by position and by keyword"),
    ("cdist(a, b, p=inf)", "p must be a constant: write p='inf' (in quotes)"),
    # a choice that is also a function's name (was: "'tanh' is a function (call it as tanh(...))")
    ("gelu(x, approximate=tanh)", "gelu(): approximate must be a constant: write approximate='tanh' (in quotes)"),
    ("mse_loss(x, y, reduction=sum)", "reduction must be a constant: write reduction='sum' (in quotes)"),
    ("avg_pool2d(x, 3, divisor_override=99999999999999999999)", "divisor_override is too large (1e+20)"),
    ("flip(x, (99999999999999999999,))", "dims is too large"),
    ("cdist(a, b, p='Inf')", "p must be a number, or one of 'inf', got 'Inf'"),
    ("sin(True)", "sin(): found True, which is not an argument it takes here"),
    ("leaky_relu(x, None)", "negative_slope must be a number, got None"),
])
def test_a_wrong_keyword_argument_is_one_error_pointing_at_it(text, message):
    with pytest.raises(ParseError) as caught:
        parse(text)
    assert message in str(caught.value), str(caught.value)
    assert caught.value.span is not None


def test_an_op_with_an_option_is_checked_by_every_engine():
    result = check("leaky_relu(x, negative_slope=0.2)*x", at={"x": -1.5}, precise=True)
    row = result.gradients[0]
    assert result.status == "pass" and row.symbolic == pytest.approx(-0.6) and row.autograd == pytest.approx(-0.6)
    assert row.finite_difference == pytest.approx(-0.6, rel=1e-8) and row.precise == pytest.approx(-0.6)
    wrong = check("leaky_relu(x, negative_slope=0.2)", at={"x": -1.5}, manual={"x": "0.01"})
    assert wrong.status == "fail"


@pytest.mark.parametrize("written, same_as, printed", [
    ("conv2d(x, w, b, 1, 1)", "conv2d(x, w, bias=b, padding=1)", "conv2d(x, w, bias=b, padding=1)"),
    ("conv2d(x, w, None, 2)", "conv2d(x, w, stride=2)", "conv2d(x, w, stride=2)"),
    ("conv2d(x, w, bias=None)", "conv2d(x, w)", "conv2d(x, w)"),
    ("conv2d(x, w, bias=b*2)", "conv2d(x, w, b*2)", "conv2d(x, w, bias=b*2)"),
    ("conv2d(x, w, 0.5)", "conv2d(x, w, bias=0.5)", "conv2d(x, w, bias=0.5)"),
    ("conv1d(x, w, padding='same')", "conv1d(x, w, None, 1, 'same')", "conv1d(x, w, padding='same')"),
])
def test_an_optional_operand_by_position_by_keyword_or_none(written, same_as, printed):
    """A tensor option (conv2d's bias) is an operand of the node when given, and nothing when None."""
    assert _same_node(written, same_as)
    expression = parse(written)
    assert to_text(expression.output, expression.names()) == printed
    assert len(expression.output.args) == 2 + ("bias" in printed)


def test_the_gradient_reaches_an_optional_operand():
    result = check("sum(conv1d(x, w, b, padding=1)**2)", at={"x": [[[0.5, -1.0, 2.0]]], "w": [[[0.25, 1.0, -0.5]]],
                                                             "b": [0.75]})
    assert result.status == "pass", result.rendered_error
    assert [row.wrt for row in result.gradients][-1] == "b"


@pytest.mark.parametrize("written, same_as", [
    ("avg_pool2d(x, 3, 2, 1, True)", "avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)"),
    ("avg_pool2d(x, 3, None)", "avg_pool2d(x, 3)"),
    ("avg_pool2d(x, 3, stride=None, divisor_override=None)", "avg_pool2d(x, 3)"),
    ("sum(x, 0, True)", "sum(x, dim=0, keepdim=True)"),
])
def test_true_false_and_none_by_position_or_keyword_are_option_values(written, same_as):
    assert _same_node(written, same_as)


def test_a_required_option_left_none_is_one_error():
    result = check("sum(avg_pool2d(x, None))", at={"x": [[[1.0, 2.0], [3.0, 4.0]]]})
    assert result.status == "error" and "kernel_size is required" in result.rendered_error
