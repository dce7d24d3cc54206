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
    ("OP", r"\*\*|>=|<=|==|!=|[-+*/<>(),;=\[\]]"),
]
_SCANNER = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in TOKEN_RULES))

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
    position = 0
    while position < len(source):
        match = _SCANNER.match(source, position)
        if match is None:
            char = source[position]
            raise ParseError(f"unexpected character {char!r}", source, Span(position, position + 1), _HINTS.get(char))
        if match.lastgroup != "SPACE":
            tokens.append(Token(match.lastgroup, match.group(), Span(match.start(), match.end())))
        position = match.end()
    tokens.append(Token("END", "", Span(len(source), len(source) + 1)))
    return tokens
