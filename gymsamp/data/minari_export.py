"""Export rollouts or an :class:`~gymsamp.data.EpisodeBatch` to a `Minari`_ dataset.

Minari is imported only inside these functions (``pip install "minari[hdf5]"``). One gymsamp
rollout becomes one Minari episode of ``T`` steps:

=====================================  ========================================================
Minari episode                         gymsamp
=====================================  ========================================================
``observations`` (T+1)                 ``observations``, the true final observation last
``actions``, ``rewards`` (T)           ``actions``, ``rewards``
``terminations``, ``truncations`` (T)  Gymnasium's ``terminated`` / ``truncated`` flags
``infos[key]`` (T+1 entries each)      see below
episode metadata ``seed``              the reset seed (``rollout_info["seed"]``)
episode metadata ``options``           ``{"domain_param": ..., "init_state": ...}``: the reset
                                       options that start the episode again in a gymsamp env
=====================================  ========================================================

Minari's ``infos`` are per step with the reset included (T+1 entries, entry ``t + 1`` belonging
to step ``t``). gymsamp fills them so:

- every key of the rollout's ``rollout_info`` (``domain_param``, ``init_state``, ``seed``,
  ``rollout_index``, ``env_id``, ...) holds its value repeated T+1 times, so the domain
  parameters are in every episode's infos (``episode.infos["domain_param"]["masspole"]``);
- every per-step field with a final entry (``time``, ``states``) holds its T+1 entries as is;
- every other per-step field (``actions_applied``, ``env_infos``, ``agent_infos``, ...) holds the
  value of step ``t`` at entry ``t + 1`` and zeros at entry 0 (the reset).

Observations of ``Dict`` and ``Tuple`` spaces are stored as Minari stores those spaces (an
``EpisodeBatch`` holds array observations only, so export such data as rollouts). Nested dicts
stay nested; strings are stored as UTF-8 and come back from Minari's HDF5 storage
as ``bytes`` objects. What Minari cannot carry is refused rather than lost: episodes must have
``T + 1`` observations (no shuffled batches), must end in ``terminated`` or ``truncated`` and
start at a reset (no partial rollouts or fragments), tuple fields of infos are stored as dicts
(as by :meth:`~gymsamp.data.EpisodeBatch.from_step_sequences`), and object arrays raise. An
``EpisodeBatch`` not made by gymsamp has no Gymnasium flags; they are then read from its step
types (``TERMINAL`` -> terminated, ``TIMEOUT`` -> truncated), the one case where a step that
was both terminated and truncated cannot be told from a plain termination.

.. _Minari: https://minari.farama.org

Example:
    >>> from gymsamp.sampling import rollout
    >>> ro = rollout("CartPole-v1", lambda obs: (obs[:, 2] > 0).astype(int), seed=0)
    >>> (buffer,) = episode_buffers([ro], EnvSpec.from_env(gym.make("CartPole-v1")))
    >>> len(buffer.observations) == len(buffer.actions) + 1 == ro.length + 1
    True
    >>> bool(buffer.terminations[-1]), buffer.infos["domain_param"]["masspole"][:2].tolist()
    (True, [0.1, 0.1])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from gymsamp.data.conversion import FINAL_INFO, LAST_ENTRIES, episodes_of
from gymsamp.data.episode_batch import EpisodeBatch
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step_sequence import StepSequence
from gymsamp.data.step_type import StepType

__all__ = ["episode_buffers", "export_to_minari"]

_FLAGS = ("terminated", "truncated")
# Keys of rollout_info that are the reset options of a gymsamp env (DESIGN §6).
_RESET_OPTIONS = ("domain_param", "init_state")


class _Episodes(NamedTuple):
    """What the buffers are made of: a batch, and each episode's observations where the batch
    cannot hold them (Dict / Tuple observation spaces; else None)."""

    batch: EpisodeBatch
    nested_observations: list[Any] | None


def _without_observations(episode: StepSequence) -> StepSequence:
    """``episode`` with zero-width observations: the batch then carries everything else of a
    rollout whose observations are a dict or tuple (an EpisodeBatch holds arrays only)."""
    core = ("rewards", "observations", "actions")
    fields = {n: episode.get_data_values(n) for n in episode.data_names if n not in core}
    return StepSequence(
        rewards=episode.rewards,
        observations=np.zeros((episode.length + 1, 0)),
        actions=episode.actions,
        terminated=episode.terminated,
        truncated=episode.truncated,
        rollout_info=episode.rollout_info,
        **fields,
    )


def _episodes(
    data: EpisodeBatch | StepSequence | Sequence[StepSequence], env_spec: EnvSpec | None
) -> _Episodes:
    if isinstance(data, EpisodeBatch):
        return _Episodes(data, None)
    rollouts = [data] if isinstance(data, StepSequence) else list(data)
    if env_spec is None:
        raise ValueError(
            "env_spec must be given to export rollouts (or pass env), got None; an "
            "EpisodeBatch carries its own"
        )
    if rollouts and isinstance(rollouts[0].observations, (dict, tuple)):
        episodes = episodes_of(rollouts)
        placeholder = EnvSpec(gym.spaces.Box(0.0, 0.0, (0,)), env_spec.action_space)
        batch = EpisodeBatch.from_step_sequences(
            [_without_observations(ep) for ep in episodes], placeholder
        )
        return _Episodes(batch, [ep.observations for ep in episodes])
    # Refuses shuffled batches and data without T+1 observations (ValueError).
    return _Episodes(EpisodeBatch.from_step_sequences(rollouts, env_spec), None)


def _storable(array: np.ndarray, where: str) -> Any:
    """A leaf Minari's HDF5 storage can hold: a numeric/bool array or a list of str."""
    if array.dtype.kind in "US" and array.ndim == 1:
        return [str(v) for v in array]
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{where} must hold numbers, booleans or single strings to be stored by Minari, "
            f"got an array of dtype {array.dtype} and shape {array.shape}"
        )
    return array


def _map(value: Any, fn: Callable[[np.ndarray, str], Any], where: str) -> Any:
    """Apply ``fn(leaf, where)`` to every leaf of a nested dict."""
    if isinstance(value, Mapping):
        return {str(k): _map(v, fn, f"{where}[{k!r}]") for k, v in value.items()}
    return fn(np.asarray(value), where)


def _flags(batch: EpisodeBatch) -> tuple[np.ndarray, np.ndarray]:
    if all(f in batch.env_infos for f in _FLAGS):
        return (
            np.asarray(batch.env_infos["terminated"], dtype=bool),
            np.asarray(batch.env_infos["truncated"], dtype=bool),
        )
    return batch.step_types == StepType.TERMINAL, batch.step_types == StepType.TIMEOUT


def _episode_infos(
    info: Mapping[str, Any],
    step_fields: Mapping[str, Any],
    finals: Mapping[str, Any],
    steps: slice,
    index: int,
) -> dict[str, Any]:
    """The T+1-entry Minari infos of one episode (layout in the module docstring)."""
    clash = sorted(set(info) & set(step_fields))
    if clash:
        raise ValueError(
            f"infos keys must be unique, got {clash} both in rollout_info and as per-step fields"
        )
    count = steps.stop - steps.start + 1

    def repeat(leaf: np.ndarray, where: str) -> Any:
        return _storable(np.repeat(leaf[None], count, axis=0), where)

    def shift(leaf: np.ndarray, where: str) -> Any:
        part = leaf[steps]
        return _storable(np.concatenate([np.zeros_like(part[:1]), part]), where)

    infos: dict[str, Any] = {
        key: _map(value, repeat, f"rollout_info[{key!r}]") for key, value in info.items()
    }
    for name, field in step_fields.items():
        if name in finals:
            infos[name] = _with_final(field, finals[name], steps, index, name)
        else:
            infos[name] = _map(field, shift, name)
    return infos


def _with_final(field: Any, finals: Any, steps: slice, index: int, where: str) -> Any:
    """The T step entries of a field plus the episode's final entry, leaf by leaf."""
    if isinstance(field, Mapping):
        return {
            str(k): _with_final(field[k], finals[k], steps, index, f"{where}[{k!r}]") for k in field
        }
    parts = [np.asarray(field)[steps], np.asarray(finals)[index : index + 1]]
    return _storable(np.concatenate(parts), where)


def episode_buffers(
    data: EpisodeBatch | StepSequence | Sequence[StepSequence],
    env_spec: EnvSpec | None = None,
) -> list[Any]:
    """Minari ``EpisodeBuffer`` objects, one per episode (the module docstring gives the layout).

    Use this to append to an existing dataset with
    ``dataset.update_dataset_from_buffer(buffers)``; :func:`export_to_minari` creates a new one.

    Args:
        data: An :class:`EpisodeBatch`, a :class:`StepSequence` (each of its rollouts is an
            episode) or a list of them.
        env_spec: The env's spec; needed for rollouts, ignored for an ``EpisodeBatch``.

    Returns:
        A list of ``minari.data_collector.EpisodeBuffer``.

    Raises:
        ValueError: If a rollout lacks its final observation (e.g. a shuffled batch), an
            episode ends in neither ``terminated`` nor ``truncated``, an infos key is used twice
            or a value cannot be stored by Minari.

    Example:
        >>> from gymnasium.spaces import Box, Discrete
        >>> ro = StepSequence(rewards=[1.0, 1.0], observations=[[0.0], [1.0], [2.0]],
        ...                   actions=[0, 1], terminated=[False, True], truncated=[False, False],
        ...                   rollout_info={"domain_param": {"mass": 2.0}})
        >>> (buffer,) = episode_buffers([ro], EnvSpec(Box(-5, 5, (1,)), Discrete(2)))
        >>> buffer.observations[:, 0].tolist(), buffer.terminations.tolist()
        ([0.0, 1.0, 2.0], [False, True])
        >>> buffer.infos["domain_param"]["mass"].tolist(), list(buffer.options)
        ([2.0, 2.0, 2.0], ['domain_param'])
    """
    return _buffers(_episodes(data, env_spec))


def _buffers(episodes: _Episodes) -> list[Any]:
    from minari.data_collector import EpisodeBuffer

    batch, nested_observations = episodes
    terminated, truncated = _flags(batch)
    per_episode = batch.episode_infos_by_episode
    finals = batch.episode_infos.get(LAST_ENTRIES, {})
    step_fields = {k: v for k, v in batch.env_infos.items() if k not in _FLAGS}
    step_fields.update(batch.agent_infos)
    buffers = []
    ends = np.cumsum(batch.lengths)
    for i, (start, stop) in enumerate(zip(ends - batch.lengths, ends, strict=True)):
        if not (terminated[stop - 1] or truncated[stop - 1]):
            raise ValueError(
                f"episode {i} must end with terminated or truncated (a Minari episode keeps "
                "its ending), got a last step with neither: a partial rollout"
            )
        if batch.step_types[start] == StepType.MID:
            raise ValueError(
                f"episode {i} must start at its reset (a Minari episode begins with the "
                "reset's observation), got a first step of type MID: a fragment continuing "
                "an episode (e.g. a slice of a rollout that starts mid-way)"
            )
        steps = slice(int(start), int(stop))
        info = {
            k: v
            for k, v in per_episode[i].items()
            if k != LAST_ENTRIES and not (k == FINAL_INFO and v is None)  # had no final info
        }
        options = {k: info[k] for k in _RESET_OPTIONS if k in info}
        seed = info.get("seed")
        buffers.append(
            EpisodeBuffer(
                seed=None if seed is None else int(seed),
                options=options or None,
                observations=(
                    np.concatenate([batch.observations[steps], batch.last_observations[i : i + 1]])
                    if nested_observations is None
                    else nested_observations[i]
                ),
                actions=batch.actions[steps],
                rewards=batch.rewards[steps],
                terminations=terminated[steps].copy(),
                truncations=truncated[steps].copy(),
                infos=_episode_infos(info, step_fields, finals, steps, i),
            )
        )
    return buffers


def export_to_minari(
    data: EpisodeBatch | StepSequence | Sequence[StepSequence],
    dataset_id: str,
    env_spec: EnvSpec | None = None,
    *,
    env: str | gym.Env[Any, Any] | None = None,
    **minari_kwargs: Any,
) -> Any:
    """Write rollouts or an episode batch as a new local Minari dataset.

    The dataset is created under ``MINARI_DATASETS_PATH`` (Minari's default: ``~/.minari``)
    with ``minari.create_dataset_from_buffers``; read it back with
    ``minari.load_dataset(dataset_id)``. The episode layout is in the module docstring.

    Args:
        data: An :class:`EpisodeBatch`, a :class:`StepSequence` (each of its rollouts is an
            episode) or a list of them.
        dataset_id: Minari's ``(namespace/)(env_name/)dataset_name-v(version)``.
        env_spec: The spec of the env the data came from; read from ``env`` when None (an
            ``EpisodeBatch`` brings its own).
        env: The env id or instance the data came from, recorded in the dataset so that
            ``dataset.recover_environment()`` works; None records only the spaces.
        **minari_kwargs: Passed on to ``minari.create_dataset_from_buffers`` (``author``,
            ``author_email``, ``algorithm_name``, ``code_permalink``, ``description``,
            ``eval_env``, ``data_format``, ...; Minari warns about the ones left out).

    Returns:
        The new ``minari.MinariDataset``.

    Raises:
        ValueError: As :func:`episode_buffers`, and if the dataset id exists already.

    Example:
        >>> import os, tempfile, warnings
        >>> from unittest import mock
        >>> import minari
        >>> from gymsamp.sampling import rollout
        >>> ro = rollout("CartPole-v1", lambda obs: (obs[:, 2] > 0).astype(int), seed=0)
        >>> with (tempfile.TemporaryDirectory() as root,
        ...       mock.patch.dict(os.environ, MINARI_DATASETS_PATH=root),
        ...       warnings.catch_warnings()):
        ...     warnings.simplefilter("ignore")  # Minari's reminders to name an author etc.
        ...     _ = export_to_minari([ro], "cartpole/tilt-v0", env="CartPole-v1")
        ...     episode = minari.load_dataset("cartpole/tilt-v0")[0]
        >>> bool((episode.observations == ro.observations).all()), len(episode.actions)
        (True, 50)
    """
    import minari

    if env_spec is None and not isinstance(data, EpisodeBatch) and env is not None:
        probe = gym.make(env) if isinstance(env, str) else env
        env_spec = EnvSpec.from_env(probe)
        if isinstance(env, str):
            probe.close()
    episodes = _episodes(data, env_spec)
    # Nested observations: the given spec's space (the batch holds a placeholder).
    nested = episodes.nested_observations is not None and env_spec is not None
    spec = env_spec if nested and env_spec is not None else episodes.batch.env_spec
    return minari.create_dataset_from_buffers(
        dataset_id,
        _buffers(episodes),
        env=env,
        observation_space=spec.observation_space,
        action_space=spec.action_space,
        **minari_kwargs,
    )
