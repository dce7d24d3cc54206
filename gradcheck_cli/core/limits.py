"""Bounds on input size, so hostile or accidental input fails fast and clearly.

Memory follows from them: every node of a graph holds at most `max_elements` values (its shape is
known before anything is evaluated), one evaluation of a graph at most `max_graph_elements`, and a
Jacobian or Hessian checked entry by entry at most `max_entries` entries.
"""

from __future__ import annotations

from dataclasses import dataclass

NODES_OF_FULL_SIZE = 10  # how many nodes of `max_elements` values one evaluation may hold at once


@dataclass(frozen=True)
class Limits:
    max_length: int = 100_000  # characters of one expression
    max_depth: int = 200  # nesting of parentheses, calls and operators
    max_nodes: int = 100_000  # nodes of one expression's graph
    max_elements: int = 10_000_000  # elements of one variable's value, and of any node's value
    max_entries: int = 1_000_000  # entries of a Jacobian or Hessian checked one by one (a row each)

    @property
    def max_graph_elements(self) -> int:
        """Values one evaluation holds at once (every node of the expression and its derivatives): nodes
        that each fit `max_elements` could still add up to any size."""
        return NODES_OF_FULL_SIZE * self.max_elements


DEFAULT_LIMITS = Limits()
