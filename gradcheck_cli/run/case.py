"""Run one case: prepare -> forward value -> each engine -> reference and verdict -> diagnoses.

This is the only module that knows the order of the work (`_check` shows it
on one screen); each step is a call into the module that owns it.  The
float64 referees judge every entry; the high-precision referee runs only on
the entries they cannot settle or where a subject disagrees.  Input problems
become an `error` result carrying the message and its location, never an
exception.  What only some checks need (culprits, --explain, --fast, second order, a user's function) is
imported where it is used: a one-line check pays for what it runs.
"""

from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import (
    GradcheckError,
    InternalError,
    KeyedError,
    LimitError,
    MissingValues,
    ShapeError,
    Span,
    UnusedValues,
    UsageError,
)
from ..core.settings import SETTINGS, word
from ..core.text import did_you_mean
from ..diagnose.domain import check_value_defined, format_array, short
from ..engines.finite_diff import finite_differences
from ..engines.symbolic import jacobian_nodes
from ..engines.torch_engine import autograd_gradients
from ..lang.graph import Formulas, Node
from ..lang.ops import OPS
from ..lang.parser import Expression, parse
from ..lang.plan import Plan, flat_values, value_blocks
from ..lang.shapes import ShapeMap, ShapeMismatch, TooManyElements
from ..spec.spec import Spec
from ..verdict.compare import (
    DEFAULT_TOLERANCE,
    ROUNDING_DIAGNOSES,
    CaseResult,
    GradientRow,
    Status,
    answers_at,
    atol_note,
    case_status,
    digits_lost,
    drop_failed_differences,
    gradient_row,
)
from ..verdict.judge import add_precise, at_jump, judge, needs_precise, passed_errors, passed_row, plain_passes
from ..verdict.patterns import failure_patterns, pattern_notes

CANCELLATION = 1e3  # |a| + |b| over |a ± b| past which the float referees may share a wrong forward
ABSORBED = 1e-8  # a term this small against the other keeps only half its digits in a sum
LOG_NEAR_ONE = 1e-4  # log is ill-conditioned near 1: its relative error is eps/|log(x)|
EPS64 = float(np.finfo(np.float64).eps)
ARRAY_VOTE = 64  # entries of a variable from which they are voted on as arrays (_rows)
ROUNDED = 1e-13  # relative change of the forward value by float64 rounding that calls for a closer look


def run(spec: Spec) -> CaseResult:
    """Check one spec; errors in its input become a result with status `error`."""
    spec = spec.drawn()  # random inputs (`randn(2, 3)`), from the spec's seed
    result = CaseResult(name=spec.display_name, expr=spec.program, point=_jsonable_point(spec.at),
                        wrt=list(spec.wrt or []), dtype=spec.dtype, tolerance=spec.tolerance,
                        file=spec.file, line=spec.line, seed=spec.seed if spec.random else None)
    try:
        _check(spec, result)
        _word_settings(result, spec)
    except GradcheckError as error:
        _record_error(result, spec.locate(error))
        result.traceback = getattr(error, "trace", None)
    except Exception as error:  # the last resort: a fault of ours costs this case, never the run
        internal = InternalError.from_exception(error, "checking this case")
        _record_error(result, spec.locate(internal))
        result.traceback = internal.trace
        result.gradients, result.hessian = [], []
    return result


def _word_settings(result: CaseResult, spec: Spec) -> None:
    """Notes and findings name settings as `{order=2}` (core.settings): word them for the spec's front end."""
    def worded(text: str) -> str:
        return word(text, spec.speaks, spec.command_line)

    result.notes = [worded(note) for note in result.notes]
    for finding in result.culprits + result.checks:
        finding.message = worded(finding.message)
    for row in result.gradients + result.hessian:
        row.referee_notes = [worded(note) for note in row.referee_notes]
        row.reason = row.reason and worded(row.reason)


def error_result(name: str, error: GradcheckError, **fields) -> CaseResult:
    """The result of a case that could not even be set up (e.g. an invalid spec file)."""
    result = CaseResult(name=name, **{"expr": "", **fields})
    _record_error(result, error)
    return result


def _record_error(result: CaseResult, error: GradcheckError) -> None:
    result.status = Status.ERROR
    result.error = error.as_dict()
    result.rendered_error = error.render()


@dataclass
class _Case:
    """What the stages of one check share."""

    spec: Spec
    result: CaseResult
    expression: Expression
    point: dict[str, np.ndarray]
    wrt: list[str]
    shapes: ShapeMap
    output_shape: tuple
    manuals: dict[str, Expression]
    factors: list
    jacobian_rows: list[dict[str, Node]]  # the symbolic Jacobian: one {variable: node} per output element
    plan: Plan
    values: list = field(default_factory=list)
    function: object = None
    value_finite: bool = True  # the expression's value at the point is finite in the case's dtype
    rounding: str | None = None  # how float rounding may have changed the forward: see _forward_rounding
    exact: object = None  # precise.PreciseValues, where the high-precision referee ran
    symbolic: dict = field(default_factory=dict)  # the symbolic Jacobian per variable, from `values`

    @property
    def point64(self) -> dict[str, np.ndarray]:
        """The point the engines see (in float32, the rounded point), in float64: the referees' point."""
        return {name: value.astype(self.spec.dtype).astype(np.float64) for name, value in self.point.items()}


def _check(spec: Spec, result: CaseResult) -> None:
    """prepare -> the forward value -> each engine -> the reference and the verdict -> diagnoses."""
    for name in ("kwargs", "init_kwargs"):
        if getattr(spec, name) and spec.function is None:
            raise UsageError(f"keyword arguments ({{{name}}}) are passed to a function; this case names none "
                             "({function})", origin=spec.origins.get(name))
    if spec.function is not None and (not spec.expr or spec.reference is not None):
        from .function_case import check_function  # the reference is code: the function's own, or --reference

        check_function(spec, result)
        return
    case = _prepare(spec, result)
    with _located_shape_errors(case.expression, case.manuals):  # the derivative nodes each stage makes are checked
        _evaluate_forward(case)
        if spec.explain:
            from ..diagnose.explain import explain

            result.explanation = explain(case.expression, case.point, case.wrt, case.shapes, spec.dtype)
        if case.factors:
            _check_factors(case.expression, case.factors, case.point, case.shapes, spec, result)
        if spec.fast:
            _check_projections(case.expression, case.point, case.wrt, case.output_shape, _manual_answers(case),
                               spec, result)
            return
        own = _evaluate_engines(case)
        _settle_disputes(case)
        _own_differences_across_a_kink(case, own)
        _blame_a_forward_that_is_not_finite(case, own)
        if spec.dtype != "float64":
            _add_precision_loss(case)
        if spec.order == 2:
            _add_hessian(case, own)
        _diagnose(case)
    result.notes = [n for n in (atol_note(result.gradients, spec.tolerance),) if n] + result.notes
    result.patterns = failure_patterns(result.gradients, {name: case.point[name].shape for name in case.wrt},
                                       np.shape(result.value) if result.value is not None else None)
    result.notes += pattern_notes(result.patterns)
    result.status = case_status(result)


def _refuse_settings_of_a_function(spec: Spec) -> None:
    """A setting that only a function uses, given to a case that names none, is refused as the command refuses
    `--args` without `--function` (a spec's `reference:` was ignored and the expression alone passed).  One the
    command line gives over spec files (`gradcheck specs/ --device cuda`) is for their cases that name one."""
    given = {"reference": spec.reference is not None, "args": bool(spec.args), "nondet_tol": spec.nondet_tol != 0,
             "device": spec.device != "cpu"}
    for name, is_given in given.items():
        if is_given and name not in spec.command_line:
            value = _placeholder_value(getattr(spec, name))
            raise KeyedError(name, f"{{{name}{value}}} {FUNCTION_SETTINGS[name]}; give {{function}} too")
    if spec.precision:
        raise KeyedError("precision", "{precision} runs a {function} in lower precision: give {function} too (an "
                         "expression's engines run in float32 with {dtype=float32})")


FUNCTION_SETTINGS = {"reference": "is what {function} is checked against",
                     "args": "names the inputs of {function}",
                     "nondet_tol": "is how far two backward passes of {function} may differ",
                     "device": "chooses where {function} runs (expressions run on the CPU)"}


def _placeholder_value(value) -> str:
    """`=VALUE` for a settings placeholder (`{args=x,y}`), or nothing where the text would break the template."""
    text = ",".join(value) if isinstance(value, list) else str(value)
    return "" if "{" in text or "}" in text else f"={text}"


def _prepare(spec: Spec, result: CaseResult) -> _Case:
    """Parse the expression and the user's formulas, resolve the point, infer shapes, compile the plan."""
    if spec.function is not None:
        refuse_function_options(spec)
    else:
        _refuse_settings_of_a_function(spec)
    expression = parse(spec.program, limits=spec.limits)
    function = _user_function(spec, expression) if spec.function is not None else None
    point = _resolve_point(expression, _with_parameter_values(function, spec.at))
    if function is not None and function.values:
        result.point = _jsonable_point({**point, **spec.at})  # a module's parameters at the values checked too
    shapes = ShapeMap({name: value.shape for name, value in point.items()}, spec.limits)
    with _located_shape_errors(expression, {}):
        shapes.of_closed(expression.nodes)  # every node checked against the limits before anything is evaluated
    if spec.dtype != "float64":  # the point's numbers are finite float64 already
        _check_point_fits(point, spec.dtype)
    wrt = _resolve_wrt(expression, spec.wrt)
    result.wrt = wrt
    manuals = {name: _parse_manual(expression, name, text, wrt, spec) for name, text in spec.manual.items()
               if not _is_factor(name)}
    factors = [_parse_factor(expression, name, text, spec) for name, text in spec.manual.items() if _is_factor(name)]
    with _located_shape_errors(expression, manuals):
        output_shape = _checked_output_shape(expression, shapes, point, wrt, spec)
        _check_manual_shapes(manuals, point, shapes, output_shape)
        rows = [] if spec.fast else jacobian_nodes(expression.output, wrt, shapes, expression.nodes)
        plan = Plan([expression.output, *(n for row in rows for n in row.values()),
                     *(m.output for m in manuals.values())], shapes)
    if output_shape == () and rows:
        result.formulas = Formulas(rows[0], expression.names())
    return _Case(spec, result, expression, point, wrt, shapes, output_shape, manuals, factors, rows, plan,
                 function=function)


def _evaluate_forward(case: _Case) -> None:
    """The expression's value.  Where it is not finite, the high-precision referee says whether the exact
    value is undefined (bad input: exit 2, naming the node) or float64 overflowed or cancelled (a finding)."""
    spec, expression = case.spec, case.expression
    case.values = case.plan.at(case.point, spec.dtype)
    value = case.plan.value(case.values, expression.output)[0]
    case.result.value = float(value) if case.output_shape == () else value.astype(np.float64).tolist()
    case.value_finite = bool(np.all(np.isfinite(value)))
    case.rounding = _forward_rounding(case) if case.value_finite else None
    case.result.notes += _torch_readings(case)
    if not case.value_finite or not _every_node_finite(case):  # a NaN may be masked, or hide 1/(1/x) at 0
        from ..engines.precise import evaluate

        case.exact = evaluate(expression.nodes, case.point64, case.shapes)
        if case.exact.affordable:
            check_value_defined(expression, case.plan, case.values, case.exact)
        elif case.value_finite:
            case.exact = None  # past the referee's budget, a masked NaN goes unexamined
        else:
            raise LimitError("the value is not finite at this point, and the graph is too large for the "
                             "high-precision referee to tell an undefined value from an overflow", expression.source,
                             expression.span_of(expression.output), "check fewer elements")


def _torch_readings(case: _Case) -> list[str]:
    """A note, once each, where an op's input is one torch's function reads otherwise (OpSpec.torch_reads: eigh
    of a non-symmetric A), so that a value unlike the user's torch code's is said to be."""
    notes: list[str] = []
    for node in case.expression.nodes:
        reads = OPS[node.op].torch_reads if node.op in OPS else None
        if reads:
            inputs = [case.plan.value(case.values, a)[0] for a in node.args]
            note = reads(*inputs, node.attr) if OPS[node.op].attrs else reads(*inputs)
            if note and note not in notes:
                notes.append(note)
    return notes


def _every_node_finite(case: _Case) -> bool:
    nodes = case.expression.nodes
    return all(np.all(np.isfinite(block)) for block in value_blocks([case.plan.value(case.values, n) for n in nodes]))


def _forward_rounding(case: _Case) -> str | None:
    """How float rounding may have changed the forward at the point, where symbolic and finite differences
    then differentiate the same rounded forward and can agree on a wrong value:

    - "hidden": a sum absorbs a term whole (`1 + x` at x = 1e-20) or computed values cancel to exactly 0
      (`1 - cos(x)` at 1e-10), which long double may not see either;
    - "moves": a screened point where some node's value changes by more than ROUNDED (relative) when the
      forward runs again in long double (`(exp(x) - 1)/x` at 1e-9: both referees say -81.7, the derivative
      is 0.5), also where a large term hides it in the output (`log(1 + x)/x + 1e9*y`);
    - None otherwise.

    The screen, one vectorised look at every sum and every log (sums that cancel three digits or absorb
    eight, logs within 1e-4 of 1), keeps the long-double run off ordinary points."""
    screen = _rounding_screen(case)
    if screen != "suspect":
        return screen
    if not _has_long_double():
        return "moves"
    expression = case.expression
    forward = case.plan.restricted_to([expression.output], expression.nodes)
    nodes = [n for n in expression.nodes if n.op not in ("var", "const")]
    if case.spec.dtype == "float64":
        rounded = flat_values([case.plan.value(case.values, n) for n in nodes])
    else:
        values = forward.at(case.point64)
        rounded = flat_values([forward.value(values, n) for n in nodes])
    extended = forward.at(case.point64, np.longdouble)
    with np.errstate(all="ignore"):
        exact = flat_values([forward.value(extended, n) for n in nodes]).astype(np.float64)
        return "moves" if np.any(~(np.abs(rounded - exact) <= ROUNDED * np.abs(exact))) else None


def _rounding_screen(case: _Case) -> str | None:
    """"hidden" (see _forward_rounding), "suspect" (worth a long-double run), or None, from every sum and
    difference and every log at the point, in a few array operations."""
    plan, values = case.plan, case.values

    def value(node: Node) -> np.ndarray:
        return values[plan.slot[node.id]]

    sums = [n for n in case.expression.nodes if n.op in ("add", "sub") and n.args[0] is not n.args[1]]
    logs = [n for n in case.expression.nodes if n.op == "log"]
    with np.errstate(all="ignore"):
        suspect = any(np.any(np.abs(value(n.args[0]) - 1) < LOG_NEAR_ONE) for n in logs)
        if not sums:
            return "suspect" if suspect else None
        results = [value(n) for n in sums]
        terms = [[value(a) for a in n.args] for n in sums]
        if all(r.size == 1 for r in results):  # scalars, the common case: plain floats are faster than arrays
            return _scalar_rounding_screen(sums, terms, results, suspect)
        if any(t.size != r.size for pair, r in zip(terms, results) for t in pair):  # broadcasting: line them up
            terms = [[np.broadcast_to(t, r.shape) for t in plan.arguments(values, n)]
                     for n, r in zip(sums, results)]
        a = np.abs(flat_values([pair[0] for pair in terms]))
        b = np.abs(flat_values([pair[1] for pair in terms]))
        result = np.abs(flat_values(results))
        small, big = np.minimum(a, b), np.maximum(a, b)
        if not (suspect or np.any((a + b > CANCELLATION * result) | ((small > 0) & (small < ABSORBED * big)))):
            return None
        computed = np.repeat([n.args[0].op not in ("var", "const") or n.args[1].op not in ("var", "const")
                              for n in sums], [r.size for r in results])
        if np.any((small > 0) & (small < EPS64 * big)) or np.any(computed & (result == 0) & (big > 0)):
            return "hidden"
    return "suspect"


def _scalar_rounding_screen(sums: list[Node], terms: list, results: list, suspect: bool) -> str | None:
    """_rounding_screen for sums of one element each."""
    hidden = False
    for node, (first, second), result in zip(sums, terms, results):
        a, b, r = abs(first.item()), abs(second.item()), abs(result.item())
        small, big = min(a, b), max(a, b)
        computed = node.args[0].op not in ("var", "const") or node.args[1].op not in ("var", "const")
        hidden |= 0 < small < EPS64 * big or computed and r == 0 and big > 0
        suspect |= a + b > CANCELLATION * r or 0 < small < ABSORBED * big
    return "hidden" if hidden else "suspect" if suspect else None


def _has_long_double() -> bool:
    return np.finfo(np.longdouble).eps < np.finfo(np.float64).eps


def _rounding_moves_the_derivative(case: _Case) -> bool:
    """On a point where the forward cancels: does the symbolic derivative move, evaluated again in extended
    precision (long double), by more than a tenth of the tolerance?  Then float rounding decides it, and the
    float referees' agreement proves nothing.  Without an extended type, assume it does."""
    if not _has_long_double():
        return True
    extended = case.plan.at(case.point64, np.longdouble)
    tolerance = case.spec.tolerance
    references = _symbolic_jacobian(case, extended)
    for name, jacobian in case.symbolic.items():
        reference = references[name]
        with np.errstate(all="ignore"):
            moved = np.abs(jacobian - reference) > 0.1 * (tolerance.atol + tolerance.rtol * np.abs(reference))
        if np.any(moved | (np.isfinite(reference) != np.isfinite(jacobian))):
            return True
    return False


def _manual_answers(case: _Case) -> dict[str, np.ndarray]:
    return {name: _full(case, name, case.plan.value(case.values, m.output)[0]) for name, m in case.manuals.items()}


def _full(case: _Case, name: str, array) -> np.ndarray:
    return np.broadcast_to(np.asarray(array, dtype=np.float64), case.output_shape + case.point[name].shape)


def _evaluate_engines(case: _Case):
    """Every engine's Jacobian, the rows judged by the float64 referees; the user's function's answers."""
    spec, result, expression, point, wrt = case.spec, case.result, case.expression, case.point, case.wrt

    case.symbolic = _symbolic_jacobian(case, case.values)
    written_out: list[str] = []  # torch refuses an operand's gradient: autograd of the op written out, said so
    answers = {
        "symbolic": case.symbolic,
        "manual": _manual_answers(case),
        "autograd": autograd_gradients(expression.output, point, wrt, spec.dtype, expression.nodes, written_out)[1],
        "expected": {name: _full(case, name, v) for name, v in spec.expected.items()},
    }
    fd = _finite_differences(case)
    if not case.value_finite:
        _drop_meaningless_differences(case, fd)
    answers["finite_difference"], answers["fd_error"] = fd.gradients, fd.errors
    result.evaluations = {"finite_difference": fd.evaluations}
    own = None
    if case.function is not None:
        value = case.plan.value(case.values, expression.output)[0]
        own = _function_answers(case.function, spec, point, wrt, value, result)
    if own is not None and own.value is not None:
        answers["function"], answers["function_fd"] = own.jacobian, own.finite.gradients
        answers["function_fd_error"] = own.finite.errors
    result.gradients = judged_rows(wrt, point, case.output_shape, answers, fd, spec)
    result.notes += written_out
    return own


def _own_differences_across_a_kink(case: _Case, own) -> None:
    """Finite differences of the function's forward, a black box that shows no kinks, that straddle one closer to
    the point than any of their steps (relu at -1e-300: 0.5 at every step) fail it against a reference they could
    never match.  Where they disagree, its forward's one-sided derivatives are taken: where they settle, differ and
    hold the reference between them, its central differences say nothing here and are dropped, with a note."""
    spec = case.spec
    rows = [row for row in case.result.gradients if "function_fd" in row.disagrees and row.reference is not None]
    if not rows or own is None or own.value is None:
        return
    from ..engines.finite_diff import one_sided_of_function
    from ..userfn.custom_function import device_for
    from ..userfn.user_code import Runner, over_batch, stdout_to_stderr

    runner = Runner(case.function, device_for(spec.device)[0], np.shape(own.value))
    for name in dict.fromkeys(row.wrt for row in rows):
        mine = [row for row in rows if row.wrt == name]
        shape = np.shape(case.point[name])
        elements = np.array(sorted({_flat_index(row.index, shape) for row in mine}))
        with stdout_to_stderr():
            left, right, _ = one_sided_of_function(over_batch(runner.value), case.point, name, elements,
                                                   spec.tolerance.close)
        position = {int(element): i for i, element in enumerate(elements)}
        for row in mine:
            i, out = position[_flat_index(row.index, shape)], _flat_index(row.output_index, case.output_shape)
            low, high = sorted((float(left[i, out]), float(right[i, out])))
            slack = spec.tolerance.atol + spec.tolerance.rtol * max(abs(low), abs(high))
            if not (math.isfinite(low) and math.isfinite(high)) or spec.tolerance.agree(low, high) or not (
                    low - slack <= row.reference <= high + slack):
                continue
            note = (f"finite differences of your function's forward give {row.function_fd:.10g} here, across a kink "
                    f"next to the point (its one-sided derivatives are {low:.10g} and {high:.10g}): not shown")
            row.function_fd = row.function_fd_error = None
            judge(row, spec.tolerance)
            row.referee_notes.append(note)


def _flat_index(index: list[int], shape: tuple) -> int:
    return int(np.ravel_multi_index(index, shape)) if shape else 0


def _blame_a_forward_that_is_not_finite(case: _Case, own) -> None:
    if own is not None and own.value is not None and not np.all(np.isfinite(own.value)):
        for row in case.result.gradients:  # its own finite differences are NaN too: the forward is what is wrong
            row.function_verdict = row.function_verdict and "forward not finite"


def _drop_meaningless_differences(case: _Case, fd) -> None:
    """Differences of a value that is not finite at the point are no estimate of anything."""
    value = np.asarray(case.plan.value(case.values, case.expression.output)[0])
    for name in case.wrt:
        bad = ~np.isfinite(value).reshape(case.output_shape + (1,) * case.point[name].ndim)
        fd.gradients[name] = np.where(bad, np.nan, fd.gradients[name])
        fd.errors[name] = np.where(bad, np.nan, fd.errors[name])


def _settle_disputes(case: _Case) -> None:
    """The high-precision referee, for the entries the float64 referees could not settle, where a subject
    disagrees, where the value is not finite, or everywhere with --precise; then those entries again."""
    spec, tolerance = case.spec, case.spec.tolerance
    shared = case.rounding == "hidden" or case.rounding == "moves" and _rounding_moves_the_derivative(case)
    disputed = [row for row in case.result.gradients
                if spec.precise or not case.value_finite or shared or needs_precise(row, tolerance)]
    if not disputed:
        return
    from ..engines.precise import precise_gradient

    entries: dict[str, list[tuple]] = {}
    for row in disputed:
        entries.setdefault(row.wrt, []).append(tuple(row.output_index + row.index))
    exact = precise_gradient(case.expression.output, case.expression.nodes, case.point64, case.wrt, case.shapes,
                             entries)
    case.exact = exact.value
    case.result.evaluations["precise"] = len(disputed)
    for row in disputed:
        add_precise(row, exact, row.wrt, tuple(row.output_index + row.index))
        judge(row, spec.tolerance)
        if row.precise is not None:
            row.digits_lost = digits_lost(row.autograd, row.precise, spec.dtype)
    if exact.value is not None and case.output_shape == ():
        output = case.expression.output
        if not np.any(exact.value.undefined(output)) and output.id not in exact.value.too_large:
            case.result.value_digits_lost = digits_lost(float(np.ravel(case.result.value)[0]),
                                                        float(exact.value.as_float64(output)), spec.dtype)


def _finite_differences(case: _Case):
    expression = case.expression
    plan = case.plan.restricted_to([expression.output], expression.nodes)  # the derivative nodes are not perturbed
    # In float64 the forward's run is the base point's: not evaluated twice.
    values = [case.plan.value(case.values, n) for n in plan.nodes] if case.spec.dtype == "float64" else None
    with np.errstate(all="ignore"):  # overflow at extreme points is a finding, not a warning on stderr
        return finite_differences(plan, expression.output, case.point64, case.wrt, case.shapes, case.spec.method,
                                  case.spec.step, values)


def judged_rows(wrt, point, output_shape, answers, fd, spec: Spec) -> list[GradientRow]:
    """Every entry's row, judged: for a variable of many entries the plain passes found on arrays first
    (judge.plain_passes), the others one by one (the same verdicts; below ARRAY_VOTE entries a vote on arrays
    costs more than it saves)."""
    rows = []
    for name in wrt:
        shape = output_shape + point[name].shape
        if math.prod(shape) < ARRAY_VOTE:
            rows += [_judged_row(answers_at(answers, name, entry), name, entry, len(output_shape), fd, spec)
                     for entry in np.ndindex(shape)]
        else:
            rows += _rows_voted_on_arrays(name, shape, len(output_shape), answers, fd, spec)
    return rows


def _rows_voted_on_arrays(name: str, shape: tuple, split: int, answers, fd, spec: Spec) -> list[GradientRow]:
    arrays = {answer: np.broadcast_to(by_key[name], shape) for answer, by_key in answers.items() if name in by_key}
    passes = plain_passes(arrays, spec.tolerance).ravel().tolist()
    gaps, relative = (errors.ravel().tolist() for errors in passed_errors(arrays))
    names, columns = list(arrays), [array.ravel().tolist() for array in arrays.values()]
    methods, costs = fd.methods[name].ravel().tolist(), fd.costs[name].ravel().tolist()
    rows = []
    with _collector_paused():
        for entry, passed, gap, rel, method, cost, *values in zip(np.ndindex(shape), passes, gaps, relative, methods,
                                                                   costs, *columns):
            values = dict(zip(names, values))
            if passed:
                rows.append(passed_row(values, gap, rel, wrt=name, index=list(entry[split:]),
                                       output_index=list(entry[:split]), fd_method=str(method),
                                       fd_evaluations=int(cost)))
            else:
                rows.append(_judged_row(values, name, entry, split, fd, spec))
    return rows


@contextmanager
def _collector_paused():
    """The garbage collector off while rows are built: they hold no cycles, and 10^5 of them (a few containers
    each) would set off collections that took about half of the building's time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _judged_row(values: dict[str, float], name: str, entry: tuple, split: int, fd, spec: Spec) -> GradientRow:
    """One entry's row (`split`: how many of the entry's indices are the output's), judged."""
    row = gradient_row(values, wrt=name, index=list(entry[split:]), output_index=list(entry[:split]))
    row.fd_method, row.fd_evaluations = str(fd.methods[name][entry]), int(fd.costs[name][entry])
    if row.finite_difference is None:  # on a kink, or no step stayed in the domain
        left, right = float(fd.left[name][entry]), float(fd.right[name][entry])
        if math.isfinite(left) and math.isfinite(right):
            row.left, row.right = left, right
    return judge(row, spec.tolerance)


def _add_precision_loss(case: _Case) -> None:
    """Beside float32 answers: the float64 symbolic value (at the point as given), how far the float32 engines
    are from it, and for a failing entry whether the disagreement is a precision artefact: each disagreeing
    answer, computed the same way in float64 at the point the engines saw, agrees with the reference."""
    symbolic64 = _symbolic_jacobian(case, case.plan.at(case.point))
    values64 = case.plan.at(case.point64)
    counterparts = {"symbolic": _symbolic_jacobian(case, values64),
                    "manual": {name: _full(case, name, case.plan.value(values64, m.output)[0])
                               for name, m in case.manuals.items()}}
    if any("autograd" in row.disagrees for row in case.result.gradients):
        counterparts["autograd"] = autograd_gradients(case.expression.output, case.point64, case.wrt, "float64",
                                                      case.expression.nodes)[1]
    float64 = DEFAULT_TOLERANCE["float64"]
    for row in case.result.gradients:
        entry = tuple(row.output_index + row.index)
        row.float64 = float(symbolic64[row.wrt][entry])
        gaps = [abs(v - row.float64) for v in (row.symbolic, row.autograd) if v is not None and math.isfinite(v)]
        if gaps and row.float64 != 0:
            row.precision_loss = max(gaps) / abs(row.float64)
        truth, error = _best_reference(row)
        if row.status != "fail" or truth is None:
            continue
        mine = [float(counterparts[n][row.wrt][entry]) if row.wrt in counterparts.get(n, {}) else None
                for n in row.disagrees]
        vanishes = all(v is not None and float64.agree(v, truth, error) for v in mine)
        row.diagnosis = "precision artefact" if vanishes else "real"


def _symbolic_jacobian(case: _Case, values: list) -> dict[str, np.ndarray]:
    """The symbolic Jacobian from a run of the case's plan, per variable: output shape + variable shape."""
    return {name: case.plan.stacked(values, [row[name] for row in case.jacobian_rows], case.output_shape,
                                    case.point[name].shape)
            for name in case.wrt}


def _best_reference(row: GradientRow) -> tuple[float | None, float]:
    """The most accurate value known for the entry: the high-precision one, else a float64 finite difference."""
    if row.precise is not None and math.isfinite(row.precise):
        return row.precise, row.precise_error or 0.0
    if row.finite_difference is not None:
        return row.finite_difference, row.fd_error or 0.0
    return None, 0.0


def _add_hessian(case: _Case, own) -> None:
    spec = case.spec
    manual_hessian = {_hessian_pair(name): _parse_manual(case.expression, name, text, case.wrt, spec,
                                                         "manual Hessian", "manual_hessian")
                      for name, text in spec.manual_hessian.items()}
    from .second_order import hessian_rows

    case.result.hessian, case.result.evaluations["hessian_finite_difference"] = hessian_rows(
        case.expression, case.jacobian_rows[0], case.point, case.wrt, case.shapes, spec, manual_hessian,
        rounded=case.rounding is not None, notes=case.result.notes)
    if own is not None and own.hessian is not None:
        _add_function_hessian(case.result.hessian, own, spec)


def _diagnose(case: _Case) -> None:
    """Name the part responsible for each failure, and the findings about the expression itself."""
    result = case.result
    rows = result.gradients
    if not case.value_finite or any(r.status in ("fail", "inconclusive") or r.referee_notes or at_jump(r)
                                    for r in rows):
        from ..diagnose.diagnoses import diagnose

        diagnose(case)
    _find_culprits(case)
    _check_manuals_nearby(case)


def _check_manuals_nearby(case: _Case) -> None:
    """A manual formula that passed at the point, compared with the chain rule at a few points nearby: a note
    (never a failure) where it agrees at this point only."""
    if case.output_shape != () or not case.manuals:
        return
    from ..diagnose.manual_formula import nearby_disagreement

    for name, manual in case.manuals.items():
        rows = [r for r in case.result.gradients if r.wrt == name and r.manual is not None]
        if rows and all(r.status == "pass" for r in rows):
            note = nearby_disagreement(case.expression, manual, name, case.point, case.wrt, case.shapes,
                                       case.spec.tolerance)
            case.result.notes += [note] if note else []


def _check_factors(expression: Expression, factors: list, point, shapes: ShapeMap, spec: Spec,
                   result: CaseResult) -> None:
    from ..diagnose.chain_factors import check_factor

    for factor in factors:
        try:
            row, culprit = check_factor(expression, factor, point, shapes, spec.tolerance, spec.dtype)
        except UsageError as error:
            error.origin = error.origin or spec.origins.get(f"manual.{factor.name}")
            raise
        result.factors.append(row)
        result.culprits += [culprit] if culprit else []


def _find_culprits(case: _Case) -> None:
    """Name the part responsible for each kind of disagreement, and mark the rows it explains."""
    spec, result, expression = case.spec, case.result, case.expression
    failing = [row for row in result.gradients if row.status == "fail"]
    symbolic_lost = [row for row in result.gradients  # at a kink, a convention: no rule of gradcheck's is wrong
                     if _lost_with_a_number(row, "symbolic") and row.left is None]
    if not failing and not result.culprits and not symbolic_lost:
        return
    from ..diagnose.local_derivatives import node_culprit
    from ..diagnose.manual_formula import manual_culprit

    rounding = any(c.diagnosis in ROUNDING_DIAGNOSES for c in result.culprits)
    if symbolic_lost and case.value_finite and not rounding:  # gradcheck's own rule at fault: say which
        culprit = node_culprit(expression, case.point, case.wrt, case.shapes, spec.tolerance, "symbolic", spec.dtype)
        if culprit is not None:
            result.culprits.append(culprit)
            for row in symbolic_lost:
                row.referee_notes = [n + f" — {culprit.message}" if n.startswith("symbolic") else n
                                     for n in row.referee_notes]

    for name, manual in case.manuals.items():
        mine = [r for r in failing if r.wrt == name and "manual" in r.disagrees]
        named = (_rounded_manual(case, manual, name, mine) or _manual_off_a_kink(manual, name, mine)) if mine else None
        if named is not None:
            result.culprits.append(named)
        elif case.output_shape == () and mine:
            result.culprits.append(manual_culprit(expression, manual, name, case.point, case.wrt, case.shapes,
                                                  spec.tolerance))
    explained = {c.kind for c in result.culprits if c.diagnosis}
    if "autograd" not in explained and case.value_finite and any(
            "autograd" in row.disagrees and row.diagnosis is None for row in failing):
        culprit = node_culprit(expression, case.point, case.wrt, case.shapes, spec.tolerance, "autograd", spec.dtype)
        result.culprits += [culprit] if culprit else []
    for culprit in result.culprits:
        if culprit.source == "expr" and culprit.span is not None:
            culprit.source, _, span = spec.place(Span(*culprit.span))
            culprit.span = tuple(span)
        for row in failing:
            if culprit.kind in row.disagrees and culprit.variable in (None, row.wrt) and row.culprit is None:
                row.culprit = culprit


def _rounded_manual(case: _Case, manual: Expression, name: str, rows: list[GradientRow]):
    """A manual formula that is right in exact arithmetic and wrong only by float rounding at this point."""
    from ..diagnose.culprit import Culprit, exact_value

    if not all(r.reference is not None and r.reference_source == "precise" for r in rows):
        return None
    exact = exact_value(manual.output, case.point, case.shapes, case.spec.dtype)
    if exact is None:
        return None
    full = _full(case, name, exact)
    if not all(case.spec.tolerance.agree(float(full[tuple(r.output_index + r.index)]), r.reference) for r in rows):
        return None
    for row in rows:
        row.diagnosis = "precision loss"
    return Culprit(kind="manual", node=None, expr=manual.source, source=f"manual.{name}", span=None,
                   message=f"your formula for d/d{name} is right in exact arithmetic, but loses its digits to "
                           f"{case.spec.dtype} rounding at this point; evaluate it in a stable form",
                   variable=name, label="rounding", diagnosis="precision loss")


def _manual_off_a_kink(manual: Expression, name: str, rows: list[GradientRow]):
    """A manual formula that fails only on kinks (relu(x) at 0): no derivative there to compare it with, so not
    a wrong factor of the chain rule (whose relu'(0) = 0 is one convention) but a value outside the sides."""
    from ..diagnose.culprit import Culprit

    if not all(r.reference is None and r.left is not None and r.right is not None for r in rows):
        return None
    row = rows[0]
    low, high = sorted((row.left, row.right))
    return Culprit(kind="manual", node=None, expr=manual.source, source=f"manual.{name}",
                   span=(0, len(manual.source)), variable=name, label="outside the sides",
                   message=f"your formula for d/d{name} gives {row.manual:.10g} on a kink, where the one-sided "
                           f"derivatives are {low:.10g} and {high:.10g}: only a value between them (a subgradient) "
                           "is right there")


def _lost_with_a_number(row: GradientRow, referee: str) -> bool:
    """A referee of gradcheck's own gave a finite value that the reference overruled (not a NaN from 0·∞)."""
    if not row.referee_notes:  # the common case, settled first: it is asked of every row
        return False
    value = getattr(row, referee)
    return value is not None and math.isfinite(value) and any(n.startswith(referee) for n in row.referee_notes)


def _check_projections(expression, point, wrt, output_shape, manual, spec: Spec, result: CaseResult) -> None:
    from .projections import hessian_projection_rows, projection_note, projection_rows

    seed = spec.seed if spec.seed is not None else int(np.random.SeedSequence().entropy % 2**32)
    written_out: list[str] = []
    result.gradients, count = projection_rows(expression, point, wrt, output_shape, manual, spec, seed, written_out)
    result.seed = seed  # the reports record the seed the projections were drawn from (JSON's "seed")
    result.evaluations = {"finite_difference": count}
    what = "gradient" if output_shape == () else "Jacobian"
    result.notes = [projection_note(result.gradients, seed, what)] + written_out
    if spec.order == 2:
        result.hessian, count = hessian_projection_rows(expression, point, wrt, spec, seed, result.notes)
        result.evaluations["hessian_finite_difference"] = count
        result.notes.insert(1, projection_note(result.hessian, seed, "Hessian", "vᵀHw"))
    result.status = case_status(result)


def _checked_output_shape(expression: Expression, shapes: ShapeMap, point, wrt, spec: Spec) -> tuple:
    shape = shapes(expression.output)
    if spec.manual_hessian and spec.order != 2:
        raise UsageError("a manual Hessian needs {order=2}")
    if spec.order == 2 and shape != ():
        raise ShapeError(f"the expression's value has shape {shape}; second order needs a scalar",
                         expression.source, expression.span_of(expression.output),
                         "reduce it with sum(...) or mean(...)")
    if spec.fast and (spec.manual_hessian or spec.expected):
        raise UsageError("{fast} checks projections uᵀJv (and vᵀHw): it does not combine with {manual_hessian} "
                         "or expected values")
    if math.prod(shape) == 0:
        raise ShapeError(f"the expression's value is empty (shape {shape}): it has no entries to differentiate",
                         expression.source, expression.span_of(expression.output))
    _check_entries(expression, shape, sum(point[name].size for name in wrt), spec)
    for name, value in spec.expected.items():
        if name not in wrt:  # never left unchecked: a value nobody compares would pass silently
            raise KeyedError(f"expected.{name}", f"an expected gradient is given for {name!r}, which is not "
                             "differentiated" + (_suggestion(name, wrt) if name not in expression.variables
                                                 else " (see {wrt})"))
        if np.shape(value) not in ((), point[name].shape, shape + point[name].shape):
            raise KeyedError(f"expected.{name}", f"the expected gradient for {name} has shape {np.shape(value)}; "
                             f"expected {shape + point[name].shape}")
    return shape


def _check_entries(expression: Expression, shape: tuple, elements: int, spec: Spec) -> None:
    """Each entry of the Jacobian (and, with --order 2, of the Hessian) is a row of the report: refuse past
    `max_entries` before any is computed.  `elements`: the differentiated variables' elements together."""
    limit = spec.limits.max_entries
    entries = math.prod(shape) * elements
    if entries > limit and not spec.fast:
        what = "gradient" if shape == () else "Jacobian"
        raise LimitError(f"the expression's value has shape {shape}: its {what} would have {entries:,} entries; "
                         f"the limit is {limit:,}", expression.source, expression.span_of(expression.output),
                         "reduce it, check projections with {fast=True}, or raise {max_entries}")
    if spec.order == 2 and elements**2 > limit:
        raise LimitError(f"{{order=2}}: the Hessian would have {elements**2:,} entries; the limit is {limit:,}",
                         hint="check fewer elements, first derivatives only (without {order=2}), "
                              "or raise {max_entries}")


# ---- a user's own torch function ----


def refuse_function_options(spec: Spec) -> None:
    if not spec.allow_import:
        target = spec.function if isinstance(spec.function, str) else "a callable"
        raise UsageError(f"{{allow_import=False}}: this case names a function to import ({target}); nothing was "
                         "imported",
                         origin=spec.origins.get("function"))
    if spec.fast and spec.expr:
        raise UsageError("{fast} does not combine with a function checked against an expression: its gradient is "
                         "checked entry by entry (alone, or against {reference}, it checks projections)",
                         origin=spec.origins.get("function"))
    if spec.dtype != "float64":
        raise UsageError("a function is checked in float64 (whether it works there is one of the checks); "
                         "drop {dtype=float32}", origin=spec.origins.get("function"))


def _user_function(spec: Spec, expression: Expression):
    from ..userfn.user_code import resolve

    with at_function_key(spec):
        return resolve(spec.function, spec.args, expression.variables, keywords=spec.kwargs,
                       init_keywords=spec.init_kwargs)


def _with_parameter_values(function, at: dict) -> dict:
    """The point given, and a module's parameters at their current values where none is given (as alone)."""
    if function is None:
        return at
    return {**{name: np.asarray(value, dtype=np.float64) for name, value in function.values.items()}, **at}


def _function_answers(function, spec: Spec, point, wrt, value, result: CaseResult):
    """The function's gradient, its forward's finite differences and its checks; notes and details on `result`."""
    from ..userfn.custom_function import check, device_for

    device, note = device_for(spec.device)
    with at_function_key(spec):
        own = check(function, point, wrt, np.asarray(value, dtype=np.float64), spec.tolerance, device, spec.order,
                    spec.limits.max_entries, nondet_tol=spec.nondet_tol)
        own.checks += lower_precision(function, device, spec, point, wrt, own)
    result.function = {"target": function.label, "inputs": list(function.inputs), "device": device}
    result.checks = own.checks
    result.notes += [note] if note else []
    if own.finite is not None:
        result.evaluations["function_finite_difference"] = own.finite.evaluations
    return own


def lower_precision(function, device: str, spec: Spec, point, wrt, own, reference=None) -> list:
    """The function's {precision} checks (userfn.low_precision), where it ran in float64; `reference`: the
    reference function's Runner, whose float64 value the forward is compared with."""
    if not spec.precision or own.value is None:
        return []
    from ..userfn.low_precision import precision_checks
    from ..userfn.user_code import Runner, stdout_to_stderr

    with stdout_to_stderr():
        runner = Runner(function, device, None, integers=spec.integers)
        return precision_checks(runner, point, wrt, spec.precision, reference, seed=spec.seed or 0)


class at_function_key:
    """Point an error about the user's function (or, with `name="reference"`, the reference function) at the spec
    file's `function:` key (`reference:`), where there is one, or at the flag."""

    def __init__(self, spec: Spec, name: str = "function"):
        self.spec = spec
        self.front = spec.speaks
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, GradcheckError) and error.origin is None and error.source is None:
            from ..userfn.user_code import UnknownKeyword

            name = "kwargs" if isinstance(error, UnknownKeyword) else self.name
            error.origin = self.spec.origins.get(name)
            error.context = None if error.origin else SETTINGS[name].worded(self.front)
        return False


def _add_function_hessian(rows: list[GradientRow], own, spec: Spec) -> None:
    """The function's double backward and finite differences of its backward, judged beside the reference's."""
    for row in rows:
        (a, b), entry = row.wrt, tuple(row.index[0]) + tuple(row.index[1])
        finite = own.hessian_finite[a]
        row.function = float(own.hessian[(a, b)][entry])
        row.function_fd, row.function_fd_error = float(finite.gradients[b][entry]), float(finite.errors[b][entry])
        drop_failed_differences(row)
        judge(row, spec.tolerance)


# ---- input validation ----


def _resolve_point(expression: Expression, at: dict) -> dict[str, np.ndarray]:
    missing = [name for name in expression.variables if name not in at]
    if missing:
        raise MissingValues(missing, expression.variables)
    variables = set(expression.variables)
    unknown = [name for name in at if name not in variables]
    if unknown:
        raise UnusedValues(unknown, f"{unknown[0]!r} is not a variable of the expression"
                           + _suggestion(unknown[0], expression.variables))
    return {name: np.asarray(at[name], dtype=np.float64) for name in expression.variables}


def _check_point_fits(point: dict[str, np.ndarray], dtype: str) -> None:
    """Every number of the point is finite in the case's dtype (3e123 is not, in float32)."""
    for name, value in point.items():
        with np.errstate(over="ignore"):
            cast = value.astype(dtype)
        if not np.all(np.isfinite(cast)):
            bad = value[~np.isfinite(cast)] if value.ndim else value
            raise UsageError(f"{name}: {format_array(np.ravel(bad)[0])} is beyond the range of {dtype}")


def _resolve_wrt(expression: Expression, wrt: list[str] | None) -> list[str]:
    if not expression.variables:
        raise UsageError("the expression has no variables: there is nothing to differentiate",
                         expression.source, expression.span_of(expression.output))
    if not wrt:
        return list(expression.variables)
    for name in wrt:
        if name not in expression.variables:
            raise KeyedError("wrt", f"cannot differentiate with respect to {name!r}: it is not a variable of the "
                             "expression" + _suggestion(name, expression.variables))
    return list(dict.fromkeys(wrt))


def _suggestion(name: str, choices: list[str]) -> str:
    hint = did_you_mean(name, choices) or (f"its variables: {', '.join(choices)}" if choices else "it has no variables")
    return f" ({hint})"


def _parse_manual(expression: Expression, name: str, text: str, wrt: list[str], spec: Spec,
                  what: str = "manual gradient", setting: str = "manual") -> Expression:
    """A hand-derived formula for `name` (a variable, or `a,b` for a Hessian block), in the expression's scope."""
    for variable in name.split(","):
        if variable not in wrt:
            raise KeyedError(f"{setting}.{name}", f"a {what} is given for {variable!r}, which is not differentiated"
                             + (_suggestion(variable, wrt) if variable not in expression.variables else " (see {wrt})"))
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
    """A hand-derived chain factor `dA/dB` in the expression's scope (a chain_factors.FactorSpec)."""
    from ..diagnose.chain_factors import FactorSpec, factor_ends

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
    """Turn a ShapeMismatch into a ShapeError pointing at the node in its source, and a node past
    --max-elements into a LimitError that quotes it (a derivative node has no source: its op is named)."""

    def __init__(self, expression: Expression, manuals: dict[str, Expression]):
        self.sources = [expression, *manuals.values()]

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, TooManyElements):
            owner = next((e for e in self.sources if error.node.id in e.spans), self.sources[0])
            span = owner.spans.get(error.node.id)
            what = short(owner.source[span.start:span.end]) if span else \
                f"a node of its derivative ({error.node.op})"
            raise LimitError(f"{what} {error}", owner.source if span else None, span) from None
        if isinstance(error, ShapeMismatch):
            owner = next((e for e in self.sources if error.node.id in e.spans), self.sources[0])
            span = (owner.option_spans.get((error.node.id, error.option)) or owner.operator_spans.get(error.node.id)
                    or owner.spans.get(error.node.id))
            written = owner.call_names.get(error.node.id)  # max(x, dim=2) is amax's node: say max
            raise ShapeError(f"{written}: {error.reason}" if written else str(error), owner.source, span) from None
        return False


def _jsonable_point(at: dict) -> dict:
    return {name: np.asarray(value, dtype=np.float64).tolist() for name, value in at.items()}
