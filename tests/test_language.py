"""The expression language: precedence as in Python, bindings, printing, simplified formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcheck_cli import check
from gradcheck_cli.core.errors import ParseError
from gradcheck_cli.engines.symbolic import gradient_nodes
from gradcheck_cli.lang.graph import same_structure, to_text
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.lang.plan import Plan, batched
from gradcheck_cli.lang.shapes import ShapeMap


def evaluate(text: str, **point) -> float:
    expression = parse(text)
    shapes = ShapeMap({name: () for name in point})
    plan = Plan([expression.output], shapes)
    values = plan.run({name: batched(np.float64(v)) for name, v in point.items()})
    return float(plan.value(values, expression.output)[0])


# Each pair: our expression and the Python expression that must give the same number.
PRECEDENCE = [
    ("-x**2", lambda x: -x**2),
    ("2**-x", lambda x: 2**-x),
    ("2**x**2", lambda x: 2**x**2),
    ("-x**-x", lambda x: -x**-x),
    ("x - 1 - 2", lambda x: x - 1 - 2),
    ("x/2/4", lambda x: x / 2 / 4),
    ("x/2*4", lambda x: x / 2 * 4),
    ("1 + x*3**2", lambda x: 1 + x * 3**2),
    ("+x - -x", lambda x: +x - -x),
    ("(x > 1)*2 + (x <= 1)", lambda x: (x > 1) * 2 + (x <= 1)),
    ("pi*e", lambda x: math.pi * math.e),
    (".5e1*x", lambda x: 5.0 * x),
    ("pow(x, 3)", lambda x: x**3),
]


@pytest.mark.parametrize("text, python", PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_precedence_matches_python(text, python):
    assert evaluate(text, x=1.5) == pytest.approx(python(1.5), rel=1e-15)


def test_bindings_are_named_nodes_shared_by_later_uses():
    expression = parse("z = w*x + b; p = sigmoid(z); p*(1 - p)")
    assert list(expression.bindings) == ["z", "p"]
    assert expression.variables == ["w", "x", "b"]
    assert to_text(expression.output, expression.names()) == "p*(1 - p)"
    assert expression.output.args[0] is expression.bindings["p"]


def test_identical_subexpressions_are_one_node():
    expression = parse("sin(x*y) + sin(x*y)")
    left, right = expression.output.args
    assert left is right


def test_binding_used_before_definition_is_an_error():
    with pytest.raises(ParseError, match="'z' is used at column 5 before its binding"):
        parse("y = z*2; z = x; y")


@pytest.mark.parametrize("text, formula", [
    ("sin(x**2)", "2*x*cos(x**2)"),
    ("x**2", "2*x"),
    ("x**3", "3*x**2"),
    ("3*x", "3"),
    ("x*x", "2*x"),
    ("exp(2*x)", "2*exp(2*x)"),
    ("log(x)", "1/x"),
    ("x + 0*y", "1"),
    ("x - x", "0"),
    ("1/x", "-1/x**2"),
])
def test_derivative_formulas_are_simplified(text, formula):
    assert check(text, at={n: 1.3 for n in parse(text).variables}).formulas["x"] == formula


def test_long_formulas_switch_to_let_bindings_that_parse_back():
    text = "x"
    for _ in range(12):
        text = f"sin({text})*cos({text})"
    expression = parse(text)
    shapes = ShapeMap({"x": ()})
    derivative = gradient_nodes(expression.output, ["x"], shapes)["x"]
    printed = to_text(derivative, limit=500)
    assert "; " in printed
    reparsed = parse(printed)
    assert same_structure(reparsed.output, derivative)


def test_printed_expressions_parse_back_to_the_same_graph():
    for text in ("z = w*x + b; p = sigmoid(z); -(y*log(p) + (1 - y)*log(1 - p))",
                 "clamp(x, 1e-08, 1 - 1e-08)", "min(a, b)*max(a, -b)", "(-2)**x", "x*-2"):
        expression = parse(text)
        assert same_structure(parse(to_text(expression.output)).output, expression.output), text


@pytest.mark.parametrize("source, tokens", [
    ("x  ", [("NAME", "x", (0, 1))]),  # trailing spaces: no token, no error
    (" a\n+\tb", [("NAME", "a", (1, 2)), ("OP", "+", (3, 4)), ("NAME", "b", (5, 6))]),
    ("x\u00a0** 2 ", [("NAME", "x", (0, 1)), ("OP", "**", (2, 4)), ("NUMBER", "2", (5, 6))]),
])
def test_tokens_skip_the_spaces_around_them_and_keep_their_own_spans(source, tokens):
    from itertools import takewhile

    from gradcheck_cli.lang.lexer import tokenize

    read = [(t.kind, t.text, tuple(t.span)) for t in takewhile(lambda t: t.kind != "END", tokenize(source))]
    assert read == tokens


def test_a_stray_character_after_spaces_is_pointed_at_itself():
    with pytest.raises(ParseError) as raised:
        parse("x +   #")
    assert raised.value.span == (6, 7) and "'#'" in raised.value.message
