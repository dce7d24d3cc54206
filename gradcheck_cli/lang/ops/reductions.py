"""Reductions over all elements or one axis (`sum(x, 0)`), softmax along an axis, and the statistics and scans
with options (var, std, cumsum, cumprod, logcumsumexp)."""

from __future__ import annotations

import numpy as np

from .. import scan_kernels as S
from .. import tensor_kernels as K
from .record import OpSpec, Option, Options, mp_kernel, torch_module

_STATISTIC = (Option("dim", None, "ints"), Option("correction", 1, "int", keyword_only=True),
              Option("keepdim", False, "bool", keyword_only=True))
_SCAN = (Option("dim", None, "int"),)


def _torch_statistic(name: str):
    def build(x, o):
        return getattr(torch_module(), name)(x, dim=o.dim, correction=o.correction, keepdim=o.keepdim)

    return build


def _torch_scan(name: str):
    return lambda x, o: getattr(torch_module(), name)(x, o.dim)


# sort and topk give their values only; the internal sort_by and unsort carry (dim, descending, k) for their vjps
_SELECTION = (Option("dim", -1, "int"), Option("descending", False, "bool", keyword_only=True),
              Option("k", None, "int", keyword_only=True))


def _selection(o) -> Options:
    return Options(tuple(S.selection_options(o).items()))


def _sort_vjp(adj, node, shape_of):
    return [node.graph.apply("unsort", adj, node.args[0], attr=_selection(node.attr))]


def _sort_by_vjp(adj, node, shape_of):
    return [node.graph.apply("unsort", adj, node.args[1], attr=node.attr)]


def _unsort_vjp(adj, node, shape_of):
    return [node.graph.apply("sort_by", adj, node.args[1], attr=node.attr)]


_DIMS = (Option("dim", None, "ints"), Option("keepdim", False, "bool"))


def _torch_dims(name: str):
    def build(x, o):
        dims = tuple(range(x.dim())) if o.dim is None else o.dim
        return getattr(torch_module(), name)(x, dim=dims, keepdim=o.keepdim)

    return build


def _torch_selected_value(name: str):
    """torch.max/torch.min over one dim: the values of its (values, indices), whose backward sends the gradient to
    the one index torch picked (at a tie, one of the tied elements), unlike amax/amin, which share it."""
    def build(x, o):
        return getattr(torch_module(), name)(x, o.dim, keepdim=o.keepdim).values

    return build


def _one_dim_shape(name: str):
    """The shape rule of max/min over one dim, its range error worded as amax's (a 0-d input takes dim 0 or -1)."""
    reduced = S.dims_shape(name, True)

    def shape_rule(shape: tuple, o) -> tuple:
        if shape:
            K.check_axis(shape, (o.dim,))
        return reduced(shape, o)

    return shape_rule


def _extremum_dim(name: str, largest: bool) -> OpSpec:
    """max or min over one dim (`name` is torch's): amax's value and rule, torch.max(x, dim)'s backward."""
    word = "largest" if largest else "smallest"
    return OpSpec(f"{name}_dim", 1, S.extremum_dims(largest), _torch_selected_value(name),
                  vjp=S.extremum_dims_vjp, shape=_one_dim_shape(name), attrs="options",
                  options=(Option("dim", None, "int"), Option("keepdim", False, "bool")), call_name=name,
                  elementwise=False, analytic=False, kinks=S.extremum_dims_switches(largest),
                  doc=f"the {word} element over one dim, torch.{name}(x, dim, keepdim=False)'s values "
                      f"({name}(x, dim=1)[0]); torch's backward gives a tie's gradient to one of the tied elements, "
                      f"a{name}'s shares it; a tie is a kink either way")


def _torch_order(key, o):
    """torch's stable sort of `key` along dim, the first k indices."""
    torch = torch_module()
    order = torch.sort(key.detach(), dim=o.dim, descending=o.descending, stable=True).indices
    return order if o.k is None else order.narrow(o.dim, 0, o.k)


def _torch_sort_by(v, key, o):
    return v if key.dim() == 0 else torch_module().take_along_dim(v, _torch_order(key, o), o.dim)


def _torch_unsort(v, key, o):
    if key.dim() == 0:
        return v
    zeros = torch_module().zeros(key.shape, dtype=v.dtype)
    return zeros.scatter(o.dim, _torch_order(key, o), v)

def _extremum_dims(name: str, largest: bool) -> OpSpec:
    """amax or amin over several dims, keepdim (`name` is torch's)."""
    word = "largest" if largest else "smallest"
    return OpSpec(f"{name}_dims", 1, S.extremum_dims(largest), _torch_dims(name), vjp=S.extremum_dims_vjp,
                  shape=S.dims_shape(name, True), attrs="options", options=_DIMS, call_name=name,
                  aliases=(name[1:],), elementwise=False, analytic=False, kinks=S.extremum_dims_switches(largest),
                  doc=f"the {word} element over several dims, keepdim: {name}(x, dim=(0, 1), keepdim=True); ties "
                      "share the gradient")


OPS = [
    OpSpec("sum", 1, lambda x, attr: np.sum(x, axis=K.reduced_axes(x, attr)),
           lambda x, attr: x.sum() if attr is None else x.sum(attr[0]),
           vjp=K.sum_vjp, shape=K.reduced_shape, attrs="axis", reduction=True, elementwise=False,
           uniform_reduction=True),
    OpSpec("mean", 1, lambda x, attr: np.mean(x, axis=K.reduced_axes(x, attr)),
           lambda x, attr: x.mean() if attr is None else x.mean(attr[0]),
           vjp=K.mean_vjp, shape=K.mean_shape, attrs="axis", reduction=True, elementwise=False,
           uniform_reduction=True),
    OpSpec("amax", 1, lambda x, attr: np.max(x, axis=K.reduced_axes(x, attr)),
           lambda x, attr: x.amax() if attr is None else x.amax(attr[0]), aliases=("max",),
           vjp=K.extremum_vjp, shape=K.extremum_shape, attrs="axis", elementwise=False, analytic=False,
           kinks=lambda x, attr: K.extremum_switches(x, attr, largest=True), mp=mp_kernel("amax"),
           doc="the largest element (max(x) with one argument); ties share the gradient"),
    OpSpec("amin", 1, lambda x, attr: np.min(x, axis=K.reduced_axes(x, attr)),
           lambda x, attr: x.amin() if attr is None else x.amin(attr[0]), aliases=("min",),
           vjp=K.extremum_vjp, shape=K.extremum_shape, attrs="axis", elementwise=False, analytic=False,
           kinks=lambda x, attr: K.extremum_switches(x, attr, largest=False), mp=mp_kernel("amin"),
           doc="the smallest element (min(x) with one argument); ties share the gradient"),
    OpSpec("prod", 1, lambda x, attr: np.prod(x, axis=K.reduced_axes(x, attr)),
           lambda x, attr: x.prod() if attr is None else x.prod(attr[0]),
           vjp=K.prod_vjp, shape=K.reduced_shape, attrs="axis", elementwise=False,
           domain=lambda x, attr: x != 0, domain_text="the gradient rule of prod needs non-zero elements"),
    OpSpec("norm", 1, lambda x, attr: np.sqrt(np.sum(x * x, axis=K.reduced_axes(x, attr))),
           lambda x, attr: torch_module().linalg.vector_norm(x, dim=None if attr is None else attr[0]),
           vjp=K.norm_vjp, shape=K.reduced_shape, attrs="axis", elementwise=False, mp=mp_kernel("norm"),
           domain=lambda x, attr: np.sum(x * x, axis=None if attr is None else attr[0]) > 0,
           domain_text="the 2-norm is not differentiable where it is 0",
           doc="the Euclidean (2-)norm, of every element or along dim: norm(x, dim=1); as in torch.norm, a "
               "second positional argument is p (only 2 here: norm(x, 2, dim=1), norm(x, p=2, dim=1))"),
    OpSpec("logsumexp", 1, K.logsumexp,
           lambda x, attr: torch_module().logsumexp(x.flatten(), 0) if attr is None
           else torch_module().logsumexp(x, attr[0]),
           vjp=K.logsumexp_vjp, shape=K.logsumexp_shape, attrs="axis", reduction=True, elementwise=False,
           mp=mp_kernel("logsumexp"),
           doc="log(sum(exp(x))), computed stably"),
    OpSpec("softmax", 1, K.softmax, lambda x, attr: x.softmax(attr[0] if attr else -1),
           vjp=K.softmax_vjp, shape=K.softmax_shape, attrs="axis", elementwise=False, mp=mp_kernel("softmax"),
           doc="exp(x) / sum(exp(x)) along an axis (default: the last)"),
    OpSpec("log_softmax", 1, K.log_softmax, lambda x, attr: x.log_softmax(attr[0] if attr else -1),
           vjp=K.log_softmax_vjp, shape=K.softmax_shape, attrs="axis", elementwise=False,
           mp=mp_kernel("log_softmax"),
           doc="x - logsumexp(x) along an axis (default: the last)"),
    # ---- statistics and scans (torch.var/std, cumsum, cumprod, logcumsumexp) ----
    # (named "variance": a graph's "var" nodes are its variables; written and printed var(x))
    OpSpec("variance", 1, S.var, _torch_statistic("var"), vjp=S.var_vjp, shape=S.var_shape, attrs="options",
           options=_STATISTIC, reduction=True, elementwise=False, call_name="var",
           doc="torch.var: the variance over dim (default: all) with correction (default 1: sum of squares / (N - 1)); "
               "var(x, dim=0, correction=0, keepdim=True)"),
    OpSpec("std", 1, S.std, _torch_statistic("std"), vjp=S.std_vjp, shape=S.var_shape, attrs="options",
           options=_STATISTIC, reduction=True, elementwise=False,
           domain=lambda x, o: S.var_of_unbatched(x, o) > 0,
           domain_text="the standard deviation is not differentiable where it is 0 (all elements equal)",
           doc="sqrt(var(x, ...)), options as var"),
    OpSpec("cumsum", 1, S.cumsum, _torch_scan("cumsum"), vjp=S.cumsum_vjp, shape=S.scan_shape("cumsum"),
           attrs="options", options=_SCAN, elementwise=False,
           doc="running sums along dim (required, as torch): cumsum(x, 0)"),
    OpSpec("cumsum_reverse", 1, S.cumsum_reverse,
           lambda x, o: x if x.dim() == 0 else x.flip(o.dim).cumsum(o.dim).flip(o.dim),
           vjp=S.cumsum_reverse_vjp, shape=S.scan_shape("cumsum_reverse"), attrs="options", options=_SCAN,
           elementwise=False, internal=True,
           doc="sums of the elements at and after each position along dim (the adjoint of cumsum)"),
    OpSpec("cumprod", 1, S.cumprod, _torch_scan("cumprod"), vjp=S.cumprod_vjp, shape=S.scan_shape("cumprod"),
           attrs="options", options=_SCAN, elementwise=False,
           doc="running products along dim (required): cumprod(x, 0); its gradient is exact with zeros"),
    OpSpec("logcumsumexp", 1, S.logcumsumexp, _torch_scan("logcumsumexp"), vjp=S.logcumsumexp_vjp,
           shape=S.scan_shape("logcumsumexp"), attrs="options", options=_SCAN, elementwise=False,
           doc="log(cumsum(exp(x), dim)), computed stably (the gradient overflows for spreads beyond ~700)"),
    # ---- sort and topk, values only (the gradient goes back to the chosen elements; ties are kinks) ----
    OpSpec("sort", 1, S.sort_values, lambda x, o: torch_module().sort(x, o.dim, o.descending).values,
           vjp=_sort_vjp, shape=S.sorted_shape("sort"), attrs="options",
           options=(Option("dim", -1, "int"), Option("descending", False, "bool"),
                    Option("stable", False, "bool", keyword_only=True)), elementwise=False, analytic=False,
           kinks=S.sort_switches,
           doc="torch.sort(x, dim=-1, descending=False, stable=False).values (stable only orders the indices); ties "
               "are kinks"),
    OpSpec("topk", 1, S.sort_values,
           lambda x, o: torch_module().topk(x, o.k, o.dim, o.largest, True).values,
           vjp=_sort_vjp, shape=S.sorted_shape("topk"), attrs="options",
           options=(Option("k", None, "int"), Option("dim", -1, "int"), Option("largest", True, "bool"),
                    Option("sorted", True, "bool")),
           elementwise=False, analytic=False, kinks=S.sort_switches,
           doc="torch.topk(x, k, dim=-1, largest=True, sorted=True).values; a tie at the k-th place is a kink"),
    OpSpec("sort_by", 2, S.sort_by, _torch_sort_by, vjp=_sort_by_vjp, shape=S.sort_by_shape, attrs="options",
           options=_SELECTION, elementwise=False, analytic=False, internal=True, param_names=("v", "key"),
           kinks=lambda v, key, o: S.sort_switches(key, o),
           doc="v's elements in the order that sorts key along dim (the first k): the adjoint of unsort"),
    OpSpec("unsort", 2, S.unsort, _torch_unsort, vjp=_unsort_vjp, shape=S.unsort_shape, attrs="options",
           options=_SELECTION, elementwise=False, analytic=False, internal=True, param_names=("v", "key"),
           kinks=lambda v, key, o: S.sort_switches(key, o),
           doc="zeros shaped like key with v put where sorting key along dim took its first elements: the adjoint "
               "of sort and topk"),
    # ---- sum, mean, amax, amin over several dims and with keepdim: sum(x, dim=(0, 1), keepdim=True) ----
    # (the overloads the parser takes for a tuple of dims or keepdim; printed as sum(...), mean(...), ...)
    OpSpec("sum_dims", 1, S.sum_dims, _torch_dims("sum"), vjp=S.sum_dims_vjp, shape=S.dims_shape("sum"),
           attrs="options", options=_DIMS, call_name="sum", reduction=True, uniform_reduction=True, elementwise=False,
           doc="sum over several dims, keepdim: sum(x, dim=(0, 1), keepdim=True)"),
    OpSpec("mean_dims", 1, S.mean_dims, _torch_dims("mean"), vjp=S.mean_dims_vjp, shape=S.dims_shape("mean", True),
           attrs="options", options=_DIMS, call_name="mean", reduction=True, uniform_reduction=True,
           elementwise=False, doc="mean over several dims, keepdim: mean(x, dim=(0, 1), keepdim=True)"),
    *(_extremum_dims(name, largest) for name, largest in (("amax", True), ("amin", False))),
    # ---- torch.max(x, dim), torch.min(x, dim): the values, with torch's own backward (parsed from amax's forms) ----
    *(_extremum_dim(name, largest) for name, largest in (("max", True), ("min", False))),
]
