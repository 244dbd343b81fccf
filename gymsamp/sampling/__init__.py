"""Sampling: seeding, the collection loop, rollout(), samplers, pools and evaluation.

Example:
    >>> from gymsamp.sampling import derive_seed
    >>> derive_seed(0, 1, 2) == derive_seed(0, 1, 2)
    True
"""

from gymsamp.sampling.collector import collect
from gymsamp.sampling.cvar_sampler import CVaRSampler, select_cvar
from gymsamp.sampling.errors import (
    NonFiniteError,
    StatesNotRecordedWarning,
    StepTimeoutError,
    WorkerError,
)
from gymsamp.sampling.parallel_evaluation import (
    eval_domain_params,
    eval_domain_params_with_segmentwise_reset,
    eval_nominal_domain,
    eval_randomized_domain,
)
from gymsamp.sampling.parallel_rollout_sampler import ParallelRolloutSampler
from gymsamp.sampling.parameter_exploration_sampler import (
    ParameterExplorationSampler,
    ParameterSample,
    ParameterSamplingResult,
)
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.rollout import RenderMode, after_rollout_query, rollout
from gymsamp.sampling.rollout_job import RolloutJob
from gymsamp.sampling.sampler import Closable, SamplerBase
from gymsamp.sampling.sampler_pool import GlobalNamespace, SamplerPool
from gymsamp.sampling.seeding import call_seed, derive_seed, rollout_generator

__all__ = [
    "CVaRSampler",
    "Closable",
    "GlobalNamespace",
    "NonFiniteError",
    "ParallelRolloutSampler",
    "ParameterExplorationSampler",
    "ParameterSample",
    "ParameterSamplingResult",
    "Quota",
    "RenderMode",
    "RolloutJob",
    "SamplerBase",
    "SamplerPool",
    "StatesNotRecordedWarning",
    "StepTimeoutError",
    "WorkerError",
    "after_rollout_query",
    "call_seed",
    "collect",
    "derive_seed",
    "eval_domain_params",
    "eval_domain_params_with_segmentwise_reset",
    "eval_nominal_domain",
    "eval_randomized_domain",
    "rollout",
    "rollout_generator",
    "select_cvar",
]
