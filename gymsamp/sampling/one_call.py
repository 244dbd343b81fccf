"""One call at a time: a guard for objects whose calls must not overlap.

A :class:`~gymsamp.sampling.SamplerPool` sends a call's tasks to its workers and reads their
replies; two calls at once would read each other's. The SBI simulators count their calls
for the seeds. Such objects hold a :class:`OneCallAtATime` and refuse a second call while
one runs, whether it comes from another thread or from inside the running call (a function
or policy calling its own caller), instead of blocking (a nested call would deadlock) or
garbling both.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["OneCallAtATime"]


class OneCallAtATime:
    """Lets one call at a time hold an object; a call while another runs raises a RuntimeError.

    Args:
        owner: How the messages name the object (``"this SamplerPool"``).
        kind: What it is, for "a <kind> runs one call at a time".
        callers: What could call it from inside its own running call (``"its function"``).

    Example:
        >>> guard = OneCallAtATime("a pool", kind="pool", callers="a task")
        >>> with guard.hold():
        ...     try:
        ...         with guard.hold():
        ...             pass
        ...     except RuntimeError as err:
        ...         print(err)
        a pool was called inside its running call (from a task): a pool runs one call at a time
        >>> with guard.hold():  # the refused call left it free
        ...     pass
    """

    __slots__ = ("_callers", "_kind", "_lock", "_owner", "_thread")

    def __init__(self, owner: str, *, kind: str, callers: str) -> None:
        self._owner = owner
        self._kind = kind
        self._callers = callers
        self._lock = threading.Lock()
        self._thread: int | None = None  # the running call's

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the object for one call.

        Raises:
            RuntimeError: If another call holds it, in this thread (a nested call) or another.
        """
        if not self._lock.acquire(blocking=False):
            if self._thread == threading.get_ident():
                raise RuntimeError(
                    f"{self._owner} was called inside its running call (from {self._callers}): "
                    f"a {self._kind} runs one call at a time"
                )
            raise RuntimeError(
                f"{self._owner} was called while a call of it runs in another thread: a "
                f"{self._kind} runs one call at a time (give each thread its own {self._kind})"
            )
        self._thread = threading.get_ident()
        try:
            yield
        finally:
            self._thread = None
            self._lock.release()
