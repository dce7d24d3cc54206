"""How many significant digits a row's numbers get when the table is short of room.

A wide table prints every number at its dtype's full precision.  When that does not fit, the digits are chosen
on purpose, per row: enough that two numbers the tolerance tells apart also print differently (the digit where
they part is shown), and otherwise the digits the tolerance can see (rtol 1e-7: 8 digits) — agreement beyond
that is the rel error column's to tell, not a wall of equal digits.
"""

from __future__ import annotations

import math

from ..verdict.compare import GradientRow, Tolerance

FULL_DIGITS = {"float64": 16, "float32": 8}
FEWEST_DIGITS = 4
COMPARED = ("symbolic", "manual", "finite_difference", "autograd", "function", "function_fd", "expected",
            "float64")  # the row's answers set beside its reference


def full_digits(dtype: str) -> int:
    """Every digit the dtype holds, as the wide table prints it."""
    return FULL_DIGITS.get(dtype, 16)


def row_digits(row: GradientRow, tolerance: Tolerance | None, dtype: str) -> int:
    """The significant digits for the numbers of `row`: the tolerance's, raised until every answer that differs
    from the reference by more than the tolerance prints differently from it; never more than the dtype's."""
    most = full_digits(dtype)
    digits = min(most, _tolerance_digits(tolerance, most))
    if row.reference is None or not math.isfinite(row.reference):
        return digits
    apart = [v for v in (getattr(row, name) for name in COMPARED)
             if v is not None and math.isfinite(v) and _beyond(v, row.reference, tolerance)]
    while digits < most and any(_shown(v, digits) == _shown(row.reference, digits) for v in apart):
        digits += 1
    return digits


def _tolerance_digits(tolerance: Tolerance | None, most: int) -> int:
    """One digit past what the relative tolerance resolves: rtol 1e-7 gives 8."""
    if tolerance is None or tolerance.rtol <= 0:
        return most
    return max(FEWEST_DIGITS, math.ceil(-math.log10(tolerance.rtol)) + 1)


def _beyond(value: float, reference: float, tolerance: Tolerance | None) -> bool:
    if tolerance is None:
        return value != reference
    return abs(value - reference) > tolerance.atol + tolerance.rtol * abs(reference)


def _shown(value: float, digits: int) -> str:
    return f"{value:.{digits}g}"
