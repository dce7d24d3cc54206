"""The depthwise convolution of depthwise_conv.py with a mixed-precision bug: in float32 its backward accumulates
the weight's gradient in float16 (a "fast path" that sums the 9 taps' products in half precision).  In float64
it is right, so only a lower-precision run sees it:

    gradcheck --function examples.custom_ops.depthwise_conv_float16:depthwise_conv3x3 --x "randn(2, 8, 16, 16)" \\
              --w "randn(8, 1, 3, 3)" --seed 0 --fast --precision float32
"""

import torch
import torch.nn.functional as F

from .depthwise_conv import TAPS, DepthwiseConv3x3


class HalfAccumulation(DepthwiseConv3x3):
    @staticmethod
    def backward(ctx, grad):
        grad_x, grad_w = DepthwiseConv3x3.backward(ctx, grad)
        if grad.dtype != torch.float32:
            return grad_x, grad_w
        x, w = ctx.saved_tensors
        padded = F.pad(x, (1, 1, 1, 1)).half()
        height, width = x.shape[-2:]
        half = torch.stack([(grad.half() * padded[..., di:di + height, dj:dj + width]).sum(dim=(0, 2, 3))
                            for di, dj in TAPS], dim=-1)  # the bug: products and sums in float16
        return grad_x, half.float().reshape(w.shape)


def depthwise_conv3x3(x, w):
    return HalfAccumulation.apply(x, w)
