"""Swish (SiLU), x * sigmoid(x), as a custom autograd.Function with a hand-written backward."""

import torch


class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        x, s = ctx.saved_tensors
        return grad_output * (s + x * s * (1 - s))


def swish(x):
    return Swish.apply(x)
