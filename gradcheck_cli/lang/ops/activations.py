"""Activation functions (torch.nn.functional's names), computed stably on each side of 0."""

from __future__ import annotations

import numpy as np

from .builders import gt, le, sigmoid
from .record import OpSpec, Option, mp_kernel, torch_module


def _sigmoid(x):
    if np.iscomplexobj(x):  # complex step: the holomorphic form, stable on each side of 0
        return np.where(x.real >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
    return np.exp(-np.logaddexp(0.0, -x))


def _softplus(x):
    if np.iscomplexobj(x):
        return np.where(x.real > 0, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))
    return np.logaddexp(0.0, x)


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
]
