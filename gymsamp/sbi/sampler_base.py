"""The base of the samplers that act as ``sbi`` simulators, and how their data is embedded.

:class:`RolloutSamplerForSBI` holds what every sampler has (env, policy, embedding, how rollouts
are cut into segments); :mod:`gymsamp.sbi.samplers` and :mod:`gymsamp.sbi.target_samplers`
hold the simulated and the target-domain samplers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from gymsamp._checks import check_bool
from gymsamp.data import EnvSpec
from gymsamp.sampling.sampler import Closable
from gymsamp.sbi.embeddings import Embedding
from gymsamp.sbi.rollout_data import check_segments, data_width, state_space_of

__all__ = ["RolloutSamplerForSBI", "embed_data", "with_target_data"]


def embed_data(embedding: Embedding, data: np.ndarray) -> torch.Tensor:
    """Features of ``(B, R, T, D)`` data: ``(B, R * dim_output)`` in torch's default dtype."""
    with torch.no_grad():
        return embedding(Embedding.pack(torch.from_numpy(np.ascontiguousarray(data))))


def with_target_data(embedding: Embedding, sim: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Put the target data next to the simulated data if the embedding compares the two."""
    if not embedding.requires_target_domain_data:
        return sim
    return np.concatenate([sim, np.broadcast_to(target, sim.shape)], axis=-1)


class RolloutSamplerForSBI(Closable, ABC):
    """Base of the samplers: an env, a policy, an embedding and how rollouts are segmented.

    The features of every rollout are concatenated, so all rollouts must yield the same
    number of features (for the time-series embeddings: have equal length). Samplers are
    context managers; :meth:`close` ends any worker processes.

    Args:
        env: An env id, a factory or a ``gymnasium.Env`` instance.
        policy: Anything :func:`gymsamp.policies.as_policy` accepts.
        embedding: Turns rollout data into features.
        num_segments: Number of segments each target-domain rollout is cut into; every
            simulated segment starts from the recorded state. Give this or ``len_segments``;
            either must be at most the rollout length.
        len_segments: Length of those segments (the last one may be shorter).
        stop_on_done: True ends a rollout at the env's episode end (shorter data is
            zero-padded); False runs on to the segment's end.

    Example:
        >>> from gymsamp.sbi import sbi_env_spec
        >>> RolloutSamplerForSBI.get_dim_data(sbi_env_spec("Pendulum-v1"))  # 2 states + 1 action
        3
    """

    def __init__(
        self,
        env: Any,
        policy: Any,
        embedding: Embedding,
        num_segments: int | None = None,
        len_segments: int | None = None,
        stop_on_done: bool = True,
    ) -> None:
        if not isinstance(embedding, Embedding):
            raise TypeError(
                f"embedding must be a gymsamp.sbi.Embedding, got {type(embedding).__name__}"
            )
        check_segments(num_segments, len_segments)
        self._env = env
        self._policy = policy
        self._embedding = embedding
        self.num_segments = None if num_segments is None else int(num_segments)
        self.len_segments = None if len_segments is None else int(len_segments)
        self.stop_on_done = check_bool("stop_on_done", stop_on_done)

    @property
    def embedding(self) -> Embedding:
        """The embedding that turns rollouts into features."""
        return self._embedding

    @abstractmethod
    def __call__(self, dp_values: Any) -> Any:
        """Features for the given domain parameters (see the subclasses)."""

    @staticmethod
    def get_dim_data(spec: EnvSpec) -> int:
        """Columns of one time step of data: the states' (else the observations') entries plus
        the action's (see :func:`sbi_env_spec`)."""
        if not isinstance(spec, EnvSpec):
            raise TypeError(f"spec must be a gymsamp.data.EnvSpec, got {type(spec).__name__}")
        return data_width(state_space_of(spec)) + data_width(spec.action_space)

    def close(self) -> None:
        """Release resources (worker processes); the sampler stays usable."""
