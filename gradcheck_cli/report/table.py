"""The human report: a rich table per case, the derivative formulas, a summary line.

A single case always gets its full table.  Over many cases a passing one
gets a single line (unless verbose) and a failing one its table, like a
test runner.
"""

from __future__ import annotations

import heapq
import io
import math
import textwrap
from dataclasses import dataclass, replace

import numpy as np
from rich.cells import cell_len
from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..core.safe_text import inert_lines, printable, printable_lines
from ..lang.graph import format_number
from ..verdict.compare import CaseResult, GradientRow
from . import UNSETTLED, ReportSettings, fails_the_run
from .digits import row_digits
from .explanation import print_culprits, print_explanation, print_factors
from .text import SOURCES, derivative_label, element_label, engine_name, failure_sentence, output_label

MAX_ROWS = 20  # rows shown per case; failing rows first
MAX_REFEREE_NOTES = 3
MAX_LISTED = 6
FUNCTION_DIGITS = 10  # significant digits when a user's function adds its two columns
FD_DIGITS = 13  # a finite difference's, in the wide table: its error bar says how many of them hold
STATUS_STYLE = {"pass": "green", "fail": "bold red", "error": "bold red", "inconclusive": "yellow",
                "undefined": "yellow"}
STATUS_MARK = {"pass": "✓", "fail": "✗", "error": "✗", "inconclusive": "?", "undefined": "~"}
CHECK_MARK = {"pass": "✓", "fail": "✗", "skipped": "-"}
CHECK_STYLE = {"pass": "green", "fail": "bold red", "skipped": "dim"}


def render(results: list[CaseResult], settings: ReportSettings) -> str:
    settings = replace(settings, single=len(results) == 1)
    return "".join(render_case(r, settings) for r in results) + render_summary(results, settings)


def render_case(result: CaseResult, settings: ReportSettings) -> str:
    if settings.quiet:
        return ""
    console = make_console(settings)
    if result.status == "pass" and not settings.single and not settings.verbose \
            and result.explanation is None:
        console.print(Text.assemble((f"{STATUS_MARK['pass']} ", "green"), printable(result.name), _where(result),
                                    (f"  {len(result.gradients)} element(s), {_largest_error(result)}", "dim")))
    else:
        if settings.verbose and result.traceback:
            console.print(printable_lines(result.traceback), markup=False, highlight=False, end="")
        _print_case(console, result, settings.all_elements, settings.depth, settings.strict)
    return inert_lines(console.file.getvalue())


def render_summary(results: list[CaseResult], settings: ReportSettings) -> str:
    console = make_console(settings)
    console.print(summary_line(results, settings.strict, settings.strict_source),
                  style=_overall_style(results, settings.strict), markup=False)
    return inert_lines(console.file.getvalue())


def plain_case(result: CaseResult) -> str:
    """The case's full table without colour, for JUnit bodies and pytest failures."""
    console = make_console(ReportSettings(color="never"))
    _print_case(console, result)
    return inert_lines(console.file.getvalue())


def make_console(settings: ReportSettings) -> Console:
    """A console writing to a string, `settings.width` wide.  `--color auto` leaves the environment to rich:
    NO_COLOR set and not empty means no colour even on a terminal (no-color.org), FORCE_COLOR colour even in a
    pipe (force-color.org); `--color always` and `--color never` override both, as a flag should."""
    color = settings.color
    color_system = {"always": "standard", "never": None}.get(color, "auto")
    force_terminal = True if color == "always" or settings.tty else None  # None: rich reads FORCE_COLOR
    no_color = {"always": False, "never": True}.get(color)  # None: rich reads NO_COLOR
    # force_jupyter=False: in a Jupyter kernel rich would display each print itself instead of writing the text
    return Console(file=io.StringIO(), force_terminal=force_terminal, no_color=no_color, color_system=color_system,
                   force_jupyter=False,
                   width=settings.width, highlight=False, soft_wrap=False)


def _print_case(console: Console, result: CaseResult, everything: bool = False, depth: int | None = None,
                strict: bool = False) -> None:
    if result.point:
        console.print(Text.assemble((printable(result.name), "bold"), _where(result), "  at ",
                                    _point_text(result.point), _seed_text(result)))
    elif result.name != result.file:
        console.print(Text.assemble((printable(result.name), "bold"), _where(result)))
    if result.status == "error":
        console.print(printable_lines(result.rendered_error or result.error["message"]), style="red", markup=False)
        console.print()
        return
    _print_value_line(console, result)
    for rows, title in ((result.gradients, None), (result.hessian, "Hessian")):
        if rows:
            _print_entries(console, result, rows, title, everything)
            if len(rows) > MAX_ROWS and not everything:
                for line in _summaries(rows):
                    console.print(line, markup=False, highlight=False)
    _print_reference_legend(console, result.gradients + result.hessian)
    if result.value_digits_lost is not None and result.value_digits_lost >= 1:
        console.print(f"precision: the {result.dtype} value loses {result.value_digits_lost:g} of its "
                      f"{_digits_of(result.dtype)} significant digits here, against the high-precision value",
                      style="dim", markup=False)
    if result.factors:
        print_factors(console, result.factors, result.dtype)
    for name, formula in result.formulas.items():
        console.print(Text.assemble(f"d/d{printable(name)} = ", (printable(formula), "cyan")), overflow="fold")
    _print_function_checks(console, result)
    if result.explanation is not None:
        print_explanation(console, result.explanation, result.dtype, depth)
    if result.status != "pass":
        style = STATUS_STYLE["fail"] if fails_the_run(result.status, strict) else STATUS_STYLE[result.status]
        console.print(failure_sentence(result), style=style, markup=False)
        print_culprits(console, [c for c in result.culprits if printable(c.message) not in failure_sentence(result)
                                 and c.kind != "symbolic"])  # gradcheck's own referee: its note says it
    for note in result.notes:
        console.print(f"note: {printable(note)}", style="yellow", markup=False)
    console.print()


def _print_value_line(console: Console, result: CaseResult) -> None:
    """`value = …   (tolerance: rtol 1e-07, atol 1e-07)`; where that is wider than the console, the tolerance goes
    whole to a line of its own instead of being wrapped away from its numbers."""
    value = f"value = {_value_text(result.value, result.dtype)}"
    tolerance = (f"(tolerance: rtol {result.tolerance.rtol:g}, atol {result.tolerance.atol:g})"
                 if result.tolerance else "")
    if tolerance and cell_len(f"{value.splitlines()[-1]}   {tolerance}") <= console.width:  # a matrix: its last row
        console.print(f"{value}   {tolerance}")
        return
    console.print(value)
    if tolerance:
        console.print(tolerance)


def _seed_text(result: CaseResult) -> str:
    """The seed of the random inputs or the --fast projections: the seed that draws them again."""
    return "" if result.seed is None else f"  (seed {result.seed})"


def _digits_of(dtype: str) -> int:
    return 16 if dtype == "float64" else 7


def _print_reference_legend(console: Console, rows: list[GradientRow]) -> None:
    """Which entries' reference another referee than symbolic settled, and what gradcheck's own referees
    got wrong here."""
    settled_by = {source: [] for source in ("precise", "one_sided", "finite_difference")}
    for row in rows:  # one pass: 10^5 rows are common
        if row.reference is not None and row.reference_source in settled_by:
            settled_by[row.reference_source].append(derivative_label(row) if row.output_index or row.output
                                                    else element_label(row))
    for source, settled in settled_by.items():
        if settled:
            shown = ", ".join(settled[:MAX_LISTED]) + (f" and {len(settled) - MAX_LISTED} more"
                                                      if len(settled) > MAX_LISTED else "")
            console.print(f"reference of {shown}: {SOURCES[source]}", style="dim", markup=False)
    skipped = sum(1 for r in rows if (r.precise_reason or "").startswith("too large"))
    if skipped:
        console.print(f"the high-precision referee could not afford {skipped} of the entries sent to it (its work "
                      "budget); they keep the float referees' reference, or none", style="dim", markup=False)
    for reason in dict.fromkeys(r.reason for r in rows if r.reason and r.status in ("pass", "fail")):
        console.print(f"reference: {printable(reason)}", style="dim", markup=False)
    notes = list(dict.fromkeys(note for r in rows for note in r.referee_notes))
    for note in notes[:MAX_REFEREE_NOTES]:
        console.print(f"gradcheck's own referee: {printable(note)}", style="dim", markup=False, overflow="fold")
    if len(notes) > MAX_REFEREE_NOTES:
        console.print(f"… and {len(notes) - MAX_REFEREE_NOTES} more referee notes (--json has them all)", style="dim")


def _print_function_checks(console: Console, result: CaseResult) -> None:
    if result.function is None:
        return
    function = result.function
    console.print(printable(f"function {function['target']}({', '.join(function['inputs'])}) on "
                            f"{function['device']}:"), markup=False)
    for check in result.checks:
        mark = CHECK_MARK[check.status]
        console.print(Text.assemble((f"  {mark} {printable(check.name)}: ", CHECK_STYLE[check.status]),
                                    printable(check.message)))


def _where(result: CaseResult) -> str:
    if not result.file:
        return ""
    return f"  ({printable(result.file)}:{result.line})" if result.line else f"  ({printable(result.file)})"


@dataclass(frozen=True)
class Layout:
    """How a case's entries are laid out.  `chosen_digits`: each row's numbers get digits.row_digits, not the
    dtype's full digits; `stacked`: a ± error sits on the line under its value; `vertical`: a block of lines per
    entry instead of a table.  LAYOUTS are tried in order; the first that cuts no number is printed."""

    chosen_digits: bool = False
    stacked: bool = False
    vertical: bool = False


LAYOUTS = (Layout(), Layout(stacked=True), Layout(chosen_digits=True, stacked=True),
           Layout(chosen_digits=True, stacked=True, vertical=True))
TEXT_COLUMNS = ("output", "wrt", "verdict")  # they may wrap; every other column holds numbers, never cut


def _print_entries(console: Console, result: CaseResult, rows: list[GradientRow], title: str | None,
                   everything: bool) -> None:
    """The entries as the widest layout that fits the console shows them (today's table on a wide terminal)."""
    shown = _rows_to_show(rows, everything)
    caption = None if len(shown) == len(rows) else \
        f"the {MAX_ROWS} worst of {len(rows)} entries; --all-elements lists every one"
    columns = _columns(rows)
    for layout in LAYOUTS:
        if layout.vertical:
            console.print(_vertical(result, columns, shown, title, caption))
            return
        cells = [_cells(result, row, columns, layout) for row in shown]
        table = _table(columns, cells, title, caption, layout, console.width)
        if table is not None and (layout != LAYOUTS[0] or _cuts_nothing(console, table, columns, cells)):
            console.print(table)
            return


def _cuts_nothing(console: Console, table: Table, columns: list[str], cells: list[list]) -> bool:
    """Whether rich lays `table` out at the console's width without cutting a word short (its `…`)."""
    scratch = Console(file=io.StringIO(), width=console.width, color_system=None, highlight=False, soft_wrap=False,
                      force_jupyter=False)  # in a kernel rich would display the trial table itself
    scratch.print(table)
    texts = [str(cell) for row in cells for cell in row] + columns + [str(table.title or ""), str(table.caption or "")]
    return scratch.file.getvalue().count("…") <= sum(text.count("…") for text in texts)


def _columns(rows: list[GradientRow]) -> list[str]:
    """The table's columns: those every case has, and those some of its rows give a value for."""
    has_float64 = any(r.float64 is not None for r in rows)
    has_function = any(r.function is not None for r in rows)
    has_autograd = any(r.autograd is not None for r in rows) or not has_function  # code as the reference: none
    has_function_fd = any(r.function_fd is not None for r in rows)  # the function alone: it is the reference
    columns = ((["output"] if any(r.output_index or r.output for r in rows) else []) + ["wrt", "reference"]
               + (["symbolic"] if _symbolic_differs(rows) else [])
               + (["manual"] if any(r.manual is not None for r in rows) else [])
               + ["finite difference ± error"] + (["autograd"] if has_autograd else []))
    columns += (["function backward"] + (["function fd ± error"] if has_function_fd else [])) if has_function else []
    columns += (["expected"] if any(r.expected is not None for r in rows) else [])
    columns += (["float64", "precision loss"] if has_float64 else [])
    return columns + ["rel error", "verdict"]


def _cells(result: CaseResult, row: GradientRow, columns: list[str], layout: Layout) -> list:
    """The row's cell under each column, its numbers at the layout's digits."""
    has_function = "function backward" in columns
    if layout.chosen_digits:
        digits = fd_digits = exact_digits = row_digits(row, result.tolerance, result.dtype)
    else:  # today's wide table: a user's function adds two columns, so every answer gets fewer digits
        digits = FUNCTION_DIGITS if has_function else None
        fd_digits, exact_digits = digits or FD_DIGITS, None
    between = "\n" if layout.stacked else " "
    every = {
        "output": Text(output_label(row)),  # a namedtuple's field name is data, never markup
        "wrt": Text(element_label(row)),  # a name is data, never markup
        "reference": _reference_cell(row, digits, result.dtype),
        "symbolic": _number(row.symbolic, result.dtype, digits),
        "manual": _number(row.manual, result.dtype, digits),
        "finite difference ± error": _fd_cell(row, fd_digits, between),
        "autograd": _number(row.autograd, result.dtype, digits),
        "function backward": _number(row.function, "float64", digits),
        "function fd ± error": _with_error(row.function_fd, row.function_fd_error, fd_digits, between),
        "expected": _number(row.expected, "float64", exact_digits),
        "float64": _number(row.float64, "float64", exact_digits),
        "precision loss": _error(row.precision_loss),
        "rel error": _error(row.rel_error),
        "verdict": _verdict(row),
    }
    return [every[column] for column in columns]


def _table(columns: list[str], cells: list[list], title: str | None, caption: str | None, layout: Layout,
           room: int) -> Table | None:
    """The entries as a table `room` columns wide at most, or None where the layout cannot fit: a column needs
    its longest word (a number is one), and past the first layout every column has a width set, numbers as wide
    as their widest and the text columns' wrapping given what is left."""
    widths = _column_widths(columns, cells, room, numbers_wrap=layout == LAYOUTS[0])
    if widths is None:
        return None
    table = Table(show_edge=True, header_style="bold", title=title, caption=caption)
    for column, width in zip(columns, widths):
        justify = "left" if column in TEXT_COLUMNS else "right"
        if layout == LAYOUTS[0]:  # rich's own layout, today's table
            table.add_column(column, justify=justify)
        elif column in TEXT_COLUMNS:
            table.add_column(column, justify=justify, width=width)
        else:
            table.add_column("\n".join(textwrap.wrap(column, width)), justify=justify, width=width, no_wrap=True)
    for row_cells in cells:
        table.add_row(*row_cells)
    return table


def _column_widths(columns: list[str], cells: list[list], room: int, numbers_wrap: bool) -> list[int] | None:
    """Each column's width: at least its longest word (a column of numbers that may not wrap: its widest line),
    the rest of the room given to the text columns, left to right, up to their natural width; None where the
    least is too wide."""
    texts = [[str(row[position]) for row in cells] for position in range(len(columns))]
    least = [max([_longest_word(column)] + [_longest_word(text) if numbers_wrap or column in TEXT_COLUMNS
                                             else _widest_line(text) for text in column_texts])
             for column, column_texts in zip(columns, texts)]
    natural = [max(_widest_line(text) for text in [column, *column_texts])
               for column, column_texts in zip(columns, texts)]
    spare = room - sum(least) - 3 * len(columns) - 1  # a border and two spaces of padding per column, one more
    if spare < 0:
        return None
    widths = list(least)
    for position, column in enumerate(columns):
        if column in TEXT_COLUMNS:
            extra = min(spare, natural[position] - least[position])
            widths[position] += extra
            spare -= extra
    return widths


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _widest_line(text: str) -> int:
    return max(cell_len(line) for line in text.split("\n"))


def _vertical(result: CaseResult, columns: list[str], shown: list[GradientRow], title: str | None,
              caption: str | None) -> Group:
    """One block per entry, for a console too narrow for the table: `d/dx  ✓ pass  rel error 0.0e+00`, then
    each answer on a line of its own under the derivative's name."""
    layout = LAYOUTS[-1]
    blocks: list = [Text(title, style="bold")] if title else []
    for row in shown:
        cells = dict(zip(columns, _cells(result, row, columns, layout)))
        blocks.append(Text.assemble(derivative_label(row), "  ", cells["verdict"], f"  rel error {cells['rel error']}"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column()
        grid.add_column(justify="right", no_wrap=True, overflow="fold")
        for column in columns:
            if column not in TEXT_COLUMNS + ("rel error",):
                grid.add_row(column.removesuffix(" ± error"), cells[column])
        blocks.append(Padding(grid, (0, 0, 0, 2), expand=False))
    if caption:
        blocks.append(Text(caption, style="dim"))
    return Group(*blocks)


def _symbolic_differs(rows: list[GradientRow]) -> bool:
    """The symbolic column is shown only where it says something the reference column does not: an entry
    with no reference, or one where the symbolic engine lost to another referee."""
    return any(r.reference is None or (r.referee_notes and any(n.startswith("symbolic") for n in r.referee_notes))
               for r in rows)


def _reference_cell(row: GradientRow, digits: int | None = None, dtype: str = "float64") -> str:
    """The established derivative; `undefined` or `?` where there is none.  The symbolic engine's value is
    computed in the case's dtype, and printed at its digits (float32: 8); the other referees' in float64 or
    better."""
    if row.reference is None:
        return "undefined" if row.status == "undefined" else "?"
    return _number(row.reference, dtype if row.reference_source == "symbolic" else "float64", digits)


def _fd_cell(row: GradientRow, digits: int, between: str = " ") -> str:
    """The finite difference and its error bar, `between` them a space or a new line; the one-sided
    derivatives where the point sits on a kink."""
    if row.left is not None and row.right is not None and row.finite_difference is None:
        return f"left {row.left:.6g}{' |' if between == ' ' else ''}{between}right {row.right:.6g}"
    return _with_error(row.finite_difference, row.fd_error, digits, between)


def _with_error(value: float | None, error: float | None, digits: int, between: str = " ") -> str:
    if value is None:
        return "—"
    return f"{_number(value, 'float64', digits)}{between}± {_error(error)}"


def _rows_to_show(rows: list[GradientRow], everything: bool) -> list[GradientRow]:
    """All rows when few (or asked); else the worst: failing first, then by relative error."""
    if everything or len(rows) <= MAX_ROWS:
        return rows

    return heapq.nlargest(MAX_ROWS, rows, key=badness)  # sorted(rows, key=badness, reverse=True)[:MAX_ROWS]


def badness(row: GradientRow) -> tuple:
    """Failing entries first, then by relative error (an entry whose gradient is 0 counts as 0)."""
    relative = row.rel_error if row.rel_error is not None and math.isfinite(row.rel_error) else 0.0
    return (row.status != "pass", relative)


def _summaries(rows: list[GradientRow]) -> list[str]:
    """One line per variable: elements, failing count, the worst element and its errors."""
    lines = []
    by_block: dict[str, list[GradientRow]] = {}
    for row in rows:
        by_block.setdefault(_block(row), []).append(row)
    for name, mine in by_block.items():
        failing = sum(r.status != "pass" for r in mine)
        worst = max(mine, key=badness)
        lines.append(f"{printable(name)}: {len(mine)} entries, {failing} failing; worst {derivative_label(worst)}: "
                     f"abs error {_error(worst.abs_error)}, rel error {_error(worst.rel_error)}")
    return lines


def _block(row: GradientRow) -> str:
    """The variable of a gradient row, `x`, or the block of a Hessian row, `d²/dx dy` (never a Python list)."""
    return "d²/" + " ".join(f"d{name}" for name in row.wrt) if isinstance(row.wrt, list) else row.wrt


def _verdict(row: GradientRow) -> Text:
    text = f"{STATUS_MARK[row.status]} {row.status}"
    if row.disagrees:
        text += ": " + ", ".join(engine_name(n) for n in row.disagrees)
    if row.culprit is not None and row.culprit.label:
        text += f" ({printable(row.culprit.label)})"
    return Text(text, style=STATUS_STYLE[row.status])


def _number(value, dtype: str, digits: int | None = None) -> str:
    if value is None:
        return "—"
    digits = digits or (8 if dtype == "float32" else 16)
    return f"{value:.{digits}g}"


def _value_text(value, dtype: str) -> str:
    if isinstance(value, list):
        return np.array2string(np.asarray(value, dtype=np.float64), threshold=8, edgeitems=2,
                               precision=8 if dtype == "float32" else 16, separator=", ")
    return _number(value, dtype)


def _error(value) -> str:
    return "—" if value is None else f"{value:.1e}"


def _largest_error(result: CaseResult) -> str:
    """The largest relative error, over elements whose gradient is not zero (else the absolute one)."""
    relative = [r.rel_error for r in result.gradients if r.reference and r.rel_error is not None]
    if relative:
        return f"max rel error {_error(max(relative))}"
    absolute = [r.abs_error for r in result.gradients if r.abs_error is not None]
    return f"max abs error {_error(max(absolute, default=None))}"


def _point_text(point: dict) -> str:
    parts = []
    for name, value in point.items():
        array = np.asarray(value, dtype=np.float64)
        shown = format_number(float(array)) if array.ndim == 0 else np.array2string(
            array, threshold=8, edgeitems=2, precision=6, separator=", ")
        parts.append(f"{printable(name)} = {shown}")
    return ", ".join(parts)


SUMMARY_FAILURES = 20  # failing cases the summary lists by name


def summary_line(results: list[CaseResult], strict: bool = False, strict_source: str = "--strict") -> str:
    """`✓ 3 passed, 1 undefined`, or `✗ …` and the failing cases, each with its sentence: a case fails the run as
    report.fails_the_run says (under strict, inconclusive and undefined cases too), or is an error."""
    counts = {s: sum(1 for r in results if r.status == s)
              for s in ("pass", "fail", "inconclusive", "undefined", "error")}
    failing = [r for r in results if _fails(r, strict)]
    mark = STATUS_MARK["fail"] if failing else STATUS_MARK["pass"]
    parts = [f"{counts['pass']} passed"]
    parts += [f"{n} {label}" for label, n in (("failed", counts["fail"]), ("inconclusive", counts["inconclusive"]),
                                               ("undefined", counts["undefined"]),
                                               ("error" if counts["error"] == 1 else "errors", counts["error"])) if n]
    line = f"{mark} {', '.join(parts)}"
    if strict and any(r.status in UNSETTLED for r in results):
        line += f" (failing under {strict_source})"
    if len(failing) == 1 and len(results) == 1:
        return line + " — " + _short_failure(failing[0])
    return line + "".join(f"\n  {printable(r.name)}{_where(r)}: {_short_failure(r)}"
                          for r in failing[:SUMMARY_FAILURES])


def _short_failure(result: CaseResult) -> str:
    if result.status == "error":  # its kind, and the first line of its message: -q prints nothing else of it
        error = result.error or {}
        first = (error.get("message") or "").strip().splitlines()
        return f"{error.get('kind', '')} error" + (f": {printable(first[0])}" if first else "")
    return failure_sentence(result)


def _fails(result: CaseResult, strict: bool) -> bool:
    return result.status == "error" or fails_the_run(result.status, strict)


def _overall_style(results: list[CaseResult], strict: bool = False) -> str:
    return "bold red" if any(_fails(r, strict) for r in results) else "bold green"
