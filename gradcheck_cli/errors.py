"""Every error a user can cause, rendered as one clear message with its location.

The CLI turns any `GradcheckError` into that message and exit code 2; nothing
else in the package prints errors or decides exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Span(NamedTuple):
    """Half-open character range [start, end) inside a source string."""

    start: int
    end: int

    def cover(self, other: "Span") -> "Span":
        return Span(min(self.start, other.start), max(self.end, other.end))


def line_and_column(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def caret_block(source: str, span: Span, indent: str = "  ") -> str:
    """The source line holding `span`, with `^~~~` under the span."""
    line_start = source.rfind("\n", 0, span.start) + 1
    line_end = source.find("\n", span.start)
    if line_end == -1:
        line_end = len(source)
    text = source[line_start:line_end].replace("\t", " ")  # one column per character, as the marker counts
    start = span.start - line_start
    width = max(1, min(span.end, line_end) - span.start)
    marker = " " * start + "^" + "~" * (width - 1)
    return f"{indent}{text}\n{indent}{marker}"


@dataclass(frozen=True)
class Origin:
    """Where a piece of text starts in a spec file, and the key path that holds it."""

    file: str
    line: int
    column: int
    key: str

    def at(self, line: int, column: int) -> tuple[int, int]:
        """File line and column of a (1-based) position inside the text."""
        return self.line + line - 1, (self.column + column - 1 if line == 1 else column)


class GradcheckError(Exception):
    """Base of every error that is the input's fault, not the tool's.

    With a `source` and `span` it renders the source line with a marker
    under the offending characters; with an `origin` it names the spec
    file, line, column and key, compiler-style.
    """

    kind = "error"

    def __init__(self, message: str, source: str | None = None, span: "Span | None" = None,
                 hint: str | None = None, origin: Origin | None = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.span = span
        self.hint = hint
        self.origin = origin
        self.context: str | None = None  # e.g. "--manual x": which option's text the source is

    def location(self) -> tuple[int, int] | tuple[None, None]:
        """Line and column: in the spec file when there is an origin, else in the source."""
        if self.source is None or self.span is None:
            return (self.origin.line, self.origin.column) if self.origin else (None, None)
        line, column = line_and_column(self.source, self.span.start)
        return self.origin.at(line, column) if self.origin else (line, column)

    def __str__(self) -> str:
        line, column = self.location()
        text = f"{self.message} ({self.hint})" if self.hint else self.message
        if self.origin:
            key = f"{self.origin.key}: " if self.origin.key else ""
            return f"{self.origin.file}:{line}:{column}: {key}{text}"
        where = f"column {column}" if line == 1 else f"line {line}, column {column}"
        parts = [p for p in (self.context, where if column is not None else None) if p]
        return ": ".join(parts + [text])

    def render(self) -> str:
        if self.source is None or self.span is None:
            return f"error: {self}"
        return f"error: {self}\n{caret_block(self.source, self.span)}"

    def as_dict(self) -> dict:
        line, column = self.location()
        return {"kind": self.kind, "message": str(self), "line": line, "column": column}


class ParseError(GradcheckError):
    """The expression text is not valid; points at the offending characters."""

    kind = "parse"


class ShapeError(ParseError):
    """Operands whose shapes do not fit the operation, pointed at in the source."""

    kind = "shape"


class DomainError(GradcheckError):
    """The function or a gradient is undefined (NaN/inf) at the requested point."""

    kind = "domain"


class ValueParseError(GradcheckError):
    """A point value such as `--x abc` or a ragged nested list."""

    kind = "value"


class UsageError(GradcheckError):
    """Options that contradict each other or name unknown variables."""

    kind = "usage"


class LimitError(GradcheckError):
    """Input larger than the configured limits (length, depth, nodes, elements)."""

    kind = "limit"


class SpecError(GradcheckError):
    """A spec file that cannot be read or does not follow the spec format."""

    kind = "spec"


class UserCodeError(GradcheckError):
    """The user's own callable (`function:`) could not be imported, called or differentiated.

    The message is one line; the traceback is kept for -v.
    """

    kind = "function"

    def __init__(self, message: str, trace: str | None = None):
        super().__init__(message)
        self.trace = trace
