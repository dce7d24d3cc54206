"""The distances family of issue 17 (lang/ops/distances.py, lang/distance_kernels.py): cosine_similarity,
pairwise_distance and cdist under torch's names.

The registry rows (tests/rows_distances.py) check values and gradients against torch away from the kinks.  Here:
values and derivatives against mpmath, values against torch on broadcast and batched shapes, the verdicts on the
kinks (a zero difference for p = 1, a zero distance for p = 2, a tie for p = 'inf') and jumps (p = 0), torch's
convention there, cosine_similarity below eps (where torch's gradient is not the derivative of its own value),
second derivatives (cdist's against torch's double backward of the same distance written with vector_norm: torch
has no double backward for cdist), and the errors for shapes and options torch refuses.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_matches_mpmath
from mpmath import mp

from gradcheck_cli import check
from gradcheck_cli.engines.symbolic import gradient_nodes, jacobian_nodes
from gradcheck_cli.lang.ops import OPS
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.lang.plan import Plan
from gradcheck_cli.lang.shapes import ShapeMap


def _values(seed: int, *shape: int) -> list:
    return np.random.default_rng(seed).normal(size=shape).round(2).tolist()


def _torch(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def _evaluate(text: str, at: dict) -> np.ndarray:
    expression = parse(text)
    shapes = ShapeMap({name: np.shape(value) for name, value in at.items()})
    plan = Plan([expression.output], shapes)
    return plan.value(plan.at(at), expression.output)[0]


# ---- values: torch's, broadcast and batched ----

VALUES = [
    ("cosine_similarity(a, b)", lambda a, b: F.cosine_similarity(a, b), _values(1, 3, 4), _values(2, 4)),
    ("cosine_similarity(a, b, dim=0)", lambda a, b: F.cosine_similarity(a, b, dim=0), _values(3, 4, 1),
     _values(4, 4, 3)),
    ("cosine_similarity(a, b, 2, 0.5)", lambda a, b: F.cosine_similarity(a, b, 2, 0.5), _values(5, 2, 1, 3),
     _values(6, 4, 3)),
    ("pairwise_distance(a, b)", F.pairwise_distance, _values(7, 2, 3, 4), _values(8, 3, 4)),
    ("pairwise_distance(a, b, p=1, eps=0, keepdim=True)",
     lambda a, b: F.pairwise_distance(a, b, p=1, eps=0, keepdim=True), _values(9, 3, 4), _values(10, 4)),
    ("pairwise_distance(a, b, p='inf')", lambda a, b: F.pairwise_distance(a, b, p=math.inf), _values(11, 4),
     _values(12, 4)),
    ("pairwise_distance(a, b, 0.3)", lambda a, b: F.pairwise_distance(a, b, 0.3), _values(13, 2, 5),
     _values(14, 2, 5)),
    ("pairwise_distance(a, b, p=0)", lambda a, b: F.pairwise_distance(a, b, p=0), _values(15, 2, 5),
     _values(16, 2, 5)),
    ("cdist(a, b)", torch.cdist, _values(17, 2, 1, 3, 4), _values(18, 5, 2, 4)),
    ("cdist(a, b, p=0)", lambda a, b: torch.cdist(a, b, p=0), _values(19, 3, 2), _values(20, 4, 2)),
    ("cdist(a, b, p='inf')", lambda a, b: torch.cdist(a, b, p=math.inf), _values(21, 3, 2), _values(22, 4, 2)),
    ("cdist(a, b, 2.5)", lambda a, b: torch.cdist(a, b, 2.5), _values(23, 2, 3, 2), _values(24, 4, 2)),
]


@pytest.mark.parametrize("text, function, a, b", VALUES, ids=[v[0] for v in VALUES])
def test_values_are_torchs(text, function, a, b):
    expected = function(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)).numpy()
    value = _evaluate(text, {"a": np.asarray(a), "b": np.asarray(b)})
    assert value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-13)


@pytest.mark.parametrize("text, function, a, b", [v for v in VALUES if "p=0" not in v[0]],
                         ids=[v[0] for v in VALUES if "p=0" not in v[0]])
def test_gradients_are_torchs_on_broadcast_and_batched_shapes(text, function, a, b):
    weights = np.random.default_rng(0).normal(size=np.shape(function(torch.tensor(a), torch.tensor(b)))).tolist()
    result = check(f"sum({text}*w)", at={"a": a, "b": b, "w": weights})
    assert result.status == "pass", (result.error, [g for g in result.gradients if g.status != "pass"][:2])
    ta, tb = _torch(a), _torch(b)
    (function(ta, tb) * torch.tensor(weights, dtype=torch.float64)).sum().backward()
    mine = {name: np.array([g.symbolic for g in result.gradients if g.wrt == name]) for name in "ab"}
    np.testing.assert_allclose(mine["a"], ta.grad.numpy().ravel(), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(mine["b"], tb.grad.numpy().ravel(), rtol=1e-11, atol=1e-14)


# ---- against mpmath (the referee's kernels and the rules, independently of torch) ----

EPS = mp.mpf(1e-6)


def _p_norm(values, p):
    return mp.fsum(abs(v) ** p for v in values) ** (1 / mp.mpf(p))


MPMATH = [
    ("pairwise_distance(stack(x, 2.0, -1.0), stack(0.5, x, 1.5), p=3)", 0.7,
     lambda t: _p_norm([t - mp.mpf(0.5) + EPS, 2 - t + EPS, mp.mpf(-2.5) + EPS], 3)),
    ("pairwise_distance(stack(x, 2.0), stack(0.5, -1.0))", -1.3,
     lambda t: mp.sqrt((t - mp.mpf(0.5) + EPS) ** 2 + (3 + EPS) ** 2)),
    ("cdist(reshape(stack(x, 1.0, x*x), 1, 3), reshape(stack(2.0, -1.0, 0.5, 1.0, 1.0, 1.0), 2, 3), p=1.5)[0, 1]",
     0.4, lambda t: _p_norm([t - 1, mp.mpf(0), t * t - 1], mp.mpf(1.5))),
    ("cosine_similarity(stack(x, 2.0, -1.0), stack(0.5, x, 1.5), dim=0)", 1.7,
     lambda t: (t / 2 + 2 * t - mp.mpf(1.5)) / (mp.sqrt(t * t + 5) * mp.sqrt(t * t + mp.mpf(2.5)))),
]


@pytest.mark.parametrize("text, x, reference", MPMATH, ids=[m[0] for m in MPMATH])
def test_values_and_derivatives_against_mpmath(text, x, reference):
    assert_matches_mpmath(text, x, reference)


def test_the_high_precision_referee_agrees():
    a, b = _values(30, 2, 3), _values(31, 2, 3)
    for text in ("sum(cosine_similarity(a, b)*w)", "sum(pairwise_distance(a, b, p=3)*w)",
                 "sum(pairwise_distance(a, b, p='inf')*w)", "sum(cdist(a, b, p=1.5)[0]*w)"):
        result = check(text, at={"a": a, "b": b, "w": [0.5, -1.5]}, precise=True)
        assert result.status == "pass", text
        for row in result.gradients:
            assert row.precise == pytest.approx(row.symbolic, rel=1e-12, abs=1e-15), (text, row)


# ---- kinks and jumps: the verdict and torch's convention ----

KINKS = [
    # (expression, point, the rows that sit on the kink, the reason's words)
    ("sum(cdist(a, b))", {"a": [[1.0, 2.0], [0.0, 1.0]], "b": [[1.0, 2.0]]},
     {("a", (0, 0)), ("a", (0, 1)), ("b", (0, 0)), ("b", (0, 1))}, "kink"),
    ("sum(pairwise_distance(a, b, p=1, eps=0))", {"a": [[1.0, 2.0]], "b": [[1.0, 3.0]]},
     {("a", (0, 0)), ("b", (0, 0))}, "kink"),
    ("sum(cdist(a, b, p='inf'))", {"a": [[1.0, -1.0, 0.5]], "b": [[0.0, 0.0, 0.0]]},
     {("a", (0, 0)), ("a", (0, 1)), ("b", (0, 0)), ("b", (0, 1))}, "kink"),
    ("sum(cdist(a, b, p=0)*w)", {"a": [[1.0, 2.0]], "b": [[1.0, 3.0]], "w": [[2.0]]},
     {("a", (0, 0)), ("b", (0, 0))}, "jumps"),
    ("sum(pairwise_distance(a, b, p=0.5, eps=0))", {"a": [[1.0, 2.0]], "b": [[1.0, 3.0]]},
     {("a", (0, 0)), ("b", (0, 0))}, "infinite"),
    ("sum(cosine_similarity(a, b, eps=0.5))", {"a": [[0.3, 0.4]], "b": [[1.0, 2.0]]},
     {("a", (0, 0)), ("a", (0, 1))}, "kink"),
]


@pytest.mark.parametrize("text, at, sitting, words", KINKS, ids=[k[0] for k in KINKS])
def test_on_a_kink_the_verdict_is_undefined_and_elsewhere_a_pass(text, at, sitting, words):
    result = check(text, at=at)
    assert result.status == "undefined", (text, result.error)
    for row in result.gradients:
        if (row.wrt, tuple(row.index)) in sitting:
            assert row.status == "undefined" and words in row.reason, (text, row.index, row.reason)
        else:
            assert row.status == "pass", (text, row.index, row.status)


def test_the_rule_on_a_kink_is_torchs_subgradient():
    """At a zero distance (p = 2) and a zero difference (p = 1) torch's gradient is 0; so is this rule's."""
    a, b = _torch([[1.0, 2.0], [0.0, 1.0]]), _torch([[1.0, 2.0]])
    torch.cdist(a, b).sum().backward()
    assert a.grad[0].tolist() == [0.0, 0.0]
    result = check("sum(cdist(a, b))", at={"a": [[1.0, 2.0], [0.0, 1.0]], "b": [[1.0, 2.0]]})
    assert [g.symbolic for g in result.gradients if g.wrt == "a"][:2] == [0.0, 0.0]
    x, y = _torch([[1.0, 2.0]]), _torch([[1.0, 3.0]])
    F.pairwise_distance(x, y, p=1, eps=0).sum().backward()
    result = check("sum(pairwise_distance(a, b, p=1, eps=0))", at={"a": [[1.0, 2.0]], "b": [[1.0, 3.0]]})
    assert [g.symbolic for g in result.gradients if g.wrt == "a"] == x.grad.ravel().tolist() == [0.0, -1.0]


def test_a_smooth_function_of_a_kinked_distance_passes():
    """cdist**2 is smooth where the distance is 0: both sides agree, so the verdict is a pass, not undefined."""
    result = check("sum(cdist(a, b)**2)", at={"a": [[1.0, 2.0], [0.0, 1.0]], "b": [[1.0, 2.0]]})
    assert result.status == "pass"
    assert [g.symbolic for g in result.gradients if g.wrt == "a"] == [0.0, 0.0, -2.0, -2.0]


def test_a_tie_of_the_max_norm_is_shared_where_torchs_cdist_gives_each_the_whole():
    """At a tie of p = 'inf' (a kink, so undefined) this rule shares the gradient as amax does, and so does torch's
    pairwise_distance; torch's cdist gives each tied element all of it (its sum is twice the one-sided ones)."""
    at = {"a": [[1.0, -1.0, 0.5]], "b": [[0.0, 0.0, 0.0]]}
    a = _torch(at["a"])
    torch.cdist(a, torch.zeros(1, 3, dtype=torch.float64), p=math.inf).sum().backward()
    assert a.grad.ravel().tolist() == [1.0, -1.0, 0.0]
    mine = check("sum(cdist(a, b, p='inf'))", at=at)
    assert [g.symbolic for g in mine.gradients if g.wrt == "a"] == [0.5, -0.5, 0.0]
    pairwise = check("sum(pairwise_distance(a, b, p='inf', eps=0))", at=at)
    assert [g.autograd for g in pairwise.gradients if g.wrt == "a"] == [0.5, -0.5, 0.0]


def test_p_zero_counts_and_has_gradient_zero_away_from_its_jumps():
    at = {"a": [[1.0, 2.0], [0.5, -1.0]], "b": [[1.5, 3.0]]}
    assert _evaluate("cdist(a, b, p=0)", {k: np.asarray(v) for k, v in at.items()}).tolist() == [[2.0], [2.0]]
    result = check("sum(cdist(a, b, p=0)*cdist(a, b))", at=at)
    assert result.status == "pass"
    with_counts = check("sum(2*cdist(a, b))", at=at)
    assert [g.symbolic for g in result.gradients] == pytest.approx([g.symbolic for g in with_counts.gradients])


def test_cosine_similarity_below_eps_is_linear_and_torchs_gradient_is_named_wrong():
    """torch clamps each norm at eps without differentiating the clamp: where |x1| < eps its value is
    x1.x2 / (eps |x2|), linear in x1, but its gradient is that of x1.x2 / |x1| |x2| with |x1| replaced by eps.
    The rule here is the derivative of the value: finite differences and the referee agree with it."""
    x1, x2 = [[1e-9, 2e-9]], [[3.0, -1.0]]
    eps, n2 = 1e-8, math.sqrt(10.0)
    result = check("sum(cosine_similarity(a, b))", at={"a": x1, "b": x2})
    rows = [g for g in result.gradients if g.wrt == "a"]
    assert [g.symbolic for g in rows] == pytest.approx([3 / (eps * n2), -1 / (eps * n2)], rel=1e-12)
    assert all(g.finite_difference == pytest.approx(g.symbolic, rel=1e-7) for g in rows)
    a = _torch(x1)
    F.cosine_similarity(a, torch.tensor(x2, dtype=torch.float64)).sum().backward()
    assert [g.autograd for g in rows] == a.grad.ravel().tolist()
    assert a.grad[0, 0].item() != pytest.approx(3 / (eps * n2), rel=1e-3)
    assert result.status == "fail" and all(g.disagrees == ["autograd"] for g in rows)
    assert "torch's backward of cosine_similarity is wrong" in rows[0].culprit.message


def test_cosine_similarity_with_eps_zero_at_a_zero_vector_is_undefined():
    result = check("sum(cosine_similarity(a, b, eps=0.0))", at={"a": [[0.0, 0.0]], "b": [[1.0, 2.0]]})
    assert result.status == "error" and "no direction" in result.error["message"]


# ---- second order ----


def _symbolic_hessian(text: str, at: dict, name: str) -> np.ndarray:
    expression = parse(text)
    shapes = ShapeMap({k: np.shape(v) for k, v in at.items()})
    graph = expression.graph
    gradient = gradient_nodes(expression.output, [name], shapes)[name]
    if shapes(gradient) != np.shape(at[name]):
        gradient = graph.apply("expand", gradient, graph.var(name))
    rows = [row[name] for row in jacobian_nodes(gradient, [name], shapes)]
    plan = Plan(rows, shapes)
    return plan.stacked(plan.at({k: np.asarray(v) for k, v in at.items()}), rows, np.shape(at[name]),
                        np.shape(at[name]))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 1.5, "inf"])
def test_cdist_hessian_is_torchs_double_backward_of_the_same_distance(p):
    """torch has no double backward for cdist (_cdist_backward): the reference is vector_norm of the differences,
    the same function."""
    at = {"a": _values(40, 3, 2), "b": _values(41, 2, 2), "w": _values(42, 3, 2)}
    quoted = f"'{p}'" if p == "inf" else p
    mine = _symbolic_hessian(f"sum(cdist(a, b, p={quoted})*w)", at, "a")
    a, b = _torch(at["a"]), torch.tensor(at["b"], dtype=torch.float64)
    order = math.inf if p == "inf" else p
    distance = torch.linalg.vector_norm(a.unsqueeze(-2) - b.unsqueeze(-3), order, -1)
    (first,) = torch.autograd.grad((distance * torch.tensor(at["w"], dtype=torch.float64)).sum(), a,
                                   create_graph=True)
    expected = np.stack([torch.autograd.grad(element, a, retain_graph=True)[0].numpy()
                         for element in first.reshape(-1)]).reshape(3, 2, 3, 2)
    np.testing.assert_allclose(mine, expected, rtol=1e-10, atol=1e-12)


SECOND_ORDER = ["sum(cosine_similarity(a, b, dim=0)*w[0])", "sum(cosine_similarity(a, b)**3*w[:, 0])",
                "sum(pairwise_distance(a, b)*w[:, 0])", "sum(pairwise_distance(a, b, p=3)**2*w[:, 1])",
                "sum(pairwise_distance(a, b, p=1)*w[:, 1])"]


@pytest.mark.parametrize("text", SECOND_ORDER)
def test_second_order_passes(text):
    result = check(text, at={"a": _values(43, 3, 2), "b": _values(44, 2), "w": _values(45, 3, 2)}, order=2)
    assert result.status == "pass", (result.error, [r for r in result.hessian if r.status != "pass"][:2])


# ---- shapes and options torch refuses ----

ERRORS = [
    ("cdist(a, b)", {"a": [1.0, 2.0], "b": [[1.0, 2.0]]}, "at least 2 dims"),
    ("cdist(a, b)", {"a": [[1.0, 2.0]], "b": [[1.0, 2.0, 3.0]]}, "rows of one length"),
    ("cdist(a, b, p=-1)", {"a": [[1.0, 2.0]], "b": [[1.0, 2.0]]}, "non-negative"),
    ("cdist(a, b, p='two')", {"a": [[1.0, 2.0]], "b": [[1.0, 2.0]]}, "p must be"),
    ("sum(cdist(a, b))", {"a": [[[1.0, 2.0]], [[1.0, 2.0]]], "b": [[[1.0, 2.0]]] * 3}, "cannot be broadcast"),
    ("cosine_similarity(a, b)", {"a": [1.0, 2.0], "b": [3.0, 4.0]}, "dim 1 is out of range"),
    ("cosine_similarity(a, b, eps=-1.0)", {"a": [[1.0, 2.0]], "b": [[3.0, 4.0]]}, "eps must be >= 0"),
    ("pairwise_distance(a, b)", {"a": 1.0, "b": 2.0}, "two scalars"),
    ("pairwise_distance(a, b)", {"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]}, "cannot be broadcast"),
]


@pytest.mark.parametrize("text, at, words", ERRORS, ids=[f"{e[0]}-{e[2]}" for e in ERRORS])
def test_shapes_and_options_torch_refuses_are_errors_that_say_why(text, at, words):
    result = check(text, at=at)
    assert result.status == "error" and result.error["kind"] != "internal", result.error
    assert words in result.error["message"], result.error["message"]


def test_every_op_of_the_family_documents_itself():
    for name in ("cosine_similarity", "pairwise_distance", "cdist"):
        spec = OPS[name]
        assert spec.doc and spec.param_names == ("x1", "x2") and spec.vjp is not None and spec.kinks is not None


def test_torchs_matrix_product_cdist_loses_digits_at_a_small_distance_and_is_named():
    """With more than 25 rows torch's cdist (p = 2) computes |x|**2 - 2 x.y + |y|**2 by a matrix product
    (compute_mode 'use_mm_for_euclid_dist_if_necessary'), which cancels at a distance of 1e-7: its gradient is off
    in the third digit there, and the check names torch's backward of cdist; this rule agrees with the
    reference.  With 25 rows torch takes the direct path and agrees too."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 3)).round(2)
    for rows, status in ((26, "fail"), (25, "pass")):
        points = rng.normal(size=(rows, 3)).round(2)
        points[1] = centres[0] + 1e-7
        result = check("sum(cdist(x, c))", at={"x": points.tolist(), "c": centres.tolist()})
        assert result.status == status
        for row in result.gradients:
            assert row.disagrees in ([], ["autograd"]) and row.reference == pytest.approx(row.symbolic, rel=1e-6)
        if status == "fail":
            wrong = [g for g in result.gradients if g.status == "fail"]
            assert {tuple(g.index) for g in wrong if g.wrt == "x"} == {(1, 0), (1, 1), (1, 2)}
            assert "torch's backward of cdist is wrong" in wrong[0].culprit.message
