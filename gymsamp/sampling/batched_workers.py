""":class:`~gymsamp.sampling.batched_vector_env.BatchedAsyncVectorEnv`'s worker processes as
the parent sees them outside its calls: how many there are and which sub-envs each steps (the
blocks), the CPUs they may run on, how long they poll, the error for one that died, and their
end."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from numbers import Real
from typing import Any, NamedTuple

import gymnasium as gym

from gymsamp._checks import check_int
from gymsamp.sampling.batched_worker import start_worker
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.worker_lifetime import ParentWatch, reap, release

__all__ = [
    "WorkerBlocks",
    "available_cpus",
    "check_busy_poll",
    "end_workers",
    "start_workers",
    "worker_blocks",
    "worker_death",
]


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_busy_poll(value: Any) -> float:
    number = float(value) if isinstance(value, Real) and not isinstance(value, bool) else -1.0
    if not 0.0 <= number < math.inf:
        raise ValueError(f"busy_poll_us must be a finite number >= 0, got {value!r}")
    return number


class WorkerBlocks(NamedTuple):
    """How the sub-envs are split: ``bounds`` holds the blocks of consecutive sub-envs, the
    workers' (``envs_per_worker`` each, the last fewer), then the parent's (its last
    ``in_parent`` sub-envs, if any)."""

    in_parent: int
    envs_per_worker: int
    num_workers: int
    bounds: list[tuple[int, int]]


def worker_blocks(num_envs: int, in_parent: Any, num_workers: Any) -> WorkerBlocks:
    """The blocks of ``num_envs`` sub-envs on ``num_workers`` workers (None: as many as there
    are CPUs, less one for the parent where it steps sub-envs) and the parent, arguments
    checked."""
    if num_envs < 1:
        raise ValueError("env_fns must hold at least one env factory, got none")
    in_parent = check_int("in_parent", in_parent, minimum=0)
    if in_parent >= num_envs:
        raise ValueError(
            f"in_parent must leave at least one sub-env to the workers: be < "
            f"len(env_fns)={num_envs}, got {in_parent}"
        )
    remote = num_envs - in_parent
    if num_workers is None:
        num_workers = min(remote, max(1, available_cpus() - (in_parent > 0)))
    num_workers = check_int("num_workers", num_workers)
    k = math.ceil(remote / num_workers)
    bounds = [(lo, min(lo + k, remote)) for lo in range(0, remote, k)]
    if in_parent:
        bounds.append((remote, num_envs))
    # 5 sub-envs on 4 workers run as 2 + 2 + 1
    return WorkerBlocks(in_parent, k, math.ceil(remote / k), bounds)


def start_workers(
    ctx: Any,
    env_fns: Sequence[Callable[[], gym.Env[Any, Any]]],
    bounds: Sequence[tuple[int, int]],
    *,
    name: str,
    pin_workers: bool,
    parent: ParentWatch | None,
    **options: Any,
) -> Iterator[tuple[BaseProcess, Connection]]:
    """Start a worker process for each block of ``bounds`` (``options``: :func:`start_worker`'s
    and ``worker_main``'s keywords), pinned to the CPUs this process may use in turn with
    ``pin_workers``; yields each worker's process and socket as soon as it started (so that
    the caller can end them if a later one fails)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    for w, (lo, hi) in enumerate(bounds):
        yield start_worker(
            ctx,
            list(env_fns[lo:hi]),
            lo,
            len(env_fns),
            name=f"{name}-{w}",
            parent=parent,
            worker=w,
            cpu=cpus[w % len(cpus)] if pin_workers and cpus else None,
            **options,
        )


def worker_death(w: int, process: BaseProcess, block: tuple[int, int], hint: str) -> WorkerError:
    """The error for worker ``w`` (stepping sub-envs ``block``), which died (``hint``: what
    may have killed it)."""
    lo, hi = block
    reap(process, 1.0)  # for the exit code
    which = f"sub-env {lo}" if hi - lo == 1 else f"sub-envs {lo}..{hi - 1}"
    error = WorkerError(
        f"worker {w} ({which}) died unexpectedly (exit code {process.exitcode}){hint}",
        env_index=lo if hi - lo == 1 else None,
        worker_index=w,
    )
    error.lost_env_indices = tuple(range(lo, hi)) if hi - lo > 1 else ()
    return error


def end_workers(
    processes: list[BaseProcess], *, terminate: bool, close_timeout: float
) -> list[BaseProcess]:
    """End ``processes`` (terminated first with ``terminate``, else waited for up to
    ``close_timeout`` seconds each); those still alive then are killed. Returns the processes
    kept (none: every one has ended)."""
    for process in processes:
        if terminate and process.is_alive():
            process.terminate()
    for process in processes:
        reap(process, 1.0 if terminate else close_timeout)
        if process.is_alive():  # SIGTERM blocked or ignored: no process outlives close()
            process.kill()
            reap(process)
    return release(processes)  # every one has ended: none is kept
