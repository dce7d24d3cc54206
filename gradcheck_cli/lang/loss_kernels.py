"""The machinery behind the loss ops of the registry (lang/ops/losses.py): batched numpy kernels, shape rules,
domains, switching functions, torch builders and vjp rules.

Two kinds of loss.  Pointwise losses (mse_loss, l1_loss, smooth_l1_loss, huber_loss, kl_div,
binary_cross_entropy and its with_logits form) compute one loss per element of input and target broadcast
together, times a `weight` where one is given, then reduce it: 'none' keeps it, 'sum' adds it up, 'mean' divides
that sum by the number of elements (by the sum of the weights for weighted mse_loss and l1_loss, as torch;
kl_div's 'batchmean' by the input's first dim).  Class losses (cross_entropy, nll_loss) pick, for each sample,
the log-probability of its integer class target (an option: data, never differentiated); 'mean' divides by the
sum of the targets' class weights, and targets equal to ignore_index count for nothing, as torch.

Kernels receive arrays with a leading batch axis (plan.py) and accept complex input where the op is analytic
(the complex step).  Each is written once over a small numeric namespace (`NUMPY` here, mp_losses.MPMATH for the
high-precision referee on object arrays of mpmath numbers), so the two cannot drift apart.

The vjp rules build graph nodes from existing ops (log_softmax, take and its adjoint unselect, sum, sign,
clamp, where, sigmoid, softplus, arithmetic), a fixed number per loss node, so the derivative graph stays linear
in the size of the function's graph and is differentiated again for Hessians.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import tensor_kernels as K

REDUCTIONS = ("none", "mean", "sum")
TARGET_HINT = ("class targets are integer class indices, as torch's int64 target: cross_entropy(z, (1, 0, 2)); "
               "class probabilities are a tensor of the input's shape: cross_entropy(z, p)")
NLL_TARGET_HINT = ("class targets are integer class indices, as torch's int64 target: nll_loss(log_softmax(z, 1), "
                   "(1, 0, 2)); nll_loss takes no class probabilities (cross_entropy(z, p) does)")


class OptionProblem(ValueError):
    """A shape rule's ValueError about one option's value (a class target out of range): the error points at
    where the user wrote that option (`option`), not at the whole call."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


# ---- numeric namespaces ----


def _softplus(x):
    """log(1 + exp(x)) without overflow; for complex x (the complex step) the holomorphic form of each side."""
    if np.iscomplexobj(x):
        return np.where(x.real > 0, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))
    return np.logaddexp(0.0, x)


def _logsumexp_keep(x, axis):
    """log(sum(exp(x))) along `axis`, kept; shifted by the largest real part (complex-safe)."""
    top = np.max(np.real(x), axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return top + np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True))


class NUMPY:
    """float (and complex) arrays."""

    zero, nan = 0.0, np.nan
    log, log1p, exp, abs = staticmethod(np.log), staticmethod(np.log1p), staticmethod(np.exp), staticmethod(np.abs)
    real = staticmethod(np.real)
    softplus, logsumexp_keep = staticmethod(_softplus), staticmethod(_logsumexp_keep)

    @staticmethod
    def div(a, b):
        return np.divide(a, b)


def _times_log(ns, a, log_b):
    """a*log(b) as torch.xlogy: 0 where a = 0 (so 0*log(0) = 0)."""
    return np.where(a == 0, a * 0, a * log_b)


# ---- the options of a node ----


def present(o) -> tuple[str, ...]:
    """The optional operands (tensor options) a node's attribute says are given, in option order."""
    return tuple(name for name, value in o.items if name in ("weight", "pos_weight") and value is True)


def _aligned(arrays):
    """Batched arrays with singleton axes after the batch axis, so that their own shapes broadcast numpy's way."""
    rank = max(a.ndim for a in arrays)
    return [a.reshape(a.shape[:1] + (1,) * (rank - a.ndim) + a.shape[1:]) for a in arrays]


# ---- pointwise losses ----


def _mse(ns, x, t, pos_weight, o):
    d = x - t
    return d * d


def _l1(ns, x, t, pos_weight, o):
    return ns.abs(x - t)


def _smooth_l1(ns, x, t, pos_weight, o):
    d = x - t
    a = ns.abs(d)
    if o.beta == 0:
        return a
    return np.where(a < o.beta, 0.5 * d * d / o.beta, a - 0.5 * o.beta)


def _huber(ns, x, t, pos_weight, o):
    d = x - t
    a = ns.abs(d)
    return np.where(a < o.delta, 0.5 * d * d, o.delta * (a - 0.5 * o.delta))


def _kl_div(ns, x, t, pos_weight, o):
    if o.log_target:
        return ns.exp(t) * (t - x)
    return _times_log(ns, t, ns.log(t)) - t * x


def _binary_cross_entropy(ns, x, t, pos_weight, o):
    """NaN for an input or a target outside [0, 1], which torch refuses; at 0 and 1 the term of a target 0 (or 1)
    is 0, not 0*log(0).  Not clamped at log = -100 as torch is: the exact value for inputs below exp(-100)."""
    loss = -(_times_log(ns, t, ns.log(x)) + _times_log(ns, 1 - t, ns.log1p(-x)))
    real, target = ns.real(x), ns.real(t)
    return np.where((real < 0) | (real > 1) | (target < 0) | (target > 1), ns.nan, loss)


def _binary_cross_entropy_with_logits(ns, x, t, pos_weight, o):
    """-(pos_weight*t*log(sigmoid(x)) + (1 - t)*log(1 - sigmoid(x))) as (1 - t)*softplus(x) +
    pos_weight*t*softplus(-x): torch's (1 - t)*x + (1 + (pos_weight - 1)*t)*softplus(-x) rearranged so that
    nothing cancels in either tail (torch's is 0 at x = -50, t = 0, where the loss is 1.9e-22)."""
    positive = t * ns.softplus(-x)
    return (1 - t) * ns.softplus(x) + (positive if pos_weight is None else pos_weight * positive)


POINTWISE = {"mse_loss": _mse, "l1_loss": _l1, "smooth_l1_loss": _smooth_l1, "huber_loss": _huber,
             "kl_div": _kl_div, "binary_cross_entropy": _binary_cross_entropy,
             "binary_cross_entropy_with_logits": _binary_cross_entropy_with_logits}
# 'mean' with a weight divides by the sum of the weights (torch 2.13's mse_loss and l1_loss), not by the count
MEAN_OVER_WEIGHTS = ("mse_loss", "l1_loss")


def pointwise_loss(op: str, arrays, o, ns=NUMPY):
    """The loss `op` on batched arrays (input, target, then the optional operands given), reduced."""
    with np.errstate(all="ignore"):  # where() computes both branches
        input_rank = arrays[0].ndim - 1
        first = arrays[0].shape[1] if input_rank else 1
        x, t, *extra = _aligned(list(arrays))
        given = dict(zip(present(o), extra))
        loss = POINTWISE[op](ns, x, t, given.get("pos_weight"), o)
        weight = given.get("weight")
        if weight is not None:
            loss = loss * weight
        shape = np.broadcast_shapes(x.shape, t.shape, *[a.shape for a in extra])
        loss = np.broadcast_to(loss, shape)
        if o.reduction == "none":
            return loss
        total = np.sum(loss, axis=tuple(range(1, loss.ndim)))
        if o.reduction == "sum":
            return total
        if o.reduction == "batchmean":
            return total / first
        if weight is not None and op in MEAN_OVER_WEIGHTS:  # torch: the sum of the weight as given, unbroadcast
            return ns.div(total, np.sum(weight, axis=tuple(range(1, weight.ndim))))
        return total / math.prod(shape[1:])


def pointwise_kernel(op: str):
    def kernel(*args):
        return pointwise_loss(op, args[:-1], args[-1])

    kernel.__name__ = op
    return kernel


def _broadcast_to_input(name: str, shape: tuple, out: tuple) -> None:
    try:
        fits = tuple(np.broadcast_shapes(shape, out)) == tuple(out)
    except ValueError:
        fits = False
    if not fits:
        raise OptionProblem(name, f"{name} of shape {tuple(shape)} does not broadcast to the loss's shape {tuple(out)}")


def _same_shape_message(op: str, target: tuple, input_shape: tuple) -> str:
    """Why a binary cross-entropy's target of shape `target` does not fit: torch wants the input's shape."""
    message = f"target of shape {target} must have the input's shape {input_shape}"
    if target == () and input_shape:
        ones = f"ones({', '.join(map(str, input_shape))})"
        message += f" (torch's {op} does not broadcast a number: write e.g. 0.5*{ones})"
    return message


def pointwise_shape(op: str):
    """Shape rule: input and target broadcast together (the same shape for the binary cross-entropies, as torch
    demands); a weight of the input's shape (mse_loss, l1_loss, huber_loss) or one that broadcasts to it; a
    scalar unless reduction='none'."""
    def shape(input_shape, target_shape, *rest):
        *optional, o = rest
        if op.startswith("binary_cross_entropy") and tuple(target_shape) != tuple(input_shape):
            raise OptionProblem("target", _same_shape_message(op, tuple(target_shape), tuple(input_shape)))
        try:
            out = tuple(np.broadcast_shapes(input_shape, target_shape))
        except ValueError:
            raise OptionProblem("target", f"input of shape {tuple(input_shape)} and target of shape "
                                          f"{tuple(target_shape)} cannot be broadcast together") from None
        for name, given in zip(present(o), optional):
            if name == "weight" and op in ("mse_loss", "l1_loss", "huber_loss"):
                if tuple(given) != tuple(input_shape):
                    raise OptionProblem(name, f"weight of shape {tuple(given)} must have the input's shape "
                                              f"{tuple(input_shape)}")
            else:
                _broadcast_to_input(name, given, out)
        if op == "smooth_l1_loss" and o.beta < 0:
            raise OptionProblem("beta", f"beta must be 0 or more, got {o.beta:g}")
        if op == "huber_loss" and o.delta <= 0:
            raise OptionProblem("delta", f"delta must be positive, got {o.delta:g}")
        return out if o.reduction == "none" else ()

    return shape


def pointwise_kinks(op: str):
    """Switching functions (batched): l1_loss bends at input = target; smooth_l1_loss and huber_loss are
    continuously differentiable, their second derivative jumps where |input - target| = beta (delta)."""
    def kinks(*args):
        *arrays, o = args
        x, t, *_ = _aligned(list(arrays))
        d = x - t
        if op == "l1_loss" or (op == "smooth_l1_loss" and o.beta == 0):
            return [d]
        edge = o.beta if op == "smooth_l1_loss" else o.delta
        return [d - edge, d + edge]

    return kinks


def pointwise_vjp(adj, node, shape_of):
    """Each operand's adjoint: the reduction's scale times the pointwise derivative (times the weight), summed
    back to the operand's shape where it was broadcast."""
    from .ops import OPS

    o = node.attr
    names = ("input", "target") + present(o)
    args = dict(zip(names, node.args))
    x, t = args["input"], args["target"]
    weight = args.get("weight")
    out_shape = tuple(np.broadcast_shapes(shape_of(x), shape_of(t)))
    like = x if shape_of(x) == out_shape else x - t  # a node of the pointwise loss's shape
    over_weights = o.reduction == "mean" and weight is not None and node.op in MEAN_OVER_WEIGHTS
    if over_weights:
        scale = adj / node.graph.apply("sum", weight)
    elif o.reduction == "mean":
        scale = adj / max(1, math.prod(out_shape))
    elif o.reduction == "batchmean" and shape_of(x):
        scale = adj / shape_of(x)[0]
    else:
        scale = adj
    rules = DERIVATIVES[node.op](x, t, args.get("pos_weight"), o)
    shares = []
    for name, arg in args.items():
        if name == "weight":  # d/dw_i of sum(w e)/sum(w): (the e_k w_i weighs, summed, - the mean)/sum(w), the
            share = _summed_to(scale * rules["loss"](), arg, like, shape_of, OPS)  # mean taken once per w_i
            shares.append(share - scale * node if over_weights else share)
            continue
        local = rules[name]()
        share = scale * (local * weight if weight is not None else local)
        shares.append(_summed_to(share, arg, like, shape_of, OPS))
    return shares


def _summed_to(share, arg, like, shape_of, ops):
    """A share computed per element of the loss (`like`'s shape), summed over the axes `arg` was broadcast along;
    a share stored smaller (constant along them) is scaled by their length instead."""
    arg_shape, out_shape = shape_of(arg), shape_of(like)
    if arg_shape == out_shape:
        return share
    share_shape = shape_of(share)
    if tuple(np.broadcast_shapes(share_shape, arg_shape)) == tuple(arg_shape):
        return share * (math.prod(out_shape) // max(1, math.prod(arg_shape)))
    graph = share.graph
    if share_shape != out_shape:
        share = graph.apply("expand", share, like)
    if arg_shape == ():
        return graph.apply("sum", share)
    return graph.apply("sum_to", share, arg)


def _call(op, *args):
    graph = next(a.graph for a in args if hasattr(a, "graph"))
    return graph.apply(op, *args)


def _mse_rules(x, t, pos_weight, o):
    return {"input": lambda: 2 * (x - t), "target": lambda: -2 * (x - t), "loss": lambda: (x - t) ** 2}


def _l1_rules(x, t, pos_weight, o):
    return {"input": lambda: _call("sign", x - t), "target": lambda: -_call("sign", x - t),
            "loss": lambda: _call("abs", x - t)}


def _smooth_l1_rules(x, t, pos_weight, o):
    def slope():
        if o.beta == 0:
            return _call("sign", x - t)
        return _call("clamp", x - t, -o.beta, o.beta) / o.beta

    return {"input": slope, "target": lambda: -slope()}


def _huber_rules(x, t, pos_weight, o):
    def loss():
        d = x - t
        size = _call("abs", d)
        return _call("where", _call("lt", size, o.delta), 0.5 * d ** 2, o.delta * (size - 0.5 * o.delta))

    return {"input": lambda: _call("clamp", x - t, -o.delta, o.delta),
            "target": lambda: -_call("clamp", x - t, -o.delta, o.delta), "loss": loss}


def _kl_div_rules(x, t, pos_weight, o):
    if o.log_target:
        return {"input": lambda: -_call("exp", t), "target": lambda: _call("exp", t) * (t - x + 1)}
    return {"input": lambda: -t, "target": lambda: _call("log", t) + 1 - x}


def _binary_cross_entropy_rules(x, t, pos_weight, o):
    return {"input": lambda: (x - t) / (x * (1 - x)),
            "target": lambda: _call("log1p", -x) - _call("log", x),
            "loss": lambda: -(t * _call("log", x) + (1 - t) * _call("log1p", -x))}


def _binary_cross_entropy_with_logits_rules(x, t, pos_weight, o):
    """d/d input as (1 - t)*sigmoid(x) - pos_weight*t*sigmoid(-x), exact in both tails (torch's sigmoid(x) - t
    rounds to 0 at x = 50, t = 1, where the slope is -1.9e-22)."""
    def positive(v):
        return v if pos_weight is None else pos_weight * v

    return {"input": lambda: (1 - t) * _call("sigmoid", x) - positive(t * _call("sigmoid", -x)),
            "target": lambda: -x if pos_weight is None else (pos_weight - 1) * _call("softplus", -x) - x,
            "pos_weight": lambda: t * _call("softplus", -x),
            "loss": lambda: (1 - t) * _call("softplus", x) + positive(t * _call("softplus", -x))}


DERIVATIVES = {"mse_loss": _mse_rules, "l1_loss": _l1_rules, "smooth_l1_loss": _smooth_l1_rules,
               "huber_loss": _huber_rules, "kl_div": _kl_div_rules,
               "binary_cross_entropy": _binary_cross_entropy_rules,
               "binary_cross_entropy_with_logits": _binary_cross_entropy_with_logits_rules}


# ---- torch builders ----


def _torch():
    import torch

    return torch


def _reduced(loss, o, denominator=None, first=None):
    if o.reduction == "none":
        return loss
    if o.reduction == "sum":
        return loss.sum()
    if o.reduction == "batchmean":
        return loss.sum() / first
    return loss.sum() / denominator if denominator is not None else loss.mean()


def pointwise_torch(op: str):
    """torch.nn.functional.<op>.  torch does not differentiate the binary cross-entropies in `weight` or
    `pos_weight`: where one needs a gradient, the loss is torch's own unweighted one (reduction='none') times the
    weight, reduced as torch reduces the weighted one, and with_logits' pos_weight term is added as torch's formula
    (pos_weight - 1)*target*softplus(-input) with softplus(-input) = -logsigmoid(input)."""
    def build(*args):
        *tensors, o = args
        functional = _torch().nn.functional
        x, t, *extra = tensors
        given = dict(zip(present(o), extra))
        weight, pos_weight = given.get("weight"), given.get("pos_weight")
        keywords = {"reduction": o.reduction}
        if op == "smooth_l1_loss":
            keywords["beta"] = o.beta
        if op == "huber_loss":
            keywords["delta"] = o.delta
        if op == "kl_div":
            keywords["log_target"] = o.log_target
        if op.startswith("binary_cross_entropy") and any(v is not None and v.requires_grad
                                                         for v in (weight, pos_weight)):
            loss = getattr(functional, op)(x, t, reduction="none")
            if pos_weight is not None:
                loss = loss - (pos_weight - 1) * t * functional.logsigmoid(x)
            if weight is not None:
                loss = loss * weight
            return _reduced(loss, o)
        if weight is not None:
            keywords["weight"] = weight
        if pos_weight is not None:
            keywords["pos_weight"] = pos_weight
        with warnings.catch_warnings():  # a target broadcast against the input, kl_div's 'mean': torch warns
            warnings.simplefilter("ignore", UserWarning)
            return getattr(functional, op)(x, t, **keywords)

    build.__name__ = f"torch_{op}"
    return build


# ---- class losses: cross_entropy and nll_loss ----


@dataclass(frozen=True)
class Layout:
    """Where each kept target lies in the input (flat positions), for an input shape and the options."""

    class_dim: int
    classes: int  # C
    target_shape: tuple
    samples: tuple  # flat position in the target of each kept target (K)
    chosen: tuple  # its class
    picked: tuple  # flat position in the input of its class's entry
    rows: tuple  # flat positions in the input of every class of each kept sample (K*C, sample-major)
    row_classes: tuple  # the class of each
    row_samples: tuple  # the sample of each

    @property
    def kept(self) -> int:
        return len(self.samples)


@lru_cache(maxsize=256)
def class_layout(shape: tuple, o, op: str) -> Layout:
    """The layout of targets `o.target` on an input of `shape` ((C,), (N, C) or (N, C, d1, ...)); ValueError
    with the reason for a target of the wrong shape or out of range."""
    if o.target is None:
        raise ValueError("needs the class of each sample, target=, e.g. cross_entropy(z, (1, 0, 2)) or "
                         "target=((1, 0), (2, 2)) for an input of shape (N, C, d1)")
    if not shape:
        raise ValueError("takes an input of shape (C,), (N, C) or (N, C, d1, ...), got a scalar")
    class_dim = 1 if len(shape) >= 2 else 0
    classes = shape[class_dim]
    target_shape = shape[:class_dim] + shape[class_dim + 1:]
    try:
        data = K.index_data(o.target, "", option="target")
    except ValueError as error:
        raise OptionProblem("target", str(error)) from None
    if data.shape != target_shape and not (target_shape == () and data.shape == (1,)):
        raise OptionProblem("target", _target_shape_message(data.shape, tuple(shape), target_shape))
    data = data.reshape(-1)
    kept = data != o.ignore_index
    bad = data[kept & ((data < 0) | (data >= classes))]
    if bad.size:
        raise OptionProblem("target", f"target {int(bad[0])} is out of range for {classes} classes (0 to "
                                      f"{classes - 1}, or ignore_index={o.ignore_index})")
    if op == "cross_entropy" and not 0 <= o.label_smoothing <= 1:
        raise OptionProblem("label_smoothing", f"label_smoothing must be between 0 and 1, got {o.label_smoothing:g}")
    positions = np.moveaxis(np.arange(math.prod(shape)).reshape(shape), class_dim, -1).reshape(-1, classes)
    samples = np.flatnonzero(kept)
    chosen = data[samples]
    rows = positions[samples]
    as_tuple = lambda a: tuple(int(v) for v in np.ravel(a))  # noqa: E731
    return Layout(class_dim, classes, target_shape, as_tuple(samples), as_tuple(chosen),
                  as_tuple(positions[samples, chosen]), as_tuple(rows),
                  as_tuple(np.broadcast_to(np.arange(classes), rows.shape)),
                  as_tuple(np.broadcast_to(samples[:, None], rows.shape)))


def _target_shape_message(given: tuple, input_shape: tuple, wanted: tuple) -> str:
    """Why class targets of shape `given` do not fit an input of `input_shape`, which needs `wanted`."""
    count = math.prod(given)
    written = f"{count} target{'s' if count != 1 else ''}" + (f" of shape {given}" if len(given) > 1 else "")
    if wanted == ():
        return f"an input of shape {input_shape} (one sample of {input_shape[0]} classes) takes one class target, " \
               f"e.g. target=1; got {written}"
    if len(wanted) == 1:
        return f"an input of shape {input_shape} ({wanted[0]} sample{'s' if wanted[0] != 1 else ''}) takes " \
               f"{wanted[0]} class target{'s' if wanted[0] != 1 else ''}, one per sample; got {written}"
    return f"an input of shape {input_shape} takes class targets of shape {wanted} (its shape without the class " \
           f"dim 1); got {written}"


def _smoothing(op: str, o) -> float:
    return o.label_smoothing if op == "cross_entropy" else 0.0


def class_loss(op: str, arrays, o, ns=NUMPY):
    """cross_entropy or nll_loss on batched arrays (input, and the class weights where given), reduced."""
    with np.errstate(all="ignore"):
        x = arrays[0]
        weight = arrays[1] if len(arrays) > 1 else None
        layout = class_layout(x.shape[1:], o, op)
        log_p = x - ns.logsumexp_keep(x, 1 + layout.class_dim) if op == "cross_entropy" else x
        flat = log_p.reshape(log_p.shape[0], -1)
        picked_weight = weight[:, list(layout.chosen)] if weight is not None else 1.0
        eps = _smoothing(op, o)
        loss = -(1 - eps) * picked_weight * flat[:, list(layout.picked)]
        if eps:
            rows = flat[:, list(layout.rows)].reshape(flat.shape[0], layout.kept, layout.classes)
            smooth = np.sum(rows * weight[:, None, :] if weight is not None else rows, axis=2)
            loss = loss - eps / layout.classes * smooth
        if o.reduction == "none":
            out = np.full((loss.shape[0], math.prod(layout.target_shape)), ns.zero, dtype=loss.dtype)
            out[:, list(layout.samples)] = loss
            return out.reshape((loss.shape[0],) + layout.target_shape)
        total = np.sum(loss, axis=1, initial=ns.zero)  # every target ignored: a zero of the namespace
        if o.reduction == "sum":
            return total
        count = np.sum(np.broadcast_to(picked_weight, loss.shape), axis=1) if weight is not None else layout.kept
        return ns.div(total, count)


def class_kernel(op: str):
    def kernel(*args):
        return class_loss(op, args[:-1], args[-1])

    kernel.__name__ = op
    return kernel


def class_shape(op: str):
    def shape(input_shape, *rest):
        *optional, o = rest
        layout = class_layout(tuple(input_shape), o, op)
        if optional and tuple(optional[0]) != (layout.classes,):
            raise OptionProblem("weight", f"weight must have one entry per class, shape ({layout.classes},), got "
                                          f"{tuple(optional[0])}")
        return layout.target_shape if o.reduction == "none" else ()

    return shape


def class_domain(op: str):
    """Where the loss is defined: 'mean' divides by the targets' total weight (their count without weights),
    which must not be 0 (every target ignored, or weights that cancel).  Unbatched arguments."""
    def domain(*args):
        *arrays, o = args
        if o.reduction != "mean":
            return True
        layout = class_layout(np.shape(arrays[0]), o, op)
        if len(arrays) == 1:
            return layout.kept > 0
        weight = np.asarray(arrays[1])
        return bool(np.sum(weight[list(layout.chosen)]) != 0) if layout.kept else False

    return domain


def class_torch(op: str):
    """torch.nn.functional.<op>.  torch does not differentiate nll_loss (and so cross_entropy) in `weight`:
    where the weight needs a gradient, the loss is written out in torch as torch defines it (log_softmax, the
    targets' entries picked with gather, the smoothing term -sum(weight*log_softmax) over the classes, 'mean'
    dividing by the targets' total weight)."""
    def build(*args):
        *tensors, o = args
        torch = _torch()
        x = tensors[0]
        weight = tensors[1] if len(tensors) > 1 else None
        target = torch.tensor(o.target, dtype=torch.int64)
        if x.dim() == 1:
            target = target.reshape(())
        if weight is None or not weight.requires_grad:
            keywords = {"label_smoothing": o.label_smoothing} if op == "cross_entropy" else {}
            return getattr(torch.nn.functional, op)(x, target, weight=weight, ignore_index=o.ignore_index,
                                                    reduction=o.reduction, **keywords)
        return _torch_class_written_out(torch, op, x, target, weight, o)

    build.__name__ = f"torch_{op}"
    return build


def _torch_class_written_out(torch, op, x, target, weight, o):
    class_dim = 1 if x.dim() >= 2 else 0
    log_p = x.log_softmax(class_dim) if op == "cross_entropy" else x
    kept = target != o.ignore_index
    safe = torch.where(kept, target, torch.zeros_like(target))
    by_class = log_p.movedim(class_dim, -1)
    picked = by_class.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    picked_weight = weight[safe] * kept
    loss = -picked_weight * picked
    eps = _smoothing(op, o)
    if eps:
        smooth = -(by_class * weight).sum(-1) * kept
        loss = (1 - eps) * loss + eps / x.shape[class_dim] * smooth
    return _reduced(loss, o, denominator=picked_weight.sum())


def class_vjp(adj, node, shape_of):
    """d/d input: -(coefficient of each log-probability), through log_softmax's own vjp for cross_entropy; the
    coefficients are (1 - eps)*weight[target] at each target's entry (put there by unselect, the adjoint of take)
    and eps/C*weight[c] over the kept samples' rows.  d/d weight: the same picks of the log-probabilities, added
    into the classes they belong to, and for 'mean' minus loss/total weight per target of each class."""
    from .ops import OPS

    o = node.attr
    graph = node.graph
    x = node.args[0]
    weight = node.args[1] if len(node.args) > 1 else None
    layout = class_layout(tuple(shape_of(x)), o, node.op)
    if not layout.kept:  # every target ignored: the loss is 0 ('none', 'sum') or undefined ('mean')
        return [graph.const(0.0) for _ in node.args]

    def take(value, index):
        return graph.apply("take", value, attr=OPS["take"].with_options({"index": index}))

    def put(values, like, index):
        if shape_of(values) == ():
            values = values * graph.apply("ones", attr=(len(index),))
            if shape_of(values) == ():  # a constant 0 times ones, folded: nothing to put
                return values
        return graph.apply("unselect", values, like, attr=OPS["unselect"].with_options({"of": "take", "index": index}))

    eps = _smoothing(node.op, o)
    log_p = graph.apply("log_softmax", x, attr=(layout.class_dim,)) if node.op == "cross_entropy" else x
    picked_weight = take(weight, layout.chosen) if weight is not None else None
    scale = adj / graph.apply("sum", picked_weight) if o.reduction == "mean" and weight is not None else \
        adj / layout.kept if o.reduction == "mean" else adj
    per_sample = shape_of(adj) != ()  # reduction='none' with samples: each target has its own adjoint

    def scale_at(samples):
        return take(adj, samples) if per_sample else scale

    coefficient = scale_at(layout.samples) * (1 - eps)
    if weight is not None:
        coefficient = coefficient * picked_weight
    adjoint = -put(coefficient, x, layout.picked)
    if eps:
        spread = scale_at(layout.row_samples) * (eps / layout.classes)
        if weight is not None:
            spread = spread * take(weight, layout.row_classes)
        adjoint = adjoint - put(spread, x, layout.rows)
    through_softmax = node.op == "cross_entropy" and shape_of(adjoint) != ()  # () : a folded constant 0
    shares = [K.log_softmax_vjp(adjoint, log_p, shape_of)[0] if through_softmax else adjoint]
    if weight is not None:
        d_weight = -put(scale_at(layout.samples) * (1 - eps) * take(log_p, layout.picked), weight, layout.chosen)
        if eps:
            d_weight = d_weight - put(scale_at(layout.row_samples) * (eps / layout.classes) * take(log_p, layout.rows),
                                      weight, layout.row_classes)
        if o.reduction == "mean":
            d_weight = d_weight - put(scale * node, weight, layout.chosen)
        shares.append(d_weight)
    return shares


# ---- cross_entropy with probability targets ----


def _class_axis(rank: int) -> int:
    """The class dim of an input of `rank`: 1, or 0 for an input (C,)."""
    return 1 if rank >= 2 else 0


def probability_loss(op: str, arrays, o, ns=NUMPY):
    """cross_entropy(input, target) with `target` class probabilities of the input's shape, on batched arrays
    (input, target, and the class weights where given): -sum_c weight_c*q_c*log_softmax(input)_c per sample,
    q = target*(1 - label_smoothing) + label_smoothing/C; 'mean' divides the sum by the number of samples (not
    by the weights, as torch does for probability targets)."""
    with np.errstate(all="ignore"):
        x, target = arrays[0], arrays[1]
        weight = arrays[2] if len(arrays) > 2 else None
        axis = 1 + _class_axis(x.ndim - 1)
        classes = x.shape[axis]
        log_p = x - ns.logsumexp_keep(x, axis)
        eps = o.label_smoothing
        q = target * (1 - eps) + eps / classes if eps else target
        terms = q * log_p
        if weight is not None:
            along = weight.shape[:1] + (1,) * (axis - 1) + (classes,) + (1,) * (x.ndim - axis - 1)
            terms = terms * weight.reshape(along)
        loss = -np.sum(terms, axis=axis)
        if o.reduction == "none":
            return loss
        total = np.sum(loss, axis=tuple(range(1, loss.ndim)))
        return total if o.reduction == "sum" else total / (math.prod(x.shape[1:]) // classes)


def probability_kernel(*args):
    return probability_loss("cross_entropy_probs", args[:-1], args[-1])


def probability_shape(input_shape, target_shape, *rest):
    """Shape rule: an input (C,), (N, C) or (N, C, d1, ...), a target of its shape, class weights (C,); a scalar
    unless reduction='none' (the input's shape without the class dim)."""
    *optional, o = rest
    input_shape, target_shape = tuple(input_shape), tuple(target_shape)
    if not input_shape:
        raise ValueError("takes an input of shape (C,), (N, C) or (N, C, d1, ...), got a scalar")
    if target_shape != input_shape:
        raise OptionProblem("target", f"probability targets must have the input's shape {input_shape}, got "
                                      f"{target_shape} (class indices are integers in a tuple: (1, 0))")
    class_dim = _class_axis(len(input_shape))
    classes = input_shape[class_dim]
    if optional and tuple(optional[0]) != (classes,):
        raise OptionProblem("weight", f"weight must have one entry per class, shape ({classes},), got "
                                      f"{tuple(optional[0])}")
    if not 0 <= o.label_smoothing <= 1:
        raise OptionProblem("label_smoothing", f"label_smoothing must be between 0 and 1, got {o.label_smoothing:g}")
    return input_shape[:class_dim] + input_shape[class_dim + 1:] if o.reduction == "none" else ()


def probability_torch(*args):
    """torch.nn.functional.cross_entropy with a floating target (class probabilities), which torch
    differentiates in the input, the target and the weight."""
    *tensors, o = args
    x, target = tensors[:2]
    weight = tensors[2] if len(tensors) > 2 else None
    return _torch().nn.functional.cross_entropy(x, target, weight=weight, reduction=o.reduction,
                                                label_smoothing=o.label_smoothing)


def probability_vjp(adj, node, shape_of):
    """d/d input through log_softmax's vjp of -scale*weight*q; d/d target -(1 - eps)*scale*weight*log_softmax;
    d/d weight -sum of scale*q*log_softmax over all dims but the class dim (scale: the adjoint, per sample for
    'none', over the number of samples for 'mean')."""
    from .ops import OPS

    o = node.attr
    graph = node.graph
    x, target = node.args[:2]
    weight = node.args[2] if len(node.args) > 2 else None
    shape = tuple(shape_of(x))
    class_dim = _class_axis(len(shape))
    classes = shape[class_dim]
    after = len(shape) - class_dim - 1  # dims after the class dim

    def along_classes(value):  # (C,) broadcast against the input
        return graph.apply("reshape", value, attr=(classes,) + (1,) * after) if after else value

    if o.reduction == "none" and shape_of(adj) != ():
        scale = graph.apply("reshape", adj, attr=shape[:class_dim] + (1,) + shape[class_dim + 1:])
    else:
        scale = adj / (math.prod(shape) // classes) if o.reduction == "mean" else adj
    eps = o.label_smoothing
    q = target * (1 - eps) + eps / classes if eps else target
    log_p = graph.apply("log_softmax", x, attr=(class_dim,))
    weighted = (lambda v: v * along_classes(weight)) if weight is not None else (lambda v: v)  # noqa: E731
    coefficient = -(scale * weighted(q))
    if shape_of(coefficient) != shape:
        coefficient = graph.apply("expand", coefficient, x)
    shares = [K.log_softmax_vjp(coefficient, log_p, shape_of)[0],
              -(1 - eps) * weighted(scale * log_p)]
    if weight is not None:
        per_class = -(scale * q * log_p)
        others = tuple(d for d in range(len(shape)) if d != class_dim)
        if others:
            per_class = graph.apply("sum_dims", per_class,
                                    attr=OPS["sum_dims"].with_options({"dim": others, "keepdim": False}))
        shares.append(per_class)
    return shares
