"""The row types of the registry table (tests/test_ops_registry.py), and the rows of the families that keep them
in a module of their own (tests/rows_<family>.py), gathered in FAMILY_ROWS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gradcheck_cli.lang.ops import OPS


@dataclass(frozen=True)
class At:
    """A sample point of an op with a static attribute: an axis, a shape or an index."""

    args: tuple
    attr: object = None


@dataclass(frozen=True)
class Case:
    """An expression for check() with its own point: tensor ops reduce their value to a scalar here."""

    text: str
    at: dict
    wrt: tuple[str, ...] | None = None


def opts(name: str, **given):
    """The options of op `name` with `given` over its defaults, as a node's attribute holds them."""
    return OPS[name].with_options(given)


def C(text: str, wrt: tuple[str, ...] | None = None, **at) -> Case:
    return Case(text, at, wrt)


@dataclass
class Row:
    """Sample points for one op.  `args` names the op's arguments (variables in the checks)."""

    args: tuple[str, ...]
    points: list[tuple | At]  # inside the domain, away from kinks and ties: forward and gradient checks
    forward_only: list[tuple | At] = field(default_factory=list)  # ties, other axes etc.: forward only
    # expressions for check(): a string is checked at every point of `points`, a Case at its own point;
    # default: the op applied to `args`
    checks: list[str | Case] | None = None
    text: str | None = None  # the op applied to `args` in its own syntax, where `args` alone do not say it
    reference: Callable | None = None  # attr -> torch tensor, for ops that have no torch builder


def split(point) -> tuple[tuple, object]:
    """(argument values, attribute) of a sample point."""
    return (tuple(point.args), point.attr) if isinstance(point, At) else (tuple(point), None)


def S(start=None, stop=None, step=None) -> tuple:
    """A slice as the index attribute spells it."""
    return ("slice", start, stop, step)


def _family_rows() -> dict[str, Row]:
    import importlib

    rows: dict[str, Row] = {}
    for family in FAMILIES_WITH_ROW_MODULES:
        rows.update(importlib.import_module(f"rows_{family}").ROWS)
    return rows


# tests/rows_<family>.py, each defining ROWS: dict[str, Row]
FAMILIES_WITH_ROW_MODULES: tuple[str, ...] = ("convolution", "normalization", "losses", "distances")
FAMILY_ROWS = _family_rows()
