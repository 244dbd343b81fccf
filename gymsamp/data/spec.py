"""Environment and module specifications: :class:`EnvSpec` and :class:`InOutSpec`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from gymsamp._checks import check_int


def _label_count(space: gym.Space[Any] | None) -> int | None:
    """How many labels name ``space``: one per flat entry (what ``to_pandas`` makes a column
    each, so one for a Discrete space); None where it has no fixed shape (Dict, Tuple) or is
    None, and no labels apply."""
    if space is None or space.shape is None:
        return None
    return math.prod(space.shape)


def labels_for(
    space: gym.Space[Any] | None, labels: Sequence[str] | None
) -> tuple[str, ...] | None:
    """``labels`` where they name every flat entry of ``space``, else None.

    For labels that describe a simulator's own observation, action or state (e.g. an
    adapter's) where a wrapper may have reshaped the space since: they no longer apply, and
    they never apply to a space without a fixed shape (a wrapper's ``Dict`` of observations)
    or to no space at all.

    Example:
        >>> import gymnasium as gym
        >>> labels_for(gym.spaces.Box(0, 1, (2,)), ["x", "v"])
        ('x', 'v')
        >>> labels_for(gym.spaces.Box(0, 1, (3, 2)), ["x", "v"]) is None
        True
        >>> labels_for(gym.spaces.Dict({"x": gym.spaces.Box(0, 1, (2,))}), ["x", "v"]) is None
        True
    """
    count = _label_count(space)
    if labels is None or count is None or len(labels) != count:
        return None
    return tuple(labels)


def _flat_entry_count(space: gym.Space[Any]) -> int | None:
    """The flat entries of ``space`` as :func:`_label_count` counts them, those of a Dict or
    Tuple space's parts added up; None if some part has no fixed shape (``Text``, ...).

    Labels of a Dict or Tuple space are the flat labels of what it holds (e.g. a simulator's,
    under a wrapper that made its observation a Dict): tables and plots name the parts by
    their paths instead, but a label set of another size is still a mistake.
    """
    if isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
        parts = space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces
        counts = [_flat_entry_count(part) for part in parts]
        return None if None in counts else sum(c for c in counts if c is not None)
    return _label_count(space)


def _as_labels(
    labels: Sequence[str] | None, name: str, space: gym.Space[Any] | None, space_name: str
) -> tuple[str, ...] | None:
    """``labels`` as a tuple, checked to name every flat entry of ``space``."""
    if labels is None:
        return None
    if (
        isinstance(labels, str)
        or not isinstance(labels, Iterable)
        or not all(isinstance(label, str) for label in labels)
    ):
        raise TypeError(f"{name} must be a sequence of strings, got {labels!r}")
    labels = tuple(labels)
    if space is None:
        # No state space: the states are the observations (CartPole) or unknown, so there
        # is nothing to check the labels against.
        return labels
    count = _flat_entry_count(space)
    if count is None:
        raise ValueError(
            f"{name} must be None for {space_name} {space}, which has no fixed shape, got "
            f"{labels!r}"
        )
    if len(labels) != count:
        entries = f"of shape {space.shape}" if space.shape is not None else "of its parts, in order"
        raise ValueError(
            f"{name} has {len(labels)} labels but must have {count} to match {space_name} "
            f"(one per flat entry {entries}), got {labels!r}"
        )
    return labels


# Each labels field and the space whose entries it names.
_LABELED_SPACES = {
    "obs_labels": "observation_space",
    "act_labels": "action_space",
    "state_labels": "state_space",
}


@dataclass(frozen=True)
class EnvSpec:
    """What the data in an episode conforms to: spaces, episode limit and optional labels.

    Args:
        observation_space: The space of a single observation.
        action_space: The space of a single action.
        max_episode_length: The episode step limit, or None if there is none.
        state_space: The space of the full simulator state, where it differs from the
            observation and is accessible (see gymsamp's env adapters), else None.
        obs_labels: One name per flat observation entry (``prod(observation_space.shape)``
            names; one for a Discrete space; for a Dict or Tuple space, those of its parts
            together, though tables and plots name the parts by their paths), or None.
        act_labels: One name per flat action entry, or None.
        state_labels: One name per flat state entry, or None (unchecked without a
            ``state_space``: the states may be the observations, as CartPole's).

    Raises:
        TypeError: If a space is not a ``gymnasium.Space`` or labels are not strings.
        ValueError: If the number of labels does not match their space's shape, or labels
            are given for a space without a fixed shape (``Text``).

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
        for name, space_name in _LABELED_SPACES.items():
            labels = _as_labels(getattr(self, name), name, getattr(self, space_name), space_name)
            object.__setattr__(self, name, labels)

    @classmethod
    def from_env(cls, env: gym.Env[Any, Any] | gym.vector.VectorEnv) -> EnvSpec:
        """Read the spec of a Gymnasium env or vector env (single-env spaces).

        The episode limit is the smallest of ``env.spec.max_episode_steps`` (set by
        ``gym.make``'s TimeLimit) and the limits of the ``TimeLimit`` wrappers in the env's
        stack (one the caller wrapped around an env without a spec sets no
        ``max_episode_steps``); for a vector env also those of its sub-envs (a
        ``SyncVectorEnv``'s specs and wrappers, an ``AsyncVectorEnv``'s specs), as one built
        by hand rather than by ``gym.make_vec`` has no spec of its own. ``state_space`` and
        the labels are read from attributes of the same names where the env or one of its
        wrappers provides them (gymsamp's env adapters do); labels that do not fit their space
        (a wrapper outside the one providing them reshaped it, e.g. stacked frames) are left
        out (see :func:`labels_for`).
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
        max_len = _episode_limit(env)

        def optional(attr: str) -> Any:
            if isinstance(env, gym.Env) and env.has_wrapper_attr(attr):
                return env.get_wrapper_attr(attr)
            return getattr(env, attr, None)

        state_space = optional("state_space")
        return cls(
            observation_space=obs_space,
            action_space=act_space,
            max_episode_length=max_len,
            state_space=state_space,
            obs_labels=labels_for(obs_space, optional("obs_labels")),
            act_labels=labels_for(act_space, optional("act_labels")),
            state_labels=labels_for(state_space, optional("state_labels")),
        )


def _episode_limit(env: gym.Env[Any, Any] | gym.vector.VectorEnv) -> int | None:
    """The smallest episode limit the env's spec or its ``TimeLimit`` wrappers set (for a
    vector env, also its sub-envs')."""
    limits = [getattr(getattr(env, "spec", None), "max_episode_steps", None)]
    layer: Any = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, gym.wrappers.TimeLimit):
            limits.append(layer._max_episode_steps)
        layer = layer.env
    if isinstance(env, gym.vector.VectorEnv):
        limits.extend(_sub_env_limits(env.unwrapped))
    found = [int(limit) for limit in limits if limit is not None]
    return min(found) if found else None


def _sub_env_limits(env: gym.vector.VectorEnv) -> list[int | None]:
    """The episode limits of a vector env's sub-envs, where they can be read without making
    any: a ``SyncVectorEnv`` holds them (spec and wrappers), an ``AsyncVectorEnv`` reports their
    specs (one message to each worker; nothing while a call is pending or once it is closed).
    ``gym.make_vec`` sets the vector env's own spec, but one built by hand has none."""
    if isinstance(env, gym.vector.SyncVectorEnv):
        return [_episode_limit(sub_env) for sub_env in env.envs]
    if isinstance(env, gym.vector.AsyncVectorEnv):
        try:
            specs = env.get_attr("spec")
        except (gym.error.AlreadyPendingCallError, gym.error.ClosedEnvironmentError):
            return []
        return [getattr(spec, "max_episode_steps", None) for spec in specs]
    return []


class InOutSpec:
    """Describes the input and output spaces of a primitive or module (garage's ``InOutSpec``).

    Args:
        input_space: Input space of a module.
        output_space: Output space of a module.

    Raises:
        TypeError: If a space is not a ``gymnasium.Space``.

    Example:
        >>> import gymnasium as gym
        >>> spec = InOutSpec(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2))
        >>> spec.output_space
        Discrete(2)
    """

    def __init__(self, input_space: gym.Space[Any], output_space: gym.Space[Any]) -> None:
        for name, space in (("input_space", input_space), ("output_space", output_space)):
            if not isinstance(space, gym.Space):
                raise TypeError(f"{name} must be a gymnasium.Space, got {type(space).__name__}")
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
        # Only what equal specs share exactly: gymnasium's Box equality allows for rounding
        # (np.allclose bounds), so a hash of the bounds (or the repr) would split equal specs.
        return hash((self.input_space.shape, self.output_space.shape))

    def __repr__(self) -> str:
        return f"InOutSpec(input_space={self.input_space!r}, output_space={self.output_space!r})"
