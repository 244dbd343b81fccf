"""A sub-env whose build hangs in its worker process is bounded like a hanging step: the vector
envs' ``build_timeout``, and the sampler's ``step_timeout`` (given at least
``MIN_BUILD_TIMEOUT_S``)."""

from __future__ import annotations

import multiprocessing
import os
import time
from functools import partial
from typing import Any

import gymnasium as gym
import pytest
from gymnasium.vector import AutoresetMode

from gymsamp.envs import CountingEnv
from gymsamp.policies import IdlePolicy
from gymsamp.sampling import ParallelRolloutSampler, StepTimeoutError, local_backend
from gymsamp.sampling.async_vector_env import _AsyncVectorEnv
from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv
from gymsamp.sampling.errors import LateSubEnvsError


class HangsInWorkers:
    """Builds a CountingEnv in this process; in a worker process, the builds of the sub-envs
    in ``hanging`` sleep for an hour (a simulator waiting for a license, a lock, a device)."""

    def __init__(self, index: int, hanging: set[int]) -> None:
        self.index, self.hanging, self.parent = index, hanging, os.getpid()

    def __call__(self) -> gym.Env[Any, Any]:
        if os.getpid() != self.parent and self.index in self.hanging:
            time.sleep(3600)
        return CountingEnv()


def children() -> int:
    return len([p for p in multiprocessing.active_children() if p.is_alive()])


@pytest.mark.parametrize("kind", ["async", "batched"])
def test_a_hanging_build_raises_naming_the_sub_envs_and_ends_every_worker(kind):
    before = children()
    fns = [HangsInWorkers(i, hanging={1, 2}) for i in range(4)]
    start = time.monotonic()
    build: Any = (
        partial(_AsyncVectorEnv, autoreset_mode=AutoresetMode.DISABLED)
        if kind == "async"
        else partial(BatchedAsyncVectorEnv, num_workers=2)  # the hanging builds: both workers
    )
    with pytest.raises(LateSubEnvsError) as info:
        build(fns, build_timeout=1.0)
    assert time.monotonic() - start < 30
    if kind == "async":
        assert info.value.env_indices == [1, 2]
        assert str(info.value) == "sub-envs 1, 2 did not finish their build within 1.0 s"
    else:  # a hanging worker's whole block
        assert info.value.env_indices == [0, 1, 2, 3]
        assert str(info.value) == "sub-envs 0, 1, 2, 3 did not finish their build within 1.0 s"
    assert children() == before


@pytest.mark.parametrize("kind", ["async", "batched"])
def test_builds_within_the_timeout_work(kind):
    fns = [HangsInWorkers(i, hanging=set()) for i in range(2)]
    if kind == "async":
        envs: Any = _AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.DISABLED, build_timeout=30)
    else:
        envs = BatchedAsyncVectorEnv(fns, 2, build_timeout=30)
    try:
        obs, _ = envs.reset(seed=0)
        assert obs.tolist() == [[0.0], [0.0]]
        envs.step(envs.action_space.sample())  # the deadline is gone after the build
    finally:
        envs.close()


@pytest.mark.parametrize("build_timeout", [0, -1.0, float("nan"), "10"])
def test_bad_build_timeouts_are_named(build_timeout):
    fns = [HangsInWorkers(0, hanging=set())]
    error = TypeError if isinstance(build_timeout, str) else ValueError
    with pytest.raises(error, match="build_timeout"):
        BatchedAsyncVectorEnv(fns, 1, build_timeout=build_timeout)
    with pytest.raises(error, match="build_timeout"):
        _AsyncVectorEnv(fns, build_timeout=build_timeout)


@pytest.mark.parametrize("mode", ["async", "batched"])
def test_the_sampler_bounds_a_hanging_build_by_its_step_timeout(monkeypatch, mode):
    monkeypatch.setattr(local_backend, "MIN_BUILD_TIMEOUT_S", 1.5)
    env = HangsInWorkers(0, hanging={0})  # every sub-env is built by this factory
    before = children()
    with ParallelRolloutSampler(
        env,
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=2,
        max_steps=5,
        vectorization=mode,
        step_timeout=0.5,
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(StepTimeoutError) as info:
            sampler.sample()
        assert children() == before
    assert str(info.value) == (
        "sub-envs 0, 1 did not finish their build within 1.5 s (the longer of "
        "step_timeout=0.5 s and 1.5 s, for a worker's start)"
    )
    assert info.value.lost_env_indices == (0, 1)
