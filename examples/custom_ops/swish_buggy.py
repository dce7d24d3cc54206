"""Swish with a backward bug: the derivative of sigmoid lost its (1 - s) factor."""

import torch


class BuggySwish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        x, s = ctx.saved_tensors
        return grad_output * (s + x * s)  # should be s + x * s * (1 - s)


def swish(x):
    return BuggySwish.apply(x)
