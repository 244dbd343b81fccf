"""Rollout data for the SBI samplers: segments, ``[s_t, a_t]`` series, padding, embedding.

The data of a rollout is one row ``[s_t, a_t]`` per step ``t = 0 .. T-1`` (the final state is
not part of it): ``states`` where the embedding's spec has a ``state_space``, else the
observations, next to ``actions_applied``. :func:`sbi_env_spec` builds the spec to construct
embeddings with; the other functions are the samplers' shared helpers. Torch-free, so the
samplers' worker processes start quickly.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from gymsamp.data import EnvSpec, StepSequence
from gymsamp.envs.adapter import adapter_for, has_adapter, spec_with_adapter
from gymsamp.envs.probe import probing
from gymsamp.sampling.vector_envs import EnvFactory, prepare_env

__all__ = [
    "actions_of",
    "check_segments",
    "data_width",
    "float_field",
    "pad_series",
    "rollout_series",
    "sbi_env_spec",
    "segment_edges",
    "state_space_of",
]


def data_width(space: gym.Space[Any]) -> int:
    """Columns one element of ``space`` takes in the data: its number of entries (1 if scalar).

    A ``Discrete`` action is one column (its index), not a one-hot vector.
    """
    shape = space.shape
    if shape is None:
        raise TypeError(f"space must have a fixed shape (Box, Discrete, ...), got {space!r}")
    return int(np.prod(shape)) if len(shape) else 1


def state_space_of(spec: EnvSpec) -> gym.Space[Any]:
    """The space of the "states" in the data: ``spec.state_space``, else the observations."""
    return spec.state_space if spec.state_space is not None else spec.observation_space


def sbi_env_spec(env: Any) -> EnvSpec:
    """The :class:`~gymsamp.data.EnvSpec` to build embeddings for ``env`` with.

    Unlike ``EnvSpec.from_env(env)`` it has the full simulator ``state_space`` (and the state,
    observation and action labels) wherever gymsamp has a state adapter for the env, so the
    embeddings use the simulator states, as the samplers record them. ``env`` (an id, a
    factory or an instance) is not modified: a copy is inspected.

    Example:
        >>> spec = sbi_env_spec("Pendulum-v1")
        >>> spec.state_space.shape, spec.state_labels, spec.max_episode_length
        ((2,), ('theta', 'theta_dot'), 200)
    """
    with probing(prepare_env(EnvFactory(env)())) as probe:
        spec = EnvSpec.from_env(probe)
        if has_adapter(probe):
            spec = spec_with_adapter(spec, adapter_for(probe))
    return spec


def check_segments(num_segments: Any, len_segments: Any) -> None:
    """Exactly one of the two must be given, as an int >= 1 (``ValueError`` naming it)."""
    if (num_segments is None) == (len_segments is None):
        raise ValueError(
            "exactly one of num_segments and len_segments must be given, got "
            f"num_segments={num_segments!r}, len_segments={len_segments!r}"
        )
    for name, value in (("num_segments", num_segments), ("len_segments", len_segments)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1
        ):
            raise ValueError(f"{name} must be None or an int >= 1, got {value!r}")


def segment_edges(
    length: int, num_segments: int | None, len_segments: int | None
) -> list[tuple[int, int]]:
    """``(start, stop)`` of the consecutive segments of a ``length``-step rollout.

    As :meth:`~gymsamp.data.StepSequence.split_ordered_batches`: ``len_segments`` steps each
    (the last one shorter), or ``num_segments`` whose lengths differ by at most one step.
    Either must be at most ``length``.
    """
    if len_segments is not None:
        # Refused like too many segments: it made one segment of the whole rollout, shorter
        # than asked, without a word.
        if len_segments > length:
            raise ValueError(
                f"len_segments must be at most the rollout length {length}, got "
                f"{len_segments} (num_segments=1 simulates the whole rollout as one segment)"
            )
        starts = list(range(0, length, len_segments))
        return [(s, min(s + len_segments, length)) for s in starts]
    assert num_segments is not None
    if num_segments > length:
        raise ValueError(
            f"num_segments must be at most the rollout length {length}, got {num_segments}"
        )
    sizes = [len(chunk) for chunk in np.array_split(np.arange(length), num_segments)]
    stops = np.cumsum(sizes).tolist()
    return list(zip([0, *stops[:-1]], stops, strict=True))


def float_field(ro: StepSequence, name: str) -> np.ndarray:
    """The field ``name`` of ``ro`` (all entries) as a float64 array."""
    return np.asarray(ro.get_data_values(name), dtype=np.float64)


def actions_of(ro: StepSequence) -> np.ndarray:
    """``actions_applied`` where recorded (the actions the env received), else ``actions``."""
    name = "actions_applied" if "actions_applied" in ro.data_names else "actions"
    return np.asarray(ro.get_data_values(name))


def rollout_series(ro: StepSequence, spec: EnvSpec, what: str) -> np.ndarray:
    """The ``(T, S + A)`` data ``[s_t, a_t]`` of one rollout for embeddings built on ``spec``."""
    if ro.rollout_count != 1:
        raise ValueError(f"{what} must hold a single rollout, got {ro.rollout_count}")
    name = "states" if spec.state_space is not None else "observations"
    if name not in ro.data_names:
        raise ValueError(
            f"{what} must have a 'states' field: the embedding's spec has a state_space "
            "(rollout() records them for envs gymsamp has a state adapter for, samplers with "
            "record_states=True, `gymsamp sample` with --record-states; or build the spec "
            "without state_space to embed observations)"
        )
    length = ro.length
    states = float_field(ro, name)[:length].reshape(length, -1)
    acts = np.asarray(actions_of(ro), dtype=np.float64).reshape(length, -1)
    dim_state, dim_act = data_width(state_space_of(spec)), data_width(spec.action_space)
    if states.shape[1] != dim_state or acts.shape[1] != dim_act:
        raise ValueError(
            f"{what} has {states.shape[1]} {name} and {acts.shape[1]} action columns but must "
            f"have {dim_state} and {dim_act} to match the embedding's spec"
        )
    return np.concatenate([states, acts], axis=1)


def pad_series(series: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad a ``(n, D)`` series cut short by an episode end to ``length`` steps."""
    if len(series) >= length:
        return series[:length]
    return np.concatenate([series, np.zeros((length - len(series), series.shape[1]))])
