"""Progress of a long run on a terminal: a rich bar on stderr, gone when the run ends.

Shown only where a person watches: at least MIN_CASES cases, standard output and standard error
both a terminal (a pipe, a file or `| less` gets none), and not under `-q`.  While it is shown,
rich prints what the run writes to stdout and stderr above the bar (its redirection), so the
streamed table and the bar never overwrite each other.  It starts once the first result is in,
after the worker processes have been started, so no worker inherits the redirection; and it
refreshes on each result rather than from a thread of its own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator

from ..core.safe_text import printable
from ..core.text import shortened
from .output import is_tty

MIN_CASES = 20
NAME_WIDTH = 50


def shown_for(total: int, quiet: bool) -> bool:
    """Whether a run of `total` cases shows the bar."""
    return total >= MIN_CASES and not quiet and is_tty(sys.stdout) and is_tty(sys.stderr)


def with_progress(results: Iterable, total: int, quiet: bool, name: Callable = lambda r: r.name) -> Iterator:
    """The results, one by one, advancing the bar after each (when it is shown)."""
    if not shown_for(total, quiet):
        yield from results
        return
    from rich.console import Console

    bar = progress_bar(Console(file=sys.stderr), total)
    task = bar.task_ids[0]
    try:
        for result in results:
            if not bar.live.is_started:
                bar.start()
            yield result
            bar.update(task, advance=1, description=fitted_name(bar, printable(name(result))), refresh=True)
    finally:
        bar.stop()


CLOCK_WIDTH = 8  # the elapsed time, 0:00:18, up to 10:00:00
LEAST_BAR, MOST_BAR, NAME_ROOM = 10, 40, 20


def progress_bar(console, total: int):
    """`checking ━━━╸ 12/465 0:00:03 name`, on `console`, with one task of `total` steps.  The bar gives up
    width to the case's name on a narrow terminal, and the name, not the count or the clock, is what is cut
    (rich would cut `464/465` to `464/4…`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Column

    fixed = len("checking") + len(f"{total}/{total}") + CLOCK_WIDTH + 4  # a space between each two columns
    bar_width = max(LEAST_BAR, min(MOST_BAR, console.width - fixed - NAME_ROOM - 1))
    whole = Column(no_wrap=True)
    bar = Progress(TextColumn("checking", table_column=whole), BarColumn(bar_width=bar_width),
                   MofNCompleteColumn(table_column=whole), TimeElapsedColumn(table_column=whole),
                   TextColumn("{task.description}"), console=console, transient=True, auto_refresh=False)
    bar.add_task("", total=total)
    bar.name_room = max(0, min(NAME_WIDTH, console.width - fixed - bar_width - 1))
    return bar


def fitted_name(bar, name: str) -> str:
    """The case's name, shortened to the room `progress_bar` left it."""
    return shortened(name, bar.name_room) if bar.name_room > 1 else ""
