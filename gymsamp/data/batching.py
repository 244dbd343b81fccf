"""Mini-batch index generators for SGD, seeded by an int or a ``numpy.random.Generator``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from gymsamp._checks import check_int

__all__ = [
    "as_generator",
    "check_positive_int",
    "gen_ordered_batch_idcs",
    "gen_ordered_batches",
    "gen_shuffled_batch_idcs",
    "shuffled_ordered_batches",
]

T = TypeVar("T")


def check_positive_int(name: str, value: Any) -> int:
    """Validate an int >= 1 (bools are rejected)."""
    return check_int(name, value)


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A generator from a seed (None: fresh entropy) or the generator itself."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {seed!r}")


def _chunks(order: np.ndarray, batch_size: int) -> list[tuple[int, ...]]:
    return [tuple(order[i : i + batch_size].tolist()) for i in range(0, len(order), batch_size)]


def gen_ordered_batch_idcs(
    batch_size: int,
    data_size: int,
    sorted: bool = True,
    *,
    seed: int | np.random.Generator | None = None,
) -> Iterator[tuple[int, ...]]:
    """Index tuples of consecutive mini-batches; ``sorted=False`` shuffles the batch order.

    Example:
        >>> list(gen_ordered_batch_idcs(2, 5))
        [(0, 1), (2, 3), (4,)]
    """
    batch_size = check_positive_int("batch_size", batch_size)
    data_size = check_positive_int("data_size", data_size)
    batches = _chunks(np.arange(data_size), batch_size)
    if not sorted:
        order = as_generator(seed).permutation(len(batches))
        batches = [batches[i] for i in order]
    yield from batches


def gen_ordered_batches(inp: Iterable[T], batch_size: int) -> Iterator[list[T]]:
    """Cut ``inp`` into consecutive chunks of ``batch_size`` items (the last may be shorter).

    Example:
        >>> list(gen_ordered_batches("abcde", 2))
        [['a', 'b'], ['c', 'd'], ['e']]
    """
    batch_size = check_positive_int("batch_size", batch_size)
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

    Example:
        >>> sorted(i for b in gen_shuffled_batch_idcs(2, 5, seed=0) for i in b)
        [0, 1, 2, 3, 4]
    """
    batch_size = check_positive_int("batch_size", batch_size)
    data_size = check_positive_int("data_size", data_size)
    yield from _chunks(as_generator(seed).permutation(data_size), batch_size)


def shuffled_ordered_batches(
    inp: Sequence[T], batch_size: int, *, seed: int | np.random.Generator | None = None
) -> list[list[T]]:
    """Chunks of ``batch_size`` in the original order within, shuffled among each other.

    Example:
        >>> sorted(shuffled_ordered_batches([1, 2, 3, 4, 5], 2, seed=0))
        [[1, 2], [3, 4], [5]]
    """
    batches = list(gen_ordered_batches(inp, batch_size))
    order = as_generator(seed).permutation(len(batches))
    return [batches[i] for i in order]
