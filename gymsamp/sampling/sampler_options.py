"""The samplers' options that need no env: reset payloads from ``init_states`` and
``domain_params``, and the backend options checked together before anything connects to Ray."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from gymsamp._checks import check_int

__all__ = ["BACKENDS", "DomainParams", "InitStates", "check_backend_options", "reset_payloads"]

#: The values of the samplers' ``backend`` option.
BACKENDS = ("local", "ray")

#: What ``init_states`` takes (samplers, evaluation functions): a list of states (arrays, or
#: lists of numbers) or a 2-D array, one state per row.
InitStates: TypeAlias = Sequence[npt.ArrayLike] | npt.NDArray[Any]

#: What ``domain_params`` takes: a list of dicts (any mapping) of parameter values.
DomainParams: TypeAlias = Sequence[Mapping[str, Any]]


def reset_payloads(
    init_states: InitStates | None, domain_params: DomainParams | None
) -> list[dict[str, Any]] | None:
    """The reset options of each rollout for given init states and/or domain parameters.

    One entry per init state, per domain-parameter dict, or per (init state, domain
    parameters) pair in init-state-major order (the seed's ``product(init_states,
    domain_params)``). None if neither is given.
    """
    if init_states is None and domain_params is None:
        return None
    for name, values in (("init_states", init_states), ("domain_params", domain_params)):
        if isinstance(values, Mapping):
            raise TypeError(
                f"{name} must be None or a list (one entry per setting), got a dict {values!r}; "
                "wrap it in a list"
            )
        if values is not None and not hasattr(values, "__len__"):
            raise TypeError(
                f"{name} must be None or a list (one entry per setting), got "
                f"{type(values).__name__} {values!r}"
            )
        if values is not None and len(values) == 0:
            raise ValueError(f"{name} must be None or a non-empty list, got an empty list")
    if isinstance(init_states, np.ndarray) and init_states.ndim < 2:
        raise ValueError(
            "init_states must be a list of states (or a 2-D array, one state per row), got an "
            f"array of shape {init_states.shape}; wrap a single state in a list"
        )
    for param in domain_params or ():
        if param is not None and not isinstance(param, Mapping):
            raise TypeError(
                f"domain_params must hold dicts of parameter values, got an entry {param!r}"
            )
    states: list[Any] = [None] if init_states is None else list(init_states)
    params: list[Any] = [None] if domain_params is None else list(domain_params)
    payloads = []
    for state, param in product(states, params):
        options: dict[str, Any] = {}
        if state is not None:
            try:
                options["init_state"] = np.asarray(state, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(
                    f"init_states must hold arrays of real numbers, got an entry {state!r}"
                ) from None
        if param is not None:
            options["domain_param"] = dict(param)
        payloads.append(options)
    return payloads


def check_backend_options(
    backend: str,
    envs_per_actor: int,
    ray_actor_options: Mapping[str, Any] | None,
    vectorization: str,
    step_timeout: float | None,
) -> None:
    """Validate the backend options together (before anything connects to Ray).

    Also used by the samplers built on :class:`ParallelRolloutSampler` (e.g. the SBI
    simulator), which check their options before their workers build one.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    check_int("envs_per_actor", envs_per_actor)
    if ray_actor_options is not None and not isinstance(ray_actor_options, Mapping):
        raise TypeError(
            f"ray_actor_options must be None or a mapping, got {type(ray_actor_options).__name__}"
        )
    if backend == "local":
        if envs_per_actor != 1:
            raise ValueError(
                f"envs_per_actor applies to backend='ray' only, got {envs_per_actor!r} with "
                "backend='local' (num_workers sets the sub-envs there)"
            )
        if ray_actor_options is not None:
            raise ValueError(
                "ray_actor_options applies to backend='ray' only, got "
                f"{dict(ray_actor_options)!r} with backend='local'"
            )
        return
    if vectorization not in ("auto", "sync"):
        raise ValueError(
            "vectorization must be 'auto' or 'sync' with backend='ray' (each actor steps its "
            f"sub-envs in its own process), got {vectorization!r}"
        )
    if step_timeout is not None:
        raise ValueError(
            "step_timeout must be None with backend='ray' (it bounds sub-envs in worker "
            "processes; a Ray actor steps its sub-envs in its own process), got "
            f"{step_timeout!r}"
        )
    if ray_actor_options is not None:
        from gymsamp.sampling.ray_backend import check_actor_options

        check_actor_options(ray_actor_options)
