#!/usr/bin/env python3
"""atheris target: raw bytes -> a spec file on disk -> `spec_file.load(path)`.

The bytes are written unchanged to `<tmp>/spec.yaml` (so the loader's own UTF-8, size, YAML,
anchor/tag and nesting checks all run) and loaded through the path API, as the CLI and the
pytest plugin do.  For the specs it returns (the first MAX_SPECS), the program and the manual
formulas are parsed as `case.run` would, and a parse error is located back into the file
(`Spec.locate`) and rendered, as the CLI prints it.

A finding is any exception (FUZZ_IGNORE in _harness.py skips ones already filed) that is not a
`GradcheckError`, or a `load` slower than FUZZ_SLOW_SECONDS (default 1 s).  See fuzz/README.md for how to run it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import exercise_error, guarded, timed  # noqa: E402

# PyYAML's pure-Python composer is instrumented too: its branches guide the fuzzer into valid YAML.
with atheris.instrument_imports(include=["gradcheck_cli", "yaml"]):
    import yaml  # noqa: F401

    from gradcheck_cli.core.errors import GradcheckError
    from gradcheck_cli.lang import plan as _plan  # noqa: F401
    from gradcheck_cli.lang import shapes as _shapes  # noqa: F401
    from gradcheck_cli.lang.parser import parse
    from gradcheck_cli.spec import sampling as _sampling  # noqa: F401
    from gradcheck_cli.spec.spec_file import load

MAX_SPECS = 20  # a `sample: {n: 10000}` file gives 10,000 specs; parsing the first few is enough

_DIR = Path(tempfile.mkdtemp(prefix="gradcheck-fuzz-spec-"))
_PATH = _DIR / "spec.yaml"


def _parse_spec(spec) -> None:
    try:
        expression = parse(spec.program, limits=spec.limits)
        for text in list(spec.manual.values()) + list(spec.manual_hessian.values()):
            parse(text, graph=expression.graph, bindings=expression.bindings, limits=spec.limits)
    except GradcheckError as error:
        exercise_error(spec.locate(error))


def TestOneInput(data: bytes) -> None:
    _PATH.write_bytes(data)
    specs = guarded(_load)
    for spec in (specs or [])[:MAX_SPECS]:
        guarded(timed, f"parsing the formulas of {spec.display_name[:60]!r}", _parse_spec, spec)


def _load():
    try:
        specs = timed(f"load of {len(_PATH.read_bytes())} bytes", load, _PATH, "spec.yaml")
    except GradcheckError as error:
        exercise_error(error)
        return None
    assert isinstance(specs, list) and specs, f"load returned {specs!r}"
    return specs


def main() -> None:
    warnings.simplefilter("ignore")  # numpy RuntimeWarnings while sampling points are not findings
    atheris.enabled_hooks.add("RegEx")
    atheris.enabled_hooks.add("str")
    atexit.register(shutil.rmtree, _DIR, True)  # libFuzzer may exit() without running it; the folder is tiny
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
