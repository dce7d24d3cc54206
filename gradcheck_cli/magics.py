"""`%gradcheck` and `%%gradcheck`: the command in Jupyter and IPython, after `%load_ext gradcheck_cli`.

The line magic takes the command's own arguments, and the command reads them (`cli.main`, asked for its plan
rather than a run: `cli.PLAN_ONLY_KEY`), so every option, check and error message is the command's.  The cell
magic reads its cell as a spec file (`spec_file.load_text`: the same schema; an error names the cell's line,
counted from the `%%gradcheck` line, as the notebook numbers them).

Both return what they checked (results.CheckResult for an expression, results.CheckResults for spec files or a
cell), which Jupyter shows as the command's table, so `r = %gradcheck ...` keeps it.  A bad argument or spec
prints the command's error (on stderr, no traceback) and returns None.  `--format`/`--json` print that report
instead of the table, `-o` writes it to a file, as the command does; `--plot` writes its picture
and shows it in the notebook too.  IPython is imported here only: the
package's own import stays free of it (`gradcheck-cli[notebook]` installs it).
"""

from __future__ import annotations

import shlex
from dataclasses import replace

import click
from IPython.core.magic import Magics, line_cell_magic, magics_class

from .core.errors import GradcheckError
from .report import reporter
from .report.output import tell
from .results import CheckResult, CheckResults, notebook_settings

CELL_FILE = "cell"  # how errors and the table name a %%gradcheck cell: cell:3:5


@magics_class
class GradcheckMagics(Magics):
    """The `gradcheck` line and cell magics."""

    @line_cell_magic
    def gradcheck(self, line: str, cell: str | None = None):
        """%gradcheck EXPRESSION --x 4 [OPTIONS] | %gradcheck PATH... : the command's arguments (see
        `%gradcheck --help`).  %%gradcheck: the cell is a spec (YAML, as in a spec file)."""
        return check_line(line, self.shell.user_ns) if cell is None else check_cell(line, cell)


def check_line(line: str, user_ns: dict | None = None) -> CheckResult | CheckResults | None:
    """`%gradcheck LINE`: the command's arguments in one line, split as a shell splits them.  `--function NAME`
    (or `--reference NAME`) with NAME a function of the notebook (`user_ns`) is `__main__:NAME`."""
    try:
        args = shlex.split(line)
    except ValueError as error:  # an unclosed quote
        tell(f"error: {error} in the arguments of %gradcheck")
        return None
    planned = _planned(_notebook_functions(args, user_ns or {}))
    if planned is None:
        return None
    from .run.runner import run_jobs

    results = CheckResults(run_jobs(planned.jobs, planned.options.processes), shown_with=planned.settings)
    if not _reported(results, planned):
        return None
    expression = len(planned.jobs) == 1 and planned.jobs[0].spec is not None and planned.jobs[0].spec.file is None
    return _returned(results, expression)


def check_cell(line: str, cell: str) -> CheckResults | None:
    """`%%gradcheck` and a cell holding a spec: its cases, checked."""
    from .run.runner import Job, run_jobs
    from .spec.spec_file import load_text

    if line.strip():
        tell("error: %%gradcheck takes no arguments: the cell is the spec, and its settings are keys in it "
             "(dtype:, order:, tolerance:, ...)")
        return None
    if not cell.strip():
        tell("error: the %%gradcheck cell is empty: write a spec in it (expr:, at:, ...), as in a spec file")
        return None
    try:  # a blank first line stands for the %%gradcheck line, so the cell's lines keep their numbers
        specs = load_text("\n" + cell, CELL_FILE, CELL_FILE)
    except GradcheckError as error:
        error.front = "spec"
        tell(error.render())
        return None
    return _returned(CheckResults(run_jobs([Job(spec=spec) for spec in specs]), shown_with=notebook_settings()))


def _notebook_functions(args: list[str], user_ns: dict) -> list[str]:
    """`--function swish` as `--function __main__:swish` where swish is the notebook's own (the kernel runs cells
    in __main__), so code written in a cell is named as it was defined."""
    import sys

    main = sys.modules.get("__main__")
    named = list(args)
    for i, arg in enumerate(named[:-1]):
        name = named[i + 1]
        if arg in ("--function", "--reference") and name.isidentifier() and name in user_ns \
                and getattr(main, name, None) is user_ns[name]:
            named[i + 1] = f"__main__:{name}"
    return named


def _returned(results: CheckResults, expression: bool = False) -> CheckResult | CheckResults | None:
    """What a magic returns: the result of an expression, the list of a spec's cases.  As the command does, a run
    of one case that is an error prints that error (with its excerpt) instead of a table, and returns None."""
    if len(results) == 1 and results[0].status == "error":
        tell(results[0].rendered_error)
        return None
    return results[0] if expression else results


def _planned(args: list[str]):
    """The command's plan for `args` (cli.Planned), or None when the command ended there: an error it printed,
    or --help, --version, --list-ops."""
    from .cli import PLAN_ONLY_KEY, main

    try:
        with main.make_context("%gradcheck", args) as context:
            context.meta[PLAN_ONLY_KEY] = True
            return main.invoke(context)
    except click.ClickException as error:
        error.show()
    except click.exceptions.Exit:
        pass
    return None


def _reported(results: CheckResults, planned) -> bool:
    """What the command writes besides its table: the picture of --plot, the report file of -o, and another format
    than the table printed instead of it.  False when a file could not be written (the command's error is
    printed)."""
    from .cli import _plot, _rendered, _write
    from .core.limits import Limits

    if planned.options.plot:
        try:
            _plot(planned.options.plot, results[0], planned.options.plot_step, Limits(**planned.settings.limits))
        except click.exceptions.Exit:
            return False
        _show_picture(planned.options.plot)
    if planned.options.output:
        try:
            _write(planned.options.output, _rendered(reporter(planned.output_format), list(results),
                                                     replace(planned.settings, color="never", tty=False)))
        except click.exceptions.Exit:
            return False
    elif planned.output_format not in ("table", "github"):  # annotations are for CI logs; here the table shows
        click.echo(_rendered(reporter(planned.output_format), list(results), planned.settings), nl=False)
    return True


def _show_picture(path: str) -> None:
    """The picture --plot wrote, shown in the notebook too (a PNG or an SVG; a PDF has no inline form)."""
    from pathlib import Path

    import IPython.display

    shown = {".png": IPython.display.Image, ".svg": IPython.display.SVG}.get(Path(path).suffix.lower())
    if shown is not None and Path(path).is_file():
        IPython.display.display(shown(filename=path))
