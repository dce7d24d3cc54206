"""What to check: the expression, the point and the options of one case.

A `Spec` comes from the command line (cli.py) or from Python (`check()`);
it holds plain data and no behaviour beyond its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .compare import DEFAULT_TOLERANCE, Tolerance
from .limits import DEFAULT_LIMITS, Limits

DTYPES = ("float64", "float32")


@dataclass
class Spec:
    expr: str
    at: dict[str, np.ndarray]
    wrt: list[str] | None = None  # None: every variable
    manual: dict[str, str] = field(default_factory=dict)
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    rtol: float | None = None
    atol: float | None = None
    dtype: str = "float64"
    name: str | None = None
    file: str | None = None
    line: int | None = None
    limits: Limits = DEFAULT_LIMITS

    @property
    def tolerance(self) -> Tolerance:
        default = DEFAULT_TOLERANCE[self.dtype]
        return Tolerance(rtol=default.rtol if self.rtol is None else self.rtol,
                         atol=default.atol if self.atol is None else self.atol)

    @property
    def display_name(self) -> str:
        return self.name or self.expr
