"""The checks of :class:`~gymsamp.sbi.SimRolloutSamplerForSBI` (:mod:`gymsamp.sbi.samplers`).

- of its arguments: ``dp_mapping``, ``rollouts_real``, the env against the embedding and a
  call's ``dp_values``;
- of what its simulated rollouts did: the domain parameters they applied and the actions they
  replayed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from gymsamp._checks import is_int
from gymsamp.data import EnvSpec, StepSequence
from gymsamp.sbi._workers import EnvInfo
from gymsamp.sbi.rollout_data import data_width, state_space_of

__all__ = [
    "check_applied",
    "check_dp_mapping",
    "check_dp_values",
    "check_env",
    "check_replay",
    "check_rollouts_real",
]


def check_dp_mapping(dp_mapping: Any) -> tuple[str, ...]:
    if not isinstance(dp_mapping, Mapping) or not dp_mapping:
        # Not a mapping: the wrong kind of argument; an empty one: the wrong value.
        error = ValueError if isinstance(dp_mapping, Mapping) else TypeError
        raise error(
            f"dp_mapping must be a non-empty dict {{0: name_0, 1: name_1, ...}}, got {dp_mapping!r}"
        )
    keys = list(dp_mapping)
    # numpy integers count (dict(zip(np.arange(n), names)) has them), bools do not.
    if not all(is_int(k) for k in keys) or set(keys) != set(range(len(keys))):
        raise ValueError(f"dp_mapping keys must be the integers 0 .. {len(keys) - 1}, got {keys}")
    names = tuple(dp_mapping[i] for i in range(len(dp_mapping)))
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise ValueError(f"dp_mapping values must be distinct names, got {names}")
    return names


def check_rollouts_real(rollouts_real: Any) -> list[StepSequence] | None:
    if rollouts_real is None:
        return None
    if isinstance(rollouts_real, StepSequence) or not isinstance(rollouts_real, Sequence):
        raise TypeError(
            "rollouts_real must be None or a list of StepSequence rollouts, got "
            f"{type(rollouts_real).__name__}"
        )
    if len(rollouts_real) == 0:
        raise ValueError("rollouts_real must be None or a non-empty list, got []")
    rollouts = []
    for i, ro in enumerate(rollouts_real):
        if not isinstance(ro, StepSequence):
            raise TypeError(f"rollouts_real[{i}] must be a StepSequence, got {type(ro).__name__}")
        if not ro.continuous:  # rollout_count would say "needs a continuous sequence"
            raise ValueError(
                f"rollouts_real[{i}] must be a recorded rollout, got a non-continuous batch "
                "(e.g. from split_shuffled_batches), whose steps are no time series"
            )
        if ro.rollout_count != 1:
            raise ValueError(
                f"rollouts_real[{i}] must hold a single rollout, got {ro.rollout_count}"
            )
        if "states" not in ro.data_names:
            raise ValueError(
                f"rollouts_real[{i}] must have 'states' to start the simulated segments "
                "from (record it with gymsamp on an env that has a state adapter)"
            )
        rollouts.append(ro if ro.data_format == "numpy" else ro.numpy())
    lengths = [ro.length for ro in rollouts]
    if len(set(lengths)) != 1:
        raise ValueError(f"rollouts_real must all have the same length, got {lengths}")
    return rollouts


def check_env(
    info: EnvInfo,
    dp_names: Sequence[str],
    emb_spec: EnvSpec,
    rollouts_real: Sequence[StepSequence] | None,
) -> None:
    if info.nominal_domain_param is None:
        raise TypeError(
            f"env must have domain parameters (a simulator gymsamp has an adapter for), "
            f"got {info.env_id}"
        )
    unknown = [name for name in dp_names if name not in info.nominal_domain_param]
    if unknown:
        raise ValueError(
            f"dp_mapping has unknown names {unknown}; valid names for {info.env_id} are "
            f"{sorted(info.nominal_domain_param)}"
        )
    spec = info.env_spec
    uses_states = emb_spec.state_space is not None
    states = spec.state_space if uses_states else spec.observation_space
    assert states is not None  # the env has an adapter, hence a state space
    widths = (data_width(states), data_width(spec.action_space))
    expected = (data_width(state_space_of(emb_spec)), data_width(emb_spec.action_space))
    if widths != expected:
        kind = "states" if uses_states else "observations"
        raise ValueError(
            f"embedding was built for {expected[0]} state and {expected[1]} action columns "
            f"but {info.env_id} has {widths[0]} ({kind}) and {widths[1]}; build it on "
            "sbi_env_spec(env)"
        )
    if rollouts_real is None and spec.max_episode_length is None:
        raise ValueError(
            f"env must have a time limit (max_episode_length) when rollouts_real is None, "
            f"got {info.env_id} without one"
        )


def check_dp_values(dp_values: Any, dp_names: Sequence[str]) -> tuple[np.ndarray, bool]:
    try:
        given = torch.as_tensor(dp_values)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"dp_values must be a tensor or array of numbers, got {dp_values!r}"
        ) from err
    # Cast silently, a complex value lost its imaginary part and True became 1.0.
    if given.dtype == torch.bool or given.is_complex():
        raise TypeError(f"dp_values must hold real numbers, got dtype {given.dtype}")
    theta = given.detach().cpu().to(torch.float64).numpy()
    num = len(dp_names)
    single = theta.ndim == 1
    rows = theta[None] if single else theta
    if rows.ndim != 2 or rows.shape[1] != num or rows.shape[0] == 0:
        raise ValueError(
            f"dp_values must have shape (B, {num}) or ({num},) (one column per dp_mapping "
            f"entry {dict(enumerate(dp_names))}), got shape {tuple(theta.shape)}"
        )
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"dp_values must be finite, got {rows.tolist()}")
    return rows, single


def check_applied(applied: Mapping[str, Any], commanded: Any, names: Sequence[str]) -> None:
    """ValueError unless the reported parameters ``applied`` equal the ``commanded`` ones."""
    expected = np.asarray(commanded, dtype=np.float64).reshape(-1)
    values = np.array([applied.get(name, np.nan) for name in names], dtype=np.float64)
    if values.shape != expected.shape or not np.allclose(values, expected, rtol=1e-12, atol=0.0):
        raise ValueError(
            f"the rollout ran with domain parameters {list(names)} = {values.tolist()} but "
            f"{expected.tolist()} were commanded"
        )


def check_replay(applied: np.ndarray, recording: np.ndarray) -> None:
    if not np.allclose(applied, recording[: len(applied)]):
        raise ValueError(
            "the simulated rollout applied other actions than the recorded ones (are the "
            "recorded actions outside the env's action space?)"
        )
