"""Registry rows of the distances family (gradcheck_cli/lang/ops/distances.py), as
tests/test_ops_registry.py reads them."""

from __future__ import annotations

from op_rows import Row

ROWS: dict[str, Row] = {}
