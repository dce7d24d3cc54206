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
          device: str = "cpu", explain: bool = False, allow_import: bool = True, precise: bool = False, limits=None,
          nondet_tol: float = 0.0, kwargs=None, init_kwargs=None, precision=None):
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
    "module:attr" (as --no-import does).  `wrt` is a list of names, or a str read as --wrt is: "x" or "x,y";
    a `manual` formula may be a number (2 is the formula "2").  A setting's value is checked by the settings
    table's rules (core.settings.invalid), as the command's options are.
    `precision` ("float32,bfloat16" or a list) runs `function` in those dtypes too, its errors against float64
    judged against each dtype's rounding.
    `explain=True` adds the graph and the chain rule; `precise=True` runs the high-precision referee on every
    entry (by default it settles only disputed entries); `limits` is a core.limits.Limits.  Bad input is a result
    with status "error" whose message names these keywords, never an exception."""
    from .core.errors import GradcheckError
    from .core.limits import DEFAULT_LIMITS
    from .results import CheckResult
    from .run.case import error_result, run
    from .spec.spec import Spec
    from .spec.values import split_inputs

    try:
        limits = _limits(limits, DEFAULT_LIMITS)
        _check_settings(expr=expr, rtol=rtol, atol=atol, dtype=dtype, order=order, method=method, step=step,
                        fast=fast, seed=seed, device=device, explain=explain, allow_import=allow_import,
                        precise=precise, nondet_tol=nondet_tol, precision=precision)
        wrt = _names(wrt, "wrt")
        manual, manual_hessian = _formulas(manual, "manual"), _formulas(manual_hessian, "manual_hessian")
        point, random, integers = split_inputs(_values(at, "at", limits, text=True))
        expected = _values(expected or {}, "expected", limits)
        kwargs, init_kwargs = _keywords(kwargs, "kwargs"), _keywords(init_kwargs, "init_kwargs")
    except GradcheckError as error:
        error.front = "python"
        shown = expr if isinstance(expr, str) else repr(expr)
        return CheckResult.of(error_result(name or shown, error, expr=shown))
    spec = Spec(expr=expr, at=point, random=random, integers=integers, wrt=wrt,
                manual=manual,
                manual_hessian=manual_hessian, expected=expected, rtol=rtol, atol=atol, dtype=dtype,
                order=order, method=method, step=step, fast=fast, seed=seed, name=name, function=function,
                reference=reference,
                args=list(args) if args else None, device=device, explain=explain, allow_import=allow_import,
                precise=precise, limits=limits, nondet_tol=nondet_tol, kwargs=kwargs,
                init_kwargs=init_kwargs, front="python", precision=_precisions(precision))
    return CheckResult.of(run(spec))


def _keywords(given, keyword: str) -> dict:
    """`kwargs` or `init_kwargs`: keyword arguments, each a literal (spec.keyword_arguments.KINDS)."""
    from .core.errors import UsageError
    from .spec.keyword_arguments import checked_keywords

    try:
        return checked_keywords({} if given is None else given)
    except UsageError as error:
        raise UsageError(f"{keyword}: {error.message}") from None


def _check_settings(expr, **settings) -> None:
    """Raises a UsageError naming the first keyword whose value the settings table (core.settings) refuses."""
    from .core.errors import UsageError
    from .core.settings import SETTINGS, invalid

    if not isinstance(expr, str):
        raise UsageError(f"expr={expr!r}: expected the expression as a str (\"\" with function= alone)")
    for name, value in settings.items():
        problem = invalid(name, value)
        if problem:
            raise UsageError(f"{SETTINGS[name].worded('python', value)}: {problem}")


def _precisions(given) -> list[str]:
    """`precision` as a list of dtypes ([] when not given); the settings table's rule has vetted it."""
    from .core.settings import precisions

    return [] if given is None else precisions(given)


def _names(given, keyword: str) -> list[str] | None:
    """`wrt` as the command line reads it: a str is one name or a comma-separated list ("x" or "x,y"), else a
    list of names; None or empty: every variable."""
    from collections.abc import Iterable

    from .core.errors import UsageError

    if given is None or (isinstance(given, (str, list, tuple)) and not given):
        return None
    if isinstance(given, str):
        names = [name.strip() for name in given.split(",")]
    else:  # a list of names; anything else (wrt=5) is refused below, not a TypeError
        names = list(given) if isinstance(given, Iterable) else [given]
    if not all(isinstance(name, str) and name for name in names):
        raise UsageError(f"{keyword}={given!r}: expected variable names (a str, \"x,y\", or a list of str)")
    return names


def _limits(given, default):
    """`limits`: a core.limits.Limits, or None for the defaults."""
    from .core.errors import UsageError
    from .core.limits import Limits

    if given is None:
        return default
    if not isinstance(given, Limits):
        raise UsageError(f"limits={given!r}: expected a gradcheck_cli.core.limits.Limits (or None for the defaults)")
    return given


def _formulas(given, keyword: str) -> dict[str, str]:
    """`manual` or `manual_hessian`: name -> formula text; a number is the formula it writes (2 is "2")."""
    from collections.abc import Mapping

    from .core.errors import UsageError

    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise UsageError(f"{keyword}: expected a dict of variable names to formulas, got a {type(given).__name__}")
    formulas = {}
    for key, formula in given.items():
        if not isinstance(key, str):
            raise UsageError(f"{keyword}[{key!r}]: expected a variable name as a str")
        formulas[key] = formula if isinstance(formula, str) else _number_formula(formula, f"{keyword}[{key!r}]")
    return formulas


def _number_formula(value, where: str) -> str:
    """A number as the formula that writes it: a Python or numpy number, or a numpy array or torch tensor of one
    element (the seed notebook's hand derivative is a tensor), never the object's repr (`np.float64(2.0)`)."""
    import math
    from numbers import Real

    from .core.errors import UsageError

    size = getattr(value, "numel", getattr(value, "size", None))
    size = size() if callable(size) else size
    if hasattr(value, "shape") and size == 1 and not isinstance(value, bool):
        value = value.item()  # a numpy scalar or array, a torch tensor: the number it holds
    elif hasattr(value, "shape") and isinstance(size, int):
        raise UsageError(f"{where}: expected a formula as a str (e.g. \"2*x\") or one number, got a "
                         f"{type(value).__name__} of {size} numbers")
    if not isinstance(value, Real) or isinstance(value, bool):
        raise UsageError(f"{where}: expected a formula as a str (e.g. \"2*x\"), got {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise UsageError(f"{where}: expected a finite number or a formula as a str, got {float(value)!r}")
    return repr(float(value))


def _values(given: dict, keyword: str, limits, text: bool = False) -> dict:
    """Each value of `given` (a number, list, numpy array or torch tensor) as a float64 array of its own; a bad
    one is an error naming it as check()'s argument does (at['x']: ...).  With `text`, a string is read as the
    command line reads it: `"randn(2, 3)"` (drawn from `seed`), `"@values.npy"` or numbers, and an integer numpy
    array or tensor is index data (spec.values.python_input)."""
    from collections.abc import Mapping

    from .core.errors import GradcheckError, ValueParseError
    from .spec.values import coerce_value, parse_input, python_input

    if not isinstance(given, Mapping):
        raise ValueParseError(f"{keyword}: expected a dict of variable names to values, got a {type(given).__name__}")
    values = {}
    for key, value in given.items():
        if not isinstance(key, str):
            raise ValueParseError(f"{keyword}[{key!r}]: expected a variable name as a str")
        try:
            if text:
                values[key] = parse_input(value, limits) if isinstance(value, str) else python_input(value, limits)
            else:
                values[key] = coerce_value(value, limits)
        except GradcheckError as error:
            error.template = f"{keyword}[{key!r}]: {error.template}"
            raise
    return values


def load_ipython_extension(ipython) -> None:
    """`%load_ext gradcheck_cli`: registers the %gradcheck and %%gradcheck magics (magics.py; needs IPython,
    the `notebook` extra)."""
    from .magics import GradcheckMagics

    ipython.register_magics(GradcheckMagics)
