"""Normalization layers as torch.nn.functional names them: layer_norm, batch_norm (training statistics) and
group_norm."""

from __future__ import annotations

from .record import OpSpec

OPS: list[OpSpec] = []
