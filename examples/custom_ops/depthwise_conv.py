"""A kernel-style operation: a 3x3 depthwise convolution (stride 1, padding 1) as a custom autograd.Function.

The forward and the backward are written as a kernel is, one shifted slice per tap of the 3x3 window,
instead of calling F.conv2d: the backward is hand-written, so gradcheck checks it.  There is no expression
for it in gradcheck's language, so it is checked alone (its backward against finite differences of its own
forward) or against `reference`, the same operation through torch's own conv2d:

    gradcheck --function examples.custom_ops.depthwise_conv:depthwise_conv3x3 --x "randn(1, 2, 4, 4)" \\
              --w "randn(2, 1, 3, 3)" --seed 0
    gradcheck --function examples.custom_ops.depthwise_conv:depthwise_conv3x3 \\
              --reference examples.custom_ops.depthwise_conv:reference --x "randn(1, 2, 4, 4)" \\
              --w "randn(2, 1, 3, 3)" --seed 0

x: (N, C, H, W), w: (C, 1, 3, 3) -> (N, C, H, W).
"""

import torch
import torch.nn.functional as F

TAPS = [(di, dj) for di in range(3) for dj in range(3)]


class DepthwiseConv3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        padded = F.pad(x, (1, 1, 1, 1))
        height, width = x.shape[-2:]
        out = torch.zeros_like(x)
        for di, dj in TAPS:
            out += padded[..., di:di + height, dj:dj + width] * w[:, 0, di, dj].view(1, -1, 1, 1)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        padded = F.pad(x, (1, 1, 1, 1))
        height, width = x.shape[-2:]
        grad_padded = torch.zeros_like(F.pad(grad, (1, 1, 1, 1)))  # batched where grad is (under vmap)
        for di, dj in TAPS:
            grad_padded[..., di:di + height, dj:dj + width] += grad * w[:, 0, di, dj].view(1, -1, 1, 1)
        grad_w = torch.stack([(grad * padded[..., di:di + height, dj:dj + width]).sum(dim=(0, 2, 3))
                              for di, dj in TAPS], dim=-1)
        return grad_padded[..., 1:-1, 1:-1], grad_w.reshape(w.shape)


def depthwise_conv3x3(x, w):
    return DepthwiseConv3x3.apply(x, w)


def reference(x, w):
    """The same operation by torch's own conv2d: the slow, trusted version."""
    return F.conv2d(x, w, padding=1, groups=x.shape[1])
