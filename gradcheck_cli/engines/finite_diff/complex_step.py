"""The complex step, f'(x) = Im f(x + ih e_j)/h with h = 1e-200, and where it may be trusted.

Its own module because it is a method apart from the differences of real values: one evaluation per
element, no subtraction and so no truncation error, but only where every op between the variable and the
output is holomorphic and no value on the way sits next to a branch point.
"""

from __future__ import annotations

import numpy as np

from ...lang.graph import Node, carries_value, dependents
from ...lang.ops import OPS
from ...lang.plan import DiagonalRun, Plan, value_blocks
from .batches import points_per_batch
from .noise import EPS, added_values

COMPLEX_STEP = 1e-200
COMPLEX_STEP_RADIUS = 1e40  # how much closer than this to a singularity the step may come


def complex_step_applies(plan: Plan, output: Node, name: str) -> bool:
    """Whether every op between the variable and the output is holomorphic (OpSpec.analytic)."""
    return _holomorphic(plan, output, _dependents(plan, name))


def complex_step_variables(plan: Plan, output: Node, base_values: list,
                           wrt: list[str]) -> tuple[dict[str, bool], dict[str, bool]]:
    """({name: holomorphic}, {name: trusted}) for each variable: holomorphic when the output depends on it
    through holomorphic ops only, trusted when also no value on the way is near a branch point."""
    reach_output = _variables_reaching(plan, {output.id})
    reach_not_analytic = _variables_reaching(plan, {n.id for n in plan.nodes if n.args and not OPS[n.op].analytic})
    reach_near_zero = _variables_reaching(plan, _values_near_a_branch_point(plan, base_values))
    reach_outside = _variables_reaching(plan, _arguments_outside_the_domain(plan, base_values))
    holomorphic = {name: name in reach_output and name not in reach_not_analytic for name in wrt}
    trusted = {name: holomorphic[name] and name not in reach_near_zero | reach_outside for name in wrt}
    return holomorphic, trusted


def _holomorphic(plan: Plan, output: Node, path: set[int]) -> bool:
    return output.id in path and all(OPS[n.op].analytic for n in plan.nodes if n.id in path and n.op != "var")


def _dependents(plan: Plan, name: str) -> set[int]:
    """Ids of the nodes whose value changes with the variable (detach holds its value: not one)."""
    return dependents(plan.nodes, {n.id for n in plan.nodes if n.op == "var" and n.attr == name}, carries_value)


def _variables_reaching(plan: Plan, targets: set[int]) -> set[str]:
    """Names of the variables some node of `targets` depends on (as `_dependents` has it), for all variables
    in one backward pass: a walk per variable would cost variables x nodes (12,000 scalars: minutes)."""
    marked, names = set(targets), set()
    for node in reversed(plan.nodes):
        if node.id in marked:
            if node.op == "var":
                names.add(node.attr)
            elif node.args and carries_value(node):
                marked.update(a.id for a in node.args)
    return names


def _values_near_a_branch_point(plan: Plan, base_values: list) -> set[int]:
    """Nodes whose value is so close to 0 that the complex step cannot be trusted through them.

    Im f(x + ih)/h is the derivative only while f is analytic within h of x; sqrt, log, 1/x
    and x**p are singular at 0, so a value there within a factor of COMPLEX_STEP_RADIUS of h
    (sqrt(x) at 1e-320) would give a confident, wrong answer.  Richardson referees instead.
    """
    def tiny(value) -> bool:
        magnitude = np.abs(value)
        return bool(np.any((magnitude > 0) & (magnitude < COMPLEX_STEP * COMPLEX_STEP_RADIUS)))

    if not any(tiny(block) for block in value_blocks(base_values)):
        return set()  # the usual case, in one pass
    return {node.id for node in plan.nodes if tiny(plan.value(base_values, node))}


def _arguments_outside_the_domain(plan: Plan, base_values: list) -> set[int]:
    """Arguments of ops whose value lies outside the op's differentiable domain (`OpSpec.domain`, `arg_domains`):
    x**1.5 at x = 0 is a branch point, where Im (ih)**1.5/h = 0.71 sqrt(h) looks like a derivative of 0 while
    the function is not defined left of the point.  Richardson, which steps on the real line, sees that."""
    outside: set[int] = set()
    with np.errstate(all="ignore"):  # entered once for the graph, not per node: it costs more than a scalar test
        for node in plan.nodes:
            if not node.args:
                continue
            spec = OPS.get(node.op)
            if spec is None or not (spec.domain or spec.arg_domains):
                continue
            args = [plan.value(base_values, a)[0] for a in node.args]
            extra = (node.attr,) if spec.attrs else ()
            if spec.domain is not None and not _every(spec.domain(*args, *extra)):
                outside.update(a.id for a in node.args)
            outside.update(a.id for i, a in enumerate(node.args)
                           if i in spec.arg_domains and not _every(spec.arg_domains[i][0](*args, *extra)))
    return outside


def _every(condition) -> bool:
    """np.all of a domain test's result, without np.all's Python dispatch where the result is numpy's already."""
    if isinstance(condition, np.bool_):  # a scalar's test: numpy's .all() of a scalar goes through Python
        return bool(condition)
    if isinstance(condition, np.ndarray):
        return bool(condition.all())
    return bool(np.all(condition))


def complex_step(plan: Plan, output: Node, base: dict, base_values: list, name: str, x: np.ndarray, held: dict,
                 diagonal: DiagonalRun | None):
    """f'(x) = Im f(x + i h e_j) / h with h = 1e-200: no subtraction, so no cancellation, one run per element.

    The error bar is a few ulps of the largest derivative the computation carries (the
    imaginary parts of the nodes, but for those only multiplied on: their product carries them scaled),
    which bounds the rounding in the forward-mode sums.
    Returns (value, error), each (elements, outputs).
    """
    if diagonal is not None:  # elementwise-then-reduce: all elements in one O(n) pass
        elements = np.arange(x.size)
        f = diagonal.run(base_values, elements, x.ravel() + 1j * COMPLEX_STEP).reshape(x.size, 1)
        derivative = f.imag / COMPLEX_STEP
        return derivative, 16 * EPS * np.maximum(np.abs(derivative), np.max(np.abs(derivative), initial=1.0))
    per_chunk = points_per_batch(_values_that_vary(plan, name), np.complex128)
    values, errors = [], []
    for start in range(0, x.size, per_chunk):
        elements = np.arange(start, min(x.size, start + per_chunk))
        derivative, error = _complex_step_of_elements(plan, output, base, name, x, held, elements)
        values.append(derivative)
        errors.append(error)
    return np.concatenate(values), np.concatenate(errors)


def _values_that_vary(plan: Plan, name: str) -> int:
    """Values per perturbed point of a dense run stepping `name`: the nodes that depend on it hold one value per
    point, the others (a matrix A against a stepped x) their base value once."""
    varying = _dependents(plan, name)
    return sum(size for node, size in zip(plan.nodes, plan.sizes) if node.id in varying)


def _complex_step_of_elements(plan: Plan, output: Node, base: dict, name: str, x: np.ndarray, held: dict,
                              elements: np.ndarray):
    """The dense complex step for some elements of x in one batched run (row j steps elements[j])."""
    perturbed = np.broadcast_to(x.ravel(), (elements.size, x.size)).astype(np.complex128)
    perturbed[np.arange(elements.size), elements] += 1j * COMPLEX_STEP
    inputs = dict(base)
    inputs[name] = perturbed.reshape((elements.size,) + x.shape)
    all_values = plan.run(inputs, held=held)
    f = plan.value(all_values, output)
    f = np.broadcast_to(f, (elements.size,) + f.shape[1:]).reshape(elements.size, -1)
    with np.errstate(over="ignore"):  # a derivative beyond the float range is inf, as it should be
        derivative = f.imag / COMPLEX_STEP
        carried = max((float(np.max(np.abs(v.imag), initial=0.0)) for v in added_values(plan, all_values)
                       if np.iscomplexobj(v)),
                      default=0.0) / COMPLEX_STEP
    return derivative, 16 * EPS * np.maximum(np.abs(derivative), carried)


def complex_step_of_scalars(plan: Plan, output: Node, base: dict, names: list[str], held: dict) -> dict:
    """The complex step for several scalar variables in batched runs (row j perturbs names[j]).

    Batched instead of one run per variable: for small functions of a few scalars the Python
    overhead of a run is most of the cost.  Each run takes as many variables as the batch budget allows,
    since every node then holds a value per variable (12,000 scalars in one run: gigabytes).
    Returns name -> (value, error), each (1, outputs).
    """
    per_batch = points_per_batch(plan.elements, np.complex128)
    found = {}
    for start in range(0, len(names), per_batch):
        found.update(_complex_step_of_these_scalars(plan, output, base, names[start:start + per_batch], held))
    return found


def _complex_step_of_these_scalars(plan: Plan, output: Node, base: dict, names: list[str], held: dict) -> dict:
    rows = len(names)
    inputs = dict(base)
    for row, name in enumerate(names):
        column = np.repeat(base[name].astype(np.complex128), rows, axis=0)  # keeps a one-element vector's shape
        column[row] += 1j * COMPLEX_STEP
        inputs[name] = column
    values = plan.run(inputs, held=held)
    f = plan.value(values, output)
    derivative = np.broadcast_to(f, (rows,) + f.shape[1:]).reshape(rows, -1).imag / COMPLEX_STEP
    # Only values that vary along the batch carry an imaginary part; the others are real.  One scan of them all.
    stepped = [value.reshape(rows, -1).imag for value in added_values(plan, values)
               if len(value) == rows and np.iscomplexobj(value)]
    carried = np.max(np.abs(np.concatenate(stepped, axis=1)), axis=1, initial=0.0)
    error = 16 * EPS * np.maximum(np.abs(derivative), carried[:, None] / COMPLEX_STEP)
    return {name: (derivative[row:row + 1], error[row:row + 1]) for row, name in enumerate(names)}
