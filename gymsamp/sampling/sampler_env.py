"""What a sampler knows of its env: the facts read once from a probe env of exactly what its
sub-envs will run (:func:`probe_env`), and the reset payloads checked against them before
anything runs (:func:`check_env_payloads`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from gymsamp._warnings import user_stacklevel
from gymsamp.data import EnvSpec
from gymsamp.envs.adapter import adapter_for, check_init_state, has_adapter
from gymsamp.envs.probe import probing
from gymsamp.envs.wrappers import DomainParamWrapper, find_wrapper
from gymsamp.sampling.errors import StatesNotRecordedWarning
from gymsamp.sampling.sampler_sub_envs import probe_step_cost
from gymsamp.sampling.space_checks import check_action_space, check_observation_space
from gymsamp.sampling.vector_envs import (
    EnvFactory,
    dt_param_name,
    env_dt,
    env_id_of,
    prepare_env,
)

__all__ = ["EnvFacts", "check_env_payloads", "probe_env"]


@dataclass(frozen=True)
class EnvFacts:
    """What a sampler reads from its probe env (the sampler's attributes of the same names).

    Attributes:
        env_spec: The env's spaces.
        env_id: How gymsamp names the env.
        dt: Simulated seconds per step.
        dt_param: The domain parameter that sets ``dt``, if any.
        has_adapter: Whether gymsamp can set the env's domain parameters and states.
        step_cost_us: The measured step cost (None where none was measured).
        nominal_domain_param: The nominal domain parameters (None without a
            :class:`~gymsamp.envs.DomainParamWrapper`).
        domain_param_validator: Checks domain-parameter values without an env, if the
            adapter can.
    """

    env_spec: EnvSpec
    env_id: str
    dt: float
    dt_param: str | None
    has_adapter: bool
    step_cost_us: float | None
    nominal_domain_param: dict[str, Any] | None
    domain_param_validator: Callable[[Mapping[str, Any]], object] | None


def probe_env(factory: EnvFactory, *, record_states: bool, measure: bool) -> EnvFacts:
    """The facts of a probe env built by ``factory`` and prepared as the sub-envs are (with
    ``record_states``); its step cost is measured (steps in this process) only with
    ``measure``. Warns with a :class:`StatesNotRecordedWarning` where ``record_states`` cannot
    be honoured, and refuses observation and action spaces the samplers cannot handle."""
    # Probe exactly what the sub-envs will run (state recording costs a copy per step).
    with probing(prepare_env(factory(), record_state=record_states)) as probe:
        env_spec = EnvSpec.from_env(probe)
        env_id = env_id_of(probe)
        dt = env_dt(probe)
        dt_param = dt_param_name(probe)
        adapted = has_adapter(probe)
        if record_states and not adapted:
            warnings.warn(
                f"record_states=True: the state of {env_id} cannot be read (no "
                "simulator adapter), so the rollouts hold no states",
                StatesNotRecordedWarning,
                stacklevel=user_stacklevel(),
            )
        check_observation_space(probe.observation_space)
        check_action_space(probe.action_space)
        step_cost_us = probe_step_cost(probe) if measure else None
        params = find_wrapper(probe, DomainParamWrapper)
        return EnvFacts(
            env_spec=env_spec,
            env_id=env_id,
            dt=dt,
            dt_param=dt_param,
            has_adapter=adapted,
            step_cost_us=step_cost_us,
            nominal_domain_param=None if params is None else params.nominal_domain_param,
            domain_param_validator=None if params is None else params.domain_param_validator(),
        )


def check_env_payloads(
    payloads: Sequence[dict[str, Any]],
    labels: Sequence[tuple[str, str]] | None,
    *,
    factory: EnvFactory,
    env_id: str,
    has_adapter: bool,
    state_space: gym.Space[Any] | None,
    nominal_domain_param: Mapping[str, Any] | None,
    domain_param_validator: Callable[[Mapping[str, Any]], object] | None,
) -> None:
    """Check reset payloads against the env built by ``factory`` (of the facts given), as
    :meth:`~gymsamp.sampling.ParallelRolloutSampler.check_payloads` documents."""
    if not has_adapter and any(payloads):
        with probing(factory()) as probe:
            adapter_for(probe)  # raises a TypeError naming what the env lacks
    space = state_space
    valid = sorted(nominal_domain_param or ())
    names = labels or [("init_states", "domain_params")] * len(payloads)
    for options, (state_name, param_name) in zip(payloads, names, strict=True):
        unknown = sorted(set(options.get("domain_param", ())) - set(valid))
        if unknown:
            raise ValueError(
                f"{param_name} must use the domain-parameter names of {env_id} "
                f"({valid}), got unknown names {unknown}"
            )
        param = options.get("domain_param")
        if param and domain_param_validator is not None:
            try:  # here, not as a sub-env's error once workers run
                domain_param_validator(param)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{param_name} must hold values {env_id} accepts: {err}") from None
        state = options.get("init_state")
        if state is not None and space is not None:
            check_init_state(state, space, owner=str(env_id), name=state_name)
