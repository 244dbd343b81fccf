"""Worker processes that end with their parent, even while a sub-env or a task hangs.

A worker blocked in a step never reads the EOF that its parent's death leaves on its pipe, so
without help it outlives a parent that was killed (``SIGKILL``, the OOM killer, a crashed
interpreter). On Linux the kernel can signal a child when its parent ends
(``PR_SET_PDEATHSIG``); the batched, async and :class:`~gymsamp.sampling.SamplerPool` workers
all ask for it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def death_signal_parent(start_method: str) -> int | None:
    """The pid that workers started now with ``start_method`` should die with, or None where
    the death signal would misfire.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that started the worker ends, not the process,
    so only workers started from the main thread ask for it; under ``forkserver`` the worker's
    parent is the server, which outlives the caller.

    Example:
        >>> import os
        >>> death_signal_parent("spawn") == os.getpid(), death_signal_parent("forkserver")
        (True, None)
    """
    if start_method == "forkserver" or threading.current_thread() is not threading.main_thread():
        return None
    return os.getpid()


def die_with_parent(parent: int | None) -> None:
    """In a worker: be killed (``SIGKILL``) when process ``parent`` ends (Linux; elsewhere, and
    with ``parent=None``, nothing happens). A worker whose parent already ended exits at once."""
    if parent is None:
        return
    try:
        ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux (or no glibc): the pipe's EOF must do
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
