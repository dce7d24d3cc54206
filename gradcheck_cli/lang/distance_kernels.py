"""The machinery behind the similarities and distances of the registry (lang/ops/distances.py): batched numpy
kernels, shape rules, switching functions (kinks), domains and vjp rules of cosine_similarity,
pairwise_distance and cdist, as torch computes them.

Kernels receive arrays with a leading batch axis (see plan.py); the same code runs on numpy object arrays of
mpmath numbers for the high-precision referee (square roots as `** 0.5`, the 1/p-th root with an exact 1/p).

The p-norm of the distances is torch's: p = 0 counts the non-zero differences (a step function: gradient 0,
and a jump where a difference is 0), p = 1 sums |v| (a kink where a difference is 0), p = 2 is Euclidean (a
kink where the whole distance is 0: torch's gradient there is 0, which is this rule's too, so that a smooth
composition such as a squared distance passes), p = inf is max |v| (a kink at a tie), any other p > 0 is
(sum |v|**p)**(1/p) (for p < 1 the derivative is infinite where a difference is 0: outside the domain).

The vjp rules build graph nodes of existing ops (sums, sign, abs, eq, reshape, sum_to), a fixed number per
node, so that the derivative graph stays linear and the symbolic engine differentiates them again.
"""

from __future__ import annotations

import math

import numpy as np

from .tensor_kernels import batch_axis, extremum_switches

INF = math.inf


# ---- batched kernels (float64 or mpmath objects) ----


def _aligned(a, b):
    """Batched a and b with singleton axes after the batch axis, so that their ranks agree (torch's broadcasting
    lines shapes up from the right)."""
    rank = max(a.ndim, b.ndim)
    return (a.reshape(a.shape[:1] + (1,) * (rank - a.ndim) + a.shape[1:]),
            b.reshape(b.shape[:1] + (1,) * (rank - b.ndim) + b.shape[1:]))


def _objects(x) -> bool:
    return np.asarray(x).dtype == object


def _sqrt(x):
    return np.asarray(x ** 0.5, dtype=object) if _objects(x) else np.sqrt(x)


def _root(s, p: float):
    """s**(1/p), with 1/p exact at the referee's precision for mpmath numbers."""
    if _objects(s):
        from mpmath import mp

        exponent = mp.mpf(1) / mp.mpf(p)
        return np.asarray(np.vectorize(lambda t: t ** exponent, otypes=[object])(s), dtype=object)
    return s ** (1.0 / p)


def _power(size, p: float):
    """|v|**p; for mpmath numbers 0**p is inf for p < 0, as in float64 (mpmath raises ZeroDivisionError)."""
    if _objects(size):
        from mpmath import mp

        zero = mp.inf if p < 0 else mp.mpf(0)
        return np.asarray(np.vectorize(lambda t: t ** p if t != 0 else zero, otypes=[object])(size), dtype=object)
    return size ** p


def _quotient(numerator, denominator):
    """numerator / denominator; for mpmath numbers x/0 is NaN (mpmath raises ZeroDivisionError)."""
    if _objects(denominator):
        from mpmath import mp

        return np.asarray(np.vectorize(lambda a, b: a / b if b != 0 else mp.nan, otypes=[object])(
            numerator, denominator), dtype=object)
    return numerator / denominator


def pnorm(v, p: float, axis: int = -1, keepdims: bool = False):
    """torch's vector p-norm of v along `axis`: p = 0 (the count of non-zero elements), 1, 2, inf, or any p."""
    if p == 0:
        count = np.sum(v != 0, axis=axis, keepdims=keepdims)
        if _objects(v):
            from mpmath import mp

            return np.asarray(np.vectorize(mp.mpf, otypes=[object])(count), dtype=object)
        return np.asarray(count, dtype=np.float64)
    if p == 2:
        return _sqrt(np.sum(v * v, axis=axis, keepdims=keepdims))
    size = abs(v)
    if p == 1:
        return np.sum(size, axis=axis, keepdims=keepdims)
    if p == INF:
        return np.max(size, axis=axis, keepdims=keepdims)
    return _root(np.sum(_power(size, p), axis=axis, keepdims=keepdims), p)


def power(options) -> float:
    """The option p as a number: written p='inf' for the max norm (the language has no inf literal)."""
    return INF if options.p == "inf" else float(options.p)


def _differences(x1, x2, options):
    """pairwise_distance's v = x1 - x2 + eps, broadcast (batched)."""
    a, b = _aligned(x1, x2)
    return a - b + options.eps


def pairwise_distance(x1, x2, options):
    """torch.nn.functional.pairwise_distance: the p-norm of x1 - x2 + eps along the last dim."""
    return pnorm(_differences(x1, x2, options), power(options), -1, options.keepdim)


def _cross_differences(x1, x2):
    """cdist's v[..., i, j, :] = x1[..., i, :] - x2[..., j, :] (batched, batch dims broadcast)."""
    a, b = _aligned(x1, x2)
    return a[..., :, np.newaxis, :] - b[..., np.newaxis, :, :]


def cdist(x1, x2, options):
    """torch.cdist(x1, x2, p): the p-norm distance of every row of x1 to every row of x2."""
    return pnorm(_cross_differences(x1, x2), power(options), -1)


def _norms(x1, x2, options):
    """cosine_similarity's pieces: x1 . x2 and the two norms along dim (batched, broadcast)."""
    a, b = _aligned(x1, x2)
    a, b = np.broadcast_arrays(a, b)
    axis = batch_axis(options.dim)
    return np.sum(a * b, axis=axis), _sqrt(np.sum(a * a, axis=axis)), _sqrt(np.sum(b * b, axis=axis))


def cosine_similarity(x1, x2, options):
    """torch.nn.functional.cosine_similarity: x1 . x2 / (max(|x1|, eps) max(|x2|, eps)) along dim (each norm
    clamped by itself, as torch does since 1.12)."""
    dot, n1, n2 = _norms(x1, x2, options)
    eps = options.eps
    return _quotient(dot, np.maximum(n1, eps) * np.maximum(n2, eps))


def unbatched(kernel):
    """The kernel on one unbatched point (mpmath objects), as OpSpec.mp takes it: the batched kernels already
    run on object arrays."""
    def call(x1, x2, options):
        return np.asarray(kernel(x1[np.newaxis], x2[np.newaxis], options)[0], dtype=object)

    call.__name__ = f"mp_{kernel.__name__}"
    return call


# ---- shape rules (plain shapes) ----


def _broadcast(s1: tuple, s2: tuple) -> tuple:
    try:
        return tuple(np.broadcast_shapes(s1, s2))
    except ValueError:
        raise ValueError(f"shapes {tuple(s1)} and {tuple(s2)} cannot be broadcast together") from None


def _check_p(p: float, allow_negative: bool) -> None:
    if math.isnan(p) or (p < 0 and not allow_negative):
        raise ValueError(f"p must be a non-negative number or inf, got {p}")


def cosine_similarity_shape(s1: tuple, s2: tuple, options) -> tuple:
    shape = _broadcast(s1, s2)
    if not -len(shape) <= options.dim < len(shape):
        raise ValueError(f"dim {options.dim} is out of range for the broadcast shape {shape}")
    if options.eps < 0:
        raise ValueError(f"eps must be >= 0, got {options.eps}")
    return shape[:options.dim % len(shape)] + shape[options.dim % len(shape) + 1:]


def pairwise_distance_shape(s1: tuple, s2: tuple, options) -> tuple:
    _check_p(power(options), allow_negative=True)
    shape = _broadcast(s1, s2)
    if not shape:
        raise ValueError("it takes vectors (or stacks of them, the vectors along the last dim), got two scalars")
    return shape[:-1] + ((1,) if options.keepdim else ())


def cdist_shape(s1: tuple, s2: tuple, options) -> tuple:
    _check_p(power(options), allow_negative=False)
    if len(s1) < 2 or len(s2) < 2:
        raise ValueError(f"x1 and x2 must have at least 2 dims, (P, M) and (R, M), got {tuple(s1)} and {tuple(s2)}")
    if s1[-1] != s2[-1]:
        raise ValueError(f"x1 and x2 must have rows of one length, got {tuple(s1)} and {tuple(s2)}")
    return _broadcast(s1[:-2], s2[:-2]) + (s1[-2], s2[-2])


# ---- switching functions (OpSpec.kinks, batched) and domains (one unbatched point) ----


def _pnorm_switches(v, p: float, distance) -> list:
    """Where the p-norm along the last axis is not smooth: a difference at 0 (p other than 2 and inf: a kink
    for p = 1, a jump for p = 0, an infinite slope for p < 1, smooth with p > 1), the whole distance at 0
    (p = 2), a tie for the largest |difference| or a distance of 0 (p = inf)."""
    if p == 2:
        return [distance]
    if p == INF:
        return extremum_switches(abs(v), (-1,), largest=True) + [distance]
    return [v]


def pairwise_distance_kinks(x1, x2, options) -> list:
    v, p = _differences(x1, x2, options), power(options)
    return _pnorm_switches(v, p, pnorm(v, p, -1, True))


def cdist_kinks(x1, x2, options) -> list:
    v, p = _cross_differences(x1, x2), power(options)
    return _pnorm_switches(v, p, pnorm(v, p, -1, True))


def cosine_similarity_kinks(x1, x2, options) -> list:
    """Each norm crossing eps, where torch's clamp max(|x|, eps) switches."""
    if options.eps <= 0:
        return []
    _, n1, n2 = _norms(x1, x2, options)
    return [n1 - options.eps, n2 - options.eps]


def _nonzero_differences(v, p: float) -> bool:
    return p >= 1 or bool(np.all(v != 0))


def pairwise_distance_domain(x1, x2, options) -> bool:
    return _nonzero_differences(_differences(x1[np.newaxis], x2[np.newaxis], options), power(options))


def cdist_domain(x1, x2, options) -> bool:
    return _nonzero_differences(_cross_differences(x1[np.newaxis], x2[np.newaxis]), power(options))


def cosine_similarity_domain(x1, x2, options) -> bool:
    """With eps = 0 a zero vector gives 0/0."""
    if options.eps > 0:
        return True
    _, n1, n2 = _norms(x1[np.newaxis], x2[np.newaxis], options)
    return bool(np.all(n1 != 0) and np.all(n2 != 0))


P_BELOW_ONE = ("with p < 1 every coordinate difference must be non-zero (p = 0 counts the non-zero differences "
               "and jumps where one is 0; for 0 < p < 1 the slope is infinite there)")


# ---- vjp rules: (adjoint, node, shape_of) -> adjoints of the arguments ----


def _options(op: str, **given):
    from .ops import OPS

    return OPS[op].with_options(given)


def _reshape(x, shape: tuple):
    return x.graph.apply("reshape", x, attr=tuple(shape))


def _sum_back(grad, arg, shape_of):
    """grad (at the broadcast shape) summed down to arg's shape."""
    if shape_of(grad) == shape_of(arg):
        return grad
    if shape_of(arg) == ():
        return grad.graph.apply("sum", grad)
    return grad.graph.apply("sum_to", grad, arg)


def _guarded(x):
    """x with its zeros replaced by 1 (x + (x == 0)): a divisor that is never 0, whose derivative is x's."""
    return x + x.graph.apply("eq", x, 0.0)


def pnorm_slope(v, distance, p: float):
    """d |v|_p / dv along the last axis, as graph nodes (`distance` the norm with the axis kept); 0 where torch's
    is 0 (a zero distance, a zero difference for p <= 1); ties of p = inf share, as amax's do."""
    g = v.graph
    if p == 2:
        return v / _guarded(distance)
    sign = g.apply("sign", v)
    if p == 1:
        return sign
    if p == INF:
        top = g.apply("eq", g.apply("abs", v), distance)
        count = g.apply("sum_dims", top, attr=_options("sum_dims", dim=(-1,), keepdim=True))
        return sign * top / count
    return sign * _guarded(g.apply("abs", v)) ** (p - 1) * _guarded(distance) ** (1 - p)


def pairwise_distance_vjp(adj, node, shape_of):
    x1, x2 = node.args
    g = adj.graph
    o = node.attr
    v = x1 - x2 + o.eps if o.eps else x1 - x2
    kept = shape_of(v)[:-1] + (1,)
    if power(o) == 0:
        return [g.apply("zeros", attr=shape_of(x1)), g.apply("zeros", attr=shape_of(x2))]
    distance = node if o.keepdim else _reshape(node, kept)
    share = (adj if o.keepdim else _reshape(adj, kept)) * pnorm_slope(v, distance, power(o))
    return [_sum_back(share, x1, shape_of), -_sum_back(share, x2, shape_of)]


def cdist_vjp(adj, node, shape_of):
    """v[..., i, j, :] = x1[..., i, :] - x2[..., j, :]: the share of v summed over j for x1, over i for x2."""
    x1, x2 = node.args
    g = adj.graph
    if power(node.attr) == 0:
        return [g.apply("zeros", attr=shape_of(x1)), g.apply("zeros", attr=shape_of(x2))]
    rows = g.apply("unsqueeze", x1, attr=_options("unsqueeze", dim=-2))
    columns = g.apply("unsqueeze", x2, attr=_options("unsqueeze", dim=-3))
    v = rows - columns
    kept = shape_of(node) + (1,)
    share = _reshape(adj, kept) * pnorm_slope(v, _reshape(node, kept), power(node.attr))
    first = g.apply("sum", share, attr=(-2,))
    second = g.apply("sum", share, attr=(-3,))
    return [_sum_back(first, x1, shape_of), -_sum_back(second, x2, shape_of)]


def cosine_similarity_vjp(adj, node, shape_of):
    """c = a.b / (N1 N2), N = max(|x|, eps) along dim, a and b broadcast: ā = adj (b/(N1 N2) - c [|a| > eps]
    a/N1**2), b̄ alike.  N is built as sqrt(max(|x|**2, eps**2)) (without eps**2 underflowing): so that a zero
    vector, where the norm's own slope is 0/0, gets a finite second derivative."""
    x1, x2 = node.args
    g = adj.graph
    o = node.attr
    product = x1 * x2
    shape = shape_of(product)
    dim = o.dim % len(shape)
    kept = shape[:dim] + (1,) + shape[dim + 1:]
    a = x1 if shape_of(x1) == shape else g.apply("expand", x1, product)
    b = x2 if shape_of(x2) == shape else g.apply("expand", x2, product)
    along = _options("sum_dims", dim=(dim,), keepdim=True)
    eps_squared = o.eps * o.eps

    def clamped(x):
        squares = g.apply("sum_dims", x * x, attr=along)
        if eps_squared > 0:
            return g.apply("sqrt", g.apply("maximum", squares, eps_squared)), g.apply("gt", squares, eps_squared)
        norm = g.apply("sqrt", squares)
        return (g.apply("maximum", norm, o.eps), g.apply("gt", norm, o.eps)) if o.eps > 0 else (norm, 1.0)

    (n1, above1), (n2, above2) = clamped(a), clamped(b)
    c, weight = _reshape(node, kept), _reshape(adj, kept)
    both = n1 * n2
    a_bar = weight * (b / both - c * above1 * a / (n1 * n1))
    b_bar = weight * (a / both - c * above2 * b / (n2 * n2))
    return [_sum_back(a_bar, x1, shape_of), _sum_back(b_bar, x2, shape_of)]
