"""The samplers' progress bars: tqdm bars without tqdm's monitor thread, built without fixing
the global multiprocessing start method (:func:`progress_bar`)."""

from __future__ import annotations

import functools
from typing import Any

from gymsamp.sampling.start_method import global_start_method_kept

__all__ = ["progress_bar"]


def progress_bar(*, total: int | None, unit: str, desc: str) -> Any:
    """A ``tqdm.auto.tqdm`` bar (:func:`_bar_class`) of ``total`` ``unit`` named ``desc``."""
    # tqdm makes its multiprocessing lock in the default context, which fixes the
    # global start method: the caller's set_start_method() would then raise.
    with global_start_method_kept():
        return _bar_class()(
            total=total,
            unit=unit,
            leave=False,
            desc=desc,
            miniters=1,  # redraw by time alone: there is no monitor to lower miniters
        )


@functools.cache
def _bar_class() -> type[Any]:
    """``tqdm.auto.tqdm`` without tqdm's monitor thread, for the samplers' progress bars.

    The first tqdm bar of a process starts a monitor thread that lives as long as the process.
    Worker processes forked after it (fork is the default start method on Linux before Python
    3.14) are what Python 3.12+ warns about: "This process ... is multi-threaded, use of fork()
    may lead to deadlocks in the child". A subclass attribute turns the monitor off for gymsamp's
    bars only; the user's own tqdm bars keep theirs.
    """
    from tqdm.auto import tqdm

    return type("SamplingProgressBar", (tqdm,), {"monitor_interval": 0})
