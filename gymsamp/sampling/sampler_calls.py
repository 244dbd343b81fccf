"""Who holds a :class:`~gymsamp.sampling.ParallelRolloutSampler`: one call at a time, and a
``close()`` from any thread that ends the running call (:class:`SamplerCalls`).

Two threads stepping the same sub-envs would garble both calls, so a second call is refused
(:mod:`gymsamp.sampling.one_call` does the same for objects without a close protocol). A
``close()`` from another thread marks the running call closed, lets the sampler end the
workers that call waits on, and waits for it to end; one from inside the call (a policy, a
callback) is completed once the call has ended.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

__all__ = ["CallClosedError", "HeldCall", "SamplerCalls"]


class HeldCall:
    """A call that holds the sampler (``sample()``, ``reinit()``, ``close()``): its name, its
    thread, and whether a ``close()`` from another thread asked it to end."""

    __slots__ = ("close_after", "closed", "done", "name", "thread")

    def __init__(self, name: str) -> None:
        self.name = name
        self.thread = threading.get_ident()
        self.closed = False
        self.close_after = False  # close() came from inside the call: finish it once it ends
        self.done = threading.Event()


class CallClosedError(Exception):
    """Raised in the sampling thread at its next step once ``close()`` asked it to end."""


class SamplerCalls:
    """The call that holds a sampler (``_call``, guarded by ``_lock``); a close() from another
    thread ends it.

    The sampler passes what its close does (``release``: end the sub-envs, shut a Ray it
    started down) and how a running call's workers are ended to each :meth:`hold` and
    :meth:`close`, so that this object holds no reference to it (its finalizer still runs as
    soon as it is forgotten).
    """

    __slots__ = ("_call", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._call: HeldCall | None = None

    def close(self, end_workers: Callable[[HeldCall], None], release: Callable[[], None]) -> None:
        """The protocol of the sampler's ``close()``: end the running call (``end_workers``
        ends the worker processes it waits on), then ``release`` while holding the sampler."""
        while True:
            with self._lock:
                running = self._call
                if running is None:
                    self._call = closing = HeldCall("close")
                    break
            running.closed = True  # it ends at its next step, or at once where that fails
            if running.thread == threading.get_ident():
                # close() inside the call (a policy, a callback): the call ends its workers as
                # it unwinds, and closes the rest (a Ray it started) once it has ended.
                running.close_after = True
                return
            end_workers(running)
            running.done.wait()  # it closes its sub-envs as it unwinds (they are its own)
        self._close_holding(closing, release)

    def _close_holding(self, closing: HeldCall, release: Callable[[], None]) -> None:
        """The close itself, by the call ``closing`` that holds the sampler."""
        try:
            release()
        finally:
            self._end_call(closing)

    @contextlib.contextmanager
    def hold(self, name: str, release: Callable[[], None]) -> Iterator[HeldCall]:
        """Hold the sampler for call ``name``; a call while another runs is refused."""
        with self._lock:
            running = self._call
            if running is not None and running.thread == threading.get_ident():
                raise RuntimeError(
                    f"ParallelRolloutSampler.{name}() was called inside its running "
                    f"{running.name}() (from the policy or a callback): a sampler runs one call "
                    "at a time"
                )
            if running is not None:
                raise RuntimeError(
                    f"ParallelRolloutSampler.{name}() was called while {running.name}() runs "
                    "in another thread: a sampler runs one call at a time (give each thread "
                    "its own sampler)"
                )
            self._call = call = HeldCall(name)
        try:
            yield call
        finally:
            if call.close_after:
                # The close asked for inside the call holds the sampler next: no gap in which
                # another thread's call could start (and be taken for one to end).
                closing = HeldCall("close")
                self._end_call(call, successor=closing)
                self._close_holding(closing, release)
            else:
                self._end_call(call)

    def _end_call(self, call: HeldCall, successor: HeldCall | None = None) -> None:
        """End ``call``; the sampler is then free, or held by ``successor``."""
        with self._lock:
            self._call = successor
        call.done.set()
