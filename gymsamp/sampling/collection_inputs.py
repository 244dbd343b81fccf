"""What the collection loop takes from its caller, read and checked before it runs: how the
vector env resets its sub-envs (:func:`autoreset_mode_of`), and each job that ``make_job``
returns (:func:`check_job`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from gymsamp._checks import is_int
from gymsamp.sampling.rollout_job import RolloutJob

__all__ = ["autoreset_mode_of", "check_job"]


# Reset seeds are 32-bit (what derive_seed makes and every simulator accepts).
_SEED_END = 2**32


def autoreset_mode_of(envs: gym.vector.VectorEnv) -> AutoresetMode:
    """How ``envs`` resets its sub-envs: the unwrapped vector env's own ``autoreset_mode``
    attribute where it has one (Gymnasium's ``SyncVectorEnv`` / ``AsyncVectorEnv``, gymsamp's
    vector envs; an ``AutoresetMode`` or its string value, as Gymnasium's constructors take),
    else ``metadata["autoreset_mode"]`` (Gymnasium's documented key), else ``NEXT_STEP``
    (Gymnasium's default).

    The attribute first: Gymnasium < 1.4 writes the mode into ``metadata``, a dict its vector
    envs share with the env class, so a vector env of the same class built later with another
    mode changed what an earlier one's metadata said (and the loop would have booked its
    steps for the wrong mode).

    Example:
        >>> import gymnasium as gym
        >>> envs = gym.vector.SyncVectorEnv(
        ...     [lambda: gym.make("CartPole-v1")], autoreset_mode=AutoresetMode.SAME_STEP
        ... )
        >>> envs.metadata["autoreset_mode"] = AutoresetMode.DISABLED  # as another env's write
        >>> autoreset_mode_of(envs).name
        'SAME_STEP'
        >>> envs.close()
    """
    own = getattr(envs.unwrapped, "autoreset_mode", None)
    if isinstance(own, (AutoresetMode, str)):
        return AutoresetMode(own)
    return AutoresetMode(envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))


def check_job(job: Any, k: int) -> None:
    """Raise for what ``make_job(k)`` returned unless it is a :class:`RolloutJob` of index ``k``
    whose seed is None or an int in ``[0, 2**32)`` (a numpy integer seed becomes a Python int).

    Once per rollout, and a few comparisons for the usual job: a job of another index would
    never complete the quota (the loop would run forever), a bad seed fail deep inside the
    env's reset.

    Raises:
        TypeError: ``job`` is not a RolloutJob, or its seed, options or rng has the wrong type.
        ValueError: Its index is not ``k``, or its seed is out of range.
    """
    if not isinstance(job, RolloutJob):
        raise TypeError(
            f"make_job must return a RolloutJob for every index k, got {job!r} for k={k}"
        )
    if job.index != k:
        raise ValueError(
            f"make_job(k) must return a RolloutJob with index k, got index {job.index!r} for k={k}"
        )
    seed = job.seed
    if seed is not None:
        if type(seed) is not int:
            if not is_int(seed):
                raise TypeError(
                    f"RolloutJob.seed must be None or an int in [0, 2**32), got {seed!r} "
                    f"(rollout {k})"
                )
            job.seed = seed = int(seed)  # a numpy integer: Gymnasium takes Python ints only
        if not 0 <= seed < _SEED_END:
            raise ValueError(
                f"RolloutJob.seed must be None or an int in [0, 2**32), got {seed!r} (rollout {k})"
            )
    if job.options is not None and not isinstance(job.options, Mapping):
        raise TypeError(
            f"RolloutJob.options must be None or a dict of reset options, got {job.options!r} "
            f"(rollout {k})"
        )
    rng = job._rng
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"RolloutJob.rng must be None or a numpy.random.Generator, got {rng!r} (rollout {k})"
        )
