"""Column buffers for the collection loop: one row per vector step, one column per sub-env.

Writing a whole batch per step is a handful of numpy assignments whatever the number of
sub-envs; a rollout is cut out of its sub-env's column once, when it ends. Rows older than
the oldest running rollout are dropped when the buffer fills up, so memory stays bounded by
the longest running rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["StepBuffer"]


class StepBuffer:
    """Rows of per-step batches ``(num_envs, ...)`` addressed by a global step index.

    Args:
        num_envs: Number of sub-envs (columns).
        capacity: Initial number of rows.
    """

    def __init__(self, num_envs: int, capacity: int = 1024) -> None:
        self.num_envs = num_envs
        self.capacity = capacity
        self.offset = 0  # global index of row 0
        self.size = 0  # rows in use
        self.columns: dict[str, np.ndarray] = {}

    @property
    def next_row(self) -> int:
        """The global index the next :meth:`append` writes."""
        return self.offset + self.size

    def append(self, values: dict[str, Any], keep_from: Callable[[], int]) -> int:
        """Write one row; rows before ``keep_from()`` may be dropped to make room.

        ``keep_from`` is called only when the buffer is full (rarely), so callers can pass the
        costly "oldest row still needed" computation without paying it every step.

        Returns:
            The global index of the written row.
        """
        if self.size == self.capacity:
            self._make_room(keep_from())
        local = self.size
        for key, value in values.items():
            column = self.columns.get(key)
            if column is None:
                batch = np.asarray(value)
                column = np.empty((self.capacity, *batch.shape), dtype=batch.dtype)
                self.columns[key] = column
            column[local] = value
        self.size += 1
        return self.offset + local

    def _make_room(self, keep_from: int) -> None:
        drop = max(0, min(keep_from, self.next_row) - self.offset)
        keep = self.size - drop
        if keep > self.capacity // 2:  # mostly live rows: grow instead of compacting often
            self.capacity *= 2
        for key, column in self.columns.items():
            fresh = np.empty((self.capacity, *column.shape[1:]), dtype=column.dtype)
            fresh[:keep] = column[drop : self.size]
            self.columns[key] = fresh
        self.offset += drop
        self.size = keep

    def column(self, key: str, start: int, stop: int, env: int) -> np.ndarray:
        """A copy of sub-env ``env``'s values at global rows ``start..stop-1``."""
        return self.columns[key][start - self.offset : stop - self.offset, env].copy()

    def set(self, key: str, row: int, env: int, value: Any) -> None:
        """Overwrite one entry (e.g. SAME_STEP's final state, known only after the step)."""
        self.columns[key][row - self.offset, env] = value
