"""--order 2: Hessians from the symbolic, finite-difference and double-backward engines."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import sympy
import torch

from gradcheck_cli import check
from gradcheck_cli.lang.ops import OPS

SCALAR = [
    ("sin(x)*y**2", {"x": 1.0, "y": 2.0}),
    ("exp(x*y) + log(x)", {"x": 0.7, "y": -0.3}),
    ("x**3/y", {"x": 1.5, "y": 2.5}),
    ("atan(x) * sqrt(y)", {"x": 0.4, "y": 3.0}),
    ("z = x*y; sigmoid(z)**2", {"x": 0.5, "y": 1.5}),
    ("tanh(x)**2 - cosh(y)/x", {"x": 1.2, "y": 0.3}),
]


@pytest.mark.parametrize("expr, point", SCALAR, ids=[c[0] for c in SCALAR])
def test_scalar_hessians_match_sympy(expr, point):
    result = check(expr, at=point, order=2)
    assert result.status == "pass"
    symbols = {name: sympy.Symbol(name) for name in point}
    body = expr.split(";")[-1]
    if ";" in expr:
        name, value = expr.split(";")[0].split("=")
        body = body.replace(name.strip(), f"({value.strip()})")
    f = sympy.sympify(body.replace("sigmoid", "_s"), locals={**symbols, "_s": lambda t: 1 / (1 + sympy.exp(-t))})
    for row in result.hessian:
        a, b = row.wrt
        exact = float(sympy.diff(f, symbols[a], symbols[b]).subs(point).evalf(30))
        assert row.symbolic == pytest.approx(exact, rel=1e-12)
        assert row.autograd == pytest.approx(exact, rel=1e-12)
        assert abs(row.finite_difference - exact) <= row.fd_error


def _check_order_2(expr, point):
    return check(expr, at=point, order=2)


RNG = np.random.default_rng(3)
TENSOR = [
    ("sum((A @ x - b)**2)", {"A": RNG.normal(size=(3, 2)), "x": RNG.normal(size=2), "b": RNG.normal(size=3)},
     lambda A, x, b: ((A @ x - b) ** 2).sum()),
    ("logsumexp(z)", {"z": RNG.normal(size=4)}, lambda z: torch.logsumexp(z, 0)),
    ("-sum(y*log_softmax(z))", {"z": RNG.normal(size=3), "y": np.array([0.0, 1.0, 0.0])},
     lambda z, y: -(y * torch.log_softmax(z, -1)).sum()),
    ("sum(tanh(W @ x))", {"W": RNG.normal(size=(2, 2)), "x": RNG.normal(size=2)},
     lambda W, x: torch.tanh(W @ x).sum()),
]


@pytest.mark.parametrize("expr, point, function", TENSOR, ids=[c[0] for c in TENSOR])
def test_tensor_hessians_match_torch(expr, point, function):
    result = _check_order_2(expr, point)
    assert result.status == "pass"
    names = list(point)
    tensors = tuple(torch.tensor(point[n], dtype=torch.float64) for n in names)
    hessian = torch.autograd.functional.hessian(function, tensors)
    for row in result.hessian:
        a, b = row.wrt
        exact = hessian[names.index(a)][names.index(b)].numpy()[tuple(row.index[0] + row.index[1])]
        assert row.symbolic == pytest.approx(exact, rel=1e-10, abs=1e-12)
        assert row.autograd == pytest.approx(exact, rel=1e-10, abs=1e-12)
        assert abs(row.finite_difference - exact) <= row.fd_error + 1e-12


def test_a_rule_wrong_only_at_second_order_is_caught(monkeypatch):
    """sin's partial is cos; break cos's partial: first order passes; in the Hessian, the high-precision
    referee differentiates the (right) first derivative and symbolic's second derivative gets the note."""
    monkeypatch.setitem(OPS, "cos", dataclasses.replace(OPS["cos"], partials=(lambda x, out: x.graph.apply("sin", x),)))
    result = _check_order_2("sin(x)", {"x": 0.8})
    assert [r.status for r in result.gradients] == ["pass"]
    (entry,) = result.hessian
    assert entry.reference == pytest.approx(-math.sin(0.8), rel=1e-12) and entry.reference_source == "precise"
    assert entry.referee_notes[0].startswith("symbolic") and entry.status == "pass"


def test_order_2_from_the_cli_and_yaml(cli_json, tmp_path):
    code, doc = cli_json("x**2*y", "--x", "3", "--y", "2", "--order", "2")
    assert code == 0
    entries = {(tuple(h["wrt"]), tuple(map(tuple, h["index"]))): h["symbolic"] for h in doc["results"][0]["hessian"]}
    assert entries == {(("x", "x"), ((), ())): 4.0, (("x", "y"), ((), ())): 6.0,
                       (("y", "x"), ((), ())): 6.0, (("y", "y"), ((), ())): 0.0}
    (tmp_path / "h.yaml").write_text("expr: x**3\nat: {x: 2}\norder: 2\n")
    code, doc = cli_json(str(tmp_path / "h.yaml"))
    assert code == 0 and doc["results"][0]["hessian"][0]["symbolic"] == 12.0


def test_order_2_needs_a_scalar(cli):
    result = cli("x**2", "--x", "1,2", "--order", "2")
    assert result.exit_code == 2 and "second order needs a scalar" in result.stderr


def test_manual_hessian_blocks_are_checked(cli_json):
    code, doc = cli_json("sin(x)*y**2", "--x", "1", "--y", "2", "--order", "2",
                         "--manual-hessian", "x=-sin(x)*y**2", "--manual-hessian", "x,y=2*y*cos(x)",
                         "--manual-hessian", "y,x=2*y*sin(x)")
    assert code == 1
    verdicts = {tuple(h["wrt"]): (h["manual"] is not None, h["disagrees"]) for h in doc["results"][0]["hessian"]}
    assert verdicts == {("x", "x"): (True, []), ("x", "y"): (True, []), ("y", "x"): (True, ["manual"]),
                        ("y", "y"): (False, [])}


def test_manual_hessian_of_a_vector_variable_in_yaml(cli_json, tmp_path):
    (tmp_path / "h.yaml").write_text("expr: sum(x**3)\nat: {x: [1, 2]}\norder: 2\n"
                                     "manual_hessian:\n  x: 6*x*eye(2)\n")
    code, doc = cli_json(str(tmp_path / "h.yaml"))
    assert code == 0
    assert [h["manual"] for h in doc["results"][0]["hessian"]] == [6.0, 0.0, 0.0, 12.0]
    (tmp_path / "h.yaml").write_text("expr: sum(x**3)\nat: {x: [1, 2]}\norder: 2\nmanual_hessian:\n  x: 6*x +\n")
    code, doc = cli_json(str(tmp_path / "h.yaml"))
    message = doc["results"][0]["error"]["message"]
    assert code == 2 and "h.yaml:5:11: manual_hessian.x: expected an expression after" in message


def test_manual_hessian_needs_order_2(cli):
    result = cli("x**3", "--x", "1", "--manual-hessian", "x=6*x")
    assert result.exit_code == 2 and "needs --order 2" in result.stderr


def test_an_op_torch_has_no_double_backward_for_is_judged_without_autograd_and_said():
    """torch.cdist has no second derivative (NotImplementedError): the Hessian is still checked, symbolic against
    finite differences, with a note instead of an internal error."""
    result = check("sum(cdist(a, b)**3)", at={"a": [[1.0, 2.0], [0.5, -1.0]], "b": [[0.0, 1.0]]}, order=2)
    assert result.status == "pass", result.rendered_error
    assert result.hessian and all(row.autograd is None and row.finite_difference is not None for row in result.hessian)
    assert any("torch has no second derivative here" in note and "_cdist_backward" in note for note in result.notes)
