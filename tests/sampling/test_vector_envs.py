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


def _sb3_vec_env():
    from stable_baselines3.common.env_util import make_vec_env

    return make_vec_env("CartPole-v1", n_envs=2)


@pytest.mark.parametrize(
    ("make_envs", "single"),
    [
        (lambda: gym.make_vec("CartPole-v1", 2), "'CartPole-v1'"),
        (lambda: gym.vector.SyncVectorEnv([counting_env]), "its env id"),
        (_sb3_vec_env, "its env id"),
    ],
)
def test_a_vector_env_is_refused_with_what_to_pass_instead(make_envs, single):
    # A user's first try is often the vector env they already have (gym.make_vec, SB3's
    # make_vec_env): the message said only "got CartPoleVectorEnv".
    envs = make_envs()
    try:
        for call in (
            lambda: ParallelRolloutSampler(envs, IDLE, 2, min_rollouts=1),
            lambda: rollout(envs, IDLE),
        ):
            with pytest.raises(TypeError) as info:
                call()
            assert str(info.value) == (
                "env must be a Gymnasium env id, a callable returning a gymnasium.Env or a "
                f"gymnasium.Env instance, got {type(envs).__name__}, a vector env: gymsamp "
                f"builds the vector env itself from one env, so pass {single}, a factory of one "
                "env or one env instance (num_workers sets the number of sub-envs); to collect "
                "over a vector env built elsewhere, use gymsamp.sampling.collect"
            )
    finally:
        envs.close()


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


# --- a factory handing out one env object ----------------------------------------------------


@pytest.mark.parametrize(
    ("vectorization", "error", "where"),
    [
        # sub-envs 0 and 1 in this process
        ("sync", ValueError, "sub-envs 0 and 1"),
        # 3 sub-envs on 2 workers: the first worker builds sub-envs 0 and 1 from one copy of
        # the factory, whose closure holds one env there as well
        ("batched", RuntimeError, "sub-envs 0 and 1"),
    ],
)
def test_a_factory_returning_the_same_env_object_every_call_is_refused(vectorization, error, where):
    # A user's `env = gym.make(...); make_env = lambda: env`: the sub-envs built in one process
    # were one env, stepped once per sub-env and reset under each other's episodes, so the
    # rollouts were silently wrong (CartPole episodes of 7 and 6 steps instead of 32 and 12).
    shared = CountingEnv(terminate_at=3)
    with (
        pytest.raises(error) as info,
        ParallelRolloutSampler(
            lambda: shared,
            IDLE,
            num_workers=3,
            min_rollouts=3,
            seed=0,
            vectorization=vectorization,
            show_progress_bar=False,
        ) as sampler,
    ):
        sampler.sample()
    message = str(info.value)
    assert f"the env factory returned the same env object (a CountingEnv) for {where}" in message
    assert "make a new env on every call" in message
    assert "pass the env instance itself as env" in message


def test_a_factory_wrapping_one_shared_env_in_new_wrappers_is_refused():
    shared = CountingEnv(terminate_at=3)
    with pytest.raises(ValueError, match=r"same env object \(a CountingEnv\) for sub-envs 0 and 1"):
        make_vector_env(EnvFactory(lambda: gym.wrappers.TimeLimit(shared, 5)), 2, "sync")


def test_one_env_object_reused_after_the_auto_probe_still_samples_alone():
    # One sub-env at a time never shares its env: a single-env sampler on `lambda: env` (the
    # probe closed before the sub-env is built) keeps working as before.
    shared = CountingEnv(terminate_at=3)
    with ParallelRolloutSampler(
        lambda: shared, IDLE, num_workers=1, min_rollouts=2, seed=0, show_progress_bar=False
    ) as sampler:
        assert [ro.length for ro in sampler.sample()] == [3, 3]
