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

The way back (:meth:`EpisodeBatch.to_step_sequences`) reads any batch by the same layout:

- ``env_infos["terminated"]`` / ``["truncated"]`` are the flags; one the batch lacks is read
  from the step types (``TERMINAL`` / ``TIMEOUT``), and together they must give the batch's
  step types (DESIGN §3), else the conversion refuses them. An episode whose first step is
  ``MID`` (a fragment continuing an episode, as garage's ``FragmentWorker`` collects them)
  becomes a rollout whose first step stays ``MID``, as a slice that starts mid-rollout is.
- Every other key of ``env_infos`` and ``agent_infos`` becomes the field of that name, so it
  must be a str that is an identifier not starting with ``_``, not a name ``StepSequence``
  reserves (its constructor's keywords such as ``rewards`` or ``done``, ``step_types``, and
  its attributes such as ``length`` or ``count``), and not in both dicts; anything else is
  refused, naming the key and where it is.
- ``episode_infos["last_entries"]`` must hold final entries of those fields (a dict of them,
  each of its field's structure and item shapes); ``episode_infos["rollout_info"]`` is the
  whole info only where it is the only key (besides ``last_entries``), as gymsamp stores it,
  else one key of the info dict.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gymsamp.data._sequence_construction import FLAG_NAMES
from gymsamp.data._shapes import (
    check_item_shape,
    check_same_keys,
    concatenate_nested,
    episode_slices,
    stack_nested,
)
from gymsamp.data._tree import tree_map, tree_paths
from gymsamp.data.data_format import to_format
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step_sequence import StepSequence
from gymsamp.data.step_type import StepType, as_flags, step_types_of

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
    agent_info_names: Iterable[str] = (),
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
    agent_names = _agent_info_names(agent_info_names, extras)
    env_infos = {n: per_step(n) for n in extras if n not in agent_names}
    # No field takes a flag's name here: StepSequence reserves them (FLAG_NAMES).
    env_infos.update({f: np.concatenate([getattr(ep, f) for ep in episodes]) for f in _FLAGS})
    agent_infos = {n: per_step(n) for n in extras if n in agent_names}

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


def _agent_info_names(agent_info_names: Iterable[str], extras: list[str]) -> set[str]:
    """``agent_info_names`` as a set, checked to name only fields in ``extras``."""
    if isinstance(agent_info_names, (str, bytes)):
        # "hidden, values" would otherwise be matched by substring.
        raise TypeError(
            "agent_info_names must be a sequence of field names, not a str, got "
            f"{agent_info_names!r}"
        )
    if not isinstance(agent_info_names, Iterable):
        raise TypeError(
            "agent_info_names must be a sequence of field names, got "
            f"{type(agent_info_names).__name__}"
        )
    names = list(agent_info_names)
    unknown = [name for name in names if name not in extras]
    if unknown:
        raise ValueError(
            f"agent_info_names has {unknown} but must name only fields of the rollouts besides "
            f"observations, actions and rewards: {extras}"
        )
    return set(names)


def episode_batch_to_step_sequences(batch: EpisodeBatch) -> list[StepSequence]:
    """See :meth:`EpisodeBatch.to_step_sequences`."""
    _check_field_names(batch.env_infos, batch.agent_infos)
    env_infos = dict(batch.env_infos)
    flags = _end_flags(batch, {f: env_infos.pop(f) for f in _FLAGS if f in env_infos})
    fields = {**env_infos, **batch.agent_infos}
    episode_infos = dict(batch.episode_infos)
    last_entries = episode_infos.pop(LAST_ENTRIES, {})
    _check_last_entries(last_entries, batch.env_infos, batch.agent_infos)
    # gymsamp stores infos it keeps whole as the only key; next to others it is one of them.
    raw_info = episode_infos.pop(RAW_INFO) if list(episode_infos) == [RAW_INFO] else None
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
        rollout = StepSequence(
            rewards=batch.rewards[steps],
            observations=np.concatenate(
                [batch.observations[steps], batch.last_observations[i : i + 1]]
            ),
            actions=batch.actions[steps],
            terminated=flags[0][steps],
            truncated=flags[1][steps],
            rollout_info=info,
            **data,
        )
        if batch.step_types[steps.start] == StepType.MID:
            # A fragment that continues an episode: its first step keeps its type (MID), as
            # a slice of a rollout that starts mid-way does (the bounds would make it FIRST).
            rollout._gathered_types = batch.step_types[steps].copy()
        rollouts.append(rollout)
    return rollouts


# Names a StepSequence field cannot take: its constructor's keywords, the flag names and its
# attributes.
_RESERVED = frozenset(
    {
        name
        for name, param in inspect.signature(StepSequence.__init__).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }
    | set(FLAG_NAMES)
    # Attributes: a field of such a name would be hidden by them (ro.length, ro.count).
    | {name for name in dir(StepSequence) if not name.startswith("_")}
)


def _check_field_names(env_infos: Mapping[Any, Any], agent_infos: Mapping[Any, Any]) -> None:
    """Check that every env / agent info key can become a StepSequence field (``env_infos``'
    ``terminated`` and ``truncated`` become the flags) and that no key is in both."""
    for where, infos, flags in (("env_infos", env_infos, _FLAGS), ("agent_infos", agent_infos, ())):
        for key in infos:
            if not isinstance(key, str):
                raise TypeError(
                    f"{where} key {key!r} must be a str to become a StepSequence field, got "
                    f"{type(key).__name__}"
                )
            if not key.isidentifier() or key.startswith("_"):
                raise ValueError(
                    f"{where} key {key!r} must be an identifier not starting with '_' to become "
                    "a StepSequence field; rename it"
                )
            if key in _RESERVED and key not in flags:
                raise ValueError(
                    f"{where} key {key!r} must not be a name StepSequence reserves "
                    f"{sorted(_RESERVED)}; rename it"
                )
    both = [key for key in env_infos if key in agent_infos]
    if both:
        raise ValueError(
            f"env_infos and agent_infos both have the key {both[0]!r} but a StepSequence has one "
            "field per name; rename one of them"
        )


def _end_flags(batch: EpisodeBatch, given: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(terminated, truncated)`` of every step: ``env_infos``' flags (gymsamp's batches keep
    them, as step types alone cannot tell a step both terminated and truncated), each read from
    the step types where the batch has none; the flags must give the batch's step types."""
    derived = {
        "terminated": batch.step_types == StepType.TERMINAL,
        "truncated": batch.step_types == StepType.TIMEOUT,
    }
    for name, value in given.items():
        flags = as_flags(f"env_infos[{name!r}]", value)
        if flags.ndim != 1:
            raise ValueError(
                f"env_infos[{name!r}] must be 1-D flags (one per step), got shape {flags.shape}"
            )
        derived[name] = flags
    terminated, truncated = derived["terminated"], derived["truncated"]
    if given:
        types = step_types_of(terminated, truncated, _rollout_starts(batch))
        wrong = np.flatnonzero(types != batch.step_types)
        if wrong.size:
            i = int(wrong[0])
            names = " and ".join(f"env_infos[{name!r}]" for name in given)
            give = "give" if len(given) > 1 else "gives"
            raise ValueError(
                f"{names} {give} step type {StepType(types[i]).name} at index {i} but must give "
                f"{StepType(batch.step_types[i]).name} to match step_types (these env infos are "
                "read as Gymnasium's end flags, DESIGN §3; rename them to keep them as data)"
            )
    return terminated, truncated


def _rollout_starts(batch: EpisodeBatch) -> np.ndarray:
    """The indices of the episodes' first steps that start a rollout: all but those of
    fragments that continue an episode begun before them (first step ``MID``)."""
    starts = np.cumsum(batch.lengths) - batch.lengths
    return starts[batch.step_types[starts] != StepType.MID]


def _check_last_entries(
    last_entries: Any, env_infos: Mapping[str, Any], agent_infos: Mapping[str, Any]
) -> None:
    """Check ``episode_infos["last_entries"]`` (gymsamp's layout: the final entries of T+1
    fields, one per episode) against the fields it completes."""
    where = f"episode_infos[{LAST_ENTRIES!r}]"
    if not isinstance(last_entries, Mapping):
        raise TypeError(
            f"{where} must be a dict of the final entries of env_infos / agent_infos fields "
            f"(a key gymsamp reserves), got {type(last_entries).__name__}"
        )
    fields = {
        name: (f"{kind}[{name!r}]", value)
        for kind, infos in (("env_infos", env_infos), ("agent_infos", agent_infos))
        for name, value in infos.items()
        if name not in _FLAGS or kind != "env_infos"
    }
    unknown = [name for name in last_entries if name not in fields]
    if unknown:
        raise ValueError(
            f"{where} has keys {unknown} but must have only keys of env_infos / agent_infos "
            f"{sorted(fields)} (the fields whose final entries it holds)"
        )
    for name, final in last_entries.items():
        field_name, field = fields[name]
        leaves, finals = dict(tree_paths(field)), dict(tree_paths(final))
        if leaves.keys() != finals.keys():
            raise ValueError(
                f"{where}[{name!r}] must have the structure of {field_name} (its final entries)"
            )
        for path, leaf in leaves.items():
            check_item_shape(
                np.shape(finals[path])[1:], leaf.shape[1:], f"{where}[{name!r}]", field_name
            )
