"""Swish (SiLU), x * sigmoid(x), as a custom autograd.Function with a hand-written backward.

The backward recomputes sigmoid(x) from the saved input instead of saving it from the forward:
the forward runs without autograd, so a saved sigmoid would be a constant to a double backward
(`--order 2` would find the second derivative wrong).
"""

import torch


class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_output * (s + x * s * (1 - s))


def swish(x):
    return Swish.apply(x)
