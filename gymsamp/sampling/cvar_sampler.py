"""Conditional value at risk: :class:`CVaRSampler` and :func:`select_cvar`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gymsamp._checks import ceil_count, check_epsilon, cvar_count
from gymsamp.data import StepSequence
from gymsamp.data.returns import check_gamma
from gymsamp.sampling.sampler import SamplerBase

__all__ = ["CVaRSampler", "select_cvar"]


def select_cvar(
    rollouts: Sequence[StepSequence], epsilon: float, gamma: float = 1.0
) -> list[StepSequence]:
    """The ``floor(epsilon * n)`` rollouts with the lowest discounted returns.

    Their mean discounted return is the empirical CVaR at level ``epsilon`` of the whole set.
    As in pyrado, the count is rounded down, so the selection never holds more than the worst
    ``epsilon`` fraction (``epsilon * n`` within float noise of a whole number counts as that
    number: 0.29 of 100 rollouts keeps 29). The caller's list is not reordered (pyrado sorted it
    in place); ties keep their order.

    Args:
        rollouts: The rollouts.
        epsilon: The quantile of rollouts to keep, in (0, 1].
        gamma: Discount factor for the returns.

    Returns:
        The selected rollouts, from the lowest return up.

    Example:
        >>> ros = [StepSequence(rewards=[r], observations=[0, 0], actions=[0])
        ...        for r in (3.0, 1.0, 2.0, 4.0)]
        >>> [ro.undiscounted_return() for ro in select_cvar(ros, 0.5)]
        [1.0, 2.0]
    """
    if isinstance(rollouts, StepSequence) or not isinstance(rollouts, Sequence):
        what = (
            "a single StepSequence (pass [rollout])"
            if isinstance(rollouts, StepSequence)
            else type(rollouts).__name__
        )
        raise TypeError(f"rollouts must be a list of StepSequence, got {what}")
    for i, ro in enumerate(rollouts):
        if not isinstance(ro, StepSequence):
            raise TypeError(f"rollouts[{i}] must be a StepSequence, got {type(ro).__name__}")
    if len(rollouts) == 0:  # else "epsilon * len(rollouts) must be at least 1"
        raise ValueError("rollouts must hold at least one StepSequence to select from, got []")
    epsilon = check_epsilon(epsilon)
    gamma = check_gamma(gamma)
    # round() rounded half to even: 3 rollouts at epsilon=0.5 kept 2 (more than half) but 5
    # kept 2, and 7 kept 4. pyrado (and the CVaR's definition) round down.
    count = cvar_count(len(rollouts), epsilon)
    if count == 0:
        raise ValueError(
            f"epsilon * len(rollouts) must be at least 1, got {epsilon} * {len(rollouts)}"
        )
    order = sorted(range(len(rollouts)), key=lambda i: rollouts[i].discounted_return(gamma))
    return [rollouts[i] for i in order[:count]]


class CVaRSampler(SamplerBase):
    """Samples ``1 / epsilon`` times as much and keeps the worst ``epsilon`` quantile.

    Args:
        wrapped_sampler: The sampler that produces the full set.
        epsilon: The quantile of rollouts to keep, in (0, 1].
        gamma: Discount factor for ranking the returns.
        min_rollouts: Minimum number of rollouts to return.
        min_steps: Minimum number of steps to sample before selection (divided by epsilon).

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.policies import IdlePolicy
        >>> from gymsamp.sampling import ParallelRolloutSampler
        >>> idle = IdlePolicy(gym.spaces.Discrete(2))
        >>> inner = ParallelRolloutSampler("gymsamp/RandomLength-v0", idle, 1, min_rollouts=1,
        ...                                seed=0, show_progress_bar=False)
        >>> with CVaRSampler(inner, epsilon=0.25, min_rollouts=2) as sampler:
        ...     worst = sampler.sample()  # the worst 2 of 8 rollouts
        >>> inner.min_rollouts, len(worst)
        (8, 2)
    """

    def __init__(
        self,
        wrapped_sampler: SamplerBase,
        epsilon: float,
        gamma: float = 1.0,
        *,
        min_rollouts: int | None = None,
        min_steps: int | None = None,
    ) -> None:
        if not isinstance(wrapped_sampler, SamplerBase):
            raise TypeError(
                f"wrapped_sampler must be a gymsamp sampler, got {type(wrapped_sampler).__name__}"
            )
        self.epsilon = check_epsilon(epsilon)
        self.gamma = check_gamma(gamma)
        self._wrapped_sampler = wrapped_sampler
        super().__init__(min_rollouts=min_rollouts, min_steps=min_steps)
        self.set_min_count(min_rollouts, min_steps)

    @property
    def wrapped_sampler(self) -> SamplerBase:
        """The sampler producing the full set."""
        return self._wrapped_sampler

    def set_min_count(self, min_rollouts: int | None = None, min_steps: int | None = None) -> None:
        """Set the bounds; the wrapped sampler gets them divided by ``epsilon`` (rounded up),
        and at least ``ceil(1 / epsilon)`` rollouts, so that its worst ``epsilon`` holds one
        (a few long rollouts can meet a step bound alone: 1 of 4 at ``epsilon=0.25`` rounds
        to none). A quotient within float noise of a whole number counts as that number
        (7 rollouts at ``epsilon=0.7`` need 10, not 11)."""
        super().set_min_count(min_rollouts, min_steps)
        self._wrapped_sampler.set_min_count(
            min_rollouts=ceil_count((min_rollouts or 1) / self.epsilon),
            min_steps=ceil_count(min_steps / self.epsilon) if min_steps else None,
        )

    def reinit(self, env: Any = None, policy: Any = None) -> None:
        """Reinitialize the wrapped sampler."""
        self._wrapped_sampler.reinit(env, policy)

    def sample(self, *args: Any, **kwargs: Any) -> list[StepSequence]:
        """Sample the full set with the wrapped sampler and return its worst ``epsilon``."""
        return select_cvar(self._wrapped_sampler.sample(*args, **kwargs), self.epsilon, self.gamma)

    def close(self) -> None:
        """Close the wrapped sampler."""
        self._wrapped_sampler.close()

    def __repr__(self) -> str:
        return (
            f"CVaRSampler({self._wrapped_sampler!r}, epsilon={self.epsilon}, gamma={self.gamma}, "
            f"min_rollouts={self.min_rollouts}, min_steps={self.min_steps})"
        )
