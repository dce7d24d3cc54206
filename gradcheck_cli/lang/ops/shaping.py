"""Shape and indexing: transpose, indexing, reshape, concat (cat) and stack along any dim, squeeze, unsqueeze, flip,
roll, tile, repeat, tril, triu, diag, diagonal, gather, index_select, take, constants of a shape, and the
broadcasting and scattering ops the symbolic engine makes (expand, sum_to, unindex, unselect)."""

from __future__ import annotations

import numpy as np

from .. import tensor_kernels as K
from .record import OpSpec, Option, Options, mp_kernel, torch_module


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


def _required(o: Options, name: str, op: str) -> Options:
    if getattr(o, name) is None:
        raise ValueError(f"{op} needs {name}=, e.g. {op}(x, {name}=(0,))")
    return o


def _sizes(o: Options) -> Options:
    """repeat's sizes as tile's dims."""
    return Options((("dims", _required(o, "sizes", "repeat").sizes),))


def _changed(o: Options, **values) -> Options:
    return Options(tuple((name, values.get(name, value)) for name, value in o.items))


def _reshape_back(adj, node, shape_of):
    return [adj.graph.apply("reshape", adj, attr=shape_of(node.args[0]))]


def _same_op(adj, node, shape_of):
    """flip, tril, triu, swapaxes: linear, and their own adjoint."""
    return [adj.graph.apply(node.op, adj, attr=node.attr)]


def _roll_vjp(adj, node, shape_of):
    return [adj.graph.apply("roll", adj, attr=_changed(node.attr, shifts=tuple(-s for s in node.attr.shifts)))]


def _tile_vjp(adj, node, shape_of):
    """tile and repeat: the adjoint with each dim split into (repetition, original size), summed over the
    repetitions one dim at a time."""
    g, shape = adj.graph, shape_of(node.args[0])
    reps = node.attr.dims if node.op == "tile" else node.attr.sizes
    rank = max(len(reps), len(shape))
    padded, reps = (1,) * (rank - len(shape)) + tuple(shape), (1,) * (rank - len(reps)) + tuple(reps)
    split = g.apply("reshape", adj, attr=tuple(n for pair in zip(reps, padded) for n in pair))
    for k in range(rank):
        split = g.apply("sum", split, attr=(k,))  # the k-th repetition axis, the earlier ones already summed
    return [g.apply("reshape", split, attr=tuple(shape))]


def _cat_vjp(adj, node, shape_of):
    pieces, start = [], 0
    dim = node.attr.dim % len(shape_of(node))
    for arg in node.args:
        length = shape_of(arg)[dim]
        before = (("slice", None, None, None),) * dim
        pieces.append(adj.graph.apply("index", adj, attr=before + (("slice", start, start + length, None),)))
        start += length
    return pieces


def _stack_vjp(adj, node, shape_of):
    dim = node.attr.dim % len(shape_of(node))
    return [adj.graph.apply("index", adj, attr=(("slice", None, None, None),) * dim + (k,))
            for k in range(len(node.args))]


# unselect (the adjoint of a selection) carries the selection's name and every option a selection has
SELECTIONS = ("diag", "diagonal", "gather", "index_select", "take")
_SELECTION_OPTIONS = (("dim", 0, "int"), ("index", (0,), "ints"), ("offset", 0, "int"), ("dim1", 0, "int"),
                      ("dim2", 1, "int"), ("diagonal", 0, "int"))


def _unselect_vjp(adj, node, shape_of):
    given = dict(node.attr.items)
    options = Options((("of", node.op),) + tuple((name, given.get(name, default))
                                                 for name, default, _ in _SELECTION_OPTIONS))
    return [adj.graph.apply("unselect", adj, node.args[0], attr=options)]


def _unselect_back(adj, node, shape_of):
    spec = _BY_NAME[node.attr.of]
    return [adj.graph.apply(spec.name, adj, attr=spec.with_options(dict(node.attr.items)))]


def _diag_vjp(adj, node, shape_of):
    if len(shape_of(node.args[0])) == 2:
        return _unselect_vjp(adj, node, shape_of)
    return [adj.graph.apply("diagonal", adj, attr=_BY_NAME["diagonal"].with_options({"offset": node.attr.diagonal}))]


def _selection_shape(of: str, *required: str):
    rule = K.selection_shape(of)

    def shape(s, o):
        for name in required + ("index",) * (of != "diag"):
            _required(o, name, of)
        return rule(s, o)

    return shape


def _torch_index(o: Options):
    return torch_module().tensor(o.index, dtype=torch_module().int64)


def _torch_unselect(values, like, o: Options):
    where = torch_module().tensor(K.selection(o.of, tuple(like.shape), o).reshape(-1))
    flat = values.new_zeros(like.numel()).index_add(0, where, values.reshape(-1))
    return flat.reshape(like.shape)


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
    OpSpec("concat", 1, K.cat, lambda *xs: torch_module().cat(xs[:-1], xs[-1].dim), vjp=_cat_vjp, shape=K.cat_shape,
           attrs="options", options=(Option("dim", 0, "int", keyword_only=True),), aliases=("cat",),
           variadic=True, elementwise=False, doc="the arguments joined along dim (default 0): cat(a, b, dim=1)"),
    OpSpec("stack", 1, K.stack_dim, lambda *xs: torch_module().stack(xs[:-1], xs[-1].dim), vjp=_stack_vjp,
           shape=K.stack_dim_shape, attrs="options", options=(Option("dim", 0, "int", keyword_only=True),),
           variadic=True, elementwise=False,
           doc="the arguments stacked along a new dim (default 0): stack(a, b, dim=1)"),
    OpSpec("swapaxes", 1, K.swapaxes, lambda x, o: torch_module().swapaxes(x, o.axis0, o.axis1), vjp=_same_op,
           shape=K.swapaxes_shape, attrs="options",
           options=(Option("axis0", None, "int"), Option("axis1", None, "int")),
           elementwise=False, doc="x with two dims exchanged: swapaxes(x, -2, -1) transposes a stack of matrices"),
    OpSpec("squeeze", 1, K.reshaped_by(K.squeeze_shape),
           lambda x, o: x.squeeze() if o.dim is None else x.squeeze(o.dim),
           vjp=_reshape_back, shape=K.squeeze_shape, attrs="options", options=(Option("dim", None, "ints"),),
           elementwise=False, doc="x without its dims of size 1 (or only those of dim= that have size 1)"),
    OpSpec("unsqueeze", 1, K.reshaped_by(K.unsqueeze_shape), lambda x, o: x.unsqueeze(o.dim), vjp=_reshape_back,
           shape=K.unsqueeze_shape, attrs="options", options=(Option("dim", None, "int"),), elementwise=False,
           doc="x with a new dim of size 1 at dim: unsqueeze(x, 0)"),
    OpSpec("flip", 1, lambda x, o: K.flip(x, _required(o, "dims", "flip")), lambda x, o: x.flip(o.dims),
           vjp=_same_op, shape=lambda s, o: K.flip_shape(s, _required(o, "dims", "flip")), attrs="options",
           options=(Option("dims", None, "ints"),), elementwise=False, doc="x reversed along dims: flip(x, dims=(0,))"),
    OpSpec("roll", 1, lambda x, o: K.roll(x, _required(o, "shifts", "roll")),
           lambda x, o: torch_module().roll(x, o.shifts, o.dims), vjp=_roll_vjp,
           shape=lambda s, o: K.roll_shape(s, _required(o, "shifts", "roll")), attrs="options",
           options=(Option("shifts", None, "ints"), Option("dims", None, "ints")), elementwise=False,
           doc="x shifted cyclically by shifts along dims (without dims: the flattened x): roll(x, 1, 0)"),
    OpSpec("tile", 1, lambda x, o: K.tile(x, _required(o, "dims", "tile")), lambda x, o: x.tile(o.dims),
           vjp=_tile_vjp, shape=lambda s, o: K.tile_shape(s, _required(o, "dims", "tile")), attrs="options",
           options=(Option("dims", None, "ints"),), elementwise=False,
           doc="x repeated dims[k] times along each dim: tile(x, (2, 1))"),
    OpSpec("repeat", 1, lambda x, o: K.tile(x, _sizes(o)), lambda x, o: x.repeat(o.sizes),
           vjp=_tile_vjp, shape=lambda s, o: K.tile_shape(s, _sizes(o), "repeat"), attrs="options",
           options=(Option("sizes", None, "ints"),), elementwise=False,
           doc="x repeated sizes[k] times along each dim, as torch.Tensor.repeat: repeat(x, (2, 1))"),
    OpSpec("tril", 1, K.triangle(lower=True), lambda x, o: x.tril(o.diagonal), vjp=_same_op, shape=K.triangle_shape,
           attrs="options", options=(Option("diagonal", 0, "int"),), elementwise=False,
           doc="the lower triangle of the matrix x (on and below the diagonal-th diagonal), zeros above"),
    OpSpec("triu", 1, K.triangle(lower=False), lambda x, o: x.triu(o.diagonal), vjp=_same_op, shape=K.triangle_shape,
           attrs="options", options=(Option("diagonal", 0, "int"),), elementwise=False,
           doc="the upper triangle of the matrix x (on and above the diagonal-th diagonal), zeros below"),
    OpSpec("diag", 1, K.diag, lambda x, o: torch_module().diag(x, o.diagonal), vjp=_diag_vjp, shape=K.diag_shape,
           attrs="options", options=(Option("diagonal", 0, "int"),), elementwise=False,
           doc="a vector to the square matrix with it on the diagonal-th diagonal; a matrix to that diagonal"),
    OpSpec("diagonal", 1, K.select("diagonal"), lambda x, o: torch_module().diagonal(x, o.offset, o.dim1, o.dim2),
           vjp=_unselect_vjp, shape=K.selection_shape("diagonal"), attrs="options",
           options=(Option("offset", 0, "int"), Option("dim1", 0, "int"), Option("dim2", 1, "int")),
           elementwise=False, doc="the offset-th diagonal of the (dim1, dim2) planes of x, as the last dim"),
    OpSpec("gather", 1, K.select("gather"), lambda x, o: torch_module().gather(x, o.dim, _torch_index(o)),
           vjp=_unselect_vjp, shape=_selection_shape("gather", "dim"), attrs="options",
           options=(Option("dim", None, "int"), Option("index", None, "ints", keyword_only=True)), elementwise=False,
           doc="out[i][j] = x[i][index[i][j]] for dim 1: gather(x, 1, index=((0, 1), (1, 0)))"),
    OpSpec("index_select", 1, K.select("index_select"),
           lambda x, o: torch_module().index_select(x, o.dim, _torch_index(o).reshape(-1)), vjp=_unselect_vjp,
           shape=_selection_shape("index_select", "dim"), attrs="options",
           options=(Option("dim", None, "int"), Option("index", None, "ints", keyword_only=True)), elementwise=False,
           doc="the slices of x at the given indices along dim: index_select(x, 0, index=(2, 0, 2))"),
    OpSpec("take", 1, K.select("take"), lambda x, o: torch_module().take(x, _torch_index(o)), vjp=_unselect_vjp,
           shape=_selection_shape("take"), attrs="options",
           options=(Option("index", None, "ints", keyword_only=True),), elementwise=False,
           doc="the elements of the flattened x at index (negative from the end): take(x, index=(0, 5))"),
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
    OpSpec("unselect", 2, K.unselect, _torch_unselect, vjp=_unselect_back, shape=K.unselect_shape, attrs="options",
           options=(Option("of", "take", "str", SELECTIONS, keyword_only=True),
                    *(Option(name, default, kind, keyword_only=True) for name, default, kind in _SELECTION_OPTIONS)),
           elementwise=False, internal=True, param_names=("values", "like"),
           doc="zeros shaped like `like` with `values` added where the selection `of` takes its elements"),
]
_BY_NAME = {op.name: op for op in OPS}
