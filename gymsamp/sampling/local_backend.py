"""The local backend: the one collection loop on a sampler's own sub-envs (``backend="local"``).

A :class:`LocalRolloutDriver` holds the sub-envs of one
:class:`~gymsamp.sampling.ParallelRolloutSampler`, in this process or in its worker processes:
it builds their vector env on first use (in the layout the sampler chose), runs
:func:`~gymsamp.sampling.collector.collect` on it, and ends it (on errors at once, with its
worker processes terminated). The Ray backend's counterpart is
:class:`~gymsamp.sampling.ray_backend.RayRolloutDriver`.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym

from gymsamp.data import StepSequence
from gymsamp.policies.base import Policy
from gymsamp.sampling.batched_vector_env import available_cpus
from gymsamp.sampling.collector import collect
from gymsamp.sampling.errors import LateSubEnvsError, StepTimeoutError
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.rollout_job import RolloutJob
from gymsamp.sampling.sampler_sub_envs import close_vector_env
from gymsamp.sampling.vector_envs import EnvFactory, batched_layout, make_vector_env

__all__ = ["MIN_BUILD_TIMEOUT_S", "LocalRolloutDriver", "LocalSpec"]


#: The fewest seconds a worker process may take to start and build its sub-envs where a
#: ``step_timeout`` is set (building an env, or importing in a spawned process, may take far
#: longer than a step).
MIN_BUILD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LocalSpec:
    """What a sampler's local sub-envs are built from and run with (read at each call).

    Args:
        factory: The env factory.
        policy: The adapted policy (it runs batched in this process).
        num_envs: Number of sub-envs (the sampler's ``num_workers``).
        vectorization: ``"sync"``, ``"async"`` or ``"batched"`` (the sampler's
            ``vectorization_used``).
        record_states: Record full simulator states (see the sampler).
        dt: Simulated seconds per step, for the rollouts' ``time`` field.
        env_id: Recorded in every ``rollout_info``.
        dt_param: The domain parameter that sets ``dt``, if any (see ``collect``).
        max_steps: Cut rollouts after this many steps.
        step_timeout: Seconds a vector step or reset may take (worker processes only).
        start_method: Multiprocessing start method of the worker processes.
        step_cost_us: The measured step cost (``"auto"`` only), which places ``"batched"``
            sub-envs in this process or in workers.
    """

    factory: EnvFactory
    policy: Policy
    num_envs: int
    vectorization: str
    record_states: bool
    dt: float
    env_id: str | None
    dt_param: str | None
    max_steps: int | None
    step_timeout: float | None
    start_method: str | None
    step_cost_us: float | None


class LocalRolloutDriver:
    """Runs the collections of one sampler on its local sub-envs (see the module docstring).

    The sub-envs are built from the sampler's :class:`LocalSpec` on first use and closed by
    :meth:`release` (and when the driver is collected: no worker process outlives it).
    """

    def __init__(self) -> None:
        self.envs: gym.vector.VectorEnv | None = None
        self._finalizer: weakref.finalize | None = None

    def vector_env(self, spec: LocalSpec) -> gym.vector.VectorEnv:
        """The sub-envs' vector env, built from ``spec`` on first use."""
        if self.envs is None:
            processes, in_parent = None, 0
            if spec.vectorization == "batched" and spec.step_cost_us is not None:
                processes, in_parent = batched_layout(
                    spec.num_envs, spec.step_cost_us, available_cpus()
                )
            build_timeout = None
            if spec.step_timeout is not None:  # a build may take longer than a step
                build_timeout = max(spec.step_timeout, MIN_BUILD_TIMEOUT_S)
            try:
                self.envs = make_vector_env(
                    spec.factory,
                    spec.num_envs,
                    spec.vectorization,
                    record_state=spec.record_states,
                    start_method=spec.start_method,
                    num_workers=processes,
                    in_parent=in_parent,
                    build_timeout=build_timeout,
                )
            except LateSubEnvsError as err:
                limit = (
                    f"{build_timeout} s (the longer of step_timeout={spec.step_timeout} s and "
                    f"{MIN_BUILD_TIMEOUT_S} s, for a worker's start)"
                )
                raise StepTimeoutError.of_call(
                    "build", spec.step_timeout, err, limit=limit
                ) from err
            self._finalizer = weakref.finalize(self, close_vector_env, self.envs, True)
        return self.envs

    def layout(self, spec: LocalSpec) -> str:
        """Where the sub-envs run, for the progress bar (e.g. ``"4 workers"``)."""
        num_envs = spec.num_envs
        processes = getattr(self.envs, "num_workers", None)
        if spec.vectorization == "batched" and processes:
            in_parent = getattr(self.envs, "in_parent", 0)
            where = f"{num_envs - in_parent} sub-envs on {processes} process"
            where += "es" if processes > 1 else ""
            return where + (f", {in_parent} in this one" if in_parent else "")
        return f"{num_envs} workers"

    def run(
        self,
        spec: LocalSpec,
        quota: Quota,
        make_job: Callable[[int], RolloutJob],
        *,
        eval: bool,
        on_rollout: Callable[[StepSequence], None] | None = None,
        stop_on_done: bool = True,
        on_step: Callable[[int], None] | None = None,
    ) -> list[StepSequence]:
        """:func:`collect` on the sub-envs (built from ``spec`` on first use); a failed or
        interrupted vector env is unusable, so it is ended at once (the next call builds a new
        one)."""
        try:
            return collect(
                self.vector_env(spec),
                spec.policy,
                make_job,
                quota,
                eval=eval,
                max_steps=spec.max_steps,
                stop_on_done=stop_on_done,
                step_timeout=spec.step_timeout,
                record_states=spec.record_states,
                dt=spec.dt,
                dt_param=spec.dt_param,
                env_id=spec.env_id,
                on_rollout=on_rollout,
                on_step=on_step,
            )
        except BaseException:
            self.terminate()
            raise

    def end_processes(self) -> None:
        """Terminate the worker processes (from another thread: a call waiting on them fails
        at once instead of after its step; it then closes what is left)."""
        for process in list(getattr(self.envs, "processes", ())):
            # Ended (and released) by the call meanwhile: nothing to end.
            with contextlib.suppress(ValueError, AttributeError):
                if process.is_alive():
                    process.terminate()

    def release(self) -> None:
        """Close the sub-envs and end their worker processes (the next run rebuilds them)."""
        # Forgotten first: after a close interrupted by Ctrl-C the next run builds new sub-envs
        # instead of stepping the half-closed ones.
        envs, finalizer = self.envs, self._finalizer
        self.envs, self._finalizer = None, None
        if finalizer is None or not finalizer.alive:
            return
        assert envs is not None
        try:
            close_vector_env(envs, terminate=False)
        except BaseException:
            finalizer()  # interrupted (Ctrl-C): the workers are terminated all the same
            raise
        finalizer.detach()

    def terminate(self) -> None:
        """End the sub-envs at once, their worker processes terminated."""
        if self._finalizer is not None:
            self._finalizer()  # closes with terminate=True
        self._finalizer = None
        self.envs = None
