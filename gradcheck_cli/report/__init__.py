"""Reporters, and how a report is to be shown.

A reporter has a name and `render(results, settings) -> str`; one that can write a case as soon as it finishes
(it streams) also has `render_case(result, settings) -> str`, and the table a summary line of its own.  Each
lives in a module of its own, imported when first asked for: a run needs one or two of them, and start-up counts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

MODULES = {"table": "table", "json": "json_", "jsonl": "jsonl", "github": "github", "junit": "junit"}
FORMATS = tuple(MODULES)
UNSETTLED = ("inconclusive", "undefined")  # verdicts that settle nothing wrong, and nothing right either


def fails_the_run(status: str, strict: bool = False) -> bool:
    """The one rule of what fails a run (exit 1), which the exit code and every reporter read: a discrepancy
    (`fail`) always; an `inconclusive` or `undefined` verdict under strict.  An `error` is not a failure but an
    error (exit 2, which wins), shown as such everywhere; `pass` never fails."""
    return status == "fail" or (strict and status in UNSETTLED)


@dataclass(frozen=True)
class ReportSettings:
    """How a report is shown, and what the run checked with (the JSON report records `checked_with`).

    `single`: the run has one case (the table shows it whole); `tty`: the output is a terminal; `width`: its
    columns; `depth`: levels of the --explain tree (None: the default); `strict`: inconclusive and undefined
    verdicts fail the run (`fails`), in the exit code and in every report; `strict_source` says what asked for it
    (`--strict`, or the project's pyproject.toml)."""

    dtype: str = "float64"
    rtol: float | None = None
    atol: float | None = None
    limits: dict = field(default_factory=dict)
    single: bool = False
    color: str = "auto"  # auto, always or never
    quiet: bool = False
    verbose: bool = False
    all_elements: bool = False
    depth: int | None = None
    tty: bool = False
    width: int = 140
    strict: bool = False
    strict_source: str = "--strict"  # what made the run strict, as the summary names it

    def checked_with(self) -> dict:
        return {"dtype": self.dtype, "rtol": self.rtol, "atol": self.atol, "limits": self.limits,
                "strict": self.strict}

    def fails(self, status: str) -> bool:
        """Whether a case of this status fails the run under these settings (fails_the_run)."""
        return fails_the_run(status, self.strict)


@dataclass(frozen=True)
class Reporter:
    """One output format.  `streams`: it writes each case as it finishes (render_case), not only a whole list."""

    name: str
    render: Callable[[list, ReportSettings], str]
    render_case: Callable[[object, ReportSettings], str] | None = None
    render_summary: Callable[[list, ReportSettings], str] | None = None  # the table's closing line

    @property
    def streams(self) -> bool:
        return self.render_case is not None


def reporter(name: str) -> Reporter:
    """The reporter of a format in FORMATS; KeyError for another name."""
    module = importlib.import_module(f"{__name__}.{MODULES[name]}")
    return Reporter(name, module.render, getattr(module, "render_case", None), getattr(module, "render_summary", None))
