"""The samplers' progress bars: tqdm bars without tqdm's monitor thread, built without fixing
the global multiprocessing start method (:func:`progress_bar`), and a sampler call's bar that
counts its rollouts and steps (:class:`RolloutProgress`)."""

from __future__ import annotations

import functools
import time
from typing import Any

from gymsamp.data import StepSequence
from gymsamp.sampling.start_method import global_start_method_kept

__all__ = ["RolloutProgress", "progress_bar"]


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


class RolloutProgress:
    """A sampler call's progress: a bar of ``total`` ``unit`` (``"rollouts"`` or ``"steps"``)
    named ``desc``, its postfix counting rollouts and steps, or no bar at all (``show`` False).

    Used as a context manager (the bar's own); :attr:`on_rollout` (None without a bar) is the
    collection loop's ``on_rollout`` callback, and :meth:`restart` starts the bar over (a
    rerun).
    """

    def __init__(self, show: bool, *, total: int | None, unit: str, desc: str) -> None:
        # No bar at all without show_progress_bar: even a disabled tqdm starts its monitor
        # thread and a shared-memory lock, which would outlive the sampler (a training loop
        # that builds many quiet samplers would find a stray thread and two fds after close()).
        self.bar = None
        if show:
            self.bar = progress_bar(total=total, unit=unit, desc=desc)
        self.total = total
        self.unit = unit
        self.counts = {"rollouts": 0, "steps": 0}
        self.on_rollout = self._show if show else None

    def __enter__(self) -> RolloutProgress:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc_info)

    def _show(self, ro: StepSequence) -> None:
        bar = self.bar
        assert bar is not None  # only shown with a bar
        self.counts["rollouts"] += 1
        self.counts["steps"] += ro.length
        # Formatting the postfix costs more than a cheap env's episode: only before an
        # update that redraws (tqdm's own rule, on its clock), so the redraw shows the
        # counts of the bar it draws.
        if time.time() - bar.last_print_t >= bar.mininterval:
            bar.set_postfix(self.counts, refresh=False)
        bar.update(ro.length if self.unit == "steps" else 1)

    def restart(self) -> None:
        """Start the counts and the bar over (for a rerun)."""
        self.counts.update(rollouts=0, steps=0)
        if self.bar is not None:
            self.bar.reset(total=self.total)
