"""Soak run: a folder of mixed specs, run whole and interrupted at random points (issue 15).

    python bench/soak.py                 # 2,000 specs, one whole run, 20 interrupted runs, -j 2
    python bench/soak.py --specs 300 --runs 5

The folder mixes passes, failures (wrong manual formulas), broken files (bad YAML, unknown keys, order 1.9,
octal numbers) and sabotaging functions (os._exit, kill -9 of their own worker, sys.exit, a KeyboardInterrupt
of their own, torch.set_grad_enabled(False), a non-daemon thread left running, noise printed on stdout).
Every run is checked against the contract, and the script exits 1 when one is broken:
- a run that finishes reports every case exactly once (JSON Lines, one object per case), exit code 0, 1 or 2;
- an interrupted run exits 130 (SIGINT) or 143 (SIGTERM), with no case reported twice;
- no process of the run outlives it;
- the peak memory of the whole process tree (parent and workers, sampled from /proc) stays under 1 GiB.
Not a test: it takes minutes, and CI does not run it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

MEMORY_LIMIT = 2**30
SABOTAGE = '''
import os, signal, sys, threading, time
import torch

def exits(x):
    os._exit(3)

def kills_its_worker(x):
    os.kill(os.getpid(), signal.SIGKILL)

def calls_sys_exit(x):
    sys.exit(0)

def raises_keyboard_interrupt(x):
    raise KeyboardInterrupt("the user's own")

def turns_grad_off(x):
    torch.set_grad_enabled(False)
    return x * x

def leaves_a_thread(x):
    threading.Thread(target=time.sleep, args=(3600,)).start()
    return x * x

def prints_on_stdout(x):
    os.write(1, b"noise from a kernel\\n")
    return x * x
'''
SABOTEURS = ["exits", "kills_its_worker", "calls_sys_exit", "raises_keyboard_interrupt", "turns_grad_off",
             "leaves_a_thread", "prints_on_stdout"]
PASSING = ["sin(x**2)", "x*exp(-x)", "log(1 + x**2)", "tanh(x)*x", "sqrt(1 + x**2)", "x**3 - 2*x"]
BROKEN = ["expr: x*x\nat: {x: [1, 2}\n", "expr: x*x\nat: {x: 1}\nordr: 2\n", "expr: x*x\nat: {x: 1}\norder: 1.9\n",
          "expr: x*x\nat: {x: 017}\n", "expr: sinn(x)\nat: {x: 1}\n", "expr: log(x)\nat: {x: -1}\n"]


def make_folder(folder: Path, count: int, rng: random.Random) -> int:
    """Write `count` spec files (one case each) and the saboteurs' module; returns the number of cases."""
    (folder / "saboteurs.py").write_text(SABOTAGE)
    specs = folder / "specs"
    specs.mkdir()
    for i in range(count):
        roll = rng.random()
        x = round(rng.uniform(0.2, 2.0), 3)
        if roll < 0.70:
            text = f"expr: {rng.choice(PASSING)}\nat: {{x: {x}}}\n"
        elif roll < 0.85:
            text = f"expr: x**3\nat: {{x: {x}}}\nmanual: {{x: 3*x}}\n"
        elif roll < 0.95:
            text = rng.choice(BROKEN)
        else:
            text = f"expr: x*x\nat: {{x: {x}}}\nfunction: saboteurs:{rng.choice(SABOTEURS)}\n"
        (specs / f"case{i:05}.yaml").write_text(text)
    return count


class TreeWatch:
    """The process tree of a run, sampled from /proc ten times a second: peak total memory, every pid seen."""

    def __init__(self, root: int):
        self.root = root
        self.seen: set[int] = {root}
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            tree = self._tree()
            self.seen |= tree
            self.peak = max(self.peak, sum(map(_rss, tree)))
            time.sleep(0.1)

    def _tree(self) -> set[int]:
        found, frontier = set(), [self.root]
        while frontier:
            pid = frontier.pop()
            found.add(pid)
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            frontier.extend(int(c) for c in children)
        return found

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


def one_run(folder: Path, cases: int, interrupt_after: float | None, sig: int, jobs: int) -> dict:
    command = [sys.executable, "-m", "gradcheck_cli", "specs", "-j", str(jobs), "--format", "jsonl"]
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    watch = TreeWatch(process.pid)
    if interrupt_after is not None:
        timer = threading.Timer(interrupt_after, lambda: process.poll() is None and process.send_signal(sig))
        timer.start()
    out, err = process.communicate()
    elapsed = time.monotonic() - start
    watch.stop()
    time.sleep(0.5)
    survivors = [pid for pid in watch.seen if pid != process.pid and _alive(pid)]
    names = Counter()
    for line in out.splitlines():
        if line.startswith("{"):
            names[json.loads(line)["name"]] += 1
    problems = []
    finished = process.returncode in (0, 1, 2)
    if finished and (len(names) != cases or max(names.values()) != 1):
        problems.append(f"finished with {sum(names.values())} results for {cases} cases ({len(names)} distinct)")
    if not finished and process.returncode != 128 + sig:
        problems.append(f"exit code {process.returncode} after signal {sig}: {err.strip()[-300:]}")
    if names and max(names.values()) > 1:
        problems.append("a case reported twice")
    if survivors:
        problems.append(f"{len(survivors)} process(es) outlived the run: {survivors}")
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
    if watch.peak > MEMORY_LIMIT:
        problems.append(f"peak memory {watch.peak / 2**20:.0f} MiB")
    if "Traceback" in err:
        problems.append("a traceback on stderr")
    return {"code": process.returncode, "seconds": elapsed, "results": sum(names.values()),
            "peak_mib": watch.peak / 2**20, "problems": problems}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20, help="interrupted runs")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    failures = 0
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        cases = make_folder(folder, options.specs, rng)
        whole = one_run(folder, cases, None, signal.SIGINT, options.jobs)
        print(f"whole run: exit {whole['code']}, {whole['results']} results for {cases} cases, "
              f"{whole['seconds']:.1f} s, peak {whole['peak_mib']:.0f} MiB  {'; '.join(whole['problems']) or 'ok'}")
        failures += bool(whole["problems"])
        for run in range(options.runs):
            sig = rng.choice([signal.SIGINT, signal.SIGTERM])
            after = rng.uniform(0.5, whole["seconds"])
            outcome = one_run(folder, cases, after, sig, options.jobs)
            print(f"run {run + 1:2}: {signal.Signals(sig).name} after {after:5.1f} s -> exit {outcome['code']}, "
                  f"{outcome['results']} results, peak {outcome['peak_mib']:.0f} MiB  "
                  f"{'; '.join(outcome['problems']) or 'ok'}")
            failures += bool(outcome["problems"])
    print(f"{failures} run(s) broke the contract" if failures else "every run kept the contract")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
