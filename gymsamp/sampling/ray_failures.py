"""What a failure in the Ray backend (:mod:`gymsamp.sampling.ray_backend`) lost, and how its
error reads.

- :func:`rollouts_lost_with`: the rollouts of a dead actor's batches that did not finish;
- :func:`task_failures`: the exception each reference's task ended with, if any;
- :func:`add_note` / :func:`first_line`: the remote traceback as a note on a re-raised
  exception, and an error's first line for a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gymsamp._notes import add_note

__all__ = ["DEATH_WAIT_S", "add_note", "first_line", "rollouts_lost_with", "task_failures"]

#: Seconds to wait for a dead actor's other references to resolve (see rollouts_lost_with).
DEATH_WAIT_S = 5.0


def rollouts_lost_with(
    actor: int, inflight: Mapping[Any, tuple[int, float, list[int]]]
) -> list[int]:
    """The rollout indices of a dead ``actor``'s batches in ``inflight`` that did not finish:
    the one it died in, the ones queued after it, and any it finished but whose reply died
    with it.

    A batch it finished and replied to may still be in ``inflight`` (the driver had not
    received it yet) and is not counted: blaming it would make ``min_steps`` mode take a
    needed rollout for the failed one, and fail a call whose failure was past its result.
    Every lost rollout is a suspect, so the rerun of the rollouts before the failure (see
    :func:`~gymsamp.sampling.surplus.collect_without_failed_surplus`) runs them again.
    """
    batches = [(ref, indices) for ref, (a, _, indices) in inflight.items() if a == actor]
    # A dead actor's references all resolve (a value or the actor's death) within moments;
    # one without an answer by then counts as lost too.
    failures = task_failures([ref for ref, _ in batches], DEATH_WAIT_S)
    lost = [k for (_, indices), err in zip(batches, failures, strict=True) if err for k in indices]
    return lost or batches[0][1]


def task_failures(refs: list[Any], timeout: float | None) -> list[Exception | None]:
    """Per reference, the exception ``ray.get`` raises for it (its task's failure, or a
    timeout's where it has no answer after ``timeout`` seconds; None: wait for all), or None."""
    import ray

    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=timeout)
    failures: list[Exception | None] = []
    for ref in refs:
        try:
            ray.get(ref, timeout=0)
        except Exception as err:
            failures.append(err)
        else:
            failures.append(None)
    return failures


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
