"""Batches of whole episodes: :class:`EpisodeBatch` (garage's on-policy data type)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gymsamp.data._shapes import (
    PAD_STEP_TYPE,
    InfoDict,
    as_array,
    as_batch_array,
    as_batch_step_types,
    as_info_dict,
    as_lengths,
    as_records,
    check_batch_dim,
    check_env_spec,
    check_episode_step_types,
    check_item_shape,
    check_real,
    concatenate_nested,
    concatenate_parts,
    concatenated_fields,
    episode_slices,
    map_nested,
    numeric_space,
    pad_batch_array,
    require_key,
    slice_nested,
    space_shape,
    valid_mask,
)
from gymsamp.data._tuple_like import TupleLike
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step_sequence import StepSequence

__all__ = ["PAD_STEP_TYPE", "EpisodeBatch"]

_OBS_SPACE = "env_spec.observation_space"
_ACT_SPACE = "env_spec.action_space"
_PER_STEP = "the sum of lengths"
_PER_EPISODE = "the number of episodes (len(lengths))"


@dataclass(frozen=True, eq=False)
class EpisodeBatch(TupleLike):
    """A batch of whole episodes, flattened along time (garage's ``EpisodeBatch``).

    Shapes use the symbols of :mod:`gymsamp.data._shapes`: ``N`` episodes of ``[T]`` steps each,
    flattened into ``N•[T] = sum(lengths)`` rows; ``O^*`` / ``A^*`` are the item shapes of the
    observation and action spaces. Time alignment follows DESIGN §3: ``rewards[t]`` and
    ``step_types[t]`` result from taking ``actions[t]`` in ``observations[t]``, and the
    observation after an episode's last action is that episode's ``last_observations`` entry.

    The batch is frozen (fields cannot be reassigned; ``dataclasses.replace`` builds a validated
    copy) but the arrays are not copied, so do not mutate them. ``==`` is identity, since
    element-wise array comparison has no single truth value; compare fields instead.

    Args:
        env_spec: Specification of the environment the data was sampled from.
        episode_infos: Nested dict of arrays of shape ``(N, S^*)``: one entry per episode (e.g.
            ``{"domain_param": {"mass": array}}``). May be empty.
        observations: Array ``(N•[T], O^*)``; ``observations[t]`` was used to choose
            ``actions[t]``.
        last_observations: Array ``(N, O^*)``: each episode's final observation (there is one
            more observation than actions per episode).
        actions: Array ``(N•[T], A^*)``.
        rewards: Array ``(N•[T],)``.
        env_infos: Nested dict of arrays ``(N•[T], S^*)`` of environment information.
        agent_infos: Nested dict of arrays ``(N•[T], S^*)`` of agent information (e.g. RNN
            hidden states).
        step_types: ``(N•[T],)`` :class:`~gymsamp.data.step_type.StepType` values; stored as
            ``int8`` (``STEP_TYPE_DTYPE``); object arrays of ``StepType`` are converted. They
            must fit ``lengths`` (garage's meaning, DESIGN §3): ``FIRST`` only at an
            episode's first step, ``TERMINAL`` / ``TIMEOUT`` only at its last (a one-step
            episode that ends has no ``FIRST``). Episodes may be fragments, as garage's
            ``FragmentWorker`` collects them: a last step that is ``MID`` (or a one-step
            episode's ``FIRST``) was cut before the episode's end, a first step that is
            ``MID`` continues an episode begun in an earlier fragment.
        lengths: Integer array ``(N,)`` of episode lengths, each >= 1; at least one episode.

    Raises:
        ValueError: If an array's batch dimension or item shape does not match (messages read
            "X has P but must have Q to match R"), a value is out of range, or the step types
            do not fit the episodes.
        TypeError: If a field has the wrong type.

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Box, Discrete
        >>> from gymsamp.data.spec import EnvSpec
        >>> from gymsamp.data.step_type import StepType
        >>> spec = EnvSpec(Box(-20.0, 20.0, (2,)), Discrete(3))
        >>> batch = EpisodeBatch(
        ...     env_spec=spec,
        ...     episode_infos={"seed": np.array([7, 8])},
        ...     observations=np.arange(10.0).reshape(5, 2),
        ...     last_observations=np.array([[10.0, 11.0], [12.0, 13.0]]),
        ...     actions=np.array([0, 1, 2, 0, 1]),
        ...     rewards=np.ones(5),
        ...     env_infos={},
        ...     agent_infos={},
        ...     step_types=[StepType.FIRST, StepType.MID, StepType.TERMINAL,
        ...                 StepType.FIRST, StepType.TIMEOUT],
        ...     lengths=np.array([3, 2]),
        ... )
        >>> batch.next_observations[:, 0]
        array([ 2.,  4., 10.,  8., 12.])
        >>> batch.padded_step_types
        array([[ 0,  1,  2],
               [ 0,  3, -1]], dtype=int8)
        >>> batch.valids
        array([[ True,  True,  True],
               [ True,  True, False]])
        >>> [int(ep["episode_infos"]["seed"]) for ep in batch.to_list()]
        [7, 8]
        >>> [len(ep.rewards) for ep in batch.split()]
        [3, 2]
    """

    env_spec: EnvSpec
    episode_infos: InfoDict
    observations: npt.NDArray[Any]
    last_observations: npt.NDArray[Any]
    actions: npt.NDArray[Any]
    rewards: npt.NDArray[Any]
    env_infos: InfoDict
    agent_infos: InfoDict
    step_types: npt.NDArray[np.int8]
    lengths: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        check_env_spec(self.env_spec)
        lengths = as_lengths(self.lengths)
        n_episodes, n_steps = len(lengths), int(lengths.sum())
        obs_shape = space_shape(self.env_spec.observation_space)
        act_shape = space_shape(self.env_spec.action_space)
        obs_real = numeric_space(self.env_spec.observation_space)
        fields: dict[str, Any] = {
            "lengths": lengths,
            "episode_infos": as_info_dict(
                self.episode_infos, "episode_infos", n_episodes, _PER_EPISODE
            ),
            "observations": as_batch_array(
                self.observations,
                "observations",
                n_steps,
                _PER_STEP,
                obs_shape,
                _OBS_SPACE,
                real=obs_real,
            ),
            "last_observations": as_batch_array(
                self.last_observations,
                "last_observations",
                n_episodes,
                _PER_EPISODE,
                obs_shape,
                _OBS_SPACE,
                real=obs_real,
            ),
            "actions": as_batch_array(
                self.actions,
                "actions",
                n_steps,
                _PER_STEP,
                act_shape,
                _ACT_SPACE,
                real=numeric_space(self.env_spec.action_space),
            ),
            "rewards": as_batch_array(
                self.rewards,
                "rewards",
                n_steps,
                _PER_STEP,
                (),
                "one scalar reward per step",
            ),
            "env_infos": as_info_dict(self.env_infos, "env_infos", n_steps, _PER_STEP),
            "agent_infos": as_info_dict(self.agent_infos, "agent_infos", n_steps, _PER_STEP),
            "step_types": as_batch_step_types(self.step_types, n_steps, _PER_STEP),
        }
        check_real(np.asarray(fields["rewards"]), "rewards")
        # Last, so that a wrong batch dimension is reported as such first.
        check_episode_step_types(fields["step_types"], lengths)
        for name, value in fields.items():
            # Frozen dataclass: normalized values are written once, here, and never again.
            object.__setattr__(self, name, value)

    # ----------------------------------------------------------------------------------------
    # Construction from and conversion to other layouts

    @classmethod
    def concatenate(cls, *batches: EpisodeBatch) -> EpisodeBatch:
        """Concatenate EpisodeBatches into one (the opposite of :meth:`split`).

        Args:
            *batches: The batches, in order. The result's ``env_spec`` is the first batch's.

        Returns:
            One batch holding all episodes of all batches.

        Raises:
            ValueError: If no batch is given, the batches' ``env_spec`` differ (the message
                names the first batch that differs), or the info dicts of the batches do not
                have the same keys (the message names the missing and extra keys).
        """
        data = concatenated_fields(batches, cls)  # raises on no batches before [0] is read
        return cls(env_spec=batches[0].env_spec, **data)

    @classmethod
    def from_step_sequences(
        cls,
        rollouts: Sequence[StepSequence] | StepSequence,
        env_spec: EnvSpec,
        *,
        agent_info_names: Iterable[str] = (),
    ) -> EpisodeBatch:
        """Build a batch from rollouts, losslessly (each rollout of each sequence, or of one
        sequence such as a concatenation, is an episode).

        Extra per-step fields go to ``env_infos`` (or ``agent_infos`` if named in
        ``agent_info_names``), Gymnasium's flags to ``env_infos["terminated"]`` /
        ``["truncated"]``, each rollout's ``rollout_info`` to ``episode_infos`` and the final
        entries of T+1 fields to ``episode_infos["last_entries"]``; see
        :mod:`gymsamp.data.conversion`. :meth:`to_step_sequences` restores the rollouts.

        Raises:
            TypeError: If ``agent_info_names`` is a str (not a sequence of names) or no
                iterable, or the rollouts are not StepSequences.
            ValueError: If ``agent_info_names`` names something that is no extra field of the
                rollouts (the message lists those), or the rollouts cannot be converted.
        """
        from gymsamp.data.conversion import step_sequences_to_episode_batch

        return step_sequences_to_episode_batch(rollouts, env_spec, agent_info_names)

    def to_step_sequences(self) -> list[StepSequence]:
        """One :class:`StepSequence` per episode, with T+1 observations (the inverse of
        :meth:`from_step_sequences`; any batch works, flags it lacks then come from the step
        types).

        Raises:
            TypeError: If an ``env_infos`` / ``agent_infos`` key is not a str, or
                ``episode_infos["last_entries"]`` is not a dict.
            ValueError: If such a key cannot name a StepSequence field (not an identifier, or
                reserved such as ``rewards``) or is in both dicts, ``env_infos["terminated"]``
                / ``["truncated"]`` do not give the step types, or ``last_entries`` does not
                fit the fields (rules in :mod:`gymsamp.data.conversion`).
        """
        from gymsamp.data.conversion import episode_batch_to_step_sequences

        return episode_batch_to_step_sequences(self)

    def split(self) -> list[EpisodeBatch]:
        """Split into one-episode EpisodeBatches (the opposite of :meth:`concatenate`)."""
        return [
            type(self)(
                env_spec=self.env_spec,
                episode_infos=slice_nested(self.episode_infos, slice(i, i + 1)),
                observations=self.observations[steps],
                last_observations=self.last_observations[i : i + 1],
                actions=self.actions[steps],
                rewards=self.rewards[steps],
                env_infos=slice_nested(self.env_infos, steps),
                agent_infos=slice_nested(self.agent_infos, steps),
                step_types=self.step_types[steps],
                lengths=self.lengths[i : i + 1],
            )
            for i, steps in enumerate(episode_slices(self.lengths))
        ]

    def to_list(self) -> list[dict[str, Any]]:
        """Convert the batch into one dict per episode (the opposite of :meth:`from_list`).

        Returns:
            One dict per episode with keys:

            * ``episode_infos``: this episode's own infos (one value per key, no batch
              dimension). garage gave every episode the whole batch's infos; gymsamp does not.
            * ``observations``: ``(T, O^*)``; ``observations[t]`` was used to choose
              ``actions[t]``.
            * ``next_observations``: ``(T, O^*)``; observed after taking ``actions[t]``. Its
              last entry is the episode's last observation.
            * ``actions``: ``(T, A^*)``.
            * ``rewards``: ``(T,)``.
            * ``agent_infos``, ``env_infos``: nested dicts of ``(T, S^*)`` arrays.
            * ``step_types``: ``(T,)`` int8 step types.
        """
        next_observations = self.next_observations
        episode_infos = self.episode_infos_by_episode
        return [
            {
                "episode_infos": episode_infos[i],
                "observations": self.observations[steps],
                "next_observations": next_observations[steps],
                "actions": self.actions[steps],
                "rewards": self.rewards[steps],
                "agent_infos": slice_nested(self.agent_infos, steps),
                "env_infos": slice_nested(self.env_infos, steps),
                "step_types": self.step_types[steps],
            }
            for i, steps in enumerate(episode_slices(self.lengths))
        ]

    @classmethod
    def from_list(cls, env_spec: EnvSpec, paths: Iterable[Mapping[str, Any]]) -> EpisodeBatch:
        """Create an EpisodeBatch from one dict per episode (e.g. the output of :meth:`to_list`).

        Each path holds ``observations``, ``actions``, ``rewards`` and ``step_types`` (required)
        and ``next_observations``, ``episode_infos``, ``env_infos``, ``agent_infos`` (optional,
        infos default to empty dicts). The number of steps ``T`` is ``len(rewards)``.

        The last observation is found per path, as leniently as garage's:

        1. ``observations`` of length ``T + 1``: its last entry is the last observation;
        2. else ``observations`` of length ``T`` and ``next_observations`` given: the last
           entry of ``next_observations``;
        3. else the last of ``observations`` is *duplicated*. This silently invents the final
           observation (garage's documented behaviour, kept so that lossy sources still load);
           provide ``T + 1`` observations or ``next_observations`` where the final observation
           matters, e.g. to bootstrap values on TIMEOUT.

        Args:
            env_spec: Specification of the environment the data was sampled from.
            paths: One dict per episode (a list, or any iterable such as a generator); see
                above and :meth:`to_list`. ``episode_infos`` holds
                one value per key (no batch dimension), the same keys in every path; they are
                laid out as :meth:`from_step_sequences` lays out rollout infos: stacked where
                the episodes' values of a key share keys and shapes, else one object per
                episode, and ``final_info`` always one object per episode (so ``to_list`` then
                ``from_list`` gives a batch's ``episode_infos`` back). The other infos are
                stacked along time.

        Returns:
            The batch of all paths.

        Raises:
            TypeError: If ``paths`` is not an iterable of dicts (e.g. a single path's dict).
            ValueError: If ``paths`` is empty, a required key is missing, the observation count
                is neither ``T`` nor ``T + 1``, a path's array does not have ``T`` entries or
                its item shape does not match the space's (or the first path's, where the space
                has no shape; the message names the path), or the result fails
                :class:`EpisodeBatch`'s validation.
        """
        from gymsamp.data.conversion import stack_episode_infos

        check_env_spec(env_spec)
        paths = as_records(paths, "paths", "dicts", "episode")
        names = [f"paths[{i}]" for i in range(len(paths))]
        observations, last_observations = zip(
            *(_path_observations(path, name) for path, name in zip(paths, names, strict=True)),
            strict=True,
        )
        steps = [
            (len(obs), f"len({name}['rewards'])")
            for obs, name in zip(observations, names, strict=True)
        ]

        def arrays(
            key: str, parts: Sequence[Any], item_shape: tuple[int, ...] | None, reference: str
        ) -> npt.NDArray[Any]:
            """The paths' ``key`` arrays concatenated, each checked against the path's length
            and ``item_shape`` (None: the first path's)."""
            key_names = [f"{name}[{key!r}]" for name in names]
            checked = [as_array(part, n) for part, n in zip(parts, key_names, strict=True)]
            return concatenate_parts(checked, key_names, steps, item_shape, reference)

        def required(key: str) -> list[Any]:
            return [require_key(path, key, name) for path, name in zip(paths, names, strict=True)]

        _check_no_dones(paths, names)

        def infos(key: str) -> tuple[list[Any], list[str]]:
            return [p.get(key, {}) for p in paths], [f"{n}[{key!r}]" for n in names]

        obs_shape = space_shape(env_spec.observation_space)
        act_shape = space_shape(env_spec.action_space)
        # Observations first: once their item shapes agree, so do the last observations'.
        observations_all = arrays("observations", observations, obs_shape, _OBS_SPACE)
        return cls(
            env_spec=env_spec,
            episode_infos=stack_episode_infos(*infos("episode_infos")),
            observations=observations_all,
            last_observations=np.stack(last_observations),
            actions=arrays("actions", required("actions"), act_shape, _ACT_SPACE),
            rewards=arrays("rewards", required("rewards"), (), "one scalar reward per step"),
            env_infos=concatenate_nested(*infos("env_infos")),
            agent_infos=concatenate_nested(*infos("agent_infos")),
            step_types=arrays("step_types", required("step_types"), (), "one step type per step"),
            lengths=np.array([len(obs) for obs in observations], dtype=np.int64),
        )

    # ----------------------------------------------------------------------------------------
    # Views

    @property
    def next_observations(self) -> npt.NDArray[Any]:
        """``(N•[T], O^*)`` observations seen after each action.

        Within an episode this is ``observations`` shifted by one; at an episode's last step it
        is that episode's ``last_observations`` entry, never the next episode's first.
        """
        dtype = np.result_type(self.observations, self.last_observations)
        out = np.empty(self.observations.shape, dtype=dtype)
        out[:-1] = self.observations[1:]
        out[np.cumsum(self.lengths) - 1] = self.last_observations
        return out

    @property
    def episode_infos_by_episode(self) -> list[InfoDict]:
        """One dict per episode, each leaf being that episode's entry (no batch dimension)."""
        return [slice_nested(self.episode_infos, i) for i in range(len(self.lengths))]

    @property
    def observations_list(self) -> list[npt.NDArray[Any]]:
        """Per-episode ``(T, O^*)`` observations (without the last observation)."""
        return [self.observations[steps] for steps in episode_slices(self.lengths)]

    @property
    def actions_list(self) -> list[npt.NDArray[Any]]:
        """Per-episode ``(T, A^*)`` actions."""
        return [self.actions[steps] for steps in episode_slices(self.lengths)]

    # ----------------------------------------------------------------------------------------
    # Padded views: (N, L, S^*) with L = env_spec.max_episode_length, or max(lengths) when the
    # spec has no limit. Padded entries hold 0 (-1 for step types); `valids` marks the real ones.

    def _padded_length(self) -> int:
        longest = int(self.lengths.max())
        limit = self.env_spec.max_episode_length
        if limit is None:
            return longest
        if longest > limit:
            raise ValueError(
                f"lengths has maximum {longest} but must have at most {limit} "
                "to match env_spec.max_episode_length"
            )
        return limit

    def _pad(self, array: npt.NDArray[Any], fill: Any = 0) -> npt.NDArray[Any]:
        return pad_batch_array(array, self.lengths, self._padded_length(), fill)

    @property
    def valids(self) -> npt.NDArray[np.bool_]:
        """``(N, L)`` bool mask of the real (not padded) entries of the padded views."""
        return valid_mask(self.lengths, self._padded_length())

    @property
    def padded_observations(self) -> npt.NDArray[Any]:
        """``(N, L, O^*)`` observations, zero-padded."""
        return self._pad(self.observations)

    @property
    def padded_next_observations(self) -> npt.NDArray[Any]:
        """``(N, L, O^*)`` next observations, zero-padded."""
        return self._pad(self.next_observations)

    @property
    def padded_actions(self) -> npt.NDArray[Any]:
        """``(N, L, A^*)`` actions, zero-padded."""
        return self._pad(self.actions)

    @property
    def padded_rewards(self) -> npt.NDArray[Any]:
        """``(N, L)`` rewards, zero-padded."""
        return self._pad(self.rewards)

    @property
    def padded_step_types(self) -> npt.NDArray[np.int8]:
        """``(N, L)`` int8 step types padded with ``PAD_STEP_TYPE`` (-1, not a StepType).

        garage padded with 0, which reads as ``StepType.FIRST``.
        """
        return self._pad(self.step_types, PAD_STEP_TYPE)

    @property
    def padded_agent_infos(self) -> InfoDict:
        """Nested dict of ``(N, L, S^*)`` agent infos, zero-padded."""
        return map_nested(self.agent_infos, self._pad)

    @property
    def padded_env_infos(self) -> InfoDict:
        """Nested dict of ``(N, L, S^*)`` env infos, zero-padded."""
        return map_nested(self.env_infos, self._pad)


def _check_no_dones(paths: Sequence[Mapping[str, Any]], names: Sequence[str]) -> None:
    """Refuse garage's older ``dones`` paths with the way to their step types.

    garage's ``from_list`` turned ``dones`` into ``TERMINAL`` / ``MID``, which reads every
    time limit as a termination; gymsamp asks for ``step_types`` instead.
    """
    for path, name in zip(paths, names, strict=True):
        if "dones" in path and "step_types" not in path:
            raise ValueError(
                f"{name} must have the key 'step_types', got 'dones' instead (garage read them "
                "as TERMINAL / MID, taking every time limit for a termination); build "
                "path['step_types'] = gymsamp.data.step_types_from_flags(terminated, truncated)"
            )


def _path_observations(
    path: Mapping[str, Any], name: str
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """``(observations (T, O^*), last observation (O^*,))`` of one path of
    :meth:`EpisodeBatch.from_list` (``T = len(rewards)``; the cases are listed there)."""
    rewards = as_array(require_key(path, "rewards", name), f"{name}['rewards']")
    n_steps = len(rewards) if rewards.ndim else 0
    if n_steps == 0:
        raise ValueError(f"{name}['rewards'] must hold at least one step, got {rewards}")
    obs = as_array(require_key(path, "observations", name), f"{name}['observations']")
    if obs.ndim and len(obs) == n_steps + 1:
        return obs[:-1], obs[-1]
    if not (obs.ndim and len(obs) == n_steps):
        raise ValueError(
            f"{name}['observations'] has length {len(obs) if obs.ndim else 0} but must "
            f"have {n_steps} or {n_steps + 1} to match len({name}['rewards'])"
        )
    if path.get("next_observations") is None:
        return obs, obs[-1]  # garage's leniency: the last observation is duplicated
    next_name = f"{name}['next_observations']"
    next_obs = as_array(path["next_observations"], next_name)
    check_batch_dim(next_obs, n_steps, next_name, f"len({name}['rewards'])")
    check_item_shape(next_obs.shape[1:], obs.shape[1:], next_name, f"{name}['observations']")
    return obs, next_obs[-1]
