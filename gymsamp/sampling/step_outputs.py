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

__all__ = ["real_reward", "unfit_observation"]


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
    """``reward`` as it is if it is one real number (a size-1 array counts), else raise.

    Example:
        >>> real_reward(1.5), real_reward(np.float32(2.0))
        (1.5, np.float32(2.0))
        >>> real_reward("x")
        Traceback (most recent call last):
        ...
        ValueError: the reward must be a real number, got 'x'
    """
    if isinstance(reward, (float, int, np.number)) or _is_real_scalar(reward):
        return reward
    raise ValueError(f"the reward must be a real number, got {reprlib.repr(reward)}")
