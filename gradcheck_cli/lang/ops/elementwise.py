"""Elementwise functions of one argument, analytic where defined: trigonometric, hyperbolic, exponential and
logarithmic."""

from __future__ import annotations

import numpy as np

from .builders import cos, cosh, sin, sinh, sqrt
from .record import OpSpec, mp_kernel

OPS = [
    # ---- trigonometric ----
    OpSpec("sin", 1, np.sin, lambda x: x.sin(), partials=(lambda x, out: cos(x),), mp=mp_kernel("sin")),
    OpSpec("cos", 1, np.cos, lambda x: x.cos(), partials=(lambda x, out: -sin(x),), mp=mp_kernel("cos")),
    OpSpec("tan", 1, np.tan, lambda x: x.tan(), partials=(lambda x, out: 1 + out**2,), mp=mp_kernel("tan"),
           domain=lambda x: np.cos(x) != 0, domain_text="tan is undefined where cos(x) = 0"),
    OpSpec("asin", 1, np.arcsin, lambda x: x.asin(), partials=(lambda x, out: 1 / sqrt(1 - x**2),),
           mp=mp_kernel("asin"),
           domain=lambda x: np.abs(x) < 1, domain_text="asin is differentiable for -1 < x < 1"),
    OpSpec("acos", 1, np.arccos, lambda x: x.acos(), partials=(lambda x, out: -1 / sqrt(1 - x**2),),
           mp=mp_kernel("acos"),
           domain=lambda x: np.abs(x) < 1, domain_text="acos is differentiable for -1 < x < 1"),
    OpSpec("atan", 1, np.arctan, lambda x: x.atan(), partials=(lambda x, out: 1 / (1 + x**2),), mp=mp_kernel("atan")),
    # ---- hyperbolic ----
    OpSpec("sinh", 1, np.sinh, lambda x: x.sinh(), partials=(lambda x, out: cosh(x),), mp=mp_kernel("sinh")),
    OpSpec("cosh", 1, np.cosh, lambda x: x.cosh(), partials=(lambda x, out: sinh(x),), mp=mp_kernel("cosh")),
    OpSpec("tanh", 1, np.tanh, lambda x: x.tanh(), partials=(lambda x, out: 1 - out**2,), mp=mp_kernel("tanh")),
    # ---- exponential and logarithmic ----
    OpSpec("exp", 1, np.exp, lambda x: x.exp(), partials=(lambda x, out: out,), mp=mp_kernel("exp")),
    OpSpec("expm1", 1, np.expm1, lambda x: x.expm1(), partials=(lambda x, out: out + 1,), mp=mp_kernel("expm1"),
           doc="exp(x) - 1, without cancellation for small x (torch.expm1)"),
    OpSpec("log", 1, np.log, lambda x: x.log(), partials=(lambda x, out: 1 / x,), mp=mp_kernel("log"),
           domain=lambda x: x > 0, domain_text="log is defined for x > 0"),
    OpSpec("log1p", 1, np.log1p, lambda x: x.log1p(), partials=(lambda x, out: 1 / (1 + x),), mp=mp_kernel("log1p"),
           domain=lambda x: x > -1, domain_text="log1p is defined for x > -1"),
    OpSpec("sqrt", 1, np.sqrt, lambda x: x.sqrt(), partials=(lambda x, out: 0.5 / out,), mp=mp_kernel("sqrt"),
           domain=lambda x: x > 0, domain_text="sqrt is differentiable for x > 0"),
]
