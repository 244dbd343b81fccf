"""Recurrent policies through the sampler: hidden state reset per episode, recorded per step."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from gymsamp.envs import CountingEnv
from gymsamp.sampling import ParallelRolloutSampler, rollout


class Accumulator(torch.nn.Module):
    """h' = h + obs; action = 1 if h' is odd else 0: the hidden state is the running sum."""

    is_recurrent = True

    def init_hidden(self, batch_size):
        return torch.zeros(batch_size, 1)

    def forward(self, obs, hidden):
        new_hidden = hidden + obs[:, :1]
        return (new_hidden[:, 0] % 2).to(torch.int64), new_hidden


def env():
    return CountingEnv(terminate_at=4)


def expected_hidden(length):
    # Observations count 0, 1, 2, ...: the hidden state before step t is sum(0..t-1).
    return np.array([sum(range(t)) for t in range(length)], dtype=np.float32)


@pytest.mark.parametrize(("vectorization", "workers"), [("sync", 1), ("sync", 3), ("async", 2)])
def test_hidden_states_reset_per_episode_and_recorded(vectorization, workers):
    with ParallelRolloutSampler(
        env,
        Accumulator(),
        workers,
        min_rollouts=5,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    for ro in rollouts:
        hidden = ro.agent_infos["hidden_states"]
        assert hidden.shape == (4, 1)
        np.testing.assert_array_equal(hidden[:, 0], expected_hidden(4))
        # actions follow the hidden state after each step: parity of sum(0..t)
        np.testing.assert_array_equal(ro.actions, [sum(range(t + 1)) % 2 for t in range(4)])


def test_recurrent_sampling_equals_sequential_rollouts():
    with ParallelRolloutSampler(
        "gymsamp/RandomLength-v0", Accumulator(), 3, min_rollouts=4, seed=1, show_progress_bar=False
    ) as sampler:
        rollouts = sampler.sample()
    for k, ro in enumerate(rollouts):
        ref = rollout("gymsamp/RandomLength-v0", Accumulator(), seed=1, sub_sub_seed=k)
        np.testing.assert_array_equal(ro.actions, ref.actions)
        np.testing.assert_array_equal(
            ro.agent_infos["hidden_states"], ref.agent_infos["hidden_states"]
        )
        assert gym.spaces.Discrete(2).contains(int(ro.actions[0]))
