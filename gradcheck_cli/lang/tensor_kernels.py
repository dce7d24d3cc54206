"""The machinery behind the tensor ops of the registry: batched numpy kernels, shape rules, vjps.

The registry (lang/ops/) holds the records; this module holds the functions those records
point to when they are more than a one-liner.  Kernels receive arrays with a
leading batch axis (see plan.py), so a user's axis `a` is axis `a + 1` here
(negative axes are unaffected).  Shape rules see plain shapes and raise
ValueError with a message for the user.  VJP rules build graph nodes.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.limits import DEFAULT_LIMITS

# ---- attributes ----


def batch_axis(axis: int) -> int:
    return axis + 1 if axis >= 0 else axis


def reduced_axes(x: np.ndarray, attr) -> tuple[int, ...]:
    """The batched axes a reduction with attribute `attr` (None: all) acts on."""
    return tuple(range(1, x.ndim)) if attr is None else (batch_axis(attr[0]),)


def check_axis(shape: tuple, attr) -> None:
    if attr is not None and not -len(shape) <= attr[0] < len(shape):
        dims = f"dims {-len(shape)} to {len(shape) - 1}" if shape else "a 0-d input has none"
        raise ValueError(f"dim {attr[0]} is out of range for an input of shape {shape} ({dims})")


def reduced_shape(shape: tuple, attr) -> tuple:
    check_axis(shape, attr)
    if attr is None:
        return ()
    axis = attr[0] % len(shape)
    return shape[:axis] + shape[axis + 1:]


def _needs_elements(shape: tuple, attr, what: str) -> None:
    """mean, amax, amin, logsumexp, softmax: unlike sum, prod and norm they have no value over zero elements."""
    if (math.prod(shape) if attr is None else shape[attr[0] % len(shape)]) == 0:
        raise ValueError(f"{what} of zero elements is not defined: the argument is empty")


def extremum_shape(shape: tuple, attr) -> tuple:
    reduced = reduced_shape(shape, attr)
    _needs_elements(shape, attr, "the largest or smallest")
    return reduced


def mean_shape(shape: tuple, attr) -> tuple:
    reduced = reduced_shape(shape, attr)
    _needs_elements(shape, attr, "the mean")
    return reduced


def logsumexp_shape(shape: tuple, attr) -> tuple:
    reduced = reduced_shape(shape, attr)
    _needs_elements(shape, attr, "logsumexp")
    return reduced


def softmax_shape(shape: tuple, attr) -> tuple:
    same_shape_on_axis(shape, attr)
    _needs_elements(shape, (attr or (-1,)) if shape else None, "a softmax")
    return shape


def kept_shape(shape: tuple, attr) -> tuple:
    """The shape a reduction keeps with keepdims: the reduced axis (or all) as 1."""
    if attr is None:
        return tuple(1 for _ in shape)
    axis = attr[0] % len(shape)
    return shape[:axis] + (1,) + shape[axis + 1:]


def same_shape_on_axis(shape: tuple, attr) -> tuple:
    check_axis(shape, attr)
    return shape


def index_items(attr) -> tuple:
    """Index attribute (ints and ("slice", start, stop, step)) as numpy index items."""
    return tuple(slice(*item[1:]) if isinstance(item, tuple) else item for item in attr)


def format_index(attr) -> str:
    def one(item) -> str:
        if not isinstance(item, tuple):
            return str(item)
        _, start, stop, step = item
        text = f"{'' if start is None else start}:{'' if stop is None else stop}"
        return text + (f":{step}" if step is not None else "")

    return ", ".join(one(item) for item in attr)


# ---- batched kernels ----


def softmax(x, attr):
    if x.ndim == 1:  # a scalar: the batch axis is not to be normalised over
        return np.ones_like(x)
    axis = batch_axis(attr[0]) if attr else -1
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def log_softmax(x, attr):
    if x.ndim == 1:
        return np.zeros_like(x)
    axis = batch_axis(attr[0]) if attr else -1
    return x - logsumexp_keep(x, axis)


def logsumexp_keep(x, axis):
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return top + np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True))


def logsumexp(x, attr):
    axes = reduced_axes(x, attr)
    return np.squeeze(logsumexp_keep(x, axes), axis=axes)


def transpose(x):
    return np.transpose(x, (0,) + tuple(range(x.ndim - 1, 0, -1)))


def matmul(a, b):
    """a @ b as torch.matmul: vectors and matrices, and stacks of matrices whose leading (batch) dims broadcast,
    behind the evaluator's batch axis.  Vectors are made matrices (and back, as torch does), the operands' batch
    dims lined up behind the evaluator's batch axis so that they broadcast with each other."""
    vector_a, vector_b = a.ndim == 2, b.ndim == 2
    a = a[:, np.newaxis, :] if vector_a else a
    b = b[:, :, np.newaxis] if vector_b else b
    rank = max(a.ndim, b.ndim)
    a = a.reshape(a.shape[:1] + (1,) * (rank - a.ndim) + a.shape[1:])
    b = b.reshape(b.shape[:1] + (1,) * (rank - b.ndim) + b.shape[1:])
    out = matrix_product(a, b)
    if vector_a:
        out = out[..., 0, :]
    return out[..., 0] if vector_b else out


def matrix_product(a, b):
    """np.matmul(a, b) for stacks of matrices of equal rank, (..., m, k) @ (..., k, n), through BLAS where
    numpy's own loop would not reach it: a side whose batch dims are all 1 (the base point's value against a
    batch of perturbed points) is one product with the other side's batch folded into its rows or columns,
    and a complex stack against a real one is two real products (the complex step: a complex product
    would cost twice the flops, einsum a Python-speed loop per element), each cut short where the complex
    step's batch allows (_real_times_stepped).  Object arrays (mpmath numbers) go to np.matmul as they are."""
    if a.dtype == object or b.dtype == object:
        return np.matmul(a, b)
    if np.iscomplexobj(a) and not np.iscomplexobj(b):  # (a @ b)ᵀ = bᵀ @ aᵀ: the stepped side on the right
        return np.swapaxes(_real_times_stepped(np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2)), -1, -2)
    if np.iscomplexobj(b) and not np.iscomplexobj(a):
        return _real_times_stepped(a, b)
    (m, k), n = a.shape[-2:], b.shape[-1]
    if math.prod(b.shape[:-2]) == 1 and a.ndim > 2:  # (..., m, k) @ (k, n): the batch as more rows
        rows = a.reshape(math.prod(a.shape[:-1]), k) @ b.reshape(k, n)
        return rows.reshape(a.shape[:-1] + (n,))
    if math.prod(a.shape[:-2]) == 1 and b.ndim > 2:  # (m, k) @ (..., k, n): the batch as more columns
        columns = np.moveaxis(b, -2, 0).reshape(k, math.prod(b.shape[:-2]) * n)
        return np.moveaxis((a.reshape(m, k) @ columns).reshape((m,) + b.shape[:-2] + (n,)), 0, -2)
    return np.matmul(a, b)


def _real_times_stepped(a, b):
    """a @ b for a real a and a complex b, as two real products.  The complex step's batch (row j: x + ih e_j)
    has the same real part in every batch entry and one nonzero imaginary number per column: then the real
    product is made once, for the first entry, and the imaginary one reads the columns of a that the steps
    select, so that n steps of an n-vector through an n × n matrix cost O(n²), not n matrix products (O(n³))."""
    real, imaginary = _product_repeated(a, b.real), _product_sparse(a, b.imag)
    out = np.empty(np.broadcast_shapes(real.shape, imaginary.shape), dtype=np.result_type(real, 1j))
    out.real, out.imag = real, imaginary
    return out


def _product_repeated(a, b):
    """a @ b where a has no batch: once, broadcast along b's batch, where every entry of b's batch is equal."""
    if b.ndim > 2 and math.prod(b.shape[:-2]) > 1 and math.prod(a.shape[:-2]) == 1:
        first = b[(slice(0, 1),) * (b.ndim - 2)]
        if np.array_equal(b, np.broadcast_to(first, b.shape)):
            return np.broadcast_to(matrix_product(a, first), b.shape[:-2] + a.shape[-2:-1] + b.shape[-1:])
    return matrix_product(a, b)


def _product_sparse(a, b):
    """a @ b where a has no batch and holds finite numbers only (0 · inf would be NaN in the full product), and
    b has at most one nonzero number per column in all (the complex step's imaginary parts), from those
    numbers and the columns of a they select; the full product otherwise."""
    (m, k), n = a.shape[-2:], b.shape[-1]
    batch = b.shape[:-2]
    entries = math.prod(batch)
    if b.ndim <= 2 or math.prod(a.shape[:-2]) != 1 or entries <= 1:
        return matrix_product(a, b)
    flat = b.reshape(entries, k, n)
    where, row, column = np.nonzero(flat != 0)  # a boolean mask: numpy finds its nonzeros faster than a float's
    if where.size > entries * n or not np.all(np.isfinite(a)):
        return matrix_product(a, b)
    selected = a.reshape(m, k).T[row] * flat[where, row, column][:, np.newaxis]  # (nonzeros, m)
    out = np.zeros((entries, n, m), dtype=np.result_type(a, b))
    target = where * n + column
    if np.unique(target).size == target.size:  # one step per column, as the complex step makes them
        out.reshape(entries * n, m)[target] = selected
    else:
        np.add.at(out.reshape(entries * n, m), target, selected)
    return np.swapaxes(out, -1, -2).reshape(batch + (m, n))


def outer(a, b):
    return a[..., :, np.newaxis] * b[..., np.newaxis, :]


def outer_shape(a: tuple, b: tuple) -> tuple:
    if len(a) != 1 or len(b) != 1:
        raise ValueError(f"shapes {a} and {b}: outer takes two vectors")
    return a + b


def index(x, attr):
    return x[(slice(None),) + index_items(attr)]


def unindex(values, like, attr):
    """Zeros shaped like `like`, with `values` placed at the index (the vjp of indexing)."""
    out = np.zeros((values.shape[0],) + like.shape[1:], dtype=values.dtype)
    region = (slice(None),) + index_items(attr)
    rank = out[region].ndim  # values broadcast into the region after the batch axis, not across it
    out[region] = values.reshape(values.shape[:1] + (1,) * (rank - values.ndim) + values.shape[1:])
    return out


def reshape(x, attr):
    return x.reshape((x.shape[0],) + tuple(attr))


def _same_batch(arrays):
    batch = max(a.shape[0] for a in arrays)
    return [np.broadcast_to(a, (batch,) + a.shape[1:]) for a in arrays]


def concat(*arrays):
    return np.concatenate(_same_batch(arrays), axis=1)


def stack(*arrays):
    return np.stack(_same_batch(arrays), axis=1)


def constant(fill):
    def make(attr):
        return np.full((1,) + tuple(attr), fill, dtype=np.float64)

    return make


def eye(attr):
    return np.eye(attr[0])[np.newaxis]


# ---- shape rules (plain shapes) ----


def constant_shape(attr) -> tuple:
    """ones(2, 3), zeros(4): non-negative dimensions, and not absurdly large (a shape rule has no case's
    limits at hand: the default bound on a value's elements)."""
    if any(d < 0 for d in attr):
        raise ValueError(f"dimensions must not be negative, got {tuple(attr)}")
    if math.prod(attr) > DEFAULT_LIMITS.max_elements:
        raise ValueError(f"{math.prod(attr):,} elements is more than {DEFAULT_LIMITS.max_elements:,}")
    return tuple(attr)


def eye_shape(attr) -> tuple:
    if len(attr) != 1:
        raise ValueError("eye takes one size, eye(n)")
    return constant_shape((attr[0], attr[0]))


def matmul_shape(a: tuple, b: tuple) -> tuple:
    """torch.matmul's shapes: vectors and matrices, and stacks of matrices with broadcasting batch dims."""
    if not a or not b:
        raise ValueError(f"shapes {a} and {b}: a scalar cannot be matrix-multiplied (use *)")
    inner = b[0] if len(b) == 1 else b[-2]
    if a[-1] != inner:
        raise ValueError(f"shapes {a} and {b} are not aligned ({a[-1]} != {inner})")
    if len(a) <= 2 and len(b) <= 2:
        return a[:-1] + b[1:]
    batch = broadcast_batch(a[:-2], b[:-2], a, b)
    return batch + a[-2:-1] * (len(a) > 1) + b[-1:] * (len(b) > 1)


def _last_two_axes():
    from .ops.record import Options  # the registry imports this module: its records, on first use

    return Options((("axis0", -2), ("axis1", -1)))


def swapaxes_shape(shape: tuple, o) -> tuple:
    if o.axis0 is None or o.axis1 is None:
        raise ValueError("swapaxes needs two dims: swapaxes(x, 0, 1)")
    first, second = (user_dims(d, len(shape))[0] for d in (o.axis0, o.axis1))
    swapped = list(shape)
    swapped[first], swapped[second] = shape[second], shape[first]
    return tuple(swapped)


def swapaxes(x, o):
    swapaxes_shape(x.shape[1:], o)
    return np.swapaxes(x, 1 + o.axis0 % (x.ndim - 1), 1 + o.axis1 % (x.ndim - 1))


def broadcast_batch(first: tuple, second: tuple, a: tuple, b: tuple) -> tuple:
    try:
        return tuple(np.broadcast_shapes(first, second))
    except ValueError:
        raise ValueError(f"shapes {a} and {b}: the batch dims {first} and {second} do not broadcast") from None


def index_shape(shape: tuple, attr) -> tuple:
    items = index_items(attr)
    if len(items) > len(shape):
        raise ValueError(f"too many indices ({len(items)}) for shape {shape}")
    try:
        return np.broadcast_to(np.float64(0), shape)[items].shape
    except IndexError as error:
        raise ValueError(str(error)) from None


def unindex_shape(values: tuple, like: tuple, attr) -> tuple:
    target = index_shape(like, attr)
    if tuple(np.broadcast_shapes(values, target)) != target:
        raise ValueError(f"values of shape {values} do not fit {like}[{format_index(attr)}] of shape {target}")
    return like


def reshape_shape(shape: tuple, attr) -> tuple:
    try:
        return np.broadcast_to(np.float64(0), shape).reshape(tuple(attr)).shape
    except ValueError:
        raise ValueError(f"cannot reshape {shape} ({math.prod(shape)} elements) into {tuple(attr)}") from None


def concat_shape(*shapes: tuple) -> tuple:
    first = shapes[0]
    if not first or any(len(s) != len(first) or s[1:] != first[1:] for s in shapes):
        raise ValueError(f"shapes {' and '.join(map(str, shapes))} cannot be concatenated along axis 0")
    return (sum(s[0] for s in shapes),) + first[1:]


def stack_shape(*shapes: tuple) -> tuple:
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"shapes {' and '.join(map(str, shapes))} cannot be stacked: they differ")
    return (len(shapes),) + shapes[0]


# ---- vjp rules: (adjoint, node, shape_of) -> adjoints of the arguments ----


def _kept(g, node, shape_of):
    """A reduction's adjoint reshaped so that it broadcasts against the reduction's input."""
    x = node.args[0]
    if node.attr is None:
        return g
    return g.graph.apply("reshape", g, attr=kept_shape(shape_of(x), node.attr))


def _count(node, shape_of) -> int:
    shape = shape_of(node.args[0])
    return math.prod(shape) if node.attr is None else shape[node.attr[0] % len(shape)]


def sum_vjp(adj, node, shape_of):
    return [_kept(adj, node, shape_of)]


def mean_vjp(adj, node, shape_of):
    return [_kept(adj, node, shape_of) / _count(node, shape_of)]


def extremum_vjp(adj, node, shape_of):
    """amax/amin: the adjoint split evenly between the elements that attain the extremum."""
    x = node.args[0]
    g = x.graph
    hits = g.apply("eq", x, _kept(node, node, shape_of))
    total = g.apply("sum", hits) if node.attr is None else g.apply("sum", hits, attr=node.attr)
    return [hits * _kept(adj / total, node, shape_of)]


def extremum_switches(x, attr, largest: bool) -> list:
    """amax/amin's switching function (OpSpec.kinks): per element, its lead over the rest of its slice.

    For amax, x_i minus the largest other element of x_i's slice (for amin, the smallest other
    element minus x_i): positive only at a unique extremum, and exactly 0 at every element of a
    tie, so finite differences see a tie as a kink and a change of extremum as a crossing.
    Batched, shaped like x; no switch for a reduction over no axes (amax of a scalar).
    """
    axes = reduced_axes(x, attr)
    if not axes:
        return []
    with np.errstate(invalid="ignore"):
        # Each element's distance below the extremum (<= 0), then, at the extremum, its lead.
        lead = x - np.max(x, axis=axes, keepdims=True) if largest else np.min(x, axis=axes, keepdims=True) - x
        hits = lead == 0
        ties = np.count_nonzero(hits, axis=axes, keepdims=True) > 1
        np.copyto(lead, -np.inf, where=hits)  # -inf: a slice of one element has no runner-up
        np.copyto(lead, np.where(ties, 0.0, -np.max(lead, axis=axes, keepdims=True)), where=hits)
    return [lead]


def prod_vjp(adj, node, shape_of):
    return [_kept(adj * node, node, shape_of) / node.args[0]]


def norm_vjp(adj, node, shape_of):
    return [node.args[0] * _kept(adj / node, node, shape_of)]


def logsumexp_vjp(adj, node, shape_of):
    x = node.args[0]
    return [_kept(adj, node, shape_of) * x.graph.apply("exp", x - _kept(node, node, shape_of))]


def _axis_sum_kept(value, node, shape_of):
    """sum over the op's axis (default last), kept as a length-1 axis."""
    g = value.graph
    shape = shape_of(node)
    axis = (node.attr or (-1,))
    summed = g.apply("sum", value, attr=axis) if shape else value
    return g.apply("reshape", summed, attr=kept_shape(shape, axis)) if shape else summed


def softmax_vjp(adj, node, shape_of):
    return [node * (adj - _axis_sum_kept(adj * node, node, shape_of))]


def log_softmax_vjp(adj, node, shape_of):
    return [adj - node.graph.apply("exp", node) * _axis_sum_kept(adj, node, shape_of)]


def transpose_vjp(adj, node, shape_of):
    return [adj.graph.apply("transpose", adj)]


def matmul_vjp(adj, node, shape_of):
    a, b = node.args
    g = adj.graph
    ra, rb = len(shape_of(a)), len(shape_of(b))
    matmul = lambda p, q: g.apply("matmul", p, q)  # noqa: E731
    t = lambda m: g.apply("transpose", m)  # noqa: E731
    if ra == 1 and rb == 1:
        return [adj * b, adj * a]
    if ra == 2 and rb == 1:  # (m, k) @ (k,) -> (m,)
        return [g.apply("outer", adj, b), matmul(t(a), adj)]
    if ra == 1 and rb == 2:  # (k,) @ (k, n) -> (n,)
        return [matmul(b, adj), g.apply("outer", a, adj)]
    if max(ra, rb) > 2:
        return _batched_matmul_vjp(adj, a, b, shape_of)
    return [matmul(adj, t(b)), matmul(t(a), adj)]


def _batched_matmul_vjp(adj, a, b, shape_of):
    """Stacks of matrices: vectors as 1-row (a) or 1-column (b) matrices, the adjoint with those dims back, the
    matrix rule with the last two dims swapped, then each summed over the batch dims it was broadcast along."""
    g = adj.graph
    sa, sb = shape_of(a), shape_of(b)
    a2 = g.apply("reshape", a, attr=(1,) + sa) if len(sa) == 1 else a
    b2 = g.apply("reshape", b, attr=sb + (1,)) if len(sb) == 1 else b
    out_shape = matmul_shape(shape_of(a2), shape_of(b2))
    adj2 = g.apply("reshape", adj, attr=out_shape) if len(sa) == 1 or len(sb) == 1 else adj
    swap = lambda m: g.apply("swapaxes", m, attr=_last_two_axes())  # noqa: E731
    grads = []
    for grad, like, original in ((g.apply("matmul", adj2, swap(b2)), a2, a),
                                 (g.apply("matmul", swap(a2), adj2), b2, b)):
        if shape_of(grad) != shape_of(like):
            grad = g.apply("sum_to", grad, like)
        grads.append(g.apply("reshape", grad, attr=shape_of(original)) if like is not original else grad)
    return grads


def outer_vjp(adj, node, shape_of):
    a, b = node.args
    return [adj.graph.apply("matmul", adj, b), adj.graph.apply("matmul", a, adj)]


def index_vjp(adj, node, shape_of):
    return [adj.graph.apply("unindex", adj, node.args[0], attr=node.attr)]


def unindex_vjp(adj, node, shape_of):
    share, values = adj.graph.apply("index", adj, attr=node.attr), node.args[0]
    if shape_of(share) == shape_of(values):
        return [share]
    # The values were broadcast into the region: their gradient sums over the broadcast axes.
    return [adj.graph.apply("sum", share) if shape_of(values) == () else adj.graph.apply("sum_to", share, values)]


def reshape_vjp(adj, node, shape_of):
    return [adj.graph.apply("reshape", adj, attr=shape_of(node.args[0]))]


def concat_vjp(adj, node, shape_of):
    pieces, start = [], 0
    for arg in node.args:
        length = shape_of(arg)[0]
        pieces.append(adj.graph.apply("index", adj, attr=(("slice", start, start + length, None),)))
        start += length
    return pieces


def stack_vjp(adj, node, shape_of):
    return [adj.graph.apply("index", adj, attr=(k,)) for k in range(len(node.args))]


# ---- shape and indexing with options (squeeze, flip, roll, tile, tril, gather, ...): kernels and shape rules ----
# Options hold user dims; a kernel's array has the batch axis first, so user dim d is batched axis 1 + d % rank.


def user_dims(dims, rank: int) -> tuple[int, ...]:
    """`dims` (an int or a tuple) as non-negative dims of a rank-`rank` shape (a scalar takes 0 and -1), each
    once; ValueError otherwise (the shape-error wrapper prefixes the op's name)."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    span = max(rank, 1)
    if any(not -span <= d < span for d in dims):
        raise ValueError(f"dim {next(d for d in dims if not -span <= d < span)} is out of range for a tensor of "
                         f"rank {rank}")
    normal = tuple(d % span for d in dims)
    if len(set(normal)) != len(normal):
        raise ValueError(f"a dim appears more than once in {dims}")
    return normal


def _batched(dims) -> tuple[int, ...]:
    return tuple(1 + d for d in dims)


def squeeze_shape(shape: tuple, o) -> tuple:
    dims = range(len(shape)) if o.dim is None else user_dims(o.dim, len(shape))
    drop = {d for d in dims if d < len(shape) and shape[d] == 1}
    return tuple(n for d, n in enumerate(shape) if d not in drop)


def unsqueeze_shape(shape: tuple, o) -> tuple:
    if o.dim is None:
        raise ValueError("unsqueeze needs the dim: unsqueeze(x, dim=0)")
    if not -len(shape) - 1 <= o.dim <= len(shape):
        raise ValueError(f"unsqueeze: dim {o.dim} is out of range for a tensor of rank {len(shape)}")
    d = o.dim % (len(shape) + 1)
    return shape[:d] + (1,) + shape[d:]


def reshaped_by(rule):
    """A kernel that reshapes its batched argument to `rule`(its shape, options)."""
    return lambda x, o: x.reshape(x.shape[:1] + rule(x.shape[1:], o))


def flip_shape(shape: tuple, o) -> tuple:
    user_dims(o.dims, len(shape))
    return shape


def flip(x, o):
    return np.flip(x, _batched(user_dims(o.dims, x.ndim - 1)))


def roll_shape(shape: tuple, o) -> tuple:
    if o.dims is None:
        if len(o.shifts) != 1:
            raise ValueError(f"roll: without dims, shifts must be one integer, got {o.shifts}")
    elif len(o.shifts) != len(user_dims(o.dims, len(shape))):
        raise ValueError(f"roll: {len(o.shifts)} shifts for {len(o.dims)} dims")
    return shape


def roll(x, o):
    if o.dims is None:
        return np.roll(x.reshape(x.shape[0], -1), o.shifts[0], axis=1).reshape(x.shape)
    return np.roll(x, o.shifts, _batched(user_dims(o.dims, x.ndim - 1)))


def triangle_shape(shape: tuple, o) -> tuple:
    if len(shape) < 2:
        raise ValueError(f"tril and triu take a matrix (or a batch of matrices), got shape {shape}")
    return shape


def triangle(lower: bool):
    """tril (lower) or triu: the elements on and below (above) the `diagonal`-th diagonal, zeros elsewhere."""
    def kernel(x, o):
        m, n = x.shape[-2:]
        keep = np.tri(m, n, o.diagonal, dtype=bool) if lower else ~np.tri(m, n, o.diagonal - 1, dtype=bool)
        out = x.copy()
        out[..., ~keep] = _zero(x)
        return out

    return kernel


def _zero(x):
    """0 of x's kind: an mpf or mpc in the high-precision referee's object arrays."""
    return type(x.flat[0])(0) if x.dtype == object and x.size else x.dtype.type(0)


def tile_shape(shape: tuple, o, what: str = "tile") -> tuple:
    reps = tuple(o.dims)
    if any(r < 0 for r in reps):
        raise ValueError(f"{what}: the repetitions must not be negative, got {reps}")
    if what == "repeat" and len(reps) < len(shape):
        raise ValueError(f"repeat: {len(reps)} sizes for a tensor of rank {len(shape)}; give one per dim "
                         "(or more)")
    rank = max(len(reps), len(shape))
    padded = (1,) * (rank - len(shape)) + tuple(shape)
    reps = (1,) * (rank - len(reps)) + reps
    return constant_shape(tuple(r * n for r, n in zip(reps, padded)))


def tile(x, o):
    reps, rank = tuple(o.dims), x.ndim - 1
    full = max(len(reps), rank)
    x = x.reshape(x.shape[:1] + (1,) * (full - rank) + x.shape[1:])
    return np.tile(x, (1,) + (1,) * (full - len(reps)) + reps)


def cat_shape(*shapes_and_options) -> tuple:
    *shapes, o = shapes_and_options
    first = shapes[0]
    dim = user_dims(o.dim, len(first))[0] if first else None
    if dim is None or any(len(s) != len(first) or s[:dim] + s[dim + 1:] != first[:dim] + first[dim + 1:]
                          for s in shapes):
        raise ValueError(f"shapes {' and '.join(map(str, shapes))} cannot be concatenated along dim {o.dim}")
    return first[:dim] + (sum(s[dim] for s in shapes),) + first[dim + 1:]


def cat(*arrays_and_options):
    *arrays, o = arrays_and_options
    return np.concatenate(_same_batch(arrays), axis=1 + o.dim % (arrays[0].ndim - 1))


def stack_dim_shape(*shapes_and_options) -> tuple:
    *shapes, o = shapes_and_options
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"shapes {' and '.join(map(str, shapes))} cannot be stacked: they differ")
    if not -len(shapes[0]) - 1 <= o.dim <= len(shapes[0]):
        raise ValueError(f"stack: dim {o.dim} is out of range for tensors of rank {len(shapes[0])}")
    d = o.dim % (len(shapes[0]) + 1)
    return shapes[0][:d] + (len(shapes),) + shapes[0][d:]


def stack_dim(*arrays_and_options):
    *arrays, o = arrays_and_options
    return np.stack(_same_batch(arrays), axis=1 + o.dim % arrays[0].ndim)


# Selections (diagonal, diag of a matrix, gather, index_select, take): each output element is one element of the
# input, so each op is a map from output positions to flat input positions, computed from the shape and the
# options; the value takes the input's elements there, and the adjoint adds into them (`unselect`), so that a
# position selected twice receives both adjoints.


MAX_INDEX_RANK = 16  # nested tuples of index data (numpy arrays have at most 32 dims)


def index_data(index, what: str, option: str = "index") -> np.ndarray:
    """An `index=` option (or the option named `option`, as cross_entropy's target=: an int, a tuple, or nested
    tuples) as an integer array, `what` (the op) leading any message; ValueError if not rectangular or nested
    deeper than MAX_INDEX_RANK tuples."""
    what = f"{what}: " if what else ""  # "" where the caller names the op itself
    depth, first = 0, index
    while isinstance(first, tuple) and first:
        depth, first = depth + 1, first[0]
    if depth > MAX_INDEX_RANK:
        raise ValueError(f"{what}{option}= nests {depth} tuples deep; at most {MAX_INDEX_RANK}")
    try:
        data = np.asarray(index, dtype=np.int64)
    except OverflowError:
        raise ValueError(f"{what}a number in {option}= is too large for a 64-bit integer") from None
    except (ValueError, TypeError):
        raise ValueError(f"{what}{option}={index} is not rectangular: its tuples must have equal lengths") from None
    return data


def _check_range(data: np.ndarray, size: int, what: str, negative: bool = False) -> None:
    low = -size if negative else 0
    bad = data[(data < low) | (data >= size)]
    if bad.size:
        allowed = f"{-size} to {size - 1}" if negative else f"0 to {size - 1}"
        raise ValueError(f"{what}: index {int(bad.flat[0])} is out of range ({allowed}) for size {size}"
                         if size else f"{what}: index {int(bad.flat[0])} selects from an empty dim")


def selection(of: str, shape: tuple, o) -> np.ndarray:
    """The flat input position of each output element of selection `of` on an input of `shape`."""
    flat = np.arange(math.prod(shape)).reshape(shape)
    if of in ("diagonal", "diag"):
        if of == "diag" and len(shape) != 2:
            raise ValueError(f"diag takes a vector or a matrix, got shape {shape}")
        dim1, dim2 = (0, 1) if of == "diag" else (o.dim1, o.dim2)
        if len(shape) < 2:
            raise ValueError(f"diagonal takes a tensor of rank 2 or more, got shape {shape}")
        first, second = user_dims((dim1, dim2), len(shape))
        return np.diagonal(flat, o.offset if of == "diagonal" else o.diagonal, first, second)
    if of == "take":
        data = index_data(o.index, "take")
        _check_range(data, flat.size, "take", negative=True)
        return flat.reshape(-1)[data]
    dim = user_dims(o.dim, len(shape))[0]
    data = index_data(o.index, of)
    size = shape[dim] if shape else 1
    if of == "index_select":
        if data.ndim > 1:
            raise ValueError(f"index_select: index must be an integer or a flat tuple, got {o.index}")
        _check_range(data, size, "index_select")
        return np.take(flat.reshape(shape or (1,)), data.reshape(-1), axis=dim).reshape(
            shape[:dim] + (data.size,) + shape[dim + 1:] if shape else data.shape)
    # gather: out[i][j][k] = x[i][index[i][j][k]][k] for dim 1; index of x's rank, no larger elsewhere
    if data.ndim != max(len(shape), 1) and not (data.ndim == 1 and len(shape) == 0):
        raise ValueError(f"gather: index has rank {data.ndim}, the input {len(shape)}: give index as nested "
                         "tuples of the input's rank, e.g. index=((0, 1), (1, 0))")
    if any(k != dim and n > m for k, (n, m) in enumerate(zip(data.shape, shape))):
        raise ValueError(f"gather: index of shape {data.shape} is larger than the input {shape} outside dim {o.dim}")
    _check_range(data, size, "gather")
    if not shape:
        return flat.reshape(1)[data] if data.ndim else flat
    region = flat[tuple(slice(0, n) if k != dim else slice(None) for k, n in enumerate(data.shape))]
    return np.take_along_axis(region, data, axis=dim)


def selection_shape(of: str):
    return lambda shape, o: selection(of, shape, o).shape


def select(of: str):
    """Kernel of selection `of`: the batched input's elements at the selection's positions."""
    def kernel(x, o):
        where = selection(of, x.shape[1:], o)
        return x.reshape(x.shape[0], -1)[:, where]

    return kernel


def unselect(values, like, o):
    """Zeros shaped like `like`, with `values` added at the positions selection `o.of` takes (its adjoint)."""
    where = selection(o.of, like.shape[1:], o)
    batch = max(values.shape[0], like.shape[0])
    values = np.broadcast_to(values, (batch,) + values.shape[1:]).reshape(batch, -1)
    zero = _zero(values) if values.size else values.dtype.type(0)
    out = np.full((batch, math.prod(like.shape[1:])), zero, dtype=values.dtype)
    np.add.at(out, (np.arange(batch)[:, np.newaxis], where.reshape(1, -1)), values)
    return out.reshape((batch,) + like.shape[1:])


def unselect_shape(values: tuple, like: tuple, o) -> tuple:
    taken = selection(o.of, like, o).shape
    if values != taken:
        raise ValueError(f"values of shape {values} do not fit the {o.of} of {like}, of shape {taken}")
    return like


def diag(x, o):
    """diag: a vector to the square matrix with it on the `diagonal`-th diagonal; a matrix to that diagonal."""
    if x.ndim == 3:
        return select("diag")(x, o)
    n, k = x.shape[1], o.diagonal
    size = n + abs(k)
    out = np.full((x.shape[0], size, size), _zero(x), dtype=x.dtype)
    rows = np.arange(n) + max(-k, 0)
    out[:, rows, rows + k] = x
    return out


def diag_shape(shape: tuple, o) -> tuple:
    if len(shape) == 1:
        return constant_shape((shape[0] + abs(o.diagonal),) * 2)
    return selection("diag", shape, o).shape
