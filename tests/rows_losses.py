"""Registry rows of the losses family (gradcheck_cli/lang/ops/losses.py), as
tests/test_ops_registry.py reads them."""

from __future__ import annotations

from op_rows import Row

ROWS: dict[str, Row] = {}
