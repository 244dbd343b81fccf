"""Torch and SB3 policies on a CUDA device (DESIGN §4, §5).

A module on the GPU takes its observations there and gives its actions back as numpy arrays;
the determinism contract holds as on the CPU: a sampler built with ``seed=s`` returns in call
``c`` exactly the rollouts of ``rollout(env, policy, seed=s, sub_seed=c, sub_sub_seed=k)``, bit
for bit, whatever the vectorization (the worker processes, forked from a process that holds a
CUDA context, never touch the GPU). Parameter exploration sets the per-env parameters on the
module's device.

Skipped without a CUDA device (CI has none); on a GPU machine:
``python -m pytest tests/sampling/test_cuda.py``.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from gymsamp.data import EnvSpec
from gymsamp.policies import GaussianActionNoise, SB3Policy, TorchPolicy
from gymsamp.sampling import ParallelRolloutSampler, ParameterExplorationSampler, rollout
from tests.sampling.test_properties_models import MLP, Recurrent, ScaledDropout, first_difference

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (CI machines have none)"
)

CUDA = torch.device("cuda")


def spec_of(env_id: str) -> EnvSpec:
    with contextlib.closing(gym.make(env_id)) as env:
        return EnvSpec.from_env(env)


PENDULUM = spec_of("Pendulum-v1")


def started(policy: Any, num_envs: int, *, eval: bool) -> Any:
    policy.start(num_envs, eval=eval)
    policy.reset_envs(np.arange(num_envs), [np.random.default_rng(i) for i in range(num_envs)])
    return policy


def test_a_module_on_the_gpu_acts_like_its_cpu_copy() -> None:
    net = MLP(PENDULUM, [32, 32], "tanh", torch.float32, seed=0)
    observations = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    cpu = started(TorchPolicy(copy.deepcopy(net), PENDULUM), 5, eval=True)
    gpu = started(TorchPolicy(net.to(CUDA), PENDULUM), 5, eval=True)
    assert gpu.device.type == "cuda"
    expected = cpu.act(observations).actions
    actions = gpu.act(observations).actions
    assert isinstance(actions, np.ndarray)
    assert actions.dtype == expected.dtype == np.float32
    assert actions.shape == (5, 1)
    np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-5)
    # Reading and writing the flat parameter vector crosses devices both ways.
    values = gpu.param_values
    np.testing.assert_array_equal(values, cpu.param_values)
    gpu.param_values = np.zeros_like(values)
    assert next(net.parameters()).device.type == "cuda"
    np.testing.assert_array_equal(gpu.act(observations).actions, 0.0)


def test_a_bfloat16_module_on_the_gpu_acts_like_its_cpu_copy() -> None:
    net = MLP(PENDULUM, [8], "relu", torch.bfloat16, seed=1)
    observations = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    expected = started(TorchPolicy(copy.deepcopy(net), PENDULUM), 4, eval=True)
    actions = started(TorchPolicy(net.to(CUDA), PENDULUM), 4, eval=True).act(observations)
    np.testing.assert_allclose(
        actions.actions, expected.act(observations).actions, rtol=2e-2, atol=2e-2
    )


def mlp_on_gpu(**options: Any) -> TorchPolicy:
    return TorchPolicy(
        MLP(PENDULUM, [16, 16], "tanh", torch.float32, seed=3).to(CUDA), PENDULUM, **options
    )


def dropout_on_gpu(**options: Any) -> TorchPolicy:
    # Draws from torch's CUDA generator in train mode: each rollout's own seeded fork.
    return TorchPolicy(ScaledDropout().to(CUDA), PENDULUM, **options)


def gru_on_gpu(**options: Any) -> TorchPolicy:
    return TorchPolicy(
        Recurrent(PENDULUM, "gru", 8, torch.float32, seed=4).to(CUDA), PENDULUM, **options
    )


def noisy_mlp_on_gpu(**options: Any) -> GaussianActionNoise:
    return GaussianActionNoise(mlp_on_gpu(**options), std=0.3)


POLICIES = {
    "mlp": mlp_on_gpu,
    "dropout": dropout_on_gpu,
    "gru": gru_on_gpu,
    "noise": noisy_mlp_on_gpu,
}


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
@pytest.mark.parametrize("kind", list(POLICIES))
def test_sample_equals_the_sequential_rollouts_on_the_gpu(kind: str, vectorization: str) -> None:
    make_policy = POLICIES[kind]
    with ParallelRolloutSampler(
        "Pendulum-v1",
        make_policy(),
        3,
        min_rollouts=5,
        max_steps=30,
        seed=7,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        sampler.sample()
        got = sampler.sample()  # call 1
        again = sampler.sample()
    policy = make_policy()
    want = [
        rollout("Pendulum-v1", policy, max_steps=30, seed=7, sub_seed=1, sub_sub_seed=k)
        for k in range(len(got))
    ]
    assert first_difference(got, want) is None
    assert len(got) == 5
    assert not np.array_equal(got[0].observations, got[1].observations)
    assert first_difference(again, want) is not None  # call 2 draws afresh
    if kind == "gru":  # hidden states come back as numpy arrays, reset at every episode
        hidden = np.asarray(got[0].agent_infos["hidden_states"])
        assert hidden.shape[0] == got[0].length
        np.testing.assert_array_equal(hidden[0], 0.0)


def test_an_sb3_model_on_the_gpu_samples_the_sequential_rollouts() -> None:
    import stable_baselines3 as sb3

    with contextlib.closing(gym.make("Pendulum-v1")) as env:
        model = sb3.PPO("MlpPolicy", env, n_steps=16, batch_size=16, device="cuda", seed=0)
    assert model.device.type == "cuda"
    for eval in (False, True):
        with ParallelRolloutSampler(
            "Pendulum-v1",
            SB3Policy(model, PENDULUM),
            2,
            min_rollouts=3,
            max_steps=25,
            seed=0,
            vectorization="async",
            show_progress_bar=False,
        ) as sampler:
            got = sampler.sample(eval=eval)
        want = [
            rollout(
                "Pendulum-v1",
                SB3Policy(model, PENDULUM),
                eval=eval,
                max_steps=25,
                seed=0,
                sub_sub_seed=k,
            )
            for k in range(len(got))
        ]
        assert first_difference(got, want) is None


def test_parameter_exploration_on_the_gpu_is_the_same_for_any_worker_count() -> None:
    net = MLP(PENDULUM, [8], "tanh", torch.float32, seed=5).to(CUDA)
    num_params = sum(p.numel() for p in net.parameters())
    params = np.random.default_rng(0).normal(size=(3, num_params)).astype(np.float32)
    actions = {}
    for num_workers in (1, 2):
        with ParameterExplorationSampler(
            "Pendulum-v1", TorchPolicy(net, PENDULUM), 2, 1, num_workers, seed=0, max_steps=15
        ) as sampler:
            result = sampler.sample(params)
        actions[num_workers] = [ro.actions for sample in result for ro in sample.rollouts]
        assert len(actions[num_workers]) == 6
    for one, two in zip(actions[1], actions[2], strict=True):
        np.testing.assert_array_equal(one, two)
    assert next(net.parameters()).device.type == "cuda"
    # Parameter set 0 on its first (domain, init state) pair is a plain rollout with those
    # parameters: the same actions up to the GPU's rounding of a batch against one row.
    policy = TorchPolicy(copy.deepcopy(net), PENDULUM)
    policy.param_values = params[0]
    ro = rollout("Pendulum-v1", policy, seed=0, max_steps=15, eval=True)
    np.testing.assert_allclose(ro.actions, actions[1][0], rtol=1e-5, atol=1e-5)
