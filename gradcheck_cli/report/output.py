"""Where reports go: the terminal stream, and `-o` files that are never half-written or written over a spec.

A report file is checked before the run (its folder exists and is writable, it is not a folder, not one of the
run's own spec files), then written to a temporary file beside it and renamed into place: a run that is
interrupted or crashes leaves the previous report as it was.  Standard output may be closed (`>&-`) or its
reader may leave (`| head`): the run still finishes, the `-o` file is still written, and the exit code says
what happened rather than a traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
import tempfile
from pathlib import Path

import click


class Terminal:
    """Standard output that tolerates being closed or a reader that left."""

    def __init__(self):
        self.lost: str | None = None  # "closed" or "reader left", once writing failed

    def echo(self, text: str) -> None:
        if not text or self.lost:
            return
        if sys.stdout is None:
            self.lost = "closed"
            return
        try:
            # the reporter already chose colour or none; sys.stdout by name, so a progress bar's redirection sees it
            click.echo(text, file=sys.stdout, nl=False, color=True)
            sys.stdout.flush()
        except BrokenPipeError:
            self._leave("reader left")
        except OSError as error:
            if error.errno not in (errno.EBADF, errno.EPIPE, errno.EINVAL):
                raise
            self._leave("closed" if error.errno == errno.EBADF else "reader left")

    def _leave(self, why: str) -> None:
        """Stop writing; stdout now points at /dev/null, so the interpreter's last flush cannot fail either."""
        self.lost = why
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass


def tell(text: str, nl: bool = True) -> None:
    """A message on stderr; when stderr is closed it is lost, but the exit code still tells."""
    try:
        click.echo(text, file=sys.stderr, nl=nl)  # by name, as Terminal.echo
    except (OSError, ValueError, AttributeError):
        pass


def is_tty(stream=None) -> bool:
    """Whether `stream` (default: standard output) is a terminal."""
    stream = sys.stdout if stream is None else stream
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


DEFAULT_COLUMNS = 140  # the table's width in a file or a pipe that COLUMNS does not size
MIN_WIDTH = 20  # fewer columns cannot hold a number and its name: --width refuses them, COLUMNS is raised to it


def columns(tty: bool) -> int:
    """The width the table is laid out for: COLUMNS when it holds a positive number (a terminal's or a pipe's),
    else the terminal's own, else DEFAULT_COLUMNS; never under MIN_WIDTH (a narrower table would cut numbers)."""
    given = os.environ.get("COLUMNS", "").strip()
    if given.isdigit() and int(given) > 0:
        return max(MIN_WIDTH, int(given))
    return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_COLUMNS, 24)).columns) if tty else DEFAULT_COLUMNS


def report_path_problem(path: str, spec_files: list[Path]) -> str | None:
    """Why `-o PATH` cannot take the report, checked before any case runs; None when it can."""
    if not path.strip():
        return "the path is empty"
    if os.path.isdir(path):
        return f"{path!r} is a folder"
    if _written_in_place(path):
        return None if os.access(path, os.W_OK) else f"{path!r} is not writable"
    target = Path(os.path.realpath(path))  # a symbolic link: the file it points to takes the report
    if not target.parent.is_dir():
        return f"the folder of {path!r} does not exist"
    if target.exists() and any(_same_file(target, spec) for spec in spec_files):
        return f"{path!r} is one of the spec files of this run; the report would replace it"
    if not os.access(target.parent, os.W_OK | os.X_OK):
        return f"the folder of {path!r} is not writable"
    if target.exists() and not os.access(target, os.W_OK):
        return f"{path!r} is not writable"
    return None


def _written_in_place(path: str) -> bool:
    """A device or FIFO (`-o /dev/stdout`, `-o /dev/null`): written to, never replaced by a file."""
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def write_atomically(path: str, text: str) -> None:
    """Write `text` to a temporary file in the same folder and rename it onto `path` (atomic on POSIX).

    The new file keeps the old one's permissions, or gets the usual ones for a new file (0666 less the umask);
    a symbolic link keeps pointing where it did, and a device or FIFO is written to in place.
    Raises OSError when it cannot; the previous file is then untouched."""
    if _written_in_place(path):
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
        return
    target = Path(os.path.realpath(path))
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, mode)
        os.replace(handle.name, target)
    except BaseException:
        try:
            os.unlink(handle.name)
        except OSError:
            pass
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
