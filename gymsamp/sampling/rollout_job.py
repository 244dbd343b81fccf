"""What one rollout gets from the sampler that issues it (:class:`RolloutJob`), and how it began
in its sub-env (:class:`RunningRollout`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import numpy as np

from gymsamp.policies.base import LazyGenerators
from gymsamp.sampling.seeding import derive_seed, rollout_generator

__all__ = ["JobGenerators", "RolloutJob", "RunningRollout"]


class RolloutJob:
    """Everything one rollout gets: its index, reset seed, options and generator.

    Args:
        index: Position ``k`` of the rollout in the collection's result.
        seed: The reset seed (None: no seed).
        rng: The rollout's own generator for policy noise; None makes one with fresh entropy
            when it is first read.
        options: Reset options for the sub-env (``domain_param``, ``init_state``), or None.
        policy_params: A flat parameter vector for a :class:`ParametricPolicy`, or None.
        info: Extra entries for the rollout's ``rollout_info``.

    Example:
        >>> from gymsamp.sampling import derive_seed, rollout_generator
        >>> job = RolloutJob.seeded(3, seed=0, sub_seed=1, sub_sub_seed=3)
        >>> job.seed == derive_seed(0, 1, 3), job.index
        (True, 3)
        >>> job.rng.random() == rollout_generator(0, 1, 3).random()
        True
    """

    def __init__(
        self,
        index: int,
        seed: int | None,
        rng: np.random.Generator | None = None,
        options: dict[str, Any] | None = None,
        policy_params: np.ndarray | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.index = index
        self.seed = seed
        self.options = options
        self.policy_params = policy_params
        self.info = {} if info is None else info
        self._rng = rng
        self._triple: tuple[int, int, int] | None = None

    @property
    def reported_index(self) -> int:
        """The index the rollout reports in its ``rollout_info`` and error messages: ``index``,
        unless ``info`` sets ``rollout_index`` (``rollout()`` runs one job, index 0, and
        names it by its ``sub_sub_seed``)."""
        return int(self.info.get("rollout_index", self.index))

    @property
    def rng(self) -> np.random.Generator:
        """The rollout's generator, made when first read: most policies never read it, and a
        seeded generator costs about as much as a CartPole reset."""
        if self._rng is None:
            triple = self._triple
            self._rng = np.random.default_rng() if triple is None else rollout_generator(*triple)
        return self._rng

    @rng.setter
    def rng(self, generator: np.random.Generator) -> None:
        self._rng = generator

    @classmethod
    def seeded(
        cls, index: int, seed: int | None, sub_seed: int, sub_sub_seed: int, **fields: Any
    ) -> RolloutJob:
        """The job whose reset seed and generator come from the triple (DESIGN §4).

        ``seed=None`` gives no reset seed and a generator with fresh entropy.
        """
        if seed is None:
            return cls(index, None, **fields)
        job = cls(index, derive_seed(seed, sub_seed, sub_sub_seed), **fields)
        job._triple = (seed, sub_seed, sub_sub_seed)
        return job

    def replace(self, **changes: Any) -> RolloutJob:
        """A copy with ``changes`` (constructor arguments), as ``dataclasses.replace`` would
        make it; a job whose generator is still to be made keeps its seed triple for it.

        Example:
            >>> job = RolloutJob.seeded(3, 0, 0, 3)
            >>> moved = job.replace(index=0)
            >>> moved.index, moved.seed == job.seed
            (0, True)
        """
        fields = {
            "index": self.index,
            "seed": self.seed,
            "rng": self._rng,
            "options": self.options,
            "policy_params": self.policy_params,
            "info": self.info,
        }
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise TypeError(f"replace() got unknown fields {unknown}; fields are {list(fields)}")
        job = RolloutJob(**{**fields, **changes})
        if "rng" not in changes:
            job._triple = self._triple
        return job

    def __repr__(self) -> str:
        return (
            f"RolloutJob(index={self.index!r}, seed={self.seed!r}, options={self.options!r}, "
            f"policy_params={self.policy_params!r}, info={self.info!r})"
        )


class JobGenerators(LazyGenerators):
    """The generators of some jobs, as the ``rngs`` of ``Policy.reset_envs``, each made only
    when read (policies that draw nothing never pay for them).

    Example:
        >>> rngs = JobGenerators([RolloutJob.seeded(k, 0, 0, k) for k in range(2)])
        >>> len(rngs), type(rngs[1]).__name__
        (2, 'Generator')
    """

    def __init__(self, jobs: Sequence[RolloutJob]) -> None:
        self._jobs = jobs

    def __len__(self) -> int:
        return len(self._jobs)

    @overload
    def __getitem__(self, index: int) -> np.random.Generator: ...
    @overload
    def __getitem__(self, index: slice) -> list[np.random.Generator]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [job.rng for job in self._jobs[index]]
        return self._jobs[index].rng


class RunningRollout:
    """A rollout in progress in one sub-env of the collection loop: its job, and how it began
    (its first observation, its reset's state and info)."""

    def __init__(
        self, job: RolloutJob, obs: Any, reset_info: dict[str, Any], *, record_state: bool
    ) -> None:
        self.job = job
        self.first_obs = obs
        # The state a recording InitStateWrapper reported; else "state" is the env's own info.
        self.first_state = reset_info.pop("state", None) if record_state else None
        self.reset_info = reset_info
