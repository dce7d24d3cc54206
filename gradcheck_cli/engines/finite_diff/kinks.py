"""Kinks and jumps met by a step: a central difference across a kink (relu(x) at 0) means nothing, and a
difference across a jump (floor(x) at 2, fmod(x, 1.5) at 3) is the jump divided by the step: no estimate at all.
A step that changes the piece a discontinuous op lies on (`OpSpec.jumps`) counts as crossing: its side gives no
one-sided value either, so that at a jump finite differences give nothing, and the entry goes to the
high-precision referee, which says whether the function itself jumps there.

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
        if spec is None or (spec.kinks is None and spec.jumps is None):
            return
        extra = (node.attr,) if spec.attrs else ()
        if spec.jumps is not None:
            self._observe_jumps(spec, extra, base_args, perturbed_args)
        if spec.kinks is None:
            return
        for switch_before, switch_after in zip(spec.kinks(*base_args, *extra), spec.kinks(*perturbed_args, *extra)):
            sign_after = np.broadcast_to(np.sign(switch_after), (self.batch,) + np.shape(switch_after)[1:])
            sign_before = np.broadcast_to(np.sign(switch_before), sign_after.shape)
            changed = (sign_after != sign_before).reshape(self.batch, -1)
            sitting = (sign_before == 0).reshape(self.batch, -1)
            self.crossed |= (changed & ~sitting).any(axis=1)
            self.at_kink |= (changed & sitting).any(axis=1)

    def _observe_jumps(self, spec, extra: tuple, base_args: list, perturbed_args: list) -> None:
        """A perturbed point on another piece than the base point's crossed a jump (or left one it sat on)."""
        for before, after in zip(spec.jumps(*base_args, *extra), spec.jumps(*perturbed_args, *extra)):
            after = np.broadcast_to(after, (self.batch,) + np.shape(after)[1:])
            before = np.broadcast_to(before, after.shape)
            changed = (after != before) & ~(np.isnan(after) & np.isnan(before))
            self.crossed |= changed.reshape(self.batch, -1).any(axis=1)


def kink_changes(plan: Plan, base_values: list, values: list, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """KinkWatch over every node of a dense batched run: (crossed, at_kink), each (batch,) booleans (a jump
    counts as crossed)."""
    watch = KinkWatch(batch)
    for node in plan.nodes:
        spec = OPS.get(node.op)
        if spec is not None and (spec.kinks is not None or spec.jumps is not None):
            watch.observe(node, plan.arguments(base_values, node), plan.arguments(values, node))
    return watch.crossed, watch.at_kink
