"""The picture of a PlotData, drawn with matplotlib (the optional extra `gradcheck-cli[plot]`).

matplotlib is imported here only when a picture is drawn, and through its object interface (Figure and the Agg
canvas), so a notebook's backend and pyplot's state are left as they were.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .figure import PlotData

INSTALL = "pip install 'gradcheck-cli[plot]'"  # the optional extra that brings matplotlib
FIGURE_SIZE = (11, 4.5)  # inches, at DPI
DPI = 100


def matplotlib_missing() -> bool:
    """Whether matplotlib cannot be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("matplotlib") is None
    except (ImportError, ValueError):
        return True


def draw(data: PlotData, path):
    """Write `data` as a PNG at `path`: left, the function and the tangents; right, the step's V.  Returns the
    matplotlib Figure.  Raises ImportError without matplotlib, OSError when `path` cannot be written."""
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
    figure.savefig(path, format="png")
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
    axes.legend(fontsize="small")


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
        kink = any(t.side != "both" for t in data.tangents)
        why = "\n(a kink: the left panel has the one-sided slopes)" if kink else ""
        axes.text(0.5, 0.5, f"no derivative to measure the error against{why}", transform=axes.transAxes,
                  ha="center", va="center")
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
    axes.legend(fontsize="small")
