"""Where the function and its gradient are defined: which node makes a value undefined, in words.

A point is refused only where the function's exact value is undefined there
(`log(x)` at -1, `x/x` at 0), as the high-precision evaluation says: a NaN in
the unselected branch of `where`, or a node that is not differentiable inside a
function that is (`norm(x)` in `norm(x)**2` at 0), is not the function's.  The
node named is the one where undefinedness starts on its way to the output,
with its source span and its arguments' values: `log(x - 2) is NaN at this
point: log is defined for x > 0, and x - 2 = -1`.

The registry's domain predicates also say which reached nodes are not
differentiable at the point; the diagnoses use them to explain a NaN in an
engine, never to refuse a point.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import DomainError
from ..core.text import shortened
from ..engines.symbolic import reaching_nodes
from ..lang.graph import Node, to_text
from ..lang.ops import OPS
from ..lang.parser import Expression
from ..lang.plan import Plan

SHORT_TEXT = 60


def check_value_defined(expression: Expression, plan: Plan, values, exact) -> None:
    """Raise a DomainError naming the node where the exact value becomes undefined, if it does.

    `exact`: the high-precision values (engines.precise.PreciseValues) of the expression's nodes."""
    if not np.any(exact.undefined(expression.output)):
        return
    node = _origin(expression.output, exact)
    if node.op == "var":  # a value beyond the dtype's range: 1e39 in float32
        raise DomainError(f"{node.attr} = {format_array(plan.value(values, node)[0])} is not finite in the dtype "
                          "checked: one of its numbers is beyond that dtype's range")
    args = [plan.value(values, a)[0] for a in node.args]
    raise domain_error(expression, node, args, _undefined_reason(OPS[node.op], plan.value(values, node)[0]))


def _origin(output: Node, exact) -> Node:
    """Follow undefined arguments from the output back to the first node whose arguments are all defined."""
    node = output
    while True:
        bad = [a for a in node.args if a.op != "const" and np.any(exact.undefined(a))]
        if not bad:
            return node
        node = bad[0]


def _undefined_reason(spec, value) -> str:
    """`is infinite at this point` (1/0), `is NaN at this point` (0/0), as float arithmetic has it; `is undefined`
    where float arithmetic happens to give a number."""
    kind = "NaN" if np.any(np.isnan(value)) else "infinite" if np.any(np.isinf(value)) else "undefined"
    return f"is {kind} at this point" + (f": {spec.domain_text}" if spec.domain is not None else "")


def not_differentiable(expression: Expression, plan: Plan, values, wrt: list[str]) -> list[tuple[Node, str]]:
    """Nodes a differentiated variable reaches whose arguments lie outside the op's differentiable domain
    at this point (sqrt at 0, norm at the zero vector), with the registry's words for it."""
    reaching = reaching_nodes(expression.nodes, set(wrt))
    found = []
    for node in expression.nodes:
        if node.op in ("var", "const") or node.id not in reaching:
            continue
        spec = OPS[node.op]
        args = [plan.value(values, a)[0] for a in node.args]
        conditions = [(spec.domain, spec.domain_text)] if spec.domain else []
        conditions += [spec.arg_domains[i] for i, a in enumerate(node.args)
                       if a.id in reaching and i in spec.arg_domains]
        for predicate, text in conditions:
            with np.errstate(all="ignore"):
                inside = predicate(*args, node.attr) if spec.attrs else predicate(*args)
            if not np.all(inside):
                found.append((node, text))
                break
    return found


def domain_error(expression: Expression, node: Node, args, reason: str) -> DomainError:
    return DomainError(f"{describe(expression, node, args)} {reason}{argument_values(expression, node, args)}",
                       expression.source, expression.span_of(node))


def describe(expression: Expression, node: Node, args=None) -> str:
    return short(to_text(node, expression.names()))


def argument_values(expression: Expression, node: Node, args) -> str:
    """`, and x - 2 = -1`: the values of a node's non-constant arguments."""
    names = expression.names()
    shown = list(dict.fromkeys(f"{short(to_text(a, names))} = {format_array(v)}"
                               for a, v in zip(node.args, args) if not a.is_const))
    return f", and {', '.join(shown)}" if shown else ""


def short(text: str) -> str:
    return shortened(text, SHORT_TEXT)


def format_array(value) -> str:
    array = np.asarray(value)
    if array.ndim == 0:
        text = repr(float(array))
        return text[:-2] if text.endswith(".0") else text  # 387420489, not 387420489.0
    return " ".join(line.strip() for line in np.array2string(array, threshold=6, precision=6).splitlines())
