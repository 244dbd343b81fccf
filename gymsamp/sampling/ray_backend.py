"""The Ray backend: the one collection loop on Ray actors (``backend="ray"``, DESIGN §7).

How a ``sample()`` call runs on Ray:

- **Actors.** Each of ``num_workers`` actors (:class:`RolloutWorker` wrapped by ``ray.remote``)
  owns a ``"sync"`` vector env of ``envs_per_actor`` sub-envs built by
  :func:`~gymsamp.sampling.vector_envs.make_vector_env` from the sampler's
  :class:`~gymsamp.sampling.vector_envs.EnvFactory`, and a copy of the (adapted) policy. The
  policy object travels once, with cloudpickle, when the actors are created (one ``ray.put``
  shared by all of them); actors are created on the first ``sample()`` and again after
  ``close()``, ``reinit()`` or a failure.
- **Dispatch.** The driver (this process) keeps the :class:`~gymsamp.sampling.quota.Quota`
  logic: it builds the jobs of rollout indices ``0, 1, 2, ...`` in index order with the
  sampler's ``make_job`` while ``Quota.should_issue`` says they may be needed, and hands them
  out in batches; each actor has at most two batches queued, so it never waits for the driver.
  An actor runs a batch with :func:`~gymsamp.sampling.collector.collect` (the same loop as the
  local backend) and returns its rollouts; the driver merges them by index and stops as soon as
  ``Quota.prefix_length`` is known. Surplus rollouts are dropped, so the result is the same
  shortest prefix as locally. Surplus batches still queued (``min_steps`` mode only: at most
  two small batches per actor) run to their end and are ignored: ``ray.cancel`` on a queued
  actor task can leave a gap in the actor's task sequence, and the actor then stalls for 30 s
  and fails the next call's tasks ("Timed out waiting for seq_no", seen with Ray 2.60). The
  next call waits for them before it dispatches (each actor would run them first anyway) and
  replaces the actors if one died in them, so a surplus rollout that crashes its actor fails
  no call, as locally.
- **Parameters.** Once per call the driver puts the policy's current parameters
  (:func:`policy_params`) into the object store with a single ``ray.put``; every batch carries
  only the reference and an actor loads the parameters (:func:`load_policy_params`) when it
  first sees a new call. What travels: a ``state_dict`` for torch modules (and SB3 models'
  ``.policy``), ``param_values`` for other :class:`~gymsamp.policies.ParametricPolicy`
  objects, and the whole policy object for policies without a parameter notion (cheap for
  gymsamp's built-in policies and for plain callables, and it keeps any change made to the
  object between calls). Per-rollout parameters (``RolloutJob.policy_params``) travel inside
  the jobs.
- **Determinism.** Every rollout's reset seed, options and noise generator are fixed by its
  job, which the driver builds exactly as the local backend does, so the rollouts are
  bit-identical to the local backend's for any number of actors and envs per actor.
- **Failures.** An env error inside an actor becomes the same
  :class:`~gymsamp.sampling.errors.WorkerError` as locally (sub-env named, remote traceback
  kept), with the actor added (``worker_index``); other exceptions raised in an actor (e.g. a
  policy's ``ValueError``) are re-raised with their own type; an actor that dies becomes a
  :class:`WorkerError` naming the actor. On any failure or interrupt every actor of the sampler
  is killed, and the next ``sample()`` starts fresh ones.
- **Ray lifecycle.** If Ray is initialized when the sampler is built (``ray.init(...)`` by the
  user, e.g. ``ray.init(address="auto")`` on a cluster), gymsamp uses it and never shuts it
  down. If not, but ``RAY_ADDRESS`` is set (``ray job submit`` sets it), gymsamp joins that
  cluster with ``ray.init()`` and never shuts it down either. Otherwise gymsamp starts a new
  local Ray (``address="local"``, ``num_cpus=max(CPUs its actors need, os.cpu_count())``, no
  dashboard; it asks for 127.0.0.1, which Ray 2.60 replaces with the machine's address), on
  which actors reserve no CPUs
  (:data:`OWN_RAY_ACTOR_OPTIONS`). ``close()`` kills the sampler's
  actors; it also shuts Ray down if gymsamp started it and no other open gymsamp sampler uses
  it. A closed sampler reconnects (starting Ray again if needed) on its next ``sample()``. To
  keep one Ray across many short-lived samplers, start it yourself.
"""

from __future__ import annotations

import pickle
import time
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

from gymsamp._warnings import user_stacklevel
from gymsamp.data import StepSequence
from gymsamp.sampling.errors import NonFiniteError, WorkerError
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.ray_failures import add_note, first_line, rollouts_lost_with, task_failures
from gymsamp.sampling.ray_lifecycle import (
    RayHolder,
    connect_ray,
    current_session,
    disconnect_ray,
    driver_tokens,
)
from gymsamp.sampling.ray_worker import (
    Pickled,
    PolicyParams,
    RolloutWorker,
    WorkerSpec,
    _Failure,
    load_policy_params,
    policy_params,
)
from gymsamp.sampling.rollout_job import RolloutJob

__all__ = [
    "DEFAULT_ACTOR_OPTIONS",
    "OWN_RAY_ACTOR_OPTIONS",
    "PolicyParams",
    "RayCallStats",
    "RayRolloutDriver",
    "RolloutWorker",
    "WorkerSpec",
    "load_policy_params",
    "policy_params",
]

#: Batches queued per actor: one running, one waiting, so an actor never idles on the driver.
QUEUE_DEPTH = 2

#: In ``min_rollouts`` mode a batch holds between 1 and this many rollouts per sub-env: larger
#: batches cost fewer round trips, smaller ones balance uneven rollout lengths better.
MAX_ROLLOUTS_PER_ENV = 4

#: Default ``ray_actor_options`` on a Ray the caller started: one CPU reserved per actor, so Ray
#: places actors where there is a core for them (Ray's default reserves none while they run).
DEFAULT_ACTOR_OPTIONS: dict[str, Any] = {"num_cpus": 1}

#: Default ``ray_actor_options`` on the local Ray gymsamp started: on one machine there is no
#: placement to decide, and reserving CPUs would make the actors of a second open sampler wait
#: forever for CPUs the first one holds; every actor is a process here anyway, like the local
#: backend's workers.
OWN_RAY_ACTOR_OPTIONS: dict[str, Any] = {"num_cpus": 0}

#: Seconds to wait for new actors before warning that the cluster lacks resources for them.
START_WARNING_S = 15.0


# -- the driver ----------------------------------------------------------------------------


@dataclass
class RayCallStats:
    """Where the time of the last ``sample()`` call went (for benchmarks and tuning).

    Attributes:
        total_s: Wall time of the whole call in the driver.
        put_s: The one ``ray.put`` of the policy parameters.
        batches: Batches dispatched.
        collect_s: Seconds the actors spent inside ``collect()``, summed over batches.
        dispatch_s: Mean delay from submitting a batch to its actor starting it (includes
            waiting behind the actor's previous batch).
        transfer_s: Mean delay from an actor finishing a batch to the driver holding its
            unpickled rollouts.

    Example:
        >>> stats = RayCallStats()  # what a driver reports before its first call
        >>> stats.batches, stats.total_s
        (0, 0.0)
    """

    total_s: float = 0.0
    put_s: float = 0.0
    batches: int = 0
    collect_s: float = 0.0
    dispatch_s: float = 0.0
    transfer_s: float = 0.0


def actor_class(options: Mapping[str, Any]) -> Any:
    """The actor class with ``options`` (Ray checks them here, before any actor starts); a
    restarted actor would have lost its sub-envs' state, so failures reach the driver unless
    the user asks otherwise."""
    import ray

    return ray.remote(RolloutWorker).options(**{"max_restarts": 0, **options})


def check_actor_options(options: Mapping[str, Any]) -> None:
    """Refuse now what Ray would refuse at the first ``sample()``: unknown keys, wrong types and
    values (no connection to Ray needed)."""
    try:
        actor_class(options)
    except (TypeError, ValueError) as error:
        raise type(error)(
            f"ray_actor_options must be options Ray accepts for an actor, got "
            f"{dict(options)!r}: {error}"
        ) from None


class RayRolloutDriver:
    """Runs the collections of one sampler on Ray actors (see the module docstring).

    Connects to Ray (or starts it) on construction; :meth:`run` creates the actors on first
    use. Used by :class:`~gymsamp.sampling.ParallelRolloutSampler` with ``backend="ray"``;
    with a running Ray it is used like this (not run here: it needs Ray)::

        driver = RayRolloutDriver(num_actors=2, envs_per_actor=1)
        driver.configure(WorkerSpec(EnvFactory("CartPole-v1"), policy, 1, False, 0.02, None))
        rollouts = driver.run(Quota(min_rollouts=4), make_job, eval=True, max_steps=None)
        driver.close()

    Args:
        num_actors: Number of actors.
        envs_per_actor: Sub-envs in each actor.
        actor_options: Options for ``ActorClass.options(...)`` (``num_cpus``, ``num_gpus``,
            ``resources``, ``scheduling_strategy``, ``runtime_env``, ...); None gives
            :data:`DEFAULT_ACTOR_OPTIONS` on a Ray the caller started and
            :data:`OWN_RAY_ACTOR_OPTIONS` on the local Ray gymsamp started.
    """

    def __init__(
        self,
        num_actors: int,
        envs_per_actor: int,
        *,
        actor_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.num_actors = num_actors
        self.envs_per_actor = envs_per_actor
        self._user_actor_options = None if actor_options is None else dict(actor_options)
        self.spec: WorkerSpec | None = None
        self.stats = RayCallStats()
        self.started_ray = False
        self.actor_info: list[tuple[int, str]] = []
        self._call = 0
        self._holder = RayHolder(next(driver_tokens))
        self._finalizer = weakref.finalize(self, self._holder.release)
        self.connect()

    # -- lifecycle --------------------------------------------------------------------------

    def connect(self) -> None:
        """Use the running Ray, or start a local one (see the module docstring)."""
        if self._holder.connected:
            if current_session() == self._holder.session:
                return
            # Ray was shut down under this driver (ray.shutdown(), maybe followed by another
            # ray.init()): its actors ended with it. Connect afresh, as a closed sampler does,
            # instead of submitting to dead handles (Ray's bare "Can't find actor ... from a
            # different cluster"), or letting ray.put start a Ray of its own defaults that no
            # close() ends.
            self._holder.actors = []
            self._holder.surplus = []
            self._holder.connected = False
            disconnect_ray(self._holder.token)
        cpus = float((self._user_actor_options or DEFAULT_ACTOR_OPTIONS).get("num_cpus", 1) or 0)
        self.started_ray = connect_ray(self._holder.token, int(np.ceil(cpus * self.num_actors)))
        self._holder.connected = True
        self._holder.session = current_session()

    @property
    def actor_options(self) -> dict[str, Any]:
        """The options each actor is created with (see ``actor_options`` above)."""
        if self._user_actor_options is not None:
            return dict(self._user_actor_options)
        return dict(OWN_RAY_ACTOR_OPTIONS if self.started_ray else DEFAULT_ACTOR_OPTIONS)

    def _resource_note(self) -> str:
        """What the actors ask of the cluster against what it has, and what to do about it."""
        import ray

        options = self.actor_options
        per_actor = {
            "CPU": float(options.get("num_cpus", 1) or 0),
            "GPU": float(options.get("num_gpus", 0) or 0),
            **{str(k): float(v) for k, v in (options.get("resources") or {}).items()},
        }
        total, free = ray.cluster_resources(), ray.available_resources()
        needs, lacking = [], []
        for name, amount in per_actor.items():
            if amount <= 0:
                continue
            need = amount * self.num_actors
            needs.append(
                f"{need:g} {name} (the cluster has {total.get(name, 0.0):g}, "
                f"{free.get(name, 0.0):g} free)"
            )
            if need > total.get(name, 0.0):
                lacking.append(name)
        note = (
            f"num_workers={self.num_actors} actors with ray_actor_options={options} need "
            + ", ".join(needs)
        )
        if lacking:
            return note + (
                f"; the cluster has too little {' and '.join(lacking)} for them all: pass "
                "ray_actor_options asking less per actor, or fewer num_workers"
            )
        return note + (
            "; actors hold what is not free (this sampler's started ones too, and those of "
            "other open samplers)"
        )

    def configure(self, spec: WorkerSpec) -> None:
        """Use ``spec`` for the next actors (kills the current ones)."""
        self.stop_actors()
        self.spec = spec

    def stop_actors(self) -> None:
        """Kill this driver's actors (the next :meth:`run` creates new ones)."""
        self._holder.stop()
        self.actor_info = []

    def close(self) -> None:
        """Kill the actors and release Ray (shut down only if gymsamp started it, see above)."""
        self._holder.release()
        self.actor_info = []

    @property
    def actors(self) -> list[Any]:
        """The live actor handles (empty before the first run and after a stop)."""
        return list(self._holder.actors)

    def _ensure_actors(self) -> list[Any]:
        import ray

        if self._holder.actors:
            return self._holder.actors
        self.connect()  # run() has refused a driver without a spec already
        remote_cls = actor_class(self.actor_options)
        # One copy of env factory and policy for every actor, as bytes (see Pickled).
        spec_ref = ray.put(Pickled.of(self.spec))
        actors: list[Any] = [remote_cls.remote(i, spec_ref) for i in range(self.num_actors)]
        self._holder.actors = actors
        replies = [actor.ready.remote() for actor in actors]
        _, pending = ray.wait(replies, num_returns=len(replies), timeout=START_WARNING_S)
        if pending:  # most likely waiting for resources; they may come (autoscaling)
            warnings.warn(
                f"{len(pending)} Ray actor(s) not started after {START_WARNING_S:g} s, still "
                f"waiting: {self._resource_note()}",
                RuntimeWarning,
                stacklevel=user_stacklevel(),
            )
        info = []
        for i, ref in enumerate(replies):
            reply = self._get(ref, i, "starting")
            if isinstance(reply, _Failure):
                self._raise(reply, i)
            info.append(reply)
        self.actor_info = info
        return actors

    # -- running ----------------------------------------------------------------------------

    def _batch_size(self, quota: Quota, next_index: int) -> int:
        envs = self.envs_per_actor
        if quota.min_steps is not None:
            return envs  # how many rollouts are needed is unknown: keep batches small
        remaining = (quota.min_rollouts or 0) - next_index
        share = -(-remaining // (self.num_actors * QUEUE_DEPTH))
        return max(envs, min(envs * MAX_ROLLOUTS_PER_ENV, share))

    def run(
        self,
        quota: Quota,
        make_job: Callable[[int], RolloutJob],
        *,
        eval: bool,
        max_steps: int | None,
        on_rollout: Callable[[StepSequence], None] | None = None,
    ) -> list[StepSequence]:
        """Collect the rollouts ``0..K-1`` that ``quota`` asks for, on the actors.

        Args:
            quota: The bounds.
            make_job: Builds the job of rollout ``k``; called in index order, in this process.
            eval: Passed to the policy.
            max_steps: Cut rollouts after this many steps.
            on_rollout: Called with every rollout as it arrives (progress bars).

        Returns:
            The rollouts ``0..K-1`` in index order.
        """
        import ray

        if self.spec is None:
            raise RuntimeError("RayRolloutDriver.configure() must be called before run()")
        start = time.perf_counter()
        stats = RayCallStats()
        try:
            self.connect()  # Ray may have been shut down since the last call
            self._settle_surplus()
            actors = self._ensure_actors()
            self._call += 1
            t0 = time.perf_counter()
            params_box = [ray.put(Pickled.of(policy_params(self.spec.policy)))]
            stats.put_s = time.perf_counter() - t0
            next_index = 0
            issued_steps = 0  # steps of the complete rollouts (a lower bound, as locally)
            lengths: dict[int, int] = {}
            results: dict[int, StepSequence] = {}
            # ref -> (actor, submit time, the batch's rollout indices), in submission order
            inflight: dict[Any, tuple[int, float, list[int]]] = {}
            queued = [0] * len(actors)
            result_count = None
            while result_count is None:
                # Fill the actors' queues level by level, so every actor gets work first.
                for level, a in product(range(QUEUE_DEPTH), range(len(actors))):
                    if queued[a] > level:
                        continue
                    size = self._batch_size(quota, next_index)
                    batch: list[RolloutJob] = []
                    while len(batch) < size and quota.should_issue(next_index, issued_steps):
                        batch.append(make_job(next_index))
                        next_index += 1
                    if not batch:
                        break
                    submitted = time.time()  # before .remote(): the actor may start at once
                    ref = actors[a].run.remote(
                        self._call, params_box, batch, eval=eval, max_steps=max_steps
                    )
                    inflight[ref] = (a, submitted, [job.index for job in batch])
                    queued[a] += 1
                    stats.batches += 1
                if not inflight:  # cannot happen with a valid Quota; never spin
                    raise RuntimeError("no rollout in flight but the quota is not met")
                ready, _ = ray.wait(list(inflight), num_returns=1)
                for ref in ready:
                    a, submitted, indices = inflight[ref]
                    try:
                        reply = self._get(ref, a, "sampling")
                    except WorkerError as err:  # the actor died: every batch it held fails
                        # Which of its references ray.wait names first is a race: name
                        # every rollout lost with it.
                        err.rollout_indices = tuple(rollouts_lost_with(a, inflight))
                        raise
                    del inflight[ref]
                    queued[a] -= 1
                    if isinstance(reply, _Failure):
                        self._raise(reply, a, indices)
                    rollouts = pickle.loads(reply.payload)
                    stats.dispatch_s += reply.started - submitted
                    stats.transfer_s += time.time() - reply.finished
                    stats.collect_s += reply.collect_s
                    for ro in rollouts:
                        k = ro.rollout_info["rollout_index"]
                        results[k] = ro
                        lengths[k] = ro.length
                        issued_steps += ro.length
                        if on_rollout is not None:
                            on_rollout(ro)
                result_count = quota.prefix_length(lengths)
        except BaseException:
            # A failed or interrupted collection leaves actors mid-batch: end them all now.
            self.stop_actors()
            raise
        # Surplus batches still in flight are left to finish and ignored (not ray.cancel'ed:
        # see the module docstring, "Dispatch"); the next call settles them first.
        self._holder.surplus = list(inflight)
        received = max(stats.batches - len(inflight), 1)
        stats.dispatch_s /= received
        stats.transfer_s /= received
        stats.total_s = time.perf_counter() - start
        self.stats = stats
        return [results[k] for k in range(result_count)]

    def _settle_surplus(self) -> None:
        """Wait for the last call's surplus batches; replace the actors if one died in them.

        The call that dropped those rollouts never sees their failures, and an error raised in
        one is ignored with them; but an actor that died (``os._exit`` or a crash in an env)
        would fail this call's first batch on it with an error about a rollout it did not run.
        Each actor runs its surplus batches before this call's anyway, so waiting for them
        costs no more than the longest of them.
        """
        import ray

        refs, self._holder.surplus = self._holder.surplus, []
        # Other failures are ignored with the rollouts they would have returned.
        if any(isinstance(err, ray.exceptions.RayActorError) for err in task_failures(refs, None)):
            self.stop_actors()  # the next step starts fresh ones

    def _describe(self, actor: int) -> str:
        if actor < len(self.actor_info):
            pid, host = self.actor_info[actor]
            return f"Ray actor {actor} (pid {pid} on {host})"
        return f"Ray actor {actor}"

    def _get(self, ref: Any, actor: int, doing: str) -> Any:
        """``ray.get(ref)``, with Ray's own failures (a dead actor, ...) as WorkerError."""
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as err:
            # As a dead local worker: the sub-envs it took down (numbered within the actor).
            envs = self.envs_per_actor
            error = WorkerError(
                f"{self._describe(actor)} died while {doing}: {first_line(err)}",
                env_index=0 if envs == 1 else None,
                worker_index=actor,
                remote_traceback=str(err),
            )
            error.lost_env_indices = tuple(range(envs)) if envs > 1 else ()
            raise error from None
        except ray.exceptions.RayError as err:
            raise WorkerError(
                f"{self._describe(actor)} failed while {doing}: {type(err).__name__}: "
                f"{first_line(err)}",
                worker_index=actor,
                remote_traceback=str(err),
            ) from None

    def _raise(self, failure: _Failure, actor: int, indices: Sequence[int] = ()) -> None:
        """Raise what the local backend would raise for an exception inside ``actor``, whose
        batch held the rollouts ``indices`` (the actor numbered them 0..n-1)."""
        where = self._describe(actor)
        err = failure.exception
        own: tuple[int, ...] = ()  # the failed rollouts, by the driver's indices
        if isinstance(err, (WorkerError, NonFiniteError)):
            own = tuple(indices[j] for j in err.rollout_indices if 0 <= j < len(indices))
        if isinstance(err, WorkerError):  # a sub-env failed: name the actor too
            error = WorkerError(
                f"{err.message} (in {where})",
                env_index=err.env_index,
                worker_index=actor,
                remote_traceback=err.remote_traceback or failure.remote_traceback,
            )
            error.lost_env_indices, error.rollout_indices = err.lost_env_indices, own
            raise error from None
        if isinstance(err, NonFiniteError):
            err.rollout_indices = own
        if err is not None:  # e.g. the policy's ValueError: same type as locally
            add_note(err, f"Raised in {where}; remote traceback:\n{failure.remote_traceback}")
            raise err
        raise WorkerError(
            f"{where} raised {failure.type_name}: {failure.text}",
            worker_index=actor,
            remote_traceback=failure.remote_traceback,
        )
