"""Numpy evaluation of a graph, compiled once into a flat list of calls.

Every value carries a leading batch axis: shape (B,) + the node's own shape,
with B = 1 for the base point.  Finite differences evaluate all their
perturbed points in one run by stacking them along that axis; arguments of
lower rank are given singleton axes after the batch axis so that numpy's
trailing-axis broadcasting lines up the node shapes, not the batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from .graph import Node, ancestors
from .ops import OPS
from .shapes import ShapeMap


@dataclass(frozen=True)
class Step:
    node: Node
    function: Callable
    arg_slots: tuple[int, ...]
    pads: tuple[int, ...]  # singleton axes to insert after the batch axis, per argument


class Plan:
    """The calls that compute `outputs` (and every node they need), oldest first."""

    def __init__(self, outputs: list[Node], shapes: ShapeMap):
        self.nodes = ancestors(outputs)
        self.slot = {node.id: i for i, node in enumerate(self.nodes)}
        self.steps: list[Step | None] = [self._step(node, shapes) for node in self.nodes]

    def _step(self, node: Node, shapes: ShapeMap) -> Step | None:
        if node.op in ("const", "var"):
            return None
        spec = OPS[node.op]
        rank = len(shapes(node))
        pads = tuple(rank - len(shapes(a)) if spec.elementwise else 0 for a in node.args)
        function = partial(_call_with_attr, spec.evaluate, node.attr) if spec.attrs else spec.numpy
        return Step(node, function, tuple(self.slot[a.id] for a in node.args), pads)

    def run(self, inputs: dict[str, np.ndarray], dtype=np.float64,
            held: dict[int, np.ndarray] | None = None) -> list[np.ndarray]:
        """Values of all nodes, by slot.  `inputs` are batched: (B,) + shape.

        `held` gives fixed values for some nodes (detach during finite differences).
        """
        held = held or {}
        values: list[np.ndarray] = [None] * len(self.nodes)  # type: ignore[list-item]
        with np.errstate(all="ignore"):
            for i, (node, step) in enumerate(zip(self.nodes, self.steps)):
                if node.id in held:
                    values[i] = held[node.id]
                elif step is None:
                    values[i] = (np.asarray([node.attr], dtype=dtype) if node.op == "const"
                                 else inputs[node.attr])
                else:
                    args = [_pad(values[s], p) for s, p in zip(step.arg_slots, step.pads)]
                    values[i] = np.asarray(step.function(*args))
        return values

    def value(self, values: list[np.ndarray], node: Node) -> np.ndarray:
        return values[self.slot[node.id]]


def _call_with_attr(evaluate, attr, *args):
    return evaluate(args, attr)


def _pad(value: np.ndarray, pad: int) -> np.ndarray:
    if pad == 0:
        return value
    return value.reshape(value.shape[:1] + (1,) * pad + value.shape[1:])


def batched(value: np.ndarray) -> np.ndarray:
    """A single point's value with its batch axis of length 1."""
    return np.asarray(value)[np.newaxis]
