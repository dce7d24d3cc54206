"""Typo hints for first-time users (issue 19): other languages' spellings (np.sin, torch.sin, math.cos, ln, x²,
×, −, ÷, √, π) get one message naming the fix, the caret on what to change, exit code 2; the fix suggested is
itself valid (each case failed before: 'unknown attribute', 'unknown function', 'unexpected character')."""

from __future__ import annotations

import pytest

from gradcheck_cli.core.errors import ParseError
from gradcheck_cli.lang.ops import OVERLOADS
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.lang.spellings import SYNONYMS


def error_of(text: str) -> tuple[str, str]:
    """(message with its hint, the text under the caret) of parsing `text`."""
    with pytest.raises(ParseError) as caught:
        parse(text)
    error = caught.value
    return str(error) + f" ({error.hint})", text[error.span.start:error.span.end]


@pytest.mark.parametrize("text, words, marked, fixed", [
    ("np.sin(x)", "write sin(x): the language uses torch's function names without a module prefix", "np.",
     "sin(x)"),
    ("torch.sin(x)", "write sin(x)", "torch.", "sin(x)"),
    ("math.cos(x) + 1", "write cos(x)", "math.", "cos(x) + 1"),
    ("F.relu(x)", "write relu(x)", "F.", "relu(x)"),
    ("torch.nn.functional.softmax(x, 0)", "write softmax(x, 0)", "torch.nn.functional.", "softmax(x, 0)"),
    ("torch.linalg.det(A)", "write det(A)", "torch.linalg.", "det(A)"),
    ("np.arctan(x)", "write atan(x): the language uses torch's function names without a module prefix "
                     "(np.arctan is atan here)", "np.", "atan(x)"),
    ("2*np.pi*x", "write pi: the language's constants have no module prefix", "np.", "2*pi*x"),
    ("np.multiply(x, y)", "write a*b: np.multiply is an operator here", "np.", "x*y"),
    ("np.foo(x)", "has no function 'foo'", "np.", None),
    ("ln(x)", "unknown function 'ln' (write log(x): ln is log here (torch's name))", "ln", "log(x)"),
    ("arctan(x**2 + 1)", "write atan(x**2 + 1): arctan is atan here", "arctan", "atan(x**2 + 1)"),
    ("sigmod(x)", "did you mean 'sigmoid'?", "sigmod", "sigmoid(x)"),
    ("x.sum()", "write sum(x): methods are written as functions", ".sum", "sum(x)"),
    ("x²", "unexpected character '²' (use ** for powers: x**2)", "²", "x**2"),
    ("x³*y", "use ** for powers: x**3*y", "³", "x**3*y"),
    ("x×y", "write * for multiplication: x*y", "×", "x*y"),
    ("x·y", "write * for multiplication: x*y", "·", "x*y"),
    ("x − y", "write the ASCII minus: x - y", "−", "x - y"),
    ("x ÷ y", "write / for division: x / y", "÷", "x / y"),
    ("x^2", "use ** for powers: x**2", "^", "x**2"),
    ("2π*x", "write pi for π: 2*pi*x", "π", "2*pi*x"),
    ("√(x)", "write sqrt(x) for a square root", "√", "sqrt(x)"),
    ("|x - y|", "write abs(x) for |x|", "|", "abs(x - y)"),  # eyes19: it said only "unexpected character '|'"
    ("gelu(x, approximate=’tanh’)", "write text in ASCII quotes: gelu(x, approximate='tanh')", "’",
     "gelu(x, approximate='tanh')"),
])
def test_other_spellings_name_the_fix(text, words, marked, fixed):
    message, caret = error_of(text)
    assert words in message, message
    assert caret == marked
    if fixed is not None:
        parse(fixed)  # the fix the message suggests is valid


def test_a_variable_named_like_a_module_keeps_its_transpose():
    assert parse("np.T @ np").variables == ["np"]


def test_synonyms_name_functions_that_exist():
    assert all(target in OVERLOADS and name not in OVERLOADS for name, target in SYNONYMS.items())


def test_the_cli_says_it_once_with_exit_code_2(cli):
    result = cli("np.sin(x)", "--x", "1")
    assert result.exit_code == 2
    assert result.stderr.count("error:") == 1 and "write sin(x)" in result.stderr and "Traceback" not in result.stderr


def test_bindings_on_lines_of_their_own_are_told_to_end_with_a_semicolon():
    """An --expr-file written one binding a line said only "expected ';', found 'p'"."""
    message, marked = error_of("z = w*x\np = sigmoid(z)\np")
    assert "expected ';', found 'p'" in message and marked == "p"
    assert "a new line does not end a binding: end each with ';' (z = w*x; p = sigmoid(z); p)" in message
    one_line, _ = error_of("z = w*x p")
    assert "new line" not in one_line  # on one line, the plain message
    parse("z = w*x;\np = sigmoid(z);\np")  # the fix it names is valid
