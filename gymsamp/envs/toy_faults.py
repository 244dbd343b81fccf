"""Toy environments that fail on purpose: one raises, one hangs (worker-failure tests).

Both count steps like :class:`gymsamp.envs.toy.CountingEnv` (observation ``[k]`` and reward
``float(k)`` after step ``k``, ``Discrete(2)`` actions that are validated and otherwise ignored)
but never end by themselves; registration adds a 100-step time limit. They take
``step_cost_us`` like every toy env.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from gymsamp.envs.toy import (
    DiscreteAction,
    _check_count,
    _check_real,
    _count_obs,
    _float32_box,
    _non_negative,
    _ToyEnv,
)

__all__ = ["HangingEnv", "RaisingEnv", "ToyEnvError"]


class ToyEnvError(RuntimeError):
    """The deliberate failure raised by :class:`RaisingEnv`.

    Example:
        >>> env = RaisingEnv(raise_at=1)
        >>> _ = env.reset(seed=0)
        >>> try:
        ...     env.step(0)
        ... except ToyEnvError as err:
        ...     print(type(err).__name__, isinstance(err, RuntimeError))
        ToyEnvError True
    """


class _FaultEnv(_ToyEnv[DiscreteAction]):
    """A counter that never ends, with Discrete(2) actions: the base of the fault envs."""

    def __init__(self, step_cost_us: float) -> None:
        super().__init__(step_cost_us)
        self.action_space = gym.spaces.Discrete(2)
        self.observation_space = _float32_box(1)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        self._start_episode(seed)
        return _count_obs(0.0), {}

    def _count_step(self) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        k = self._advance()
        return _count_obs(k), float(k), False, False, {}


class RaisingEnv(_FaultEnv):
    """Raises :class:`ToyEnvError` in step ``raise_at`` of every episode (worker-failure tests).

    Otherwise it behaves like a :class:`CountingEnv` that never ends (registration adds a
    100-step time limit). The failing step changes nothing, so stepping again raises again until
    the next reset. The message is ``f"{message} (step {raise_at})"``; put a ``%`` in
    ``message`` to exercise Gymnasium's %-formatting of worker tracebacks.

    Args:
        raise_at: Step number (1-based, counted from reset) that raises.
        message: Start of the error message.
        step_cost_us: Busy-wait per step, in microseconds.

    Example:
        >>> env = RaisingEnv(raise_at=2, message="boom")
        >>> _ = env.reset(seed=0)
        >>> env.step(0)[:4]
        (array([1.], dtype=float32), 1.0, False, False)
        >>> try:
        ...     env.step(0)
        ... except ToyEnvError as error:
        ...     print(error)
        boom (step 2)
    """

    def __init__(
        self,
        raise_at: int = 3,
        message: str = "RaisingEnv fails on purpose",
        step_cost_us: float = 0,
    ) -> None:
        super().__init__(step_cost_us)
        self.raise_at = _check_count("raise_at", raise_at, 1)
        self.message = str(message)

    def step(
        self, action: DiscreteAction
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        self._check_discrete_action(action)
        if self._step_count + 1 == self.raise_at:
            raise ToyEnvError(f"{self.message} (step {self.raise_at})")
        return self._count_step()


class HangingEnv(_FaultEnv):
    """Sleeps ``hang_seconds`` inside step ``hang_at`` of every episode (step-timeout tests).

    Otherwise it behaves like a :class:`CountingEnv` that never ends (registration adds a
    100-step time limit); the hanging step, once it returns, is an ordinary step. It sleeps
    rather than spins so a hung worker does not burn a core.

    Args:
        hang_at: Step number (1-based, counted from reset) that hangs.
        hang_seconds: How long that step sleeps.
        step_cost_us: Busy-wait per step, in microseconds.

    Example:
        >>> env = HangingEnv(hang_at=1, hang_seconds=0.01)
        >>> _ = env.reset(seed=0)
        >>> start = time.perf_counter()
        >>> env.step(0)[:4]
        (array([1.], dtype=float32), 1.0, False, False)
        >>> time.perf_counter() - start >= 0.01
        True
    """

    def __init__(
        self, hang_at: int = 3, hang_seconds: float = 3600, step_cost_us: float = 0
    ) -> None:
        super().__init__(step_cost_us)
        self.hang_at = _check_count("hang_at", hang_at, 1)
        self.hang_seconds = _check_real("hang_seconds", hang_seconds, ">= 0", _non_negative)

    def step(
        self, action: DiscreteAction
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        self._check_discrete_action(action)
        if self._step_count + 1 == self.hang_at:
            time.sleep(self.hang_seconds)
        return self._count_step()
