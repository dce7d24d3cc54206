"""Each node's local derivative, three ways: which node's rule (or torch backward) is wrong.

Its own module because it checks the tools, not the user: when autograd or the symbolic engine disagrees
with the other two, each op is rebuilt alone in a fresh graph and run by the three engines at the node's
actual inputs, in topological order, and the first node whose rule or backward disagrees with finite
differences of that op is named.  If none differs, the error is in how local derivatives are combined.
"""

from __future__ import annotations

import numpy as np

from ..core.text import shortened
from ..engines.finite_diff import finite_differences
from ..engines.symbolic import gradient_nodes, reaching_nodes
from ..engines.torch_engine import autograd_gradients
from ..lang.graph import Graph, Node, format_rounded, to_text
from ..lang.ops import OPS
from ..lang.parser import Expression
from ..lang.plan import Plan
from ..lang.shapes import ShapeMap
from ..verdict.compare import Tolerance
from .culprit import Culprit, agree


def _digits_apart(a, b) -> int:
    """4 significant digits, or as many more (up to 12) as it takes to print a and b apart."""
    return next((d for d in range(4, 13) if format_rounded(a, d) != format_rounded(b, d)), 12)


def node_culprit(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], shapes: ShapeMap,
                 tolerance: Tolerance, engine: str, dtype: str = "float64") -> Culprit | None:
    """The first node whose local derivative from `engine` ("symbolic" or "autograd") disagrees with
    finite differences of the node's own op at its actual inputs (in float64), where those settle.

    When none does, a float64 check blames how they are combined; a float32 one blames nothing (its
    rounding is the likelier cause)."""
    for culprit, _ in _wrong_nodes(expression, point, wrt, shapes, tolerance, engine):
        return culprit
    if dtype != "float64":
        return None
    return Culprit(engine, None, expression.source, "expr", None,
                   f"every node's local derivative agrees with finite differences; the {engine} gradient goes "
                   "wrong where the local derivatives are combined (broadcasting or summing)")


def non_finite_backward(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], shapes: ShapeMap,
                        tolerance: Tolerance) -> Culprit | None:
    """The first node whose torch backward is NaN or infinite at its actual inputs where finite differences of
    its op are finite: the derivative exists there and the backward's formula breaks down (torch's qr backward
    solves with R, singular where R's last diagonal element is 0).  Not rounding: the inputs are the ones the
    backward saw."""
    for culprit, theirs in _wrong_nodes(expression, point, wrt, shapes, tolerance, "autograd"):
        if not np.all(np.isfinite(theirs)):
            return culprit
    return None


def _wrong_nodes(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], shapes: ShapeMap,
                 tolerance: Tolerance, engine: str):
    """Each node, in topological order, whose local derivative from `engine` disagrees with finite differences
    of its op where they settle (NaN on a kink or a jump: no referee for that element): (culprit, its value)."""
    nodes = expression.nodes
    reaching = reaching_nodes(nodes, set(wrt))
    plan = Plan([expression.output], shapes)
    values = plan.at(point)
    names = expression.names()
    for node in nodes:
        if node.id not in reaching or not node.args:
            continue
        inputs = [np.asarray(plan.value(values, a)[0], dtype=np.float64) for a in node.args]
        reached = [i for i, a in enumerate(node.args) if a.id in reaching]
        local = _local_derivatives(node, inputs, reached)
        for i in reached:
            theirs, fd, error = np.broadcast_arrays(local[engine][i], local["finite_difference"][i],
                                                    local["fd_error"][i])
            settled = np.isfinite(fd)
            if np.any(settled) and not agree(theirs[settled], fd[settled], error[settled], tolerance):
                yield _node_culprit(expression, node, i, engine, theirs, fd, local, names, inputs), theirs


def _node_culprit(expression: Expression, node: Node, i: int, engine: str, theirs, fd, local, names,
                  inputs: list[np.ndarray]) -> Culprit:
    spec = OPS[node.op]
    text = to_text(node, names, limit=80)
    argument = names.get(node.args[i].id) or to_text(node.args[i], names, limit=40)
    if node.args[i].args and node.args[i].id not in names:
        argument = f"({argument})"
    other = "autograd" if engine == "symbolic" else "symbolic"
    what = f"∂/∂{argument}" if spec.elementwise else f"the vector-Jacobian product in {argument} (fixed cotangent)"
    digits = _digits_apart(theirs, fd)
    shown = {name: format_rounded(v, digits) for name, v in ((engine, theirs), ("fd", fd), (other, local[other][i]))}
    if _both_break_down(theirs, local[other][i], fd):
        message = (f"{ENGINE_WORDS[engine]} and {ENGINE_WORDS[other]} both break down at {text}: they give {what} "
                   f"= {shown[engine]} and {shown[other]}, not finite, where finite differences of "
                   f"{spec.display_name} give {shown['fd']}: the derivative exists here and neither formula computes "
                   "it").replace("{op}", spec.display_name)
    else:
        message = (f"{ENGINE_WORDS[engine]} is wrong at {text}: it gives {what} = {shown[engine]} where finite "
                   f"differences of {spec.display_name} give {shown['fd']} and {ENGINE_WORDS[other]} gives "
                   f"{shown[other]}").replace("{op}", spec.display_name)
    if engine == "autograd" and spec.torch_domain is not None and not _torch_promises(spec, node, inputs):
        message += f"; {spec.torch_domain_text}, and here they are not"
    span = expression.spans.get(node.id)
    return Culprit(engine, node.id, text, "expr", None if span is None else tuple(span), message,
                   label=shortened(text, 24))


ENGINE_WORDS = {"symbolic": "the op registry's derivative rule for {op}", "autograd": "torch's backward of {op}"}


def _both_break_down(theirs, other, fd) -> bool:
    """Whether both engines' local derivatives are NaN or infinite wherever the blamed one is, at entries where
    finite differences are finite: one formula that both use breaks down (qr's, solving with a singular R)."""
    theirs, other, fd = np.broadcast_arrays(theirs, other, fd)
    broken = ~np.isfinite(theirs) & np.isfinite(fd)
    return bool(np.any(broken)) and not np.any(np.isfinite(other[broken]))


def _torch_promises(spec, node: Node, inputs: list[np.ndarray]) -> bool:
    """Whether the node's inputs lie where torch documents the op's backward as valid (`OpSpec.torch_domain`)."""
    return bool(spec.torch_domain(*inputs, node.attr) if spec.attrs else spec.torch_domain(*inputs))


def _local_derivatives(node: Node, inputs: list[np.ndarray], reached: list[int]) -> dict[str, dict[int, np.ndarray]]:
    """The vector-Jacobian product of the node's op at `inputs`, by three engines, for the reached inputs.

    The op is rebuilt alone in a fresh graph, f(a0, a1, ...) = sum(op(a0, a1, ...) * u) with a fixed
    cotangent u, so each engine runs exactly as it does on a whole expression.
    """
    graph = Graph()
    names = [f"a{i}" for i in range(len(inputs))]
    args = tuple(graph.var(n) for n in names)
    local = graph.raw(node.op, args, node.attr)
    point = {n: v for n, v in zip(names, inputs)}
    shapes = ShapeMap({n: v.shape for n, v in point.items()})
    output_shape = shapes(local)
    if output_shape != ():
        # Ones make an elementwise op's product its partial derivatives; other ops get a random
        # cotangent, which a rule wrong in one direction cannot pass by symmetry.
        point["u"] = np.ones(output_shape) if OPS[node.op].elementwise else \
            np.random.default_rng(1).uniform(0.5, 1.5, output_shape)
        shapes = ShapeMap({n: v.shape for n, v in point.items()})
        local = graph.raw("sum", (graph.raw("mul", (local, graph.var("u"))),))
    wrt = [names[i] for i in reached]
    symbolic = gradient_nodes(local, wrt, shapes)
    plan = Plan([local, *symbolic.values()], shapes)
    values = plan.at(point)
    fd = finite_differences(plan.restricted_to([local]), local, point, wrt, shapes)
    autograd = autograd_gradients(local, point, wrt)[1]
    result = {"symbolic": {}, "autograd": {}, "finite_difference": {}, "fd_error": {}}
    for i, name in zip(reached, wrt):
        result["symbolic"][i] = np.broadcast_to(plan.value(values, symbolic[name])[0], inputs[i].shape)
        result["autograd"][i] = autograd[name]
        result["finite_difference"][i] = fd.gradients[name]  # NaN on a kink: no referee there
        result["fd_error"][i] = fd.errors[name]
    return result
