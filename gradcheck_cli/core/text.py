"""Small ways of wording text that every stage shares, so each is written once.

Messages, table cells and the --explain tree cut long texts the same way, and every "unknown name"
error suggests the nearest known one the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def shortened(text: str, width: int) -> str:
    """`text` itself when it has at most `width` characters, else its first `width - 1` and `…`."""
    return text if len(text) <= width else text[: width - 1] + "…"


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `name` (difflib's ratio of at least 0.6), or None when no choice is that close."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return close[0] if close else None


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """`did you mean 'sin'?` naming the choice closest to `name` (see `closest`), or None."""
    close = closest(name, choices)
    return f"did you mean {close!r}?" if close else None
