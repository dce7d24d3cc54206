"""The seed notebook's cases, from the shell: each must reproduce exactly."""

from __future__ import annotations

import math

import pytest

BCE = "z = w*x + b; p = clamp(sigmoid(z), 1e-8, 1 - 1e-8); -(y*log(p) + (1-y)*log(1-p))"
BCE_POINT = ("--w", "1", "--b", "0", "--x", "6.7", "--y", "0", "--wrt", "w,b")


def gradients(document) -> dict:
    return {(g["wrt"], tuple(g["index"])): g for g in document["results"][0]["gradients"]}


def test_square_at_three(cli_json):
    code, doc = cli_json("x**2", "--x", "3")
    assert code == 0
    row = gradients(doc)[("x", ())]
    assert row["symbolic"] == row["autograd"] == 6.0
    assert row["finite_difference"] == pytest.approx(6.0, rel=1e-10)
    assert doc["results"][0]["formulas"]["x"] == "2*x"


def test_sin_of_square_with_manual_formula(cli_json):
    code, doc = cli_json("sin(x**2)", "--x", "4", "--manual", "x=2*x*cos(x**2)")
    assert code == 0
    row = gradients(doc)[("x", ())]
    expected = 2 * 4 * math.cos(16)
    assert row["symbolic"] == pytest.approx(expected, rel=1e-15)
    assert row["manual"] == pytest.approx(expected, rel=1e-15)
    assert row["autograd"] == pytest.approx(expected, rel=1e-15)
    assert row["finite_difference"] == pytest.approx(expected, rel=1e-10)
    assert row["status"] == "pass" and row["disagrees"] == []
    assert doc["results"][0]["formulas"]["x"] == "2*x*cos(x**2)"


def test_sigmoid_cross_entropy_float64(cli_json):
    code, doc = cli_json(BCE, *BCE_POINT)
    assert code == 0
    rows = gradients(doc)
    assert set(rows) == {("w", ()), ("b", ())}
    for name, expected in (("w", 6.691763029237442), ("b", 0.9987706013787226)):
        row = rows[(name, ())]
        assert row["symbolic"] == pytest.approx(expected, rel=1e-15)
        assert row["autograd"] == pytest.approx(expected, rel=1e-15)
        assert row["finite_difference"] == pytest.approx(expected, rel=1e-9)
    assert doc["results"][0]["value"] == pytest.approx(6.701230154951676, rel=1e-14)


def test_sigmoid_cross_entropy_float32_matches_notebook(cli_json):
    code, doc = cli_json(BCE, *BCE_POINT, "--dtype", "float32")
    assert code == 0
    rows = gradients(doc)
    assert round(rows[("w", ())]["autograd"], 4) == 6.6918
    assert round(rows[("b", ())]["autograd"], 4) == 0.9988
    assert round(rows[("w", ())]["symbolic"], 4) == 6.6918
    assert round(doc["results"][0]["value"], 4) == 6.7012


def test_manual_chain_rule_from_the_notebook(cli_json):
    """The notebook's hand derivation: dL/dp * dp/dz * dz/dw, written as one formula."""
    code, doc = cli_json(BCE, *BCE_POINT, "--manual", "w=(p - y)/(p*(1-p)) * p*(1-p) * x",
                         "--manual", "b=(p - y)/(p*(1-p)) * p*(1-p)")
    assert code == 0
    rows = gradients(doc)
    assert rows[("w", ())]["manual"] == pytest.approx(6.691763029237442, rel=1e-12)


def test_mean_of_squares_over_a_vector(cli_json):
    code, doc = cli_json("mean(x**2)", "--x", "1,2,3")
    assert code == 0
    rows = gradients(doc)
    for i, expected in enumerate((2 / 3, 4 / 3, 2.0)):
        row = rows[("x", (i,))]
        assert row["symbolic"] == pytest.approx(expected, rel=1e-15)
        assert row["autograd"] == pytest.approx(expected, rel=1e-15)
        assert row["finite_difference"] == pytest.approx(expected, rel=1e-10)
    assert doc["results"][0]["value"] == pytest.approx(14 / 3)


@pytest.mark.parametrize("expr, expected", [
    ("x*detach(x)", 2.0),            # d/dx x*c = c = 2
    ("detach(x)**2 + x", 1.0),       # only the undetached branch
    ("detach(x**2)", 0.0),           # nothing flows
    ("sin(detach(x))*x", math.sin(2.0)),
])
def test_detach_stops_the_gradient_in_every_engine(cli_json, expr, expected):
    code, doc = cli_json(expr, "--x", "2")
    assert code == 0
    row = gradients(doc)[("x", ())]
    for engine in ("symbolic", "autograd", "finite_difference"):
        assert row[engine] == pytest.approx(expected, rel=1e-9, abs=1e-9), engine


def test_wrong_manual_formula_is_named(cli_json, cli):
    code, doc = cli_json("sin(x**2)", "--x", "4", "--manual", "x=x*cos(x**2)")
    assert code == 1
    row = gradients(doc)[("x", ())]
    assert row["status"] == "fail"
    assert row["disagrees"] == ["manual"]
    table = cli("sin(x**2)", "--x", "4", "--manual", "x=x*cos(x**2)", "--color", "never")
    assert table.exit_code == 1
    assert "fail: manual" in table.stdout


def test_float32_shows_the_float64_reference_and_the_precision_loss(cli_json, cli):
    code, doc = cli_json(BCE, *BCE_POINT, "--dtype", "float32")
    assert code == 0
    rows = gradients(doc)
    w = rows[("w", ())]
    assert w["float64"] == pytest.approx(6.691763029237442, rel=1e-15)
    assert 1e-9 < w["precision_loss"] < 1e-5  # float32 rounding shows, but stays at float32's scale
    table = cli(BCE, *BCE_POINT, "--dtype", "float32", "--color", "never").stdout
    assert "precision loss" in table and "6.691763029237441" in table
    float64 = gradients(cli_json(BCE, *BCE_POINT)[1])[("w", ())]
    assert float64["float64"] is None and float64["precision_loss"] is None


def test_float32_disagreements_are_diagnosed(cli_json):
    """pytorch #5351: a float32 mismatch that vanishes in float64 is a precision artefact, not a bug."""
    code, doc = cli_json("exp(x)/(1 + exp(x))", "--x", "8", "--dtype", "float32", "--rtol", "1e-7", "--atol", "0")
    row = doc["results"][0]["gradients"][0]
    assert code == 1 and row["diagnosis"] == "precision artefact"
    code, doc = cli_json("sin(x**2)", "--x", "4", "--dtype", "float32", "--manual", "x=x*cos(x**2)")
    row = doc["results"][0]["gradients"][0]
    assert code == 1 and row["diagnosis"] == "real" and row["disagrees"] == ["manual"]
