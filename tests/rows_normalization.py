"""Registry rows of the normalization family (gradcheck_cli/lang/ops/normalization.py), as
tests/test_ops_registry.py reads them.

The points give the input only (the registry's forward and batch tests apply the op to its required operands);
weight, bias and batch_norm's running statistics are optional operands, checked through the `checks` cases:
values and gradients in input, weight and bias against torch.autograd and finite differences (and, in
test_precise, the mpmath referee), at (N, C), (N, C, L) and (N, C, H, W) inputs and normalized_shape of one and
two dims."""

from __future__ import annotations

import numpy as np
from op_rows import At, C, Row, opts


def _values(seed: int, *shape: int) -> list:
    """Fixed sample values, two decimals, of `shape` (no two elements of a slice equal)."""
    return np.random.default_rng(seed).normal(size=shape).round(2).tolist()


X23, X34, X234, X2223 = _values(1, 2, 3), _values(2, 3, 4), _values(3, 2, 3, 4), _values(4, 2, 2, 2, 3)
X243, X2422 = _values(5, 2, 4, 3), _values(6, 2, 4, 2, 2)
V3, V3B, V4 = _values(7, 3), _values(8, 3), _values(9, 4)
W34, B34 = _values(10, 3, 4), _values(11, 3, 4)
U23, U234, U2223, U243 = _values(12, 2, 3), _values(13, 2, 3, 4), _values(14, 2, 2, 2, 3), _values(15, 2, 4, 3)
W2, B2, V4B = _values(16, 2), _values(17, 2), _values(18, 4)
VAR3, VAR4 = [0.5, 1.75, 0.25], [0.5, 1.75, 0.25, 1.0]

ROWS: dict[str, Row] = {
    "layer_norm": Row(
        ("x",),
        [At((X23,), opts("layer_norm", normalized_shape=(3,))), At((X34,), opts("layer_norm", normalized_shape=(3, 4))),
         At((X234,), opts("layer_norm", normalized_shape=(4,))),
         At((X234,), opts("layer_norm", normalized_shape=(3, 4), eps=1e-3)), At((V4,), opts("layer_norm",
                                                                                          normalized_shape=(4,)))],
        checks=[C("sum(layer_norm(x, (3,), w, b)*u)", x=X23, w=V3, b=V3B, u=U23),
                C("sum(layer_norm(x, 4, weight=w, bias=b, eps=1e-6)**3)", x=X234, w=V4, b=V4B),
                C("sum(layer_norm(x, (3, 4), w, b, eps=0.01)*u)", x=X234, w=W34, b=B34, u=U234),
                C("sum(layer_norm(x, (3,))**3)", x=X23),
                C("sum(layer_norm(x, (3,), bias=b)*u)", x=X23, b=V3, u=U23),
                C("sum(layer_norm(x, (4,), weight=w)**3)", x=V4, w=V4B)],
        text="layer_norm(x, (3,))"),
    "batch_norm": Row(
        ("x",),
        [At((X23,), opts("batch_norm", training=True)), At((X243,), opts("batch_norm", training=True)),
         At((X2422,), opts("batch_norm", training=True, eps=1e-3))],
        checks=[C("sum(batch_norm(x, None, None, w, b, training=True)*u)", x=X23, w=V3, b=V3B, u=U23),
                C("sum(batch_norm(x, None, None, w, b, training=True)**3)", x=X243, w=V4, b=V4B),
                C("sum(batch_norm(x, None, None, weight=w, bias=b, training=True, eps=0.01)**3)", x=X2223, w=W2, b=B2),
                C("sum(batch_norm(x, None, None, training=True)*u)", x=X23, u=U23),
                # the running statistics: ignored in training mode (torch only updates them), used in evaluation
                # mode, where torch does not differentiate them
                C("sum(batch_norm(x, m, v, w, b, training=True, momentum=0.5)**3)", x=X243, m=V4, v=VAR4, w=V4B,
                  b=V4),
                C("sum(batch_norm(x, m, v, w, b)*u)", ("x", "w", "b"), x=X23, m=V3B, v=VAR3, w=V3, b=V3B, u=U23),
                C("sum(batch_norm(x, m, v, eps=0.1)**3)", ("x",), x=X2223, m=W2, v=[0.5, 2.0])],
        text="batch_norm(x, None, None, training=True)"),
    "group_norm": Row(
        ("x",),
        [At((X243,), opts("group_norm", num_groups=2)), At((X2422,), opts("group_norm", num_groups=4)),
         At((X2422,), opts("group_norm", num_groups=1, eps=1e-3)), At((X23,), opts("group_norm", num_groups=3))],
        checks=[C("sum(group_norm(x, 2, w, b)*u)", x=X243, w=V4, b=V4B, u=U243),
                C("sum(group_norm(x, 1, weight=w, bias=b, eps=1e-3)**3)", x=X2422, w=V4B, b=V4),
                C("sum(group_norm(x, 2, w)**3)", x=X2223, w=W2),
                C("sum(group_norm(x, 4)*u)", x=X243, u=U243)],
        text="group_norm(x, 2)"),
}
