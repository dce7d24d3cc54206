"""The version of gradcheck, in one place (the package, `--version`, the JSON report and the build read it)."""

__version__ = "0.1.0"
