"""--fast: check random projections uᵀJv instead of every Jacobian entry.

For large inputs or outputs the full Jacobian is costly to compute and to
read.  A projection compares one number per engine: the symbolic gradient of
u·f dotted with v, torch's gradient of u·f dotted with v, and the finite
difference of u·f along v.  A handful of random (u, v) catches any error that
is not confined to a few entries; an error in one entry of a big Jacobian may
slip through, so the full check stays the default.
"""

from __future__ import annotations

import numpy as np

from ..engines.finite_diff import directional_derivative
from ..engines.symbolic import gradient_nodes
from ..engines.torch_engine import autograd_gradients, autograd_hessian_vector
from ..lang.parser import Expression
from ..lang.plan import Plan
from ..lang.shapes import ShapeMap
from ..spec.spec import Spec
from ..verdict.compare import GradientRow, Status, gradient_row
from ..verdict.judge import judge

PROJECTIONS = 4
WEIGHT = "#u"  # the variable holding u: no expression can name it


def projection_note(rows: list[GradientRow], seed: int, what: str, form: str = "uᵀJv") -> str:
    """The note of a --fast check: how many projections (`form`), from which seed, instead of the full `what`."""
    return (f"{{fast}}: {len(rows)} random projections {form} with seed {seed} instead of the full {what}; they may "
            f"miss an error confined to a few entries ({{seed={seed}}} reproduces them)")


def projection_rows(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], output_shape: tuple,
                    manual: dict[str, np.ndarray], spec: Spec, seed: int,
                    notes: list[str] | None = None) -> tuple[list[GradientRow], int]:
    """One judged row per projection and variable (`projection` = k), and the evaluations spent; in `notes`, an
    op autograd differentiated written out (torch_engine.autograd_gradients).

    Each variable gets its own direction v, so a disagreement names the variable,
    and a manual formula given for some variables only is compared on those alone.
    """
    graph = expression.graph
    weighted = graph.apply("mul", graph.var(WEIGHT), expression.output)
    scalar = graph.apply("sum", weighted) if output_shape else weighted
    shapes = ShapeMap({**{n: v.shape for n, v in point.items()}, WEIGHT: output_shape})
    gradients = gradient_nodes(scalar, wrt, shapes)
    plan = Plan(list(gradients.values()), shapes)
    fd_plan = Plan([scalar], shapes)
    rng = np.random.default_rng(seed)
    rows, evaluations = [], 0
    for k in range(PROJECTIONS):
        u = np.asarray(rng.standard_normal(output_shape))
        v = {name: rng.standard_normal(point[name].shape) for name in wrt}
        at = {**point, WEIGHT: u}
        values = plan.at(at, spec.dtype)
        autograd = autograd_gradients(scalar, at, wrt, spec.dtype, notes=notes)[1]
        at64 = {n: np.asarray(x, dtype=spec.dtype).astype(np.float64) for n, x in at.items()}
        for name in wrt:
            symbolic = np.broadcast_to(plan.value(values, gradients[name])[0], v[name].shape)
            fd, fd_error, count = directional_derivative(fd_plan, scalar, at64, {name: v[name]})
            evaluations += count
            answers = {"symbolic": float(np.sum(symbolic * v[name])),
                       "autograd": float(np.sum(autograd[name] * v[name])),
                       "finite_difference": fd, "fd_error": fd_error}
            if name in manual:
                answers["manual"] = float(np.tensordot(u, manual[name], axes=u.ndim).ravel() @ v[name].ravel())
            rows.append(judge(gradient_row(answers, wrt=name, index=[], projection=k), spec.tolerance))
    return rows, evaluations


def hessian_projection_rows(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], spec: Spec,
                            seed: int, notes: list[str]) -> tuple[list[GradientRow], int]:
    """--fast with {order=2}: one judged row vᵀ(d²f/da db)w per projection and pair of variables, and the
    evaluations spent.  Symbolic: the gradient of ∇_a f · v_a (a graph with v_a as a variable no expression can
    name) dotted with w_b; finite differences of that same ∇_a f · v_a along w_b; autograd: double backward.
    Where torch has no double backward, the rows are judged without it and a line says so in `notes`."""
    graph = expression.graph
    directions = {a: f"#v{a}" for a in wrt}
    shapes = ShapeMap({**{n: v.shape for n, v in point.items()}, **{directions[a]: point[a].shape for a in wrt}})
    first = gradient_nodes(expression.output, wrt, shapes)
    along = {a: graph.apply("sum", graph.apply("mul", first[a], graph.var(directions[a]))) for a in wrt}
    second = {a: gradient_nodes(along[a], wrt, shapes) for a in wrt}
    plan = Plan([n for a in wrt for n in second[a].values()], shapes)
    rng = np.random.default_rng(seed + 1)  # not the first order's directions
    rows, evaluations = [], 0
    for k in range(PROJECTIONS):
        v = {a: rng.standard_normal(point[a].shape) for a in wrt}
        w = {b: rng.standard_normal(point[b].shape) for b in wrt}
        at = {**point, **{directions[a]: v[a] for a in wrt}}
        values = plan.at(at, spec.dtype)
        autograd = _hessian_vector(expression, point, wrt, v, spec, notes)
        at64 = {n: np.asarray(x, dtype=spec.dtype).astype(np.float64) for n, x in at.items()}
        for a in wrt:
            for b in wrt:
                symbolic = np.broadcast_to(plan.value(values, second[a][b])[0], w[b].shape)
                fd, fd_error, count = directional_derivative(Plan([along[a]], shapes), along[a], at64, {b: w[b]})
                evaluations += count
                answers = {"symbolic": float(np.sum(symbolic * w[b])), "finite_difference": fd, "fd_error": fd_error}
                if autograd is not None:
                    answers["autograd"] = float(np.sum(autograd[a][b] * w[b]))
                row = judge(gradient_row(answers, wrt=[a, b], index=[[], []], projection=k), spec.tolerance)
                rows.append(_unblamed(row))
    return rows, evaluations


def _unblamed(row: GradientRow) -> GradientRow:
    """A Hessian projection where autograd disagrees: its finite differences differentiate the symbolic gradient,
    so they referee nothing between symbolic and autograd (a wrong first-derivative rule is in both referees);
    the row is inconclusive, and the full check's high-precision referee can settle it."""
    if "autograd" in row.disagrees:
        row.disagrees, row.status = [], Status.INCONCLUSIVE
        row.reason = ("symbolic and autograd disagree, and finite differences of the symbolic gradient cannot "
                      "referee them; check without {fast} for the high-precision referee")
    return row


def _hessian_vector(expression: Expression, point, wrt: list[str], v: dict[str, np.ndarray], spec: Spec,
                    notes: list[str]) -> dict | None:
    """torch's Hessian-vector products, or None (and a note, once) where torch has no double backward."""
    try:
        return autograd_hessian_vector(expression.output, point, wrt, v, spec.dtype)
    except NotImplementedError as error:
        note = (f"torch has no second derivative here ({str(error).split(chr(10))[0].rstrip('.')}): the Hessian "
                "projections are judged by gradcheck's symbolic engine and finite differences, without autograd")
        notes.extend([] if note in notes else [note])
        return None
