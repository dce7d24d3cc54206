"""Static shapes of graph nodes, inferred from the shapes of the variables.

The symbolic engine needs them to sum an adjoint back to its argument's shape
and to scale `mean`; the evaluator to line up a leading batch axis.  Shapes
are computed on demand, so nodes the symbolic engine adds later get theirs.
"""

from __future__ import annotations

from .graph import Node
from .ops import OPS


class ShapeMismatch(Exception):
    """Arguments whose shapes the op cannot combine; carries the node."""

    def __init__(self, node: Node, reason: str):
        self.node = node
        super().__init__(f"{OPS[node.op].display_name}: {reason}")


class ShapeMap:
    """node -> shape, given each variable's shape."""

    def __init__(self, variable_shapes: dict[str, tuple]):
        self.variable_shapes = variable_shapes
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
        if node.op == "const":
            return ()
        if node.op == "var":
            return tuple(self.variable_shapes[node.attr])
        arg_shapes = [self._shapes[a.id] for a in node.args]
        try:
            return OPS[node.op].infer_shape(arg_shapes, node.attr)
        except ValueError as error:
            raise ShapeMismatch(node, str(error)) from None
