"""Lossless conversion between lists of :class:`StepSequence` and an :class:`EpisodeBatch`.

Mapping (one rollout = one episode):

- ``observations[:T]`` -> ``observations``, ``observations[T]`` -> ``last_observations``;
  ``actions``, ``rewards`` and the step types map one to one.
- Gymnasium's flags go to ``env_infos["terminated"]`` / ``env_infos["truncated"]``: step types
  alone cannot tell a step that was both terminated and truncated from a plain termination.
- Every other per-step field goes to ``agent_infos`` if its name is in ``agent_info_names``,
  else to ``env_infos``. Fields with T+1 entries also keep their final entry, in
  ``episode_infos["last_entries"][name]``. Tuple fields become dicts (NamedTuple field names,
  or ``"0"``, ``"1"``, ... for plain tuples), the one place the conversion changes a type.
- ``rollout_info`` dicts go into ``episode_infos`` key by key, so that batches of the same
  sampler and env have the same keys whatever their episodes did: a key's values are stacked
  where they share keys and shapes, else kept as a 1-D object array of each episode's value;
  ``final_info`` (the last step's info, which only some episodes have) is always there, as
  such an object array, None where an episode has none. Infos whose keys differ otherwise, and infos
  that are not dicts, are stored as ``episode_infos["rollout_info"]``, stacked where they can
  be, else as an object array of each episode's info whole (:mod:`gymsamp.data.io` saves
  object arrays without pickle).
  Stacking keeps values, not their Python types: on the way back, bool, int64, float64 and
  str entries become Python ``bool`` / ``int`` / ``float`` / ``str`` (so a numpy ``int64`` or
  ``float64`` also comes back as a Python number), other numpy scalars (e.g. ``float32``) stay
  numpy scalars, and lists and tuples come back as arrays (tuples as dicts, as fields do).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gymsamp.data._tree import tree_map
from gymsamp.data.data_format import to_format
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step_sequence import StepSequence
from gymsamp.data.step_type import StepType

if TYPE_CHECKING:
    from gymsamp.data.episode_batch import EpisodeBatch

LAST_ENTRIES = "last_entries"
RAW_INFO = "rollout_info"
#: The ``rollout_info`` key of the last step's info, which only some episodes have.
FINAL_INFO = "final_info"
_FLAGS = ("terminated", "truncated")
_CORE = ("observations", "actions", "rewards")


def _numpy(field: Any) -> Any:
    """Numpy leaves, with tuples turned into dicts (EpisodeBatch infos are dicts of arrays)."""
    if isinstance(field, dict):
        return {key: _numpy(value) for key, value in field.items()}
    if isinstance(field, tuple):
        names = field._fields if hasattr(field, "_fields") else map(str, range(len(field)))
        return {name: _numpy(value) for name, value in zip(names, field, strict=True)}
    return np.asarray(to_format(field, "numpy"))


def _combine(items: list[Any], how: str, where: str) -> Any:
    from gymsamp.data._shapes import concatenate_nested, stack_nested

    # The nested helpers take dicts: each item goes under the key ``where``, so their messages
    # read "episode 1['rollout_info'] has keys ...", naming only what the caller passed.
    wrapped = [{where: item} for item in items]
    names = [f"episode {i}" for i in range(len(items))]
    combine = concatenate_nested if how == "concatenate" else stack_nested
    return combine(wrapped, names)[where]


# The dtypes Python's own scalars stack to: their entries are restored as Python scalars.
_PYTHON_SCALAR_DTYPES = frozenset(np.dtype(t) for t in (bool, np.int64, np.float64))


def _objects(infos: list[Any]) -> np.ndarray:
    """One object per episode, each its own deep copy (the infos as they are)."""
    objects = np.empty(len(infos), dtype=object)
    for i, info in enumerate(infos):
        objects[i] = copy.deepcopy(info)
    return objects


def _stacked_or_objects(values: list[Any], where: str) -> np.ndarray | dict[str, Any]:
    try:
        return _combine([_numpy(value) for value in values], "stack", where)
    except ValueError:  # keys or shapes differ
        return _objects(values)


def _by_key(infos: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, Any]:
    """``episode_infos`` entries of ``keys`` from one dict per episode: ``final_info`` one object
    per episode (None where an episode has none), any other key stacked where its values share
    keys and shapes, else one object per episode."""
    return {
        key: (
            _objects([info.get(key) for info in infos])
            if key == FINAL_INFO
            else _stacked_or_objects([info[key] for info in infos], key)
        )
        for key in keys
    }


def _episode_infos(infos: list[Any]) -> dict[str, Any]:
    """The ``episode_infos`` of the episodes' ``rollout_info`` (layout in the module doc)."""
    if all(info is None for info in infos):
        return {}
    if all(isinstance(info, dict) for info in infos):
        keys = {key: None for info in infos for key in info}  # first seen first
        keys[FINAL_INFO] = None  # in every such batch, so that batches concatenate
        shared = [key for key in keys if key != FINAL_INFO]
        if all(info.keys() - {FINAL_INFO} == set(shared) for info in infos):
            return _by_key(infos, keys)
    return {RAW_INFO: _stacked_or_objects(infos, RAW_INFO)}


def stack_episode_infos(infos: Sequence[Any], names: Sequence[str]) -> dict[str, Any]:
    """A batch's ``episode_infos`` from one dict per episode (each value of one episode), laid
    out as :meth:`EpisodeBatch.from_step_sequences` lays out rollout infos, so that
    ``EpisodeBatch.from_list(spec, batch.to_list())`` gives ``batch``'s back.

    Raises:
        TypeError: If an entry is not a dict.
        ValueError: If the dicts' keys differ (named by ``names``).
    """
    from gymsamp.data._shapes import check_same_keys

    check_same_keys(infos, names)
    return _by_key(infos, infos[0])


def _info_entry(leaf: np.ndarray, episode: int) -> Any:
    """One episode's entry of a stacked ``rollout_info`` leaf.

    Python scalars stack to bool, int64, float64 and str (or bytes) arrays; their entries come
    back as Python scalars, as the samplers store them. Other dtypes (e.g. float32) can only
    come from numpy values and stay numpy; non-scalar entries stay arrays.
    """
    value = leaf[episode]
    if leaf.dtype == object:  # kept whole: a copy, so batch and rollouts never share it
        return copy.deepcopy(value)
    if isinstance(value, np.generic) and (
        value.dtype in _PYTHON_SCALAR_DTYPES or value.dtype.kind in "US"
    ):
        return value.item()
    return value


def episodes_of(rollouts: Iterable[StepSequence] | StepSequence) -> list[StepSequence]:
    """Each rollout of each sequence (or of one sequence) as its own StepSequence; refuses
    batches without T+1 observations (shuffled or flattened ones)."""
    if isinstance(rollouts, StepSequence):
        rollouts = [rollouts]
    elif not isinstance(rollouts, Iterable) or isinstance(rollouts, (str, bytes, dict)):
        raise TypeError(
            f"rollouts must be StepSequences (a list of them, or one), got "
            f"{type(rollouts).__name__}"
        )
    episodes: list[StepSequence] = []
    for i, ro in enumerate(rollouts):
        if not isinstance(ro, StepSequence):
            raise TypeError(f"rollouts[{i}] must be a StepSequence, got {type(ro).__name__}")
        if not ro.continuous or "observations" not in ro._after_last:
            raise ValueError(
                f"rollouts[{i}] must be continuous with T+1 observations (an EpisodeBatch keeps "
                "each episode's final observation), got a batch without them"
            )
        _check_finals_known(ro, i)
        episodes.extend(ro.iterate_rollouts() if ro.rollout_count > 1 else [ro])
    if not episodes:
        raise ValueError("rollouts must contain at least one StepSequence, got none")
    return episodes


def _check_finals_known(ro: StepSequence, i: int) -> None:
    """Refuse ``ro`` if a rollout's final entry of a T+1 field is unknown (several rollouts
    given flat), with the error the sequence itself gives, rather than drop it."""
    for name in sorted(ro._after_last):
        if ro._final_entries(name) is None:
            try:
                for rollout in range(ro.rollout_count):
                    ro._final_entry(name, rollout)
            except ValueError as err:
                raise ValueError(f"rollouts[{i}] cannot be converted: {err}") from err


def step_sequences_to_episode_batch(
    rollouts: Iterable[StepSequence] | StepSequence,
    env_spec: EnvSpec,
    agent_info_names: Sequence[str] = (),
) -> EpisodeBatch:
    """See :meth:`EpisodeBatch.from_step_sequences`."""
    from gymsamp.data.episode_batch import EpisodeBatch

    episodes = episodes_of(rollouts)
    names = list(episodes[0].data_names)
    for i, ep in enumerate(episodes[1:], start=1):
        # Same fields in any order, as for StepSequence.concat: rollouts that went through
        # to_step_sequences list their agent infos last.
        if set(ep.data_names) != set(names):
            raise ValueError(
                f"episode {i} has the fields {sorted(ep.data_names)} but must have "
                f"{sorted(names)} to match episode 0"
            )
    clash = set(names) & set(_FLAGS)
    if clash:
        raise ValueError(f"field names must not be {sorted(clash)}: they hold the end flags")
    observations = episodes[0].observations
    if isinstance(observations, (dict, tuple)):
        raise TypeError(
            "observations must be one array per step for an EpisodeBatch (garage's format), got "
            f"a {type(observations).__name__} field (a Dict or Tuple observation space); wrap "
            "the env in gymnasium.wrappers.FlattenObservation to store it flat"
        )

    def per_step(name: str) -> Any:
        return _combine(
            [_numpy(ep.get_data_values(name, truncate_last=True)) for ep in episodes],
            "concatenate",
            name,
        )

    extras = [n for n in names if n not in _CORE]
    env_infos = {n: per_step(n) for n in extras if n not in agent_info_names}
    env_infos.update({f: np.concatenate([getattr(ep, f) for ep in episodes]) for f in _FLAGS})
    agent_infos = {n: per_step(n) for n in extras if n in agent_info_names}

    episode_infos = _episode_infos([ep.rollout_info for ep in episodes])
    if LAST_ENTRIES in episode_infos:
        raise ValueError(f"rollout_info must not use the key {LAST_ENTRIES!r}, which is reserved")
    finals = [n for n in extras if n in episodes[0]._after_last]
    if finals:
        episode_infos[LAST_ENTRIES] = {
            n: _combine([_numpy(ep._final_entry(n, 0)) for ep in episodes], "stack", n)
            for n in finals
        }
    return EpisodeBatch(
        env_spec=env_spec,
        episode_infos=episode_infos,
        observations=per_step("observations"),
        last_observations=np.stack(
            [np.asarray(to_format(ep._final_entry("observations", 0), "numpy")) for ep in episodes]
        ),
        actions=per_step("actions"),
        rewards=per_step("rewards"),
        env_infos=env_infos,
        agent_infos=agent_infos,
        step_types=np.concatenate([ep.step_types for ep in episodes]),
        lengths=np.array([ep.length for ep in episodes], dtype=np.int64),
    )


def episode_batch_to_step_sequences(batch: EpisodeBatch) -> list[StepSequence]:
    """See :meth:`EpisodeBatch.to_step_sequences`."""
    from gymsamp.data._shapes import episode_slices

    env_infos = dict(batch.env_infos)
    flags = {f: env_infos.pop(f) for f in _FLAGS if f in env_infos}
    if len(flags) < len(_FLAGS):  # a batch not made by gymsamp: read the step types
        flags = {
            "terminated": batch.step_types == StepType.TERMINAL,
            "truncated": batch.step_types == StepType.TIMEOUT,
        }
    episode_infos = dict(batch.episode_infos)
    last_entries = episode_infos.pop(LAST_ENTRIES, {})
    raw_info = episode_infos.pop(RAW_INFO, None)
    fields = {**env_infos, **batch.agent_infos}
    rollouts = []
    for i, steps in enumerate(episode_slices(batch.lengths)):
        data = {name: tree_map(lambda leaf, s=steps: leaf[s], v) for name, v in fields.items()}
        for name, last in last_entries.items():
            data[name] = tree_map(
                lambda leaf, final, s=steps, k=i: np.concatenate([leaf[s], final[k : k + 1]]),
                fields[name],
                last,
            )
        if raw_info is not None:
            info: Any = _info_entry(raw_info, i)
        elif episode_infos:
            info = tree_map(lambda leaf, k=i: _info_entry(leaf, k), episode_infos)
            if info.get(FINAL_INFO, True) is None:  # this episode had none
                del info[FINAL_INFO]
        else:
            info = None
        rollouts.append(
            StepSequence(
                rewards=batch.rewards[steps],
                observations=np.concatenate(
                    [batch.observations[steps], batch.last_observations[i : i + 1]]
                ),
                actions=batch.actions[steps],
                terminated=flags["terminated"][steps],
                truncated=flags["truncated"][steps],
                rollout_info=info,
                **data,
            )
        )
    return rollouts
