"""Convolution and pooling as torch.nn.functional names them: conv1d, conv2d (stride, padding, dilation,
groups, an optional bias), avg_pool1d/2d and max_pool1d/2d, on batched (N, C, ...) or unbatched (C, ...) input;
and the internal pair they are built on, im2col (the windows of the input) and col2im (its adjoint).  Kernels,
shape rules and vjps in conv_kernels.py."""

from __future__ import annotations

import warnings

import numpy as np

from .. import conv_kernels as CK
from .record import OpSpec, Option, torch_module


def _functional():
    return torch_module().nn.functional


def _conv_options() -> tuple[Option, ...]:
    return (Option("bias", False, "tensor"), Option("stride", (1,), "ints"),
            Option("padding", (0,), "ints", choices=("valid", "same")), Option("dilation", (1,), "ints"),
            Option("groups", 1, "int"))


def _torch_conv(d: int):
    def build(x, w, *rest):
        *bias, o = rest
        padding = o.padding if isinstance(o.padding, str) else CK.per_dim(o.padding, d, "padding")
        with warnings.catch_warnings():  # padding='same' with an even kernel: torch warns that it pads a copy
            warnings.filterwarnings("ignore", message="Using padding='same'")
            return getattr(_functional(), f"conv{d}d")(x, w, bias[0] if bias else None,
                                                       CK.per_dim(o.stride, d, "stride"), padding,
                                                       CK.per_dim(o.dilation, d, "dilation"), o.groups)

    return build


def _pool_options(d: int, kind: str) -> tuple[Option, ...]:
    head = (Option("kernel_size", None, "ints"), Option("stride", None, "ints"), Option("padding", (0,), "ints"))
    if kind == "max":
        return head + (Option("dilation", (1,), "ints"), Option("ceil_mode", False, "bool"))
    tail = (Option("divisor_override", None, "int"),) if d == 2 else ()
    return head + (Option("ceil_mode", False, "bool"), Option("count_include_pad", True, "bool")) + tail


def _stride(o, d: int):
    return None if o.stride is None else CK.per_dim(o.stride, d, "stride")


def _torch_avg_pool(d: int):
    def build(x, o):
        args = (x, CK.per_dim(o.kernel_size, d, "kernel_size"), _stride(o, d), CK.per_dim(o.padding, d, "padding"),
                o.ceil_mode, o.count_include_pad)
        if d == 1:
            return _functional().avg_pool1d(*args)
        return _functional().avg_pool2d(*args, divisor_override=o.divisor_override)

    return build


def _torch_max_pool(d: int):
    def build(x, o):
        return getattr(_functional(), f"max_pool{d}d")(
            x, CK.per_dim(o.kernel_size, d, "kernel_size"), _stride(o, d), CK.per_dim(o.padding, d, "padding"),
            CK.per_dim(o.dilation, d, "dilation"), o.ceil_mode)

    return build


# ---- im2col and col2im in torch: F.unfold and F.fold on the lead dims flattened, in 2-D (1-D as height 1) ----


def _as_2d(windows: CK.Windows) -> CK.Windows:
    if windows.d == 2:
        return windows
    return CK.Windows((1,) + windows.kernel, (1,) + windows.stride, (0,) + windows.padding, (1,) + windows.dilation,
                      (1,) + windows.out)


def _padded(windows: CK.Windows, size: tuple) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The padding after each dim that makes the windows fit exactly, and the size with all the padding."""
    after = tuple(windows.extent(k) - p - n for k, (p, n) in enumerate(zip(windows.padding, size)))
    return after, tuple(p + n + a for p, n, a in zip(windows.padding, size, after))


def _torch_im2col(x, o):
    torch, functional = torch_module(), _functional()
    windows = CK.windows_of(o)
    d = windows.d
    lead, size = tuple(x.shape[:x.dim() - d]), tuple(x.shape[x.dim() - d:])
    flat = x.reshape((-1, 1) + (1,) * (2 - d) + size)
    flat_windows = _as_2d(windows)
    after, _ = _padded(flat_windows, flat.shape[2:])
    # negative padding after a dim crops what no window reaches
    flat = functional.pad(flat, (flat_windows.padding[1], after[1], flat_windows.padding[0], after[0]))
    columns = functional.unfold(flat, flat_windows.kernel, flat_windows.dilation, 0, flat_windows.stride)
    columns = columns.reshape((-1,) + flat_windows.kernel + flat_windows.out)
    return torch.movedim(columns, (1, 2), (3, 4)).reshape(lead + windows.out + windows.kernel)


def _torch_col2im(p, o):
    functional = _functional()
    windows = CK.windows_of(o)
    d = windows.d
    windows = windows.with_out(p.shape[p.dim() - 2 * d:p.dim() - d])
    size = CK.per_dim(o.size, d, "size")
    lead = tuple(p.shape[:p.dim() - 2 * d])
    flat_windows = _as_2d(windows)
    flat_size = (1,) * (2 - d) + size
    columns = p.reshape((-1,) + flat_windows.out + flat_windows.kernel)
    columns = columns.movedim((3, 4), (1, 2)).reshape(columns.shape[0], -1, flat_windows.out[0] * flat_windows.out[1])
    after, padded = _padded(flat_windows, flat_size)
    folded = functional.fold(columns, padded, flat_windows.kernel, flat_windows.dilation, 0, flat_windows.stride)
    folded = functional.pad(folded, (-flat_windows.padding[1], -after[1], -flat_windows.padding[0], -after[0]))
    return folded.reshape(lead + size)


_WINDOW_OPTIONS = (Option("kernel_size", None, "ints", keyword_only=True),
                   Option("stride", (1,), "ints", keyword_only=True),
                   Option("padding", (0,), "ints", keyword_only=True),
                   Option("dilation", (1,), "ints", keyword_only=True))

_CONV_DOC = ("torch.nn.functional.conv{d}d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1): "
             "input {x} or unbatched, weight {w}; padding also 'valid' or 'same'")
_AVG_DOC = ("torch.nn.functional.avg_pool{d}d(input, kernel_size, stride=None, padding=0, ceil_mode=False, "
            "count_include_pad=True{more}): the mean over each window")
_MAX_DOC = ("torch.nn.functional.max_pool{d}d(input, kernel_size, stride=None, padding=0, dilation=1, "
            "ceil_mode=False), values only: the largest element of each window; a tie in a window is a kink")

PADDING_ONLY = "a window lies entirely in the padding (its maximum is -inf, as torch gives it)"


def _windows_reach_the_input(d: int):
    """The domain of max_pool: every window holds an element of the input, not padding only."""
    kernel = CK.max_pool(d)

    def finite(x, options):
        return np.isfinite(kernel(np.asarray(x, dtype=np.float64)[np.newaxis], options))

    return finite


OPS = [
    *(OpSpec(f"conv{d}d", 2, CK.conv(d), _torch_conv(d), vjp=CK.conv_vjp(d), shape=CK.conv_shape(d),
             elementwise=False, attrs="options", options=_conv_options(), param_names=("input", "weight"),
             doc=_CONV_DOC.format(d=d, x="(N, C_in, L)" if d == 1 else "(N, C_in, H, W)",
                                  w="(C_out, C_in/groups, k)" if d == 1 else "(C_out, C_in/groups, kH, kW)"))
      for d in (1, 2)),
    *(OpSpec(f"avg_pool{d}d", 1, CK.avg_pool(d), _torch_avg_pool(d), vjp=CK.avg_pool_vjp(d),
             shape=CK.pool_shape(d, dilated=False), elementwise=False, attrs="options",
             options=_pool_options(d, "avg"), param_names=("input",),
             doc=_AVG_DOC.format(d=d, more=", divisor_override=None" if d == 2 else ""))
      for d in (1, 2)),
    *(OpSpec(f"max_pool{d}d", 1, CK.max_pool(d), _torch_max_pool(d), vjp=CK.max_pool_vjp(d),
             shape=CK.pool_shape(d, dilated=True), elementwise=False, analytic=False, attrs="options",
             options=_pool_options(d, "max"), kinks=CK.max_pool_switches(d), param_names=("input",),
             domain=_windows_reach_the_input(d), domain_text=PADDING_ONLY, doc=_MAX_DOC.format(d=d))
      for d in (1, 2)),
    OpSpec("im2col", 1, CK.im2col, _torch_im2col, vjp=CK.im2col_vjp, shape=CK.im2col_shape, elementwise=False,
           attrs="options", options=_WINDOW_OPTIONS + (Option("out", None, "ints", keyword_only=True),),
           internal=True,
           doc="the windows over the last len(kernel_size) dims of the zero-padded x, (..., *size) to "
               "(..., *out, *kernel_size): the patches convolution and pooling are built on (the adjoint of col2im)"),
    OpSpec("col2im", 1, CK.col2im, _torch_col2im, vjp=CK.col2im_vjp, shape=CK.col2im_shape, elementwise=False,
           attrs="options", options=_WINDOW_OPTIONS + (Option("size", None, "ints", keyword_only=True),),
           internal=True, param_names=("p",),
           doc="each window element of p (..., *out, *kernel_size) added back to the input position it came from, "
               "(..., *size), padding dropped: the adjoint of im2col"),
]
