"""`--plot FILE.png`: a picture of one case, for a person deciding whom to believe.

Its own stage, above the reports (which compute nothing) and beside nothing else: to draw the function around
the point and the finite-difference error against the step, it evaluates the expression again (figure.py);
drawing is matplotlib's, imported only when a picture is drawn (draw.py), never when the command starts.

From Python or a notebook: `plot_case(gradcheck_cli.check("sin(x**2)", {"x": 4}), "case.png")`.
"""

from __future__ import annotations

from .draw import INSTALL, PICTURE_FORMATS, draw, format_problem, matplotlib_missing
from .figure import PlotData, PlotError, Tangent, figure_data

__all__ = ["INSTALL", "PICTURE_FORMATS", "PlotData", "PlotError", "Tangent", "draw", "figure_data", "format_problem",
           "matplotlib_missing", "plot_case"]


def plot_case(result, path, step: float | None = None, limits=None) -> PlotData:
    """Draw `result` (a CaseResult, as `gradcheck_cli.check` returns) at `path` (.png, .pdf or .svg); returns
    what was drawn.

    `step`: the step of a `method="central"` check, where it was not torch's default; `limits`: the
    core.limits.Limits it was checked under, where not the defaults.  Raises PlotError for a case with nothing to
    draw (an error, projections only) or a `path` of another extension, ImportError without matplotlib, OSError
    when `path` cannot be written."""
    data = figure_data(result, step, limits)
    draw(data, path)
    return data
