"""Where the failing entries of a gradient lie, as a pattern: one channel, the border, every k-th element, a block.

A kernel's backward that is wrong is rarely wrong at random: a bug in one channel's weight, in the padding,
in a stride or a tile shows as a shape in the mask of failing entries over the input.  The 20 worst entries
of the table cannot show it; this module reads the mask (one boolean per input element: any entry of its
Jacobian column failed) and names the shape, most specific first:

- `index`: every failing entry has the same index along some axes (`x[:, 3]`: channel 3 of N×C×H×W;
  `x[0]`: one batch item), said with whether they fill that slice;
- `border`: they lie on the first or last index of the trailing (spatial) axes, and not everywhere;
- `stride`: along an axis, on every k-th index (k ≥ 2) from a start;
- `block`: they fill a contiguous box smaller than the whole;
- `scattered`: none of these.

The result is plain data for the table's note and JSON's `patterns`.
"""

from __future__ import annotations

import numpy as np

from .compare import GradientRow, Status

MIN_ELEMENTS = 16  # smaller inputs are read whole in the table: their worst entries are the pattern
MIN_FAILING = 2
SPATIAL_FROM = 2  # in N×C×H×W (and N×C×L, N×C×D×H×W) the axes from 2 on are spatial: a border lies there


def failure_patterns(rows: list[GradientRow], shapes: dict[str, tuple],
                     output_shape: tuple | None = None) -> list[dict]:
    """One pattern per input of `shapes` with at least MIN_ELEMENTS elements, MIN_FAILING or more failing and
    some not, from the Jacobian rows (wrt a name, index into its shape); `output_shape` as `pattern_of` takes it."""
    masks = {name: np.zeros(shape, dtype=bool) for name, shape in shapes.items()
             if int(np.prod(shape)) >= MIN_ELEMENTS}
    for row in rows:
        if row.status == Status.FAIL and isinstance(row.wrt, str) and row.wrt in masks and row.projection is None:
            masks[row.wrt][tuple(row.index)] = True
    found = []
    for name, mask in masks.items():
        pattern = pattern_of(mask, output_shape=output_shape) if mask.sum() >= MIN_FAILING else None
        if pattern is not None:
            found.append({"wrt": name, **pattern, "text": f"{name}: {pattern['text']}"})
    return found


def pattern_notes(patterns: list[dict]) -> list[str]:
    """The table's note on where the failing entries lie, one per input with a pattern."""
    return [f"where the failing entries lie, {p['text']}" for p in patterns]


def pattern_of(mask: np.ndarray, superset: bool = False, output_shape: tuple | None = None) -> dict | None:
    """The pattern of a boolean mask's True entries: a dict with `kind`, `failing`, `total`, `text` and the
    kind's own fields; None where none or all are True (nothing to localise).  `superset`: the mask holds the
    failing entries and maybe others (located at a coarser resolution), and the text claims no more.
    `output_shape`, the function's value's: the input is read as a batch of images (N×C×…) only where it shares
    the output's number of axes and batch size, so a convolution's weight is not (None: any input of 3 to 5 axes)."""
    failing, total = int(mask.sum()), int(mask.size)
    if failing == 0 or failing == total:
        return None
    base = {"failing": failing, "total": total}
    places = np.argwhere(mask)
    fixed = {axis: int(places[0, axis]) for axis in range(mask.ndim)
             if mask.shape[axis] > 1 and np.all(places[:, axis] == places[0, axis])}
    images = reads_as_images(mask.shape, output_shape)
    if fixed:
        found = _index(mask, fixed, failing, images)
    else:
        found = next((f for f in (finder(mask, places) for finder in (_border, _stride, _block)) if f is not None),
                     {"kind": "scattered", "text": f"{failing} of {total} entries fail, in no simple pattern"})
    if superset:
        found["text"] = _at_most(found, mask, fixed, images)
    return base | found


def reads_as_images(shape: tuple, output_shape: tuple | None) -> bool:
    """Whether an input of `shape` reads as a batch of images (N×C×…): 3 to 5 axes, and the output's batch axis."""
    if not 3 <= len(shape) <= 5:
        return False
    return output_shape is None or (len(output_shape) == len(shape) and output_shape[0] == shape[0])


def _at_most(found: dict, mask: np.ndarray, fixed: dict[int, int], images: bool) -> str:
    """A pattern's text for a superset of the failing entries: where they lie, not that all of it fails."""
    if found["kind"] == "index":
        return f"they lie in {_slice_text(mask.ndim, fixed)} and nowhere else{_layout(fixed, images)}"
    if found["kind"] == "scattered":
        return f"in no simple pattern at this resolution ({int(mask.sum())} of {mask.size} entries suspect)"
    text = found["text"].replace("the failing entries fill the block", "they lie in the block")
    return text.replace(f", {int(mask.sum())} of {mask.size}", f", at most {int(mask.sum())} of {mask.size}")


def _index(mask: np.ndarray, fixed: dict[int, int], failing: int, images: bool) -> dict:
    """Every failing entry shares these indices: the slice, and whether it fails whole."""
    selection = tuple(fixed.get(axis, slice(None)) for axis in range(mask.ndim))
    size = int(mask[selection].size)
    where = _slice_text(mask.ndim, fixed)
    how = "all of" if failing == size else f"{failing} of the {size} entries of"
    return {"kind": "index", "fixed": {str(axis): index for axis, index in fixed.items()},
            "text": f"{how} {where} fail, and nothing else{_layout(fixed, images)}"}


def _layout(fixed: dict[int, int], images: bool) -> str:
    """What the fixed axes are in the N×C×… layout of a batch of images (`_images`)."""
    if not images:
        return ""
    names = {0: "batch item", 1: "channel"}
    said = [f"{names[axis]} {index}" for axis, index in fixed.items() if axis in names]
    return f" ({', '.join(said)} in N×C×… layout)" if said else ""


def _slice_text(ndim: int, fixed: dict[int, int]) -> str:
    last = max(fixed)
    parts = [str(fixed[axis]) if axis in fixed else ":" for axis in range(last + 1)]
    return f"[{', '.join(parts)}{', ...' if last + 1 < ndim else ''}]"


def _border(mask: np.ndarray, places: np.ndarray) -> dict | None:
    """Every failing entry is on the first or last index of a spatial axis (all axes for 1-d and 2-d)."""
    axes = [a for a in range(SPATIAL_FROM if mask.ndim > 2 else 0, mask.ndim) if mask.shape[a] > 2]
    if not axes:
        return None
    lines = {(axis, side): places[:, axis] == (0 if side == "first" else mask.shape[axis] - 1)
             for axis in axes for side in ("first", "last")}
    covered = np.zeros(len(places), dtype=bool)
    needed = []
    for line in sorted(lines, key=lambda line: -int(lines[line].sum())):  # the fullest lines first
        if (lines[line] & ~covered).any():
            needed.append(line)
            covered |= lines[line]
    if not covered.all():
        return None
    sides: dict[str, list[str]] = {}
    for axis, side in sorted(needed):
        sides.setdefault(str(axis), []).append(side)
    said = "; ".join(f"axis {axis}: {' and '.join(s)}" for axis, s in sides.items())
    return {"kind": "border", "border": sides, "text": f"every failing entry is on the border ({said} index), "
                                                      f"{len(places)} of {mask.size}"}


def _stride(mask: np.ndarray, places: np.ndarray) -> dict | None:
    """Along one axis, the failing entries lie on every k-th index (k >= 2) from a start, on at least two."""
    for axis in range(mask.ndim):
        indices = np.unique(places[:, axis])
        if len(indices) < 2:
            continue
        steps = np.diff(indices)
        step = int(steps[0])
        if step >= 2 and np.all(steps == step) and indices[0] < step and indices[-1] + step >= mask.shape[axis]:
            start = int(indices[0])
            return {"kind": "stride", "stride": {"axis": axis, "step": step, "start": start},
                    "text": f"along axis {axis} the failing entries lie on every {_ordinal(step)} index from {start} "
                            f"({start}::{step}), {len(places)} of {mask.size}"}
    return None


def _ordinal(k: int) -> str:
    return f"{k}{'nd' if k % 10 == 2 and k % 100 != 12 else 'rd' if k % 10 == 3 and k % 100 != 13 else 'th'}"


def _block(mask: np.ndarray, places: np.ndarray) -> dict | None:
    """The failing entries fill a contiguous box."""
    low, high = places.min(axis=0), places.max(axis=0) + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high))
    if not mask[box].all():
        return None
    shown = ", ".join(f"{a}:{b}" for a, b in zip(low, high))
    return {"kind": "block", "block": [[int(a), int(b)] for a, b in zip(low, high)],
            "text": f"the failing entries fill the block [{shown}], {len(places)} of {mask.size}"}
