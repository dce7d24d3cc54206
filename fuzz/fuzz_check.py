#!/usr/bin/env python3
"""atheris target: the whole check, `gradcheck_cli.check(...)`, on short expressions with small values.

The input is text, one item per line, like a tiny command line::

    sum(W*v)
    W=[[1,2],[3,4]]
    v=0.5,-1
    manual v=sum_to(W, v)
    wrt=v
    dtype=float32
    order=2

The first line is the expression (`z = w*x + b; ...` bindings allowed; at most MAX_EXPR
characters).  `NAME=VALUE` lines give a variable's value through `values.parse_value` (at most
MAX_ELEMENTS elements); a variable without one is 0.7.  `manual NAME=FORMULA`, `wrt=a,b`,
`dtype=` and `order=` lines map to check()'s arguments; other lines are ignored.  Inputs whose
expression does not parse, or that have more than MAX_VARIABLES variables, are skipped: the
parser target covers those.

A finding (unless skipped with FUZZ_IGNORE, see _harness.py) is: check() raising anything (it turns
GradcheckErrors into `error` results itself),
a result that is not a CaseResult with a known status, a JSON report that is not valid strict JSON
(NaN/inf leaking out), a table report that raises, or a check slower than FUZZ_CHECK_SLOW_SECONDS
(default 10 s, instrumented).
"""

from __future__ import annotations

import json
import os
import sys
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")  # be polite on a shared machine; torch reads it at import

import atheris  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import guarded, timed  # noqa: E402

with atheris.instrument_imports(include=["gradcheck_cli"]):
    import gradcheck_cli.diagnose.domain  # noqa: F401
    import gradcheck_cli.engines.finite_diff  # noqa: F401
    import gradcheck_cli.engines.symbolic  # noqa: F401
    import gradcheck_cli.engines.torch_engine  # noqa: F401
    import gradcheck_cli.lang.simplify  # noqa: F401
    import gradcheck_cli.lang.tensor_kernels  # noqa: F401
    import gradcheck_cli.run.case  # noqa: F401
    import gradcheck_cli.run.projections  # noqa: F401
    import gradcheck_cli.run.second_order  # noqa: F401
    from gradcheck_cli import check
    from gradcheck_cli.core.errors import GradcheckError
    from gradcheck_cli.core.limits import Limits
    from gradcheck_cli.lang.parser import parse
    from gradcheck_cli.report import json_, table
    from gradcheck_cli.spec.values import parse_value
    from gradcheck_cli.verdict.compare import STATUS_ORDER, CaseResult

import torch  # noqa: E402  (already imported by the torch engine)

torch.set_num_threads(1)

MAX_EXPR = 200
MAX_VARIABLES = 4
MAX_ELEMENTS = 16
DEFAULT_VALUE = 0.7
SLOW_SECONDS = float(os.environ.get("FUZZ_CHECK_SLOW_SECONDS", "10"))
SMALL = Limits(max_length=MAX_EXPR, max_depth=40, max_nodes=400, max_elements=MAX_ELEMENTS)


def _arguments(text: str):
    """(expr, check() keyword arguments), or None when the input is not worth a check."""
    lines = text.split("\n")
    expr = lines[0]
    if not expr.strip() or len(expr) > MAX_EXPR:
        return None
    try:
        variables = parse(expr, limits=SMALL).variables
    except GradcheckError:
        return None
    if len(variables) > MAX_VARIABLES:
        return None
    at = {name: DEFAULT_VALUE for name in variables}
    kwargs: dict = {"manual": {}}
    for line in lines[1:]:
        if line.startswith("manual "):
            name, _, formula = line[len("manual "):].partition("=")
            if formula and len(formula) <= MAX_EXPR:
                kwargs["manual"][name.strip()] = formula
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep:
            continue
        if key == "wrt":
            kwargs["wrt"] = [n.strip() for n in value.split(",") if n.strip()] or None
        elif key == "dtype":
            kwargs["dtype"] = "float32" if value.strip() == "float32" else "float64"
        elif key == "order":
            kwargs["order"] = 2 if value.strip() == "2" else 1
        elif key in at:
            try:
                # a value the parser target would flag is a finding here too
                parsed = guarded(parse_value, value, SMALL)
            except GradcheckError:
                continue
            if parsed is not None:
                at[key] = parsed
    return expr, {"at": at, **kwargs}


def _check_result(result) -> None:
    assert isinstance(result, CaseResult), f"check() returned {type(result).__name__}"
    assert result.status in STATUS_ORDER, f"unknown status {result.status!r}"
    assert result.status != "error" or result.error, "an error result without its error"
    json.loads(json_.render([result], {"dtype": result.dtype}))  # allow_nan=False inside: NaN must not leak
    table.render([result], {"color": "never", "width": 120})


def TestOneInput(data: bytes) -> None:
    arguments = _arguments(data.decode("utf-8", errors="replace"))
    if arguments is None:
        return
    expr, kwargs = arguments
    result = guarded(timed, f"check({expr!r})", check, expr, limit=SLOW_SECONDS, **kwargs)
    if result is not None:
        _check_result(result)


def main() -> None:
    warnings.simplefilter("ignore")  # numpy/torch RuntimeWarnings are not findings; exceptions are
    atheris.enabled_hooks.add("str")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
