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
from ..engines.torch_engine import autograd_gradients
from ..lang.parser import Expression
from ..lang.plan import Plan
from ..lang.shapes import ShapeMap
from ..spec.spec import Spec
from ..verdict.compare import GradientRow, gradient_row
from ..verdict.judge import judge

PROJECTIONS = 4
WEIGHT = "#u"  # the variable holding u: no expression can name it


def projection_note(rows: list[GradientRow], seed: int, what: str, form: str = "uᵀJv") -> str:
    """The note of a --fast check: how many projections (`form`), from which seed, instead of the full `what`."""
    return (f"{{fast}}: {len(rows)} random projections {form} with seed {seed} instead of the full {what}; they may "
            f"miss an error confined to a few entries ({{seed={seed}}} reproduces them)")


def projection_rows(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], output_shape: tuple,
                    manual: dict[str, np.ndarray], spec: Spec, seed: int) -> tuple[list[GradientRow], int]:
    """One judged row per projection and variable (`projection` = k), and the evaluations spent.

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
        autograd = autograd_gradients(scalar, at, wrt, spec.dtype)[1]
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
