"""Loss functions as torch.nn.functional names them: cross_entropy and nll_loss with integer class targets,
mse_loss, l1_loss, smooth_l1_loss, huber_loss, kl_div, binary_cross_entropy and its with_logits form."""

from __future__ import annotations

from .record import OpSpec

OPS: list[OpSpec] = []
