"""gradcheck: is this gradient right?  Symbolic, finite-difference, autograd and
hand-derived gradients of one expression, compared and judged.

From Python::

    from gradcheck_cli import check
    result = check("sin(x**2)", at={"x": 4}, manual={"x": "2*x*cos(x**2)"})
    result.status  # "pass"

    # your own torch function (a callable, or "module:attr") against its reference formula
    check("x*sigmoid(x)", at={"x": 0.5}, function=my_swish).status

In Jupyter or IPython a result shows itself as the command's table; `%load_ext gradcheck_cli` adds the
`%gradcheck` line magic (the command's arguments) and the `%%gradcheck` cell magic (a YAML spec), see
gradcheck_cli/magics.py.  Importing this package does not import IPython (nor torch).
"""

from __future__ import annotations

from .core.version import __version__

__all__ = ["__version__", "check", "load_ipython_extension"]


def check(expr: str, at: dict, *, wrt=None, manual=None, manual_hessian=None, expected=None, rtol=None, atol=None,
          dtype: str = "float64", order: int = 1, method: str = "auto", step: float | None = None, fast: bool = False,
          seed: int | None = None, name: str | None = None, function=None, reference=None, args=None,
          device: str = "cpu", explain: bool = False, allow_import: bool = True, precise: bool = False, limits=None):
    """Check the gradient of `expr` at the point `at`; returns a CheckResult (a verdict.compare.CaseResult that
    shows itself as the command's table in Jupyter and IPython, see results.py).

    The keywords are the command's options and a spec file's keys (core.settings has the table): `at` maps each
    variable to a number, a nested list, a numpy array or a torch tensor (any dtype, device or requires_grad:
    its values are copied, detached, as float64), or to text as a command-line value is: "randn(2, 3)" (drawn
    from `seed`), "@values.npy"; `manual` maps a variable to your formula for its gradient, and `manual_hessian`
    a block ("x" or "x,y") to your formula for it (with `order=2`).  With `function` (a callable
    taking and returning torch tensors, or "module:attr"), that function's forward and backward are checked
    against `expr` as their reference, against `reference` (code: a callable or "module:attr") with `expr=""`, or
    alone (`expr=""`: its backward against finite differences of its own forward); `allow_import=False` refuses a
    "module:attr" (as --no-import does).
    `explain=True` adds the graph and the chain rule; `precise=True` runs the high-precision referee on every
    entry (by default it settles only disputed entries); `limits` is a core.limits.Limits.  Bad input is a result
    with status "error" whose message names these keywords, never an exception."""
    from .core.errors import GradcheckError
    from .core.limits import DEFAULT_LIMITS
    from .results import CheckResult
    from .run.case import error_result, run
    from .spec.spec import Spec
    from .spec.values import split_inputs

    limits = limits or DEFAULT_LIMITS
    try:
        point, random, integers = split_inputs(_values(at, "at", limits, text=True))
        expected = _values(expected or {}, "expected", limits)
    except GradcheckError as error:
        error.front = "python"
        return CheckResult.of(error_result(name or expr, error, expr=expr))
    spec = Spec(expr=expr, at=point, random=random, integers=integers, wrt=list(wrt) if wrt else None,
                manual=dict(manual or {}),
                manual_hessian=dict(manual_hessian or {}), expected=expected, rtol=rtol, atol=atol, dtype=dtype,
                order=order, method=method, step=step, fast=fast, seed=seed, name=name, function=function,
                reference=reference,
                args=list(args) if args else None, device=device, explain=explain, allow_import=allow_import,
                precise=precise, limits=limits, front="python")
    return CheckResult.of(run(spec))


def _values(given: dict, keyword: str, limits, text: bool = False) -> dict:
    """Each value of `given` (a number, list, numpy array or torch tensor) as a float64 array of its own; a bad
    one is an error naming it as check()'s argument does (at['x']: ...).  With `text`, a string is read as the
    command line reads it: `"randn(2, 3)"` (drawn from `seed`), `"@values.npy"` or numbers."""
    from collections.abc import Mapping

    from .core.errors import GradcheckError, ValueParseError
    from .spec.values import coerce_value, parse_input

    if not isinstance(given, Mapping):
        raise ValueParseError(f"{keyword}: expected a dict of variable names to values, got a {type(given).__name__}")
    values = {}
    for key, value in given.items():
        try:
            values[key] = parse_input(value, limits) if text and isinstance(value, str) else \
                coerce_value(value, limits)
        except GradcheckError as error:
            error.template = f"{keyword}[{key!r}]: {error.template}"
            raise
    return values


def load_ipython_extension(ipython) -> None:
    """`%load_ext gradcheck_cli`: registers the %gradcheck and %%gradcheck magics (magics.py; needs IPython,
    the `notebook` extra)."""
    from .magics import GradcheckMagics

    ipython.register_magics(GradcheckMagics)
