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
        raise ValueError(f"axis {attr[0]} is out of range for shape {shape}")


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
    """a @ b for operands of rank 1 or 2 behind the batch axis."""
    ra, rb = a.ndim - 1, b.ndim - 1
    if ra == 1 and rb == 1:
        return np.einsum("...k,...k->...", a, b)
    if ra == 2 and rb == 1:
        return np.einsum("...mk,...k->...m", a, b)
    if ra == 1 and rb == 2:
        return np.einsum("...k,...kn->...n", a, b)
    return np.matmul(a, b)


def outer(a, b):
    return np.einsum("...i,...j->...ij", a, b)


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
    if not (1 <= len(a) <= 2 and 1 <= len(b) <= 2):
        raise ValueError(f"shapes {a} and {b}: only vectors and matrices can be multiplied")
    if a[-1] != b[0]:
        raise ValueError(f"shapes {a} and {b} are not aligned ({a[-1]} != {b[0]})")
    return a[:-1] + b[1:]


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
    return [matmul(adj, t(b)), matmul(t(a), adj)]


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
