"""Sampling many rollouts in parallel: :class:`ParallelRolloutSampler`.

Who holds the sampler (one call at a time, a ``close()`` from any thread) lives in
:mod:`gymsamp.sampling.sampler_calls`, its progress bar in :mod:`gymsamp.sampling.progress_bar`,
what it reads of its env (and the reset payloads checked against it) in
:mod:`gymsamp.sampling.sampler_env`, its local sub-envs (built, run and ended) in
:mod:`gymsamp.sampling.local_backend`, and the closing of its sub-envs in
:mod:`gymsamp.sampling.sampler_sub_envs`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gymsamp._checks import check_bool, check_int, check_positive_real
from gymsamp.data import StepSequence
from gymsamp.policies import as_policy
from gymsamp.policies.adapters import check_policy_like
from gymsamp.sampling.batched_vector_env import available_cpus
from gymsamp.sampling.errors import NonFiniteError, WorkerError
from gymsamp.sampling.local_backend import (  # the step_timeout docs name it here
    MIN_BUILD_TIMEOUT_S as MIN_BUILD_TIMEOUT_S,
)
from gymsamp.sampling.local_backend import LocalRolloutDriver, LocalSpec
from gymsamp.sampling.progress_bar import RolloutProgress
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.rollout_job import RolloutJob
from gymsamp.sampling.sampler import SamplerBase
from gymsamp.sampling.sampler_calls import CallClosedError, HeldCall, SamplerCalls
from gymsamp.sampling.sampler_env import check_env_payloads, probe_env
from gymsamp.sampling.sampler_options import (
    BACKENDS,
    DomainParams,
    InitStates,
    check_backend_options,
    reset_payloads,
)
from gymsamp.sampling.sampler_sub_envs import not_picklable
from gymsamp.sampling.seeding import call_seed, check_seed
from gymsamp.sampling.start_method import (
    check_main_script,
    check_shippable,
    check_start_method,
    effective_start_method,
)
from gymsamp.sampling.surplus import collect_without_failed_surplus
from gymsamp.sampling.vector_envs import (
    VECTORIZATIONS,
    EnvFactory,
    EnvLike,
    choose_vectorization,
)

if TYPE_CHECKING:  # the Ray backend imports ray; only its code path loads it
    from gymsamp.sampling.ray_backend import RayRolloutDriver

__all__ = ["BACKENDS", "ParallelRolloutSampler", "check_backend_options", "reset_payloads"]


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
        vectorization: ``"sync"`` (one process), ``"async"`` (one process per sub-env),
            ``"batched"`` (several sub-envs per worker process, shared memory) or ``"auto"``
            (chosen by the env's step cost, measured once at construction: in-process for
            cheap envs, batched or one process per sub-env for expensive ones);
            :attr:`vectorization_used` tells, and so does the progress bar.
        max_steps: Cut rollouts after this many steps (they end in ``TIMEOUT``).
        step_timeout: Seconds a vector step or reset may take before
            :class:`StepTimeoutError` (sub-envs in worker processes only: refused with
            ``"sync"``; ``"auto"`` then runs no probe steps in this process and picks
            ``"batched"``). It also bounds the workers' start and the build of their sub-envs,
            given at least :data:`MIN_BUILD_TIMEOUT_S` (60 s).
        start_method: Multiprocessing start method for async workers (None: the platform's).
        record_states: Also record the full simulator ``states`` (T+1) where the env has a
            simulator adapter (off by default: it costs a state copy and an info entry per step);
            for an env without one a :class:`~gymsamp.sampling.errors.StatesNotRecordedWarning`
            says that no states will be recorded.
        backend: ``"local"`` (sub-envs of this process or its worker processes) or ``"ray"``
            (``num_workers`` Ray actors, each stepping ``envs_per_actor`` sub-envs in its own
            ``"sync"`` vector env with a copy of the policy; same results, see
            :mod:`gymsamp.sampling.ray_backend` and ``docs/ray.md``). Ray: uses the Ray the
            caller initialized (``ray.init(...)`` before building the sampler), else starts a
            local one; ``vectorization`` must be ``"auto"`` or ``"sync"`` and ``step_timeout``
            None.
        envs_per_actor: Sub-envs per Ray actor (``backend="ray"`` only).
        ray_actor_options: Options for each Ray actor (``num_cpus``, ``num_gpus``,
            ``resources``, ``scheduling_strategy``, ``runtime_env``, ...; default
            ``{"num_cpus": 1}`` on a Ray the caller started, ``{"num_cpus": 0}`` on the local
            one gymsamp started; ``backend="ray"`` only).

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
        env: EnvLike,
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
        backend: str = "local",
        envs_per_actor: int = 1,
        ray_actor_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(min_rollouts=min_rollouts, min_steps=min_steps)
        num_workers = check_int("num_workers", num_workers)
        check_policy_like(policy)  # named as this argument (as_policy names its own)
        if vectorization not in VECTORIZATIONS:
            raise ValueError(
                f"vectorization must be one of {VECTORIZATIONS}, got {vectorization!r}"
            )
        step_timeout = check_positive_real("step_timeout", step_timeout, optional=True)
        start_method = check_start_method(start_method)
        check_backend_options(
            backend, envs_per_actor, ray_actor_options, vectorization, step_timeout
        )
        max_steps = None if max_steps is None else check_int("max_steps", max_steps)
        if step_timeout is not None and vectorization == "sync":
            raise ValueError(
                "step_timeout bounds sub-envs in worker processes (vectorization 'auto', "
                f"'async' or 'batched'); a sub-env in this process cannot be stopped, got "
                f"vectorization='sync' with step_timeout={step_timeout!r}"
            )
        self.num_workers = num_workers
        self.show_progress_bar = check_bool("show_progress_bar", show_progress_bar)
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
        self.record_states = check_bool("record_states", record_states)
        self.backend = backend
        self.envs_per_actor = envs_per_actor
        self.ray_actor_options = None if ray_actor_options is None else dict(ray_actor_options)
        self._sample_count = 0
        # One call at a time: two threads stepping the same sub-envs garble both calls; a
        # close() from another thread ends the running one.
        self._calls = SamplerCalls()
        self._local = LocalRolloutDriver()
        self._policy_source = policy
        self._ray: RayRolloutDriver | None = None  # connects once env and policy are valid
        self._set_env(env)

    @property
    def _records_states(self) -> bool:
        """Whether the sub-envs record states: with ``record_states``, where an adapter reads
        them (as in rollout()); otherwise an env's own ``state`` info is an env info like any
        other."""
        return self.record_states and self.has_adapter

    # -- construction -----------------------------------------------------------------------

    def _set_env(self, env: Any) -> None:
        self._release_workers()
        self._factory = EnvFactory(env)
        # With a step timeout, auto runs no probe steps here (one could hang this process)
        # and picks batched workers, which the timeout bounds.
        measure = (
            self.vectorization == "auto" and self.backend == "local" and self.step_timeout is None
        )
        facts = probe_env(self._factory, record_states=self.record_states, measure=measure)
        self.env_spec = facts.env_spec
        self.env_id = facts.env_id
        self.dt = facts.dt
        self.dt_param = facts.dt_param
        self.has_adapter = facts.has_adapter
        self.step_cost_us = facts.step_cost_us
        self.nominal_domain_param = facts.nominal_domain_param
        self.domain_param_validator = facts.domain_param_validator
        self.policy = as_policy(self._policy_source, self.env_spec)
        if self.backend == "ray":  # each actor steps its sub-envs in its own process
            self.vectorization_used = "sync"
        elif self.vectorization == "auto" and self.step_timeout is not None:
            self.vectorization_used = "batched"
        elif self.vectorization == "auto":
            self.vectorization_used = choose_vectorization(
                self.num_workers, self.step_cost_us or 0.0, available_cpus()
            )  # no step timeout on this path, so a block of sub-envs in the parent may pay
        else:
            self.vectorization_used = self.vectorization
        self._check_shippable()
        self._configure_ray()

    def _check_shippable(self, *, env: bool = True) -> None:
        """Refuse an env (unless ``env`` is False: it was checked already) or policy that cannot
        reach the processes that need it, here rather than as cloudpickle's bare error at the
        first ``sample()``."""
        if self.backend == "ray":
            destination = "the Ray actors (backend='ray')"
            if env:
                check_shippable("env", self._factory, destination=destination)
            check_shippable("policy", self.policy, destination=destination)
            return
        if not env:  # the policy stays in this process
            return
        method = effective_start_method(self.start_method)
        if self.vectorization_used != "sync" and method != "fork":
            check_main_script(method, self.start_method, instead="vectorization='sync'")
            # The policy stays in this process; only the env factory travels (fork inherits it).
            destination = f"worker processes started with {method!r}"
            check_shippable("env", self._factory, destination=destination)

    def _local_spec(self) -> LocalSpec:
        """What the local sub-envs are built from and run with, as the sampler is now."""
        return LocalSpec(
            factory=self._factory,
            policy=self.policy,
            num_envs=self.num_workers,
            vectorization=self.vectorization_used,
            record_states=self._records_states,
            dt=self.dt,
            env_id=self.env_id,
            dt_param=self.dt_param,
            max_steps=self.max_steps,
            step_timeout=self.step_timeout,
            start_method=self.start_method,
            step_cost_us=self.step_cost_us,
        )

    def _configure_ray(self) -> None:
        if self.backend != "ray":
            return
        from gymsamp.sampling.ray_backend import RayRolloutDriver, WorkerSpec

        if self._ray is None:
            self._ray = RayRolloutDriver(
                self.num_workers, self.envs_per_actor, actor_options=self.ray_actor_options
            )

        self._ray.configure(
            WorkerSpec(
                factory=self._factory,
                policy=self.policy,
                envs_per_actor=self.envs_per_actor,
                record_states=self._records_states,
                dt=self.dt,
                env_id=self.env_id,
                dt_param=self.dt_param,
            )
        )

    def reinit(self, env: Any = None, policy: Any = None) -> None:
        """Rebuild the sub-envs (optionally from a new env) and/or replace the policy.

        A reinit that raises (an env or policy refused) leaves the sampler on its previous
        env and policy; its workers restart on the next call.
        """
        self._checked_reinit(env, policy, lambda: None)

    def _checked_reinit(self, env: Any, policy: Any, check: Callable[[], None]) -> None:
        """:meth:`reinit`, refused (the sampler left on its previous env and policy) where
        ``check()`` raises once the new env and policy are in place: for a sampler built on
        this one that needs more of them (e.g. a policy with a flat parameter vector)."""
        with self._one_call("reinit"):
            self._reinit(env, policy, check)

    def _reinit(self, env: Any, policy: Any, check: Callable[[], None]) -> None:
        self._release_workers()
        before = dict(vars(self))  # the workers are released: nothing in it is live
        try:
            if policy is not None:
                check_policy_like(policy)
                self._policy_source = policy
            if env is not None:
                self._set_env(env)
            else:
                self.policy = as_policy(self._policy_source, self.env_spec)
                self._check_shippable(env=False)
                self._configure_ray()
            check()
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise

    def close(self) -> None:
        """Close the sub-envs and end every worker process (the next sample() rebuilds them).

        A sub-env whose ``close()`` raises does not stop the others from closing, nor this call:
        a ``RuntimeWarning`` names the first failure. Ray: kills the actors, and shuts Ray down
        only if this sampler started it and no other open gymsamp sampler uses it (a Ray the
        caller started is never shut down).

        From another thread while ``sample()`` runs (a watchdog): the worker processes (or
        actors) are ended at once, ``sample()`` raises a :class:`WorkerError` saying so (with
        in-process sub-envs: after its current step), and ``close()`` returns once that call
        has ended and closed its sub-envs. From inside the call (a local policy, or
        :meth:`sample_jobs`' ``make_job``): the call raises that error at its next step or job,
        and the close is completed (a Ray this sampler started shut down) once it has ended.
        """
        self._calls.close(self._end_workers_of, self._close_now)

    def _close_now(self) -> None:
        """The close itself, by the call that holds the sampler."""
        self._release_workers()
        if self._ray is not None:
            self._ray.close()

    def _one_call(self, name: str) -> contextlib.AbstractContextManager[HeldCall]:
        """Hold the sampler for call ``name``; a call while another runs is refused."""
        return self._calls.hold(name, self._close_now)

    def _end_workers_of(self, call: HeldCall) -> None:
        """Terminate the worker processes that ``call`` (running in another thread) waits on,
        so that it fails at once instead of after its step; it then closes what is left."""
        if call.name != "sample" and call.name != "sample_jobs":
            return
        if self._ray is not None:  # its wait for the actors' replies then fails
            self._ray.stop_actors()
            return
        self._local.end_processes()

    def _release_workers(self) -> None:
        """End the sub-envs and worker processes or actors, keeping the Ray connection."""
        self._local.release()
        if self._ray is not None:
            self._ray.stop_actors()

    # -- sampling ---------------------------------------------------------------------------

    def sample(
        self,
        init_states: InitStates | None = None,
        domain_params: DomainParams | None = None,
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

        A call that fails (a sub-env error, a step timeout, an exception or Ctrl-C in the
        policy) still counts as call ``c``: the next one uses ``sub_seed`` ``c + 1``, as on a
        fresh sampler that made ``c + 1`` calls. A call refused for its arguments does not count.

        Returns:
            The rollouts ``0..K-1``, in index order.

        Raises:
            RuntimeError: If another thread runs ``sample()`` or ``reinit()`` of this sampler
                now (a sampler runs one call at a time).
            WorkerError: Also where ``close()``, from another thread, ended this call (after
                the current step; no worker process of the call outlives that ``close()``).
        """
        with self._one_call("sample") as call:
            payloads = reset_payloads(init_states, domain_params)
            if payloads is not None:
                self.check_payloads(payloads)
            quota = self.quota
            if payloads is not None and self.min_steps is None:
                repeats = math.ceil((self.min_rollouts or 1) / len(payloads))
                quota = Quota(min_rollouts=repeats * len(payloads))
            return self._sample_jobs(call, quota, self._job_maker(payloads), eval=eval)

    def check_payloads(
        self,
        payloads: Sequence[dict[str, Any]],
        labels: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """Check reset payloads against the env before anything runs.

        Args:
            payloads: Reset options (``init_state``, ``domain_param``), one per rollout.
            labels: For the messages, the argument names of payload ``k``'s initial state and
                domain parameters (default: ``init_states`` and ``domain_params``).

        Raises:
            TypeError: Payloads set something but the env has no simulator adapter.
            TypeError / ValueError: A domain-parameter value the env's adapter refuses (e.g.
                a negative mass), where the adapter can tell without an env.
            ValueError: An unknown domain-parameter name, or an initial state that is not
                finite, has the wrong shape or lies outside the env's state space.
        """
        check_env_payloads(
            payloads,
            labels,
            factory=self._factory,
            env_id=self.env_id,
            has_adapter=self.has_adapter,
            state_space=self.env_spec.state_space,
            nominal_domain_param=self.nominal_domain_param,
            domain_param_validator=self.domain_param_validator,
        )

    def _job_maker(
        self, payloads: list[dict[str, Any]] | None, info: dict[str, Any] | None = None
    ) -> Callable[[int], RolloutJob]:
        call = self._sample_count
        seed = call_seed(self.seed)

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
        sub-envs are closed (worker processes terminated, Ray actors killed) and rebuilt on the
        next call. With ``quota.min_steps``, a rollout past the result (one that ran
        concurrently) whose sub-env fails or whose observations or actions are not finite does
        not fail the call, whatever the number of workers: the result is then collected again
        without it (local backend). Like :meth:`sample`, it runs in one thread at a time and
        ends with a :class:`WorkerError` where ``close()`` from another thread ended it.
        """
        with self._one_call("sample_jobs") as call:
            return self._sample_jobs(call, quota, make_job, eval=eval)

    def _sample_jobs(
        self,
        call: HeldCall,
        quota: Quota,
        make_job: Callable[[int], RolloutJob],
        *,
        eval: bool = False,
    ) -> list[StepSequence]:
        try:
            return self._run_jobs(call, quota, make_job, eval=eval)
        except Exception as err:
            if call.closed:  # whatever the ended workers or closed sub-envs raised
                raise WorkerError(
                    f"the ParallelRolloutSampler was closed while {call.name}() ran (close() "
                    "during the call)"
                ) from err
            raise

    def _run_jobs(
        self,
        call: HeldCall,
        quota: Quota,
        make_job: Callable[[int], RolloutJob],
        *,
        eval: bool,
    ) -> list[StepSequence]:
        def check_open(_running: int = 0) -> None:
            if call.closed:
                raise CallClosedError

        def make_open_job(k: int) -> RolloutJob:
            check_open()
            return make_job(k)

        eval = check_bool("eval", eval)
        total = quota.min_steps if quota.min_steps is not None else quota.min_rollouts
        unit = "steps" if quota.min_steps is not None else "rollouts"
        self._sample_count += 1
        if self._ray is None:
            spec = self._local_spec()
            self._local.vector_env(spec)  # built first: the bar names its layout (processes)
        where = (
            f"ray, {self.num_workers} actors x {self.envs_per_actor} envs"
            if self._ray is not None
            else f"{self.vectorization_used}, {self._local.layout(spec)}"
        )
        desc = f"Sampling ({where})"
        with RolloutProgress(self.show_progress_bar, total=total, unit=unit, desc=desc) as progress:
            on_rollout = progress.on_rollout

            def run(q: Quota) -> list[StepSequence]:
                check_open()  # also before a surplus rerun
                if self._ray is not None:  # the driver kills its actors on errors itself
                    return self._ray.run(
                        q,
                        make_open_job,
                        eval=eval,
                        max_steps=self.max_steps,
                        on_rollout=on_rollout,
                    )
                return self._local.run(
                    spec,  # the sampler as this call found it, also for a surplus rerun
                    q,
                    make_open_job,
                    eval=eval,
                    on_rollout=on_rollout,
                    on_step=check_open,
                )

            try:
                return run(quota)
            except (WorkerError, NonFiniteError) as err:
                if quota.min_steps is None or not err.rollout_indices:
                    raise
                progress.restart()  # the bar starts over with the rerun
                return collect_without_failed_surplus(run, quota, err)

    def __reduce__(self) -> Any:
        # Its sub-envs, worker processes and call lock are live; a copy could not own them.
        raise TypeError(not_picklable(type(self).__name__))

    def __repr__(self) -> str:
        bounds = f"min_rollouts={self.min_rollouts}, min_steps={self.min_steps}"
        where = f"vectorization={self.vectorization_used!r}"
        if self._ray is not None:
            where = f"backend='ray', envs_per_actor={self.envs_per_actor}"
        return (
            f"ParallelRolloutSampler(env={self.env_id!r}, num_workers={self.num_workers}, "
            f"{bounds}, seed={self.seed}, {where})"
        )
