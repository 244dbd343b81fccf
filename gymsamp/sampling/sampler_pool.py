"""A process pool with worker-local state: :class:`SamplerPool` and :class:`GlobalNamespace`.

Re-creates pyrado's ``SamplerPool`` on :mod:`multiprocessing` with a context of its own (the global
start method is never changed), :mod:`cloudpickle` for functions, arguments and results (lambdas
and closures work), :class:`~gymsamp.sampling.errors.WorkerError` for failures in workers, and
workers that never outlive the pool.

The worker processes (and :class:`GlobalNamespace`) live in :mod:`gymsamp.sampling.pool_worker`,
the checks of a call's arguments in :mod:`gymsamp.sampling.pool_calls`.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import traceback
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import wait
from typing import Any, Protocol, TypeVar

import cloudpickle

from gymsamp._warnings import user_stacklevel
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.one_call import OneCallAtATime
from gymsamp.sampling.pool_calls import (
    argument_list,
    check_bar,
    check_count,
    check_func,
    func_name,
    pickled_call,
    set_bar_total,
)
from gymsamp.sampling.pool_worker import (
    JOIN_TIMEOUT_S,
    GlobalNamespace,
    PoolWorker,
    exception_message,
    seed_namespace,
    shutdown_all,
)
from gymsamp.sampling.start_method import (
    check_main_script,
    check_start_method,
    global_start_method_kept,
    main_guard_hint,
)

__all__ = ["GlobalNamespace", "ProgressBar", "SamplerPool"]

A = TypeVar("A")
R = TypeVar("R")
# (tag, func, args, kwargs): one call func(G, *args, **kwargs), identified by tag.
_Task = tuple[int, Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class ProgressBar(Protocol):
    """Anything with tqdm's ``update(n)``, e.g. a :class:`tqdm.tqdm` instance."""

    def update(self, n: int, /) -> object: ...


def _numbered_call(G: GlobalNamespace, num: int, call: Any) -> tuple[Any, int]:
    """Run ``num`` of run_collect: ``call`` is ``(func, args, kwargs)``, pickled once in workers."""
    func, args, kwargs = cloudpickle.loads(call) if isinstance(call, bytes) else call
    out = func(G, num, *args, **kwargs)
    # Checked where func ran, so a bad return value is reported with its traceback.
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(f"run_collect's func must return (result, n_samples), got {out!r}")
    return out[0], check_count("n_samples", out[1], 0)


def _stopped_during(name: str) -> WorkerError:
    """The error of a call that ``stop()``, from another thread, ended."""
    return WorkerError(f"the SamplerPool was stopped while {name} ran")


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
        self._num_threads = check_count("num_threads", num_threads, 1)
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
        self._workers: list[PoolWorker | None] = []
        self._finalizer = weakref.finalize(self, shutdown_all, self._workers)
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
        shutdown_all(self._workers)
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
        self.invoke_all(seed_namespace, check_count("seed", seed, 0))

    def invoke_all(self, func: Callable[..., R], *args: Any, **kwargs: Any) -> list[R]:
        """Call ``func(G, *args, **kwargs)`` once on every worker.

        Returns:
            The return values, in worker order.
        """
        check_func(func)
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
        check_func(func)
        arglist = argument_list(arglist)
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
        check_func(func)
        check_bar("progressbar", progressbar)
        args = argument_list(arglist)
        set_bar_total(progressbar, len(args))
        pending = enumerate(args)
        results: dict[int, Any] = {}

        def next_task(_worker: int) -> _Task | None:
            i, arg = next(pending, (-1, None))
            return None if i < 0 else (i, func, (arg,), {})

        def on_result(i: int, value: Any) -> None:
            results[i] = value
            if progressbar is not None:
                progressbar.update(1)

        self._drive(next_task, on_result, func_name(func))
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
        n = check_count("n", n, 0)
        check_func(func)
        check_bar("collect_progressbar", collect_progressbar)
        need_runs = check_count("min_runs", min_runs, 0, optional=True)
        set_bar_total(collect_progressbar, n)
        results: list[Any] = []
        total = 0
        finished: dict[int, tuple[Any, int]] = {}
        next_num = 1
        call: Any = (func, args, kwargs)
        if self._local is None:  # pickle func and its arguments once, not once per run
            call = pickled_call(func, args, kwargs)

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
        self._drive(next_task, on_result, func_name(func), ignore_errors=enough)
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

        self._drive(next_task, on_result, func_name(func))
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
        worker = PoolWorker(self._ctx, i)
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
                        f"{exception_message(exc)}",
                        worker_index=0,
                        remote_traceback=traceback.format_exc(),
                    ) from exc
                on_result(tag, value)
            if self._stopped:
                raise _stopped_during(name)
            return
        self._start_missing(name)
        workers: list[PoolWorker] = [w for w in self._workers if w is not None]
        idle = list(range(len(workers)))
        busy: dict[int, int] = {}  # worker index -> tag of its task
        errors: dict[int, Exception] = {}
        dead: dict[int, int] = {}  # worker index -> tag of the task it died in

        def died(i: int, tag: int) -> None:
            workers[i].process.join(JOIN_TIMEOUT_S)
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
                        msg = pickled_call(func, args, kwargs)
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
            shutdown_all(self._workers, graceful=False)
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
