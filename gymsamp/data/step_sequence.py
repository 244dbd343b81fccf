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

from collections.abc import Callable, Iterable, Iterator, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, overload

import numpy as np
import numpy.typing as npt

# The implementations, one concept per private sibling; they import StepSequence only for
# type checking, so importing them here makes no cycle.
from gymsamp.data import _sequence_batches as _batches
from gymsamp.data import _sequence_concat as _concat
from gymsamp.data import _sequence_construction as _construction
from gymsamp.data import _sequence_indexing as _indexing
from gymsamp.data._tree import Field
from gymsamp.data.data_format import to_format
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step import INFO_FIELDS, Step
from gymsamp.data.step_type import step_types_of

__all__ = ["RewardTask", "StepSequence"]


_NO_INFOS: MappingProxyType[str, Any] = MappingProxyType({})


class RewardTask(Protocol):
    """What :meth:`StepSequence.from_pandas` needs to recompute rewards (pyrado's ``Task``)."""

    def step_rew(self, state: np.ndarray, act: np.ndarray, remaining_steps: int) -> float:
        """Reward of taking ``act`` in ``state`` with ``remaining_steps`` steps left."""
        ...


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
            several rollouts, a list (or tuple) with one entry per rollout or one object,
            not a list, shared by all.
        data_format: ``"numpy"`` or ``"torch"``; None uses torch if any data is a tensor.
        done: Per-step done flags (pyrado's single flag); taken as ``terminated`` when no
            Gymnasium flags are given.
        continuous: True if the steps form one continuous stream of whole rollouts.
        rollout_bounds: Start index of every rollout followed by T; None derives it from the
            done flags.
        terminated: Gymnasium's per-step ``terminated`` flags.
        truncated: Gymnasium's per-step ``truncated`` flags.
        **data: Additional fields with T or T+1 entries. ``env_infos`` and ``agent_infos``
            read as an empty mapping where a sequence has no such field.

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
    _data_format: str
    _continuous: bool
    _length: int
    _terminated: np.ndarray
    _truncated: np.ndarray
    _after_last: set[str]
    _finals: dict[str, Field | None]
    _rollout_infos: list[Any]
    _rollout_bounds: np.ndarray | None
    _gathered_types: np.ndarray | None

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
        _construction.initialize(
            self,
            {"rewards": rewards, "observations": observations, "actions": actions, **data},
            complete=complete,
            rollout_info=rollout_info,
            data_format=data_format,
            done=done,
            continuous=continuous,
            rollout_bounds=rollout_bounds,
            terminated=terminated,
            truncated=truncated,
        )

    # --- construction helpers -------------------------------------------------------------

    # Build from parts that are consistent by construction (no validation, no copies).
    _assemble = classmethod(_construction.assemble)

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
        # Built as a non-continuous batch: no step is known to start a rollout (none is FIRST).
        first = slice(0, 0) if self._rollout_bounds is None else self._rollout_bounds[:-1]
        return step_types_of(self._terminated, self._truncated, first)

    def _flag(self, name: str, index: int) -> tuple[np.ndarray, int] | None:
        """A flag by (singular or plural) name, for :class:`Step`: an array holding the flag of
        step ``index`` and its position there; None if ``name`` names no flag.

        ``terminated`` and ``truncated`` are the stored arrays (a step reads them; it refuses
        writes to every flag); ``done`` and the step type are derived for this one step only
        (computing them for every step made each access O(T)).
        """
        name = name if name in _construction.FLAG_NAMES else name + "s"
        return _indexing.flag_at(self, name, index)

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
        if name in INFO_FIELDS:
            # pyrado's and garage's rollouts always hold both (empty where nothing was
            # reported); a field here holds at least one array, so an absent one reads as an
            # empty mapping (read-only: an entry would belong in add_data).
            return _NO_INFOS
        raise AttributeError(
            f"{type(self).__name__} has no attribute or data field {name!r}; "
            f"data fields: {sorted(data)}"
        )

    def __dir__(self) -> list[str]:
        # The data fields too, so that ``ro.obs<TAB>`` completes in IPython and Jupyter.
        return sorted(set(super().__dir__()) | set(self.__dict__.get("_data", {})))

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
            name: Field name: an identifier not starting with ``_``, new, and neither a flag
                name nor an attribute of the sequence (``length``, ``count``, ``numpy``, ...),
                so that ``ro.<name>`` reads the field.
            value: Per-step values with T or T+1 entries; None creates zeros of ``item_shape``.
            item_shape: Shape of one entry, used when ``value`` is None.
            with_after_last: When creating zeros, give the field T+1 entries.

        Example:
            >>> ro = StepSequence(rewards=[1.0, 2.0], observations=[0, 1, 2], actions=[0, 0])
            >>> ro.add_data("values", item_shape=(), with_after_last=True)
            >>> ro.values.shape
            (3,)
        """
        _construction.add_field(self, name, value, item_shape, with_after_last)

    def get_data_values(self, name: str, truncate_last: bool = False) -> Field:
        """The data stored under ``name``; ``truncate_last`` drops a T+1-th entry."""
        return _indexing.data_values(self, name, truncate_last)

    def _final_entries(self, name: str) -> Field | None:
        """The final entry of every rollout of an after-last field, or None where unknown."""
        return _indexing.final_entries(self, name)

    def _final_entry(self, name: str, rollout: int) -> Field:
        """The final entry of an after-last field in one rollout (raises where it is unknown)."""
        return _indexing.final_entry(self, name, rollout)

    def _next_entry(self, name: str, index: int) -> Field:
        """The entry of ``name`` after step ``index`` (the rollout's final one at its end)."""
        return _indexing.next_entry(self, name, index)

    def next_values(self, name: str) -> Field:
        """The value after every step of an after-last field (shape ``(T, ...)``).

        At the last step of each rollout this is that rollout's final entry, so nothing leaks
        from one rollout into the next.
        """
        return _indexing.next_values(self, name)

    # --- indexing -------------------------------------------------------------------------

    @overload
    def __getitem__(self, index: int) -> Step: ...

    @overload
    def __getitem__(self, index: slice | Sequence[int] | np.ndarray) -> StepSequence: ...

    def __getitem__(self, index: Any) -> Step | StepSequence:
        return _indexing.select_steps(self, index)

    def get_rollout(self, index: int | slice | Iterable[int]) -> StepSequence:
        """Select rollouts: one by index (negative allowed), or several by slice or index list.

        Args:
            index: An int (numpy integers too), a slice, or a list (tuple, 1-D int array) of
                ints; bools, floats and strs are refused.

        Raises:
            TypeError: If ``index`` is none of the kinds above.
            IndexError: If it selects no rollout or one that does not exist.

        Example:
            >>> ro = StepSequence(rewards=np.arange(6.0), observations=np.arange(7.0),
            ...                   actions=np.zeros(6), rollout_bounds=[0, 2, 5, 6])
            >>> ro.get_rollout(1).rewards.tolist(), ro.get_rollout([0, 2]).rollout_lengths.tolist()
            ([2.0, 3.0, 4.0], [2, 1])
        """
        return _indexing.select_rollouts(self, index, StepSequence.concat)

    def iterate_rollouts(self) -> Iterator[StepSequence]:
        """Iterate over the rollouts of this sequence, each one whole: with its final entries
        where the sequence knows them (one built flat from several rollouts' T + 1
        observations knows only the last rollout's final observation; the others then hold
        T observations, as :meth:`get_rollout` gives them)."""
        bounds = self._require_continuous("iterate_rollouts")
        for i in range(len(bounds) - 1):
            yield _indexing.subsequence(self, int(bounds[i]), int(bounds[i + 1]))

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
        return _concat.concatenate(cls, parts, data_format, truncate_last, part_type=StepSequence)

    def convert(self, data_format: str, data_type: Any = None) -> None:
        """Convert all data in place to ``"numpy"`` or ``"torch"`` (optionally casting)."""
        _construction.convert_fields(self, data_format, data_type)

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
        # In float64 whatever the rewards hold (float32 sums lose the small terms).
        return float(to_format(self._data["rewards"], "numpy").sum(dtype=np.float64))

    def discounted_return(self, gamma: float) -> float:
        """Sum over steps of ``gamma**t * r_t``, t counted from each rollout's start.

        For several rollouts this is the sum of their discounted returns.

        Raises:
            ValueError: A non-continuous (shuffled) batch: it has no rollout starts.
        """
        from gymsamp.data.returns import check_gamma

        check_gamma(gamma)
        # A shuffled batch has no rollout starts to count t from.
        bounds = self._require_continuous("discounted_return")
        rewards = np.asarray(to_format(self._data["rewards"], "numpy"), dtype=np.float64)
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

        Raises:
            ValueError: If neither or both of ``batch_size`` and ``num_batches`` are given,
                or ``num_batches`` exceeds the number of steps.
        """
        return _batches.split_ordered_batches(self, batch_size, num_batches)

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
        return _batches.split_shuffled_batches(self, batch_size, complete_rollouts, seed)

    def sample_w_next(
        self, batch_size: int, *, seed: int | np.random.Generator | None = None
    ) -> tuple[StepSequence, StepSequence]:
        """Sample random steps together with the step that follows each, without replacement.

        Only steps whose successor lies in the same rollout are eligible, so a pair never
        crosses a rollout boundary.

        Returns:
            ``(steps, next_steps)``, two non-continuous batches of ``batch_size`` steps.
        """
        return _batches.sample_with_next(self, batch_size, seed)

    @classmethod
    def pad(cls, rollout: StepSequence, len_to_pad_to: int, pad_value: float = 0) -> None:
        """Pad a single rollout in place to ``len_to_pad_to`` steps, filling with ``pad_value``.

        As in pyrado, this gives rollouts a common length for batching (e.g. to train a
        recurrent policy); the padded steps are not marked, so keep ``rollout.length`` from
        before padding to mask them. After-last fields grow to ``len_to_pad_to + 1`` entries
        (the real final entry stays in place, followed by the padding). The padded sequence is
        still one rollout, ending where its data ends: the end flags of the real last step
        (``terminated`` / ``truncated``) move to the new last step, so no TERMINAL or TIMEOUT
        is followed by steps of the same rollout.

        Raises:
            ValueError: ``pad_value`` has no value in some field's dtype (NaN or inf in an int
                field, -1 in a uint8 field, 1e40 in a float32 field); nothing is padded then.
                Otherwise it is cast as numpy casts (-1.5 pads an int field with -1).

        Example:
            >>> ro = StepSequence(rewards=[1.0, 2.0], observations=[0.0, 1.0, 2.0],
            ...                   actions=[[0.0], [1.0]])
            >>> StepSequence.pad(ro, 4)
            >>> ro.rewards.tolist(), ro.observations.tolist(), ro.step_types.tolist()
            ([1.0, 2.0, 0.0, 0.0], [0.0, 1.0, 2.0, 0.0, 0.0], [0, 1, 1, 2])
        """
        _batches.pad_rollout(rollout, len_to_pad_to, pad_value)

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
        return _batches.process_rollout_data(
            cls,
            rollout,
            fcn,
            fcn_arg_name,
            fcn_arg_types,
            include_fields,
            exclude_fields,
            **process_fcn_kwargs,
        )

    # --- pandas -------------------------------------------------------------------------

    def to_pandas(self, env_spec: EnvSpec | None = None) -> Any:
        """One row per step: fields flattened to columns, plus the flags and ``next_`` columns.

        Column names are the spec's labels for observations and actions where given (prefixed
        ``<field>.`` where a label names another column), ``states.<label>`` for states, else
        ``<field>_<i>`` (a plain ``<field>`` for scalar entries; also for labels that repeat
        within a field): no column is written twice. After-last fields also get
        ``next_<column>`` columns with the entry after each step, so no final entry is lost.
        ``df.attrs["gymsamp_layout"]`` records each array's columns, shape, dtype and place in
        its field (dict keys, tuple positions), so :meth:`from_pandas` restores every field as
        it was; pandas keeps ``attrs`` through copies and row selections, not through CSV.

        Raises:
            TypeError: ``env_spec`` is neither None nor an :class:`~gymsamp.data.EnvSpec`.
            ValueError: A shuffled batch, or spec labels whose number does not match the
                flat width of the observations, actions or states they label.
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

        Where ``df.attrs`` holds the layout :meth:`to_pandas` recorded and every column it names
        is still there, each field comes back with its structure, shapes and dtypes
        (NamedTuples as plain tuples). Otherwise (e.g. a frame read from CSV) the columns are
        read by name: observations, actions and states by the spec, columns of dict and tuple
        fields (``infos.a``, ``hidden[0]_1``) regrouped into those fields, other fields 1-D or
        2-D (``name_0 .. name_k``). A table cannot tell that its first row was no episode's
        first step, nor hold ``rollout_info``; a rollout cut without a flag ends where a row's
        ``next_`` entries differ from the following row's, so one whose final entries equal the
        next rollout's first ones comes back joined to it.

        Args:
            df: One row per step; ``rewards`` is mandatory unless ``task`` is given.
            env_spec: Its labels (or ``observations_<i>`` / ``actions_<i>`` column names) select
                the observation and action columns; its spaces give their shapes and dtypes.
            continuous: True if the rows form whole consecutive rollouts.
            task: Recomputes the rewards from observations and actions with ``step_rew``.
        """
        from gymsamp.data.tabular import sequence_from_frame

        return sequence_from_frame(cls, df, env_spec, continuous, task)
