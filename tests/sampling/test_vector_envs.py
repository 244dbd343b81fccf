"""What the samplers build their sub-envs from: env factories, their names, and vector envs."""

from __future__ import annotations

import gymnasium as gym
import pytest

from gymsamp.envs import CountingEnv
from gymsamp.policies import IdlePolicy
from gymsamp.sampling import ParallelRolloutSampler, rollout
from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv
from gymsamp.sampling.vector_envs import EnvFactory, env_id_of, make_vector_env

IDLE = IdlePolicy(gym.spaces.Discrete(2))


def counting_env() -> CountingEnv:
    return CountingEnv(terminate_at=2)


def test_an_env_factory_is_named_as_what_it_was_built_from():
    assert env_id_of(EnvFactory("CartPole-v1", max_episode_steps=5)) == "CartPole-v1"
    assert env_id_of(EnvFactory(counting_env)) == "counting_env"
    assert env_id_of(EnvFactory(EnvFactory(gym.make("CartPole-v1")))) == "CartPole-v1"


def test_an_env_factory_repr_says_what_it_builds():
    assert repr(EnvFactory("CartPole-v1")) == "EnvFactory('CartPole-v1')"
    assert (
        repr(EnvFactory("CartPole-v1", max_episode_steps=5, render_mode=None))
        == "EnvFactory('CartPole-v1', max_episode_steps=5, render_mode=None)"
    )
    with gym.make("CartPole-v1") as env:
        assert repr(EnvFactory(env)) == "EnvFactory(<CartPole-v1 instance>)"
    assert repr(EnvFactory(counting_env)) == f"EnvFactory({counting_env!r})"


@pytest.mark.parametrize("env", [42, None, [counting_env]])
def test_an_env_that_is_no_id_factory_or_env_is_refused(env):
    message = (
        "env must be a Gymnasium env id, a callable returning a gymnasium.Env or a "
        f"gymnasium.Env instance, got {type(env).__name__}"
    )
    with pytest.raises(TypeError, match=f"^{message}$"):
        ParallelRolloutSampler(env, IDLE, 1, min_rollouts=1)
    with pytest.raises(TypeError, match=f"^{message}$"):
        rollout(env, IDLE)


@pytest.mark.parametrize("mode", ["auto", "thread"])
def test_make_vector_env_refuses_a_mode_it_does_not_build(mode):
    # "auto" is the samplers' to resolve (choose_vectorization) before they build the sub-envs.
    with pytest.raises(
        ValueError,
        match=rf"^vectorization must be 'sync', 'async' or 'batched' here, got '{mode}'$",
    ):
        make_vector_env(EnvFactory(counting_env), 2, mode)


def test_a_batched_vector_env_of_no_sub_envs_is_refused():
    with pytest.raises(ValueError, match="^env_fns must hold at least one env factory, got none$"):
        BatchedAsyncVectorEnv([])
