"""The machinery behind the convolution and pooling ops of the registry (lang/ops/convolution.py): sliding windows,
batched numpy kernels, shape rules, switching functions and vjp rules.

Everything rests on one pair of linear maps over the last d dims of a tensor (d = 1 or 2):

- `patches` (the internal op `im2col`): every window of the zero-padded input, x (..., *size) to
  (..., *out, *kernel_size), window o's element k at input position o*stride + k*dilation - padding;
- `unpatches` (`col2im`), its adjoint: each window element added back to the input position it came from, so
  overlapping windows accumulate and padding is dropped.

Each is the other's vjp.  A convolution is then an einsum of the patches with the weight, average pooling their
mean over the window, max pooling their maximum; the vjps are einsums, reshapes, sums and `col2im`/`im2col`
nodes, a fixed number per op, so the derivative graph stays linear in the size of the function's graph and
differentiates again (second order).

Kernels receive arrays with a leading batch axis (plan.py); the batch axis of one argument may be 1 where the
other's is not (finite differences perturb one of them).  They use slicing, sums and einsum only, so they run
unchanged on complex arrays (the complex step: convolution and average pooling are linear) and on object arrays
of mpmath numbers (the high-precision referee).  Shape rules see plain shapes and raise ValueError with words
like torch's; the shape checker puts the op's name in front.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tensor_kernels import extremum_switches

# ---- windows ----


@dataclass(frozen=True)
class Windows:
    """Sliding windows over the last d dims: their size, stride, padding before each dim (after it: as much as
    the windows need), dilation, and how many fit along each dim (`out`)."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    out: tuple[int, ...]

    @property
    def d(self) -> int:
        return len(self.kernel)

    def extent(self, k: int) -> int:
        """The input length the windows along dim k cover, padding included."""
        return (self.out[k] - 1) * self.stride[k] + self.dilation[k] * (self.kernel[k] - 1) + 1

    def with_out(self, out: tuple) -> Windows:
        return Windows(self.kernel, self.stride, self.padding, self.dilation, tuple(out))

    def options(self, **more) -> dict:
        """The options of im2col (more: out=...) and col2im (more: size=...) for these windows."""
        return {"kernel_size": self.kernel, "stride": self.stride, "padding": self.padding,
                "dilation": self.dilation, **more}


def per_dim(value, d: int, name: str) -> tuple[int, ...]:
    """An int option as d values: (v,) for every dim, or one value per dim."""
    value = tuple(value)
    if len(value) == 1:
        return value * d
    if len(value) != d:
        raise ValueError(f"{name} must be an integer or a tuple of {d} integers, got {_text(value)}")
    return value


def _text(values: tuple) -> str:
    return str(values[0]) if len(values) == 1 else "(" + ", ".join(map(str, values)) + ")"


def _positive(values: tuple, name: str) -> None:
    if any(v <= 0 for v in values):
        raise ValueError(f"{name} must be positive, got {_text(values)}")


def _non_negative(values: tuple, name: str) -> None:
    if any(v < 0 for v in values):
        raise ValueError(f"{name} must not be negative, got {_text(values)}")


def windows_of(o) -> Windows:
    """The windows an im2col or col2im node's options describe.  col2im has no `out` option (the shape of its
    argument says it): its windows come with out (1, ...), to be replaced (`Windows.with_out`)."""
    if o.kernel_size is None:
        raise ValueError("kernel_size is required")
    d = len(o.kernel_size)
    kernel, stride = o.kernel_size, per_dim(o.stride, d, "stride")
    padding, dilation = per_dim(o.padding, d, "padding"), per_dim(o.dilation, d, "dilation")
    _positive(kernel, "kernel_size")
    _positive(stride, "stride")
    _positive(dilation, "dilation")
    _non_negative(padding, "padding")
    out = per_dim(o.out, d, "out") if getattr(o, "out", None) is not None else (1,) * d
    _positive(out, "out")
    return Windows(kernel, stride, padding, dilation, out)


def _spatial(shape: tuple, d: int, what: str) -> tuple[int, ...]:
    if len(shape) < d:
        raise ValueError(f"{what} needs at least {d} dims (the last {d} are slid over), got shape {shape}")
    return tuple(shape[len(shape) - d:])


# ---- the two linear maps: patches (im2col) and their adjoint (col2im) ----


def _padded_lengths(size: tuple, windows: Windows) -> tuple[int, ...]:
    return tuple(max(p + n, windows.extent(k)) for k, (p, n) in enumerate(zip(windows.padding, size)))


def _window_items(windows: Windows, offsets: tuple) -> tuple:
    """The slices that pick, from the padded input, element `offsets` of every window."""
    return (Ellipsis,) + tuple(slice(k * dl, k * dl + (n - 1) * s + 1, s) for k, dl, n, s in
                               zip(offsets, windows.dilation, windows.out, windows.stride))


def _like(x, value: float):
    """`value` as an element of x: on object arrays an mpmath number of x's kind (mpf, or mpc in the complex step),
    so that padding never leaves a float among them."""
    return x.flat[0] * 0 + value if x.dtype == object and x.size else value


def patches(x, windows: Windows, fill=0.0):
    """Every window of x over its last d dims, padded with `fill`: (..., *size) -> (..., *out, *kernel)."""
    d = windows.d
    lead, size = x.shape[:x.ndim - d], x.shape[x.ndim - d:]
    padded = np.full(lead + _padded_lengths(size, windows), _like(x, fill), dtype=x.dtype)
    padded[(Ellipsis,) + tuple(slice(p, p + n) for p, n in zip(windows.padding, size))] = x
    pieces = [padded[_window_items(windows, offsets)] for offsets in np.ndindex(*windows.kernel)]
    return np.stack(pieces, axis=-1).reshape(lead + windows.out + windows.kernel)


def unpatches(p, size: tuple, windows: Windows):
    """The adjoint of `patches`: each window element added to the input position it was taken from (padding
    dropped): (..., *out, *kernel) -> (..., *size)."""
    d = windows.d
    lead = p.shape[:p.ndim - 2 * d]
    padded = np.full(lead + _padded_lengths(size, windows), _like(p, 0.0), dtype=p.dtype)
    for offsets in np.ndindex(*windows.kernel):
        padded[_window_items(windows, offsets)] += p[(Ellipsis,) + offsets]
    return padded[(Ellipsis,) + tuple(slice(q, q + n) for q, n in zip(windows.padding, size))]


def im2col(x, o):
    return patches(x, windows_of(o))


def col2im(p, o):
    windows = windows_of(o)
    d = windows.d
    return unpatches(p, per_dim(o.size, d, "size"), windows.with_out(p.shape[p.ndim - 2 * d:p.ndim - d]))


def im2col_shape(x: tuple, o) -> tuple:
    windows = windows_of(o)
    if o.out is None:
        raise ValueError("out (the number of windows along each dim) is required")
    _spatial(x, windows.d, "the input")
    return tuple(x[:len(x) - windows.d]) + windows.out + windows.kernel


def col2im_shape(p: tuple, o) -> tuple:
    windows = windows_of(o)
    d = windows.d
    if o.size is None:
        raise ValueError("size (the input's size along each dim) is required")
    if len(p) < 2 * d or tuple(p[len(p) - d:]) != windows.kernel:
        raise ValueError(f"the patches must end with the kernel_size {windows.kernel}, got shape {p}")
    size = per_dim(o.size, d, "size")
    _positive(size, "size")
    return tuple(p[:len(p) - 2 * d]) + size


def im2col_vjp(adj, node, shape_of):
    windows = windows_of(node.attr)
    size = shape_of(node.args[0])[-windows.d:]
    return [_apply(adj.graph, "col2im", adj, **windows.options(size=size))]


def col2im_vjp(adj, node, shape_of):
    windows = windows_of(node.attr)
    out = shape_of(node.args[0])[-2 * windows.d:-windows.d]
    return [_apply(adj.graph, "im2col", adj, **windows.options(out=out))]


def _apply(graph, op: str, *args, **options):
    from .ops import OPS

    return graph.apply(op, *args, attr=OPS[op].with_options(options))


# ---- convolution ----


@dataclass(frozen=True)
class ConvShapes:
    """A convolution's parts: lead () or (N,), channels in and out, groups, input size and windows."""

    lead: tuple[int, ...]
    channels: int
    out_channels: int
    groups: int
    size: tuple[int, ...]
    windows: Windows

    @property
    def per_group(self) -> tuple[int, int]:
        """(input channels, output channels) of one group."""
        return self.channels // self.groups, self.out_channels // self.groups


def conv_shapes(d: int, x: tuple, w: tuple, o) -> ConvShapes:
    """Checks a conv{d}d call as torch does, with messages like torch's."""
    if len(x) not in (d + 1, d + 2):
        raise ValueError(f"expected a {d + 1}-D (unbatched) or {d + 2}-D (batched) input, got shape {tuple(x)}")
    if len(w) != d + 2:
        dims = "k" if d == 1 else "kH, kW"
        raise ValueError(f"the weight must be {d + 2}-D (out_channels, in_channels/groups, {dims}), got shape "
                         f"{tuple(w)}")
    if o.groups <= 0:
        raise ValueError(f"groups must be a positive integer, got {o.groups}")
    lead, channels, size = tuple(x[:len(x) - d - 1]), x[len(x) - d - 1], tuple(x[len(x) - d:])
    out_channels, kernel = w[0], tuple(w[2:])
    if out_channels % o.groups:
        raise ValueError(f"groups={o.groups} must divide the weight's {out_channels} output channels (its dim 0)")
    if w[1] * o.groups != channels:
        raise ValueError(f"groups={o.groups} and a weight of shape {tuple(w)} expect {w[1] * o.groups} input channels, "
                         f"but the input of shape {tuple(x)} has {channels}")
    _positive(kernel, "each kernel size")
    stride, dilation = per_dim(o.stride, d, "stride"), per_dim(o.dilation, d, "dilation")
    _positive(stride, "stride")
    _positive(dilation, "dilation")
    if o.padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        # torch pads (dilation*(k - 1))//2 before and the rest after
        padding = tuple(dl * (k - 1) // 2 for dl, k in zip(dilation, kernel))
        out = size
    else:
        padding = (0,) * d if o.padding == "valid" else per_dim(o.padding, d, "padding")
        _non_negative(padding, "padding")
        spans = tuple(dl * (k - 1) + 1 for dl, k in zip(dilation, kernel))
        padded = tuple(n + 2 * p for n, p in zip(size, padding))
        if any(span > n for span, n in zip(spans, padded)):
            raise ValueError(f"the padded input size per channel {_sizes(padded)} is smaller than the (dilated) "
                             f"kernel size {_sizes(spans)}: the kernel cannot be larger than the input")
        out = tuple((n - span) // s + 1 for n, span, s in zip(padded, spans, stride))
    return ConvShapes(lead, channels, out_channels, o.groups, size,
                      Windows(kernel, stride, padding, dilation, out))


def _sizes(values: tuple) -> str:
    return "(" + " x ".join(map(str, values)) + ")"


def conv_shape(d: int):
    def shape(x: tuple, w: tuple, *rest) -> tuple:
        *bias, o = rest
        parts = conv_shapes(d, x, w, o)
        if bias and tuple(bias[0]) != (parts.out_channels,):
            raise ValueError(f"the bias must have shape ({parts.out_channels},), one value per output channel, got "
                             f"shape {tuple(bias[0])}")
        return parts.lead + (parts.out_channels,) + parts.windows.out

    return shape


_OUT, _KERNEL = {1: "l", 2: "hw"}, {1: "i", 2: "ij"}


def conv(d: int):
    """conv{d}d's batched kernel: the patches of x (grouped) contracted with the weight, plus the bias."""

    def kernel(x, w, *rest):
        *bias, o = rest
        parts = conv_shapes(d, x.shape[1:], w.shape[1:], o)
        lead, groups = x.shape[:1] + parts.lead, parts.groups
        cg, og = parts.per_group
        spots, window = parts.windows.out, parts.windows.kernel
        grouped = patches(x, parts.windows).reshape(lead + (groups, cg) + spots + window)
        weight = w.reshape(w.shape[:1] + (1,) * len(parts.lead) + (groups, og, cg) + window)
        s, k = _OUT[d], _KERNEL[d]
        y = np.einsum(f"...gc{s}{k},...gdc{k}->...gd{s}", grouped, weight)
        y = y.reshape(y.shape[:1] + parts.lead + (parts.out_channels,) + spots)  # the batch of x or of w
        if bias:
            b = bias[0]
            y = y + b.reshape(b.shape[:1] + (1,) * len(parts.lead) + (parts.out_channels,) + (1,) * d)
        return y

    return kernel


def conv_vjp(d: int):
    """The adjoints of input, weight (and bias): for the input the adjoint of each window element, an einsum of
    the output's adjoint with the weight, added back by col2im; for the weight an einsum of the patches with the
    output's adjoint; for the bias the output's adjoint summed over all but the channel dim."""

    def vjp(adj, node, shape_of):
        g = adj.graph
        x, w = node.args[:2]
        parts = conv_shapes(d, shape_of(x), shape_of(w), node.attr)
        groups, (cg, og), windows = parts.groups, parts.per_group, parts.windows
        lead, spots, window = parts.lead, windows.out, windows.kernel
        n, s, k = "n" * len(lead), _OUT[d], _KERNEL[d]

        def reshaped(node_, shape):
            return node_ if shape_of(node_) == shape else g.apply("reshape", node_, attr=shape)

        def einsum(a, b, equation):
            return _apply(g, "einsum", a, b, equation=equation)

        grouped_adj = reshaped(adj, lead + (groups, og) + spots)
        grouped_w = reshaped(w, (groups, og, cg) + window)
        grouped_patches = reshaped(_apply(g, "im2col", x, **windows.options(out=spots)),
                                   lead + (groups, cg) + spots + window)
        window_adj = einsum(grouped_adj, grouped_w, f"{n}gd{s},gdc{k}->{n}gc{s}{k}")
        x_adj = _apply(g, "col2im", reshaped(window_adj, lead + (parts.channels,) + spots + window),
                       **windows.options(size=parts.size))
        w_adj = reshaped(einsum(grouped_patches, grouped_adj, f"{n}gc{s}{k},{n}gd{s}->gdc{k}"), shape_of(w))
        if not node.attr.bias:
            return [x_adj, w_adj]
        others = tuple(i for i in range(len(lead) + 1 + d) if i != len(lead))
        return [x_adj, w_adj, _apply(g, "sum_dims", adj, dim=others, keepdim=False)]

    return vjp


# ---- pooling ----


def pool_windows(d: int, x: tuple, o, dilated: bool) -> Windows:
    """Checks an avg_pool/max_pool call as torch does; the windows, `out` from torch's pooling_output_shape."""
    if len(x) not in (d + 1, d + 2):
        raise ValueError(f"expected a {d + 1}-D (unbatched) or {d + 2}-D (batched) input, got shape {tuple(x)}")
    if o.kernel_size is None:
        raise ValueError("kernel_size is required (the size of the window)")
    kernel = per_dim(o.kernel_size, d, "kernel_size")
    stride = kernel if o.stride is None else per_dim(o.stride, d, "stride")
    padding = per_dim(o.padding, d, "padding")
    dilation = per_dim(o.dilation, d, "dilation") if dilated else (1,) * d
    _positive(kernel, "kernel_size")
    _positive(stride, "stride")
    _positive(dilation, "dilation")
    _non_negative(padding, "padding")
    spans = tuple(dl * (k - 1) + 1 for dl, k in zip(dilation, kernel))
    for p, span, k, dl in zip(padding, spans, kernel, dilation):
        if 2 * p > (span if dilated else k):
            raise ValueError(f"pad should be at most half of {'effective ' if dilated else ''}kernel size, but got "
                             f"pad={p}, kernel_size={k}" + (f" and dilation={dl}" if dilated else ""))
    size = tuple(x[len(x) - d:])
    out = []
    for n, p, span, s in zip(size, padding, spans, stride):
        count = (n + 2 * p - span + ((s - 1) if o.ceil_mode else 0)) // s + 1
        if o.ceil_mode and (count - 1) * s >= n + p:  # the last window must start inside the input or left padding
            count -= 1
        out.append(count)
    if any(c < 1 for c in out):
        raise ValueError(f"the input of size {_sizes(size)} gives an output of size {_sizes(tuple(out))}: output size "
                         f"is too small")
    return Windows(kernel, stride, padding, dilation, tuple(out))


def pool_shape(d: int, dilated: bool):
    def shape(x: tuple, o) -> tuple:
        windows = pool_windows(d, x, o, dilated)
        if getattr(o, "divisor_override", None) == 0:
            raise ValueError("divisor_override must not be zero")
        return tuple(x[:len(x) - d]) + windows.out

    return shape


def _window_axes(d: int) -> tuple[int, ...]:
    return tuple(range(-d, 0))


def _counts(n: int, k: int, s: int, p: int, out: int, include_pad: bool) -> np.ndarray:
    """Per window along one dim, how many of its elements the average divides by (torch's avg_pool): those inside
    the padded input (include_pad) or inside the input itself."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


def divisors(size: tuple, windows: Windows, o):
    """What each window's sum is divided by: divisor_override, or a (*out) array of counts (a number where all
    windows divide by the same)."""
    override = getattr(o, "divisor_override", None)
    if override is not None:
        return float(override)
    per_dim_counts = [_counts(n, k, s, p, out, o.count_include_pad) for n, k, s, p, out in
                      zip(size, windows.kernel, windows.stride, windows.padding, windows.out)]
    total = per_dim_counts[0]
    for counts in per_dim_counts[1:]:
        total = np.multiply.outer(total, counts)
    return float(total.flat[0]) if np.all(total == total.flat[0]) else total.astype(np.float64)


def avg_pool(d: int):
    def kernel(x, o):
        windows = pool_windows(d, x.shape[1:], o, dilated=False)
        sums = np.sum(patches(x, windows), axis=_window_axes(d))
        return sums / divisors(x.shape[x.ndim - d:], windows, o)

    return kernel


def avg_pool_vjp(d: int):
    """Each window's adjoint divided by its divisor and spread over the window (col2im); the divisors, where they
    differ between windows, a constant subgraph: im2col of ones, summed over the window."""

    def vjp(adj, node, shape_of):
        g, o = adj.graph, node.attr
        shape = shape_of(node.args[0])
        size = shape[-d:]
        windows = pool_windows(d, shape, o, dilated=False)
        divisor = divisors(size, windows, o)
        if not isinstance(divisor, float):
            if o.count_include_pad:  # positions in the padding count, those beyond it (ceil_mode) do not
                ones = g.apply("ones", attr=tuple(n + 2 * p for n, p in zip(size, windows.padding)))
                counted = _apply(g, "im2col", ones, **{**windows.options(out=windows.out), "padding": (0,) * d})
            else:
                ones = g.apply("ones", attr=size)
                counted = _apply(g, "im2col", ones, **windows.options(out=windows.out))
            divisor = _apply(g, "sum_dims", counted, dim=_window_axes(d), keepdim=False)
        spread = g.apply("reshape", adj / divisor, attr=shape_of(node) + (1,) * d) * g.apply("ones",
                                                                                           attr=windows.kernel)
        return [_apply(g, "col2im", spread, **windows.options(size=size))]

    return vjp


def max_pool(d: int):
    def kernel(x, o):
        windows = pool_windows(d, x.shape[1:], o, dilated=True)
        return np.max(patches(x, windows, fill=-np.inf), axis=_window_axes(d))

    return kernel


def max_pool_switches(d: int):
    """max_pool's switching functions (OpSpec.kinks): per window element, amax's lead over the rest of its window
    (padding -inf, never the maximum): 0 at each element of a tie, so a tie is a kink."""

    def switches(x, o):
        windows = pool_windows(d, x.shape[1:], o, dilated=True)
        found = patches(x, windows, fill=-np.inf)
        return extremum_switches(found.reshape(found.shape[:found.ndim - d] + (-1,)), (-1,), largest=True)

    return switches


def max_pool_vjp(d: int):
    """The adjoint of each window goes to the elements that attain its maximum (split evenly between tied ones,
    as amax does; a tie is a kink), added back by col2im.  The elements are found with eq against the patches;
    where padding could be mistaken for the maximum (zeros in im2col), a mask of im2col(ones) leaves it out."""

    def vjp(adj, node, shape_of):
        g, x = adj.graph, node.args[0]
        shape = shape_of(x)
        size = shape[-d:]
        windows = pool_windows(d, shape, node.attr, dilated=True)
        im2col_options = windows.options(out=windows.out)
        kept = shape_of(node) + (1,) * d
        hits = g.apply("eq", _apply(g, "im2col", x, **im2col_options), g.apply("reshape", node, attr=kept))
        if any(p or windows.extent(k) > n for k, (p, n) in enumerate(zip(windows.padding, size))):
            hits = hits * _apply(g, "im2col", g.apply("ones", attr=size), **im2col_options)
        count = _apply(g, "sum_dims", hits, dim=_window_axes(d), keepdim=True)
        share = hits * (g.apply("reshape", adj, attr=kept) / count)
        return [_apply(g, "col2im", share, **windows.options(size=size))]

    return vjp

