"""Similarities and distances as torch names them: cosine_similarity, pairwise_distance and cdist (kernels, shape
rules, kinks and vjps in distance_kernels.py; the numpy kernels also run on mpmath objects for the referee)."""

from __future__ import annotations

from .. import distance_kernels as D
from .record import OpSpec, Option, torch_module


def _functional():
    return torch_module().nn.functional


_P = Option("p", 2.0, "float", ("inf",))  # p='inf': the language has no inf literal

OPS: list[OpSpec] = [
    OpSpec("cosine_similarity", 2, D.cosine_similarity,
           lambda a, b, o: _functional().cosine_similarity(a, b, dim=o.dim, eps=o.eps),
           vjp=D.cosine_similarity_vjp, shape=D.cosine_similarity_shape, attrs="options",
           options=(Option("dim", 1, "int"), Option("eps", 1e-8, "float")), elementwise=False, analytic=False,
           kinks=D.cosine_similarity_kinks, mp=D.unbatched(D.cosine_similarity),
           domain=D.cosine_similarity_domain, domain_text="with eps = 0 a zero vector has no direction (0/0)",
           param_names=("x1", "x2"),
           doc="x1 . x2 / (max(|x1|, eps) max(|x2|, eps)) along dim, broadcast "
               "(torch.nn.functional.cosine_similarity(x1, x2, dim=1, eps=1e-08)); a norm crossing eps is a kink; "
               "below eps the value is linear in that vector, and torch's gradient (the unclamped norm's) is not "
               "its derivative"),
    OpSpec("pairwise_distance", 2, D.pairwise_distance,
           lambda a, b, o: _functional().pairwise_distance(a, b, p=D.power(o), eps=o.eps, keepdim=o.keepdim),
           vjp=D.pairwise_distance_vjp, shape=D.pairwise_distance_shape, attrs="options",
           options=(_P, Option("eps", 1e-6, "float"), Option("keepdim", False, "bool")), elementwise=False,
           analytic=False, kinks=D.pairwise_distance_kinks, mp=D.unbatched(D.pairwise_distance),
           domain=D.pairwise_distance_domain, domain_text=D.P_BELOW_ONE, param_names=("x1", "x2"),
           doc="the p-norm of x1 - x2 + eps along the last dim, broadcast "
               "(torch.nn.functional.pairwise_distance(x1, x2, p=2.0, eps=1e-06, keepdim=False)); p = 0, 1, 2, "
               "'inf' or any other number; a zero difference (p = 1), a zero distance (p = 2) and a tie (p = 'inf') "
               "are kinks"),
    OpSpec("cdist", 2, D.cdist, lambda a, b, o: torch_module().cdist(a, b, p=D.power(o)), vjp=D.cdist_vjp,
           shape=D.cdist_shape, attrs="options", options=(_P,), elementwise=False, analytic=False,
           kinks=D.cdist_kinks, mp=D.unbatched(D.cdist), domain=D.cdist_domain, domain_text=D.P_BELOW_ONE,
           param_names=("x1", "x2"),
           doc="the p-norm distance of each row of x1 (B?, P, M) to each row of x2 (B?, R, M): (B?, P, R) "
               "(torch.cdist(x1, x2, p=2.0)); p >= 0 or 'inf'; a zero distance (p = 2), a zero difference (p = 1) "
               "and a tie (p = 'inf') are kinks, where torch's gradient is 0 (at a tie of p = 'inf' torch gives "
               "each tied element the whole gradient; here they share it, as amax)"),
]
