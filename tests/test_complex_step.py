"""Complex step: every op flagged analytic must accept complex input and give exact derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck_cli import check
from gradcheck_cli.engines.finite_diff import complex_step_applies
from gradcheck_cli.lang.ops import OPS
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.lang.plan import Plan
from gradcheck_cli.lang.shapes import ShapeMap

M = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
V = [0.3, -0.8, 1.1]
# Each expression is analytic in x; together they use every analytic op of the registry.
EXPRESSIONS = [
    ("x + 2 - x/3 + x*x - -x + x**3 + pow(2, x)", 0.7),
    ("sin(x)*cos(x)*tan(x) + asin(x/2) + acos(x/3) + atan(x)", 0.4),
    ("sinh(x) + cosh(x) + tanh(x) + exp(x) + expm1(x) + log(x) + log1p(x) + sqrt(x)", 0.9),
    ("sigmoid(x) + softplus(x) + sigmoid(-x*40) + softplus(x*60)", 0.35),
    ("x*detach(x) + detach(x**2)", 1.3),
    ("sum(x) + mean(x**2) + prod(x) + norm(x) + logsumexp(x)", V),
    ("sum(softmax(x)*[1]) + sum(log_softmax(x, 0)*x)".replace("*[1]", "*x"), V),
    ("sum((A @ x)**2) + dot(x, x) + sum(outer(x, x)) + sum(A.T @ A @ x)", V),
    ("sum(x[0:2]**2) + x[2] + sum(reshape(x, 3, 1) @ reshape(x, 1, 3))", V),
    ("sum(concat(x, x**2)) + sum(stack(x, x)[1]) + sum(transpose(outer(x, x)))", V),
    ("sum(ones(3)*x) + sum(zeros(3)) + sum(eye(3) @ x) + sum(expand(1, x)*x) + sum(sum_to(outer(x, x), x))", V),
    ("sum(unindex(x[1:], x, [1:])*x)", V),
    # linear algebra family of issue 17
    ("trace(outer(x, x)) + det(outer(x, x) + eye(3)) + logdet(outer(x, x) + 2*eye(3))"
     " + sum(inv(outer(x, x) + eye(3)) @ x) + sum(solve(outer(x, x) + eye(3), x)) + sum(matrix_exp(outer(x, x)))"
     " + sum(cross(x, x**2)) + sum(kron(x, x)) + sum(matrix_power(outer(x, x) + eye(3), 2))"
     " + sum(tensordot(outer(x, x), x, dims=1)) + sum(einsum(x, x**2, equation='i,j->ij'))", V),
    # reductions family of issue 17: statistics and scans
    ("var(x) + std(x) + var(x, correction=0)*std(x, 0, keepdim=True) + sum(var(A*x, dim=(0, 1), keepdim=True))"
     " + sum(cumsum(x, 0)**2) + sum(cumsum_reverse(x, 0)**3) + sum(cumprod(x, 0)*x) + sum(logcumsumexp(A*x, 1)**2)",
     V),
    ("sum(sum(A*x, dim=(0, 1), keepdim=True)**2) + sum(mean(A*x**2, dim=0, keepdim=True)**3)", V),
    # shape and indexing family of issue 17
    ("sum(squeeze(unsqueeze(x, 0))*x) + sum(flip(x, (0,))*x) + sum(roll(x, 1)*x**2) + sum(tile(x, (2,))**3)"
     " + sum(repeat(A*x, (2, 1))**3)", V),
    ("sum(tril(outer(x, x))**2) + sum(triu(outer(x, x), 1)**2) + sum(diag(x)**2 @ x) + sum(diagonal(outer(x, x**2)))"
     " + sum(diag(outer(x, x), 1)**2)", V),
    ("sum(gather(outer(x, x), 1, index=((0, 0), (2, 1)))**2) + sum(index_select(x, 0, index=(2, 2))*x[0])"
     " + sum(take(x, index=(1, 1, -1))**3) + sum(cat(A, outer(x[0:2], x), dim=1)**2) + sum(stack(x, x**2, dim=1)**2)"
     " + sum(unselect(x[0:2], A, of='diagonal')**2) + sum(swapaxes(stack(A, A*x), 0, 2) @ x[0:2])", V),
    # elementwise family of issue 17 (lgamma and digamma also on the negative axis, by reflection)
    ("exp2(x) + log2(x) + log10(x) + reciprocal(x) + rsqrt(x) + square(x) + sinc(x) + sinc(x/100)", 0.7),
    ("erf(x) + erfc(3*x) + lgamma(x) + digamma(x) + lgamma(-x - 1) + digamma(x - 3) + lgamma(x - 2.001)", 0.7),
    ("logit(x/2) + logit(x, eps=0.2) + atan2(x, -2) + atan2(-x, 0.3) + hypot(x, 3) + xlogy(x, x + 1) + xlogy(2, x)",
     0.7),
    # activations family of issue 17: the analytic ones, in their tails too
    ("gelu(x) + gelu(-8*x, approximate='tanh') + gelu(-12*x) + silu(x) + silu(-60*x) + mish(x) + mish(-40*x)"
     " + logsigmoid(x) + logsigmoid(-900*x) + logsigmoid(60*x)", 0.7),
    # normalization family of issue 17 (weight and bias as optional operands)
    ("sum(layer_norm(A*x, (3,), x, x**2)**3) + sum(layer_norm(outer(x, x**2), (3, 3), eps=0.1)*A[0])"
     " + sum(batch_norm(A*x, None, None, x, 1 - x, training=True)**3)"
     " + sum(batch_norm(A*x, zeros(3), ones(3) + 1, x)**3)"
     " + sum(group_norm(stack(A*x, A*x**2, dim=1), 2, weight=x[0:2], bias=x[1:3])**3)", V),
    # convolution family of issue 17 (conv and avg_pool are linear in each argument; im2col/col2im their adjoints)
    ("sum(conv1d(stack(x, x**2), reshape(stack(x, x + 1), 1, 2, 3), x[0:1], padding='same')**3)"
     " + sum(conv2d(reshape(A*x, 1, 2, 3), reshape(outer(x, x)[0:2], 2, 1, 1, 3), x[1:3], padding=1)**3)"
     " + sum(avg_pool1d(A*x, 2, 1, 1, ceil_mode=True, count_include_pad=False)**3)"
     " + sum(avg_pool2d(reshape(A*x, 1, 2, 3), 2, padding=1, divisor_override=3)**3)"
     " + sum(col2im(im2col(A*x, kernel_size=(2,), out=(2,)), kernel_size=(2,), size=(3,))**3)", V),
    # losses family of issue 17 (class weights and pos_weight as optional operands)
    ("cross_entropy(A*x, (2, 0), weight=x**2 + 1, label_smoothing=0.1) + nll_loss(log_softmax(A*x, 1), (1, 2), x + 2,"
     " reduction='sum') + mse_loss(x, x**2) + kl_div(A*x, softmax(x, 0)) + kl_div(x, A*x, log_target=True)"
     " + binary_cross_entropy(sigmoid(A*x), sigmoid(-A*x), x**2)"
     " + binary_cross_entropy_with_logits(A*x*40, sigmoid(A*x), x + 2, pos_weight=x**2)", V),
    # cross_entropy with class probabilities (a tensor target), differentiable in the target and the weight
    ("cross_entropy(A*x, softmax(A*x**2, 1), x**2 + 1, label_smoothing=0.2)"
     " + sum(cross_entropy(A*x, softmax(A, 1)*x, reduction='none')**2)", V),
]


@pytest.mark.parametrize("expr, x", EXPRESSIONS, ids=[e for e, _ in EXPRESSIONS])
def test_complex_step_matches_the_symbolic_derivative(expr, x):
    point = {"x": x}
    if "A" in expr:
        point["A"] = M
    result = check(expr, at=point, wrt=["x"])
    assert result.status == "pass", result.rendered_error
    for row in result.gradients:
        assert abs(row.finite_difference - row.symbolic) <= row.fd_error + 1e-15 * abs(row.symbolic)
        assert row.fd_error <= 1e-12 * max(1.0, abs(row.symbolic))  # exact to rounding, not to 1e-8
    expression = parse(expr)
    shapes = ShapeMap({k: np.shape(v) for k, v in point.items()})
    assert complex_step_applies(Plan([expression.output], shapes), expression.output, "x")


def test_every_analytic_op_is_exercised():
    used = set()
    for expr, _ in EXPRESSIONS:
        used |= {n.op for n in parse(expr).graph.nodes}
    analytic = {name for name, spec in OPS.items() if spec.analytic}
    assert analytic - used == set(), "add the op to EXPRESSIONS, or mark it analytic=False"


@pytest.mark.parametrize("expr", ["relu(x)", "abs(x) + x", "max(x, 0.5)", "where(x > 0, x, 0)", "sum(amax(x)*x)"])
def test_kinked_paths_use_richardson(expr):
    expression = parse(expr)
    shapes = ShapeMap({"x": (3,) if "sum" in expr else ()})
    assert not complex_step_applies(Plan([expression.output], shapes), expression.output, "x")


@pytest.mark.parametrize("text, x", [("sqrt(x)", 1e-320), ("x**0.5", 1e-300), ("log(x)*x", 1e-300),
                                     ("sqrt(x - 1)", 1 + 2.0**-52)])
def test_complex_step_is_not_trusted_next_to_a_branch_point(text, x):
    """Im f(x + ih)/h is wrong when a singularity is within h: sqrt(1e-320 + 1e-200i) is not linear in h."""
    result = check(text, at={"x": x})
    row = result.gradients[0]
    assert result.status in ("pass", "inconclusive")  # never a confident, wrong referee
    if row.fd_method == "complex":  # allowed only where the singularity is far beyond the step
        assert abs(row.finite_difference - row.symbolic) <= 1e-12 * abs(row.symbolic)
    else:
        assert x < 1e-150


@pytest.mark.parametrize("text, at", [
    ("sum(sin(W @ v))", {"W": [[2.0]], "v": [3.0]}),
    ("sum(cat(a, b)**2)", {"a": [2.0], "b": [3.0]}),
    ("sum(conv1d(x, w, b))", {"x": [[[1.0, 2.0, 3.0]]], "w": [[[2.0]]], "b": [0.5]}),
    ("sum(sin(batch_norm(x, None, None, w, b, training=True)))", {"x": [[[1.0, 2.0]], [[3.0, 4.5]]], "w": [1.5],
                                                                    "b": [0.5]}),
])
def test_one_element_tensors_stepped_together_keep_their_shapes(text, at):
    """Several one-element variables share one batched complex-step run; each keeps its shape ((1, 1) for W), so
    ops that need a rank (matmul, conv1d's 3-D weight) still see it."""
    result = check(text, at=at)
    assert result.status == "pass", result.rendered_error
    for row in result.gradients:
        assert row.finite_difference == pytest.approx(row.autograd, rel=1e-12, abs=1e-12), row
