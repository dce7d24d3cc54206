"""Random expression programs for tests/test_math_properties.py: a Hypothesis strategy, its op table,
and an independent sympy translation.

A program is drawn in two steps:

1. Hypothesis draws a *point* (1 to 3 variables x, y, z: scalars, or vectors of one common length
   2 or 3) and *blueprints*: trees built with `st.recursive` whose inner nodes name an op of
   `GEN_OPS` (or `share`, which uses one subtree twice; the op of a node below the root is picked
   by its arity and its integer) and carry a random integer for later decisions.  Blueprints know
   nothing about values, so they shrink well.
2. `realize` turns the blueprints into typed trees (`Expr`) at that point, bottom up.  Each node
   gets its numeric value there (float64), and before an op is applied its arguments are adapted:
   shapes are made compatible (a vector summed to a scalar, a scalar lifted to a vector), and an
   argument outside the op's domain or near one of its kinks is wrapped or shifted (log(a*a + 0.5),
   asin(tanh(a)/2), abs(a + s) with s chosen so that every element of a + s is 0.05 away from 0,
   amax of elements at least 0.05 apart, ...).  So every op the blueprint names is really applied,
   inside its domain, away from its switching points and ties.

The linear algebra ops (det, inv, solve, cholesky, eigh, svd, qr, pinv, matrix_exp, ...) see matrices built to be
far from their degenerate sets (Realizer.conditioned: a diagonal of 1, 2.2, 3.4 plus a small outer product): invertible,
positive definite, eigen- and singular values apart, qr's pivots and the columns below them away from 0; 2 x 2 (det
3 x 3 too) or 3 x 2 and 2 x 3, where sympy has closed forms (the eigenproblems, matrix_exp) and differentiates in
seconds.  fmod and remainder keep a/b MARGIN away from the integers.  conv1d/conv2d and the pools see 1 x 1 x 3 (or
4) and 1 x 1 x 2 x 2 inputs reshaped from drawn values (max_pool's windows off ties), batch_norm (training statistics)
and group_norm 3 x 1, 2 x 2 and 1 x 4 ones kept off constant groups; each is flattened back to a vector.

Ops with options (torch's keyword arguments) draw them too, and write a drawn number of the leading ones by
position as torch's signature orders them (POSITIONAL): `huber_loss(x, y, 'sum', 2.0, w)`, `cross_entropy(z, 1,
label_smoothing=0.1)`; cross_entropy with class probabilities (cross_entropy_probs) is written `cross_entropy(z,
p)`.  A tensor option (a loss's weight, layer_norm's weight and bias) is an operand: OPERAND in the attribute, its
tree among the node's arguments after the required ones.  The nn family's numpy and sympy
translations are written from torch.nn.functional's documented formulas (and torch's source where the documentation
is silent: a weighted 'mean'), never from gradcheck's kernels.

Programs have 0 to 2 bindings (`a0 = <tree>; a1 = <tree using a0>; <tree>`), each used at least
twice, plus `share` nodes that reuse one subtree twice inside a tree: the parser's hash-consing
turns both into shared graph nodes.

`to_sympy` translates the tree itself (not the text: nothing is evaluated as Python), element by
element for tensors (numpy object arrays of sympy expressions), so sympy differentiates the same
function that the text spells (piecewise ops: the branch active around the point, see SYMPY_PIECEWISE).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.special
import sympy
from hypothesis import strategies as st

from gradcheck_cli.lang.graph import format_option
from gradcheck_cli.lang.ops import OPS
from gradcheck_cli.lang.ops.record import torch_tuple_parts
from gradcheck_cli.lang.tensor_kernels import format_index

# ---- the op table -------------------------------------------------------------------------------------
#
# Every op of gradcheck_cli.lang.ops.OPS that the strategy generates, with the number of blueprint children
# it takes (0: a leaf such as ones(3); concat and stack are variadic and use 1 to 3 of their three
# children; clamp and where use their second and third child only in some modes).

GEN_OPS: dict[str, int] = {
    # elementwise, one argument
    "neg": 1, "sin": 1, "cos": 1, "tan": 1, "asin": 1, "acos": 1, "atan": 1, "sinh": 1, "cosh": 1, "tanh": 1,
    "exp": 1, "expm1": 1, "log": 1, "log1p": 1, "sqrt": 1, "sigmoid": 1, "softplus": 1, "relu": 1, "abs": 1,
    "sign": 1, "leaky_relu": 1,
    # rounding family of issue 17 (kept off their jumps; fmod and remainder are exempt below)
    "floor": 1, "ceil": 1, "round": 1, "trunc": 1, "frac": 1,
    # elementwise family of issue 17 (polygamma is internal: digamma's derivative, generated directly too)
    "exp2": 1, "log2": 1, "log10": 1, "reciprocal": 1, "rsqrt": 1, "square": 1, "sinc": 1, "erf": 1, "erfc": 1,
    "erfinv": 1, "lgamma": 1, "digamma": 1, "polygamma": 1, "logit": 1,
    "atan2": 2, "hypot": 2, "xlogy": 2, "maximum": 2, "minimum": 2,
    # activations family of issue 17
    "gelu": 1, "elu": 1, "selu": 1, "celu": 1, "silu": 1, "mish": 1, "hardtanh": 1, "hardswish": 1,
    "hardsigmoid": 1, "softsign": 1, "logsigmoid": 1,
    "detach": 1,
    # elementwise, two or three arguments
    "add": 2, "sub": 2, "mul": 2, "div": 2, "pow": 2, "min": 2, "max": 2,
    "gt": 2, "ge": 2, "lt": 2, "le": 2, "eq": 2, "ne": 2,
    "clamp": 3, "where": 3,
    # reductions and axis-wise ops
    "sum": 1, "mean": 1, "amax": 1, "amin": 1, "prod": 1, "norm": 1, "logsumexp": 1, "softmax": 1,
    "log_softmax": 1,
    # reductions family of issue 17: statistics and scans with options (variance is written var(x))
    "variance": 1, "std": 1, "cumsum": 1, "cumsum_reverse": 1, "cumprod": 1, "sort": 1, "topk": 1,
    "sum_dims": 1, "mean_dims": 1, "amax_dims": 1, "amin_dims": 1, "max_dim": 1, "min_dim": 1,
    # linear algebra and shapes
    "matmul": 2, "outer": 2, "transpose": 1, "index": 1, "reshape": 1, "concat": 3, "stack": 3,
    # shape and indexing family of issue 17: rearrangements and selections with options
    "flip": 1, "roll": 1, "tile": 1, "take": 1, "index_select": 1,
    "squeeze": 1, "unsqueeze": 1, "tril": 1, "triu": 1, "diag": 1, "diagonal": 1, "swapaxes": 1, "repeat": 1,
    "gather": 1, "cross": 2,
    # linear algebra family of issue 17: the ops defined on any matrix
    "trace": 1, "kron": 2,
    # the rest of the linear algebra family of issue 17, on matrices well-conditioned by construction
    # (Realizer.conditioned): einsum takes one or two operands
    "det": 1, "logdet": 1, "slogdet": 1, "inv": 1, "solve": 2, "cholesky": 1, "matrix_exp": 1, "eigvalsh": 1,
    "eigh": 1, "pinv": 1, "matrix_power": 1, "tensordot": 2, "svdvals": 1, "svd": 1, "einsum": 2, "qr": 1,
    # scans and rounding of issue 17 (logcumsumexp's Hessian: torch's double backward is not compared where NaN;
    # fmod and remainder kept off their jumps by the realization)
    "logcumsumexp": 1, "fmod": 2, "remainder": 2,
    # internal ops (made by the symbolic engine, callable so that printed derivatives parse back):
    # generated directly too, in the shapes the engine gives them
    "expand": 2, "sum_to": 2, "unindex": 2,
    # nn family of issue 17: losses (weights from their last child), distances and layer_norm (weight and bias
    # from its second and third child), on scalars, vectors and the occasional matrix
    "mse_loss": 3, "l1_loss": 3, "smooth_l1_loss": 2, "huber_loss": 3, "kl_div": 2, "binary_cross_entropy": 3,
    "binary_cross_entropy_with_logits": 3, "cross_entropy": 2, "nll_loss": 2, "cross_entropy_probs": 3,
    "cosine_similarity": 2, "pairwise_distance": 2, "cdist": 2, "layer_norm": 3,
    # nn family of issue 17: convolution, pooling (1 x 1 x 3 and 1 x 1 x 2 x 2 inputs; max_pool off ties) and the
    # batch's or a group's normalization (training statistics), flattened back to vectors (Realizer.flat_nn)
    "conv1d": 2, "conv2d": 2, "avg_pool1d": 1, "avg_pool2d": 1, "max_pool1d": 1, "max_pool2d": 1,
    "batch_norm": 1, "group_norm": 1,
    # constructors
    "ones": 0, "zeros": 0, "eye": 0,
}

# Ops of the registry the strategy does not generate, each with the reason.  Empty: every op is
# generated.  An op added to the registry must go to GEN_OPS (with its realization below) or here.
EXEMPT: dict[str, str] = {
    **{name: "internal adjoint pair of sort and topk (made by the symbolic engine, each the other's adjoint): "
             "drawn through sort and topk, not directly" for name in ("sort_by", "unsort")},
    "unselect": "internal adjoint of the selections (made by the symbolic engine): drawn through diag, diagonal, "
                "gather, index_select and take, whose adjoint it is",
    **{name: "internal adjoint pair of convolution and pooling (made by the symbolic engine, each the other's "
             "adjoint): drawn through those, not directly" for name in ("im2col", "col2im")},
    # ---- nn family of issue 17: all generated (Realizer._pointwise_loss, _class_loss, _cross_entropy_probs,
    # _cosine_similarity,
    # _pairwise_distance, _cdist, _layer_norm, _conv, _pool, _batch_norm, _group_norm) ----
}

ELEMENTWISE_UNARY = ("neg", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "expm1", "log",
                     "log1p", "sqrt", "sigmoid", "softplus", "relu", "abs", "sign", "detach")
COMPARISONS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "==", "ne": "!="}
INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "matmul": "@", **COMPARISONS}
REDUCTIONS = ("sum", "mean", "amax", "amin", "prod", "norm", "logsumexp")
# activations family of issue 17: each one's kinks (kept MARGIN away), and the options drawn
ACTIVATION_KINKS = {"elu": [0.0], "selu": [0.0], "celu": [0.0], "softsign": [0.0], "hardswish": [-3.0, 3.0],
                    "hardsigmoid": [-3.0, 3.0], "gelu": [], "silu": [], "mish": [], "logsigmoid": []}
ACTIVATION_OPTIONS = {"gelu": (None, (("approximate", "tanh"),)), "elu": (None, (("alpha", 2.0),), (("alpha", 0.5),)),
                      "celu": (None, (("alpha", 0.5),), (("alpha", 2.0),)),
                      "hardtanh": (None, (("min_val", -2.0), ("max_val", 0.5)))}
FAMILY_UNARY = ("exp2", "log2", "log10", "reciprocal", "rsqrt", "square", "sinc", "erf", "erfc", "erfinv", "lgamma",
                "digamma", "polygamma", "logit")

MARGIN = 0.05  # distance kept from kinks, ties and switching points
BIG = 100.0  # values larger than this are squashed with atan (keeps conditioning moderate)
CONSTANTS = (0.5, 2.0, 1.5, 0.25, 3.0, 1.0, math.pi, math.e, -1.0, -0.5, -2.0, 0.75)


# ---- typed trees --------------------------------------------------------------------------------------


@dataclass(eq=False)
class Expr:
    """One node of a realized program: op, arguments, static attribute, shape and value at the point."""

    op: str  # a GEN_OPS name, or "var", "const", "ref" (a binding, args = (its body,))
    args: tuple = ()
    attr: object = None
    value: np.ndarray = field(default_factory=lambda: np.zeros(()))
    name: str | None = None  # variable or binding name
    style: str = ""  # alternative spelling: "call" (pow(a, b), matmul(a, b), transpose(x)), "alias" (dot, max(x))
    positional: int = 0  # how many of the leading options are written by position (the rest as name=value)

    @property
    def shape(self) -> tuple:
        return self.value.shape


@dataclass
class Program:
    """`a0 = ...; a1 = ...; body` with its tree and the point (the variables it uses)."""

    lets: list[str]  # "a0 = ..." texts
    body: str  # the output's text
    point: dict[str, object]  # name -> float or list, as check() takes it
    arrays: dict[str, np.ndarray]
    output: Expr  # its tree; bindings are "ref" nodes holding their body

    @property
    def text(self) -> str:
        return "; ".join(self.lets + [self.body])


def program_of(output: Expr, arrays: dict[str, np.ndarray], bindings: list[tuple[str, Expr]] = ()) -> Program:
    """The Program of a tree built by hand (bindings: (name, body) pairs, referred to by `ref` nodes)."""
    used = _variables([output])
    return Program([f"{name} = {render(body)}" for name, body in bindings], render(output),
                   {name: _jsonable(arrays[name]) for name in arrays if name in used},
                   {name: np.asarray(arrays[name], dtype=np.float64) for name in arrays if name in used}, output)


def variable(name: str, value) -> Expr:
    return Expr("var", (), None, np.asarray(value, dtype=np.float64), name=name)


# ---- numpy evaluation (float64, unbatched; only to steer the generator) --------------------------------


def _logsumexp(x, axis):
    top = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(top + np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)), axis=axis)


def _softmax(x, axis):
    if x.ndim == 0:
        return np.ones_like(x)
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def _sum_to(g, shape):
    lead = g.ndim - len(shape)
    if lead > 0:
        g = np.sum(g, axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.sum(g, axis=axes, keepdims=True) if axes else g


def _index_items(attr) -> tuple:
    return tuple(slice(*item[1:]) if isinstance(item, tuple) else item for item in attr)


def _unindex(v, like, attr):
    out = np.zeros(like.shape)
    out[_index_items(attr)] = v
    return out


def _axis(attr):
    return None if attr is None else attr[0]


def _logit(x, eps):
    z = x if eps is None else np.clip(x, eps, 1 - eps)
    return np.log(z) - np.log1p(-z)


# reductions family of issue 17: options as (name, value) pairs, torch's defaults where absent
def _statistic(x, attr):
    o = dict(attr or ())
    dims = o.get("dim")
    axes = tuple(range(x.ndim)) if dims is None else tuple(d % max(x.ndim, 1) for d in dims) if x.ndim else ()
    count = math.prod(x.shape[a] for a in axes)
    return np.sum((x - np.mean(x, axis=axes, keepdims=True)) ** 2, axis=axes,
                  keepdims=o.get("keepdim", False)) / (count - o.get("correction", 1))


def _dims_axes(x, o: dict) -> tuple[int, ...]:
    dims = o.get("dim")
    dims = (dims,) if isinstance(dims, int) else dims  # max(x, dim=1): one dim
    return tuple(range(x.ndim)) if dims is None else tuple(d % max(x.ndim, 1) for d in dims) if x.ndim else ()


def _over_dims(f, x, attr):
    o = dict(attr or ())
    return f(x, axis=_dims_axes(x, o), keepdims=o.get("keepdim", False))


def _sorted(x, attr):
    o = dict(attr or ())
    if x.ndim == 0:
        return x
    dim, k = o.get("dim", -1), o.get("k")
    descending = o.get("descending", False) or (k is not None and o.get("largest", True))
    out = np.sort(x, axis=dim)
    out = np.flip(out, axis=dim) if descending else out
    return out if k is None else np.take(out, np.arange(k), axis=dim)


def _scan(ufunc, x, attr, reverse=False):
    if x.ndim == 0:
        return x
    axis = dict(attr)["dim"]
    if reverse:
        return np.flip(ufunc.accumulate(np.flip(x, axis), axis=axis), axis)
    return ufunc.accumulate(x, axis=axis)


NUMPY: dict[str, Callable] = {
    "neg": np.negative, "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "exp": np.exp, "expm1": np.expm1,
    "log": np.log,
    "log1p": np.log1p, "sqrt": np.sqrt, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.logaddexp(0.0, x), "relu": lambda x: np.maximum(x, 0.0), "abs": np.abs,
    "sign": np.sign, "detach": lambda x: x,
    "floor": np.floor, "ceil": np.ceil, "round": np.round, "trunc": np.trunc, "frac": lambda x: x - np.trunc(x),
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "min": np.minimum, "max": np.maximum,
    "gt": lambda a, b: (a > b) * 1.0, "ge": lambda a, b: (a >= b) * 1.0, "lt": lambda a, b: (a < b) * 1.0,
    "le": lambda a, b: (a <= b) * 1.0, "eq": lambda a, b: (a == b) * 1.0, "ne": lambda a, b: (a != b) * 1.0,
    "clamp": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
    "where": lambda c, a, b: np.where(c != 0, a, b),
    # elementwise family of issue 17: numpy and scipy.special
    "exp2": lambda x: 2.0**x, "log2": np.log2, "log10": np.log10, "reciprocal": lambda x: 1 / x,
    "rsqrt": lambda x: 1 / np.sqrt(x), "square": lambda x: x * x, "sinc": np.sinc, "erf": scipy.special.erf,
    "erfc": scipy.special.erfc, "erfinv": scipy.special.erfinv, "lgamma": scipy.special.gammaln,
    "digamma": scipy.special.psi, "atan2": np.arctan2, "hypot": np.hypot,
    "xlogy": lambda x, y: x * np.log(y), "maximum": np.maximum, "minimum": np.minimum,
    # activations family of issue 17
    "selu": lambda x: SELU_SCALE * _elu(x, SELU_ALPHA), "silu": lambda x: x * scipy.special.expit(x),
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)), "logsigmoid": scipy.special.log_expit,
    "hardswish": lambda x: x * np.clip(x + 3, 0, 6) / 6, "hardsigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "expand": lambda x, like: np.broadcast_to(x, np.broadcast_shapes(x.shape, like.shape)),
    "sum_to": lambda g, like: _sum_to(g, like.shape),
    "matmul": np.matmul, "outer": np.outer, "transpose": lambda x: x.T,
    "concat": lambda *xs: np.concatenate(xs, axis=0), "stack": lambda *xs: np.stack(xs, axis=0),
}
def _gelu(x, attr):
    if dict(attr or ()).get("approximate", "none") == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * scipy.special.erfc(-x / math.sqrt(2))


def _elu(x, alpha, input_scale=1.0):
    return np.where(x > 0, x, alpha * np.expm1(input_scale * np.minimum(x, 0.0)))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


NUMPY_WITH_ATTR: dict[str, Callable] = {
    # ops with keyword options take them as a tuple of (name, value) pairs, or None for the defaults
    "leaky_relu": lambda x, attr: np.where(x > 0, x, dict(attr or ()).get("negative_slope", 0.01) * x),
    "polygamma": lambda x, attr: scipy.special.polygamma(dict(attr or ()).get("n", 1), x),
    "logit": lambda x, attr: _logit(x, dict(attr or ()).get("eps")),
    "gelu": _gelu, "elu": lambda x, attr: _elu(x, dict(attr or ()).get("alpha", 1.0)),
    "celu": lambda x, attr: _elu(x, dict(attr or ()).get("alpha", 1.0), 1 / dict(attr or ()).get("alpha", 1.0)),
    "hardtanh": lambda x, attr: np.clip(x, dict(attr or ()).get("min_val", -1.0), dict(attr or ()).get("max_val", 1.0)),
    "sum": lambda x, attr: np.sum(x, axis=_axis(attr)),
    "mean": lambda x, attr: np.mean(x, axis=_axis(attr)),
    "amax": lambda x, attr: np.max(x, axis=_axis(attr)),
    "amin": lambda x, attr: np.min(x, axis=_axis(attr)),
    "prod": lambda x, attr: np.prod(x, axis=_axis(attr)),
    "norm": lambda x, attr: np.sqrt(np.sum(x * x, axis=_axis(attr))),
    "logsumexp": lambda x, attr: _logsumexp(x, _axis(attr)),
    "softmax": lambda x, attr: _softmax(x, -1 if attr is None else attr[0]),
    "log_softmax": lambda x, attr: np.log(_softmax(x, -1 if attr is None else attr[0])),
    "variance": _statistic, "std": lambda x, attr: np.sqrt(_statistic(x, attr)),
    "cumsum": lambda x, attr: _scan(np.add, x, attr), "cumsum_reverse": lambda x, attr: _scan(np.add, x, attr, True),
    "cumprod": lambda x, attr: _scan(np.multiply, x, attr), "sort": _sorted, "topk": _sorted,
    "sum_dims": lambda x, attr: _over_dims(np.sum, x, attr), "mean_dims": lambda x, attr: _over_dims(np.mean, x, attr),
    "amax_dims": lambda x, attr: _over_dims(np.max, x, attr), "amin_dims": lambda x, attr: _over_dims(np.min, x, attr),
    "max_dim": lambda x, attr: _over_dims(np.max, x, attr), "min_dim": lambda x, attr: _over_dims(np.min, x, attr),
    "index": lambda x, attr: x[_index_items(attr)],
    "unindex": lambda v, like, attr: _unindex(v, like, attr),
    "reshape": lambda x, attr: x.reshape(attr),
    "flip": lambda x, attr: _shape_op("flip", x, dict(attr)),
    "roll": lambda x, attr: _shape_op("roll", x, dict(attr)),
    "tile": lambda x, attr: _shape_op("tile", x, dict(attr)),
    "take": lambda x, attr: _shape_op("take", x, dict(attr)),
    "index_select": lambda x, attr: _shape_op("index_select", x, dict(attr)),
    "ones": lambda attr: np.ones(attr), "zeros": lambda attr: np.zeros(attr),
    "eye": lambda attr: np.eye(attr[0]),
}


def _shape_op(op: str, x: np.ndarray, o: dict) -> np.ndarray:
    """flip, roll, tile, take and index_select as numpy spells them, on float arrays or sympy object arrays."""
    if op == "flip":
        return np.flip(x, o["dims"])
    if op == "roll":
        return np.roll(x, o["shifts"], o["dims"])
    if op == "tile":
        return np.tile(x, o["dims"])
    if op == "take":
        return x.reshape(-1)[np.asarray(o["index"])]
    return np.take(x, np.asarray(o["index"]), axis=o["dim"])


# ---- nn family of issue 17: losses, distances, layer_norm (torch.nn.functional's documented formulas) ----
#
# Their options are (name, value) pairs; a tensor option (a loss's weight, layer_norm's weight and bias) has the value
# OPERAND, and its operand is one of the node's arguments, after the required ones, in the order of the attribute.


class _Operand:
    def __repr__(self) -> str:
        return "OPERAND"


OPERAND = _Operand()
# torch's positional order of each op's options (after its operands, without the deprecated size_average and
# reduce): the options a node gives are rendered in this order, a drawn number of them by position
POSITIONAL = {"huber_loss": ("reduction", "delta", "weight"), "binary_cross_entropy": ("weight",),
              "binary_cross_entropy_with_logits": ("weight",), "cross_entropy": ("target", "weight"),
              "cross_entropy_probs": ("weight",),
              "nll_loss": ("target", "weight"), "cosine_similarity": ("dim", "eps"),
              "pairwise_distance": ("p", "eps", "keepdim"), "cdist": ("p",),
              "layer_norm": ("normalized_shape", "weight", "bias", "eps")}
POINTWISE_LOSSES = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "binary_cross_entropy",
                    "binary_cross_entropy_with_logits")
CLASS_LOSSES = ("cross_entropy", "nll_loss")
NO_DOUBLE_BACKWARD = frozenset({"cdist"})  # torch has no double backward for these: its Hessian is None
def _operands(args, required: int) -> tuple[list, dict, dict]:
    """(the required arguments, {tensor option: its argument}, the options as a dict) of args = (*arguments, attr)."""
    *values, attr = args
    names = [name for name, value in (attr or ()) if value is OPERAND]
    return list(values[:required]), dict(zip(names, values[required:])), dict(attr or ())


def _np_pointwise_loss(op: str) -> Callable:
    """torch.nn.functional.<op>(input, target, ...): one loss per element of input and target broadcast (d = input -
    target), times weight, reduced.  'mean' of a weighted mse_loss or l1_loss divides the sum by sum(weight), the
    weight of the input's shape as given, not broadcast to the target's (torch's source: torch.sum(weighted_squared_
    errors) / torch.sum(weight)); huber_loss's weighted 'mean' is the mean of the broadcast weighted loss."""
    def loss(*args):
        (x, t), given, o = _operands(args, 2)
        d = x - t
        a = np.abs(d)
        if op == "mse_loss":
            out = d * d
        elif op == "l1_loss":
            out = a
        elif op == "smooth_l1_loss":
            beta = o.get("beta", 1.0)
            out = a if beta == 0 else np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)
        elif op == "huber_loss":
            delta = o.get("delta", 1.0)
            out = np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
        elif op == "kl_div":
            out = np.exp(t) * (t - x) if o.get("log_target", False) else t * (np.log(t) - x)
        elif op == "binary_cross_entropy":
            out = -(t * np.log(x) + (1 - t) * np.log1p(-x))
        else:  # -(pos_weight*t*log(sigmoid(x)) + (1 - t)*log(1 - sigmoid(x)))
            pos_weight = given.get("pos_weight", 1.0)
            out = -(pos_weight * t * scipy.special.log_expit(x) + (1 - t) * scipy.special.log_expit(-x))
        weight = given.get("weight")
        shape = np.broadcast_shapes(*[np.shape(v) for v in (x, t, *given.values())])
        out = np.broadcast_to(out if weight is None else out * weight, shape)
        reduction = o.get("reduction", "mean")
        if reduction == "none":
            return out
        if reduction == "sum":
            return np.sum(out)
        if reduction == "batchmean":  # the sum over the input's first dim
            return np.sum(out) / (np.shape(x)[0] if np.ndim(x) else 1)
        if weight is not None and op in ("mse_loss", "l1_loss"):
            return np.sum(out) / np.sum(weight)
        return np.mean(out)

    return loss


def _class_losses(op: str, rows: list, targets: tuple, weight, o: dict, log_softmax: Callable, number: Callable):
    """cross_entropy and nll_loss per sample, on lists of elements (floats or sympy): (the losses, the weights of
    their targets).  A sample whose target is ignore_index counts for nothing; with label_smoothing eps the loss is
    (1 - eps)*(-w[k]*logp[k]) - eps/C*sum_c w[c]*logp[c]."""
    count = len(rows[0])
    w = [1] * count if weight is None else weight
    eps = o.get("label_smoothing", 0.0)
    losses, totals = [], []
    for row, k in zip(rows, targets):
        if k == o.get("ignore_index", -100):
            losses.append(0)
            totals.append(0)
            continue
        logp = log_softmax(row) if op == "cross_entropy" else row
        loss = -w[k] * logp[k]
        if eps:
            smooth = sum(wc * v for wc, v in zip(w, logp))
            loss = (1 - number(eps)) * loss - number(eps) / count * smooth
        losses.append(loss)
        totals.append(w[k])
    return losses, totals


def _np_class_loss(op: str) -> Callable:
    """torch.nn.functional.<op> of an input (C,) with an integer target, or (N, C) with a tuple of N targets."""
    def loss(*args):
        (x,), given, o = _operands(args, 1)
        batched = x.ndim == 2
        weight = given.get("weight")
        losses, totals = _class_losses(op, [list(r) for r in (x if batched else [x])],
                                       o["target"] if batched else (o["target"],),
                                       None if weight is None else list(weight), o,
                                       lambda r: list(np.asarray(r) - _logsumexp(np.asarray(r), -1)), float)
        reduction = o.get("reduction", "mean")
        if reduction == "none":
            return np.array(losses if batched else losses[0], dtype=np.float64)
        return np.sum(losses) if reduction == "sum" else np.sum(losses) / np.sum(totals)

    return loss


def probability_loss(args: list, attr, log_softmax: Callable, number: Callable, array: Callable) -> np.ndarray:
    """torch.nn.functional.cross_entropy(input, target) with class probabilities (cross_entropy_probs), on an input
    (C,) or (N, C) and a target of its shape, as torch documents it: -sum_c weight[c]*q[c]*log_softmax(input)[c] per
    sample, q = target*(1 - label_smoothing) + label_smoothing/C; 'mean' divides by the number of samples.  On
    arrays of floats (log_softmax and number for floats, array: numpy's) or of sympy elements (their sympy forms)."""
    (x, t), given, o = _operands([*args, attr], 2)
    batched = x.ndim == 2
    rows, targets = ([list(r) for r in v] if batched else [list(v)] for v in (x, t))
    classes = len(rows[0])
    weight = given.get("weight")
    w = [1] * classes if weight is None else list(weight)
    eps = o.get("label_smoothing", 0.0)
    losses = []
    for row, target in zip(rows, targets):
        q = [p * (1 - number(eps)) + number(eps) / classes for p in target] if eps else target
        losses.append(-sum(wc * qc * lc for wc, qc, lc in zip(w, q, log_softmax(row))))
    reduction = o.get("reduction", "mean")
    if reduction == "none":
        return array(losses if batched else losses[0])
    return array(sum(losses) if reduction == "sum" else sum(losses) / len(losses))


def _np_probability_loss(*args):
    *values, attr = args
    return probability_loss([np.asarray(v, dtype=np.float64) for v in values], attr,
                            lambda r: list(np.asarray(r) - _logsumexp(np.asarray(r), -1)), float,
                            lambda v: np.asarray(v, dtype=np.float64))


def _p_norm(d, p, axis, keepdims=False):
    a = np.abs(d)
    if p == "inf":
        return np.max(a, axis=axis, keepdims=keepdims)
    return np.sum(a**p, axis=axis, keepdims=keepdims) ** (1 / p)


def _np_cosine_similarity(a, b, attr):
    """x1 . x2 / (max(|x1|, eps) max(|x2|, eps)) along dim."""
    o = dict(attr or ())
    dim, eps = o.get("dim", 1), o.get("eps", 1e-8)
    a, b = np.broadcast_arrays(a, b)
    norms = [np.maximum(np.sqrt(np.sum(v * v, axis=dim)), eps) for v in (a, b)]
    return np.sum(a * b, axis=dim) / (norms[0] * norms[1])


def _np_pairwise_distance(a, b, attr):
    """The p-norm of x1 - x2 + eps along the last dim."""
    o = dict(attr or ())
    return _p_norm(a - b + o.get("eps", 1e-6), o.get("p", 2.0), -1, o.get("keepdim", False))


def _np_cdist(a, b, attr):
    """out[i, j] = the p-norm of x1[i] - x2[j] (rows)."""
    return _p_norm(a[:, None, :] - b[None, :, :], dict(attr or ()).get("p", 2.0), -1)


def _normalized_shape(o: dict) -> tuple:
    shape = o["normalized_shape"]
    return (shape,) if isinstance(shape, int) else tuple(shape)


def _np_layer_norm(*args):
    """(x - mean)/sqrt(var + eps) over the trailing normalized_shape dims (biased var), times weight plus bias."""
    (x,), given, o = _operands(args, 1)
    axes = tuple(range(x.ndim - len(_normalized_shape(o)), x.ndim))
    centred = x - np.mean(x, axis=axes, keepdims=True)
    out = centred / np.sqrt(np.mean(centred**2, axis=axes, keepdims=True) + o.get("eps", 1e-5))
    out = out * given["weight"] if "weight" in given else out
    return out + given["bias"] if "bias" in given else out


# convolution, pooling and the batch's or groups' normalization, on N = C = 1 inputs (what the realizer draws), written
# once for float and sympy object arrays from torch.nn.functional's documented formulas (cross-correlation; a pool's
# stride defaults to its kernel; biased variance of the training statistics)

CONV_OPS = ("conv1d", "conv2d")
POOL_OPS = ("avg_pool1d", "avg_pool2d", "max_pool1d", "max_pool2d")
POSITIONAL.update({"conv1d": ("bias", "stride", "padding"), "conv2d": ("bias", "stride", "padding"),
                   **{op: ("kernel_size", "stride") for op in POOL_OPS}, "group_norm": ("num_groups",)})


def _spatial(o: dict, name: str, rank: int, default) -> tuple:
    value = o.get(name, default)
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def _windows(x: np.ndarray, kernel: tuple, stride: tuple, padding: tuple):
    """(output index, [the window's elements of x zero-padded]) of a (1, 1, *spatial) x, in row-major order."""
    padded = np.pad(x[0, 0], [(p, p) for p in padding], constant_values=0)
    if x.dtype == object:
        padded = np.vectorize(sympy.sympify, otypes=[object])(padded)
    counts = tuple((n - k) // t + 1 for n, k, t in zip(padded.shape, kernel, stride))
    for out in np.ndindex(counts):
        starts = [o * t for o, t in zip(out, stride)]
        yield out, [padded[tuple(a + b for a, b in zip(starts, k))] for k in np.ndindex(kernel)]


def _geometry(op: str, rank: int, o: dict, weight_shape: tuple | None) -> tuple[tuple, tuple, tuple]:
    """(kernel, stride, padding) of a conv (kernel: the weight's) or a pool (stride: its kernel by default)."""
    kernel = tuple(weight_shape[2:]) if op in CONV_OPS else _spatial(o, "kernel_size", rank, None)
    stride = _spatial(o, "stride", rank, None) if "stride" in o else (kernel if op in POOL_OPS else (1,) * rank)
    return kernel, stride, _spatial(o, "padding", rank, 0)


def nn_window_op(op: str, x: np.ndarray, w, o: dict, pick=None) -> np.ndarray:
    """conv (w: the (1, 1, *kernel) weight) or pool of a (1, 1, *spatial) x; pick(window) is max_pool's element."""
    results = {}
    for out, window in _windows(x, *_geometry(op, x.ndim - 2, o, None if w is None else w.shape)):
        if op in CONV_OPS:
            results[out] = sum(u * v for u, v in zip(window, w[0, 0].reshape(-1)))
        elif op.startswith("avg"):
            results[out] = sum(window) / len(window)
        else:
            results[out] = pick(window)
    counts = tuple(i + 1 for i in list(results)[-1])  # the last output index, in row-major order
    value = np.empty(counts, dtype=object)
    for out, v in results.items():
        value[out] = v
    return value.reshape((1, 1, *counts))


def nn_normalized(x: np.ndarray, groups: list[list[tuple]], sqrt, eps) -> np.ndarray:
    """(x - mean)/sqrt(biased var + eps) over each group of indices of x."""
    out = np.empty(x.shape, dtype=object)
    for group in groups:
        items = [x[i] for i in group]
        mean = sum(items) / len(items)
        root = sqrt(sum((u - mean) ** 2 for u in items) / len(items) + eps)
        for i, u in zip(group, items):
            out[i] = (u - mean) / root
    return out


def nn_groups(op: str, shape: tuple, o: dict) -> list[list[tuple]]:
    """batch_norm: one group per channel (all batch and spatial positions); group_norm: per sample, num_groups
    groups of consecutive channels."""
    indices = list(np.ndindex(shape))
    if op == "batch_norm":
        return [[i for i in indices if i[1] == c] for c in range(shape[1])]
    per = shape[1] // o["num_groups"]
    return [[i for i in indices if i[0] == n and i[1] // per == g] for n in range(shape[0])
            for g in range(o["num_groups"])]


def _np_nn(op: str) -> Callable:
    def apply(*args):
        *values, attr = args
        o = dict(attr or ())
        x = np.asarray(values[0], dtype=np.float64)
        if op in ("batch_norm", "group_norm"):
            out = nn_normalized(x, nn_groups(op, x.shape, o), np.sqrt, o.get("eps", 1e-5))
        else:
            w = np.asarray(values[1], dtype=np.float64) if op in CONV_OPS else None
            out = nn_window_op(op, x, w, o, pick=max)
        return out.astype(np.float64)
    return apply


NUMPY_WITH_ATTR.update({op: _np_nn(op) for op in CONV_OPS + POOL_OPS + ("batch_norm", "group_norm")})
NUMPY_WITH_ATTR.update({op: _np_pointwise_loss(op) for op in POINTWISE_LOSSES})
NUMPY_WITH_ATTR.update({op: _np_class_loss(op) for op in CLASS_LOSSES})
NUMPY_WITH_ATTR["cross_entropy_probs"] = _np_probability_loss
NUMPY_WITH_ATTR.update({"cosine_similarity": _np_cosine_similarity, "pairwise_distance": _np_pairwise_distance,
                        "cdist": _np_cdist, "layer_norm": _np_layer_norm})


# shape and indexing family of issue 17, the rest: numpy's spelling of each (on float arrays or sympy object arrays)
SHAPE_FAMILY = ("squeeze", "unsqueeze", "tril", "triu", "diag", "diagonal", "swapaxes", "repeat", "gather", "cross",
                "trace", "kron")
POSITIONAL.update({"squeeze": ("dim",), "unsqueeze": ("dim",), "tril": ("diagonal",), "triu": ("diagonal",),
                   "diag": ("diagonal",), "diagonal": ("offset", "dim1", "dim2"), "swapaxes": ("axis0", "axis1"),
                   "repeat": ("sizes",), "gather": ("dim",)})  # cross: torch.linalg.cross's dim is keyword-only


def _gather(x: np.ndarray, dim: int, index) -> np.ndarray:
    """out[i][j] = x[i][index[i][j]] for dim 1 (index of x's rank, no longer than x along the other dims)."""
    index = np.asarray(index)
    out = np.empty(index.shape, dtype=x.dtype)
    for position in np.ndindex(index.shape):
        source = list(position)
        source[dim] = index[position]
        out[position] = x[tuple(source)]
    return out


def _cross(a: np.ndarray, b: np.ndarray, dim: int) -> np.ndarray:
    a, b = (np.moveaxis(v, dim, -1) for v in np.broadcast_arrays(a, b))
    out = np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1], a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                    a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)
    return np.moveaxis(out, -1, dim)


def _shape_family(op: str, *args) -> np.ndarray:
    *values, attr = args
    x, o = values[0], dict(attr or ())
    if op == "squeeze":  # only the given dims of size 1 (all of them without dim)
        dims = o.get("dim")
        dims = (dims,) if isinstance(dims, int) else dims
        return np.squeeze(x) if dims is None else np.squeeze(x, tuple(d % x.ndim for d in dims if x.shape[d] == 1))
    if op == "unsqueeze":
        return np.expand_dims(x, o["dim"])
    if op in ("tril", "triu", "diag"):
        return getattr(np, op)(x, o.get("diagonal", 0))
    if op == "diagonal":
        return np.diagonal(x, o.get("offset", 0), o.get("dim1", 0), o.get("dim2", 1))
    if op == "swapaxes":
        return np.swapaxes(x, o["axis0"], o["axis1"])
    if op == "repeat":  # torch.Tensor.repeat with at least x's rank of sizes is numpy's tile
        return np.tile(x, o["sizes"])
    if op == "gather":
        return _gather(x, o["dim"], o["index"])
    if op == "trace":
        return np.trace(x)
    if op == "kron":
        return np.kron(values[0], values[1])
    return _cross(values[0], values[1], o.get("dim", -1))


NUMPY_WITH_ATTR.update({op: functools.partial(_shape_family, op) for op in SHAPE_FAMILY})


# ---- linear algebra family of issue 17: decompositions and matrix functions (numpy's and scipy's spelling) ----
#
# The realization (Realizer.conditioned) makes every matrix these ops see D + 0.1*outer(t, u): D with 1, 2.2, 3.4
# on its diagonal, t and u in (-1, 1).  Its singular values (and a square one's eigenvalues, real, and its symmetric
# part's) lie within 0.1*|t||u| <= 0.3 of D's diagonal: apart by at least 0.6, at least 0.7, det > 0, the symmetric
# part positive definite.  So every op here is differentiable at the point, far from its degenerate set.

LINALG = ("det", "logdet", "slogdet", "inv", "solve", "cholesky", "matrix_exp", "eigvalsh", "eigh", "pinv",
          "matrix_power", "tensordot", "svdvals", "svd", "einsum", "qr")
DIAGONAL = (1.0, 2.2, 3.4)
PLAIN_NODES = 6  # the largest argument tree a matrix of the family is built from (Realizer.plain)
POSITIONAL.update({"matrix_power": ("n",), "tensordot": ("dims",), "qr": ("mode",)})
# the small equations einsum is drawn with: (equation, the operands' shapes as letters of sizes)
EINSUM_EQUATIONS = ("i->i", "i->", "ij->ji", "ij->", "ij->j", "i,i->", "i,j->ij", "ij,j->i", "ij,jk->ik",
                    "ij,ij->", "ij,ik->jk", "i,ij->j")


def _gauge(columns: np.ndarray) -> np.ndarray:
    """+1 or -1 per column: the sign that makes its entry of largest magnitude (the first of equal ones) positive."""
    top = columns[np.argmax(np.abs(columns), axis=0), np.arange(columns.shape[1])]
    return np.where(top < 0, -1.0, 1.0)


def _symmetric(a):
    return (a + a.T) / 2


def _np_linalg(op: str, *args) -> np.ndarray:
    *values, attr = args
    o, a = dict(attr or ()), values[0]
    if op in ("det", "logdet", "slogdet"):
        sign, log = np.linalg.slogdet(a)
        return sign * np.exp(log) if op == "det" else log
    if op == "inv":
        return np.linalg.inv(a)
    if op == "solve":
        return np.linalg.solve(a, values[1])
    if op == "cholesky":
        return np.linalg.cholesky(_symmetric(a))
    if op == "matrix_exp":
        return scipy.linalg.expm(a)
    if op in ("eigvalsh", "eigh"):
        w, v = np.linalg.eigh(_symmetric(a))
        return w if o.get("part", "eigenvalues") == "eigenvalues" else v * _gauge(v)
    if op == "pinv":
        return np.linalg.pinv(a)
    if op == "matrix_power":
        return np.linalg.matrix_power(a, o.get("n", 1))
    if op == "tensordot":
        return np.tensordot(a, values[1], axes=o.get("dims", (2,))[0])
    if op in ("svdvals", "svd"):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        part = o.get("part", "S")
        signs = _gauge(u)
        return s if part == "S" else u * signs if part == "U" else vh * signs[:, np.newaxis]
    if op == "einsum":
        return np.einsum(o["equation"], *values)
    q, r = np.linalg.qr(a)  # qr: LAPACK's signs, as torch's
    return q if o.get("part", "R") == "Q" else r


NUMPY_WITH_ATTR.update({op: functools.partial(_np_linalg, op) for op in LINALG})
NUMPY_WITH_ATTR["logcumsumexp"] = lambda x, attr: x if x.ndim == 0 else \
    np.logaddexp.accumulate(x, axis=dict(attr)["dim"])
NUMPY.update({"fmod": np.fmod, "remainder": np.remainder})


def lapack_pivots(a: np.ndarray) -> tuple[list[float], list[float]]:
    """(the pivots alpha, the norms of the columns below them) of Householder QR (geqrf) of a, for the pivots that
    reflect (the first min(n, m - 1)): LAPACK's R[k, k] is -sign(alpha)*|(alpha, below)|, so QR jumps where an
    alpha crosses 0 or a column below a pivot becomes 0."""
    r = np.array(a, dtype=np.float64)
    m, n = r.shape
    alphas, below = [], []
    for k in range(min(n, m - 1)):
        x = r[k:, k]
        alphas.append(float(x[0]))
        below.append(float(np.linalg.norm(x[1:])))
        v = x.copy()
        v[0] += math.copysign(np.linalg.norm(x), x[0])
        r[k:, :] -= 2 * np.outer(v, v @ r[k:, :]) / (v @ v)
    return alphas, below


def make(op: str, args=(), attr=None, style: str = "", positional: int = 0) -> Expr:
    if op in NUMPY_WITH_ATTR:
        value = NUMPY_WITH_ATTR[op](*[a.value for a in args], attr)
    else:
        value = NUMPY[op](*[a.value for a in args])
    value = np.array(value, dtype=np.float64)
    assert np.all(np.isfinite(value)), f"generator bug: {op} is not finite at the point"
    return Expr(op, tuple(args), attr, value, style=style, positional=positional)


def const(v: float) -> Expr:
    return Expr("const", (), float(v), np.array(float(v)))


def const_vector(values) -> Expr:
    return make("stack", [const(v) for v in values])


# ---- realization: blueprint + point -> Expr ------------------------------------------------------------


def _broadcastable(*shapes) -> tuple | None:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def _shift_for(differences: list[np.ndarray], margin: float) -> float:
    """A shift s with |d + s| >= margin for every element d of every array (0 when it already holds)."""
    values = np.concatenate([np.ravel(d) for d in differences])
    for k in range(0, 400):
        s = (k + 1) // 2 * 0.13 * (1 if k % 2 else -1)
        if np.all(np.abs(values + s) >= margin):
            return s
    raise AssertionError("generator bug: no shift found")


def _nested(index: np.ndarray):
    """An integer array as the language's (nested) tuple."""
    return tuple(_nested(i) for i in index) if index.ndim > 1 else tuple(int(i) for i in index)


def _apart(d: np.ndarray, distinct: bool) -> bool:
    """Every element of d at least MARGIN from 0 and, if distinct, the two largest |d| along the last dim MARGIN
    apart (a p-norm's kinks and, for p = 'inf', its ties)."""
    if np.min(np.abs(d)) < MARGIN:
        return False
    if not distinct or d.shape[-1] < 2:
        return True
    s = np.sort(np.abs(d), axis=-1)
    return bool(np.min(s[..., -1] - s[..., -2]) >= MARGIN)


class LinalgRealizer:
    """The Realizer's rules for the linear algebra family of issue 17, and for fmod and remainder (a mixin: it uses
    the Realizer's builders)."""

    def conditioned(self, args: list[Expr], rng: random.Random, rows: int, columns: int,
                    lower: float = 0.0) -> Expr:
        """D + 0.1*outer(tanh(a), cos(b)) (+ `lower` below D's diagonal): D rows x columns with DIAGONAL on its
        diagonal, a and b the first and last argument as vectors.  See LINALG's comment for what it guarantees."""
        diagonal = np.zeros((rows, columns))
        for k in range(min(rows, columns)):
            diagonal[k, k] = DIAGONAL[k]
        diagonal += lower * np.tril(np.ones((rows, columns)), -1)
        first, last = self.plain(args[0]), self.plain(args[-1])
        t = make("tanh", [self.vector(first, rng, rows)])
        u = make("cos", [self.vector(last, rng, columns)])
        perturbation = make("mul", [const(0.1), make("outer", [t, u])])
        return make("add", [self._const_tensor(diagonal), perturbation])

    def plain(self, e: Expr) -> Expr:
        """e, or a variable where e already holds an op of LINALG or more than PLAIN_NODES nodes: sympy's expressions
        of matrices of larger trees (nested decompositions above all) grow past what it differentiates, twice, in
        seconds."""
        large = ops_of([e]) & set(LINALG) or sum(1 for _ in _unique_nodes([e])) > PLAIN_NODES
        return next(iter(self.variables.values())) if large else e

    def _square_op(self, op: str, args: list[Expr], rng: random.Random, size: int = 2) -> Expr:
        """op of a size x size conditioned matrix: 2 x 2 but for det (sympy's inverse, Cholesky factor and closed
        forms of 3 x 3 matrices of expressions take minutes to differentiate)."""
        return make(op, [self.conditioned(args, rng, size, size)])

    def _det(self, args, rng):
        return self._square_op("det", args, rng, self.n)

    def _logdet(self, args, rng):
        return self._square_op("logdet", args, rng)

    def _slogdet(self, args, rng):
        return self._square_op("slogdet", args, rng)

    def _inv(self, args, rng):
        return self._square_op("inv", args, rng)

    def _cholesky(self, args, rng):
        return self._square_op("cholesky", args, rng)

    def _matrix_exp(self, args, rng):  # 2 x 2: the oracle's closed form
        return self._square_op("matrix_exp", args, rng, 2)

    def _eigvalsh(self, args, rng):  # 2 x 2: the oracle's closed form
        return self._square_op("eigvalsh", args, rng, 2)

    def _eigh(self, args, rng):
        part = rng.choice(("eigenvalues", "eigenvectors", None))
        a = self.conditioned(args, rng, 2, 2)
        return self.with_options("eigh", [a], {} if part is None else {"part": part}, rng)

    def _solve(self, args, rng):
        a = self.conditioned(args[:1], rng, 2, 2)
        b = self.plain(args[1])
        if not (len(b.shape) == 2 and b.shape[0] == 2 and b.shape[1] <= 3):
            b = self.vector(b, rng, 2) if rng.random() < 0.7 else make("reshape", [self.vector(b, rng, 2)], (2, 1))
        return make("solve", [a, b])

    def _rectangle(self, args, rng) -> tuple[int, int]:
        return rng.choice(((2, 2), (3, 2), (2, 3)))

    def _pinv(self, args, rng):
        return make("pinv", [self.conditioned(args, rng, *self._rectangle(args, rng))])

    def _matrix_power(self, args, rng):
        a = self.conditioned(args, rng, 2, 2)
        return self.with_options("matrix_power", [a], {"n": rng.choice((-2, -1, 0, 1, 2, 3))}, rng)

    def _svdvals(self, args, rng):  # min(rows, columns) = 2: the oracle's closed form
        return make("svdvals", [self.conditioned(args, rng, *rng.choice(((2, 2), (3, 2), (2, 3))))])

    def _svd(self, args, rng):
        a = self.conditioned(args, rng, *rng.choice(((2, 2), (3, 2), (2, 3))))
        part = rng.choice(("U", "S", "Vh", None))
        return self.with_options("svd", [a], {} if part is None else {"part": part}, rng)

    def _qr(self, args, rng):
        """qr of a square, tall or wide matrix with 0.5 (or another fixed number) below D's diagonal, the first
        for which every reflecting pivot and the column below it are MARGIN away from 0: off LAPACK's sign jumps."""
        shape = self._rectangle(args, rng)
        for lower in (0.5, -0.5, 0.8, -0.8, 1.3):
            a = self.conditioned(args, rng, *shape, lower=lower)
            alphas, below = lapack_pivots(a.value)
            if min(map(abs, alphas + below), default=1.0) >= MARGIN:
                break
        else:
            raise AssertionError("generator bug: no qr input off the jumps")
        options = {"part": rng.choice(("Q", "R"))} if rng.random() < 0.8 else {}
        if rng.random() < 0.3:
            options = {"mode": "reduced", **options}
        return self.with_options("qr", [a], options, rng)

    def _tensordot(self, args, rng):
        """a (a vector or a matrix) against b, over 0, 1 or 2 of a's last dims: b made of the shape they need."""
        args = [self.plain(e) for e in args]
        a = args[0] if len(args[0].shape) in (1, 2) and args[0].value.size <= 6 else self.vector(args[0], rng)
        dims = rng.randrange(len(a.shape) + 1) if a.value.size <= 3 else rng.randint(1, len(a.shape))
        contracted = a.shape[len(a.shape) - dims:]
        b = self.shaped(args[1], contracted + (rng.choice(((), (2,))) if dims else (2,)), rng)
        return self.with_options("tensordot", [a, b], {"dims": (dims,)}, rng)

    def _einsum(self, args, rng):
        equation = rng.choice(EINSUM_EQUATIONS)
        inputs = equation.split("->")[0].split(",")
        sizes = {letter: size for letter, size in zip("ijk", rng.choice(((2, 3, 2), (3, 2, 2), (2, 2, 3))))}
        operands = [self.shaped(self.plain(e), tuple(sizes[c] for c in part), rng) for e, part in zip(args, inputs)]
        return make("einsum", operands, (("equation", equation),))

    def _fmod(self, args, rng, op="fmod"):
        """a op b with b a drawn constant or the argument kept 0.5 from 0, and a shifted so that a/b is MARGIN from
        every integer: off the jumps (and off fmod's sign switch at a = 0)."""
        a, b = self.fit(args, rng)
        if rng.random() < 0.5 or b.shape != () and a.shape != b.shape and a.shape != ():
            b = const(rng.choice((1.5, -0.75, 2.0, -1.25)))
        else:
            b = self.away(b, [0.0], 0.5)
        quotients = [k * b.value for k in range(-60, 61)]
        a = self.away(a, quotients, MARGIN * float(np.min(np.abs(b.value))))
        return make(op, [a, b])

    def _remainder(self, args, rng):
        return self._fmod(args, rng, "remainder")


class Realizer(LinalgRealizer):
    """Turns blueprints into Exprs at a point; all decisions come from the blueprints' integers."""

    def __init__(self, variables: dict[str, Expr], n: int):
        self.variables = variables
        self.n = n
        self.refs: list[Expr] = []

    # -- small builders --

    def scalar(self, e: Expr, rng: random.Random) -> Expr:
        """e reduced to a scalar by sum or mean (no domain to respect)."""
        return e if e.shape == () else make(rng.choice(("sum", "mean")), [e])

    def lift(self, e: Expr, m: int) -> Expr:
        """A scalar made an m-vector of distinct elements: e + stack(k0, ..., k_{m-1})."""
        assert e.shape == ()
        return make("add", [e, const_vector([0.5 * i - 0.25 for i in range(m)])])

    def vector(self, e: Expr, rng: random.Random, m: int | None = None) -> Expr:
        """e as a vector (of length m when given)."""
        if len(e.shape) == 1 and (m is None or e.shape[0] == m):
            return e
        if len(e.shape) == 2 and m is None:
            return make("reshape", [e], (-1,)) if rng.random() < 0.5 else make("sum", [e], (0,))
        return self.lift(self.scalar(e, rng), m or self.n)

    def away(self, e: Expr, targets: list, margin: float = MARGIN) -> Expr:
        """e + s, with s chosen so that every element of e + s is `margin` away from every target
        (arrays broadcast against e); e itself when it already is."""
        s = _shift_for([e.value - np.asarray(t) for t in targets], margin)
        return e if s == 0 else make("add", [e, const(s)])

    def bounded(self, e: Expr) -> Expr:
        return make("atan", [e]) if np.max(np.abs(e.value), initial=0.0) > BIG else e

    def fit(self, args: list[Expr], rng: random.Random) -> list[Expr]:
        """Arguments of an elementwise op made broadcastable (trailing ones reduced to scalars)."""
        args = list(args)
        for i in range(len(args) - 1, -1, -1):
            if _broadcastable(*[a.shape for a in args]) is not None:
                break
            args[i] = self.scalar(args[i], rng)
        return args

    # -- blueprints --

    def realize(self, blueprint) -> Expr:
        kind, k, children = blueprint
        if isinstance(kind, int):  # an inner node: the op is picked from its arity group by k
            names = GROUPS[kind]
            kind, k = names[k % len(names)], k // len(names)
        rng = random.Random(k)
        if kind == "leaf":
            return self.leaf(k)
        args = [self.realize(c) for c in children]
        if kind == "share":
            return self.share(args[0], rng)
        return self.apply(kind, args, rng)

    def leaf(self, k: int) -> Expr:
        if k % 5 == 4:
            return const(CONSTANTS[(k // 5) % len(CONSTANTS)])
        options = list(self.variables.values()) + self.refs * 2
        return options[(k // 5) % len(options)]

    def share(self, c: Expr, rng: random.Random) -> Expr:
        """One subtree used twice: b(u(c), c)."""
        u = self.apply(rng.choice(("sin", "tanh", "exp", "sigmoid", "log", "sqrt", "atan", "cos")), [c], rng)
        return self.apply(rng.choice(("add", "mul", "sub", "div", "pow", "max", "min")), [u, c], rng)

    def apply(self, op: str, args: list[Expr], rng: random.Random) -> Expr:
        """op applied to (adapted) args, squashed with atan if its value is large."""
        special = getattr(self, "_" + op, None)
        return self.bounded(special(args, rng) if special else self._elementwise(op, args, rng))

    # -- elementwise ops --

    def _elementwise(self, op: str, args: list[Expr], rng: random.Random) -> Expr:
        if op in ("ones", "zeros", "eye"):
            return self._constructor(op, rng)
        (a,) = args[:1]
        if op in ("exp", "expm1", "sinh", "cosh") and np.max(np.abs(a.value)) > 5:
            a = make("tanh", [a])
        elif op in ("log", "sqrt") and np.min(a.value) < 0.1:
            a = make("add", [make("mul", [a, a]), const(0.5)])
        elif op == "log1p" and np.min(a.value) < -0.9:
            a = make("mul", [a, a])
        elif op in ("asin", "acos") and np.max(np.abs(a.value)) > 0.9:
            a = make("div", [make("tanh", [a]), const(2.0)])
        elif op == "tan" and np.min(np.abs(np.cos(a.value))) < 0.2:
            a = make("tanh", [a])
        elif op in ("relu", "abs", "sign", "leaky_relu"):
            a = self.away(a, [0.0])
        elif op in ("floor", "ceil", "round", "trunc", "frac"):  # off every jump: the integers (round: halves)
            lowest = np.floor(a.value) + (0.5 if op == "round" else 0.0)
            a = self.away(a, [lowest + k for k in range(-40, 41)])
            return make(op, [a])
        elif op in FAMILY_UNARY:
            return self._family_unary(op, a, rng)
        elif op in ACTIVATION_KINKS or op in ACTIVATION_OPTIONS:
            return self._activation(op, a, rng)
        if op == "leaky_relu":
            slope = rng.choice((None, 0.2, 1.5, -0.5))
            return make(op, [a], None if slope is None else (("negative_slope", slope),))
        if op in ELEMENTWISE_UNARY:
            return make(op, [a])
        a, b = self.fit(args[:2], rng)
        if op == "div":
            if rng.random() < 0.5:
                b = self.away(b, [0.0], 0.25)
            elif np.min(np.abs(b.value)) < 0.25:
                b = make("add", [make("mul", [b, b]), const(0.5)])
        elif op == "pow":
            return self._power(a, b, rng)
        elif op in ("min", "max", "maximum", "minimum") or op in COMPARISONS:
            b = self.away(b, [a.value])
        elif op in ("atan2", "hypot"):  # a away from 0: off the origin, and off atan2's jump (a = 0, b < 0)
            a = self.away(a, [0.0])
        elif op == "xlogy" and np.min(b.value) < 0.1:
            b = make("add", [make("mul", [b, b]), const(0.5)])
        style = "call" if op in ("min", "max") else ""
        return make(op, [a, b], style=style)

    def _family_unary(self, op: str, a: Expr, rng: random.Random) -> Expr:
        """The unary ops of the elementwise family of issue 17, inside their domains (lgamma, digamma and
        polygamma on the positive axis, where sympy's loggamma is log|Gamma|)."""
        if op == "exp2" and np.max(np.abs(a.value)) > 5:
            a = make("tanh", [a])
        elif op in ("log2", "log10", "rsqrt", "lgamma", "digamma", "polygamma") and np.min(a.value) < 0.1:
            a = make("add", [make("mul", [a, a]), const(0.5)])
        elif op == "reciprocal":
            a = self.away(a, [0.0], 0.25)
        elif op == "sinc":  # sympy's derivative of sinc is 0/0 at 0 (the registry rows check sinc there)
            a = self.away(a, [0.0])
        elif op == "erfinv" and np.max(np.abs(a.value)) > 0.9:
            a = make("div", [make("tanh", [a]), const(2.0)])
        if op == "polygamma":
            return make(op, [a], (("n", rng.choice((1, 2, 3))),))
        if op == "logit":
            eps = rng.choice((None, None, 0.1, 0.25))
            if eps is not None:
                return make(op, [self.away(a, [eps, 1 - eps])], (("eps", eps),))
            if np.min(a.value) < 0.05 or np.max(a.value) > 0.95:  # into (1/6, 5/6)
                a = make("div", [make("add", [make("tanh", [a]), const(1.5)]), const(3.0)])
        return make(op, [a])

    def _activation(self, op: str, a: Expr, rng: random.Random) -> Expr:
        """The activations family of issue 17, away from their kinks, with options drawn."""
        attr = rng.choice(ACTIVATION_OPTIONS.get(op, (None,)))
        o = dict(attr or ())
        kinks = [o.get("min_val", -1.0), o.get("max_val", 1.0)] if op == "hardtanh" else ACTIVATION_KINKS[op]
        return make(op, [self.away(a, kinks) if kinks else a], attr)

    def _power(self, a: Expr, b: Expr, rng: random.Random) -> Expr:
        style = "call" if rng.random() < 0.25 else ""
        mode = rng.randrange(3)
        if mode == 0:  # integer exponent, any base (away from 0 for negative exponents)
            k = rng.choice((2.0, 3.0, -1.0, -2.0, 2.0))
            if k < 0:
                a = self.away(a, [0.0], 0.25)
            return make("pow", [a, const(k)], style=style)
        if mode == 1:  # positive base, bounded exponent: differentiable in both
            if np.min(a.value) < 0.1:
                a = make("add", [make("mul", [a, a]), const(0.5)])
            if np.max(a.value) > 20:
                a = make("atan", [a])
            if np.max(np.abs(b.value)) > 3:
                b = make("tanh", [b])
            return make("pow", [a, b], style=style)
        base = const(rng.choice((2.0, 0.5, math.e, 3.0)))
        if np.max(np.abs(b.value)) > 5:
            b = make("tanh", [b])
        return make("pow", [base, b], style=style)

    def _clamp(self, args: list[Expr], rng: random.Random) -> Expr:
        x = args[0]
        if rng.random() < 0.5:  # constant bounds from a grid, 0.05 away from every element
            grid = [g for g in np.arange(-3.0, 3.01, 0.25) if np.all(np.abs(x.value - g) >= MARGIN)]
            lo, hi = sorted(rng.sample(grid, 2))
            if rng.random() < 0.15:  # crossed bounds: clamp(x, lo, hi) = hi wherever lo > hi
                lo, hi = hi, lo
            return make("clamp", [x, const(lo), const(hi)])
        lo, hi = args[1], args[2]
        if rng.random() < 0.5:  # scalar bounds
            lo, hi = self.scalar(lo, rng), self.scalar(hi, rng)
        else:
            x, lo, hi = self.fit([x, lo, hi], rng)
        lo = self.away(lo, [x.value])
        hi = self.away(hi, [x.value, lo.value])
        return make("clamp", [x, lo, hi])

    def _where(self, args: list[Expr], rng: random.Random) -> Expr:
        c, a, b = self.fit(args, rng)
        if np.min(np.abs(c.value)) < MARGIN:  # a condition near 0 becomes a comparison with a margin
            t = -_shift_for([c.value], MARGIN)  # |c - t| >= MARGIN
            c = make(rng.choice(("gt", "lt", "ge", "le")), [c, const(t)])
        return make("where", [c, a, b])

    # -- reductions and axis-wise ops --

    def _axis_attr(self, x: Expr, rng: random.Random):
        if x.shape == () or rng.random() < 0.5:
            return None
        return (rng.randrange(-len(x.shape), len(x.shape)),)

    def _reduction_input(self, x: Expr, rng: random.Random) -> Expr:
        if x.shape == () and rng.random() < 0.8:
            return self.lift(x, self.n)
        return x

    def _reduce(self, op: str, args: list[Expr], rng: random.Random) -> Expr:
        x = self._reduction_input(args[0], rng)
        attr = self._axis_attr(x, rng)
        axis = None if attr is None else attr[0]
        if op in ("amax", "amin") and x.shape != ():
            def gaps(e: Expr):  # the two largest (smallest) along the axis must differ by the margin
                v = np.moveaxis(e.value, axis, -1) if axis is not None else e.value.reshape(-1)
                if v.shape[-1] < 2:
                    return np.inf
                s = np.sort(v, axis=-1)
                return np.abs(s[..., -1] - s[..., -2]) if op == "amax" else np.abs(s[..., 1] - s[..., 0])

            if np.min(gaps(x)) < MARGIN:
                for scale in (0.37, 0.61, 1.13, 1.7, 2.9, 4.3):
                    offsets = scale * np.arange(x.value.size).reshape(x.shape)
                    shifted = make("add", [x, self._const_tensor(offsets)])
                    if np.min(gaps(shifted)) >= MARGIN:
                        x = shifted
                        break
                else:
                    raise AssertionError("generator bug: no tie-free offsets")
        elif op == "prod":
            x = self.away(x, [0.0], 0.1)
        elif op == "norm" and np.min(np.sum(x.value ** 2, axis=axis)) < 0.01:
            x = self.away(x, [0.0], 0.1)
        style = "alias" if op in ("amax", "amin") and attr is None and rng.random() < 0.5 else ""
        return make(op, [x], attr, style=style)

    def _const_tensor(self, values: np.ndarray) -> Expr:
        flat = const_vector([float(v) for v in values.reshape(-1)])
        return flat if values.ndim == 1 else make("reshape", [flat], tuple(values.shape))

    def _softmax(self, args, rng, op="softmax"):
        x = self._reduction_input(args[0], rng)
        return make(op, [x], self._axis_attr(x, rng))

    def _log_softmax(self, args, rng):
        return self._softmax(args, rng, "log_softmax")

    # reductions family of issue 17: var and std over dims (keepdim, correction), and the scans along a dim

    def _variance(self, args, rng, op="variance"):
        x = args[0]
        if x.value.size < 2:
            x = self.lift(self.scalar(x, rng), self.n)
        options = []
        long_dims = [d for d in range(-len(x.shape), len(x.shape)) if x.shape[d] >= 2]
        if rng.random() < 0.6:  # over one dim of 2 or more elements, or all
            options.append(("dim", rng.choice([(d,) for d in long_dims] + [tuple(range(len(x.shape)))])))
        if rng.random() < 0.3:
            options.append(("correction", 0))
        if rng.random() < 0.3:
            options.append(("keepdim", True))
        attr = tuple(options) or None
        if x.shape != () and np.min(_statistic(x.value, attr)) < MARGIN:  # elements apart: std is smooth there
            for scale in (0.37, 0.61, 1.13, 1.7):
                shifted = make("add", [x, self._const_tensor(scale * np.arange(x.value.size).reshape(x.shape))])
                if np.min(_statistic(shifted.value, attr)) >= MARGIN:
                    x = shifted
                    break
            else:
                raise AssertionError("generator bug: no spread-out offsets")
        return make(op, [x], attr)

    def _std(self, args, rng):
        return self._variance(args, rng, "std")

    def _scan_op(self, op, args, rng):
        x = self._reduction_input(args[0], rng)
        dim = rng.randrange(-len(x.shape), len(x.shape)) if x.shape else rng.choice((0, -1))
        return make(op, [x], (("dim", dim),))

    def _sort(self, args, rng, op="sort"):
        x = self._reduction_input(args[0], rng)
        dim = rng.randrange(-len(x.shape), len(x.shape)) if x.shape else rng.choice((0, -1))

        def gap(e: Expr):  # the smallest distance between two elements of a slice along dim: no ties, no kinks
            if e.shape == () or e.shape[dim] < 2:
                return np.inf
            s = np.sort(e.value, axis=dim)
            return np.min(np.diff(s, axis=dim))

        if gap(x) < MARGIN:
            for scale in (0.37, 0.61, 1.13, 1.7, 2.9, 4.3):
                shifted = make("add", [x, self._const_tensor(scale * np.arange(x.value.size).reshape(x.shape))])
                if gap(shifted) >= MARGIN:
                    x = shifted
                    break
            else:
                raise AssertionError("generator bug: no tie-free offsets")
        # dim is left out (torch's default, -1) only where it is the last dim: the ties and k are for that dim
        last = x.shape != () and dim % len(x.shape) == len(x.shape) - 1
        options = [("dim", dim)] if not last or rng.random() < 0.7 else []
        if op == "topk":
            n = x.shape[dim] if x.shape else 1
            options = [("k", rng.randint(1, n))] + options + ([("largest", False)] if rng.random() < 0.4 else [])
        elif rng.random() < 0.4:
            options.append(("descending", True))
        return make(op, [x], tuple(options) or None)

    def _sum_dims(self, args, rng, op="sum_dims"):
        x = self._reduction_input(args[0], rng)
        options = []
        if x.shape != () and rng.random() < 0.7:
            options.append(("dim", rng.choice([(d,) for d in range(-len(x.shape), len(x.shape))]
                                              + [tuple(range(len(x.shape)))[::-1]])))
        options.append(("keepdim", True) if rng.random() < 0.7 or not options else ("keepdim", False))
        return self._tie_free(x, tuple(options), op)

    def _tie_free(self, x, attr, op):
        """op(x) with attr, x moved apart where the extremum of a slice would be a tie (a kink)."""
        if op in ("amax_dims", "amin_dims", "max_dim", "min_dim") and x.shape != ():
            largest = op in ("amax_dims", "max_dim")
            axes = _dims_axes(x.value, dict(attr))

            def gap(e: Expr):  # the two largest (smallest) of each slice must differ by the margin
                v = np.moveaxis(e.value, axes, tuple(range(-len(axes), 0))).reshape(
                    tuple(n for d, n in enumerate(e.shape) if d not in axes) + (-1,))
                if v.shape[-1] < 2:
                    return np.inf
                s = np.sort(v, axis=-1)
                return np.min(s[..., -1] - s[..., -2] if largest else s[..., 1] - s[..., 0])

            if gap(x) < MARGIN:
                for scale in (0.37, 0.61, 1.13, 1.7, 2.9, 4.3):
                    shifted = make("add", [x, self._const_tensor(scale * np.arange(x.value.size).reshape(x.shape))])
                    if gap(shifted) >= MARGIN:
                        x = shifted
                        break
                else:
                    raise AssertionError("generator bug: no tie-free offsets")
        return make(op, [x], attr)

    def _mean_dims(self, args, rng):
        return self._sum_dims(args, rng, "mean_dims")

    def _amax_dims(self, args, rng):
        return self._sum_dims(args, rng, "amax_dims")

    def _amin_dims(self, args, rng):
        return self._sum_dims(args, rng, "amin_dims")

    def _max_dim(self, args, rng, op="max_dim"):
        """torch.max(x, dim, keepdim): one dim, always given."""
        x = self._reduction_input(args[0], rng)
        dim = int(rng.choice(range(-len(x.shape), len(x.shape)))) if x.shape != () else 0
        return self._tie_free(x, (("dim", dim), ("keepdim", bool(rng.random() < 0.5))), op)

    def _min_dim(self, args, rng):
        return self._max_dim(args, rng, "min_dim")

    def _topk(self, args, rng):
        return self._sort(args, rng, "topk")

    def _cumsum(self, args, rng):
        return self._scan_op("cumsum", args, rng)

    def _cumsum_reverse(self, args, rng):
        return self._scan_op("cumsum_reverse", args, rng)

    def _cumprod(self, args, rng):
        return self._scan_op("cumprod", args, rng)

    def _logcumsumexp(self, args, rng):
        return self._scan_op("logcumsumexp", args, rng)

    # -- linear algebra and shapes --

    def _matmul(self, args: list[Expr], rng: random.Random) -> Expr:
        a, b = args
        if len(a.shape) == 0:
            a = self.lift(a, self.n)
        if len(b.shape) == 0 or (len(b.shape) == 1 and b.shape[0] != a.shape[-1]):
            b = self.lift(self.scalar(b, rng), a.shape[-1])
        elif len(b.shape) == 2 and b.shape[0] != a.shape[-1]:
            b = make("transpose", [b]) if b.shape[1] == a.shape[-1] else self.lift(self.scalar(b, rng), a.shape[-1])
        style = rng.choice(("", "", "call", "alias"))
        return make("matmul", [a, b], style=style)

    def _shape_family(self, op: str, args: list[Expr], rng: random.Random) -> Expr:
        """flip, roll, tile, take, index_select (shape and indexing family of issue 17) on a vector or a matrix,
        with options drawn for its shape; an index may repeat (the adjoints accumulate)."""
        x = args[0] if args[0].shape != () else self.lift(args[0], self.n)
        rank, dims = len(x.shape), tuple(range(len(x.shape)))
        if op == "flip":
            chosen = tuple(d - rank * rng.randrange(2) for d in dims if rng.random() < 0.6) or (rng.randrange(rank),)
            return make(op, [x], (("dims", chosen),))
        if op == "roll":
            dim = rng.randrange(rank)
            return make(op, [x], (("shifts", (rng.randrange(-3, 4),)), ("dims", (dim,))))
        if op == "tile":
            return make(op, [x], (("dims", tuple(rng.choice((1, 2)) for _ in range(rng.randrange(1, 3)))),))
        if op == "take":
            size = x.value.size
            return make(op, [x], (("index", tuple(rng.randrange(-size, size) for _ in range(rng.randrange(1, 4)))),))
        dim = rng.randrange(rank)
        index = tuple(rng.randrange(x.shape[dim]) for _ in range(rng.randrange(1, 4)))
        return make(op, [x], (("dim", dim - rank * rng.randrange(2)), ("index", index)))

    def _flip(self, args, rng):
        return self._shape_family("flip", args, rng)

    def _roll(self, args, rng):
        return self._shape_family("roll", args, rng)

    def _tile(self, args, rng):
        return self._shape_family("tile", args, rng)

    def _take(self, args, rng):
        return self._shape_family("take", args, rng)

    def _index_select(self, args, rng):
        return self._shape_family("index_select", args, rng)

    def _outer(self, args: list[Expr], rng: random.Random) -> Expr:
        a, b = (self.vector(e, rng) for e in args)
        return make("outer", [a, b])

    def _transpose(self, args: list[Expr], rng: random.Random) -> Expr:
        return make("transpose", args, style="call" if rng.random() < 0.3 else "")

    def _index(self, args: list[Expr], rng: random.Random) -> Expr:
        x = args[0]
        if x.shape == ():
            x = self.lift(x, self.n)
        return make("index", [x], self._index_attr(x.shape, rng))

    def _index_attr(self, shape: tuple, rng: random.Random) -> tuple:
        def item(size):
            r = rng.random()
            if r < 0.5:
                return rng.randrange(-size, size)
            start = rng.choice((None, 0, 1)) if size > 1 else None
            return ("slice", start, rng.choice((None, size)), rng.choice((None, None, 2)))

        if len(shape) == 1:
            return (item(shape[0]),)
        if rng.random() < 0.3:
            return (rng.randrange(shape[0]),)
        return (item(shape[0]), item(shape[1]))

    def _reshape(self, args: list[Expr], rng: random.Random) -> Expr:
        x = args[0]
        size = x.value.size
        if x.shape == ():
            choices = [(1,), (1, 1)]
        elif len(x.shape) == 1:
            choices = [(1, size), (size, 1), (-1,)] + ([(2, size // 2)] if size % 2 == 0 and size > 2 else [])
        else:
            choices = [(size,), (x.shape[1], x.shape[0]), (-1,), (1, -1)]
        return make("reshape", [x], rng.choice(choices))

    def _concat(self, args: list[Expr], rng: random.Random) -> Expr:
        args = args[: rng.randrange(1, 4)]
        if len({a.shape for a in args}) == 1 and len(args[0].shape) == 2 and rng.random() < 0.5:
            return make("concat", args)  # matrices with equal columns
        pieces = []
        for a in args:
            if a.shape == ():
                a = make("reshape", [a], (1,))
            elif len(a.shape) == 2:
                a = make("reshape", [a], (-1,)) if a.value.size <= 4 else self.scalar(a, rng)
                if a.shape == ():
                    a = make("reshape", [a], (1,))
            elif a.value.size > 3:
                a = make("reshape", [self.scalar(a, rng)], (1,))
            pieces.append(a)
        return make("concat", pieces)

    def _stack(self, args: list[Expr], rng: random.Random) -> Expr:
        args = args[: rng.randrange(1, 4)]
        first = args[0] if len(args[0].shape) <= 1 else self.scalar(args[0], rng)
        pieces = [first]
        for a in args[1:]:
            if a.shape != first.shape:
                a = self.scalar(a, rng)
                if first.shape != ():
                    a = self.lift(a, first.shape[0])
            pieces.append(a)
        return make("stack", pieces)

    # -- nn family of issue 17: losses, distances, layer_norm --

    def shaped(self, e: Expr, shape: tuple, rng: random.Random) -> Expr:
        """e made exactly `shape` (a scalar, lifted and reshaped where the shape differs)."""
        if e.shape == shape:
            return e
        if shape == ():
            return self.scalar(e, rng)
        if len(shape) == 1:
            return self.vector(e, rng, shape[0])
        return make("reshape", [self.lift(self.scalar(e, rng), math.prod(shape))], shape)

    def small(self, args: list[Expr], rng: random.Random, limit: int = 4) -> list[Expr]:
        """The arguments, each of more than `limit` elements made a scalar (summed or averaged): an element of a loss,
        a distance or a normalization depends on every element of its operands, and sympy's Jacobians and Hessians of
        such elements grow with their number."""
        return [e if e.value.size <= limit else self.scalar(e, rng) for e in args]

    def positive(self, e: Expr) -> Expr:
        """e*e + 0.5: positive, for weights a 'mean' divides by."""
        return make("add", [make("mul", [e, e]), const(0.5)])

    def adjusted(self, x: Expr, ok: Callable[[np.ndarray], bool], shape: tuple | None = None) -> Expr:
        """x, or x plus offsets scale*(0, 1, 2, ...) of `shape` (default x's: spreading its elements) and a constant
        shift: the first, in a fixed order, whose value satisfies ok."""
        shape = x.shape if shape is None else shape
        scales = (0.0,) if shape == () else (0.0, 0.37, 0.61, 1.13, 1.7, 2.9)
        for scale in scales:
            offsets = scale * np.arange(math.prod(shape)).reshape(shape)
            for k in range(120):
                s = (k + 1) // 2 * 0.13 * (1 if k % 2 else -1)
                if ok(x.value + offsets + s):
                    out = x if scale == 0 else make("add", [x, self._const_tensor(offsets)])
                    return out if s == 0 else make("add", [out, const(s)])
        raise AssertionError("generator bug: no adjustment found")

    def with_options(self, op: str, operands: list[Expr], options: dict, rng: random.Random) -> Expr:
        """op(operands, options): tensor options (Exprs) become OPERAND and follow the operands; the options are
        ordered as torch's positional order says, and a drawn number of them (those that may be) is positional."""
        order = POSITIONAL.get(op, ())
        names = [n for n in order if n in options] + [n for n in options if n not in order]
        most = 0
        while most < len(names) and most < len(order) and names[most] == order[most]:
            most += 1
        attr = tuple((n, OPERAND if isinstance(options[n], Expr) else options[n]) for n in names) or None
        tensors = [options[n] for n in names if isinstance(options[n], Expr)]
        return make(op, [*operands, *tensors], attr, positional=rng.randint(0, most))

    def _cross_entropy_probs(self, args: list[Expr], rng: random.Random) -> Expr:
        """cross_entropy(input, target) with class probabilities: an input (C,) or (N, C), a target of its shape (the
        second child; half the time its softmax along the classes, a distribution as practitioners give, else any
        values, which torch allows), class weights (from the third child), reduction and label_smoothing drawn."""
        x, t = self.small(args[:2], rng)
        if not (len(x.shape) == 2 and x.shape[1] >= 2 and rng.random() < 0.7):
            x = self.vector(x, rng)
            if x.shape[0] < 2:
                x = self.lift(self.scalar(x, rng), self.n)
        t = self.shaped(t, x.shape, rng)
        if rng.random() < 0.5:
            t = make("softmax", [t], (-1,))
        options: dict = {}
        if len(args) > 2 and rng.random() < 0.4:
            options["weight"] = self.shaped(args[2], x.shape[-1:], rng)
        reduction = rng.choice((None, "mean", "sum", "none"))
        if reduction is not None:
            options["reduction"] = reduction
        if rng.random() < 0.4:
            options["label_smoothing"] = rng.choice((0.1, 0.25, 0.5))
        return self.with_options("cross_entropy_probs", [x, t], options, rng)

    def _pointwise_loss(self, op: str, args: list[Expr], rng: random.Random) -> Expr:
        """mse_loss, l1_loss, smooth_l1_loss, huber_loss, kl_div and the binary cross-entropies, each inside its
        domain and MARGIN away from its kinks (d = input - target at 0 for l1_loss, at +-beta and +-delta, where the
        second derivative jumps), with reduction, beta/delta/log_target and the weights drawn."""
        x, t = self.small(args[:2], rng)
        if op.startswith("binary_cross_entropy") and x.shape != t.shape:  # torch wants one shape
            x = self.vector(x, rng)
            t = self.vector(t, rng, x.shape[0])
        else:
            x, t = self.fit([x, t], rng)
        options: dict = {}
        reduction = rng.choice((None, "mean", "sum", "none") + (("batchmean",) if op == "kl_div" else ()))
        if reduction is not None:
            options["reduction"] = reduction
        if op == "l1_loss":
            x = self.away(x, [t.value])
        elif op in ("smooth_l1_loss", "huber_loss"):
            name = "beta" if op == "smooth_l1_loss" else "delta"
            width = rng.choice((None, 0.5, 2.0, 0.0 if op == "smooth_l1_loss" else 1.5))
            if width is not None:
                options[name] = width
            width = 1.0 if width is None else width
            x = self.away(x, [t.value - width, t.value + width])
        elif op == "kl_div":
            if rng.random() < 0.4:
                options["log_target"] = True
            elif np.min(t.value) < 0.1:
                t = self.positive(t)
        elif op == "binary_cross_entropy":  # input in (0.05, 0.95); target in [0, 1], as torch demands
            if not MARGIN <= np.min(x.value) <= np.max(x.value) <= 1 - MARGIN:
                x = make("sigmoid", [x if np.max(np.abs(x.value)) < 2.9 else make("tanh", [x])])
            if not 0 <= np.min(t.value) <= np.max(t.value) <= 1:
                t = make("sigmoid", [t])
        if len(args) > 2 and rng.random() < 0.5:
            self._loss_weights(op, args[2], x, t, options, rng)
        return self.with_options(op, [x, t], options, rng)

    def _loss_weights(self, op: str, w: Expr, x: Expr, t: Expr, options: dict, rng: random.Random) -> None:
        """weight (of the input's shape for mse_loss, l1_loss and huber_loss; else the loss's shape or a scalar,
        positive where 'mean' divides by its sum) and binary_cross_entropy_with_logits' pos_weight (along the last
        dim), made from the third child."""
        loss_shape = np.broadcast_shapes(x.shape, t.shape)
        kinds = ("weight", "pos_weight", "both") if op == "binary_cross_entropy_with_logits" else ("weight",)
        kind = rng.choice(kinds)
        if kind != "pos_weight":
            mean = options.get("reduction", "mean") == "mean" and op in ("mse_loss", "l1_loss")
            shape = x.shape if op in ("mse_loss", "l1_loss", "huber_loss") else rng.choice((loss_shape, ()))
            weight = self.shaped(w, shape, rng)
            options["weight"] = self.positive(weight) if mean else weight
        if kind != "weight":
            shape = rng.choice(((), loss_shape[-1:]))
            pos_weight = self.shaped(make("exp", [make("tanh", [w])]) if rng.random() < 0.5 else w, shape, rng)
            options["pos_weight"] = pos_weight

    def _class_loss(self, op: str, args: list[Expr], rng: random.Random) -> Expr:
        """cross_entropy and nll_loss on an input (C,) with an integer target k < C, or (N, C) with a tuple of N
        targets; nll_loss on a log_softmax or on any input; weight (from the second child), ignore_index,
        label_smoothing and reduction drawn."""
        (x,) = self.small(args[:1], rng)
        batched = len(x.shape) == 2 and x.shape[1] >= 2 and rng.random() < 0.7
        if not batched:
            x = self.vector(x, rng)
            if x.shape[0] < 2:
                x = self.lift(self.scalar(x, rng), self.n)
        if op == "nll_loss" and rng.random() < 0.5:
            x = make("log_softmax", [x], (-1,))
        classes = x.shape[-1]
        targets = tuple(rng.randrange(classes) for _ in range(x.shape[0])) if batched else rng.randrange(classes)
        options: dict = {"target": targets}
        reduction = rng.choice((None, "mean", "sum", "none"))
        if rng.random() < 0.4:
            weight = self.shaped(args[1], (classes,), rng)
            options["weight"] = self.positive(weight) if reduction in (None, "mean") else weight
        if rng.random() < 0.25:  # a class no target is, or (N >= 2) one that some but not all targets are
            used = set(targets) if batched else {targets}
            free = [k for k in range(-1, classes) if k not in used]
            options["ignore_index"] = rng.choice(free + (sorted(used) if len(used) > 1 else []))
        if reduction is not None:
            options["reduction"] = reduction
        if op == "cross_entropy" and rng.random() < 0.4:
            options["label_smoothing"] = rng.choice((0.1, 0.25, 0.5))
        return self.with_options(op, [x], options, rng)

    def _cosine_similarity(self, args: list[Expr], rng: random.Random) -> Expr:
        """cosine_similarity(a, b, dim) of vectors (dim 0 or -1) or of matrices of one shape (along either dim), every
        norm at least 0.1, far above eps (where the norm is clamped)."""
        a, b = self.small(args, rng)
        if len(a.shape) == 2 and b.shape == a.shape and rng.random() < 0.7:
            dim = rng.choice((0, 1, -1, -2))
        else:
            a = self.vector(a, rng)
            b = self.vector(b, rng, a.shape[0])
            dim = rng.choice((0, -1))
        a, b = (e if np.min(np.sum(e.value**2, axis=dim)) >= 0.01 else self.away(e, [0.0], 0.1) for e in (a, b))
        options: dict = {"dim": dim}
        if rng.random() < 0.3:
            options["eps"] = rng.choice((1e-6, 1e-3))
        return self.with_options("cosine_similarity", [a, b], options, rng)

    def _distance_options(self, rng: random.Random) -> dict:
        p = rng.choice((None, 1.0, 1.5, 3.0, 2.5, "inf"))
        return {} if p is None else {"p": p}

    def _pairwise_distance(self, args: list[Expr], rng: random.Random) -> Expr:
        """pairwise_distance(a, b) of vectors, or of rows broadcast: every element of a - b + eps MARGIN away from 0
        (the kink of p = 1, the infinite second derivative of p < 2, a zero distance) and, for p = 'inf', the two
        largest |a - b + eps| of each row apart."""
        a, b = self.fit(self.small(args, rng), rng)
        if a.shape == () and b.shape == ():
            a = self.lift(a, self.n)
        options = self._distance_options(rng)
        if rng.random() < 0.3:
            options["eps"] = rng.choice((0.0, 1e-3))
        if rng.random() < 0.3:
            options["keepdim"] = True
        eps, p = options.get("eps", 1e-6), options.get("p", 2.0)
        a = self.adjusted(a, lambda v: _apart(v - b.value + eps, p == "inf"), np.broadcast_shapes(a.shape, b.shape))
        return self.with_options("pairwise_distance", [a, b], options, rng)

    def _cdist(self, args: list[Expr], rng: random.Random) -> Expr:
        """cdist(A, B) of matrices with rows of one length: a vector made one row (1, n) or n points on a line
        (n, 1); every difference of coordinates MARGIN away from 0, no ties for p = 'inf'."""
        a, b = self.small(args, rng)
        if len(a.shape) != 2:
            a = make("reshape", [self.vector(a, rng)], rng.choice(((1, -1), (-1, 1))))
        columns = a.shape[1]
        if len(b.shape) != 2 or b.shape[1] != columns:
            b = make("reshape", [self.vector(b, rng) if columns == 1 else self.vector(b, rng, columns)], (-1, columns))
        options = self._distance_options(rng)
        p = options.get("p", 2.0)
        a = self.adjusted(a, lambda v: _apart(v[:, None, :] - b.value[None, :, :], p == "inf"))
        return self.with_options("cdist", [a, b], options, rng)

    def _layer_norm(self, args: list[Expr], rng: random.Random) -> Expr:
        """layer_norm(x, normalized_shape) over the last dim (or both of a matrix), of 2 or more elements that are
        not all equal (variance at least MARGIN); weight and bias (from the other children) and eps drawn."""
        (x,) = self.small(args[:1], rng)
        if x.value.size < 2:
            x = self.lift(self.scalar(x, rng), self.n)
        if len(x.shape) == 2 and (x.shape[1] < 2 or rng.random() < 0.3):
            normalized = x.shape
        else:
            normalized = x.shape[-1:]
        axes = tuple(range(len(x.shape) - len(normalized), len(x.shape)))
        x = self.adjusted(x, lambda v: np.min(np.var(v, axis=axes)) >= MARGIN)
        options: dict = {"normalized_shape": normalized[0] if len(normalized) == 1 and rng.random() < 0.3
                         else normalized}
        # weight, bias, or both
        choice = rng.random()
        if choice < 0.45:
            options["weight"] = self.shaped(args[1], normalized, rng)
        if 0.3 < choice < 0.75:
            options["bias"] = self.shaped(args[2], normalized, rng)
        if rng.random() < 0.3:
            options["eps"] = rng.choice((1e-6, 0.01, 0.5))
        return self.with_options("layer_norm", [x], options, rng)

    # -- nn family of issue 17: convolution, pooling, batch_norm and group_norm --

    def nn_input(self, e: Expr, shape: tuple, rng: random.Random) -> Expr:
        """e as a tensor of `shape`: its elements reshaped when their number fits, else a scalar of it lifted."""
        if e.value.size != math.prod(shape):
            e = self.lift(self.scalar(e, rng), math.prod(shape))
        return make("reshape", [e], shape)

    def flat_nn(self, op: str, operands: list[Expr], options: dict, rng: random.Random) -> Expr:
        """op(operands, options) flattened to a vector (or a scalar): shapes the other ops take."""
        out = self.with_options(op, operands, options, rng)
        return make("reshape", [out], (-1,)) if out.value.size > 1 else self.scalar(out, rng)

    def _conv(self, op: str, args: list[Expr], rng: random.Random) -> Expr:
        """conv1d of a 1 x 1 x 3 input and a 1 x 1 x 2 kernel, conv2d of 1 x 1 x 2 x 2 ones (sums of products);
        stride and padding drawn."""
        spatial, kernel = ((3,), (2,)) if op == "conv1d" else ((2, 2), (2, 2))
        x = self.nn_input(args[0], (1, 1, *spatial), rng)
        w = self.nn_input(args[1], (1, 1, *kernel), rng)
        options: dict = {}
        if rng.random() < 0.4:
            options["stride"] = 2
        if rng.random() < 0.4:
            options["padding"] = 1
        return self.flat_nn(op, [x, w], options, rng)

    def _conv1d(self, args: list[Expr], rng: random.Random) -> Expr:
        return self._conv("conv1d", args, rng)

    def _conv2d(self, args: list[Expr], rng: random.Random) -> Expr:
        return self._conv("conv2d", args, rng)

    def _pool(self, op: str, args: list[Expr], rng: random.Random) -> Expr:
        """A 2 (or 2 x 2) window pooled over a 1 x 1 x 3 (or 4) or 1 x 1 x 2 x 2 input; max_pool's window has its two
        largest elements MARGIN apart (off the ties, where the gradient jumps)."""
        spatial = (rng.choice((3, 4)),) if op.endswith("1d") else (2, 2)
        x = self.nn_input(args[0], (1, 1, *spatial), rng)
        if op.startswith("max"):
            def untied(v: np.ndarray) -> bool:
                windows = _windows(v, *_geometry(op, len(spatial), {"kernel_size": 2}, None))
                return all(np.diff(sorted(w))[-1] >= MARGIN for _, w in windows)
            x = self.adjusted(x, untied)
        options: dict = {"kernel_size": 2}
        if rng.random() < 0.3:
            options["stride"] = 2
        return self.flat_nn(op, [x], options, rng)

    def _avg_pool1d(self, args: list[Expr], rng: random.Random) -> Expr:
        return self._pool("avg_pool1d", args, rng)

    def _avg_pool2d(self, args: list[Expr], rng: random.Random) -> Expr:
        return self._pool("avg_pool2d", args, rng)

    def _max_pool1d(self, args: list[Expr], rng: random.Random) -> Expr:
        return self._pool("max_pool1d", args, rng)

    def _max_pool2d(self, args: list[Expr], rng: random.Random) -> Expr:
        return self._pool("max_pool2d", args, rng)

    def _batch_norm(self, args: list[Expr], rng: random.Random) -> Expr:
        """batch_norm(x, training=True) of a 3 x 1 or 2 x 2 (N, C) input: the batch's statistics per channel, each
        channel's variance at least MARGIN."""
        x = self.nn_input(args[0], rng.choice(((3, 1), (2, 2))), rng)
        x = self.adjusted(x, lambda v: np.min(np.var(v, axis=0)) >= MARGIN)
        options: dict = {"training": True}
        if rng.random() < 0.3:
            options["eps"] = rng.choice((1e-6, 0.01, 0.5))
        return self.flat_nn("batch_norm", [x], options, rng)

    def _group_norm(self, args: list[Expr], rng: random.Random) -> Expr:
        """group_norm(x, num_groups) of a 1 x 4 input in 1 or 2 groups, each group's variance at least MARGIN."""
        groups = rng.choice((1, 2))
        x = self.nn_input(args[0], (1, 4), rng)
        x = self.adjusted(x, lambda v: np.min(np.var(v.reshape(groups, -1), axis=1)) >= MARGIN)
        options: dict = {"num_groups": groups}
        if rng.random() < 0.3:
            options["eps"] = rng.choice((1e-6, 0.01, 0.5))
        return self.flat_nn("group_norm", [x], options, rng)

    # -- shape and indexing family of issue 17, the rest --

    def matrix(self, e: Expr, rng: random.Random) -> Expr:
        """e as a matrix: itself, or a vector made a row, a column or the outer product with a lifted scalar."""
        if len(e.shape) == 2:
            return e
        v = self.vector(e, rng)
        kind = rng.randrange(3)
        if kind == 2:
            return make("outer", [v, self.lift(self.scalar(v, rng), rng.choice((2, 3)))])
        return make("reshape", [v], ((1, -1), (-1, 1))[kind])

    def _squeeze(self, args: list[Expr], rng: random.Random) -> Expr:
        x = args[0] if len(args[0].shape) == 2 else self.vector(args[0], rng)
        if 1 not in x.shape:
            x = make("reshape", [x], rng.choice(((1, -1), (-1, 1))) if len(x.shape) == 1 else (1, -1))
        rank, options = len(x.shape), {}
        r = rng.random()
        if r < 0.4:
            options["dim"] = rng.randrange(-rank, rank)  # a dim of size 1, or not (then nothing changes)
        elif r < 0.6:
            options["dim"] = tuple(sorted(rng.sample(range(rank), rng.randint(1, rank))))
        return self.with_options("squeeze", [x], options, rng)

    def _unsqueeze(self, args: list[Expr], rng: random.Random) -> Expr:
        x = args[0] if len(args[0].shape) < 2 else self.vector(args[0], rng)
        return self.with_options("unsqueeze", [x], {"dim": rng.randrange(-len(x.shape) - 1, len(x.shape) + 1)}, rng)

    def _triangle(self, op: str, args: list[Expr], rng: random.Random) -> Expr:
        """tril, triu (a matrix) and diag (a vector to a matrix, or a matrix to a diagonal), diagonal -1, 0 or 1 where
        the result has elements."""
        x = self.matrix(args[0], rng) if op != "diag" or rng.random() < 0.4 else self.vector(args[0], rng)
        rows, columns = (x.shape + (x.shape[0],))[:2]
        options = {}
        k = rng.choice((None, -1, 0, 1))
        if k is not None and (op != "diag" or len(x.shape) == 1 or -rows < k < columns):
            options["diagonal"] = k
        return self.with_options(op, [x], options, rng)

    def _diagonal(self, args: list[Expr], rng: random.Random) -> Expr:
        x = self.matrix(args[0], rng)
        dims = rng.choice(((0, 1), (1, 0), (-2, -1), (-1, 0)))
        rows, columns = x.shape[dims[0]], x.shape[dims[1]]
        options = {"offset": rng.choice([k for k in (-1, 0, 1) if -rows < k < columns])}
        if dims != (0, 1) or rng.random() < 0.3:
            options.update(dim1=dims[0], dim2=dims[1])
        return self.with_options("diagonal", [x], options, rng)

    def _swapaxes(self, args: list[Expr], rng: random.Random) -> Expr:
        x = self.matrix(args[0], rng) if rng.random() < 0.8 else self.vector(args[0], rng)
        rank = len(x.shape)
        return self.with_options("swapaxes", [x], {"axis0": rng.randrange(-rank, rank),
                                                   "axis1": rng.randrange(-rank, rank)}, rng)

    def _repeat(self, args: list[Expr], rng: random.Random) -> Expr:
        x = args[0] if len(args[0].shape) <= 2 else self.scalar(args[0], rng)
        count = rng.randint(max(len(x.shape), 1), 2)
        return self.with_options("repeat", [x], {"sizes": tuple(rng.choice((1, 2)) for _ in range(count))}, rng)

    def _gather(self, args: list[Expr], rng: random.Random) -> Expr:
        """gather(x, dim, index=...) of a vector or a matrix; an index may repeat (the adjoint accumulates), and it
        may be shorter than x along the other dim."""
        x = args[0] if len(args[0].shape) in (1, 2) else self.vector(args[0], rng)
        rank = len(x.shape)
        dim = rng.randrange(rank)
        shape = [rng.randint(1, n) for n in x.shape]
        shape[dim] = rng.randint(1, 3)
        index = np.array([rng.randrange(x.shape[dim]) for _ in range(math.prod(shape))]).reshape(shape)
        return self.with_options("gather", [x], {"dim": dim - rank * rng.randrange(2), "index": _nested(index)}, rng)

    def _cross(self, args: list[Expr], rng: random.Random) -> Expr:
        """cross(a, b) of 3-vectors (lifted where needed), or along dim 0 of (3, 1) columns."""
        a, b = (self.vector(e, rng, 3) for e in args)
        options = {}
        if rng.random() < 0.3:
            a, b = (make("reshape", [e], (3, 1)) for e in (a, b))
            options["dim"] = rng.choice((0, -2))
        elif rng.random() < 0.3:
            options["dim"] = rng.choice((0, -1))
        return self.with_options("cross", [a, b], options, rng)

    def _trace(self, args: list[Expr], rng: random.Random) -> Expr:
        return make("trace", [self.matrix(args[0], rng)])

    def _kron(self, args: list[Expr], rng: random.Random) -> Expr:
        """kron of two vectors, or of two matrices with at most 16 elements together."""
        a, b = args
        if not (len(a.shape) == len(b.shape) == 2 and a.value.size * b.value.size <= 16) or rng.random() < 0.5:
            a, b = (self.vector(e, rng) for e in (a, b))
            a, b = (e if e.shape[0] <= 3 else self.lift(self.scalar(e, rng), self.n) for e in (a, b))
        return make("kron", [a, b])

    # -- internal ops, in the shapes the symbolic engine gives them --

    def _expand(self, args: list[Expr], rng: random.Random) -> Expr:
        x, like = args
        if like.shape == () and rng.random() < 0.7:
            like = self.lift(like, self.n)
        if _broadcastable(x.shape, like.shape) != like.shape:
            x = self.scalar(x, rng)
        return make("expand", [x, like])

    def _sum_to(self, args: list[Expr], rng: random.Random) -> Expr:
        g, like = args
        if g.shape == ():
            g = self.lift(g, self.n)
        if _broadcastable(g.shape, like.shape) != g.shape:
            like = self.scalar(like, rng)
        return make("sum_to", [g, like])

    def _unindex(self, args: list[Expr], rng: random.Random) -> Expr:
        v, like = args
        if like.shape == ():
            like = self.lift(like, self.n)
        attr = self._index_attr(like.shape, rng)
        target = np.zeros(like.shape)[_index_items(attr)].shape
        if _broadcastable(v.shape, target) != target:
            v = self.scalar(v, rng)
        return make("unindex", [v, like], attr)

    # -- constructors --

    def _constructor(self, op: str, rng: random.Random) -> Expr:
        n = self.n
        if op == "eye":
            return make("eye", (), (rng.choice((n, n, 2)),))
        return make(op, (), rng.choice(((n,), (n,), (n, n), (1,), (2, n), ())))


for _op in REDUCTIONS:
    setattr(Realizer, "_" + _op, lambda self, args, rng, _op=_op: self._reduce(_op, args, rng))
for _op in POINTWISE_LOSSES:
    setattr(Realizer, "_" + _op, lambda self, args, rng, _op=_op: self._pointwise_loss(_op, args, rng))
for _op in CLASS_LOSSES:
    setattr(Realizer, "_" + _op, lambda self, args, rng, _op=_op: self._class_loss(_op, args, rng))
for _op in ("tril", "triu", "diag"):
    setattr(Realizer, "_" + _op, lambda self, args, rng, _op=_op: self._triangle(_op, args, rng))


def realize_program(variables: dict[str, np.ndarray], n: int, bindings: list, body, choice: int,
                    prefix: str = "a", scalar_output: bool = True) -> Program:
    """The program text and tree for the blueprints at the point."""
    rng = random.Random(choice)
    realizer = Realizer({name: variable(name, v) for name, v in variables.items()}, n)
    named: list[tuple[str, Expr]] = []
    for i, blueprint in enumerate(bindings):
        body_expr = realizer.realize(blueprint)
        ref = Expr("ref", (body_expr,), None, body_expr.value, name=f"{prefix}{i}")
        named.append((ref.name, body_expr))
        realizer.refs.append(ref)
    output = realizer.realize(body)
    # every binding used at least twice (by later bindings or the output)
    for ref in realizer.refs:
        while _uses(ref, [b for _, b in named] + [output]) < 2:
            output = realizer.apply(rng.choice(("add", "mul", "sub")), [output, ref], rng)
    if not _variables([output]):  # something to differentiate
        variable_ = rng.choice(list(realizer.variables.values()))
        output = realizer.apply(rng.choice(("add", "mul")), [output, variable_], rng)
    if scalar_output or output.value.size > 4:
        while output.shape != ():
            output = realizer.apply(rng.choice(REDUCTIONS + ("sum", "sum")), [output], rng)
    return program_of(output, variables, named)


# torch 2.13's double backward of these is wrong at some points where gradcheck's symbolic Hessian and sympy's
# agree: logcumsumexp gives NaN (found by test_hessians_agree_with_sympy when it was exempt), and a wrong number
# (d2/dy2 0.013803 for 0.013296 of norm(amax(logcumsumexp(qr(A(y), part='R'), dim=1), -2)), A(y) a wide 2 x 3
# matrix; torch agrees with sympy with log(cumsum(exp(...))) in its place; gradcheck reports autograd failing
# there).  torch's Hessian of a program with one of them is not compared
TORCH_HESSIAN_WRONG = frozenset({"logcumsumexp"})


def torch_hessian_unreliable(program: Program) -> bool:
    return any(e.op in TORCH_HESSIAN_WRONG for e in _unique_nodes([program.output]))


def torch_has_no_hessian(program: Program) -> bool:
    """Whether the program uses an op of NO_DOUBLE_BACKWARD (gradcheck reports torch's Hessian as None)."""
    return any(e.op in NO_DOUBLE_BACKWARD for e in _unique_nodes([program.output]))


def _jsonable(value):
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array.tolist()


def _uses(ref: Expr, roots: list[Expr]) -> int:
    """How often the binding's name occurs in the text of the roots."""
    count, stack = 0, list(roots)
    while stack:
        e = stack.pop()
        if e is ref:
            count += 1
        elif e.op != "ref":
            stack.extend(e.args)
    return count


def _unique_nodes(roots: list[Expr]):
    """Each node of the trees once (shared subtrees and bindings included)."""
    seen, stack = set(), list(roots)
    while stack:
        e = stack.pop()
        if id(e) not in seen:
            seen.add(id(e))
            yield e
            stack.extend(e.args)


def _variables(roots: list[Expr]) -> set[str]:
    return {e.name for e in _unique_nodes(roots) if e.op == "var"}


def ops_of(roots: list[Expr]) -> set[str]:
    """The GEN_OPS names occurring in the trees (through bindings)."""
    return {e.op for e in _unique_nodes(roots) if e.op in GEN_OPS}


# ---- rendering to gradcheck's syntax --------------------------------------------------------------------


def format_number(v: float) -> str:
    if v == math.pi:
        return "pi"
    if v == math.e:
        return "e"
    return repr(v) if v >= 0 else f"(-{repr(-v)})"


def _atomic(e: Expr) -> bool:
    if e.op == "const":
        return True  # a negative number is printed in parentheses
    if e.op in INFIX and e.style == "":
        return False
    return e.op != "neg"


def render(e: Expr) -> str:
    if e.op == "var" or e.op == "ref":
        return e.name
    if e.op == "const":
        return format_number(e.attr)

    def wrapped(a: Expr) -> str:
        return render(a) if _atomic(a) else f"({render(a)})"

    args = e.args
    if e.op in INFIX and e.style == "":
        return f"{wrapped(args[0])} {INFIX[e.op]} {wrapped(args[1])}"
    if e.op == "neg":
        return f"-{wrapped(args[0])}"
    if e.op == "transpose" and e.style == "":
        operand = args[0]
        return f"({render(operand)}).T" if operand.op == "const" else f"{wrapped(operand)}.T"
    if e.op == "index":
        operand = args[0]
        tuple_call = operand.op in OPS and torch_tuple_parts(OPS[operand.op])  # qr(A)[0] would be torch's Q
        text = f"({render(operand)})" if operand.op == "const" or tuple_call else wrapped(operand)
        return f"{text}[{format_index(e.attr)}]"
    name = {"matmul": "dot" if e.style == "alias" else "matmul",
            "amax": "max" if e.style == "alias" else "amax",
            "amin": "min" if e.style == "alias" else "amin", "variance": "var", "sum_dims": "sum",
            "mean_dims": "mean", "amax_dims": "amax", "amin_dims": "amin", "max_dim": "max", "min_dim": "min",
            "cross_entropy_probs": "cross_entropy"}.get(e.op, e.op)
    texts = [render(a) for a in args]
    if e.op == "unindex":
        texts.append(f"[{format_index(e.attr)}]")
    elif e.attr and isinstance(e.attr[0], tuple):  # options: the first e.positional by position, then name=value
        texts = texts[: len(args) - sum(value is OPERAND for _, value in e.attr)]
        tensors = iter(args[len(texts):])
        for i, (key, value) in enumerate(e.attr):
            text = render(next(tensors)) if value is OPERAND else format_option(value)
            texts.append(text if i < e.positional else f"{key}={text}")
    elif e.attr is not None:  # torch.norm's second positional argument is p: its dim is written by name
        texts += [f"dim={int(d)}" if e.op == "norm" else str(int(d)) for d in e.attr]
    return f"{name}({', '.join(texts)})"


# ---- Hypothesis strategies --------------------------------------------------------------------------------

CHOICE = st.integers(0, 2**24)
SHARE_WEIGHT = 4  # `share` is drawn as often as four ops together
_NAMES = sorted(n for n, arity in GEN_OPS.items() if arity > 0) + ["share"] * SHARE_WEIGHT
_CONSTRUCTORS = sorted(n for n, arity in GEN_OPS.items() if arity == 0)


def _arity(name: str) -> int:
    return 1 if name == "share" else GEN_OPS[name]



GROUPS: dict[int, list[str]] = {}  # blueprint arity -> names
for _name in _NAMES:
    GROUPS.setdefault(_arity(_name), []).append(_name)


def _extend(children):
    """One inner node over `children`.  The arity is drawn in proportion to the number of names that
    take it; the op is then names[k % len(names)] for the node's integer k (about uniform)."""
    branches = {arity: st.tuples(st.just(arity), CHOICE, st.tuples(*[children] * arity)) for arity in GROUPS}
    return st.sampled_from([_arity(name) for name in _NAMES]).flatmap(branches.__getitem__)


_LEAF = st.tuples(st.sampled_from(["leaf"] * 6 + _CONSTRUCTORS), CHOICE, st.just(()))
# Every op can be the root of a program's body, drawn uniformly: whatever Hypothesis does with the
# integers deeper down, each op is the focus of about 1/len(ROOTS) of the programs.
ROOTS = sorted(GEN_OPS) + ["share"]


@functools.cache
def blueprints(max_leaves: int = 6, root: str | None = None):
    """Trees of (kind, integer, children): kind is an op name, an arity (see `_extend`), "share", "leaf"
    or a constructor.  The root is `root`, or drawn uniformly from ROOTS.  Built once per size and
    root (strategies are costly to build and validate)."""
    trees = st.recursive(_LEAF, _extend, max_leaves=max_leaves)
    # st.recursive favours small trees: the root is an op, and half of the time its children are too
    children = st.one_of(trees, _extend(trees))
    by_root = {name: st.tuples(st.just(name), CHOICE, st.tuples(*[children] * _arity(name)))
               for name in ([root] if root else ROOTS)}
    return by_root[root] if root else st.sampled_from(ROOTS).flatmap(by_root.__getitem__)


VALUE = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def points(draw, vectors: bool = True, max_variables: int = 3):
    """({name: value}, n): 1 to max_variables variables, scalars or vectors of one length n (2 or 3)."""
    n = draw(st.sampled_from((2, 3)))
    count = draw(st.integers(1, max_variables))
    variables = {}
    for name in ("x", "y", "z")[:count]:
        vector = vectors and draw(st.booleans())
        variables[name] = np.array(draw(st.lists(VALUE, min_size=n, max_size=n)) if vector else draw(VALUE))
    return variables, n


@functools.cache
def _binding_lists(max_leaves: int):
    return st.lists(blueprints(max_leaves), max_size=2)


@st.composite
def programs(draw, vectors: bool = True, max_variables: int = 3, scalar_output: bool = True, point=None,
             prefix: str = "a", max_leaves: int = 6, root: str | None = None):
    """A Program: `point` (from `points`) or a fresh one, 0 to 2 bindings and a body with root `root`
    (default: any)."""
    variables, n = point if point is not None else draw(points(vectors, max_variables))
    bindings = draw(_binding_lists(max(2, max_leaves // 2)))
    body = draw(blueprints(max_leaves, root))
    return realize_program(variables, n, bindings, body, draw(CHOICE), prefix, scalar_output)


# ---- sympy translation ----------------------------------------------------------------------------------


class Detach(sympy.Function):
    """detach(x): the value of x, with zero derivative."""

    @classmethod
    def eval(cls, arg):
        if not arg.free_symbols:  # a number, or a constant such as pi/2 once the point is substituted
            return arg

    def fdiff(self, argindex=1):
        return sympy.Integer(0)


SYMPY_ELEMENTWISE: dict[str, Callable] = {
    "neg": lambda a: -a, "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "asin": sympy.asin,
    "acos": sympy.acos, "atan": sympy.atan, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
    "exp": sympy.exp, "expm1": lambda a: sympy.exp(a) - 1, "log": sympy.log, "log1p": lambda a: sympy.log(1 + a),
    "sqrt": sympy.sqrt,
    "sigmoid": lambda a: 1 / (1 + sympy.exp(-a)), "softplus": lambda a: sympy.log(1 + sympy.exp(a)),
    "detach": Detach,
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "pow": sympy.Pow,
    # elementwise family of issue 17
    "exp2": lambda a: 2**a, "log2": lambda a: sympy.log(a) / sympy.log(2),
    "log10": lambda a: sympy.log(a) / sympy.log(10),
    "reciprocal": lambda a: 1 / a, "rsqrt": lambda a: 1 / sympy.sqrt(a), "square": lambda a: a**2,
    "sinc": lambda a: sympy.sinc(sympy.pi * a), "erf": sympy.erf, "erfc": sympy.erfc,
    "erfinv": sympy.erfinv, "lgamma": sympy.loggamma, "digamma": sympy.digamma,
    "atan2": sympy.atan2, "hypot": lambda a, b: sympy.sqrt(a**2 + b**2), "xlogy": lambda a, b: a * sympy.log(b),
}

# Piecewise ops.  The generator keeps every switching quantity (x for abs, a - b for max and the
# comparisons, x - lo and x - hi for clamp, the condition of where, the gap between the two largest
# elements for amax) at least 0.05 away from 0, so each such op equals one smooth branch in a
# neighbourhood of the point, and derivatives of any order are the branch's.  The branch is picked from
# the arguments' float64 values at the point (far from the switch, so the pick is certain); sympy
# differentiates it.  (sympy's Max, Min and Piecewise of large expressions are very slow to build.)
# Each rule gets (sympy arguments, their values) and returns the active branch.
ONE, ZERO = sympy.Integer(1), sympy.Integer(0)
SYMPY_PIECEWISE: dict[str, Callable] = {
    "relu": lambda a, va: a if va > 0 else ZERO,
    "abs": lambda a, va: a if va > 0 else -a,
    "sign": lambda a, va: ONE if va > 0 else -ONE,
    # rounding family: constant on the piece around the point (frac: x minus one)
    "floor": lambda a, va: sympy.Integer(int(np.floor(va))),
    "ceil": lambda a, va: sympy.Integer(int(np.ceil(va))),
    "round": lambda a, va: sympy.Integer(int(np.round(va))),
    "trunc": lambda a, va: sympy.Integer(int(np.trunc(va))),
    "frac": lambda a, va: a - sympy.Integer(int(np.trunc(va))),
    "fmod": lambda a, b, va, vb: a - b * sympy.Integer(math.trunc(va / vb)),
    "remainder": lambda a, b, va, vb: a - b * sympy.Integer(math.floor(va / vb)),
    "max": lambda a, b, va, vb: a if va > vb else b,
    "min": lambda a, b, va, vb: a if va < vb else b,
    "maximum": lambda a, b, va, vb: a if va > vb else b,
    "minimum": lambda a, b, va, vb: a if va < vb else b,
    "gt": lambda a, b, va, vb: ONE if va > vb else ZERO,
    "ge": lambda a, b, va, vb: ONE if va >= vb else ZERO,
    "lt": lambda a, b, va, vb: ONE if va < vb else ZERO,
    "le": lambda a, b, va, vb: ONE if va <= vb else ZERO,
    "eq": lambda a, b, va, vb: ONE if va == vb else ZERO,
    "ne": lambda a, b, va, vb: ONE if va != vb else ZERO,
    # clamp(x, lo, hi) = min(max(x, lo), hi), as numpy and torch compute it (hi wins when lo > hi)
    "clamp": lambda x, lo, hi, vx, vlo, vhi: hi if vhi < max(vx, vlo) else (lo if vlo > vx else x),
    "where": lambda c, a, b, vc, va, vb: a if vc != 0 else b,
}


def _sympy_exponential_unit(alpha, input_scale=ONE, scale=ONE):
    return lambda a, va: scale * (a if va > 0 else alpha * (sympy.exp(input_scale * a) - 1))


def _sympy_gelu(o):
    if o.get("approximate", "none") == "tanh":
        kappa = exact(0.044715)
        return lambda a, va: a * (1 + sympy.tanh(sympy.sqrt(2 / sympy.pi) * (a + kappa * a**3))) / 2
    return lambda a, va: a * (1 + sympy.erf(a / sympy.sqrt(2))) / 2


def _sympy_clamp(lo, hi):
    return lambda a, va: lo if va < lo else (hi if va > hi else a)


# activations family of issue 17: options dict -> the active branch (a, its value)
SYMPY_ACTIVATIONS: dict[str, Callable] = {
    "gelu": _sympy_gelu,
    "elu": lambda o: _sympy_exponential_unit(exact(o.get("alpha", 1.0))),
    "celu": lambda o: _sympy_exponential_unit(exact(o.get("alpha", 1.0)), 1 / exact(o.get("alpha", 1.0))),
    "selu": lambda o: _sympy_exponential_unit(exact(SELU_ALPHA), ONE, exact(SELU_SCALE)),
    "silu": lambda o: lambda a, va: a / (1 + sympy.exp(-a)),
    "mish": lambda o: lambda a, va: a * sympy.tanh(sympy.log(1 + sympy.exp(a))),
    "logsigmoid": lambda o: lambda a, va: -sympy.log(1 + sympy.exp(-a)),
    "hardtanh": lambda o: _sympy_clamp(exact(o.get("min_val", -1.0)), exact(o.get("max_val", 1.0))),
    "hardswish": lambda o: lambda a, va: ZERO if va < -3 else (a if va > 3 else a * (a + 3) / 6),
    "hardsigmoid": lambda o: lambda a, va: ZERO if va < -3 else (ONE if va > 3 else a / 6 + sympy.Rational(1, 2)),
    "softsign": lambda o: lambda a, va: a / (1 + a) if va > 0 else a / (1 - a),
}


def _sympy_logit(eps):
    """logit's active branch: log(x/(1 - x)), or the constant logit(eps) or logit(1 - eps) outside the clamp."""
    def rule(a, va):
        if eps is not None and not eps <= va <= 1 - eps:
            z = exact(eps) if va < eps else 1 - exact(eps)
            return sympy.log(z / (1 - z))
        return sympy.log(a / (1 - a))

    return rule


def _piecewise(rule, arrays: list[np.ndarray], values: list[np.ndarray]) -> np.ndarray:
    shape = np.broadcast_shapes(*[a.shape for a in arrays])
    arrays = [np.broadcast_to(a, shape) for a in arrays]
    values = [np.broadcast_to(v, shape) for v in values]
    out = _objects(shape)
    for i in np.ndindex(shape):
        out[i] = rule(*[a[i] for a in arrays], *[float(v[i]) for v in values])
    return out


def _extremum(x: np.ndarray, values: np.ndarray, attr, pick) -> np.ndarray:
    """amax / amin: the element the values say is largest (smallest), along an axis or over all."""
    if attr is None:
        out = _objects(())
        out[()] = x.reshape(-1)[pick(values.reshape(-1))]
        return out
    moved, moved_values = np.moveaxis(x, attr[0], -1), np.moveaxis(values, attr[0], -1)
    out = _objects(moved.shape[:-1])
    for i in np.ndindex(out.shape):
        out[i] = moved[i][pick(moved_values[i])]
    return out


def _objects(shape) -> np.ndarray:
    return np.empty(shape, dtype=object)


def _elementwise(f, *arrays) -> np.ndarray:
    shape = np.broadcast_shapes(*[a.shape for a in arrays])
    arrays = [np.broadcast_to(a, shape) for a in arrays]
    out = _objects(shape)
    for i in np.ndindex(shape):
        out[i] = f(*[a[i] for a in arrays])
    return out


def _reduce(f, x: np.ndarray, attr) -> np.ndarray:
    """f(list of elements) over all elements (attr None) or along one axis."""
    if attr is None:
        out = _objects(())
        out[()] = f(list(x.reshape(-1)))
        return out
    moved = np.moveaxis(x, attr[0], -1)
    out = _objects(moved.shape[:-1])
    for i in np.ndindex(out.shape):
        out[i] = f(list(moved[i]))
    return out


def _axiswise(f, x: np.ndarray, attr) -> np.ndarray:
    """f(list of elements) -> list, along one axis (default: the last); a scalar is its own slice."""
    if x.shape == ():
        out = _objects(())
        out[()] = f([x[()]])[0]
        return out
    axis = -1 if attr is None else attr[0]
    moved = np.moveaxis(x, axis, -1)
    out = _objects(moved.shape)
    for i in np.ndindex(moved.shape[:-1]):
        for j, v in enumerate(f(list(moved[i]))):
            out[i + (j,)] = v
    return np.moveaxis(out, -1, axis)


def _sympy_statistic(x: np.ndarray, o: dict, root: bool) -> np.ndarray:
    """var (std with root) over the dims of o (default all), with its correction and keepdim."""
    dims = tuple(range(x.ndim)) if o.get("dim") is None else tuple(d % max(x.ndim, 1) for d in o["dim"])
    dims = dims if x.ndim else ()
    rest = tuple(d for d in range(x.ndim) if d not in dims)
    moved = np.transpose(x, rest + dims).reshape(tuple(x.shape[d] for d in rest) + (-1,))
    out = _objects(moved.shape[:-1])
    for i in np.ndindex(out.shape):
        xs = list(moved[i])
        mean = sympy.Add(*xs) / len(xs)
        v = sympy.Add(*[(u - mean) ** 2 for u in xs]) / (len(xs) - o.get("correction", 1))
        out[i] = sympy.sqrt(v) if root else v
    if o.get("keepdim", False):
        out = out.reshape(tuple(1 if d in dims else n for d, n in enumerate(x.shape)))
    return out


def _sympy_over_dims(op: str, x: np.ndarray, values: np.ndarray, o: dict) -> np.ndarray:
    """sum, mean, amax, amin over the dims of o (default all), with keepdim; the extremum is the element the values
    say (no ties: the generator keeps them apart)."""
    dims = _dims_axes(values, o)
    rest = tuple(d for d in range(x.ndim) if d not in dims)
    shape = tuple(x.shape[d] for d in rest) + (-1,)
    moved, moved_values = np.transpose(x, rest + dims).reshape(shape), np.transpose(values, rest + dims).reshape(shape)
    out = _objects(moved.shape[:-1])
    for i in np.ndindex(out.shape):
        xs = list(moved[i])
        if op == "sum_dims":
            out[i] = sympy.Add(*xs)
        elif op == "mean_dims":
            out[i] = sympy.Add(*xs) / len(xs)
        else:
            out[i] = xs[int((np.argmax if op in ("amax_dims", "max_dim") else np.argmin)(moved_values[i]))]
    if o.get("keepdim", False):
        out = out.reshape(tuple(1 if d in dims else n for d, n in enumerate(x.shape)))
    return out


def _sympy_sorted(x: np.ndarray, values: np.ndarray, o: dict) -> np.ndarray:
    """sort / topk: the elements in the order their values give (no ties: the generator keeps them apart)."""
    if x.shape == ():
        return x
    dim, k = o.get("dim", -1), o.get("k")
    descending = o.get("descending", False) or (k is not None and o.get("largest", True))
    order = np.argsort(-values if descending else values, axis=dim, kind="stable")
    order = order if k is None else np.take(order, np.arange(k), axis=dim)
    return np.take_along_axis(x, order, axis=dim)


def _running(f):
    return lambda xs: [f(xs[: k + 1]) for k in range(len(xs))]


SYMPY_SCANS = {
    "cumsum": _running(lambda xs: sympy.Add(*xs)),
    "cumsum_reverse": lambda xs: [sympy.Add(*xs[k:]) for k in range(len(xs))],
    "cumprod": _running(lambda xs: sympy.Mul(*xs)),
    "logcumsumexp": _running(lambda xs: sympy.log(sympy.Add(*[sympy.exp(v) for v in xs]))),
}


def _softmax_list(xs):
    total = sympy.Add(*[sympy.exp(v) for v in xs])
    return [sympy.exp(v) / total for v in xs]


def _log_softmax_list(xs):
    lse = sympy.log(sympy.Add(*[sympy.exp(v) for v in xs]))
    return [v - lse for v in xs]


# nn family of issue 17: each takes (the arguments' sympy arrays, their values, the attribute); a branch (|d|, the
# largest element for p = 'inf', a norm above eps) is the one the values say (the generator keeps them MARGIN away)


def _scalar_objects(value) -> np.ndarray:
    out = _objects(())
    out[()] = value
    return out


def _sympy_loss_term(op: str, o: dict) -> Callable:
    """One element of a pointwise loss (but binary_cross_entropy_with_logits) on the branch around the point."""
    width = exact(o.get("beta" if op == "smooth_l1_loss" else "delta", 1.0))

    def term(a, b, va, vb):
        d, vd = a - b, va - vb
        size = d if vd > 0 else -d
        if op == "mse_loss":
            return d**2
        if op == "l1_loss" or (op == "smooth_l1_loss" and width == 0):
            return size
        if op == "smooth_l1_loss":
            return d**2 / (2 * width) if abs(vd) < width else size - width / 2
        if op == "huber_loss":
            return d**2 / 2 if abs(vd) < width else width * (size - width / 2)
        if op == "kl_div":
            return sympy.exp(b) * (b - a) if o.get("log_target", False) else b * (sympy.log(b) - a)
        return -(b * sympy.log(a) + (1 - b) * sympy.log(1 - a))

    return term


def _sympy_pointwise_loss(op: str, args: list, values: list, attr) -> np.ndarray:
    (x, t), given, o = _operands([*args, attr], 2)
    if op == "binary_cross_entropy_with_logits":  # -log(sigmoid(a)) = log(1 + exp(-a)), -log(1 - sigmoid(a)) = ...
        def term(a, b, w):
            return w * b * sympy.log(1 + sympy.exp(-a)) + (1 - b) * sympy.log(1 + sympy.exp(a))

        loss = _elementwise(term, x, t, given.get("pos_weight", _scalar_objects(ONE)))
    else:
        loss = _piecewise(_sympy_loss_term(op, o), [x, t], values[:2])
    weight = given.get("weight")
    shape = np.broadcast_shapes(*[a.shape for a in args])
    loss = np.broadcast_to(loss if weight is None else _elementwise(lambda u, w: u * w, loss, weight), shape)
    reduction = o.get("reduction", "mean")
    if reduction == "none":
        return np.array(loss, dtype=object)
    total = sympy.Add(*loss.reshape(-1))
    if reduction == "batchmean":
        total = total / (x.shape[0] if x.ndim else 1)
    elif reduction == "mean" and weight is not None and op in ("mse_loss", "l1_loss"):
        total = total / sympy.Add(*weight.reshape(-1))
    elif reduction == "mean":
        total = total / loss.size
    return _scalar_objects(total)


def _sympy_class_loss(op: str, args: list, values: list, attr) -> np.ndarray:
    (x,), given, o = _operands([*args, attr], 1)
    batched = x.ndim == 2
    weight = given.get("weight")
    losses, totals = _class_losses(op, [list(r) for r in (x if batched else [x])],
                                   o["target"] if batched else (o["target"],), None if weight is None else list(weight),
                                   o, _log_softmax_list, exact)
    losses = [sympy.sympify(v) for v in losses]
    reduction = o.get("reduction", "mean")
    if reduction == "none":
        if not batched:
            return _scalar_objects(losses[0])
        out = _objects((len(losses),))
        out[:] = losses
        return out
    total = sympy.Add(*losses)
    return _scalar_objects(total if reduction == "sum" else total / sympy.Add(*totals))


def _sympy_p_norm(ds: list, vds: list, p) -> sympy.Expr:
    """The p-norm of elements (|d| on the branch of the point; p = 'inf': the largest)."""
    sizes = [d if v > 0 else -d for d, v in zip(ds, vds)]
    if p == "inf" or len(sizes) == 1:  # the largest; one element is its own norm (sympy keeps (d**p)**(1/p))
        return sizes[int(np.argmax(np.abs(vds)))]
    q = sympy.Rational(p)
    return sympy.Add(*[s**q for s in sizes]) ** (1 / q)


def _sympy_cosine_similarity(args: list, values: list, attr) -> np.ndarray:
    o = dict(attr or ())
    dim, eps = o.get("dim", 1), o.get("eps", 1e-8)
    (a, b), (va, vb) = np.broadcast_arrays(*args), np.broadcast_arrays(*values)
    a, b, va, vb = (np.moveaxis(v, dim, -1) for v in (a, b, va, vb))
    out = _objects(a.shape[:-1])
    for i in np.ndindex(out.shape):
        norms = [sympy.sqrt(sympy.Add(*[u**2 for u in v[i]])) if np.linalg.norm(vv[i]) > eps else exact(eps)
                 for v, vv in ((a, va), (b, vb))]
        out[i] = sympy.Add(*[u * w for u, w in zip(a[i], b[i])]) / (norms[0] * norms[1])
    return out


def _sympy_pairwise_distance(args: list, values: list, attr) -> np.ndarray:
    o = dict(attr or ())
    eps = o.get("eps", 1e-6)
    d = _elementwise(lambda u, w: u - w + exact(eps), *args)
    vd = values[0] - values[1] + eps
    out = _objects(d.shape[:-1])
    for i in np.ndindex(out.shape):
        out[i] = _sympy_p_norm(list(d[i]), list(vd[i]), o.get("p", 2.0))
    return out[..., None] if o.get("keepdim", False) else out


def _sympy_cdist(args: list, values: list, attr) -> np.ndarray:
    (a, b), (va, vb) = args, values
    out = _objects((a.shape[0], b.shape[0]))
    for i, j in np.ndindex(out.shape):
        out[i, j] = _sympy_p_norm(list(a[i] - b[j]), list(va[i] - vb[j]), dict(attr or ()).get("p", 2.0))
    return out


def _sympy_layer_norm(args: list, values: list, attr) -> np.ndarray:
    (x,), given, o = _operands([*args, attr], 1)
    size = math.prod(_normalized_shape(o))
    rows = x.reshape((-1, size))
    out = _objects(rows.shape)
    eps = exact(o.get("eps", 1e-5))
    for i, row in enumerate(rows):
        mean = sympy.Add(*row) / size
        root = sympy.sqrt(sympy.Add(*[(u - mean) ** 2 for u in row]) / size + eps)
        for j, u in enumerate(row):
            out[i, j] = (u - mean) / root
    out = out.reshape(x.shape)
    out = _elementwise(lambda u, w: u * w, out, given["weight"]) if "weight" in given else out
    return _elementwise(lambda u, c: u + c, out, given["bias"]) if "bias" in given else out


def _sympy_nn(op: str, args: list, values: list, attr) -> np.ndarray:
    """The same formulas on sympy elements; max_pool takes the window's largest element at the point (its active
    branch: the realizer keeps the two largest of each window MARGIN apart)."""
    o = dict(attr or ())
    x = args[0]
    if op in ("batch_norm", "group_norm"):
        return nn_normalized(x, nn_groups(op, x.shape, o), sympy.sqrt, exact(o.get("eps", 1e-5)))
    if op in CONV_OPS:
        return nn_window_op(op, x, args[1], o)
    windows = _windows(values[0], *_geometry(op, x.ndim - 2, o, None))
    largest = iter([int(np.argmax(window)) for _, window in windows])
    return nn_window_op(op, x, None, o, pick=lambda window: window[next(largest)])


SYMPY_NN: dict[str, Callable] = {
    **{op: functools.partial(_sympy_nn, op) for op in CONV_OPS + POOL_OPS + ("batch_norm", "group_norm")},
    **{op: functools.partial(_sympy_pointwise_loss, op) for op in POINTWISE_LOSSES},
    **{op: functools.partial(_sympy_class_loss, op) for op in CLASS_LOSSES},
    "cross_entropy_probs": lambda args, values, attr: probability_loss(args, attr, _log_softmax_list, exact,
                                                                       _object_array),
    "cosine_similarity": _sympy_cosine_similarity, "pairwise_distance": _sympy_pairwise_distance,
    "cdist": _sympy_cdist, "layer_norm": _sympy_layer_norm,
}


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    out = _objects((a2.shape[0], b2.shape[1]))
    for i in range(a2.shape[0]):
        for j in range(b2.shape[1]):
            out[i, j] = sympy.Add(*[a2[i, k] * b2[k, j] for k in range(a2.shape[1])])
    shape = a.shape[:-1] + b.shape[1:]
    return out.reshape(shape)


def _sympy_sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    lead = g.ndim - len(shape)
    for _ in range(lead):
        g = _reduce(lambda xs: sympy.Add(*xs), g, (0,))
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = np.expand_dims(_reduce(lambda xs: sympy.Add(*xs), g, (i,)), i)
    return g


SYMPY_REDUCE = {
    "sum": lambda xs: sympy.Add(*xs),
    "mean": lambda xs: sympy.Add(*xs) / len(xs),
    "prod": lambda xs: sympy.Mul(*xs),
    "norm": lambda xs: sympy.sqrt(sympy.Add(*[v**2 for v in xs])),
    "logsumexp": lambda xs: sympy.log(sympy.Add(*[sympy.exp(v) for v in xs])),
}


def exact(v: float) -> sympy.Float:
    """The exact binary value of a float64, as a sympy number."""
    return sympy.Float(float(v), 60)


def variable_symbols(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """name -> object array of real symbols (x, or x_0, x_1, ... for a vector)."""
    out = {}
    for name, value in arrays.items():
        symbols = _objects(value.shape)
        for i in np.ndindex(value.shape):
            symbols[i] = sympy.Symbol(name if not i else f"{name}_{'_'.join(map(str, i))}", real=True)
        out[name] = symbols
    return out


# ---- linear algebra family of issue 17: sympy's matrices, and closed forms for the 2 x 2 eigenproblems ----


def _eigh2(s, sqrt, decisions=None):
    """Eigenvalues (ascending) and unit eigenvectors (columns, each signed so that its entry of largest magnitude is
    positive) of a symmetric 2 x 2 matrix s, in closed form.  The branch taken at the point (which of two parallel
    vectors is normalized, its sign) is in `decisions`; None: s is numeric, and they are computed and returned."""
    a, b, d = s[0][0], s[0][1], s[1][1]
    m, r = (a + d) / 2, sqrt(((a - d) / 2) ** 2 + b**2)
    values, vectors, taken = [m - r, m + r], [], []
    for k, lam in enumerate(values):
        candidates = [(b, lam - a), (lam - d, b)]
        if decisions is None:
            pick = int(abs(candidates[1][0]) + abs(candidates[1][1]) > abs(candidates[0][0]) + abs(candidates[0][1]))
            p, q = candidates[pick]
            sign = 1.0 if (p if abs(p) >= abs(q) else q) > 0 else -1.0
            taken.append((pick, sign))
        pick, sign = (decisions or taken)[k]
        p, q = candidates[pick]
        norm = sqrt(p * p + q * q)
        vectors.append((sign * p / norm, sign * q / norm))
    return values, np.array([[vectors[0][0], vectors[1][0]], [vectors[0][1], vectors[1][1]]], dtype=object), taken


def _svd2(a, sqrt, decisions=None):
    """(S descending, U, Vh) of a matrix with min(shape) = 2, through the 2 x 2 eigenproblem of its Gram matrix,
    U's columns in the gauge of svd (largest entry positive), V's with them; decisions as _eigh2's."""
    tall = a.shape[0] >= a.shape[1]
    gram = a.T @ a if tall else a @ a.T
    values, vectors, taken = _eigh2(gram, sqrt, None if decisions is None else decisions[0])
    sigma = [sqrt(values[1]), sqrt(values[0])]
    first = [vectors[:, 1], vectors[:, 0]]
    second = [(a @ v if tall else a.T @ v) / s for v, s in zip(first, sigma)]
    u, v = (second, first) if tall else (first, second)
    signs = [float(_gauge(np.array([c], dtype=np.float64).T)[0]) for c in u] if decisions is None else decisions[1]
    u = np.stack([c * s for c, s in zip(u, signs)], axis=1)
    v = np.stack([c * s for c, s in zip(v, signs)], axis=1)
    return np.array(sigma, dtype=object), u, v.T, (taken, signs)


def _gram_schmidt(a: np.ndarray, signs) -> tuple[np.ndarray, np.ndarray]:
    """(Q, R) of the reduced QR of a (k = min(m, n) columns of Q), R's rows signed by `signs` (LAPACK's, at the
    point) and Q's columns with them; R's entries below the diagonal exactly 0."""
    m, n = a.shape
    k = min(m, n)
    columns = []
    for j in range(k):
        w = a[:, j]
        for q in columns:
            w = w - (q @ a[:, j]) * q
        columns.append(w / sympy.sqrt(w @ w))
    q = np.stack([c * int(s) for c, s in zip(columns, signs)], axis=1)
    r = q.T @ a
    for i, j in np.ndindex(r.shape):
        if i > j:
            r[i, j] = sympy.Integer(0)
    return q, r


def _matrix(a: np.ndarray) -> sympy.Matrix:
    return sympy.Matrix(a.tolist())


def _array(m: sympy.Matrix) -> np.ndarray:
    out = _objects(m.shape)
    for i in np.ndindex(m.shape):
        out[i] = m[i]
    return out


def _inverse2(a: np.ndarray) -> np.ndarray:
    """The inverse of a 2 x 2 object array, adj(A)/det(A), written out (sympy's Matrix.inv tests its pivots for
    zero, which takes seconds on large expressions)."""
    det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
    return np.array([[a[1, 1], -a[0, 1]], [-a[1, 0], a[0, 0]]], dtype=object) / det


def _sympy_matrix_exp(a: np.ndarray) -> np.ndarray:
    """exp(A) of a 2 x 2 A with real distinct eigenvalues: e^m (cosh(r) I + sinh(r)/r (A - m I)), m = tr(A)/2,
    r^2 = ((a - d)/2)^2 + bc > 0 (the generator's A has it)."""
    m = (a[0, 0] + a[1, 1]) / 2
    r = sympy.sqrt(((a[0, 0] - a[1, 1]) / 2) ** 2 + a[0, 1] * a[1, 0])
    identity = np.array([[ONE, ZERO], [ZERO, ONE]], dtype=object)
    return sympy.exp(m) * (sympy.cosh(r) * identity + sympy.sinh(r) / r * (a - m * identity))


def _object_array(out) -> np.ndarray:
    """numpy's result on object arrays as an object array; a 0-d result (numpy gives the element, or a 0-d array
    holding it) as a 0-d array of the element."""
    out = np.asarray(out, dtype=object)
    return _scalar_objects(out[()]) if out.shape == () else out


def _sympy_linalg(op: str, args: list, values: list, attr) -> np.ndarray:
    o, a = dict(attr or ()), args[0]
    if op in ("det", "logdet", "slogdet"):
        det = _matrix(a).det(method="berkowitz")
        return _scalar_objects(det if op == "det" else sympy.log(det))  # det > 0 at the generator's points
    if op == "inv":
        return _inverse2(a)
    if op == "solve":
        b = args[1]
        return _inverse2(a) @ b
    if op == "cholesky":
        return _array(_matrix(_symmetric(a)).cholesky(hermitian=False))
    if op == "matrix_exp":
        return _sympy_matrix_exp(a)
    if op in ("eigvalsh", "eigh"):
        s, numeric = _symmetric(a), _symmetric(values[0])
        _, _, decisions = _eigh2(numeric, math.sqrt)
        eigenvalues, vectors, _ = _eigh2(s, sympy.sqrt, decisions)
        return np.array(eigenvalues, dtype=object) if o.get("part", "eigenvalues") == "eigenvalues" else vectors
    if op == "pinv":
        rows, columns = a.shape
        return _inverse2(a) if rows == columns else _inverse2(a.T @ a) @ a.T if rows > columns \
            else a.T @ _inverse2(a @ a.T)
    if op == "matrix_power":
        n = o.get("n", 1)
        out = np.array([[ONE, ZERO], [ZERO, ONE]], dtype=object)
        for _ in range(abs(n)):
            out = out @ (a if n > 0 else _inverse2(a))
        return out
    if op == "tensordot":
        return _object_array(np.tensordot(a, args[1], axes=o.get("dims", (2,))[0]))
    if op in ("svdvals", "svd"):
        *_, decisions = _svd2(values[0], math.sqrt)
        s, u, vh, _ = _svd2(a, sympy.sqrt, decisions)
        return {"S": s, "U": u, "Vh": vh}[o.get("part", "S")]
    if op == "einsum":
        return _object_array(np.einsum(o["equation"], *args))
    signs = np.sign(np.diag(np.linalg.qr(values[0])[1]))  # qr
    q, r = _gram_schmidt(a, signs)
    return q if o.get("part", "R") == "Q" else r


def to_sympy(e: Expr, symbols: dict[str, np.ndarray], memo: dict | None = None) -> np.ndarray:
    """The tree as an object array (0-d for a scalar) of sympy expressions in the variables' symbols."""
    memo = {} if memo is None else memo
    if id(e) in memo:
        return memo[id(e)]
    args = [to_sympy(a, symbols, memo) for a in e.args]
    op = e.op
    if op == "var":
        out = symbols[e.name]
    elif op == "const":
        out = _objects(())
        out[()] = exact(e.attr)
    elif op == "ref":
        out = args[0]
    elif op in SYMPY_ELEMENTWISE:
        out = _elementwise(SYMPY_ELEMENTWISE[op], *args)
    elif op in SYMPY_PIECEWISE:
        out = _piecewise(SYMPY_PIECEWISE[op], args, [a.value for a in e.args])
    elif op == "leaky_relu":
        slope = exact(dict(e.attr or ()).get("negative_slope", 0.01))
        out = _piecewise(lambda a, va: a if va > 0 else slope * a, args, [a.value for a in e.args])
    elif op in SYMPY_ACTIVATIONS:
        rule = SYMPY_ACTIVATIONS[op](dict(e.attr or ()))
        out = _piecewise(rule, args, [a.value for a in e.args])
    elif op == "polygamma":
        n = dict(e.attr or ()).get("n", 1)
        out = _elementwise(lambda a: sympy.polygamma(n, a), *args)
    elif op == "logit":
        out = _piecewise(_sympy_logit(dict(e.attr or ()).get("eps")), args, [a.value for a in e.args])
    elif op in ("amax", "amin"):
        out = _extremum(args[0], e.args[0].value, e.attr, np.argmax if op == "amax" else np.argmin)
    elif op in SYMPY_REDUCE:
        out = _reduce(SYMPY_REDUCE[op], args[0], e.attr)
    elif op == "softmax":
        out = _axiswise(_softmax_list, args[0], e.attr)
    elif op == "log_softmax":
        out = _axiswise(_log_softmax_list, args[0], e.attr)
    elif op in ("variance", "std"):
        out = _sympy_statistic(args[0], dict(e.attr or ()), op == "std")
    elif op in ("sum_dims", "mean_dims", "amax_dims", "amin_dims", "max_dim", "min_dim"):
        out = _sympy_over_dims(op, args[0], e.args[0].value, dict(e.attr or ()))
    elif op in ("sort", "topk"):
        out = _sympy_sorted(args[0], e.args[0].value, dict(e.attr or ()))
    elif op in SYMPY_SCANS:
        out = args[0] if args[0].shape == () else _axiswise(SYMPY_SCANS[op], args[0], (dict(e.attr)["dim"],))
    elif op in SHAPE_FAMILY:
        out = np.vectorize(sympy.sympify, otypes=[object])(np.asarray(_shape_family(op, *args, e.attr), dtype=object))
    elif op in SYMPY_NN:
        out = SYMPY_NN[op](args, [a.value for a in e.args], e.attr)
    elif op in LINALG:
        out = _sympy_linalg(op, args, [a.value for a in e.args], e.attr)
    elif op == "matmul":
        out = _matmul(*args)
    elif op == "outer":
        out = _objects(args[0].shape + args[1].shape)
        for i in range(args[0].shape[0]):
            for j in range(args[1].shape[0]):
                out[i, j] = args[0][i] * args[1][j]
    elif op == "transpose":
        out = args[0].T
    elif op == "index":
        out = np.asarray(args[0][_index_items(e.attr)], dtype=object)
        if out.shape == ():
            out = _objects(())
            out[()] = args[0][_index_items(e.attr)]
    elif op == "unindex":
        out = _objects(args[1].shape)
        out.fill(sympy.Integer(0))
        # a 0-d object array assigned to one element would be stored as the element itself
        out[_index_items(e.attr)] = args[0][()] if args[0].shape == () else args[0]
    elif op == "reshape":
        out = args[0].reshape(e.attr)
    elif op in ("flip", "roll", "tile", "take", "index_select"):
        out = np.asarray(_shape_op(op, args[0], dict(e.attr)), dtype=object)
    elif op == "concat":
        out = np.concatenate(args, axis=0)
    elif op == "stack":
        out = np.stack(args, axis=0)
    elif op == "expand":
        out = np.broadcast_to(args[0], np.broadcast_shapes(args[0].shape, args[1].shape))
    elif op == "sum_to":
        out = _sympy_sum_to(args[0], args[1].shape)
    elif op in ("ones", "zeros"):
        out = _objects(e.attr)
        out.fill(sympy.Integer(1 if op == "ones" else 0))
    elif op == "eye":
        out = _objects((e.attr[0], e.attr[0]))
        for i in np.ndindex(out.shape):
            out[i] = sympy.Integer(int(i[0] == i[1]))
    else:
        raise AssertionError(f"no sympy translation for {op}")
    assert out.shape == e.shape, (op, out.shape, e.shape)
    memo[id(e)] = out
    return out


DIGITS = 60  # the working precision of `evaluate`: every node of sympy's expression is rounded to 60 digits


def _post_order(expression, done: dict):
    """The distinct subexpressions of a sympy expression not yet in `done`, each once, after its arguments (without
    recursion: sympy's derivatives nest deeply).  The caller puts each node it gets into `done`."""
    pending = [expression]
    while pending:
        node = pending[-1]
        if node in done:
            pending.pop()
            continue
        missing = [a for a in node.args if a not in done]
        if missing:
            pending.extend(missing)
            continue
        pending.pop()
        yield node


def evaluate(expression, substitution: dict) -> float:
    """A sympy expression at the point (exact binary values), as a float.

    sympy's derivatives repeat their subexpressions: the second derivative of a 61-node expression (a solve of
    gelu-tanh terms) is a tree of 144,343 nodes but only 213 distinct ones, and `sympy.N(expression.xreplace(...))`
    walks the tree (90 s).  Here each distinct subexpression is evaluated once (sympy's evalf, mpmath underneath), to
    DIGITS digits from its arguments' values (numbers such as 2 or pi stay exact until an operation uses them):
    0.04 s.  The rounding of each node (10**-60 relatively) stays far below the comparisons' 1e-9 unless a sum
    cancels 50 digits."""
    values = dict(substitution)
    for node in _post_order(expression, values):
        values[node] = node.func(*[values[a] for a in node.args]).evalf(DIGITS) if node.args else node
    value = values[expression]
    assert value.is_real and value.is_finite, f"sympy gives {value} at the point"
    return float(value)


def tree_size(expression, sizes: dict) -> int:
    """The number of nodes of a sympy expression as a tree (a shared subexpression counted at each use): what
    sympy.diff walks.  `sizes` keeps the sizes of subexpressions already counted (a cache for the next call)."""
    for node in _post_order(expression, sizes):
        sizes[node] = 1 + sum(sizes[a] for a in node.args)
    return sizes[expression]


def substitution(symbols: dict[str, np.ndarray], arrays: dict[str, np.ndarray]) -> dict:
    return {symbols[name][i]: exact(arrays[name][i]) for name in arrays for i in np.ndindex(arrays[name].shape)}
