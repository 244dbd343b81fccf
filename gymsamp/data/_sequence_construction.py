"""Building a :class:`~gymsamp.data.StepSequence` from user input (constructor, ``add_data``).

Both accept lists, arrays, tensors and nested dicts or tuples, end flags in pyrado's or
Gymnasium's form and optional rollout bounds. The functions here check them, raising a
``ValueError`` that names the offending argument, and store them in their normal form: fields in
one data format, two bool flag arrays, rollout bounds, one info per rollout and final entries.
Sequences built from parts that are consistent by construction (slices, batches, joins, the
samplers' rollouts) skip all that: :func:`assemble`. :func:`convert_fields` stores a
sequence's data anew in another data format.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gymsamp._checks import check_bool, is_int
from gymsamp.data._sequence_indexing import index_field
from gymsamp.data._tree import Field, new_tuple, tree_leaves, tree_map
from gymsamp.data.data_format import DATA_FORMATS, combine_named, is_tensor, to_format
from gymsamp.data.step_type import as_flags, check_rollout_bounds

if TYPE_CHECKING:
    from gymsamp.data.step_sequence import StepSequence

# Names served from the flag arrays; no data field may take them.
FLAG_NAMES = ("terminated", "truncated", "done", "step_types")


def init_empty(seq: StepSequence, data_format: str, continuous: bool) -> None:
    """Give a new ``seq`` its empty state: no fields, one rollout without info."""
    seq._data = {}
    seq._after_last = set()
    seq._finals = {}
    seq._data_format = data_format
    seq._continuous = bool(continuous)
    seq._rollout_infos = [None]
    seq._rollout_bounds = None
    # Step types the bounds cannot tell, kept from the source: a shuffled batch's, and a
    # slice's that starts mid-rollout (its first step is not its rollout's FIRST).
    seq._gathered_types = None


def assemble(
    cls: type[StepSequence],
    *,
    data: dict[str, Field],
    after_last: set[str],
    terminated: np.ndarray,
    truncated: np.ndarray,
    rollout_bounds: np.ndarray | None,
    rollout_infos: list[Any],
    finals: dict[str, Field | None],
    data_format: str,
) -> StepSequence:
    """Build from parts that are consistent by construction (no validation, no copies)."""
    seq = cls.__new__(cls)
    init_empty(seq, data_format, rollout_bounds is not None)
    seq._data = data
    seq._after_last = after_last
    seq._length = len(terminated)
    seq._terminated, seq._truncated = terminated, truncated
    seq._rollout_bounds = rollout_bounds
    seq._rollout_infos = rollout_infos
    seq._finals = finals
    return seq


def initialize(
    seq: StepSequence,
    fields: dict[str, Any],
    *,
    complete: bool,
    rollout_info: Any,
    data_format: str | None,
    done: npt.ArrayLike | None,
    continuous: bool,
    rollout_bounds: Sequence[int] | np.ndarray | None,
    terminated: npt.ArrayLike | None,
    truncated: npt.ArrayLike | None,
) -> None:
    """Fill a new ``seq`` from its constructor's arguments; ``fields`` holds every data field."""
    missing = seq.required_fields - fields.keys() - {"rewards", "observations", "actions"}
    if missing:
        raise ValueError(f"data must contain the required fields {sorted(missing)}")
    complete = check_bool("complete", complete)
    continuous = check_bool("continuous", continuous)
    data_format = _resolve_data_format(data_format, fields)
    init_empty(seq, data_format, continuous)

    seq._data["rewards"] = _checked_rewards(fields["rewards"], data_format)
    seq._length = len(seq._data["rewards"])
    if rollout_bounds is not None:
        if not continuous:
            raise ValueError(
                "rollout_bounds must be None for a non-continuous sequence (continuous=False), "
                f"got {rollout_bounds!r}"
            )
        # Checked before anything indexes with them.
        rollout_bounds = check_rollout_bounds(rollout_bounds, seq._length)
    for name, value in fields.items():
        if name == "rewards":
            continue
        if value is None:
            # add_data makes zeros of None; a constructor argument of None is a mistake.
            raise TypeError(
                f"{name} must be per-step values (a list, array or tensor), got None; "
                "use add_data(name, item_shape=...) for a field of zeros"
            )
        seq.add_data(name, value)
    if "actions" in seq._after_last:
        # There is no action after the last step (DESIGN §3): T entries, never T+1.
        raise ValueError(
            f"actions has {seq._length + 1} entries but must have {seq._length} to match rewards"
        )

    seq._terminated, seq._truncated = _flags_from_args(
        seq._length, seq._continuous, terminated, truncated, done, complete, rollout_bounds
    )
    seq._rollout_bounds = (
        _bounds_from_args(seq._terminated, seq._truncated, rollout_bounds) if continuous else None
    )
    num_rollouts = seq.rollout_count if continuous else 1
    seq._rollout_infos = _infos_from_arg(rollout_info, num_rollouts)
    # A single rollout knows its final entries; several rollouts given flat do not. In field
    # order, never the set's (string hashing differs between processes, and a saved file lists
    # the finals in this order).
    seq._finals = {
        name: (
            index_field(seq._data[name], slice(seq._length, None)) if num_rollouts == 1 else None
        )
        for name in seq._data
        if name in seq._after_last
    }


def convert_fields(seq: StepSequence, data_format: str, data_type: Any) -> None:
    """``seq.convert(data_format, data_type)``: every field and final entry in the new format."""
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")

    def conv(leaf: Any) -> Any:
        return to_format(leaf, data_format, data_type)

    seq._data = {name: tree_map(conv, field) for name, field in seq._data.items()}
    seq._finals = {
        name: None if f is None else tree_map(conv, f) for name, f in seq._finals.items()
    }
    seq._data_format = data_format


def add_field(
    seq: StepSequence,
    name: str,
    value: Any,
    item_shape: tuple[int, ...] | None,
    with_after_last: bool,
) -> None:
    """``seq.add_data(name, value, item_shape, with_after_last)``: check and store a new field."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (a field name), got {type(name).__name__} {name!r}")
    if not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"name must be an identifier not starting with '_', got {name!r}")
    if name in seq._data or name in FLAG_NAMES:
        raise ValueError(f"name must be a new data field, got {name!r} which already exists")
    if hasattr(type(seq), name):
        # Fields are served as attributes only where no attribute has the name: ro.length
        # would stay the step count and ro.count Sequence.count, never the field.
        raise ValueError(
            f"name must not be an attribute of {type(seq).__name__} (ro.{name} would read the "
            f"attribute, not the field), got {name!r}; rename the field"
        )
    with_after_last = check_bool("with_after_last", with_after_last)
    if value is None:
        shape = (seq._length + int(with_after_last), *_checked_item_shape(item_shape))
        value = np.zeros(shape)
    field = _as_field(value, seq._data_format, name)
    _check_no_grad(name, field)
    length = _field_length(name, field)
    if length not in (seq._length, seq._length + 1):
        raise ValueError(
            f"{name} has {length} entries but must have {seq._length} or "
            f"{seq._length + 1} to match rewards"
        )
    seq._data[name] = field
    if length == seq._length + 1:
        # A new set, never an update: sequences built in bulk may share one.
        seq._after_last = seq._after_last | {name}
        # Finals are known only where the sequence holds a single rollout.
        single = seq._rollout_bounds is None or len(seq._rollout_bounds) == 2
        if hasattr(seq, "_terminated"):  # after construction
            final = index_field(field, slice(seq._length, None)) if single else None
            seq._finals = {**seq._finals, name: final}  # a new dict: it may be shared


def _checked_item_shape(item_shape: Any) -> tuple[int, ...]:
    """``item_shape`` (None: a scalar per step) as a tuple of ints >= 0."""
    if item_shape is None:
        return ()
    if is_int(item_shape):  # numpy's own shorthand for a 1-D shape
        item_shape = (item_shape,)
    if not isinstance(item_shape, (tuple, list)) or not all(is_int(n) for n in item_shape):
        raise TypeError(f"item_shape must be a tuple of ints >= 0 or None, got {item_shape!r}")
    if any(n < 0 for n in item_shape):
        raise ValueError(f"item_shape must be a tuple of ints >= 0 or None, got {item_shape!r}")
    return tuple(int(n) for n in item_shape)


def _resolve_data_format(data_format: str | None, fields: Mapping[str, Any]) -> str:
    """``data_format`` checked, or for None torch if any of ``fields`` holds a tensor."""
    if data_format is None:
        return "torch" if any(_holds_tensor(f) for f in fields.values()) else "numpy"
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    return data_format


def _holds_tensor(value: Any) -> bool:
    """True if ``value`` (a field, or a per-step list of entries) holds a torch tensor; a list
    is judged by its first entry, as pyrado did (its entries are stacked alike)."""
    if is_tensor(value):
        return True
    if isinstance(value, list):
        return bool(value) and _holds_tensor(value[0])
    if isinstance(value, dict):
        return any(_holds_tensor(part) for part in value.values())
    if isinstance(value, tuple):
        return any(_holds_tensor(part) for part in value)
    return False


def _checked_rewards(rewards: Any, data_format: str) -> Field:
    """The rewards as one array of shape ``(T,)`` of T >= 1 real numbers; they fix the
    sequence's length."""
    if isinstance(rewards, (list, tuple)):
        if not rewards:
            raise ValueError("rewards must hold at least one step, got 0 steps")
        rewards = list(rewards)  # a tuple of rewards, not a tuple field
    elif not (isinstance(rewards, np.ndarray) or is_tensor(rewards)):
        raise TypeError(
            "rewards must be a list, array or tensor of real numbers (one per step), got "
            f"{rewards!r} ({type(rewards).__name__})"
        )
    field = _as_field(rewards, data_format, "rewards")
    if isinstance(field, (dict, tuple)):
        raise TypeError(f"rewards must be real numbers, got a {type(field).__name__} per step")
    if len(field.shape) != 1:
        raise ValueError(f"rewards must have shape (T,), got {tuple(field.shape)}")
    if len(field) < 1:
        raise ValueError("rewards must hold at least one step, got 0 steps")
    real = not field.dtype.is_complex if is_tensor(field) else field.dtype.kind in "biuf"
    if not real:
        raise TypeError(f"rewards must be real numbers, got dtype {field.dtype}")
    _check_no_grad("rewards", field)
    return field


def _as_field(value: Any, data_format: str, name: str) -> Field:
    """Stack per-step lists (of arrays, dicts or tuples) or convert arrays to ``data_format``;
    ``name`` names the field in errors (e.g. entries of different shapes)."""
    # Before the conversion: to numpy it would detach them silently. One-shot iterables
    # (generators) first become lists, so that the check and the stacking see the same steps.
    value = _materialized(value)
    _check_no_grad_input(name, value)
    if isinstance(value, (dict, tuple)) or not (isinstance(value, np.ndarray) or is_tensor(value)):
        value = combine_named(value, data_format, "stack", name)
    return tree_map(lambda leaf: to_format(leaf, data_format), value)


def _materialized(value: Any) -> Any:
    """``value`` with each iterator in it (top level, or a dict or tuple part) made a list."""
    if isinstance(value, dict):
        return {key: _materialized(part) for key, part in value.items()}
    if isinstance(value, tuple):
        return new_tuple(type(value), (_materialized(part) for part in value))
    return list(value) if isinstance(value, Iterator) else value


def _field_length(name: str, field: Field) -> int:
    """The number of entries of ``field``, which must be the same for all its arrays."""
    leaves = list(tree_leaves(field, name))
    for path, leaf in leaves:
        if getattr(leaf, "ndim", None) == 0:
            # len() of a 0-d array or tensor fails deep inside numpy / torch.
            raise ValueError(
                f"{path} must have one entry per step (at least one axis), got a 0-d "
                f"{type(leaf).__name__} {leaf!r}"
            )
    lengths = {path: len(leaf) for path, leaf in leaves}
    if not lengths:
        # E.g. a list of empty info dicts: no array tells how many entries there are.
        raise ValueError(
            f"field {name!r} must hold at least one array to count its entries, got {field!r} "
            "(only empty dicts or tuples); leave the field out instead"
        )
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every array in field {name!r} must have the same length, got {lengths}")
    return next(iter(lengths.values()))


def _grad_error(path: str) -> ValueError:
    """The error for a tensor at ``path`` that traces gradients."""
    return ValueError(
        f"{path} must not require grad (storing tensors with gradient tracing is not "
        "supported, detach them first), got a tensor with requires_grad=True"
    )


# Entries that hold no tensor, skipped by type (a list of a million numbers is common).
_UNTRACED = frozenset({int, float, bool, complex, str, bytes, type(None), *np.sctypeDict.values()})


def _first_grad_path(value: Any, path: str) -> str | None:
    """Path (as :func:`tree_leaves` writes it) of the first tensor tracing gradients in a raw
    field argument: a tensor, or lists and other iterables (steps), dicts, tuples and object
    arrays of them; None if none does."""
    if is_tensor(value):
        return path if value.requires_grad else None
    if isinstance(value, dict):
        parts: Any = ((f"{path}.{key}", part) for key, part in value.items())
    elif isinstance(value, tuple):
        parts = ((f"{path}[{i}]", part) for i, part in enumerate(value))
    elif (isinstance(value, np.ndarray) and value.dtype == object) or (
        # Any other sequence of steps too (a deque, a range): stacking takes what iterates.
        isinstance(value, Iterable) and not isinstance(value, (np.ndarray, str, bytes, Mapping))
    ):
        # Steps share the field's path. Every entry, not only the first: stacking to numpy
        # detaches a tensor after a number or array ([0.0, r1, r2]), and an object array keeps
        # it (and its graph). Numbers and plain arrays are skipped by type, cheaply.
        parts = (
            (path, part)
            for part in (value.flat if isinstance(value, np.ndarray) else value)
            if type(part) not in _UNTRACED
            and not (type(part) is np.ndarray and not part.dtype.hasobject)
        )
    else:
        return None
    for part_path, part in parts:
        found = _first_grad_path(part, part_path)
        if found is not None:
            return found
    return None


def _check_no_grad_input(name: str, value: Any) -> None:
    """Refuse a field argument holding tensors that trace gradients, whatever the format."""
    if "torch" not in sys.modules:
        return  # no tensor can exist: numpy-only users pay nothing for the walk
    path = _first_grad_path(value, name)
    if path is not None:
        raise _grad_error(path)


def _check_no_grad(name: str, field: Field) -> None:
    """Refuse tensors that trace gradients: storing them would keep whole graphs alive."""
    for path, leaf in tree_leaves(field, name):
        if is_tensor(leaf) and leaf.requires_grad:
            raise _grad_error(path)


def _flags_from_args(
    length: int,
    continuous: bool,
    terminated: npt.ArrayLike | None,
    truncated: npt.ArrayLike | None,
    done: npt.ArrayLike | None,
    complete: bool,
    rollout_bounds: Sequence[int] | np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(terminated, truncated)`` arrays from Gymnasium's flags, pyrado's ``done`` or none.

    Without any flags a complete continuous sequence ends (``terminated``) at the end of each
    rollout, as in pyrado.
    """

    def flag_array(name: str, value: npt.ArrayLike) -> np.ndarray:
        array = as_flags(name, to_format(value, "numpy") if is_tensor(value) else value)
        if array.shape != (length,):
            raise ValueError(
                f"{name} has shape {array.shape} but must have ({length},) to match rewards"
            )
        return array

    if terminated is not None or truncated is not None:
        term = flag_array("terminated", terminated if terminated is not None else [False] * length)
        trunc = flag_array("truncated", truncated if truncated is not None else [False] * length)
        if done is not None and not np.array_equal(flag_array("done", done), term | trunc):
            raise ValueError("done must equal terminated | truncated where all three are given")
        return term, trunc
    if done is not None:
        return flag_array("done", done), np.zeros(length, dtype=bool)
    term = np.zeros(length, dtype=bool)
    if complete and continuous:
        ends = [length] if rollout_bounds is None else rollout_bounds[1:]  # checked bounds
        term[np.asarray(ends, dtype=np.intp) - 1] = True
    return term, np.zeros(length, dtype=bool)


def _bounds_from_args(
    terminated: np.ndarray,
    truncated: np.ndarray,
    rollout_bounds: Sequence[int] | np.ndarray | None,
) -> np.ndarray:
    """The rollout bounds: ``rollout_bounds`` (already checked by :func:`check_rollout_bounds`)
    checked against the flags, or derived from them."""
    length = len(terminated)
    done_ends = np.flatnonzero(terminated | truncated) + 1
    if rollout_bounds is None:
        bounds = np.concatenate([[0], done_ends])
        if bounds[-1] != length:
            bounds = np.append(bounds, length)
        return bounds.astype(np.intp)
    bounds = np.asarray(rollout_bounds, dtype=np.intp)  # checked by initialize
    # Bounds are sorted: a done step's end is a bound iff searchsorted lands on it (far cheaper
    # than np.setdiff1d, which sorts both again).
    at = np.minimum(np.searchsorted(bounds, done_ends), len(bounds) - 1)
    inner = done_ends[bounds[at] != done_ends]
    if inner.size:
        raise ValueError(
            "rollout_bounds must include the end of every done step, got "
            f"{bounds.tolist()} with done steps ending at {inner.tolist()}"
        )
    return bounds


def _infos_from_arg(rollout_info: Any, num_rollouts: int) -> list[Any]:
    """One info per rollout: for several rollouts a list (or tuple) gives one entry per
    rollout and anything else is shared; a single rollout's info is kept whole."""
    if num_rollouts == 1 or not isinstance(rollout_info, (list, tuple)):
        return [rollout_info] * num_rollouts
    # A list of the wrong length is a mistake, not an info to share (a list of dicts
    # shared by all rollouts would hand each of them the others' infos).
    if len(rollout_info) != num_rollouts:
        raise ValueError(
            f"rollout_info has {len(rollout_info)} entries but must have {num_rollouts} to "
            "match the number of rollouts (one entry per rollout, or pass one object to share "
            "it)"
        )
    return list(rollout_info)
