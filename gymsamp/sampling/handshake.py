"""Signals between :class:`~gymsamp.sampling.batched_vector_env.BatchedAsyncVectorEnv` and its
worker processes: :class:`Handshake`.

Requests and replies strictly alternate on each worker's socket. What the socket alone costs
on a VM, measured on 2 vCPUs: every ``read``/``write`` is a system call (~1 us), and a process
asleep in ``read`` takes 10-20 us to wake, once per step and side. A step of 4 cheap sub-envs
(CartPole) takes ~30 us, so that was a third of it.

So each side *signals* through a process-shared semaphore per direction and worker
(multiprocessing's ``SemLock``: an atomic counter in shared memory that enters the kernel only
to sleep or to wake a sleeper), and the waiting side checks it for a while (``sched_yield``
between checks, so that a process sharing its CPU runs) before it sleeps in the semaphore. A
plain step request (the actions are in shared memory) and an empty reply (all in shared memory)
are the signal alone: no system call when the other side is still checking. A flag in shared
memory, written before the signal, says whether a message follows on the socket: commands,
queued resets, non-empty infos, error reports. The sender signals *before* it writes, so a
message larger than the socket's buffer never waits for a reader that waits for the signal.

The semaphores order memory like a lock (release, then acquire), so the shared arrays and the
flag written before a signal are seen after it on every platform.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["REPLY", "REQUEST", "Handshake"]

REQUEST, REPLY = 0, 1  # the two directions


class Handshake:
    """The signals of ``num_workers`` workers in both directions (pass it to each worker).

    Args:
        ctx: The multiprocessing context the workers start with.
        num_workers: Number of worker processes.

    Example:
        >>> import multiprocessing
        >>> signals = Handshake(multiprocessing.get_context(), 2)
        >>> signals.post(REQUEST, 1, message=True)
        >>> signals.wait(REQUEST, 1, spin_s=0.0, alive=lambda: True)  # a message follows
        True
        >>> signals.wait(REQUEST, 0, spin_s=0.0, alive=lambda: True, timeout=0.01)
        Traceback (most recent call last):
        ...
        TimeoutError: no signal from the other side within 0.01 s
    """

    #: Seconds a sleeping side waits in the semaphore before it checks that the other side
    #: still lives (a dead process never signals).
    LIVENESS_CHECK_S = 0.05

    def __init__(self, ctx: Any, num_workers: int) -> None:
        self.num_workers = num_workers
        self._semaphores = tuple(
            tuple(ctx.Semaphore(0) for _ in range(num_workers)) for _ in (REQUEST, REPLY)
        )
        self._flags_memory = ctx.RawArray(ctypes.c_int8, 2 * num_workers)
        self._flags = np.frombuffer(self._flags_memory, dtype=np.int8)

    def __getstate__(self) -> dict[str, Any]:
        return {"semaphores": self._semaphores, "flags": self._flags_memory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._semaphores, self._flags_memory = state["semaphores"], state["flags"]
        self._flags = np.frombuffer(self._flags_memory, dtype=np.int8)
        self.num_workers = len(self._semaphores[REQUEST])

    def post(self, direction: int, worker: int, *, message: bool) -> None:
        """Signal ``worker``'s request (or reply); ``message``: its bytes follow on the socket
        (write them after this call)."""
        self._flags[direction * self.num_workers + worker] = message
        self._semaphores[direction][worker].release()

    def wait(
        self,
        direction: int,
        worker: int,
        *,
        spin_s: float,
        alive: Callable[[], bool],
        timeout: float | None = None,
        check_every_s: float = LIVENESS_CHECK_S,
    ) -> bool:
        """Wait for ``worker``'s request (or reply) signal; whether a message follows.

        Checks for ``spin_s`` seconds (yielding the CPU between checks), then sleeps in the
        semaphore, asking ``alive()`` every ``check_every_s`` seconds.

        Raises:
            EOFError: ``alive()`` said the other side is gone.
            TimeoutError: No signal within ``timeout`` seconds (None: no limit).
        """
        semaphore = self._semaphores[direction][worker]
        acquire = semaphore.acquire
        if not acquire(False):
            start = time.perf_counter()
            if spin_s > 0.0:
                spin_until = start + spin_s
                yield_cpu, clock = os.sched_yield, time.perf_counter
                while not acquire(False):
                    if clock() >= spin_until:
                        break
                    yield_cpu()
                else:
                    return bool(self._flags[direction * self.num_workers + worker])
            deadline = None if timeout is None else start + timeout
            while True:
                wait_s = check_every_s
                if deadline is not None:
                    wait_s = min(wait_s, deadline - time.perf_counter())
                    if wait_s <= 0.0:
                        raise TimeoutError(f"no signal from the other side within {timeout} s")
                if acquire(True, wait_s):
                    break
                if not alive():  # asked only now: a system call, and sleeping is the rare case
                    raise EOFError("the other side of the handshake is gone")
        return bool(self._flags[direction * self.num_workers + worker])
