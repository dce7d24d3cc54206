"""Kernels, shape rules and vjps of the statistics, scans and sorts (var, std, cumsum, cumprod, logcumsumexp,
sort, topk): ops with options (`dim`, `correction`, `keepdim`, `k`, ...) as torch names them.

Kernels receive arrays with a leading batch axis, so user dim d of a rank-r argument is batched axis
1 + d % r; on object arrays of mpmath numbers (the high-precision referee, which runs them with a batch axis of
one) they use mpmath's functions.  Shape rules see plain shapes and raise ValueError for the user.
"""

from __future__ import annotations

import math

import numpy as np

from .tensor_kernels import user_dims

# ---- dims ----


def reduced_dims(shape: tuple, dims, what: str) -> tuple[int, ...]:
    """The non-negative user dims a reduction with `dim` (None: all) acts on, for an argument of `shape`."""
    if dims is None:
        return tuple(range(len(shape)))
    normal = user_dims(dims, len(shape))
    return normal if shape else ()  # a scalar: dim 0 or -1 names it, and there is nothing to reduce


def scan_dim(shape: tuple, dim, what: str) -> int | None:
    """The non-negative user dim of a scan (None for a scalar); ValueError without one."""
    if dim is None:
        raise ValueError(f"the dim is required, as in torch: {what}(x, dim=0)")
    (normal,) = user_dims(dim, len(shape))
    return normal if shape else None


def _batched_axis(x: np.ndarray, dim: int, what: str) -> int | None:
    d = scan_dim(x.shape[1:], dim, what)
    return None if d is None else 1 + d


def _mp(name: str):
    from . import mp_kernels

    return getattr(mp_kernels, name)


def _sqrt(x):
    return _mp("sqrt")(np.asarray(x, dtype=object)) if np.asarray(x).dtype == object else np.sqrt(x)


def _exp(x):
    return _mp("exp")(np.asarray(x, dtype=object)) if np.asarray(x).dtype == object else np.exp(x)


def _log(x):
    return _mp("log")(np.asarray(x, dtype=object)) if np.asarray(x).dtype == object else np.log(x)


# ---- var and std ----


def var_shape(shape: tuple, o) -> tuple:
    dims = reduced_dims(shape, o.dim, "var")
    count = math.prod(shape[d] for d in dims)
    if count - o.correction <= 0:
        raise ValueError(f"{count} element{'s' if count != 1 else ''} with correction={o.correction} divide by "
                         f"{count - o.correction}: not defined")
    if o.keepdim:
        return tuple(1 if d in dims else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in dims)


def var(x, o):
    dims = reduced_dims(x.shape[1:], o.dim, "var")
    axes = tuple(1 + d for d in dims)
    count = math.prod(x.shape[a] for a in axes)
    centred = x - np.sum(x, axis=axes, keepdims=True) / count
    return np.sum(centred * centred, axis=axes, keepdims=o.keepdim) / (count - o.correction)


def std(x, o):
    return _sqrt(var(x, o))


def var_of_unbatched(x, o):
    """var on an unbatched argument (the domain predicate of std)."""
    return var(np.asarray(x)[np.newaxis], o)[0]


def _sum_kept(v, dims: tuple[int, ...], shape: tuple):
    """v summed over user `dims` of `shape`, kept as length-1 axes (broadcasts against `shape`)."""
    g = v.graph
    if not dims:
        return v
    if len(dims) == len(shape):
        return g.apply("sum", v)
    for d in sorted(dims, reverse=True):
        v = g.apply("sum", v, attr=(d,))
    return g.apply("reshape", v, attr=tuple(1 if d in dims else n for d, n in enumerate(shape)))


def _adjoint_kept(adj, node, dims, shape):
    """A reduction's adjoint (shape of its output) reshaped to broadcast against its input."""
    if node.attr.keepdim or not dims or len(dims) == len(shape):
        return adj
    return adj.graph.apply("reshape", adj, attr=tuple(1 if d in dims else n for d, n in enumerate(shape)))


def _centred(node, shape_of):
    x = node.args[0]
    shape = shape_of(x)
    dims = reduced_dims(shape, node.attr.dim, node.op)
    count = math.prod(shape[d] for d in dims)
    return x - _sum_kept(x, dims, shape) / count, dims, shape, count - node.attr.correction


def var_vjp(adj, node, shape_of):
    centred, dims, shape, divisor = _centred(node, shape_of)
    return [_adjoint_kept(adj, node, dims, shape) * centred * (2 / divisor)]


def std_vjp(adj, node, shape_of):
    centred, dims, shape, divisor = _centred(node, shape_of)
    return [_adjoint_kept(adj / node, node, dims, shape) * centred / divisor]


# ---- scans: cumsum, cumprod, logcumsumexp ----


def scan_shape(what: str):
    def shape_rule(shape: tuple, o) -> tuple:
        scan_dim(shape, o.dim, what)
        return shape

    return shape_rule


def cumsum(x, o):
    axis = _batched_axis(x, o.dim, "cumsum")
    return x.copy() if axis is None else np.cumsum(x, axis=axis)


def cumsum_reverse(x, o):
    """sum of the elements at and after each position along dim: the adjoint of cumsum."""
    axis = _batched_axis(x, o.dim, "cumsum_reverse")
    return x.copy() if axis is None else np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)


def cumprod(x, o):
    axis = _batched_axis(x, o.dim, "cumprod")
    return x.copy() if axis is None else np.cumprod(x, axis=axis)


def logcumsumexp(x, o):
    axis = _batched_axis(x, o.dim, "logcumsumexp")
    if axis is None:
        return x.copy()
    out = np.empty_like(x)
    moved, into = np.moveaxis(x, axis, 0), np.moveaxis(out, axis, 0)  # views: into fills out
    into[0] = moved[0]
    for k in range(1, moved.shape[0]):  # log(exp(a) + exp(b)), shifted by the larger real part
        a, b = into[k - 1], moved[k]
        top = np.where(_real(a) >= _real(b), a, b)
        top = np.where(_is_finite(top), top, 0 * top)
        into[k] = top + _log(_exp(a - top) + _exp(b - top))
    return out


def _real(x):
    x = np.asarray(x)
    if x.dtype == object:
        return np.asarray(np.frompyfunc(lambda v: v.real, 1, 1)(x), dtype=object)
    return x.real


def _is_finite(x):
    x = np.asarray(x)
    if x.dtype == object:
        return np.asarray(np.frompyfunc(lambda v: bool(abs(v) != float("inf") and v == v), 1, 1)(x), dtype=bool)
    return np.isfinite(x)


def cumsum_vjp(adj, node, shape_of):
    return [adj.graph.apply("cumsum_reverse", adj, attr=node.attr)]


def cumsum_reverse_vjp(adj, node, shape_of):
    return [adj.graph.apply("cumsum", adj, attr=node.attr)]


def cumprod_vjp(adj, node, shape_of):
    """d out_j / d x_i = prod_{k <= j, k != i} x_k (j >= i), exact with zeros: where x_i != 0 the sum over j is
    cumsum_reverse(adj*out)_i / x_i; at the first zero z of a slice it is sum_{j >= z} adj_j times the
    cumprod of x with x_z set to 1; at later zeros and after them it is 0 (the first zero is a factor)."""
    x, g, o = node.args[0], node.graph, node.attr
    if shape_of(x) == ():
        return [adj]
    zero = g.apply("eq", x, 0)
    first_zero = zero * g.apply("eq", g.apply("cumsum", zero, attr=o), 1)
    nonzero = g.apply("cumsum_reverse", adj * node, attr=o) / (x + zero) * g.apply("ne", x, 0)
    seen_zero = g.apply("ge", g.apply("cumsum", zero, attr=o), 1)
    without_first = g.apply("cumprod", x + first_zero, attr=o)
    at_zero = g.apply("cumsum_reverse", adj * without_first * seen_zero, attr=o)  # at z: the sum over j >= z
    return [nonzero + first_zero * at_zero]


def logcumsumexp_vjp(adj, node, shape_of):
    """d out_j / d x_i = exp(x_i - out_j) for j >= i: exp(x_i - m) cumsum_reverse(adj exp(m - out))_i, shifted by
    m, the slice's largest x (finite for any adj away from exp underflow of m - out_j)."""
    x, g, o = node.args[0], node.graph, node.attr
    if shape_of(x) == ():
        return [adj]
    shape = shape_of(x)
    d = scan_dim(shape, o.dim, "logcumsumexp")
    top = g.apply("amax", x, attr=(d,))
    top = g.apply("reshape", top, attr=shape[:d] + (1,) + shape[d + 1:])
    weights = g.apply("cumsum_reverse", adj * g.apply("exp", top - node), attr=o)
    return [g.apply("exp", x - top) * weights]


# ---- sort and topk (values only): the gradient routes each output element back to the element it came from ----
# sort_by(v, key) takes v's elements in the order that sorts `key` along dim (the first k of them); unsort(v, key)
# puts them back (zeros elsewhere): each is the other's adjoint.  Ties in `key` are kinks.


def selection_options(o) -> dict:
    """sort's or topk's options (or the internal ops', or such a dict) as the internal ops' (dim, descending, k)."""
    if isinstance(o, dict):
        return o
    if hasattr(o, "largest"):
        return {"dim": o.dim, "descending": o.largest, "k": o.k}
    return {"dim": o.dim, "descending": o.descending, "k": getattr(o, "k", None)}


def _selected_length(shape: tuple, o, what: str) -> int | None:
    d = scan_dim(shape, o.dim, what)
    n = shape[d] if shape else 1
    k = selection_options(o)["k"]
    if k is not None and not 0 <= k <= n:
        raise ValueError(f"k={k} is out of range for {n} element{'s' if n != 1 else ''} along dim {o.dim}")
    return n if k is None else k


def sorted_shape(what: str):
    def shape_rule(shape: tuple, o) -> tuple:
        if what == "topk" and o.k is None:  # (k is required: torch.topk has no default)
            raise ValueError("k is required, as in torch: topk(x, 2) or topk(x, k=2)")
        if what == "topk" and not getattr(o, "sorted", True):
            raise ValueError("sorted=False leaves the order of the k values unspecified in torch, so the function "
                             "is not defined: write sorted=True (the default)")
        k = _selected_length(shape, o, what)
        if not shape:
            return shape
        d = scan_dim(shape, o.dim, what)
        return shape[:d] + (k,) + shape[d + 1:]

    return shape_rule


def sort_by_shape(v: tuple, key: tuple, o) -> tuple:
    if v != key:
        raise ValueError(f"values of shape {v} and a key of shape {key} differ")
    return sorted_shape("sort_by")(key, o)


def unsort_shape(v: tuple, key: tuple, o) -> tuple:
    taken = sorted_shape("unsort")(key, o)
    if v != taken:
        raise ValueError(f"values of shape {v} do not fit a key of shape {key} (taken: {taken})")
    return key


def _order(key, o, what: str):
    """The batched axis and the indices that sort `key` along it (stable; descending: larger first), the first
    k of them; (None, None) for a scalar.  `o`: sort's, topk's or the internal ops' options."""
    selection = selection_options(o)
    axis = _batched_axis(key, selection["dim"], what)
    if axis is None:
        return None, None
    keys = np.asarray(_real(key), dtype=object) if key.dtype == object else key.real
    order = np.argsort(-keys if selection["descending"] else keys, axis=axis, kind="stable")
    k = selection["k"]
    return axis, (order if k is None else np.take(order, np.arange(k), axis=axis))


def sort_values(x, o):
    """sort(x, dim, descending).values and topk(x, k, dim, largest).values."""
    axis, order = _order(x, o, "sort")
    return x.copy() if axis is None else np.take_along_axis(x, order, axis=axis)


def _same_batch(v, key):
    batch = max(v.shape[0], key.shape[0])
    return np.broadcast_to(v, (batch,) + v.shape[1:]), np.broadcast_to(key, (batch,) + key.shape[1:])


def sort_by(v, key, o):
    v, key = _same_batch(v, key)
    axis, order = _order(key, o, "sort_by")
    return v.copy() if axis is None else np.take_along_axis(v, order, axis=axis)


def unsort(v, key, o):
    v, key = _same_batch(v, key)
    axis, order = _order(key, o, "unsort")
    if axis is None:
        return v.copy()
    dtype = np.result_type(v, key)
    out = np.zeros(key.shape, dtype=dtype)
    if dtype.kind == "O":
        out.fill(_mp("ZERO"))
    np.put_along_axis(out, order, v, axis=axis)
    return out


def sort_switches(x, o) -> list:
    """sort's and topk's switching functions (OpSpec.kinks), batched and shaped like x: for each offset s along
    dim, x - (x rolled by s), so that every pair of elements of a slice has a difference that changes sign where
    the two cross (and is 0 at a tie).  For topk only pairs with an element among the chosen k count: the others
    are held at 1."""
    axis = _batched_axis(x, o.dim, "sort")
    if axis is None or x.shape[axis] < 2:
        return []
    n, k = x.shape[axis], selection_options(o)["k"]
    chosen = None
    if k is not None:
        _, order = _order(x, {**selection_options(o), "k": None}, "topk")
        rank = np.empty_like(order)
        positions = np.arange(n).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
        np.put_along_axis(rank, order, np.broadcast_to(positions, order.shape), axis=axis)
        chosen = rank < k
    switches = []
    with np.errstate(invalid="ignore"):
        for s in range(1, n):
            gap = x - np.roll(x, s, axis=axis)
            if chosen is not None:
                gap = np.where(chosen | np.roll(chosen, s, axis=axis), gap, 1.0 + 0 * gap)
            switches.append(gap)
    return switches


# ---- sum, mean, amax and amin over several dims, with keepdim (sum(x, dim=(0, 1), keepdim=True)) ----
# The registry's sum_dims, mean_dims, amax_dims and amin_dims, written sum(...), mean(...), amax(...), amin(...):
# the overloads that the parser picks for a tuple of dims or keepdim; sum(x), sum(x, 0) and sum(x, dim=0) keep the
# axis forms.


def dims_shape(what: str, needs_elements: bool = False):
    def shape_rule(shape: tuple, o) -> tuple:
        dims = reduced_dims(shape, o.dim, what)
        if needs_elements and math.prod(shape[d] for d in dims) == 0:
            raise ValueError("no value over zero elements: the argument is empty")
        if o.keepdim:
            return tuple(1 if d in dims else n for d, n in enumerate(shape))
        return tuple(n for d, n in enumerate(shape) if d not in dims)

    return shape_rule


def _axes(x, o, what: str) -> tuple[int, ...]:
    return tuple(1 + d for d in reduced_dims(x.shape[1:], o.dim, what))


def _reduce_axes(ufunc, x, axes: tuple[int, ...], keepdim: bool):
    """ufunc.reduce over several axes; one at a time on object arrays (object ufuncs take one axis at a time)."""
    if x.dtype != object:
        return ufunc.reduce(x, axis=axes, keepdims=keepdim)
    out = x
    for axis in sorted(axes, reverse=True):
        out = ufunc.reduce(out, axis=axis, keepdims=True)
    return out if keepdim else np.squeeze(out, axis=axes) if axes else out


def sum_dims(x, o):
    return _reduce_axes(np.add, x, _axes(x, o, "sum"), o.keepdim)


def mean_dims(x, o):
    axes = _axes(x, o, "mean")
    return sum_dims(x, o) / math.prod(x.shape[a] for a in axes)


def extremum_dims(largest: bool):
    def kernel(x, o):
        axes = _axes(x, o, "amax" if largest else "amin")
        if x.dtype == object:
            return np.asarray(_reduce_axes(_mp("_MAXIMUM") if largest else _mp("_MINIMUM"), x, axes, o.keepdim),
                              dtype=object)
        return _reduce_axes(np.maximum if largest else np.minimum, x, axes, o.keepdim)

    return kernel


def extremum_dims_switches(largest: bool):
    """As tensor_kernels.extremum_switches, over several dims: each element's lead over the rest of its slice."""
    def switches(x, o) -> list:
        axes = _axes(x, o, "amax" if largest else "amin")
        if not axes:
            return []
        keep = type(o)(tuple((name, True if name == "keepdim" else value) for name, value in o.items))
        top = extremum_dims(largest)(x, keep)
        with np.errstate(invalid="ignore"):
            lead = x - top if largest else top - x
            hits = lead == 0
            ties = np.count_nonzero(hits, axis=axes, keepdims=True) > 1
            np.copyto(lead, -np.inf, where=hits)
            runner = extremum_dims(True)(lead, keep)
            np.copyto(lead, np.where(ties, 0.0, -runner), where=hits)
        return [lead]

    return switches


def sum_dims_vjp(adj, node, shape_of):
    shape = shape_of(node.args[0])
    dims = reduced_dims(shape, node.attr.dim, "sum")
    return [_adjoint_kept(adj, node, dims, shape)]


def mean_dims_vjp(adj, node, shape_of):
    shape = shape_of(node.args[0])
    dims = reduced_dims(shape, node.attr.dim, "mean")
    count = math.prod(shape[d] for d in dims)
    return [_adjoint_kept(adj, node, dims, shape) / count]


def extremum_dims_vjp(adj, node, shape_of):
    """The adjoint split evenly between the elements that attain the extremum (as amax's)."""
    x, g = node.args[0], node.graph
    shape = shape_of(x)
    dims = reduced_dims(shape, node.attr.dim, node.op)
    hits = g.apply("eq", x, _adjoint_kept(node, node, dims, shape))
    total = _sum_kept(hits, dims, shape)
    return [hits * _adjoint_kept(adj, node, dims, shape) / total]
