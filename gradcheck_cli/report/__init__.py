"""Reporters: name -> module.  Each has `render(results, settings) -> str`; those that can
write a case as soon as it finishes also have `render_case(result, settings) -> str`.

A reporter is imported when first asked for: a run needs one or two of them, and start-up counts."""

from __future__ import annotations

import importlib

MODULES = {"table": "table", "json": "json_", "jsonl": "jsonl", "github": "github", "junit": "junit"}
FORMATS = tuple(MODULES)


def reporter(name: str):
    return importlib.import_module(f"{__name__}.{MODULES[name]}")
