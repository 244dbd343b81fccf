"""A user's script, as README.md, docs/ and DESIGN §1 show the API: tests/test_typing.py runs
``mypy --strict`` on it and reads what each ``reveal_type`` shows.

Not a test module and never run: the code lives in functions nobody calls, so that importing
this file (pytest's doctest collection does) runs nothing. Correct calls carry no ``type:
ignore``; the wrong calls in :func:`wrong_calls` each carry one, which ``--strict``
(``warn_unused_ignores``) turns into an error should a signature stop refusing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from gymsamp import (
    CVaRSampler,
    EpisodeBatch,
    ParallelRolloutSampler,
    ParameterExplorationSampler,
    StepSequence,
    StepType,
    TimeStepBatch,
    bootstrap_ci,
    rollout,
)
from gymsamp.data import EnvSpec, to_format
from gymsamp.envs import DomainRandomizer, DomainRandWrapper, UniformDomainParam
from gymsamp.envs.adapters import MujocoAdapter
from gymsamp.policies import LinearPolicy
from gymsamp.sampling import GlobalNamespace, SamplerPool, eval_nominal_domain

if TYPE_CHECKING:
    from typing_extensions import reveal_type


def lean(obs: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """CartPole: push towards the side the pole leans to."""
    return (obs[:, 2] > 0).astype(np.int64)


def randomized_cartpole() -> gym.Env[npt.NDArray[np.float32], np.int64]:
    randomizer = DomainRandomizer(UniformDomainParam("length", mean=0.8, halfspan=0.6))
    return DomainRandWrapper(gym.make("CartPole-v1"), randomizer)


def work(G: GlobalNamespace, x: int) -> float:
    return float(x) * G.rng.random()


def sampling() -> None:
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    with ParallelRolloutSampler("CartPole-v1", lean, num_workers=2, min_rollouts=4) as sampler:
        reveal_type(sampler)  # R sampler
        rollouts = sampler.sample()
        reveal_type(rollouts)  # R sample
    length: Mapping[str, float] = {"length": 0.3}
    with ParallelRolloutSampler(randomized_cartpole, net, 2, min_steps=100, seed=0) as sampler:
        sampler.sample(init_states=np.zeros((2, 4)), domain_params=[length, {"length": 1.0}])
        sampler.sample(init_states=[np.array([0.0, 0.0, 0.05, 0.0])], eval=True)
    with ParallelRolloutSampler(
        lambda: gym.make("CartPole-v1"), lambda obs: (obs[:, 2] > 0).astype(int), 2
    ) as sampler:
        sampler.sample()
    eval_nominal_domain(2, gym.make("CartPole-v1"), lean, [np.zeros(4), [0.0, 0.0, 0.1, 0.0]])

    ro = rollout("CartPole-v1", lean, seed=0, sub_seed=0, sub_sub_seed=0)
    reveal_type(ro)  # R rollout
    reveal_type(ro.length)  # R length
    reveal_type(ro.step_types)  # R step_types
    reveal_type(ro[0])  # R step
    reveal_type(ro[1:3])  # R slice
    reveal_type(ro.undiscounted_return())  # R return
    reveal_type(StepType(int(ro.step_types[-1])))  # R step_type

    batch = EpisodeBatch.from_step_sequences(rollouts, sampler.env_spec)
    reveal_type(batch)  # R episode_batch
    reveal_type(TimeStepBatch.from_episode_batch(batch))  # R time_step_batch
    reveal_type(StepSequence.concat(rollouts))  # R concat

    inner = ParallelRolloutSampler(randomized_cartpole, lean, num_workers=2, seed=0)
    with CVaRSampler(inner, epsilon=0.2, min_rollouts=5) as cvar:
        reveal_type(cvar.sample())  # R cvar

    returns = np.array([r.undiscounted_return() for r in rollouts])
    reveal_type(bootstrap_ci(returns, np.mean, 1000, 0.05, 2, seed=0))  # R bootstrap

    policy = LinearPolicy(EnvSpec.from_env(gym.make("gymsamp/PointMass-v0")))
    with ParameterExplorationSampler("gymsamp/PointMass-v0", policy, 4, 1, 2, seed=0) as pes:
        result = pes.sample(np.zeros((2, 3)), init_states=[None, np.zeros(2)])
        reveal_type(result)  # R pes
        reveal_type(result[0])  # R pes_item
        reveal_type(result.mean_returns())  # R mean_returns

    with SamplerPool(2) as pool:
        reveal_type(pool.run_map(work, [1, 2, 3]))  # R run_map

    reveal_type(to_format(returns, "torch"))  # R to_torch
    reveal_type(MujocoAdapter)  # R lazy_adapter


def wrong_calls() -> None:
    ParallelRolloutSampler("CartPole-v1", lean, num_workers="2")  # type: ignore[arg-type]
    ParallelRolloutSampler("CartPole-v1", lean, 2, min_rollouts="3")  # type: ignore[arg-type]
    ParallelRolloutSampler(42, lean, 2)  # type: ignore[arg-type]
    rollout("CartPole-v1", lean, max_steps="10")  # type: ignore[arg-type]
    with ParallelRolloutSampler("CartPole-v1", lean, 2) as sampler:
        sampler.sample(domain_params={"length": 0.5})  # type: ignore[arg-type]
