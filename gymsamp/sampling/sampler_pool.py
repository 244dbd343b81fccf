"""A process pool with worker-local state: :class:`SamplerPool` and :class:`GlobalNamespace`.

Re-creates pyrado's ``SamplerPool`` on :mod:`multiprocessing` with a context of its own (the global
start method is never changed), :mod:`cloudpickle` for functions, arguments and results (lambdas
and closures work), :class:`~gymsamp.sampling.errors.WorkerError` for failures in workers, and
workers that never outlive the pool.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol, TypeVar

import cloudpickle
import numpy as np

from gymsamp._checks import check_int
from gymsamp._warnings import user_stacklevel
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.one_call import OneCallAtATime
from gymsamp.sampling.start_method import (
    check_main_script,
    check_start_method,
    global_start_method_kept,
    main_guard_hint,
)
from gymsamp.sampling.worker_lifetime import ParentWatch, die_with_parent, parent_watch, release

__all__ = ["GlobalNamespace", "ProgressBar", "SamplerPool"]

A = TypeVar("A")
R = TypeVar("R")
# (tag, func, args, kwargs): one call func(G, *args, **kwargs), identified by tag.
_Task = tuple[int, Callable[..., Any], tuple[Any, ...], dict[str, Any]]

# A worker that does not leave after the stop message within this many seconds is terminated, and
# one that survives SIGTERM as long is killed.
_JOIN_TIMEOUT_S = 2.0
# While a terminated worker is waited for, SIGTERM is sent again this often (see _Worker.shutdown).
_RESEND_SIGTERM_S = 0.1


class ProgressBar(Protocol):
    """Anything with tqdm's ``update(n)``, e.g. a :class:`tqdm.tqdm` instance."""

    def update(self, n: int, /) -> object: ...


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


def _seed_namespace(G: GlobalNamespace, seed: int) -> None:
    # Equals SeedSequence(seed).spawn(n)[worker_index]: independent streams per worker.
    G.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(G.worker_index,)))


def _numbered_call(G: GlobalNamespace, num: int, call: Any) -> tuple[Any, int]:
    """Run ``num`` of run_collect: ``call`` is ``(func, args, kwargs)``, pickled once in workers."""
    func, args, kwargs = cloudpickle.loads(call) if isinstance(call, bytes) else call
    out = func(G, num, *args, **kwargs)
    # Checked where func ran, so a bad return value is reported with its traceback.
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(f"run_collect's func must return (result, n_samples), got {out!r}")
    return out[0], _check_int("n_samples", out[1], 0)


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
                (False, (type(exc).__qualname__, _message(exc), traceback.format_exc()))
            )
        try:
            conn.send_bytes(reply)
        except OSError:
            return


class _Worker:
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
        with global_start_method_kept():  # every start: the first ones and restarts alike
            self.process.start()
        # Only the child may hold its end, so the parent sees EOF as soon as the child dies.
        self._child_conn.close()

    def discard(self) -> None:
        """Drop a worker that was never started (its pipe only)."""
        self._ended = True
        self._child_conn.close()
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
                self.process.join(_JOIN_TIMEOUT_S)
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
    """SIGTERM ``process`` and wait up to ``_JOIN_TIMEOUT_S`` for it to end, repeating the signal.

    A worker turns SIGTERM into :class:`_Terminated` in its Python handler, which runs only
    between bytecodes of its main thread. A SIGTERM that lands after the last check and before
    a blocking call starts (``time.sleep`` in a task, right after it sent Ctrl-C to the parent,
    or a wait for the GIL held by another thread) interrupts nothing: the handler waited for the
    whole sleep, the worker was killed at the join timeout, and G was never released. A repeated
    signal interrupts the blocking call; the worker's handler unwinds only once.
    """
    deadline = time.monotonic() + _JOIN_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        with contextlib.suppress(OSError):  # ended between is_alive() and the signal
            process.terminate()
        process.join(min(left, _RESEND_SIGTERM_S))
        if not process.is_alive():
            return


def _stopped_during(name: str) -> WorkerError:
    """The error of a call that ``stop()``, from another thread, ended."""
    return WorkerError(f"the SamplerPool was stopped while {name} ran")


def _shutdown_all(workers: list[_Worker | None], graceful: bool = True) -> None:
    # Module-level (not a method) so weakref.finalize holds no reference to the pool.
    for i, worker in enumerate(workers):
        if worker is not None:
            # Ended before its slot is emptied: a stop() from another thread that finds it
            # there waits in shutdown() until it has ended (it returned at once while a
            # first stop(), or the call it interrupted, was still ending it).
            worker.shutdown(graceful)
            if workers[i] is worker:
                workers[i] = None


def _message(exc: BaseException) -> str:
    """``str(exc)``, or a note where the exception's own ``__str__`` fails (the error must still
    reach the caller, and a worker must survive it)."""
    try:
        return str(exc)
    except Exception as failure:
        return f"<str() of the {type(exc).__qualname__} failed: {type(failure).__qualname__}>"


def _pickled(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The call as cloudpickle bytes for a worker; what cannot be pickled is named."""
    try:
        return cloudpickle.dumps((func, args, kwargs))
    except Exception as exc:
        parts = [(f"func {_func_name(func)}", func)]
        parts += [(f"argument {i} ({type(a).__name__})", a) for i, a in enumerate(args)]
        parts += [(f"keyword argument {k!r} ({type(v).__name__})", v) for k, v in kwargs.items()]
        culprit = "the call"
        for what, value in parts:
            try:
                cloudpickle.dumps(value)
            except Exception:
                culprit = what
                break
        raise TypeError(
            f"{culprit} must be picklable to reach a SamplerPool worker process (cloudpickle; "
            f"num_threads=1 runs in this process and pickles nothing), got "
            f"{type(exc).__qualname__}: {_message(exc)}"
        ) from exc


def _func_name(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _check_func(func: Any) -> None:
    if not callable(func):
        raise TypeError(
            f"func must be callable (its first argument is the worker's G), got {func!r}"
        )


def _arguments(arglist: Any) -> list[Any]:
    """``arglist`` as a list; a non-iterable failed in ``list()`` with "'NoneType' object is
    not iterable", which names neither the argument nor the rule."""
    try:
        arguments = iter(arglist)
    except TypeError:
        raise TypeError(
            f"arglist must be an iterable of arguments (one per call), got "
            f"{type(arglist).__name__} {arglist!r}"
        ) from None
    # Outside the try: a TypeError raised while iterating (a generator's own) is not renamed.
    return list(arguments)


def _check_bar(name: str, bar: Any) -> None:
    if bar is not None and not callable(getattr(bar, "update", None)):
        raise TypeError(f"{name} must be None or have an update(n) method (e.g. tqdm), got {bar!r}")


def _set_total(bar: Any, total: int) -> None:
    """Give a bar whose ``total`` is None (a tqdm built without one) the call's expected count,
    as pyrado did.

    A total the caller set is kept (a bar over several calls counts them all), and a bar whose
    ``total`` cannot be set (a read-only property) is left alone: the bar only has to have an
    ``update(n)`` method.
    """
    if bar is None or getattr(bar, "total", 0) is not None:
        return
    with contextlib.suppress(AttributeError):
        bar.total = total


def _check_int(name: str, value: Any, minimum: int, *, optional: bool = False) -> int:
    """``value`` as an int >= ``minimum`` (None gives ``minimum`` if ``optional``), else raise."""
    if optional and value is None:
        return minimum
    return check_int(name, value, minimum)


class SamplerPool:
    """A process pool whose workers keep state between calls.

    Every function run by the pool gets the worker's :class:`GlobalNamespace` ``G`` as its first
    argument; state put there (an env, a policy) stays in that worker for later calls, so an
    object that is expensive to transmit or build is set up once per worker with
    :meth:`invoke_all`. Functions, arguments and results travel with cloudpickle.

    With ``num_threads=1`` everything runs in the calling process (no subprocess, one
    ``GlobalNamespace`` in the parent, arguments are not copied) with the same results and
    errors, which makes debugging easy.

    Failures: an exception in a function surfaces as :class:`WorkerError` carrying the worker's
    traceback, after the pool has waited for the other workers' running tasks; the worker and
    its ``G`` survive. A worker process that dies (``os._exit``, a signal) also raises
    :class:`WorkerError` and is restarted, with a fresh ``G``: its state is lost. No worker
    outlives :meth:`stop`, the ``with`` block, garbage collection of the pool, or an exception
    (e.g. Ctrl-C) in the parent while it waits; after the latter, the next call starts fresh
    workers. A worker found dead between calls is restarted with a :class:`RuntimeWarning`.
    Workers are not daemonic, so functions may start processes of their own (vector envs).
    The pool runs one call at a time: a call while another runs (from another thread) raises
    a RuntimeError; :meth:`stop` may come from any thread. With ``"spawn"``, a script
    that builds a pool needs the usual ``if __name__ == "__main__":`` guard.

    Args:
        num_threads: Number of worker processes (an int >= 1); 1 runs in-process.
        start_method: :mod:`multiprocessing` start method for the workers; ``None`` uses the
            platform default. ``"spawn"`` (default) is safe with torch, CUDA and Ray around.

    Example:
        >>> def setup(G, scale):
        ...     G.scale = scale
        >>> with SamplerPool(1) as pool:
        ...     pool.invoke_all(setup, 10)
        ...     pool.run_map(lambda G, x: G.scale * x, [1, 2, 3])
        ...     pool.run_collect(5, lambda G, num: (num, num))
        [None]
        [10, 20, 30]
        ([1, 2, 3], 6)
    """

    def __init__(self, num_threads: int, *, start_method: str | None = "spawn") -> None:
        self._num_threads = _check_int("num_threads", num_threads, 1)
        start_method = check_start_method(start_method)  # also in-process: a typo is a typo
        self._stopped = False
        # Held to set _stopped and to start a worker into its slot: a stop() from another
        # thread either finds a started worker (and ends it) or keeps it from starting.
        self._lock = threading.Lock()
        # Two calls at once would send tasks to the same workers and read each other's replies.
        self._one_call = OneCallAtATime(
            "this SamplerPool", kind="SamplerPool", callers="its function or progress bar"
        )
        self._local: GlobalNamespace | None = None
        self._workers: list[_Worker | None] = []
        self._finalizer = weakref.finalize(self, _shutdown_all, self._workers)
        if self._num_threads == 1:
            self._local = GlobalNamespace(0)
            return
        with global_start_method_kept():
            self._ctx = mp.get_context(start_method)
            method = self._ctx.get_start_method()
        check_main_script(method, start_method, instead="num_threads=1")
        self._workers.extend([None] * self._num_threads)
        try:
            self._start_missing("SamplerPool()")
        except BaseException:  # e.g. Ctrl-C while starting: no half-built pool leaves workers
            self._finalizer()
            raise

    @property
    def num_threads(self) -> int:
        """Number of workers (1 means in-process)."""
        return self._num_threads

    def __enter__(self) -> SamplerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"SamplerPool(num_threads={self._num_threads}, {state})"

    def __reduce__(self) -> Any:
        raise TypeError("a SamplerPool cannot be pickled (did a function sent to it capture it?)")

    def stop(self) -> None:
        """Terminate all workers; the pool is unusable afterwards. Calling it again does nothing.

        It may be called from another thread while a call runs: that call then raises a
        :class:`WorkerError`, and no worker runs once ``stop()`` has returned (also where
        several threads stop the pool at once).
        """
        with self._lock:
            self._stopped = True
        _shutdown_all(self._workers)
        self._finalizer.detach()  # nothing left to end

    def set_seed(self, seed: int) -> None:
        """Seed each worker's ``G.rng`` deterministically (legacy helper).

        Worker ``i`` gets ``numpy.random.default_rng(numpy.random.SeedSequence(seed).spawn(n)[i])``.
        No global RNG is touched. Intended for legacy evaluation scripts only: new code should
        pass seeds to the samplers, whose results do not depend on the number of workers. A
        restarted worker's ``G.rng`` is unseeded again.

        Args:
            seed: An int >= 0.
        """
        self.invoke_all(_seed_namespace, _check_int("seed", seed, 0))

    def invoke_all(self, func: Callable[..., R], *args: Any, **kwargs: Any) -> list[R]:
        """Call ``func(G, *args, **kwargs)`` once on every worker.

        Returns:
            The return values, in worker order.
        """
        _check_func(func)
        return self._invoke(func, [(args, kwargs)] * self._num_threads)

    def invoke_all_map(
        self, func: Callable[[GlobalNamespace, A], R], arglist: Sequence[A]
    ) -> list[R]:
        """Call ``func(G, arglist[i])`` on worker ``i``, for every worker.

        Args:
            func: Function of the worker's namespace and one argument.
            arglist: One argument per worker, in worker order.

        Returns:
            The return values, in worker order.

        Raises:
            ValueError: If ``len(arglist)`` is not the number of workers.
        """
        _check_func(func)
        arglist = _arguments(arglist)
        if len(arglist) != self._num_threads:
            raise ValueError(
                f"arglist has {len(arglist)} entries but must have {self._num_threads} to match "
                "the number of workers"
            )
        return self._invoke(func, [((arg,), {}) for arg in arglist])

    def run_map(
        self,
        func: Callable[[GlobalNamespace, A], R],
        arglist: Iterable[A],
        progressbar: ProgressBar | None = None,
    ) -> list[R]:
        """A parallel ``[func(G, arg) for arg in arglist]``; workers take arguments as they free up.

        Args:
            func: Function of the worker's namespace and one argument.
            arglist: The arguments.
            progressbar: Optional tqdm-like bar, updated by 1 per finished call; a ``total``
                of None (a tqdm built without one) is set to the number of arguments.

        Returns:
            The results in argument order.
        """
        _check_func(func)
        _check_bar("progressbar", progressbar)
        args = _arguments(arglist)
        _set_total(progressbar, len(args))
        pending = enumerate(args)
        results: dict[int, Any] = {}

        def next_task(_worker: int) -> _Task | None:
            i, arg = next(pending, (-1, None))
            return None if i < 0 else (i, func, (arg,), {})

        def on_result(i: int, value: Any) -> None:
            results[i] = value
            if progressbar is not None:
                progressbar.update(1)

        self._drive(next_task, on_result, _func_name(func))
        return [results[i] for i in range(len(results))]

    def run_collect(
        self,
        n: int,
        func: Callable[..., tuple[R, int]],
        *args: Any,
        collect_progressbar: ProgressBar | None = None,
        min_runs: int | None = None,
        **kwargs: Any,
    ) -> tuple[list[R], int]:
        """Run ``func(G, num, *args, **kwargs)`` for ``num = 1, 2, ...`` until enough samples exist.

        ``func`` returns ``(result, n_samples)``. The answer is the shortest prefix of runs
        ``1..K`` whose ``n_samples`` sum to at least ``n`` with ``K >= min_runs``, so it does not
        depend on the number of workers or on timing: runs beyond ``K`` that ran concurrently are
        dropped. A worker starts run ``j`` only while the finished runs do not yet form such a
        prefix (the unfinished ones may return any ``n_samples``), so a slow early run lets the
        others run ahead; those surplus runs are waited for and discarded. ``func`` must
        eventually return samples, or this never ends.

        Args:
            n: Minimum total number of samples, an int >= 0.
            func: Sampler function of ``G`` and the 1-based run number ``num``.
            *args: Passed on to ``func``.
            collect_progressbar: Optional tqdm-like bar, updated by ``n_samples`` of each run once
                it belongs to the finished prefix; it ends at the returned total. A ``total``
                of None (a tqdm built without one) is set to ``n``.
            min_runs: Optional minimum number of runs, an int >= 0.
            **kwargs: Passed on to ``func``.

        Returns:
            The results of runs ``1..K`` in run order, and the sum of their ``n_samples``.
        """
        n = _check_int("n", n, 0)
        _check_func(func)
        _check_bar("collect_progressbar", collect_progressbar)
        need_runs = _check_int("min_runs", min_runs, 0, optional=True)
        _set_total(collect_progressbar, n)
        results: list[Any] = []
        total = 0
        finished: dict[int, tuple[Any, int]] = {}
        next_num = 1
        call: Any = (func, args, kwargs)
        if self._local is None:  # pickle func and its arguments once, not once per run
            call = _pickled(func, args, kwargs)

        def enough() -> bool:
            return total >= n and len(results) >= need_runs

        def next_task(_worker: int) -> _Task | None:
            nonlocal next_num
            if enough():
                return None
            num, next_num = next_num, next_num + 1
            return num, _numbered_call, (num, call), {}

        def on_result(num: int, value: tuple[Any, int]) -> None:
            nonlocal total
            finished[num] = value
            # Grow the finished prefix one run at a time so it stops at the shortest sufficient one.
            while not enough() and len(results) + 1 in finished:
                result, n_samples = finished.pop(len(results) + 1)
                results.append(result)
                total += n_samples
                if collect_progressbar is not None:
                    collect_progressbar.update(n_samples)

        # A failed run beyond the answer was surplus; the outcome must not depend on whether it ran.
        self._drive(next_task, on_result, _func_name(func), ignore_errors=enough)
        return results, total

    # -- internals ----------------------------------------------------------------------------

    def _invoke(
        self, func: Callable[..., Any], calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
    ) -> list[Any]:
        results: list[Any] = [None] * len(calls)
        sent: set[int] = set()

        def next_task(worker: int) -> _Task | None:
            if worker in sent:
                return None
            sent.add(worker)
            return (worker, func, *calls[worker])

        def on_result(worker: int, value: Any) -> None:
            results[worker] = value

        self._drive(next_task, on_result, _func_name(func))
        return results

    def _start_missing(self, name: str) -> None:
        for i, worker in enumerate(self._workers):
            if worker is not None and not worker.process.is_alive():
                warnings.warn(
                    f"SamplerPool worker {i} died between calls (exit code "
                    f"{worker.process.exitcode}); restarting it with a fresh GlobalNamespace",
                    RuntimeWarning,
                    stacklevel=user_stacklevel(),  # the caller of run_map, invoke_all, ...
                )
                worker.shutdown(graceful=False)
                self._workers[i] = worker = None  # a start that fails leaves no ended handle
            if worker is None and not self._start_worker(i):
                raise _stopped_during(name)

    def _start_worker(self, i: int) -> bool:
        """Start worker ``i`` into its (empty) slot; False if the pool was stopped instead."""
        worker = _Worker(self._ctx, i)
        with self._lock:
            if self._stopped:  # stop() from another thread: it must find no worker after it
                worker.discard()
                return False
            try:
                worker.start()
            except BaseException:
                worker.discard()
                raise
            self._workers[i] = worker
        return True

    def _drive(
        self,
        next_task: Callable[[int], _Task | None],
        on_result: Callable[[int, Any], None],
        name: str,
        ignore_errors: Callable[[], bool] = lambda: False,
    ) -> None:
        """Hand tasks to idle workers and collect replies until no task is left or running.

        ``next_task(worker)`` gives ``(tag, func, args, kwargs)`` or None; ``on_result(tag,
        value)`` takes each success. After the first failure no task is started, the running ones
        are waited for, dead workers are restarted, and the failure with the lowest tag is raised
        unless ``ignore_errors()`` says the call has its answer anyway.
        """
        if self._stopped:
            raise RuntimeError("this SamplerPool has been stopped")
        with self._one_call.hold():
            self._drive_alone(next_task, on_result, name, ignore_errors)

    def _drive_alone(
        self,
        next_task: Callable[[int], _Task | None],
        on_result: Callable[[int, Any], None],
        name: str,
        ignore_errors: Callable[[], bool],
    ) -> None:
        if self._local is not None:
            # A stop() from another thread cannot interrupt the running task, but ends the call
            # after it, as it would with workers.
            while not self._stopped and (task := next_task(0)) is not None:
                tag, func, args, kwargs = task
                try:
                    value = func(self._local, *args, **kwargs)
                except (Exception, SystemExit) as exc:  # as a worker process reports them
                    raise WorkerError(
                        f"SamplerPool worker 0 raised {type(exc).__qualname__} in {name}: "
                        f"{_message(exc)}",
                        worker_index=0,
                        remote_traceback=traceback.format_exc(),
                    ) from exc
                on_result(tag, value)
            if self._stopped:
                raise _stopped_during(name)
            return
        self._start_missing(name)
        workers: list[_Worker] = [w for w in self._workers if w is not None]
        idle = list(range(len(workers)))
        busy: dict[int, int] = {}  # worker index -> tag of its task
        errors: dict[int, Exception] = {}
        dead: dict[int, int] = {}  # worker index -> tag of the task it died in

        def died(i: int, tag: int) -> None:
            workers[i].process.join(_JOIN_TIMEOUT_S)
            code = workers[i].process.exitcode
            hint = "" if workers[i].replied else main_guard_hint(self._ctx.get_start_method())
            errors[tag] = WorkerError(
                f"SamplerPool worker {i} died (exit code {code}) while running {name}; it is "
                f"restarted with a fresh GlobalNamespace{hint}",
                worker_index=i,
            )
            dead[i] = tag

        try:
            while True:
                for i in list(idle):
                    if errors:
                        break
                    task = next_task(i)
                    if task is None:
                        continue
                    tag, func, args, kwargs = task
                    try:
                        msg = _pickled(func, args, kwargs)
                    except TypeError as exc:  # e.g. an unpicklable argument: nothing was sent
                        errors[tag] = exc
                        break
                    idle.remove(i)
                    try:
                        workers[i].conn.send_bytes(msg)
                    except OSError:
                        died(i, tag)
                        continue
                    busy[i] = tag
                if not busy:
                    break
                owner: dict[Any, int] = {}
                for i in busy:
                    owner[workers[i].conn] = owner[workers[i].process.sentinel] = i
                for i in sorted({owner[obj] for obj in wait(list(owner))}):
                    tag = busy.pop(i)
                    conn = workers[i].conn
                    try:
                        # A dead worker's pipe may stay open if it forked children that hold it,
                        # so its process sentinel is the authority on death.
                        raw = conn.recv_bytes() if conn.poll() else None
                    except (EOFError, OSError):
                        raw = None
                    if raw is None:
                        died(i, tag)
                        continue
                    workers[i].replied = True
                    idle.append(i)
                    try:
                        ok, value = cloudpickle.loads(raw)
                    except Exception as exc:
                        errors[tag] = WorkerError(
                            f"result of {name} from SamplerPool worker {i} could not be "
                            f"unpickled: {type(exc).__qualname__}: {exc}",
                            worker_index=i,
                            remote_traceback=traceback.format_exc(),
                        )
                        continue
                    if not ok:
                        type_name, message, remote_tb = value
                        errors[tag] = WorkerError(
                            f"SamplerPool worker {i} raised {type_name} in {name}: {message}",
                            worker_index=i,
                            remote_traceback=remote_tb,
                        )
                    else:
                        on_result(tag, value)
                idle.sort()
        except BaseException as err:
            # Ctrl-C or any other failure in the parent: the pipes may now hold stale replies,
            # so end every worker; the next call starts fresh ones.
            _shutdown_all(self._workers, graceful=False)
            if self._stopped and isinstance(err, (OSError, EOFError, ValueError)):
                # stop() from another thread closed the pipes this call was waiting on
                raise _stopped_during(name) from err
            raise
        for i in dead:
            workers[i].shutdown(graceful=False)
            if self._workers[i] is workers[i]:
                self._workers[i] = None  # a start that fails below leaves no ended handle
        for i in dead:
            self._start_worker(i)  # none after a stop() from another thread: they stay ended
        if self._stopped:
            raise _stopped_during(name)
        if errors and not ignore_errors():
            raise errors[min(errors)]
        if dead:  # a lost GlobalNamespace is always reported, even after a surplus run
            raise errors[min(dead.values())]
