"""Static shapes of graph nodes, inferred from the shapes of the variables.

The symbolic engine needs them to sum an adjoint back to its argument's shape
and to scale `mean`; the evaluator to line up a leading batch axis.  Shapes
are computed on demand, so nodes the symbolic engine adds later get theirs.

Shapes are known before anything is evaluated, so this is where a node too
large for the limits is refused: `ones(100000) * reshape(ones(100000), 100000, 1)`
fails here, in microseconds, instead of asking numpy for 74.5 GiB.
"""

from __future__ import annotations

import math

from ..core.limits import Limits
from .graph import Node
from .ops import OPS


class ShapeMismatch(Exception):
    """Arguments whose shapes the op cannot combine; carries the node, the reason, and the option the reason is
    about (`target` of cross_entropy) where it is about one."""

    def __init__(self, node: Node, reason: str, option: str | None = None):
        self.node, self.reason, self.option = node, reason, option
        super().__init__(f"{OPS[node.op].display_name}: {reason}")


class TooManyElements(ShapeMismatch):
    """A node whose shape is valid but holds more elements than `--max-elements` allows."""

    def __init__(self, node: Node, shape: tuple, limit: int):
        self.node, self.shape, self.limit = node, shape, limit
        Exception.__init__(self, f"would have {math.prod(shape):,} elements (shape {shape}); the limit is "
                                 f"{limit:,} ({{max_elements}})")


class ShapeMap:
    """node -> shape, given each variable's shape; with `limits`, a node past `max_elements` raises
    TooManyElements as its shape is inferred (a derivative node the symbolic engine adds too)."""

    def __init__(self, variable_shapes: dict[str, tuple], limits: Limits | None = None):
        self.variable_shapes = variable_shapes
        self.limits = limits
        self._shapes: dict[int, tuple] = {}

    def __call__(self, node: Node) -> tuple:
        shape = self._shapes.get(node.id)
        if shape is None:
            if all(a.id in self._shapes for a in node.args):  # a new node over known ones: no walk
                self._shapes[node.id] = shape = self._infer(node)
            else:
                for pending in self._unknown_ancestors(node):
                    self._shapes[pending.id] = self._infer(pending)
                shape = self._shapes[node.id]
        return shape

    def of_closed(self, nodes: list[Node]) -> dict[int, tuple]:
        """Shapes by node id for `nodes`, a list closed under arguments and oldest first (as `ancestors` gives)."""
        for node in nodes:
            if node.id not in self._shapes:
                self._shapes[node.id] = self._infer(node)
        return self._shapes

    def _unknown_ancestors(self, node: Node) -> list[Node]:
        found: dict[int, Node] = {}
        stack = [node]
        while stack:
            current = stack.pop()
            if current.id not in found and current.id not in self._shapes:
                found[current.id] = current
                stack.extend(current.args)
        return [found[i] for i in sorted(found)]

    def _infer(self, node: Node) -> tuple:
        shape = self._shape_of(node)
        if self.limits is not None and math.prod(shape) > self.limits.max_elements:
            raise TooManyElements(node, shape, self.limits.max_elements)
        return shape

    def _shape_of(self, node: Node) -> tuple:
        if node.op == "const":
            return ()
        if node.op == "var":
            return tuple(self.variable_shapes[node.attr])
        arg_shapes = [self._shapes[a.id] for a in node.args]
        try:
            return OPS[node.op].infer_shape(arg_shapes, node.attr)
        except ValueError as error:
            raise ShapeMismatch(node, str(error), getattr(error, "option", None)) from None
