"""Activation functions (torch.nn.functional's names), computed stably on each side of 0, with torch's
derivative at each kink."""

from __future__ import annotations

import math

import numpy as np

from .builders import builder, ge, gt, le, lt, sigmoid
from .elementwise import _erfc
from .record import OpSpec, Option, mp_kernel, torch_module

abs_ = builder("abs")


def _sigmoid(x):
    if np.iscomplexobj(x):  # complex step: the holomorphic form, stable on each side of 0
        return np.where(x.real >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
    return np.exp(-np.logaddexp(0.0, -x))


def _softplus(x):
    if np.iscomplexobj(x):
        return np.where(x.real > 0, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))
    return np.logaddexp(0.0, x)



# ---- issue 17: torch.nn.functional's activations ----
#
# Conventions at the kinks are torch's (checked against torch.autograd 2.13): elu, selu and celu take the branch
# x <= 0 at 0; hardtanh and hardsigmoid have derivative 0 on their kinks; hardswish takes the outer piece at
# each kink (0 at x = -3, 1 at x = 3).  Tails are computed stably: gelu with erfc (and its tanh form as
# x*sigmoid(2u), since 1 + tanh(u) = 2*sigmoid(2u)), logsigmoid and mish with softplus.

SELU_ALPHA = 1.6732632423543772848170429916717  # torch's constants (as doubles)
SELU_SCALE = 1.0507009873554804934193349852946
GELU_KAPPA = 0.044715
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_exp, _erfc_node, _tanh, _softplus_node = (builder(n) for n in ("exp", "erfc", "tanh", "softplus"))
_where, _clamp = builder("where"), builder("clamp")


def _negative_part(x, scale):
    """expm1(scale*x) where x <= 0 and 0 elsewhere: no overflow on the branch where() drops."""
    return np.expm1(scale * np.minimum(x, 0.0))


def _exp_of_negative_part(x, scale=1.0):
    """exp(scale*x) where x <= 0, 1 elsewhere: the derivative of elu's branch x <= 0 without forming out + alpha,
    which cancels to 0 in the tail (elu(-40) + 1 rounds to 0, the derivative is 4.2e-18)."""
    return _exp(scale * _where(gt(x, 0), 0.0, x))


def _elu(x, o):
    return np.where(x > 0, x, o.alpha * _negative_part(x, 1.0))


def _celu(x, o):
    if o.alpha == 0:  # torch refuses alpha = 0 (outside the domain): undefined everywhere
        return x * np.nan
    return np.where(x > 0, x, o.alpha * _negative_part(x, 1.0 / o.alpha))


def _celu_partial(x, out):
    alpha = out.attr.alpha
    return gt(x, 0) + le(x, 0) * _exp_of_negative_part(x, 1.0 / alpha if alpha else math.nan)


def _selu(x):
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * _negative_part(x, 1.0))


def _gelu_inner(x):
    """2u of gelu's tanh form, 0.5*x*(1 + tanh(u)) = x*sigmoid(2u), u = sqrt(2/pi)*(x + 0.044715*x**3)."""
    return 2 * SQRT_2_OVER_PI * (x + GELU_KAPPA * x * x * x)


def _gelu(x, o):
    if o.approximate == "tanh":
        return x * _sigmoid(_gelu_inner(x))
    return 0.5 * x * _erfc(-x / math.sqrt(2))  # erfc: no cancellation in 1 + erf(x/sqrt(2)) for x << 0


def _gelu_partial(x, out):
    if out.attr.approximate == "tanh":
        # beyond |x| = 1e10 the derivative is 1 or 0 to within exp(-1e29), where x**3 would overflow into inf*0
        # (torch's backward gives NaN there): the formula takes x clamped to [-1e10, 1e10], NaN at no order
        y = _clamp(x, -1e10, 1e10)
        s = sigmoid(2 * SQRT_2_OVER_PI * (y + GELU_KAPPA * y**3))
        return s + y * (2 * SQRT_2_OVER_PI) * (1 + 3 * GELU_KAPPA * y**2) * s * (1 - s)
    # Phi(x) + x*phi(x)
    return 0.5 * _erfc_node(-x / math.sqrt(2)) + x * _exp(-0.5 * x**2) / math.sqrt(2 * math.pi)


def _torch_gelu(x, o):
    return torch_module().nn.functional.gelu(x, approximate=o.approximate)


def _mish_partial(x, out):
    t = _tanh(_softplus_node(x))
    return t + x * (1 - t**2) * sigmoid(x)


def _hardtanh(x, o):
    if o.min_val > o.max_val:  # torch refuses crossed bounds (outside the domain): undefined everywhere
        return x * np.nan
    return np.minimum(np.maximum(x, o.min_val), o.max_val)


def _relu6_of_shift(x):
    return np.minimum(np.maximum(x + 3.0, 0.0), 6.0)  # relu6(x + 3), as torch computes hardsigmoid


def _torch_hardsigmoid(x):
    """relu6(x + 3)/6, the same function and kink convention as torch.nn.functional.hardsigmoid, whose own
    backward (torch 2.13) multiplies by 1/6 rounded to float32 even in float64 (0.16666667163..., 3e-8 off)."""
    return torch_module().nn.functional.relu6(x + 3.0) / 6.0


def _functional(name: str, *option_names: str, refused=lambda o: False):
    """torch.nn.functional.<name>(x, options...); NaN where torch refuses the options (celu's alpha = 0, hardtanh's
    crossed bounds), as the numpy implementation, so that the verdict is the domain's, not an error."""
    def build(x, o=None):
        if refused(o):
            return x * float("nan")
        return getattr(torch_module().nn.functional, name)(x, *[getattr(o, n) for n in option_names])

    build.__name__ = f"torch_{name}"
    return build


def _alpha_nonzero(x, o):
    return np.full(np.shape(x), o.alpha != 0)


def _bounds_ordered(x, o):
    return np.full(np.shape(x), o.min_val <= o.max_val)


ACTIVATIONS = [
    OpSpec("gelu", 1, _gelu, _torch_gelu, partials=(_gelu_partial,),
           attrs="options", options=(Option("approximate", "none", "str", ("none", "tanh"), keyword_only=True),),
           mp=mp_kernel("gelu"),
           doc="x*Phi(x), Phi the standard normal CDF (torch.nn.functional.gelu); approximate='tanh': "
               "0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))"),
    OpSpec("elu", 1, _elu, _functional("elu", "alpha"),
           partials=(lambda x, out: gt(x, 0) + le(x, 0) * out.attr.alpha * _exp_of_negative_part(x),),
           attrs="options", options=(Option("alpha", 1.0),), analytic=False, kinks=lambda x, o: [x],
           mp=mp_kernel("elu"),
           doc="x where x > 0, else alpha*(exp(x) - 1) (torch.nn.functional.elu); derivative alpha at 0, as torch"),
    OpSpec("selu", 1, _selu, _functional("selu"),
           partials=(lambda x, out: SELU_SCALE * (gt(x, 0) + le(x, 0) * SELU_ALPHA * _exp_of_negative_part(x)),),
           analytic=False, kinks=lambda x: [x], mp=mp_kernel("selu"),
           doc="scale*elu(x, alpha) with torch's fixed alpha = 1.6733, scale = 1.0507 (torch.nn.functional.selu); "
               "derivative scale*alpha at 0, as torch"),
    OpSpec("celu", 1, _celu, _functional("celu", "alpha", refused=lambda o: o.alpha == 0),
           partials=(_celu_partial,),
           attrs="options", options=(Option("alpha", 1.0),), analytic=False, kinks=lambda x, o: [x],
           domain=_alpha_nonzero, domain_text="celu needs alpha != 0", mp=mp_kernel("celu"),
           doc="x where x > 0, else alpha*(exp(x/alpha) - 1) (torch.nn.functional.celu); continuously "
               "differentiable, derivative 1 at 0"),
    OpSpec("silu", 1, lambda x: x * _sigmoid(x), _functional("silu"),
           partials=(lambda x, out: sigmoid(x) + out * (1 - sigmoid(x)),), mp=mp_kernel("silu"),
           doc="x*sigmoid(x), the swish (torch.nn.functional.silu)"),
    OpSpec("mish", 1, lambda x: x * np.tanh(_softplus(x)), _functional("mish"),
           partials=(_mish_partial,), mp=mp_kernel("mish"),
           doc="x*tanh(softplus(x)) (torch.nn.functional.mish)"),
    OpSpec("hardtanh", 1, _hardtanh,
           _functional("hardtanh", "min_val", "max_val", refused=lambda o: o.min_val > o.max_val),
           partials=(lambda x, out: gt(x, out.attr.min_val) * lt(x, out.attr.max_val),),
           attrs="options", options=(Option("min_val", -1.0), Option("max_val", 1.0)), analytic=False,
           kinks=lambda x, o: [x - o.min_val, x - o.max_val], mp=mp_kernel("hardtanh"),
           domain=_bounds_ordered, domain_text="hardtanh needs min_val <= max_val",
           doc="x clamped to [min_val, max_val] (torch.nn.functional.hardtanh); derivative 0 on the kinks, "
               "as torch"),
    OpSpec("hardswish", 1, lambda x: x * _relu6_of_shift(x) / 6.0, _functional("hardswish"),
           partials=(lambda x, out: gt(x, -3.0) * (lt(x, 3.0) * (x / 3.0 + 0.5) + ge(x, 3.0)),),
           analytic=False, kinks=lambda x: [x + 3.0, x - 3.0], mp=mp_kernel("hardswish"),
           doc="x*relu6(x + 3)/6 (torch.nn.functional.hardswish); derivative 0 at x = -3 and 1 at x = 3, "
               "as torch"),
    OpSpec("hardsigmoid", 1, lambda x: _relu6_of_shift(x) / 6.0, _torch_hardsigmoid,
           partials=(lambda x, out: gt(x, -3.0) * lt(x, 3.0) / 6.0,),
           analytic=False, kinks=lambda x: [x + 3.0, x - 3.0], mp=mp_kernel("hardsigmoid"),
           doc="relu6(x + 3)/6 (torch.nn.functional.hardsigmoid); derivative 0 at x = -3 and x = 3, as torch"),
    OpSpec("softsign", 1, lambda x: x / (1 + np.abs(x)), _functional("softsign"),
           partials=(lambda x, out: 1 / (1 + abs_(x)) ** 2,), analytic=False, kinks=lambda x: [x],
           mp=mp_kernel("softsign"),
           doc="x/(1 + |x|) (torch.nn.functional.softsign); continuously differentiable, derivative 1 at 0"),
    OpSpec("logsigmoid", 1, lambda x: -_softplus(-x), _functional("logsigmoid"),
           partials=(lambda x, out: sigmoid(-x),), mp=mp_kernel("logsigmoid"),
           doc="log(sigmoid(x)) = -softplus(-x), without overflow (torch.nn.functional.logsigmoid)"),
]

OPS = [
    OpSpec("leaky_relu", 1, lambda x, o: np.where(x > 0, x, o.negative_slope * x),
           lambda x, o: torch_module().nn.functional.leaky_relu(x, o.negative_slope),
           partials=(lambda x, out: gt(x, 0) + out.attr.negative_slope * le(x, 0),),
           attrs="options", options=(Option("negative_slope", 0.01),), analytic=False, kinks=lambda x, o: [x],
           doc="x where x > 0, else negative_slope*x (torch.nn.functional.leaky_relu)"),
    OpSpec("sigmoid", 1, _sigmoid, lambda x: x.sigmoid(), partials=(lambda x, out: out * (1 - out),),
           mp=mp_kernel("sigmoid")),
    OpSpec("softplus", 1, _softplus,
           lambda x: torch_module().nn.functional.softplus(x), partials=(lambda x, out: sigmoid(x),),
           mp=mp_kernel("softplus")),
    OpSpec("relu", 1, lambda x: np.maximum(x, 0.0), lambda x: x.relu(), partials=(lambda x, out: gt(x, 0),),
           analytic=False, kinks=lambda x: [x], mp=mp_kernel("relu")),
] + ACTIVATIONS
