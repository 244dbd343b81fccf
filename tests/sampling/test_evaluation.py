import gymnasium as gym
import numpy as np
import pytest

from gymsamp.envs import CountingEnv, DomainRandomizer, UniformDomainParam, param_grid
from gymsamp.policies import IdlePolicy
from gymsamp.sampling import (
    ParallelRolloutSampler,
    SamplerPool,
    eval_domain_params,
    eval_domain_params_with_segmentwise_reset,
    eval_nominal_domain,
    eval_randomized_domain,
    rollout,
)

IDLE = IdlePolicy(gym.spaces.Discrete(2))


def env():
    return CountingEnv(terminate_at=3)


@pytest.mark.parametrize("pool", [1, 2, "pool", "sampler"])
def test_eval_domain_params_one_rollout_per_grid_point(pool):
    if pool == "pool":
        pool = SamplerPool(2)
    elif pool == "sampler":
        pool = ParallelRolloutSampler(env, IDLE, 2, min_rollouts=1, show_progress_bar=False)
    grid = param_grid({"increment": [0.5, 1.0, 2.0, 4.0]})
    try:
        rollouts = eval_domain_params(pool, env, IDLE, grid, init_state=np.array([1.0]), seed=0)
    finally:
        if hasattr(pool, "stop"):
            pool.stop()
        if hasattr(pool, "close"):
            pool.close()
    assert [ro.rollout_info["domain_param"] for ro in rollouts] == grid
    for ro, point in zip(rollouts, grid, strict=True):
        np.testing.assert_allclose(ro.observations[:, 0], 1.0 + point["increment"] * np.arange(4))


def test_eval_nominal_domain_one_rollout_per_init_state():
    states = [np.array([s]) for s in (0.0, 10.0, -3.0)]
    rollouts = eval_nominal_domain(2, env, IDLE, states)
    assert [ro.observations[0, 0] for ro in rollouts] == [0.0, 10.0, -3.0]
    assert all(ro.rollout_info["domain_param"] == {"increment": 1.0} for ro in rollouts)


def test_eval_randomized_domain_pairs_each_init_state_with_its_own_draw():
    randomizer = DomainRandomizer(UniformDomainParam("increment", mean=2.0, halfspan=1.0))
    states = [np.array([s]) for s in (0.0, 5.0, 9.0, 1.0)]
    a = eval_randomized_domain(2, env, randomizer, IDLE, states, seed=3)
    b = eval_randomized_domain(1, env, randomizer, IDLE, states, seed=3)
    increments = [ro.rollout_info["domain_param"]["increment"] for ro in a]
    assert increments == [ro.rollout_info["domain_param"]["increment"] for ro in b]
    assert len(set(increments)) == 4
    assert all(1.0 <= x <= 3.0 for x in increments)
    for ro, state, inc in zip(a, states, increments, strict=True):
        np.testing.assert_allclose(ro.observations[:, 0], state[0] + inc * np.arange(4))


def test_segmentwise_reset_resimulates_every_segment_under_every_domain():
    # A "real" rollout recorded with increment 1.5, cut into segments of 2 and 3 steps.
    real = rollout(
        CountingEnv(terminate_at=10),
        IDLE,
        max_steps=5,
        reset_kwargs={"domain_param": {"increment": 1.5}},
    )
    segments = [real[0:2], real[2:5]]
    candidates = [{"increment": 1.5}, {"increment": 1.0}]
    result = eval_domain_params_with_segmentwise_reset(
        1,
        lambda: CountingEnv(terminate_at=10),
        IDLE,
        [segments],
        [candidates],
        stop_on_done=True,
        use_rec=True,
        seed=0,
    )
    assert len(result) == 1
    assert len(result[0]) == 2
    matched, other = result[0]
    assert matched.rollout_lengths.tolist() == [2, 3]
    # Under the true parameters every segment reproduces the real one exactly.
    np.testing.assert_allclose(matched.get_rollout(1).observations, real[2:5].observations)
    np.testing.assert_allclose(matched.get_rollout(0).observations, real[0:2].observations)
    # Each segment restarts from the real segment's initial state, also under a wrong domain.
    np.testing.assert_allclose(other.get_rollout(1).observations[:, 0], 3.0 + np.arange(4))


def test_segmentwise_stop_on_done_false_runs_past_the_end():
    real = rollout(CountingEnv(terminate_at=10), IDLE, max_steps=4)
    result = eval_domain_params_with_segmentwise_reset(
        1,
        lambda: CountingEnv(terminate_at=2),
        IDLE,
        [[real]],
        [[{"increment": 1.0}]],
        stop_on_done=False,
        use_rec=False,
    )
    assert result[0][0].length == 4
    stopped = eval_domain_params_with_segmentwise_reset(
        1,
        lambda: CountingEnv(terminate_at=2),
        IDLE,
        [[real]],
        [[{"increment": 1.0}]],
        stop_on_done=True,
        use_rec=False,
    )
    assert stopped[0][0].length == 2


def test_bad_pool_and_mismatched_lists():
    with pytest.raises(TypeError, match="pool must be a worker count"):
        eval_nominal_domain(0, env, IDLE, [np.zeros(1)])
    with pytest.raises(ValueError, match="one entry per real rollout"):
        eval_domain_params_with_segmentwise_reset(1, env, IDLE, [[]], [], True, False)
