"""What to check: the expression, the point and the options of one case.

A `Spec` comes from the command line (cli.py), from a spec file
(spec_file.py) or from Python (`check()`).  It holds plain data, plus the
map from its texts back to where they were written, so that an error in
`where.p` of a YAML file is reported at that file's line and column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..core.errors import GradcheckError, KeyedError, MissingValues, Origin, Span, UnusedValues
from ..core.limits import DEFAULT_LIMITS, Limits
from ..core.settings import DEVICES, DTYPES, FD_METHODS, SETTINGS, how_to_give_a_value
from ..verdict.compare import DEFAULT_TOLERANCE, Tolerance

__all__ = ["DEVICES", "DTYPES", "FD_METHODS", "Spec"]

if TYPE_CHECKING:
    import numpy as np

    from .random_inputs import Distribution

BINDING_SEPARATOR = "; "


@dataclass
class Spec:
    expr: str
    at: dict[str, np.ndarray]
    where: dict[str, str] = field(default_factory=dict)  # named intermediates, in order
    wrt: list[str] | None = None  # None: every variable
    manual: dict[str, str] = field(default_factory=dict)
    manual_hessian: dict[str, str] = field(default_factory=dict)  # "x" or "x,y" -> formula of that block
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    rtol: float | None = None
    atol: float | None = None
    dtype: str = "float64"
    order: int = 1  # 2: also the Hessian
    method: str = "auto"  # finite differences: auto, complex, richardson or central
    step: float | None = None  # the step of --method central (default 1e-6, as torch)
    nondet_tol: float = 0.0  # the difference two backward passes of --function may show (torch's nondet_tol)
    precision: list[str] = field(default_factory=list)  # lower dtypes the function runs in too (float32, ...)
    fast: bool = False  # random projections uᵀJv instead of every entry
    seed: int | None = None  # of the projections; None: a fresh one, printed
    explain: bool = False  # the graph, local partials and chain rule, after the table
    precise: bool = False  # the high-precision referee on every entry, not only on disputed ones
    function: str | Callable | None = None  # a user's torch function ("module:attr") checked against expr
    reference: str | Callable | None = None  # code as the reference instead of expr ("module:attr")
    random: dict[str, Distribution] = field(default_factory=dict)  # inputs drawn when the case runs, from `seed`
    integers: frozenset[str] = frozenset()  # inputs holding index data: int64 for a function, never differentiated
    args: list[str] | None = None  # the function's inputs in order; None: read from its parameters
    kwargs: dict[str, object] = field(default_factory=dict)  # keyword arguments of the function (literals)
    init_kwargs: dict[str, object] = field(default_factory=dict)  # those constructing an nn.Module class
    device: str = "cpu"  # where the function runs
    allow_import: bool = True  # False (--no-import): a case naming a function is refused before importing
    front: str = "cli"  # who wrote it: "cli", "spec" (a file) or "python" (check()); errors are worded for it
    command_line: frozenset[str] = frozenset()  # settings the command line gave over a spec file's (`--fast`)
    name: str | None = None
    file: str | None = None
    line: int | None = None
    limits: Limits = DEFAULT_LIMITS
    origins: dict[str, Origin] = field(default_factory=dict)  # key path -> where its text was written

    @property
    def tolerance(self) -> Tolerance:
        default = DEFAULT_TOLERANCE[self.dtype]
        return Tolerance(rtol=default.rtol if self.rtol is None else self.rtol,
                         atol=default.atol if self.atol is None else self.atol)

    @property
    def display_name(self) -> str:
        label = self.function_label
        return self.name or self.expr or (label if label is not None else '""')  # '""': an empty expression

    @property
    def function_label(self) -> str | None:
        """The function as the user named it (`module:attr`), or a callable's name."""
        if self.function is None or isinstance(self.function, str):
            return self.function
        return getattr(self.function, "__qualname__", repr(self.function))

    def drawn(self) -> Spec:
        """The spec with its random inputs drawn from its seed (a fresh one, recorded, where it gives none)."""
        if not self.random:
            return self
        from .random_inputs import fresh_seed

        seed = self.seed if self.seed is not None else fresh_seed()
        at = {**self.at, **{name: d.draw(seed, name) for name, d in self.random.items()}}
        integers = self.integers | {name for name, d in self.random.items() if d.integer}
        return replace(self, at=at, seed=seed, integers=frozenset(integers))

    @property
    def program(self) -> str:
        """The `where` bindings and the expression as one program: `z = ...; p = ...; expr`."""
        return BINDING_SEPARATOR.join([f"{n} = {text}" for n, text in self.where.items()] + [self.expr])

    def _program_parts(self) -> list[tuple[str, int, str]]:
        """(key path, offset in the program, text) of each piece the user wrote."""
        parts, offset = [], 0
        for name, text in self.where.items():
            prefix = f"{name} = "
            parts.append((f"where.{name}", offset + len(prefix), text))
            offset += len(prefix) + len(text) + len(BINDING_SEPARATOR)
        parts.append(("expr", offset, self.expr))
        return parts

    def place(self, span: Span) -> tuple[str, str, Span]:
        """(key path, the text written there, the span within it) of a span in the program."""
        key, start, text = next(((k, s, t) for k, s, t in reversed(self._program_parts()) if s <= span.start),
                                self._program_parts()[0])
        return key, text, Span(max(0, span.start - start), max(1, span.end - start))

    @property
    def speaks(self) -> str:
        """Whose words its errors use: "spec" for a spec file's case, else the front end that made it."""
        return "spec" if self.file else self.front

    def _word_missing(self, error: MissingValues) -> MissingValues:
        if self.file:
            error.origin = self.origins.get("at") or Origin(self.file, self.line or 1, 1, "at")
        else:
            error.hint = how_to_give_a_value(error.names[0], self.front)
        return error

    def _word_unused(self, error: UnusedValues) -> UnusedValues:
        """A spec file's value for a name the expression does not use: at the key that gave it."""
        if self.file:
            name = error.names[0]
            error.origin = (self.origins.get(f"at.{name}") or self.origins.get(f"sample.domain.{name}")
                            or self.origins.get("at") or Origin(self.file, self.line or 1, 1, "at"))
        return error

    def locate(self, error: GradcheckError) -> GradcheckError:
        """Point an error in the program or a manual formula at the text the user wrote, and its origin; word
        the settings it names, and a missing value, in the terms of the front end the spec came from."""
        error.front, error.command_line = self.speaks, self.command_line
        if isinstance(error, MissingValues):
            return self._word_missing(error)
        if isinstance(error, UnusedValues):
            return self._word_unused(error)
        if isinstance(error, KeyedError) and self.file:
            error.origin = self.origins.get(error.key) or self.origins.get(error.key.partition(".")[0])
            return error
        if error.origin is not None or error.source is None or error.span is None:
            return error
        if error.source == self.program and self.where:
            key, error.source, error.span = self.place(error.span)
        else:
            texts = [(f"manual.{n}", t) for n, t in self.manual.items()]
            texts += [(f"manual_hessian.{n}", t) for n, t in self.manual_hessian.items()]
            key = next((k for k, t in texts if t == error.source), "expr")
        error.origin = self.origins.get(key)
        if error.origin is None and key != "expr":
            setting, _, name = key.partition(".")
            error.context = f"{SETTINGS[setting].option} {name}" if self.front == "cli" else f"{setting}[{name!r}]"
        return error
