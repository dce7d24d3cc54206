"""JSON Lines: one result object per line, written as each case finishes (for jq and large folders)."""

from __future__ import annotations

from ..verdict.compare import CaseResult
from . import ReportSettings
from .json_ import dumps, result_dict


def render_case(result: CaseResult, settings: ReportSettings) -> str:
    return dumps(result_dict(result), separators=(",", ":")) + "\n"


def render(results: list[CaseResult], settings: ReportSettings) -> str:
    return "".join(render_case(r, settings) for r in results)
