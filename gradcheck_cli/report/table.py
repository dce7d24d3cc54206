"""The human report: a rich table per case, the derivative formulas, a summary line."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..compare import CaseResult, GradientRow
from ..graph import format_number

MAX_ROWS = 20  # rows shown per case; failing rows first
STATUS_STYLE = {"pass": "green", "fail": "bold red", "error": "bold red", "inconclusive": "yellow",
                "undefined": "yellow"}
STATUS_MARK = {"pass": "✓", "fail": "✗", "error": "✗", "inconclusive": "?", "undefined": "~"}


def render(results: list[CaseResult], settings: dict) -> str:
    console = make_console(settings)
    for result in results:
        if not settings.get("quiet"):
            _print_case(console, result)
    console.print(summary_line(results), style=_overall_style(results), highlight=False)
    return console.file.getvalue()


def make_console(settings: dict) -> Console:
    color = settings.get("color", "auto")
    color_system = {"always": "standard", "never": None}.get(color, "auto")
    force_terminal = True if color == "always" or settings.get("tty") else None  # None: rich reads FORCE_COLOR
    return Console(file=io.StringIO(), force_terminal=force_terminal, no_color=color == "never",
                   color_system=color_system,
                   width=settings.get("width") or 140, highlight=False, soft_wrap=False)


def _print_case(console: Console, result: CaseResult) -> None:
    console.print(Text.assemble((result.name, "bold"), "  at ", _point_text(result.point)))
    if result.status == "error":
        console.print(result.rendered_error or result.error["message"], style="red", markup=False)
        console.print()
        return
    console.print(f"value = {_number(result.value, result.dtype)}")
    console.print(_table(result))
    for name, formula in result.formulas.items():
        console.print(Text.assemble(f"d/d{name} = ", (formula, "cyan")), overflow="fold")
    console.print()


def _table(result: CaseResult) -> Table:
    has_manual = any(r.manual is not None for r in result.gradients)
    has_expected = any(r.expected is not None for r in result.gradients)
    table = Table(show_edge=True, header_style="bold")
    columns = ["wrt", "symbolic"] + (["manual"] if has_manual else []) + ["finite difference ± error", "autograd"]
    columns += (["expected"] if has_expected else []) + ["rel error", "verdict"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("wrt", "verdict") else "right")
    for row in _rows_to_show(result.gradients):
        cells = [_label(row), _number(row.symbolic, result.dtype)]
        if has_manual:
            cells.append(_number(row.manual, result.dtype))
        cells += [f"{_number(row.finite_difference, 'float64', 13)} ± {_error(row.fd_error)}",
                  _number(row.autograd, result.dtype)]
        if has_expected:
            cells.append(_number(row.expected, "float64"))
        cells += [_error(row.rel_error), _verdict(row)]
        table.add_row(*cells)
    hidden = len(result.gradients) - min(len(result.gradients), MAX_ROWS)
    if hidden:
        table.caption = f"{hidden} more element(s) not shown; use --json for all"
    return table


def _rows_to_show(rows: list[GradientRow]) -> list[GradientRow]:
    if len(rows) <= MAX_ROWS:
        return rows
    failing = [r for r in rows if r.status != "pass"]
    passing = [r for r in rows if r.status == "pass"]
    return (failing + passing)[:MAX_ROWS]


def _label(row: GradientRow) -> str:
    return row.wrt + (f"[{', '.join(map(str, row.index))}]" if row.index else "")


def _verdict(row: GradientRow) -> Text:
    text = f"{STATUS_MARK[row.status]} {row.status}"
    if row.disagrees:
        text += ": " + ", ".join(n.replace("_", " ") for n in row.disagrees)
    return Text(text, style=STATUS_STYLE[row.status])


def _number(value, dtype: str, digits: int | None = None) -> str:
    if value is None:
        return "—"
    digits = digits or (8 if dtype == "float32" else 16)
    return f"{value:.{digits}g}"


def _error(value) -> str:
    return "—" if value is None else f"{value:.1e}"


def _point_text(point: dict) -> str:
    parts = []
    for name, value in point.items():
        shown = format_number(float(value)) if isinstance(value, (int, float)) else str(value)
        parts.append(f"{name} = {shown}")
    return ", ".join(parts)


def summary_line(results: list[CaseResult]) -> str:
    counts = {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "inconclusive", "undefined", "error")}
    failing = [_failure_phrase(r) for r in results if r.status in ("fail", "error")]
    mark = STATUS_MARK["fail"] if failing else STATUS_MARK["pass"]
    parts = [f"{counts['pass']} passed"]
    parts += [f"{n} {label}" for label, n in (("failed", counts["fail"]), ("inconclusive", counts["inconclusive"]),
                                               ("undefined", counts["undefined"]), ("errors", counts["error"])) if n]
    line = f"{mark} {', '.join(parts)}"
    return line + (" — " + "; ".join(failing[:5]) if failing else "")


def _failure_phrase(result: CaseResult) -> str:
    if result.status == "error":
        return f"{result.name}: {result.error['kind']} error"
    rows = [r for r in result.gradients if r.status == "fail"]
    who = sorted({n for r in rows for n in r.disagrees})
    variables = sorted({_label(r) if len(rows) <= 3 else r.wrt for r in rows})
    return f"{result.name}: {', '.join(w.replace('_', ' ') for w in who)} disagree(s) on {', '.join(variables)}"


def _overall_style(results: list[CaseResult]) -> str:
    return "bold red" if any(r.status in ("fail", "error") for r in results) else "bold green"
