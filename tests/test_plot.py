"""`--plot FILE.png` and `gradcheck_cli.plot.plot_case`: the picture is written, and what it draws is the
engines' own numbers (the tangents' slopes), the function itself, and the finite-difference V."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck_cli import check
from gradcheck_cli.plot import INSTALL, PlotError, draw, figure_data, plot_case

matplotlib_image = pytest.importorskip("matplotlib.image")  # the test extra installs it; CI always has it

ROOT = Path(__file__).resolve().parent.parent


def _drawn_slopes(figure) -> dict[str, float]:
    """The slope of each tangent line in the figure, as drawn (rise over run of its end points)."""
    slopes = {}
    for line in figure.axes[0].get_lines():
        gid = line.get_gid() or ""
        if gid.startswith("tangent:"):
            x, y = line.get_xdata(), line.get_ydata()
            slopes[gid.removeprefix("tangent:")] = (y[-1] - y[0]) / (x[-1] - x[0])
    return slopes


def test_the_picture_draws_each_engines_tangent_and_the_step_v(tmp_path):
    result = check("sin(x**2)", {"x": 4}, manual={"x": "2*x*cos(x**2) + 0.5"})
    row = result.gradients[0]
    data = figure_data(result)
    figure = draw(data, tmp_path / "case.png")
    image = matplotlib_image.imread(tmp_path / "case.png")
    assert image.shape[:2] == (450, 1100)
    assert image[..., :3].std() > 0.05 and (image[..., :3] < 0.5).mean() > 0.005  # ink, not a blank page
    expected = {"reference": row.reference, "autograd": row.autograd, "manual": row.manual}
    assert data.slopes() == expected
    drawn = _drawn_slopes(figure)
    assert drawn.keys() == expected.keys()
    for label, slope in expected.items():
        assert drawn[label] == pytest.approx(slope, rel=1e-9), label
    assert data.f0 == pytest.approx(np.sin(16.0)) and data.f == pytest.approx(np.sin(data.t**2))
    errors = data.step_errors
    smallest = np.nanmin(errors)
    assert smallest < 1e-8 and errors[-1] > 1e4 * smallest and errors[0] > 1e4 * smallest  # the V


def test_a_kink_shows_its_two_one_sided_slopes(tmp_path):
    result = check("relu(x)*x + abs(x)", {"x": 0})
    data = plot_case(result, tmp_path / "kink.png")
    assert (tmp_path / "kink.png").stat().st_size > 1000
    sides = {t.label: (t.side, t.slope) for t in data.tangents}
    assert sides["left derivative"] == ("left", pytest.approx(-1)) and sides["right derivative"] == ("right", 1)


def test_a_tensor_draws_its_worst_element_and_says_so(tmp_path):
    result = check("mean(x**2)", {"x": [1.0, 2.0, 3.0]}, manual={"x": "2*x/3 + (x > 2.5)"})
    data = plot_case(result, tmp_path / "worst.png")
    assert data.variable == "x[2]" and data.x0 == 3.0 and "worst" in data.title
    assert data.slopes()["manual"] == pytest.approx(3.0) and data.slopes()["reference"] == pytest.approx(2.0)
    assert data.f0 == pytest.approx((1 + 4 + 9) / 3)


def test_a_jacobian_entry_is_its_output_element_along_its_input_element(tmp_path):
    a = [[1.5, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, -9.5]]
    result = check("A @ x", {"A": a, "x": [0.3, 0.7, 1.1]}, wrt=["x"], manual={"x": "A + (A < -9)"})
    data = figure_data(result)
    assert data.variable == "x[2]" and "f[2]" in data.title  # the wrong entry: d f[2]/d x[2]
    assert np.polyfit(data.t, data.f, 1)[0] == pytest.approx(-9.5)
    assert data.slopes()["manual"] == pytest.approx(-8.5)


def test_the_command_writes_the_picture(cli, tmp_path):
    path = tmp_path / "plot.png"
    result = cli("x**3", "--x", "2", "--method", "central", "--step", "1e-4", "--plot", str(path))
    assert result.exit_code == 0, result.stderr
    assert matplotlib_image.imread(path).shape[:2] == (450, 1100)


def test_the_central_step_is_the_one_marked(tmp_path):
    result = check("x**3", {"x": 2}, method="central", step=1e-4)
    assert plot_case(result, tmp_path / "c.png", step=1e-4).taken_steps == [1e-4]


def test_without_matplotlib_one_line_and_exit_2(cli, tmp_path, monkeypatch):
    for name in [n for n in sys.modules if n.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # importing matplotlib, or any part of it, now fails
    result = cli("x**2", "--x", "3", "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --plot needs matplotlib, which is not installed: {INSTALL}"
    assert result.stdout == "" and not (tmp_path / "p.png").exists()  # refused before the run
    with pytest.raises(ImportError, match="gradcheck-cli\\[plot\\]"):  # from Python: the same advice
        plot_case(check("x**2", {"x": 3}), tmp_path / "p.png")


def test_nothing_to_draw_is_one_line_and_exit_2(cli, tmp_path):
    result = cli("sum(x**2)", "--x", "1,2,3", "--fast", "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 2 and not (tmp_path / "p.png").exists() and result.stdout == ""  # before the run
    assert result.stderr.startswith("error: --plot draws the gradient's entries; --fast checks only random "
                                    "projections of it")
    with pytest.raises(PlotError, match="no gradient entry to draw"):  # from Python: plot_case says it
        plot_case(check("sum(x**2)", {"x": [1, 2, 3]}, fast=True, seed=1), tmp_path / "p.png")


def test_a_case_that_is_an_error_says_only_its_error(cli, tmp_path):
    result = cli("A @ x", "--A", "1,2", "--x", "1,2,3", "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 2 and not (tmp_path / "p.png").exists()
    assert "--plot" not in result.stderr and "Traceback" not in result.stderr and result.stderr.startswith("error:")


def test_a_bad_plot_path_or_spec_files_are_refused_first(cli, tmp_path):
    missing = cli("x**2", "--x", "3", "--plot", str(tmp_path / "no" / "p.png"))
    assert missing.exit_code == 2 and "--plot" in missing.stderr and missing.stdout == ""
    spec = tmp_path / "case.yaml"
    spec.write_text("cases:\n  - expr: x**2\n    at: {x: 3}\n  - expr: x**3\n    at: {x: 3}\n")
    refused = cli(str(spec), "--plot", str(tmp_path / "p.png"))  # one case is drawn (issue 19, item 7); two are not
    assert refused.exit_code == 2 and "--plot" in refused.stderr and refused.stdout == ""
    alone = cli("--function", "examples.custom_ops.swish:swish", "--x", "0.5", "--plot", str(tmp_path / "p.png"))
    assert alone.exit_code == 2 and "--plot draws an expression" in alone.stderr and alone.stdout == ""


def test_code_without_an_expression_has_nothing_to_draw():
    from gradcheck_cli.plot import PlotError

    result = check("", {"x": 0.5}, function="examples.custom_ops.swish:swish")
    assert result.status == "pass", result.error
    with pytest.raises(PlotError, match="no expression"):
        figure_data(result)


@pytest.mark.slow
def test_matplotlib_is_not_imported_at_start_up():
    code = ("import sys, gradcheck_cli.cli, gradcheck_cli.plot; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_an_expression_past_the_limits_it_is_drawn_under_is_one_clear_error(tmp_path):
    from dataclasses import replace

    from gradcheck_cli.core.limits import DEFAULT_LIMITS
    from gradcheck_cli.plot import PlotError

    result = check("sin(x)*x + x**2", {"x": 1.0})
    assert figure_data(result, limits=DEFAULT_LIMITS).f.size > 0
    with pytest.raises(PlotError, match="cannot be read again"):
        figure_data(result, limits=replace(DEFAULT_LIMITS, max_length=5))
