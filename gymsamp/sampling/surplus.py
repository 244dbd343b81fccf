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

    The rollouts before the failed one are collected again, alone (``collect_prefix`` runs a
    ``min_rollouts`` quota, which starts nothing past them; seeded rollouts come out the same):
    if they meet ``quota`` they are the result, else the failed rollout belongs to it and
    ``error`` is raised. A failure among them repeats this for the earlier rollout.

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
    cap = max(error.rollout_indices)  # rollouts 0..cap-1 are not known to fail
    while cap >= max(quota.min_rollouts or 0, 1):  # a result within 0..cap-1 is possible
        try:
            rollouts = collect_prefix(Quota(min_rollouts=cap))
        except (WorkerError, NonFiniteError) as err:
            if not err.rollout_indices or max(err.rollout_indices) >= cap:
                raise
            error, cap = err, max(err.rollout_indices)
            continue
        count = quota.prefix_length({k: ro.length for k, ro in enumerate(rollouts)})
        if count is not None:
            return rollouts[:count]
        break
    raise error
