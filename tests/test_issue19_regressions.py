"""Defects a fresh-eyes tester found in the notebook, terminal, plot and config features (issue 19)."""

from __future__ import annotations

import pytest

from gradcheck_cli import check

AT = {"x": 1.0, "y": 2.0}


# ---- item 12: check()'s settings are validated by the settings table, each error naming its keyword ----


@pytest.mark.parametrize("keywords, message", [
    ({"method": "nope"}, "method='nope': expected one of 'auto', 'complex', 'richardson', 'central'"),
    ({"rtol": -1}, "rtol=-1: expected a non-negative finite number"),
    ({"atol": float("nan")}, "atol=nan: expected a non-negative finite number"),
    ({"order": 3}, "order=3: expected 1 or 2"),
    ({"dtype": "float16"}, "dtype='float16': expected one of 'float64', 'float32'"),
    ({"device": "tpu"}, "device='tpu': expected one of 'cpu', 'cuda'"),
    ({"step": 0}, "step=0: expected a positive finite number"),
    ({"seed": -1}, "seed=-1: expected an integer from 0 to 2**63 - 1"),
    ({"fast": 1}, "fast=1: expected True or False"),
    ({"manual": {"x": None}}, "manual['x']: expected a formula as a str"),
])
def test_a_bad_setting_is_an_error_naming_its_keyword(keywords, message):
    result = check("x*y", at=AT, **keywords)
    assert result.status == "error" and result.error["message"].startswith(message), result.error


@pytest.mark.parametrize("expr", [None, 123])
def test_an_expression_that_is_not_text_is_an_error_not_a_type_error(expr):
    result = check(expr, at=AT)
    assert result.status == "error"
    assert result.error["message"].startswith(f"expr={expr!r}: expected the expression as a str")


def test_wrt_as_text_is_read_as_the_command_line_reads_it():
    assert [row.wrt for row in check("x*y", at=AT, wrt="x,y").gradients] == ["x", "y"]
    assert [row.wrt for row in check("x*y", at=AT, wrt="y").gradients] == ["y"]
    assert check("x*y", at=AT, wrt="xy").status == "error"  # one name, not the letters x and y


def test_a_number_is_a_manual_formula():
    assert check("x*y", at=AT, manual={"x": 2}).status == "pass"
    assert check("x*y", at=AT, manual={"x": 3}).status == "fail"
