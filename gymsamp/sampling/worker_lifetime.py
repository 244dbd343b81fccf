"""Worker processes that end with their parent, even while a sub-env or a task hangs, and
when they are terminated.

A worker blocked in a step never reads the EOF that its parent's death leaves on its pipe, so
without help it outlives a parent that was killed (``SIGKILL``, the OOM killer, a crashed
interpreter). On Linux the kernel can signal a child when its parent ends
(``PR_SET_PDEATHSIG``); where that would misfire (a worker started from a thread other than
the main one, or by a ``forkserver``) or is missing (not Linux), a thread in the worker checks
twice a second whether the parent still lives. The batched, async and
:class:`~gymsamp.sampling.SamplerPool` workers all use it.

Ctrl-C is held back while the batched and async workers start (:func:`sigint_held`): one
that lands between the fork and multiprocessing's record of the child leaves a worker that
no ``close()`` can end.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, NamedTuple, TypeVar

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
#: Seconds between a watching thread's checks of the parent.
WATCH_PERIOD_S = 0.5


class ParentWatch(NamedTuple):
    """What a worker needs to end with its parent: the parent's pid, and whether the kernel's
    parent-death signal tracks it (see :func:`parent_watch`)."""

    pid: int
    kernel_signal: bool


def parent_watch(start_method: str) -> ParentWatch:
    """How workers started now with ``start_method`` should watch this process.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that started the worker ends, not the process,
    so only workers started from the main thread use it; under ``forkserver`` the worker's
    parent is the server, which may outlive this process.

    Example:
        >>> import os
        >>> parent_watch("spawn") == (os.getpid(), True), parent_watch("forkserver").kernel_signal
        (True, False)
    """
    main_thread = threading.current_thread() is threading.main_thread()
    return ParentWatch(os.getpid(), main_thread and start_method != "forkserver")


def default_sigterm() -> None:
    """In a worker: let ``SIGTERM`` end it, as a fresh process's does.

    A forked (or spawned: an ignored signal stays ignored across exec) worker inherits the
    parent's disposition: an application's graceful-shutdown handler or ``SIG_IGN`` would keep
    it alive when gymsamp terminates it, and Ray's driver handler prints a stack dump in every
    worker that ends so.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _HeldSigint:
    """The ``SIGINT`` handler while workers start: it keeps the signal for ``previous`` (the
    handler it replaced), which gets it once the workers have started."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous
        self.caught: tuple[int, FrameType | None] | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.caught = (signum, frame)


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Hold Ctrl-C (``SIGINT``) back while worker processes start; it reaches the handler it
    was meant for (``KeyboardInterrupt`` by default) once the block ends.

    A ``KeyboardInterrupt`` raised in ``Process.start()`` just after the fork (a fork takes
    long enough in a large process for a Ctrl-C to land in it) leaves a child that the
    ``Process`` never recorded: no ``close()`` can end it, it runs until its pipe closes and
    then stays a zombie until this process exits. Held, the interrupt comes once the worker
    is recorded, so the caller's cleanup ends it. Only the main thread gets
    ``KeyboardInterrupt``, so elsewhere, or where the handler is ``SIG_IGN`` / ``SIG_DFL``,
    nothing is held. A forked worker inherits the holding handler: it sets its own
    (:func:`sigint_released`, or ``SIG_IGN``).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield
        return
    held = _HeldSigint(previous)
    signal.signal(signal.SIGINT, held)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held.caught is not None:
            previous(*held.caught)  # raises KeyboardInterrupt with the default handler


def reap(process: BaseProcess, timeout: float | None = None) -> None:
    """``process.join(timeout)``, but a Ctrl-C cannot land between the kernel's reaping of the
    ended process and multiprocessing's record of it.

    ``join`` reaps with a blocking ``waitpid`` once the process's sentinel is ready, and a
    process that has closed its end of the sentinel may take a few milliseconds more to
    become reapable (its memory is torn down first): a ``KeyboardInterrupt`` raised as that
    ``waitpid`` returns leaves a reaped process that multiprocessing thinks alive for ever (it
    cannot be closed, its pipes stay open and ``active_children()`` lists it). The wait for the
    sentinel stays interruptible; only the reaping holds Ctrl-C back.
    """
    if wait([process.sentinel], timeout):
        with sigint_held():
            process.join()


def sigint_released() -> None:
    """In a worker forked inside :func:`sigint_held`: the handler the parent held Ctrl-C back
    from (a Ctrl-C held in the parent before the fork is the parent's, not the worker's)."""
    handler = signal.getsignal(signal.SIGINT)
    if isinstance(handler, _HeldSigint):
        signal.signal(signal.SIGINT, handler.previous)


def die_with_parent(watch: ParentWatch | None) -> None:
    """In a worker: end (``SIGKILL``, or ``os._exit(1)`` from a watching thread) when the
    process in ``watch`` ends; a worker whose parent already ended exits at once. None: do
    nothing."""
    if watch is None:
        return
    if watch.kernel_signal and _kernel_death_signal():
        if os.getppid() != watch.pid:  # the parent died before prctl took effect
            os._exit(1)
        return
    threading.Thread(
        target=_exit_when_gone, args=(watch.pid,), name="gymsamp-parent-watch", daemon=True
    ).start()


def _kernel_death_signal() -> bool:
    """Ask the kernel for SIGKILL when the parent (thread) ends; whether it took."""
    try:
        return ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) == 0
    except (OSError, AttributeError):  # not Linux, or no glibc
        return False


def _exit_when_gone(pid: int) -> None:
    while is_alive(pid):
        time.sleep(WATCH_PERIOD_S)
    os._exit(1)


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a process that ended but is not yet reaped does not).

    Example:
        >>> is_alive(os.getpid())
        True
    """
    if os.getppid() == pid:  # still this process's parent: it lives
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    try:  # a zombie has ended, though its pid lingers until its parent reaps it
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc: kill(0) must do
        return True


_Process = TypeVar("_Process", bound=BaseProcess)


def release(processes: Iterable[_Process]) -> list[_Process]:
    """Close the handles of ended worker ``processes`` now (each holds two pipe fds in this
    process) instead of whenever garbage collection finds them; a running one is left as is.

    An error raised by a vector env keeps the env alive through its traceback's frames, so a
    run that kept its errors (to report them at the end) kept every ended env's fds open, 4-6
    per error, until ``open`` failed with EMFILE.

    Returns:
        The processes still running, for the caller to keep: a close interrupted before it
        ended them (Ctrl-C while a worker that ignores ``SIGTERM`` is waited for) must leave
        them to the next close, which kills them.
    """
    running: list[_Process] = []
    for process in processes:
        try:
            process.close()
        except ValueError:  # still running: closing it fails
            running.append(process)
    return running
