"""What a list of rollouts says about itself: the single rollouts of a list or a concatenation,
their returns, the env ids and domain parameters their ``rollout_info`` records, and the grid
those parameters form, if any (read by :mod:`gymsamp.summary` and :mod:`gymsamp.plot`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from gymsamp.data import StepSequence

__all__ = [
    "as_rollout_list",
    "domain_param_values",
    "env_id_counts",
    "grid_param_names",
    "rollout_returns",
]


def as_rollout_list(rollouts: StepSequence | Iterable[StepSequence]) -> list[StepSequence]:
    """A list of single rollouts from a list of sequences or one multi-rollout sequence.

    Example:
        >>> ros = [StepSequence(rewards=[1.0] * n, observations=[0.0] * (n + 1),
        ...                     actions=[0] * n) for n in (2, 3)]
        >>> [ro.length for ro in as_rollout_list(StepSequence.concat(ros))]
        [2, 3]
    """
    if isinstance(rollouts, StepSequence):
        parts = [rollouts]
    elif isinstance(rollouts, Iterable) and not isinstance(rollouts, (str, bytes, Mapping)):
        parts = list(rollouts)
    else:
        raise TypeError(
            f"rollouts must be a StepSequence or a list of them, got {type(rollouts).__name__}"
        )
    result: list[StepSequence] = []
    for part in parts:
        if not isinstance(part, StepSequence):
            raise TypeError(f"rollouts must be StepSequence objects, got {type(part).__name__}")
        if part.continuous and part.rollout_count > 1:
            result.extend(part.iterate_rollouts())
        else:
            result.append(part)
    return result


def rollout_returns(rollouts: Sequence[StepSequence]) -> np.ndarray:
    """The undiscounted return of every rollout, as a float array.

    Example:
        >>> rollout_returns([StepSequence(rewards=[1.0, 2.0], observations=[0, 0, 0],
        ...                               actions=[0, 0])])
        array([3.])
    """
    return np.array([ro.undiscounted_return() for ro in rollouts], dtype=np.float64)


def domain_param_values(rollouts: Sequence[StepSequence]) -> dict[str, np.ndarray]:
    """name -> one float per rollout, for the scalar domain parameters every rollout reports.

    Example:
        >>> ros = [StepSequence(rewards=[1.0], observations=[0, 0], actions=[0],
        ...                     rollout_info={"domain_param": {"m": m, "tag": "a"}})
        ...        for m in (1.0, 2.0)]
        >>> domain_param_values(ros)
        {'m': array([1., 2.])}
    """
    dicts = []
    for ro in rollouts:
        info = ro.rollout_info
        param = info.get("domain_param") if isinstance(info, Mapping) else None
        if not isinstance(param, Mapping):
            return {}
        dicts.append(param)
    values: dict[str, np.ndarray] = {}
    for name in dicts[0] if dicts else ():
        try:
            column = np.array([float(d[name]) for d in dicts], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            continue  # missing in some rollout, or not a scalar
        values[name] = column
    return values


def env_id_counts(rollouts: Sequence[StepSequence]) -> dict[str, int]:
    """env id -> number of rollouts, from each ``rollout_info["env_id"]`` (a str), in the order
    the ids first occur; rollouts without one are not counted.

    Example:
        >>> ros = [StepSequence(rewards=[1.0], observations=[0, 0], actions=[0],
        ...                     rollout_info={"env_id": e}) for e in ("B-v0", "A-v0", "B-v0")]
        >>> env_id_counts(ros)
        {'B-v0': 2, 'A-v0': 1}
    """
    counts: dict[str, int] = {}
    for ro in rollouts:
        info = ro.rollout_info
        env_id = info.get("env_id") if isinstance(info, Mapping) else None
        if isinstance(env_id, str):
            counts[env_id] = counts.get(env_id, 0) + 1
    return counts


def _recorded_grid(info: Any) -> tuple[str, ...] | None:
    """The parameter names of ``info["grid"]`` (a list of strs, empty for "no grid"), or None
    where nothing valid is recorded."""
    names = info.get("grid") if isinstance(info, Mapping) else None
    if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        return tuple(names)
    return None


def grid_param_names(rollouts: StepSequence | Iterable[StepSequence]) -> list[str]:
    """The domain parameters the rollouts vary on a grid, or ``[]`` if they do not.

    A grid recorded in every rollout's ``rollout_info["grid"]`` (``gymsamp sample`` records its
    ``--grid`` parameter names there, and ``[]`` for a run without a grid) is that grid.
    Otherwise two parameters form a grid when every combination of their distinct values occurs
    (each with at least 2 values); one parameter when it is the only one that varies and every
    one of its values occurs at least twice (several rollouts per value). A randomized
    parameter draws values that occur once, even where clipping repeats its bounds, so it is not
    mistaken for a grid.

    Example:
        >>> from gymsamp.envs import param_grid
        >>> ros = [StepSequence(rewards=[1.0], observations=[0, 0], actions=[0],
        ...                     rollout_info={"domain_param": p})
        ...        for p in param_grid({"m": [1.0, 2.0], "l": [0.5, 1.0, 1.5]})]
        >>> grid_param_names(ros)
        ['m', 'l']
    """
    rollouts = as_rollout_list(rollouts)
    columns = domain_param_values(rollouts)
    recorded = {_recorded_grid(ro.rollout_info) for ro in rollouts}
    if len(recorded) == 1:
        names = next(iter(recorded))
        if names is not None and all(name in columns for name in names):
            return list(names)
    varying = {name: col for name, col in columns.items() if len(np.unique(col)) > 1}
    if len(varying) == 1:
        name, col = next(iter(varying.items()))
        return [name] if np.unique(col, return_counts=True)[1].min() >= 2 else []
    if len(varying) == 2:
        (a, col_a), (b, col_b) = varying.items()
        combos = {(x, y) for x, y in zip(col_a, col_b, strict=True)}
        if len(combos) == len(np.unique(col_a)) * len(np.unique(col_b)):
            return [a, b]
    return []
