"""The JSON report: one document, a stable contract (schema in gradcheck_cli/schema/).

Non-finite numbers are written as null; the row's status says why.  Text is the exact string,
with two exceptions: a lone surrogate (how Python holds a non-UTF-8 byte of a file name) is not
Unicode, so strict decoders refuse its JSON escape; it is written as the visible text `\udcff`,
as the table shows it.  And a `##[`, which a GitHub runner would obey anywhere in a line, has
its `#` written `\u0023`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

from ..core.safe_text import LEGACY_COMMAND
from ..core.version import __version__
from ..verdict.compare import CaseResult, GradientRow
from . import ReportSettings, fails_the_run

SCHEMA_VERSION = 1
SURROGATE = "[\ud800-\udfff]"  # a pattern (re caches it)
ROW_FIELDS = ("wrt", "index", "output_index", "output", "projection", "symbolic", "manual", "finite_difference",
              "fd_error", "fd_method", "fd_evaluations",
              "left", "right", "autograd", "expected", "float64", "precision_loss", "diagnosis",
              "function", "function_fd", "function_fd_error", "function_verdict",
              "precise", "precise_error", "precise_reason", "digits_lost", "reference", "reference_source", "reason",
              "referee_notes", "abs_error", "rel_error", "status", "disagrees", "culprit")


def render(results: list[CaseResult], settings: ReportSettings) -> str:
    return dumps(document(results, settings), indent=2) + "\n"


def dumps(value, **options) -> str:
    """ASCII JSON of valid Unicode text (lone surrogates spelled out) with no `##[` in it."""
    return json.dumps(_without_surrogates(value), allow_nan=False, ensure_ascii=True, **options).replace(
        LEGACY_COMMAND, "#\\u0023[")


def _without_surrogates(value):
    """Every string in `value` (dicts, lists) with its lone surrogates as visible `\\udcff` text.  In a Python
    string every surrogate is lone: a character past U+FFFF is one code point, never a pair."""
    if isinstance(value, str):
        return re.sub(SURROGATE, lambda m: f"\\u{ord(m.group()):04x}", value) if re.search(SURROGATE, value) else value
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_surrogates(v) for v in value]
    return value


def document(results: list[CaseResult], settings: ReportSettings) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "gradcheck", "version": __version__},
        "settings": _finite(settings.checked_with()),
        "summary": summary(results, settings.strict),
        "results": [result_dict(r) for r in results],
    }


def summary(results: list[CaseResult], strict: bool = False) -> dict:
    """The cases by status, and `failing`: how many fail the run (fails_the_run: the failed ones, and under strict
    the inconclusive and undefined ones too; errors are counted apart)."""
    def count(status: str) -> int:
        return sum(1 for r in results if r.status == status)

    return {"total": len(results), "passed": count("pass"), "failed": count("fail"),
            "inconclusive": count("inconclusive"), "undefined": count("undefined"), "errors": count("error"),
            "failing": sum(1 for r in results if fails_the_run(r.status, strict))}


def result_dict(result: CaseResult) -> dict:
    return {
        "name": result.name,
        "file": result.file,
        "line": result.line,
        "expr": result.expr,
        "point": _finite(result.point),
        "wrt": result.wrt,
        "value": _finite(result.value),
        "status": result.status,
        "error": result.error,
        "formulas": dict(result.formulas),
        "gradients": [_row_dict(row) for row in result.gradients],
        "hessian": [_row_dict(row) for row in result.hessian],
        "dtype": result.dtype,
        "tolerance": None if result.tolerance is None else {"rtol": result.tolerance.rtol,
                                                             "atol": result.tolerance.atol},
        "evaluations": result.evaluations,
        "notes": result.notes,
        "value_digits_lost": result.value_digits_lost,
        "function": result.function,
        "seed": result.seed,
        "checks": [_check_dict(c) for c in result.checks],
        "patterns": _finite(result.patterns),
        "culprits": [_plain(c) for c in result.culprits],
        "factors": [_finite(_plain(f)) for f in result.factors],
        "graph": _graph(result.explanation),
        "chains": None if result.explanation is None else _finite([_plain(c) for c in result.explanation.chains]),
    }


def _check_dict(check) -> dict:
    """A case-level check; its `details` (the numbers behind its message) only where it has them."""
    fields = {"name": check.name, "status": check.status, "message": check.message}
    return fields if check.details is None else fields | {"details": _finite(check.details)}


def _graph(explanation) -> dict | None:
    if explanation is None:
        return None
    return {"output": explanation.output, "output_name": explanation.output_name,
            "nodes": _finite([_plain(node) for node in explanation.nodes]), "note": explanation.note}


def _plain(record) -> dict | list:
    """A dataclass (nested ones and tuples too) as JSON-ready dicts and lists."""
    return json.loads(json.dumps(dataclasses.asdict(record), default=list))


def _row_dict(row: GradientRow) -> dict:
    fields = {name: _finite(getattr(row, name)) for name in ROW_FIELDS}
    fields["culprit"] = None if row.culprit is None else _plain(row.culprit)
    if row.output is None:  # only a function's tuple result has outputs to tell apart
        del fields["output"]
    return fields


def _finite(value):
    """The value with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
