"""The one collection loop: drive a policy across a Gymnasium vector env into rollouts.

Every sampler, ``rollout()`` and the Ray actors run this loop. It works on any
``gymnasium.vector.VectorEnv`` in any autoreset mode (DESIGN §3):

- ``DISABLED`` (what gymsamp's own vector envs use): finished sub-envs are reset by masked
  ``reset(seed=..., options={"reset_mask": ...})`` calls, one per distinct payload; on
  gymsamp's own vector envs every running sub-env has its next rollout's payload queued
  (:mod:`gymsamp.sampling.queued_reset`), so it starts that rollout inside the step that
  ends the current one, without a reset call;
- ``SAME_STEP``: the true final observation comes from ``info["final_obs"]``, then the sub-env
  is reset again with its next rollout's seed and options;
- ``NEXT_STEP``: the step after an episode end only resets the sub-env; that transition is
  never recorded, and the sub-env is then reset with its next rollout's seed and options.

Per-rollout payloads (reset seed, ``domain_param``, ``init_state``) travel through masked
resets, Gymnasium's only per-env channel, because ``options`` is one dict for all masked
sub-envs and autoresets get none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from gymsamp._checks import check_bool, check_int, check_positive_real
from gymsamp.data import StepSequence
from gymsamp.policies.base import Policy, is_policy
from gymsamp.sampling.collection import ActionBatch, Collection
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.observations import check_observation_space
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.rollout_job import RolloutJob
from gymsamp.sampling.space_checks import check_action_space
from gymsamp.sampling.sub_env_infos import infos_per_env

__all__ = ["collect"]


def _can_time_out(envs: Any) -> bool:
    """True if ``envs`` steps its sub-envs elsewhere and can be waited on with a timeout
    (``step_async`` / ``step_wait(timeout=...)`` and the reset pair, as ``AsyncVectorEnv``)."""
    return all(
        hasattr(envs, name) for name in ("step_async", "step_wait", "reset_async", "reset_wait")
    )


def collect(
    envs: gym.vector.VectorEnv,
    policy: Policy,
    make_job: Callable[[int], RolloutJob],
    quota: Quota,
    *,
    eval: bool = False,
    max_steps: int | None = None,
    stop_on_done: bool = True,
    step_timeout: float | None = None,
    record_dts: bool = False,
    record_states: bool = False,
    dt: float = 1.0,
    dt_param: str | None = None,
    env_id: str | None = None,
    on_rollout: Callable[[StepSequence], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> list[StepSequence]:
    """Collect the rollouts ``0..K-1`` that ``quota`` asks for, on ``envs`` with ``policy``.

    Args:
        envs: Any Gymnasium vector env (its autoreset mode is honoured: see
            :func:`~gymsamp.sampling.collection_inputs.autoreset_mode_of`).
        policy: A :class:`~gymsamp.policies.Policy` (use ``as_policy`` for other objects).
        make_job: Builds the :class:`RolloutJob` of rollout ``k``; called in index order.
        quota: The bounds; rollouts are issued only while they may be needed.
        eval: Passed to ``policy.start`` (torch modules: ``.eval()`` vs ``.train()``).
        max_steps: Cut rollouts after this many steps (they end in ``TIMEOUT``).
        stop_on_done: False keeps stepping after the env reports an episode end (debugging;
            only ``max_steps`` ends a rollout then).
        step_timeout: Seconds a vector step may take; only for vector envs that step their
            sub-envs in other processes (with ``step_async`` / ``step_wait(timeout=...)``, such
            as Gymnasium's ``AsyncVectorEnv`` and gymsamp's ``"async"`` / ``"batched"``).
        record_dts: Record ``dt_policy`` and ``dt_step`` per step.
        record_states: Take ``info["state"]`` (of every reset and step) for the rollouts'
            ``states``, as reported by sub-envs wrapped in gymsamp's
            ``InitStateWrapper(record_state=True)``; else an env's ``state`` info is an env
            info like any other.
        dt: Simulated seconds per step, for the ``time`` field.
        dt_param: The domain parameter that sets ``dt`` (CartPole ``tau``, Pendulum ``dt``):
            rollouts whose ``domain_param`` changes it get their own ``time`` axis.
        env_id: Recorded in every ``rollout_info``.
        on_rollout: Called with every completed rollout (progress bars).
        on_step: Called after every vector step with the number of running rollouts.

    Returns:
        The rollouts ``0..K-1`` in index order.

    Raises:
        WorkerError: A sub-env failed; its ``rollout_indices`` name the rollouts that sub-env
            was running or starting.

    Example:
        Three rollouts of a balancing policy on two CartPole sub-envs, rollout ``k`` seeded
        with ``derive_seed(0, 0, k)``: the same rollouts :func:`~gymsamp.sampling.rollout`
        records one by one.

        >>> import numpy as np
        >>> from gymsamp.data import EnvSpec
        >>> from gymsamp.policies import as_policy
        >>> from gymsamp.sampling import rollout
        >>> balance = lambda obs: (obs[:, 2] > 0).astype(np.int64)
        >>> envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
        >>> policy = as_policy(balance, EnvSpec.from_env(envs))
        >>> job = lambda k: RolloutJob.seeded(k, 0, 0, k)  # seed 0, call 0, rollout k
        >>> ros = collect(envs, policy, job, Quota(min_rollouts=3))
        >>> envs.close()
        >>> [ro.rollout_info["rollout_index"] for ro in ros], [ro.length for ro in ros]
        ([0, 1, 2], [50, 49, 26])
        >>> alone = rollout("CartPole-v1", balance, seed=0, sub_seed=0, sub_sub_seed=2)
        >>> bool(np.array_equal(alone.observations, ros[2].observations))
        True
    """
    _check_collect_types(envs, policy, make_job, quota)
    eval = check_bool("eval", eval)
    stop_on_done = check_bool("stop_on_done", stop_on_done)
    record_dts = check_bool("record_dts", record_dts)
    record_states = check_bool("record_states", record_states)
    max_steps = None if max_steps is None else check_int("max_steps", max_steps)
    step_timeout = check_positive_real("step_timeout", step_timeout, optional=True)
    if step_timeout is not None and not _can_time_out(envs):
        if isinstance(envs, gym.vector.VectorWrapper):
            # Its step is its own work on the wrapped env's step: waiting on the wrapped env
            # directly would skip it, and the wrapper has no step_wait(timeout=...).
            raise ValueError(
                "step_timeout must be None for a Gymnasium vector wrapper (it has no "
                f"step_wait(timeout=...), and the wrapped env's would skip its step), got "
                f"{step_timeout!r} with {type(envs).__name__}; wrap each sub-env instead (a "
                "gymnasium.Wrapper in the env factory) and pass the vector env itself"
            )
        raise ValueError(
            "step_timeout must be None for a vector env that steps its sub-envs in this process "
            f"(a step here cannot be stopped), got {step_timeout!r} with "
            f"{type(envs).__name__}; use make_vector_env(..., 'async') or 'batched'"
        )
    dt = check_positive_real("dt", dt)
    if not stop_on_done and max_steps is None:
        raise ValueError("max_steps must be given when stop_on_done is False, got None")
    check_observation_space(envs.single_observation_space)
    check_action_space(envs.single_action_space)
    policy.start(envs.num_envs, eval=eval)
    with infos_per_env(envs) as per_env:
        collection = Collection(
            envs,
            policy,
            make_job,
            quota,
            max_steps=max_steps,
            stop_on_done=stop_on_done,
            step_timeout=step_timeout,
            record_dts=record_dts,
            record_states=record_states,
            dt=dt,
            dt_param=dt_param,
            env_id=env_id,
            on_rollout=on_rollout,
            on_step=on_step,
            per_env=per_env,
        )
        try:
            collection.begin()
            return _run_pipelined(collection) if collection.pipelined else _run(collection)
        except WorkerError as err:  # name the rollouts the failed sub-envs were busy with
            lost = err.lost_env_indices or (err.env_index,)
            err.rollout_indices = tuple(
                sorted({k for i in lost for k in collection.rollouts_of(i)})
            )
            raise


def _check_collect_types(envs: Any, policy: Any, make_job: Any, quota: Any) -> None:
    """The argument types of :func:`collect` (once per call: the loop never checks them)."""
    if not isinstance(envs, gym.vector.VectorEnv):
        hint = (
            " (wrap a single env with rollout(), or use a sampler)"
            if isinstance(envs, gym.Env)
            else ""
        )
        raise TypeError(
            f"envs must be a gymnasium.vector.VectorEnv, got {type(envs).__name__}{hint}"
        )
    if not is_policy(policy):
        raise TypeError(
            "policy must be a gymsamp Policy (start, reset_envs, act); convert other objects "
            f"with gymsamp.policies.as_policy(obj, env_spec), got {type(policy).__name__}"
        )
    if not callable(make_job):
        raise TypeError(f"make_job must be callable (k -> RolloutJob), got {make_job!r}")
    if not isinstance(quota, Quota):
        raise TypeError(f"quota must be a Quota (e.g. Quota(min_rollouts=4)), got {quota!r}")


def _run(collection: Collection) -> list[StepSequence]:
    """The loop for sub-envs stepped in this process: act, step, book."""
    while not collection.results.complete:
        collection.refill()
        action = collection.act()
        results = collection.step(action)
        collection.observe(results)
        collection.record(action, results, collection.ends(results), prestarted=False)
    return collection.results.items


def _run_pipelined(collection: Collection) -> list[StepSequence]:
    """The loop for workers in other processes: while they step, this process books.

    After each step the next one is sent first, then the last one is booked, unless
    booking must come first (resets to make, or the result may be complete).
    """
    in_flight: ActionBatch | None = None
    while True:
        if in_flight is None:
            if collection.results.complete:
                return collection.results.items
            collection.refill()
            in_flight = collection.act()
            collection.send(in_flight)
        results = collection.receive(in_flight)
        ends = collection.ends(results)
        started = collection.booking_can_wait(results, ends)
        booked = in_flight
        collection.observe(results)
        if started is None:
            in_flight = None
            collection.record(booked, results, ends, prestarted=False)
            continue
        if started:
            collection.prestart(started)
        in_flight = collection.act()
        collection.send(in_flight)
        collection.record(booked, results, ends, prestarted=True)
