"""Sampling many rollouts in parallel: :class:`ParallelRolloutSampler`."""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable, Sequence
from itertools import product
from typing import Any

import gymnasium as gym
import numpy as np

from gymsamp.data import EnvSpec, StepSequence
from gymsamp.envs.adapter import adapter_for, has_adapter
from gymsamp.envs.wrappers import DomainParamWrapper, find_wrapper
from gymsamp.policies import as_policy
from gymsamp.sampling.collector import RolloutJob, collect
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.rollout import spec_id
from gymsamp.sampling.sampler import SamplerBase
from gymsamp.sampling.seeding import check_seed
from gymsamp.sampling.vector_envs import (
    VECTORIZATIONS,
    EnvFactory,
    choose_vectorization,
    env_dt,
    make_vector_env,
    measure_step_cost,
    prepare_env,
)

__all__ = ["ParallelRolloutSampler", "reset_payloads"]


def reset_payloads(
    init_states: Sequence[Any] | None, domain_params: Sequence[dict[str, Any]] | None
) -> list[dict[str, Any]] | None:
    """The reset options of each rollout for given init states and/or domain parameters.

    One entry per init state, per domain-parameter dict, or per (init state, domain
    parameters) pair in init-state-major order (the seed's ``product(init_states,
    domain_params)``). None if neither is given.
    """
    if init_states is None and domain_params is None:
        return None
    for name, values in (("init_states", init_states), ("domain_params", domain_params)):
        if values is not None and len(values) == 0:
            raise ValueError(f"{name} must be None or a non-empty list, got an empty list")
    states: list[Any] = [None] if init_states is None else list(init_states)
    params: list[Any] = [None] if domain_params is None else list(domain_params)
    payloads = []
    for state, param in product(states, params):
        options: dict[str, Any] = {}
        if state is not None:
            options["init_state"] = np.asarray(state, dtype=np.float64)
        if param is not None:
            options["domain_param"] = dict(param)
        payloads.append(options)
    return payloads


class ParallelRolloutSampler(SamplerBase):
    """Samples rollouts from many copies of an env in parallel, reproducibly.

    Rollout ``k`` of the ``c``-th ``sample()`` call resets its env with
    ``derive_seed(seed, c, k)`` and draws policy noise from a generator of the same triple, so
    with ``seed`` set the result equals ``[rollout(env, policy, seed=seed, sub_seed=c,
    sub_sub_seed=k) for k in range(n)]`` for any ``num_workers`` and vectorization (DESIGN §4).

    Args:
        env: An env id, a factory returning a ``gymnasium.Env``, or an env instance (copied into
            every sub-env with cloudpickle).
        policy: Anything :func:`gymsamp.policies.as_policy` accepts; it runs batched in this
            process.
        num_workers: Number of sub-envs stepped in parallel (worker processes for ``async``).
        min_rollouts: Minimum number of complete rollouts per ``sample()``.
        min_steps: Minimum total number of steps per ``sample()``.
        show_progress_bar: Show a tqdm bar of rollouts and steps.
        seed: Base seed; None draws fresh entropy for every call.
        vectorization: ``"sync"`` (one process), ``"async"`` (one process per sub-env) or
            ``"auto"`` (chosen by the env's step cost, measured once at construction:
            in-process for cheap envs, worker processes for expensive ones);
            :attr:`vectorization_used` tells, and so does the progress bar.
        max_steps: Cut rollouts after this many steps (they end in ``TIMEOUT``).
        step_timeout: Seconds a vector step may take before :class:`StepTimeoutError`
            (async only).
        start_method: Multiprocessing start method for async workers (None: the platform's).
        record_states: Also record the full simulator ``states`` (T+1) where the env has a
            simulator adapter (off by default: it costs a state copy and an info entry per step).

    Example:
        >>> from gymsamp.policies import RandomPolicy
        >>> import gymnasium as gym
        >>> policy = RandomPolicy(gym.spaces.Discrete(2))
        >>> with ParallelRolloutSampler("CartPole-v1", policy, num_workers=2, min_rollouts=3,
        ...                             seed=0, show_progress_bar=False) as sampler:
        ...     rollouts = sampler.sample()
        >>> len(rollouts), [ro.rollout_info["rollout_index"] for ro in rollouts]
        (3, [0, 1, 2])
    """

    def __init__(
        self,
        env: Any,
        policy: Any,
        num_workers: int,
        *,
        min_rollouts: int | None = None,
        min_steps: int | None = None,
        show_progress_bar: bool = True,
        seed: int | None = None,
        vectorization: str = "auto",
        max_steps: int | None = None,
        step_timeout: float | None = None,
        start_method: str | None = None,
        record_states: bool = False,
    ) -> None:
        super().__init__(min_rollouts=min_rollouts, min_steps=min_steps)
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers must be an int >= 1, got {num_workers!r}")
        if vectorization not in VECTORIZATIONS:
            raise ValueError(
                f"vectorization must be one of {VECTORIZATIONS}, got {vectorization!r}"
            )
        if max_steps is not None and (isinstance(max_steps, bool) or max_steps < 1):
            raise ValueError(f"max_steps must be None or an int >= 1, got {max_steps!r}")
        if step_timeout is not None and step_timeout <= 0:
            raise ValueError(f"step_timeout must be None or > 0 seconds, got {step_timeout!r}")
        self.num_workers = num_workers
        self.show_progress_bar = show_progress_bar
        self.seed = check_seed(seed)
        self.vectorization = vectorization
        self.vectorization_used = (
            "sync"
            if vectorization == "auto" and num_workers == 1
            else ("async" if vectorization == "auto" else vectorization)
        )
        self.max_steps = max_steps
        self.step_timeout = step_timeout
        self.start_method = start_method
        self.record_states = record_states
        self._sample_count = 0
        self._envs: gym.vector.VectorEnv | None = None
        self._finalizer: weakref.finalize | None = None
        self._policy_source = policy
        self._set_env(env)

    # -- construction -----------------------------------------------------------------------

    def _set_env(self, env: Any) -> None:
        self.close()
        self._factory = EnvFactory(env)
        probe = prepare_env(self._factory())
        try:
            self.env_spec = EnvSpec.from_env(probe)
            self.env_id = spec_id(probe)
            self.dt = env_dt(probe)
            self.has_adapter = has_adapter(probe)
            self.step_cost_us = measure_step_cost(probe) if self.vectorization == "auto" else None
            params = find_wrapper(probe, DomainParamWrapper)
            self.nominal_domain_param = None if params is None else params.nominal_domain_param
        finally:
            probe.close()
        self.policy = as_policy(self._policy_source, self.env_spec)
        self.vectorization_used = (
            choose_vectorization(self.num_workers, self.step_cost_us or 0.0, os.cpu_count())
            if self.vectorization == "auto"
            else self.vectorization
        )

    def reinit(self, env: Any = None, policy: Any = None) -> None:
        """Rebuild the sub-envs (optionally from a new env) and/or replace the policy."""
        if policy is not None:
            self._policy_source = policy
        if env is not None:
            self._set_env(env)
        else:
            self.close()
            self.policy = as_policy(self._policy_source, self.env_spec)

    def _vector_env(self) -> gym.vector.VectorEnv:
        if self._envs is None:
            self._envs = make_vector_env(
                self._factory,
                self.num_workers,
                self.vectorization_used,
                record_state=self.record_states,
                start_method=self.start_method,
            )
            self._finalizer = weakref.finalize(self, _close_vector_env, self._envs, True)
        return self._envs

    def close(self) -> None:
        """Close the sub-envs and end every worker process (the next sample() rebuilds them)."""
        if self._finalizer is not None and self._finalizer.detach() is not None:
            assert self._envs is not None
            _close_vector_env(self._envs, terminate=False)
        self._finalizer = None
        self._envs = None

    # -- sampling ---------------------------------------------------------------------------

    def sample(
        self,
        init_states: Sequence[np.ndarray] | None = None,
        domain_params: Sequence[dict[str, Any]] | None = None,
        eval: bool = False,
    ) -> list[StepSequence]:
        """Sample rollouts with the current policy parameters.

        Args:
            init_states: Initial states; each rollout starts from one, in turn.
            domain_params: Domain parameters; each rollout uses one dict, in turn.
            eval: True for evaluation (torch modules run in ``.eval()`` mode).

        With both lists, every (init state, domain parameters) pair is used, init-state-major.
        With ``min_rollouts`` (and no ``min_steps``) the list of settings is repeated
        ``ceil(min_rollouts / len)`` times, so each setting gets the same number of rollouts
        (as in pyrado); with ``min_steps`` rollout ``k`` uses setting ``k mod len``.

        Returns:
            The rollouts ``0..K-1``, in index order.
        """
        payloads = reset_payloads(init_states, domain_params)
        if payloads is not None:
            self._check_payloads(payloads)
        quota = self.quota
        if payloads is not None and self.min_steps is None:
            repeats = math.ceil((self.min_rollouts or 1) / len(payloads))
            quota = Quota(min_rollouts=repeats * len(payloads))
        return self.sample_jobs(quota, self._job_maker(payloads), eval=eval)

    def _check_payloads(self, payloads: list[dict[str, Any]]) -> None:
        if not self.has_adapter and any(payloads):
            probe = self._factory()
            try:
                adapter_for(probe)  # raises a TypeError naming what the env lacks
            finally:
                probe.close()
        shape = self.env_spec.state_space.shape if self.env_spec.state_space is not None else None
        valid = set(self.nominal_domain_param or ())
        for options in payloads:
            unknown = sorted(set(options.get("domain_param", ())) - valid)
            if unknown:
                raise ValueError(
                    f"domain_params has unknown names {unknown}; valid names for {self.env_id} "
                    f"are {sorted(valid)}"
                )
            state = options.get("init_state")
            if state is not None and shape is not None and state.shape != shape:
                raise ValueError(
                    f"init_states must have shape {shape}, got an entry of shape {state.shape}"
                )

    def _job_maker(
        self, payloads: list[dict[str, Any]] | None, info: dict[str, Any] | None = None
    ) -> Callable[[int], RolloutJob]:
        call = self._sample_count
        seed = self.seed

        def make_job(k: int) -> RolloutJob:
            options = None if payloads is None else payloads[k % len(payloads)] or None
            return RolloutJob.seeded(k, seed, call, k, options=options, info=dict(info or {}))

        return make_job

    def sample_jobs(
        self,
        quota: Quota,
        make_job: Callable[[int], RolloutJob],
        *,
        eval: bool = False,
    ) -> list[StepSequence]:
        """Run the collection loop for ``quota`` with jobs from ``make_job`` (advanced use).

        Increments the call counter used as ``sub_seed``. On any error or interrupt the
        sub-envs are closed (worker processes terminated) and rebuilt on the next call.
        """
        from tqdm.auto import tqdm

        total = quota.min_steps if quota.min_steps is not None else quota.min_rollouts
        unit = "steps" if quota.min_steps is not None else "rollouts"
        self._sample_count += 1
        with tqdm(
            total=total,
            unit=unit,
            disable=not self.show_progress_bar,
            leave=False,
            desc=f"Sampling ({self.vectorization_used}, {self.num_workers} workers)",
        ) as bar:
            counts = {"rollouts": 0, "steps": 0}

            def on_rollout(ro: StepSequence) -> None:
                counts["rollouts"] += 1
                counts["steps"] += ro.length
                bar.update(ro.length if unit == "steps" else 1)
                bar.set_postfix(counts, refresh=False)

            try:
                return collect(
                    self._vector_env(),
                    self.policy,
                    make_job,
                    quota,
                    eval=eval,
                    max_steps=self.max_steps,
                    step_timeout=self.step_timeout,
                    dt=self.dt,
                    env_id=self.env_id,
                    on_rollout=on_rollout,
                )
            except BaseException:
                # A failed or interrupted vector env is unusable: end it now, rebuild later.
                self._terminate()
                raise

    def _terminate(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # closes with terminate=True
        self._finalizer = None
        self._envs = None

    def __repr__(self) -> str:
        bounds = f"min_rollouts={self.min_rollouts}, min_steps={self.min_steps}"
        return (
            f"ParallelRolloutSampler(env={self.env_id!r}, num_workers={self.num_workers}, "
            f"{bounds}, seed={self.seed}, vectorization={self.vectorization_used!r})"
        )


def _close_vector_env(envs: gym.vector.VectorEnv, terminate: bool) -> None:
    if getattr(envs, "closed", False):
        return
    try:
        if isinstance(envs, gym.vector.AsyncVectorEnv):
            envs.close(terminate=terminate)
        else:
            envs.close()
    except Exception:
        if isinstance(envs, gym.vector.AsyncVectorEnv):
            for process in envs.processes:
                if process.is_alive():
                    process.kill()
