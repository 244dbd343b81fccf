"""Concatenating :class:`~gymsamp.data.StepSequence` parts into one sequence.

Each part's final entries (of its fields with T+1 entries) cannot sit between the next part's
steps, so they are taken out of the step stream and kept aside as the sequence's ``finals``;
only the last part's final entry stays at the end. Rollout bounds and infos are joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gymsamp._checks import check_bool
from gymsamp.data._sequence_indexing import index_field
from gymsamp.data._tree import Field, tree_leaves
from gymsamp.data.data_format import cat_to_format

if TYPE_CHECKING:
    from gymsamp.data.step_sequence import StepSequence


def concatenate(
    cls: type[StepSequence],
    parts: Sequence[StepSequence],
    data_format: str | None,
    truncate_last: bool,
    part_type: type[StepSequence],
) -> StepSequence:
    """``cls.concat(parts, data_format, truncate_last)``: one ``cls`` holding all ``parts``.

    Every part must be a ``part_type`` (StepSequence itself, so that a subclass's ``concat``
    still accepts plain sequences).
    """
    if not check_bool("truncate_last", truncate_last):
        raise ValueError(
            "truncate_last must be True: a part's final entry cannot sit between steps; "
            "gymsamp keeps every part's final entries aside instead, got False"
        )
    if isinstance(parts, part_type) or not isinstance(parts, Iterable):
        raise TypeError(f"parts must be a list of StepSequence objects, got {type(parts).__name__}")
    parts = list(parts)
    if not parts:
        raise ValueError("parts must contain at least one StepSequence, got none")
    for i, part in enumerate(parts):
        if not isinstance(part, part_type):
            raise TypeError(f"parts[{i}] must be a StepSequence, got {type(part).__name__}")
    names = list(parts[0]._data)
    for i, part in enumerate(parts[1:], start=1):
        if set(part._data) != set(names):
            raise ValueError(
                f"parts[{i}] has the fields {sorted(part._data)} but must have "
                f"{sorted(names)} to match parts[0]"
            )
    if data_format is None:
        data_format = "torch" if any(p._data_format == "torch" for p in parts) else "numpy"
    continuous = all(p._continuous for p in parts)
    after_last = set.intersection(*(p._after_last for p in parts)) if continuous else set()

    def steps_of(part: StepSequence, name: str, is_last: bool) -> Field:
        # The last part keeps its final entry of the T+1 fields; the others' go to finals.
        # Whether a part is last goes by its position, never by identity: the same sequence
        # may appear several times in ``parts``.
        field = part._data[name]
        if name not in part._after_last or (is_last and name in after_last):
            return field
        if isinstance(field, np.ndarray):
            return field[: part._length]
        return index_field(field, slice(0, part._length))

    def cat(items: list[Any]) -> Any:
        # Plain numpy arrays (the common case) skip the generic nested-field machinery.
        if data_format == "numpy" and all(type(x) is np.ndarray for x in items):
            return np.concatenate(items)
        return cat_to_format(items, data_format)

    last = len(parts) - 1
    data = {}
    for name in names:
        items = [steps_of(p, name, i == last) for i, p in enumerate(parts)]
        try:
            data[name] = cat(items)
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise _mismatch(name, items) or _unjoinable(name, items, err) from None
    finals: dict[str, Field | None] = {}
    for name in (n for n in names if n in after_last):  # field order, not the set's (hashing)
        part_finals = [p._final_entries(name) for p in parts]
        known = all(f is not None for f in part_finals)
        finals[name] = cat(part_finals) if known else None
    joined = cls._assemble(
        data=data,
        after_last=after_last,
        terminated=np.concatenate([p._terminated for p in parts]),
        truncated=np.concatenate([p._truncated for p in parts]),
        rollout_bounds=_joined_bounds(parts) if continuous else None,
        rollout_infos=[info for p in parts for info in p._rollout_infos],
        finals=finals,
        data_format=data_format,
    )
    if any(p._gathered_types is not None for p in parts):
        # Step types that the joined bounds cannot tell (a shuffled batch's, a slice's that
        # starts mid-rollout) stay as the parts had them.
        joined._gathered_types = np.concatenate([p.step_types for p in parts])
    return joined


def _per_step(field: Field, name: str) -> dict[str, tuple[int, ...]]:
    """Each leaf of a field by its path: its shape per step."""
    return {path: tuple(np.shape(leaf)[1:]) for path, leaf in tree_leaves(field, name)}


def _mismatch(name: str, items: list[Field]) -> ValueError | None:
    """A message naming the first part whose field ``name`` cannot join the first part's, in
    the form "parts[i] has X but must have Y to match parts[0]" (None if none is found)."""
    first = _per_step(items[0], name)
    for i, item in enumerate(items[1:], start=1):
        other = _per_step(item, name)
        if set(other) != set(first):
            return ValueError(
                f"parts[{i}] has the leaves {sorted(other)} in {name!r} but must have "
                f"{sorted(first)} to match parts[0]"
            )
        for path, shape in other.items():
            if shape != first[path]:
                return ValueError(
                    f"parts[{i}] has {path} of shape {shape} per step but must have "
                    f"{first[path]} to match parts[0]"
                )
    return None


def _unjoinable(name: str, items: list[Field], err: Exception) -> Exception:
    """The error for a field whose parts fit in shape but that numpy or torch still cannot
    join (dtypes without a common one, e.g. datetime64 and float64): it names the field and
    the parts' dtypes, where it was numpy's message alone."""
    dtypes = sorted({str(leaf.dtype) for item in items for _, leaf in tree_leaves(item, name)})
    error = TypeError if isinstance(err, TypeError) else ValueError
    return error(
        f"parts must have {name!r} of dtypes that join (as numpy or torch concatenates them), "
        f"got the dtypes {dtypes}: {err}"
    )


def _joined_bounds(parts: list[StepSequence]) -> np.ndarray:
    """The rollout bounds of continuous ``parts`` laid back to back."""
    lengths = np.fromiter((p._length for p in parts), dtype=np.intp, count=len(parts))
    if all(len(p._rollout_bounds) == 2 for p in parts):  # type: ignore[arg-type]
        rollout_bounds = np.concatenate([np.zeros(1, np.intp), np.cumsum(lengths)])
    else:
        offsets = np.concatenate([np.zeros(1, np.intp), np.cumsum(lengths[:-1])])
        pieces = [
            p._rollout_bounds[1:] + off  # type: ignore[index]
            for p, off in zip(parts, offsets, strict=True)
        ]
        rollout_bounds = np.concatenate([np.zeros(1, np.intp), *pieces])
    return rollout_bounds.astype(np.intp, copy=False)
