"""Taking steps and rollouts out of a :class:`~gymsamp.data.StepSequence`, and what follows them.

An int gives a :class:`~gymsamp.data.Step` proxy. A plain slice of a continuous sequence gives a
continuous subsequence that keeps its rollouts' bounds, infos and final entries. Any other
selection (strided slices, index lists, boolean masks) gives a non-continuous batch that keeps
only the steps. Either way every step keeps the step type it had in the source: a slice that
starts mid-rollout starts with a MID step, not a FIRST one. The entry after a step (``next_``
access) is the next one within a rollout and that rollout's final entry at its end, so nothing
is ever taken from the following rollout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from gymsamp._checks import check_bool
from gymsamp.data._tree import Field, tree_first_leaf, tree_map
from gymsamp.data.data_format import cat_to_format, is_tensor, stack_to_format, to_format
from gymsamp.data.step import Step, checked_index
from gymsamp.data.step_type import step_types_of

if TYPE_CHECKING:
    from gymsamp.data.step_sequence import StepSequence


def index_field(field: Field, index: Any) -> Field:
    """``index`` applied to every array of a (possibly nested) field."""
    return tree_map(lambda leaf: leaf[index], field)


def data_values(seq: StepSequence, name: str, truncate_last: bool) -> Field:
    """``seq.get_data_values(name, truncate_last)``: a field, less its T+1-th entry if asked."""
    if name not in seq._data:
        raise KeyError(f"name must be a data field, got {name!r}; fields: {sorted(seq._data)}")
    field = seq._data[name]
    # A truthy "no" would otherwise truncate.
    if check_bool("truncate_last", truncate_last) and name in seq._after_last:
        return index_field(field, slice(0, seq._length))
    return field


def flag_at(seq: StepSequence, name: str, index: int) -> tuple[np.ndarray, int] | None:
    """``seq._flag(name, index)`` for a plural flag name: see there."""
    if name in ("terminated", "truncated"):
        return getattr(seq, name), index
    one = slice(index, index + 1)
    if name == "done":
        return seq._terminated[one] | seq._truncated[one], 0
    if name == "step_types":
        return step_types_at(seq, np.array([index])), 0
    return None


def select_steps(seq: StepSequence, index: Any) -> Step | StepSequence:
    """``seq[index]``: a :class:`Step` for an int, else a :class:`StepSequence`."""
    length = seq._length
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        return Step(seq, index)  # Step checks the index
    if isinstance(index, slice):
        start, stop, step = index.indices(length)
        if step == 1 and seq._continuous:
            if stop <= start:
                raise IndexError(f"slice must select at least one step, got {index}")
            return subsequence(seq, start, stop)
        index = np.arange(start, stop, step)
    idcs = np.asarray(index)
    if idcs.dtype == bool:
        if idcs.shape != (length,):
            raise IndexError(f"a boolean index must have shape ({length},), got {idcs.shape}")
        idcs = np.flatnonzero(idcs)
    if idcs.ndim != 1 or idcs.size == 0 or not np.issubdtype(idcs.dtype, np.integer):
        raise IndexError(
            f"index must be an int, a slice or a non-empty list of ints, got {index!r}"
            + _field_hint(seq, index)
        )
    idcs = np.where(idcs < 0, idcs + length, idcs)
    if np.any((idcs < 0) | (idcs >= length)):
        raise IndexError(f"indices must be in [0, {length}), got {np.asarray(index)}")
    return gather_steps(seq, idcs)


def gather_steps(seq: StepSequence, idcs: np.ndarray) -> StepSequence:
    """A non-continuous batch of the given steps (after-last entries are dropped)."""
    index = idcs if seq._data_format == "numpy" else to_format(idcs, "torch")
    data = {name: index_field(seq.get_data_values(name, True), index) for name in seq._data}
    batch = seq._assemble(
        data=data,
        after_last=set(),
        terminated=seq._terminated[idcs],
        truncated=seq._truncated[idcs],
        rollout_bounds=None,
        rollout_infos=[seq.rollout_info if len(seq._rollout_infos) == 1 else None],
        finals={},
        data_format=seq._data_format,
    )
    # A shuffled batch cannot derive step types from bounds: it keeps its source's.
    batch._gathered_types = step_types_at(seq, idcs)
    return batch


def step_types_at(seq: StepSequence, idcs: np.ndarray) -> np.ndarray:
    """``seq.step_types[idcs]`` for indices in ``[0, T)``, computed for those steps only.

    A gathered batch or a single step would otherwise pay for the types of all T steps.
    """
    if seq._gathered_types is not None:
        return seq._gathered_types[idcs]
    bounds = seq._rollout_bounds
    if bounds is None:  # a non-continuous batch: no step is known to start a rollout
        first = np.zeros(idcs.shape, dtype=bool)
    else:
        # Looked up in sorted order (about 3x faster for a shuffled batch: numpy's search
        # starts from the previous key's result). bounds[-1] == T lies beyond every index,
        # so every position found is inside the bounds.
        order = np.argsort(idcs)
        positions = np.empty_like(order)
        positions[order] = np.searchsorted(bounds, idcs[order])
        first = bounds[positions] == idcs
    return step_types_of(seq._terminated[idcs], seq._truncated[idcs], first)


def subsequence(seq: StepSequence, start: int, stop: int) -> StepSequence:
    """The continuous steps ``start..stop-1``, after-last fields and finals kept whole."""
    bounds = seq._require_continuous("slicing")
    first = int(np.searchsorted(bounds, start, side="right")) - 1
    last = int(np.searchsorted(bounds, stop - 1, side="right")) - 1
    sub_bounds = np.concatenate([[start], bounds[first + 1 : last + 1], [stop]]) - start
    ends_at_boundary = stop == bounds[last + 1]
    data = {name: index_field(field, slice(start, stop)) for name, field in seq._data.items()}
    finals: dict[str, Field | None] = {}
    for name in (n for n in seq._data if n in seq._after_last):  # field order, not the set's
        # The entry after the slice: the rollout's final one, or the next in-rollout entry.
        try:
            entries = [seq._final_entry(name, r) for r in range(first, last)]
            entries.append(
                seq._final_entry(name, last)
                if ends_at_boundary
                else index_field(seq._data[name], stop)
            )
        except ValueError:
            finals[name] = None
            after = (
                index_field(seq._data[name], stop)
                if not ends_at_boundary or stop == seq._length
                else None
            )
            if after is not None:
                data[name] = index_field(seq._data[name], slice(start, stop + 1))
            continue
        finals[name] = stack_to_format(entries, seq._data_format)
        data[name] = cat_to_format(
            [data[name], index_field(finals[name], slice(-1, None))], seq._data_format
        )
    sub = seq._assemble(
        data=data,
        after_last={n for n in seq._after_last if len(tree_first_leaf(data[n])) > stop - start},
        terminated=seq._terminated[start:stop],
        truncated=seq._truncated[start:stop],
        rollout_bounds=sub_bounds.astype(np.intp),
        rollout_infos=seq._rollout_infos[first : last + 1],
        finals=finals,
        data_format=seq._data_format,
    )
    if seq._gathered_types is not None or start != bounds[first]:
        # The bounds would make the slice's first step FIRST: it keeps its source's type.
        sub._gathered_types = step_types_at(seq, np.arange(start, stop))
    return sub


def select_rollouts(
    seq: StepSequence,
    index: int | slice | Iterable[int],
    concat: Callable[[list[StepSequence]], StepSequence],
) -> StepSequence:
    """``seq.get_rollout(index)``; ``concat`` joins several (``StepSequence.concat``)."""
    bounds = seq._require_continuous("get_rollout")
    count = len(bounds) - 1
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        i = checked_index(index, count)
        return subsequence(seq, int(bounds[i]), int(bounds[i + 1]))
    selected = list(range(count))[index] if isinstance(index, slice) else _index_list(index)
    if not selected:
        raise IndexError(f"index must select at least one rollout, got {index!r}")
    return concat([seq.get_rollout(i) for i in selected])


def _field_hint(seq: Any, index: Any) -> str:
    """Where a str index (``ro["rewards"]``, as for a dict or a DataFrame) is a field's name:
    how fields are read."""
    if not isinstance(index, str):
        return ""
    if index in seq.data_names:
        return f" (a field is read as ro.{index} or ro.get_data_values({index!r}))"
    return f" (fields are read as attributes or with get_data_values(); fields: {seq.data_names})"


def _index_list(index: Any) -> list[Any]:
    """The rollout indices of an index list (ints, numpy ints), refusing anything else.

    A str is iterable but holds no indices (its characters would be tried one by one).
    """
    # A 0-d array or tensor is Iterable by its type but cannot be iterated.
    if (
        isinstance(index, (str, bytes))
        or not isinstance(index, Iterable)
        or getattr(index, "ndim", None) == 0
    ):
        raise TypeError(
            "index must be an int, a slice or a list of ints, got "
            f"{index!r} ({type(index).__name__})"
        )
    selected = list(index)
    if any(
        isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) for i in selected
    ):
        raise TypeError(f"index must be an int, a slice or a list of ints, got {index!r}")
    return selected


def final_entries(seq: StepSequence, name: str) -> Field | None:
    """The final entry of every rollout of an after-last field, or None where unknown."""
    finals = seq._finals.get(name)
    if finals is None and (seq._rollout_bounds is None or len(seq._rollout_bounds) == 2):
        return index_field(seq._data[name], slice(seq._length, None))
    return finals


def final_entry(seq: StepSequence, name: str, rollout: int) -> Field:
    """The final entry of an after-last field in one rollout (raises where it is unknown)."""
    num = len(seq._rollout_bounds) - 1 if seq._rollout_bounds is not None else 1
    finals = seq._finals.get(name)
    if finals is not None:
        return index_field(finals, rollout)
    if rollout == num - 1:
        return index_field(seq._data[name], seq._length)
    # Unknown finals (None) come from the constructor given several rollouts flat and from
    # add_data on a joined sequence alike: nothing tells the two apart, so the advice covers both.
    why = (
        f"{name} was given flat for all {num} rollouts (to the constructor, or to add_data "
        f"after they were joined), so its T+1 entries hold only the last rollout's final one; "
        f"give each rollout its own {name} (build each rollout with it, or add {name} to each "
        "over iterate_rollouts()) and StepSequence.concat them to keep every final entry"
    )
    raise ValueError(f"the final {name} of rollout {rollout} is unknown: {why}")


def next_entry(seq: StepSequence, name: str, index: int) -> Field:
    """The entry of ``name`` after step ``index`` (the rollout's final one at its end)."""
    bounds = seq._require_continuous("next_ access")
    rollout = int(np.searchsorted(bounds, index, side="right")) - 1
    if index + 1 == bounds[rollout + 1]:
        return seq._final_entry(name, rollout)
    return index_field(seq._data[name], index + 1)


def next_values(seq: StepSequence, name: str) -> Field:
    """``seq.next_values(name)``: the entry after every step, never from the next rollout."""
    if name not in seq._after_last:
        raise ValueError(
            f"name must be a field with T+1 entries, got {name!r}; "
            f"such fields are {sorted(seq._after_last)}"
        )
    bounds = seq._require_continuous("next_values")
    ends = bounds[1:] - 1
    finals = seq._final_entries(name)
    if finals is None:
        finals = stack_to_format(
            [seq._final_entry(name, r) for r in range(len(ends))], seq._data_format
        )

    def shift(leaf: Any, final_leaf: Any) -> Any:
        nxt = leaf[1 : seq._length + 1].clone() if is_tensor(leaf) else leaf[1:].copy()
        nxt[ends] = final_leaf
        return nxt

    return tree_map(shift, seq._data[name], finals)
