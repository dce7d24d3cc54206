#!/usr/bin/env python3
"""atheris target: expression text -> `parser.parse`, and point text -> `values.parse_value`.

Every input (bytes, decoded as UTF-8 with replacement characters) is fed to:

* `parse(text)` with the default limits, and again with tight limits (the LimitError paths);
* when it parses: the printer `to_text`, whose output must parse back to the same structure;
* when the text holds a `|`: the part after it as a manual formula sharing the expression's
  graph and bindings (as `--manual` and `manual:` are parsed);
* `parse_value(text)` with the default and tight limits (`4`, `1,2,3`, `[[1,2],[3,4]]`, `pi/4`).

Each step runs on its own, so a finding already filed and skipped with FUZZ_IGNORE (see
_harness.py) does not stop the others.  A finding is any exception that is not a `GradcheckError`
(including one raised while rendering a GradcheckError, as the CLI does), a failed round-trip assertion,
or a call slower than
FUZZ_SLOW_SECONDS (default 1 s).  See fuzz/README.md for how to run it.
"""

from __future__ import annotations

import os
import sys
import warnings

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import exercise_error, guarded, timed  # noqa: E402

with atheris.instrument_imports(include=["gradcheck_cli"]):
    from gradcheck_cli.core.errors import GradcheckError
    from gradcheck_cli.core.limits import Limits
    from gradcheck_cli.lang import graph as _graph  # noqa: F401  (instrumented with the parser)
    from gradcheck_cli.lang import lexer as _lexer  # noqa: F401
    from gradcheck_cli.lang import plan as _plan  # noqa: F401  (values.py imports it lazily for `pi/4`)
    from gradcheck_cli.lang import shapes as _shapes  # noqa: F401
    from gradcheck_cli.lang.graph import same_structure, to_text
    from gradcheck_cli.lang.parser import parse
    from gradcheck_cli.spec.values import parse_value

TIGHT = Limits(max_length=256, max_depth=8, max_nodes=64, max_elements=16)
MANUAL_SEPARATOR = "|"  # not a character of the expression language


def _parse_checked(text: str, **kwargs):
    try:
        return timed(f"parse({text[:60]!r}...)", parse, text, **kwargs)
    except GradcheckError as error:
        exercise_error(error)
        return None


def _value_checked(text: str, limits: Limits) -> None:
    try:
        timed(f"parse_value({text[:60]!r}...)", parse_value, text, limits)
    except GradcheckError as error:
        exercise_error(error)


def _round_trip(expression) -> None:
    printed = to_text(expression.output, expression.names())
    again = _parse_checked(printed, bindings={})
    if again is None:
        return  # the printer's text hit a limit (it can be deeper than the input); not a finding
    if not expression.bindings:
        assert same_structure(again.output, expression.output), (
            f"to_text does not round-trip: {printed!r} parses to a different structure")


def TestOneInput(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    program, separator, manual = text.partition(MANUAL_SEPARATOR)

    expression = guarded(_parse_checked, program)
    guarded(_parse_checked, program, limits=TIGHT)
    if expression is not None:
        guarded(_round_trip, expression)
        if separator:
            guarded(_parse_checked, manual, graph=expression.graph, bindings=expression.bindings)

    guarded(_value_checked, text, Limits())
    guarded(_value_checked, text, TIGHT)


def main() -> None:
    warnings.simplefilter("ignore")  # numpy RuntimeWarnings from `parse_value("log(0)")` etc. are not findings
    atheris.enabled_hooks.add("RegEx")  # let the fuzzer see the lexer's and values.py's regex comparisons
    atheris.enabled_hooks.add("str")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
