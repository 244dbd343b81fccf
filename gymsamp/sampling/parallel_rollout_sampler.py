"""Sampling many rollouts in parallel: :class:`ParallelRolloutSampler`.

Who holds the sampler (one call at a time, a ``close()`` from any thread) lives in
:mod:`gymsamp.sampling.sampler_calls`, its progress bar in :mod:`gymsamp.sampling.progress_bar`,
and the closing of its sub-envs in :mod:`gymsamp.sampling.sampler_sub_envs`.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from gymsamp._checks import check_bool, check_int, check_positive_real
from gymsamp._warnings import user_stacklevel
from gymsamp.data import EnvSpec, StepSequence
from gymsamp.envs.adapter import adapter_for, check_init_state, has_adapter
from gymsamp.envs.probe import probing
from gymsamp.envs.wrappers import DomainParamWrapper, find_wrapper
from gymsamp.policies import as_policy
from gymsamp.policies.adapters import check_policy_like
from gymsamp.sampling.batched_vector_env import available_cpus
from gymsamp.sampling.collector import collect
from gymsamp.sampling.errors import (
    LateSubEnvsError,
    NonFiniteError,
    StatesNotRecordedWarning,
    StepTimeoutError,
    WorkerError,
)
from gymsamp.sampling.progress_bar import progress_bar
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.rollout_job import RolloutJob
from gymsamp.sampling.sampler import SamplerBase
from gymsamp.sampling.sampler_calls import CallClosedError, HeldCall, SamplerCalls
from gymsamp.sampling.sampler_options import BACKENDS, check_backend_options, reset_payloads
from gymsamp.sampling.sampler_sub_envs import close_vector_env, not_picklable, probe_step_cost
from gymsamp.sampling.seeding import call_seed, check_seed
from gymsamp.sampling.space_checks import check_action_space, check_observation_space
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
    batched_layout,
    choose_vectorization,
    dt_param_name,
    env_dt,
    env_id_of,
    make_vector_env,
    prepare_env,
)

if TYPE_CHECKING:  # the Ray backend imports ray; only its code path loads it
    from gymsamp.sampling.ray_backend import RayRolloutDriver

__all__ = ["BACKENDS", "ParallelRolloutSampler", "check_backend_options", "reset_payloads"]


#: The fewest seconds a worker process may take to start and build its sub-envs where a
#: ``step_timeout`` is set (building an env, or importing in a spawned process, may take far
#: longer than a step).
MIN_BUILD_TIMEOUT_S = 60.0


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
        self._envs: gym.vector.VectorEnv | None = None
        self._finalizer: weakref.finalize | None = None
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
        # Probe exactly what the sub-envs will run (state recording costs a copy per step).
        with probing(prepare_env(self._factory(), record_state=self.record_states)) as probe:
            self.env_spec = EnvSpec.from_env(probe)
            self.env_id = env_id_of(probe)
            self.dt = env_dt(probe)
            self.dt_param = dt_param_name(probe)
            self.has_adapter = has_adapter(probe)
            if self.record_states and not self.has_adapter:
                warnings.warn(
                    f"record_states=True: the state of {self.env_id} cannot be read (no "
                    "simulator adapter), so the rollouts hold no states",
                    StatesNotRecordedWarning,
                    stacklevel=user_stacklevel(),
                )
            check_observation_space(probe.observation_space)
            check_action_space(probe.action_space)
            # With a step timeout, auto runs no probe steps here (one could hang this process)
            # and picks batched workers, which the timeout bounds.
            measure = (
                self.vectorization == "auto"
                and self.backend == "local"
                and self.step_timeout is None
            )
            self.step_cost_us = probe_step_cost(probe) if measure else None
            params = find_wrapper(probe, DomainParamWrapper)
            self.nominal_domain_param = None if params is None else params.nominal_domain_param
            self.domain_param_validator = (
                None if params is None else params.domain_param_validator()
            )
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
        with self._one_call("reinit"):
            self._reinit(env, policy)

    def _reinit(self, env: Any, policy: Any) -> None:
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
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise

    def _vector_env(self) -> gym.vector.VectorEnv:
        if self._envs is None:
            processes, in_parent = None, 0
            if self.vectorization_used == "batched" and self.step_cost_us is not None:
                processes, in_parent = batched_layout(
                    self.num_workers, self.step_cost_us, available_cpus()
                )
            build_timeout = None
            if self.step_timeout is not None:  # a build may take longer than a step
                build_timeout = max(self.step_timeout, MIN_BUILD_TIMEOUT_S)
            try:
                self._envs = make_vector_env(
                    self._factory,
                    self.num_workers,
                    self.vectorization_used,
                    record_state=self._records_states,
                    start_method=self.start_method,
                    num_workers=processes,
                    in_parent=in_parent,
                    build_timeout=build_timeout,
                )
            except LateSubEnvsError as err:
                limit = (
                    f"{build_timeout} s (the longer of step_timeout={self.step_timeout} s and "
                    f"{MIN_BUILD_TIMEOUT_S} s, for a worker's start)"
                )
                raise StepTimeoutError.of_call(
                    "build", self.step_timeout, err, limit=limit
                ) from err
            self._finalizer = weakref.finalize(self, close_vector_env, self._envs, True)
        return self._envs

    def _layout(self) -> str:
        processes = getattr(self._envs, "num_workers", None)
        if self.vectorization_used == "batched" and processes:
            in_parent = getattr(self._envs, "in_parent", 0)
            where = f"{self.num_workers - in_parent} sub-envs on {processes} process"
            where += "es" if processes > 1 else ""
            return where + (f", {in_parent} in this one" if in_parent else "")
        return f"{self.num_workers} workers"

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
        for process in list(getattr(self._envs, "processes", ())):
            # Ended (and released) by the call meanwhile: nothing to end.
            with contextlib.suppress(ValueError, AttributeError):
                if process.is_alive():
                    process.terminate()

    def _release_workers(self) -> None:
        """End the sub-envs and worker processes or actors, keeping the Ray connection."""
        if self._finalizer is not None and self._finalizer.detach() is not None:
            assert self._envs is not None
            close_vector_env(self._envs, terminate=False)
        self._finalizer = None
        self._envs = None
        if self._ray is not None:
            self._ray.stop_actors()

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
        if not self.has_adapter and any(payloads):
            with probing(self._factory()) as probe:
                adapter_for(probe)  # raises a TypeError naming what the env lacks
        space = self.env_spec.state_space
        valid = sorted(self.nominal_domain_param or ())
        names = labels or [("init_states", "domain_params")] * len(payloads)
        for options, (state_name, param_name) in zip(payloads, names, strict=True):
            unknown = sorted(set(options.get("domain_param", ())) - set(valid))
            if unknown:
                raise ValueError(
                    f"{param_name} must use the domain-parameter names of {self.env_id} "
                    f"({valid}), got unknown names {unknown}"
                )
            param = options.get("domain_param")
            if param and self.domain_param_validator is not None:
                try:  # here, not as a sub-env's error once workers run
                    self.domain_param_validator(param)
                except (TypeError, ValueError) as err:
                    raise type(err)(
                        f"{param_name} must hold values {self.env_id} accepts: {err}"
                    ) from None
            state = options.get("init_state")
            if state is not None and space is not None:
                check_init_state(state, space, owner=str(self.env_id), name=state_name)

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
            self._vector_env()  # built first: the bar names its layout (processes)
        where = (
            f"ray, {self.num_workers} actors x {self.envs_per_actor} envs"
            if self._ray is not None
            else f"{self.vectorization_used}, {self._layout()}"
        )
        # No bar at all without show_progress_bar: even a disabled tqdm starts its monitor
        # thread and a shared-memory lock, which would outlive the sampler (a training loop
        # that builds many quiet samplers would find a stray thread and two fds after close()).
        bar = None
        if self.show_progress_bar:
            bar = progress_bar(total=total, unit=unit, desc=f"Sampling ({where})")
        with bar if bar is not None else contextlib.nullcontext():
            counts = {"rollouts": 0, "steps": 0}

            def show(ro: StepSequence) -> None:
                assert bar is not None  # only shown with a bar
                counts["rollouts"] += 1
                counts["steps"] += ro.length
                # Formatting the postfix costs more than a cheap env's episode: only before an
                # update that redraws (tqdm's own rule, on its clock), so the redraw shows the
                # counts of the bar it draws.
                if time.time() - bar.last_print_t >= bar.mininterval:
                    bar.set_postfix(counts, refresh=False)
                bar.update(ro.length if unit == "steps" else 1)

            on_rollout = show if self.show_progress_bar else None

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
                return self._collect_local(
                    q, make_open_job, eval=eval, on_rollout=on_rollout, on_step=check_open
                )

            try:
                return run(quota)
            except (WorkerError, NonFiniteError) as err:
                if quota.min_steps is None or not err.rollout_indices:
                    raise
                counts.update(rollouts=0, steps=0)  # the bar starts over with the rerun
                if bar is not None:
                    bar.reset(total=total)
                return collect_without_failed_surplus(run, quota, err)

    def _collect_local(
        self,
        quota: Quota,
        make_job: Callable[[int], RolloutJob],
        *,
        eval: bool,
        on_rollout: Callable[[StepSequence], None] | None = None,
        stop_on_done: bool = True,
        on_step: Callable[[int], None] | None = None,
    ) -> list[StepSequence]:
        """:func:`collect` on this sampler's sub-envs; a failed or interrupted vector env is
        unusable, so it is ended at once (the next call builds a new one)."""
        try:
            return collect(
                self._vector_env(),
                self.policy,
                make_job,
                quota,
                eval=eval,
                max_steps=self.max_steps,
                stop_on_done=stop_on_done,
                step_timeout=self.step_timeout,
                record_states=self._records_states,
                dt=self.dt,
                dt_param=self.dt_param,
                env_id=self.env_id,
                on_rollout=on_rollout,
                on_step=on_step,
            )
        except BaseException:
            self._terminate()
            raise

    def _terminate(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # closes with terminate=True
        self._finalizer = None
        self._envs = None

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
