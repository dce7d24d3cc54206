"""Which spec files a run checks: one collector for the command and the pytest plugin.

A file named on the command line is always a spec.  Below a folder, a YAML file is
collected unless it is hidden or lies in a hidden folder (`.github/workflows/ci.yml`),
matches an `--exclude` / `exclude` glob, or is not a spec at all (`docker-compose.yml`):
a spec file's top level is a mapping with `expr`, `function` or `cases` (docs/spec-format.md),
so a YAML file without any of those keys at its top level is skipped, and listed with `-v`.
The test reads the text, not the YAML (no import, and a spec with a YAML error in it is still
collected, so its error is reported rather than the file silently skipped).

Exclude globs are matched, like ruff's, against the path relative to the project root (the
folder of the pyproject.toml, else the current folder) and against each of its parts'
names: `drafts` skips every folder or file named drafts, `expressions/wip_*` the files and
folders that start so in expressions/, `*.draft.yaml` those files anywhere.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePath

from .targets import SUFFIXES, unusable

SCANNED_BYTES = 256 * 1024  # a spec file's size limit (spec_file.MAX_FILE_BYTES): its keys lie within it
TOP_LEVEL_KEY = r"""(?m)^["']?(?:expr|function|cases)["']?[ \t]*:"""  # a key at column 0
FLOW_KEY = r"""[{,][ \t\n]*["']?(?:expr|function|cases)["']?[ \t]*:"""  # {expr: ..., at: ...}
NOT_A_SPEC = "not a spec file: no expr, function or cases at its top level"
HIDDEN = "hidden"  # a reason never listed: hidden files are not a user's to see, as `ls` does not show them


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


@dataclass
class Collection:
    """The spec files of the targets, in order, each once; the targets that cannot be read, with why; and the
    YAML files left out, with why (for -v)."""

    files: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (target as given, why)
    skipped: list[Skipped] = field(default_factory=list)


def collect(targets: list[str], exclude: tuple[str, ...] | list[str] = (), root: Path | None = None) -> Collection:
    """The spec files named by `targets` (files, or folders searched below)."""
    root = root or Path.cwd()
    collection = Collection()
    seen: set[str] = set()  # a file named twice (`f.yaml dir/` with f.yaml in dir) is checked once
    for target in targets:
        path = Path(target)
        problem = unusable(path)
        if problem:
            collection.problems.append((target, problem))
            continue
        files = [path] if not path.is_dir() else _walk(path, exclude, root, collection.skipped)
        if not files and path.is_dir():
            collection.problems.append((target, "no spec files (*.yaml, *.yml) in this folder"))
        for file in files:
            if os.path.realpath(file) not in seen:
                seen.add(os.path.realpath(file))
                collection.files.append(file)
    return collection


def _walk(folder: Path, exclude, root: Path, skipped: list[Skipped]) -> list[Path]:
    """The spec files below `folder`, sorted; hidden and excluded folders are not entered at all."""
    found = []
    for directory, subfolders, names in os.walk(folder):
        here = Path(directory)
        kept = []
        for name in sorted(subfolders):
            pattern = None if name.startswith(".") else excluded_by(here / name, exclude, root, folder)
            if pattern:
                skipped.append(Skipped(here / name, f"excluded by {pattern!r}"))
            elif not name.startswith("."):
                kept.append(name)
        subfolders[:] = kept
        for name in names:
            path = here / name
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            reason = skip_reason(path, exclude, root, folder)
            if reason is None:
                found.append(path)
            elif not name.startswith("."):
                skipped.append(Skipped(path, reason))
    return sorted(found)


def skip_reason(path: Path, exclude, root: Path, given: Path | None = None) -> str | None:
    """Why a YAML file found below the folder `given` is not a spec file to check (hidden, excluded or no spec),
    or None.  The pytest plugin asks this of each file pytest offers it; the command of each file below a folder."""
    if path.name.startswith("."):
        return HIDDEN
    pattern = excluded_by(path, exclude, root, given)
    if pattern:
        return f"excluded by {pattern!r}"
    return None if is_spec(path) else NOT_A_SPEC


def excluded_by(path: Path, exclude, root: Path, given: Path | None = None) -> str | None:
    """The first glob of `exclude` that matches `path` (relative to `root`) or the name of one of its folders
    below `given`, the folder named on the command line (naming an excluded folder checks it, as ruff does)."""
    relative = _relative(path, root)
    depth = len(path.relative_to(given).parts) if given is not None and path.is_relative_to(given) else None
    prefixes = [relative, *[p for p in relative.parents if p.name]][:depth]
    for pattern in (_as_glob(given_pattern, root) for given_pattern in exclude):
        if any(fnmatchcase(p.as_posix(), pattern) or fnmatchcase(p.name, pattern) for p in prefixes):
            return pattern
    return None


def _as_glob(pattern: str, root: Path) -> str:
    """An exclude pattern as the glob matched against paths relative to `root`: a path spelled from the root
    (`./specs/drafts`, as a shell completes it) or absolute (below the root) is the same glob as `specs/drafts`."""
    pattern = pattern.rstrip("/")
    if os.path.isabs(pattern):
        try:
            pattern = PurePath(pattern).relative_to(root.resolve()).as_posix()
        except ValueError:
            return pattern
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern


def is_spec(path: Path) -> bool:
    """Whether a YAML file is a spec: `expr`, `function` or `cases` at its top level (block or flow style).
    A file that cannot be read counts as one, so the reason is reported when it is loaded."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(SCANNED_BYTES).decode("utf-8", "replace")
    except OSError:
        return True
    content = re.sub(r"(?m)^[ \t]*#.*$", "", text).lstrip()
    if content.startswith("{"):
        return re.search(FLOW_KEY, content) is not None
    return re.search(TOP_LEVEL_KEY, text) is not None


def _relative(path: Path, root: Path) -> PurePath:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return path
