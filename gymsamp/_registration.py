"""Registration of gymsamp's toy environments under the ``gymsamp/`` namespace.

Entry points are strings, so registering imports no env module; :func:`gymnasium.make` imports
it on first use.
"""

from __future__ import annotations

import gymnasium as gym

__all__ = ["TOY_ENV_IDS", "register_toy_envs"]

# (id, entry point, max_episode_steps). Counting has no time limit: tests choose its episode
# boundaries exactly with terminate_at / truncate_at. RandomLength's limit sits far above its
# default lengths (at most 39 steps), so it only matters for a large mean_length.
_TOY_ENVS: tuple[tuple[str, str, int | None], ...] = (
    ("gymsamp/Counting-v0", "gymsamp.envs.toy:CountingEnv", None),
    ("gymsamp/PointMass-v0", "gymsamp.envs.toy:PointMassEnv", 200),
    ("gymsamp/RandomLength-v0", "gymsamp.envs.toy:RandomLengthEnv", 1000),
    ("gymsamp/Raising-v0", "gymsamp.envs.toy_faults:RaisingEnv", 100),
    ("gymsamp/Hanging-v0", "gymsamp.envs.toy_faults:HangingEnv", 100),
)

#: The ids :func:`register_toy_envs` registers.
TOY_ENV_IDS: tuple[str, ...] = tuple(env_id for env_id, _, _ in _TOY_ENVS)


def register_toy_envs() -> None:
    """Register every toy env id with Gymnasium; ids already registered are left alone.

    Safe to call any number of times (Gymnasium would warn about re-registering an id).

    Example:
        >>> import gymnasium as gym
        >>> register_toy_envs()
        >>> register_toy_envs()
        >>> env = gym.make("gymsamp/Counting-v0", terminate_at=1)
        >>> env.reset(seed=0)[0], env.step(0)[1:3]
        (array([0.], dtype=float32), (1.0, True))
    """
    for env_id, entry_point, max_episode_steps in _TOY_ENVS:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, max_episode_steps=max_episode_steps)
