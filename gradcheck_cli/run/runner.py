"""Running many cases: targets expanded into jobs, run in order, or in worker processes.

Results always come back in the order of the jobs, so output is stable
whatever the parallelism; each worker process imports torch once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..core.errors import GradcheckError, InternalError, SpecError, UserCodeError
from ..engines.torch_engine import loaded_torch
from ..spec.collect import Collection
from ..spec.spec import Spec
from ..verdict.compare import CaseResult
from .case import error_result, run

PARALLEL_THRESHOLD = 8  # cases; fewer run in this process (a worker costs a torch import)


@dataclass(frozen=True)
class Job:
    """A spec to check, or the result already known for a file that could not be loaded."""

    spec: Spec | None = None
    failed: CaseResult | None = None


def jobs_for(collection: Collection, overrides: dict, defaults: dict | None = None) -> list[Job]:
    """One job per case of every spec file collected (spec.collect), and one failed job per target that cannot be
    read.  `defaults` (the project's [tool.gradcheck]) lie under each file's own keys, `overrides` (the command
    line's flags) over them."""
    from ..spec.spec_file import load  # YAML is imported only when spec files are read

    jobs = [_failed(target, SpecError(f"{target}: {problem}")) for target, problem in collection.problems]
    given = frozenset(overrides)
    for file in collection.files:
        try:
            specs = load(file, defaults=defaults)
            jobs.extend(Job(spec=replace(spec, **overrides, command_line=given)) for spec in specs)
        except GradcheckError as error:
            jobs.append(_failed(str(file), error))
        except Exception as error:  # a fault of ours in reading it: this file's error, the others still run
            jobs.append(_failed(str(file), InternalError.from_exception(error, f"reading {file}")))
    return jobs


def _failed(file: str, error: GradcheckError) -> Job:
    line = error.origin.line if error.origin else None
    result = error_result(file, error, file=file, line=line)
    result.traceback = getattr(error, "trace", None)
    return Job(failed=result)


def run_jobs(jobs: list[Job], processes: int | None = None) -> Iterator[CaseResult]:
    """Results in job order; `processes` None picks the core count for larger runs.

    A run that imports a user's function always runs in worker processes (one, if one is asked for): an
    `os._exit`, a segfault or a hang in that code then costs its case, never the run and its exit code."""
    if processes is None:
        processes = (os.cpu_count() or 1) if len(jobs) > PARALLEL_THRESHOLD else 1
    if (processes <= 1 or len(jobs) <= 1) and not any(map(_imports_user_code, jobs)):
        yield from map(_run_job, jobs)
        return
    loaded_torch()  # once here, inherited by every forked worker (its objects frozen: no copy on write by gc)

    from .workers import WorkerPool

    with WorkerPool(min(processes, len(jobs)), _run_job, initializer=_one_torch_thread) as pool:
        yield from pool.results_in_order(jobs, _died)


def _one_torch_thread() -> None:
    """In a freshly forked worker: torch computes on one thread.  A child forked after the parent's OpenMP threads
    have started waits forever at its first parallel op for threads it does not have (libgomp is not fork-safe),
    and N workers on N cores gain nothing from more threads each."""
    import torch

    torch.set_num_threads(1)


def _died(job: Job, how: str, limit: float | None) -> CaseResult:
    """The result of a case whose worker process died under it twice (a crash, os._exit, the OOM killer), or
    that ran past the wall-clock limit of one job (a function that ignores SIGALRM or stops itself)."""
    if limit is not None:
        message = (f"the worker process checking this case was stopped after {limit:g} s, the limit of one case "
                   "on the wall clock (a user's function that ignores the time limit of each call, stops itself, "
                   "or spins in C)")
    else:
        message = (f"the worker process checking this case died twice, each time in a fresh worker ({how}): a crash "
                   "or os._exit in a user's function, or the machine's out-of-memory killer")
    return error_result(job.spec.display_name, UserCodeError(message), file=job.spec.file, line=job.spec.line)


def _imports_user_code(job: Job) -> bool:
    return job.spec is not None and job.spec.function is not None and job.spec.allow_import is not False


def _run_job(job: Job) -> CaseResult:
    return job.failed if job.failed is not None else run(job.spec)
