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


def check(expr: str, at: dict, *, wrt=None, manual=None, expected=None, rtol=None, atol=None,
          dtype: str = "float64", order: int = 1, name: str | None = None, function=None, args=None,
          device: str = "cpu", explain: bool = False, allow_import: bool = True, precise: bool = False):
    """Check the gradient of `expr` at the point `at`; returns a CaseResult.

    With `function` (a callable taking and returning torch tensors, or "module:attr"), that function's
    forward and backward are checked against `expr` as their reference; `allow_import=False` refuses a
    "module:attr" (as --no-import does).  `explain=True` adds the graph and the chain rule; `precise=True` runs
    the high-precision referee on every entry (by default it settles only disputed entries)."""
    from .core.errors import GradcheckError
    from .run.case import error_result, run
    from .spec.spec import Spec
    from .spec.values import coerce_value

    try:
        point = {k: coerce_value(v) for k, v in at.items()}
        expected = {k: coerce_value(v) for k, v in (expected or {}).items()}
    except GradcheckError as error:
        return error_result(name or expr, error, expr=expr)
    spec = Spec(expr=expr, at=point, wrt=list(wrt) if wrt else None, manual=dict(manual or {}), expected=expected,
                rtol=rtol, atol=atol, dtype=dtype, order=order, name=name, function=function,
                args=list(args) if args else None, device=device, explain=explain, allow_import=allow_import,
                precise=precise, front="python")
    return run(spec)
