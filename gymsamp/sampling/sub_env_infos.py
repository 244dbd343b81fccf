"""Infos per sub-env: what the collection loop reads instead of Gymnasium's batched infos.

Gymnasium's vector envs return one info dict for all sub-envs: every entry an array over the
sub-envs with a ``_key`` mask of those that reported it (``VectorEnv._add_info``). The
collection loop needs the opposite, each sub-env's own dict (a rollout's reset info with its
``domain_param`` and ``init_state``, the ``final_obs`` of an in-step reset, a step's env
infos). Batching then unbatching them cost ~30 us per CartPole episode, more than a seeded
reset, so gymsamp's own vector envs can hand the dicts over as they are:

- :class:`PerEnvInfos` (a mixin of gymsamp's vector envs): with ``per_env_infos`` set, every
  ``reset``/``step`` (and their ``_wait`` halves) returns ``{sub-env index: its info}`` for the
  sub-envs with a non-empty info, instead of the batched dict;
- :func:`infos_per_env`: the collection loop's context manager; it switches that on for the
  loop's duration where the env has it, and otherwise unbatches (:func:`unbatch_infos`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = [
    "PerEnvInfos",
    "SubEnvInfos",
    "env_info_at",
    "infos_per_env",
    "owned_info",
    "row_infos",
    "state_rows",
    "unbatch_infos",
]

# Immutable info values that need no copy (checked by exact type: the common case, fast).
_SCALAR_TYPES = frozenset(
    {int, float, bool, str, type(None), np.float64, np.float32, np.int64, np.int32, np.bool_}
)

#: Sub-env index -> its info, for the sub-envs that reported a non-empty one.
SubEnvInfos = dict[int, dict[str, Any]]


def env_info_at(infos: Mapping[str, Any], i: int) -> dict[str, Any]:
    """Sub-env ``i``'s entries of a batched Gymnasium info dict (using the ``_key`` masks).

    Example:
        >>> infos = {"x": np.array([1.0, 2.0]), "_x": np.array([False, True])}
        >>> env_info_at(infos, 0), env_info_at(infos, 1)
        ({}, {'x': np.float64(2.0)})
    """
    out: dict[str, Any] = {}
    if not infos:
        return out
    for key, value in infos.items():
        if key.startswith("_") and key[1:] in infos:  # the mask of another entry
            continue
        mask = infos.get(f"_{key}")
        if mask is not None and not mask[i]:
            continue
        if isinstance(value, Mapping):
            out[key] = env_info_at(value, i)
        else:
            entry = value[i]
            # A row of a batched array is a view that would keep the whole batch alive.
            out[key] = entry.copy() if isinstance(entry, np.ndarray) else entry
    return out


def unbatch_infos(infos: Mapping[str, Any], num_envs: int) -> SubEnvInfos:
    """A batched Gymnasium info dict as one dict per sub-env that reported anything.

    Example:
        >>> unbatch_infos({"x": np.array([1.0, 2.0]), "_x": np.array([False, True])}, 2)
        {1: {'x': np.float64(2.0)}}
    """
    if not infos:
        return {}
    owners = np.zeros(num_envs, dtype=bool)
    for key in infos:
        if not (key.startswith("_") and key[1:] in infos):
            mask = infos.get(f"_{key}")
            if mask is None:  # a key without a mask: every sub-env has it
                owners[:] = True
                break
            owners |= mask
    return {i: env_info_at(infos, i) for i in np.flatnonzero(owners).tolist()}


# Info entries that are not per-step env infos of the row they arrive in (with and without
# the states recorded: "state" is then gymsamp's, else the env's own).
_NOT_ROW_INFO = {
    True: frozenset(("state", "final_obs", "final_info")),
    False: frozenset(("final_obs", "final_info")),
}


def state_rows(infos: SubEnvInfos, num_envs: int) -> tuple[np.ndarray | None, int]:
    """The ``state`` entries of a step's infos as one row (None if no sub-env reported one),
    and how many sub-envs reported one (the loop checks a step with fewer than all).

    Batched as Gymnasium's ``VectorEnv._add_info`` does (the loop reads gymsamp's own vector
    envs per sub-env): an array of the first entry's shape and dtype, or of its type for a
    number, else an object array; zeros (None) where a sub-env has no entry.

    Example:
        >>> state_rows({1: {"state": np.array([0.5, 1.0])}}, 2)
        (array([[0. , 0. ],
               [0.5, 1. ]]), 1)
        >>> state_rows({0: {"state": "on"}}, 2)
        (array(['on', None], dtype=object), 1)
    """
    rows = None
    reported = 0
    for i, info in infos.items():
        if "state" not in info:
            continue
        reported += 1
        state = info["state"]
        if rows is None:
            if isinstance(state, np.ndarray):
                rows = np.zeros((num_envs, *state.shape), dtype=state.dtype)
            elif type(state) in (int, float, bool) or isinstance(state, np.number):
                rows = np.zeros(num_envs, dtype=type(state))
            else:
                rows = np.full(num_envs, None, dtype=object)
        rows[i] = state
    return rows, reported


def row_infos(infos: SubEnvInfos, *, states: bool) -> SubEnvInfos:
    """The env infos of a step's row: per sub-env, less the entries that are not step infos
    (``state`` too where ``states`` are recorded), and none of the sub-envs reset in the step
    (their step's info is their ``final_info``).

    Example:
        >>> infos = {0: {"x": 1, "state": 0.0}, 1: {"final_obs": 0.0, "x": 2}, 2: {"state": 1}}
        >>> row_infos(infos, states=True)
        {0: {'x': 1}}
        >>> row_infos(infos, states=False)
        {0: {'x': 1, 'state': 0.0}, 2: {'state': 1}}
    """
    rows = {}
    skip = _NOT_ROW_INFO[states]
    for i, info in infos.items():
        if "final_obs" not in info:
            row = {k: v for k, v in info.items() if k not in skip}
            if row:
                rows[i] = row
    return rows


def owned_info(info: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``info`` whose arrays are copies too (an env may reuse its own arrays); nested
    mappings become plain dicts, and None (against Gymnasium's API) an empty one.

    Example:
        >>> buffer = np.zeros(1)
        >>> info = owned_info({"x": buffer, "nested": {"y": buffer}})
        >>> buffer[0] = 5.0
        >>> info
        {'x': array([0.]), 'nested': {'y': array([0.])}}
    """
    if not info:
        return {}
    owned = {}
    for key, value in info.items():
        # Scalars first: most infos hold only scalars, and Mapping's isinstance check is slow.
        if type(value) not in _SCALAR_TYPES:
            if isinstance(value, np.ndarray):
                value = value.copy()
            elif isinstance(value, Mapping):
                value = owned_info(value)
        owned[key] = value
    return owned


class PerEnvInfos:
    """Mixin for gymsamp's vector envs: ``per_env_infos = True`` makes ``reset`` and ``step``
    return ``{sub-env index: its info}`` (non-empty ones only) instead of Gymnasium's batched
    info dict. Every info passes through ``VectorEnv._add_info``, which this overrides.

    Args (class attributes):
        owned_infos: Copy each info and its arrays (envs in this process, which may reuse
            their arrays); infos that arrive unpickled from workers are the caller's already.

    Example:
        >>> from gymsamp.sampling.vector_envs import EnvFactory, make_vector_env
        >>> envs = make_vector_env(EnvFactory("CartPole-v1"), 2, "sync")  # reports domain_param
        >>> envs.per_env_infos = True
        >>> _, infos = envs.reset(seed=0)
        >>> sorted(infos), sorted(infos[1])
        ([0, 1], ['domain_param', 'init_state', 'state'])
        >>> envs.close()
    """

    per_env_infos: bool = False
    owned_infos: bool = False

    def _add_info(
        self, vector_infos: dict[str, Any], env_info: dict[str, Any], env_num: int
    ) -> dict[str, Any]:
        if not self.per_env_infos:
            return super()._add_info(vector_infos, env_info, env_num)  # type: ignore[misc]
        if env_info:
            by_env: dict[Any, Any] = vector_infos
            by_env[env_num] = owned_info(env_info) if self.owned_infos else env_info
        return vector_infos


@contextmanager
def infos_per_env(envs: gym.vector.VectorEnv) -> Iterator[Callable[[Any], SubEnvInfos]]:
    """While the block runs, ``envs`` hands over infos per sub-env where it can; yields the
    function that turns what its ``reset``/``step`` return into :data:`SubEnvInfos`.

    Example:
        >>> import gymnasium as gym
        >>> envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
        >>> with infos_per_env(envs) as per_env:
        ...     per_env(envs.reset(seed=0)[1])
        {}
        >>> envs.close()
    """
    if not isinstance(envs, PerEnvInfos):
        num_envs = envs.num_envs
        yield lambda infos: unbatch_infos(infos, num_envs)
        return
    previous = envs.per_env_infos
    envs.per_env_infos = True
    num_envs = envs.num_envs

    def per_env(infos: Any) -> SubEnvInfos:
        # String keys: the env batched after all (e.g. a Gymnasium whose vector envs no longer
        # route infos through VectorEnv._add_info, which PerEnvInfos overrides).
        if infos and not isinstance(next(iter(infos)), int):
            return unbatch_infos(infos, num_envs)
        return infos

    try:
        yield per_env
    finally:
        envs.per_env_infos = previous
