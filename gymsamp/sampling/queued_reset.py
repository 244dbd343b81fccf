"""Queued resets: how gymsamp's vector envs start a sub-env's next episode inside a step.

Gymnasium's vector envs give a finished sub-env its next episode either in a separate
(masked) ``reset`` call, one more round trip to the workers per episode, or by an autoreset
that knows neither a per-episode seed nor options. gymsamp's own vector envs
(:class:`~gymsamp.sampling.in_process_vector_env.InProcessVectorEnv`,
:class:`~gymsamp.sampling.batched_vector_env.BatchedAsyncVectorEnv`, and the
``AsyncVectorEnv`` subclass that :func:`~gymsamp.sampling.vector_envs.make_vector_env` builds
for ``"async"``) accept a reset payload
ahead of time instead, which is how the collection loop hands every rollout its own seed,
``domain_param`` and ``init_state`` without an extra call:

- ``queue_reset(i, seed=..., options=...)`` stores one payload for sub-env ``i`` (a later call
  replaces it);
- in the step in which sub-env ``i`` next reports ``terminated`` or ``truncated``, it is reset
  with that payload (which is then used up), exactly like Gymnasium's ``SAME_STEP`` autoreset:
  the step returns the new episode's first observation, the flags of the ended episode,
  ``info["final_obs"]`` / ``info["final_info"]`` (masks ``_final_obs`` / ``_final_info``) with
  the ended episode's last observation and step info, and the reset's info entries;
- a sub-env that ends without a queued payload is left as it is (autoreset ``DISABLED``);
- ``pause(i)`` stops stepping sub-env ``i`` until its next ``reset``: its steps run nothing in
  the sub-env and return its last observation, reward 0 and both flags False (the collection
  loop pauses sub-envs it has no more rollouts for, instead of running episodes nobody asked
  for, whose failures would fail the call);
- ``reset`` discards the payloads of the sub-envs it resets, and resumes them if paused.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

__all__ = ["QueuedResetVectorEnv", "check_env_index", "reset_in_step"]


@runtime_checkable
class QueuedResetVectorEnv(Protocol):
    """A vector env whose sub-envs can be reset inside a step with a queued payload.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from gymsamp.sampling.in_process_vector_env import InProcessVectorEnv
        >>> envs = InProcessVectorEnv([gym.make("gymsamp/Counting-v0", terminate_at=1)])
        >>> isinstance(envs, QueuedResetVectorEnv)
        True
        >>> _ = envs.reset(seed=0)
        >>> envs.queue_reset(0, seed=1)
        >>> obs, _, terminated, _, info = envs.step(np.array([0]))
        >>> obs[0].tolist(), terminated[0].item(), info["final_obs"][0].tolist()
        ([0.0], True, [1.0])
        >>> envs.close()
    """

    num_envs: int

    def queue_reset(
        self, index: int, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> None:
        """Reset sub-env ``index`` with ``seed`` and ``options`` in the step that next ends
        its episode (see the module docstring)."""
        ...

    def pause(self, index: int) -> None:
        """Stop stepping sub-env ``index`` until its next reset (see the module docstring)."""
        ...


def check_env_index(index: Any, num_envs: int) -> int:
    """``index`` as an int, if it names one of ``num_envs`` sub-envs.

    Example:
        >>> check_env_index(1, 2)
        1
        >>> check_env_index(2, 2)
        Traceback (most recent call last):
        ...
        ValueError: index must be an int in [0, 2), got 2
    """
    if isinstance(index, bool) or not isinstance(index, Integral) or not 0 <= int(index) < num_envs:
        raise ValueError(f"index must be an int in [0, {num_envs}), got {index!r}")
    return int(index)


def reset_in_step(
    env: gym.Env[Any, Any],
    seed: int | None,
    options: dict[str, Any] | None,
    final_obs: Any,
    final_info: dict[str, Any],
) -> tuple[Any, dict[str, Any]]:
    """Reset ``env`` with a queued payload in the step that ended its episode.

    Returns the new episode's first observation and the reset's info with the ended
    episode's ``final_obs`` (a copy: the env may reuse its observation buffer) and
    ``final_info``, as Gymnasium's ``SAME_STEP`` autoreset reports them.
    """
    obs, info = env.reset(seed=seed, options=options)
    return obs, {**info, "final_obs": np.array(final_obs, copy=True), "final_info": final_info}
