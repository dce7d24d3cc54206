"""Random points for `sample:` in spec files, drawn inside the given box and the ops' domains."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .spec import Spec

MAX_DRAWS = 100  # draws per point before giving up on finding one inside the domains


def sample_specs(spec: Spec, sampling) -> list[Spec]:
    """One spec per sampled point, named `<name> sampled [k/n, seed s]`."""
    from .case import point_is_checkable

    rng = np.random.default_rng(sampling.seed)
    specs = []
    for k in range(1, sampling.n + 1):
        name = f"{spec.name} sampled [{k}/{sampling.n}, seed {sampling.seed}]"
        candidate = replace(spec, name=name)
        for _ in range(MAX_DRAWS):
            candidate = replace(spec, name=name, at=_draw(spec, sampling, rng))
            if point_is_checkable(candidate):
                break
        specs.append(candidate)
    return specs


def _draw(spec: Spec, sampling, rng: np.random.Generator) -> dict[str, np.ndarray]:
    point = dict(spec.at)
    for name, (low, high) in sampling.domain.items():
        shape = np.shape(spec.at[name]) if name in spec.at else ()
        point[name] = rng.uniform(low, high, size=shape)
    return point
