"""Registry rows of the convolution family (gradcheck_cli/lang/ops/convolution.py), as
tests/test_ops_registry.py reads them."""

from __future__ import annotations

from op_rows import Row

ROWS: dict[str, Row] = {}
