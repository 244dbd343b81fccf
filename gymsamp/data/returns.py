"""Discounted returns and generalized advantage estimation, vectorized and rollout-aware.

Every function here respects rollout boundaries: on a concatenation of rollouts nothing is
summed across the end of one rollout into the next. GAE bootstraps with ``V(s_T)`` when a
rollout ends in ``TIMEOUT`` (or is cut short) and with 0 when it ends in ``TERMINAL``
(DESIGN §8). Each function is checked in the tests against a plain Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gymsamp.data.data_format import is_tensor, to_format

if TYPE_CHECKING:
    from gymsamp.data.step_sequence import StepSequence

__all__ = [
    "check_gamma",
    "discounted_reverse_cumsum",
    "discounted_value",
    "discounted_values",
    "gae_returns",
]


def check_gamma(gamma: float, name: str = "gamma") -> float:
    """Validate a discount factor: a real number in [0, 1]."""
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number in [0, 1], got {gamma!r}")
    if not 0.0 <= float(gamma) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {gamma!r}")
    return float(gamma)


# Below this mean rollout length, one filter call per rollout costs more in call overhead than
# the padded batch filter costs in padding.
_MIN_MEAN_LENGTH_FOR_LOOP = 256


def _reverse_filter(x: np.ndarray, gamma: float, axis: int = 0) -> np.ndarray:
    """``y[t] = x[t] + gamma * y[t+1]`` along ``axis``, as one IIR filter over reversed data."""
    from scipy.signal import lfilter  # imported here: scipy.signal costs ~0.7 s to import

    rev = np.flip(x, axis)
    return np.flip(lfilter([1.0], [1.0, -gamma], rev, axis=axis), axis)


def _segmented_reverse_filter(x: np.ndarray, gamma: float, bounds: np.ndarray) -> np.ndarray:
    """The reverse filter run on every rollout separately, so nothing ever crosses a bound.

    Each rollout is filtered on its own (a NaN or a huge value stays in its rollout). Long
    rollouts get one filter call each; many short ones are grouped by length (within a factor
    of two), padded into a matrix and filtered along its rows in one call per group.
    """
    lengths = np.diff(bounds)
    starts = bounds[:-1]
    out = np.empty_like(x)
    if lengths.mean() >= _MIN_MEAN_LENGTH_FOR_LOOP:
        for start, stop in zip(starts.tolist(), bounds[1:].tolist(), strict=True):
            out[start:stop] = _reverse_filter(x[start:stop], gamma)
        return out
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    first = 0
    while first < len(order):
        shortest = int(sorted_lengths[first])
        stop = int(np.searchsorted(sorted_lengths, max(2 * shortest, shortest + 64), "right"))
        group = order[first:stop]
        width = int(sorted_lengths[stop - 1])
        group_lengths = lengths[group]
        # Row i holds rollout group[i] reversed, zero-padded at its (reversed) end, so the
        # causal filter never sees the padding before the real data.
        rows = np.repeat(np.arange(len(group)) * width, group_lengths)
        cols = np.arange(int(group_lengths.sum())) - np.repeat(
            np.cumsum(group_lengths) - group_lengths, group_lengths
        )
        source = np.repeat(starts[group] + group_lengths - 1, group_lengths) - cols
        padded = np.zeros((len(group) * width, *x.shape[1:]))
        padded[rows + cols] = x[source]
        from scipy.signal import lfilter

        filtered = lfilter(
            [1.0], [1.0, -gamma], padded.reshape((len(group), width, *x.shape[1:])), axis=1
        )
        out[source] = filtered.reshape(padded.shape)[rows + cols]
        first = stop
    return out


def discounted_reverse_cumsum(
    data: Any, gamma: float, *, rollout_bounds: npt.ArrayLike | None = None
) -> Any:
    """Reverse discounted cumulative sum ``y[t] = sum_k gamma**k * data[t+k]`` along axis 0.

    Args:
        data: Samples along axis 0 (numpy array, torch tensor or list).
        gamma: Discount factor in [0, 1].
        rollout_bounds: Start index of every rollout followed by the length; the sum restarts
            at every rollout end. None treats ``data`` as one rollout.

    Returns:
        The cumulative sums, same format (numpy or torch) and shape as ``data``.

    Example:
        >>> discounted_reverse_cumsum(np.array([1.0, 1.0, 1.0]), 0.5)
        array([1.75, 1.5 , 1.  ])
        >>> discounted_reverse_cumsum(np.array([1.0, 1.0, 1.0]), 0.5, rollout_bounds=[0, 2, 3])
        array([1.5, 1. , 1. ])
    """
    gamma = check_gamma(gamma)
    as_tensor = is_tensor(data)
    x = np.asarray(to_format(data, "numpy"))
    out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    x = x.astype(np.float64, copy=False)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"data must have at least one sample along axis 0, got shape {x.shape}")
    if rollout_bounds is None:
        result = _reverse_filter(x, gamma)
    else:
        bounds = np.asarray(rollout_bounds, dtype=np.intp)
        if (
            bounds.ndim != 1
            or bounds[0] != 0
            or bounds[-1] != len(x)
            or np.any(np.diff(bounds) <= 0)
        ):
            raise ValueError(
                f"rollout_bounds must increase strictly from 0 to {len(x)}, got {bounds.tolist()}"
            )
        result = _segmented_reverse_filter(x, gamma, bounds)
    result = np.ascontiguousarray(result, dtype=out_dtype)
    return to_format(result, "torch") if as_tensor else result


def _bounds_of(rollout: StepSequence, what: str) -> np.ndarray:
    if not rollout.continuous:
        raise ValueError(
            f"rollout must be continuous to compute {what}, got a shuffled batch (its steps "
            "belong to unrelated rollouts)"
        )
    return rollout.rollout_bounds


def discounted_value(rollout: StepSequence, gamma: float) -> Any:
    """Discounted value (reward-to-go) of every step, restarting at every rollout end.

    Example:
        >>> from gymsamp.data import StepSequence
        >>> ro = StepSequence(rewards=[-200.0, -100.0, -50.0, -25.0, -17.5],
        ...                   observations=np.zeros(6), actions=np.zeros(5))
        >>> round(float(discounted_value(ro, 0.9)[2]), 6)
        -86.675
    """
    return discounted_reverse_cumsum(
        rollout.get_data_values("rewards"),
        gamma,
        rollout_bounds=_bounds_of(rollout, "discounted values"),
    )


def discounted_values(
    rollouts: Sequence[StepSequence], gamma: float, data_format: str | None = "torch"
) -> Any:
    """Discounted values of several rollouts, concatenated in order.

    Args:
        rollouts: The rollouts (each may itself hold several).
        gamma: Discount factor in [0, 1].
        data_format: ``"torch"`` (the seed's default), ``"numpy"``, or None for the format of
            the first rollout.
    """
    if not rollouts:
        raise ValueError("rollouts must contain at least one StepSequence, got none")
    values = [np.asarray(to_format(discounted_value(ro, gamma), "numpy")) for ro in rollouts]
    fmt = data_format if data_format is not None else rollouts[0].data_format
    return to_format(np.concatenate(values), fmt)


def gae_returns(rollout: StepSequence, gamma: float = 0.99, lamb: float = 0.95) -> Any:
    """Generalized advantage estimates (Schulman et al., ICLR 2016) of every step.

    Needs a ``values`` field with the value estimate ``V(s_t)`` of each observation, ideally
    with T+1 entries (added ``with_after_last``) so that rollouts ending in ``TIMEOUT`` or cut
    short bootstrap with ``V(s_T)`` of their true final observation. Steps ending in
    ``TERMINAL`` bootstrap with 0. The advantage recursion restarts at every rollout end.

    Args:
        rollout: The rollout(s), with a ``values`` field.
        gamma: Temporal discount factor.
        lamb: GAE's lambda.

    Returns:
        The advantages, shape ``(T,)``, in the rollout's data format.

    Example:
        >>> from gymsamp.data import StepSequence
        >>> ro = StepSequence(rewards=[1.0, 1.0], observations=np.zeros(3), actions=np.zeros(2),
        ...                   values=[0.5, 0.5, 2.0], terminated=[False, False],
        ...                   truncated=[False, True])
        >>> gae_returns(ro, gamma=1.0, lamb=1.0).tolist()  # bootstraps V(s_T) = 2 at TIMEOUT
        [3.5, 2.5]
    """
    gamma = check_gamma(gamma)
    lamb = check_gamma(lamb, "lamb")
    if "values" not in rollout.data_names:
        raise ValueError(
            "rollout must have a 'values' field with V(s_t) of every observation, got fields "
            f"{list(rollout.data_names)}"
        )
    as_tensor = rollout.data_format == "torch"

    def flat(field: Any) -> np.ndarray:
        array = np.asarray(to_format(field, "numpy"), dtype=np.float64)
        if array.ndim > 1 and array.shape[1:] == (1,) * (array.ndim - 1):
            array = array.reshape(len(array))
        return array

    length = rollout.length
    values = flat(rollout.get_data_values("values", truncate_last=True))
    if values.shape != (length,):
        raise ValueError(
            f"values has shape {values.shape} but must have ({length},) to match rewards"
        )
    rewards = flat(rollout.get_data_values("rewards"))
    bounds = _bounds_of(rollout, "advantages")
    ends = bounds[1:] - 1
    # V(s_T) is needed only where a rollout does not end in TERMINAL.
    open_rollouts = np.flatnonzero(~rollout.terminated[ends])
    if "values" in rollout._after_last:
        next_values = flat(rollout.get_data_values("values"))[1:].copy()
        finals = rollout._final_entries("values")
        if finals is not None:
            next_values[ends] = flat(finals)
        else:
            for r in open_rollouts:
                next_values[ends[r]] = flat(rollout._final_entry("values", int(r)))
    else:
        if open_rollouts.size:
            raise ValueError(
                "values must have T+1 entries (add it with_after_last) to bootstrap the "
                "rollouts that do not end in TERMINAL, got T entries; open ends at steps "
                f"{ends[open_rollouts].tolist()}"
            )
        next_values = np.concatenate([values[1:], [0.0]])
    next_values = np.where(rollout.terminated, 0.0, next_values)
    deltas = rewards + gamma * next_values - values
    advantages = discounted_reverse_cumsum(deltas, gamma * lamb, rollout_bounds=bounds)
    return to_format(advantages, "torch") if as_tensor else advantages
