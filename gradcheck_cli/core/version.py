"""The version of gradcheck, in one place (the package, `--version`, the JSON report and the build read it).

`--version` also names the versions of torch, numpy and Python that a bug report needs, read from the installed
packages' metadata (importlib.metadata), so it never imports torch and stays instant.
"""

from __future__ import annotations

__version__ = "0.1.0"

REPORTED = ("torch", "numpy")  # the packages whose versions change gradcheck's answers


def versions() -> str:
    """`gradcheck 0.1.0`, then one line each for torch, numpy and Python."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    lines = [f"gradcheck {__version__}"]
    for name in REPORTED:
        try:
            lines.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            lines.append(f"{name} not installed")
    lines.append(f"Python {platform.python_version()}")
    return "\n".join(lines)
