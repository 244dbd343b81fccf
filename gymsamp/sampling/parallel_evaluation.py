"""Evaluating a policy over domain parameters and initial states (pyrado's, made to work).

Every function's ``pool`` argument takes a worker count, a :class:`SamplerPool` (its worker
count is used) or a :class:`ParallelRolloutSampler` (its worker count, vectorization and
backend are used). The rollouts are collected by a :class:`ParallelRolloutSampler` with
``seed``. The keyword ``backend`` (``"local"`` or ``"ray"``; None: the pool sampler's backend,
else ``"local"``) chooses where; with ``"ray"`` the worker count is the number of Ray actors and
the results are the same (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gymsamp.data import StepSequence
from gymsamp.policies.builtin import PlaybackPolicy
from gymsamp.sampling.parallel_rollout_sampler import (
    BACKENDS,
    ParallelRolloutSampler,
    reset_payloads,
)
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.sampler_pool import SamplerPool
from gymsamp.sampling.seeding import check_seed

__all__ = [
    "eval_domain_params",
    "eval_domain_params_with_segmentwise_reset",
    "eval_nominal_domain",
    "eval_randomized_domain",
]


def _pool_settings(pool: Any, backend: str | None = None) -> tuple[int, dict[str, Any]]:
    """(worker count, sampler options) from a worker count, SamplerPool or sampler."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be None or one of {BACKENDS}, got {backend!r}")
    if isinstance(pool, ParallelRolloutSampler):
        options: dict[str, Any] = {"vectorization": pool.vectorization}
        if (backend or pool.backend) == "ray":
            options["backend"] = "ray"
            if pool.backend == "ray":  # its Ray settings carry over
                options["envs_per_actor"] = pool.envs_per_actor
                options["ray_actor_options"] = pool.ray_actor_options
            if options["vectorization"] != "sync":  # what runs inside actors is Ray's choice
                options["vectorization"] = "auto"
        return pool.num_workers, options
    workers, options = _plain_pool_settings(pool)
    if backend == "ray":
        options["backend"] = "ray"
    return workers, options


def _plain_pool_settings(pool: Any) -> tuple[int, dict[str, Any]]:
    if isinstance(pool, SamplerPool):
        return pool.num_threads, {}
    if isinstance(pool, int) and not isinstance(pool, bool) and pool >= 1:
        return pool, {}
    raise TypeError(
        "pool must be a worker count (int >= 1), a SamplerPool or a ParallelRolloutSampler, "
        f"got {pool!r}"
    )


def _sampler_for(
    pool: Any, env: Any, policy: Any, seed: int | None, backend: str | None, **kwargs: Any
) -> ParallelRolloutSampler:
    workers, options = _pool_settings(pool, backend)
    options = {"show_progress_bar": False, **options, **kwargs}
    return ParallelRolloutSampler(env, policy, workers, min_rollouts=1, seed=seed, **options)


def _run(
    pool: Any,
    env: Any,
    policy: Any,
    payloads: list[dict[str, Any]],
    seed: int | None,
    backend: str | None,
    **kwargs: Any,
) -> list[StepSequence]:
    """One rollout per payload, in payload order."""
    with _sampler_for(pool, env, policy, check_seed(seed), backend, **kwargs) as sampler:
        make_job = sampler._job_maker(payloads)
        return sampler.sample_jobs(Quota(min_rollouts=len(payloads)), make_job, eval=True)


def eval_domain_params(
    pool: Any,
    env: Any,
    policy: Any,
    params: Sequence[dict[str, Any]],
    init_state: np.ndarray | None = None,
    seed: int | None = None,
    *,
    backend: str | None = None,
) -> list[StepSequence]:
    """One rollout per domain-parameter dict (e.g. a :func:`~gymsamp.envs.param_grid`).

    Args:
        pool: Worker count, :class:`SamplerPool` or :class:`ParallelRolloutSampler`.
        env: The env (id, factory or instance) to evaluate in.
        policy: The policy to evaluate.
        params: The domain parameters, one rollout each, in this order.
        init_state: A fixed initial state for every rollout, or None.
        seed: Base seed (rollout ``k`` resets with ``derive_seed(seed, 0, k)``).
        backend: ``"local"`` or ``"ray"``; None: the pool sampler's, else ``"local"``.

    Returns:
        The rollouts, ``rollouts[k]`` with ``params[k]``.
    """
    payloads = reset_payloads(None if init_state is None else [init_state], list(params))
    assert payloads is not None
    return _run(pool, env, policy, payloads, seed, backend)


def eval_nominal_domain(
    pool: Any,
    env: Any,
    policy: Any,
    init_states: Sequence[np.ndarray],
    seed: int | None = None,
    *,
    backend: str | None = None,
) -> list[StepSequence]:
    """One rollout per initial state with the env's nominal domain parameters."""
    payloads = reset_payloads(list(init_states), None)
    assert payloads is not None
    return _run(pool, env, policy, payloads, seed, backend)


def eval_randomized_domain(
    pool: Any,
    env: Any,
    randomizer: Any,
    policy: Any,
    init_states: Sequence[np.ndarray],
    seed: int | None = None,
    *,
    backend: str | None = None,
) -> list[StepSequence]:
    """One rollout per initial state, each in its own domain drawn from ``randomizer``.

    The domains are drawn in the parent from a generator seeded with ``seed`` (one joint draw
    per initial state, paired in order).
    """
    rng = np.random.default_rng(np.random.SeedSequence(check_seed(seed), spawn_key=(2**31,)))
    payloads = [
        {
            "init_state": np.asarray(state, dtype=np.float64),
            "domain_param": dict(randomizer.sample(rng=rng)),
        }
        for state in init_states
    ]
    return _run(pool, env, policy, payloads, seed, backend)


def _segment_start(segment: StepSequence) -> np.ndarray:
    name = "states" if "states" in segment.data_names else "observations"
    return np.asarray(segment.get_data_values(name)[0], dtype=np.float64)


def eval_domain_params_with_segmentwise_reset(
    pool: Any,
    env_sim: Any,
    policy: Any,
    segments_real_all: Sequence[Sequence[StepSequence]],
    domain_params_ml_all: Sequence[Sequence[dict[str, Any]]],
    stop_on_done: bool,
    use_rec: bool,
    seed: int | None = None,
    *,
    backend: str | None = None,
) -> list[list[StepSequence]]:
    """Re-simulate real rollouts segment by segment under candidate domain parameters.

    Every segment of real rollout ``i`` is simulated under each domain-parameter dict of
    ``domain_params_ml_all[i]``, starting from the segment's initial state (its ``states``
    where recorded, else its first observation) for the segment's length, with the recorded
    actions (``use_rec``) or the policy. The segments run one after the other in this process
    with :func:`~gymsamp.sampling.rollout` (each is short and tied to its real counterpart, and
    ``stop_on_done=False`` needs a single env); ``pool`` and ``backend`` are validated for
    signature compatibility.

    Args:
        pool: Worker count, :class:`SamplerPool` or :class:`ParallelRolloutSampler`.
        env_sim: The simulated env (id, factory or instance; built once).
        policy: The policy (ignored with ``use_rec``).
        segments_real_all: For each real rollout, its segments.
        domain_params_ml_all: For each real rollout, the domain parameters to evaluate.
        stop_on_done: False continues a simulated segment past an episode end.
        use_rec: Replay the recorded actions instead of running the policy.
        seed: Base seed: segment ``s`` of real rollout ``i`` under domain ``d`` resets with
            ``derive_seed(seed, i, running index)``.
        backend: Validated like the other functions' (the segments always run here).

    Returns:
        ``result[i][d]``: the simulated segments of real rollout ``i`` under domain ``d``,
        concatenated (one rollout per segment, segment bounds kept).
    """
    from gymsamp.sampling.rollout import rollout
    from gymsamp.sampling.vector_envs import EnvFactory

    _pool_settings(pool, backend)
    if len(segments_real_all) != len(domain_params_ml_all):
        raise ValueError(
            "segments_real_all and domain_params_ml_all must have one entry per real rollout, got "
            f"{len(segments_real_all)} and {len(domain_params_ml_all)}"
        )
    seed = check_seed(seed)
    env = EnvFactory(env_sim)()
    results: list[list[StepSequence]] = []
    try:
        for i, (segments, domain_params) in enumerate(
            zip(segments_real_all, domain_params_ml_all, strict=True)
        ):
            per_domain: list[StepSequence] = []
            count = 0
            for domain_param in domain_params:
                parts = []
                for segment in segments:
                    parts.append(
                        rollout(
                            env,
                            PlaybackPolicy([np.asarray(segment.actions)]) if use_rec else policy,
                            eval=True,
                            max_steps=segment.length,
                            reset_kwargs={
                                "init_state": _segment_start(segment),
                                "domain_param": dict(domain_param),
                            },
                            no_close=True,
                            stop_on_done=stop_on_done,
                            seed=seed,
                            sub_seed=i,
                            sub_sub_seed=count,
                        )
                    )
                    count += 1
                per_domain.append(StepSequence.concat(parts))
            results.append(per_domain)
    finally:
        env.close()
    return results
