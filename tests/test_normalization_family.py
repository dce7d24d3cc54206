"""The normalization family of issue 17 (layer_norm, batch_norm, group_norm) beyond its registry rows: the syntax
as torch.nn.functional writes it, values and gradients in input, weight and bias against torch (float64) at several
shapes, Hessians against torch's double backward, near-constant inputs where eps dominates the variance, the
running statistics of batch_norm, a value against mpmath by hand, the errors, and a derivative graph that grows
linearly with the function's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_matches_mpmath

from gradcheck_cli import check
from gradcheck_cli.engines.symbolic import gradient_nodes
from gradcheck_cli.lang.graph import ancestors, to_text
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.lang.shapes import ShapeMap


def values(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).round(3)


def tensors(at: dict) -> dict:
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in at.items()}


def symbolic_gradient(result, name: str, shape: tuple) -> np.ndarray:
    return np.array([g.symbolic for g in result.gradients if g.wrt == name]).reshape(shape)


# ---- the syntax: torch's names, argument orders and keywords, printed back ----


@pytest.mark.parametrize("text, printed", [
    ("layer_norm(x, (4,), w, b)", "layer_norm(x, normalized_shape=(4,), weight=w, bias=b)"),
    ("layer_norm(x, 4, weight=w, bias=b, eps=1e-6)",
     "layer_norm(x, normalized_shape=(4,), weight=w, bias=b, eps=1e-06)"),
    ("layer_norm(x, (4,))", "layer_norm(x, normalized_shape=(4,))"),
    ("layer_norm(x, (3, 4), None, b)", "layer_norm(x, normalized_shape=(3, 4), bias=b)"),
    ("batch_norm(x, None, None, w, b, training=True)", "batch_norm(x, weight=w, bias=b, training=True)"),
    ("batch_norm(x, None, None, training=True)", "batch_norm(x, training=True)"),
    ("batch_norm(x, m, v, w, b, training=False, momentum=0.1, eps=1e-3)",
     "batch_norm(x, running_mean=m, running_var=v, weight=w, bias=b, eps=0.001)"),
    ("batch_norm(x, running_mean=m, running_var=v, momentum=0.5)",
     "batch_norm(x, running_mean=m, running_var=v, momentum=0.5)"),
    ("group_norm(x, 2, w, b)", "group_norm(x, num_groups=2, weight=w, bias=b)"),
    ("group_norm(x, num_groups=1, bias=b, eps=0.01)", "group_norm(x, num_groups=1, bias=b, eps=0.01)"),
])
def test_the_syntax_is_torchs_and_prints_back(text, printed):
    expression = parse(text)
    assert to_text(expression.output) == printed
    again = parse(printed).output
    assert to_text(again) == printed and again.op == expression.output.op
    assert [a.attr for a in again.args] == [a.attr for a in expression.output.args]  # operands in option order


# ---- values and gradients against torch (float64), in input, weight and bias ----


def _layer(at, shape, **kw):
    return lambda t: F.layer_norm(t["x"], shape, t.get("w"), t.get("b"), **kw)


def _batch(at, **kw):
    return lambda t: F.batch_norm(t["x"], None, None, t.get("w"), t.get("b"), training=True, **kw)


def _group(groups, **kw):
    def build(t):
        # torch's backward of group_norm with a bias and no weight fails ("tensor does not have a device"): ones
        weight = t.get("w", torch.ones(t["x"].shape[1], dtype=torch.float64) if "b" in t else None)
        return F.group_norm(t["x"], groups, weight, t.get("b"), **kw)

    return build


CASES = [
    # (expression of y, point, torch's y)
    ("layer_norm(x, (5,), w, b)", {"x": values(1, 3, 5), "w": values(2, 5), "b": values(3, 5)}, _layer(None, (5,))),
    ("layer_norm(x, (3, 4), w, b, eps=1e-3)", {"x": values(4, 2, 3, 4), "w": values(5, 3, 4), "b": values(6, 3, 4)},
     _layer(None, (3, 4), eps=1e-3)),
    ("layer_norm(x, 4, weight=w)", {"x": values(7, 2, 2, 2, 4), "w": values(8, 4)}, _layer(None, (4,))),
    ("batch_norm(x, None, None, w, b, training=True)", {"x": values(9, 4, 3), "w": values(10, 3), "b": values(11, 3)},
     _batch(None)),
    ("batch_norm(x, None, None, w, b, training=True)", {"x": values(12, 3, 2, 5), "w": values(13, 2),
                                                        "b": values(14, 2)}, _batch(None)),
    ("batch_norm(x, None, None, weight=w, bias=b, training=True, eps=0.1)",
     {"x": values(15, 2, 3, 2, 2), "w": values(16, 3), "b": values(17, 3)}, _batch(None, eps=0.1)),
    ("group_norm(x, 2, w, b)", {"x": values(18, 2, 4, 3), "w": values(19, 4), "b": values(20, 4)}, _group(2)),
    ("group_norm(x, 3, w, b, eps=1e-4)", {"x": values(21, 2, 6, 2, 2), "w": values(22, 6), "b": values(23, 6)},
     _group(3, eps=1e-4)),
    ("group_norm(x, 1, bias=b)", {"x": values(24, 3, 2, 3), "b": values(25, 2)}, _group(1)),
]


@pytest.mark.parametrize("text, at, build", CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_match_torch(text, at, build):
    u = values(99, *at["x"].shape)
    result = check(f"sum({text}*u)", at={**{k: v.tolist() for k, v in at.items()}, "u": u.tolist()},
                   wrt=list(at))
    assert result.status == "pass", result.rendered_error
    t = tensors(at)
    y = build(t)
    (y * torch.tensor(u)).sum().backward()
    assert float(result.value) == pytest.approx(float((y * torch.tensor(u)).sum().detach()), rel=1e-12, abs=1e-12)
    for name, tensor in t.items():
        np.testing.assert_allclose(symbolic_gradient(result, name, tensor.shape), tensor.grad.numpy(), rtol=1e-11,
                                   atol=1e-12, err_msg=f"{text}: d/d{name}")


def test_a_wrong_hand_derivative_of_layer_norm_fails():
    """The derivative of layer_norm without its mean terms (as if mean and variance were constants) is caught."""
    at = {"x": values(30, 5).tolist(), "u": values(31, 5).tolist()}
    manual = "u/sqrt(var(x, correction=0) + 1e-5)"
    result = check("sum(layer_norm(x, (5,))*u)", at=at, wrt=["x"], manual={"x": manual})
    assert result.status == "fail"
    assert all("manual" in g.disagrees for g in result.gradients)


# ---- second order ----


HESSIAN_CASES = [
    ("sum(layer_norm(x, (4,), w, b)**3)", {"x": values(40, 2, 4), "w": values(41, 4), "b": values(42, 4)},
     lambda t: F.layer_norm(t["x"], (4,), t["w"], t["b"])),
    ("sum(batch_norm(x, None, None, w, b, training=True)**3)",
     {"x": values(43, 3, 2, 2), "w": values(44, 2), "b": values(45, 2)},
     lambda t: F.batch_norm(t["x"], None, None, t["w"], t["b"], training=True)),
    ("sum(group_norm(x, 2, w, b)**3)", {"x": values(46, 2, 4, 2), "w": values(47, 4), "b": values(48, 4)},
     lambda t: F.group_norm(t["x"], 2, t["w"], t["b"])),
    ("sum(batch_norm(x, m, v, w, b)**3)", {"x": values(49, 3, 2), "w": values(50, 2), "b": values(51, 2)},
     lambda t: F.batch_norm(t["x"], torch.tensor([0.25, -0.5], dtype=torch.float64),
                            torch.tensor([0.5, 2.0], dtype=torch.float64), t["w"], t["b"])),
]


@pytest.mark.parametrize("text, at, build", HESSIAN_CASES, ids=[c[0] for c in HESSIAN_CASES])
def test_hessians_match_torchs_double_backward(text, at, build):
    data = {"m": [0.25, -0.5], "v": [0.5, 2.0]} if "m, v" in text else {}
    result = check(text, at={**{k: v.tolist() for k, v in at.items()}, **data}, wrt=list(at), order=2)
    assert result.status == "pass", result.rendered_error
    names = list(at)
    flat = [torch.tensor(at[n], dtype=torch.float64) for n in names]

    def f(*args):
        return (build(dict(zip(names, args))) ** 3).sum()

    hessian = torch.autograd.functional.hessian(f, tuple(flat))
    for row in result.hessian:
        a, b = row.wrt
        expected = hessian[names.index(a)][names.index(b)].numpy()[tuple(row.index[0]) + tuple(row.index[1])]
        assert row.symbolic == pytest.approx(float(expected), rel=1e-10, abs=1e-10), (a, b, row.index)


# ---- near-constant inputs: the variance is ~0 and eps dominates ----


@pytest.mark.parametrize("x", [
    [1.0, 1.0, 1.0, 1.0],  # exactly constant: the gradient is w/sqrt(eps) times the centred adjoint
    [1.0, 1.0 + 1e-9, 1.0 - 2e-9, 1.0 + 3e-9],
    [3.0, 3.0 + 1e-4, 3.0 - 2e-4, 3.0 + 3e-4],  # var ~ eps
    [1e3, 1e3 + 1e-6, 1e3 - 2e-6, 1e3],
])
def test_near_constant_inputs_are_judged_right(x):
    w = [1.5, -0.5, 2.0, 0.25]
    result = check("sum(layer_norm(x, 4)*w)", at={"x": x, "w": w}, wrt=["x"])
    assert result.status == "pass", result.rendered_error
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (F.layer_norm(t, (4,)) * torch.tensor(w, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(symbolic_gradient(result, "x", (4,)), t.grad.numpy(), rtol=1e-9)
    if len(set(x)) == 1:  # by hand: (w - mean(w)) / sqrt(eps)
        np.testing.assert_allclose(symbolic_gradient(result, "x", (4,)), (np.array(w) - np.mean(w)) / np.sqrt(1e-5),
                                   rtol=1e-12)
    for g in result.gradients:
        assert g.disagrees == [] and g.finite_difference == pytest.approx(g.symbolic, rel=1e-7)


def test_near_constant_channels_of_batch_norm_and_groups_of_group_norm():
    x = (2.0 + 1e-7 * values(60, 3, 2, 2)).tolist()
    for text in ("sum(batch_norm(x, None, None, w, training=True)*u)", "sum(group_norm(x, 2, w)*u)"):
        result = check(text, at={"x": x, "w": [0.5, -2.0], "u": values(61, 3, 2, 2).tolist()}, wrt=["x", "w"])
        assert result.status == "pass", (text, result.rendered_error)
        assert all(g.disagrees == [] for g in result.gradients)


def test_eps_zero_at_a_constant_input_is_undefined_not_an_internal_error():
    result = check("sum(layer_norm(x, 4, eps=0)*w)", at={"x": [1.0] * 4, "w": [1.0, 2.0, 3.0, 4.0]})
    assert result.status == "error" and result.error["kind"] != "internal"
    assert "eps must be positive" in result.rendered_error
    result = check("sum(batch_norm(x, m, v)*w)", at={"x": [[1.0, 2.0]], "m": [0.0, 0.0], "v": [-1.0, 1.0],
                                                     "w": [1.0, 2.0]}, wrt=["x"])
    assert result.status == "error" and "eps must be positive" in result.rendered_error


# ---- batch_norm's running statistics ----


def test_running_statistics_in_evaluation_mode_are_data():
    at = {"x": values(70, 4, 3).tolist(), "m": [0.5, -1.0, 0.25], "v": [0.5, 1.5, 2.0], "w": values(71, 3).tolist(),
          "b": values(72, 3).tolist(), "u": values(73, 4, 3).tolist()}
    result = check("sum(batch_norm(x, m, v, w, b)*u)", at=at, wrt=["x", "w", "b"])
    assert result.status == "pass", result.rendered_error
    # evaluation mode is affine in x: (x - m)/sqrt(v + eps)*w + b
    expected = np.array(at["u"]) * np.array(at["w"]) / np.sqrt(np.array(at["v"]) + 1e-5)
    np.testing.assert_allclose(symbolic_gradient(result, "x", (4, 3)), expected, rtol=1e-13)
    # torch does not differentiate batch_norm in its running statistics: said so, not an internal error
    refused = check("sum(batch_norm(x, m, v, w, b)*u)", at=at, wrt=["x", "m"])
    assert refused.status == "error" and refused.error["kind"] == "usage"
    assert "running_mean" in refused.rendered_error and "detach" in refused.rendered_error
    # detached, they are data again
    assert check("sum(batch_norm(x, detach(m), detach(v), w, b)*u)", at=at).status == "pass"


def test_running_statistics_in_training_mode_do_not_enter_the_value():
    at = {"x": values(80, 3, 2).tolist(), "m": [5.0, -3.0], "v": [0.1, 9.0], "u": values(81, 3, 2).tolist()}
    with_running = check("sum(batch_norm(x, m, v, training=True, momentum=0.3)*u)", at=at)
    without = check("sum(batch_norm(x, None, None, training=True)*u)", at={"x": at["x"], "u": at["u"]})
    assert with_running.status == without.status == "pass"
    assert float(with_running.value) == float(without.value)
    assert all(g.symbolic == g.autograd == 0.0 for g in with_running.gradients if g.wrt in ("m", "v"))


# ---- against mpmath, by hand ----


def test_layer_norm_value_and_derivative_against_mpmath():
    from mpmath import mp

    def reference(t):
        v = [t, 2 * t**2, 1 - t, mp.mpf(0.5)]
        mean = sum(v) / 4
        var = sum((a - mean) ** 2 for a in v) / 4
        w = [mp.mpf(1.5), mp.mpf(-0.5), mp.mpf(2), mp.mpf(0.25)]
        return sum((w[i] * (v[i] - mean) / mp.sqrt(var + mp.mpf(0.001))) ** 3 for i in range(4))

    text = "sum((layer_norm(stack(x, 2*x**2, 1 - x, 0.5), (4,), eps=0.001)*stack(1.5, -0.5, 2, 0.25))**3)"
    for x in (0.3, -1.7, 2.5):
        assert_matches_mpmath(text, x, reference)


# ---- errors name what is wrong ----


@pytest.mark.parametrize("text, at, words", [
    ("layer_norm(x, (3,))", {"x": [[1.0, 2.0, 3.0, 4.0]]}, "does not match the last dims"),
    ("layer_norm(x)", {"x": [1.0, 2.0]}, "normalized_shape is required"),
    ("layer_norm(x, (2,), w)", {"x": [1.0, 2.0], "w": [1.0]}, "weight has shape (1,)"),
    ("group_norm(x, 3)", {"x": [[1.0, 2.0, 3.0, 4.0]]}, "divisible by num_groups"),
    ("group_norm(x, 0)", {"x": [[1.0, 2.0]]}, "num_groups must be a positive integer"),
    ("group_norm(x, 1)", {"x": [1.0, 2.0]}, "shape (N, C, ...)"),
    ("batch_norm(x)", {"x": [[1.0, 2.0], [3.0, 4.0]]}, "training=True"),
    ("batch_norm(x, None, None, w, training=True)", {"x": [[1.0, 2.0], [3.0, 4.0]], "w": [1.0, 2.0, 3.0]},
     "one per channel"),
    ("batch_norm(x, None, None, training=True)", {"x": [[1.0, 2.0]]}, "more than one value per channel"),
    ("batch_norm(x, m, None)", {"x": [[1.0, 2.0]], "m": [1.0, 2.0]}, "give both running_mean and running_var"),
    ("batch_norm(x, None, None, training=1.5)", {"x": [[1.0, 2.0], [3.0, 4.0]]}, "training must be True or False"),
])
def test_errors_name_the_problem(text, at, words):
    result = check(f"sum({text})", at=at)
    assert result.status == "error" and result.error["kind"] != "internal", result.rendered_error
    assert words in result.rendered_error


# ---- the derivative graph grows linearly with the function's ----


def _sizes(op: str, depth: int) -> tuple[int, int]:
    inner = "x"
    for _ in range(depth):
        inner = {"layer_norm": f"layer_norm(sin({inner}), (3,), w, b)",
                 "batch_norm": f"batch_norm(sin({inner}), None, None, w, b, training=True)",
                 "group_norm": f"group_norm(sin({inner}), 3, w, b)"}[op]
    expression = parse(f"sum({inner}**2)")
    shapes = ShapeMap({"x": (2, 3), "w": (3,), "b": (3,)})
    gradients = gradient_nodes(expression.output, ["x", "w", "b"], shapes)
    return len(expression.nodes), len(ancestors(list(gradients.values())))


@pytest.mark.parametrize("op", ["layer_norm", "batch_norm", "group_norm"])
def test_the_derivative_graph_is_linear_in_the_functions(op):
    (_, d4), (f8, d8), (f16, d16) = _sizes(op, 4), _sizes(op, 8), _sizes(op, 16)
    assert d16 - d8 == 2 * (d8 - d4)  # the same number of new nodes per layer
    assert (d16 - d8) / (f16 - f8) < 15


def test_a_variance_plus_eps_that_is_not_positive_is_named_with_the_values_on_one_line():
    result = check("sum(layer_norm(x, 3, eps=-1))", at={"x": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]})
    assert result.status == "error" and "a negative eps or running_var" in result.rendered_error
    assert "x = [[1.  2.  3. ] [4.  5.  6.5]]" in result.rendered_error, result.rendered_error
