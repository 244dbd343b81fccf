"""Dict and Tuple observation spaces: rollouts keep the structure, and every array in it equals
what the same env gives flat, in every vectorization and autoreset mode, for ``rollout()``,
the samplers and each policy adapter."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from gymsamp.data import EnvSpec, StepSequence
from gymsamp.envs import CountingEnv, RandomLengthEnv
from gymsamp.policies import GaussianActionNoise, RandomPolicy, as_policy
from gymsamp.sampling import (
    ParallelRolloutSampler,
    Quota,
    RolloutJob,
    collect,
    derive_seed,
    rollout,
)
from gymsamp.sampling.vector_envs import EnvFactory, make_vector_env
from tests.helpers import assert_tree_equal


class Nested(gym.ObservationWrapper):
    """``{"obs": obs, "derived": (int(obs[0] > 0.5), 2 * obs)}``: a Dict holding a Tuple, with
    float and int (``Discrete``) arrays. With ``reuse`` the env hands out the same arrays at
    every step (Gymnasium allows it): a final observation must still be the ended episode's."""

    def __init__(self, env: gym.Env[Any, Any], reuse: bool = False) -> None:
        super().__init__(env)
        box = env.observation_space
        assert isinstance(box, gym.spaces.Box)
        doubled = gym.spaces.Box(-np.inf, np.inf, box.shape, box.dtype)
        self.observation_space = gym.spaces.Dict(
            {"obs": box, "derived": gym.spaces.Tuple((gym.spaces.Discrete(2), doubled))}
        )
        self.reuse = reuse
        self._buffers = (np.zeros(box.shape, box.dtype), np.zeros(box.shape, box.dtype))

    def observation(self, observation: Any) -> dict[str, Any]:
        flag = int(observation[0] > 0.5)
        if not self.reuse:
            return {"obs": np.array(observation), "derived": (flag, 2 * observation)}
        obs, doubled = self._buffers
        obs[:] = observation
        doubled[:] = 2 * observation
        return {"obs": obs, "derived": (flag, doubled)}


def random_length() -> gym.Env[Any, Any]:
    return RandomLengthEnv(mean_length=4)


def point_mass() -> gym.Env[Any, Any]:
    return gym.make("gymsamp/PointMass-v0", max_episode_steps=7)


def nested(make: Callable[[], gym.Env[Any, Any]], reuse: bool = True) -> gym.Env[Any, Any]:
    return Nested(make(), reuse=reuse)


def assert_nested_matches_flat(nested_ro: StepSequence, flat_ro: StepSequence) -> None:
    """Every array of the nested rollout is the flat rollout's, or derived from it."""
    observations = nested_ro.observations
    assert list(observations) == ["derived", "obs"]  # the Dict space's (sorted) order
    flat = flat_ro.observations
    assert_tree_equal(observations["obs"], flat, "observations['obs']")
    flags, doubled = observations["derived"]
    assert_tree_equal(flags, (flat[:, 0] > 0.5).astype(np.int64), "flags")
    assert_tree_equal(doubled, 2 * flat, "doubled")
    for name in ("actions", "actions_applied", "rewards", "time"):
        assert_tree_equal(nested_ro.get_data_values(name), flat_ro.get_data_values(name), name)
    np.testing.assert_array_equal(nested_ro.step_types, flat_ro.step_types)
    np.testing.assert_array_equal(nested_ro.truncated, flat_ro.truncated)
    assert_tree_equal(nested_ro.rollout_info, flat_ro.rollout_info, "rollout_info")


# -- the collection loop over every vector env and autoreset mode ---------------------------


def jobs(k: int) -> RolloutJob:
    return RolloutJob(index=k, seed=derive_seed(5, 0, k), rng=np.random.default_rng(k))


def own_vector(mode: str) -> Callable[[Callable[[], gym.Env[Any, Any]], int], gym.vector.VectorEnv]:
    """gymsamp's vector env of ``mode``; "batched+parent" steps one sub-env in this process."""
    return lambda fn, n: make_vector_env(
        EnvFactory(fn),
        n,
        mode.removesuffix("+parent"),
        num_workers=2,
        in_parent=int(mode.endswith("+parent")),
    )


def gymnasium_vector(
    cls: type, mode: AutoresetMode
) -> Callable[[Callable[[], gym.Env[Any, Any]], int], gym.vector.VectorEnv]:
    return lambda fn, n: cls([fn] * n, autoreset_mode=mode)


# Name -> (builder, whether the env reuses its arrays). Gymnasium's SyncVectorEnv in SAME_STEP
# mode keeps a reference to the final observation and then resets (bench/NOTES.md, 16): it
# needs an env that hands out fresh arrays.
VECTORS = {
    **{m: (own_vector(m), True) for m in ("sync", "async", "batched", "batched+parent")},
    **{
        f"{cls.__name__}-{mode.name}": (gymnasium_vector(cls, mode), False)
        for cls in (SyncVectorEnv, AsyncVectorEnv)
        for mode in AutoresetMode
    },
}


def run_loop(vector: gym.vector.VectorEnv, n: int) -> list[StepSequence]:
    try:
        policy = RandomPolicy(vector.single_action_space)
        return collect(vector, policy, jobs, Quota(min_rollouts=n))
    finally:
        vector.close()


@pytest.mark.parametrize("vector", list(VECTORS))
def test_the_loop_keeps_nested_observations_exact_in_every_vector_env(vector: str) -> None:
    build, reuse = VECTORS[vector]
    flat = run_loop(make_vector_env(EnvFactory(random_length), 3, "sync"), 9)
    ours = run_loop(build(functools.partial(nested, random_length, reuse), 3), 9)
    assert [ro.length for ro in ours] == [ro.length for ro in flat]
    for nested_ro, flat_ro in zip(ours, flat, strict=True):
        assert_nested_matches_flat(nested_ro, flat_ro)


@pytest.mark.parametrize("mode", list(AutoresetMode), ids=lambda m: m.name)
def test_episode_boundaries_of_nested_observations_in_every_autoreset_mode(mode) -> None:
    """The counting env's known answers: observations 0..T, the true final one included."""
    counting = functools.partial(CountingEnv, terminate_at=3, truncate_at=3)
    fn = functools.partial(nested, counting, reuse=False)
    rollouts = run_loop(SyncVectorEnv([fn] * 2, autoreset_mode=mode), 4)
    for ro in rollouts:
        assert ro.length == 3
        counts = np.arange(4, dtype=np.float32)[:, None]
        assert_tree_equal(ro.observations["obs"], counts, "counts")
        assert_tree_equal(ro.observations["derived"][1], 2 * counts, "doubled")
        assert ro.observations["derived"][0].tolist() == [0, 1, 1, 1]


# -- rollout() and the samplers, with each kind of policy -----------------------------------


def push(obs: np.ndarray) -> np.ndarray:
    """A PD controller towards x = 0 on PointMass's flat observations."""
    return np.clip(-obs[:, :1] - obs[:, 1:2], -1.0, 1.0).astype(np.float32)


def push_nested(obs: dict[str, Any]) -> np.ndarray:
    return push(obs["obs"])


def noisy(fn: Callable[[Any], np.ndarray], env: gym.Env[Any, Any]) -> Any:
    spec = EnvSpec(env.observation_space, env.action_space)
    return GaussianActionNoise(as_policy(fn, spec), std=0.3)


# (flat env, flat policy, nested policy): a random discrete policy and a noisy controller.
CASES = {
    "random": (random_length, lambda env: RandomPolicy(env.action_space), None),
    "noisy": (point_mass, lambda env: noisy(push, env), lambda env: noisy(push_nested, env)),
}


def sample(env_fn: Callable[[], gym.Env[Any, Any]], policy: Any, mode: str) -> list[StepSequence]:
    if mode == "rollout":
        return [rollout(env_fn(), policy, seed=3, sub_seed=0, sub_sub_seed=k) for k in range(6)]
    with ParallelRolloutSampler(
        env_fn, policy, 2, min_rollouts=6, seed=3, vectorization=mode, show_progress_bar=False
    ) as sampler:
        return sampler.sample()


@pytest.mark.parametrize("mode", ["rollout", "sync", "async", "batched"])
@pytest.mark.parametrize("case", list(CASES))
def test_rollouts_and_samplers_equal_the_flat_env(case: str, mode: str) -> None:
    make, flat_policy, nested_policy = CASES[case]
    make_nested = functools.partial(nested, make, reuse=mode != "rollout")
    flat = sample(make, flat_policy(make()), mode)
    ours = sample(make_nested, (nested_policy or flat_policy)(make_nested()), mode)
    assert len({ro.length for ro in ours}) > 1 or case == "noisy"  # rollouts differ
    for nested_ro, flat_ro in zip(ours, flat, strict=True):
        assert_nested_matches_flat(nested_ro, flat_ro)


def test_non_finite_nested_observations_are_named_by_their_path() -> None:
    class Broken(Nested):
        def observation(self, observation: Any) -> dict[str, Any]:
            out = super().observation(observation)
            return {**out, "derived": (out["derived"][0], np.full_like(observation, np.nan))}

    with pytest.raises(ValueError, match=r"observations\.derived\[1\] must be finite"):
        rollout(Broken(CountingEnv(terminate_at=2)), RandomPolicy(gym.spaces.Discrete(2)), seed=0)


def test_torch_modules_take_dict_observations_in_every_per_env_mode() -> None:
    """A module whose forward reads a dict of tensors gives the actions of the same module
    on the flat observation, batched, per sub-env parameters (vmap, group) and row by row."""
    import torch

    from gymsamp.policies import TorchPolicy

    class DictLinear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, obs: dict[str, Any]) -> Any:
            return self.linear(obs["obs"]) + 0.0 * obs["derived"][0][:, None]

    env = nested(point_mass)
    spec = EnvSpec(env.observation_space, env.action_space)
    flat_spec = EnvSpec(point_mass().observation_space, env.action_space)
    module = DictLinear()
    rng = np.random.default_rng(0)
    flat_obs = rng.normal(size=(4, 2)).astype(np.float32)
    batch = {"obs": flat_obs, "derived": ((flat_obs[:, 0] > 0.5).astype(np.int64), 2 * flat_obs)}
    params = rng.normal(size=(2, 3))
    rngs = [np.random.default_rng(i) for i in range(4)]
    for kwargs in ({"per_env_mode": "vmap"}, {"per_env_mode": "group"}, {"batch_invariant": True}):
        ours = TorchPolicy(module, spec, **kwargs)
        flat = TorchPolicy(module.linear, flat_spec, **kwargs)
        for policy in (ours, flat):
            policy.start(4, eval=True)
            policy.reset_envs(np.arange(4), rngs)
            policy.set_env_params(np.array([1, 3]), params)
        np.testing.assert_array_equal(ours.act(batch).actions, flat.act(flat_obs).actions)


def test_a_callable_gets_the_batch_and_its_wrong_actions_name_the_batch_size() -> None:
    env = nested(random_length)
    spec = EnvSpec(env.observation_space, env.action_space)
    seen: list[Any] = []

    def fn(obs: Any) -> np.ndarray:
        seen.append(obs)
        return np.zeros(len(obs["obs"]) + 1, dtype=np.int64)  # one action too many

    policy = as_policy(fn, spec)
    policy.start(3, eval=True)
    batch = {
        "obs": np.zeros((3, 2), np.float32),
        "derived": (np.zeros(3, np.int64), np.zeros((3, 2))),
    }
    with pytest.raises(ValueError, match=r"\(3,\)"):
        policy.act(batch)
    # The batch itself, as a read-only view (the loop records what the policy saw).
    assert seen[0].keys() == batch.keys()
    assert np.shares_memory(seen[0]["obs"], batch["obs"])
    assert np.shares_memory(seen[0]["derived"][1], batch["derived"][1])
    assert not seen[0]["obs"].flags.writeable
