"""Loss functions as torch.nn.functional names them: cross_entropy and nll_loss with integer class targets
(cross_entropy also with class probabilities, a tensor target of the input's shape),
mse_loss, l1_loss, smooth_l1_loss, huber_loss, kl_div, binary_cross_entropy and its with_logits form.

Argument order, keyword names and defaults are torch's.  Where torch's positional signature has the deprecated
size_average and reduce before `reduction` (and so before ignore_index, label_smoothing, beta, log_target and
pos_weight), those options are keyword-only here.  Class targets are data, written as a tuple literal
(`cross_entropy(z, (1, 0, 2))`, `target=((1, 0), (2, 2))` for an input (N, C, d1)), never differentiated; weights
are optional operands and are differentiated (torch does not differentiate nll_loss or the binary
cross-entropies in them).  Kernels, shape rules and vjps: loss_kernels.py; mpmath kernels: mp_losses.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import loss_kernels as L
from .record import OpSpec, Option


def _mp(family: str, op: str) -> Callable:
    """mp_losses.<family>(op), imported on first use (mpmath is loaded only when the high-precision referee runs)."""
    kernel = None

    def call(*args):
        nonlocal kernel
        if kernel is None:
            from .. import mp_losses

            kernel = getattr(mp_losses, family)(op)
        return kernel(*args)

    call.__name__ = f"mp_{op}"
    return call


def _reduction(keyword_only: bool = True, choices: tuple[str, ...] = L.REDUCTIONS) -> Option:
    return Option("reduction", "mean", "str", choices, keyword_only=keyword_only)


def _class_loss(name: str, options: tuple[Option, ...], doc: str) -> OpSpec:
    return OpSpec(name, 1, L.class_kernel(name), L.class_torch(name), vjp=L.class_vjp, shape=L.class_shape(name),
                  attrs="options", options=options, elementwise=False, domain=L.class_domain(name),
                  domain_text="the mean divides by the targets' total weight, 0 here (every target ignored, or "
                              "weights that cancel)",
                  mp=_mp("classes", name), param_names=("input",), torch_refuses=("weight",), doc=doc)


def _pointwise(name: str, options: tuple[Option, ...], doc: str, **more) -> OpSpec:
    return OpSpec(name, 2, L.pointwise_kernel(name), L.pointwise_torch(name), vjp=L.pointwise_vjp,
                  shape=L.pointwise_shape(name), attrs="options", options=options, elementwise=False,
                  mp=_mp("pointwise", name), param_names=("input", "target"), doc=doc, **more)


def _nonnegative_target(x, t, *rest):
    o = rest[-1]
    return np.full(np.broadcast_shapes(np.shape(x), np.shape(t)), True) if o.log_target else t >= 0


def _positive_target(x, t, *rest):
    o = rest[-1]
    return np.full(np.broadcast_shapes(np.shape(x), np.shape(t)), True) if o.log_target else t > 0


def _probability(x, t, *rest):
    return (x > 0) & (x < 1)


_TARGET = Option("target", None, "ints", hint=L.TARGET_HINT)
_NLL_TARGET = Option("target", None, "ints", hint=L.NLL_TARGET_HINT)
_WEIGHT = Option("weight", None, "tensor")
_IGNORE = Option("ignore_index", -100, "int", keyword_only=True)
_WEIGHT_LAST = Option("weight", None, "tensor", keyword_only=True)  # torch 2.13's mse_loss and l1_loss

OPS = [
    _class_loss("cross_entropy",
                (_TARGET, _WEIGHT, _IGNORE, _reduction(), Option("label_smoothing", 0.0, keyword_only=True)),
                "torch.nn.functional.cross_entropy: -log_softmax(input)[target] per sample, class dim 1 (0 for an "
                "input (C,)), integer targets as a tuple: cross_entropy(z, (1, 0, 2), weight=w, ignore_index=-100, "
                "reduction='mean', label_smoothing=0.0); 'mean' divides by the targets' total weight"),
    OpSpec("cross_entropy_probs", 2, L.probability_kernel, L.probability_torch, vjp=L.probability_vjp,
           shape=L.probability_shape, attrs="options",
           options=(_WEIGHT, _reduction(), Option("label_smoothing", 0.0, keyword_only=True)), elementwise=False,
           call_name="cross_entropy", mp=_mp("probabilities", "cross_entropy_probs"), param_names=("input", "target"),
           doc="torch.nn.functional.cross_entropy with class probabilities as the target, a tensor of the input's "
               "shape: -sum(weight*target*log_softmax(input)) over the class dim per sample, cross_entropy(z, p, "
               "weight=w, reduction='mean', label_smoothing=0.0); 'mean' divides by the number of samples; "
               "differentiated in the target and the weight too"),
    _class_loss("nll_loss", (_NLL_TARGET, _WEIGHT, _IGNORE, _reduction()),
                "torch.nn.functional.nll_loss: -input[target] per sample (input: log-probabilities), integer "
                "targets as a tuple: nll_loss(log_softmax(z, 1), (1, 0, 2), weight=w, ignore_index=-100, "
                "reduction='mean')"),
    _pointwise("mse_loss", (_reduction(), _WEIGHT_LAST),
               "torch.nn.functional.mse_loss: (input - target)**2, reduction='mean' (or 'sum', 'none'); with weight= "
               "of the input's shape, 'mean' divides by sum(weight)"),
    _pointwise("l1_loss", (_reduction(), _WEIGHT_LAST),
               "torch.nn.functional.l1_loss: |input - target|, reduction='mean'; a kink where input = target "
               "(torch's derivative there is 0); with weight=, 'mean' divides by sum(weight)",
               analytic=False, kinks=L.pointwise_kinks("l1_loss")),
    _pointwise("smooth_l1_loss", (_reduction(), Option("beta", 1.0, keyword_only=True)),
               "torch.nn.functional.smooth_l1_loss: 0.5*d**2/beta where |d| < beta, else |d| - 0.5*beta (d = input - "
               "target; beta=0: l1_loss); its second derivative jumps at |d| = beta",
               analytic=False, kinks=L.pointwise_kinks("smooth_l1_loss")),
    _pointwise("huber_loss", (_reduction(False), Option("delta", 1.0), _WEIGHT),
               "torch.nn.functional.huber_loss: 0.5*d**2 where |d| < delta, else delta*(|d| - 0.5*delta) (d = input "
               "- target); its second derivative jumps at |d| = delta; with weight=, 'mean' is mean(weight*loss)",
               analytic=False, kinks=L.pointwise_kinks("huber_loss")),
    _pointwise("kl_div", (_reduction(choices=L.REDUCTIONS + ("batchmean",)), Option("log_target", False, "bool",
                                                                                     keyword_only=True)),
               "torch.nn.functional.kl_div(input, target): target*(log(target) - input), 0 where target = 0 (input: "
               "log-probabilities; log_target=True: exp(target)*(target - input)); reduction='batchmean' divides the "
               "sum by input's first dim",
               domain=_nonnegative_target, domain_text="kl_div needs target >= 0 (or log_target=True)",
               arg_domains={1: (_positive_target, "kl_div is differentiable in the target where target > 0 "
                                                  "(target*log(target) has an infinite slope at 0)")}),
    _pointwise("binary_cross_entropy", (_WEIGHT, _reduction()),
               "torch.nn.functional.binary_cross_entropy: -(target*log(input) + (1 - target)*log(1 - input)) for "
               "input in [0, 1] (undefined outside), times weight (broadcast); exact, not clamped at log = -100 as "
               "torch is",
               domain=_probability, torch_refuses=("weight",),
               domain_text="binary_cross_entropy is defined for 0 <= input <= 1 and 0 <= target <= 1 (torch refuses "
                           "others), and differentiable for 0 < input < 1"),
    _pointwise("binary_cross_entropy_with_logits", (_WEIGHT, _reduction(), Option("pos_weight", None, "tensor",
                                                                                 keyword_only=True)),
               "torch.nn.functional.binary_cross_entropy_with_logits: binary_cross_entropy(sigmoid(input), target) "
               "computed stably, (1 - target)*softplus(input) + pos_weight*target*softplus(-input), times weight "
               "(broadcast; pos_weight along the last dim)", torch_refuses=("weight", "pos_weight")),
]
