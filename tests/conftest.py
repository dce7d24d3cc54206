"""Shared helpers: run the CLI in-process and read its JSON against the schema; run an expensive subprocess once
for several tests; look entries up by name rather than list position."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import time
import traceback
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from gradcheck_cli.cli import main

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads(resources.files("gradcheck_cli").joinpath("schema/report.schema.json").read_text())

def pytest_configure(config):
    """The process that runs the tests (an xdist worker, or the only process) gives torch one thread: two workers on
    two cores gain nothing from more threads.  (Workers forked by its in-process runs set one thread themselves,
    run/runner.py, so this is no longer what keeps them from hanging.)"""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, the tests marked slow first (a stable sort keeps each file's order): the run then ends on
    short tests, which the workers share to the end (--dist=worksteal in pyproject.toml)."""
    if config.getoption("numprocesses", None):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def no_inherited_terminal_size():
    """`import readline` (by pytest itself, pdb, IPython, ...) exports COLUMNS and LINES below os.environ, where a
    subprocess inherits them: its piped table, which follows COLUMNS, would be laid out at 80 columns.  A test that
    wants a width says so (COLUMNS in its env, or --width), so a developer's exported COLUMNS is dropped too."""
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)
        os.unsetenv(name)


@pytest.fixture
def schema() -> dict:
    return SCHEMA


@pytest.fixture
def cli():
    """cli(*args) -> click Result; stdout and stderr kept apart."""
    runner = CliRunner()

    def invoke(*args, env=None):
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def cli_json(cli):
    """cli_json(*args) -> (exit code, report dict validated against the schema)."""

    def invoke(*args):
        result = cli(*args, "--json")
        document = json.loads(result.stdout)
        jsonschema.validate(document, SCHEMA)
        return result.exit_code, document

    return invoke


@pytest.fixture(scope="session")
def once(tmp_path_factory, worker_id):
    """once(name, produce) -> produce(folder): one expensive run (a subprocess importing torch) for several tests.

    It runs once per test session, in a fresh folder, whichever pytest-xdist worker asks first; the other workers
    wait for it and read its stored result, which must therefore be JSON (the recipe of pytest-xdist's docs)."""
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # the session's folder, shared by its workers (each has its own popen-gwN below it)

    def get(name: str, produce: Callable):
        folder, stored = root / f"once-{name}", root / f"once-{name}.json"
        with open(root / f"once-{name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            if not stored.exists():
                folder.mkdir(exist_ok=True)
                stored.write_text(json.dumps(produce(folder)))
            return json.loads(stored.read_text())

    return get


def _name(item) -> str:
    return item["name"] if isinstance(item, dict) else item.name


def named(items, name: str):
    """The one entry called `name` of a list of checks (or results) from JSON or Python: order is not part of it."""
    found = [item for item in items if _name(item) == name]
    assert len(found) == 1, f"{len(found)} entries named {name!r} in {[_name(item) for item in items]}"
    return found[0]


def gradient_row(rows, wrt: str, index: list | None = None):
    """The one gradient row of variable `wrt` (at element `index`, for a tensor), from JSON or Python."""
    def key(row):
        return (row["wrt"], row["index"]) if isinstance(row, dict) else (row.wrt, row.index)

    found = [row for row in rows if key(row)[0] == wrt and (index is None or key(row)[1] == index)]
    assert len(found) == 1, f"{len(found)} rows for {wrt}{index or ''} in {[key(row) for row in rows]}"
    return found[0]


LIBRARY_RUN = """
import sys
from gradcheck_cli import check
print("check:", check("sin(x**2)", at={"x": 4}).status, file=sys.stderr)
from gradcheck_cli.cli import main
main(["expressions", "--json", "-j", "1"])  # in this process, which -X importtime watches
"""


def _run_the_library(folder: Path) -> dict:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", LIBRARY_RUN], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    imported = [line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    return {"exit_code": done.returncode, "stdout": done.stdout, "imported": imported[1:],  # [0]: the header
            "stderr": [line for line in done.stderr.splitlines() if not line.startswith("import time:")]}


@pytest.fixture
def library_run(once) -> dict:
    """The expressions/ library checked once for the whole session, by `gradcheck expressions --json -j 1` in a
    fresh process after one check() from Python, under -X importtime, which lists every module the process imported
    (-j 1: the cases run in that process, and no worker imports torch again).
    {"exit_code", "stdout", "stderr" (less the import lines), "imported"}."""
    return once("expressions-library", _run_the_library)


def on_a_terminal(args: list[str], columns: int | None = None, env: dict | None = None, cwd: Path = ROOT,
                  timeout: float = 240) -> str:
    """What the command (`python -m gradcheck_cli ARGS`: __main__.console) writes to a pseudo-terminal `columns` wide
    (stdin, stdout and stderr on it; COLUMNS, NO_COLOR and FORCE_COLOR unset unless `env` sets them).

    It runs in a child forked from this process, where torch is imported already: a fresh interpreter would spend a
    second or two importing it again for each run.  The child is what a person's terminal gets: a new session whose
    controlling terminal is the pty, fresh sys streams on it, the environment and folder of a command started there."""
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    environment.update({"TERM": "xterm-256color", **(env or {})})
    pid, leader = pty.fork()
    if pid == 0:  # pragma: no cover (the child; it never returns)
        _run_the_command_here(args, columns, environment, cwd)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if not ready:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    pid = 0
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
        if pid:
            if not os.waitpid(pid, os.WNOHANG)[0]:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def command_in_a_fork(args: list[str], cwd: Path = ROOT, env: dict | None = None, input: str = "",
                      timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m gradcheck_cli ARGS` with stdin (`input`), stdout and stderr as files, as subprocess.run would give
    them (text), but run by a child forked from this process (torch imported already; see on_a_terminal).  `env` is
    the whole environment (default: this process's)."""
    environment = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory() as folder:
        streams = [Path(folder, name) for name in ("stdin", "stdout", "stderr")]
        streams[0].write_text(input)
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child; it never returns)
            for fd, path in enumerate(streams):
                opened = os.open(path, os.O_WRONLY | os.O_CREAT if fd else os.O_RDONLY)
                os.dup2(opened, fd)
                os.close(opened)
            os.setsid()  # like a command started by a shell: its own process group
            _run_the_command_here(args, None, environment, cwd)
        code = _wait_for(pid, timeout)
        return subprocess.CompletedProcess([*args], code, streams[1].read_text(), streams[2].read_text())


def _wait_for(pid: int, timeout: float) -> int:
    """The exit code of child `pid` (-N when signal N ended it); killed and an error past `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise subprocess.TimeoutExpired(f"gradcheck in a fork (pid {pid})", timeout)


def _run_the_command_here(args: list[str], columns: int | None, environment: dict, cwd: Path) -> None:
    """In the forked child: the terminal's size, the command's environment, folder, argv and sys streams, then the
    command; out with its exit code, whatever happens (never back into pytest)."""
    code = 1
    try:
        if columns is not None:
            fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 60, columns, 0, 0))
        os.environ.clear()
        os.environ.update(environment)
        os.chdir(cwd)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 (the child's streams, never closed)
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        sys.argv = ["gradcheck", *args]
        from gradcheck_cli.__main__ import console

        console()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def assert_matches_mpmath(text: str, x: float, reference, dps: int = 60) -> None:
    """check(text) at x passes, and its value and symbolic derivative match `reference` (a function of an mpf)
    and mpmath's derivative of it, to 1e-13."""
    from mpmath import mp

    from gradcheck_cli import check

    result = check(text, at={"x": x})
    assert result.status == "pass", (result.error, result.gradients)
    with mp.workdps(dps):
        value = reference(mp.mpf(x))
        derivative = mp.diff(reference, mp.mpf(x))
    (row,) = result.gradients
    assert row.symbolic == pytest.approx(float(derivative), rel=1e-13, abs=1e-300), (text, x)
    assert float(result.value) == pytest.approx(float(value), rel=1e-13, abs=1e-300)


# A custom autograd.Function of sum(x**3) whose backward is `grad * {backward}` (3 * x ** 2 is right), as
# user_module source
CUBE = """
class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x ** 3).sum()

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * {backward}
"""


@pytest.fixture
def in_root(monkeypatch):
    """The repository root as the current folder: examples.custom_ops imports as the README runs it."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """user_module(source) -> a fresh module name importable from the current folder (tmp_path)."""
    monkeypatch.chdir(tmp_path)
    names = []

    def write(source: str) -> str:
        name = f"alone_ops_{uuid.uuid4().hex[:12]}"
        (tmp_path / f"{name}.py").write_text("import torch\n\n" + textwrap.dedent(source))
        names.append(name)
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)
