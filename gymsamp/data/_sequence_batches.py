"""Preparing a :class:`~gymsamp.data.StepSequence` for training in batches.

Cutting it into mini-batches (ordered, shuffled, or steps paired with their successors),
padding a rollout to a common length, and processing the data rollout by rollout.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gymsamp._checks import check_bool, check_int
from gymsamp.data._sequence_indexing import gather_steps, index_field
from gymsamp.data._tree import tree_leaves, tree_map
from gymsamp.data.batching import (
    as_generator,
    check_positive_int,
    check_seed,
    shuffled_batch_arrays,
)
from gymsamp.data.data_format import cat_to_format, to_format
from gymsamp.data.step_type import StepType, step_types_of

if TYPE_CHECKING:
    from gymsamp.data.step_sequence import StepSequence


def split_ordered_batches(
    seq: StepSequence, batch_size: int | None, num_batches: int | None
) -> Iterator[StepSequence]:
    """``seq.split_ordered_batches(batch_size, num_batches)``: consecutive continuous slices
    (arguments checked at the call, not at the first ``next()``)."""
    if (batch_size is None) == (num_batches is None):
        raise ValueError(
            "exactly one of batch_size and num_batches must be given, got "
            f"batch_size={batch_size!r}, num_batches={num_batches!r}"
        )
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
        edges = [*list(range(0, seq._length, batch_size)), seq._length]
    else:
        count = check_positive_int("num_batches", num_batches)
        if count > seq._length:  # some batches would be empty
            raise ValueError(
                f"num_batches must be at most the number of steps {seq._length}, got {count}"
            )
        edges = [len(chunk) for chunk in np.array_split(np.arange(seq._length), count)]
        edges = np.concatenate([[0], np.cumsum(edges)]).tolist()
    return (seq[start:stop] for start, stop in itertools.pairwise(edges))


def split_shuffled_batches(
    seq: StepSequence,
    batch_size: int,
    complete_rollouts: bool,
    seed: int | np.random.Generator | None,
) -> Iterator[StepSequence]:
    """``seq.split_shuffled_batches(...)``: random steps, or whole rollouts in random order
    (arguments checked at the call, not at the first ``next()``)."""
    batch_size = check_positive_int("batch_size", batch_size)
    complete_rollouts = check_bool("complete_rollouts", complete_rollouts)
    check_seed(seed)
    return _shuffled_batches(seq, batch_size, complete_rollouts, seed)


def _shuffled_batches(
    seq: StepSequence,
    batch_size: int,
    complete_rollouts: bool,
    seed: int | np.random.Generator | None,
) -> Iterator[StepSequence]:
    generator = as_generator(seed)
    if complete_rollouts and seq._continuous:
        lengths = seq.rollout_lengths
        batch: list[int] = []
        size = 0
        for idx in generator.permutation(len(lengths)):
            batch.append(int(idx))
            size += int(lengths[idx])
            if size >= batch_size:
                yield seq.get_rollout(batch)
                batch, size = [], 0
        if batch:
            yield seq.get_rollout(batch)
        return
    # The indices are valid by construction: gathered as they are, unchecked.
    for idcs in shuffled_batch_arrays(batch_size, seq._length, generator):
        yield gather_steps(seq, idcs)


def sample_with_next(
    seq: StepSequence, batch_size: int, seed: int | np.random.Generator | None
) -> tuple[StepSequence, StepSequence]:
    """``seq.sample_w_next(batch_size, seed=seed)``: random steps and their successors."""
    check_positive_int("batch_size", batch_size)
    bounds = seq._require_continuous("sample_w_next")
    # The eligible steps are every step but the rollouts' last ones, ascending (as
    # np.setdiff1d gave them), so a seed draws the same steps as before. They are not listed:
    # a replay memory of T steps sampled at every training step paid O(T) per call for that
    # list (3.6 ms at T = 10^6, for a batch of 256). The k-th eligible step (0-based) is found
    # among the rollout ends instead, at O(rollouts + batch_size * log(rollouts)).
    ends = bounds[1:] - 1
    # before_end[j]: how many eligible steps precede rollout end j.
    before_end = ends - np.arange(len(ends))
    num_eligible = seq._length - len(ends)
    if batch_size > num_eligible:
        raise ValueError(
            f"batch_size must be <= {num_eligible} (steps with a successor in the same "
            f"rollout), got {batch_size}"
        )
    # choice(n) draws the positions choice(eligible) would pick from the same generator.
    picks = np.sort(as_generator(seed).choice(num_eligible, size=batch_size, replace=False))
    # Each end at or before the k-th eligible step shifts it by one.
    idcs = picks + np.searchsorted(before_end, picks, side="right")
    # Valid by construction: gathered as they are, unchecked.
    return gather_steps(seq, idcs), gather_steps(seq, idcs + 1)


def _check_pad_value(pad_value: float, path: str, dtype: np.dtype[Any]) -> None:
    """Refuse a ``pad_value`` that the field at ``path`` (of ``dtype``) has no value for.

    The padding is cast to the field's dtype as numpy casts (-1.5 pads an int field with -1);
    what refuses is what that cast turns into garbage: NaN or inf in an int field (the
    smallest int64), an int out of the dtype's range (-1 in uint8 wraps to 255), a finite
    float too large for the field's float dtype (inf).
    """
    if np.issubdtype(dtype, np.integer):
        # Python ints are exact at any size (float() of 10**400 would overflow).
        if isinstance(pad_value, (int, np.integer)):
            whole: int | None = int(pad_value)
        else:
            whole = int(pad_value) if math.isfinite(pad_value) else None
        info = np.iinfo(dtype)
        fits = whole is not None and info.min <= whole <= info.max
    elif np.issubdtype(dtype, np.floating):
        # inf and nan pad floats as asked; a finite value must not overflow to inf.
        largest = np.finfo(dtype).max
        if isinstance(pad_value, (int, np.integer)):
            fits = abs(int(pad_value)) <= int(largest)
        else:
            fits = not math.isfinite(pad_value) or abs(pad_value) <= largest
    else:  # bool fields take any number as numpy casts it (nonzero is True)
        return
    if not fits:
        raise ValueError(
            f"pad_value must be representable in {path} (dtype {dtype}), got {pad_value!r}"
        )


def pad_rollout(rollout: StepSequence, len_to_pad_to: int, pad_value: float) -> None:
    """``StepSequence.pad(rollout, len_to_pad_to, pad_value)``: pad one rollout in place."""
    _check_sequence(rollout, "rollout")
    len_to_pad_to = check_int("len_to_pad_to", len_to_pad_to)
    if isinstance(pad_value, (bool, np.bool_)) or not isinstance(
        pad_value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"pad_value must be a real number, got {pad_value!r}")
    if rollout.rollout_count != 1:
        raise ValueError(f"rollout must hold a single rollout, got {rollout.rollout_count}")
    extra = len_to_pad_to - rollout.length
    if extra < 0:
        raise ValueError(
            f"len_to_pad_to must be >= the rollout length {rollout.length}, got {len_to_pad_to}"
        )
    if extra == 0:
        return
    # Checked before any field changes: a cast would silently turn NaN into the smallest
    # int64 or wrap -1 to 255 in uint8.
    for name, field in rollout._data.items():
        for path, leaf in tree_leaves(field, name):
            _check_pad_value(pad_value, path, to_format(leaf[:0], "numpy").dtype)

    def pad_leaf(leaf: Any) -> Any:
        filler = np.full((extra, *leaf.shape[1:]), pad_value)
        filler = to_format(filler, rollout._data_format, leaf.dtype)
        return cat_to_format([leaf, filler], rollout._data_format)

    rollout._data = {name: tree_map(pad_leaf, f) for name, f in rollout._data.items()}
    rollout._length = len_to_pad_to
    rollout._terminated = _end_flag_moved_to(rollout._terminated, len_to_pad_to)
    rollout._truncated = _end_flag_moved_to(rollout._truncated, len_to_pad_to)
    rollout._rollout_bounds = np.array([0, len_to_pad_to], dtype=np.intp)
    if rollout._gathered_types is not None:
        # Kept from a source (a slice that starts mid-rollout): T entries, now stale. The
        # first step stays FIRST only if it was; the moved end flags give the rest.
        starts = [0] if rollout._gathered_types[0] == StepType.FIRST else []
        rollout._gathered_types = step_types_of(
            rollout._terminated, rollout._truncated, np.array(starts, dtype=np.intp)
        )
    rollout._finals = {
        name: index_field(rollout._data[name], slice(len_to_pad_to, None))
        for name in rollout._data  # field order, not the set's (string hashing differs)
        if name in rollout._after_last
    }


def _end_flag_moved_to(flags: np.ndarray, length: int) -> np.ndarray:
    """``length`` flags, all False but the last, which is the rollout's last flag.

    A single rollout can only be flagged at its last step; a flag left there after padding
    would end it mid-sequence (a TERMINAL followed by more steps of the same rollout).
    """
    moved = np.zeros(length, dtype=bool)
    moved[-1] = flags[-1]
    return moved


def process_rollout_data(
    cls: type[StepSequence],
    rollout: StepSequence,
    fcn: Callable[..., Any],
    fcn_arg_name: str,
    fcn_arg_types: type | tuple[type, ...],
    include_fields: Sequence[str] | None,
    exclude_fields: Sequence[str] | None,
    **process_fcn_kwargs: Any,
) -> StepSequence:
    """``cls.process_data(rollout, fcn, ...)``: ``fcn`` applied to the selected fields."""
    _check_sequence(rollout, "rollout")
    if not callable(fcn):
        raise TypeError(f"fcn must be callable, got {fcn!r}")
    if not isinstance(fcn_arg_name, str) or not fcn_arg_name.isidentifier():
        raise TypeError(f"fcn_arg_name must be a keyword name (a str), got {fcn_arg_name!r}")
    include = _checked_field_names("include_fields", include_fields, rollout.data_names)
    exclude = _checked_field_names("exclude_fields", exclude_fields, rollout.data_names)
    if include is not None and exclude is not None and include & exclude:
        raise ValueError(
            "include_fields and exclude_fields must not name the same field, got "
            f"{sorted(include & exclude)} in both"
        )
    if rollout.continuous and rollout.rollout_count > 1:
        # Rollout by rollout, through cls's own methods, so filters never mix rollouts.
        return cls.concat(
            [
                cls.process_data(
                    part,
                    fcn,
                    fcn_arg_name,
                    fcn_arg_types,
                    include_fields,
                    exclude_fields,
                    **process_fcn_kwargs,
                )
                for part in rollout.iterate_rollouts()
            ]
        )
    selected = [
        name
        for name in rollout.data_names
        if (include is None or name in include) and (exclude is None or name not in exclude)
    ]

    def apply(leaf: Any) -> Any:
        if isinstance(leaf, fcn_arg_types):
            return fcn(**{fcn_arg_name: leaf}, **process_fcn_kwargs)
        return leaf

    data = {
        name: tree_map(apply, field) if name in selected else field
        for name, field in rollout._data.items()
    }
    processed = cls(
        rollout_info=rollout.rollout_info,
        continuous=rollout.continuous,
        terminated=rollout.terminated,
        truncated=rollout.truncated,
        **data,
    )
    if rollout._gathered_types is not None:
        # Kept from a source (a slice that starts mid-rollout): the constructor would make
        # its first step FIRST.
        processed._gathered_types = rollout._gathered_types.copy()
    return processed


def _check_sequence(value: Any, name: str) -> None:
    from gymsamp.data.step_sequence import StepSequence

    if not isinstance(value, StepSequence):
        raise TypeError(f"{name} must be a StepSequence, got {type(value).__name__}")


def _checked_field_names(
    name: str, fields: Sequence[str] | None, valid: Sequence[str]
) -> set[str] | None:
    """``fields`` (None: no selection) as a set, each one a data field of the rollout.

    A str is refused rather than matched character by character (``"rewards"`` would select
    any field named ``"r"``, ``"e"``, ...).
    """
    if fields is None:
        return None
    if isinstance(fields, (str, bytes)) or not isinstance(fields, Iterable):
        raise TypeError(f"{name} must be a list of field names (not a str), got {fields!r}")
    names = list(fields)
    not_str = [f for f in names if not isinstance(f, str)]
    if not_str:
        raise TypeError(f"{name} must hold field names (strs), got {not_str[0]!r}")
    unknown = [f for f in names if f not in valid]
    if unknown:
        raise ValueError(
            f"{name} must name data fields of the rollout {sorted(valid)}, got unknown {unknown}"
        )
    return set(names)
