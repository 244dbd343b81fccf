"""The worker processes of a :class:`~gymsamp.sampling.sampler_pool.SamplerPool`: the
:class:`GlobalNamespace` each one keeps, the loop that serves the pool's calls in the process,
and the parent's handle that starts a worker and ends it (no worker outlives the pool)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import cloudpickle
import numpy as np

from gymsamp._checks import check_int
from gymsamp.sampling.start_method import global_start_method_kept
from gymsamp.sampling.worker_lifetime import (
    ParentWatch,
    die_with_parent,
    parent_watch,
    release,
    sigint_held,
)

__all__ = [
    "JOIN_TIMEOUT_S",
    "GlobalNamespace",
    "PoolWorker",
    "exception_message",
    "seed_namespace",
    "shutdown_all",
]

# A worker that does not leave after the stop message within this many seconds is terminated, and
# one that survives SIGTERM as long is killed.
JOIN_TIMEOUT_S = 2.0
# While a terminated worker is waited for, SIGTERM is sent again this often
# (see PoolWorker.shutdown).
_RESEND_SIGTERM_S = 0.1


class GlobalNamespace:
    """A worker's private attribute bag, passed as first argument ``G`` to every pool function.

    Set any attribute on it (e.g. an expensive env built once per worker with
    :meth:`SamplerPool.invoke_all`) and read it in later calls on the same worker.

    Attributes:
        worker_index: 0-based index of the worker owning this namespace.
        rng: A :class:`numpy.random.Generator`; fresh entropy unless :meth:`SamplerPool.set_seed`
            seeded it.

    Example:
        >>> G = GlobalNamespace()  # as in pyrado: the pool makes one per worker
        >>> G.env_count = 3  # worker-local state survives between pool calls
        >>> G.worker_index, G.env_count
        (0, 3)
    """

    worker_index: int
    rng: np.random.Generator

    def __init__(self, worker_index: int = 0) -> None:
        self.worker_index = check_int("worker_index", worker_index, 0)
        self.rng = np.random.default_rng()

    def __getattr__(self, name: str) -> Any:
        # Only reached for missing attributes; lets type checkers accept user-defined ones.
        if name.startswith("__"):  # keep copy/pickle protocol lookups cheap and recursion-free
            raise AttributeError(name)
        index = self.__dict__.get("worker_index")
        raise AttributeError(
            f"GlobalNamespace of worker {index} has no attribute {name!r}; set it first, "
            "e.g. with SamplerPool.invoke_all"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        items = ", ".join(f"{key}={value!r}" for key, value in self.__dict__.items())
        return f"GlobalNamespace({items})"


def seed_namespace(G: GlobalNamespace, seed: int) -> None:
    # Equals SeedSequence(seed).spawn(n)[worker_index]: independent streams per worker.
    G.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(G.worker_index,)))


class _Terminated(BaseException):
    """SIGTERM in a worker (the parent ending it, e.g. after Ctrl-C): unwinds the running
    task, so that what ``G`` holds is released and closed (a sampler's vector env and its
    semaphores) instead of being left to the resource tracker."""


def _on_sigterm(worker_pid: int) -> Callable[[int, Any], None]:
    terminated = False

    def handle(signum: int, frame: Any) -> None:
        nonlocal terminated
        if os.getpid() != worker_pid:  # a forked child of a task: the default (end at once)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        # The parent repeats SIGTERM until the worker has ended: only the first one unwinds,
        # the others must not interrupt the release of what G holds.
        if not terminated:
            terminated = True
            raise _Terminated

    return handle


def _worker_main(conn: Connection, worker_index: int, parent: ParentWatch | None = None) -> None:
    """Loop of a worker process: run ``func(G, *args, **kwargs)`` per message until told to stop."""
    # Ctrl-C reaches the whole process group; the parent handles it by terminating the workers,
    # so workers ignore it instead of each printing a traceback mid-task.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm(os.getpid()))
    die_with_parent(parent)  # a task that hangs never reads the EOF of a killed parent
    G = GlobalNamespace(worker_index)
    with contextlib.suppress(_Terminated):
        _serve(conn, G)


def _serve(conn: Connection, G: GlobalNamespace) -> None:
    while True:
        try:
            msg = conn.recv_bytes()
        except (EOFError, OSError):  # the parent is gone
            return
        if not msg:  # stop message
            return
        try:
            func, args, kwargs = cloudpickle.loads(msg)
            reply = cloudpickle.dumps((True, func(G, *args, **kwargs)))
        except _Terminated:
            raise
        except BaseException as exc:  # the worker must survive anything func does
            reply = cloudpickle.dumps(
                (False, (type(exc).__qualname__, exception_message(exc), traceback.format_exc()))
            )
        try:
            conn.send_bytes(reply)
        except OSError:
            return


class PoolWorker:
    """The parent's handle on one worker process, made unstarted: :meth:`start` starts it."""

    def __init__(self, ctx: Any, index: int) -> None:
        self.conn, self._child_conn = ctx.Pipe(duplex=True)
        parent = parent_watch(ctx.get_start_method())
        self.process: BaseProcess = ctx.Process(
            target=_worker_main,
            args=(self._child_conn, index, parent),
            name=f"gymsamp-SamplerPool-{index}",
        )
        self._shutdown_lock = threading.Lock()
        self._ended = False
        self.replied = False  # a death before the first reply gets a hint (main_guard_hint)

    def start(self) -> None:
        # sigint_held: a Ctrl-C in the fork would leave a child no stop() can end; held back,
        # it comes once the process is recorded, and the caller discards the worker.
        with global_start_method_kept(), sigint_held():  # every start: restarts too
            self.process.start()
        # Only the child may hold its end, so the parent sees EOF as soon as the child dies.
        self._child_conn.close()

    def discard(self) -> None:
        """Drop a worker that was never started, or whose start was interrupted (a Ctrl-C
        held back in :meth:`start` comes once the process started): its pipe and process."""
        self._child_conn.close()
        if self.process.pid is not None:  # started
            self.shutdown(graceful=False)
        self._ended = True
        self.conn.close()

    def shutdown(self, graceful: bool) -> None:
        # A stop() from another thread may end the same worker as the call it interrupts:
        # one shutdown at a time (closing the process handle twice at once fails inside
        # multiprocessing), and the later one finds it ended.
        with self._shutdown_lock:
            if self._ended:
                return
            if graceful and self.process.is_alive():
                with contextlib.suppress(OSError):  # already gone: nothing to tell
                    self.conn.send_bytes(b"")
                self.process.join(JOIN_TIMEOUT_S)
            if self.process.is_alive():
                _terminate(self.process)
            if self.process.is_alive():
                self.process.kill()
            self.process.join()
            release([self.process])  # its pipe fds now: an error kept may keep this worker
            self._ended = True
            with contextlib.suppress(OSError):
                self.conn.close()


def _terminate(process: BaseProcess) -> None:
    """SIGTERM ``process`` and wait up to ``JOIN_TIMEOUT_S`` for it to end, repeating the signal.

    A worker turns SIGTERM into :class:`_Terminated` in its Python handler, which runs only
    between bytecodes of its main thread. A SIGTERM that lands after the last check and before
    a blocking call starts (``time.sleep`` in a task, right after it sent Ctrl-C to the parent,
    or a wait for the GIL held by another thread) interrupts nothing: the handler waited for the
    whole sleep, the worker was killed at the join timeout, and G was never released. A repeated
    signal interrupts the blocking call; the worker's handler unwinds only once.
    """
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        with contextlib.suppress(OSError):  # ended between is_alive() and the signal
            process.terminate()
        process.join(min(left, _RESEND_SIGTERM_S))
        if not process.is_alive():
            return


def shutdown_all(workers: list[PoolWorker | None], graceful: bool = True) -> None:
    # Module-level (not a method) so weakref.finalize holds no reference to the pool.
    for i, worker in enumerate(workers):
        if worker is not None:
            # Ended before its slot is emptied: a stop() from another thread that finds it
            # there waits in shutdown() until it has ended (it returned at once while a
            # first stop(), or the call it interrupted, was still ending it).
            worker.shutdown(graceful)
            if workers[i] is worker:
                workers[i] = None


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, or a note where the exception's own ``__str__`` fails (the error must still
    reach the caller, and a worker must survive it)."""
    try:
        return str(exc)
    except Exception as failure:
        return f"<str() of the {type(exc).__qualname__} failed: {type(failure).__qualname__}>"
