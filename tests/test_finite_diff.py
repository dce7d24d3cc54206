"""Finite differences: accuracy, honest error bars, domain edges, detach, vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcheck_cli import check

# (expression, point, exact derivative)
SMOOTH = [
    ("sin(x**2)", 4.0, 2 * 4.0 * math.cos(16.0)),
    ("exp(x)", 3.0, math.exp(3.0)),
    ("log(x)", 1e-3, 1e3),
    ("sqrt(x)", 1e-6, 0.5 / math.sqrt(1e-6)),
    ("x**5", 1e3, 5 * 1e12),
    ("tanh(x)", 0.3, 1 - math.tanh(0.3) ** 2),
    ("sigmoid(x)", -30.0, math.exp(-30.0) / (1 + math.exp(-30.0)) ** 2),
    ("atan(x)", 1e5, 1 / (1 + 1e10)),
    ("1/x", 1e-4, -1e8),
    ("log1p(x)", -0.999, 1000.0),
]


@pytest.mark.parametrize("expr, x, exact", SMOOTH, ids=[s[0] + f"@{s[1]}" for s in SMOOTH])
def test_accurate_with_an_error_bar_that_covers_the_true_error(expr, x, exact):
    row = check(expr, at={"x": x}).gradients[0]
    true_error = abs(row.finite_difference - exact)
    assert true_error <= row.fd_error
    assert true_error <= 1e-7 * abs(exact)
    assert row.status == "pass"


def test_steps_shrink_near_a_domain_edge():
    """sqrt(abs(x)) at 1e-4 (not analytic, so no complex step): a 1e-3 step crosses zero; retries stay inside."""
    result = check("sqrt(abs(x))", at={"x": 1e-4})
    row = result.gradients[0]
    assert row.finite_difference == pytest.approx(0.5 / 1e-2, rel=1e-7)
    assert result.evaluations["finite_difference"] > 12 + 7  # it did retry


def test_evaluations_per_element():
    """Analytic: one complex step per element.  Otherwise two step sizes of 6 evaluations confirm
    each other, plus 7 to measure the noise."""
    analytic = check("sum(sin(x))", at={"x": np.linspace(0, 1, 50)})
    assert analytic.evaluations["finite_difference"] == 50
    kinked = check("sum(abs(x))", at={"x": np.linspace(1, 2, 50)})
    assert kinked.evaluations["finite_difference"] == 12 * 50 + 7


def test_complex_step_is_exact_to_rounding():
    """Complex step: no subtraction, so sin(x**2) at 4 matches 2*x*cos(x**2) to the last bits."""
    import math

    row = check("sin(x**2)", at={"x": 4.0}).gradients[0]
    assert row.finite_difference == pytest.approx(8 * math.cos(16.0), rel=4e-16)
    assert row.fd_error < 1e-13


def test_detach_is_held_while_perturbing():
    row = check("x*detach(x)**2", at={"x": 3.0}).gradients[0]
    assert row.finite_difference == pytest.approx(9.0, rel=1e-10)


def test_large_vector_is_chunked_and_correct():
    x = np.linspace(-2, 2, 1500)
    result = check("mean(sin(x)*x**2)", at={"x": x})
    exact = (np.cos(x) * x**2 + 2 * x * np.sin(x)) / x.size
    fd = np.array([r.finite_difference for r in result.gradients])
    assert np.max(np.abs(fd - exact)) < 1e-12
    assert result.status == "pass"


@pytest.mark.parametrize("x", [1e7, 1e9, -3e8])
def test_large_arguments_of_oscillating_functions(x):
    """A step relative to |x| aliases with sin's period; the estimates must not confirm each other."""
    row = check("sin(x)", at={"x": x}).gradients[0]
    assert abs(row.finite_difference - math.cos(x)) <= row.fd_error
    assert row.status == "pass"


def test_cancellation_noise_is_measured():
    """log(1 - p) with p near 1: noise far above eps*|f|; the error bar must still cover the truth."""
    bce = "z = w*x + b; p = clamp(sigmoid(z), 1e-8, 1 - 1e-8); -(y*log(p) + (1-y)*log(1-p))"
    for row in check(bce, at={"w": 2.0, "b": 0.0, "x": 6.7, "y": 0.0}).gradients:
        assert abs(row.finite_difference - row.symbolic) <= row.fd_error
        assert row.status == "pass"


def test_float32_points_are_rounded_before_differencing():
    row = check("sin(x)", at={"x": 1000.59727}, dtype="float32").gradients[0]
    assert row.status == "pass"
    assert row.finite_difference == pytest.approx(math.cos(float(np.float32(1000.59727))), rel=1e-6)


@pytest.mark.parametrize("expr, diagonal", [
    ("mean(sin(x)*x**2)", True),
    ("log(sum(exp(x)))*sum(x)", True),
    ("sum(x*w) + mean(x**2)*sum(w)", True),
    ("sum(x*detach(x))", True),
    ("sum(softmax(x)*w)", False),     # softmax mixes the elements
    ("x @ w", False),
])
def test_diagonal_finite_differences_agree_with_dense_ones(expr, diagonal):
    """The O(n) path (one changed element per perturbation) against the dense batched path."""
    from gradcheck_cli.engines.finite_diff import finite_differences
    from gradcheck_cli.lang.parser import parse
    from gradcheck_cli.lang.plan import DiagonalRun, Plan
    from gradcheck_cli.lang.shapes import ShapeMap

    point = {"x": np.linspace(-1.5, 2.0, 9), "w": np.linspace(0.5, 1.0, 9)}
    expression = parse(expr)
    point = {k: v for k, v in point.items() if k in expression.variables}
    shapes = ShapeMap({k: v.shape for k, v in point.items()})
    plan = Plan([expression.output], shapes)
    assert DiagonalRun(plan, shapes, "x").supports is diagonal
    fast = finite_differences(plan, expression.output, point, ["x"], shapes)
    dense = finite_differences(plan, expression.output, point, ["x"])
    np.testing.assert_allclose(fast.gradients["x"], dense.gradients["x"], rtol=1e-9, atol=1e-12)


def _two_full_products(a, b):
    """The complex product as it was made before the complex step's shortcut: two full real products."""
    from gradcheck_cli.lang.tensor_kernels import matrix_product

    real, imaginary = ((matrix_product(a.real, b), matrix_product(a.imag, b)) if np.iscomplexobj(a) else
                       (matrix_product(a, b.real), matrix_product(a, b.imag)))
    out = np.empty(real.shape, dtype=np.complex128)
    out.real, out.imag = real, imaginary
    return out


def _stepped(x: np.ndarray) -> np.ndarray:
    """The complex step's batch for x: entry j is x with ih added to its element j."""
    batch = np.broadcast_to(x.ravel(), (x.size, x.size)).astype(np.complex128)
    batch[np.arange(x.size), np.arange(x.size)] += 1e-200j
    return batch.reshape((x.size,) + x.shape)


@pytest.mark.parametrize("case", ["vector on the right", "vector on the left", "matrix", "two steps in a column",
                                  "an entry without a step", "any complex batch", "a matrix holding inf"])
def test_complex_step_through_a_matrix_product_is_the_full_products_value_for_a_fraction_of_the_work(
        case, monkeypatch):
    """A matrix A against the complex step's batch of x (the same real part throughout, one imaginary number per
    column) is A @ x once and the columns of A the steps select: the same numbers as two full real products,
    with no product wider than one entry of the batch (n steps through an n × n matrix: O(n²), not O(n³))."""
    from gradcheck_cli.lang import tensor_kernels

    rng = np.random.default_rng(3)
    a, x = rng.normal(size=(1, 5, 4)), rng.normal(size=4)
    stepped = _stepped(x)[:, :, np.newaxis]
    two_in_one = stepped.copy()
    two_in_one[0], two_in_one[1, 0] = two_in_one[0].real, two_in_one[1, 0] + 1e-200j  # entry 1 steps two elements
    left, right = {"vector on the right": (a, stepped),
                   "vector on the left": (np.swapaxes(stepped, -1, -2), np.swapaxes(a, -1, -2)),
                   "matrix": (a, _stepped(rng.normal(size=(4, 3)))),
                   "two steps in a column": (a, two_in_one),
                   "an entry without a step": (a, np.concatenate([stepped, stepped[:1].real + 0j])),
                   "any complex batch": (a, rng.normal(size=(4, 4, 1)) + 1j * rng.normal(size=(4, 4, 1))),
                   "a matrix holding inf": (np.where(a > 1, np.inf, a), stepped)}[case]
    with np.errstate(invalid="ignore"):  # 0 · inf
        expected = _two_full_products(left, right)
    widest = []
    product = tensor_kernels.matrix_product

    def watched(p, q):
        real = (q if not np.iscomplexobj(p) else p)
        widest.append(math.prod(real.shape[:-2]) * (q.shape[-1] if real is q else p.shape[-2]))
        return product(p, q)

    monkeypatch.setattr(tensor_kernels, "matrix_product", watched)
    with np.errstate(invalid="ignore"):
        got = tensor_kernels.matrix_product(left, right)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)  # NaN (0 · inf) where the full product has it
    if case != "two steps in a column":  # one term per column: the very numbers the full product makes
        np.testing.assert_array_equal(got.imag, expected.imag)
    narrow = case in ("vector on the right", "vector on the left", "an entry without a step", "two steps in a column")
    assert (max(widest[1:]) == 1) is narrow


def test_logsumexp_of_a_matrix_product_by_the_complex_step(cli_json):
    """logsumexp(A @ x), the bench's dense row: every entry by the complex step, and right."""
    rng = np.random.default_rng(0)
    a, x = rng.normal(size=(40, 40)) / np.sqrt(40), rng.normal(size=40)
    result = check("logsumexp(A @ x)", at={"A": a, "x": x}, wrt=["x"])
    y = a @ x
    exact = a.T @ (np.exp(y - y.max()) / np.exp(y - y.max()).sum())
    assert result.status == "pass" and {g.fd_method for g in result.gradients} == {"complex"}
    np.testing.assert_allclose([g.finite_difference for g in result.gradients], exact, rtol=1e-13)


@pytest.mark.parametrize("method, expected_method, cost, accuracy", [
    ("auto", "complex", 1, 1e-15), ("complex", "complex", 1, 1e-15),
    ("richardson", "richardson", 12, 1e-11), ("central", "central", 6, 1e-8),
])
def test_methods_and_their_cost_per_entry(cli_json, method, expected_method, cost, accuracy):
    import math

    code, doc = cli_json("sin(x**2)", "--x", "4", "--method", method)
    row = doc["results"][0]["gradients"][0]
    assert code == 0
    assert (row["fd_method"], row["fd_evaluations"]) == (expected_method, cost)
    assert abs(row["finite_difference"] - 8 * math.cos(16.0)) <= accuracy * 8
    assert abs(row["finite_difference"] - 8 * math.cos(16.0)) <= row["fd_error"]


def test_central_reproduces_torchs_difference(cli_json):
    """--method central --step 1e-6: the value torch.autograd.gradcheck's numerical Jacobian computes."""
    import math

    code, doc = cli_json("sin(x**2)", "--x", "4", "--method", "central", "--step", "1e-6")
    h = 1e-6
    torch_like = (math.sin((4 + h) ** 2) - math.sin((4 - h) ** 2)) / (2 * h)
    assert doc["results"][0]["gradients"][0]["finite_difference"] == pytest.approx(torch_like, rel=1e-12)


def test_complex_method_refuses_kinked_paths(cli):
    result = cli("relu(x)", "--x", "1", "--method", "complex")
    assert result.exit_code == 2 and "needs holomorphic ops" in result.stderr
