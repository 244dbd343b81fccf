"""Step types: garage's FIRST / MID / TERMINAL / TIMEOUT, derived from Gymnasium's flags.

Gymnasium reports two flags per step, ``terminated`` (the MDP reached a terminal state) and
``truncated`` (the episode was cut, e.g. by a time limit). gymsamp maps them to garage's step types
following one rule (DESIGN §3): ``TERMINAL`` if terminated (termination wins when both flags are
set), else ``TIMEOUT`` if truncated, else ``FIRST`` on the first step of an episode, else ``MID``.
A one-step episode therefore has no ``FIRST``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

#: Storage dtype of step types in arrays (garage used object arrays of enums).
STEP_TYPE_DTYPE = np.int8


class StepType(enum.IntEnum):
    """Defines the status of a time step within an episode.

    The last step of an episode is either ``TERMINAL`` or ``TIMEOUT``.

    Example:
        >>> StepType.get_step_type(step_cnt=1, max_episode_length=5, done=False)
        <StepType.FIRST: 0>
        >>> StepType.get_step_type(step_cnt=5, max_episode_length=5, done=False)
        <StepType.TIMEOUT: 3>
    """

    FIRST = 0
    MID = 1
    TERMINAL = 2
    TIMEOUT = 3

    @classmethod
    def get_step_type(cls, step_cnt: int, max_episode_length: int | None, done: bool) -> StepType:
        """Determine the step type from a step count and a done signal.

        ``done`` wins over the time limit, as in the seed's documented example (with
        ``max_episode_length = 5`` an episode that terminates at step 5 ends in ``TERMINAL``)
        and in :func:`step_types_from_flags` (DESIGN §3); garage's code checked the limit
        first, contradicting its own documentation.

        Args:
            step_cnt: Current step count of the environment, starting at 1 after the first step.
            max_episode_length: Maximum episode length, or None for no limit.
            done: The done signal returned by the environment.

        Returns:
            The step type.

        Raises:
            ValueError: If ``step_cnt`` is < 1 (the environment's ``reset()`` was likely not
                called yet).
        """
        if step_cnt is None or step_cnt < 1:
            raise ValueError(
                f"step_cnt must be >= 1, got {step_cnt!r}. Did you forget to call `reset()`?"
            )
        if done:
            return cls.TERMINAL
        if max_episode_length is not None and step_cnt >= max_episode_length:
            return cls.TIMEOUT
        if step_cnt == 1:
            return cls.FIRST
        return cls.MID


def check_rollout_bounds(
    rollout_bounds: Sequence[int] | npt.NDArray[np.integer[Any]], length: int
) -> npt.NDArray[np.intp]:
    """``rollout_bounds`` as an ``intp`` array, checked to run strictly increasing from 0 to
    ``length`` (the start of every rollout followed by the number of steps).

    Raises:
        TypeError: If the bounds are not integers.
        ValueError: If they are not strictly increasing from 0 to ``length``.
    """
    bounds = np.asarray(rollout_bounds)
    if bounds.dtype.kind not in "iu":
        raise TypeError(f"rollout_bounds must be integers, got {bounds.tolist()}")
    if (
        bounds.ndim != 1
        or len(bounds) < 2
        or bounds[0] != 0
        or bounds[-1] != length
        or np.any(np.diff(bounds) <= 0)
    ):
        raise ValueError(
            "rollout_bounds must be strictly increasing from 0 to the length "
            f"{length}, got {bounds.tolist()}"
        )
    return bounds.astype(np.intp, copy=False)


def step_types_from_flags(
    terminated: npt.ArrayLike,
    truncated: npt.ArrayLike,
    rollout_bounds: Sequence[int] | npt.NDArray[np.integer[Any]] | None = None,
) -> npt.NDArray[np.int8]:
    """Vectorized step types from Gymnasium's ``terminated`` / ``truncated`` flags.

    Args:
        terminated: Boolean flags of shape ``(T,)``.
        truncated: Boolean flags of shape ``(T,)``.
        rollout_bounds: Start index of every episode followed by ``T`` (e.g. ``[0, 4, 9]`` for
            two episodes of 4 and 5 steps). None means one episode starting at index 0.

    Returns:
        An ``int8`` array of :class:`StepType` values, shape ``(T,)``.

    Raises:
        ValueError: If the flags' shapes differ or ``rollout_bounds`` does not run strictly
            increasing from 0 to ``T``.

    Example:
        >>> step_types_from_flags([False, False, True], [False, False, True])
        array([0, 1, 2], dtype=int8)
        >>> step_types_from_flags([False, False, False, False], [False, True, False, True],
        ...                       rollout_bounds=[0, 2, 4])
        array([0, 3, 0, 3], dtype=int8)
    """
    term = np.asarray(terminated, dtype=bool)
    trunc = np.asarray(truncated, dtype=bool)
    if term.ndim != 1 or term.shape != trunc.shape:
        raise ValueError(
            "terminated and truncated must be 1-D arrays of equal length, got shapes "
            f"{term.shape} and {trunc.shape}"
        )
    types = np.full(term.shape, StepType.MID, dtype=STEP_TYPE_DTYPE)
    if rollout_bounds is not None:
        types[check_rollout_bounds(rollout_bounds, term.size)[:-1]] = StepType.FIRST
    elif term.size:
        types[0] = StepType.FIRST
    # Later assignments win: truncation over FIRST, termination over truncation.
    types[trunc] = StepType.TIMEOUT
    types[term] = StepType.TERMINAL
    return types
