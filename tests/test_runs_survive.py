"""A run never loses a result and never lies in its exit code (issue 15).

Workers that die cost one case; signals end a run with 130 or 143 and leave no worker behind and no report
half-written; an unexpected exception is one case's internal error; `-o` never replaces a spec; a closed or
abandoned stdout is no traceback; a user's function cannot change torch's global state for later cases,
cannot hang the run twice over, and cannot keep the process alive with a thread.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import gradient_row

from gradcheck_cli import check
from gradcheck_cli.cli import exit_code
from gradcheck_cli.userfn import user_code

WAIT = 60  # seconds a subprocess may take before the test calls it hung


def _module(folder: Path, name: str, source: str) -> str:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def _spec(folder: Path, name: str, body: str = "expr: x*x\nat: {x: 0.5}\n") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(body)
    return path


def _gradcheck(*args, cwd: Path, **popen):
    """The installed command, as CI starts it: Ctrl-C reaches it (a background shell would ignore SIGINT)."""
    return subprocess.Popen([sys.executable, "-m", "gradcheck_cli", *map(str, args)], cwd=cwd, text=True,
                            stdout=popen.pop("stdout", subprocess.PIPE), stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen)


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" in status.read_text()  # a zombie has ended


def _slow_function(folder: Path) -> tuple[str, Path]:
    """A module whose function marks a file when it starts, then sleeps for a minute: (module name, marker)."""
    started = folder / "started"
    name = _module(folder, "slow", f"""
        import time
        def f(x):
            open({str(started)!r}, "w").close()
            time.sleep(60)
            return x * x
    """)
    return name, started


def _wait_until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


# ---- workers that die ----


# One run (-j 2, --json) holds 12 plain cases and a case for each way a worker dies; each test asserts its own.
DEATHS = {"os._exit(3)": ("dies_exit", "exit code 3"),
          "os.kill(os.getpid(), signal.SIGKILL)": ("dies_kill", "signal 9, SIGKILL"),
          "os.kill(os.getpid(), signal.SIGRTMIN + 3)": ("dies_rt", f"signal {int(signal.SIGRTMIN) + 3}")}
PLAIN = [f"plain{i:02}" for i in range(12)]


def _run_with_dying_workers(folder: Path) -> dict:
    specs = folder / "specs"
    specs.mkdir()
    for name in PLAIN:
        _spec(specs, name)
    for how, (name, _) in DEATHS.items():
        _module(folder, name, f"""
            import os, signal
            def f(x):
                {how}
        """)
        _spec(specs, name, f"expr: x*x\nat: {{x: 0.5}}\nfunction: {name}:f\n")
    process = _gradcheck(specs, "-j", "2", "--json", cwd=folder)
    out, err = process.communicate(timeout=WAIT)
    return {"returncode": process.returncode, "stdout": out, "stderr": err}


@pytest.fixture
def dying_workers(once) -> tuple[dict, dict]:
    """(the run of the cases above, its results by name); each case is reported exactly once."""
    run = once("dying-workers", _run_with_dying_workers)
    assert run["stdout"].strip(), run["stderr"][-3000:]
    results = json.loads(run["stdout"])["results"]
    assert sorted(r["name"] for r in results) == sorted(PLAIN + [name for name, _ in DEATHS.values()])
    return run, {r["name"]: r for r in results}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["os._exit(3)", "os.kill(os.getpid(), signal.SIGKILL)"])
def test_a_worker_that_dies_costs_only_its_own_case(dying_workers, how):
    run, by_name = dying_workers
    assert all(by_name[name]["status"] == "pass" for name in PLAIN)
    name, expected = DEATHS[how]
    message = by_name[name]["error"]["message"]
    assert "worker process checking this case died twice" in message and expected in message
    assert run["returncode"] == 2 and "Traceback" not in run["stderr"]


@pytest.mark.slow
def test_a_worker_killed_by_a_real_time_signal_costs_its_case(dying_workers):
    run, by_name = dying_workers
    name, expected = DEATHS["os.kill(os.getpid(), signal.SIGRTMIN + 3)"]
    assert run["returncode"] == 2 and expected in by_name[name]["error"]["message"]


# ---- signals ----


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_the_run_with_its_code_no_worker_left_and_the_old_report_kept(tmp_path, jobs, sig, code):
    name, started = _slow_function(tmp_path)
    specs = tmp_path / "specs"
    specs.mkdir()
    for i in range(10):
        _spec(specs, f"s{i}", f"expr: x*x\nat: {{x: 0.5}}\nfunction: {name}:f\n")
    report = tmp_path / "report.json"
    report.write_text("the previous report")
    process = _gradcheck(specs, "-j", jobs, "--format", "json", "-o", report, cwd=tmp_path)
    _wait_until(started.exists, WAIT)
    children = _children(process.pid)
    process.send_signal(sig)
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == code, err
    assert err.strip().splitlines() == [f"gradcheck: interrupted by "
                                        f"{'Ctrl-C' if sig == signal.SIGINT else 'SIGTERM'}; no report was written"]
    assert report.read_text() == "the previous report"
    assert not list(tmp_path.glob(".report.json.*"))  # no temporary file left beside it
    assert len(children) >= 1  # a run that imports a user's function always has a worker, with -j 1 too
    _wait_until(lambda: all(map(_gone, children)), 10)
    assert all(map(_gone, children))


@pytest.mark.slow
def test_workers_die_with_their_parent_even_by_kill_9(tmp_path):
    name, started = _slow_function(tmp_path)
    for i in range(4):
        _spec(tmp_path, f"s{i}", f"expr: x*x\nat: {{x: 0.5}}\nfunction: {name}:f\n")
    process = _gradcheck(tmp_path, "-j", "2", cwd=tmp_path)
    _wait_until(started.exists, WAIT)
    children = _children(process.pid)
    process.kill()
    process.communicate(timeout=WAIT)
    _wait_until(lambda: all(map(_gone, children)), 10)
    assert children and all(map(_gone, children))


@pytest.mark.slow
def test_workers_forked_after_torch_computed_on_several_threads_do_not_hang(tmp_path):
    """A program that used torch's OpenMP threads, then runs cases in parallel from Python: its forked workers
    must not wait forever at their first parallel op (triu) for threads they do not have."""
    _spec(tmp_path, "a", "expr: sum(triu(A @ A))\nat: {A: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}\n")
    _spec(tmp_path, "b", "expr: sum(triu(A))\nat: {A: [[1, 2], [3, 4]]}\n")
    program = textwrap.dedent("""
        import torch
        torch.set_num_threads(2)
        a = torch.randn(1000, 1000)
        (torch.triu(a @ a) * a).sum()
        from click.testing import CliRunner
        from gradcheck_cli.cli import main
        result = CliRunner().invoke(main, ["a.yaml", "b.yaml", "-j", "2", "--json"], catch_exceptions=False)
        print(result.output)
    """)
    done = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True,
                          timeout=WAIT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["passed"] == 2


def test_a_keyboard_interrupt_raised_by_a_users_function_is_its_error_not_the_end(cli_json, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = _module(tmp_path, "raises_ki", """
        def f(x):
            raise KeyboardInterrupt("from the user's code")
    """)
    _spec(tmp_path, "a", f"expr: x*x\nat: {{x: 0.5}}\nfunction: {name}:f\n")
    _spec(tmp_path, "b")
    code, document = cli_json(str(tmp_path), "-j", "1")
    statuses = {r["name"]: r["status"] for r in document["results"]}
    assert code == 2 and statuses == {"a": "error", "b": "pass"}
    assert "KeyboardInterrupt: from the user's code" in document["results"][0]["error"]["message"]


# ---- the last resort ----


def _sabotaged_run(cli_json, folder: Path, monkeypatch, module, function: str, is_bad, error: Exception):
    """Three plain specs (a, bad, c) run with `module.function` raising `error` where `is_bad(*args)`."""
    original = getattr(module, function)

    def faulty(*args, **kwargs):
        if is_bad(*args):
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(module, function, faulty)
    for name in ("a", "bad", "c"):
        _spec(folder, name)
    code, document = cli_json(str(folder), "-j", "1")
    errors = [r["error"] for r in document["results"] if r["status"] == "error"]
    passed = sum(r["status"] == "pass" for r in document["results"])
    return code, passed, errors


def test_an_unexpected_exception_is_that_cases_internal_error_and_the_run_goes_on(cli_json, tmp_path, monkeypatch):
    from gradcheck_cli.run import case

    code, passed, errors = _sabotaged_run(cli_json, tmp_path, monkeypatch, case, "_check",
                                          lambda spec, result: spec.display_name == "bad",
                                          TypeError("a bug in gradcheck"))
    assert code == 2 and passed == 2 and len(errors) == 1 and errors[0]["kind"] == "internal"
    assert "internal error while checking this case: TypeError: a bug in gradcheck" in errors[0]["message"]
    assert "please report" in errors[0]["message"]


def test_a_fault_in_reading_one_spec_file_is_that_files_error_and_the_others_run(cli_json, tmp_path, monkeypatch):
    from gradcheck_cli.spec import spec_file

    code, passed, errors = _sabotaged_run(cli_json, tmp_path, monkeypatch, spec_file, "load",
                                          lambda path, display=None: path.name == "bad.yaml",
                                          IndexError("a bug in the reader"))
    assert code == 2 and passed == 2 and len(errors) == 1 and errors[0]["kind"] == "internal"
    assert "bad.yaml: IndexError: a bug in the reader" in errors[0]["message"]


def test_running_out_of_memory_in_a_case_is_its_error(monkeypatch):
    from gradcheck_cli.run import case

    def exhausted(spec, result):
        raise MemoryError()

    monkeypatch.setattr(case, "_check", exhausted)
    result = check("x*x", at={"x": 0.5})
    assert result.status == "error" and result.error["kind"] == "internal"
    assert result.error["message"].startswith("out of memory while checking this case")


def test_a_reporter_fault_on_one_case_shows_that_case_as_an_error_and_the_rest(cli, tmp_path, monkeypatch):
    from gradcheck_cli.report import table

    original = table.render_case

    def faulty(result, settings):
        if result.name == "bad" and result.status != "error":
            raise ValueError("a bug in the table")
        return original(result, settings)

    monkeypatch.setattr(table, "render_case", faulty)
    for name in ("a", "bad", "c"):
        _spec(tmp_path, name)
    result = cli(str(tmp_path), "-j", "1", "--color", "never")
    assert result.exit_code == 2 and "Traceback" not in result.stdout + result.stderr
    assert "internal error while reporting this case: ValueError: a bug in the table" in result.stdout
    assert "2 passed" in result.stdout


def test_an_exception_whose_message_cannot_be_read_is_still_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = _module(tmp_path, "bad_str", """
        class Weird(Exception):
            def __str__(self):
                raise RuntimeError("no message")
        def f(x):
            raise Weird()
    """)
    result = check("x*x", at={"x": 0.5}, function=f"{name}:f")
    assert result.status == "error"
    assert "Weird: (its message could not be read)" in result.error["message"]
    sys.modules.pop(name, None)


def test_exit_codes_follow_the_contract():
    class R:
        def __init__(self, status):
            self.status = status

    assert exit_code([R("pass"), R("fail"), R("error")]) == 2
    assert exit_code([R("pass"), R("fail")]) == 1
    assert exit_code([R("pass"), R("fail")], exit_zero=True) == 0
    assert exit_code([R("pass"), R("undefined")]) == 0
    assert exit_code([R("pass"), R("undefined")], strict=True) == 1


# ---- report files ----


def test_o_onto_one_of_the_runs_spec_files_is_refused_before_running(cli, tmp_path):
    spec = _spec(tmp_path, "s")
    before = spec.read_text()
    for args in ([str(spec), "-o", str(spec)], [str(tmp_path), "-o", str(spec)],
                 [str(spec), "-o", str(tmp_path / "." / "s.yaml")]):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert "is one of the spec files of this run; the report would replace it" in result.stderr
    assert spec.read_text() == before


@pytest.mark.parametrize("target, message", [("missing/report.json", "does not exist"), (".", "is a directory")])
def test_an_unusable_o_is_refused_before_running(cli, tmp_path, monkeypatch, target, message):
    monkeypatch.chdir(tmp_path)
    result = cli("x*x", "--x", "1", "-o", target)
    assert result.exit_code == 2 and message in result.stderr and "x*x" not in result.stdout


def test_the_report_replaces_the_old_one_whole_and_keeps_its_permissions(cli, tmp_path):
    report = tmp_path / "report.xml"
    report.write_text("old")
    report.chmod(0o640)
    result = cli("x*x", "--x", "1", "--format", "junit", "-o", str(report))
    assert result.exit_code == 0 and report.read_text().startswith("<?xml")
    assert report.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["report.xml"]


# ---- standard output ----


@pytest.mark.slow
def test_a_closed_stdout_is_one_message_and_exit_2_unless_the_report_goes_to_a_file(tmp_path):
    closed = {"preexec_fn": lambda: os.close(1)}
    process = subprocess.run([sys.executable, "-m", "gradcheck_cli", "x*x", "--x", "1"], capture_output=False,
                             stderr=subprocess.PIPE, text=True, timeout=WAIT, **closed)
    assert process.returncode == 2 and "Traceback" not in process.stderr
    assert "standard output is closed" in process.stderr
    report = tmp_path / "r.json"
    process = subprocess.run([sys.executable, "-m", "gradcheck_cli", "x*x", "--x", "1", "--format", "json",
                              "-o", str(report)], stderr=subprocess.PIPE, text=True, timeout=WAIT, **closed)
    assert process.returncode == 0 and json.loads(report.read_text())["summary"]["passed"] == 1


@pytest.mark.slow
def test_a_reader_that_leaves_early_is_no_traceback_and_the_exit_code_stays(tmp_path):
    for i in range(30):
        _spec(tmp_path, f"s{i:02}", "expr: x*x\nat: {x: 0.5}\nmanual: {x: 3*x}\n")
    process = _gradcheck(tmp_path, "-j", "1", "--format", "jsonl", cwd=tmp_path)
    process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read()
    process.wait(timeout=WAIT)
    assert process.returncode == 1 and "Traceback" not in err and "BrokenPipe" not in err


# ---- a user's code kept apart from the rest ----


@pytest.mark.slow
def test_torch_global_state_set_by_a_users_function_does_not_reach_later_cases(tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    name = _module(tmp_path, "sets_state", """
        import torch
        torch.set_grad_enabled(False)
        def f(x):
            torch.set_grad_enabled(False)
            torch.set_default_dtype(torch.float64)
            torch.use_deterministic_algorithms(True)
            torch.set_anomaly_enabled(True)
            return x * x
    """)
    threads = torch.get_num_threads()
    check("x*x", at={"x": 0.5}, function=f"{name}:f")
    assert torch.is_grad_enabled() and torch.get_default_dtype() == torch.float32
    assert not torch.are_deterministic_algorithms_enabled() and not torch.is_anomaly_enabled()
    assert torch.get_num_threads() == threads
    assert check("sin(x**2)", at={"x": 4.0}).status == "pass"
    sys.modules.pop(name, None)


@pytest.mark.slow
@pytest.mark.parametrize(("expr", "settings"), [("x*x", {}), ("", {}), ("", {"fast": True}),
                                                 ("", {"reference": "reference"})])
def test_a_call_that_times_out_is_stopped_once_with_no_retry(tmp_path, monkeypatch, expr, settings):
    """With an expression or alone: the first call that times out ends the case (a function alone was called
    three times, each waiting out the limit, by the probes before the float64 check)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(user_code, "CALL_TIMEOUT", 1.0)
    name = _module(tmp_path, "hangs", """
        import time
        calls = []
        def f(x):
            calls.append(x.dtype)
            time.sleep(30)
            return x * x

        def reference(x):
            return x * x
    """)
    if "reference" in settings:
        settings = {"reference": f"{name}:reference"}
    result = check(expr, at={"x": 0.5}, function=f"{name}:f", **settings)
    assert result.status == "error" and "did not return within 1 s" in result.error["message"]
    assert len(sys.modules[name].calls) == 1  # not tried again in float32 after the first time limit
    sys.modules.pop(name, None)


@pytest.mark.slow
def test_a_non_daemon_thread_started_by_a_users_function_does_not_keep_the_run_alive(tmp_path):
    name = _module(tmp_path, "threads", """
        import threading, time
        def f(x):
            threading.Thread(target=time.sleep, args=(600,)).start()
            return x * x
    """)
    process = _gradcheck("x*x", "--x", "0.5", "--function", f"{name}:f", cwd=tmp_path)
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 0 and "1 passed" in out


# ---- found by trying to break the above ----


@pytest.mark.parametrize("body, message", [
    ("class E(Exception):\n    def __str__(self):\n        raise SystemExit(0)\ndef f(x):\n    raise E()",
     "E: (its message could not be read)"),
    ("class Stop(BaseException):\n    pass\ndef f(x):\n    raise Stop('odd')", "Stop: odd"),
    ("def f(x):\n    raise GeneratorExit('odd')", "GeneratorExit: odd"),
])
def test_whatever_a_users_function_raises_is_that_cases_error(cli_json, tmp_path, monkeypatch, body, message):
    monkeypatch.chdir(tmp_path)
    name = _module(tmp_path, f"raises_{abs(hash(body))}", body)
    _spec(tmp_path, "a", f"expr: x*x\nat: {{x: 0.5}}\nfunction: {name}:f\n")
    _spec(tmp_path, "b")
    code, document = cli_json(str(tmp_path), "-j", "1")
    assert code == 2 and [r["status"] for r in document["results"]] == ["error", "pass"]
    assert message in document["results"][0]["error"]["message"]
    sys.modules.pop(name, None)


@pytest.mark.slow
def test_a_bare_except_in_a_users_function_does_not_swallow_ctrl_c(tmp_path):
    started = tmp_path / "started"
    name = _module(tmp_path, "stubborn", f"""
        import time
        def f(x):
            open({str(started)!r}, "w").close()
            try:
                time.sleep(60)
            except:
                pass
            return x * x
    """)
    process = _gradcheck("x*x", "--x", "0.5", "--function", f"{name}:f", cwd=tmp_path)
    _wait_until(started.exists, WAIT)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 130 and "interrupted by Ctrl-C" in err


def test_signal_handlers_and_flush_denormal_set_by_a_users_function_are_put_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = _module(tmp_path, "handlers", """
        import signal, torch
        def f(x):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            torch.set_flush_denormal(True)
            return x * x
    """)
    before = signal.getsignal(signal.SIGTERM)
    assert check("x*x", at={"x": 0.5}, function=f"{name}:f").status == "pass"
    assert signal.getsignal(signal.SIGTERM) == before
    assert check("exp(x)/exp(x+1)", at={"x": -709.5}).status == "pass"  # subnormals still computed
    sys.modules.pop(name, None)


@pytest.mark.slow
def test_a_users_function_that_forks_reports_each_case_once(tmp_path):
    name = _module(tmp_path, "forks", """
        import os
        def f(x):
            os.fork()
            return x * x
    """)
    _spec(tmp_path, "a", f"expr: x*x\nat: {{x: 0.5}}\nfunction: {name}:f\n")
    _spec(tmp_path, "b")
    process = _gradcheck(tmp_path, "-j", "1", "--format", "jsonl", cwd=tmp_path)
    out, err = process.communicate(timeout=WAIT)
    assert sorted(json.loads(line)["name"] for line in out.splitlines()) == ["a", "b"]


@pytest.mark.slow
def test_closed_stdout_with_a_function_and_o_still_writes_the_report(tmp_path):
    name = _module(tmp_path, "plain", "def f(x):\n    return x * x\n")
    report = tmp_path / "r.json"
    process = subprocess.run([sys.executable, "-m", "gradcheck_cli", "x*x", "--x", "0.5", "--function", f"{name}:f",
                              "--json", "-o", str(report)], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                             timeout=WAIT, preexec_fn=lambda: os.close(1))
    assert process.returncode == 0, process.stderr
    assert json.loads(report.read_text())["results"][0]["status"] == "pass"


@pytest.mark.slow
def test_closed_stderr_still_exits_2_for_an_error():
    process = subprocess.run([sys.executable, "-m", "gradcheck_cli", "log(x)", "--x", "-1"], capture_output=False,
                             stdout=subprocess.DEVNULL, timeout=WAIT, preexec_fn=lambda: os.close(2))
    assert process.returncode == 2


def test_o_through_a_symbolic_link_or_onto_a_fifo_writes_there(cli, tmp_path):
    real = tmp_path / "real.json"
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert cli("x*x", "--x", "1", "--format", "json", "-o", str(link)).exit_code == 0
    assert link.is_symlink() and json.loads(real.read_text())["summary"]["passed"] == 1
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    assert cli("x*x", "--x", "1", "--format", "json", "-o", str(fifo)).exit_code == 0
    assert json.loads(reader.communicate(timeout=WAIT)[0])["summary"]["passed"] == 1
    assert cli("x*x", "--x", "1", "-o", "").exit_code == 2


def test_a_file_named_twice_is_checked_once(cli_json, tmp_path):
    spec = _spec(tmp_path, "once")
    code, document = cli_json(str(spec), str(tmp_path), "-j", "1")
    assert code == 0 and len(document["results"]) == 1


def test_an_empty_list_of_cases_is_an_error_not_a_pass(cli, tmp_path):
    spec = _spec(tmp_path, "empty", "expr: x*x\ncases: []\n")
    result = cli(str(spec))
    assert result.exit_code == 2 and f"{spec}:2:8: cases: no cases" in result.stderr


def test_the_high_precision_referee_carries_the_digits_a_huge_value_needs(cli_json):
    code, document = cli_json("logsumexp(x*1e308)", "--x", "0.5,1.5,2.5")
    row = gradient_row(document["results"][0]["gradients"], "x", [2])
    assert code == 1 and row["reference"] == pytest.approx(1e308) and row["diagnosis"] == "overflow"


@pytest.mark.slow
def test_a_case_past_the_wall_clock_limit_has_its_worker_killed_and_the_rest_run(tmp_path, monkeypatch):
    from gradcheck_cli.run import runner, workers
    from gradcheck_cli.spec.collect import collect

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(workers, "JOB_TIME_LIMIT", 3.0)
    name = _module(tmp_path, "stops", """
        import os, signal
        def f(x):
            signal.signal(signal.SIGALRM, signal.SIG_IGN)  # no per-call limit can reach it now
            os.kill(os.getpid(), signal.SIGSTOP)
    """)
    for i in range(3):
        _spec(tmp_path, f"plain{i}")
    _spec(tmp_path, "stops", f"expr: x*x\nat: {{x: 0.5}}\nfunction: {name}:f\n")
    results = {r.name: r for r in runner.run_jobs(runner.jobs_for(collect([str(tmp_path)]), {}), 2)}
    assert [results[f"plain{i}"].status for i in range(3)] == ["pass"] * 3
    assert "was stopped after 3 s, the limit of one case on the wall clock" in results["stops"].error["message"]


def test_a_huge_exception_message_is_cut_and_the_recursion_limit_put_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = _module(tmp_path, "loud", """
        import sys
        def f(x):
            sys.setrecursionlimit(sys.getrecursionlimit() + 123)
            raise ValueError("x" * 10_000_000)
    """)
    limit = sys.getrecursionlimit()
    result = check("x*x", at={"x": 0.5}, function=f"{name}:f")
    assert sys.getrecursionlimit() == limit
    assert result.status == "error" and len(result.error["message"]) < 1000
    assert "(10,000,000 characters; -v shows the traceback)" in result.error["message"]
    assert check("sin(x**2)", at={"x": 4.0}).status == "pass"
    sys.modules.pop(name, None)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["os._exit(3)", "os.kill(os.getpid(), signal.SIGSEGV)"])
def test_one_case_whose_function_kills_its_process_is_an_error_not_a_silent_exit(tmp_path, how):
    name = _module(tmp_path, "crash", f"""
        import os, signal
        def f(x):
            {how}
    """)
    process = _gradcheck("x*x", "--x", "0.5", "--function", f"{name}:f", cwd=tmp_path)
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 2
    assert "error: the worker process checking this case died twice" in err and "Traceback" not in err


def test_the_summary_of_a_long_run_still_lists_the_first_20_failures_with_their_sentences(cli, tmp_path):
    for i in range(25):
        _spec(tmp_path, f"f{i:02}", "expr: x**3\nat: {x: 2}\nmanual: {x: 3*x}\n")
    result = cli(str(tmp_path), "-j", "1", "--color", "never")
    summary = " ".join(result.stdout[result.stdout.index("✗ 0 passed, 25 failed"):].split())  # a long path wraps
    assert result.exit_code == 1
    assert [f"f{i:02}" for i in range(25) if f"f{i:02} (" in summary] == [f"f{i:02}" for i in range(20)]
    assert summary.count("manual disagrees on d/dx: manual 6 vs reference 12") == 20
