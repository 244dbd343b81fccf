"""``min_steps`` results that do not depend on a failure past them.

In ``min_steps`` mode the rollouts past the result (the surplus) run concurrently with it, so
whether one of them ran, and failed, depends on the number of workers and their timing. DESIGN
§4 makes the result independent of both, so such a failure must not fail the call either.
"""

from __future__ import annotations

from collections.abc import Callable

from gymsamp.data import StepSequence
from gymsamp.sampling.errors import NonFiniteError, WorkerError
from gymsamp.sampling.quota import Quota

__all__ = ["collect_without_failed_surplus"]


def collect_without_failed_surplus(
    collect_prefix: Callable[[Quota], list[StepSequence]],
    quota: Quota,
    error: WorkerError | NonFiniteError,
) -> list[StepSequence]:
    """The result of a ``min_steps`` ``quota`` whose collection failed in ``error``'s rollouts
    (a sub-env failed, or a rollout's observations or actions were not finite).

    ``error`` may name more than one rollout: a sub-env that hangs or dies in a step that also
    started its next rollout (a queued reset) was running either. The rollouts before the
    first suspect are collected again, alone (``collect_prefix`` runs a ``min_rollouts``
    quota, which starts nothing past them; seeded rollouts come out the same): if they meet
    ``quota`` they are the result, and no suspect ran again (a hang would cost another whole
    step timeout). Otherwise the next suspect's prefix is tried, which runs the suspects before
    it; once the result needs a rollout that fails, ``error`` (or that rollout's own failure)
    is raised.

    Args:
        collect_prefix: Collects rollouts ``0..n-1`` for ``Quota(min_rollouts=n)``.
        quota: The call's quota (``min_steps`` set).
        error: The collection's failure; its ``rollout_indices`` name the failed rollouts.

    Raises:
        WorkerError, NonFiniteError: ``error`` (or an earlier rollout's failure) where the
            result needs the failed rollout.

    Example:
        >>> ros = [StepSequence(rewards=[0.0] * 5, observations=[0.0] * 6, actions=[0] * 5)] * 3
        >>> failed = WorkerError("sub-env 1 raised", env_index=1)
        >>> failed.rollout_indices = (3,)  # rollout 3 failed; 0..2 give the 10 steps asked for
        >>> len(collect_without_failed_surplus(lambda q: ros[: q.min_rollouts],
        ...                                    Quota(min_steps=10), failed))
        2
    """
    suspects = sorted(set(error.rollout_indices))
    # Prefixes this long or shorter cannot be the result (too few rollouts, or too few steps).
    short = max(quota.min_rollouts or 0, 1) - 1
    while True:
        caps = [k for k in suspects if k > short]
        if not caps:  # the result needs a suspect
            raise error
        cap = caps[0]  # collect rollouts 0..cap-1: none of the remaining suspects
        try:
            rollouts = collect_prefix(Quota(min_rollouts=cap))
        except (WorkerError, NonFiniteError) as err:
            if not err.rollout_indices or max(err.rollout_indices) >= cap:
                raise
            # Rollouts before `cap` fail: later suspects no longer matter.
            error, suspects = err, sorted(set(err.rollout_indices))
            continue
        count = quota.prefix_length({k: ro.length for k, ro in enumerate(rollouts)})
        if count is not None:
            return rollouts[:count]
        short = cap
