"""Copies of env instances: as they are (EzPickle envs too), else from constructor arguments."""

from __future__ import annotations

import threading
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.ezpickle import EzPickle

from gymsamp.sampling import ParallelRolloutSampler, rollout
from gymsamp.sampling.env_copy import copy_instance, instance_payload


def edited_pendulum() -> gym.Env[Any, Any]:
    """InvertedPendulum-v5 changed after construction, as a sim-to-real user does."""
    env = gym.make("InvertedPendulum-v5", max_episode_steps=30)
    model = env.unwrapped.model
    model.body_mass[2] = 10.0  # the pole
    model.geom_friction[:, 0] *= 0.5
    model.opt.timestep = 0.015
    return env


def push(obs: np.ndarray) -> np.ndarray:
    return np.clip(-3.0 * obs[:, 1:2] - 0.5 * obs[:, 3:4], -3.0, 3.0)


def test_a_copy_keeps_the_edits_of_a_mujoco_instance():
    # EzPickle rebuilt it from its constructor arguments: the XML's masses, friction, time step.
    env = edited_pendulum()
    copy = copy_instance(instance_payload(env))
    original, copied = env.unwrapped.model, copy.unwrapped.model
    assert copied is not original
    for name in ("body_mass", "geom_friction", "body_inertia", "body_subtreemass"):
        np.testing.assert_array_equal(getattr(copied, name), getattr(original, name))
    assert copied.opt.timestep == 0.015
    assert copy.unwrapped.mujoco_renderer.model is copied  # references stay shared
    assert copy.unwrapped.mujoco_renderer.data is copy.unwrapped.data
    assert copy.spec.id == "InvertedPendulum-v5"
    copy.close()
    env.close()


@pytest.mark.parametrize(("workers", "vectorization"), [(1, "sync"), (2, "async")])
def test_samplers_run_the_edited_instance_as_rollout_does(workers, vectorization):
    env = edited_pendulum()
    expected = [rollout(env, push, seed=0, sub_sub_seed=k, no_close=True) for k in range(3)]
    with ParallelRolloutSampler(
        env, push, workers, min_rollouts=3, seed=0, vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:  # fmt: skip
        rollouts = sampler.sample()
    env.close()
    for ro, ref in zip(rollouts, expected, strict=True):
        assert ro.rollout_info["domain_param"]["pole_mass"] == 10.0
        assert ro.rollout_info["domain_param"] == ref.rollout_info["domain_param"]
        np.testing.assert_array_equal(ro.observations, ref.observations)
        np.testing.assert_array_equal(ro.actions, ref.actions)


class _HoldsALock(gym.Env[np.ndarray, int], EzPickle):
    """An EzPickle env whose state cannot be pickled (a lock): rebuilt from its arguments."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, level: float = 0.5) -> None:
        EzPickle.__init__(self, level=level)
        self.level = level
        self.lock = threading.Lock()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.array([self.level], np.float32), {}

    def step(self, action):
        return np.array([self.level], np.float32), 1.0, True, False, {}


def test_an_instance_whose_state_cannot_be_pickled_is_rebuilt_from_its_arguments():
    env = _HoldsALock(level=0.25)
    env.level = 0.75  # lost: only the constructor arguments travel
    copy = copy_instance(instance_payload(env))
    assert copy.level == 0.25
    assert copy.lock is not env.lock
    copy.close()


def _refuse_to_load() -> None:
    raise RuntimeError("this handle is valid only in the process that opened it")


class _Handle:
    """Pickles, but its copy fails to load (a handle to native state, say)."""

    def __reduce__(self):
        return _refuse_to_load, ()


class _HoldsAHandle(_HoldsALock):
    def __init__(self, level: float = 0.5) -> None:
        super().__init__(level)
        self.lock = _Handle()


def test_an_instance_whose_state_pickles_but_does_not_load_is_rebuilt_from_its_arguments():
    # Its state pickled without an error, so it was sent as it was, and every sub-env's
    # build failed on it; a copy is tried first, and the arguments used where it fails.
    env = _HoldsAHandle(level=0.25)
    env.level = 0.75  # lost: only the constructor arguments travel
    copy = copy_instance(instance_payload(env))
    assert copy.level == 0.25
    assert isinstance(copy.lock, _Handle)
    copy.close()


def test_an_instance_without_ezpickle_is_pickled_as_before():
    env = gym.make("CartPole-v1")
    env.unwrapped.length = 0.9
    copy = copy_instance(instance_payload(env))
    assert copy.unwrapped.length == 0.9
    assert copy.spec.id == "CartPole-v1"
    copy.close()
    env.close()
