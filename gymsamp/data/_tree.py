"""Nested data fields: arrays or tensors, possibly inside dicts and (named) tuples.

Rollout fields may be plain arrays, dicts of arrays (per-step info dicts) or tuples of arrays
(LSTM ``(h, c)``, NamedTuples), nested to any depth. These helpers apply one function to every
leaf while keeping the structure, so every other module can treat all fields alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Field = Any  # an array / tensor, or a dict or tuple of Fields


def new_tuple(nt_type: type, values: Any) -> tuple[Any, ...]:
    """Create a tuple of the same type as ``nt_type`` from ``values``.

    Plain tuples take one iterable; NamedTuples take their fields as positional arguments.

    Example:
        >>> from collections import namedtuple
        >>> Pair = namedtuple("Pair", "h c")
        >>> new_tuple(Pair, [1, 2])
        Pair(h=1, c=2)
        >>> new_tuple(tuple, iter([1, 2]))
        (1, 2)
    """
    if hasattr(nt_type, "_fields"):  # a NamedTuple class
        return nt_type(*values)
    return nt_type(values)


def tree_map(fn: Callable[..., Any], field: Field, *others: Field) -> Field:
    """Apply ``fn`` to every leaf of ``field`` (and the matching leaves of ``others``)."""
    if isinstance(field, dict):
        return {key: tree_map(fn, value, *(o[key] for o in others)) for key, value in field.items()}
    if isinstance(field, tuple):
        return new_tuple(
            type(field),
            (tree_map(fn, value, *(o[i] for o in others)) for i, value in enumerate(field)),
        )
    return fn(field, *others)


def tree_leaves(field: Field, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(path, leaf)`` pairs, paths written like ``infos.success`` or ``hidden[0]``."""
    if isinstance(field, dict):
        for key, value in field.items():
            yield from tree_leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(field, tuple):
        for i, value in enumerate(field):
            yield from tree_leaves(value, f"{path}[{i}]")
    else:
        yield path, field


def tree_first_leaf(field: Field) -> Any:
    """The first leaf of a field (its length is the field's length)."""
    for _, leaf in tree_leaves(field):
        return leaf
    raise ValueError("a data field must hold at least one array, got an empty dict or tuple")
