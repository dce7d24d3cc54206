"""Keyword arguments of a user's function: `--kwargs 'stride=2, mode="same"'`, `kwargs:` in a spec file, `kwargs=`
from Python.

A kernel takes settings besides its tensors (a stride, a padding mode, a flag).  They are plain literals, read
without eval: the command line's text is parsed by Python's own parser (`ast`) as the keywords of a call and each
value taken by `ast.literal_eval` of its node alone; whatever is not a number, a string, True, False, None or a
tuple of integers is refused, as is any other syntax.  A spec file's mapping and a Python dict are held to the
same kinds of values.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from numbers import Integral, Real

from ..core.errors import UsageError

MAX_TEXT = 2_000  # characters of --kwargs
MAX_ITEMS = 64  # elements of one tuple value
KINDS = "a number, a string, True, False, None or a tuple of integers"


def parse_keywords(text: str) -> dict[str, object]:
    """`stride=2, mode="same", size=(3, 3)` -> {"stride": 2, "mode": "same", "size": (3, 3)}.

    Raises UsageError (its message without the option's name: the caller says where) for anything else."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"{len(text)} characters; at most {MAX_TEXT}")
    if not text.strip():
        return {}
    source = f"f({text}\n)"  # the keywords of one call; the newline ends a trailing comment
    try:
        call = ast.parse(source, mode="eval").body
    except SyntaxError:
        raise UsageError(f"{text!r} is not NAME=VALUE pairs separated by commas, e.g. stride=2, mode=\"same\"") \
            from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)) or call.args \
            or any(k.arg is None for k in call.keywords):
        raise UsageError(f"{text!r}: expected NAME=VALUE pairs only, e.g. stride=2, mode=\"same\"")
    keywords = {}
    for keyword in call.keywords:
        if keyword.arg in keywords:
            raise UsageError(f"{keyword.arg} is given twice")
        try:
            value = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise UsageError(f"{keyword.arg}={ast.get_source_segment(source, keyword.value)}: expected {KINDS}") \
                from None
        keywords[keyword.arg] = checked_value(keyword.arg, value)
    return keywords


def checked_keywords(given: object) -> dict[str, object]:
    """A mapping of keyword names to values (a spec file's, or check()'s), each value checked; UsageError else."""
    if not isinstance(given, Mapping):
        raise UsageError(f"expected a mapping of keyword names to values, got a {type(given).__name__}")
    keywords = {}
    for name, value in given.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise UsageError(f"{name!r} is not a keyword name")
        keywords[name] = checked_value(name, value)
    return keywords


def checked_value(name: str, value: object) -> object:
    """`value` if it is one of KINDS (a list of integers read as a tuple); UsageError naming `name` else."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Real) and not isinstance(value, Integral):
        return float(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, (tuple, list)) and len(value) <= MAX_ITEMS \
            and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value):
        return tuple(int(v) for v in value)
    raise UsageError(f"{name}={value!r}: expected {KINDS}")
