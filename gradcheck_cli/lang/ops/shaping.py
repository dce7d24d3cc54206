"""Shape and indexing: transpose, indexing, reshape, concat, stack, constants of a shape, and the broadcasting
ops the symbolic engine makes (expand, sum_to, unindex)."""

from __future__ import annotations

import numpy as np

from .. import tensor_kernels as K
from .record import OpSpec, mp_kernel, torch_module


def _sum_to(g, like):
    """Sum batched `g` down to the (non-batch) shape of batched `like`."""
    target = like.shape[1:]
    rank = g.ndim - 1
    if rank < len(target):
        g = g.reshape(g.shape[:1] + (1,) * (len(target) - rank) + g.shape[1:])
    elif rank > len(target):
        g = np.sum(g, axis=tuple(range(1, 1 + rank - len(target))))
    squeezed = tuple(i + 1 for i, n in enumerate(target) if n == 1 and g.shape[i + 1] != 1)
    return np.sum(g, axis=squeezed, keepdims=True) if squeezed else g


def _expand(x, like):
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, like.shape))


def _torch_unindex(values, like, attr):
    out = values.new_zeros(like.shape)
    out[K.index_items(attr)] = values
    return out


OPS = [
    OpSpec("transpose", 1, K.transpose, lambda x: x.permute(tuple(reversed(range(x.dim())))),
           vjp=K.transpose_vjp, shape=lambda x: tuple(reversed(x)), syntax="postfix", symbol=".T",
           call_name="transpose", elementwise=False, doc="axes reversed (x.T)"),
    OpSpec("index", 1, K.index, lambda x, attr: x[K.index_items(attr)], vjp=K.index_vjp,
           shape=K.index_shape, syntax="postfix", symbol="[]", attrs="index", elementwise=False,
           doc="x[0], x[1, 2], x[1:3], x[:, 0]"),
    OpSpec("reshape", 1, K.reshape, lambda x, attr: x.reshape(attr), vjp=K.reshape_vjp,
           shape=K.reshape_shape, attrs="shape", elementwise=False, param_names=("x", "d1", "d2"),
           doc="x with a new shape, e.g. reshape(x, 2, 3); one dimension may be -1"),
    OpSpec("concat", 1, K.concat, lambda *xs: torch_module().cat(xs, 0), vjp=K.concat_vjp, shape=K.concat_shape,
           variadic=True, elementwise=False, doc="the arguments joined along their first axis"),
    OpSpec("stack", 1, K.stack, lambda *xs: torch_module().stack(xs, 0), vjp=K.stack_vjp, shape=K.stack_shape,
           variadic=True, elementwise=False, doc="the arguments stacked along a new first axis"),
    OpSpec("ones", 0, K.constant(1.0), None, shape=K.constant_shape, attrs="shape", elementwise=False,
           mp=mp_kernel("ones"),
           param_names=("d1", "d2"), doc="a tensor of ones, e.g. ones(3) or ones(2, 3)"),
    OpSpec("zeros", 0, K.constant(0.0), None, shape=K.constant_shape, attrs="shape", elementwise=False,
           mp=mp_kernel("zeros"),
           param_names=("d1", "d2"), doc="a tensor of zeros"),
    OpSpec("eye", 0, K.eye, None, shape=K.eye_shape, attrs="shape", elementwise=False, mp=mp_kernel("eye"),
           param_names=("n",), doc="the n x n identity matrix"),
    OpSpec("expand", 2, _expand, lambda x, like: x.expand(like.shape),
           partials=(lambda x, like, out: 1, lambda x, like, out: 0), internal=True, param_names=("x", "like"),
           doc="x broadcast to the shape of `like`"),
    OpSpec("sum_to", 2, _sum_to, lambda g, like: g.sum_to_size(like.shape), internal=True, param_names=("g", "like"),
           vjp=lambda adj, node, shape_of: [adj], shape=lambda g, like: like, elementwise=False,
           doc="g summed over the axes along which it was broadcast against `like`"),
    OpSpec("unindex", 2, K.unindex, lambda v, like, attr: _torch_unindex(v, like, attr), vjp=K.unindex_vjp,
           shape=K.unindex_shape, attrs="index", elementwise=False, internal=True, mp=mp_kernel("unindex"),
           param_names=("values", "like"), doc="zeros shaped like `like` with `values` at the index"),
]
