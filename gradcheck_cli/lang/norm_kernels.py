"""Kernels, shape rules and vjps of the normalization layers (layer_norm, batch_norm, group_norm), as
torch.nn.functional names them.

Each op normalizes its input over some dims, `(x - mean) / sqrt(var + eps)` with the biased variance, then scales
by `weight` and shifts by `bias` where they are given (optional operands: tensor options, appended to the node's
arguments in option order).  layer_norm normalizes over its trailing `normalized_shape` dims and its weight has that
shape; batch_norm (training=True) over every dim but the channel dim 1, and group_norm over each group of
C/num_groups channels together with the dims after them; their weights have one entry per channel.  batch_norm with
training=False normalizes by the running statistics it is given instead.

Kernels receive arrays with a leading batch axis (user dim d is batched axis 1 + d) and work on object arrays of
mpmath numbers too (the high-precision referee runs them with a batch axis of one: `mp` below); every formula is
holomorphic (a square, not an absolute value), so the complex step applies.  The vjps build graph nodes: the
input's adjoint through the op's own normalized value (the same op without weight and bias), `variance`, `rsqrt`
and `mean_dims`, so that a derivative graph is linear in the size of the function's and has derivatives itself.
"""

from __future__ import annotations

import math

import numpy as np

PARAMETERS = ("weight", "bias")
RUNNING = ("running_mean", "running_var")


# ---- the geometry of each op: which dims it normalizes over, and how its weight lines up with the input ----


def _layer_dims(rank: int, o) -> tuple[int, ...]:
    return tuple(range(rank - len(o.normalized_shape), rank))


def _batch_dims(rank: int, o) -> tuple[int, ...]:
    return (0,) + tuple(range(2, rank))


def given_names(o, names=PARAMETERS + RUNNING) -> tuple[str, ...]:
    """The tensor options given in a node's attribute, in option order (that of OpSpec.present)."""
    return tuple(name for name, value in o.items if name in names and value is True)


def _channel_shape(rank: int) -> tuple[int, ...]:
    """Where a per-channel vector (C,) goes in a (N, C, *) input: (C, 1, ..., 1), broadcasting from the right."""
    return (-1,) + (1,) * (rank - 2)


# ---- batched kernels (numpy and object arrays) ----


def _sqrt(x):
    if np.asarray(x).dtype == object:
        from . import mp_kernels  # mpmath, only when the high-precision referee runs

        return mp_kernels.sqrt(np.asarray(x, dtype=object))
    return np.sqrt(x)


def _divide(a, b):
    """a / b; on object arrays mpmath's division as the registry's div has it (0/0 NaN, not ZeroDivisionError)."""
    if np.asarray(a).dtype == object or np.asarray(b).dtype == object:
        from . import mp_kernels

        return mp_kernels.div(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    return a / b


def _sum_kept(x, axes: tuple[int, ...]):
    for axis in axes:  # one axis at a time: object arrays reduce over one axis only
        x = np.sum(x, axis=axis, keepdims=True)
    return x


def _normalized(x, axes: tuple[int, ...], eps: float):
    """(x - mean) / sqrt(biased var + eps) over the batched `axes`."""
    count = math.prod(x.shape[a] for a in axes)
    centred = x - _sum_kept(x, axes) / count
    return _divide(centred, _sqrt(_sum_kept(centred * centred, axes) / count + eps))


def _lined_up(p, x_ndim: int, user_shape: tuple[int, ...]):
    """A batched parameter (batch, *shape) reshaped to (batch, *user_shape) padded with 1s in front to x's rank, so
    that it broadcasts against the batched input."""
    shape = tuple(p.shape[1:]) if user_shape == (-1,) else user_shape
    shape = tuple(p.shape[1] if n == -1 else n for n in shape)
    return p.reshape(p.shape[:1] + (1,) * (x_ndim - 1 - len(shape)) + shape)


def _affine(y, operands: dict, o, user_shape: tuple[int, ...]):
    if o.weight:
        y = y * _lined_up(operands["weight"], y.ndim, user_shape)
    if o.bias:
        y = y + _lined_up(operands["bias"], y.ndim, user_shape)
    return y


def _operands(args) -> tuple:
    *arrays, o = args
    return arrays[0], dict(zip(given_names(o), arrays[1:])), o


def layer_norm(*args):
    x, operands, o = _operands(args)
    rank = x.ndim - 1
    y = _normalized(x, tuple(1 + d for d in _layer_dims(rank, o)), o.eps)
    return _affine(y, operands, o, tuple(o.normalized_shape))


def batch_norm(*args):
    x, operands, o = _operands(args)
    rank = x.ndim - 1
    if o.training:
        y = _normalized(x, tuple(1 + d for d in _batch_dims(rank, o)), o.eps)
    else:
        mean = _lined_up(operands["running_mean"], x.ndim, _channel_shape(rank))
        var = _lined_up(operands["running_var"], x.ndim, _channel_shape(rank))
        y = _divide(x - mean, _sqrt(var + o.eps))
    return _affine(y, operands, o, _channel_shape(rank))


def group_norm(*args):
    x, operands, o = _operands(args)
    grouped = x.reshape(x.shape[:2] + (o.num_groups, -1))
    y = _normalized(grouped, (3,), o.eps).reshape(x.shape)
    return _affine(y, operands, o, _channel_shape(x.ndim - 1))


def mp(kernel):
    """The kernel on unbatched object arrays of mpmath numbers (OpSpec.mp): a batch axis of one put on and off."""
    def call(*args):
        *arrays, o = args
        return kernel(*(np.asarray(a, dtype=object)[np.newaxis] for a in arrays), o)[0]

    call.__name__ = f"mp_{kernel.__name__}"
    return call


# ---- shape rules (plain shapes; ValueError for the user, prefixed with the op's name by the caller) ----


def _check_parameters(shapes: dict, wanted: tuple, what: str) -> None:
    for name, shape in shapes.items():
        if tuple(shape) != wanted:
            raise ValueError(f"{name} has shape {tuple(shape)}; it must be {what}, {wanted}")


def _split_shapes(args) -> tuple[tuple, dict, object]:
    *shapes, o = args
    return tuple(shapes[0]), dict(zip(given_names(o), shapes[1:])), o


def layer_norm_shape(*args) -> tuple:
    x, given, o = _split_shapes(args)
    if o.normalized_shape is None:
        raise ValueError("normalized_shape is required: layer_norm(x, (4,)) normalizes over the last dim, of size 4")
    normalized = tuple(o.normalized_shape)
    if any(n <= 0 for n in normalized):
        raise ValueError(f"normalized_shape {normalized} must have positive sizes")
    if len(normalized) > len(x) or x[len(x) - len(normalized):] != normalized:
        raise ValueError(f"normalized_shape {normalized} does not match the last dims of the input, of shape {x}")
    _check_parameters(given, normalized, "normalized_shape")
    return x


def _channels(x: tuple) -> int:
    if len(x) < 2:
        raise ValueError(f"the input must have shape (N, C, ...), with a channel dim 1; got shape {x}")
    return x[1]


def batch_norm_shape(*args) -> tuple:
    x, given, o = _split_shapes(args)
    channels = _channels(x)
    running = [name for name in RUNNING if name in given]
    if len(running) == 1:
        raise ValueError("give both running_mean and running_var, or neither (None)")
    if not o.training and not running:
        raise ValueError("with training=False (evaluation mode) it normalizes by running_mean and running_var, "
                         "which are None here; for the batch's own statistics write training=True: "
                         "batch_norm(x, None, None, weight, bias, training=True)")
    if o.training and math.prod(x) // max(channels, 1) <= 1:
        raise ValueError(f"training=True needs more than one value per channel, got input of shape {x}")
    _check_parameters(given, (channels,), "one per channel of the input")
    return x


def group_norm_shape(*args) -> tuple:
    x, given, o = _split_shapes(args)
    channels = _channels(x)
    if o.num_groups is None or o.num_groups <= 0:
        raise ValueError("num_groups must be a positive integer: group_norm(x, 2)")
    if channels % o.num_groups:
        raise ValueError(f"{channels} channels cannot be split into num_groups={o.num_groups} groups: C must be "
                         "divisible by num_groups")
    _check_parameters(given, (channels,), "one per channel of the input")
    return x


# ---- domains: where var + eps (or running_var + eps) is positive ----


def _positive(values, eps: float):
    with np.errstate(all="ignore"):
        return np.asarray(values + eps > 0)


def _unbatched(x, axes):
    x = np.asarray(x)[np.newaxis]
    count = math.prod(x.shape[a] for a in axes)
    centred = x - _sum_kept(x, axes) / count
    return _sum_kept(centred * centred, axes)[0] / count


def layer_norm_domain(*args):
    x, o = np.asarray(args[0]), args[-1]
    if o.eps > 0:
        return np.True_
    return _positive(_unbatched(x, tuple(1 + d for d in _layer_dims(x.ndim, o))), o.eps)


def batch_norm_domain(*args):
    x, o = np.asarray(args[0]), args[-1]
    if o.training:
        return np.True_ if o.eps > 0 else _positive(_unbatched(x, tuple(1 + d for d in _batch_dims(x.ndim, o))),
                                                    o.eps)
    return _positive(np.asarray(dict(zip(given_names(o), args[1:-1]))["running_var"]), o.eps)


def group_norm_domain(*args):
    x, o = np.asarray(args[0]), args[-1]
    if o.eps > 0:
        return np.True_
    return _positive(_unbatched(x.reshape(x.shape[:1] + (o.num_groups, -1)), (2,)), o.eps)


# ---- vjp rules: (adjoint, node, shape_of) -> one adjoint per argument ----


def _options(op: str, **given):
    from .ops import OPS  # the registry imports this module: its records, on first use

    return OPS[op].with_options(given)


def _without(o, names: tuple[str, ...]):
    """The node's options with the tensor options `names` left out (absent)."""
    from .ops.record import Options

    return Options(tuple((name, False if name in names else value) for name, value in o.items))


def _mean_kept(t, dims):
    return t.graph.apply("mean_dims", t, attr=_options("mean_dims", dim=dims, keepdim=True))


def _normalized_vjp(adj, x, normalized, dims, eps):
    """The adjoint of x through y = (x - mean) * r, r = rsqrt(var + eps) over `dims`, given y's adjoint `adj` and y:
    r * (adj - mean(adj) - y * mean(adj * y))."""
    g = x.graph
    var = g.apply("variance", x, attr=_options("variance", dim=dims, correction=0, keepdim=True))
    r = g.apply("rsqrt", var + eps)
    return r * (adj - _mean_kept(adj, dims) - normalized * _mean_kept(adj * normalized, dims))


def _reduced_to(t, p, lined_up_shape: tuple[int, ...] | None, shape_of):
    """t (the input's shape) summed down to parameter p's shape, p first lined up as `lined_up_shape`."""
    g = t.graph
    like = p if lined_up_shape is None else g.apply("reshape", p, attr=lined_up_shape)
    summed = t if shape_of(t) == shape_of(like) else g.apply("sum_to", t, like)
    return summed if like is p else g.apply("reshape", summed, attr=shape_of(p))


def _lined_up_node(p, shape: tuple[int, ...] | None):
    return p if shape is None else p.graph.apply("reshape", p, attr=shape)


def normalization_vjp(adj, node, shape_of):
    """The three ops' rule.  With y the normalized value (the same op without weight and bias): weight's adjoint
    is adj * y and bias's adj, each summed to the parameter's shape; the input's is the normalization's rule applied
    to adj * weight.  batch_norm in evaluation mode is affine in x: (x - running_mean) * rsqrt(running_var + eps);
    in training mode its running statistics do not enter the value, and their adjoint is 0."""
    g, o = node.graph, node.attr
    x = node.args[0]
    given = dict(zip(given_names(o), node.args[1:]))
    shape = shape_of(x)
    lined = None if node.op == "layer_norm" or len(shape) == 2 else (shape[1],) + (1,) * (len(shape) - 2)
    evaluation = node.op == "batch_norm" and not o.training
    used = RUNNING if evaluation else ()
    normalized = g.apply(node.op, x, *(given[name] for name in used),
                         attr=_without(o, PARAMETERS + tuple(n for n in RUNNING if n not in used)))
    adjoints = {name: g.const(0.0) for name in RUNNING if name in given}
    if o.weight:
        adjoints["weight"] = _reduced_to(adj * normalized, given["weight"], lined, shape_of)
    if o.bias:
        adjoints["bias"] = _reduced_to(adj, given["bias"], lined, shape_of)
    if o.weight:
        adj = adj * _lined_up_node(given["weight"], lined)
    if evaluation:
        scale = g.apply("rsqrt", _lined_up_node(given["running_var"], lined) + o.eps)
        adjoints["running_mean"] = _reduced_to(-(adj * scale), given["running_mean"], lined, shape_of)
        adjoints["running_var"] = _reduced_to(adj * normalized * scale * scale * -0.5, given["running_var"], lined,
                                              shape_of)
        adjoints["input"] = adj * scale
    elif node.op == "group_norm":
        grouped = shape[:1] + (o.num_groups, -1)
        view = lambda t: g.apply("reshape", t, attr=grouped)  # noqa: E731
        adjoints["input"] = g.apply("reshape", _normalized_vjp(view(adj), view(x), view(normalized), (2,), o.eps),
                                    attr=shape)
    else:
        dims = _layer_dims(len(shape), o) if node.op == "layer_norm" else _batch_dims(len(shape), o)
        adjoints["input"] = _normalized_vjp(adj, x, normalized, dims, o.eps)
    return [adjoints["input"]] + [adjoints[name] for name in given]
