"""Lower precision as a question of its own: is the function's float32 (bfloat16, float16) run as good as that
dtype allows?

A kernel is checked in float64, and then runs in float32 or bfloat16, where a backward that accumulates in
float16, or a forward that casts down on the way, loses digits that no float64 check can see.  For each dtype
asked for (`{precision}`), the function runs at the point rounded to that dtype, and its forward value and
its backward (vector-Jacobian products with a few random cotangents, so any size costs a few backward passes)
are compared with float64 at the same rounded point: the reference function's value where there is one, else
the function's own, and the function's own float64 backward (which the float64 checks judge).  Rounding the
inputs is so not counted against the function; what remains is the rounding of its computation.

Errors are normwise, in units of the dtype's machine epsilon: max |low - float64| / max |float64| / eps.  A
sum of n terms computed in the dtype is allowed ALLOWANCE·sqrt(n) eps (the statistical growth of rounding in
a sum, Higham's "Accuracy and Stability of Numerical Algorithms" §2.8 and §4.2), with n the inputs' elements
together: the most terms any one output can sum.  Beyond that the check fails and says how many digits were
lost, and which coarser dtype's rounding the error fits ("about float16's rounding: does it compute or
accumulate in float16?").
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import UserCodeError
from ..verdict.compare import Check
from .user_code import CallTimeout, Runner, guarded

LOW_PRECISIONS = ("float32", "bfloat16", "float16")  # the dtypes `{precision}` may name
EPSILONS = {"float32": 2.0**-23, "bfloat16": 2.0**-7, "float16": 2.0**-10}  # torch.finfo(dtype).eps
ALLOWANCE = 4.0  # eps per sqrt(term): rounding of a sum grows like sqrt(n) eps, with room for a few such sums
COTANGENTS = 2  # random cotangents u: the backward is checked as uᵀJ


def precision_checks(runner: Runner, point: dict[str, np.ndarray], wrt: list[str], dtypes: list[str],
                     reference: Runner | None = None, seed: int = 0) -> list[Check]:
    """One Check per dtype, named "float32 precision" and so on, with `details` (JSON): the forward's and each
    input's backward error in eps, what is allowed, the digits lost beyond it and the coarser dtype it fits.

    `runner` calls the function (its float64 run is the backward's reference); `reference`, where given, gives
    the forward's float64 value.  A function that raises in the dtype fails that dtype's check."""
    return [_one_dtype(runner, reference, point, wrt, dtype, seed) for dtype in dtypes]


def _one_dtype(runner: Runner, reference: Runner | None, point, wrt: list[str], dtype: str, seed: int) -> Check:
    import torch

    name, low = f"{dtype} precision", getattr(torch, dtype)
    rounded = {n: v if n in runner.integers else _rounded(v, low) for n, v in point.items()}
    terms = sum(int(np.size(v)) for n, v in point.items() if n not in runner.integers)
    try:
        errors, result_dtype = _errors(runner, reference, rounded, wrt, dtype, seed)
    except CallTimeout:
        raise
    except UserCodeError as error:
        return Check(name, "fail", f"fails on {dtype} inputs: {error.message}", {"dtype": dtype})
    return _judged(name, dtype, errors, terms, result_dtype)


def _errors(runner: Runner, reference: Runner | None, rounded, wrt: list[str], dtype: str,
            seed: int) -> tuple[dict[str, float], str]:
    """({"forward": eps, "backward of x": eps, ...}, the dtype of the result) of the function run in `dtype`
    against float64, at the rounded point; raises UserCodeError where the run in `dtype` raises."""
    import torch

    eps, low = EPSILONS[dtype], getattr(torch, dtype)
    cotangents = _cotangents(runner, rounded, seed, low)
    low_value, low_grads, result_dtype = _run(runner, rounded, wrt, low, cotangents)
    with torch.no_grad():
        value64 = _float64_value(reference or runner, rounded)
    _, grads64, _ = _run(runner, rounded, wrt, torch.float64, cotangents)
    errors = {"forward": _in_eps(low_value, value64, eps)}
    errors |= {f"backward of {n}": max(_in_eps(g, g64, eps) for g, g64 in zip(low_grads[n], grads64[n]))
               for n in wrt}
    return errors, result_dtype


def _judged(name: str, dtype: str, errors: dict[str, float], terms: int, result_dtype: str) -> Check:
    """The check: within ALLOWANCE·sqrt(terms) eps, or how many digits are lost where, and like which dtype."""
    eps, allowed = EPSILONS[dtype], ALLOWANCE * math.sqrt(max(terms, 1))
    details = {"dtype": dtype, "eps": eps, "allowed_eps": allowed, "result_dtype": result_dtype,
               "forward_eps": errors["forward"],
               "backward_eps": {k.removeprefix("backward of "): v for k, v in errors.items() if k != "forward"},
               "digits_beyond": 0.0, "like": []}
    within = ", ".join(f"{part} {units:.3g}" for part, units in errors.items())
    other = f"; its result is {result_dtype}, not {dtype}" if result_dtype != dtype else ""
    worst = max(errors, key=lambda k: errors[k])
    if errors[worst] <= allowed:
        return Check(name, "pass", f"within {dtype}'s rounding: {within} eps (allowed {allowed:.3g} eps = "
                                   f"{ALLOWANCE:g}·√{terms}, eps = {eps:.2g}){other}", details)
    digits = math.log10(errors[worst] / allowed) if math.isfinite(errors[worst]) else math.inf
    like = _coarser_fits(errors[worst] * eps, dtype, allowed)
    details |= {"digits_beyond": digits if math.isfinite(digits) else None, "like": like}
    loses = f"loses {digits:.1f} digits beyond its rounding" if math.isfinite(digits) else "gives non-finite values"
    hint = ""
    if like:
        rounding = " or ".join(f"{c}'s ({errors[worst] * eps / EPSILONS[c]:.2g} eps)" for c in like)
        hint = f": about {rounding} rounding; does it compute or accumulate in {' or '.join(like)}?"
    return Check(name, "fail", f"{dtype} {loses} in the {worst} ({errors[worst]:.3g} eps; allowed {allowed:.3g}; "
                               f"{within} eps){other}{hint}", details)


def _rounded(value: np.ndarray, low) -> np.ndarray:
    """The value rounded to the dtype `low`, back in float64: the point the dtype can hold."""
    import torch

    return torch.tensor(np.asarray(value, dtype=np.float64)).to(low).double().numpy()


def _cotangents(runner: Runner, point, seed: int, low) -> list[np.ndarray]:
    """COTANGENTS random u of the output's shape, representable in the dtype (so both runs get the same u)."""
    import torch

    with torch.no_grad():
        shape = tuple(runner.call(runner.leaves(point, [])).shape)
    rng = np.random.default_rng(seed)
    return [_rounded(rng.standard_normal(shape), low) for _ in range(COTANGENTS)]


def _run(runner: Runner, point, wrt: list[str], dtype, cotangents: list[np.ndarray]):
    """(the value, {input: [uᵀJ per cotangent]}, the result's dtype) of the function run in `dtype`, in float64."""
    import torch

    tensors = runner.leaves(point, wrt, dtype=dtype)
    output = runner.call(tensors)
    targets = runner.targets(tensors, wrt)
    gradients: dict[str, list[np.ndarray]] = {n: [] for n in wrt}
    for u in cotangents:
        cotangent = torch.tensor(u, dtype=output.dtype, device=output.device)
        with guarded(f"the backward of {runner.function.label} raised"):
            found = torch.autograd.grad(output, targets, cotangent, retain_graph=True, allow_unused=True)
        for n, g, t in zip(wrt, found, targets):
            g = torch.zeros_like(t) if g is None else g
            gradients[n].append(g.detach().to(torch.float64).numpy(force=True))
    value = output.detach().to(torch.float64).numpy(force=True)
    return value, gradients, str(output.dtype).removeprefix("torch.")


def _float64_value(code: Runner, point) -> np.ndarray:
    output = code.call(code.leaves(point, []))
    return output.detach().numpy(force=True).astype(np.float64)


def _in_eps(low: np.ndarray, exact: np.ndarray, eps: float) -> float:
    """max |low - exact| / max |exact|, in eps (the scale 1 where exact is all zero); inf where not finite."""
    gap = np.abs(np.asarray(low, dtype=np.float64) - exact)
    if not np.all(np.isfinite(gap)):
        return math.inf
    scale = float(np.max(np.abs(exact), initial=0.0)) or 1.0
    return float(np.max(gap, initial=0.0)) / scale / eps


def _coarser_fits(relative: float, dtype: str, allowed: float) -> list[str]:
    """The dtypes coarser than `dtype` whose rounding explains a relative error, finest first: it is at least a
    tenth of their eps and within their allowance (float16 and bfloat16 for an error of a few float16 eps)."""
    return [coarser for coarser in sorted(LOW_PRECISIONS, key=EPSILONS.get)
            if EPSILONS[dtype] < EPSILONS[coarser] and 0.1 <= relative / EPSILONS[coarser] <= allowed]
