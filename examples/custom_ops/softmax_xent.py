"""Fused softmax + cross-entropy of logits z against target probabilities y, with its own backward.

The fused backward never forms the softmax's Jacobian: d/dz = softmax(z) * sum(y) - y and
d/dy = -log_softmax(z), each times the incoming gradient.
"""

import torch


class SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, y):
        log_p = z - torch.logsumexp(z, dim=-1, keepdim=True)
        ctx.save_for_backward(log_p, y)
        return -(y * log_p).sum()

    @staticmethod
    def backward(ctx, grad_output):
        log_p, y = ctx.saved_tensors
        grad_z = torch.exp(log_p) * y.sum(dim=-1, keepdim=True) - y
        return grad_output * grad_z, grad_output * -log_p


def softmax_xent(z, y):
    return SoftmaxCrossEntropy.apply(z, y)
