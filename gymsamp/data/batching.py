"""Mini-batch index generators for SGD, seeded by an int or a ``numpy.random.Generator``."""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, TypeVar

import numpy as np

from gymsamp._checks import check_bool, check_int
from gymsamp._checks import check_seed as check_seed_or_generator

__all__ = [
    "as_generator",
    "check_positive_int",
    "check_seed",
    "gen_ordered_batch_idcs",
    "gen_ordered_batches",
    "gen_shuffled_batch_idcs",
    "shuffled_ordered_batches",
]

T = TypeVar("T")


def check_positive_int(name: str, value: Any) -> int:
    """Validate an int >= 1 (bools are rejected)."""
    return check_int(name, value)


def check_seed(seed: Any) -> None:
    """Refuse anything :func:`as_generator` cannot take (without drawing a generator).

    Raises:
        TypeError: If ``seed`` is not None, an int or a ``numpy.random.Generator``.
        ValueError: If ``seed`` is a negative int.
    """
    check_seed_or_generator(seed, generator=True)


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A generator from a seed (None: fresh entropy) or the generator itself.

    Raises:
        TypeError: If ``seed`` is not None, an int or a ``numpy.random.Generator``.
        ValueError: If ``seed`` is a negative int.

    Example:
        >>> as_generator(-1)
        Traceback (most recent call last):
        ...
        ValueError: seed must be None, an int >= 0 or a numpy.random.Generator, got -1
    """
    check_seed(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _check_iterable(name: str, value: Any) -> None:
    if not isinstance(value, Iterable):
        raise TypeError(f"{name} must be an iterable of items, got {type(value).__name__}")
    # A set iterates in hash order, and str hashes are salted per process: the same seed gave
    # other batches in every run. A dict's key and item views keep insertion order.
    if isinstance(value, AbstractSet) and not isinstance(value, (KeysView, ItemsView)):
        raise TypeError(
            f"{name} must be an ordered iterable (e.g. a list or tuple), got "
            f"{type(value).__name__}: its order may differ between processes, so the batches "
            f"would not be reproducible; pass sorted({name}) or a list"
        )


def gen_ordered_batch_idcs(
    batch_size: int,
    data_size: int,
    sorted: bool = True,
    *,
    seed: int | np.random.Generator | None = None,
) -> Iterator[tuple[int, ...]]:
    """Index tuples of consecutive mini-batches; ``sorted=False`` shuffles the batch order.

    Arguments are checked at the call, not at the first ``next()``.

    Example:
        >>> list(gen_ordered_batch_idcs(2, 5))
        [(0, 1), (2, 3), (4,)]
    """
    batch_size = check_positive_int("batch_size", batch_size)
    data_size = check_positive_int("data_size", data_size)
    sorted = check_bool("sorted", sorted)
    check_seed(seed)
    return _ordered_batch_idcs(batch_size, data_size, sorted, seed)


def _ordered_batch_idcs(
    batch_size: int, data_size: int, sorted: bool, seed: int | np.random.Generator | None
) -> Iterator[tuple[int, ...]]:
    # Each batch is made as it is taken: listing all of them first held every index as a
    # Python int (about 49 MB before the first batch of 10^6 indices).
    starts = range(0, data_size, batch_size)
    # The same draw as a permutation of the listed batches (one entry per batch).
    order = starts if sorted else as_generator(seed).permutation(len(starts)) * batch_size
    for start in order:
        yield tuple(range(start, min(start + batch_size, data_size)))


def gen_ordered_batches(inp: Iterable[T], batch_size: int) -> Iterator[list[T]]:
    """Cut ``inp`` into consecutive chunks of ``batch_size`` items (the last may be shorter).

    Arguments are checked at the call, not at the first ``next()``.

    Raises:
        TypeError: If ``inp`` is not iterable or is a set (whose order may differ between
            processes), or ``batch_size`` is not an int.
        ValueError: If ``batch_size < 1``.

    Example:
        >>> list(gen_ordered_batches("abcde", 2))
        [['a', 'b'], ['c', 'd'], ['e']]
    """
    _check_iterable("inp", inp)
    return _ordered_batches(inp, check_positive_int("batch_size", batch_size))


def _ordered_batches(inp: Iterable[T], batch_size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in inp:
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def gen_shuffled_batch_idcs(
    batch_size: int, data_size: int, *, seed: int | np.random.Generator | None = None
) -> Iterator[tuple[int, ...]]:
    """Index tuples of mini-batches drawn from a random permutation of ``range(data_size)``.

    Arguments are checked at the call, not at the first ``next()``.

    Example:
        >>> sorted(i for b in gen_shuffled_batch_idcs(2, 5, seed=0) for i in b)
        [0, 1, 2, 3, 4]
    """
    batch_size = check_positive_int("batch_size", batch_size)
    data_size = check_positive_int("data_size", data_size)
    check_seed(seed)
    return _shuffled_batch_idcs(batch_size, data_size, seed)


def _shuffled_batch_idcs(
    batch_size: int, data_size: int, seed: int | np.random.Generator | None
) -> Iterator[tuple[int, ...]]:
    for idcs in shuffled_batch_arrays(batch_size, data_size, seed):
        yield tuple(idcs.tolist())


def shuffled_batch_arrays(
    batch_size: int, data_size: int, seed: int | np.random.Generator | None
) -> Iterator[np.ndarray]:
    """The batches of :func:`gen_shuffled_batch_idcs` as index arrays (arguments unchecked).

    For callers that index arrays with them: tuples of Python ints would be made again into
    arrays, which costs more than the indexing itself.
    """
    # A generator: the permutation is drawn at the first next(), as before the checks moved.
    order = as_generator(seed).permutation(data_size)
    for start in range(0, data_size, batch_size):
        yield order[start : start + batch_size]


def shuffled_ordered_batches(
    inp: Sequence[T], batch_size: int, *, seed: int | np.random.Generator | None = None
) -> list[list[T]]:
    """Chunks of ``batch_size`` in the original order within, shuffled among each other.

    Raises:
        TypeError: If ``inp`` is not iterable or is a set (whose order may differ between
            processes, so the seed would not make the batches reproducible), or
            ``batch_size`` is not an int or ``seed`` not a seed.
        ValueError: If ``batch_size < 1`` or ``seed`` is a negative int.

    Example:
        >>> sorted(shuffled_ordered_batches([1, 2, 3, 4, 5], 2, seed=0))
        [[1, 2], [3, 4], [5]]
    """
    check_seed(seed)
    batches = list(gen_ordered_batches(inp, batch_size))
    order = as_generator(seed).permutation(len(batches))
    return [batches[i] for i in order]
