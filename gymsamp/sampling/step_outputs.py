"""What a sub-env's step must hand the vector env: an observation that fits the observation
space and a reward that is one real number.

The vector envs write observations straight into a batch and gather rewards in one array; a
value that does not fit fails there, inside gymsamp's code, with numpy's message. These helpers
name what the env returned instead, so every vectorization reports it alike (as the failing
sub-env's :class:`~gymsamp.sampling.errors.WorkerError`). They run only once something failed,
except :func:`real_reward` in the async workers, whose rewards are otherwise gathered in the
parent, where the sub-env is no longer known.
"""

from __future__ import annotations

import reprlib
from typing import Any

import numpy as np

__all__ = ["check_step_info", "one_flag", "real_reward", "unfit_observation"]


def unfit_observation(obs: Any, space: Any, err: BaseException | None = None) -> ValueError:
    """The error for an observation that could not be written into the batch of ``space``.

    Example:
        >>> from gymnasium.spaces import Box
        >>> print(unfit_observation(None, Box(0, 1, (2,))))
        the observation must fit the observation space Box(0.0, 1.0, (2,), float32), got None
    """
    because = f" ({err})" if err is not None else ""
    return ValueError(
        f"the observation must fit the observation space {space}, got {reprlib.repr(obs)}{because}"
    )


def _is_real_scalar(value: Any) -> bool:
    try:
        return np.asarray(value, dtype=np.float64).size == 1 and not isinstance(value, str)
    except (TypeError, ValueError):
        return False


def real_reward(reward: Any) -> Any:
    """``reward`` if it is one real number; a size-1 array as its one element (as a batch of
    rewards takes it in every vectorization mode); else raise.

    Example:
        >>> real_reward(1.5), real_reward(np.float32(2.0)), real_reward(np.array([0.5]))
        (1.5, np.float32(2.0), np.float64(0.5))
        >>> real_reward("x")
        Traceback (most recent call last):
        ...
        ValueError: the reward must be a real number, got 'x'
    """
    if isinstance(reward, (float, int, np.number)):
        return reward
    if _is_real_scalar(reward):
        return np.asarray(reward).reshape(())[()]
    raise ValueError(f"the reward must be a real number, got {reprlib.repr(reward)}")


def check_step_info(info: Any) -> None:
    """Refuse a step info holding Gymnasium's keys for an in-step reset (``final_obs``,
    ``final_info``): the vector env would take the step for one that reset the env.

    Example:
        >>> check_step_info({"x": 1})
        >>> check_step_info({"final_obs": 0})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the env's step info must not hold the keys 'final_obs' and 'final_info' ...
    """
    # Two lookups, not a loop over a tuple of keys: this runs for every step's info.
    if info and ("final_obs" in info or "final_info" in info):
        raise ValueError(
            "the env's step info must not hold the keys 'final_obs' and 'final_info' "
            "(Gymnasium's vector envs report an episode's final observation and info under "
            f"them), got the keys {sorted(map(str, info))}"
        )


def one_flag(flag: Any, name: str = "terminated") -> Any:
    """A ``terminated`` / ``truncated`` flag (``name``) as one value: a size-1 array as its one
    element (as a batch of flags takes it in every vectorization mode); else raise.

    Example:
        >>> one_flag(True), one_flag(np.array([False]))
        (True, np.False_)
        >>> one_flag([True, False], "truncated")
        Traceback (most recent call last):
        ...
        ValueError: the truncated flag must be one bool, got [True, False]
    """
    if isinstance(flag, (bool, np.bool_)):
        return flag
    try:
        array = np.asarray(flag)
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.size == 1 and array.dtype.kind in "biuf":
        return array.reshape(())[()]
    raise ValueError(f"the {name} flag must be one bool, got {reprlib.repr(flag)}")
