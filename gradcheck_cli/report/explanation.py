"""The human form of `--explain` and of the culprits: a rich Tree of the graph, the chain rule, findings.

The tree starts at the output; each node shows its expression and value, and
beside each input the local partial ∂parent/∂input (formula = value).  A
node used twice is expanded once and named "(above)" after that; a long sum
lists its terms side by side; levels past `--depth` and nodes past a budget
are collapsed into a count, so a graph of hundreds of nodes stays readable.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..core.safe_text import printable
from ..core.text import shortened
from ..lang.graph import format_rounded

DEFAULT_DEPTH = 12
MAX_TREE_NODES = 60  # expanded nodes; the rest are counted
SHORT_TEXT = 70
SHOWN_PATHS = 4  # per variable, in the text; the JSON report has up to explain.MAX_PATHS
SHOWN_FACTORS = 8  # per path before its middle is left out
SHOWN_FORMULAS = 12


def print_explanation(console: Console, explanation, dtype: str, depth: int | None) -> None:
    console.print(Text("Graph", style="bold"), Text("  (value; ∂parent/∂input beside each input)", style="dim"))
    console.print(_tree(explanation, depth or DEFAULT_DEPTH))
    if explanation.chains:
        console.print(Text("Chain rule", style="bold"), Text(f"  ({explanation.output_name} = the expression's value; "
                                                             f"∂ holds the other {explanation.stations} fixed)",
                                                             style="dim"))
        for chain in explanation.chains:
            for line in chain_lines(chain, explanation.output_name, dtype):
                console.print(printable(line), markup=False, highlight=False, overflow="fold")
    elif explanation.note:
        console.print(f"note: {printable(explanation.note)}", style="yellow", markup=False)


def chain_lines(chain, output_name: str, dtype: str) -> list[str]:
    """`df/dw = ∂f/∂p · ∂p/∂z · ∂z/∂w = 813.4 · 0.001228 · 6.7 = 6.6918`, then the factors' formulas.

    Long paths keep their ends, many paths their first few, many factors their first formulas:
    the JSON report has every one.
    """
    head = f"d{output_name}/d{chain.variable}"
    if not chain.paths:
        return [f"{head} = 0  ({output_name} does not depend on {chain.variable})"]
    paths = chain.paths[:SHOWN_PATHS]
    hidden = chain.unlisted + len(chain.paths) - len(paths)
    more = f" + … ({hidden} more paths)" if hidden else ""
    symbols = " + ".join(_ends([f"∂{f.of}/∂{f.wrt}" for f in p.factors]) for p in paths)
    numbers = " + ".join(_ends([format_rounded(f.value) for f in p.factors]) for p in paths)
    exact = repr(float(chain.total)) if dtype == "float64" else str(np.float32(chain.total))
    indent = " " * len(head)
    lines = [f"{head} = {symbols}{more}", f"{indent} = {numbers}{more}",
             f"{indent} = {format_rounded(chain.total, 5)}   ({exact} in {dtype})"]
    factors = list({(f.of, f.wrt): f for p in paths for f in p.factors}.values())
    lines += [f"    ∂{f.of}/∂{f.wrt} = {_equation(f.formula, format_rounded(f.value))}"
              for f in factors[:SHOWN_FORMULAS]]
    if len(factors) > SHOWN_FORMULAS:
        lines.append(f"    … {len(factors) - SHOWN_FORMULAS} more factors (--json lists every one)")
    return lines


def _ends(parts: list[str]) -> str:
    """The factors of a path joined with ·, the middle of a long one left out."""
    if len(parts) <= SHOWN_FACTORS:
        return " · ".join(parts)
    return " · ".join(parts[:3] + [f"… ({len(parts) - 5} more) …"] + parts[-2:])


def _tree(explanation, depth: int) -> Tree:
    nodes = {n.id: n for n in explanation.nodes}
    root = nodes[explanation.output]
    tree = Tree(_label(root, explanation.output_name))
    shown: set[int] = {root.id}
    budget = [MAX_TREE_NODES]

    uses = _uses(explanation.nodes)

    def grow(branch: Tree, node, level: int) -> None:
        children = _terms(node, nodes, uses, shown)
        hidden = _count_below(node, nodes, shown) if level >= depth and children else 0
        if hidden:
            branch.add(Text(f"… {hidden} more nodes below (--depth)", style="dim"))
            return
        for partial, child in children:
            if budget[0] <= 0:
                branch.add(Text(f"… {_count_below(node, nodes, shown)} more nodes", style="dim"))
                return
            label = _label(child) + _partial_text(partial)
            if child.id in shown and child.inputs:
                name = printable(child.name) if child.name else _cut(child.expr)
                branch.add(Text(f"{name}  (above)", style="dim") + _partial_text(partial))
                continue
            shown.add(child.id)
            budget[0] -= 1
            grow(branch.add(label), child, level + 1)

    grow(tree, root, 1)
    return tree


SUMS = ("add", "sub")


def _terms(node, nodes: dict, uses: dict[int, int], shown: set[int]) -> list:
    """(partial, child) pairs below a node; a sum's unnamed inner sums, used nowhere else, are spliced in,
    so a + b + c + d lists four terms side by side rather than a staircase of partial sums."""
    found, stack = [], [(p, nodes[p.input]) for p in reversed(node.partials)]
    while stack:
        partial, child = stack.pop()
        if node.op in SUMS and child.op in SUMS and child.name is None and uses.get(child.id) == 1 \
                and partial.formula == "1":
            shown.add(child.id)
            stack.extend((p, nodes[p.input]) for p in reversed(child.partials))
        else:
            found.append((partial, child))
    return found


def _uses(views) -> dict[int, int]:
    uses: dict[int, int] = {}
    for view in views:
        for i in view.inputs:
            uses[i] = uses.get(i, 0) + 1
    return uses


def _label(node, output_name: str | None = None) -> Text:
    name = node.name or (output_name if output_name and node.inputs else None)
    text = Text()
    if name and name != node.expr:
        text.append(f"{printable(name)} = ", style="bold")
    text.append(_cut(node.expr))
    text.append(f" = {_value(node.value)}", style="cyan")
    return text


def _partial_text(partial) -> Text:
    if partial.formula is None:
        return Text("   ∂: a vector-Jacobian rule (not elementwise)", style="dim")
    return Text(f"   ∂ = {_equation(_cut(partial.formula, 50), _value(partial.value))}", style="magenta")


def _equation(formula: str, value: str) -> str:
    """`formula = value`, or the value alone when the formula is that number."""
    return value if formula == value else f"{formula} = {value}"


def _count_below(node, nodes: dict, shown: set) -> int:
    stack, seen = list(node.inputs), set()
    while stack:
        current = stack.pop()
        if current not in seen and current not in shown and nodes[current].op != "const":
            seen.add(current)
            stack.extend(nodes[current].inputs)
    return len(seen)


def print_factors(console: Console, factors, dtype: str) -> None:
    table = Table(title="Chain factors (manual dA/dB)", header_style="bold")
    for column in ("factor", "yours", "graph's own", "verdict"):
        table.add_column(column, justify="right" if column in ("yours", "graph's own") else "left")
    for factor in factors:
        verdict = Text("✓ pass", style="green") if factor.status == "pass" else Text("✗ fail", style="bold red")
        table.add_row(Text(f"{printable(factor.name)} = {_cut(factor.formula, 40)}"), _value(factor.manual, 10),
                      f"{_value(factor.symbolic, 10)}", verdict)
    console.print(table)


def print_culprits(console: Console, culprits) -> None:
    for culprit in culprits:
        console.print(Text.assemble(("culprit: ", "bold red"), printable(culprit.message)), overflow="fold")


def _value(value, digits: int = 6) -> str:
    return "—" if value is None else format_rounded(value, digits)


def _cut(text: str, limit: int = SHORT_TEXT) -> str:
    text = printable(text)
    return shortened(text, limit)
