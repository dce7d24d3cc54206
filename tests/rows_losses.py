"""Registry rows of the losses family (gradcheck_cli/lang/ops/losses.py), as
tests/test_ops_registry.py reads them.

Points give the required operands only (the table's arity); the optional operands (weight, pos_weight) are
exercised by the Case checks, against torch.autograd (tests/test_loss_family.py checks the weighted forwards
against torch.nn.functional itself, and what torch cannot differentiate).  Every reduction at several points.
(The tails where torch loses digits, binary_cross_entropy_with_logits at +-50, are checked against mpmath in
tests/test_loss_family.py: torch.autograd is the reference here, to 1e-12.)
"""

from __future__ import annotations

from op_rows import At, C, Row, opts

M23 = [[0.5, -1.0, 2.0], [1.5, 3.0, -0.25]]
M23B = [[-0.75, 1.25, 0.5], [2.0, -1.5, 1.0]]
M33 = [[0.5, -1.0, 2.0], [1.5, 3.0, -0.25], [0.1, 0.2, -0.3]]
V3 = [0.5, -1.0, 2.0]
V3B = [1.25, 0.75, -0.5]
W3 = [0.5, 2.0, 1.5]
# (N, C, d1) = (2, 3, 2): class dim 1, targets of shape (2, 2)
Z323 = [[[0.5, -1.0], [2.0, 0.1], [0.3, 0.4]], [[1.5, 3.0], [-0.25, 0.0], [1.0, -2.0]]]
LARGE = [[1000.0, 1001.0, 999.5], [-1000.0, 5.0, -3.0]]
# probabilities (input of binary_cross_entropy, targets of kl_div) and soft binary targets
P23 = [[0.2, 0.7, 0.45], [0.9, 0.05, 0.6]]
P23B = [[0.35, 0.15, 0.8], [0.01, 0.5, 0.99]]
T23 = [[0.0, 1.0, 0.3], [1.0, 0.0, 0.5]]
T23B = [[1.0, 0.25, 0.0], [0.5, 1.0, 0.75]]
P3, P3B, T3, T3B = [0.3, 0.8, 0.55], [0.6, 0.02, 0.97], [1.0, 0.0, 0.4], [0.0, 0.5, 1.0]
# class probabilities (soft targets of cross_entropy): rows summing to 1, and one that does not (torch allows it)
Q23 = [[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]
Q23B = [[0.0, 1.0, 0.0], [0.25, 0.25, 0.7]]
Q3 = [0.2, 0.3, 0.5]
Q323 = [[[0.2, 0.3], [0.5, 0.1], [0.3, 0.6]], [[0.1, 0.2], [0.8, 0.5], [0.1, 0.3]]]


def _ce(**given):
    return opts("cross_entropy", **given)


def _probs(**given):
    return opts("cross_entropy_probs", **given)


def _nll(**given):
    return opts("nll_loss", **given)


REDUCED = ["{op}(x, y)", "{op}(x, y, reduction='sum')", "sum({op}(x, y, reduction='none')*x)"]


def _reduced(op: str, **options) -> list[str]:
    """The op's checks in each reduction, with `options` (keyword text) added."""
    extra = "".join(f", {k}={v!r}" for k, v in options.items())
    return [text.format(op=op).replace("(x, y", f"(x, y{extra}") for text in REDUCED]


ROWS: dict[str, Row] = {
    "cross_entropy": Row(
        ("z",),
        [At((M23,), _ce(target=(2, 0))), At((M23,), _ce(target=(1, 1), reduction="sum")),
         At((M23,), _ce(target=(2, -100), reduction="none")), At((M23,), _ce(target=(0, 2), label_smoothing=0.1)),
         At((M33,), _ce(target=(0, 1, 2), ignore_index=1, reduction="sum", label_smoothing=0.3)),
         At((V3,), _ce(target=(1,))), At((V3,), _ce(target=(2,), reduction="none")),
         At((Z323,), _ce(target=((1, 0), (2, 2)))),
         At((Z323,), _ce(target=((1, -100), (2, 0)), reduction="none", label_smoothing=0.2)),
         At((LARGE,), _ce(target=(0, 2)))],
        [At((M23,), _ce(target=(-100, -100), reduction="sum")), At((M23,), _ce(target=(0, 0), label_smoothing=1.0))],
        checks=[C("cross_entropy(z, (2, 0))", z=M23), C("cross_entropy(z, (1, 1), reduction='sum')", z=M23B),
                C("sum(cross_entropy(z, (2, -100), reduction='none')*v)", z=M23, v=[1.5, -0.5]),
                C("cross_entropy(z, (0, 2), weight=w, label_smoothing=0.1)", z=M23, w=W3),
                C("cross_entropy(z, (0, 1, 2), w, ignore_index=1, reduction='sum', label_smoothing=0.3)", z=M33, w=W3),
                C("cross_entropy(z, 1)**2", z=V3), C("cross_entropy(z, target=2, reduction='none')", z=V3B),
                C("cross_entropy(z, target=((1, 0), (2, 2)), weight=w)", z=Z323, w=W3),
                C("sum(cross_entropy(z, ((1, -100), (2, 0)), weight=w, reduction='none', label_smoothing=0.2)**2)",
                  z=Z323, w=W3),
                C("cross_entropy(z, (0, 2))", z=LARGE),
                C("cross_entropy(x @ a, (2, 0), label_smoothing=0.1)", x=M23, a=M33)],
        text="cross_entropy(z, (2, 0))"),
    "cross_entropy_probs": Row(
        ("z", "p"),
        [At((M23, Q23)), At((M23B, Q23B), _probs(reduction="sum")),
         At((M23, Q23), _probs(reduction="none", label_smoothing=0.2)), At((V3, Q3)),
         At((Z323, Q323), _probs(reduction="none")), At((Z323, Q323), _probs(label_smoothing=0.1)),
         At((LARGE, Q23))],
        checks=[C("cross_entropy(z, p)", z=M23, p=Q23), C("cross_entropy(z, p, reduction='sum')", z=M23B, p=Q23B),
                C("sum(cross_entropy(z, p, reduction='none')*v)", z=M23, p=Q23, v=[1.5, -0.5]),
                C("cross_entropy(z, p, w, label_smoothing=0.3)", z=M23, p=Q23B, w=W3),
                C("cross_entropy(input=z, target=p, weight=w, reduction='sum')", z=V3, p=Q3, w=W3),
                C("sum(cross_entropy(z, p, weight=w, reduction='none', label_smoothing=0.2)**2)", z=Z323, p=Q323,
                  w=W3),
                C("cross_entropy(z, softmax(z @ a, 1))", z=M23, a=M33)],
        text="cross_entropy(z, p)"),
    "nll_loss": Row(
        ("z",),
        [At((M23,), _nll(target=(2, 0))), At((M23,), _nll(target=(1, 1), reduction="sum")),
         At((M23,), _nll(target=(2, -100), reduction="none")), At((M33,), _nll(target=(0, 1, 2), ignore_index=2)),
         At((V3,), _nll(target=(1,))), At((Z323,), _nll(target=((1, 0), (2, 2)), reduction="sum"))],
        [At((M23,), _nll(target=(-100, -100), reduction="none"))],
        checks=[C("nll_loss(log_softmax(z, 1), (2, 0))", z=M23), C("nll_loss(z, (1, 1), reduction='sum')", z=M23B),
                C("sum(nll_loss(z, (2, -100), reduction='none')**2)", z=M23),
                C("nll_loss(log_softmax(z, 1), (0, 2), w)", z=M23, w=W3),
                C("nll_loss(z, (0, 1, 2), weight=w, ignore_index=2)", z=M33, w=W3),
                C("nll_loss(z, (0, 1, 2), weight=w, reduction='sum')**2", z=M33, w=W3),
                C("nll_loss(log_softmax(z, 0), 1)", z=V3),
                C("nll_loss(log_softmax(z, 1), ((1, 0), (2, 2)), weight=w)", z=Z323, w=W3)],
        text="nll_loss(z, (2, 0))"),
    "mse_loss": Row(
        ("x", "y"),
        [(V3, V3B), (M23, V3), (1.5, -0.5), At((V3, V3B), opts("mse_loss", reduction="sum")),
         At((M23, M23B), opts("mse_loss", reduction="none")), At((M23, 0.5), opts("mse_loss", reduction="none"))],
        checks=_reduced("mse_loss") + [C("mse_loss(x, y, weight=w)", x=M23, y=M23B, w=P23),
                                       C("mse_loss(x, y, reduction='sum', weight=w)", x=V3, y=V3B, w=W3),
                                       C("sum(mse_loss(x, y, reduction='none', weight=w)**2)", x=V3, y=V3B, w=W3)]),
    "l1_loss": Row(
        ("x", "y"),
        [(V3, V3B), (M23, V3B), (1.5, -0.5), At((V3, V3B), opts("l1_loss", reduction="sum")),
         At((M23, M23B), opts("l1_loss", reduction="none"))],
        [(V3, V3), At((M23, 0.5), opts("l1_loss", reduction="none"))],
        checks=_reduced("l1_loss") + [C("l1_loss(x, y, weight=w)", x=M23, y=M23B, w=P23),
                                      C("sum(l1_loss(x, y, reduction='none', weight=w)**2)", x=V3, y=V3B, w=W3)]),
    # (V3 - V3B = (-0.75, -1.75, 2.5): inside and outside |d| < beta for beta = 1 and 2)
    "smooth_l1_loss": Row(
        ("x", "y"),
        [(V3, V3B), (M23, V3B), (0.25, -0.5), At((V3, V3B), opts("smooth_l1_loss", beta=2.0)),
         At((M23, M23B), opts("smooth_l1_loss", reduction="none", beta=0.75)),
         At((V3, V3B), opts("smooth_l1_loss", reduction="sum", beta=0.0))],
        [At((1.5, 0.5), opts("smooth_l1_loss")), At((V3, V3), opts("smooth_l1_loss", beta=0.0))],
        checks=_reduced("smooth_l1_loss") + _reduced("smooth_l1_loss", beta=2.0)[:2]
        + [C("smooth_l1_loss(x, y, beta=0.0)", x=V3, y=V3B), C("smooth_l1_loss(x, y, beta=0.75)**2", x=M23, y=M23B)]),
    "huber_loss": Row(
        ("x", "y"),
        [(V3, V3B), (M23, V3B), (0.25, -0.5), At((V3, V3B), opts("huber_loss", delta=2.0)),
         At((M23, M23B), opts("huber_loss", reduction="none", delta=0.75)),
         At((V3, V3B), opts("huber_loss", reduction="sum", delta=0.5))],
        [At((1.5, 0.5), opts("huber_loss"))],
        checks=_reduced("huber_loss") + [
            C("huber_loss(x, y, reduction='sum', delta=2.0)", x=V3, y=V3B),
            C("huber_loss(x, y, 'sum', 2.0)", x=M23, y=V3B),  # torch's positional order
            C("huber_loss(x, y, delta=0.75, weight=w)", x=M23, y=M23B, w=P23),
            C("huber_loss(x, y, reduction='sum', delta=0.5, weight=w)**2", x=V3, y=V3B, w=W3)]),
    "kl_div": Row(
        ("x", "y"),
        [(M23, P23), At((M23, P23B), opts("kl_div", reduction="batchmean")),
         At((M23B, P23), opts("kl_div", reduction="sum")), At((M23, P23), opts("kl_div", reduction="none")),
         At((M23, P23B), opts("kl_div", reduction="batchmean", log_target=True)),
         At((V3B, P3), opts("kl_div", reduction="none", log_target=True)), At((V3, P3), opts("kl_div"))],
        [At((M23, T23), opts("kl_div", reduction="sum")), At((M23, T23), opts("kl_div", reduction="none"))],
        checks=[*_reduced("kl_div"), "kl_div(x, y, reduction='batchmean')", C("kl_div(x, y)", x=M23, y=P23B),
                C("kl_div(x, y, reduction='batchmean', log_target=True)", x=M23, y=M23B),
                C("sum(kl_div(x, y, reduction='none', log_target=True)**2)", x=V3, y=V3B),
                C("kl_div(log_softmax(z, 1), y, reduction='batchmean')", z=M23B, y=P23),
                C("kl_div(x, y, reduction='sum')", ("x",), x=M23, y=T23)]),
    # (two points per shape and reduction: the batch test negates a lone point, which leaves (0, 1))
    "binary_cross_entropy": Row(
        ("x", "y"),
        [(P3, T3), (P3B, T3B), (P23, T23), (P23B, T23B),
         At((P23, T23), opts("binary_cross_entropy", reduction="sum")),
         At((P23B, T23), opts("binary_cross_entropy", reduction="sum")),
         At((P3, T3B), opts("binary_cross_entropy", reduction="none")),
         At((P3B, T3), opts("binary_cross_entropy", reduction="none")), (1e-10, 0.5), (0.999, 0.25)],
        checks=[*_reduced("binary_cross_entropy"), C("binary_cross_entropy(x, y, w)", x=P23, y=T23, w=M23B),
                C("binary_cross_entropy(x, y, weight=w, reduction='sum')", x=P23, y=T23B, w=V3B),
                C("sum(binary_cross_entropy(x, y, w, reduction='none')**2)", x=P3, y=T3, w=W3),
                C("binary_cross_entropy(sigmoid(z), y)", z=M23, y=T23)]),
    "binary_cross_entropy_with_logits": Row(
        ("x", "y"),
        [(V3, T3), (M23, T23), ([5.0, -5.0, 0.3], [1.0, 0.0, 0.5]), ([-5.0, 5.0, -0.3], [1.0, 0.0, 0.5]),
         At((M23, T23B), opts("binary_cross_entropy_with_logits", reduction="sum")),
         At((V3B, T3B), opts("binary_cross_entropy_with_logits", reduction="none"))],
        checks=[*_reduced("binary_cross_entropy_with_logits"),
                C("binary_cross_entropy_with_logits(x, y, w)", x=M23, y=T23, w=M23B),
                C("binary_cross_entropy_with_logits(x, y, pos_weight=p)", x=M23, y=T23B, p=W3),
                C("binary_cross_entropy_with_logits(x, y, w, reduction='sum', pos_weight=p)", x=M23, y=T23, w=V3B,
                  p=[[2.0], [0.5]]),
                C("sum(binary_cross_entropy_with_logits(x, y, reduction='none', pos_weight=p)**2)",
                  x=[5.0, -5.0, 0.3], y=[1.0, 0.0, 0.5], p=W3)]),
}
