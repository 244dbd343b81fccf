"""Environment and module specifications: :class:`EnvSpec` and :class:`InOutSpec`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from gymsamp._checks import check_int


def _as_labels(labels: Sequence[str] | None, name: str) -> tuple[str, ...] | None:
    if labels is None:
        return None
    if isinstance(labels, str) or not all(isinstance(label, str) for label in labels):
        raise TypeError(f"{name} must be a sequence of strings, got {labels!r}")
    return tuple(labels)


@dataclass(frozen=True)
class EnvSpec:
    """What the data in an episode conforms to: spaces, episode limit and optional labels.

    Args:
        observation_space: The space of a single observation.
        action_space: The space of a single action.
        max_episode_length: The episode step limit, or None if there is none.
        state_space: The space of the full simulator state, where it differs from the
            observation and is accessible (see gymsamp's env adapters), else None.
        obs_labels: One name per flat observation dimension, or None.
        act_labels: One name per flat action dimension, or None.
        state_labels: One name per flat state dimension, or None.

    Example:
        >>> import gymnasium as gym
        >>> spec = EnvSpec.from_env(gym.make("CartPole-v1"))
        >>> spec.max_episode_length, spec.action_space
        (500, Discrete(2))
    """

    observation_space: gym.Space[Any]
    action_space: gym.Space[Any]
    max_episode_length: int | None = None
    state_space: gym.Space[Any] | None = None
    obs_labels: tuple[str, ...] | None = None
    act_labels: tuple[str, ...] | None = None
    state_labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("observation_space", "action_space"):
            if not isinstance(getattr(self, name), gym.Space):
                raise TypeError(
                    f"{name} must be a gymnasium.Space, got {type(getattr(self, name)).__name__}"
                )
        if self.state_space is not None and not isinstance(self.state_space, gym.Space):
            raise TypeError(
                "state_space must be a gymnasium.Space or None, got "
                f"{type(self.state_space).__name__}"
            )
        mel = self.max_episode_length
        if mel is not None:
            object.__setattr__(self, "max_episode_length", check_int("max_episode_length", mel))
        for name in ("obs_labels", "act_labels", "state_labels"):
            object.__setattr__(self, name, _as_labels(getattr(self, name), name))

    @classmethod
    def from_env(cls, env: gym.Env[Any, Any] | gym.vector.VectorEnv) -> EnvSpec:
        """Read the spec of a Gymnasium env or vector env (single-env spaces).

        The episode limit comes from ``env.spec.max_episode_steps`` (set by ``gym.make``'s
        TimeLimit). ``state_space`` and the labels are read from attributes of the same names
        where the env or one of its wrappers provides them (gymsamp's env adapters do).
        """
        if isinstance(env, gym.vector.VectorEnv):
            obs_space, act_space = env.single_observation_space, env.single_action_space
        elif isinstance(env, gym.Env):
            obs_space, act_space = env.observation_space, env.action_space
        else:
            raise TypeError(
                "env must be a gymnasium.Env or gymnasium.vector.VectorEnv, got "
                f"{type(env).__name__}"
            )
        env_spec = getattr(env, "spec", None)
        max_len = getattr(env_spec, "max_episode_steps", None)

        def optional(attr: str) -> Any:
            if isinstance(env, gym.Env) and env.has_wrapper_attr(attr):
                return env.get_wrapper_attr(attr)
            return getattr(env, attr, None)

        return cls(
            observation_space=obs_space,
            action_space=act_space,
            max_episode_length=max_len,
            state_space=optional("state_space"),
            obs_labels=optional("obs_labels"),
            act_labels=optional("act_labels"),
            state_labels=optional("state_labels"),
        )


class InOutSpec:
    """Describes the input and output spaces of a primitive or module (garage's ``InOutSpec``).

    Args:
        input_space: Input space of a module.
        output_space: Output space of a module.

    Example:
        >>> import gymnasium as gym
        >>> spec = InOutSpec(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2))
        >>> spec.output_space
        Discrete(2)
    """

    def __init__(self, input_space: gym.Space[Any], output_space: gym.Space[Any]) -> None:
        self._input_space = input_space
        self._output_space = output_space

    @property
    def input_space(self) -> gym.Space[Any]:
        """Input space of the module."""
        return self._input_space

    @property
    def output_space(self) -> gym.Space[Any]:
        """Output space of the module."""
        return self._output_space

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InOutSpec):
            return NotImplemented
        return self.input_space == other.input_space and self.output_space == other.output_space

    def __hash__(self) -> int:
        return hash((repr(self.input_space), repr(self.output_space)))

    def __repr__(self) -> str:
        return f"InOutSpec(input_space={self.input_space!r}, output_space={self.output_space!r})"
