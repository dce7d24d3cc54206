"""The op registry: the only place an operation is defined.

Each operation is one `OpSpec` record.  The lexer and parser read its syntax,
the printer its precedence, the numpy evaluator and the torch builder its two
implementations, the symbolic engine its partial derivatives, and the checks
its domain, analytic flag and kinks.  Adding an operation is one entry here
plus one row in the parametrized registry tests.

Derivative rules are written with the node builders below, so they read like
maths: `partials=(lambda x, out: cos(x),)` says d sin(x)/dx = cos(x).  A rule
receives the op's argument nodes and its own output node (so `exp` can say
`out`), and returns a node or a plain number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import tensor_kernels as K

# ---- node builders used by derivative rules ----


def _builder(op: str) -> Callable:
    def build(*args):
        graph = next(a.graph for a in args if hasattr(a, "graph"))
        return graph.apply(op, *args)

    build.__name__ = op
    return build


sin, cos, sqrt, log, sigmoid, sign = (_builder(n) for n in ("sin", "cos", "sqrt", "log", "sigmoid", "sign"))
sinh, cosh = _builder("sinh"), _builder("cosh")
gt, ge, lt, le, eq, ne = (_builder(n) for n in ("gt", "ge", "lt", "le", "eq", "ne"))


def _torch():
    import torch

    return torch


def _mp(name: str) -> Callable:
    """mp_kernels.<name>, imported on first use: mpmath is loaded only when the high-precision referee runs."""
    kernel = None

    def call(*args):
        nonlocal kernel
        if kernel is None:
            from . import mp_kernels

            kernel = getattr(mp_kernels, name)
        return kernel(*args)

    call.__name__ = f"mp_{name}"
    return call


# ---- shape rules ----


def broadcast_shapes(*shapes: tuple) -> tuple:
    """NumPy broadcasting of argument shapes; raises ValueError when they clash."""
    first = shapes[0] if shapes else ()
    if all(shape == first for shape in shapes):  # the common case, without numpy's overhead
        return tuple(first)
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"shapes {listed} cannot be broadcast together") from None


# ---- domain helpers (numpy predicates: True where the op is differentiable) ----


def _pow_domain(a, b):
    integral = np.equal(np.round(b), b)
    return (a > 0) | (integral & ((a != 0) | (b >= 1)))


@dataclass(frozen=True)
class OpSpec:
    """Everything the tool knows about one operation."""

    name: str
    arity: int
    numpy: Callable
    torch: Callable | None
    # Elementwise local derivatives, one per argument: (args..., out) -> node | number.
    partials: tuple[Callable, ...] | None = None
    # Non-elementwise rule: (adjoint, node, shape_of) -> one adjoint per argument; the adjoint
    # arrives with the node's full shape.
    vjp: Callable | None = None
    shape: Callable = broadcast_shapes
    # Syntax: "function" (name(args)), "infix", "prefix" or "postfix" (x.T, x[...]).
    syntax: str = "function"
    symbol: str | None = None
    precedence: int = 100
    right_assoc: bool = False
    # Also callable by this name, e.g. pow(a, b) for a**b.
    call_name: str | None = None
    # Where the op is differentiable (given the argument values, and the attribute for ops that
    # have one); the text is shown when a point falls outside.
    domain: Callable | None = None
    domain_text: str = ""
    # Extra conditions for differentiating in one argument: {index: (predicate, text)}.
    arg_domains: dict = field(default_factory=dict)
    # Complex-step eligible: holomorphic, and the numpy implementation accepts complex numbers
    # (tests/test_complex_step.py checks every op that says so).
    analytic: bool = True
    # Switching functions (args..., and the attribute for ops that have one): a kink where any changes sign.
    kinks: Callable | None = None
    # detach: no gradient, and finite differences hold it at its base value.
    holds_value: bool = False
    # Reductions (sum, mean, ...): finite differences scale their rounding by the reduction of |x|.
    reduction: bool = False
    # sum and mean: changing one element changes the result by a fixed weight times the change.
    uniform_reduction: bool = False
    # Elementwise ops broadcast their arguments; the evaluator lines up ranks for them.
    elementwise: bool = True
    # Static attribute written as trailing integer arguments: "axis" (optional), "shape", or
    # "index" (written x[...]); None for ops without one.
    attrs: str | None = None
    # Any number of arguments, at least `arity` (concat, stack).
    variadic: bool = False
    # More names it is callable by (dot for matmul).
    aliases: tuple[str, ...] = ()
    doc: str = ""
    # Argument names, for --list-ops (default: x, or a and b).
    param_names: tuple[str, ...] | None = None
    # Made by the symbolic engine; callable so that printed derivatives parse back.
    internal: bool = False
    # The arbitrary-precision implementation on unbatched numpy object arrays of mpmath numbers (mpf, or
    # mpc in the complex step), for engines/precise.py; None where the numpy implementation already works
    # on object arrays.  Same arguments as `numpy` (the attribute last), without the batch axis.
    mp: Callable | None = None

    def evaluate(self, args, attr=None):
        """The numpy implementation on batched arrays."""
        return self.numpy(*args, attr) if self.attrs else self.numpy(*args)

    def build_torch(self, args, attr=None):
        return self.torch(*args, attr) if self.attrs else self.torch(*args)

    def infer_shape(self, shapes, attr=None) -> tuple:
        return tuple(self.shape(*shapes, attr) if self.attrs else self.shape(*shapes))

    @property
    def differentiable(self) -> bool:
        return self.partials is not None or self.vjp is not None

    @property
    def params(self) -> tuple[str, ...]:
        names = self.param_names or (("x",) if self.arity == 1 else ("a", "b", "c")[: self.arity])
        return names + ("...",) if self.variadic else names

    @property
    def display_name(self) -> str:
        return self.symbol or self.call_name or self.name


def _comparison(name: str, symbol: str, np_fn: Callable, torch_fn: Callable) -> OpSpec:
    return OpSpec(
        name, 2, mp=_mp(name),
        numpy=lambda a, b: np_fn(a, b).astype(np.result_type(a, b, np.float32)),
        torch=lambda a, b: torch_fn(a, b).to(a.dtype),
        syntax="infix", symbol=symbol, precedence=5, analytic=False, kinks=lambda a, b: [a - b],
        doc=f"1 where a {symbol} b, else 0; zero gradient",
    )


def _torch_clamp(x, lo, hi):
    x, lo, hi = _torch().broadcast_tensors(x, lo, hi)  # Tensor.clamp keeps x's shape; the rule broadcasts
    return x.clamp(lo, hi)


def _sigmoid(x):
    if np.iscomplexobj(x):  # complex step: the holomorphic form, stable on each side of 0
        return np.where(x.real >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
    return np.exp(-np.logaddexp(0.0, -x))


def _softplus(x):
    if np.iscomplexobj(x):
        return np.where(x.real > 0, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))
    return np.logaddexp(0.0, x)


def _sum_to(g, like):
    """Sum batched `g` down to the (non-batch) shape of batched `like`."""
    target = like.shape[1:]
    rank = g.ndim - 1
    if rank < len(target):
        g = g.reshape(g.shape[:1] + (1,) * (len(target) - rank) + g.shape[1:])
    elif rank > len(target):
        g = np.sum(g, axis=tuple(range(1, 1 + rank - len(target))))
    squeezed = tuple(i + 1 for i, n in enumerate(target) if n == 1 and g.shape[i + 1] != 1)
    return np.sum(g, axis=squeezed, keepdims=True) if squeezed else g


def _expand(x, like):
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, like.shape))


_OPS: list[OpSpec] = [
    # ---- arithmetic ----
    OpSpec("add", 2, np.add, lambda a, b: a + b, partials=(lambda a, b, out: 1, lambda a, b, out: 1),
           syntax="infix", symbol="+", precedence=10),
    OpSpec("sub", 2, np.subtract, lambda a, b: a - b, partials=(lambda a, b, out: 1, lambda a, b, out: -1),
           syntax="infix", symbol="-", precedence=10),
    OpSpec("mul", 2, np.multiply, lambda a, b: a * b, partials=(lambda a, b, out: b, lambda a, b, out: a),
           syntax="infix", symbol="*", precedence=20),
    OpSpec("div", 2, np.divide, lambda a, b: a / b,
           partials=(lambda a, b, out: 1 / b, lambda a, b, out: -a / b**2),
           syntax="infix", symbol="/", precedence=20, mp=_mp("div"),
           domain=lambda a, b: b != 0, domain_text="the divisor must be non-zero"),
    OpSpec("neg", 1, np.negative, lambda a: -a, partials=(lambda a, out: -1,),
           syntax="prefix", symbol="-", precedence=30),
    OpSpec("pow", 2, np.power, lambda a, b: a**b,
           # d/db is 0 at a = 0 (b > 0): log(a + (a == 0)) is log(a) elsewhere and 0 there.
           partials=(lambda a, b, out: b * a ** (b - 1), lambda a, b, out: out * log(a + eq(a, 0))),
           syntax="infix", symbol="**", precedence=40, right_assoc=True, call_name="pow", mp=_mp("pow"),
           domain=_pow_domain, domain_text="a**b needs a > 0 unless b is an integer (and b >= 1 at a = 0)",
           arg_domains={1: (lambda a, b: (a > 0) | ((a == 0) & (b > 0)),
                            "a**b is differentiable in b only where a > 0")}),
    # ---- comparisons (used by derivative rules of piecewise ops) ----
    _comparison("gt", ">", np.greater, lambda a, b: a > b),
    _comparison("ge", ">=", np.greater_equal, lambda a, b: a >= b),
    _comparison("lt", "<", np.less, lambda a, b: a < b),
    _comparison("le", "<=", np.less_equal, lambda a, b: a <= b),
    _comparison("eq", "==", np.equal, lambda a, b: a == b),
    _comparison("ne", "!=", np.not_equal, lambda a, b: a != b),
    # ---- trigonometric ----
    OpSpec("sin", 1, np.sin, lambda x: x.sin(), partials=(lambda x, out: cos(x),), mp=_mp("sin")),
    OpSpec("cos", 1, np.cos, lambda x: x.cos(), partials=(lambda x, out: -sin(x),), mp=_mp("cos")),
    OpSpec("tan", 1, np.tan, lambda x: x.tan(), partials=(lambda x, out: 1 + out**2,), mp=_mp("tan"),
           domain=lambda x: np.cos(x) != 0, domain_text="tan is undefined where cos(x) = 0"),
    OpSpec("asin", 1, np.arcsin, lambda x: x.asin(), partials=(lambda x, out: 1 / sqrt(1 - x**2),), mp=_mp("asin"),
           domain=lambda x: np.abs(x) < 1, domain_text="asin is differentiable for -1 < x < 1"),
    OpSpec("acos", 1, np.arccos, lambda x: x.acos(), partials=(lambda x, out: -1 / sqrt(1 - x**2),), mp=_mp("acos"),
           domain=lambda x: np.abs(x) < 1, domain_text="acos is differentiable for -1 < x < 1"),
    OpSpec("atan", 1, np.arctan, lambda x: x.atan(), partials=(lambda x, out: 1 / (1 + x**2),), mp=_mp("atan")),
    # ---- hyperbolic ----
    OpSpec("sinh", 1, np.sinh, lambda x: x.sinh(), partials=(lambda x, out: cosh(x),), mp=_mp("sinh")),
    OpSpec("cosh", 1, np.cosh, lambda x: x.cosh(), partials=(lambda x, out: sinh(x),), mp=_mp("cosh")),
    OpSpec("tanh", 1, np.tanh, lambda x: x.tanh(), partials=(lambda x, out: 1 - out**2,), mp=_mp("tanh")),
    # ---- exponential and logarithmic ----
    OpSpec("exp", 1, np.exp, lambda x: x.exp(), partials=(lambda x, out: out,), mp=_mp("exp")),
    OpSpec("expm1", 1, np.expm1, lambda x: x.expm1(), partials=(lambda x, out: out + 1,), mp=_mp("expm1"),
           doc="exp(x) - 1, without cancellation for small x (torch.expm1)"),
    OpSpec("log", 1, np.log, lambda x: x.log(), partials=(lambda x, out: 1 / x,), mp=_mp("log"),
           domain=lambda x: x > 0, domain_text="log is defined for x > 0"),
    OpSpec("log1p", 1, np.log1p, lambda x: x.log1p(), partials=(lambda x, out: 1 / (1 + x),), mp=_mp("log1p"),
           domain=lambda x: x > -1, domain_text="log1p is defined for x > -1"),
    OpSpec("sqrt", 1, np.sqrt, lambda x: x.sqrt(), partials=(lambda x, out: 0.5 / out,), mp=_mp("sqrt"),
           domain=lambda x: x > 0, domain_text="sqrt is differentiable for x > 0"),
    # ---- activations ----
    OpSpec("sigmoid", 1, _sigmoid, lambda x: x.sigmoid(), partials=(lambda x, out: out * (1 - out),),
           mp=_mp("sigmoid")),
    OpSpec("softplus", 1, _softplus,
           lambda x: _torch().nn.functional.softplus(x), partials=(lambda x, out: sigmoid(x),),
           mp=_mp("softplus")),
    OpSpec("relu", 1, lambda x: np.maximum(x, 0.0), lambda x: x.relu(), partials=(lambda x, out: gt(x, 0),),
           analytic=False, kinks=lambda x: [x], mp=_mp("relu")),
    OpSpec("abs", 1, np.abs, lambda x: x.abs(), partials=(lambda x, out: sign(x),),
           analytic=False, kinks=lambda x: [x]),
    OpSpec("sign", 1, np.sign, lambda x: x.sign(), analytic=False, mp=_mp("sign"), doc="-1, 0 or 1; zero gradient"),
    # ---- piecewise ----
    # With crossed bounds (lo > hi) clamp is hi everywhere, as in numpy and torch.
    OpSpec("clamp", 3, lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), _torch_clamp,
           partials=(lambda x, lo, hi, out: ge(x, lo) * le(x, hi),
                     lambda x, lo, hi, out: lt(x, lo) * le(lo, hi),
                     lambda x, lo, hi, out: 1 - le(x, hi) * le(lo, hi)),
           analytic=False, kinks=lambda x, lo, hi: [x - lo, x - hi, lo - hi], param_names=("x", "lo", "hi"),
           mp=_mp("clamp")),
    OpSpec("min", 2, np.minimum, lambda a, b: a.minimum(b),
           partials=(lambda a, b, out: lt(a, b) + 0.5 * eq(a, b), lambda a, b, out: lt(b, a) + 0.5 * eq(a, b)),
           analytic=False, kinks=lambda a, b: [a - b], mp=_mp("minimum")),
    OpSpec("max", 2, np.maximum, lambda a, b: a.maximum(b),
           partials=(lambda a, b, out: gt(a, b) + 0.5 * eq(a, b), lambda a, b, out: gt(b, a) + 0.5 * eq(a, b)),
           analytic=False, kinks=lambda a, b: [a - b], mp=_mp("maximum")),
    OpSpec("detach", 1, lambda x: x, lambda x: x.detach(), holds_value=True,
           doc="the value of x, with no gradient flowing through it"),
    OpSpec("expand", 2, _expand, lambda x, like: x.expand(like.shape),
           partials=(lambda x, like, out: 1, lambda x, like, out: 0), internal=True, param_names=("x", "like"),
           doc="x broadcast to the shape of `like`"),
    OpSpec("sum_to", 2, _sum_to, lambda g, like: g.sum_to_size(like.shape), internal=True, param_names=("g", "like"),
           vjp=lambda adj, node, shape_of: [adj], shape=lambda g, like: like, elementwise=False,
           doc="g summed over the axes along which it was broadcast against `like`"),
    # ---- reductions (over all elements, or one axis: sum(x, 0)) ----
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
           kinks=lambda x, attr: K.extremum_switches(x, attr, largest=True), mp=_mp("amax"),
           doc="the largest element (max(x) with one argument); ties share the gradient"),
    OpSpec("amin", 1, lambda x, attr: np.min(x, axis=K.reduced_axes(x, attr)),
           lambda x, attr: x.amin() if attr is None else x.amin(attr[0]), aliases=("min",),
           vjp=K.extremum_vjp, shape=K.extremum_shape, attrs="axis", elementwise=False, analytic=False,
           kinks=lambda x, attr: K.extremum_switches(x, attr, largest=False), mp=_mp("amin"),
           doc="the smallest element (min(x) with one argument); ties share the gradient"),
    OpSpec("prod", 1, lambda x, attr: np.prod(x, axis=K.reduced_axes(x, attr)),
           lambda x, attr: x.prod() if attr is None else x.prod(attr[0]),
           vjp=K.prod_vjp, shape=K.reduced_shape, attrs="axis", elementwise=False,
           domain=lambda x, attr: x != 0, domain_text="the gradient rule of prod needs non-zero elements"),
    OpSpec("norm", 1, lambda x, attr: np.sqrt(np.sum(x * x, axis=K.reduced_axes(x, attr))),
           lambda x, attr: _torch().linalg.vector_norm(x, dim=None if attr is None else attr[0]),
           vjp=K.norm_vjp, shape=K.reduced_shape, attrs="axis", elementwise=False, mp=_mp("norm"),
           domain=lambda x, attr: np.sum(x * x, axis=None if attr is None else attr[0]) > 0,
           domain_text="the 2-norm is not differentiable where it is 0",
           doc="the Euclidean (2-)norm"),
    OpSpec("logsumexp", 1, K.logsumexp,
           lambda x, attr: _torch().logsumexp(x.flatten(), 0) if attr is None else _torch().logsumexp(x, attr[0]),
           vjp=K.logsumexp_vjp, shape=K.logsumexp_shape, attrs="axis", reduction=True, elementwise=False,
           mp=_mp("logsumexp"),
           doc="log(sum(exp(x))), computed stably"),
    OpSpec("softmax", 1, K.softmax, lambda x, attr: x.softmax(attr[0] if attr else -1),
           vjp=K.softmax_vjp, shape=K.softmax_shape, attrs="axis", elementwise=False, mp=_mp("softmax"),
           doc="exp(x) / sum(exp(x)) along an axis (default: the last)"),
    OpSpec("log_softmax", 1, K.log_softmax, lambda x, attr: x.log_softmax(attr[0] if attr else -1),
           vjp=K.log_softmax_vjp, shape=K.softmax_shape, attrs="axis", elementwise=False,
           mp=_mp("log_softmax"),
           doc="x - logsumexp(x) along an axis (default: the last)"),
    # ---- linear algebra and shapes ----
    OpSpec("matmul", 2, K.matmul, lambda a, b: a @ b, vjp=K.matmul_vjp, shape=K.matmul_shape,
           syntax="infix", symbol="@", precedence=20, call_name="matmul", aliases=("dot",), elementwise=False,
           doc="matrix product of vectors and matrices (a @ b)"),
    OpSpec("outer", 2, K.outer, lambda a, b: _torch().outer(a, b), vjp=K.outer_vjp, shape=K.outer_shape,
           elementwise=False, doc="the outer product of two vectors: outer(a, b)[i, j] = a[i]*b[j]"),
    OpSpec("transpose", 1, K.transpose, lambda x: x.permute(tuple(reversed(range(x.dim())))),
           vjp=K.transpose_vjp, shape=lambda x: tuple(reversed(x)), syntax="postfix", symbol=".T",
           call_name="transpose", elementwise=False, doc="axes reversed (x.T)"),
    OpSpec("index", 1, K.index, lambda x, attr: x[K.index_items(attr)], vjp=K.index_vjp,
           shape=K.index_shape, syntax="postfix", symbol="[]", attrs="index", elementwise=False,
           doc="x[0], x[1, 2], x[1:3], x[:, 0]"),
    OpSpec("unindex", 2, K.unindex, lambda v, like, attr: _torch_unindex(v, like, attr), vjp=K.unindex_vjp,
           shape=K.unindex_shape, attrs="index", elementwise=False, internal=True, mp=_mp("unindex"),
           param_names=("values", "like"), doc="zeros shaped like `like` with `values` at the index"),
    OpSpec("reshape", 1, K.reshape, lambda x, attr: x.reshape(attr), vjp=K.reshape_vjp,
           shape=K.reshape_shape, attrs="shape", elementwise=False, param_names=("x", "d1", "d2"),
           doc="x with a new shape, e.g. reshape(x, 2, 3); one dimension may be -1"),
    OpSpec("concat", 1, K.concat, lambda *xs: _torch().cat(xs, 0), vjp=K.concat_vjp, shape=K.concat_shape,
           variadic=True, elementwise=False, doc="the arguments joined along their first axis"),
    OpSpec("stack", 1, K.stack, lambda *xs: _torch().stack(xs, 0), vjp=K.stack_vjp, shape=K.stack_shape,
           variadic=True, elementwise=False, doc="the arguments stacked along a new first axis"),
    OpSpec("where", 3, lambda c, a, b: np.where(c != 0, a, b), lambda c, a, b: _torch().where(c != 0, a, b),
           partials=(lambda c, a, b, out: 0, lambda c, a, b, out: ne(c, 0), lambda c, a, b, out: eq(c, 0)),
           analytic=False, param_names=("cond", "a", "b"), mp=_mp("where"), doc="a where cond is non-zero, else b"),
    OpSpec("ones", 0, K.constant(1.0), None, shape=K.constant_shape, attrs="shape", elementwise=False, mp=_mp("ones"),
           param_names=("d1", "d2"), doc="a tensor of ones, e.g. ones(3) or ones(2, 3)"),
    OpSpec("zeros", 0, K.constant(0.0), None, shape=K.constant_shape, attrs="shape", elementwise=False,
           mp=_mp("zeros"),
           param_names=("d1", "d2"), doc="a tensor of zeros"),
    OpSpec("eye", 0, K.eye, None, shape=K.eye_shape, attrs="shape", elementwise=False, mp=_mp("eye"),
           param_names=("n",), doc="the n x n identity matrix"),
]


def _torch_unindex(values, like, attr):
    out = values.new_zeros(like.shape)
    out[K.index_items(attr)] = values
    return out

OPS: dict[str, OpSpec] = {op.name: op for op in _OPS}


def _callable_names() -> dict[str, list[OpSpec]]:
    names: dict[str, list[OpSpec]] = {}
    for op in _OPS:
        own = [op.name] if op.syntax == "function" else []
        for name in own + ([op.call_name] if op.call_name else []) + list(op.aliases):
            names.setdefault(name, []).append(op)
    return names


# Names callable as `name(args)` in expressions, each with its overloads (max(a, b) and max(x)).
OVERLOADS: dict[str, list[OpSpec]] = _callable_names()
FUNCTIONS: dict[str, OpSpec] = {name: specs[0] for name, specs in OVERLOADS.items()}
INFIX: dict[str, OpSpec] = {op.symbol: op for op in _OPS if op.syntax == "infix"}
PREFIX: dict[str, OpSpec] = {op.symbol: op for op in _OPS if op.syntax == "prefix"}
POSTFIX: dict[str, OpSpec] = {op.symbol: op for op in _OPS if op.syntax == "postfix"}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
