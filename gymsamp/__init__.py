"""gymsamp: reproducible, boundary-exact rollout sampling for Gymnasium vector environments.

The headline names are importable from here; everything else lives in the subpackages
``gymsamp.data``, ``gymsamp.envs``, ``gymsamp.policies``, ``gymsamp.sampling``, ``gymsamp.stats``
and ``gymsamp.sbi``. Importing gymsamp stays light: torch, sbi, ray, matplotlib and pandas are
imported only by the code that needs them.

Example:
    >>> import gymsamp
    >>> gymsamp.StepType.TIMEOUT
    <StepType.TIMEOUT: 3>
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # What a type checker sees (the lazy table below is opaque to it: every name would be Any).
    # The `X as X` form re-exports each name under mypy --strict (no_implicit_reexport);
    # tests/test_typing.py checks that these imports and _HEADLINE name the same things.
    # `rollout` comes from its own module: mypy read `gymsamp.sampling.rollout` here as the
    # submodule of that name, not the function the package exports.
    from gymsamp.data import EpisodeBatch as EpisodeBatch
    from gymsamp.data import StepSequence as StepSequence
    from gymsamp.data import StepType as StepType
    from gymsamp.data import TimeStepBatch as TimeStepBatch
    from gymsamp.sampling import CVaRSampler as CVaRSampler
    from gymsamp.sampling import ParallelRolloutSampler as ParallelRolloutSampler
    from gymsamp.sampling import ParameterExplorationSampler as ParameterExplorationSampler
    from gymsamp.sampling.rollout import rollout as rollout
    from gymsamp.stats import bootstrap_ci as bootstrap_ci

__version__ = "0.1.0"

# Headline name -> module that defines it, imported on first access.
_HEADLINE = {
    "rollout": "gymsamp.sampling",
    "ParallelRolloutSampler": "gymsamp.sampling",
    "CVaRSampler": "gymsamp.sampling",
    "ParameterExplorationSampler": "gymsamp.sampling",
    "StepType": "gymsamp.data",
    "StepSequence": "gymsamp.data",
    "EpisodeBatch": "gymsamp.data",
    "TimeStepBatch": "gymsamp.data",
    "bootstrap_ci": "gymsamp.stats",
}

__all__ = ["__version__", *_HEADLINE]

# Registering the toy ids (gymsamp/Counting-v0, ...) imports nothing heavy.
from gymsamp._registration import register_toy_envs as _register_toy_envs  # noqa: E402

_register_toy_envs()


def __getattr__(name: str) -> Any:
    if name in _HEADLINE:
        value = getattr(importlib.import_module(_HEADLINE[name]), name)
        globals()[name] = value  # cache: later lookups skip this hook
        return value
    raise AttributeError(f"module 'gymsamp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HEADLINE))
