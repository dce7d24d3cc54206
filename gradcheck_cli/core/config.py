"""A project's own defaults: `[tool.gradcheck]` in pyproject.toml, found as ruff and pytest find theirs.

The command and the pytest plugin both start from the current folder and walk up to the first
pyproject.toml that has a `[tool.gradcheck]` table; its folder is the project root, against which
`paths` and `exclude` are read.  Command-line flags override its values, and a spec file's own keys
override them for that file (the file is more specific than the project).  An unknown key or a bad value
is an error at `pyproject.toml:LINE: [tool.gradcheck] KEY` (tomllib gives no positions, so the line is
that of the key in the table's text).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import GradcheckError
from .settings import SETTINGS
from .text import did_you_mean

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FILE_NAME = "pyproject.toml"
TABLE = "tool.gradcheck"
HEADER = r"(?m)^[ \t]*\[[ \t]*tool[ \t]*\.[ \t]*gradcheck[ \t]*\]"  # [tool.gradcheck], not [tool.gradcheck.x]
CHECK_KEYS = tuple(s.name for s in SETTINGS.values() if s.in_pyproject)  # rtol, atol, dtype, method, strict
KEYS = CHECK_KEYS + ("exclude", "paths")


class ConfigError(GradcheckError):
    """pyproject.toml's [tool.gradcheck] table cannot be used: the message names the file, line and key."""

    kind = "config"


@dataclass(frozen=True)
class Config:
    """The project's defaults.  `root` is the folder holding the pyproject.toml (the current folder when there is
    none); `path` is that file, or None.  A check setting that the table does not give is absent from
    `defaults`, so the built-in default applies."""

    root: Path
    path: Path | None = None
    defaults: tuple[tuple[str, object], ...] = ()  # (setting name, value) of rtol, atol, dtype, method
    strict: bool = False
    exclude: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    @property
    def spec_defaults(self) -> dict:
        """The settings a case starts from, below its spec file's keys and the command line's flags."""
        return dict(self.defaults)


def find(start: Path) -> Path | None:
    """The first pyproject.toml with a [tool.gradcheck] table in `start` or a folder above it."""
    for folder in [start, *start.parents]:
        candidate = folder / FILE_NAME
        try:
            if candidate.is_file() and re.search(HEADER, candidate.read_text(encoding="utf-8", errors="replace")):
                return candidate
        except OSError:
            continue
    return None


def load(start: Path | None = None) -> Config:
    """The configuration that applies in `start` (default: the current folder); ConfigError when it is invalid."""
    start = (start or Path.cwd()).resolve()
    path = find(start)
    if path is None:
        return Config(root=start)
    text = path.read_text(encoding="utf-8", errors="replace")
    shown = _shown(path)
    try:
        table = tomllib.loads(text).get("tool", {}).get("gradcheck", {})
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{shown}: invalid TOML: {error}") from None
    if not isinstance(table, dict):
        raise ConfigError(f"{shown}:{_line_of(text, None)}: [{TABLE}]: expected a table")
    values = {key: _checked(key, value, lambda message, k=key: _error(shown, text, k, message))
              for key, value in table.items()}
    return Config(root=path.parent, path=path,
                  defaults=tuple((k, v) for k, v in values.items() if k in CHECK_KEYS and k != "strict"),
                  strict=bool(values.get("strict", False)), exclude=tuple(values.get("exclude", ())),
                  paths=tuple(values.get("paths", ())))


def missing_paths(config: Config) -> list[str]:
    """`pyproject.toml:LINE: [tool.gradcheck] paths: PATH: no such file or folder` for each path of `paths` that is
    not there, for the pytest plugin (the command reports each as a case that cannot be loaded)."""
    if config.path is None:
        return []
    text = config.path.read_text(encoding="utf-8", errors="replace")
    return [str(_error(_shown(config.path), text, "paths", f"{path}: no such file or folder"))
            for path in config.paths if not (config.root / path).exists()]


def _checked(key: str, value, fail):
    """The value of one key, checked: a finite non-negative tolerance, a known choice, a boolean, a list of
    strings."""
    if key not in KEYS:
        raise fail(f"unknown key ({did_you_mean(key, KEYS) or 'allowed: ' + ', '.join(KEYS)})")
    if key in ("exclude", "paths"):
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise fail(f"expected a list of {'glob patterns' if key == 'exclude' else 'paths'} in quotes, "
                       f"got {_toml(value)}")
        return value
    setting = SETTINGS[key]
    if setting.kind == "flag":
        if not isinstance(value, bool):
            raise fail(f"expected true or false, got {_toml(value)}")
    elif setting.kind == "choice":
        if value not in setting.choices:
            raise fail(f"expected one of {', '.join(repr(c) for c in setting.choices)}, got {_toml(value)}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise fail(f"expected a finite non-negative number, got {_toml(value)}")
    return float(value) if setting.kind == "value" else value


def _error(shown: str, text: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{shown}:{_line_of(text, key)}: [{TABLE}] {key}: {message}")


def _line_of(text: str, key: str | None) -> int:
    """The line of `key` in the [tool.gradcheck] table's text (of the table's header when not found)."""
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if re.match(HEADER, line)), 0)
    if key is not None:
        for i in range(header + 1, len(lines)):
            if re.match(r"[ \t]*\[", lines[i]):
                break
            if re.match(rf"[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=", lines[i]):
                return i + 1
    return header + 1


def _toml(value) -> str:
    """A value as TOML writes it (true, 'text', [1, 2]), never as Python does (True, ['a'])."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "a table"
    return str(value)


def _shown(path: Path) -> str:
    """The file as a message names it: relative to the current folder where it is below it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
