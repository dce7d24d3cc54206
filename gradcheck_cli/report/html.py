"""The table report as HTML, for Jupyter: rich's own export of the very text the command prints.

A notebook shows a result as the command's table (report/table.py: the same rows, sentences and colours), so
this module draws nothing itself.  It takes the table's coloured text, decodes it with rich's ANSI decoder onto a
recording console and exports that as rich exports for Jupyter (a <pre> block with inline styles).  Every
character is escaped by the export, and user text was already made printable by the table.
"""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console
from rich.jupyter import JUPYTER_HTML_FORMAT
from rich.text import Text

from ..verdict.compare import CaseResult
from . import ReportSettings
from .table import render


def render_html(results: list[CaseResult], settings: ReportSettings) -> str:
    """The table report of `results` (each case's table, then the summary line) as one HTML <pre> block."""
    coloured = replace(settings, color="always" if settings.color != "never" else "never")
    console = Console(record=True, width=settings.width, file=io.StringIO(), color_system="standard",
                      force_terminal=True, force_jupyter=False)
    console.print(Text.from_ansi(render(results, coloured).rstrip("\n")), soft_wrap=True)
    return console.export_html(inline_styles=True, code_format=JUPYTER_HTML_FORMAT)
