"""Envs written like third-party code, whose reset reads ``options`` loosely: every
vectorization must hand them what ``rollout()`` hands them (DESIGN §4)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.sampling import ParallelRolloutSampler, rollout
from tests.helpers import assert_sequences_equal


class OptionsStartEnv(gym.Env[np.ndarray, np.ndarray]):
    """Starts where ``options`` says when it gets a dict (``x0``, default 0), at a seeded
    random point when it gets None, as many hand-written envs read ``options``; three steps."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        super().reset(seed=seed)
        if options is not None:
            self.x = float(options.get("x0", 0.0))
        else:
            self.x = float(self.np_random.uniform(-1.0, 1.0))
        self.t = 0
        return np.array([self.x]), {"got_options": options is not None}

    def step(self, action: Any) -> Any:
        self.t += 1
        self.x += float(action[0])
        return np.array([self.x]), self.x, self.t >= 3, False, {}


def policy(obs: np.ndarray) -> np.ndarray:
    return np.full((len(obs), 1), 0.25, dtype=np.float32)


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_a_reset_without_options_hands_the_env_none_in_every_mode(vectorization: str) -> None:
    # Worker-process modes reset their first sub-envs with a masked vector reset, whose
    # options dict is empty once the mask is taken out: it must reach the env as None, as in
    # rollout() and sync mode, or an env that reads a dict as "start here" starts elsewhere.
    expected = [rollout(OptionsStartEnv(), policy, seed=0, sub_sub_seed=k) for k in range(3)]
    assert all(ro.observations[0, 0] != 0.0 for ro in expected)  # the seeded random starts
    with ParallelRolloutSampler(
        OptionsStartEnv,
        policy,
        num_workers=2,
        min_rollouts=3,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        got = sampler.sample()
    assert len(got) == 3
    for a, b in zip(got, expected, strict=True):
        assert_sequences_equal(a, b)
        assert a.rollout_info.get("got_options") is not True
