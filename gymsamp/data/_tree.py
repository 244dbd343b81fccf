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

    Raises:
        TypeError: If ``nt_type`` is not a tuple class or ``values`` is not iterable.
        ValueError: If ``values`` does not hold one value per field of a NamedTuple (fields
            with defaults may be left out).
    """
    if not (isinstance(nt_type, type) and issubclass(nt_type, tuple)):
        raise TypeError(f"nt_type must be a tuple class (e.g. a NamedTuple), got {nt_type!r}")
    try:
        iterator = iter(values)
    except TypeError:
        raise TypeError(f"values must be an iterable, got {type(values).__name__}") from None
    # Consumed here, outside the tries below: an error raised while producing the values (e.g.
    # by a generator that converts them) reaches the caller as it is, not as a construction error.
    items = tuple(iterator)
    if hasattr(nt_type, "_fields"):  # a NamedTuple class
        try:
            return nt_type(*items)
        except TypeError:
            raise _new_tuple_error(nt_type, items) from None
    try:
        return nt_type(items)
    except TypeError:
        raise _new_tuple_error(nt_type, items) from None


def _new_tuple_error(nt_type: Any, values: tuple[Any, ...]) -> Exception:
    """Why ``new_tuple(nt_type, values)`` failed, worded for the caller (the error path only)."""
    fields = getattr(nt_type, "_fields", None)
    if fields is not None:
        required = len(fields) - len(getattr(nt_type, "_field_defaults", {}))
        if not required <= len(values) <= len(fields):
            count = len(fields) if required == len(fields) else f"{required} to {len(fields)}"
            return ValueError(
                f"values must hold {count} values to match the fields {fields} of "
                f"{nt_type.__name__}, got {len(values)}"
            )
    return TypeError(f"values cannot build a {nt_type.__name__}, got {values!r}")


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


# One step from a field into its entries: ("key", a dict key) or ("index", a tuple position).
PathStep = tuple[str, Any]


def tree_paths(
    field: Field, prefix: tuple[PathStep, ...] = ()
) -> Iterator[tuple[tuple[PathStep, ...], Any]]:
    """Yield ``(steps, leaf)`` pairs: the exact way to each leaf, dict keys kept as they are.

    Example:
        >>> list(tree_paths({"a.b": 1, 0: (2,)}))
        [((('key', 'a.b'),), 1), ((('key', 0), ('index', 0)), 2)]
    """
    if isinstance(field, dict):
        for key, value in field.items():
            yield from tree_paths(value, (*prefix, ("key", key)))
    elif isinstance(field, tuple):
        for i, value in enumerate(field):
            yield from tree_paths(value, (*prefix, ("index", i)))
    else:
        yield prefix, field


def tree_leaves(field: Field, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(path, leaf)`` pairs, paths written like ``infos.success`` or ``hidden[0]``
    (for reading: a key holding ``.`` makes them ambiguous; :func:`tree_paths` is exact)."""
    for steps, leaf in tree_paths(field):
        yield path_text(steps, path), leaf


def path_text(steps: tuple[PathStep, ...], path: str = "") -> str:
    """``steps`` written after ``path`` as :func:`tree_leaves` writes them (``a.b``, ``h[0]``)."""
    for kind, key in steps:
        path = f"{path}[{key}]" if kind == "index" else (f"{path}.{key}" if path else str(key))
    return path


def tree_first_leaf(field: Field) -> Any:
    """The first leaf of a field (its length is the field's length)."""
    for _, leaf in tree_leaves(field):
        return leaf
    raise ValueError("a data field must hold at least one array, got an empty dict or tuple")
