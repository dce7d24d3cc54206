"""Every error a user can cause, rendered as one clear message with its location.

The CLI turns any `GradcheckError` into that message and exit code 2; nothing
else in the package prints errors or decides exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .safe_text import inert_lines, printable
from .settings import word


class Span(NamedTuple):
    """Half-open character range [start, end) inside a source string."""

    start: int
    end: int

    def cover(self, other: Span) -> Span:
        # tuple.__new__ and plain comparisons: NamedTuple's __new__, min and max cost three times as much, and the
        # parser covers a span for every operator it reads
        start, end = self[0], self[1]
        return _new_span(Span, (start if start < other[0] else other[0], end if end > other[1] else other[1]))


_new_span = tuple.__new__


def line_and_column(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def caret_block(source: str, span: Span, indent: str = "  ") -> str:
    """The source line holding `span`, with `^~~~` under the span; a control character in it is shown
    escaped (`\\x1b`), and the marker counts the escape's width."""
    line_start = source.rfind("\n", 0, span.start) + 1
    line_end = source.find("\n", span.start)
    if line_end == -1:
        line_end = len(source)
    text = source[line_start:line_end].replace("\t", " ")  # a tab is one column, as the marker counts
    start, end = span.start - line_start, min(span.end, line_end) - line_start
    before, inside = printable(text[:start]), printable(text[start:end])
    marker = " " * len(before) + "^" + "~" * (max(1, len(inside)) - 1)
    return f"{indent}{printable(text)}\n{indent}{marker}"


@dataclass(frozen=True)
class Origin:
    """Where a piece of text starts in a spec file, and the key path that holds it."""

    file: str
    line: int
    column: int
    key: str
    indent: int = 0  # columns before the text on its later lines (a YAML literal block is indented)

    def at(self, line: int, column: int) -> tuple[int, int]:
        """File line and column of a (1-based) position inside the text."""
        return self.line + line - 1, (self.column + column - 1 if line == 1 else self.indent + column)


class GradcheckError(Exception):
    """Base of every error that is the input's fault, not the tool's.

    With a `source` and `span` it renders the source line with a marker
    under the offending characters; with an `origin` it names the spec
    file, line, column and key, compiler-style.

    The message and hint may name a setting as `{order=2}` (see settings.word): the front end that received
    the input sets `front`, and the setting is written in its terms (`--order 2`, `order: 2`, `order=2`).
    """

    kind = "error"

    def __init__(self, message: str, source: str | None = None, span: Span | None = None,
                 hint: str | None = None, origin: Origin | None = None):
        super().__init__(message)
        self.template = message
        self.source = source
        self.span = span
        self.hint_template = hint
        self.origin = origin
        self.context: str | None = None  # e.g. "--manual x": which option's text the source is
        self.front: str | None = None  # "cli", "spec" or "python": whose words the message uses (None: cli)
        self.command_line: frozenset[str] = frozenset()  # settings given as options over a spec file's

    @property
    def message(self) -> str:
        return word(self.template, self.front, self.command_line)

    @property
    def hint(self) -> str | None:
        return None if self.hint_template is None else word(self.hint_template, self.front, self.command_line)

    @hint.setter
    def hint(self, text: str | None) -> None:
        self.hint_template = text

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
        """The message for people: the input it quotes shown escaped, never emitted (a terminal escape,
        a line that a CI runner would obey); `str(self)` and `as_dict` keep the exact text."""
        text = f"error: {printable(str(self))}"
        if self.source is not None and self.span is not None:
            text += f"\n{caret_block(self.source, self.span)}"
        return inert_lines(text)

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


class MissingValues(UsageError):
    """Variables of the expression with no value at the point.  Each front end says how to give one: the CLI
    `--y VALUE`, a spec file its `at:` key, Python `at={"y": ...}` (spec.Spec.locate words it)."""

    def __init__(self, names: list[str], variables: list[str]):
        super().__init__(f"no value for {', '.join(names)}: the expression uses {', '.join(variables)}")
        self.names = names


class UnusedValues(UsageError):
    """Values at the point for names the expression does not use.  A spec file points at the `at.NAME` key (or
    `sample.domain.NAME`) that gave the value (spec.Spec.locate words it); elsewhere the message names them."""

    def __init__(self, names: list[str], message: str):
        super().__init__(message)
        self.names = names


class KeyedError(UsageError):
    """A setting's value that cannot be used (`wrt`, `manual.z`): a spec file points at the key `key` that gave it
    (spec.Spec.locate), the other front ends name it in the message."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


class LimitError(GradcheckError):
    """Input larger than the configured limits (length, depth, nodes, elements)."""

    kind = "limit"


class SpecError(GradcheckError):
    """A spec file that cannot be read or does not follow the spec format."""

    kind = "spec"


class TracedError(GradcheckError):
    """An error that a Python exception caused: one line for the report, the exception's traceback kept for -v."""

    def __init__(self, message: str, trace: str | None = None):
        super().__init__(message)
        self.trace = trace


class InternalError(TracedError):
    """A fault of gradcheck itself (an exception it did not expect), or the machine running out of memory.

    It is still one result with exit code 2, never a traceback on the terminal.
    """

    kind = "internal"

    @classmethod
    def from_exception(cls, error: BaseException, doing: str) -> InternalError:
        """`doing` says what was under way ("checking this case", "reading this file")."""
        import traceback

        trace = "".join(traceback.format_exception(error))
        if isinstance(error, MemoryError):
            return cls(f"out of memory while {doing} (lower {{max_elements}}, or check fewer elements with "
                       "{fast=True})", trace)
        return cls(f"internal error while {doing}: {describe_exception(error)} — please report it, with the "
                   "input, at the project's issue tracker", trace)


MESSAGE_CHARACTERS = 500  # of an exception's message quoted in one line


def describe_exception(error: BaseException) -> str:
    """`TypeError: first line of the message`, at most MESSAGE_CHARACTERS of it, even for an exception whose
    __str__ itself fails."""
    try:
        lines = str(error).strip().splitlines()
    except BaseException:  # a user's exception class whose __str__ raises (even SystemExit)
        lines = ["(its message could not be read)"]
    name = type(error).__name__
    if not lines:
        return name
    first = lines[0]
    if len(first) > MESSAGE_CHARACTERS:  # a 10 MB message is for -v, not for one line of a report
        first = f"{first[:MESSAGE_CHARACTERS]}… ({len(first):,} characters; -v shows the traceback)"
    return f"{name}: {first}"


class UserCodeError(TracedError):
    """The user's own callable (`function:`) could not be imported, called or differentiated."""

    kind = "function"
