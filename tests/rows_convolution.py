"""Registry rows of the convolution family (gradcheck_cli/lang/ops/convolution.py), as
tests/test_ops_registry.py reads them (more in tests/test_convolution_family.py: Hessians, ties, shape errors).

The values are distinct multiples of 1/4 (`grid`): products and sums of them are exact in float64, so torch's
kernels and ours agree to the last bit whatever order they add in, and no window of max_pool holds a tie (ties are
forward only: they are kinks)."""

from __future__ import annotations

import math

import numpy as np
from op_rows import At, C, Row, opts


def grid(*shape: int, seed: int = 0) -> list:
    """Distinct multiples of 1/4 around 0, shuffled (a fixed permutation per seed), as nested lists."""
    n = math.prod(shape)
    return ((np.random.default_rng(seed).permutation(n) - n // 2) * 0.25).reshape(shape).tolist()


# conv1d: batched (N, C, L), unbatched (C, L); weights (C_out, C_in/groups, k)
X125, X25, X145 = grid(1, 2, 5, seed=1), grid(2, 5, seed=2), grid(1, 4, 5, seed=3)
X225 = grid(2, 2, 5, seed=4)
W322, W323, W423, W413 = grid(3, 2, 2, seed=5), grid(3, 2, 3, seed=6), grid(4, 2, 3, seed=7), grid(4, 1, 3, seed=8)
B3, B2, B4 = [0.75, -0.5, 1.5], [0.5, -1.25], [-0.25, 1.0, 0.5, -1.5]
# conv2d: (N, C, H, W), (C, H, W); weights (C_out, C_in/groups, kH, kW)
X1244, X1245, X1433, X243 = grid(1, 2, 4, 4, seed=9), grid(1, 2, 4, 5, seed=10), grid(1, 4, 3, 3, seed=11), \
    grid(2, 4, 3, seed=12)
W2233, W2222, W4122 = grid(2, 2, 3, 3, seed=13), grid(2, 2, 2, 2, seed=14), grid(4, 1, 2, 2, seed=15)
# pooling inputs
P236, P35, P226, P25 = grid(2, 3, 6, seed=16), grid(3, 5, seed=17), grid(2, 2, 6, seed=18), grid(2, 5, seed=19)
P1245, P1244, P234 = grid(1, 2, 4, 5, seed=20), grid(1, 2, 4, 4, seed=21), grid(2, 3, 4, seed=22)
# windows with a tie (two equal maxima): kinks of max_pool, forward only
TIED1 = [[[1.0, 1.0, -0.5, 2.0]]]
TIED2 = [[[[0.5, 2.0], [2.0, -1.0]]]]


def _conv(**given):
    return opts("conv1d", **given)


def _conv2(**given):
    return opts("conv2d", **given)


ROWS: dict[str, Row] = {
    "conv1d": Row(("x", "w"), [At((X125, W322), _conv()),
                               At((X225, W322), _conv(stride=(2,), padding=(1,), dilation=(2,))),
                               At((X25, W323), _conv(padding="same")),
                               At((X145, W423), _conv(groups=2, padding=(1,))),
                               At((X145, W413), _conv(groups=4, padding="same", dilation=(2,))),
                               At((X225, W322), _conv(padding="same"))],
                  [At((X225, W322), _conv(padding="valid", stride=(3,))),
                   At((X25, W322), _conv(stride=(2,), padding=(2,)))],
                  checks=[C("sum(conv1d(x, w)*v)", x=X225, w=W322, v=grid(2, 3, 4, seed=30)),
                          C("sum(conv1d(x, w, stride=2, padding=1, dilation=2)**2)", x=X225, w=W322),
                          C("sum(conv1d(x, w, padding=1)*v)", x=X25, w=W323, v=grid(3, 5, seed=31)),
                          C("sum(conv1d(x, w, None, 1, 1, 1, 2)**2)", x=X145, w=W423),
                          C("sum(conv1d(x, w, groups=4, padding=2, dilation=2)*v)", x=X145, w=W413,
                            v=grid(1, 4, 5, seed=32)),
                          C("sum(conv1d(x, w, stride=3)*v)", x=X225, w=W322, v=grid(2, 3, 2, seed=33)),
                          # the bias (an optional operand), padding='same'
                          C("sum(conv1d(x, w, b, stride=2, padding=1, dilation=2)**2)", x=X225, w=W322, b=B3),
                          C("sum(conv1d(x, w, bias=b, padding='same')*v)", x=X25, w=W323, b=B3, v=grid(3, 5, seed=48)),
                          C("sum(conv1d(x, w, None, 1, 'same', 2, 4)**2)", x=X145, w=W413),
                          C("sum(conv1d(x, w, padding='same')*v)", x=X225, w=W322, v=grid(2, 3, 5, seed=49))],
                  text="conv1d(x, w)"),
    "conv2d": Row(("x", "w"), [At((X1244, W2233), _conv2(padding=(1,))),
                               At((X1245, W2222), _conv2(stride=(2, 1), dilation=(1, 2))),
                               At((X1433, W4122), _conv2(groups=4)),
                               At((X243, W2222), _conv2(padding="same"))],
                  [At((X1244, W2233), _conv2(padding="valid")),
                   At((X1245, W2222), _conv2(padding=(1, 0), stride=(3,)))],
                  checks=[C("sum(conv2d(x, w, padding=1)*v)", x=X1244, w=W2233, v=grid(1, 2, 4, 4, seed=34)),
                          C("sum(conv2d(x, w, stride=(2, 1), dilation=(1, 2))**2)", x=X1245, w=W2222),
                          C("sum(conv2d(x, w, groups=4)*v)", x=X1433, w=W4122, v=grid(1, 4, 2, 2, seed=35)),
                          C("sum(conv2d(x, w, padding=(1, 0))**2)", x=X243, w=W2222),
                          C("sum(conv2d(x, w, b, padding=1)*v)", x=X1244, w=W2233, b=B2, v=grid(1, 2, 4, 4, seed=50)),
                          C("sum(conv2d(x, w, bias=b, groups=4)**2)", x=X1433, w=W4122, b=B4),
                          C("sum(conv2d(x, w, padding='same')**2)", x=X243, w=W2222)],
                  text="conv2d(x, w)"),
    "avg_pool1d": Row(("x",), [At((P236,), opts("avg_pool1d", kernel_size=(2,))),
                               At((P236,), opts("avg_pool1d", kernel_size=(3,), stride=(2,), padding=(1,))),
                               At((P236,), opts("avg_pool1d", kernel_size=(3,), stride=(2,), padding=(1,),
                                                count_include_pad=False)),
                               At((P236,), opts("avg_pool1d", kernel_size=(3,), stride=(2,), ceil_mode=True)),
                               At((P35,), opts("avg_pool1d", kernel_size=(2,), stride=(1,)))],
                      [At((P35,), opts("avg_pool1d", kernel_size=(2,), padding=(1,), ceil_mode=True))],
                      checks=[C("sum(avg_pool1d(x, 2)*v)", x=P236, v=grid(2, 3, 3, seed=36)),
                              C("sum(avg_pool1d(x, 3, 2, 1, count_include_pad=False)**2)", x=P236),
                              C("sum(avg_pool1d(x, 3, stride=2, ceil_mode=True)*v)", x=P236, v=grid(2, 3, 3, seed=37)),
                              C("sum(avg_pool1d(x, kernel_size=2, padding=1, ceil_mode=True)**2)", x=P35)],
                      text="avg_pool1d(x, 2)"),
    "avg_pool2d": Row(("x",), [At((P1245,), opts("avg_pool2d", kernel_size=(2,))),
                               At((P1245,), opts("avg_pool2d", kernel_size=(3,), stride=(2,), padding=(1,),
                                                 count_include_pad=False)),
                               At((P1245,), opts("avg_pool2d", kernel_size=(2,), ceil_mode=True)),
                               At((P1245,), opts("avg_pool2d", kernel_size=(2, 3), stride=(1,), divisor_override=3)),
                               At((P234,), opts("avg_pool2d", kernel_size=(2,), stride=(1, 2), padding=(1, 0)))],
                      checks=[C("sum(avg_pool2d(x, 2)*v)", x=P1245, v=grid(1, 2, 2, 2, seed=38)),
                              C("sum(avg_pool2d(x, 3, 2, 1, count_include_pad=False)**2)", x=P1245),
                              C("sum(avg_pool2d(x, 2, ceil_mode=True)**2)", x=P1245),
                              C("sum(avg_pool2d(x, (2, 3), 1, divisor_override=3)*v)", x=P1245,
                                v=grid(1, 2, 3, 3, seed=39)),
                              C("sum(avg_pool2d(x, 2, (1, 2), (1, 0))**2)", x=P234)],
                      text="avg_pool2d(x, 2)"),
    "max_pool1d": Row(("x",), [At((P226,), opts("max_pool1d", kernel_size=(2,))),
                               At((P226,), opts("max_pool1d", kernel_size=(3,), stride=(1,), padding=(1,))),
                               At((P226,), opts("max_pool1d", kernel_size=(2,), stride=(1,), dilation=(2,))),
                               At((P25,), opts("max_pool1d", kernel_size=(2,), ceil_mode=True))],
                      [At((TIED1,), opts("max_pool1d", kernel_size=(2,))),
                       At((TIED1,), opts("max_pool1d", kernel_size=(3,), stride=(1,), padding=(1,)))],
                      checks=[C("sum(max_pool1d(x, 2)*v)", x=P226, v=grid(2, 2, 3, seed=40)),
                              C("sum(max_pool1d(x, 3, 1, 1)**2)", x=P226),
                              C("sum(max_pool1d(x, 2, stride=1, dilation=2)*v)", x=P226, v=grid(2, 2, 4, seed=41)),
                              C("sum(max_pool1d(x, 2, ceil_mode=True)**2)", x=P25)],
                      text="max_pool1d(x, 2)"),
    "max_pool2d": Row(("x",), [At((P1244,), opts("max_pool2d", kernel_size=(2,))),
                               At((P1244,), opts("max_pool2d", kernel_size=(3,), stride=(2,), padding=(1,))),
                               At((P1244,), opts("max_pool2d", kernel_size=(2,), stride=(1,), dilation=(1, 2))),
                               At((P234,), opts("max_pool2d", kernel_size=(3,), stride=(2,), ceil_mode=True))],
                      [At((TIED2,), opts("max_pool2d", kernel_size=(2,)))],
                      checks=[C("sum(max_pool2d(x, 2)*v)", x=P1244, v=grid(1, 2, 2, 2, seed=42)),
                              C("sum(max_pool2d(x, 3, 2, 1)**2)", x=P1244),
                              C("sum(max_pool2d(x, 2, 1, dilation=(1, 2))*v)", x=P1244, v=grid(1, 2, 3, 2, seed=43)),
                              C("sum(max_pool2d(x, 3, 2, ceil_mode=True)**2)", x=P234)],
                      text="max_pool2d(x, 2)"),
    "im2col": Row(("x",), [At((X25,), opts("im2col", kernel_size=(2,), out=(4,))),
                           At((X25,), opts("im2col", kernel_size=(3,), stride=(2,), padding=(1,), out=(3,))),
                           At((X25,), opts("im2col", kernel_size=(2,), dilation=(2,), padding=(1,), out=(5,))),
                           At((P234,), opts("im2col", kernel_size=(2, 2), stride=(1, 2), out=(2, 2))),
                           At((P1244,), opts("im2col", kernel_size=(3, 2), stride=(2,), padding=(1, 0), out=(2, 2)))],
                  checks=[C("sum(im2col(x, kernel_size=(2,), out=(4,))*v)", x=X25, v=grid(2, 4, 2, seed=44)),
                          C("sum(im2col(x, kernel_size=(3,), stride=(2,), padding=(1,), out=(3,))**3)", x=X25),
                          C("sum(im2col(x, kernel_size=(2, 2), stride=(1, 2), out=(2, 2))**2)", x=P234)],
                  text="im2col(x, kernel_size=(2,), out=(4,))"),
    "col2im": Row(("p",), [At((grid(2, 4, 2, seed=45),), opts("col2im", kernel_size=(2,), size=(5,))),
                           At((grid(2, 3, 3, seed=46),), opts("col2im", kernel_size=(3,), stride=(2,), padding=(1,),
                                                              size=(5,))),
                           At((grid(3, 2, 2, 2, 2, seed=47),), opts("col2im", kernel_size=(2, 2), stride=(1, 2),
                                                                    size=(3, 4)))],
                  checks=[C("sum(col2im(p, kernel_size=(2,), size=(5,))*v)", p=grid(2, 4, 2, seed=45), v=X25),
                          C("sum(col2im(p, kernel_size=(3,), stride=(2,), padding=(1,), size=(5,))**2)",
                            p=grid(2, 3, 3, seed=46)),
                          C("sum(col2im(p, kernel_size=(2, 2), stride=(1, 2), size=(3, 4))**3)",
                            p=grid(3, 2, 2, 2, 2, seed=47))],
                  text="col2im(p, kernel_size=(2,), size=(5,))"),
}
