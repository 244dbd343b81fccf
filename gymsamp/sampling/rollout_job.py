"""What one rollout gets from the sampler that issues it: :class:`RolloutJob`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gymsamp.sampling.seeding import seed_and_generator

__all__ = ["RolloutJob"]


@dataclass
class RolloutJob:
    """Everything one rollout gets: its index, reset seed, options and generator.

    Args:
        index: Position ``k`` of the rollout in the collection's result.
        seed: The reset seed (None: no seed).
        rng: The rollout's own generator for policy noise.
        options: Reset options for the sub-env (``domain_param``, ``init_state``), or None.
        policy_params: A flat parameter vector for a :class:`ParametricPolicy`, or None.
        info: Extra entries for the rollout's ``rollout_info``.

    Example:
        >>> from gymsamp.sampling import derive_seed
        >>> job = RolloutJob.seeded(3, seed=0, sub_seed=1, sub_sub_seed=3)
        >>> job.seed == derive_seed(0, 1, 3), job.index
        (True, 3)
    """

    index: int
    seed: int | None
    rng: np.random.Generator
    options: dict[str, Any] | None = None
    policy_params: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def seeded(
        cls, index: int, seed: int | None, sub_seed: int, sub_sub_seed: int, **fields: Any
    ) -> RolloutJob:
        """The job whose reset seed and generator come from the triple (DESIGN §4).

        ``seed=None`` gives no reset seed and a generator with fresh entropy.
        """
        if seed is None:
            return cls(index=index, seed=None, rng=np.random.default_rng(), **fields)
        reset_seed, rng = seed_and_generator(seed, sub_seed, sub_sub_seed)
        return cls(index=index, seed=reset_seed, rng=rng, **fields)
