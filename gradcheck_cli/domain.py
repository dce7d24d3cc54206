"""Where the function and its gradient are defined: the checks that turn NaN into a message.

Before any engine compares anything, every node's value must be finite and,
where a differentiated variable reaches it, its arguments must lie in the op's
registered domain.  The first offending node is named, with its source span
and its arguments' values: `log(x - 2) is NaN at this point: log is defined
for x > 0, and x - 2 = -1`.
"""

from __future__ import annotations

import numpy as np

from .engines.symbolic import reaching_nodes
from .errors import DomainError
from .graph import Node, to_text
from .ops import OPS
from .parser import Expression
from .plan import Plan, flat_values

SHORT_TEXT = 60


def check_domain(expression: Expression, plan: Plan, values, wrt: list[str]) -> None:
    """The first node that is not finite, or not differentiable where a variable reaches it."""
    nodes = expression.nodes
    reaching = reaching_nodes(nodes, set(wrt))
    all_finite = bool(np.all(np.isfinite(flat_values([plan.value(values, n) for n in nodes]))))
    for node in nodes:
        if node.op in ("var", "const"):
            continue
        spec = OPS[node.op]
        if all_finite and not (node.id in reaching and (spec.domain or spec.arg_domains)):
            continue  # nothing to find here: the one scan above saw every value finite
        args = [plan.value(values, a)[0] for a in node.args]
        value = plan.value(values, node)[0]
        if not np.all(np.isfinite(value)) and all(np.all(np.isfinite(a)) for a in args):
            raise _domain_error(expression, node, args, _non_finite_reason(spec, args, value, node.attr))
        reached = [i for i, a in enumerate(node.args) if a.id in reaching]
        if node.id in reaching:
            conditions = [(spec.domain, spec.domain_text)] if spec.domain else []
            conditions += [spec.arg_domains[i] for i in reached if i in spec.arg_domains]
            for predicate, text in conditions:
                if not np.all(predicate(*args, node.attr) if spec.attrs else predicate(*args)):
                    raise _domain_error(expression, node, args, f"is not differentiable at this point: {text}")


def _non_finite_reason(spec, args, value, attr) -> str:
    kind = "NaN" if np.any(np.isnan(value)) else "infinite"
    if spec.domain is not None and not np.all(spec.domain(*args, attr) if spec.attrs else spec.domain(*args)):
        return f"is {kind} at this point: {spec.domain_text}"
    return f"is {kind} at this point (overflow)"


def _domain_error(expression: Expression, node: Node, args, reason: str) -> DomainError:
    names = expression.names()
    text = _short(to_text(node, names))
    shown = [f"{_short(to_text(a, names))} = {_format_array(v)}"
             for a, v in zip(node.args, args) if not a.is_const]
    detail = f", and {', '.join(shown)}" if shown else ""
    return DomainError(f"{text} {reason}{detail}", expression.source, expression.span_of(node))


def _short(text: str) -> str:
    return text if len(text) <= SHORT_TEXT else text[: SHORT_TEXT - 1] + "…"


def _format_array(value) -> str:
    array = np.asarray(value)
    if array.ndim == 0:
        text = repr(float(array))
        return text[:-2] if text.endswith(".0") else text  # 387420489, not 387420489.0
    return np.array2string(array, threshold=6, precision=6)


def check_gradients_finite(symbolic: dict[str, np.ndarray], autograd: dict[str, np.ndarray],
                           point: dict[str, np.ndarray], formulas: dict[str, str]) -> None:
    """A gradient both engines find infinite or NaN (sin(1/x) at 1e-160) is undefined, not a discrepancy."""
    for name, value in symbolic.items():
        bad = ~np.isfinite(value) & ~np.isfinite(autograd[name])
        if np.any(bad):
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            where = f" at element {list(index)}" if index else ""
            formula = f" = {_short(formulas[name])}" if name in formulas else ""
            x = np.asarray(point[name])
            at = _format_array(x[index[-x.ndim:]] if x.ndim else x)
            raise DomainError(f"the derivative d/d{name}{where}{formula} is {value[index]} at {name} = {at}: "
                              "the gradient overflows or is undefined there")
