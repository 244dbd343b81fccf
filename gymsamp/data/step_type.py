"""Step types: garage's FIRST / MID / TERMINAL / TIMEOUT, derived from Gymnasium's flags.

Gymnasium reports two flags per step, ``terminated`` (the MDP reached a terminal state) and
``truncated`` (the episode was cut, e.g. by a time limit). gymsamp maps them to garage's step types
following one rule (DESIGN §3): ``TERMINAL`` if terminated (termination wins when both flags are
set), else ``TIMEOUT`` if truncated, else ``FIRST`` on the first step of an episode, else ``MID``.
A one-step episode therefore has no ``FIRST``.
"""

from __future__ import annotations

import enum
import reprlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gymsamp._checks import check_bool, check_int, is_int

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
                called yet) or ``max_episode_length`` is < 1.
            TypeError: If ``step_cnt`` or ``max_episode_length`` is not an int, or ``done`` is
                not a bool.
        """
        if step_cnt is not None and not is_int(step_cnt):
            raise TypeError(f"step_cnt must be an int >= 1, got {step_cnt!r}")
        if step_cnt is None or step_cnt < 1:
            raise ValueError(
                f"step_cnt must be >= 1, got {step_cnt!r}. Did you forget to call `reset()`?"
            )
        if max_episode_length is not None:
            max_episode_length = check_int("max_episode_length", max_episode_length)
        if check_bool("done", done):
            return cls.TERMINAL
        if max_episode_length is not None and step_cnt >= max_episode_length:
            return cls.TIMEOUT
        if step_cnt == 1:
            return cls.FIRST
        return cls.MID


def check_rollout_bounds(rollout_bounds: npt.ArrayLike, length: int) -> npt.NDArray[np.intp]:
    """``rollout_bounds`` as an ``intp`` array, checked to run strictly increasing from 0 to
    ``length`` (the start of every rollout followed by the number of steps).

    Raises:
        TypeError: If the bounds are not integers.
        ValueError: If they are not strictly increasing from 0 to ``length``.
    """
    try:
        bounds = np.asarray(rollout_bounds)
    except (ValueError, TypeError):  # ragged nesting: numpy cannot make one array of it
        bounds = np.asarray(None)
    if bounds.size and bounds.dtype.kind not in "iu":
        raise TypeError(f"rollout_bounds must be integers, got {_shown(rollout_bounds, bounds)}")
    if (
        bounds.ndim != 1
        or len(bounds) < 2
        or bounds[0] != 0
        or bounds[-1] != length
        or np.any(np.diff(bounds) <= 0)
    ):
        raise ValueError(
            "rollout_bounds must be strictly increasing from 0 to the length "
            f"{length}, got {_shown(rollout_bounds, bounds)}"
        )
    return bounds.astype(np.intp, copy=False)


def _shown(value: Any, array: np.ndarray) -> Any:
    """``value`` for an error message: the array's list where it has one, else ``value``."""
    return array.tolist() if array.dtype.kind in "biuf" else repr(value)


def as_flags(name: str, value: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """``value`` as a bool array: bools, or numbers that are all 0 or 1 (e.g. ``[0, 1]``).

    Anything else (0.5, NaN, 2, strings) is refused instead of cast: ``bool(0.5)`` is True.

    Raises:
        ValueError: If a value is not a bool, 0 or 1 (the message names the first one).

    Example:
        >>> as_flags("terminated", [0, 1.0, True]).tolist()
        [False, True, True]
    """
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged nesting
        raise ValueError(
            f"{name} must be a 1-D array of bools, got {reprlib.repr(value)}"
        ) from None
    if array.dtype == np.bool_:
        return array
    if array.dtype.kind in "iuf":
        bad = np.flatnonzero((array != 0) & (array != 1))  # NaN is unequal to both
        if not bad.size:
            return array.astype(bool)
        first = int(bad[0])
        raise ValueError(
            f"{name} must hold only bools (or 0/1), got {array.ravel()[first].item()!r} "
            f"at index {first}"
        )
    shown = reprlib.repr(value)  # shortened: flags are one per step
    raise ValueError(f"{name} must hold only bools (or 0/1), got {shown} (dtype {array.dtype})")


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
        ValueError: If the flags' shapes differ, a flag is neither a bool nor 0/1, or
            ``rollout_bounds`` does not run strictly increasing from 0 to ``T``.

    Example:
        >>> step_types_from_flags([False, False, True], [False, False, True])
        array([0, 1, 2], dtype=int8)
        >>> step_types_from_flags([False, False, False, False], [False, True, False, True],
        ...                       rollout_bounds=[0, 2, 4])
        array([0, 3, 0, 3], dtype=int8)
    """
    term = as_flags("terminated", terminated)
    trunc = as_flags("truncated", truncated)
    if term.ndim != 1 or term.shape != trunc.shape:
        raise ValueError(
            "terminated and truncated must be 1-D arrays of equal length, got shapes "
            f"{term.shape} and {trunc.shape}"
        )
    if rollout_bounds is not None:
        first: np.ndarray | slice = check_rollout_bounds(rollout_bounds, term.size)[:-1]
    else:
        first = slice(0, 1)  # empty for no steps
    return step_types_of(term, trunc, first)


def step_types_of(
    terminated: npt.NDArray[np.bool_],
    truncated: npt.NDArray[np.bool_],
    first: np.ndarray | slice,
) -> npt.NDArray[np.int8]:
    """The step types of steps given by their checked flags and which of them start a rollout.

    The one place of DESIGN §3's rule, for :func:`step_types_from_flags` and for the steps that
    a :class:`~gymsamp.data.StepSequence` hands out one at a time or gathers, which compute only
    the types of their own steps.

    Args:
        terminated: Bool flags of the steps, shape ``(n,)``.
        truncated: Bool flags of the steps, shape ``(n,)``.
        first: Which steps start a rollout: a bool mask of shape ``(n,)``, an index array
            into the ``n`` steps, or a slice of them.

    Returns:
        An ``int8`` array of :class:`StepType` values, shape ``(n,)``.

    Example:
        >>> step_types_of(np.array([False, True]), np.array([True, True]), np.array([True, True]))
        array([3, 2], dtype=int8)
    """
    types = np.full(terminated.shape, StepType.MID, dtype=STEP_TYPE_DTYPE)
    types[first] = StepType.FIRST
    # Later assignments win: truncation over FIRST, termination over truncation.
    types[truncated] = StepType.TIMEOUT
    types[terminated] = StepType.TERMINAL
    return types
