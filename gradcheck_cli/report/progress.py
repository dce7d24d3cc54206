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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.description}"), console=Console(file=sys.stderr), transient=True,
                   auto_refresh=False)
    task = bar.add_task("", total=total)
    try:
        for result in results:
            if not bar.live.is_started:
                bar.start()
            yield result
            bar.update(task, advance=1, description=shortened(printable(name(result)), NAME_WIDTH), refresh=True)
    finally:
        bar.stop()
