"""Linear algebra: the matrix product and the outer product."""

from __future__ import annotations

from .. import tensor_kernels as K
from .record import OpSpec, torch_module

OPS = [
    OpSpec("matmul", 2, K.matmul, lambda a, b: a @ b, vjp=K.matmul_vjp, shape=K.matmul_shape,
           syntax="infix", symbol="@", precedence=20, call_name="matmul", aliases=("dot",), elementwise=False,
           doc="matrix product of vectors and matrices (a @ b)"),
    OpSpec("outer", 2, K.outer, lambda a, b: torch_module().outer(a, b), vjp=K.outer_vjp, shape=K.outer_shape,
           elementwise=False, doc="the outer product of two vectors: outer(a, b)[i, j] = a[i]*b[j]"),
]
