"""The activations family of issue 17 (lang/ops/activations.py): gelu (exact and approximate='tanh'), elu, selu,
celu, silu, mish, hardtanh, hardswish, hardsigmoid, softsign, logsigmoid.

The registry rows (test_ops_registry.py) check these ops against torch where torch is accurate; here they are
checked against mpmath in the tails, where torch itself loses digits (its gelu is 0.5*x*(1 + erf(x/sqrt(2))),
0 at -10; its softsign gradient is a quotient rule that cancels), against torch.autograd on the kinks (the
convention each op follows there), at the options torch refuses (an error that names them, never an internal
one), and in extended and single precision.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_matches_mpmath
from mpmath import mp

from gradcheck_cli import check
from gradcheck_cli.lang.ops import OPS

FAMILY = ("gelu", "elu", "selu", "celu", "silu", "mish", "hardtanh", "hardswish", "hardsigmoid", "softsign",
          "logsigmoid")
SELU_ALPHA, SELU_SCALE = mp.mpf(1.6732632423543772848170429916717), mp.mpf(1.0507009873554804934193349852946)


def _gelu_tanh(t):
    return t / (1 + mp.exp(-2 * mp.sqrt(2 / mp.pi) * (t + mp.mpf(0.044715) * t**3)))


# (expression in x, point, the function in mpmath): values and first derivatives to 1e-13, in the tails
REFERENCES = [
    # torch: gelu(-10) = 0 and its gradient 1% off (1 + erf rounds to 0); ours: erfc
    ("gelu(x)", -10.0, lambda t: t * mp.erfc(-t / mp.sqrt(2)) / 2),
    ("gelu(x)", -20.0, lambda t: t * mp.erfc(-t / mp.sqrt(2)) / 2),  # (condition number x**2: 1e-13 at -30)
    ("gelu(x, approximate='tanh')", -10.0, _gelu_tanh), ("gelu(x, approximate='tanh')", 0.3, _gelu_tanh),
    # elu's derivative alpha*exp(x), not out + alpha (which rounds to 0 at -40)
    ("elu(x)", -40.0, lambda t: mp.expm1(t) if t <= 0 else t),
    ("elu(x, alpha=0.5)", -3.0, lambda t: mp.mpf(0.5) * mp.expm1(t) if t <= 0 else t),
    ("celu(x, alpha=0.5)", -10.0, lambda t: mp.mpf(0.5) * mp.expm1(2 * t) if t <= 0 else t),
    ("selu(x)", -30.0, lambda t: SELU_SCALE * (SELU_ALPHA * mp.expm1(t) if t <= 0 else t)),
    ("silu(x)", -700.0, lambda t: t / (1 + mp.exp(-t))), ("silu(x)", 35.0, lambda t: t / (1 + mp.exp(-t))),
    ("mish(x)", -40.0, lambda t: t * mp.tanh(mp.log1p(mp.exp(t)))),
    ("mish(x)", 5.0, lambda t: t * mp.tanh(mp.log1p(mp.exp(t)))),
    ("logsigmoid(x)", -800.0, lambda t: -mp.log1p(mp.exp(-t))),
    ("logsigmoid(x)", 40.0, lambda t: -mp.log1p(mp.exp(-t))),
    # torch's softsign gradient at 1e6 keeps 10 digits; the rule 1/(1 + |x|)**2 keeps them all
    ("softsign(x)", -1e6, lambda t: t / (1 + abs(t))),
]


@pytest.mark.parametrize("text, x, reference", REFERENCES, ids=[f"{t}@{x}" for t, x, _ in REFERENCES])
def test_values_and_derivatives_against_mpmath(text, x, reference):
    assert_matches_mpmath(text, x, reference)


# the kinks, and torch's derivative on each (the registry's rule must give the same number there)
KINKS = [("elu(x)", 0.0, lambda t: F.elu(t)), ("elu(x, alpha=2.0)", 0.0, lambda t: F.elu(t, 2.0)),
         ("selu(x)", 0.0, F.selu), ("celu(x, alpha=0.5)", 0.0, lambda t: F.celu(t, 0.5)),
         ("hardtanh(x)", -1.0, F.hardtanh), ("hardtanh(x)", 1.0, F.hardtanh),
         ("hardtanh(x, min_val=-2.0, max_val=0.5)", 0.5, lambda t: F.hardtanh(t, -2.0, 0.5)),
         ("hardswish(x)", -3.0, F.hardswish), ("hardswish(x)", 3.0, F.hardswish),
         ("hardsigmoid(x)", -3.0, F.hardsigmoid), ("hardsigmoid(x)", 3.0, F.hardsigmoid),
         ("softsign(x)", 0.0, F.softsign)]


@pytest.mark.parametrize("text, x, function", KINKS, ids=[f"{t}@{x}" for t, x, _ in KINKS])
def test_the_rule_on_a_kink_is_torchs(text, x, function):
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    function(t).backward()
    result = check(text, at={"x": x})
    (row,) = result.gradients
    assert row.symbolic == t.grad.item() and row.autograd == t.grad.item(), (text, row)
    # where the one-sided derivatives differ the verdict is undefined (a kink); where they agree, a pass
    smooth = text in ("elu(x)", "celu(x, alpha=0.5)", "softsign(x)")
    assert result.status == ("pass" if smooth else "undefined"), (text, result.status)


def test_hardsigmoid_torch_backward_rounds_one_sixth_to_float32():
    """Why the torch builder of hardsigmoid is relu6(x + 3)/6: torch's own backward multiplies by 1.0f/6.0f even in
    float64.  If torch fixes it, the builder can be torch.nn.functional.hardsigmoid again."""
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    F.hardsigmoid(t).backward()
    assert t.grad.item() == float(np.float32(1 / 6)) != 1 / 6
    result = check("hardsigmoid(x)", at={"x": 0.5})
    assert result.status == "pass" and result.gradients[0].autograd == result.gradients[0].symbolic == 1 / 6


def test_gelu_tanh_far_out_is_right_and_torch_is_named():
    """x**3 overflows beyond 5e102: the rule clamps x (the derivative is 1 or 0 there); torch's backward gives NaN."""
    for x, expected in ((1e160, 1.0), (-1e160, 0.0), (1e10, 1.0), (-2e10, 0.0)):
        result = check("gelu(x, approximate='tanh')", at={"x": x}, order=2)
        assert result.gradients[0].symbolic == expected and result.hessian[0].symbolic == 0.0
    result = check("gelu(x, approximate='tanh')", at={"x": 1e160})
    assert result.status == "fail" and np.isnan(result.gradients[0].autograd)


@pytest.mark.parametrize("text", ["celu(x, alpha=0.0)", "celu(x, 0)*x", "hardtanh(x, 1.0, -1.0)"])
def test_options_torch_refuses_are_errors_that_name_them(text):
    result = check(text, at={"x": 0.5})
    assert result.status == "error" and result.error["kind"] != "internal", result.error
    assert "needs" in result.error["message"], result.error


@pytest.mark.parametrize("name", FAMILY)
def test_extended_and_single_precision_inputs(name):
    """np.longdouble (the forward rounding estimate) and float32 (dtype: float32) keep their dtype."""
    spec = OPS[name]
    for dtype in (np.longdouble, np.float32, np.float64):
        x = np.array([[-3.5, -0.7, 0.3, 2.5, 4.0]], dtype=dtype)
        value = np.asarray(spec.evaluate([x]))
        assert value.dtype == dtype, (name, dtype, value.dtype)
        expected = np.asarray(spec.evaluate([x.astype(np.float64)]))
        np.testing.assert_allclose(value.astype(np.float64), expected, rtol=1e-6 if dtype == np.float32 else 1e-15)
