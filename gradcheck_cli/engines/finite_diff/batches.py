"""How many perturbed points one batched run may evaluate: a run holds every node's value for every point.

Its own module because the complex step and Richardson both size their runs by it.  The budget is the
package's `BATCH_BYTES`, read at each call, so that lowering it there (the memory tests do) takes effect.
"""

from __future__ import annotations

import numpy as np


def points_per_batch(values_per_point: int, dtype) -> int:
    """How many perturbed points one batched run may evaluate, each holding `values_per_point` values."""
    from . import BATCH_BYTES  # the package's setting as it is now, not as it was at import

    return max(1, BATCH_BYTES // (max(1, values_per_point) * np.dtype(dtype).itemsize))
