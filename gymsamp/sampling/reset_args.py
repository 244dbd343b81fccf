"""The arguments of a vector env's ``reset``, checked alike in all of gymsamp's vector envs:
per-sub-env seeds (:func:`reset_seeds`) and the reset mask (:func:`check_reset_mask`); and
the masked resets that give sub-envs different options (:func:`group_by_options`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gymsamp._checks import is_int

__all__ = ["check_reset_mask", "group_by_options", "reset_seeds"]


def reset_seeds(seed: Any, n: int) -> list[int | None]:
    """One seed (a Python ``int`` or None) per sub-env from the ``seed`` of a vector reset.

    None: no seeds; an int (numpy integers too): sub-env ``i`` gets ``seed + i``, as in
    Gymnasium; a list, tuple or 1-D array: one int or None per sub-env.

    Example:
        >>> reset_seeds(np.int64(5), 3), reset_seeds((1, None), 2)
        ([5, 6, 7], [1, None])
    """
    if seed is None:
        return [None] * n
    if is_int(seed):
        return [int(seed) + i for i in range(n)]
    is_sequence = isinstance(seed, Sequence) and not isinstance(seed, (str, bytes))
    if not is_sequence and not (isinstance(seed, np.ndarray) and seed.ndim == 1):
        raise TypeError(
            f"seed must be None, an int or a list or tuple of num_envs={n} ints or Nones, "
            f"got {seed!r}"
        )
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"seed must hold num_envs={n} seeds, got {len(seeds)}: {seed!r}")
    for i, value in enumerate(seeds):
        if value is not None and not is_int(value):
            raise TypeError(f"seed must hold ints or None, got {value!r} for sub-env {i}")
    return [None if value is None else int(value) for value in seeds]


def check_reset_mask(mask: Any, n: int) -> np.ndarray:
    """``options["reset_mask"]`` of a vector reset: a numpy bool array of shape ``(n,)`` with at
    least one True entry (as Gymnasium's own vector envs require)."""
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise TypeError(f"options['reset_mask'] must be a numpy bool array, got {mask!r}")
    if mask.shape != (n,):
        raise ValueError(f"options['reset_mask'] must have shape ({n},), got {mask.shape}")
    if not mask.any():
        raise ValueError("options['reset_mask'] must have at least one True entry, got none")
    return mask


def group_by_options(
    options: Mapping[int, dict[str, Any] | None],
) -> list[tuple[list[int], dict[str, Any] | None]]:
    """Sub-envs grouped by the options they are to be reset with, one masked reset per group
    (a vector reset hands one ``options`` dict to every masked sub-env).

    Options are told apart by identity (rollouts that share a payload object share a
    reset); None and ``{}`` form one group, with options None, which comes first. The other
    groups come in the order of their first sub-env.

    Example:
        >>> low = {"domain_param": {"length": 0.4}}
        >>> group_by_options({0: low, 1: None, 2: {}, 3: low})
        [([1, 2], None), ([0, 3], {'domain_param': {'length': 0.4}})]
    """
    groups: dict[int, tuple[list[int], dict[str, Any] | None]] = {}
    for i, payload in options.items():
        groups.setdefault(id(payload) if payload else 0, ([], payload or None))[0].append(i)
    return sorted(groups.values(), key=lambda group: group[1] is not None)  # stable
