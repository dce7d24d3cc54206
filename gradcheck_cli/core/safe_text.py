"""Text from a spec (names, expressions, file paths, messages that quote them) is data, never markup.

Shown raw, a name could clear the screen or recolour the terminal (ESC sequences), reverse the
text around it (bidi overrides), start a new line that reads like one of gradcheck's own, or,
in a CI log, start a line that GitHub Actions obeys as a workflow command (`::error …`,
`::stop-commands::…`).  Lone surrogates (how Python holds the non-UTF-8 bytes of a file name)
cannot be written to a UTF-8 stream or an XML document at all.

`printable` is applied to user text where it enters a human-readable report; `inert_lines` to
finished human-readable output, since a terminal wraps a long name onto a line of its own.
Machine-readable formats keep the exact text (JSON escapes it itself).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL; the line breaks str.splitlines honours beyond them (U+2028, U+2029);
# bidi embeddings, overrides and isolates; lone surrogates; the two non-characters XML 1.0 forbids.
UNPRINTABLE = r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# A line the Actions runner reads as a command: `::` first after leading white space (and, from a
# coloured table, colour codes), or the legacy `##[` anywhere in the line.  JSON and JUnit keep the
# exact text but write that `#` as a character escape (`\u0023`, `&#35;`).
COMMAND_START = r"(?m)^((?:[\s\u180e\u200b-\u200d\u2060\ufeff]|\x1b\[[0-9;]*m)*):(?=:)"
LEGACY_COMMAND = "##["


def printable(text: str) -> str:
    """The text with every control, line-breaking, bidi or surrogate character as a visible escape
    (`\\n`, `\\x1b`, `\\u202e`, `\\udcff`); ordinary Unicode (é, ², λ) stays as it is."""
    return re.sub(UNPRINTABLE, _escape, text)


def printable_lines(text: str) -> str:
    """`printable` for text whose newlines are gradcheck's own (a traceback, an error with its excerpt)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def inert_lines(text: str) -> str:
    """Finished output in which no line is a GitHub Actions workflow command: a leading `::` is shown
    as `\\x3a:`, a `##[` as `#\\x23[`.  gradcheck's own reports never start a line so."""
    return re.sub(COMMAND_START, r"\1\\x3a", text).replace(LEGACY_COMMAND, "#\\x23[")


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in SHORT:
        return SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
