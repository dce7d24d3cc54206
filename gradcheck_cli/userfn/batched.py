"""The batched-gradient check of a user's function, as torch.autograd.gradcheck's `check_batched_grad=True`.

torch computes vector-Jacobian products for a batch of cotangents at once by running the backward under
vmap (`torch.autograd.grad(..., is_grads_batched=True)`): a backward that calls `.item()`, branches on a
tensor's value or writes in place into a captured tensor breaks there, or gives other numbers than one
backward pass per cotangent.  The check does what torch's does: one batched pass over the rows of the
identity equals the Jacobian from the loop.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import UserCodeError
from ..verdict.compare import Check, Tolerance
from .user_code import CallTimeout, Runner, guarded

BATCHED = "batched gradient (vmap)"
MAX_COTANGENTS = 1_000  # the most output entries in one batch of cotangents


def batched_gradient_check(runner: Runner, point, wrt: list[str], loop: dict[str, np.ndarray],
                           tolerance: Tolerance) -> Check:
    """The Jacobian by one backward under vmap over the identity's rows against `loop` (name -> output shape
    + input shape, one backward per row).  `fail` with torch's words where the batched backward raises or
    differs; `skipped` past MAX_COTANGENTS output entries."""
    try:
        tensors = runner.leaves(point, wrt)
        output = runner.call(tensors)
        if output.numel() > MAX_COTANGENTS:
            return Check(BATCHED, "skipped", f"{output.numel()} output entries, more than {MAX_COTANGENTS} "
                                             "cotangents in one batch")
        batched = _batched_jacobian(runner, output, tensors, wrt)
    except CallTimeout:
        raise
    except UserCodeError as error:
        return Check(BATCHED, "fail", f"while computing batched gradients (torch's check_batched_grad), got: "
                                      f"{error.message}")
    differing = [name for name in wrt if not np.all(tolerance.close(batched[name], loop[name])
                                                    | (np.isnan(batched[name]) & np.isnan(loop[name])))]
    if differing:
        return Check(BATCHED, "fail", f"batched gradients (the backward under vmap) differ from one backward per "
                                      f"output entry for {', '.join(differing)}")
    return Check(BATCHED, "pass", "the backward under vmap gives the same gradients as one pass per output entry")


def _batched_jacobian(runner: Runner, output, tensors: list, wrt: list[str]) -> dict[str, np.ndarray]:
    import torch

    targets = runner.targets(tensors, wrt)
    cotangents = torch.eye(output.numel(), dtype=output.dtype, device=output.device)
    cotangents = cotangents.reshape(output.numel(), *output.shape)
    with guarded(f"your backward ({runner.function.label}) under vmap raised"):
        grads = torch.autograd.grad(output, targets, cotangents, is_grads_batched=True, allow_unused=True)
    return {name: _shaped(grad, output, target) for name, grad, target in zip(wrt, grads, targets)}


def _shaped(grad, output, target) -> np.ndarray:
    import torch

    grad = torch.zeros(output.numel(), *target.shape, dtype=torch.float64) if grad is None else grad
    return grad.detach().numpy(force=True).astype(np.float64).reshape(tuple(output.shape) + tuple(target.shape))
