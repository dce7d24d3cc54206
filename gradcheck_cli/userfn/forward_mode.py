"""Forward-mode AD (Jacobian-vector products) of a user's function, as torch.autograd.gradcheck's
`check_forward_ad=True` checks it.

A custom autograd.Function's `jvp` staticmethod is code of its own, independent of its `backward`: gradcheck
passes a Function whose jvp is wrong unless asked.  Here every Jacobian column is computed with dual tensors
(torch.autograd.forward_ad), one basis tangent at a time, and judged against finite differences of the
function's own forward and against its backward.  A function without forward-mode support (a Function with
no `jvp`, an op without a forward formula) gets a note, not a failure.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import UserCodeError
from ..engines.finite_diff import FiniteDifferences
from ..verdict.compare import Check, Tolerance
from .user_code import CallTimeout, Runner, guarded

FORWARD_AD = "forward AD (jvp)"
MAX_TANGENTS = 1_000  # the most input entries given a tangent of their own (one forward pass each)
# torch's words for "no forward formula", and ours for "no tangent reached the result"
_UNSUPPORTED = ("jvp", "forward ad", "forward-mode", "forward mode")


def forward_ad_check(runner: Runner, point, wrt: list[str], backward: dict[str, np.ndarray],
                     finite: FiniteDifferences, tolerance: Tolerance) -> Check:
    """The function's Jv columns (dual tensors) against finite differences of its forward and its backward's
    Jacobian (`backward`, name -> output shape + input shape).  `fail` names "your jvp" where the forward-mode
    Jacobian disagrees with both; `skipped` where forward mode is not supported or there are too many entries."""
    entries = sum(int(np.size(point[name])) for name in wrt)
    if entries > MAX_TANGENTS:
        return Check(FORWARD_AD, "skipped", f"{entries} input entries, more than {MAX_TANGENTS} tangents")
    try:
        forward = {name: _columns(runner, point, wrt, name, backward[name].shape) for name in wrt}
    except CallTimeout:
        raise
    except UserCodeError as error:
        if any(word in error.message.lower() for word in _UNSUPPORTED):
            return Check(FORWARD_AD, "skipped", f"no forward-mode AD (torch's check_forward_ad would raise): "
                                                f"{error.message}")
        return Check(FORWARD_AD, "fail", f"forward-mode AD raised: {error.message}")
    return _judged(forward, backward, finite, tolerance)


def _columns(runner: Runner, point, wrt: list[str], name: str, shape: tuple) -> np.ndarray:
    """d output / d `name` by forward mode, shaped output shape + input shape (`shape`)."""
    import torch
    import torch.autograd.forward_ad as fwAD

    size = int(np.size(point[name]))
    columns = []
    for k in range(size):
        tensors = [t.detach() for t in runner.leaves(point, [])]
        index = runner.function.inputs.index(name)
        tangent = torch.zeros_like(tensors[index]).reshape(-1)
        tangent[k] = 1.0
        with guarded(f"the forward-mode AD (jvp) of {runner.function.label} raised"), fwAD.dual_level():
            tensors[index] = fwAD.make_dual(tensors[index], tangent.reshape(tensors[index].shape))
            output = runner.call(tensors)
            column = fwAD.unpack_dual(output).tangent
            if column is None:  # computed outside forward mode (numpy, .detach()): no tangent reached it
                raise UserCodeError(f"{runner.function.label}: its result carries no forward AD tangent")
            columns.append(column.detach().numpy(force=True).astype(np.float64).reshape(-1))
    return np.stack(columns, axis=-1).reshape(shape) if columns else np.zeros(shape)


def _judged(forward: dict[str, np.ndarray], backward: dict[str, np.ndarray], finite: FiniteDifferences,
            tolerance: Tolerance) -> Check:
    wrong = []
    for name, jv in forward.items():
        if np.all(_agree(jv, backward[name], tolerance)):
            continue
        by_fd = _agree(jv, finite.gradients[name], tolerance, finite.errors.get(name, 0.0))
        if not np.all(by_fd):
            gap = float(np.nanmax(np.abs(jv - finite.gradients[name])))
            wrong.append(f"{name} (largest difference {gap:.1e})")
    if wrong:
        return Check(FORWARD_AD, "fail", f"your jvp: forward-mode AD disagrees with finite differences of the "
                                         f"forward and with the backward for {', '.join(wrong)}")
    return Check(FORWARD_AD, "pass", "forward-mode AD (Jv columns) agrees with the gradient")


def _agree(a: np.ndarray, b: np.ndarray, tolerance: Tolerance, widen=0.0) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    widen = np.nan_to_num(np.asarray(widen, dtype=np.float64), nan=0.0)
    return tolerance.close(a, b, widen) | (np.isnan(a) & np.isnan(b))
