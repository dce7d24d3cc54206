"""gradcheck: is this gradient right?  Symbolic, finite-difference, autograd and
hand-derived gradients of one expression, compared and judged.

From Python::

    from gradcheck_cli import check
    result = check("sin(x**2)", at={"x": 4}, manual={"x": "2*x*cos(x**2)"})
    result.status  # "pass"

    # your own torch function (a callable, or "module:attr") against its reference formula
    check("x*sigmoid(x)", at={"x": 0.5}, function=my_swish).status
"""

from __future__ import annotations

from .core.version import __version__

__all__ = ["__version__", "check"]


def check(expr: str, at: dict, *, wrt=None, manual=None, manual_hessian=None, expected=None, rtol=None, atol=None,
          dtype: str = "float64", order: int = 1, method: str = "auto", step: float | None = None, fast: bool = False,
          seed: int | None = None, name: str | None = None, function=None, reference=None, args=None,
          device: str = "cpu", explain: bool = False, allow_import: bool = True, precise: bool = False, limits=None):
    """Check the gradient of `expr` at the point `at`; returns a CaseResult.

    The keywords are the command's options and a spec file's keys (core.settings has the table): `at` maps each
    variable to a number or a nested list; `manual` maps a variable to your formula for its gradient, and
    `manual_hessian` a block ("x" or "x,y") to your formula for it (with `order=2`); a value of `at` may also be
    text as a command-line value is: "randn(2, 3)" (drawn from `seed`), "@values.npy".  With `function` (a callable
    taking and returning torch tensors, or "module:attr"), that function's forward and backward are checked
    against `expr` as their reference, against `reference` (code: a callable or "module:attr") with `expr=""`, or
    alone (`expr=""`: its backward against finite differences of its own forward); `allow_import=False` refuses a
    "module:attr" (as --no-import does).
    `explain=True` adds the graph and the chain rule; `precise=True` runs the high-precision referee on every
    entry (by default it settles only disputed entries); `limits` is a core.limits.Limits.  Bad input is a result
    with status "error" whose message names these keywords, never an exception."""
    from .core.errors import GradcheckError
    from .core.limits import DEFAULT_LIMITS
    from .run.case import error_result, run
    from .spec.spec import Spec
    from .spec.values import split_inputs

    limits = limits or DEFAULT_LIMITS
    try:
        point, random, integers = split_inputs(_values(at, "at", limits, text=True))
        expected = _values(expected or {}, "expected", limits)
    except GradcheckError as error:
        error.front = "python"
        return error_result(name or expr, error, expr=expr)
    spec = Spec(expr=expr, at=point, random=random, integers=integers, wrt=list(wrt) if wrt else None,
                manual=dict(manual or {}),
                manual_hessian=dict(manual_hessian or {}), expected=expected, rtol=rtol, atol=atol, dtype=dtype,
                order=order, method=method, step=step, fast=fast, seed=seed, name=name, function=function,
                reference=reference,
                args=list(args) if args else None, device=device, explain=explain, allow_import=allow_import,
                precise=precise, limits=limits, front="python")
    return run(spec)


def _values(given: dict, keyword: str, limits, text: bool = False) -> dict:
    """Each value of `given` as a float64 array; a bad one is an error naming it as check()'s argument does
    (at['x']: ...).  With `text`, a string is read as the command line reads it: `"randn(2, 3)"` (drawn from
    `seed`), `"@values.npy"` or numbers."""
    from .core.errors import GradcheckError
    from .spec.values import coerce_value, parse_input

    values = {}
    for key, value in given.items():
        try:
            values[key] = parse_input(value, limits) if text and isinstance(value, str) else \
                coerce_value(value, limits)
        except GradcheckError as error:
            error.template = f"{keyword}[{key!r}]: {error.template}"
            raise
    return values
