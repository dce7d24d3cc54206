"""Signals that end a run (Ctrl-C, SIGTERM), told apart from a user's function raising KeyboardInterrupt.

A real signal raises `Interrupted`, a KeyboardInterrupt that knows its signal: the command exits 128 + the
signal's number (130, 143) with one line, and a notebook still sees a KeyboardInterrupt.  A KeyboardInterrupt
that a user's function raises itself is only that function's error (user_code.guarded), never the end of a run.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run was ended by a signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def sentence(self) -> str:
        what = "Ctrl-C" if self.signum == signal.SIGINT else signal.Signals(self.signum).name
        return f"gradcheck: interrupted by {what}; no report was written"


_received: list[int] = []  # signals raised as Interrupted and not yet acted on


def _raise_interrupted(signum, frame):
    _received.append(signum)
    raise Interrupted(signum)


def raise_if_interrupted() -> None:
    """Raise the Interrupted of a signal that arrived, in case something (a user's bare `except:`) swallowed it."""
    if _received:
        raise Interrupted(_received[-1])


def ignored_from_now() -> None:
    """The run is over but for its last writes: a late Ctrl-C or SIGTERM must not leave them half done."""
    if threading.current_thread() is threading.main_thread():
        for signum in ENDING_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def acknowledge() -> None:
    """The Interrupted was acted on (the run ends): forget it."""
    _received.clear()


@contextmanager
def signals_raise_interrupted(signals=ENDING_SIGNALS):
    """While the block runs, the given signals raise Interrupted (in the main thread; elsewhere nothing changes).

    Python's own SIGINT handler raises a bare KeyboardInterrupt; this one says which signal it was, so user
    code's own KeyboardInterrupt can be told from it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in signals:
        handler = signal.getsignal(signum)
        if handler in (signal.default_int_handler, signal.SIG_DFL) or handler is _raise_interrupted:
            previous[signum] = handler
            signal.signal(signum, _raise_interrupted)
    if not any(handler is _raise_interrupted for handler in previous.values()):
        acknowledge()  # the outermost block: an old signal (a notebook's last Ctrl-C) is not this run's
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
