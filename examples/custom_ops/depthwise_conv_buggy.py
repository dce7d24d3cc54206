"""The depthwise convolution of depthwise_conv.py with a classic kernel bug in its backward: the input's
gradient is taken with the window flipped (a convolution where the forward computes a correlation).  The
forward is right, so its own finite differences name the backward:

    gradcheck --function examples.custom_ops.depthwise_conv_buggy:depthwise_conv3x3 --x "randn(1, 2, 4, 4)" \\
              --w "randn(2, 1, 3, 3)" --seed 0
"""

import torch
import torch.nn.functional as F

from .depthwise_conv import TAPS, DepthwiseConv3x3


class FlippedBackward(DepthwiseConv3x3):
    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        padded = F.pad(x, (1, 1, 1, 1))
        height, width = x.shape[-2:]
        grad_padded = torch.zeros_like(F.pad(grad, (1, 1, 1, 1)))  # batched where grad is (under vmap)
        for di, dj in TAPS:
            flipped = w[:, 0, 2 - di, 2 - dj].view(1, -1, 1, 1)  # the bug: the tap of the mirrored position
            grad_padded[..., di:di + height, dj:dj + width] += grad * flipped
        grad_w = torch.stack([(grad * padded[..., di:di + height, dj:dj + width]).sum(dim=(0, 2, 3))
                              for di, dj in TAPS], dim=-1)
        return grad_padded[..., 1:-1, 1:-1], grad_w.reshape(w.shape)


def depthwise_conv3x3(x, w):
    return FlippedBackward.apply(x, w)
