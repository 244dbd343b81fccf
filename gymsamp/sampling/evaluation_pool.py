"""How the parallel-evaluation functions (:mod:`gymsamp.sampling.parallel_evaluation`) check
their list arguments and run their rollouts: the ``pool`` argument (a worker count, a
:class:`SamplerPool` or a :class:`ParallelRolloutSampler`) turned into the settings of the
:class:`ParallelRolloutSampler` that collects one rollout per payload.
"""

from __future__ import annotations

import numbers
import reprlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gymsamp.data import StepSequence
from gymsamp.sampling.parallel_rollout_sampler import ParallelRolloutSampler
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.sampler_options import BACKENDS
from gymsamp.sampling.sampler_pool import SamplerPool
from gymsamp.sampling.seeding import check_seed

__all__ = [
    "as_list",
    "checked_state",
    "pool_settings",
    "run_payloads",
    "sampler_for",
    "shown",
    "state_payload",
]

# -- argument checks --------------------------------------------------------------------------


def shown(value: Any) -> str:
    """``value`` for an error message: its type and a shortened repr."""
    return f"{type(value).__name__} {reprlib.repr(value)}"


def as_list(value: Any, name: str, what: str, *, allow_empty: bool = False) -> list[Any]:
    """``value`` (a list, tuple or array of ``what``) as a list.

    A dict, a string or a :class:`StepSequence` is one item, not a list of them: TypeError.
    """
    if isinstance(value, (str, bytes, Mapping, StepSequence)) or not isinstance(
        value, (Sequence, np.ndarray)
    ):
        hint = "; wrap a single one in a list" if isinstance(value, (Mapping, StepSequence)) else ""
        raise TypeError(f"{name} must be a list of {what}, got {shown(value)}{hint}")
    items = list(value)
    if not items and not allow_empty:
        raise ValueError(f"{name} must be a non-empty list of {what}, got an empty list")
    return items


def state_payload(value: Any, name: str) -> dict[str, Any]:
    """The reset options of an entry of ``init_states``: a fixed initial state, or none (the
    env draws one) for None, as in pyrado."""
    return {} if value is None else {"init_state": checked_state(value, name)}


def checked_state(value: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of numbers, got {shown(value)}") from err


# -- the pool and the sampler -----------------------------------------------------------------


def pool_settings(pool: Any, backend: str | None = None) -> tuple[int, dict[str, Any]]:
    """(worker count, sampler options) from a worker count, SamplerPool or sampler."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be None or one of {BACKENDS}, got {backend!r}")
    if isinstance(pool, ParallelRolloutSampler):
        # What its rollouts are (cut after max_steps, states recorded) carries over everywhere.
        options: dict[str, Any] = {
            "vectorization": pool.vectorization,
            "max_steps": pool.max_steps,
            "record_states": pool.record_states,
        }
        if (backend or pool.backend) == "ray":
            options["backend"] = "ray"
            if pool.backend == "ray":  # its Ray settings carry over
                options["envs_per_actor"] = pool.envs_per_actor
                options["ray_actor_options"] = pool.ray_actor_options
            if options["vectorization"] != "sync":  # what runs inside actors is Ray's choice
                options["vectorization"] = "auto"
        else:  # its bounds on hanging sub-envs and its worker processes carry over
            options["step_timeout"] = pool.step_timeout
            options["start_method"] = pool.start_method
        return pool.num_workers, options
    workers, options = _plain_pool_settings(pool)
    if backend == "ray":
        options["backend"] = "ray"
    return workers, options


def _plain_pool_settings(pool: Any) -> tuple[int, dict[str, Any]]:
    if isinstance(pool, SamplerPool):
        return pool.num_threads, {}
    if isinstance(pool, numbers.Integral) and not isinstance(pool, (bool, np.bool_)):
        if pool < 1:
            raise ValueError(f"pool must be a worker count >= 1, got {pool!r}")
        return int(pool), {}
    raise TypeError(
        "pool must be a worker count (int >= 1), a SamplerPool or a ParallelRolloutSampler, "
        f"got {shown(pool)}"
    )


def sampler_for(
    pool: Any,
    env: Any,
    policy: Any,
    seed: int | None,
    backend: str | None,
    max_steps: int | None = None,
) -> ParallelRolloutSampler:
    workers, options = pool_settings(pool, backend)
    options = {"show_progress_bar": False, **options}
    if max_steps is not None:
        options["max_steps"] = max_steps
    return ParallelRolloutSampler(env, policy, workers, min_rollouts=1, seed=seed, **options)


def run_payloads(
    pool: Any,
    env: Any,
    policy: Any,
    payloads: list[dict[str, Any]],
    labels: list[tuple[str, str]],
    seed: int | None,
    backend: str | None,
    max_steps: int | None,
    *,
    nominal: bool = False,
) -> list[StepSequence]:
    """One rollout per payload, in payload order (``labels``: see ``check_payloads``).

    ``nominal``: the rollouts run in the nominal domain, also where the env randomizes its
    parameters at every reset (an explicit, empty ``domain_param`` bypasses the draw).
    """
    with sampler_for(pool, env, policy, check_seed(seed), backend, max_steps) as sampler:
        if nominal and sampler.nominal_domain_param is not None:
            payloads = [{**payload, "domain_param": {}} for payload in payloads]
        sampler.check_payloads(payloads, labels)
        make_job = sampler._job_maker(payloads)
        return sampler.sample_jobs(Quota(min_rollouts=len(payloads)), make_job, eval=True)
