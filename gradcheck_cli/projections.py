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

from .compare import GradientRow, judge
from .engines.finite_diff import directional_derivative
from .engines.symbolic import gradient_nodes
from .engines.torch_engine import autograd_gradients
from .parser import Expression
from .plan import Plan, batched
from .shapes import ShapeMap
from .spec import Spec

PROJECTIONS = 4
WEIGHT = "#u"  # the variable holding u: no expression can name it
LABEL = "uᵀJv"  # the `wrt` of a projection row: no variable can be called that


def projection_rows(expression: Expression, point: dict[str, np.ndarray], wrt: list[str], output_shape: tuple,
                    manual: dict[str, np.ndarray], spec: Spec, seed: int) -> tuple[list[GradientRow], int]:
    """One judged row per projection (wrt "uᵀJv", index [k]), and the evaluations spent."""
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
        u = rng.standard_normal(output_shape)
        v = {name: rng.standard_normal(point[name].shape) for name in wrt}
        at = {**point, WEIGHT: np.asarray(u)}
        values = plan.run({n: batched(np.asarray(x, dtype=spec.dtype)) for n, x in at.items()}, dtype=np.dtype(spec.dtype))
        symbolic = sum(float(np.sum(np.broadcast_to(plan.value(values, gradients[n])[0], v[n].shape) * v[n]))
                       for n in wrt)
        autograd = autograd_gradients(scalar, at, wrt, spec.dtype)[1]
        at64 = {n: np.asarray(x, dtype=spec.dtype).astype(np.float64) for n, x in at.items()}
        fd, fd_error, count = directional_derivative(fd_plan, scalar, at64, v)
        evaluations += count
        row = GradientRow(wrt=LABEL, index=[k], symbolic=symbolic,
                          autograd=sum(float(np.sum(autograd[n] * v[n])) for n in wrt),
                          finite_difference=fd, fd_error=fd_error)
        if manual:
            row.manual = sum(float(np.tensordot(u, manual[n], axes=u.ndim).ravel() @ v[n].ravel())
                             for n in wrt if n in manual)
        rows.append(judge(row, spec.tolerance))
    return rows, evaluations
