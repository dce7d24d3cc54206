"""Named diagnoses: why an engine is wrong at this point, and the rewrite a practitioner applies.

- **where-NaN trap**: the branch `where` does not select is NaN or infinite (or
  so is its derivative), and the backward multiplies it by 0: 0·NaN = NaN.
  The fix makes the inner argument safe: `sqrt(where(x > 0, x, 1))`.
- **cancellation and overflow**: the float64 (or float32) value of a node
  loses its digits although its arguments are accurate (`1 - sigmoid(x)` at
  x = 50 is 0, exactly 1.9e-22), found by comparing each node with the
  high-precision evaluation; known unstable forms get their stable rewrite
  (`log(1 - sigmoid(x))` → `-softplus(x)`).
- **kink convention**: an engine's value at kinks that cancel is a convention
  (relu'(0) = 0), not the derivative.
- **removable singularity**: the symbolic chain rule meets 0·∞ at a node that
  is not differentiable (norm at 0) inside a function that is; the other
  referees settle it, and the row's referee note says so.
- **undefined derivative**: nothing settles an entry and a node on the path
  is not differentiable at the point (sqrt at 0): the entry is `undefined`.
- **jump**: the high-precision referee finds the function jumping at the point,
  and a discontinuous op on the path sits on its jump (`OpSpec.jumps`: floor
  at 2, round at 0.5, fmod(x, 1.5) at 3): the entry's reason names it, "jump of
  floor at x = 2".

Runs only for a case with a failure, a dispute or a non-finite value.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..engines.precise import evaluate
from ..engines.symbolic import reaching_nodes
from ..lang.graph import Node, ancestors, carries_value, dependents, to_text
from ..lang.ops import OPS
from ..verdict.compare import ROUNDING_DIAGNOSES, Status, digits_lost
from .culprit import Culprit
from .domain import describe, format_array, not_differentiable
from .local_derivatives import non_finite_backward

ACCURATE = 1e-9  # relative error below which a node's float value counts as accurate
LOST = 1e-6  # relative error above which a node's float value has lost what matters
AMPLIFIED = 1e3  # how much more error than its arguments carry makes a node the origin of a loss
CLIMB = 2  # levels above a node where a known unstable form that contains it is looked for
SAFE_ARGUMENT = {"asin": "0", "acos": "0", "tan": "0"}  # else 1: inside every other op's domain


def diagnose(case) -> None:
    """Add the named diagnoses of `case` (a case._Case) to its result: culprits, row diagnoses, notes."""
    rows = case.result.gradients
    if not case.value_finite:  # the value's own overflow or cancellation explains what autograd makes of it
        finding = _value_finding(case)
        case.result.culprits.append(finding)
        for row in rows:
            if "autograd" in row.disagrees and row.diagnosis in (None, "real"):
                row.diagnosis = finding.diagnosis
    _partials_without_a_derivative(case)
    trap = _where_nan_trap(case) if any(_nan_in_autograd(r) or _nan_in_symbolic(r) for r in rows) else None
    # Most specific first; each explains the rows the ones before it left unexplained.
    for make, applies in _row_diagnoses(case, trap):
        _diagnose_rows(case, make, applies)
    _explain_referees(case, trap)
    _undefined_derivatives(case)
    _jumps(case)
    _stable_form_for_artefacts(case)


def _row_diagnoses(case, trap: Culprit | None) -> list[tuple[Callable, Callable]]:
    """(make, applies) per diagnosis of rows, most specific first: `applies(row)` says which rows it would
    explain, `make(open_row)` finds the culprit for the rows still open (or None)."""
    broken = []  # computed once, where a NaN row asks: a node whose torch backward is NaN, not rounding

    def backward_breaks() -> bool:
        if not broken:
            broken.append(non_finite_backward(case.expression, case.point64, case.wrt, case.shapes,
                                              case.spec.tolerance))
        return broken[0] is not None

    def rounded(row) -> bool:  # autograd off by rounding: finite but imprecise, or NaN with no where to blame
        return case.value_finite and (_imprecise_autograd(row) or trap is None and _nan_in_autograd(row)
                                      and not backward_breaks())

    def unexplained(row) -> bool:
        return "autograd" in row.disagrees and row.autograd is not None

    def unexplained_nan(row) -> bool:  # 0·∞ only where the forward is accurate: else rounding is the cause
        return unexplained(row) and math.isnan(row.autograd) and trap is None and case.rounding is None

    return [
        (lambda applies: trap, _nan_in_autograd),
        (lambda applies: _derivative_precision(case, applies), rounded),
        (lambda applies: _kink_convention(case, applies), _convention_in_autograd),
        (lambda applies: _zero_times_infinity(case, applies), unexplained_nan),
        (lambda applies: _kink_convention(case, applies), unexplained),
    ]


def _diagnose_rows(case, make: Callable, applies: Callable) -> None:
    """One diagnosis for the rows it applies to that have none yet: its culprit added, the rows named."""
    rows = case.result.gradients

    def open_row(row) -> bool:
        return applies(row) and row.diagnosis in (None, "real")  # a named diagnosis beats "real"

    if not any(open_row(row) for row in rows):
        return
    culprit = make(open_row)
    if culprit is None:
        return
    for row in rows:
        if open_row(row):
            if culprit.diagnosis in ROUNDING_DIAGNOSES:
                row.referee_notes = [f"{note}; the same {culprit.diagnosis} in float arithmetic"
                                     if note.startswith(("symbolic", "finite")) else note
                                     for note in row.referee_notes]
            row.diagnosis = culprit.diagnosis
    case.result.culprits.append(culprit)


# ---- which rows each diagnosis explains ----


def _nan_in_autograd(row) -> bool:
    return "autograd" in row.disagrees and row.autograd is not None and not math.isfinite(row.autograd) and \
        row.reference is not None and math.isfinite(row.reference)


def _nan_in_symbolic(row) -> bool:
    return row.symbolic is not None and not math.isfinite(row.symbolic) and row.reference is not None and \
        math.isfinite(row.reference)


def _imprecise_autograd(row) -> bool:
    """autograd is off although finite, against the high-precision value, and not by a kink convention."""
    return "autograd" in row.disagrees and row.reference_source == "precise" and row.autograd is not None and \
        math.isfinite(row.autograd) and not _convention_in_autograd(row)


def _convention_in_autograd(row) -> bool:
    from ..verdict.judge import kink_convention

    return "autograd" in row.disagrees and row.autograd is not None and kink_convention(row, row.autograd) is not None


# ---- the where-NaN trap ----


def _where_nan_trap(case) -> Culprit | None:
    """A `where` whose unselected branch holds a non-finite or non-differentiable node that a variable reaches."""
    expression, plan, values = case.expression, case.plan, case.values
    reaching = reaching_nodes(expression.nodes, set(case.wrt))
    troubled = {node.id: text for node, text in not_differentiable(expression, plan, values, case.wrt)}
    for node in expression.nodes:
        if node.op != "where" or node.id not in reaching:
            continue
        condition = np.asarray(plan.value(values, node.args[0])[0]) != 0
        for branch, unselected in ((node.args[1], ~condition), (node.args[2], condition)):
            if branch.id not in reaching or not np.any(unselected):
                continue
            inner = _troubled_node(branch, reaching, troubled, plan, values)
            if inner is not None:
                return _trap_culprit(case, node, branch, inner)
    return None


def _troubled_node(branch: Node, reaching: set[int], troubled: dict[int, str], plan, values) -> Node | None:
    """The first node under `branch` that a variable reaches and that is not finite or not differentiable."""
    for node in ancestors([branch]):
        if node.id not in reaching or node.op in ("var", "const"):
            continue
        if node.id in troubled or not np.all(np.isfinite(plan.value(values, node)[0])):
            return node
    return None


def _trap_culprit(case, where: Node, branch: Node, inner: Node) -> Culprit:
    expression = case.expression
    names = expression.names()
    condition = to_text(where.args[0], names)
    argument = next((a for a in inner.args if not a.is_const), inner.args[0])
    safe = SAFE_ARGUMENT.get(inner.op, "1")
    safe_argument = f"where({condition}, {to_text(argument, names)}, {safe})"
    fix = to_text(inner, {**names, argument.id: safe_argument})
    value = format_array(case.plan.value(case.values, inner)[0])
    message = (f"the where-NaN trap: where({condition}, …) does not select {describe(expression, branch)} here, but "
               f"{describe(expression, inner)} = {value} there (or its derivative is not finite), and the backward "
               f"multiplies that by 0: 0·NaN = NaN. Make the inner argument safe where the branch is not taken: "
               f"{fix}")
    return Culprit(kind="autograd", node=inner.id, expr=describe(expression, inner), source="expr",
                   span=expression.span_of(inner), message=message, label="where-NaN trap",
                   diagnosis="where-NaN trap", fix=fix)


# ---- precision: cancellation and overflow ----


def _value_finding(case) -> Culprit:
    """The value is not finite in the case's dtype while the exact value is: where it overflowed or cancelled."""
    expression = case.expression
    exact = case.exact
    origin = _first_inaccurate(expression.nodes, case.plan, case.values, exact)
    node = origin or expression.output
    kind = _loss_kind(node, case.plan, case.values, exact)
    fix = _rewrite(node, expression)
    message = (f"the value is not finite in {case.spec.dtype}, but {_exact_words(exact, expression.output)}: "
               f"{_loss_sentence(expression, node, case.plan, case.values, exact, kind)}"
               + (f"; write it as {fix}" if fix else ""))
    return Culprit(kind="value", node=node.id, expr=describe(expression, node), source="expr",
                   span=_span(case, node), message=message, label=kind, diagnosis=kind, fix=fix)


def _derivative_precision(case, applies: Callable) -> Culprit | None:
    """autograd loses digits against the high-precision value: find where the chain rule's float arithmetic
    does (the symbolic derivative is the same arithmetic), and name the unstable form of the expression."""
    rows = [r for r in case.result.gradients if applies(r)]
    derivative_nodes = [case.jacobian_rows[_flat(case, r)][r.wrt] for r in rows]
    nodes = ancestors(derivative_nodes)
    exact = evaluate(nodes, case.point64, case.shapes)
    origin = _first_inaccurate(nodes, case.plan, case.values, exact)
    if origin is None:  # the chain rule's arithmetic is accurate here: rounding does not explain autograd
        return None
    worst = max(rows, key=lambda r: _relative_gap(r.autograd, r.reference))
    digits = _digits(worst.autograd, worst.reference, case.spec.dtype)
    fix = _first_rewrite(case.expression)
    kind = _loss_kind(origin, case.plan, case.values, exact)
    where = f": the chain rule's {kind} at {to_text(origin, case.expression.names())[:80]}"
    message = (f"autograd's {worst.autograd:.10g} loses about {digits} of its digits to {case.spec.dtype} "
               f"rounding at this point (exactly {worst.reference:.10g}){where}"
               + (f"; the stable form {fix} avoids it" if fix else ""))
    placed = origin if origin.id in case.expression.spans else None
    return Culprit(kind="autograd", node=None if placed is None else placed.id, expr=fix or "", source="expr",
                   span=None if placed is None else case.expression.span_of(placed), message=message,
                   label=kind, diagnosis=kind, fix=fix)


def _relative_gap(value: float, reference: float) -> float:
    return abs(value - reference) / max(abs(reference), 1e-300) if math.isfinite(value) else math.inf


def _flat(case, row) -> int:
    return int(np.ravel_multi_index(tuple(row.output_index), case.output_shape)) if row.output_index else 0


def _first_inaccurate(nodes: list[Node], plan, values, exact) -> Node | None:
    """The first node whose float value has lost what matters, far more than its arguments had."""
    error: dict[int, float] = {}
    for node in nodes:
        if node.id not in plan.slot or node.id not in exact.values:
            error[node.id] = 0.0
            continue
        error[node.id] = _relative_error(plan.value(values, node)[0], exact, node)
        if node.op in ("var", "const"):
            continue
        inherited = max((error.get(a.id, 0.0) for a in node.args), default=0.0)
        if error[node.id] > LOST and error[node.id] > AMPLIFIED * max(inherited, ACCURATE):
            return node
    return None


def _relative_error(approximate, exact, node: Node) -> float:
    """The largest relative error of a node's float value where its exact value is known and finite; a
    float infinity where the exact value is finite (beyond the float range, say) counts as all lost."""
    if node.id in exact.too_large:
        return 0.0
    known = ~exact.undefined(node)
    exact_value = exact.as_float64(node)
    with np.errstate(all="ignore"):
        a, e, k, u = np.broadcast_arrays(np.asarray(approximate, dtype=np.float64), exact_value, known,
                                         _underflows(exact, node))
        if np.any(k & u & (a == 0)):
            return 1.0  # a value below the float range, rounded to 0: every digit lost
        a, e = a[k], e[k]
        if a.size == 0:
            return 0.0
        if not np.all(np.isfinite(a)) or not np.all(np.isfinite(e)):
            return math.inf
        scale = np.maximum(np.abs(e), np.finfo(np.float64).tiny)
        return float(np.max(np.abs(a - e) / scale))


def _underflows(exact, node: Node) -> np.ndarray:
    """Where the exact value is not 0 but rounds to 0 in float64."""
    return (exact.as_float64(node) == 0) & np.asarray(np.frompyfunc(bool, 1, 1)(exact.values[node.id]), dtype=bool)


def _loss_kind(node: Node, plan, values, exact) -> str:
    approximate = np.asarray(plan.value(values, node)[0], dtype=np.float64)
    if node.id in exact.too_large or np.any(np.isinf(approximate) & ~exact.undefined(node)):
        return "overflow"
    if np.any((approximate == 0) & _underflows(exact, node)):
        return "underflow"
    return "cancellation" if node.op in ("add", "sub", "sum", "mean") else "precision loss"


def _loss_sentence(expression, node: Node, plan, values, exact, kind: str) -> str:
    text = describe(expression, node)
    approximate = format_array(plan.value(values, node)[0])
    if kind == "overflow":
        return f"{text} overflows to {approximate} ({_exact_words(exact, node)})"
    if kind == "underflow":
        return f"{text} underflows to {approximate} (exactly {_mp_text(exact, node)})"
    if kind == "precision loss":
        return f"{text} is {approximate} ({_exact_words(exact, node)}): its arguments' rounding is amplified there"
    return f"{text} cancels to {approximate} ({_exact_words(exact, node)}): all its digits are lost"


def _exact_words(exact, node: Node) -> str:
    """What the exact value of a node is, in words: a number, or finite but out of range."""
    if node.id in exact.too_large:
        return "its exact value is too large even for the high-precision referee"
    value = exact.as_float64(node)
    if np.all(np.isfinite(value)):
        return f"exactly {format_array(value)}"
    return "its exact value is finite, beyond the float64 range"


def _mp_text(exact, node: Node) -> str:
    values = [_mpmath_text(v) for v in np.ravel(exact.values[node.id])[:3]]
    return values[0] if np.size(exact.values[node.id]) == 1 else "[" + ", ".join(values) + ", …]"


def _mpmath_text(value) -> str:
    import mpmath

    return mpmath.nstr(value, 6)


def _digits(value: float, exact: float, dtype: str) -> str:
    """`all`, or `9 of 16`: compare.digits_lost in words."""
    total = -math.log10(float(np.finfo(np.dtype(dtype)).eps))
    lost = digits_lost(value, exact, dtype)
    if lost is None or lost >= total - 0.5 or not math.isfinite(value) or abs(value - exact) >= abs(exact):
        return "all"
    return f"{lost:.0f} of {total:.0f}"


def _span(case, node: Node):
    return case.expression.span_of(node) if node.id in case.expression.spans else None


# ---- stable rewrites of known unstable forms ----


def _first_rewrite(expression) -> str | None:
    """The stable rewrite of the first known unstable form in the expression, outermost first."""
    for node in reversed(expression.nodes):
        fix = _rewrite(node, expression, climb=0)
        if fix:
            return fix
    return None


def _rewrite(node: Node, expression, climb: int = CLIMB) -> str | None:
    """`A → B` for a known unstable form at `node`, or at a node up to `climb` levels above that uses it
    (the outermost form wins: `log(1 - sigmoid(x))` → `-softplus(x)` rather than `sigmoid(-x)` inside)."""
    for user in expression.nodes if climb else ():
        if node in user.args:
            outer = _rewrite(user, expression, climb - 1)
            if outer:
                return outer
    names = expression.names()
    text = to_text(node, names)
    stable = _stable_form(node, lambda n: to_text(n, names))
    return f"{text} → {stable}" if stable else None


def _stable_form(node: Node, text: Callable[[Node], str]) -> str | None:
    op, args = node.op, node.args

    def is_one(n: Node) -> bool:
        return n.is_const and n.attr == 1.0

    def wrapped(n: Node) -> str:
        return text(n) if n.op in ("var", "const") or OPS[n.op].syntax == "function" else f"({text(n)})"

    if op == "sub" and is_one(args[0]) and args[1].op == "sigmoid":
        return f"sigmoid(-{wrapped(args[1].args[0])})"
    if op == "log" and args[0].op == "sigmoid":
        return f"-softplus(-{wrapped(args[0].args[0])})"
    if op == "log" and args[0].op == "sub" and is_one(args[0].args[0]) and args[0].args[1].op == "sigmoid":
        return f"-softplus({text(args[0].args[1].args[0])})"
    if op == "log" and args[0].op == "add" and any(is_one(a) for a in args[0].args):
        other = next(a for a in args[0].args if not is_one(a))
        return f"softplus({text(other.args[0])})" if other.op == "exp" else f"log1p({text(other)})"
    if op == "sub" and args[0].op == "exp" and is_one(args[1]):
        return f"expm1({text(args[0].args[0])})" if "expm1" in OPS else None
    if op == "div" and args[0].op == "exp" and args[1].op == "add" and any(is_one(a) for a in args[1].args) and \
            any(a is args[0] for a in args[1].args):
        return f"sigmoid({text(args[0].args[0])})"
    if op == "div" and is_one(args[0]) and args[1].op == "add" and any(is_one(a) for a in args[1].args):
        other = next(a for a in args[1].args if not is_one(a))
        if other.op == "exp":
            inner = other.args[0]
            return f"sigmoid({text(inner.args[0])})" if inner.op == "neg" else f"sigmoid(-{wrapped(inner)})"
    if op == "log" and args[0].op == "sum" and args[0].args[0].op == "exp" and args[0].attr is None:
        return f"logsumexp({text(args[0].args[0].args[0])})"
    if op == "sub" and is_one(args[0]) and args[1].op == "cos":
        return f"2*sin({wrapped(args[1].args[0])}/2)**2"
    return None


def _stable_form_for_artefacts(case) -> None:
    """A float32 precision artefact that a known unstable form explains: the rewrite that avoids it."""
    if not any(row.diagnosis == "precision artefact" for row in case.result.gradients):
        return
    fix = _first_rewrite(case.expression)
    if fix:
        case.result.notes.append(f"the float32 rounding comes from an unstable form: {fix} avoids it")


# ---- kink conventions ----


def _node_on_a_kink(case) -> Node | None:
    """The first kinked op a variable reaches that sits exactly on its kink (a switch is 0)."""
    expression, plan, values = case.expression, case.plan, case.values
    reaching = reaching_nodes(expression.nodes, set(case.wrt))
    for node in expression.nodes:
        spec = OPS.get(node.op)
        if node.id not in reaching or spec is None or spec.kinks is None:
            continue
        args = [plan.value(values, a) for a in node.args]
        switches = spec.kinks(*args, node.attr) if spec.attrs else spec.kinks(*args)
        if any(np.any(np.asarray(s) == 0) for s in switches):
            return node
    return None


def _kink_convention(case, applies: Callable) -> Culprit | None:
    """autograd's value at a node sitting on its kink is a convention (relu'(0) = 0, clamp passing the
    gradient at its bounds), not the derivative, which exists here."""
    from ..verdict.judge import kink_convention

    node = _node_on_a_kink(case)
    if node is None:
        return None
    row = next(r for r in case.result.gradients if applies(r))
    convention = kink_convention(row, row.autograd) or "torch's convention for the op at its kink"
    truth = (f"the function is differentiable here and its derivative is {row.reference:.10g}"
             if row.reference is not None else
             f"the one-sided derivatives are {row.left:.10g} and {row.right:.10g}, and it lies outside them")
    message = (f"autograd gives {row.autograd:.10g} at {describe(case.expression, node)}, which sits on its kink, "
               f"following {convention}; {truth}")
    return Culprit(kind="autograd", node=node.id, expr=describe(case.expression, node), source="expr",
                   span=case.expression.span_of(node), message=message, label="kink convention",
                   diagnosis="kink convention")


def _zero_times_infinity(case, applies: Callable) -> Culprit | None:
    """A NaN from autograd with no where to blame: the chain rule multiplies a node's infinite local
    derivative (sqrt at 0) by 0."""
    troubled = not_differentiable(case.expression, case.plan, case.values, case.wrt)
    if not troubled:
        return None
    node, text = troubled[0]
    message = (f"autograd gives NaN: {describe(case.expression, node)} is not differentiable at this point ({text}), "
               "and the chain rule multiplies its infinite local derivative by 0: 0·∞ = NaN")
    return Culprit(kind="autograd", node=node.id, expr=describe(case.expression, node), source="expr",
                   span=case.expression.span_of(node), message=message, label="0·∞", diagnosis="0·∞")


# ---- notes on the referees, and derivatives that do not exist ----


def _partials_without_a_derivative(case) -> None:
    """Failing entries of a function that has partial derivatives at the point but no derivative: a reached
    node outside its differentiable domain (svd's U of a tall A with a zero singular value: sum(svd(A,
    part='U')*A) is linear along each line through the point, with a slope that is not linear in the line's
    direction).  The referees settle each partial derivative, and an engine's NaN is no failure there.  Found
    as the slope along a direction mixing every settled entry, by central differences, against the one the
    partial derivatives predict; where they differ the failing entries are undefined."""
    rows = [r for r in case.result.gradients if r.reference is not None and not r.output_index]
    if not case.value_finite or case.output_shape != () or len(rows) < 2 or \
            not any(r.status == "fail" for r in rows):
        return
    troubled = not_differentiable(case.expression, case.plan, case.values, case.wrt)
    if not troubled:
        return
    slope, predicted = _slope_along_a_mixed_direction(case, rows)
    if abs(slope - predicted) <= MIXED_SLOPE_RTOL * max(abs(slope), abs(predicted), 1.0):
        return
    node, text = troubled[0]
    for row in rows:
        if row.status == "fail":
            row.referee_notes.append(f"the partial derivative is {row.reference:.10g}, but the function has no "
                                     "derivative here: it is not shown")
            row.status, row.disagrees = Status.UNDEFINED, []
            row.reference = row.reference_source = row.abs_error = row.rel_error = None
            row.reason = (f"{describe(case.expression, node)} is not differentiable at this point ({text}): the "
                          f"partial derivatives exist, but along a direction mixing the entries the slope is "
                          f"{slope:.6g} where they predict {predicted:.6g}: the derivative does not exist here")


MIXED_SLOPE_RTOL = 1e-4  # central differences of a smooth function are far closer; a missing derivative, O(1)


def _slope_along_a_mixed_direction(case, rows) -> tuple[float, float]:
    """(the slope of f along a fixed random direction d over the rows' entries, by central differences at a
    step of 1e-6 of the point's scale; the slope sum(d_i * reference_i) that the partial derivatives predict)."""
    direction = np.random.default_rng(7).uniform(0.5, 1.5, len(rows)) * np.where(np.arange(len(rows)) % 2, -1, 1)
    point = {name: np.array(v, dtype=np.float64) for name, v in case.point64.items()}
    scale = max(max(float(np.max(np.abs(v), initial=0.0)) for v in point.values()), 1.0)
    h = 1e-6 * scale
    plan = case.plan.restricted_to([case.expression.output], case.expression.nodes)

    def f(t: float) -> float:
        moved = {name: v.copy() for name, v in point.items()}
        for row, d in zip(rows, direction):
            moved[row.wrt][tuple(row.index)] += t * d
        with np.errstate(all="ignore"):
            return float(np.ravel(plan.value(plan.at(moved), case.expression.output)[0])[0])

    slope = (f(h) - f(-h)) / (2 * h)
    return slope, float(sum(d * r.reference for r, d in zip(rows, direction)))


def _explain_referees(case, trap: Culprit | None) -> None:
    """Why the symbolic referee is NaN or infinite where the reference is finite: the where-NaN trap, or a
    removable singularity (a node that is not differentiable inside a function that is)."""
    if trap is not None:
        why = f"its chain rule falls into the same where-NaN trap at {trap.expr}"
    else:
        troubled = not_differentiable(case.expression, case.plan, case.values, case.wrt) if case.value_finite else []
        if not troubled:
            return
        node, text = troubled[0]
        why = (f"its chain rule meets 0·∞ or 0/0 at {describe(case.expression, node)} ({text}), a removable "
               "singularity: the function itself is differentiable here")
    for row in case.result.gradients:
        if _nan_in_symbolic(row):
            row.referee_notes = [f"{note}; {why}" if note.startswith("symbolic") else note
                                 for note in row.referee_notes]


def _undefined_derivatives(case) -> None:
    """An entry nothing settles, on a path through a node that is not differentiable at the point: no
    derivative exists there (sqrt at 0, acos at 1).  So too an entry the float64 referees agree on where the
    exact value itself is undefined (qr of a matrix whose second column is a multiple of its first: float
    rounding gives Q's column a direction, and symbolic and finite differences differentiate that accident)."""
    rows = [r for r in case.result.gradients if r.precise is None and (
        r.status == "inconclusive" and (r.precise_reason or "").startswith("undefined")
        or r.status == "fail" and (r.precise_reason or "").startswith("undefined: "))]
    if not rows:
        return
    troubled = not_differentiable(case.expression, case.plan, case.values, case.wrt)
    if not troubled:
        return
    node, text = troubled[0]
    args = [case.plan.value(case.values, a)[0] for a in node.args]
    shown = ", ".join(f"{to_text(a, case.expression.names())} = {format_array(v)}"
                      for a, v in zip(node.args, args) if not a.is_const)
    for row in rows:
        if row.finite_difference is not None:  # steps on one side only, toward a derivative that does not exist
            row.referee_notes.append(f"finite difference gives {row.finite_difference:.10g} here, where no "
                                     "derivative exists: it is not shown")
            row.finite_difference = row.fd_error = None
        if row.status == "fail":
            given = "" if row.reference is None else f" {row.reference:.10g}"
            row.referee_notes.append(f"the float64 referees give{given} here, from float rounding where the exact "
                                     "value is undefined: it is not shown")
            row.reference = row.reference_source = row.abs_error = row.rel_error = None
            row.finite_difference = row.fd_error = None
            row.disagrees = []
        row.status = Status.UNDEFINED
        row.reason = (f"{describe(case.expression, node)} is not differentiable at this point ({text}"
                      + (f"; {shown}" if shown else "")
                      + f"): the derivative does not exist here ({row.precise_reason})")


def _jumps(case) -> None:
    """Entries where the function jumps (the high-precision referee's finding): the op that sits on its jump,
    named in the reason ("jump of floor at x = 2"), and the diagnosis "jump"."""
    from ..verdict.judge import at_jump

    for row in case.result.gradients:
        if not at_jump(row):
            continue
        found = _node_on_a_jump(case, row.wrt)
        if found is None:
            continue
        node, args, where = found
        shown = ", ".join(f"{to_text(a, case.expression.names())} = {format_array(v)}"
                          for a, v in zip(node.args, args) if not a.is_const) + where
        row.diagnosis = "jump"
        row.reason = (f"jump of {node.op} at {shown or 'this point'}: {describe(case.expression, node)} jumps here, "
                      "and the function with it, so the derivative does not exist")
    _second_derivatives_at_jumps(case)


def _second_derivatives_at_jumps(case) -> None:
    """A Hessian entry d/dv (df/du) where df/du does not exist (the function jumps in u): no second derivative
    either, whatever the derivative of the gradient's formula (0 for floor) says."""
    from ..verdict.judge import at_jump

    jumps = {(row.wrt, tuple(row.index)): row for row in case.result.gradients if at_jump(row) and not row.output_index}
    for row in case.result.hessian:
        first = jumps.get((row.wrt[0], tuple(row.index[0])))
        if first is None:
            continue
        row.status, row.diagnosis, row.disagrees = Status.UNDEFINED, "jump", []
        row.reference = row.reference_source = row.abs_error = row.rel_error = None
        row.reason = f"the first derivative does not exist here ({first.reason})"


def _node_on_a_jump(case, name: str) -> tuple[Node, list, str] | None:
    """The first discontinuous op the variable reaches that sits on its jump here, with its argument values (at
    the first element that sits on it, and " (element [i])" saying which, for a tensor)."""
    expression, plan, values = case.expression, case.plan, case.values
    variable = {n.id for n in expression.nodes if n.op == "var" and n.attr == name}
    changed = dependents(expression.nodes, variable, carries_value)  # sign(x) carries no derivative, but jumps
    for node in expression.nodes:
        spec = OPS.get(node.op)
        if node.id not in changed or spec is None or spec.jumps is None:
            continue
        args = [plan.value(values, a)[0] for a in node.args]
        sits = spec.sits_on_jump(args, node.attr)
        if not np.any(sits):
            continue
        if sits.ndim == 0 or not spec.elementwise:
            return node, args, ""
        element = tuple(int(i) for i in np.argwhere(sits)[0])
        return node, [np.broadcast_to(a, sits.shape)[element] for a in args], f" (element {list(element)})"
    return None
