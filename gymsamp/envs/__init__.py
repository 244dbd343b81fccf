"""Environments: domain parameters, randomization, initial states, adapters and toy envs.

Example:
    >>> import gymnasium as gym
    >>> from gymsamp.envs import DomainParamWrapper
    >>> env = DomainParamWrapper(gym.make("Pendulum-v1"))
    >>> sorted(env.nominal_domain_param)
    ['dt', 'g', 'l', 'm', 'max_speed', 'max_torque']
"""

from gymsamp.envs.adapter import (
    NativeAdapter,
    SimAdapter,
    adapter_for,
    has_adapter,
    register_adapter,
)
from gymsamp.envs.domain_params import (
    BernoulliDomainParam,
    DomainParam,
    MultivariateNormalDomainParam,
    NormalDomainParam,
    UniformDomainParam,
)
from gymsamp.envs.randomizer import DomainRandomizer, param_grid
from gymsamp.envs.registration import register_toy_envs
from gymsamp.envs.toy import CountingEnv, PointMassEnv, RandomLengthEnv
from gymsamp.envs.toy_faults import HangingEnv, RaisingEnv, ToyEnvError
from gymsamp.envs.wrappers import (
    DomainParamWrapper,
    DomainRandWrapper,
    InitStateWrapper,
    find_wrapper,
)

__all__ = [
    "BernoulliDomainParam",
    "CountingEnv",
    "DomainParam",
    "DomainParamWrapper",
    "DomainRandWrapper",
    "DomainRandomizer",
    "HangingEnv",
    "InitStateWrapper",
    "MultivariateNormalDomainParam",
    "NativeAdapter",
    "NormalDomainParam",
    "PointMassEnv",
    "RaisingEnv",
    "RandomLengthEnv",
    "SimAdapter",
    "ToyEnvError",
    "UniformDomainParam",
    "adapter_for",
    "find_wrapper",
    "has_adapter",
    "param_grid",
    "register_adapter",
    "register_toy_envs",
]
