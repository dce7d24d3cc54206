"""Tokens of the expression language, as a table of regular expressions.

The table is data: one rule per token kind, tried in order.  Characters no
rule matches are errors that point at themselves, with a hint where another
language spells an operator so (`^`, `x²`, `×`, `−`: spellings.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from ..core.errors import ParseError, Span
from .spellings import character_hint

IDENTIFIER = r"[A-Za-z_][A-Za-z_0-9]*"  # a name: of a variable, a binding, a function

TOKEN_RULES: list[tuple[str, str]] = [
    ("SPACE", r"\s+"),
    ("NUMBER", r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"),
    ("NAME", IDENTIFIER),
    ("STRING", r"'[^'\n]*'|\"[^\"\n]*\""),  # a keyword argument's text: approximate='tanh
    ("OP", r"\*\*|>=|<=|==|!=|[-+*/@<>(),;=\[\]:.]"),
    ("BAD", r"\S"),  # anything else: an error that points at the character
]
# The space before a token is skipped inside the token's own match (one match a token, not two), so no rule may
# start with a space: a match is its leading space, then the token, whose span is the match's tail.
# (a pattern string: re's own cache holds it compiled)
_SCANNER = r"\s*(?:" + "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in TOKEN_RULES if kind != "SPACE") + ")"


class Token(NamedTuple):
    kind: str  # NUMBER, NAME, STRING, OP or END
    text: str
    span: Span


def tokenize(source: str) -> Iterator[Token]:
    """The tokens of `source`, lazily, then END forever.

    Lazy, so an error early in a long input (a nesting limit, a stray
    character) is reported without scanning the rest.
    """
    make = tuple.__new__  # NamedTuple's own __new__ is a Python function: too slow per token
    for match in re.finditer(_SCANNER, source, re.DOTALL):
        kind = match.lastgroup
        text = match.group(kind)
        end = match.end()
        span = make(Span, (end - len(text), end))
        if kind == "BAD":
            raise ParseError(f"unexpected character {text!r}", source, span, character_hint(text, source))
        yield make(Token, (kind, text, span))
    end = Token("END", "", Span(len(source), len(source) + 1))
    while True:
        yield end
