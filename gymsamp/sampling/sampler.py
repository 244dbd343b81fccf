"""The sampler interface: :class:`SamplerBase`."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Any, TypeVar

from gymsamp.data import StepSequence
from gymsamp.sampling.quota import Quota, check_min_counts

__all__ = ["Closable", "SamplerBase"]

_Closable = TypeVar("_Closable", bound="Closable")


class Closable:
    """A context manager whose exit calls :meth:`close` (samplers, SBI simulators, pools).

    Example:
        >>> class Resource(Closable):
        ...     def close(self):
        ...         print("closed")
        >>> with Resource():
        ...     pass
        closed
    """

    def close(self) -> None:
        """Release worker processes and envs (a no-op for objects that hold none)."""

    def __enter__(self: _Closable) -> _Closable:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SamplerBase(Closable, abc.ABC):
    """A sampler generates a list of rollouts.

    At least one bound must be given: the minimum number of complete rollouts and/or the
    minimum total number of steps; with both, sampling ends once both are met. gymsamp's
    samplers return the shortest prefix of rollout indices that meets the bounds (DESIGN §4),
    so the result does not depend on the number of workers. Samplers are context managers:
    leaving the ``with`` block calls :meth:`close`.

    Args:
        min_rollouts: Minimum number of complete rollouts to sample.
        min_steps: Minimum total number of steps to sample.

    Example:
        >>> class Fixed(SamplerBase):
        ...     def reinit(self, env=None, policy=None): ...
        ...     def sample(self): return []
        >>> sampler = Fixed(min_rollouts=5)
        >>> sampler.set_min_count(min_steps=100)
        >>> sampler.quota
        Quota(min_rollouts=None, min_steps=100)
    """

    def __init__(self, *, min_rollouts: int | None = None, min_steps: int | None = None) -> None:
        self.min_rollouts, self.min_steps = check_min_counts(min_rollouts, min_steps)

    def set_min_count(self, min_rollouts: int | None = None, min_steps: int | None = None) -> None:
        """Adapt the sampling bounds (at least one must be given)."""
        self.min_rollouts, self.min_steps = check_min_counts(min_rollouts, min_steps)

    @property
    def quota(self) -> Quota:
        """The current bounds."""
        return Quota(self.min_rollouts, self.min_steps)

    @abc.abstractmethod
    def reinit(self, env: Any = None, policy: Any = None) -> None:
        """Rebuild after changes to the env or the policy, optionally replacing either.

        Policy *parameters* need no reinit: every ``sample()`` uses the current ones.
        """

    @abc.abstractmethod
    def sample(self, *args: Any, **kwargs: Any) -> list[StepSequence]:
        """Generate a list of rollouts."""
