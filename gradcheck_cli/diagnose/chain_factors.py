"""Per-node manual factors, `dA/dB` in `manual:`: each checked against the graph's own factor.

Its own module because a factor is checked on its own, not as part of a gradient: against the factor
--explain prints (∂A/∂B, the other stations held) when B is a station input of A, else against the total
derivative of A in B, and the high-precision value where float rounding may be the difference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..core.errors import UsageError
from ..engines.finite_diff import one_sided_of_function
from ..engines.symbolic import adjoints
from ..lang.graph import Node, format_rounded
from ..lang.lexer import IDENTIFIER
from ..lang.parser import Expression
from ..lang.plan import Plan
from ..lang.shapes import ShapeMap
from ..verdict.compare import Status, Tolerance
from .culprit import Culprit, agree, exact_value
from .explain import node_text, output_name, stations_of


@dataclass
class ManualFactor:
    """A hand-derived chain factor `dA/dB` and the graph's own, checked at the point."""

    name: str
    formula: str
    manual: float | list | None
    symbolic: float | list | None
    symbolic_formula: str
    status: str = "pass"


@dataclass
class FactorSpec:
    """A manual factor `dA/dB` as written, with the nodes it names."""

    name: str  # normalised: dA/dB
    formula: Expression
    top: Node
    bottom: Node


def factor_ends(expression: Expression, name: str) -> tuple[str, Node, Node]:
    """(dA/dB, A, B) for a factor name: A a binding or the output, B a binding or a variable."""
    outputs = {**expression.bindings, output_name(expression): expression.output}
    inputs = {**expression.bindings, **{v: expression.graph.var(v) for v in expression.variables}}
    match = re.fullmatch(f"d({IDENTIFIER})/d({IDENTIFIER})", name.replace(" ", ""))
    if not match or match.group(1) not in outputs or match.group(2) not in inputs:
        raise UsageError(f"a manual factor is written dA/dB, with A the output or a binding "
                         f"({', '.join(sorted(outputs))}) and B a binding or variable ({', '.join(sorted(inputs))}); "
                         f"got {name!r}")
    top, bottom = outputs[match.group(1)], inputs[match.group(2)]
    if top is bottom:
        raise UsageError(f"the manual factor {name!r} differentiates {match.group(1)} by itself")
    return f"d{match.group(1)}/d{match.group(2)}", top, bottom


def check_factor(expression: Expression, factor: FactorSpec, point, shapes: ShapeMap, tolerance: Tolerance,
                 dtype: str) -> tuple[ManualFactor, Culprit | None]:
    """The manual factor dA/dB against the graph's own: the chain-rule factor ∂A/∂B (the other named
    values held fixed) where B is one of A's stations, else the total derivative of A in B."""
    top, bottom = factor.top, factor.bottom
    if shapes(top) != ():
        raise UsageError(f"the manual factor {factor.name} needs a scalar {factor.name[1:].split('/')[0]}; "
                         f"it has shape {shapes(top)}")
    stations = stations_of(expression, shapes)
    edges = stations.edges.get(top.id, {})
    partial = bottom.id in edges
    symbolic = edges[bottom.id] if partial else \
        adjoints(top, {bottom.id}, shapes).get(bottom.id, expression.graph.const(0.0))
    plan = Plan([symbolic, factor.formula.output], shapes)
    values = plan.at(point, dtype)
    mine, right = (np.asarray(plan.value(values, n)[0], dtype=np.float64) for n in (factor.formula.output, symbolic))
    names = expression.names()
    row = ManualFactor(factor.name, factor.formula.source, mine.tolist(), right.tolist(), node_text(symbolic, names))
    fits = np.broadcast_shapes(mine.shape, right.shape) == right.shape if mine.ndim <= right.ndim else False
    if fits and agree(mine, right, 0, tolerance):
        return row, None
    exact = exact_value(symbolic, point, shapes, dtype)  # the float value of the graph's own may be rounding
    if exact is not None:
        right = exact
        row.symbolic = right.tolist()
        if fits and agree(mine, right, 0, tolerance):
            return row, None
    held = [i for i in stations.labels if i not in (top.id, bottom.id) and i not in stations.variables.values()]
    sides = _sides_of_a_kink(factor, point, shapes, tolerance, held if partial else [])
    if sides is not None and fits and np.all((sides[0] - _slack(sides, tolerance) <= mine)
                                             & (mine <= sides[1] + _slack(sides, tolerance))):
        return row, None  # a kink of the factor (relu's at 0): any value between its sides is a subgradient
    row.status = Status.FAIL
    top_name, bottom_name = factor.name[1:].split("/d")
    label = f"∂{top_name}/∂{bottom_name}" if partial else f"d{top_name}/d{bottom_name} (through every path)"
    graph_own = (f"{row.symbolic_formula} = {format_rounded(right)}" if sides is None else
                 f"{row.symbolic_formula} sits on a kink: its one-sided values are {format_rounded(sides[0])} and "
                 f"{format_rounded(sides[1])}, and a value between them is a subgradient")
    message = (f"your {factor.name} = {factor.formula.source} gives {format_rounded(mine)} at this point; "
               f"{label} = {graph_own}")
    return row, Culprit("manual-factor", top.id, factor.formula.source, f"manual.{factor.name}",
                        (0, len(factor.formula.source)), message, label=factor.name)


def _sides_of_a_kink(factor: FactorSpec, point, shapes: ShapeMap, tolerance: Tolerance,
                     held: list[int]) -> tuple[float, float] | None:
    """(lower, upper) one-sided derivative of A in a scalar B (the stations in `held` fixed at their values)
    where they settle and differ: the factor's graph sits on a kink there (z = relu(x) at 0: 0 and 1), and its
    symbolic value is one convention (0).  None where B is not a scalar, or A is smooth in B here."""
    top, bottom = factor.top, factor.bottom
    if shapes(bottom) != ():
        return None
    plan = Plan([top], shapes)
    base = plan.at(point)
    fixed = {i: base[plan.slot[i]] for i in held if i in plan.slot}
    inputs = {name: np.asarray(value, dtype=np.float64)[None] for name, value in point.items()}

    def evaluate(shifted: dict[str, np.ndarray]) -> np.ndarray:
        b = shifted["b"].reshape(-1)
        if bottom.op == "var":
            values = plan.run({**inputs, bottom.attr: b}, held=fixed)
        else:
            values = plan.run(inputs, held={**fixed, bottom.id: b})
        return np.broadcast_to(plan.value(values, top), b.shape).reshape(b.size, 1)

    b0 = np.asarray(plan.value(base, bottom), dtype=np.float64).reshape(())
    left, right, _ = one_sided_of_function(evaluate, {"b": b0}, "b", np.array([0]), tolerance.close)
    left, right = float(left[0, 0]), float(right[0, 0])
    if not (np.isfinite(left) and np.isfinite(right)) or tolerance.agree(left, right):
        return None
    return min(left, right), max(left, right)


def _slack(sides: tuple[float, float], tolerance: Tolerance) -> float:
    return tolerance.atol + tolerance.rtol * max(abs(sides[0]), abs(sides[1]))
