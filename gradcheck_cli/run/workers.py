"""Worker processes that cost one case when they die, and never outlive the run.

concurrent.futures' pool cannot say which task a dead worker held, so one crash there (os._exit in a user's
function, a segfault, the OOM killer's kill -9) turns every unfinished case into an error.  Here each worker
holds one job at a time, so a death is pinned on that job: it is retried once in a fresh worker (the OOM
killer may have picked a bystander), and a job that kills its worker twice gets an error naming the signal
or exit code.  The other jobs carry on.  Workers ignore Ctrl-C (the parent decides), and are ended on every
way out of the pool: a finished run, an exception, Ctrl-C, SIGTERM.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait

STRIKES = 2  # deaths of a worker holding the same job before that job is the culprit
_SIGNAL_NAMES = {int(s) for s in signal.Signals}  # not real-time signals (SIGRTMIN+3 has no name)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_GRACE = 2.0
# One job's limit on the wall clock: a backstop for what the per-call limit in user code cannot stop
# (a function that ignores SIGALRM, stops itself with SIGSTOP, or spins in C).
JOB_TIME_LIMIT = 1800.0  # seconds a worker is given to exit after SIGTERM before SIGKILL


@dataclass
class _Worker:
    process: multiprocessing.Process
    connection: object  # the parent's end of the pipe
    job: int | None = None  # index of the job it holds
    deadline: float = math.inf  # when the job it holds has run too long (time.monotonic())

    def overdue(self) -> bool:
        return time.monotonic() >= self.deadline


def _die_with_parent(parent: int) -> None:
    """On Linux, ask the kernel to SIGKILL this worker when the parent dies, even by kill -9 (which runs no
    clean-up in the parent); elsewhere a worker notices at its next job, when the pipe is closed."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(0)


def _serve(connection, work: Callable, parent: int, initializer: Callable | None) -> None:
    """A worker's life: jobs in, results out, until told to stop; then gone without waiting for threads a user's
    function may have started."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    if initializer is not None:
        initializer()
    try:
        while True:
            message = connection.recv()
            if message is None:
                break
            index, job = message
            connection.send((index, work(job)))
    except (EOFError, OSError):  # the parent is gone
        pass
    finally:
        os._exit(0)


class WorkerPool:
    """`processes` workers, each calling `initializer()` once when it starts, then `work(job)` on one job at a
    time."""

    def __init__(self, processes: int, work: Callable, job_time_limit: float | None = None,
                 initializer: Callable | None = None):
        self.processes = processes
        self.initializer = initializer
        self.job_time_limit = job_time_limit or JOB_TIME_LIMIT
        self.work = work
        self.workers: list[_Worker] = []
        self.context = multiprocessing.get_context()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def results_in_order(self, jobs: list, died: Callable[[object, str, float | None], object]) -> Iterator:
        """work(job) for every job, in job order.  `died(job, how, limit)` stands for a job that killed its worker
        twice (limit None), or ran past `limit` seconds on the wall clock and had its worker killed."""
        waiting = deque(range(len(jobs)))
        strikes = [0] * len(jobs)
        finished: dict[int, object] = {}
        next_index = 0
        while next_index < len(jobs):
            self._hand_out(waiting, jobs)
            for worker, outcome in self._wait():
                if outcome is not None:
                    finished[outcome[0]] = outcome[1]
                    continue
                index, overdue = worker.job, worker.overdue()
                how = self._death(worker)
                strikes[index] += STRIKES if overdue else 1  # a job past its wall-clock limit is not retried
                if strikes[index] >= STRIKES:
                    finished[index] = died(jobs[index], how, self.job_time_limit if overdue else None)
                else:
                    waiting.appendleft(index)
            while next_index in finished:
                yield finished.pop(next_index)
                next_index += 1

    def _hand_out(self, waiting: deque, jobs: list) -> None:
        idle = [w for w in self.workers if w.job is None]
        while waiting and (idle or len(self.workers) < self.processes):
            worker = idle.pop() if idle else self._start()
            index = waiting.popleft()
            try:
                worker.connection.send((index, jobs[index]))
            except (OSError, ValueError):
                # it died while idle (a thread its last job left behind): not this job's fault
                waiting.appendleft(index)
                self._death(worker)
                continue
            worker.job, worker.deadline = index, time.monotonic() + self.job_time_limit

    def _start(self) -> _Worker:
        parent_end, child_end = self.context.Pipe()
        process = self.context.Process(target=_serve, args=(child_end, self.work, os.getpid(), self.initializer),
                                       daemon=True)
        process.start()
        child_end.close()
        worker = _Worker(process, parent_end)
        self.workers.append(worker)
        return worker

    def _wait(self) -> list[tuple[_Worker, tuple | None]]:
        """Workers that answered, with (index, result), or that died, with None."""
        busy = [w for w in self.workers if w.job is not None]
        timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
        ready = set(wait([w.connection for w in busy] + [w.process.sentinel for w in busy], timeout))
        events = []
        for worker in busy:
            if worker.connection not in ready and worker.overdue():  # a stopped or stuck worker: killed
                worker.process.kill()
                events.append((worker, None))
                continue
            if worker.connection in ready:
                try:
                    outcome = worker.connection.recv()
                except (EOFError, OSError):  # it died while sending
                    events.append((worker, None))
                    continue
                worker.job, worker.deadline = None, math.inf
                events.append((worker, outcome))
            elif worker.process.sentinel in ready:
                events.append((worker, None))
        return events

    def _death(self, worker: _Worker) -> str:
        """Forget a dead worker; how it died, in words."""
        worker.process.join(STOP_GRACE)
        self.workers.remove(worker)
        worker.connection.close()
        code = worker.process.exitcode
        if code is not None and code < 0:
            return f"signal {-code}" + (f", {signal.Signals(-code).name}" if -code in _SIGNAL_NAMES else "")
        return f"exit code {code}"

    def stop(self) -> None:
        """End every worker: a polite stop to idle ones, SIGTERM then SIGKILL to the rest."""
        for worker in self.workers:
            try:
                if worker.job is None:
                    worker.connection.send(None)
                else:
                    worker.process.terminate()
            except (OSError, ValueError):
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(STOP_GRACE)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        self.workers = []
