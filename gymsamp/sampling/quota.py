"""When to issue another rollout and when a collection is complete (DESIGN §4).

Rollouts are numbered ``0, 1, 2, ...`` in the order they are issued. The result of a collection
is always the shortest prefix ``0..K-1`` that meets both bounds (``K >= min_rollouts`` and the
lengths sum to ``>= min_steps``); rollouts past ``K`` that ran concurrently are dropped. The
result therefore never depends on how many workers ran or how fast they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from gymsamp._checks import check_int

__all__ = ["LeadingResults", "Quota", "check_min_counts"]

_Result = TypeVar("_Result")


def check_min_counts(
    min_rollouts: int | None, min_steps: int | None
) -> tuple[int | None, int | None]:
    """At least one bound; each None or an int >= 1 (numpy integers become ints)."""
    if min_rollouts is None and min_steps is None:
        raise ValueError("at least one of min_rollouts and min_steps must be given, got both None")
    return (
        None if min_rollouts is None else check_int("min_rollouts", min_rollouts),
        None if min_steps is None else check_int("min_steps", min_steps),
    )


@dataclass(frozen=True)
class Quota:
    """The bounds of one collection.

    Args:
        min_rollouts: Minimum number of complete rollouts, or None.
        min_steps: Minimum total number of steps, or None.

    Example:
        >>> quota = Quota(min_steps=10)
        >>> quota.prefix_length({0: 4, 1: 7, 2: 30})  # rollouts 0 and 1 are enough
        2
    """

    min_rollouts: int | None = None
    min_steps: int | None = None

    def __post_init__(self) -> None:
        counts = check_min_counts(self.min_rollouts, self.min_steps)
        object.__setattr__(self, "min_rollouts", counts[0])  # frozen: plain ints stored
        object.__setattr__(self, "min_steps", counts[1])

    def should_issue(self, index: int, issued_steps: int) -> bool:
        """Whether rollout ``index`` may be needed.

        Args:
            index: The next rollout index; rollouts ``0..index-1`` have been issued.
            issued_steps: Steps known of those rollouts: the length of every complete one plus
                the steps taken so far by every running one (a lower bound of their total).
        """
        if index < (self.min_rollouts or 0):
            return True
        return self.min_steps is not None and issued_steps < self.min_steps

    def is_met(self, count: int, steps: int) -> bool:
        """Whether the leading ``count`` rollouts with ``steps`` steps in total are enough."""
        return count >= (self.min_rollouts or 0) and steps >= (self.min_steps or 0)

    def prefix_length(self, lengths: Mapping[int, int]) -> int | None:
        """The number ``K`` of leading rollouts that form the result, or None if undetermined.

        Args:
            lengths: Length of every complete rollout, by index.
        """
        total = 0
        k = 0
        while k in lengths:
            total += lengths[k]
            k += 1
            if self.is_met(k, total):
                return k
        return None


class LeadingResults(Generic[_Result]):
    """The complete rollouts of a collection, and the leading ones ``0..K-1`` that form its
    result: advanced as rollouts complete, in whatever order they do.

    The result is fixed the moment the leading rollouts meet the quota, so rollouts that
    complete later (past ``K``) never change it.

    Args:
        quota: The collection's bounds.

    Example:
        >>> results = LeadingResults(Quota(min_steps=10))
        >>> results.add(1, "b", 7)  # out of order: waits for rollout 0
        >>> results.items, results.would_complete({0: 4})
        ([], True)
        >>> results.add(0, "a", 4)
        >>> results.items, results.complete, results.steps
        (['a', 'b'], True, 11)
    """

    def __init__(self, quota: Quota) -> None:
        self.quota = quota
        self.items: list[_Result] = []  # the leading complete rollouts
        self.steps = 0  # their steps
        self.complete = False  # they meet the quota: the result
        # Complete rollouts past the leading ones (few: those that finished out of order).
        self._later: dict[int, tuple[_Result, int]] = {}
        self.all_steps = 0  # steps of every complete rollout, leading or not

    def add(self, index: int, item: _Result, length: int) -> None:
        """Rollout ``index`` (``length`` steps) is complete."""
        self._later[index] = (item, length)
        self.all_steps += length
        while not self.complete and len(self.items) in self._later:
            leading, steps = self._later.pop(len(self.items))
            self.items.append(leading)
            self.steps += steps
            self.complete = self.quota.is_met(len(self.items), self.steps)

    def would_complete(self, lengths: Mapping[int, int]) -> bool:
        """Whether rollouts of these ``lengths`` (by index), completing now, would make the
        result complete (nothing changes here)."""
        count, steps = len(self.items), self.steps
        while count in self._later or count in lengths:
            later = self._later.get(count)
            steps += later[1] if later is not None else lengths[count]
            count += 1
            if self.quota.is_met(count, steps):
                return True
        return False
