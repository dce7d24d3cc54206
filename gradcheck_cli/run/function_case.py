"""A case whose reference is code: a user's function alone, or against a reference function (`--reference`).

A CUDA or Triton kernel, a fused loss, a deformable convolution cannot be written in gradcheck's language,
so its reference is code.  Alone (`--function` with no expression, `function:` with no `expr:`), the function
is its own reference: its backward (torch.autograd through the user's code) is judged against finite
differences of its own forward, with their error bars and, at a kink, their one-sided values; every check of
userfn/custom_function.py runs too.  A wrong backward is then named as the function's ("your backward").
With a reference function (the slow pure-PyTorch version of a fused kernel), the function's forward value is
compared with the reference's, and its backward and its own finite differences are judged against finite
differences of the reference's forward, so a wrong forward and a wrong backward are told apart as they are
against an expression (verdict.judge's function verdicts).  The case's stages run in `check_function`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.errors import LimitError, MissingValues, UsageError, UserCodeError
from ..core.text import did_you_mean
from ..spec.spec import Spec
from ..verdict.compare import CaseResult, GradientRow, Status, answers_at, case_status, gradient_row
from ..verdict.judge import judge
from ..verdict.patterns import failure_patterns, pattern_notes
from .case import at_function_key, judged_rows, lower_precision, refuse_function_options

OWN_REFERENCE = "backward, own reference"  # the function verdict of a backward wrong against its own forward
EPS = float(np.finfo(np.float64).eps)
ROUNDING_ULPS = 16  # the complex step's error bar: rounding of the largest derivative of the output element
NEEDS_AN_EXPRESSION = ("manual", "manual_hessian", "expected")  # formulas and values about an expression's terms


@dataclass
class _Reference:
    """A reference function's answers at the point: its value and finite differences of its forward, and the
    runner that calls it (for the complex step and for one-sided differences at a kink)."""

    label: str
    value: np.ndarray
    finite: object  # engines.finite_diff.FiniteDifferences (None with {fast}: only projections are taken)
    runner: object  # userfn.user_code.Runner


def check_function(spec: Spec, result: CaseResult) -> None:
    """The function's answers against its own finite differences (alone) or a reference function's."""
    _refuse_what_needs_an_expression(spec)
    refuse_function_options(spec)
    from ..userfn.custom_function import check, device_for
    from ..userfn.user_code import resolve

    point = {name: np.asarray(value, dtype=np.float64) for name, value in spec.at.items()}
    with at_function_key(spec):
        function = resolve(spec.function, spec.args, list(point), alone=True, keywords=spec.kwargs,
                           init_keywords=spec.init_kwargs)
    point = {**function.values, **point}  # a module's parameters at their current values, unless given
    result.point = {name: np.asarray(value, dtype=np.float64).tolist() for name, value in point.items()}
    _check_inputs(function.label, function.inputs, point)
    result.wrt = wrt = _wrt(function.label, function.inputs, spec)
    device, note = device_for(spec.device)
    with at_function_key(spec):
        function = _checked_whole(function, point, device, spec)
    reference = _reference(spec, function.inputs, point, wrt, device) if spec.reference is not None else None
    if spec.fast:
        _check_projections(spec, result, function, point, wrt, device, reference, note)
        return
    with at_function_key(spec):
        if reference is None:  # the reference's output was checked against the limits when it was called
            _check_entries(function, point, wrt, device, spec)
        if reference is None:
            own = check(function, point, wrt, None, spec.tolerance, device, spec.order, spec.limits.max_entries,
                        spec.integers, nondet_tol=spec.nondet_tol)
        else:
            own = check(function, point, wrt, reference.value, spec.tolerance, device, spec.order,
                        spec.limits.max_entries, spec.integers, f"the reference {reference.label}",
                        nondet_tol=spec.nondet_tol)
        own.checks += lower_precision(function, device, spec, point, wrt, own,
                                      reference.runner if reference is not None else None)
    _record_the_function(result, function, device, reference, own, note)
    if own.value is not None:
        code = reference.runner if reference is not None else _runner(function, device, spec, own.value)
        result.gradients = _jacobian_rows(own, reference, code, point, wrt, spec, result.evaluations)
        _name_the_culprit_function(result, function, device, spec, point, wrt)
        if function.outputs is not None:
            _label_outputs(result.gradients, function.outputs)
        result.patterns = failure_patterns(result.gradients, {name: np.shape(point[name]) for name in wrt},
                                           np.shape(own.value))
        result.notes += pattern_notes(result.patterns)
    if own.hessian is not None:
        result.hessian = _hessian_rows(own, point, wrt, spec)
        result.evaluations["hessian_finite_difference"] = sum(f.evaluations for f in own.hessian_finite.values())
    result.status = case_status(result)


def _checked_whole(function, point, device: str, spec: Spec):
    """A function (or reference) whose result is a tuple, with no [N] naming one output: every differentiable output
    is checked, flattened one after the other (user_code.whole); its rows are labelled by output afterwards."""
    from dataclasses import replace

    from ..userfn.user_code import Runner, tuple_outputs

    if function.output is not None:
        return function
    runner = Runner(function, device, None, integers=spec.integers)
    result = _probed(runner.result, runner, point)
    if result is None:
        return function  # the float64 check says what it raises
    outputs = tuple_outputs(result)
    return function if outputs is None else replace(function, outputs=outputs)


def _label_outputs(rows: list[GradientRow], outputs) -> None:
    """Rows of a tuple result checked whole: each flat output position back to its output's label and index."""
    starts = np.cumsum([0] + [math.prod(output.shape) for output in outputs])
    for row in rows:
        flat = row.output_index[0] if row.output_index else 0
        which = int(np.searchsorted(starts, flat, side="right")) - 1
        output = outputs[which]
        row.output = output.label
        row.output_index = [int(i) for i in np.unravel_index(flat - starts[which], output.shape)] \
            if output.shape else []


def _name_the_culprit_function(result: CaseResult, function, device: str, spec: Spec, point, wrt: list[str]) -> None:
    """Where its backward is wrong, which custom autograd.Function inside it (userfn.function_culprits)."""
    if not any("function" in row.disagrees for row in result.gradients):
        return
    from ..userfn.function_culprits import culprit_functions_check
    from ..userfn.user_code import Runner, stdout_to_stderr

    with at_function_key(spec), stdout_to_stderr():
        found = culprit_functions_check(Runner(function, device, None, integers=spec.integers), point, wrt)
    if found is not None:
        result.checks = [*result.checks, found]


def _check_projections(spec: Spec, result: CaseResult, function, point, wrt: list[str], device: str,
                       reference: _Reference | None, note: str | None) -> None:
    """{fast}: the cheap checks, {precision}, and random projections uᵀJv (with {order=2} vᵀHw too) instead of
    every entry (run.function_projections)."""
    from ..userfn.custom_function import quick_checks
    from ..userfn.user_code import Runner
    from .function_projections import function_projection_rows, hessian_projection_rows
    from .projections import projection_note

    runner = Runner(function, device, None if reference is None else reference.runner.shape, integers=spec.integers)
    with at_function_key(spec):
        if reference is None:
            _check_entries(function, point, wrt, device, spec)
            own = quick_checks(runner, point, wrt, spec.tolerance)
        else:
            own = quick_checks(runner, point, wrt, spec.tolerance, reference.value, f"the reference {reference.label}")
        own.checks += lower_precision(function, device, spec, point, wrt, own,
                                      reference.runner if reference is not None else None)
        _record_the_function(result, function, device, reference, own, note)
        result.notes.append("{fast}: the checks that need the whole Jacobian (gradient dtype and shape, undefined "
                            "incoming gradient, deterministic backward, non-contiguous inputs, forward AD, batched "
                            "gradient) run without {fast}")
        if own.value is not None:
            seed = spec.seed if spec.seed is not None else int(np.random.SeedSequence().entropy % 2**32)
            result.seed = seed
            code = reference.runner if reference is not None else runner
            result.gradients, result.patterns, spent = function_projection_rows(
                runner, code if reference else None, point, wrt, spec, seed, OWN_REFERENCE)
            result.evaluations["finite_difference"] = spent
            result.notes += pattern_notes(result.patterns)
            what = "gradient" if runner.shape == () else "Jacobian"
            result.notes.insert(0, projection_note(result.gradients, seed, what))
            if spec.order == 2 and _differentiable_twice(runner, point, wrt, result):
                result.hessian, spent = hessian_projection_rows(runner, point, wrt, spec, seed, OWN_REFERENCE)
                result.evaluations["hessian_finite_difference"] = spent
                result.notes.insert(1, projection_note(result.hessian, seed, "Hessian", "vᵀHw"))
    result.status = case_status(result)


def _differentiable_twice(runner, point, wrt: list[str], result: CaseResult) -> bool:
    """{order=2} under {fast}: the double backward check first (one call, one double backward), as without
    {fast}; where the backward cannot be differentiated (once_differentiable) the check says so, and no vᵀHw
    projection reads its Hessian as 0."""
    from ..userfn.double_backward import double_backward_check
    from ..userfn.user_code import stdout_to_stderr

    with stdout_to_stderr():
        result.checks.append(double_backward_check(runner, point, wrt))
    return result.checks[-1].status != "fail"


def _record_the_function(result: CaseResult, function, device: str, reference: _Reference | None, own,
                         note: str | None) -> None:
    """What was checked (the function, its device, its reference), its case-level checks, and the value."""
    result.function = {"target": function.label, "inputs": list(function.inputs), "device": device}
    if reference is not None:
        result.function["reference"] = reference.label
    result.checks, result.notes = own.checks, result.notes + ([note] if note else [])
    value = own.value if reference is None else reference.value
    result.value = None if value is None else (float(value) if value.shape == () else value.tolist())


def _jacobian_rows(own, reference: _Reference | None, code, point, wrt: list[str], spec: Spec,
                   evaluations: dict[str, int]) -> list[GradientRow]:
    """The Jacobian's rows judged (`_rows`), their references sharpened by the complex step and settled at a
    kink by one-sided differences; the evaluations each spent go into `evaluations`."""
    rows = _rows(own, reference, point, wrt, spec)
    evaluations["finite_difference"] = (own.finite if reference is None else reference.finite).evaluations
    if reference is not None:
        evaluations["function_finite_difference"] = own.finite.evaluations
    spent = {"complex_step": _sharpen_with_the_complex_step(rows, code, point, own.value.shape, spec),
             "one_sided": _look_for_kinks(rows, code, point, own.value.shape, spec)}
    evaluations |= {name: count for name, count in spent.items() if count}
    if reference is None:
        for row in rows:
            row.function_verdict = OWN_REFERENCE if "function" in row.disagrees else None
    return rows


def _refuse_what_needs_an_expression(spec: Spec) -> None:
    if spec.expr and spec.reference is not None:
        raise UsageError("the reference is the expression or the code of {reference}, not both: drop one",
                         origin=spec.origins.get("reference"))
    given = [name for name in NEEDS_AN_EXPRESSION if getattr(spec, name)]
    given += [name for name in ("explain", "precise") if getattr(spec, name)]
    given += ["method"] if spec.method != "auto" else []
    if given:
        raise UsageError(f"{{{given[0]}}} needs a reference expression; with code as the reference "
                         "(a function alone, or {reference}) the gradient is checked against finite differences "
                         "of that code's forward", origin=spec.origins.get("function"))
    if spec.order == 2 and spec.reference is not None:
        raise UsageError("{order=2} with {reference}: the reference's second derivatives are not checked; drop "
                         "{reference} to check the function's double backward against its own backward",
                         origin=spec.origins.get("reference"))
    if spec.where:
        raise UsageError("named intermediates (where:) belong to an expression; this case has none",
                         origin=spec.origins.get("function"))


def _check_inputs(label: str, inputs: tuple[str, ...], point: dict[str, np.ndarray]) -> None:
    """Every input of the function has a value, and every value is for one of its inputs."""
    missing = [name for name in inputs if name not in point]
    if missing:
        error = MissingValues(missing, list(inputs))
        error.template = f"no value for {', '.join(missing)}: {label} takes {', '.join(inputs)}"
        raise error
    for name in point:
        if name not in inputs:
            hint = did_you_mean(name, list(inputs)) or f"its inputs: {', '.join(inputs) or 'none'}"
            raise UsageError(f"{name!r} is not an input of {label} ({hint}; name its inputs in order with {{args}})")


def _wrt(label: str, inputs: tuple[str, ...], spec: Spec) -> list[str]:
    """The inputs differentiated: those in {wrt}, by default every input that is not index data."""
    if not inputs:
        raise UsageError(f"{label} takes no inputs: there is nothing to differentiate")
    if not spec.wrt:
        wrt = [name for name in inputs if name not in spec.integers]
        if not wrt:
            raise UsageError(f"every input of {label} is integer (index) data: there is nothing to differentiate")
        return wrt
    for name in spec.wrt:
        if name not in inputs:
            hint = did_you_mean(name, list(inputs)) or f"its inputs: {', '.join(inputs)}"
            raise UsageError(f"cannot differentiate with respect to {name!r}: it is not an input of {label} ({hint})")
        if name in spec.integers:
            raise UsageError(f"cannot differentiate with respect to {name!r}: it holds integer (index) data")
    return list(dict.fromkeys(spec.wrt))


def _reference(spec: Spec, inputs: tuple[str, ...], point, wrt: list[str], device: str) -> _Reference:
    """The reference function's value and the finite differences of its forward, in float64."""
    from ..engines.finite_diff import finite_differences_of_function
    from ..userfn.user_code import Runner, over_batch, resolve, stdout_to_stderr

    with at_function_key(spec, "reference"), stdout_to_stderr():
        reference = _checked_whole(resolve(spec.reference, None, list(point), alone=True, keywords=spec.kwargs),
                                   point, device, spec)
        if set(reference.inputs) != set(inputs):
            raise UsageError(f"the reference {reference.label} takes {', '.join(reference.inputs) or 'no inputs'}; "
                             f"the function takes {', '.join(inputs)}: their inputs must have the same names")
        runner = Runner(reference, device, None, integers=spec.integers)
        import torch

        with torch.no_grad():
            output = runner.call(runner.leaves(point, []))  # what it raises is one line, at {reference}
        runner.shape = tuple(output.shape)
        _refuse_past_the_limits(runner.shape, point, wrt, spec)
        value = output.detach().numpy(force=True).astype(np.float64)
        finite = None if spec.fast else finite_differences_of_function(over_batch(runner.value), point, wrt,
                                                                        runner.shape)
    return _Reference(reference.label, value, finite, runner)


def _runner(function, device: str, spec: Spec, value: np.ndarray):
    """A userfn.user_code.Runner of the function alone, its output's shape known."""
    from ..userfn.user_code import Runner

    return Runner(function, device, value.shape, integers=spec.integers)


def _sharpen_with_the_complex_step(rows: list[GradientRow], code, point, output_shape: tuple, spec: Spec) -> int:
    """Where the reference code takes complex inputs and returns a complex result, Im f(x + ih)/h, exact to
    rounding where the code is holomorphic, replaces each Richardson reference that confirms it (within the
    tolerance and its error bar, itself within the tolerance: the step of code that is not holomorphic, abs or
    .real inside, is never trusted on its own).  Returns the evaluations spent."""
    from ..engines.finite_diff import complex_step_of_function
    from ..userfn.user_code import over_batch, stdout_to_stderr

    evaluations = 0
    for name in dict.fromkeys(row.wrt for row in rows):
        with stdout_to_stderr():
            jacobian = complex_step_of_function(over_batch(code.complex_value), point, name)
        if jacobian is None:
            return evaluations + 1  # it takes no complex input, whichever variable is stepped
        evaluations += jacobian.shape[0]
        shape = np.shape(point[name])
        for row in rows:
            if row.wrt != name or row.reference_source != "finite_difference":
                continue
            out = _flat(row.output_index, output_shape)
            value = float(jacobian[_flat(row.index, shape), out])
            bar = ROUNDING_ULPS * EPS * max(abs(value), float(np.max(np.abs(jacobian[:, out]))))
            if math.isfinite(value) and spec.tolerance.agree(value, row.finite_difference, row.fd_error + bar):
                row.finite_difference, row.fd_error, row.fd_method = value, bar, "complex"
                judge(row, spec.tolerance)
    return evaluations


def _look_for_kinks(rows: list[GradientRow], code, point, output_shape: tuple, spec: Spec) -> int:
    """The reference code's one-sided derivatives where its central differences settled nothing: a kink at the
    point (|x| at 0) has sides that settle and differ, and the entry is judged on it as verdict.judge judges one
    (a subject between the sides passes as a subgradient, the entry `undefined`).  Also where a subject fails
    against the central differences: a black box shows no kinks, and one closer to the point than any step
    (|x| at 1e-300) gives central differences that agree at every step on a value of neither side (0); there
    the sides differ, and the entry is judged on them.  Returns the evaluations."""
    from ..engines.finite_diff import one_sided_of_function
    from ..userfn.user_code import over_batch, stdout_to_stderr

    unsettled = [row for row in rows if row.left is None and (row.status == Status.INCONCLUSIVE or (
        row.status == Status.FAIL and row.reference_source == "finite_difference"))]
    evaluations = 0
    for name in dict.fromkeys(row.wrt for row in unsettled):
        mine = [row for row in unsettled if row.wrt == name]
        shape = np.shape(point[name])
        elements = np.array(sorted({_flat(row.index, shape) for row in mine}))
        with stdout_to_stderr():
            left, right, cost = one_sided_of_function(over_batch(code.value), point, name, elements,
                                                      spec.tolerance.close)
        evaluations += cost
        position = {int(element): i for i, element in enumerate(elements)}
        for row in mine:
            i, out = position[_flat(row.index, shape)], _flat(row.output_index, output_shape)
            sides = float(left[i, out]), float(right[i, out])
            if not (math.isfinite(sides[0]) and math.isfinite(sides[1])):
                continue
            if row.status == Status.INCONCLUSIVE or not spec.tolerance.agree(*sides):  # a failure stands off a kink
                row.left, row.right = sides
                row.finite_difference = row.fd_error = None
                judge(row, spec.tolerance)
    return evaluations


def _check_entries(function, point, wrt: list[str], device: str, spec: Spec) -> None:
    """The limits, before any Jacobian is computed: the function alone is called once (without autograd) for its
    output's shape; a call that raises is left for the float64 check to report."""
    from ..userfn.user_code import Runner

    runner = Runner(function, device, None, integers=spec.integers)
    output = _probed(runner.call, runner, point)
    if output is not None:
        _refuse_past_the_limits(tuple(output.shape), point, wrt, spec)


def _probed(call, runner, point):
    """`call` (runner.result or runner.call) at the point, without autograd, or None where it raises: the float64 check
    reports that.  A call stopped by the time limit ends the case here, so a function that never returns is
    waited for once, not once per probe."""
    import torch

    from ..userfn.user_code import CallTimeout, stdout_to_stderr

    try:
        with stdout_to_stderr(), torch.no_grad():
            return call(runner.leaves(point, []))
    except CallTimeout:
        raise
    except UserCodeError:
        return None


def _refuse_past_the_limits(shape: tuple, point, wrt: list[str], spec: Spec) -> None:
    """Each Jacobian (and with {order=2} Hessian) entry is a row of the report: an empty value, a value that is
    not a scalar at second order, or more entries than {max_entries} is refused."""
    elements = sum(int(np.size(point[name])) for name in wrt)
    if math.prod(shape) == 0:
        raise UsageError(f"the function's value is empty (shape {tuple(shape)}): it has no entries to differentiate")
    if spec.order == 2 and tuple(shape) != ():
        raise UsageError(f"the function's value has shape {tuple(shape)}; {{order=2}} needs a scalar")
    entries = max(math.prod(shape) * elements, elements**2 if spec.order == 2 else 0)
    if entries > spec.limits.max_entries and not spec.fast:
        raise LimitError(f"the function's value has shape {tuple(shape)}: its Jacobian would have {entries:,} "
                         f"entries; the limit is {spec.limits.max_entries:,}",
                         hint="check smaller inputs, fewer of them ({wrt}), or raise {max_entries}")


def _flat(index: list[int], shape: tuple) -> int:
    """The position of an element in its array, flattened."""
    return int(np.ravel_multi_index(index, shape)) if shape else 0


def _hessian_rows(own, point, wrt: list[str], spec: Spec) -> list[GradientRow]:
    """The Hessian of a function alone: its double backward against finite differences of its backward (whose
    own first derivatives the Jacobian rows check against its forward)."""
    answers = {"function": own.hessian,
               "finite_difference": {(a, b): own.hessian_finite[a].gradients[b] for a in wrt for b in wrt},
               "fd_error": {(a, b): own.hessian_finite[a].errors[b] for a in wrt for b in wrt}}
    rows = []
    for a in wrt:
        for b in wrt:
            for i in np.ndindex(np.shape(point[a])):
                for j in np.ndindex(np.shape(point[b])):
                    row = judge(gradient_row(answers_at(answers, (a, b), i + j), wrt=[a, b], index=[list(i), list(j)]),
                                spec.tolerance)
                    row.function_verdict = OWN_REFERENCE if "function" in row.disagrees else None
                    rows.append(row)
    return rows


def _rows(own, reference: _Reference | None, point, wrt: list[str], spec: Spec) -> list[GradientRow]:
    """The Jacobian's rows: the function's backward judged against finite differences of the reference code's
    forward (its own, alone); with a reference, finite differences of its own forward beside."""
    shape = own.value.shape
    if reference is None:
        finite = own.finite
        answers = {"function": own.jacobian}
    else:
        finite = reference.finite
        answers = {"function": own.jacobian, "function_fd": own.finite.gradients,
                   "function_fd_error": own.finite.errors}
    answers |= {"finite_difference": finite.gradients, "fd_error": finite.errors}
    return judged_rows(wrt, point, shape, answers, finite, spec)
