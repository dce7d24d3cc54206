"""The high-precision referee (gradcheck_cli/engines/precise.py) and the registry's mp kernels.

Every op of the registry evaluates in mpmath to its float64 value at ordinary points; precise
gradients agree with the symbolic engine there (and take the complex step wherever every op on the
path is holomorphic); the complex step keeps 40+ digits for each analytic op (mpmath's own complex
atan keeps six); the hard points float64 gets wrong come out right to 1e-20 against closed forms;
undefined points, kinks, jumps, kinks near the point, and a budget too small give NaN with a reason.
No test here is timed (bench/run.py's `precise` section times a 100-node dispute).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from mpmath import mp
from test_ops_registry import OP_NAMES, OP_TABLE, gradient_cases, split  # noqa: E402  (sibling test module)

from gradcheck_cli import check
from gradcheck_cli.engines.precise import PreciseValues, evaluate, precise_gradient
from gradcheck_cli.engines.symbolic import jacobian_nodes
from gradcheck_cli.lang.graph import Graph, ancestors
from gradcheck_cli.lang.mp_kernels import TooLarge
from gradcheck_cli.lang.ops import OPS
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.lang.plan import Plan, batched
from gradcheck_cli.lang.shapes import ShapeMap

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from run import generated_program  # noqa: E402

RTOL = 1e-12


def _point(at: dict) -> dict[str, np.ndarray]:
    return {name: np.asarray(value, dtype=np.float64) for name, value in at.items()}


def _shapes(point: dict) -> ShapeMap:
    return ShapeMap({name: value.shape for name, value in point.items()})


def referee(text: str, wrt=None, entries=None, budget=None, **at):
    expression = parse(text)
    point = _point(at)
    extra = {} if budget is None else {"budget": budget}
    result = precise_gradient(expression.output, expression.nodes, point, wrt or expression.variables,
                              _shapes(point), entries, **extra)
    return expression, result


def mp_close(value, expected, rtol: float, atol: float = 0.0) -> bool:
    with mp.workdps(60):
        return abs(mp.mpf(value) - expected) <= atol + rtol * abs(expected)


# ---- (1) every op's mp value is its float64 value at ordinary points --------------------------------


def forward_points():
    for name in OP_NAMES:
        row = OP_TABLE[name]
        for i, point in enumerate(row.points + row.forward_only):
            yield pytest.param(name, point, id=f"{name}-{i}")


@pytest.mark.parametrize("name, point", list(forward_points()))
def test_precise_value_of_every_op_is_its_float64_value(name, point):
    spec = OPS[name]
    values, attr = split(point)
    graph = Graph()
    names = [f"v{k}" for k in range(len(values))]
    node = graph.raw(name, tuple(graph.var(n) for n in names), attr)
    at = _point(dict(zip(names, values)))
    exact = evaluate(ancestors([node]), at, _shapes(at))
    value = exact[node]
    expected = np.asarray(spec.evaluate([v[np.newaxis] for v in at.values()], attr), dtype=np.float64)[0]
    assert value.dtype == object and value.shape == expected.shape
    assert all(isinstance(v, mp.mpf) for v in value.ravel()), [type(v) for v in value.ravel()]
    np.testing.assert_allclose(exact.as_float64(node), expected, rtol=RTOL, atol=1e-300)
    assert not np.any(exact.undefined(node))


def test_every_op_has_an_mp_kernel_or_a_numpy_form_that_takes_objects():
    """The ops without `mp` are the ones whose numpy form is plain arithmetic or reshaping; the parametrized
    test above runs each of them on object arrays."""
    plain = {name for name, spec in OPS.items() if spec.mp is None}
    assert plain == {"add", "sub", "mul", "neg", "abs", "detach", "expand", "sum_to", "sum", "mean", "prod",
                     "matmul", "outer", "transpose", "index", "reshape", "concat", "stack", "leaky_relu"} | {
        # shape and indexing family (issue 17): selections and rearrangements of the elements
        "squeeze", "unsqueeze", "flip", "roll", "tile", "repeat", "tril", "triu", "diag", "diagonal", "gather",
        "index_select", "take", "unselect", "swapaxes"} | {
        # reductions family (issue 17): their numpy forms call mpmath's sqrt, exp and log on object arrays
        "variance", "std", "cumsum", "cumsum_reverse", "cumprod", "logcumsumexp", "sort", "topk", "sort_by", "unsort",
        "sum_dims", "mean_dims", "amax_dims", "amin_dims", "max_dim", "min_dim"} | {
        # convolution family (issue 17): slicing, sums, max and einsum, padding as mpmath numbers
        "conv1d", "conv2d", "avg_pool1d", "avg_pool2d", "max_pool1d", "max_pool2d", "im2col", "col2im"}
    assert {name for name in OP_TABLE} == set(OPS)


UNDEFINED = [("log(x)", -1.0, "nan"), ("sqrt(x)", -1.0, "nan"), ("asin(x)", 2.0, "nan"), ("acos(x)", -2.0, "nan"),
             ("x**0.5", -1.0, "nan"), ("1/x", 0.0, "nan"), ("x/x", 0.0, "nan"), ("0**x", -1.0, "nan"),
             ("log1p(x)", -2.0, "nan"), ("log(x)", 0.0, "-inf"), ("log1p(x)", -1.0, "-inf"), ("0**x", -2.0, "+inf"),
             ("0**x", -2.5, "+inf"), ("x > 0", math.nan, "nan"), ("where(x, 1, 2)", math.nan, "nan"),
             ("relu(x)", math.nan, "nan"), ("max(x, 1)", math.nan, "nan"), ("amax(x)", math.nan, "nan")]


def test_undefined_values_are_nan_and_genuine_infinities_are_infinite():
    for text, x, kind in UNDEFINED:
        expression = parse(text)
        at = _point({"x": x})
        exact = evaluate(expression.nodes, at, _shapes(at))
        value = exact[expression.output][()]
        assert str(value) == kind, (text, x, value)
        assert exact.undefined(expression.output).all()
    # the branch where() does not take is not the function's value
    expression = parse("where(x > 0, sqrt(x), x)")
    exact = evaluate(expression.nodes, _point({"x": -1.0}), _shapes({"x": np.float64(-1.0)}))
    assert exact.as_float64(expression.output) == -1.0 and not exact.undefined(expression.output)


def test_evaluation_leaves_mpmath_global_precision_alone():
    before = mp.prec
    expression = parse("exp(x)*logsumexp(y)")
    at = _point({"x": 1e16, "y": [1.0, 2.0]})
    exact = evaluate(expression.nodes, at, _shapes(at))
    assert mp.prec == before and exact.dps == 50 + 16
    referee("sin(x)", x=1e10)
    assert mp.prec == before


# ---- (2) gradients at ordinary points agree with the symbolic engine --------------------------------


def registry_gradient_cases():
    for param in gradient_cases():
        name, text, at, wrt = param.values
        if text is None:
            continue
        yield pytest.param(name, text, at, wrt, id=param.id)


def _symbolic(expression, point, wrt):
    shapes = _shapes(point)
    rows = jacobian_nodes(expression.output, wrt, shapes)
    plan = Plan([expression.output, *(n for row in rows for n in row.values())], shapes)
    values = plan.run({k: batched(v) for k, v in point.items()})
    out_shape = shapes(expression.output)
    return {name: np.stack([np.broadcast_to(plan.value(values, row[name])[0], point[name].shape) for row in rows])
            .reshape(out_shape + point[name].shape) for name in wrt}


@pytest.mark.parametrize("name, text, at, wrt", list(registry_gradient_cases()))
def test_precise_gradient_agrees_with_symbolic(name, text, at, wrt):
    expression = parse(text)
    point = _point({v: at[v] for v in expression.variables})
    wrt = list(wrt) if wrt else expression.variables
    result = precise_gradient(expression.output, expression.nodes, point, wrt, _shapes(point))
    symbolic = _symbolic(expression, point, wrt)
    holomorphic = all(OPS[n.op].analytic for n in expression.nodes if n.op not in ("var", "const"))
    for v in wrt:
        assert result.reasons[v] == {}, result.reasons[v]
        scale = max(1.0, float(np.max(np.abs(symbolic[v]))))
        np.testing.assert_allclose(result.gradients[v], symbolic[v], rtol=RTOL, atol=RTOL * scale)
        assert np.all(result.errors[v] <= 1e-25 * scale), result.errors[v]
        assert np.all(np.isnan(result.left[v])) and np.all(np.isnan(result.right[v]))
        if holomorphic:  # the complex kernels are exercised, not bypassed by the differences
            assert set(result.methods[v].values()) <= {"complex step", "constant"}, result.methods[v]


UNARY_POINTS = {"sin": [0.7, 1e3], "cos": [-2.1, 1e16], "tan": [0.7, -1.2], "asin": [-0.55, 0.95],
                "acos": [0.3, -0.95], "atan": [-0.55, 1e3], "sinh": [0.7, -30.0], "cosh": [1.5, 40.0],
                "tanh": [-0.55, 20.0], "exp": [0.7, -40.0], "expm1": [1e-12, -3.0], "log": [0.3, 1e16],
                "log1p": [-0.5, 1e-20],
                "sqrt": [0.3, 1e-20], "sigmoid": [-0.55, 60.0], "softplus": [0.7, -60.0],
                # activations family of issue 17, in their tails
                "gelu": [-0.55, -12.0, 1e-30], "silu": [0.7, -60.0], "mish": [-0.55, -40.0, 30.0],
                "logsigmoid": [0.7, 60.0, -800.0]}
ACTIVATIONS = {"gelu": lambda t: t * mp.erfc(-t / mp.sqrt(2)) / 2, "silu": lambda t: t / (1 + mp.exp(-t)),
               "mish": lambda t: t * mp.tanh(mp.log1p(mp.exp(t))), "logsigmoid": lambda t: -mp.log1p(mp.exp(-t))}


@pytest.mark.parametrize("name", sorted(UNARY_POINTS))
def test_complex_step_keeps_forty_digits_for_every_analytic_unary_op(name):
    """Against mpmath's own numerical derivative of the real function at 150 digits."""
    assert OPS[name].analytic and OPS[name].arity == 1
    own = {"sigmoid": lambda t: 1 / (1 + mp.exp(-t)), "softplus": lambda t: mp.log1p(mp.exp(t)), **ACTIVATIONS}
    real = own[name] if name in own else getattr(mp, name)
    for x in UNARY_POINTS[name]:
        _, result = referee(f"{name}(x)", x=x)
        assert result.methods["x"][()] == "complex step"
        with mp.workdps(150):
            expected = mp.diff(real, mp.mpf(x))
        assert mp_close(result.high_precision["x"][()], expected, 1e-40), (name, x)
        assert result.errors["x"][()] <= 1e-30 * abs(float(expected))


CENTRAL = [("abs(x)*sin(x)", 0.7, lambda: mp.sin(0.7) + mp.mpf(0.7) * mp.cos(0.7)),
           ("relu(x)*exp(x)", 1.3, lambda: mp.exp(1.3) * (1 + mp.mpf(1.3))),
           ("where(x > 0, log(x), x)", 1e16, lambda: 1 / mp.mpf(1e16)),
           ("max(x, 0)**2", 1e-10, lambda: 2 * mp.mpf(1e-10)),
           ("logsumexp(relu(x))", [1e16, 1e16], lambda: mp.mpf("0.5")),
           ("clamp(x, -1, 2)**3 / (1 + abs(x))", 1.5, lambda: 3 * mp.mpf(1.5) ** 2 / 2.5 - mp.mpf(1.5) ** 3 / 6.25)]


@pytest.mark.parametrize("text, x, expected", CENTRAL, ids=[c[0] for c in CENTRAL])
def test_central_differences_keep_thirty_digits(text, x, expected):
    """Paths through relu, abs, where, max, clamp take central differences; they settle to 30 digits, with an
    honest error estimate."""
    _, result = referee(text, x=x)
    assert len(result.high_precision["x"]) == np.size(x)
    with mp.workdps(60):
        exact = expected()
        for entry, value in result.high_precision["x"].items():
            assert result.methods["x"][entry] == "central differences"
            assert abs(value - exact) <= 1e-30 * abs(exact), (entry, value, exact)
            assert abs(value - exact) <= result.errors["x"][entry] + 1e-45 * abs(exact)


# ---- (3) the hard points ----------------------------------------------------------------------------


def test_logsumexp_of_huge_equal_elements():
    expression, result = referee("logsumexp(x)", x=[1e16, 1e16])
    for k in range(2):
        assert mp_close(result.high_precision["x"][(k,)], mp.mpf("0.5"), 1e-20)
    np.testing.assert_array_equal(result.gradients["x"], [0.5, 0.5])
    with mp.workdps(80):
        assert mp_close(result.value[expression.output][()], mp.mpf(10) ** 16 + mp.log(2), 1e-30)


def test_minus_log_one_minus_sigmoid_at_50():
    expression, result = referee("-log(1 - sigmoid(x))", x=50.0)
    with mp.workdps(80):
        value = 50 + mp.log1p(mp.exp(-50))  # -log(e^-50 / (1 + e^-50))
        derivative = 1 / (1 + mp.exp(-50))
    assert mp_close(result.value[expression.output][()], value, 1e-20)
    assert mp_close(result.high_precision["x"][()], derivative, 1e-20)
    assert abs(float(result.high_precision["x"][()] - derivative)) <= result.errors["x"][()] + 1e-40


def test_logistic_written_out_at_30():
    _, result = referee("exp(x)/(1+exp(x))", x=30.0)
    with mp.workdps(80):
        expected = mp.exp(30) / (1 + mp.exp(30)) ** 2
    assert mp_close(result.high_precision["x"][()], expected, 1e-20)
    assert result.gradients["x"][()] == pytest.approx(9.357622968838423e-14, rel=1e-15)


def test_squared_norm_at_the_origin():
    _, result = referee("norm(x)**2", x=[0.0, 0.0])
    np.testing.assert_array_equal(result.gradients["x"], [0.0, 0.0])
    assert np.all(result.errors["x"] <= 1e-40)


def test_where_ignores_the_branch_it_does_not_take():
    _, result = referee("where(x > 0, sqrt(x), x)", x=-1.0)
    assert mp_close(result.high_precision["x"][()], mp.mpf(1), 1e-20)


def test_power_in_its_exponent_at_zero_base():
    _, result = referee("a**b", wrt=["b"], a=0.0, b=2.5)
    assert result.gradients["b"][()] == 0.0 and result.errors["b"][()] <= 1e-40
    _, result = referee("a**b", wrt=["b"], a=2.0, b=2.5)  # elsewhere: a**b log(a)
    with mp.workdps(60):
        assert mp_close(result.high_precision["b"][()], mp.mpf(2) ** 2.5 * mp.log(2), 1e-30)


def test_two_kinks_that_cancel_are_smooth():
    _, result = referee("relu(x) - relu(-x)", x=0.0)
    assert result.gradients["x"][()] == 1.0 and result.reasons["x"] == {}
    assert math.isnan(result.left["x"][()]) and math.isnan(result.right["x"][()])


def test_a_tie_in_amax_is_a_kink():
    _, result = referee("amax(x)", x=[1.0, 1.0])
    assert np.all(np.isnan(result.gradients["x"]))
    np.testing.assert_array_equal(result.left["x"], [0.0, 0.0])
    np.testing.assert_array_equal(result.right["x"], [1.0, 1.0])
    assert all(reason.startswith("kink") for reason in result.reasons["x"].values())


def test_relu_at_zero_is_a_kink_and_abs_too():
    for text, left, right in (("relu(x)", 0.0, 1.0), ("abs(x)", -1.0, 1.0), ("max(x, 0)*x + x", 1.0, 1.0)):
        _, result = referee(text, x=0.0)
        if left == right:
            assert result.gradients["x"][()] == left
        else:
            assert (result.left["x"][()], result.right["x"][()]) == (left, right)


def test_a_kink_near_the_point_is_not_taken_for_one_at_it():
    """relu(x - 1e-100) at 0 is 0 around 0: the step must shrink below the kink's distance (the registry's
    switching function says the step crossed it)."""
    for text, expected in (("relu(x - 1e-300)", 0.0), ("relu(x + 5e-324)", 1.0), ("abs(x - 1e-30)", -1.0),
                           ("max(x, 1e-250)", 0.0), ("clamp(x, -1e-280, 1)", 1.0), ("amax(stack(x, y[0]))", 0.0)):
        _, result = referee(text, wrt=["x"], x=0.0, y=[1e-290, 0.0])
        assert result.gradients["x"][()] == expected, (text, result.reasons)


def test_where_only_the_first_derivative_exists():
    """C1 functions with a kink in f' (relu(x)**2 at 0): central Richardson has O(h) error there; the one-sided
    estimates are exact on each side and settle.  A cusp (sqrt(|x|)) has an infinite slope; |x|**1.5 has
    derivative 0, approached slowly (its error says how closely)."""
    for text, x, expected in (("relu(x)**2", 0.0, 0.0), ("x*abs(x) + 3*x", 0.0, 3.0),
                              ("where(x > 1, x**2, 2*x - 1)", 1.0, 2.0)):
        _, result = referee(text, x=x)
        assert result.gradients["x"][()] == expected and result.errors["x"][()] <= 1e-40, (text, result.reasons)
    _, result = referee("sqrt(abs(x))", x=0.0)
    assert result.reason("x", ()) == "not differentiable: a one-sided derivative is infinite here"
    _, result = referee("abs(x)**1.5", x=0.0)
    assert result.gradients["x"][()] == 0.0 and result.errors["x"][()] < 1e-50


def test_a_jump_is_not_differentiable():
    _, result = referee("sign(x)", x=0.0)
    assert math.isnan(result.gradients["x"][()])
    assert "jumps" in result.reason("x", ())
    _, result = referee("sign(x)", x=0.5)  # away from the jump: constant
    assert result.gradients["x"][()] == 0.0


def test_detach_holds_its_value():
    _, result = referee("x*detach(x)", x=3.0)
    assert result.gradients["x"][()] == 3.0


def test_jacobian_of_a_vector_output():
    expression, result = referee("softmax(x)", x=[0.5, -1.0, 2.0])
    point = _point({"x": [0.5, -1.0, 2.0]})
    np.testing.assert_allclose(result.gradients["x"], _symbolic(expression, point, ["x"])["x"], rtol=1e-13,
                               atol=1e-15)


def test_only_the_requested_entries_are_computed():
    expression, full = referee("sum(sin(x)*y)", x=[0.1, 0.2, 0.3], y=2.0)
    _, some = referee("sum(sin(x)*y)", entries={"x": [(1,)]}, x=[0.1, 0.2, 0.3], y=2.0)
    assert np.isnan(some.gradients["x"][0]) and np.isnan(some.gradients["x"][2]) and np.isnan(some.gradients["y"])
    assert some.gradients["x"][1] == full.gradients["x"][1] == pytest.approx(2 * math.cos(0.2), rel=1e-15)
    assert some.reason("x", (0,)) is None and some.work < full.work
    with pytest.raises(ValueError):
        referee("sum(x)", entries={"x": [(3,)]}, x=[1.0, 2.0])


def test_a_variable_the_output_does_not_depend_on():
    _, result = referee("x + 0*detach(y)", x=1.0, y=2.0)
    assert result.gradients["y"][()] == 0.0 and result.methods["y"][()] == "constant"


# ---- (4) undefined points ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, x, words", [("log(x)", -1.0, "log(x) at x = -1.0"), ("1/x", 0.0, "1/x at x = 0.0"),
                                            ("sin(log(x))", 0.0, "log(x) is -inf at x = 0.0")])
def test_an_undefined_value_has_no_gradient_and_says_why(text, x, words):
    expression, result = referee(text, x=x)
    assert math.isnan(result.gradients["x"][()])
    assert result.reason("x", ()) == f"undefined: {words}"
    assert result.value.undefined(expression.output)[()]


def test_a_step_out_of_the_domain_is_undefined_beside_the_point():
    _, result = referee("sqrt(x)", x=0.0)
    assert math.isnan(result.gradients["x"][()])
    assert result.reason("x", ()).startswith("undefined left of the point: sqrt(x) at x = -")
    _, result = referee("a**b", wrt=["a"], a=0.0, b=2.5)
    assert result.reason("a", ()).startswith("undefined left of the point: a**b")


# ---- (5) the budget ---------------------------------------------------------------------------------


def test_a_small_budget_gives_too_large_not_a_hang():
    _, result = referee("sum(sin(x)*x)", budget=3, x=[1.0, 2.0, 3.0])
    assert result.value is None and np.all(np.isnan(result.gradients["x"]))
    assert all("too large" in result.reason("x", (k,)) for k in range(3))
    _, everything = referee("sum(sin(x)*x)", x=[1.0, 2.0, 3.0])
    budget = everything.work // 2
    _, result = referee("sum(sin(x)*x)", budget=budget, x=[1.0, 2.0, 3.0])  # the value fits, not every entry
    reasons = [result.reason("x", (k,)) for k in range(3)]
    assert result.value is not None and any(r is not None and "too large" in r for r in reasons)
    assert all(r is None or "too large" in r for r in reasons)
    assert 0 < result.work <= budget


def test_an_argument_too_large_to_compute_is_too_large_not_undefined():
    expression = parse("sin(exp(exp(x)))")
    at = _point({"x": 3000.0})
    exact = evaluate(expression.nodes, at, _shapes(at))
    assert not exact.undefined(expression.output)[()] and expression.output.id in exact.too_large
    _, result = referee("sin(exp(exp(x)))", x=3000.0)
    assert "too large" in result.reason("x", ())
    with pytest.raises(TooLarge), mp.workdps(30):
        OPS["exp"].mp(np.asarray(mp.mpf("1e2000"), dtype=object))


def test_an_unaffordable_evaluation_is_unknown_not_undefined():
    expression = parse("log(x)")
    at = _point({"x": [-1.0, 2.0]})
    exact = evaluate(expression.nodes, at, _shapes(at), budget=1)
    assert isinstance(exact, PreciseValues) and not exact.undefined(expression.output).any()


# ---- (6) a 100-node dispute -------------------------------------------------------------------------


def test_a_hundred_node_program_gets_the_derivative_of_its_own_exact_value():
    """Every entry of a generated 100-node program of 3 variables, against a central difference of
    `evaluate` at 200 digits with a step of 1e-60 (truncation 1e-120).  The float64 engines lose every
    digit on this program (values up to 1e9 go into sin); bench/run.py times it."""
    expression = parse(generated_program(100))
    assert len(expression.nodes) >= 100
    point = _point({"x": 0.7, "y": 1.1, "z": -0.4})
    shapes = _shapes(point)
    result = precise_gradient(expression.output, expression.nodes, point, expression.variables, shapes)
    for name in expression.variables:
        assert result.reasons[name] == {}
        with mp.workdps(200):
            h = mp.mpf(10) ** -60
            plus = _moved_value(expression, point, shapes, name, h)
            minus = _moved_value(expression, point, shapes, name, -h)
            expected = (plus - minus) / (2 * h)
            assert abs(result.high_precision[name][()] - expected) <= 1e-25 * abs(expected), name
            assert abs(result.high_precision[name][()] - expected) <= result.errors[name][()] + 1e-30 * abs(expected)


def _moved_value(expression, point, shapes, name, step):
    """The output at `name` + step, evaluated in mpmath (the point's value plus an mpf step)."""
    from gradcheck_cli.engines.precise import _Program

    program = _Program(expression.nodes, shapes)
    values, _ = program.run(point)
    slot = program.slot[next(n.id for n in expression.nodes if n.op == "var" and n.attr == name)]
    moved = np.full((), values[slot][()] + step, dtype=object)
    return program.rerun(values, slot, moved, program.dependents(name))[program.slot[expression.output.id]][()]


TINY_POINTS = [
    ("0.5 + sum(relu(x + 1)*w)", {"x": [1e-300, -1e-300, 0.5], "w": [1.0, 2.0, 3.0]}, [1.0, 2.0, 3.0]),
    ("0.5 + sum(sort(x, descending=True)*w)", {"x": [1e-300, -1e-300, 0.5], "w": [1.0, 2.0, 3.0]}, [2.0, 3.0, 1.0]),
    ("asin(x)", {"x": 1e-200}, [1.0]),
    ("abs(x + 2)", {"x": 1e-250}, [1.0]),
]


@pytest.mark.parametrize("text, at, gradient", TINY_POINTS, ids=[t for t, _, _ in TINY_POINTS])
def test_a_tiny_x_added_to_a_number_near_one_keeps_its_step(text, at, gradient):
    """The referee's step is relative to a tiny x; its precision reaches down to that step, so that x + 1 still
    moves with it (it used to settle 0 there, and blame autograd)."""
    result = check(text, at=at, precise=True)
    rows = [g for g in result.gradients if g.wrt == "x"]
    assert result.status == "pass", [(g.index, g.precise, g.status, g.disagrees) for g in rows]
    assert [g.precise for g in rows] == pytest.approx(gradient, rel=1e-12)
