"""Bounds on input size, so hostile or accidental input fails fast and clearly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_length: int = 100_000  # characters of one expression
    max_depth: int = 200  # nesting of parentheses, calls and operators
    max_nodes: int = 100_000  # nodes of one expression's graph
    max_elements: int = 10_000_000  # elements of one variable's value


DEFAULT_LIMITS = Limits()
