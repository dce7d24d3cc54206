"""Second order (--order 2): the Hessian of a scalar expression, three ways.

- symbolic: the derivative graph differentiated once more (reverse mode over it);
- finite differences of the symbolic gradient (its Jacobian, by the same engine as
  first order, with error bars);
- torch double backward (create_graph=True).

Entries are judged like gradient entries; `wrt` is a pair of names and `index`
a pair of index lists.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import ShapeError
from ..engines.finite_diff import finite_differences
from ..engines.symbolic import jacobian_nodes
from ..engines.torch_engine import autograd_hessian
from ..lang.graph import Node
from ..lang.parser import Expression
from ..lang.plan import Plan
from ..lang.shapes import ShapeMap
from ..spec.spec import Spec
from ..verdict.compare import GradientRow, answers_at, gradient_row
from ..verdict.judge import add_precise, judge, needs_precise


def hessian_rows(expression: Expression, gradients: dict[str, Node], point: dict[str, np.ndarray],
                 wrt: list[str], shapes: ShapeMap, spec: Spec,
                 manual: dict[tuple[str, str], Expression] | None = None,
                 rounded: bool = False, notes: list[str] | None = None) -> tuple[list[GradientRow], int]:
    """The Hessian entries, judged, and the number of function evaluations finite differences spent.
    `rounded`: float rounding may have changed the forward at the point, so every entry goes to the
    high-precision referee (symbolic and finite differences of it share that rounding).  Where torch has no
    double backward for an op (cdist), the entries are judged without autograd and a line says so in `notes`."""
    graph = expression.graph
    full = {a: _at_variable_shape(gradients[a], graph.var(a), shapes) for a in wrt}
    symbolic_nodes = {a: jacobian_nodes(full[a], wrt, shapes) for a in wrt}
    manual = manual or {}
    for (a, b), formula in manual.items():
        target = point[a].shape + point[b].shape
        if tuple(np.broadcast_shapes(shapes(formula.output), target)) != target:
            raise ShapeError(f"the manual Hessian for {a},{b} has shape {shapes(formula.output)}, but should have "
                             f"shape {target}", formula.source, formula.span_of(formula.output))
    plan = Plan([n for a in wrt for row in symbolic_nodes[a] for n in row.values()]
                + [m.output for m in manual.values()], shapes)
    values = plan.at(point, spec.dtype)
    symbolic = {(a, b): plan.stacked(values, [row[b] for row in symbolic_nodes[a]], point[a].shape, point[b].shape)
                for a in wrt for b in wrt}
    by_hand = {pair: np.broadcast_to(plan.value(values, m.output)[0], point[pair[0]].shape + point[pair[1]].shape)
               for pair, m in manual.items()}
    by_hand = _symmetric(by_hand, point)
    autograd = _autograd_hessian(expression, point, wrt, spec, notes if notes is not None else [])
    point64 = {name: value.astype(spec.dtype).astype(np.float64) for name, value in point.items()}
    finite, errors, evaluations = {}, {}, 0
    for a in wrt:
        fd = finite_differences(Plan([full[a]], shapes), full[a], point64, wrt, shapes)
        evaluations += fd.evaluations
        for b in wrt:
            finite[(a, b)], errors[(a, b)] = fd.gradients[b], fd.errors[b]
    answers = {"symbolic": symbolic, "autograd": autograd, "finite_difference": finite, "fd_error": errors,
               "manual": by_hand}
    rows = [judge(gradient_row(answers_at(answers, (a, b), i + j), wrt=[a, b], index=[list(i), list(j)]),
                  spec.tolerance)
            for a in wrt for b in wrt for i in np.ndindex(point[a].shape) for j in np.ndindex(point[b].shape)]
    _settle_disputes(rows, full, point64, wrt, shapes, spec, rounded)
    return rows, evaluations


def _symmetric(blocks: dict[tuple[str, str], np.ndarray], point) -> dict[tuple[str, str], np.ndarray]:
    """Your block x,y also gives y,x, transposed (a Hessian is symmetric), unless you wrote y,x too."""
    filled = dict(blocks)
    for (a, b), block in blocks.items():
        if (b, a) not in filled:
            rank = np.ndim(point[a])
            filled[(b, a)] = np.moveaxis(block, tuple(range(rank)), tuple(range(block.ndim - rank, block.ndim)))
    return filled


def _autograd_hessian(expression: Expression, point, wrt: list[str], spec: Spec, notes: list[str]) -> dict:
    """torch's double backward, or nothing (and a note) where torch has not implemented one of its ops'."""
    try:
        return autograd_hessian(expression.output, point, wrt, spec.dtype)
    except NotImplementedError as error:
        notes.append(f"torch has no second derivative here ({str(error).split(chr(10))[0].rstrip('.')}): the "
                     "Hessian is judged by gradcheck's symbolic engine and finite differences, without autograd")
        return {}


def _settle_disputes(rows: list[GradientRow], full: dict[str, Node], point64, wrt, shapes: ShapeMap,
                     spec: Spec, rounded: bool) -> None:
    """The high-precision referee differentiates the symbolic gradient of a again, for the disputed entries."""
    disputed = [row for row in rows if spec.precise or rounded or needs_precise(row, spec.tolerance)]
    if not disputed:
        return
    from ..engines.precise import precise_gradient

    for a in dict.fromkeys(row.wrt[0] for row in disputed):
        mine = [row for row in disputed if row.wrt[0] == a]
        entries: dict[str, list[tuple]] = {}
        for row in mine:
            entries.setdefault(row.wrt[1], []).append(tuple(row.index[0]) + tuple(row.index[1]))
        exact = precise_gradient(full[a], None, point64, wrt, shapes, entries)
        for row in mine:
            add_precise(row, exact, row.wrt[1], tuple(row.index[0]) + tuple(row.index[1]))
            judge(row, spec.tolerance)


def _at_variable_shape(gradient: Node, variable: Node, shapes: ShapeMap) -> Node:
    """A gradient stored smaller than its variable (d/dx sum(x) = 1) made full-size."""
    if shapes(gradient) == shapes(variable):
        return gradient
    return gradient.graph.apply("expand", gradient, variable)
