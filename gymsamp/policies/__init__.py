"""Policies: the protocol the collection loop drives, built-in policies, and adapters.

:func:`as_policy` turns a plain callable, a ``torch.nn.Module`` (optionally recurrent) or an
SB3-style model into a :class:`Policy`. The built-in policies cover random and idle actions,
a linear policy with per-sub-env parameters, playback of recorded actions and Gaussian
exploration noise drawn from each episode's own generator. Importing this package does not
import torch or stable-baselines3.

Example:
    >>> import numpy as np
    >>> from gymnasium.spaces import Discrete
    >>> from gymsamp.policies import RandomPolicy
    >>> policy = RandomPolicy(Discrete(3))
    >>> policy.start(2, eval=True)
    >>> policy.reset_envs(np.array([0, 1]), [np.random.default_rng(0), np.random.default_rng(1)])
    >>> policy.act(np.zeros((2, 4))).actions.shape
    (2,)
"""

from gymsamp.policies.adapters import CallablePolicy, as_policy
from gymsamp.policies.base import (
    LazyGenerators,
    ParametricPolicy,
    Policy,
    PolicyStep,
    RolloutIndexedPolicy,
)
from gymsamp.policies.builtin import GaussianActionNoise, IdlePolicy, PlaybackPolicy, RandomPolicy
from gymsamp.policies.linear import LinearPolicy
from gymsamp.policies.sb3_policy import SB3Policy
from gymsamp.policies.torch_policy import TorchPolicy

__all__ = [
    "CallablePolicy",
    "GaussianActionNoise",
    "IdlePolicy",
    "LazyGenerators",
    "LinearPolicy",
    "ParametricPolicy",
    "PlaybackPolicy",
    "Policy",
    "PolicyStep",
    "RandomPolicy",
    "RolloutIndexedPolicy",
    "SB3Policy",
    "TorchPolicy",
    "as_policy",
]
