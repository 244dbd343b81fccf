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
from gymnasium.vector import AutoresetMode

from gymsamp.sampling.observations import copy_observation
from gymsamp.sampling.step_outputs import check_step_info, one_flag
from gymsamp.sampling.sub_env_infos import owned_info

__all__ = [
    "QueuedResetVectorEnv",
    "check_env_index",
    "failed_in_reset",
    "reset_in_step",
    "step_sub_env",
    "supports_queued_resets",
]


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


def supports_queued_resets(envs: Any) -> bool:
    """Whether ``envs`` is a :class:`QueuedResetVectorEnv` (what ``isinstance`` decides, without
    the runtime Protocol check's ~9 us on Python 3.11, which ``rollout()`` paid on every call).

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.sampling.in_process_vector_env import InProcessVectorEnv
        >>> ours = InProcessVectorEnv([gym.make("CartPole-v1")])
        >>> theirs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")])
        >>> supports_queued_resets(ours), supports_queued_resets(theirs)
        (True, False)
        >>> ours.close(); theirs.close()
    """
    return (
        hasattr(envs, "num_envs")
        and callable(getattr(envs, "queue_reset", None))
        and callable(getattr(envs, "pause", None))
    )


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


def check_call_name(name: str) -> str:
    """``name`` for a vector env's ``call``, unless it is one of the vector env's own methods
    (run per sub-env, they would bypass its observation batch and queued payloads; Gymnasium's
    ``AsyncVectorEnv`` refuses them too).

    Example:
        >>> check_call_name("get_domain_param")
        'get_domain_param'
        >>> check_call_name("reset")
        Traceback (most recent call last):
        ...
        ValueError: name must not be 'reset': use the vector env's own reset()
    """
    if name in ("reset", "step", "close"):
        raise ValueError(f"name must not be {name!r}: use the vector env's own {name}()")
    return name


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
    # Copied before the reset, which may overwrite arrays the env reuses (as SyncVectorEnv
    # batches them first).
    final_obs = copy_observation(final_obs)  # an int stays an int, as in Gymnasium
    final_info = owned_info(final_info)
    obs, info = env.reset(seed=seed, options=options)
    return obs, {**(info or {}), "final_obs": final_obs, "final_info": final_info}


def step_sub_env(
    env: gym.Env[Any, Any],
    index: int,
    action: Any,
    *,
    mode: AutoresetMode,
    queued: dict[int, tuple[int | None, dict[str, Any] | None]],
    pending: set[int],
) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    """Sub-env ``index``'s part of a vector step under autoreset ``mode``, as Gymnasium's vector
    envs do it, plus queued resets (the one loop body of gymsamp's own vector envs).

    - ``index`` in ``pending`` (``NEXT_STEP``: its episode ended in the previous step): reset
      without seed or options, the action ignored; reward 0, no episode end, the reset's info.
    - Otherwise ``env.step(action)``. An episode that ends resets inside the step with the
      sub-env's queued payload in ``queued`` (used up), else at once in ``SAME_STEP`` mode
      (both as :func:`reset_in_step`), else (``NEXT_STEP``) in the next step, via ``pending``.

    Example:
        >>> env = gym.make("gymsamp/Counting-v0", terminate_at=1)
        >>> _ = env.reset(seed=0)
        >>> pending = set()
        >>> step_sub_env(env, 0, 0, mode=AutoresetMode.NEXT_STEP, queued={}, pending=pending)[:4]
        (array([1.], dtype=float32), 1.0, True, False)
        >>> step_sub_env(env, 0, 0, mode=AutoresetMode.NEXT_STEP, queued={}, pending=pending)[:4]
        (array([0.], dtype=float32), 0.0, False, False)
    """
    if pending and index in pending:
        pending.discard(index)
        obs, info = _reset_pending(env)
        return obs, 0.0, False, False, info
    obs, reward, terminated, truncated, info = env.step(action)
    check_step_info(info)
    # A flag as every mode takes it: a size-1 array as its element, anything but one number
    # refused (the bools of nearly every env pass at the cost of a type check).
    if type(terminated) is not bool:
        terminated = one_flag(terminated)
    if type(truncated) is not bool:
        truncated = one_flag(truncated, "truncated")
    if terminated or truncated:
        if queued and index in queued:
            seed, options = queued.pop(index)
            obs, info = reset_in_step(env, seed, options, obs, info)
        elif mode == AutoresetMode.SAME_STEP:
            obs, info = reset_in_step(env, None, None, obs, info)
        elif mode == AutoresetMode.NEXT_STEP:
            pending.add(index)
    return obs, reward, terminated, truncated, info


def _reset_pending(env: gym.Env[Any, Any]) -> tuple[Any, dict[str, Any]]:
    """``NEXT_STEP``'s reset in the step after an episode end (its own frame: see
    :func:`failed_in_reset`)."""
    return env.reset()


_RESETS_IN_STEP = {reset_in_step.__code__, _reset_pending.__code__}


def failed_in_reset(err: BaseException) -> bool:
    """Whether ``err``, raised by :func:`step_sub_env`, came from a reset inside the step
    (for error messages: the step itself went through)."""
    frame = err.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code in _RESETS_IN_STEP:
            return True
        frame = frame.tb_next
    return False
