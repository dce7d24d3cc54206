"""Results as the Python API and the notebook magics hand them out: shown as the command's table.

`verdict.compare.CaseResult` is plain data that every reporter reads, and the verdict stage may not import
the reports.  So the front ends that hand a result to a person in Python (`check()`, `%gradcheck`) hand out a
`CheckResult`: the same record (a subclass with no fields of its own, so `result.status`, `result.gradients`
and every reporter work unchanged) that also knows how to show itself, through report/:

- `_repr_html_`: Jupyter shows the table as HTML (report/html.py, rich's export of the table's text);
- `_repr_pretty_`: the IPython terminal shows the table as text (in colour on a terminal);
- `__repr__`: one short line, `<CheckResult sin(x**2) at x=4: pass>`, not a wall of dataclass fields.

`CheckResults` is a list of them (a spec file's or a cell's cases), shown as the command shows a run: each
case (a passing one as a single line), then the summary line.  Nothing here imports IPython.
"""

from __future__ import annotations

from dataclasses import fields

from .core.text import shortened
from .report import ReportSettings
from .report.output import columns, is_tty
from .verdict.compare import CaseResult

REPR_WIDTH = 60  # characters of the expression, the point or the error in the one-line repr


def notebook_settings(**shown) -> ReportSettings:
    """How a result shows itself when nothing else was asked: colour where the output is a terminal (the IPython
    shell) and always in HTML; as wide as the command's table (report.output.columns: COLUMNS, else the
    terminal's width, else 140 columns), so check() and %gradcheck lay out one session's tables alike."""
    tty = is_tty()
    return ReportSettings(tty=tty, width=columns(tty), **shown)


class CheckResult(CaseResult):
    """A CaseResult that shows itself as its table.  `shown_with` (ReportSettings) is how: the magics' display
    options (-v, --strict, --all-elements, --depth, --color); None takes notebook_settings()."""

    shown_with: ReportSettings | None = None  # a plain attribute, not a field: reporters and JSON never see it

    @classmethod
    def of(cls, result: CaseResult, shown_with: ReportSettings | None = None) -> CheckResult:
        """The same record (its fields shared, not copied) as a CheckResult."""
        checked = cls(**{f.name: getattr(result, f.name) for f in fields(result)})
        checked.shown_with = shown_with
        return checked

    def __repr__(self) -> str:
        return f"<CheckResult {_one_line(self)}>"

    def _repr_html_(self) -> str:
        from .report.html import render_html

        return render_html([self], _settings(self.shown_with))

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(repr(self) if cycle else _table_text([self], self.shown_with))


class CheckResults(list):
    """The results of one run of several cases, in order, shown as the command shows the run."""

    def __init__(self, results=(), shown_with: ReportSettings | None = None):
        super().__init__(CheckResult.of(r, shown_with) if not isinstance(r, CheckResult) else r for r in results)
        self.shown_with = shown_with

    @property
    def status(self) -> str:
        """The worst status of the cases (pass, undefined, inconclusive, fail, error: Status's order); "pass" for
        none."""
        from .verdict.compare import STATUS_ORDER, Status

        return str(max((Status(r.status) for r in self), key=STATUS_ORDER.index, default=Status.PASS))

    def __repr__(self) -> str:
        from .report.table import summary_line

        return f"<CheckResults {summary_line(self).splitlines()[0][2:]}>"

    def _repr_html_(self) -> str:
        from .report.html import render_html

        return render_html(list(self), _settings(self.shown_with))

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(repr(self) if cycle else _table_text(list(self), self.shown_with))


def _settings(shown_with: ReportSettings | None) -> ReportSettings:
    return shown_with if shown_with is not None else notebook_settings()


def _table_text(results: list[CaseResult], shown_with: ReportSettings | None) -> str:
    from .report.table import render

    return render(results, _settings(shown_with)).rstrip("\n")


def _one_line(result: CaseResult) -> str:
    """`sin(x**2) at x=4: pass`; an error gives the first line of its message."""
    text = shortened(" ".join(result.name.split()), REPR_WIDTH)
    if result.point:
        text += " at " + shortened(", ".join(f"{name}={_value(value)}" for name, value in result.point.items()),
                                   REPR_WIDTH)
    if result.status == "error" and result.error:
        first = (result.error.get("message") or "").strip().splitlines() or [""]
        return f"{text}: error: {shortened(first[0], REPR_WIDTH)}"
    return f"{text}: {result.status}"


def _value(value) -> str:
    import numpy as np

    from .lang.graph import format_number

    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return format_number(float(array))
    return np.array2string(array, threshold=6, edgeitems=2, precision=6, separator=", ").replace("\n", "")

