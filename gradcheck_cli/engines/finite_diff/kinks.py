"""Kinks met by a step: a central difference across a kink (relu(x) at 0) means nothing.

Its own module because three callers need it: Richardson's dense and diagonal runs (to discard a straddling
difference and keep the one-sided ones) and the noise measurement (to find a kink-free spacing).
"""

from __future__ import annotations

import numpy as np

from ...lang.graph import Node
from ...lang.ops import OPS
from ...lang.plan import Plan


class KinkWatch:
    """Per perturbed point: did it cross a kink (a switching function changed sign), or leave one it sat on?

    Switching functions come from the registry (`OpSpec.kinks`: relu's x, clamp's x - lo and x - hi, amax's
    lead of each element over the rest of its slice, ...); ops with an attribute (amax's axis) get it too.
    `observe` takes a node's arguments at the base point and at the perturbed points.
    """

    def __init__(self, batch: int):
        self.batch = batch
        self.crossed, self.at_kink = np.zeros(batch, dtype=bool), np.zeros(batch, dtype=bool)

    def observe(self, node: Node, base_args: list, perturbed_args: list) -> None:
        spec = OPS.get(node.op)
        if spec is None or spec.kinks is None:
            return
        extra = (node.attr,) if spec.attrs else ()
        for switch_before, switch_after in zip(spec.kinks(*base_args, *extra), spec.kinks(*perturbed_args, *extra)):
            sign_after = np.broadcast_to(np.sign(switch_after), (self.batch,) + np.shape(switch_after)[1:])
            sign_before = np.broadcast_to(np.sign(switch_before), sign_after.shape)
            changed = (sign_after != sign_before).reshape(self.batch, -1)
            sitting = (sign_before == 0).reshape(self.batch, -1)
            self.crossed |= (changed & ~sitting).any(axis=1)
            self.at_kink |= (changed & sitting).any(axis=1)


def kink_changes(plan: Plan, base_values: list, values: list, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """KinkWatch over every node of a dense batched run: (crossed, at_kink), each (batch,) booleans."""
    watch = KinkWatch(batch)
    for node in plan.nodes:
        if OPS.get(node.op) is not None and OPS[node.op].kinks is not None:
            watch.observe(node, plan.arguments(base_values, node), plan.arguments(values, node))
    return watch.crossed, watch.at_kink
