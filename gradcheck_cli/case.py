"""Run one case: parse, differentiate, evaluate every engine, compare.

This is the only module that knows the order of the work; each step is a
call into the module that owns it.  Input problems become an `error` result
carrying the message and its location, never an exception.  What only some
checks need (culprits, --explain, --fast, second order, a user's function) is
imported where it is used: a one-line check pays for what it runs.
"""

from __future__ import annotations

import difflib
import math

import numpy as np

from .compare import DEFAULT_TOLERANCE, CaseResult, GradientRow, atol_note, case_status, judge
from .engines.finite_diff import finite_differences
from .engines.symbolic import jacobian_nodes
from .engines.torch_engine import autograd_gradients
from .domain import check_domain, check_gradients_finite
from .errors import GradcheckError, ShapeError, Span, UsageError
from .graph import Formulas, Node
from .parser import Expression, parse
from .plan import Plan, batched
from .shapes import ShapeMap, ShapeMismatch
from .spec import Spec



MAX_JACOBIAN_ENTRIES = 1_000_000
FLOAT32_ROUNDING = 1e-3  # relative gap that float32 arithmetic can produce on ordinary expressions


def run(spec: Spec) -> CaseResult:
    """Check one spec; errors in its input become a result with status `error`."""
    result = CaseResult(name=spec.display_name, expr=spec.program, point=_jsonable_point(spec.at),
                        wrt=list(spec.wrt or []), dtype=spec.dtype, tolerance=spec.tolerance,
                        file=spec.file, line=spec.line)
    try:
        _check(spec, result)
    except GradcheckError as error:
        _record_error(result, spec.locate(error))
        result.traceback = getattr(error, "trace", None)
    return result


def error_result(name: str, error: GradcheckError, **fields) -> CaseResult:
    """The result of a case that could not even be set up (e.g. an invalid spec file)."""
    result = CaseResult(name=name, **{"expr": "", **fields})
    _record_error(result, error)
    return result


def _record_error(result: CaseResult, error: GradcheckError) -> None:
    result.status = "error"
    result.error = error.as_dict()
    result.rendered_error = error.render()


def domain_probe(spec: Spec):
    """A test `at -> bool`: is this point inside the domain of every op?  None when the spec
    fails whatever the point (an expression that does not parse), so sampling need not retry.

    The expression is parsed and compiled once, however many points are probed.
    """
    try:
        expression = parse(spec.program, limits=spec.limits)
        wrt = _resolve_wrt(expression, spec.wrt)
    except GradcheckError:
        return None
    plans: dict[tuple, Plan] = {}

    def inside(at: dict) -> bool:
        try:
            point = _resolve_point(expression, at)
            shapes = tuple((name, value.shape) for name, value in sorted(point.items()))
            if shapes not in plans:
                with _located_shape_errors(expression, {}):
                    plans[shapes] = Plan([expression.output], ShapeMap(dict(shapes)))
            plan = plans[shapes]
            check_domain(expression, plan, plan.run({n: batched(v) for n, v in point.items()}), wrt)
        except GradcheckError:
            return False
        return True

    return inside


def _check(spec: Spec, result: CaseResult) -> None:
    if spec.function is not None:
        _refuse_function_options(spec)
    expression = parse(spec.program, limits=spec.limits)
    point = _resolve_point(expression, spec.at)
    wrt = _resolve_wrt(expression, spec.wrt)
    result.wrt = wrt
    function = _user_function(spec, expression) if spec.function is not None else None
    manuals = {name: _parse_manual(expression, name, text, wrt, spec) for name, text in spec.manual.items()
               if not _is_factor(name)}
    factors = [_parse_factor(expression, name, text, spec) for name, text in spec.manual.items() if _is_factor(name)]
    shapes = ShapeMap({name: value.shape for name, value in point.items()})
    with _located_shape_errors(expression, manuals):
        output_shape = _checked_output_shape(expression, shapes, point, wrt, spec)
        _check_manual_shapes(manuals, point, shapes, output_shape)
        rows = [] if spec.fast else jacobian_nodes(expression.output, wrt, shapes, expression.nodes)
        manual_nodes = {name: m.output for name, m in manuals.items()}
        plan = Plan([expression.output, *(n for row in rows for n in row.values()), *manual_nodes.values()], shapes)
    if output_shape == () and rows:
        result.formulas = Formulas(rows[0], expression.names())

    values = plan.run({n: batched(v.astype(spec.dtype)) for n, v in point.items()}, dtype=np.dtype(spec.dtype))
    check_domain(expression, plan, values, wrt)
    value = plan.value(values, expression.output)[0]
    result.value = float(value) if output_shape == () else value.astype(np.float64).tolist()

    def full(name: str, array) -> np.ndarray:
        return np.broadcast_to(np.asarray(array, dtype=np.float64), output_shape + point[name].shape)

    manual = {name: full(name, plan.value(values, node)[0]) for name, node in manual_nodes.items()}
    if spec.explain:
        from .explain import explain

        result.explanation = explain(expression, point, wrt, shapes, spec.dtype)
    if factors:
        _check_factors(expression, factors, point, shapes, spec, result)
    if spec.fast:
        _check_projections(expression, point, wrt, output_shape, manual, spec, result)
        return

    def jacobian(name: str, nodes: list[Node]) -> np.ndarray:
        shape = point[name].shape
        stacked = np.stack([np.broadcast_to(plan.value(values, n)[0], shape) for n in nodes])
        return stacked.reshape(output_shape + shape).astype(np.float64)

    answers = {
        "symbolic": {name: jacobian(name, [row[name] for row in rows]) for name in wrt},
        "manual": manual,
        "autograd": autograd_gradients(expression.output, point, wrt, spec.dtype, expression.nodes)[1],
        "expected": {name: full(name, v) for name, v in spec.expected.items()},
    }
    check_gradients_finite(answers["symbolic"], answers["autograd"], point, result.formulas)
    fd = _finite_differences(expression, plan, shapes, point, wrt, spec)
    answers["finite_difference"] = fd.gradients
    result.evaluations = {"finite_difference": fd.evaluations}
    own = _function_answers(function, spec, point, wrt, value, result) if function is not None else None
    if own is not None and own.value is not None:
        answers["function"], answers["function_fd"] = own.jacobian, own.finite.gradients
    result.gradients = _rows(wrt, point, output_shape, answers, fd, spec, own.finite if own else None)
    if own is not None and own.value is not None and not np.all(np.isfinite(own.value)):
        for row in result.gradients:  # its own finite differences are NaN too: the forward is what is wrong
            row.function_verdict = row.function_verdict and "forward not finite"
    if spec.dtype != "float64":
        values64 = plan.run({n: batched(v.astype(np.float64)) for n, v in point.items()})
        _add_precision_loss(result.gradients, {name: np.stack(
            [np.broadcast_to(plan.value(values64, row[name])[0], point[name].shape) for row in rows]
        ).reshape(output_shape + point[name].shape) for name in wrt})
    if spec.order == 2:
        manual_hessian = {_hessian_pair(name): _parse_manual(expression, name, text, wrt, spec, "manual Hessian")
                          for name, text in spec.manual_hessian.items()}
        from .second_order import hessian_rows

        result.hessian, result.evaluations["hessian_finite_difference"] = hessian_rows(
            expression, rows[0], point, wrt, shapes, spec, manual_hessian)
        if own is not None and own.hessian is not None:
            _add_function_hessian(result.hessian, own, spec)
    _find_culprits(expression, manuals, point, wrt, shapes, output_shape, spec, result)
    result.notes = [n for n in (atol_note(result.gradients, spec.tolerance),) if n] + result.notes
    result.status = case_status(result)


def _check_factors(expression: Expression, factors: list, point, shapes: ShapeMap, spec: Spec,
                   result: CaseResult) -> None:
    from .culprit import check_factor

    for factor in factors:
        try:
            row, culprit = check_factor(expression, factor, point, shapes, spec.tolerance, spec.dtype)
        except UsageError as error:
            error.origin = error.origin or spec.origins.get(f"manual.{factor.name}")
            raise
        result.factors.append(row)
        result.culprits += [culprit] if culprit else []


def _find_culprits(expression: Expression, manuals: dict[str, Expression], point, wrt, shapes: ShapeMap,
                   output_shape: tuple, spec: Spec, result: CaseResult) -> None:
    """Name the part responsible for each kind of disagreement, and mark the rows it explains."""
    failing = [row for row in result.gradients if row.status == "fail"]
    if not failing and not result.culprits:
        return
    from .culprit import manual_culprit, node_culprit

    for name, manual in manuals.items():
        if output_shape == () and any(r.wrt == name and "manual" in r.disagrees for r in failing):
            result.culprits.append(manual_culprit(expression, manual, name, point, wrt, shapes, spec.tolerance))
    for engine in ("symbolic", "autograd"):
        if any(engine in row.disagrees and row.diagnosis != "precision artefact" for row in failing):
            culprit = node_culprit(expression, point, wrt, shapes, spec.tolerance, engine, spec.dtype)
            result.culprits += [culprit] if culprit else []
    for culprit in result.culprits:
        if culprit.source == "expr" and culprit.span is not None:
            culprit.source, _, span = spec.place(Span(*culprit.span))
            culprit.span = tuple(span)
        for row in failing:
            if culprit.kind in row.disagrees and culprit.variable in (None, row.wrt) and row.culprit is None:
                row.culprit = culprit


def _check_projections(expression, point, wrt, output_shape, manual, spec: Spec, result: CaseResult) -> None:
    from .projections import projection_rows

    seed = spec.seed if spec.seed is not None else int(np.random.SeedSequence().entropy % 2**32)
    result.gradients, count = projection_rows(expression, point, wrt, output_shape, manual, spec, seed)
    result.evaluations = {"finite_difference": count}
    what = "gradient" if output_shape == () else "Jacobian"
    result.notes = [f"--fast: {len(result.gradients)} random projections uᵀJv with seed {seed} instead of the "
                    f"full {what}; they may miss an error confined to a few entries (--seed {seed} reproduces them)"]
    result.status = case_status(result)


def _checked_output_shape(expression: Expression, shapes: ShapeMap, point, wrt, spec: Spec) -> tuple:
    shape = shapes(expression.output)
    if spec.manual_hessian and spec.order != 2:
        raise UsageError("a manual Hessian needs --order 2 (order: 2 in YAML)")
    if spec.order == 2 and shape != ():
        raise ShapeError(f"the expression's value has shape {shape}; second order needs a scalar",
                         expression.source, expression.span_of(expression.output),
                         "reduce it with sum(...) or mean(...)")
    if spec.fast and (spec.order == 2 or spec.expected):
        raise UsageError("--fast checks projections of first derivatives: it does not combine with "
                         "--order 2 or expected values")
    entries = math.prod(shape) * sum(point[name].size for name in wrt)
    if entries > MAX_JACOBIAN_ENTRIES and not spec.fast:
        raise ShapeError(f"the expression's value has shape {shape}: its Jacobian would have {entries:,} "
                         f"entries (at most {MAX_JACOBIAN_ENTRIES:,} are checked)", expression.source,
                         expression.span_of(expression.output), "reduce it, or check projections with --fast")
    for name, value in spec.expected.items():
        if np.shape(value) not in ((), point[name].shape, shape + point[name].shape):
            raise UsageError(f"expect.{name} has shape {np.shape(value)}; expected {shape + point[name].shape}")
    return shape


def _finite_differences(expression: Expression, plan: Plan, shapes: ShapeMap, point, wrt, spec: Spec):
    plan = plan.restricted_to([expression.output], expression.nodes)  # the derivative nodes are not perturbed
    # At the point the other engines see: in float32 that is the rounded point.
    point64 = {name: value.astype(spec.dtype).astype(np.float64) for name, value in point.items()}
    return finite_differences(plan, expression.output, point64, wrt, shapes, spec.method, spec.step)


def _rows(wrt, point, output_shape, answers, fd, spec: Spec, function_fd=None) -> list[GradientRow]:
    rows = []
    for name in wrt:
        for out in np.ndindex(output_shape):
            for index in np.ndindex(point[name].shape):
                entry = out + index
                row = GradientRow(wrt=name, index=list(index), output_index=list(out))
                for engine, by_name in answers.items():
                    if name in by_name:
                        setattr(row, engine, float(by_name[name][entry]))
                row.fd_error = float(fd.errors[name][entry])
                row.fd_method, row.fd_evaluations = str(fd.methods[name][entry]), int(fd.costs[name][entry])
                if not math.isfinite(row.finite_difference):  # on a kink, or no step stayed in the domain
                    row.finite_difference = row.fd_error = None
                    left, right = float(fd.left[name][entry]), float(fd.right[name][entry])
                    if math.isfinite(left) and math.isfinite(right):
                        row.left, row.right = left, right
                if "function_fd" in answers:
                    _set_function_fd(row, row.function_fd, float(function_fd.errors[name][entry]))
                rows.append(judge(row, spec.tolerance))
    return rows


def _add_precision_loss(rows: list[GradientRow], reference64: dict[str, np.ndarray]) -> None:
    """Beside float32 answers: the float64 symbolic value, how far the float32 engines are from it, and
    for a failing entry whether the disagreement is a precision artefact (it vanishes in float64)."""
    float64 = DEFAULT_TOLERANCE["float64"]
    for row in rows:
        row.float64 = float(reference64[row.wrt][tuple(row.output_index + row.index)])
        gaps = [abs(v - row.float64) for v in (row.symbolic, row.autograd) if v is not None and math.isfinite(v)]
        if gaps and row.float64 != 0:
            row.precision_loss = max(gaps) / abs(row.float64)
        if row.status == "fail" and row.finite_difference is not None:
            # An artefact: float64 agrees with finite differences, and every disagreeing float32 answer
            # is off by no more than float32 rounding could explain.
            vanishes = float64.agree(row.float64, row.finite_difference, row.fd_error or 0.0)
            small = all(abs(v - row.float64) <= FLOAT32_ROUNDING * max(abs(v), abs(row.float64))
                        for name, v in row.answers().items() if name in row.disagrees and name != "finite_difference")
            row.diagnosis = "precision artefact" if vanishes and small else "real"


# ---- a user's own torch function ----


def _refuse_function_options(spec: Spec) -> None:
    if not spec.allow_import:
        target = spec.function if isinstance(spec.function, str) else "a callable"
        raise UsageError(f"--no-import: this case names a function to import ({target}); nothing was imported",
                         origin=spec.origins.get("function"))
    if spec.fast:
        raise UsageError("--fast does not combine with a function: its gradient is checked entry by entry",
                         origin=spec.origins.get("function"))
    if spec.dtype != "float64":
        raise UsageError("a function is checked in float64 (whether it works there is one of the checks); "
                         "drop --dtype float32", origin=spec.origins.get("function"))


def _user_function(spec: Spec, expression: Expression):
    from .user_code import resolve

    with _at_function_key(spec):
        return resolve(spec.function, spec.args, expression.variables)


def _function_answers(function, spec: Spec, point, wrt, value, result: CaseResult):
    """The function's gradient, its forward's finite differences and its checks; notes and details on `result`."""
    from .custom_function import check, device_for

    device, note = device_for(spec.device)
    with _at_function_key(spec):
        own = check(function, point, wrt, np.asarray(value, dtype=np.float64), spec.tolerance, device, spec.order)
    result.function = {"target": function.label, "inputs": list(function.inputs), "device": device}
    result.checks = own.checks
    result.notes += [note] if note else []
    if own.finite is not None:
        result.evaluations["function_finite_difference"] = own.finite.evaluations
    return own


class _at_function_key:
    """Point an error about the user's function at the spec file's `function:` key, where there is one."""

    def __init__(self, spec: Spec):
        self.origin = spec.origins.get("function")

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, GradcheckError) and error.origin is None and error.source is None:
            error.origin = self.origin
            error.context = None if self.origin else "--function"
        return False


def _set_function_fd(row: GradientRow, value: float, error: float) -> None:
    """Finite differences of the function's forward, or none where no step gave a finite estimate."""
    finite = math.isfinite(value)
    row.function_fd, row.function_fd_error = (value, error) if finite else (None, None)


def _add_function_hessian(rows: list[GradientRow], own, spec: Spec) -> None:
    """The function's double backward and finite differences of its backward, judged beside the reference's."""
    for row in rows:
        (a, b), entry = row.wrt, tuple(row.index[0]) + tuple(row.index[1])
        row.function = float(own.hessian[(a, b)][entry])
        finite = own.hessian_finite[a]
        _set_function_fd(row, float(finite.gradients[b][entry]), float(finite.errors[b][entry]))
        judge(row, spec.tolerance)


# ---- input validation ----


def _resolve_point(expression: Expression, at: dict) -> dict[str, np.ndarray]:
    missing = [name for name in expression.variables if name not in at]
    if missing:
        listed = ", ".join(missing)
        raise UsageError(f"missing value for {listed} (give it as --{missing[0]} VALUE or --at {missing[0]}=VALUE)")
    unknown = [name for name in at if name not in expression.variables]
    if unknown:
        raise UsageError(f"{unknown[0]!r} is not a variable of the expression"
                         + _suggestion(unknown[0], expression.variables))
    return {name: np.asarray(at[name], dtype=np.float64) for name in expression.variables}


def _resolve_wrt(expression: Expression, wrt: list[str] | None) -> list[str]:
    if not expression.variables:
        raise UsageError("the expression has no variables: there is nothing to differentiate",
                         expression.source, expression.span_of(expression.output))
    if not wrt:
        return list(expression.variables)
    for name in wrt:
        if name not in expression.variables:
            raise UsageError(f"cannot differentiate with respect to {name!r}: it is not a variable of the expression"
                             + _suggestion(name, expression.variables))
    return list(dict.fromkeys(wrt))


def _suggestion(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (its variables: {', '.join(choices)})" if choices else " (it has no variables)"


def _parse_manual(expression: Expression, name: str, text: str, wrt: list[str], spec: Spec,
                  what: str = "manual gradient") -> Expression:
    """A hand-derived formula for `name` (a variable, or `a,b` for a Hessian block), in the expression's scope."""
    for variable in name.split(","):
        if variable not in wrt:
            raise UsageError(f"a {what} is given for {variable!r}, which is not differentiated"
                             + (_suggestion(variable, wrt) if variable not in expression.variables else " (see --wrt)"))
    return _parse_in_scope(expression, text, spec, f"the {what} for {name}")


def _parse_in_scope(expression: Expression, text: str, spec: Spec, what: str) -> Expression:
    """A formula of the user's that may use the expression's variables and bindings, and nothing else."""
    formula = parse(text, graph=expression.graph, bindings=expression.bindings, limits=spec.limits)
    for variable in formula.variables:
        if variable not in expression.variables:
            node = expression.graph.var(variable)
            raise UsageError(f"{what} uses {variable!r}, which is not a variable or binding of the expression",
                             formula.source, formula.spans.get(node.id))
    return formula


def _is_factor(name: str) -> bool:
    return "/" in name


def _parse_factor(expression: Expression, name: str, text: str, spec: Spec):
    """A hand-derived chain factor `dA/dB` in the expression's scope (a culprit.FactorSpec)."""
    from .culprit import FactorSpec, factor_ends

    try:
        normalised, top, bottom = factor_ends(expression, name)
    except UsageError as error:
        error.origin = spec.origins.get(f"manual.{name}")
        raise
    return FactorSpec(normalised, _parse_in_scope(expression, text, spec, f"the manual factor {name}"), top, bottom)


def _hessian_pair(name: str) -> tuple[str, str]:
    names = [n.strip() for n in name.split(",")]
    return (names[0], names[0]) if len(names) == 1 else (names[0], names[1])


def _check_manual_shapes(manuals: dict[str, Expression], point, shapes: ShapeMap, output_shape: tuple) -> None:
    for name, manual in manuals.items():
        shape, target = shapes(manual.output), output_shape + point[name].shape
        try:
            fits = np.broadcast_shapes(shape, target) == target
        except ValueError:
            fits = False
        if not fits:
            what = "gradient" if output_shape == () else "Jacobian"
            raise ShapeError(f"the manual {what} for {name} has shape {shape}, but should have shape {target}",
                             manual.source, manual.span_of(manual.output))


class _located_shape_errors:
    """Turn a ShapeMismatch into a ShapeError pointing at the node in its source."""

    def __init__(self, expression: Expression, manuals: dict[str, Expression]):
        self.sources = [expression, *manuals.values()]

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, ShapeMismatch):
            owner = next((e for e in self.sources if error.node.id in e.spans), self.sources[0])
            span = owner.operator_spans.get(error.node.id) or owner.spans.get(error.node.id)
            raise ShapeError(str(error), owner.source, span) from None
        return False


def _jsonable_point(at: dict) -> dict:
    return {name: np.asarray(value, dtype=np.float64).tolist() for name, value in at.items()}
