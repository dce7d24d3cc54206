"""Convolution and pooling as torch.nn.functional names them: conv1d, conv2d (stride, padding, dilation,
groups), avg_pool1d/2d and max_pool1d/2d."""

from __future__ import annotations

from .record import OpSpec

OPS: list[OpSpec] = []
