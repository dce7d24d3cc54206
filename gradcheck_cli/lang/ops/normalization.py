"""Normalization layers as torch.nn.functional names them: layer_norm, batch_norm (training statistics, or the
running statistics in evaluation mode) and group_norm (kernels, shape rules and vjps in norm_kernels.py)."""

from __future__ import annotations

from ...core.errors import UsageError
from .. import norm_kernels as N
from .record import OpSpec, Option, torch_module


def _functional():
    return torch_module().nn.functional


def _operands(args) -> tuple:
    *tensors, o = args
    return tensors[0], dict(zip(N.given_names(o), tensors[1:])), o


def _torch_layer_norm(*args):
    x, given, o = _operands(args)
    weight = given.get("weight")
    if weight is None and "bias" in given:  # torch 2.13's double backward with a bias and no weight raises
        weight = x.new_ones(o.normalized_shape)  # ("Expected a proper Tensor but got None"): the same function
    return _functional().layer_norm(x, o.normalized_shape, weight, given.get("bias"), o.eps)


def _torch_batch_norm(*args):
    x, given, o = _operands(args)
    running = [given.get(name) for name in N.RUNNING]
    if o.training:  # torch updates them in place, and the value does not use them: copies, outside the graph
        running = [None if r is None else r.detach().clone() for r in running]
    elif any(r is not None and r.requires_grad for r in running):
        raise UsageError(RUNNING_DATA)
    return _functional().batch_norm(x, *running, given.get("weight"), given.get("bias"), o.training, o.momentum,
                                    o.eps)


def _torch_group_norm(*args):
    x, given, o = _operands(args)
    weight = given.get("weight")
    if weight is None and "bias" in given:  # torch 2.x: group_norm's backward with a bias and no weight fails ("tensor
        weight = x.new_ones(x.shape[1])    # does not have a device"); a weight of ones is the same function
    return _functional().group_norm(x, o.num_groups, weight, given.get("bias"), o.eps)


_AFFINE = (Option("weight", False, "tensor"), Option("bias", False, "tensor"))
_EPS = Option("eps", 1e-05)
RUNNING_DATA = ("batch_norm: torch does not differentiate batch_norm (training=False) in running_mean or running_var, "
                "which are data: leave them out of wrt, or write detach(m)")
NOT_POSITIVE = ("the variance (or running_var) plus eps must be positive: here it is not (a negative eps or "
                "running_var, or eps = 0 with all elements equal)")

OPS = [
    OpSpec("layer_norm", 1, N.layer_norm, _torch_layer_norm, vjp=N.normalization_vjp, shape=N.layer_norm_shape,
           attrs="options", options=(Option("normalized_shape", None, "ints"), *_AFFINE, _EPS), elementwise=False,
           mp=N.mp(N.layer_norm), domain=N.layer_norm_domain, domain_text=NOT_POSITIVE, param_names=("input",),
           doc="torch.nn.functional.layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05): "
               "(x - mean)/sqrt(var + eps) over the trailing normalized_shape dims (biased var), times weight plus "
               "bias; layer_norm(x, (4,), w, b), layer_norm(x, 4, weight=w, eps=1e-6)"),
    OpSpec("batch_norm", 1, N.batch_norm, _torch_batch_norm, vjp=N.normalization_vjp, shape=N.batch_norm_shape,
           attrs="options",
           options=(Option("running_mean", False, "tensor"), Option("running_var", False, "tensor"), *_AFFINE,
                    Option("training", False, "bool"), Option("momentum", 0.1), _EPS),
           elementwise=False, mp=N.mp(N.batch_norm), domain=N.batch_norm_domain, domain_text=NOT_POSITIVE,
           param_names=("input",),
           doc="torch.nn.functional.batch_norm(input, running_mean, running_var, weight=None, bias=None, "
               "training=False, momentum=0.1, eps=1e-05) on (N, C, ...): with training=True the batch's own mean and "
               "biased var over every dim but 1, batch_norm(x, None, None, w, b, training=True) (running statistics "
               "given are only updated in place by torch: the value ignores them); with training=False the running "
               "statistics, data that torch does not differentiate (differentiating in them is refused: leave them "
               "out of wrt or detach them)"),
    OpSpec("group_norm", 1, N.group_norm, _torch_group_norm, vjp=N.normalization_vjp, shape=N.group_norm_shape,
           attrs="options", options=(Option("num_groups", None, "int"), *_AFFINE, _EPS), elementwise=False,
           mp=N.mp(N.group_norm), domain=N.group_norm_domain, domain_text=NOT_POSITIVE, param_names=("input",),
           doc="torch.nn.functional.group_norm(input, num_groups, weight=None, bias=None, eps=1e-05) on (N, C, ...): "
               "each sample's C/num_groups channels per group normalized together, times weight plus bias (per "
               "channel); group_norm(x, 2, w, b)"),
]
