"""The picture of a PlotData, drawn with matplotlib (the optional extra `gradcheck-cli[plot]`).

matplotlib is imported here only when a picture is drawn, and through its object interface (Figure and the Agg
canvas), so a notebook's backend and pyplot's state are left as they were.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .figure import PlotData, PlotError

INSTALL = "pip install 'gradcheck-cli[plot]'"  # the optional extra that brings matplotlib
FIGURE_SIZE = (11, 4.5)  # inches, at DPI
DPI = 100
PICTURE_FORMATS = ("png", "pdf", "svg")  # what the picture's file name may end in; matplotlib writes each


def picture_format(path) -> str | None:
    """The format a picture at `path` is written in, from its extension (`.pdf` is pdf); None when it is not one
    of PICTURE_FORMATS."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in PICTURE_FORMATS else None


def format_problem(path) -> str | None:
    """Why a picture cannot be written at `path` for its name, or None."""
    if picture_format(path) is None:
        return (f"the picture's file name must end in {', '.join('.' + f for f in PICTURE_FORMATS[:-1])} or "
                f".{PICTURE_FORMATS[-1]}, got {str(path)!r}")
    return None


def matplotlib_missing() -> bool:
    """Whether matplotlib cannot be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("matplotlib") is None
    except (ImportError, ValueError):
        return True


def draw(data: PlotData, path):
    """Write `data` as a picture at `path` (PNG, PDF or SVG, by its extension): left, the function and the
    tangents; right, the step's V.  Returns the matplotlib Figure.  Raises PlotError for another extension,
    ImportError without matplotlib, OSError when `path` cannot be written."""
    problem = format_problem(path)
    if problem:
        raise PlotError(problem)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(f"drawing a case needs matplotlib, which is not installed: {INSTALL}") from error

    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    around, steps = figure.subplots(1, 2)
    _draw_function(around, data)
    _draw_steps(steps, data)
    figure.suptitle(data.title)
    figure.savefig(path, format=picture_format(path))
    return figure


def _draw_function(axes, data: PlotData) -> None:
    axes.plot(data.t, data.f, color="black", linewidth=2, label="f")
    for tangent in data.tangents:
        side = {"left": data.t <= data.x0, "right": data.t >= data.x0}.get(tangent.side, np.ones_like(data.t, bool))
        t = data.t[side]
        axes.plot(t, data.f0 + tangent.slope * (t - data.x0), linestyle="--", linewidth=1.2,
                  label=f"{tangent.label}: {tangent.slope:.10g}", gid=f"tangent:{tangent.label}")
    axes.plot([data.x0], [data.f0], marker="o", color="black")
    axes.set_xlabel(data.variable)
    axes.set_ylabel("f")
    axes.set_title("the function and each engine's tangent", fontsize="medium")
    _legend(axes)


def _draw_steps(axes, data: PlotData) -> None:
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(data.steps.min() / 2, data.steps.max() * 2)
    shown = np.isfinite(data.step_errors) & (data.step_errors > 0)
    if shown.any():
        axes.plot(data.steps[shown], data.step_errors[shown], marker="o", markersize=3,
                  label=f"|central difference − {data.baseline}|")
        exact = np.isfinite(data.step_errors) & (data.step_errors == 0)
        if exact.any():
            axes.plot(data.steps[exact], np.full(exact.sum(), data.step_errors[shown].min()), linestyle="none",
                      marker="v", markersize=4, color="gray", label="exactly the baseline (drawn at the floor)")
    else:
        from matplotlib.ticker import NullLocator

        axes.text(0.5, 0.5, _nothing_drawn(data), transform=axes.transAxes, ha="center", va="center")
        axes.yaxis.set_major_locator(NullLocator())  # no error is drawn: ticks would measure nothing
        axes.yaxis.set_minor_locator(NullLocator())
    for taken in data.taken_steps[:-1]:
        axes.axvline(taken, color="0.75", linewidth=0.8)
    if data.taken_steps:
        axes.axvline(data.taken_steps[-1], color="tab:red", linewidth=1.2,
                     label=f"step taken: h = {data.taken_steps[-1]:.1e}")
    if data.fd_error and shown.any():
        axes.axhline(data.fd_error, color="tab:green", linestyle=":", label=f"reported error: {data.fd_error:.1e}")
    axes.set_xlabel("step h")
    axes.set_ylabel("error")
    axes.set_title(data.step_note, fontsize="small")
    _legend(axes)


def _nothing_drawn(data: PlotData) -> str:
    """Why the step panel has no error curve: every difference equals the baseline, or there is none."""
    if (np.isfinite(data.step_errors) & (data.step_errors == 0)).any():
        return (f"every step's central difference equals the {data.baseline} exactly:\n"
                "an error of 0 has no place on a log scale")
    kink = any(t.side != "both" for t in data.tangents)
    why = "\n(a kink: the left panel has the one-sided slopes)" if kink else ""
    return f"no derivative to measure the error against{why}"


def _legend(axes) -> None:
    """The legend of what `axes` labelled, if anything (an empty legend is a matplotlib warning)."""
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
