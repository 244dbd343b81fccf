"""Figures for the plots: a new constrained-layout figure, the env id of some rollouts, counts.

Shared by the plot modules of :mod:`gymsamp.plot`; matplotlib is imported only when a figure
is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from gymsamp.data import StepSequence

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["count_of", "env_id_of", "new_figure"]


def new_figure(width: float, height: float) -> Figure:
    """A blank figure of ``width`` x ``height`` inches with constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def count_of(count: int, noun: str) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1.

    Example:
        >>> count_of(1, "rollout"), count_of(3, "step")
        ('1 rollout', '3 steps')
    """
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def env_id_of(rollouts: Sequence[StepSequence]) -> str | None:
    """The env id in the first rollout's ``rollout_info``, if any."""
    info = rollouts[0].rollout_info if rollouts else None
    env_id = info.get("env_id") if isinstance(info, Mapping) else None
    return env_id if isinstance(env_id, str) else None
