"""Reporters: name -> module.  Each has `render(results, settings) -> str`; those that can
write a case as soon as it finishes also have `render_case(result, settings) -> str`."""

from __future__ import annotations

from . import github, json_, jsonl, junit, table

REPORTERS = {"table": table, "json": json_, "jsonl": jsonl, "github": github, "junit": junit}
FORMATS = tuple(REPORTERS)
