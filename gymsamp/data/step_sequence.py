"""The rollout container :class:`StepSequence` (SimuRLacra's, with Gymnasium's two end flags).

Time alignment (DESIGN §3): a rollout of T steps stores ``rewards``, ``actions`` and every other
per-step field with T entries, and ``observations`` (and any field added ``with_after_last``)
with T+1 entries, the last being the true final entry. ``rewards[t]``, ``terminated[t]`` and
``truncated[t]`` result from taking ``actions[t]`` in ``observations[t]``.

A sequence may hold several rollouts back to back (``rollout_bounds``). Each rollout's final
entry is kept even then (pyrado dropped all but the last one), so any rollout can be recovered
whole with :meth:`StepSequence.get_rollout`, and ``next_`` values never cross into the next rollout.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, Protocol, overload

import numpy as np
import numpy.typing as npt

from gymsamp.data._tree import Field, tree_first_leaf, tree_leaves, tree_map
from gymsamp.data.batching import as_generator, check_positive_int, gen_shuffled_batch_idcs
from gymsamp.data.data_format import (
    DATA_FORMATS,
    cat_to_format,
    is_tensor,
    stack_to_format,
    to_format,
)
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step import Step
from gymsamp.data.step_type import step_types_from_flags

__all__ = ["RewardTask", "StepSequence"]

_FLAG_NAMES = ("terminated", "truncated", "done", "step_types")


class RewardTask(Protocol):
    """What :meth:`StepSequence.from_pandas` needs to recompute rewards (pyrado's ``Task``)."""

    def step_rew(self, state: np.ndarray, act: np.ndarray, remaining_steps: int) -> float:
        """Reward of taking ``act`` in ``state`` with ``remaining_steps`` steps left."""
        ...


def _as_field(value: Any, data_format: str) -> Field:
    """Stack per-step lists (of arrays, dicts or tuples) or convert arrays to ``data_format``."""
    if isinstance(value, (dict, tuple)) or not (isinstance(value, np.ndarray) or is_tensor(value)):
        value = stack_to_format(value, data_format)
    return tree_map(lambda leaf: to_format(leaf, data_format), value)


def _field_length(name: str, field: Field) -> int:
    lengths = {path: len(leaf) for path, leaf in tree_leaves(field, name)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every array in field {name!r} must have the same length, got {lengths}")
    return next(iter(lengths.values()))


def _check_no_grad(name: str, field: Field) -> None:
    for path, leaf in tree_leaves(field, name):
        if is_tensor(leaf) and leaf.requires_grad:
            raise ValueError(
                f"{path} must not require grad (storing tensors with gradient tracing is not "
                "supported, detach them first), got a tensor with requires_grad=True"
            )


def _index(field: Field, index: Any) -> Field:
    return tree_map(lambda leaf: leaf[index], field)


class StepSequence(Sequence[Step]):
    """A sequence of steps of one or more rollouts, stored field by field.

    Pass per-step values as lists (stacked here) or as arrays whose first axis is time. A list of
    dicts becomes a dict of arrays, a list of tuples (e.g. LSTM ``(h, c)``, NamedTuples) a tuple of
    arrays. ``rewards`` fixes the length T; every other field has T or T+1 entries (the latter
    carry the entry after the last step, like ``observations``). Indexing with an int gives a
    :class:`Step` proxy, with a slice or an index list a new :class:`StepSequence`.

    Args:
        rewards: Reward of each step, shape ``(T,)``.
        observations: Observations, T+1 entries (the last is the final observation); T entries
            are accepted for data that never had it (e.g. shuffled mini-batches).
        actions: Actions, T entries.
        complete: False if the data is part of a rollout (a mini-batch); then the last step is
            not marked done when no flags are given.
        rollout_info: Data constant through the rollout (domain parameters, seed, ...); for
            several rollouts, a list with one entry per rollout or one object shared by all.
        data_format: ``"numpy"`` or ``"torch"``; None uses torch if any data is a tensor.
        done: Per-step done flags (pyrado's single flag); taken as ``terminated`` when no
            Gymnasium flags are given.
        continuous: True if the steps form one continuous stream of whole rollouts.
        rollout_bounds: Start index of every rollout followed by T; None derives it from the
            done flags.
        terminated: Gymnasium's per-step ``terminated`` flags.
        truncated: Gymnasium's per-step ``truncated`` flags.
        **data: Additional fields with T or T+1 entries.

    Without any flags, a complete continuous sequence is taken to end (``terminated``) at the
    end of each rollout, as in pyrado.

    Example:
        >>> ro = StepSequence(
        ...     rewards=[1.0, 1.0, 0.5], observations=[[0.0], [0.1], [0.2], [0.3]],
        ...     actions=[[1], [0], [1]], terminated=[False, False, False],
        ...     truncated=[False, False, True])
        >>> len(ro), ro.observations.shape, ro.step_types.tolist()
        (3, (4, 1), [0, 1, 3])
        >>> ro.undiscounted_return()
        2.5
    """

    required_fields: ClassVar[set[str]] = set()

    # Typed views of the mandatory fields (served by __getattr__ from the data dict).
    rewards: Any
    observations: Any
    actions: Any

    _data: dict[str, Field]
    _after_last: set[str]
    _finals: dict[str, Field | None]
    _rollout_infos: list[Any]
    _rollout_bounds: np.ndarray | None

    def __init__(
        self,
        *,
        complete: bool = True,
        rollout_info: Any = None,
        data_format: str | None = None,
        done: npt.ArrayLike | None = None,
        continuous: bool = True,
        rollout_bounds: Sequence[int] | np.ndarray | None = None,
        rewards: Any,
        observations: Any,
        actions: Any,
        terminated: npt.ArrayLike | None = None,
        truncated: npt.ArrayLike | None = None,
        **data: Any,
    ) -> None:
        missing = self.required_fields - data.keys() - {"rewards", "observations", "actions"}
        if missing:
            raise ValueError(f"data must contain the required fields {sorted(missing)}")
        fields = {"rewards": rewards, "observations": observations, "actions": actions, **data}
        if data_format is None:
            has_tensor = any(is_tensor(leaf) for f in fields.values() for _, leaf in tree_leaves(f))
            data_format = "torch" if has_tensor else "numpy"
        elif data_format not in DATA_FORMATS:
            raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
        self._init_empty(data_format, continuous)

        self._data["rewards"] = _as_field(rewards, data_format)
        if len(tree_first_leaf(self._data["rewards"]).shape) != 1:
            raise ValueError(
                "rewards must have shape (T,), got "
                f"{tuple(tree_first_leaf(self._data['rewards']).shape)}"
            )
        self._length = len(self._data["rewards"])
        if self._length < 1:
            raise ValueError("rewards must hold at least one step, got 0 steps")
        _check_no_grad("rewards", self._data["rewards"])
        for name, value in fields.items():
            if name != "rewards":
                self.add_data(name, value)

        self._terminated, self._truncated = self._flags_from_args(
            terminated, truncated, done, complete, rollout_bounds
        )
        self._rollout_bounds = self._bounds_from_args(rollout_bounds) if continuous else None
        num_rollouts = self.rollout_count if continuous else 1
        self._rollout_infos = self._infos_from_arg(rollout_info, num_rollouts)
        # A single rollout knows its final entries; several rollouts given flat do not.
        self._finals = {
            name: (
                _index(self._data[name], slice(self._length, None)) if num_rollouts == 1 else None
            )
            for name in self._after_last
        }

    # --- construction helpers -------------------------------------------------------------

    def _init_empty(self, data_format: str, continuous: bool) -> None:
        self._data = {}
        self._after_last = set()
        self._finals = {}
        self._data_format = data_format
        self._continuous = bool(continuous)
        self._rollout_infos = [None]
        self._rollout_bounds = None
        # A shuffled batch cannot derive step types from bounds: it keeps its source's.
        self._gathered_types: np.ndarray | None = None

    def _flags_from_args(
        self,
        terminated: npt.ArrayLike | None,
        truncated: npt.ArrayLike | None,
        done: npt.ArrayLike | None,
        complete: bool,
        rollout_bounds: Sequence[int] | np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        length = self._length

        def flag_array(name: str, value: npt.ArrayLike) -> np.ndarray:
            array = np.asarray(to_format(value, "numpy"), dtype=bool)
            if array.shape != (length,):
                raise ValueError(
                    f"{name} has shape {array.shape} but must have ({length},) to match rewards"
                )
            return array

        if terminated is not None or truncated is not None:
            term = flag_array(
                "terminated", terminated if terminated is not None else [False] * length
            )
            trunc = flag_array(
                "truncated", truncated if truncated is not None else [False] * length
            )
            if done is not None and not np.array_equal(flag_array("done", done), term | trunc):
                raise ValueError("done must equal terminated | truncated where all three are given")
            return term, trunc
        if done is not None:
            return flag_array("done", done), np.zeros(length, dtype=bool)
        term = np.zeros(length, dtype=bool)
        if complete and self._continuous:
            ends = [length] if rollout_bounds is None else np.asarray(rollout_bounds)[1:]
            term[np.asarray(ends, dtype=np.intp) - 1] = True
        return term, np.zeros(length, dtype=bool)

    def _bounds_from_args(self, rollout_bounds: Sequence[int] | np.ndarray | None) -> np.ndarray:
        done_ends = np.flatnonzero(self._terminated | self._truncated) + 1
        if rollout_bounds is None:
            bounds = np.concatenate([[0], done_ends])
            if bounds[-1] != self._length:
                bounds = np.append(bounds, self._length)
            return bounds.astype(np.intp)
        bounds = np.asarray(rollout_bounds, dtype=np.intp)
        if (
            bounds.ndim != 1
            or len(bounds) < 2
            or bounds[0] != 0
            or bounds[-1] != self._length
            or np.any(np.diff(bounds) <= 0)
        ):
            raise ValueError(
                "rollout_bounds must be strictly increasing from 0 to the length "
                f"{self._length}, got {bounds.tolist()}"
            )
        inner = np.setdiff1d(done_ends, bounds)
        if inner.size:
            raise ValueError(
                "rollout_bounds must include the end of every done step, got "
                f"{bounds.tolist()} with done steps ending at {inner.tolist()}"
            )
        return bounds

    @staticmethod
    def _infos_from_arg(rollout_info: Any, num_rollouts: int) -> list[Any]:
        if (
            num_rollouts > 1
            and isinstance(rollout_info, (list, tuple))
            and len(rollout_info) == num_rollouts
        ):
            return list(rollout_info)
        return [rollout_info] * num_rollouts

    @classmethod
    def _assemble(
        cls,
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
        seq._init_empty(data_format, rollout_bounds is not None)
        seq._data = data
        seq._after_last = after_last
        seq._length = len(terminated)
        seq._terminated, seq._truncated = terminated, truncated
        seq._rollout_bounds = rollout_bounds
        seq._rollout_infos = rollout_infos
        seq._finals = finals
        return seq

    # --- basic properties -----------------------------------------------------------------

    def __len__(self) -> int:
        return self._length

    @property
    def length(self) -> int:
        """Number of steps (the final entry of the after-last fields is not a step)."""
        return self._length

    @property
    def data_format(self) -> str:
        """``"numpy"`` or ``"torch"``."""
        return self._data_format

    @property
    def data_names(self) -> Sequence[str]:
        """Names of the data fields, in insertion order."""
        return list(self._data)

    @property
    def continuous(self) -> bool:
        """True if the steps form a continuous stream of rollouts (not a shuffled batch)."""
        return self._continuous

    @property
    def terminated(self) -> np.ndarray:
        """Gymnasium's ``terminated`` flag of every step (bool, shape ``(T,)``)."""
        return self._terminated

    @property
    def truncated(self) -> np.ndarray:
        """Gymnasium's ``truncated`` flag of every step (bool, shape ``(T,)``)."""
        return self._truncated

    @property
    def done(self) -> np.ndarray:
        """``terminated | truncated`` (bool, shape ``(T,)``)."""
        return self._terminated | self._truncated

    @property
    def step_types(self) -> np.ndarray:
        """The :class:`~gymsamp.data.StepType` of every step as ``int8`` (DESIGN §3)."""
        if self._gathered_types is not None:
            return self._gathered_types
        bounds = self._rollout_bounds if self._rollout_bounds is not None else [0]
        return step_types_from_flags(self._terminated, self._truncated, bounds)

    def _flag(self, name: str) -> np.ndarray | None:
        """A flag array by (singular or plural) name, for :class:`Step`; None if no flag."""
        name = name if name in _FLAG_NAMES else name + "s"
        return getattr(self, name) if name in _FLAG_NAMES else None

    @property
    def rollout_info(self) -> Any:
        """The rollout's info; for several rollouts, a list with one info per rollout."""
        return (
            self._rollout_infos[0] if len(self._rollout_infos) == 1 else list(self._rollout_infos)
        )

    @property
    def rollout_infos(self) -> list[Any]:
        """One info per rollout (a list also for a single rollout)."""
        return list(self._rollout_infos)

    @property
    def rollout_bounds(self) -> np.ndarray:
        """Start index of every rollout followed by the length, e.g. ``[0, 4, 11]``."""
        return self._require_continuous("rollout_bounds").copy()

    @property
    def rollout_count(self) -> int:
        """Number of rollouts in this sequence."""
        return len(self._require_continuous("rollout_count")) - 1

    @property
    def rollout_lengths(self) -> np.ndarray:
        """Number of steps of every rollout."""
        return np.diff(self._require_continuous("rollout_lengths"))

    def _require_continuous(self, what: str) -> np.ndarray:
        if self._rollout_bounds is None:
            raise ValueError(f"{what} needs a continuous sequence, got a non-continuous batch")
        return self._rollout_bounds

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: serve data fields as attributes.
        if name.startswith("_"):
            raise AttributeError(name)
        data = self.__dict__.get("_data", {})
        if name in data:
            return data[name]
        raise AttributeError(
            f"{type(self).__name__} has no attribute or data field {name!r}; "
            f"data fields: {sorted(data)}"
        )

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}{'+1' if name in self._after_last else ''}" for name in self._data
        )
        count = self.rollout_count if self._continuous else "?"
        return (
            f"StepSequence(length={self._length}, rollouts={count}, "
            f"data_format={self._data_format!r}, fields=[{fields}])"
        )

    # --- data access ----------------------------------------------------------------------

    def add_data(
        self,
        name: str,
        value: Any = None,
        item_shape: tuple[int, ...] | None = None,
        with_after_last: bool = False,
    ) -> None:
        """Add a data field.

        Args:
            name: Field name (must be new and not one of the flag names).
            value: Per-step values with T or T+1 entries; None creates zeros of ``item_shape``.
            item_shape: Shape of one entry, used when ``value`` is None.
            with_after_last: When creating zeros, give the field T+1 entries.

        Example:
            >>> ro = StepSequence(rewards=[1.0, 2.0], observations=[0, 1, 2], actions=[0, 0])
            >>> ro.add_data("values", item_shape=(), with_after_last=True)
            >>> ro.values.shape
            (3,)
        """
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"name must be an identifier not starting with '_', got {name!r}")
        if name in self._data or name in _FLAG_NAMES:
            raise ValueError(f"name must be a new data field, got {name!r} which already exists")
        if value is None:
            shape = (self._length + int(with_after_last), *(item_shape or ()))
            value = np.zeros(shape)
        field = _as_field(value, self._data_format)
        _check_no_grad(name, field)
        length = _field_length(name, field)
        if length not in (self._length, self._length + 1):
            raise ValueError(
                f"{name} has {length} entries but must have {self._length} or "
                f"{self._length + 1} to match rewards"
            )
        self._data[name] = field
        if length == self._length + 1:
            # A new set, never an update: sequences built in bulk may share one.
            self._after_last = self._after_last | {name}
            # Finals are known only where the sequence holds a single rollout.
            single = self._rollout_bounds is None or len(self._rollout_bounds) == 2
            if hasattr(self, "_terminated"):  # after construction
                final = _index(field, slice(self._length, None)) if single else None
                self._finals = {**self._finals, name: final}  # a new dict: it may be shared

    def get_data_values(self, name: str, truncate_last: bool = False) -> Field:
        """The data stored under ``name``; ``truncate_last`` drops a T+1-th entry."""
        if name not in self._data:
            raise KeyError(f"name must be a data field, got {name!r}; fields: {sorted(self._data)}")
        field = self._data[name]
        if truncate_last and name in self._after_last:
            return _index(field, slice(0, self._length))
        return field

    def _final_entries(self, name: str) -> Field | None:
        """The final entry of every rollout of an after-last field, or None where unknown."""
        finals = self._finals.get(name)
        if finals is None and (self._rollout_bounds is None or len(self._rollout_bounds) == 2):
            return _index(self._data[name], slice(self._length, None))
        return finals

    def _final_entry(self, name: str, rollout: int) -> Field:
        num = len(self._rollout_bounds) - 1 if self._rollout_bounds is not None else 1
        finals = self._finals.get(name)
        if finals is not None:
            return _index(finals, rollout)
        if rollout == num - 1:
            return _index(self._data[name], self._length)
        raise ValueError(
            f"the final {name} of rollout {rollout} is unknown: the sequence was built from "
            "several rollouts given flat; build it with StepSequence.concat to keep them"
        )

    def _next_entry(self, name: str, index: int) -> Field:
        """The entry of ``name`` after step ``index`` (the rollout's final one at its end)."""
        if not self._continuous:
            raise ValueError("next_ access needs a continuous sequence, got a non-continuous batch")
        bounds = self._require_continuous("next_ access")
        rollout = int(np.searchsorted(bounds, index, side="right")) - 1
        if index + 1 == bounds[rollout + 1]:
            return self._final_entry(name, rollout)
        return _index(self._data[name], index + 1)

    def next_values(self, name: str) -> Field:
        """The value after every step of an after-last field (shape ``(T, ...)``).

        At the last step of each rollout this is that rollout's final entry, so nothing leaks
        from one rollout into the next.
        """
        if name not in self._after_last:
            raise ValueError(
                f"name must be a field with T+1 entries, got {name!r}; "
                f"such fields are {sorted(self._after_last)}"
            )
        bounds = self._require_continuous("next_values")
        ends = bounds[1:] - 1
        finals = self._final_entries(name)
        if finals is None:
            finals = stack_to_format(
                [self._final_entry(name, r) for r in range(len(ends))], self._data_format
            )

        def shift(leaf: Any, final_leaf: Any) -> Any:
            nxt = leaf[1 : self._length + 1].clone() if is_tensor(leaf) else leaf[1:].copy()
            nxt[ends] = final_leaf
            return nxt

        return tree_map(shift, self._data[name], finals)

    # --- indexing -------------------------------------------------------------------------

    @overload
    def __getitem__(self, index: int) -> Step: ...

    @overload
    def __getitem__(self, index: slice | Sequence[int] | np.ndarray) -> StepSequence: ...

    def __getitem__(self, index: Any) -> Step | StepSequence:
        if isinstance(index, (int, np.integer)):
            i = int(index)
            if not -self._length <= i < self._length:
                raise IndexError(f"index must be in [-{self._length}, {self._length}), got {i}")
            return Step(self, i % self._length)
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step == 1 and self._continuous:
                if stop <= start:
                    raise IndexError(f"slice must select at least one step, got {index}")
                return self._subsequence(start, stop)
            index = np.arange(start, stop, step)
        idcs = np.asarray(index)
        if idcs.dtype == bool:
            if idcs.shape != (self._length,):
                raise IndexError(
                    f"a boolean index must have shape ({self._length},), got {idcs.shape}"
                )
            idcs = np.flatnonzero(idcs)
        if idcs.ndim != 1 or idcs.size == 0 or not np.issubdtype(idcs.dtype, np.integer):
            raise IndexError(
                f"index must be an int, a slice or a non-empty list of ints, got {index!r}"
            )
        idcs = np.where(idcs < 0, idcs + self._length, idcs)
        if np.any((idcs < 0) | (idcs >= self._length)):
            raise IndexError(f"indices must be in [0, {self._length}), got {np.asarray(index)}")
        return self._gather(idcs)

    def _gather(self, idcs: np.ndarray) -> StepSequence:
        """A non-continuous batch of the given steps (after-last entries are dropped)."""
        index = idcs if self._data_format == "numpy" else to_format(idcs, "torch")
        data = {name: _index(self.get_data_values(name, True), index) for name in self._data}
        batch = self._assemble(
            data=data,
            after_last=set(),
            terminated=self._terminated[idcs],
            truncated=self._truncated[idcs],
            rollout_bounds=None,
            rollout_infos=[self.rollout_info if len(self._rollout_infos) == 1 else None],
            finals={},
            data_format=self._data_format,
        )
        batch._gathered_types = self.step_types[idcs]
        return batch

    def _subsequence(self, start: int, stop: int) -> StepSequence:
        """The continuous steps ``start..stop-1``, after-last fields and finals kept whole."""
        bounds = self._require_continuous("slicing")
        first = int(np.searchsorted(bounds, start, side="right")) - 1
        last = int(np.searchsorted(bounds, stop - 1, side="right")) - 1
        sub_bounds = np.concatenate([[start], bounds[first + 1 : last + 1], [stop]]) - start
        ends_at_boundary = stop == bounds[last + 1]
        data = {name: _index(field, slice(start, stop)) for name, field in self._data.items()}
        finals: dict[str, Field | None] = {}
        for name in self._after_last:
            # The entry after the slice: the rollout's final one, or the next in-rollout entry.
            try:
                entries = [self._final_entry(name, r) for r in range(first, last)]
                entries.append(
                    self._final_entry(name, last)
                    if ends_at_boundary
                    else _index(self._data[name], stop)
                )
            except ValueError:
                finals[name] = None
                after = (
                    _index(self._data[name], stop)
                    if not ends_at_boundary or stop == self._length
                    else None
                )
                if after is not None:
                    data[name] = _index(self._data[name], slice(start, stop + 1))
                continue
            finals[name] = stack_to_format(entries, self._data_format)
            data[name] = cat_to_format(
                [data[name], _index(finals[name], slice(-1, None))], self._data_format
            )
        return self._assemble(
            data=data,
            after_last={
                n for n in self._after_last if len(tree_first_leaf(data[n])) > stop - start
            },
            terminated=self._terminated[start:stop],
            truncated=self._truncated[start:stop],
            rollout_bounds=sub_bounds.astype(np.intp),
            rollout_infos=self._rollout_infos[first : last + 1],
            finals=finals,
            data_format=self._data_format,
        )

    def get_rollout(self, index: int | slice | Iterable[int]) -> StepSequence:
        """Select rollouts: one by index (negative allowed), or several by slice or index list.

        Example:
            >>> ro = StepSequence(rewards=np.arange(6.0), observations=np.arange(7.0),
            ...                   actions=np.zeros(6), rollout_bounds=[0, 2, 5, 6])
            >>> ro.get_rollout(1).rewards.tolist(), ro.get_rollout([0, 2]).rollout_lengths.tolist()
            ([2.0, 3.0, 4.0], [2, 1])
        """
        bounds = self._require_continuous("get_rollout")
        count = len(bounds) - 1
        if isinstance(index, (int, np.integer)):
            i = int(index)
            if not -count <= i < count:
                raise IndexError(f"index must be in [-{count}, {count}), got {i}")
            i %= count
            return self._subsequence(int(bounds[i]), int(bounds[i + 1]))
        selected = list(range(count))[index] if isinstance(index, slice) else list(index)
        if not selected:
            raise IndexError(f"index must select at least one rollout, got {index!r}")
        return StepSequence.concat([self.get_rollout(i) for i in selected])

    def iterate_rollouts(self) -> Iterator[StepSequence]:
        """Iterate over the rollouts of this sequence, each one whole (with its final entries)."""
        bounds = self._require_continuous("iterate_rollouts")
        for i in range(len(bounds) - 1):
            yield self._subsequence(int(bounds[i]), int(bounds[i + 1]))

    # --- combination and conversion -------------------------------------------------------

    @classmethod
    def concat(
        cls,
        parts: Sequence[StepSequence],
        data_format: str | None = None,
        truncate_last: bool = True,
    ) -> StepSequence:
        """Concatenate sequences into one, keeping every part's final entries and infos.

        The concatenation's after-last fields hold T+1 entries (the last part's final entry at
        the end); each part's own final entries stay available through :meth:`get_rollout`,
        :meth:`iterate_rollouts` and ``next_`` access.

        Args:
            parts: Sequences to concatenate (all with the same data fields).
            data_format: ``"numpy"`` or ``"torch"``; None uses torch if any part does.
            truncate_last: Must be True: each part's final entry is taken out of the step
                stream (and kept aside). pyrado's False interleaved them with the next part's
                steps, misaligning every field; gymsamp refuses that.

        Example:
            >>> a = StepSequence(rewards=[1.0], observations=[0, 1], actions=[0])
            >>> b = StepSequence(rewards=[2.0, 3.0], observations=[5, 6, 7], actions=[0, 1])
            >>> both = StepSequence.concat([a, b])
            >>> both.observations.tolist(), both.get_rollout(0).observations.tolist()
            ([0, 5, 6, 7], [0, 1])
        """
        if not truncate_last:
            raise ValueError(
                "truncate_last must be True: a part's final entry cannot sit between steps; "
                "gymsamp keeps every part's final entries aside instead, got False"
            )
        parts = list(parts)
        if not parts:
            raise ValueError("parts must contain at least one StepSequence, got none")
        for i, part in enumerate(parts):
            if not isinstance(part, StepSequence):
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
        last = parts[-1]

        def steps_of(part: StepSequence, name: str) -> Field:
            # The last part keeps its final entry of the T+1 fields; the others' go to finals.
            field = part._data[name]
            if name not in part._after_last or (part is last and name in after_last):
                return field
            if isinstance(field, np.ndarray):
                return field[: part._length]
            return _index(field, slice(0, part._length))

        def cat(items: list[Any]) -> Any:
            # Plain numpy arrays (the common case) skip the generic nested-field machinery.
            if data_format == "numpy" and all(type(x) is np.ndarray for x in items):
                return np.concatenate(items)
            return cat_to_format(items, data_format)

        data = {name: cat([steps_of(p, name) for p in parts]) for name in names}
        finals: dict[str, Field | None] = {}
        for name in after_last:
            part_finals = [p._final_entries(name) for p in parts]
            known = all(f is not None for f in part_finals)
            finals[name] = cat(part_finals) if known else None
        rollout_bounds = None
        if continuous:
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
            rollout_bounds = rollout_bounds.astype(np.intp, copy=False)
        return cls._assemble(
            data=data,
            after_last=after_last,
            terminated=np.concatenate([p._terminated for p in parts]),
            truncated=np.concatenate([p._truncated for p in parts]),
            rollout_bounds=rollout_bounds,
            rollout_infos=[info for p in parts for info in p._rollout_infos],
            finals=finals,
            data_format=data_format,
        )

    def convert(self, data_format: str, data_type: Any = None) -> None:
        """Convert all data in place to ``"numpy"`` or ``"torch"`` (optionally casting)."""
        if data_format not in DATA_FORMATS:
            raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")

        def conv(leaf: Any) -> Any:
            return to_format(leaf, data_format, data_type)

        self._data = {name: tree_map(conv, field) for name, field in self._data.items()}
        self._finals = {
            name: None if f is None else tree_map(conv, f) for name, f in self._finals.items()
        }
        self._data_format = data_format

    def numpy(self, data_type: Any = None) -> StepSequence:
        """Convert the data to numpy arrays in place; returns ``self`` for chaining."""
        self.convert("numpy", data_type)
        return self

    def torch(self, data_type: Any = None) -> StepSequence:
        """Convert the data to torch tensors in place; returns ``self`` for chaining."""
        self.convert("torch", data_type)
        return self

    # --- returns ------------------------------------------------------------------------

    def undiscounted_return(self) -> float:
        """Sum of all rewards."""
        return float(to_format(self._data["rewards"], "numpy").sum())

    def discounted_return(self, gamma: float) -> float:
        """Sum over steps of ``gamma**t * r_t``, t counted from each rollout's start.

        For several rollouts this is the sum of their discounted returns.
        """
        from gymsamp.data.returns import check_gamma

        check_gamma(gamma)
        rewards = np.asarray(to_format(self._data["rewards"], "numpy"), dtype=np.float64)
        bounds = self._rollout_bounds if self._rollout_bounds is not None else np.array([0])
        starts = np.repeat(bounds[:-1], np.diff(bounds)) if len(bounds) > 1 else 0
        exponents = np.arange(self._length) - starts
        return float(np.sum(gamma**exponents * rewards))

    # --- batching -----------------------------------------------------------------------

    def split_ordered_batches(
        self, batch_size: int | None = None, num_batches: int | None = None
    ) -> Iterator[StepSequence]:
        """Split into consecutive mini-batches of ``batch_size`` steps, or into ``num_batches``.

        With ``num_batches`` the sizes differ by at most one step. The batches are continuous
        slices, so they keep rollout bounds and final entries.
        """
        if (batch_size is None) == (num_batches is None):
            raise ValueError(
                "exactly one of batch_size and num_batches must be given, got "
                f"batch_size={batch_size!r}, num_batches={num_batches!r}"
            )
        if batch_size is not None:
            check_positive_int("batch_size", batch_size)
            edges = [*list(range(0, self._length, batch_size)), self._length]
        else:
            check_positive_int("num_batches", num_batches)
            count = min(int(num_batches), self._length)  # type: ignore[arg-type]
            edges = [len(chunk) for chunk in np.array_split(np.arange(self._length), count)]
            edges = np.concatenate([[0], np.cumsum(edges)]).tolist()
        for start, stop in itertools.pairwise(edges):
            yield self[start:stop]

    def split_shuffled_batches(
        self,
        batch_size: int,
        complete_rollouts: bool = False,
        *,
        seed: int | np.random.Generator | None = None,
    ) -> Iterator[StepSequence]:
        """Split into randomly composed mini-batches of ``batch_size`` steps.

        Args:
            batch_size: Steps per batch (the last batch may be smaller).
            complete_rollouts: Shuffle whole rollouts and cut a batch whenever it reaches
                ``batch_size`` steps, so no rollout is split (batch sizes then vary).
            seed: Seed or generator for the shuffling; None uses fresh entropy.
        """
        check_positive_int("batch_size", batch_size)
        generator = as_generator(seed)
        if complete_rollouts and self._continuous:
            lengths = self.rollout_lengths
            batch: list[int] = []
            size = 0
            for idx in generator.permutation(len(lengths)):
                batch.append(int(idx))
                size += int(lengths[idx])
                if size >= batch_size:
                    yield self.get_rollout(batch)
                    batch, size = [], 0
            if batch:
                yield self.get_rollout(batch)
            return
        for idcs in gen_shuffled_batch_idcs(batch_size, self._length, seed=generator):
            yield self[list(idcs)]

    def sample_w_next(
        self, batch_size: int, *, seed: int | np.random.Generator | None = None
    ) -> tuple[StepSequence, StepSequence]:
        """Sample random steps together with the step that follows each, without replacement.

        Only steps whose successor lies in the same rollout are eligible, so a pair never
        crosses a rollout boundary.

        Returns:
            ``(steps, next_steps)``, two non-continuous batches of ``batch_size`` steps.
        """
        check_positive_int("batch_size", batch_size)
        bounds = self._require_continuous("sample_w_next")
        eligible = np.setdiff1d(np.arange(self._length), bounds[1:] - 1)
        if batch_size > eligible.size:
            raise ValueError(
                f"batch_size must be <= {eligible.size} (steps with a successor in the same "
                f"rollout), got {batch_size}"
            )
        idcs = np.sort(as_generator(seed).choice(eligible, size=batch_size, replace=False))
        return self[idcs], self[idcs + 1]

    @classmethod
    def pad(cls, rollout: StepSequence, len_to_pad_to: int, pad_value: float = 0) -> None:
        """Pad a single rollout in place to ``len_to_pad_to`` steps, filling with ``pad_value``.

        After-last fields grow to ``len_to_pad_to + 1`` entries. The padded steps have both end
        flags False; the real steps keep theirs.
        """
        if rollout.rollout_count != 1:
            raise ValueError(f"rollout must hold a single rollout, got {rollout.rollout_count}")
        extra = len_to_pad_to - rollout.length
        if extra < 0:
            raise ValueError(
                f"len_to_pad_to must be >= the rollout length {rollout.length}, got {len_to_pad_to}"
            )
        if extra == 0:
            return

        def pad_leaf(leaf: Any) -> Any:
            filler = np.full((extra, *leaf.shape[1:]), pad_value)
            filler = to_format(filler, rollout._data_format, leaf.dtype)
            return cat_to_format([leaf, filler], rollout._data_format)

        rollout._data = {name: tree_map(pad_leaf, f) for name, f in rollout._data.items()}
        rollout._length = len_to_pad_to
        rollout._terminated = np.concatenate([rollout._terminated, np.zeros(extra, dtype=bool)])
        rollout._truncated = np.concatenate([rollout._truncated, np.zeros(extra, dtype=bool)])
        rollout._rollout_bounds = np.array([0, len_to_pad_to], dtype=np.intp)
        rollout._finals = {
            name: _index(rollout._data[name], slice(len_to_pad_to, None))
            for name in rollout._after_last
        }

    @classmethod
    def process_data(
        cls,
        rollout: StepSequence,
        fcn: Callable[..., Any],
        fcn_arg_name: str,
        fcn_arg_types: type | tuple[type, ...] = np.ndarray,
        include_fields: Sequence[str] | None = None,
        exclude_fields: Sequence[str] | None = None,
        **process_fcn_kwargs: Any,
    ) -> StepSequence:
        """Apply ``fcn`` to the data fields of a rollout and return a new sequence.

        Each selected array is passed as keyword ``fcn_arg_name`` (e.g. ``x`` for
        ``scipy.signal.filtfilt``); fields that are not of ``fcn_arg_types`` stay as they are.
        A sequence of several rollouts is processed rollout by rollout, so filters never mix
        data across rollout boundaries.
        """
        if rollout.continuous and rollout.rollout_count > 1:
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
            if (include_fields is None or name in include_fields)
            and (exclude_fields is None or name not in exclude_fields)
        ]

        def apply(leaf: Any) -> Any:
            if isinstance(leaf, fcn_arg_types):
                return fcn(**{fcn_arg_name: leaf}, **process_fcn_kwargs)
            return leaf

        data = {
            name: tree_map(apply, field) if name in selected else field
            for name, field in rollout._data.items()
        }
        return cls(
            rollout_info=rollout.rollout_info,
            continuous=rollout.continuous,
            terminated=rollout.terminated,
            truncated=rollout.truncated,
            **data,
        )

    # --- pandas -------------------------------------------------------------------------

    def to_pandas(self, env_spec: EnvSpec | None = None) -> Any:
        """One row per step: fields flattened to columns, plus the flags and ``next_`` columns.

        Column names are the spec's labels for observations and actions where given (prefixed
        ``<field>.`` if another field already uses a label), ``states.<label>`` for states,
        else ``<field>_<i>`` (a plain ``<field>`` for scalar entries). After-last fields also get
        ``next_<column>`` columns with the entry after each step, so no final entry is lost and
        :meth:`from_pandas` restores the sequence.
        """
        from gymsamp.data.tabular import sequence_to_frame

        return sequence_to_frame(self, env_spec)

    @classmethod
    def from_pandas(
        cls,
        df: Any,
        env_spec: EnvSpec,
        continuous: bool = True,
        task: RewardTask | None = None,
    ) -> StepSequence:
        """Build a sequence from a DataFrame (the layout :meth:`to_pandas` writes).

        Args:
            df: One row per step; ``rewards`` is mandatory unless ``task`` is given.
            env_spec: Its labels (or ``observations_<i>`` / ``actions_<i>`` column names) select
                the observation and action columns; its spaces give their shapes and dtypes.
            continuous: True if the rows form whole consecutive rollouts.
            task: Recomputes the rewards from observations and actions with ``step_rew``.
        """
        from gymsamp.data.tabular import sequence_from_frame

        return sequence_from_frame(cls, df, env_spec, continuous, task)
