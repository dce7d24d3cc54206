"""--fast for code as the reference: random projections uᵀJv of a user's function, and vᵀHw with {order=2}.

A kernel on a 2×8×32×32 input has a Jacobian of 67 million entries: one backward pass per output element and
a dozen forward calls per input element are out of reach.  A projection costs one backward pass (uᵀJ, dotted
with v) and the finite differences of the scalar t -> u·f(x + t·v): about a dozen forward calls, whatever the
size.  Alone, the reference is that derivative of the function's own forward; with a reference function, of the
reference's forward, the function's own beside it (`function fd`), as in function_case.  With {order=2} (a
scalar function alone) each pair of inputs gets vᵀHw by the double backward, against finite differences of
t -> v·∇f(x + t·w) by its backward.  Each input has its own v, so a disagreement names the input.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..verdict.compare import GradientRow, Status, gradient_row
from ..verdict.judge import judge
from ..verdict.patterns import MIN_ELEMENTS, pattern_of, reads_as_images
from .projections import PROJECTIONS

MOST_INDICES = 64  # a batch or channel axis longer than this is not split index by index

STEP = "#t"  # the finite differences' one variable: no function's input can be named so


@dataclass
class _Draw:
    """One projection's random vectors and the function's uᵀJ per input (kept to localise a failure)."""

    u: np.ndarray
    v: dict[str, np.ndarray]
    backward: dict[str, np.ndarray]


def function_projection_rows(runner, reference, point: dict[str, np.ndarray], wrt: list[str], spec, seed: int,
                             own_reference: str) -> tuple[list[GradientRow], list[dict], int]:
    """(judged rows, one per projection and input, `projection` = k; where the failures lie, as
    verdict.patterns' records, for each input with a failing row (`localised`); the forward calls spent).

    `runner` calls the function (a userfn.user_code.Runner, its output's shape known), `reference` the reference
    function's Runner or None (the function alone); `own_reference` is the function verdict of a backward that
    disagrees with its own forward."""
    rng = np.random.default_rng(seed)
    rows, draws, evaluations = [], [], 0
    for k in range(PROJECTIONS):
        u = rng.standard_normal(runner.shape)
        v = {name: rng.standard_normal(np.shape(point[name])) for name in wrt}
        backward = _vector_jacobian(runner, point, wrt, u)
        draws.append(_Draw(u, v, backward))
        for name in wrt:
            answers = {"function": float(np.sum(backward[name] * v[name]))}
            fd, error, spent = _along(_weighted(reference or runner, u), point, name, v[name])
            answers |= {"finite_difference": fd, "fd_error": error}
            evaluations += spent
            if reference is not None:
                own, own_error, spent = _along(_weighted(runner, u), point, name, v[name])
                answers |= {"function_fd": own, "function_fd_error": own_error}
                evaluations += spent
            row = judge(gradient_row(answers, wrt=name, index=[], projection=k), spec.tolerance)
            if reference is None:
                row.function_verdict = own_reference if "function" in row.disagrees else None
            rows.append(row)
    patterns = []
    for name in dict.fromkeys(r.wrt for r in rows if r.status == Status.FAIL and "function" in r.disagrees):
        if np.size(point[name]) >= MIN_ELEMENTS:
            k = next(r.projection for r in rows if r.wrt == name and "function" in r.disagrees)
            pattern, spent = localised(reference or runner, point, name, draws[k], spec.tolerance)
            patterns += [pattern] if pattern is not None else []
            evaluations += spent
    return rows, patterns, evaluations


def localised(code, point, name: str, draw: _Draw, tolerance) -> tuple[dict | None, int]:
    """Where a failing projection's disagreement lies in input `name`: v cut into parts (each batch item, each
    channel, and the first, middle and last indices of each spatial axis), each part's uᵀJv by the backward
    against finite differences of the reference code along that part (a part whose differences do not settle
    within the tolerance stays suspect).  The failing parts of each cut are united and the cuts intersected: a
    superset of the failing entries at the resolution of the parts, read by verdict.patterns (None where it covers
    the whole input).  Returns (the pattern, the calls spent)."""
    shape = np.shape(point[name])
    suspect, spent = np.ones(shape, dtype=bool), 0
    for parts in _cuts(shape):
        failing = np.zeros(shape, dtype=bool)
        for part in parts:
            direction = np.where(part, draw.v[name], 0.0)
            yours = float(np.sum(draw.backward[name] * direction))
            fd, error, count = _along(_weighted(code, draw.u), point, name, direction)
            spent += count
            informative = np.isfinite(fd) and error <= tolerance.atol + tolerance.rtol * abs(fd)
            if not informative or not tolerance.agree(yours, fd, error):  # only a settled agreement clears a part
                failing |= part
        if failing.any():  # a cut where no part disagrees (their errors cancelled) says nothing
            suspect &= failing
    pattern = pattern_of(suspect, superset=True, output_shape=code.shape)
    if pattern is None:
        return None, spent
    parts = "batch items, channels and edges" if reads_as_images(shape, code.shape) else \
        ("indices of axes 0 and 1, and edges" if len(shape) >= 3 else "edges")
    return {"wrt": name, **pattern, "located_by": "projections",
            "text": f"{name}, located by projections onto its parts (a superset of the failing entries, at the "
                    f"resolution of {parts}): {pattern['text']}"}, spent


def _cuts(shape: tuple) -> list[list[np.ndarray]]:
    """Partitions of an input's elements, as boolean masks: for 3 axes and more, by each index of axis 0 (batch
    items) and of axis 1 (channels), up to MOST_INDICES; and by first, middle and last index along each spatial
    axis (axes from 2 on; every axis of a vector or matrix) of three or more indices, in every combination."""
    grid = np.indices(shape)
    cuts = []
    for axis in ((0, 1) if len(shape) >= 3 else ()):
        if 1 < shape[axis] <= MOST_INDICES:
            cuts.append([grid[axis] == j for j in range(shape[axis])])
    spatial = [a for a in range(2 if len(shape) >= 3 else 0, len(shape)) if shape[a] >= 3]
    if spatial:
        bands = [[grid[a] == 0, (grid[a] > 0) & (grid[a] < shape[a] - 1), grid[a] == shape[a] - 1] for a in spatial]
        cuts.append([np.logical_and.reduce(cell) for cell in itertools.product(*bands)])
    return cuts


def hessian_projection_rows(runner, point: dict[str, np.ndarray], wrt: list[str], spec, seed: int,
                            own_reference: str) -> tuple[list[GradientRow], int]:
    """(judged rows vᵀ(d²f/da db)w, one per projection and pair of inputs; the backward calls spent), for a
    scalar function alone: its double backward against finite differences of its backward."""
    rng = np.random.default_rng(seed + 1)  # not the first order's directions
    rows, evaluations = [], 0
    for k in range(PROJECTIONS):
        v = {name: rng.standard_normal(np.shape(point[name])) for name in wrt}
        w = {name: rng.standard_normal(np.shape(point[name])) for name in wrt}
        double = _hessian_vector(runner, point, wrt, v)
        for a in wrt:
            gradient_along_v = _gradient_dotted(runner, wrt, a, v[a])
            for b in wrt:
                fd, error, spent = _along(gradient_along_v, point, b, w[b])
                evaluations += spent
                answers = {"function": float(np.sum(double[a][b] * w[b])), "finite_difference": fd, "fd_error": error}
                row = judge(gradient_row(answers, wrt=[a, b], index=[[], []], projection=k), spec.tolerance)
                row.function_verdict = own_reference if "function" in row.disagrees else None
                rows.append(row)
    return rows, evaluations


def _vector_jacobian(runner, point, wrt: list[str], u: np.ndarray) -> dict[str, np.ndarray]:
    """uᵀJ per input by one backward pass of the function."""
    import torch

    from ..userfn.user_code import guarded

    tensors = runner.leaves(point, wrt)
    output = runner.call(tensors)
    targets = runner.targets(tensors, wrt)
    cotangent = torch.tensor(u, dtype=output.dtype, device=output.device)
    with guarded(f"the backward of {runner.function.label} raised"):
        found = torch.autograd.grad(output, targets, cotangent, allow_unused=True)
    return {name: np.zeros(np.shape(point[name])) if g is None else g.detach().numpy(force=True).astype(np.float64)
            for name, g in zip(wrt, found)}


def _hessian_vector(runner, point, wrt: list[str], v: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """{a: {b: d/db (∇_a f · v_a)}} by the function's double backward."""
    import torch

    from ..userfn.user_code import guarded

    tensors = runner.leaves(point, wrt)
    targets = runner.targets(tensors, wrt)
    result = {}
    with guarded(f"the double backward of {runner.function.label} raised"):
        output = runner.call(tensors)
        gradients = torch.autograd.grad(output, targets, create_graph=True, allow_unused=True)
        for a, gradient in zip(wrt, gradients):
            if gradient is None or not gradient.requires_grad:
                result[a] = {b: np.zeros(np.shape(point[b])) for b in wrt}
                continue
            along = (gradient * torch.tensor(v[a], dtype=gradient.dtype, device=gradient.device)).sum()
            found = torch.autograd.grad(along, targets, retain_graph=True, allow_unused=True)
            result[a] = {b: np.zeros(np.shape(point[b])) if g is None else g.detach().numpy(force=True)
                         .astype(np.float64) for b, g in zip(wrt, found)}
    return result


def _weighted(code, u: np.ndarray) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """point -> [u·f(point)] of a Runner's forward (NaN where it raises)."""
    flat = u.reshape(-1)
    return lambda point: np.array([float(np.dot(flat, code.value(point)))])  # np.dot: see _gradient_dotted


def _gradient_dotted(runner, wrt: list[str], name: str, v: np.ndarray) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """point -> [∇_name f(point) · v] by the function's backward.

    The dot product of two vectors is np.dot's: `flat @ vector` (numpy's matmul) took milliseconds for 16,384
    elements where np.dot takes microseconds (OpenBLAS's threads waking on a busy machine), and it runs on every
    step of every Richardson table."""
    gradient = runner.gradient(name, wrt)
    flat = v.reshape(-1)
    return lambda point: np.array([float(np.dot(flat, gradient(point)))])


def _along(scalar: Callable, point, name: str, direction: np.ndarray) -> tuple[float, float, int]:
    """(d/dt scalar(point + t·direction on `name`) at 0, its error bar, the calls spent): the black-box
    Richardson of engines.finite_diff on the one variable t."""
    from ..engines.finite_diff import finite_differences_of_function
    from ..userfn.user_code import over_batch, stdout_to_stderr

    def moved(inputs: dict[str, np.ndarray]) -> np.ndarray:
        return scalar({**point, name: point[name] + float(inputs[STEP]) * direction})

    with stdout_to_stderr():
        finite = finite_differences_of_function(over_batch(moved), {STEP: np.asarray(0.0)}, [STEP], (1,))
    return float(finite.gradients[STEP].reshape(-1)[0]), float(finite.errors[STEP].reshape(-1)[0]), finite.evaluations
