"""Simulation-based inference: rollout embeddings and rollout samplers that act as ``sbi``
simulators (BayesSim, Neural Posterior Domain Randomization).

The embeddings and samplers need torch; ``dtw-python`` (GPL-3.0-or-later, the ``sbi`` extra)
is imported only when a :class:`DynamicTimeWarpingEmbedding` is built, and the ``sbi`` package
only by the code that trains posteriors (see ``examples/sbi_pendulum.py``). Names are loaded
on first access, so the simulator's worker processes, which import only the torch-free
modules, start quickly.

Example:
    >>> from gymsamp.sbi import BayesSimEmbedding, RolloutSamplerForSBI, sbi_env_spec
    >>> spec = sbi_env_spec("Pendulum-v1")  # states (theta, theta_dot), 1 torque
    >>> emb = BayesSimEmbedding(spec, RolloutSamplerForSBI.get_dim_data(spec))
    >>> emb.dim_output  # A*S + 2*S
    6
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gymsamp.sbi.dtw_embedding import DynamicTimeWarpingEmbedding
    from gymsamp.sbi.embeddings import (
        AllStepsEmbedding,
        BayesSimEmbedding,
        DeltaStepsEmbedding,
        Embedding,
        LastStepEmbedding,
    )
    from gymsamp.sbi.rnn_embedding import RNNEmbedding
    from gymsamp.sbi.rollout_data import sbi_env_spec
    from gymsamp.sbi.sampler_base import RolloutSamplerForSBI
    from gymsamp.sbi.samplers import SimRolloutSamplerForSBI
    from gymsamp.sbi.target_samplers import RealRolloutSamplerForSBI, RecRolloutSamplerForSBI

# Public name -> module that defines it, imported on first access.
_NAMES = {
    "AllStepsEmbedding": "gymsamp.sbi.embeddings",
    "BayesSimEmbedding": "gymsamp.sbi.embeddings",
    "DeltaStepsEmbedding": "gymsamp.sbi.embeddings",
    "DynamicTimeWarpingEmbedding": "gymsamp.sbi.dtw_embedding",
    "Embedding": "gymsamp.sbi.embeddings",
    "LastStepEmbedding": "gymsamp.sbi.embeddings",
    "RNNEmbedding": "gymsamp.sbi.rnn_embedding",
    "RealRolloutSamplerForSBI": "gymsamp.sbi.target_samplers",
    "RecRolloutSamplerForSBI": "gymsamp.sbi.target_samplers",
    "RolloutSamplerForSBI": "gymsamp.sbi.sampler_base",
    "SimRolloutSamplerForSBI": "gymsamp.sbi.samplers",
    "sbi_env_spec": "gymsamp.sbi.rollout_data",
}

__all__ = [
    "AllStepsEmbedding",
    "BayesSimEmbedding",
    "DeltaStepsEmbedding",
    "DynamicTimeWarpingEmbedding",
    "Embedding",
    "LastStepEmbedding",
    "RNNEmbedding",
    "RealRolloutSamplerForSBI",
    "RecRolloutSamplerForSBI",
    "RolloutSamplerForSBI",
    "SimRolloutSamplerForSBI",
    "sbi_env_spec",
]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value  # cache: later lookups skip this hook
        return value
    raise AttributeError(f"module 'gymsamp.sbi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
