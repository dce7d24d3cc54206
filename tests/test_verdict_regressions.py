"""Wrong verdicts and false labels a tester found: each test failed before its fix."""

from __future__ import annotations

import re

import pytest

from gradcheck_cli import check


def test_reference_legend_names_jacobian_entries_like_the_table_rows(cli):
    result = cli("A @ x", "--A", "[[1,2,3],[4,5,6],[7,8,10]]", "--x", "0.1,-0.2,0.3", "--wrt", "x",
                 "--manual", "x=A.T", env={"COLUMNS": "200"})
    legend = next(line for line in result.output.splitlines() if line.startswith("reference of"))
    assert "d f[0]/d x[1]" in legend
    assert not re.search(r"(^|, )x\[\d\]", legend.split(":")[0].removeprefix("reference of "))
