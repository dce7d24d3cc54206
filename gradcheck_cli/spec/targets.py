"""Which command-line arguments name spec files, and whether a path can be read (collect.py finds the files).

Kept free of heavy imports: the CLI asks it before it knows whether it will
need numpy, YAML or torch at all.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

SUFFIXES = (".yaml", ".yml")
PATH_CHARACTERS = r"[\w.~/\\-]+"  # letters, digits, _ . ~ - and separators: no brackets, operators or spaces


def unusable(path: Path) -> str | None:
    """Why `path` cannot be read as a spec file or folder, or None when it can be tried.

    Checked before opening, so a FIFO or a device never blocks or streams forever.
    """
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symbolic link loop"
        if error.errno == errno.ENOENT:
            return "a broken symbolic link" if path.is_symlink() else "no such file or folder"
        return error.strerror or "cannot be read"
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    return "not a regular file or folder (a pipe, device or socket)"


def is_spec_target(text: str, option_names: set[str] | frozenset = frozenset()) -> bool:
    """Whether a positional argument names spec files rather than being an expression.

    A name ending in .yaml/.yml or / always does; an existing folder does unless an
    option of the same name is given (`gradcheck x --x 1` beside a folder `x`).
    A text with a slash that is no expression (`specs/gpu-2.0x`) is for the
    caller to decide, since only the parser knows (`could_be_a_path`).
    """
    if not text.strip() or "\n" in text:
        return False
    if text.endswith(SUFFIXES) or (text.endswith("/") and re.fullmatch(PATH_CHARACTERS, text)):
        return True  # no expression ends with a slash; `x /` is still one, mistyped
    try:
        return Path(text).is_dir() and text.rstrip("/") not in option_names
    except (OSError, ValueError):  # too long or otherwise not a possible path
        return False


def could_be_a_path(text: str) -> bool:
    """Whether a text that is not an expression was meant as a path: a path separator and nothing but path
    characters (`specs/missing`, `./gpu-2.0x`), so "no such file or folder" says more than a parse error;
    `x/(y` is a mistyped expression."""
    return ("/" in text or os.sep in text) and re.fullmatch(PATH_CHARACTERS, text) is not None
