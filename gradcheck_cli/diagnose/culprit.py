"""Where a wrong gradient goes wrong: the record every culprit finder returns, and what they share.

A table that says "manual disagrees" leaves the person to find the mistake.  Three finders name the
smallest part responsible, each in its own module:

- `manual_formula`: a manual formula compared, as a function, with the chain rule through the graph's
  stations: a wrong sign, a dropped factor, a missing path or one wrong factor, named with its numbers;
- `chain_factors`: a per-node manual factor (`dL/dp` in `manual:`) checked on its own;
- `local_derivatives`: when autograd or the symbolic engine disagrees with the other two, each node's local
  derivative checked three ways at the node's actual inputs, and the first node that differs named.

This module holds the `Culprit` they return (the diagnoses return it too) and the checks they share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lang.graph import Node
from ..lang.shapes import ShapeMap
from ..verdict.compare import Tolerance


@dataclass
class Culprit:
    """The smallest part of the check found responsible for a disagreement."""

    kind: str  # "manual", "manual-factor", "symbolic", "autograd", or "value" (a finding about the forward value)
    node: int | None  # the node in the expression's graph, when one is named
    expr: str  # the text of that node, or of the factor
    source: str  # where that text was written: "expr", "manual.w", "manual.dL/dp"
    span: tuple[int, int] | None  # within the text at `source`
    message: str
    variable: str | None = None  # the variable whose rows it explains; None: every disagreeing row
    label: str = ""  # a few characters for a table cell: "∂p/∂z", "sin(z)"
    diagnosis: str | None = None  # a named diagnosis (compare.DIAGNOSES key): "where-NaN trap", "cancellation"
    fix: str | None = None  # the rewrite a practitioner applies, as an expression


def agree(a, b, error, tolerance: Tolerance) -> bool:
    """Every element of a agrees with b at the tolerance, widened by `error` (NaN agrees with nothing)."""
    return bool(tolerance.close(a, b, np.asarray(error)).all())


def exact_value(node: Node, point, shapes: ShapeMap, dtype: str) -> np.ndarray | None:
    """The node's value by the high-precision referee, at the point the engines saw; None where undefined."""
    from ..engines.precise import evaluate
    from ..lang.graph import ancestors

    point64 = {name: np.asarray(v).astype(dtype).astype(np.float64) for name, v in point.items()}
    exact = evaluate(ancestors([node]), point64, shapes)
    if np.any(exact.undefined(node)) or node.id in exact.too_large:
        return None
    return exact.as_float64(node)
