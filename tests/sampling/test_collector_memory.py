"""What the collection loop shares between rollouts to save memory must never leak between them."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.envs.adapters import CartPoleAdapter
from gymsamp.policies import IdlePolicy
from gymsamp.sampling import ParallelRolloutSampler


@pytest.fixture(scope="module")
def rollouts():
    with ParallelRolloutSampler(
        "CartPole-v1",
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=4,
        max_steps=5,  # equal lengths: the rollouts share their bounds array
        seed=0,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        return sampler.sample()


def test_adding_a_field_to_one_rollout_leaves_the_others_alone(rollouts):
    first, second = rollouts[0], rollouts[1]
    first.add_data("values", np.zeros(first.length + 1))
    assert "values" in first.data_names
    assert "values" not in second.data_names
    np.testing.assert_array_equal(first.get_rollout(0).values, np.zeros(first.length + 1))
    # the final observation of each rollout is still its own
    np.testing.assert_array_equal(second.get_rollout(0).observations, second.observations)


def test_rollout_bounds_are_a_private_copy(rollouts):
    bounds = rollouts[2].rollout_bounds
    bounds[1] = 99
    assert rollouts[3].rollout_bounds.tolist() == [0, 5]
    assert rollouts[2].rollout_bounds.tolist() == [0, 5]


def test_rollout_info_arrays_own_their_data(rollouts):
    # A row view of the batched reset info would keep the whole batch alive.
    init_state = rollouts[0].rollout_info["init_state"]
    assert init_state.base is None
    assert init_state.shape == (4,)
    np.testing.assert_allclose(init_state, rollouts[0].observations[0], rtol=1e-6)


def test_concatenated_rollouts_keep_every_final_observation(rollouts):
    from gymsamp.data import StepSequence

    joined = StepSequence.concat(rollouts[2:])
    for k, ro in enumerate(rollouts[2:]):
        np.testing.assert_array_equal(joined.get_rollout(k).observations, ro.observations)


def test_equal_domain_parameters_share_their_float_objects_but_not_their_dicts(rollouts):
    first, second = (ro.rollout_info["domain_param"] for ro in rollouts[:2])
    assert first == second
    assert first is not second
    assert all(type(v) is float for v in first.values())
    assert first["length"] is second["length"]  # immutable: sharing is safe
    first["length"] = 2.0  # the dicts stay independent
    assert second["length"] == 0.5


@pytest.mark.parametrize("vectorization", ["sync", "batched"])
def test_rollouts_share_equal_domain_parameter_names_and_values(vectorization):
    # Names and values that arrive pickled from a worker are new objects for every reset:
    # each rollout would keep its own copies (~0.4 KB per CartPole rollout).
    with ParallelRolloutSampler(
        "CartPole-v1",
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=4,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        first, *others = [ro.rollout_info["domain_param"] for ro in sampler.sample()]
    assert first == CartPoleAdapter(gym.make("CartPole-v1").unwrapped).nominal_domain_param()
    for params in others:
        assert params == first
        assert params is not first  # each rollout's dict is its own
        for (name, value), (first_name, first_value) in zip(
            params.items(), first.items(), strict=True
        ):
            assert name is first_name
            assert value is first_value


def test_domain_parameters_batched_by_gymnasium_read_as_plain_python_values():
    # Gymnasium's SyncVectorEnv batches the reset infos into arrays, so each rollout's
    # domain parameters arrive as numpy scalars: rollout_info holds them as the env reported
    # them (floats), the names shared with the other rollouts'.
    from gymnasium.vector import SyncVectorEnv

    from gymsamp.envs import DomainParamWrapper
    from gymsamp.sampling import Quota, RolloutJob, derive_seed
    from gymsamp.sampling.collector import collect

    envs = SyncVectorEnv(
        [lambda: DomainParamWrapper(gym.make("CartPole-v1", max_episode_steps=4))] * 2,
        autoreset_mode=gym.vector.AutoresetMode.DISABLED,
    )
    lengths = [0.5, 0.75, 0.5]
    try:
        rollouts = collect(
            envs,
            IdlePolicy(gym.spaces.Discrete(2)),
            lambda k: RolloutJob(
                k, derive_seed(0, 0, k), options={"domain_param": {"length": lengths[k]}}
            ),
            Quota(min_rollouts=3),
        )
    finally:
        envs.close()
    infos = [ro.rollout_info["domain_param"] for ro in rollouts]
    assert [params["length"] for params in infos] == lengths
    for params in infos:
        assert all(type(value) is float for value in params.values()), params
    assert infos[0]["gravity"] is infos[2]["gravity"]  # equal floats shared
    assert all(a is b for a, b in zip(infos[0], infos[1], strict=True))  # names shared
