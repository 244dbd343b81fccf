"""Transitions and batches of them: :class:`EnvStep`, :class:`TimeStep`, :class:`TimeStepBatch`.

garage's ``EnvStep`` (what its environments returned from ``step``) does not exist in Gymnasium,
so gymsamp defines a small one here; :meth:`TimeStep.from_env_step` accepts it or any object with
the same attributes (:class:`EnvStepLike`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from gymsamp.data._shapes import (
    InfoDict,
    as_array,
    as_batch_array,
    as_batch_step_types,
    as_info_dict,
    as_records,
    as_reward,
    as_step_type,
    check_env_spec,
    check_item_shape,
    check_real,
    concatenate_nested,
    concatenate_parts,
    concatenated_fields,
    map_nested,
    numeric_space,
    require_key,
    slice_nested,
    space_shape,
)
from gymsamp.data._tuple_like import TupleLike
from gymsamp.data.episode_batch import EpisodeBatch
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step_type import STEP_TYPE_DTYPE, StepType

__all__ = ["EnvStep", "EnvStepLike", "TimeStep", "TimeStepBatch"]

_OBS_SPACE = "env_spec.observation_space"
_ENV_STEP_FIELDS = ("env_spec", "action", "reward", "observation", "env_info", "step_type")
_ACT_SPACE = "env_spec.action_space"


def _as_item(value: Any, name: str, space: Any, reference: str) -> npt.NDArray[Any]:
    """One observation or action as an array of its space's shape (numbers for a numeric
    space; its values are not checked against the space, as in garage)."""
    array = as_array(value, name)
    check_item_shape(array.shape, space_shape(space), name, reference)
    if numeric_space(space):
        check_real(array, name, reference)
    return array


class _StepTypeFlags:
    """``first`` / ``mid`` / ``terminal`` / ``timeout`` / ``last`` from a ``step_type`` field."""

    step_type: StepType

    @property
    def first(self) -> bool:
        """Whether this step is the first of its episode."""
        return self.step_type is StepType.FIRST

    @property
    def mid(self) -> bool:
        """Whether this step is in the middle of its episode."""
        return self.step_type is StepType.MID

    @property
    def terminal(self) -> bool:
        """Whether this step records a termination (the MDP reached a terminal state)."""
        return self.step_type is StepType.TERMINAL

    @property
    def timeout(self) -> bool:
        """Whether this step records a timeout (the episode was truncated)."""
        return self.step_type is StepType.TIMEOUT

    @property
    def last(self) -> bool:
        """Whether this step is the last of its episode (``terminal`` or ``timeout``)."""
        return self.step_type in (StepType.TERMINAL, StepType.TIMEOUT)


class EnvStepLike(Protocol):
    """What :meth:`TimeStep.from_env_step` reads from an environment step."""

    @property
    def env_spec(self) -> EnvSpec: ...

    @property
    def action(self) -> Any: ...

    @property
    def reward(self) -> Any: ...

    @property
    def observation(self) -> Any: ...

    @property
    def env_info(self) -> Mapping[str, Any]: ...

    @property
    def step_type(self) -> Any: ...


@dataclass(frozen=True, eq=False)
class EnvStep(_StepTypeFlags, TupleLike):
    """The result of one environment step (garage's ``EnvStep``).

    Args:
        env_spec: Specification of the environment.
        action: The action taken, shape ``A^*``.
        reward: The scalar reward for it (stored as float).
        observation: The observation after the action, shape ``O^*``.
        env_info: Dict of environment information for this step.
        step_type: The :class:`StepType` of the step (an int value of one is converted).

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Box, Discrete
        >>> spec = EnvSpec(Box(-1.0, 1.0, (2,)), Discrete(2))
        >>> step = EnvStep(spec, np.int64(1), 0.5, np.zeros(2), {}, StepType.TIMEOUT)
        >>> step.last, step.terminal
        (True, False)
    """

    env_spec: EnvSpec
    action: npt.NDArray[Any]
    reward: float
    observation: npt.NDArray[Any]
    env_info: InfoDict
    step_type: StepType

    def __post_init__(self) -> None:
        check_env_spec(self.env_spec)
        obs_space = self.env_spec.observation_space
        normalized = {
            "action": _as_item(self.action, "action", self.env_spec.action_space, _ACT_SPACE),
            "reward": as_reward(self.reward),
            "observation": _as_item(self.observation, "observation", obs_space, _OBS_SPACE),
            "env_info": as_info_dict(self.env_info, "env_info"),
            "step_type": as_step_type(self.step_type),
        }
        for name, value in normalized.items():
            # Frozen dataclass: normalized values are written once, here, and never again.
            object.__setattr__(self, name, value)


@dataclass(frozen=True, eq=False)
class TimeStep(_StepTypeFlags, TupleLike):
    """One transition (state, action, reward, next state) of an episode (garage's ``TimeStep``).

    Args:
        env_spec: Specification of the environment the data was sampled from.
        episode_info: Dict of information about the whole episode (e.g. its domain parameters).
        observation: The observation before the action, shape ``O^*``.
        action: The action taken, shape ``A^*``.
        reward: The scalar reward for taking ``action`` in ``observation`` (stored as float).
        next_observation: The observation after the action, shape ``O^*``.
        env_info: Dict of environment information for this step.
        agent_info: Dict of agent information for this step (e.g. an RNN's hidden state).
        step_type: The :class:`StepType` of the step (an int value of one is converted).

    Raises:
        ValueError: If an observation or the action does not have its space's shape, or a
            value is out of range.
        TypeError: If a field has the wrong type (e.g. a non-numeric reward, a non-dict info).

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Box, Discrete
        >>> spec = EnvSpec(Box(-1.0, 1.0, (2,)), Discrete(2))
        >>> env_step = EnvStep(spec, np.int64(1), 1.0, np.array([0.1, 0.2]), {}, StepType.MID)
        >>> ts = TimeStep.from_env_step(env_step, np.zeros(2), agent_info={}, episode_info={})
        >>> ts.next_observation, ts.reward, ts.mid, ts.last
        (array([0.1, 0.2]), 1.0, True, False)
    """

    env_spec: EnvSpec
    episode_info: InfoDict
    observation: npt.NDArray[Any]
    action: npt.NDArray[Any]
    reward: float
    next_observation: npt.NDArray[Any]
    env_info: InfoDict
    agent_info: InfoDict
    step_type: StepType

    def __post_init__(self) -> None:
        check_env_spec(self.env_spec)
        obs_space = self.env_spec.observation_space
        act_space = self.env_spec.action_space
        normalized = {
            "episode_info": as_info_dict(self.episode_info, "episode_info"),
            "observation": _as_item(self.observation, "observation", obs_space, _OBS_SPACE),
            "action": _as_item(self.action, "action", act_space, _ACT_SPACE),
            "reward": as_reward(self.reward),
            "next_observation": _as_item(
                self.next_observation, "next_observation", obs_space, _OBS_SPACE
            ),
            "env_info": as_info_dict(self.env_info, "env_info"),
            "agent_info": as_info_dict(self.agent_info, "agent_info"),
            "step_type": as_step_type(self.step_type),
        }
        for name, value in normalized.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_env_step(
        cls,
        env_step: EnvStepLike,
        last_observation: npt.ArrayLike,
        agent_info: Mapping[str, Any],
        episode_info: Mapping[str, Any] | None = None,
    ) -> TimeStep:
        """Create a TimeStep from an environment step and the observation it started from.

        Args:
            env_step: An :class:`EnvStep`, or any object with its attributes (``env_spec``,
                ``action``, ``reward``, ``observation``, ``env_info``, ``step_type``).
            last_observation: The observation before the action, shape ``O^*``.
            agent_info: Dict of agent information for this step.
            episode_info: Dict of information about the episode; None means ``{}`` (garage's
                older three-argument form).

        Returns:
            The TimeStep with ``env_step.observation`` as ``next_observation``.

        Raises:
            TypeError: If ``env_step`` lacks an attribute of :class:`EnvStep`, or a field has
                the wrong type (see :class:`TimeStep`).
        """
        missing = [name for name in _ENV_STEP_FIELDS if not hasattr(env_step, name)]
        if missing:
            lacks = "" if len(missing) == len(_ENV_STEP_FIELDS) else f" lacking {missing}"
            raise TypeError(
                f"env_step must be an EnvStep (or have its attributes {list(_ENV_STEP_FIELDS)}), "
                f"got {type(env_step).__name__}{lacks}"
            )
        # TimeStep copies the info dicts (and refuses anything that is not a dict).
        return cls(
            env_spec=env_step.env_spec,
            episode_info={} if episode_info is None else episode_info,  # type: ignore[arg-type]
            observation=last_observation,  # type: ignore[arg-type]
            action=env_step.action,
            reward=env_step.reward,
            next_observation=env_step.observation,
            env_info=env_step.env_info,  # type: ignore[arg-type]
            agent_info=agent_info,  # type: ignore[arg-type]
            step_type=env_step.step_type,
        )


@dataclass(frozen=True, eq=False)
class TimeStepBatch(TupleLike):
    """A batch of transitions, e.g. for off-policy learning (garage's ``TimeStepBatch``).

    All arrays share the batch dimension ``B = len(rewards)``; unlike in an
    :class:`~gymsamp.data.episode_batch.EpisodeBatch`, consecutive entries need not belong to one
    episode. The batch is frozen, its arrays are not copied, and ``==`` is identity.

    Args:
        env_spec: Specification of the environment the data was sampled from.
        episode_infos: Nested dict of ``(B, S^*)`` arrays: the infos of each transition's
            episode (repeated for every transition of that episode).
        observations: ``(B, O^*)`` observations before the actions.
        actions: ``(B, A^*)`` actions.
        rewards: ``(B,)`` rewards; at least one.
        next_observations: ``(B, O^*)`` observations after the actions.
        env_infos: Nested dict of ``(B, S^*)`` environment infos.
        agent_infos: Nested dict of ``(B, S^*)`` agent infos.
        step_types: ``(B,)`` step types, stored as ``int8``.

    Raises:
        ValueError: If the batch dimensions or item shapes do not match (messages read "X has
            P but must have Q to match R"), or a value is out of range.
        TypeError: If a field has the wrong type.

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Box, Discrete
        >>> spec = EnvSpec(Box(-9.0, 9.0, (1,)), Discrete(2))
        >>> batch = TimeStepBatch(
        ...     env_spec=spec,
        ...     episode_infos={},
        ...     observations=np.array([[0.0], [1.0]]),
        ...     actions=np.array([1, 0]),
        ...     rewards=np.array([1.0, 2.0]),
        ...     next_observations=np.array([[1.0], [2.0]]),
        ...     env_infos={},
        ...     agent_infos={},
        ...     step_types=np.array([StepType.FIRST, StepType.TERMINAL]),
        ... )
        >>> [float(s["rewards"][0]) for s in batch.to_time_step_list()]
        [1.0, 2.0]
        >>> TimeStepBatch.concatenate(batch, batch).rewards
        array([1., 2., 1., 2.])
    """

    env_spec: EnvSpec
    episode_infos: InfoDict
    observations: npt.NDArray[Any]
    actions: npt.NDArray[Any]
    rewards: npt.NDArray[Any]
    next_observations: npt.NDArray[Any]
    env_infos: InfoDict
    agent_infos: InfoDict
    step_types: npt.NDArray[np.int8]

    def __post_init__(self) -> None:
        check_env_spec(self.env_spec)
        rewards = as_array(self.rewards, "rewards")
        if rewards.ndim != 1 or len(rewards) == 0:
            raise ValueError(
                "rewards must be a non-empty 1-D array with one reward per transition, "
                f"got shape {rewards.shape}"
            )
        check_real(rewards, "rewards")
        size, ref = len(rewards), "len(rewards)"
        obs_space, act_space = self.env_spec.observation_space, self.env_spec.action_space
        obs_shape, obs_real = space_shape(obs_space), numeric_space(obs_space)
        normalized = {
            "episode_infos": as_info_dict(self.episode_infos, "episode_infos", size, ref),
            "observations": as_batch_array(
                self.observations, "observations", size, ref, obs_shape, _OBS_SPACE, real=obs_real
            ),
            "actions": as_batch_array(
                self.actions,
                "actions",
                size,
                ref,
                space_shape(act_space),
                _ACT_SPACE,
                real=numeric_space(act_space),
            ),
            "rewards": rewards,
            "next_observations": as_batch_array(
                self.next_observations,
                "next_observations",
                size,
                ref,
                obs_shape,
                _OBS_SPACE,
                real=obs_real,
            ),
            "env_infos": as_info_dict(self.env_infos, "env_infos", size, ref),
            "agent_infos": as_info_dict(self.agent_infos, "agent_infos", size, ref),
            "step_types": as_batch_step_types(self.step_types, size, ref),
        }
        for name, value in normalized.items():
            object.__setattr__(self, name, value)

    @classmethod
    def concatenate(cls, *batches: TimeStepBatch) -> TimeStepBatch:
        """Concatenate TimeStepBatches into one (the opposite of :meth:`split`).

        Args:
            *batches: The batches, in order. The result's ``env_spec`` is the first batch's.

        Returns:
            One batch holding all transitions of all batches.

        Raises:
            ValueError: If no batch is given, or the info dicts of the batches do not have the
                same keys (the message names the missing and extra keys).
        """
        data = concatenated_fields(batches, cls)
        return cls(env_spec=batches[0].env_spec, **data)

    def split(self) -> list[TimeStepBatch]:
        """Split into one-transition TimeStepBatches (the opposite of :meth:`concatenate`)."""
        return [type(self)(env_spec=self.env_spec, **s) for s in self.to_time_step_list()]

    def to_time_step_list(self) -> list[dict[str, Any]]:
        """Convert the batch into one dict per transition (undone by :meth:`from_time_step_list`).

        Returns:
            One dict per transition with keys ``episode_infos``, ``observations``, ``actions``,
            ``rewards``, ``next_observations``, ``env_infos``, ``agent_infos`` and
            ``step_types``. As in garage, every value keeps a batch dimension of length 1 (e.g.
            ``rewards`` has shape ``(1,)``), so each dict is a valid ``TimeStepBatch``'s fields.
        """
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "env_spec"}

        def row(i: int) -> dict[str, Any]:
            one = slice(i, i + 1)
            return {
                name: slice_nested(value, one) if isinstance(value, Mapping) else value[one]
                for name, value in data.items()
            }

        return [row(i) for i in range(len(self.rewards))]

    @classmethod
    def from_time_step_list(
        cls, env_spec: EnvSpec, ts_samples: Iterable[Mapping[str, Any] | TimeStep]
    ) -> TimeStepBatch:
        """Create a TimeStepBatch from one entry per transition.

        Args:
            env_spec: Specification of the environment the data was sampled from.
            ts_samples: Dicts as returned by :meth:`to_time_step_list` (every value with a
                leading batch dimension; ``episode_infos``, ``env_infos`` and ``agent_infos``
                may be left out and default to empty dicts), or :class:`TimeStep` objects
                (an extension over garage), or a mix of both; a list or any iterable (e.g. a
                generator).

        Returns:
            The concatenation of the samples.

        Raises:
            TypeError: If ``ts_samples`` is not an iterable of dicts and TimeSteps (e.g. a
                single sample).
            ValueError: If ``ts_samples`` is empty, a required key is missing, a sample's
                ``rewards`` is not 1-D, another of its arrays does not have ``len(rewards)``
                entries or its item shape does not match the space's (the message names the
                sample), or the result fails validation.
        """
        check_env_spec(env_spec)
        listed = as_records(ts_samples, "ts_samples", "dicts or TimeSteps", "time step")
        samples = [_as_sample(s) if isinstance(s, TimeStep) else s for s in listed]
        names = [f"ts_samples[{i}]" for i in range(len(samples))]
        for sample, name in zip(samples, names, strict=True):
            if not isinstance(sample, Mapping):
                raise TypeError(f"{name} must be a dict or a TimeStep, got {type(sample).__name__}")
        sizes = [_sample_size(sample, name) for sample, name in zip(samples, names, strict=True)]
        obs_space, act_space = env_spec.observation_space, env_spec.action_space
        item_shapes = {
            "observations": (space_shape(obs_space), _OBS_SPACE),
            "actions": (space_shape(act_space), _ACT_SPACE),
            "rewards": ((), "one reward per transition"),
            "next_observations": (space_shape(obs_space), _OBS_SPACE),
            "step_types": ((), "one step type per transition"),
        }
        out: dict[str, Any] = {}
        for key in (f.name for f in fields(cls) if f.name != "env_spec"):
            key_names = [f"{n}[{key!r}]" for n in names]
            if key.endswith("_infos"):
                out[key] = concatenate_nested([s.get(key, {}) for s in samples], key_names)
            else:
                parts = [
                    as_array(require_key(s, key, n), key_name)
                    for s, n, key_name in zip(samples, names, key_names, strict=True)
                ]
                out[key] = concatenate_parts(parts, key_names, sizes, *item_shapes[key])
        return cls(env_spec=env_spec, **out)

    @classmethod
    def from_episode_batch(cls, batch: EpisodeBatch) -> TimeStepBatch:
        """Convert an EpisodeBatch into its transitions.

        ``next_observations`` at an episode's last step is that episode's last observation, and
        each transition's ``episode_infos`` entry is its episode's (repeated per step).
        """
        if not isinstance(batch, EpisodeBatch):
            raise TypeError(f"batch must be an EpisodeBatch, got {type(batch).__name__}")
        return cls(
            env_spec=batch.env_spec,
            episode_infos=map_nested(
                batch.episode_infos, lambda leaf: np.repeat(leaf, batch.lengths, axis=0)
            ),
            observations=batch.observations,
            actions=batch.actions,
            rewards=batch.rewards,
            next_observations=batch.next_observations,
            env_infos=batch.env_infos,
            agent_infos=batch.agent_infos,
            step_types=batch.step_types,
        )


def _as_sample(ts: TimeStep) -> dict[str, Any]:
    """A :class:`TimeStep` as a one-transition dict of :meth:`TimeStepBatch.to_time_step_list`."""

    def batched(leaf: Any) -> npt.NDArray[Any]:
        return np.asarray(leaf)[None]

    return {
        "episode_infos": map_nested(ts.episode_info, batched),
        "observations": batched(ts.observation),
        "actions": batched(ts.action),
        "rewards": np.array([ts.reward]),
        "next_observations": batched(ts.next_observation),
        "env_infos": map_nested(ts.env_info, batched),
        "agent_infos": map_nested(ts.agent_info, batched),
        "step_types": np.array([ts.step_type], dtype=STEP_TYPE_DTYPE),
    }


def _sample_size(sample: Mapping[str, Any], name: str) -> tuple[int, str]:
    """The number of transitions in one sample of :meth:`TimeStepBatch.from_time_step_list`
    (``len(rewards)``) and how messages name it."""
    rewards = as_array(require_key(sample, "rewards", name), f"{name}['rewards']")
    if rewards.ndim != 1:
        raise ValueError(
            f"{name}['rewards'] must be a 1-D array with one reward per transition, got shape "
            f"{rewards.shape}"
        )
    return len(rewards), f"len({name}['rewards'])"
