"""Target-domain samplers: :class:`RealRolloutSamplerForSBI` runs one rollout in a target env
and embeds it; :class:`RecRolloutSamplerForSBI` cycles through rollouts saved with
:func:`gymsamp.data.io.save_rollouts`. Their features are the observations ``x_o`` for ``sbi``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gymsamp._checks import check_bool
from gymsamp.data import StepSequence
from gymsamp.data.io import load_rollouts
from gymsamp.sampling import rollout
from gymsamp.sampling.seeding import check_seed
from gymsamp.sampling.vector_envs import env_id_of
from gymsamp.sbi.embeddings import Embedding
from gymsamp.sbi.rollout_data import rollout_series
from gymsamp.sbi.sampler_base import RolloutSamplerForSBI, embed_data, with_target_data

# How many distinct rollout lengths a refusal of unequal ones lists.
_LISTED = 5

__all__ = ["RealRolloutSamplerForSBI", "RecRolloutSamplerForSBI"]


def target_features(embedding: Embedding, ro: StepSequence, what: str) -> torch.Tensor:
    """The ``(1, dim_output)`` features of one target-domain rollout."""
    data = rollout_series(ro, embedding.spec, what)[None, None]
    # Compared with itself where the embedding needs target data (as pyrado did).
    return embed_data(embedding, with_target_data(embedding, data, data))


class RealRolloutSamplerForSBI(RolloutSamplerForSBI):
    """Runs one rollout in the target-domain env per call and embeds it.

    ``sampler()`` returns ``(features of shape (1, dim_output), the rollout)``. The env is
    stepped as it is (a real device, or a sim-to-sim stand-in, possibly domain-randomized);
    call ``k`` (0-based) resets with the seed triple ``(seed, 0, k)``.

    Args:
        env: The target env (an id, a factory or an instance, which is stepped itself).
        policy: Anything :func:`gymsamp.policies.as_policy` accepts.
        embedding: The embedding.
        num_segments: See :class:`RolloutSamplerForSBI` (used by the simulator side).
        len_segments: See :class:`RolloutSamplerForSBI`.
        stop_on_done: False runs on past the env's episode end until its time limit.
        seed: Base seed; None resets without a seed.

    Example:
        >>> from gymsamp.policies import IdlePolicy
        >>> from gymsamp.sbi import LastStepEmbedding, sbi_env_spec
        >>> spec = sbi_env_spec("Pendulum-v1")
        >>> emb = LastStepEmbedding(spec, RolloutSamplerForSBI.get_dim_data(spec))
        >>> real = RealRolloutSamplerForSBI("Pendulum-v1", IdlePolicy(spec.action_space), emb,
        ...                                 num_segments=1, seed=0)
        >>> x, ro = real()
        >>> x.shape, ro.length
        (torch.Size([1, 2]), 200)
    """

    def __init__(
        self,
        env: Any,
        policy: Any,
        embedding: Embedding,
        num_segments: int | None = None,
        len_segments: int | None = None,
        stop_on_done: bool = True,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(env, policy, embedding, num_segments, len_segments, stop_on_done)
        if env is None or policy is None:
            raise TypeError("env and policy must be given, got None")
        self.seed = check_seed(seed)
        self._num_calls = 0

    def __call__(self, dp_values: Any = None) -> tuple[torch.Tensor, StepSequence]:
        """Run one target-domain rollout; ``dp_values`` is ignored (the sbi interface)."""
        ro = rollout(
            self._env,
            self._policy,
            eval=True,
            stop_on_done=self.stop_on_done,
            no_close=True,
            seed=self.seed,
            sub_seed=0,
            sub_sub_seed=self._num_calls,
        )
        self._num_calls += 1
        return target_features(self._embedding, ro, "the target-domain rollout"), ro

    def __repr__(self) -> str:
        return (
            f"RealRolloutSamplerForSBI(env={env_id_of(self._env)!r}, "
            f"embedding={type(self._embedding).__name__}, seed={self.seed}, "
            f"calls={self._num_calls})"
        )


class RecRolloutSamplerForSBI(RealRolloutSamplerForSBI):
    """Yields pre-recorded target-domain rollouts in turn, embedded.

    Reads every ``*.npz`` file in ``rollouts_dir`` (not its subdirectories, in name order)
    with :func:`gymsamp.data.io.load_rollouts` (never pickle); a file may hold several
    rollouts. All rollouts must have the same length and the states (or observations) and
    actions the embedding's spec describes: a file where one does not is named at
    construction (``ValueError``). Each call returns the features of the
    current rollout (shape ``(1, dim_output)``) and the rollout, and moves to the next one,
    cycling.

    Args:
        rollouts_dir: The directory of the recordings.
        embedding: The embedding.
        num_segments: See :class:`RolloutSamplerForSBI`.
        len_segments: See :class:`RolloutSamplerForSBI`.
        rand_init_rollout: Start at a random rollout (drawn from ``seed``) instead of the first.
        seed: Seed of that draw; None: fresh entropy.

    Example:
        >>> import tempfile, pathlib
        >>> from gymsamp.data.io import save_rollouts
        >>> from gymsamp.policies import IdlePolicy
        >>> from gymsamp.sbi import LastStepEmbedding, sbi_env_spec
        >>> spec = sbi_env_spec("Pendulum-v1")
        >>> ros = [rollout("Pendulum-v1", IdlePolicy(spec.action_space), seed=s, max_steps=5)
        ...        for s in range(2)]
        >>> with tempfile.TemporaryDirectory() as name:
        ...     folder = pathlib.Path(name)
        ...     _ = save_rollouts(folder / "rollouts.npz", ros)
        ...     rec = RecRolloutSamplerForSBI(folder, LastStepEmbedding(spec, 3), num_segments=1,
        ...                                   rand_init_rollout=False)
        >>> rec.num_rollouts, rec()[1].rollout_info["seed"] == ros[0].rollout_info["seed"]
        (2, True)
        >>> rec.ring_idx
        1
    """

    def __init__(
        self,
        rollouts_dir: str | os.PathLike[str],
        embedding: Embedding,
        num_segments: int | None = None,
        len_segments: int | None = None,
        rand_init_rollout: bool = True,
        *,
        seed: int | None = None,
    ) -> None:
        RolloutSamplerForSBI.__init__(self, None, None, embedding, num_segments, len_segments)
        rand_init_rollout = check_bool("rand_init_rollout", rand_init_rollout)
        if not isinstance(rollouts_dir, (str, os.PathLike)):
            raise TypeError(
                f"rollouts_dir must be a path to a directory, got {type(rollouts_dir).__name__}"
            )
        folder = Path(rollouts_dir)
        if not folder.is_dir():
            raise ValueError(f"rollouts_dir must be an existing directory, got {str(folder)!r}")
        self.rollouts_dir = str(folder)
        rollouts: list[StepSequence] = []
        origins: list[str] = []
        for path in sorted(p for p in folder.iterdir() if p.suffix == ".npz" and p.is_file()):
            for ro in load_rollouts(path):
                if not ro.continuous:  # failed at its call: "rollout_count needs a continuous..."
                    raise ValueError(
                        f"rollouts_dir {str(folder)!r} must hold recorded rollouts, but "
                        f"{path.name} holds a non-continuous batch (e.g. from "
                        "split_shuffled_batches), whose steps are no time series"
                    )
                for part in ro.iterate_rollouts():
                    rollouts.append(part)
                    origins.append(path.name)
        if not rollouts:
            raise ValueError(
                f"rollouts_dir {self.rollouts_dir!r} holds no rollouts (no .npz file saved "
                "with gymsamp.data.io.save_rollouts)"
            )
        lengths = [ro.length for ro in rollouts]
        if len(set(lengths)) != 1:
            # One entry per length (not per rollout: a folder may hold thousands), the
            # most common first, at most _LISTED of them.
            first_in = {n: o for n, o in reversed(list(zip(lengths, origins, strict=True)))}
            counts = Counter(lengths).most_common()
            listing = ", ".join(
                f"{n} ({count}x, first in {first_in[n]})" for n, count in counts[:_LISTED]
            )
            if len(counts) > _LISTED:
                listing += f" and {len(counts) - _LISTED} other lengths"
            raise ValueError(
                f"rollouts_dir {self.rollouts_dir!r} must hold rollouts of equal length (their "
                f"features are compared), got lengths {listing}"
            )
        for ro, origin in zip(rollouts, origins, strict=True):
            # Now, not at the call that reaches it: a folder of another env's recordings
            # would otherwise fail only once the ring comes round to it, during inference.
            rollout_series(ro, self._embedding.spec, f"a rollout in {str(folder / origin)!r}")
        self.rollouts_rec = rollouts
        self.seed = check_seed(seed)
        start = np.random.default_rng(self.seed).integers(len(rollouts)) if rand_init_rollout else 0
        self._ring_idx = int(start)

    @property
    def num_rollouts(self) -> int:
        """Number of stored rollouts."""
        return len(self.rollouts_rec)

    @property
    def ring_idx(self) -> int:
        """Index of the rollout the next call returns."""
        return self._ring_idx

    @ring_idx.setter
    def ring_idx(self, idx: int) -> None:
        if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)):
            raise TypeError(f"ring_idx must be an int, got {idx!r}")
        if not 0 <= idx < self.num_rollouts:
            raise ValueError(f"ring_idx must be in [0, {self.num_rollouts}), got {idx}")
        self._ring_idx = int(idx)

    def __call__(self, dp_values: Any = None) -> tuple[torch.Tensor, StepSequence]:
        """The next recorded rollout's features and the rollout; ``dp_values`` is ignored."""
        ro = self.rollouts_rec[self._ring_idx]
        self._ring_idx = (self._ring_idx + 1) % self.num_rollouts
        return target_features(self._embedding, ro, f"the rollout from {self.rollouts_dir}"), ro

    def __repr__(self) -> str:
        return (
            f"RecRolloutSamplerForSBI(rollouts_dir={self.rollouts_dir!r}, "
            f"num_rollouts={self.num_rollouts}, embedding={type(self._embedding).__name__}, "
            f"ring_idx={self._ring_idx})"
        )
