"""Numpy evaluation of a graph, compiled once into a flat list of calls.

Every value carries a leading batch axis: shape (B,) + the node's own shape,
with B = 1 for the base point.  Finite differences evaluate all their
perturbed points in one run by stacking them along that axis; arguments of
lower rank are given singleton axes after the batch axis so that numpy's
trailing-axis broadcasting lines up the node shapes, not the batch axis.

A run keeps every node's value, so its memory is known from the shapes alone:
`elements` per batch row, bounded by the limits when the plan is compiled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np

from ..core.errors import LimitError
from ..core.limits import NODES_OF_FULL_SIZE
from .graph import Node, ancestors
from .ops import OPS
from .shapes import ShapeMap


class Step(NamedTuple):
    node: Node
    function: Callable
    arg_slots: tuple[int, ...]
    pads: tuple[int, ...]  # singleton axes to insert after the batch axis, per argument
    padded: bool  # any(pads), decided once when the plan is compiled, not on every run


_new_step = tuple.__new__  # NamedTuple's own __new__ is a Python function: too slow for a step per node


def flat_values(values: list[np.ndarray]) -> np.ndarray:
    """Every node's values in one array, so a scan over them is one numpy call, not one per node."""
    return np.concatenate([np.ravel(v) for v in values])


LARGE_VALUE = 4096  # elements from which a node's values are scanned where they are, not copied (value_blocks)


def value_blocks(values: list[np.ndarray]) -> list[np.ndarray]:
    """Every node's values as a few flat arrays, for a scan that is a test of each element (any, all): the small
    ones in one array (one numpy call, not one per node), each large one on its own (a matrix of a million
    numbers is not copied)."""
    small: list[np.ndarray] = []
    large: list[np.ndarray] = []
    for value in values:  # a plan's values are arrays: their own size and ravel, not numpy's Python wrappers
        (small if value.size < LARGE_VALUE else large).append(value.ravel())
    return ([np.concatenate(small)] if small else []) + large


class Plan:
    """The calls that compute `outputs` (and every node they need), oldest first."""

    def __init__(self, outputs: list[Node], shapes: ShapeMap):
        self.nodes = ancestors(outputs)
        self.slot = {node.id: i for i, node in enumerate(self.nodes)}
        shape_of = shapes.of_closed(self.nodes)
        self.sizes = [math.prod(shape_of[node.id]) for node in self.nodes]
        limits = shapes.limits
        if limits is not None and self.elements > limits.max_graph_elements:
            raise LimitError(f"evaluating it would hold {self.elements:,} values at once (every node's, derivatives "
                             f"included); the limit is {limits.max_graph_elements:,} "
                             f"({NODES_OF_FULL_SIZE} × {{max_elements}})")
        self.steps: list[Step | None] = self._steps(shape_of)

    @property
    def elements(self) -> int:
        """Values one run holds per batch row (every node's, at its shape): what a batch costs."""
        return sum(self.sizes)

    def _steps(self, shape_of: dict[int, tuple]) -> list[Step | None]:
        """Each node's call (None for a constant or a variable), in one loop: a plan is compiled per case, and a
        method call per node was a tenth of compiling it."""
        slot, steps = self.slot, []
        for node in self.nodes:
            op = node.op
            if op == "const" or op == "var":
                steps.append(None)
                continue
            spec = OPS[op]
            args = node.args
            if spec.elementwise:
                rank = len(shape_of[node.id])
                pads = tuple([rank - len(shape_of[a.id]) for a in args])
            else:
                pads = (0,) * len(args)
            function = partial(_call_with_attr, spec.evaluate, node.attr) if spec.attrs else spec.numpy
            steps.append(_new_step(Step, (node, function, tuple([slot[a.id] for a in args]), pads, any(pads))))
        return steps

    def restricted_to(self, outputs: list[Node], nodes: list[Node] | None = None) -> Plan:
        """The part of this plan that `outputs` need (`nodes`, when the caller has them), reusing its
        compiled steps."""
        plan = Plan.__new__(Plan)
        plan.nodes = nodes if nodes is not None else ancestors(outputs)
        plan.slot = {node.id: i for i, node in enumerate(plan.nodes)}
        count = len(plan.nodes)
        # The forward part of a plan that also holds the derivatives is its first nodes: the same steps and slots.
        if count <= len(self.nodes) and all(mine is theirs for mine, theirs in zip(self.nodes, plan.nodes)):
            plan.sizes, plan.steps = self.sizes[:count], self.steps[:count]
            return plan
        plan.sizes = [self.sizes[self.slot[node.id]] for node in plan.nodes]
        steps = {node.id: step for node, step in zip(self.nodes, self.steps)}
        plan.steps = [None if steps[node.id] is None else
                      Step(node, steps[node.id].function, tuple(plan.slot[a.id] for a in node.args),
                           steps[node.id].pads, steps[node.id].padded)
                      for node in plan.nodes]
        return plan

    def run(self, inputs: dict[str, np.ndarray], dtype=np.float64,
            held: dict[int, np.ndarray] | None = None) -> list[np.ndarray]:
        """Values of all nodes, by slot.  `inputs` are batched: (B,) + shape.

        `held` gives fixed values for some nodes (detach during finite differences).
        """
        values: list[np.ndarray] = [None] * len(self.nodes)  # type: ignore[list-item]
        asarray = np.asarray
        with np.errstate(all="ignore"):
            for i, (node, step) in enumerate(zip(self.nodes, self.steps)):
                if held and node.id in held:
                    values[i] = held[node.id]
                elif step is None:
                    values[i] = asarray([node.attr], dtype=dtype) if node.op == "const" else inputs[node.attr]
                elif step.padded:
                    values[i] = asarray(step.function(*[_pad(values[s], p)
                                                        for s, p in zip(step.arg_slots, step.pads)]))
                else:
                    values[i] = asarray(step.function(*[values[s] for s in step.arg_slots]))
        return values

    def at(self, point: dict[str, np.ndarray], dtype=np.float64,
           held: dict[int, np.ndarray] | None = None) -> list[np.ndarray]:
        """Values of all nodes, by slot, at one point (name -> value, without the batch axis), computed in
        `dtype`: the point's values and the constants are cast to it.  Each value has a batch axis of 1."""
        dtype = np.dtype(dtype)
        return self.run({name: batched(np.asarray(value, dtype=dtype)) for name, value in point.items()}, dtype, held)

    def value(self, values: list[np.ndarray], node: Node) -> np.ndarray:
        return values[self.slot[node.id]]

    def stacked(self, values: list[np.ndarray], nodes: list[Node], shape: tuple, element_shape: tuple) -> np.ndarray:
        """The values of `nodes` at a run's first point, one node per element of an array of `shape` (row-major),
        each broadcast to `element_shape` (a derivative may be stored smaller than its variable), as one float64
        array of shape + element_shape: a Jacobian from its rows."""
        rows = [np.broadcast_to(self.value(values, node)[0], element_shape) for node in nodes]
        return np.stack(rows).reshape(tuple(shape) + tuple(element_shape)).astype(np.float64)

    def arguments(self, values: list[np.ndarray], node: Node) -> list[np.ndarray]:
        """A node's argument values, ranks lined up as its numpy call receives them."""
        step = self.steps[self.slot[node.id]]
        return [_pad(values[s], p) for s, p in zip(step.arg_slots, step.pads)]


def _call_with_attr(evaluate, attr, *args):
    return evaluate(args, attr)


def _pad(value: np.ndarray, pad: int) -> np.ndarray:
    if pad == 0:
        return value
    return value.reshape(value.shape[:1] + (1,) * pad + value.shape[1:])


def batched(value: np.ndarray) -> np.ndarray:
    """A single point's value with its batch axis of length 1."""
    return np.asarray(value)[np.newaxis]


class DiagonalRun:
    """Evaluates many one-element perturbations of one variable in O(size) instead of O(size²).

    Perturbing element p of x changes, in a node that is elementwise in x, only
    element p; such a node is kept as its base value plus one number per
    perturbation (the value at p).  A sum or mean of such a node is updated from
    that one change.  Nodes after the reduction are dense batches of scalars, and
    nodes that do not depend on x keep their base value.  Graphs that mix the
    elements of x any other way (matmul, softmax) are not diagonal: `supports` is
    False and the caller evaluates dense batches.
    """

    def __init__(self, plan: Plan, shapes, name: str):
        self.plan = plan
        self.shapes = [shapes(node) for node in plan.nodes]
        self.kinds = self._classify(shapes, name)

    @property
    def supports(self) -> bool:
        return self.kinds is not None and self.kinds[-1] != "diagonal"

    def _classify(self, shapes, name: str) -> list[str] | None:
        kinds: list[str] = []
        variable_shape = None
        for node in self.plan.nodes:
            arg_kinds = [kinds[self.plan.slot[a.id]] for a in node.args]
            if node.op == "var" and node.attr == name:
                kinds.append("diagonal")
                variable_shape = shapes(node)
            elif not any(k != "base" for k in arg_kinds) or OPS[node.op].holds_value:
                kinds.append("base")  # detach holds its base value, like finite differences' `held`
            elif "diagonal" not in arg_kinds:
                kinds.append("dense")
            else:
                spec = OPS[node.op]
                if spec.elementwise and shapes(node) == variable_shape and "dense" not in arg_kinds and all(
                        k != "diagonal" or shapes(a) == variable_shape for k, a in zip(arg_kinds, node.args)):
                    kinds.append("diagonal")
                elif spec.uniform_reduction and node.attr is None and len(node.args) == 1:
                    kinds.append("dense")
                else:
                    return None
        return kinds

    def run(self, base: list[np.ndarray], positions: np.ndarray, shifted: np.ndarray,
            observe: Callable | None = None) -> np.ndarray:
        """The output for each perturbation: element positions[b] of the variable set to shifted[b].

        `observe(node, base arguments, perturbed arguments)` sees every node that changes, with
        arguments lined up per perturbation (finite differences watch kinks through it).
        """
        values: list = [None] * len(self.plan.nodes)
        diagonal: dict[int, np.ndarray] = {}
        with np.errstate(all="ignore"):
            for i, (node, step, kind) in enumerate(zip(self.plan.nodes, self.plan.steps, self.kinds)):
                if kind == "base":
                    values[i] = base[i]
                elif step is None:  # the perturbed variable
                    diagonal[i] = shifted
                elif kind == "diagonal":
                    at_positions = [np.broadcast_to(base[s][0], self.shapes[i]).reshape(-1)[positions]
                                    for s in step.arg_slots]
                    args = [diagonal[s] if self.kinds[s] == "diagonal" else before
                            for s, before in zip(step.arg_slots, at_positions)]
                    diagonal[i] = np.asarray(step.function(*args))
                    if observe is not None:
                        observe(node, at_positions, args)
                elif self.kinds[step.arg_slots[0]] == "diagonal":  # sum or mean of a diagonal node
                    (s,) = step.arg_slots
                    weight = float(step.function(np.ones_like(base[s]))[0]) / base[s][0].size
                    change = diagonal[s] - base[s][0].reshape(-1)[positions]
                    values[i] = base[i] + weight * change
                else:
                    args = [_pad(values[s], p) for s, p in zip(step.arg_slots, step.pads)]
                    values[i] = np.asarray(step.function(*args))
                    if observe is not None:
                        observe(node, [_pad(base[s], p) for s, p in zip(step.arg_slots, step.pads)], args)
        return values[-1]
