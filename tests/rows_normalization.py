"""Registry rows of the normalization family (gradcheck_cli/lang/ops/normalization.py), as
tests/test_ops_registry.py reads them."""

from __future__ import annotations

from op_rows import Row

ROWS: dict[str, Row] = {}
