"""The expression graph: an append-only, hash-consed DAG, and its printer.

Identical subexpressions are one node, so a derivative graph that reuses the
forward graph's nodes stays linear in size.  Node ids grow in creation order,
which is a topological order: every argument is older than its user.

`Graph.raw` interns a node exactly as asked (the parser uses it, so torch sees
the user's own expression); `Graph.apply` simplifies first (the symbolic
engine uses it, through the arithmetic operators on `Node`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from . import simplify
from .ops import OPS
from .ops.record import torch_tuple_parts
from .tensor_kernels import format_index

# axis reductions whose second positional argument in torch is not dim (torch.norm(x, p)): dim is written by name
DIM_BY_KEYWORD = frozenset({"norm"})
WITH_OPTIONS = frozenset(name for name, spec in OPS.items() if spec.attrs == "options")

ATOM = 100  # precedence of names, numbers and calls: never parenthesised
NEGATIVE_NUMBER = OPS["neg"].precedence


class Node:
    """One operation applied to older nodes; never changed once made."""

    __slots__ = ("graph", "id", "op", "args", "attr")

    def __init__(self, graph: Graph, id: int, op: str, args: tuple[Node, ...], attr):
        self.graph = graph
        self.id = id
        self.op = op
        self.args = args
        self.attr = attr

    @property
    def is_const(self) -> bool:
        return self.op == "const"

    def is_value(self, value: float) -> bool:
        return self.op == "const" and self.attr == value

    def __repr__(self) -> str:
        return f"Node({to_text(self)})"

    # Arithmetic builds simplified nodes, so derivative rules read like maths.
    def _lift(self, other) -> Node:
        return other if isinstance(other, Node) else self.graph.const(float(other))

    def __add__(self, other):
        return self.graph.apply("add", self, self._lift(other))

    def __radd__(self, other):
        return self.graph.apply("add", self._lift(other), self)

    def __sub__(self, other):
        return self.graph.apply("sub", self, self._lift(other))

    def __rsub__(self, other):
        return self.graph.apply("sub", self._lift(other), self)

    def __mul__(self, other):
        return self.graph.apply("mul", self, self._lift(other))

    def __rmul__(self, other):
        return self.graph.apply("mul", self._lift(other), self)

    def __truediv__(self, other):
        return self.graph.apply("div", self, self._lift(other))

    def __rtruediv__(self, other):
        return self.graph.apply("div", self._lift(other), self)

    def __pow__(self, other):
        return self.graph.apply("pow", self, self._lift(other))

    def __rpow__(self, other):
        return self.graph.apply("pow", self._lift(other), self)

    def __neg__(self):
        return self.graph.apply("neg", self)


class Graph:
    """Owner of the nodes; interning makes equal subexpressions one node."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._interned: dict[tuple, Node] = {}

    def raw(self, op: str, args: tuple[Node, ...] = (), attr=None) -> Node:
        if attr is None and op in WITH_OPTIONS:  # one node for leaky_relu(x) and leaky_relu(x, 0.01)
            attr = OPS[op].defaults()
        args = tuple(args)
        # The argument nodes themselves in the key: a Node hashes and compares by identity, and each is interned.
        key = (op, args, float.hex(attr) if op == "const" else attr)
        node = self._interned.get(key)
        if node is None:
            node = Node(self, len(self.nodes), op, args, attr)
            self.nodes.append(node)
            self._interned[key] = node
        return node

    def const(self, value: float) -> Node:
        return self.raw("const", (), float(value))

    def var(self, name: str) -> Node:
        return self.raw("var", (), name)

    def apply(self, op: str, *args, attr=None) -> Node:
        nodes = tuple([a if isinstance(a, Node) else self.const(a) for a in args])
        return simplify.rewrite(self, op, nodes, attr)


def ancestors(outputs: Iterable[Node]) -> list[Node]:
    """Every node the outputs (of one graph) depend on, themselves included, oldest first."""
    stack = list(outputs)
    if not stack:
        return []
    by_id = stack[0].graph.nodes
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if node.id not in seen:
            seen.add(node.id)
            stack.extend(node.args)
    return [by_id[i] for i in sorted(seen)]


def dependents(nodes: Iterable[Node], sources: set[int], passes: Callable[[Node], bool] | None = None) -> set[int]:
    """Ids of the nodes that depend on a node of `sources`, in one forward sweep over `nodes` (oldest first,
    every argument before its user): the sources themselves, and each node with an argument among them that
    `passes` (default: every node) lets the dependence through; `carries_value` and `carries_derivative` are
    the two rules the engines use."""
    found: set[int] = set()
    for node in nodes:
        if node.id in sources or (node.args and (passes is None or passes(node))
                                  and any(a.id in found for a in node.args)):
            found.add(node.id)
    return found


def carries_value(node: Node) -> bool:
    """Whether the node's value changes with its arguments' (detach holds its value)."""
    return not OPS[node.op].holds_value


def carries_derivative(node: Node) -> bool:
    """Whether a derivative flows through the node to its arguments (the op has a rule)."""
    return OPS[node.op].differentiable


def variables(outputs: Iterable[Node]) -> list[str]:
    """Names of the free variables the outputs depend on, oldest first."""
    return [n.attr for n in ancestors(outputs) if n.op == "var"]


def same_structure(a: Node, b: Node) -> bool:
    """True when two nodes, possibly of different graphs, spell the same expression."""
    pairs, checked = [(a, b)], set()
    while pairs:
        x, y = pairs.pop()
        if (x.id, y.id) in checked:
            continue
        checked.add((x.id, y.id))
        if x.op != y.op or x.attr != y.attr or len(x.args) != len(y.args):
            return False
        pairs.extend(zip(x.args, y.args))
    return True


# ---- printing ----


def format_number(value: float) -> str:
    if value == math.pi:
        return "pi"
    if value == math.e:
        return "e"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def format_rounded(value, digits: int = 4) -> str:
    """A number (or array) to `digits` significant digits, as a person writes it: 6.7, 0.001228, 813.4."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return format_number(float(f"{float(array):.{digits}g}") + 0.0)  # + 0.0: no "-0"
    return np.array2string(array + 0.0, threshold=6, edgeitems=2, separator=", ", max_line_width=10**6,
                           formatter={"float_kind": lambda v: format_rounded(v, digits)}).replace("\n", "")


def _needs_parens(child_precedence: int, parent_precedence: int, side: str, parent) -> bool:
    if child_precedence > parent_precedence:
        return False
    if child_precedence < parent_precedence:
        # Python reads `2**-x` as 2**(-x): a prefix operand needs no parentheses there.
        return not (parent.right_assoc and side == "right" and child_precedence == NEGATIVE_NUMBER)
    if parent.precedence == 5:  # comparisons do not chain
        return True
    return side == ("left" if parent.right_assoc else "right")


def format_option(value: object) -> str:
    """An option's value as the language writes it: 0.1, 'tanh', True, (1, 2)."""
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, tuple):
        return f"({', '.join(map(str, value))}{',' if len(value) == 1 else ''})"
    return repr(value)


# Options torch takes as "an int or a tuple" (conv2d's padding=1): a tuple of one integer prints as the integer.
INT_OR_TUPLE = frozenset({"kernel_size", "stride", "padding", "dilation", "shifts"})


def _option_text(name: str, value: object) -> str:
    """An option's value as the user most likely wrote it: padding=1 (which the parser reads as (1,)) where
    torch takes an int too; a tuple elsewhere (torch's tile and layer_norm want tuples, and sum(x, dim=0) would
    read back as sum's axis overload)."""
    if name in INT_OR_TUPLE and isinstance(value, tuple) and len(value) == 1 and isinstance(value[0], int):
        return str(value[0])
    return format_option(value)


def _reads_as_torch_tuple(node: Node) -> bool:
    """Whether `node`, printed and indexed, would read as an index into a tuple torch returns: qr(A)[0] is Q,
    and max(A, 1)[0] (torch's max over dim 1) is refused, so the elementwise max(A, 1) is indexed in parentheses."""
    if node.op in ("max", "min"):
        return node.args[1].is_const and float(node.args[1].attr).is_integer()
    return node.op in OPS and bool(torch_tuple_parts(OPS[node.op]))


def render(node: Node, parts: list[tuple[str, int]]) -> tuple[str, int]:
    """Text and precedence of one node, given its arguments' texts and precedences."""
    if node.op == "const":
        text = format_number(node.attr)
        return text, (NEGATIVE_NUMBER if text.startswith("-") else ATOM)
    if node.op == "var":
        return node.attr, ATOM
    spec = OPS[node.op]
    if spec.syntax == "infix":
        (left, lp), (right, rp) = parts
        if _needs_parens(lp, spec.precedence, "left", spec):
            left = f"({left})"
        if _needs_parens(rp, spec.precedence, "right", spec):
            right = f"({right})"
        sep = f" {spec.symbol} " if spec.precedence <= 10 else spec.symbol
        return f"{left}{sep}{right}", spec.precedence
    if spec.syntax == "prefix":
        (operand, op_prec), = parts
        if op_prec < spec.precedence:
            operand = f"({operand})"
        return f"{spec.symbol}{operand}", spec.precedence
    if spec.syntax == "postfix":
        (operand, op_prec), = parts[:1]
        if op_prec < ATOM or node.args[0].is_const:  # `1.T` would read as the number `1.`
            operand = f"({operand})"
        elif spec.attrs == "index" and _reads_as_torch_tuple(node.args[0]) and operand.endswith(")"):
            operand = f"({operand})"  # qr(A)[0] would read as torch's tuple index: Q
        suffix = f"[{format_index(node.attr)}]" if spec.attrs == "index" else spec.symbol
        return f"{operand}{suffix}", ATOM
    if spec.attrs == "index":
        texts = [text for text, _ in parts] + [f"[{format_index(node.attr)}]"]
    elif spec.attrs == "options":
        defaults = dict(spec.defaults().items)
        present = spec.present(node.attr)
        required = len(parts) - len(present)
        optional = dict(zip(present, (text for text, _ in parts[required:])))
        texts = [text for text, _ in parts[:required]] + [
            f"{name}={optional[name] if name in optional else _option_text(name, value)}"
            for name, value in node.attr.items
            if name in optional or value != defaults[name] or type(value) is not type(defaults[name])]
    else:
        dims = [f"dim={n}" if spec.name in DIM_BY_KEYWORD else str(n) for n in (node.attr or ())]
        texts = [text for text, _ in parts] + dims
    return f"{spec.call_name or spec.name}({', '.join(texts)})", ATOM


def _texts(nodes: list[Node], names: dict[int, str], limit: int) -> dict[int, tuple[str, int]] | None:
    """Texts of all nodes, nodes in `names` printed as their name; None past `limit` chars."""
    texts: dict[int, tuple[str, int]] = {}
    for node in nodes:
        if node.id in names:
            texts[node.id] = (names[node.id], ATOM)
            continue
        texts[node.id] = render(node, [texts[a.id] for a in node.args])
        if len(texts[node.id][0]) > limit:
            return None
    return texts


def to_text(node: Node, names: dict[int, str] | None = None, limit: int = 2000) -> str:
    """The node as expression text with minimal parentheses; `parse` reads it back.

    `names` maps node ids to binding names printed in their place.  When the
    expanded text grows past `limit` characters (shared subexpressions repeat
    in text), shared nodes become let-bindings `t1 = ...; t2 = ...; result`.
    """
    names = {k: v for k, v in (names or {}).items() if k != node.id}
    nodes = ancestors([node])
    texts = _texts(nodes, names, limit)
    if texts is not None:
        return texts[node.id][0]
    return _let_form(node, nodes, names)


class Formulas(Mapping):
    """Variable name -> derivative formula text, rendered the first time anyone reads it.

    Printing costs as much as building the derivative; most checks pass and are never printed.
    Pickled (for -j workers) as the plain dict it renders to.
    """

    def __init__(self, nodes: dict[str, Node], names: dict[int, str]):
        self._nodes, self._names, self._texts = nodes, names, None

    def _rendered(self) -> dict[str, str]:
        if self._texts is None:
            self._texts = {name: to_text(node, self._names) for name, node in self._nodes.items()}
        return self._texts

    def __getitem__(self, name: str) -> str:
        return self._rendered()[name]

    def __iter__(self):
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __reduce__(self):
        return dict, (self._rendered(),)

    def __repr__(self) -> str:
        return repr(self._rendered())


def _let_form(node: Node, nodes: list[Node], names: dict[int, str]) -> str:
    uses: dict[int, int] = {}
    for n in nodes:
        for a in n.args:
            uses[a.id] = uses.get(a.id, 0) + 1
    taken = set(names.values()) | {n.attr for n in nodes if n.op == "var"}
    fresh = (f"t{i}" for i in range(1, len(nodes) + len(taken) + 2) if f"t{i}" not in taken)
    texts: dict[int, tuple[str, int]] = {}
    lets = []
    for n in nodes:
        if n.id in names:
            texts[n.id] = (names[n.id], ATOM)
            continue
        texts[n.id] = render(n, [texts[a.id] for a in n.args])
        if n.id != node.id and n.args and uses.get(n.id, 0) >= 2:
            name = next(fresh)
            lets.append(f"{name} = {texts[n.id][0]}")
            texts[n.id] = (name, ATOM)
    return "; ".join(lets + [texts[node.id][0]])
