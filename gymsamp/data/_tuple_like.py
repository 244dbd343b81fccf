"""namedtuple behaviour for the data types that garage defined as namedtuples."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

__all__ = ["TupleLike"]


class _FieldNames:
    """``cls._fields`` / ``obj._fields``: the dataclass field names, in order."""

    def __get__(self, obj: object, cls: type) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))


class TupleLike:
    """Unpacking, indexing, ``len``, ``count``, ``index``, ``_fields``, ``_asdict`` and
    ``_replace`` for a frozen dataclass, as garage's namedtuple-based types offer them (the
    fields stay validated: ``_replace`` builds a checked copy). ``isinstance(x, tuple)`` is
    False, and ``==`` keeps the class's own meaning.
    """

    __slots__ = ()
    _fields = _FieldNames()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._fields)

    def __getitem__(self, index: int | slice) -> Any:
        return self._values()[index]

    def count(self, value: Any) -> int:
        """How many fields are ``value`` (identity first, then ``==``, as for tuples)."""
        return self._values().count(value)

    def index(self, value: Any, *bounds: int) -> int:
        """The position of the first field that is ``value``."""
        return self._values().index(value, *bounds)

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self._values(), strict=True))

    def _replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]
