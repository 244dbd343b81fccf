"""Proxies viewing one index of a dict of per-step data: :class:`DictIndexProxy`, :class:`Step`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gymsamp.data._tree import new_tuple

if TYPE_CHECKING:
    from gymsamp.data.step_sequence import StepSequence

__all__ = ["DictIndexProxy", "Step"]

#: The proxies' own attributes (never entries of the data).
_OWN_SLOTS = frozenset({"_index", "_obj", "_prefix", "_rollout"})


def checked_index(index: Any, length: int) -> int:
    """``index`` as a position in ``[0, length)``; negative indices count from the end.

    The one check behind ``StepSequence[i]``, :class:`Step` and ``get_rollout(i)``, so all three
    refuse the same inputs with the same message.

    Raises:
        TypeError: If ``index`` is not an int (numpy integers are; bools are not, since
            ``True`` is no position).
        IndexError: If ``index`` is not in ``[-length, length)``.
    """
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"index must be an int, got {index!r} ({type(index).__name__})")
    i = int(index)
    if not -length <= i < length:
        raise IndexError(f"index must be in [-{length}, {length}), got {i}")
    return i % length


class DictIndexProxy:
    """Views a slice through a dict of arrays, tensors or lists.

    ``proxy.key`` and ``proxy["key"]`` return ``obj[key][index]``; singular names fall back to
    their plural (``proxy.reward`` reads ``obj["rewards"]``); dict values give a nested proxy and
    tuples a tuple of slices. Assigning writes through to the underlying array.

    Args:
        obj: The dict of per-step data.
        index: The index to view (an int; negative counts from the end of each entry).
        path: Dotted path of ``obj`` inside its parent, for error messages.

    Raises:
        TypeError: If ``obj`` is not a dict, ``index`` not an int or ``path`` not a str.
        IndexError: On access, if ``index`` is out of range for the entry read or written
            (the entries of one dict may differ in length, so it is checked per entry).

    Example:
        >>> proxy = DictIndexProxy({"rewards": np.array([1.0, 2.0])}, 1)
        >>> proxy.reward, proxy["rewards"]
        (np.float64(2.0), np.float64(2.0))
    """

    __slots__ = ("_index", "_obj", "_prefix")

    def __init__(self, obj: dict[str, Any], index: int, path: str | None = None) -> None:
        # Checked here: None failed at the first read with "argument of type 'NoneType' is not
        # iterable", and a str index inside numpy.
        if not isinstance(obj, dict):
            raise TypeError(
                f"obj must be a dict of per-step data (names to arrays, tensors or lists), got "
                f"{type(obj).__name__}"
            )
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {index!r} ({type(index).__name__})")
        if path is not None and not isinstance(path, str):
            raise TypeError(f"path must be None or a str, got {type(path).__name__}")
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_index", int(index))
        object.__setattr__(self, "_prefix", f"{path}." if path else "")

    def _resolve_key(self, key: str, error_type: type[Exception]) -> tuple[str, int, Any]:
        """Map a requested key to (real key, index, stored value); subclasses add ``next_``."""
        return key, self._index, self._lookup(key, error_type)

    def _lookup(self, key: str, error_type: type[Exception]) -> Any:
        obj = self._obj
        if key in obj:
            return obj[key]
        if key + "s" in obj:
            return obj[key + "s"]
        raise error_type(f"No entry named {self._prefix}{key}; valid names: {sorted(obj)}")

    def _index_value(self, key: str, value: Any, index: int, error_type: type[Exception]) -> Any:
        if isinstance(value, dict):
            return DictIndexProxy(value, index, self._prefix + key)
        if isinstance(value, tuple):
            # A tuple cannot be proxied, so slice it eagerly, keeping NamedTuple types.
            return new_tuple(
                type(value),
                (
                    self._index_value(f"{key}[{i}]", part, index, error_type)
                    for i, part in enumerate(value)
                ),
            )
        if isinstance(value, (np.ndarray, list)) or hasattr(value, "__getitem__"):
            try:
                return value[index]
            except IndexError:
                raise IndexError(self._out_of_range(key, value, index)) from None
        raise error_type(f"Entry {self._prefix}{key} has un-indexable type {type(value).__name__}")

    def _out_of_range(self, key: str, value: Any, index: int) -> str:
        """The message for an ``index`` that ``value`` (entry ``key``) does not have."""
        try:
            size = len(value)
        except TypeError:
            return f"index {index} is out of range for entry {self._prefix}{key}"
        return (
            f"index must be in [-{size}, {size}) for entry {self._prefix}{key} ({size} "
            f"entries), got {index}"
        )

    def _get(self, key: str, error_type: type[Exception]) -> Any:
        real_key, index, value = self._resolve_key(key, error_type)
        return self._index_value(real_key, value, index, error_type)

    def _set(self, key: str, new_value: Any, error_type: type[Exception]) -> None:
        _, index, value = self._resolve_key(key, error_type)
        if isinstance(value, (dict, tuple)):
            raise error_type(
                f"Entry {self._prefix}{key} is a {type(value).__name__}; set its items"
            )
        try:
            value[index] = new_value
        except IndexError:
            raise IndexError(self._out_of_range(key, value, index)) from None
        except (TypeError, ValueError, RuntimeError) as err:  # RuntimeError: torch's shape error
            shape = tuple(value.shape[1:]) if hasattr(value, "shape") else "?"
            raise ValueError(
                f"{self._prefix}{key} must be set to a value of shape {shape} (one entry of the "
                f"field), got {new_value!r}: {err}"
            ) from None

    def __getitem__(self, key: str) -> Any:
        return self._get(_checked_key(key), KeyError)

    def __setitem__(self, key: str, value: Any) -> None:
        self._set(_checked_key(key), value, KeyError)

    def __contains__(self, key: object) -> bool:
        """True if ``key`` names an entry (``"reward"`` for ``rewards`` too)."""
        if not isinstance(key, str):
            return False
        try:
            self._resolve_key(key, KeyError)
        except KeyError:
            return False
        return True

    # A view of one step is no sequence: without this, iter() would call __getitem__(0, 1, ...).
    __iter__ = None

    def __getattr__(self, key: str) -> Any:
        # Dunders and the proxy's own slots are never entries: copy and pickle look them up on
        # an instance whose slots are still empty, and _get would read them again, endlessly.
        if key.startswith("__") or key in _OWN_SLOTS:
            raise AttributeError(key)
        return self._get(key, AttributeError)

    def __setattr__(self, key: str, value: Any) -> None:
        self._set(key, value, AttributeError)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._obj))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(index={self._index}, keys={sorted(self._obj)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through __init__: the default protocol sets slots through __setattr__, which
        # writes through to the data instead.
        return (DictIndexProxy, (self._obj, self._index, self._prefix[:-1] or None))


def _checked_key(key: Any) -> str:
    """``key`` if it is a str: entries are named, not numbered."""
    if not isinstance(key, str):
        raise TypeError(
            f"key must be a str naming an entry (e.g. 'rewards' or 'reward'), got {key!r} "
            f"({type(key).__name__})"
        )
    return key


#: Info fields that read as empty where a sequence does not hold them (pyrado's and garage's
#: rollouts always hold both; a field here holds at least one array).
INFO_FIELDS = frozenset({"env_infos", "agent_infos"})


class Step(DictIndexProxy):
    """A single step of a :class:`StepSequence`, a proxy onto its data at one index.

    Besides the data fields (singular or plural names), a step exposes ``terminated``,
    ``truncated``, ``done`` and ``step_type``. Prefix a name with ``next_`` to read the value after
    this step (e.g. ``next_observation``); at the last step of a rollout that is the rollout's
    true final entry, never the first entry of the following rollout.

    Assigning to a data field writes through to the sequence (``step.reward = 1.0``). The
    flags, the step type and the ``next_`` values are read-only: the flags fix where the
    rollouts end, and the others are derived or belong to another step.

    Args:
        rollout: The :class:`StepSequence` this step belongs to.
        index: The index of this step in the rollout; negative indices count from the end.

    Raises:
        TypeError: If ``rollout`` is not a :class:`StepSequence` or ``index`` is not an int.
        IndexError: If ``index`` is not in ``[-len(rollout), len(rollout))``.

    Example:
        >>> from gymsamp.data import StepSequence
        >>> ro = StepSequence(rewards=[1.0, 2.0], observations=[0, 1, 2], actions=[5, 6])
        >>> step = ro[1]
        >>> step.reward, step.observation, step.next_observation, int(step.step_type)
        (np.float64(2.0), np.int64(1), np.int64(2), 2)
    """

    __slots__ = ("_rollout",)

    def __init__(self, rollout: StepSequence, index: int | np.integer[Any]) -> None:
        try:
            data, length = rollout._data, rollout._length
        except AttributeError:  # checked this way: an isinstance check needs an import here
            raise TypeError(
                f"rollout must be a StepSequence, got {type(rollout).__name__}"
            ) from None
        super().__init__(data, checked_index(index, length))
        object.__setattr__(self, "_rollout", rollout)

    def _resolve_key(self, key: str, error_type: type[Exception]) -> tuple[str, int, Any]:
        if not key.startswith("next_"):
            # The flags come first: their names are reserved, never data fields.
            flag = self._rollout._flag(key, self._index)
            if flag is not None:
                values, index = flag
                return key, index, values
            info_field = key if key in INFO_FIELDS else key + "s"
            if info_field in INFO_FIELDS and info_field not in self._obj:
                # As StepSequence's: the rollout reported none (pyrado's Step read {}).
                return info_field, self._index, {}
            return super()._resolve_key(key, error_type)
        name = key[len("next_") :]
        field = name if name in self._obj else name + "s"
        if field not in self._rollout._after_last:
            raise error_type(
                f"next_{name} needs a field with an entry after the last step, got {name!r}; "
                f"such fields are {sorted(self._rollout._after_last)}"
            )
        try:
            value = self._rollout._next_entry(field, self._index)
        except ValueError as err:
            raise error_type(str(err)) from err
        # Wrap the single entry so the generic indexing code can slice it at index 0.
        return name, 0, _wrap_entry(value)

    def _set(self, key: str, new_value: Any, error_type: type[Exception]) -> None:
        # Derived values are computed for this one read, so a write would land in a temporary
        # and be lost without a word; a flag written here would end a rollout mid-way.
        derived = _derived_source(key)
        if derived is not None:
            self._resolve_key(key, error_type)  # a name no read knows is refused as by a read
            read_only = AttributeError if error_type is AttributeError else TypeError
            raise read_only(f"Step.{key} is read-only: {derived}")
        super()._set(key, new_value, error_type)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Step, (self._rollout, self._index))


def _derived_source(key: str) -> str | None:
    """Why a :class:`Step` cannot write ``key``, if it cannot: the value is derived, or it
    fixes where the rollouts end."""
    rebuild = "build a new StepSequence with the terminated / truncated flags you want"
    if key in ("terminated", "truncated"):
        # A flag set inside a rollout would end it mid-way, against its bounds and the step
        # types its slices and batches keep (the constructor refuses such flags).
        return f"it fixes where the rollout ends; {rebuild}"
    if key == "done":
        return f"it is terminated | truncated; {rebuild}"
    if key in ("step_type", "step_types"):
        return (
            "it is derived from terminated, truncated and the step's position in the rollout; "
            f"{rebuild}"
        )
    if key.startswith("next_"):
        name = key[len("next_") :]
        return (
            f"it reads the {name} entry after this step; set {name} on the next step, or the "
            "rollout's final entry in its field"
        )
    return None


def _wrap_entry(value: Any) -> Any:
    """Give a single entry a leading axis of length 1 (recursively), so ``[0]`` recovers it."""
    if isinstance(value, dict):
        return {key: _wrap_entry(v) for key, v in value.items()}
    if isinstance(value, tuple):
        return new_tuple(type(value), (_wrap_entry(v) for v in value))
    return [value]
