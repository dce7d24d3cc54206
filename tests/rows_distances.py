"""Registry rows of the distances family (gradcheck_cli/lang/ops/distances.py), and of qr (ops/linalg.py), as
tests/test_ops_registry.py reads them.

Points are away from the kinks (no zero difference for p = 1, no zero distance for p = 2, no tie for p = 'inf',
norms above eps for cosine_similarity) and, for qr, away from its jumps (no triangular matrix): there the values,
and the gradients through `checks`, are compared with torch.autograd and finite differences in float64 (and, in
test_precise, with the mpmath referee).  The kinks, the jumps and torch's conventions on them are
tests/test_distance_family.py's and tests/test_qr.py's."""

from __future__ import annotations

import numpy as np
from op_rows import At, C, Row, opts


def _values(seed: int, *shape: int) -> list:
    """Fixed sample values, two decimals, of `shape` (no two equal, no zero difference between two of them)."""
    return np.random.default_rng(seed).normal(size=shape).round(2).tolist()


X23, Y23, X34, Y24, X234, Y34 = (_values(1, 2, 3), _values(2, 2, 3), _values(3, 3, 4), _values(4, 2, 4),
                                 _values(5, 2, 3, 4), _values(6, 3, 4))
V4, W4, V3 = _values(7, 4), _values(8, 4), _values(9, 3)
U2, U3, U32, U23, U22, U232 = (_values(10, 2), _values(11, 3), _values(12, 3, 2), _values(13, 2, 3),
                               _values(14, 2, 2), _values(15, 2, 3, 2))
Y134, U231, U233 = [_values(16, 3, 4)], _values(24, 2, 3, 1), _values(25, 2, 3, 3)
A43, A33, A24, A31 = _values(17, 4, 3), _values(18, 3, 3), _values(19, 2, 4), _values(20, 3, 1)
W43, W33, W24 = _values(21, 4, 3), _values(22, 3, 3), _values(23, 2, 4)
EYE3 = np.eye(3).tolist()
UPPER = [[2.0, -1.0, 0.5], [0.0, 1.5, 0.25], [0.0, 0.0, -3.0]]

ROWS: dict[str, Row] = {
    "cosine_similarity": Row(
        ("x1", "x2"),
        [(X23, Y23), (X34, Y34), (X234, Y34), At((X34, Y34), opts("cosine_similarity", dim=0)),
         At((X234, Y134), opts("cosine_similarity", dim=-1)), At((X23, Y23), opts("cosine_similarity", eps=0.5))],
        # vectors (dim=0); a norm below eps: torch's value, linear in that vector there (its gradient is
        # test_distance_family's)
        [At((V4, W4), opts("cosine_similarity", dim=0)), At(([[1e-9, 2e-9, -1e-9]], Y23), opts("cosine_similarity"))],
        checks=["sum(cosine_similarity(x1, x2)**3)", C("sum(cosine_similarity(x1, x2, dim=0)*u)", x1=X34, x2=Y34, u=V4),
                C("cosine_similarity(x1, x2, 0)", x1=V4, x2=W4),
                C("sum(cosine_similarity(x1, x2, dim=-1)*u)", x1=X234, x2=Y34, u=U23),
                C("sum(cosine_similarity(x1, x2, dim=1, eps=0.0)**3)", x1=X23, x2=V3),
                C("sum(cosine_similarity(x1, x2, eps=0.1)*u)", x1=X23, x2=Y23, u=U2),
                C("sum(cosine_similarity(x1, x2)**2)", x1=X234, x2=Y134)],
        text="cosine_similarity(x1, x2)"),
    "pairwise_distance": Row(
        ("x1", "x2"),
        [(X23, Y23), (X34, Y34), (V4, W4), (X234, Y34), (X34, W4),
         At((X34, Y34), opts("pairwise_distance", p=1.0)), At((X34, Y34), opts("pairwise_distance", p="inf")),
         At((X34, Y34), opts("pairwise_distance", p=3.0, eps=0.0)), At((X34, Y34), opts("pairwise_distance", p=0.5)),
         At((X34, Y34), opts("pairwise_distance", p=-1.5)), At((X234, Y34), opts("pairwise_distance", keepdim=True))],
        [At((X34, Y34), opts("pairwise_distance", p=0.0)), At((X23, X23), opts("pairwise_distance", eps=0.0))],
        checks=["sum(pairwise_distance(x1, x2)**3)",
                C("sum(pairwise_distance(x1, x2, p=1)*u)", x1=X34, x2=Y34, u=U3),
                C("sum(pairwise_distance(x1, x2, p='inf')*u)", x1=X34, x2=Y34, u=U3),
                C("sum(pairwise_distance(x1, x2, 3.0, 0.0)*u)", x1=X34, x2=Y34, u=U3),
                C("sum(pairwise_distance(x1, x2, p=1.5, eps=1e-3)**2)", x1=X234, x2=Y34),
                C("sum(pairwise_distance(x1, x2, p=0.5)*u)", x1=X34, x2=W4, u=U3),
                C("sum(pairwise_distance(x1, x2, p=-1.5)*u)", x1=X34, x2=Y34, u=U3),
                C("sum(pairwise_distance(x1, x2, keepdim=True)*u)", x1=X234, x2=Y34, u=U231),
                C("pairwise_distance(x1, x2)", x1=V4, x2=W4),
                C("sum(pairwise_distance(x1, x2, p=0)*u)", x1=X34, x2=Y34, u=U3)],
        text="pairwise_distance(x1, x2)"),
    "cdist": Row(
        ("x1", "x2"),
        [(X34, Y24), (X23, Y23), (X234, Y24), (X234, Y134), At((X34, Y24), opts("cdist", p=1.0)),
         At((X34, Y24), opts("cdist", p="inf")), At((X34, Y24), opts("cdist", p=0.5)),
         At((X234, Y134), opts("cdist", p=3.0))],
        [At((X34, Y24), opts("cdist", p=0.0)), At((X23, X23), opts("cdist"))],
        checks=["sum(cdist(x1, x2)**3)",
                C("sum(cdist(x1, x2)*u)", x1=X34, x2=Y24, u=U32),
                C("sum(cdist(x1, x2, p=1)*u)", x1=X34, x2=Y24, u=U32),
                C("sum(cdist(x1, x2, p='inf')*u)", x1=X34, x2=Y24, u=U32),
                C("sum(cdist(x1, x2, 1.5)*u)", x1=X234, x2=Y24, u=U232),
                C("sum(cdist(x1, x2, p=0.5)**2)", x1=X34, x2=Y24),
                C("sum(cdist(x1, x2, p=0)*u)", x1=X34, x2=Y24, u=U32),
                C("sum(cdist(x1, x2, p=3)*u)", x1=X234, x2=Y134, u=U233)],
        text="cdist(x1, x2)"),
    # qr: tall, square and wide, both parts, in LAPACK's gauge (R's diagonal of either sign); forward only on its
    # jumps (the identity and a triangular matrix, where LAPACK reflects nothing)
    "qr": Row(
        ("A",),
        [(A43,), (A33,), (A24,), (A31,), At((A43,), opts("qr", part="Q")), At((A33,), opts("qr", part="Q")),
         At((A24,), opts("qr", part="Q")), At((A24,), opts("qr", mode="complete", part="Q")),
         At((A31,), opts("qr", part="Q"))],
        [At((EYE3,), opts("qr", part="Q")), (UPPER,), At((UPPER,), opts("qr", part="Q"))],
        checks=["sum(qr(A)**3)", C("sum(qr(A)*W)", A=A43, W=W33), C("sum(qr(A, part='Q')*W)", A=A43, W=W43),
                C("sum(qr(A, part='Q')**3)", A=A43),
                # (Q of a square A does not depend on A's last column: torch's gradient there is rounding noise, this
                # rule's exactly 0; tests/test_qr.py checks the whole Q)
                C("sum(qr(A, part='Q')[:, :2]*W)", A=A33, W=U32), C("sum(qr(A, part='Q')*W)", A=A24, W=U22),
                C("sum(qr(A)*W)", A=A24, W=W24), C("sum(qr(A, 'complete', part='Q')*W)", A=A24, W=U22),
                C("sum((qr(A, part='Q') @ qr(A))*W)", A=A43, W=W43),
                C("sum(qr(A, part='Q')*W) + sum(qr(A)**2)", A=A33, W=W33)],
        text="qr(A)"),
}
