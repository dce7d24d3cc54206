"""Shared pieces of the atheris harnesses: the slow-input rule and the error-rendering check.

Not a fuzz target itself.  Imports nothing from gradcheck_cli, so the targets can
import it before `atheris.instrument_imports()`.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time
import traceback

# A call slower than this (wall seconds, instrumented) is a finding.  Instrumentation makes the
# code slower, so a slow call is timed once more (under cProfile, whose hot spots go into the
# message) before it is reported: noise from other processes on a busy machine is not a finding.
# Re-measure without atheris before filing.
SLOW_SECONDS = float(os.environ.get("FUZZ_SLOW_SECONDS", "1.0"))


# Findings already filed, skipped so a long run can go past them (libFuzzer stops at the first crash,
# and its -fork mode does not work with atheris).  Comma-separated patterns:
#   Type             any exception of that class name
#   Type@function    ... raised with `function` (a gradcheck_cli function) on the traceback
#   Type:text        ... whose message contains `text`
# e.g. FUZZ_IGNORE="ShapeMismatch@_constant_expression,SlowInput:sample_specs"
# (a SlowInput's message lists its hot gradcheck_cli functions, so `SlowInput:function` works too)
IGNORE = [p.strip() for p in os.environ.get("FUZZ_IGNORE", "").split(",") if p.strip()]
ignored_count: dict[str, int] = {}


def is_known(error: BaseException) -> bool:
    """Whether `error` matches a FUZZ_IGNORE pattern (and count it)."""
    name = type(error).__name__
    functions = {frame.name for frame in traceback.extract_tb(error.__traceback__)
                 if "gradcheck_cli" in frame.filename}
    for pattern in IGNORE:
        if "@" in pattern:
            kind, _, function = pattern.partition("@")
            match = kind == name and function in functions
        else:
            kind, _, text = pattern.partition(":")
            match = kind == name and text in str(error)
        if match:
            ignored_count[pattern] = ignored_count.get(pattern, 0) + 1
            return True
    return False


def guarded(function, *args, **kwargs):
    """Call `function`; a known (FUZZ_IGNORE) finding returns None, anything else propagates."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001
        if IGNORE and is_known(error):
            return None
        raise


class SlowInput(Exception):
    """Raised for an input that takes longer than SLOW_SECONDS: atheris reports it as a crash."""


def timed(what: str, function, *args, limit: float | None = None, **kwargs):
    """Call `function`; raise SlowInput if it took longer than `limit` (default SLOW_SECONDS) twice.

    Exceptions from `function` pass through untouched (the caller decides which are allowed).
    """
    limit = SLOW_SECONDS if limit is None else limit
    start = time.perf_counter()
    try:
        return function(*args, **kwargs)
    finally:
        elapsed = time.perf_counter() - start
        if limit > 0 and elapsed > limit:
            _confirm_slow(what, elapsed, limit, function, args, kwargs)


def _confirm_slow(what, elapsed, limit, function, args, kwargs):
    """Time the call once more under cProfile: report it (with its hot spots) only if slow again."""
    profile = cProfile.Profile()
    start = time.perf_counter()
    try:
        profile.runcall(function, *args, **kwargs)
    except Exception:  # noqa: BLE001 - only the time matters here; the first call already judged it
        pass
    again = time.perf_counter() - start
    if again <= limit:
        return
    raise SlowInput(f"{what} took {min(elapsed, again):.2f} s (limit {limit} s, instrumented); "
                    f"hot: {_hot_spots(profile)}")


def _hot_spots(profile: cProfile.Profile, count: int = 4) -> str:
    """The gradcheck_cli functions with the most cumulative time, entry points first."""
    stats = pstats.Stats(profile).stats  # (file, line, function) -> (cc, nc, tt, ct, callers)
    ours = sorted(((ct, nc, f"{os.path.basename(file)}:{name}") for (file, _, name), (_, nc, _, ct, _)
                   in stats.items() if f"gradcheck_cli{os.sep}" in file), reverse=True)
    return ", ".join(f"{label} x{calls} {seconds:.2f}s" for seconds, calls, label in ours[:count]) or "?"


def exercise_error(error) -> None:
    """What the CLI and the reporters do with a GradcheckError: none of it may raise."""
    str(error)
    error.render()
    error.as_dict()
