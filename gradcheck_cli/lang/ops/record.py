"""What one operation is: the `OpSpec` record every stage reads, and the lazy loaders its records use (torch,
and the mpmath kernels, imported on first use so that start-up pays for neither)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def torch_module():
    import torch

    return torch


def mp_kernel(name: str) -> Callable:
    """mp_kernels.<name>, imported on first use: mpmath is loaded only when the high-precision referee runs."""
    kernel = None

    def call(*args):
        nonlocal kernel
        if kernel is None:
            from .. import mp_kernels

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


@dataclass(frozen=True)
class Option:
    """A keyword argument of an operation, as torch names and orders it: `negative_slope=0.01`.

    `kind`: "float", "int", "bool", "str" (one of `choices`), "ints" (an int, or a tuple of ints such as a
    padding or several dims; read as a tuple; also one of `choices` where it has some, as padding='same'), or
    "tensor": an optional operand, as the bias of conv2d or the weight of layer_norm.  A tensor option given is
    one of the node's arguments, after the required ones in the op's option order, and its value is True; absent
    (not given, or `None`) it is False.  Written as `name=value` in a call, or positionally after the operands in
    this order unless `keyword_only` (as torch's `gelu(x, approximate='tanh')`).  `hint`: a sentence shown with
    any error about this option's value (what torch means by it, what is not supported)."""

    name: str
    default: object
    kind: str = "float"
    choices: tuple[str, ...] = ()
    keyword_only: bool = False
    hint: str | None = None



# Ops whose torch function returns a tuple, by its parts (a `part` option's choices also name such parts).
TUPLE_RESULTS = {"sort": ("values", "indices"), "topk": ("values", "indices"), "slogdet": ("sign", "logabsdet"),
                 "max_dim": ("values", "indices"), "min_dim": ("values", "indices")}


def torch_tuple_parts(spec: OpSpec) -> tuple[str, ...]:
    """The parts of the tuple torch's function for `spec` returns (qr: Q, R), or () where it returns one tensor.
    Here such an op is one of the parts (its `part` option says which); `qr(A)[0]` indexes torch's tuple."""
    part = next((o for o in spec.options if o.name == "part"), None)
    return part.choices if part is not None else TUPLE_RESULTS.get(spec.name, ())


@dataclass(frozen=True)
class Options:
    """The options of one node, every one given or defaulted, in the op's order: hashable, so that two equal
    nodes are one, and readable by name (`attr.negative_slope`) in the op's implementations and rules."""

    items: tuple[tuple[str, object], ...]

    def __getattr__(self, name: str):
        for key, value in object.__getattribute__(self, "items"):
            if key == name:
                return value
        raise AttributeError(name)


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
    # Discontinuous ops (floor, round, fmod, ...): (args..., and the attribute) -> a list of arrays numbering the
    # piece each element lies on (floor(x) for floor, the integer quotient for fmod), on float arrays and on
    # object arrays of mpmath numbers.  The value jumps where a number changes: a step that changes one crosses a
    # jump (`sits_on_jump` says where the point is on one).
    jumps: Callable | None = None
    # Where torch documents its backward as valid, (args..., attr) -> bool, and that promise in words (qr: the first
    # min(m, n) columns independent): a backward that breaks down outside it is named with the promise.
    torch_domain: Callable | None = None
    torch_domain_text: str = ""
    # Where torch's function reads an input otherwise than this op does, (args..., attr) -> a note or None, on the
    # unbatched values at the point: cholesky and eigh of a non-symmetric A (torch reads its lower triangle only).
    torch_reads: Callable | None = None
    # Operands torch's function does not differentiate ("not differentiable with respect to argument 'weight'"):
    # where one needs a gradient, the torch builder writes the op out in torch's own ops, and the autograd column
    # says so (`written_out`), since it is then not torch's backward of the op.
    torch_refuses: tuple[str, ...] = ()
    # detach: no gradient, and finite differences hold it at its base value.
    holds_value: bool = False
    # Reductions (sum, mean, ...): finite differences scale their rounding by the reduction of |x|.
    reduction: bool = False
    # sum and mean: changing one element changes the result by a fixed weight times the change.
    uniform_reduction: bool = False
    # Elementwise ops broadcast their arguments; the evaluator lines up ranks for them.
    elementwise: bool = True
    # Static attribute written as trailing integer arguments: "axis" (optional), "shape", or
    # "index" (written x[...]); "options" for ops with keyword arguments (`options`); None for ops without one.
    attrs: str | None = None
    # Keyword arguments (attrs="options"): the node's attribute is their Options, defaults filled in.
    options: tuple[Option, ...] = ()
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
        """The numpy implementation on batched arrays (an op with options gets its defaults for attr None)."""
        return self.numpy(*args, self._attr(attr)) if self.attrs else self.numpy(*args)

    def build_torch(self, args, attr=None):
        return self.torch(*args, self._attr(attr)) if self.attrs else self.torch(*args)

    def _attr(self, attr):
        return self.defaults() if attr is None and self.attrs == "options" else attr

    def infer_shape(self, shapes, attr=None) -> tuple:
        own_rule = self.shape is not broadcast_shapes  # broadcasting needs no attribute: leaky_relu's slope
        return tuple(self.shape(*shapes, self._attr(attr)) if self.attrs and own_rule else self.shape(*shapes))

    def operand_names(self, attr) -> tuple[str, ...]:
        """The names of a node's operands: the required ones, then the tensor options it was given."""
        return self.params[: self.arity] + (self.present(attr) if self.attrs == "options" and attr else ())

    def written_out(self, refused: list[str]) -> str:
        """The note of an autograd column that differentiates this op written out in torch ops, because torch does
        not differentiate it in `refused`."""
        which = " or ".join(refused)
        return (f"autograd: torch does not differentiate {self.display_name} in {which} (\"not differentiable with "
                f"respect to argument '{refused[0]}'\"), so the autograd column differentiates {self.display_name} "
                "written out in torch's own ops, as torch defines it, not torch's own backward of it")

    def present(self, attr: Options) -> tuple[str, ...]:
        """The tensor options given in a node's attribute, in the order their operands follow the required ones."""
        return tuple(o.name for o in self.options if o.kind == "tensor" and getattr(attr, o.name))

    def defaults(self) -> Options:
        return Options(tuple((o.name, o.default) for o in self.options))

    def with_options(self, given: dict[str, object]) -> Options:
        """Options with `given` values (already checked and converted) over the defaults."""
        return Options(tuple((o.name, given.get(o.name, o.default)) for o in self.options))

    def sits_on_jump(self, args, attr=None) -> np.ndarray:
        """Per element of the op's (float) value: whether it sits on a jump, that is, whether moving any
        argument by one float spacing, either way, changes the piece it lies on (floor at 2, fmod(3, 1.5))."""
        extra = (self._attr(attr),) if self.attrs else ()
        args = [np.asarray(a, dtype=np.float64) for a in args]
        with np.errstate(all="ignore"):
            here = self.jumps(*args, *extra)
            shape = np.broadcast_shapes(*[np.shape(a) for a in args], *[np.shape(h) for h in here])
            sits = np.zeros(shape, dtype=bool)
            for i, a in enumerate(args):
                for toward in (-np.inf, np.inf):
                    moved = list(args)
                    moved[i] = np.nextafter(a, toward)
                    for before, after in zip(here, self.jumps(*moved, *extra)):
                        sits |= (before != after) & ~(np.isnan(before) & np.isnan(after))
        return sits

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
