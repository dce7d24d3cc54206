"""Point values from files: `--x @values.npy` (.npy, .txt, .csv, .pt), `at: {x: {file: values.npy}}`.

The inputs a kernel is debugged on are often saved from the run that went wrong.  A file is read as data only:
numpy's .npy without pickles (memory-mapped, so its size is known and refused past `--max-elements` before
anything is read), text and CSV by numpy's loadtxt, a torch file by `torch.load(weights_only=True)`, which
unpickles tensors and plain containers and nothing else.  Integer data (an index tensor) stays integer data:
passed to a function as int64, never differentiated.  Every problem is one ValueParseError or LimitError,
worded without the front end (the caller names the flag or the spec file's key).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import LimitError, ValueParseError
from ..core.limits import DEFAULT_LIMITS, Limits

FILE_PREFIX = "@"
SUFFIXES = (".npy", ".txt", ".csv", ".pt")
TEXT_BYTES_PER_ELEMENT = 64  # a text file longer than this per allowed element is refused unread


@dataclass(frozen=True)
class FileValue:
    """The values read from a file (or given from Python as an array with a dtype of its own), as float64, and
    whether they were integers there (index data)."""

    array: np.ndarray
    integer: bool


def load_values(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> FileValue:
    """The array in `path` (.npy, .txt, .csv or .pt), as float64: finite, non-empty, within the element limit."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ValueParseError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if suffix not in SUFFIXES:
        raise ValueParseError(f"{path}: cannot read values from a {suffix or 'suffix-less'} file (give "
                              f"{', '.join(SUFFIXES)})")
    try:
        with warnings.catch_warnings():  # a reader's warning (an empty file, a pickle protocol) is not for stderr
            warnings.simplefilter("ignore")
            raw = {".npy": _npy, ".pt": _torch_file}.get(suffix, _text)(path, limits)
    except (LimitError, ValueParseError):
        raise
    except Exception as error:  # numpy's and torch's readers raise many kinds on a malformed file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueParseError(f"{path}: not a readable {suffix} file ({reason})") from None
    return _checked(path, raw, limits)


def _npy(path: Path, limits: Limits) -> np.ndarray:
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    _within(path, array.size, limits)  # known from the header: nothing is read past the limit
    return array


def _text(path: Path, limits: Limits) -> np.ndarray:
    if path.stat().st_size > TEXT_BYTES_PER_ELEMENT * limits.max_elements:
        raise LimitError(f"{path}: the file is {path.stat().st_size:,} bytes, more than {limits.max_elements:,} "
                         "numbers take (raise {max_elements})")
    return np.loadtxt(path, delimiter="," if path.suffix.lower() == ".csv" else None, dtype=np.float64, ndmin=0)


def _torch_file(path: Path, limits: Limits) -> np.ndarray:
    import torch

    value = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(value, torch.Tensor):
        raise ValueParseError(f"{path}: holds a {type(value).__name__}, not a tensor")
    _within(path, value.numel(), limits)
    if value.is_complex():
        raise ValueParseError(f"{path}: complex values are not supported: give real numbers")
    return value.detach().numpy() if value.dtype != torch.bfloat16 else value.double().numpy()


def _within(path: Path, size: int, limits: Limits) -> None:
    if size > limits.max_elements:
        raise LimitError(f"{path}: the value has {size:,} elements; the limit is {limits.max_elements:,} "
                         "(raise it with {max_elements})")


def _checked(path: Path, raw: np.ndarray, limits: Limits) -> FileValue:
    _within(path, raw.size, limits)
    if raw.dtype.kind == "c":
        raise ValueParseError(f"{path}: complex values are not supported: give real numbers")
    if raw.dtype.kind not in "biuf":
        raise ValueParseError(f"{path}: holds {raw.dtype} data, not numbers")
    if raw.size == 0:
        raise ValueParseError(f"{path}: the value is empty")
    array = np.array(raw, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueParseError(f"{path}: values must be finite numbers")
    return FileValue(array, raw.dtype.kind in "biu")
