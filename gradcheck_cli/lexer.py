"""Tokens of the expression language, as a table of regular expressions.

The table is data: one rule per token kind, tried in order.  Characters no
rule matches are errors that point at themselves; `^` gets a hint, since it
is the most common slip from other languages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ParseError, Span

TOKEN_RULES: list[tuple[str, str]] = [
    ("SPACE", r"\s+"),
    ("NUMBER", r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"),
    ("NAME", r"[A-Za-z_][A-Za-z_0-9]*"),
    ("OP", r"\*\*|>=|<=|==|!=|[-+*/@<>(),;=\[\]:.]"),
    ("BAD", r"."),  # anything else: an error that points at the character
]
_SCANNER = "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in TOKEN_RULES)

_HINTS = {
    "^": "use ** for powers: x**2",
    "%": "the modulo operator is not supported",
    "!": "use != for 'not equal'",
}


@dataclass(frozen=True)
class Token:
    kind: str  # NUMBER, NAME, OP or END
    text: str
    span: Span


def tokenize(source: str) -> list[Token]:
    """All tokens of `source`, ending with an END token."""
    tokens: list[Token] = []
    for match in re.finditer(_SCANNER, source, re.DOTALL):
        kind, text, span = match.lastgroup, match.group(), Span(match.start(), match.end())
        if kind == "BAD":
            raise ParseError(f"unexpected character {text!r}", source, span, _HINTS.get(text))
        if kind != "SPACE":
            tokens.append(Token(kind, text, span))
    tokens.append(Token("END", "", Span(len(source), len(source) + 1)))
    return tokens
