"""Shape symbols and validation helpers shared by :class:`EpisodeBatch` and :class:`TimeStepBatch`.

The batch types describe their arrays with garage's symbols:

==========  ==========================================================================
Symbol      Meaning
==========  ==========================================================================
``N``       Episode batch dimension (number of episodes).
``[T]``     Variable-length time dimension of each episode.
``N•[T]``   The time dimensions of all episodes flattened into one batch dimension of
            length ``sum(lengths)``.
``B``       Batch dimension of a ``TimeStepBatch`` (one entry per transition).
``S^*``     Item shape of a single time step (``O^*`` observations, ``A^*`` actions).
==========  ==========================================================================

Validation messages read "X has P but must have Q to match R", e.g. ``rewards has batch
dimension 9 but must have 10 to match the sum of lengths``. Wrong values raise ``ValueError``,
wrong types ``TypeError``; nothing is checked with ``assert``.

Info dicts (``env_infos``, ``agent_infos``, ``episode_infos``) are nested dicts whose leaves are
arrays sharing one batch dimension; the ``*_nested`` helpers map, slice, pad and combine them
leaf by leaf so every batch type treats them the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from gymsamp.data._tuple_like import TupleLike
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step_type import STEP_TYPE_DTYPE, StepType

#: A (possibly nested) dict whose leaves are numpy arrays.
InfoDict: TypeAlias = dict[str, Any]

#: Value of padded entries in padded step-type arrays; it is not a :class:`StepType`.
PAD_STEP_TYPE = -1

_VALID_STEP_TYPES = np.array([int(t) for t in StepType])


def as_array(value: Any, name: str) -> npt.NDArray[Any]:
    """Return ``value`` as a numpy array, refusing values numpy would wrap in an object array."""
    if value is None or isinstance(value, Mapping):
        raise TypeError(f"{name} must be array-like, got {type(value).__name__}")
    try:
        return np.asarray(value)
    except ValueError:  # numpy's "inhomogeneous shape": e.g. a Tuple space's value
        raise TypeError(
            f"{name} must be array-like (of one shape), got {with_article(type(value).__name__)} "
            "whose entries differ in shape or type (a Dict or Tuple space's values? flatten "
            "them, e.g. with gymnasium.wrappers.FlattenObservation)"
        ) from None


def check_env_spec(env_spec: Any) -> None:
    """Check that ``env_spec`` is a gymsamp :class:`~gymsamp.data.spec.EnvSpec`."""
    if not isinstance(env_spec, EnvSpec):
        kind = type(env_spec)
        # gymnasium's env.spec (an EnvSpec of its registry) would read "an EnvSpec, got EnvSpec".
        got = (
            kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        )
        raise TypeError(
            f"env_spec must be a gymsamp.data.EnvSpec (e.g. EnvSpec.from_env(env)), got {got}"
        )


def space_shape(space: gym.Space[Any]) -> tuple[int, ...] | None:
    """Item shape of one element of ``space``, or None where the space has no fixed shape.

    ``Box``, ``MultiDiscrete`` and ``MultiBinary`` have their ``shape``; ``Discrete`` has ``()``;
    composite spaces (``Dict``, ``Tuple``, ``Text``, ...) have None and are not checked.
    """
    shape = space.shape
    return None if shape is None else tuple(shape)


def numeric_space(space: gym.Space[Any]) -> bool:
    """Whether every element of ``space`` is a numeric array (Box, Discrete, MultiDiscrete,
    MultiBinary): data for it must then be numbers, not strings or objects."""
    dtype = space.dtype
    return space.shape is not None and dtype is not None and np.dtype(dtype).kind in "biuf"


def check_real(array: npt.NDArray[Any], name: str, reference: str = "") -> None:
    """Refuse arrays of anything but bools, ints and floats (strings, objects, complex)."""
    if array.dtype.kind not in "biuf":
        to_match = f" to match {reference}" if reference else ""
        raise TypeError(f"{name} must be real numbers{to_match}, got dtype {array.dtype}")


def check_batch_dim(array: npt.NDArray[Any], expected: int, name: str, reference: str) -> None:
    """Check that ``array`` has a leading batch dimension of length ``expected``."""
    if array.ndim == 0:
        raise ValueError(
            f"{name} has shape () but must have batch dimension {expected} to match {reference}"
        )
    if array.shape[0] != expected:
        raise ValueError(
            f"{name} has batch dimension {array.shape[0]} but must have {expected} "
            f"to match {reference}"
        )


def check_item_shape(
    item_shape: tuple[int, ...], expected: tuple[int, ...] | None, name: str, reference: str
) -> None:
    """Check the shape of one item against ``expected`` (None: anything goes)."""
    if expected is not None and tuple(item_shape) != tuple(expected):
        raise ValueError(
            f"{name} has item shape {tuple(item_shape)} but must have {tuple(expected)} "
            f"to match {reference}"
        )


def as_batch_array(
    value: Any,
    name: str,
    batch_size: int,
    batch_reference: str,
    item_shape: tuple[int, ...] | None = None,
    item_reference: str = "",
    *,
    real: bool = False,
) -> npt.NDArray[Any]:
    """Convert ``value`` to an array and check its batch dimension and item shape (and with
    ``real`` that it holds real numbers)."""
    array = as_array(value, name)
    check_batch_dim(array, batch_size, name, batch_reference)
    check_item_shape(array.shape[1:], item_shape, name, item_reference)
    if real:
        check_real(array, name, item_reference)
    return array


def as_lengths(value: Any) -> npt.NDArray[np.int64]:
    """Validate episode lengths: a non-empty 1-D integer array with every entry >= 1."""
    lengths = as_array(value, "lengths")
    if lengths.size == 0:
        raise ValueError("lengths must hold at least one episode, got an empty array")
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths must be an integer array, got dtype {lengths.dtype}")
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be a 1-D array, got shape {lengths.shape}")
    if np.any(lengths < 1):
        raise ValueError(f"lengths must be >= 1 for every episode, got {lengths}")
    return lengths.astype(np.int64, copy=False)


def as_step_types(value: Any, name: str = "step_types") -> npt.NDArray[np.int8]:
    """Convert step types (ints, StepType members, object arrays of them) to ``STEP_TYPE_DTYPE``.

    Values are range-checked before the cast so that e.g. 256 cannot wrap around to FIRST.
    """
    array = as_array(value, name)
    if array.size == 0:
        # np.asarray([]) is float64; an empty sequence is still a valid (empty) int sequence.
        array = array.astype(np.int64)
    elif array.dtype.kind == "O":
        flat = array.ravel()
        for x in flat:
            if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
                raise TypeError(
                    f"{name} must hold integers or StepType members, got a {type(x).__name__}"
                )
        array = np.array([int(x) for x in flat], dtype=np.int64).reshape(array.shape)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers or StepType members, got dtype {array.dtype}")
    invalid = np.setdiff1d(array, _VALID_STEP_TYPES)
    if invalid.size:
        raise ValueError(
            f"{name} has values {invalid.tolist()} but must have values in "
            f"{_VALID_STEP_TYPES.tolist()} to match StepType"
        )
    return array.astype(STEP_TYPE_DTYPE, copy=False)


def as_batch_step_types(
    value: Any, batch_size: int, reference: str, name: str = "step_types"
) -> npt.NDArray[np.int8]:
    """:func:`as_step_types` plus the check for shape ``(batch_size,)``."""
    step_types = as_step_types(value, name)
    check_batch_dim(step_types, batch_size, name, reference)
    check_item_shape(step_types.shape[1:], (), name, "one step type per step")
    return step_types


def check_episode_step_types(
    step_types: npt.NDArray[np.int8], lengths: npt.NDArray[np.int64]
) -> None:
    """Check that step types fit the episodes ``lengths`` cut them into (garage, DESIGN §3).

    ``FIRST`` marks an episode's first step and ``TERMINAL`` / ``TIMEOUT`` its last, so
    ``FIRST`` only at a first step and ``TERMINAL`` / ``TIMEOUT`` only at a last step. An
    episode may be a fragment, as garage's ``FragmentWorker`` collects them: a last step that
    is ``MID`` (or a one-step episode's ``FIRST``) was cut before the episode's end, a first
    step that is ``MID`` continues an episode begun before it (as a slice of a
    :class:`~gymsamp.data.StepSequence` that starts mid-rollout keeps it). Vectorized: it runs
    for every batch.

    Raises:
        ValueError: Naming the first step that breaks a rule, its episode and its index.
    """
    ends = np.cumsum(lengths)
    starts = ends - lengths
    is_first = np.zeros(len(step_types), dtype=bool)
    is_first[starts] = True
    is_last = np.zeros(len(step_types), dtype=bool)
    is_last[ends - 1] = True
    ended = (step_types == StepType.TERMINAL) | (step_types == StepType.TIMEOUT)
    rules = [
        (ended & ~is_last, "TERMINAL or TIMEOUT only at an episode's last step"),
        ((step_types == StepType.FIRST) & ~is_first, "FIRST only at an episode's first step"),
    ]
    broken = [(int(np.argmax(bad)), rule) for bad, rule in rules if bad.any()]
    if broken:
        index, rule = min(broken)
        episode = int(np.searchsorted(ends, index, side="right"))
        raise ValueError(
            f"step_types has {StepType(step_types[index]).name} at step "
            f"{index - int(starts[episode])} of episode {episode} (index {index}) but must have "
            f"{rule} to match lengths"
        )


def as_step_type(value: Any, name: str = "step_type") -> StepType:
    """Convert one step type (a StepType member or an integer value of one) to StepType."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a StepType, got {type(value).__name__}")
    try:
        return StepType(int(value))
    except ValueError:
        raise ValueError(
            f"{name} has value {int(value)} but must have a value in "
            f"{_VALID_STEP_TYPES.tolist()} to match StepType"
        ) from None


def as_reward(value: Any, name: str = "reward") -> float:
    """Convert a scalar reward (Python or numpy number, 0-d array) to float."""
    if isinstance(value, (str, bytes)) or not isinstance(
        value, (int, float, np.number, np.bool_, np.ndarray)
    ):
        raise TypeError(f"{name} must be a real scalar, got {type(value).__name__}")
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}")
    # numpy values by their dtype: float() took np.complex128(1+2j) as 1.0 (with a mere
    # ComplexWarning), np.array("1.5") as 1.5, and raised a ValueError naming no argument for
    # np.array("a", dtype=object). Python ints and floats have no dtype to check.
    if isinstance(value, (np.generic, np.ndarray)) and value.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real scalar, got {value!r} of dtype {value.dtype}")
    return float(value)


def as_info_dict(
    infos: Any, name: str, batch_size: int | None = None, reference: str = ""
) -> InfoDict:
    """Validate a nested info dict and return a copy made of plain dicts.

    With ``batch_size`` given, every leaf must be a numpy array with that batch dimension.
    Without it (single-step infos such as ``TimeStep.env_info``) only the top level is checked
    and the leaves are kept as they are.
    """
    if not isinstance(infos, Mapping):
        raise TypeError(f"{name} must be a dict, got {type(infos).__name__}")
    if batch_size is None:
        return dict(infos)
    out: InfoDict = {}
    for key, val in infos.items():
        sub = f"{name}[{key!r}]"
        if isinstance(val, Mapping):
            out[key] = as_info_dict(val, sub, batch_size, reference)
        elif isinstance(val, np.ndarray):
            check_batch_dim(val, batch_size, sub, reference)
            out[key] = val
        else:
            raise TypeError(f"{sub} must be a numpy array or a dict, got {type(val).__name__}")
    return out


def map_nested(infos: Mapping[str, Any], fn: Callable[[Any], Any]) -> InfoDict:
    """Apply ``fn`` to every leaf of a nested dict, keeping its structure."""
    return {
        key: map_nested(val, fn) if isinstance(val, Mapping) else fn(val)
        for key, val in infos.items()
    }


def slice_nested(infos: Mapping[str, Any], index: slice | int) -> InfoDict:
    """Index every leaf of a nested dict along its batch dimension."""
    return map_nested(infos, lambda leaf: leaf[index])


def check_same_keys(dicts: Sequence[Mapping[str, Any]], names: Sequence[str]) -> None:
    """Check that ``dicts`` are dicts with the keys of the first (at the top level).

    Raises:
        TypeError: If one is not a dict.
        ValueError: If the key sets differ (the message names the missing and extra keys).
    """
    for info, name in zip(dicts, names, strict=True):
        if not isinstance(info, Mapping):
            raise TypeError(f"{name} must be a dict, got {type(info).__name__}")
    keys = list(dicts[0])
    for info, name in zip(dicts[1:], names[1:], strict=True):
        missing = [k for k in keys if k not in info]
        extra = [k for k in info if k not in dicts[0]]
        if missing or extra:
            raise ValueError(
                f"{name} has keys {sorted(info, key=str)} but must have {sorted(keys, key=str)} "
                f"to match {names[0]} (missing {missing}, extra {extra})"
            )


def combine_nested(
    dicts: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    combine: Callable[[list[Any]], npt.NDArray[Any]],
) -> InfoDict:
    """Combine nested dicts of equal structure leaf by leaf (e.g. with ``np.concatenate``).

    Args:
        dicts: The dicts to combine; all must have the same keys at every level.
        names: A name for each dict, used in error messages (e.g. ``"batches[1].env_infos"``).
        combine: Called with the list of corresponding leaves; returns the combined array.

    Raises:
        ValueError: If the key sets differ (the message names the missing and extra keys), if a
            key holds a dict in one and an array in another, or if ``combine`` fails.
    """
    check_same_keys(dicts, names)
    out: InfoDict = {}
    for key in dicts[0]:
        leaves = [info[key] for info in dicts]
        sub_names = [f"{name}[{key!r}]" for name in names]
        is_dict = [isinstance(leaf, Mapping) for leaf in leaves]
        if all(is_dict):
            out[key] = combine_nested(leaves, sub_names, combine)
        elif any(is_dict):
            odd = sub_names[is_dict.index(not is_dict[0])]
            raise ValueError(
                f"{odd} must be {'a dict' if is_dict[0] else 'an array'} to match {sub_names[0]}"
            )
        else:
            try:
                out[key] = combine(leaves)
            except ValueError as err:
                raise ValueError(f"cannot combine {sub_names[0]} and the others: {err}") from err
    return out


def concatenate_nested(dicts: Sequence[Mapping[str, Any]], names: Sequence[str]) -> InfoDict:
    """Concatenate nested dicts of batched arrays along their batch dimension."""
    return combine_nested(dicts, names, np.concatenate)


def stack_nested(dicts: Sequence[Mapping[str, Any]], names: Sequence[str]) -> InfoDict:
    """Stack nested dicts of unbatched values into batched arrays (a new leading dimension)."""
    return combine_nested(dicts, names, lambda leaves: np.stack([np.asarray(x) for x in leaves]))


def episode_slices(lengths: npt.NDArray[np.integer[Any]]) -> list[slice]:
    """The slice of the flattened ``N•[T]`` dimension that belongs to each episode."""
    stops = np.cumsum(lengths)
    starts = stops - lengths
    return [slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def valid_mask(lengths: npt.NDArray[np.integer[Any]], max_length: int) -> npt.NDArray[np.bool_]:
    """Boolean ``(N, max_length)`` mask: entry ``[i, t]`` is True iff ``t < lengths[i]``."""
    return np.arange(max_length)[None, :] < np.asarray(lengths)[:, None]


def pad_batch_array(
    array: npt.NDArray[Any],
    lengths: npt.NDArray[np.integer[Any]],
    max_length: int,
    fill: Any = 0,
) -> npt.NDArray[Any]:
    """Reshape a flat ``(N•[T], S^*)`` array to ``(N, max_length, S^*)``, padding with ``fill``.

    ``max_length`` must be >= ``max(lengths)``; callers check it with their own message.
    """
    mask = valid_mask(lengths, max_length)
    out = np.full((len(lengths), max_length, *array.shape[1:]), fill, dtype=array.dtype)
    # Boolean-mask assignment fills the True entries in row-major order, i.e. episode by
    # episode and step by step: exactly the order of the flattened array.
    out[mask] = array
    return out


def with_article(word: str) -> str:
    """``word`` after "a" or "an" ("a dict", "an EpisodeBatch")."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def as_records(records: Any, name: str, what: str, kind: str) -> list[Any]:
    """``records`` as a non-empty list: any iterable of records (a list, a generator, ...), but
    not one record itself (a dict, a garage type) nor a string.

    Args:
        records: The iterable.
        name: Its name in messages (``"paths"``).
        what: What it holds (``"dicts"``).
        kind: What each record is one of (``"episode"``).

    Raises:
        TypeError: If ``records`` is no such iterable (the message says to wrap a single
            record in a list).
        ValueError: If it holds nothing.
    """
    if isinstance(records, (Mapping, str, bytes, TupleLike)) or not isinstance(records, Iterable):
        type_name = type(records).__name__
        wrap = isinstance(records, (Mapping, TupleLike))
        raise TypeError(
            f"{name} must be a list of {what}, one per {kind}, got {with_article(type_name)}"
            + (f"; wrap a single {type_name} in a list" if wrap else "")
        )
    listed = list(records)
    if not listed:
        raise ValueError(f"{name} must hold at least one {kind}, got an empty sequence")
    return listed


def concatenate_parts(
    parts: Sequence[npt.NDArray[Any]],
    names: Sequence[str],
    sizes: Sequence[tuple[int, str]],
    item_shape: tuple[int, ...] | None,
    item_reference: str,
) -> npt.NDArray[Any]:
    """Concatenate per-record arrays (one per path or sample) along their batch dimension,
    first checking each, so that a wrong one is named rather than failing in numpy.

    Args:
        parts: The arrays.
        names: Each array's name (``"paths[1]['actions']"``).
        sizes: Each array's batch size and what it must match (``"len(paths[1]['rewards'])"``).
        item_shape: The shape of one item, or None to take the first array's.
        item_reference: What ``item_shape`` comes from (``"env_spec.action_space"``).

    Raises:
        ValueError: If a part's batch dimension or item shape does not match.
    """
    for part, name, (size, reference) in zip(parts, names, sizes, strict=True):
        check_batch_dim(part, size, name, reference)
    if item_shape is None:
        item_shape, item_reference = parts[0].shape[1:], names[0]
    for part, name in zip(parts, names, strict=True):
        check_item_shape(part.shape[1:], item_shape, name, item_reference)
    return np.concatenate(parts)


def require_key(mapping: Mapping[str, Any], key: str, name: str) -> Any:
    """``mapping[key]``, raising a ValueError that names the mapping when the key is missing."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{name} must be a dict, got {type(mapping).__name__}")
    if key not in mapping:
        raise ValueError(f"{name} is missing key {key!r} (it has {sorted(mapping)})")
    return mapping[key]


def concatenated_fields(batches: Sequence[Any], kind: type) -> dict[str, Any]:
    """Arguments for ``kind(env_spec=batches[0].env_spec, **result)`` concatenating ``batches``.

    Every dataclass field of ``kind`` except ``env_spec`` is concatenated: arrays along axis 0,
    info dicts leaf by leaf (their keys must agree).

    Raises:
        ValueError: If ``batches`` is empty, their ``env_spec`` differ or the info dicts' keys
            differ.
        TypeError: If a batch is not a ``kind``.
    """
    if not batches:
        raise ValueError(f"concatenate() needs at least one {kind.__name__}, got none")
    for i, batch in enumerate(batches):
        if not isinstance(batch, kind):
            raise TypeError(
                f"batches[{i}] must be {with_article(kind.__name__)}, got {type(batch).__name__}"
            )
    spec = batches[0].env_spec
    for i, batch in enumerate(batches[1:], start=1):
        if batch.env_spec != spec:
            # Name the first field that differs (a whole EnvSpec is a long read).
            name = next(
                (
                    f.name
                    for f in dataclasses.fields(spec)
                    if getattr(batch.env_spec, f.name) != getattr(spec, f.name)
                ),
                None,
            )
            what, mine, theirs = (
                ("env_spec", batch.env_spec, spec)
                if name is None
                else (f"env_spec.{name}", getattr(batch.env_spec, name), getattr(spec, name))
            )
            raise ValueError(
                f"batches[{i}] has {what} {mine!r} but must have {theirs!r} to match "
                "batches[0] (concatenated batches must share one env_spec)"
            )
    out: dict[str, Any] = {}
    for field in dataclasses.fields(kind):
        if field.name == "env_spec":
            continue
        values = [getattr(batch, field.name) for batch in batches]
        if isinstance(values[0], Mapping):
            names = [f"batches[{i}].{field.name}" for i in range(len(values))]
            out[field.name] = concatenate_nested(values, names)
        else:
            out[field.name] = np.concatenate(values)
    return out
