"""Rollouts and EpisodeBatches exported to Minari read back exactly with ``minari.load_dataset``.

Every dataset is written under a per-test ``MINARI_DATASETS_PATH``; nothing is downloaded.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.data import EnvSpec, EpisodeBatch, StepSequence, StepType
from gymsamp.data.minari_export import episode_buffers, export_to_minari
from gymsamp.envs import CountingEnv, DomainParamWrapper, InitStateWrapper
from gymsamp.policies import RandomPolicy
from gymsamp.sampling import ParallelRolloutSampler
from tests.helpers import DictPendulum

minari = pytest.importorskip("minari")
pytest.importorskip("h5py")  # Minari's default storage

# Minari reminds that no evaluation env / env spec was recorded; that is intended here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(`eval_env` is set to None|env_spec is None):UserWarning"
)

# Everything Minari asks for, so it does not warn.
META = {
    "author": "gymsamp tests",
    "author_email": "tests@example.org",
    "algorithm_name": "random",
    "code_permalink": "https://example.org/gymsamp",
    "description": "test data",
}


@pytest.fixture(autouse=True)
def minari_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    return tmp_path / "minari"


@pytest.fixture(scope="module")
def cartpole_rollouts():
    """Random CartPole rollouts under two domains, some cut by max_steps, with states."""
    policy = RandomPolicy(gym.spaces.Discrete(2))
    with ParallelRolloutSampler(
        "CartPole-v1",
        policy,
        2,
        min_rollouts=4,
        seed=7,
        max_steps=15,
        record_states=True,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample(domain_params=[{"masspole": 0.3}, {"length": 0.8}])
    assert {bool(ro.truncated[-1]) for ro in rollouts} == {True}  # all cut at 15 steps
    return rollouts


def assert_same_array(actual, expected):
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_array_equal(actual, expected)


def test_rollouts_round_trip_exactly(cartpole_rollouts, minari_root):
    spec = EnvSpec.from_env(gym.make("CartPole-v1"))
    export_to_minari(
        cartpole_rollouts, "gymsamp/cartpole/random-v0", spec, env="CartPole-v1", **META
    )
    assert (minari_root / "gymsamp/cartpole/random-v0" / "data").is_dir()

    dataset = minari.load_dataset("gymsamp/cartpole/random-v0")
    assert dataset.total_episodes == 4
    assert dataset.total_steps == sum(ro.length for ro in cartpole_rollouts)
    assert dataset.observation_space == spec.observation_space
    metadata = list(dataset.storage.get_episode_metadata(range(4)))
    for k, (episode, ro) in enumerate(
        zip(dataset.iterate_episodes(), cartpole_rollouts, strict=True)
    ):
        assert episode.id == k
        assert_same_array(episode.observations, ro.observations)  # T+1, float32
        assert len(episode.observations) == len(episode.actions) + 1
        assert_same_array(episode.actions, ro.actions)
        assert_same_array(episode.rewards, ro.rewards)
        assert_same_array(episode.terminations, ro.terminated)
        assert_same_array(episode.truncations, ro.truncated)
        info, n = ro.rollout_info, ro.length + 1
        # Domain parameters: in every one of the T+1 info entries.
        assert sorted(episode.infos["domain_param"]) == sorted(info["domain_param"])
        for name, value in info["domain_param"].items():
            assert_same_array(episode.infos["domain_param"][name], np.full(n, value))
        assert episode.infos["domain_param"]["masspole"][0] == (0.3 if k % 2 == 0 else 0.1)
        assert episode.infos["domain_param"]["length"][0] == (0.5 if k % 2 == 0 else 0.8)
        assert_same_array(episode.infos["init_state"], np.repeat(info["init_state"][None], n, 0))
        assert_same_array(episode.infos["seed"], np.full(n, info["seed"]))
        assert_same_array(episode.infos["rollout_index"], np.full(n, k))
        # h5py gives strings back as bytes.
        assert episode.infos["env_id"].tolist() == [b"CartPole-v1"] * n
        # T+1 fields as they are; T fields shifted behind the reset entry.
        assert_same_array(episode.infos["states"], ro.states)
        assert_same_array(episode.infos["time"], ro.time)
        assert_same_array(episode.infos["actions_applied"][1:], ro.actions_applied)
        assert episode.infos["actions_applied"][0] == 0
        # Episode metadata: the reset seed and options.
        assert metadata[k]["seed"] == info["seed"]
        assert (
            metadata[k]["options"]["domain_param"]["masspole"] == info["domain_param"]["masspole"]
        )
        np.testing.assert_array_equal(metadata[k]["options"]["init_state"], info["init_state"])


def test_seed_and_options_restart_the_episode(cartpole_rollouts):
    """Resetting a gymsamp-wrapped env with an episode's seed and options replays it exactly."""
    export_to_minari(cartpole_rollouts, "cartpole/replay-v0", env="CartPole-v1", **META)
    dataset = minari.load_dataset("cartpole/replay-v0")
    metadata = list(dataset.storage.get_episode_metadata(range(dataset.total_episodes)))
    for episode, meta in zip(dataset.iterate_episodes(), metadata, strict=True):
        env = InitStateWrapper(DomainParamWrapper(gym.make("CartPole-v1")))
        obs, _ = env.reset(seed=meta["seed"], options=meta["options"])
        observations = [obs]
        for action in episode.actions:
            observations.append(env.step(action)[0])
        np.testing.assert_array_equal(np.stack(observations), episode.observations)


def test_episode_batch_of_pendulum_rollouts(minari_root):
    with ParallelRolloutSampler(
        "Pendulum-v1",
        RandomPolicy(gym.spaces.Box(-2.0, 2.0, (1,), np.float32)),
        2,
        min_rollouts=3,
        seed=1,
        max_steps=12,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    spec = EnvSpec.from_env(gym.make("Pendulum-v1"))
    batch = EpisodeBatch.from_step_sequences(rollouts, spec)
    export_to_minari(batch, "pendulum/batch-v0", **META)
    dataset = minari.load_dataset("pendulum/batch-v0")
    starts = np.concatenate([[0], np.cumsum(batch.lengths)])
    for i, episode in enumerate(dataset.iterate_episodes()):
        steps = slice(starts[i], starts[i + 1])
        expected_obs = np.concatenate(
            [batch.observations[steps], batch.last_observations[i : i + 1]]
        )
        assert_same_array(episode.observations, expected_obs)
        assert_same_array(episode.actions, batch.actions[steps])  # (T, 1) float32
        assert_same_array(episode.rewards, batch.rewards[steps])
        assert episode.truncations.tolist() == [False] * 11 + [True]
        assert not episode.terminations.any()
        assert episode.infos["domain_param"]["g"][0] == 10.0
        # The same as exporting the rollouts themselves.
        assert_same_array(episode.observations, rollouts[i].observations)


def test_concatenated_rollouts_are_separate_episodes(cartpole_rollouts):
    both = StepSequence.concat(cartpole_rollouts[:2])
    export_to_minari(both, "cartpole/concat-v0", env="CartPole-v1", **META)
    dataset = minari.load_dataset("cartpole/concat-v0")
    assert dataset.total_episodes == 2
    for episode, ro in zip(dataset.iterate_episodes(), cartpole_rollouts[:2], strict=True):
        assert_same_array(episode.observations, ro.observations)  # each final observation kept


def test_both_flags_on_one_step_survive():
    env_spec = EnvSpec.from_env(CountingEnv())
    ro = StepSequence(
        rewards=[1.0, 2.0],
        observations=np.array([[0.0], [1.0], [2.0]], np.float32),
        actions=[0, 1],
        terminated=[False, True],
        truncated=[False, True],
    )
    export_to_minari([ro], "counting/both-v0", env_spec, **META)
    episode = minari.load_dataset("counting/both-v0")[0]
    assert episode.terminations.tolist() == [False, True]
    assert episode.truncations.tolist() == [False, True]


def test_garage_batch_flags_come_from_step_types():
    spec = EnvSpec(gym.spaces.Box(-5.0, 5.0, (1,)), gym.spaces.Discrete(2))
    batch = EpisodeBatch.from_list(
        spec,
        [
            {
                "observations": np.array([[0.0], [1.0], [2.0]]),
                "actions": np.array([0, 1]),
                "rewards": np.array([1.0, 1.0]),
                "step_types": [StepType.FIRST, StepType.TERMINAL],
            },
            {
                "observations": np.array([[5.0], [6.0]]),
                "actions": np.array([1]),
                "rewards": np.array([3.0]),
                "step_types": [StepType.TIMEOUT],
            },
        ],
    )
    first, second = episode_buffers(batch)
    assert first.terminations.tolist() == [False, True]
    assert first.truncations.tolist() == [False, False]
    assert first.observations[:, 0].tolist() == [0.0, 1.0, 2.0]
    assert second.terminations.tolist() == [False]
    assert second.truncations.tolist() == [True]
    assert first.seed is None
    assert first.options is None


def test_nested_infos_stay_nested():
    env_spec = EnvSpec(gym.spaces.Box(-5.0, 5.0, (1,)), gym.spaces.Discrete(2))
    ro = StepSequence(
        rewards=[1.0, 2.0, 3.0],
        observations=np.array([[0.0], [1.0], [2.0], [3.0]], np.float32),
        actions=[0, 1, 1],
        terminated=[False, False, True],
        truncated=[False, False, False],
        agent_infos={"hidden_states": np.arange(6.0).reshape(3, 2)},
        env_infos={"contact": {"left": [True, False, True], "force": [0.5, 0.25, 0.0]}},
        rollout_info={"domain_param": {"mass": 2.0, "gains": np.array([1.0, 2.0])}},
    )
    export_to_minari([ro], "toy/nested-v0", env_spec, **META)
    infos = minari.load_dataset("toy/nested-v0")[0].infos
    assert_same_array(infos["agent_infos"]["hidden_states"], [[0, 0], [0, 1], [2, 3], [4, 5.0]])
    assert_same_array(infos["env_infos"]["contact"]["left"], [False, True, False, True])
    assert_same_array(infos["env_infos"]["contact"]["force"], [0.0, 0.5, 0.25, 0.0])
    assert_same_array(infos["domain_param"]["gains"], np.tile([1.0, 2.0], (4, 1)))
    assert_same_array(infos["domain_param"]["mass"], np.full(4, 2.0))


def test_a_nested_field_with_final_entries_keeps_them_leaf_by_leaf():
    # A dict field with T+1 entries (like observations): each leaf's final entry comes after
    # its T step entries, the nesting kept.
    env_spec = EnvSpec(gym.spaces.Box(-5.0, 5.0, (1,)), gym.spaces.Discrete(2))
    ro = StepSequence(
        rewards=[1.0, 2.0],
        observations=np.array([[0.0], [1.0], [2.0]], np.float32),
        actions=[0, 1],
        terminated=[False, True],
        contact={"force": [0.5, 0.25, 0.125], "pos": {"x": [[1.0], [2.0], [3.0]]}},
    )
    (buffer,) = episode_buffers([ro], env_spec)
    assert_same_array(buffer.infos["contact"]["force"], [0.5, 0.25, 0.125])
    assert_same_array(buffer.infos["contact"]["pos"]["x"], [[1.0], [2.0], [3.0]])


def test_an_env_given_as_an_instance_gives_the_spec_and_stays_open(cartpole_rollouts):
    # An env id is made and closed for its spec; an env the caller made is theirs to close.
    closed = []

    class RecordClose(gym.Wrapper):
        def close(self):
            closed.append(True)
            super().close()

    env = RecordClose(gym.make("CartPole-v1"))
    dataset = export_to_minari(cartpole_rollouts[:1], "cartpole/instance-v0", env=env, **META)
    assert dataset.spec.observation_space == env.observation_space
    assert closed == []
    env.close()


def test_lossy_inputs_are_refused(cartpole_rollouts):
    ro = cartpole_rollouts[0]
    spec = EnvSpec.from_env(gym.make("CartPole-v1"))
    shuffled = ro[[3, 0, 2]]
    with pytest.raises(ValueError, match="continuous with T\\+1 observations"):
        episode_buffers([shuffled], spec)
    head = next(ro.split_ordered_batches(batch_size=5))  # a partial rollout
    with pytest.raises(ValueError, match="episode 0 must end with terminated or truncated"):
        episode_buffers([head], spec)
    with pytest.raises(ValueError, match="env_spec must be given"):
        episode_buffers([ro])
    # A slice that starts mid-rollout ends like the rollout but does not start at its reset.
    tail = ro[3:]
    assert int(tail.step_types[0]) == StepType.MID
    with pytest.raises(ValueError, match="episode 0 must start at its reset .* got a first step"):
        episode_buffers([tail], spec)
    clash = StepSequence(
        rewards=[1.0], observations=[[0.0], [1.0]], actions=[0], seed=[3], rollout_info={"seed": 1}
    )
    with pytest.raises(ValueError, match=r"infos keys must be unique, got \['seed'\]"):
        episode_buffers([clash], EnvSpec(gym.spaces.Box(-1, 1, (1,)), gym.spaces.Discrete(2)))
    odd = StepSequence(
        rewards=[1.0],
        observations=[[0.0], [1.0]],
        actions=[0],
        rollout_info={"note": np.array([{"a": 1}], dtype=object)},
    )
    with pytest.raises(ValueError, match=r"rollout_info\['note'\] must hold numbers"):
        episode_buffers([odd], EnvSpec(gym.spaces.Box(-1, 1, (1,)), gym.spaces.Discrete(2)))


class TuplePendulum(gym.ObservationWrapper):
    """Pendulum with a Tuple observation: (cos / sin of the angle, the angular speed)."""

    def __init__(self):
        super().__init__(gym.make("Pendulum-v1"))
        self.observation_space = gym.spaces.Tuple(
            (gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Box(-8, 8, (1,), np.float32))
        )

    def observation(self, observation):
        return (observation[:2], observation[2:])


@pytest.mark.parametrize("make", [DictPendulum, TuplePendulum], ids=["dict", "tuple"])
def test_dict_and_tuple_observations_round_trip(make):
    """Rollouts of a Dict or Tuple observation space: each array of the observations (T+1
    entries), and everything else an array-observation export keeps, read back exactly."""
    policy = RandomPolicy(gym.spaces.Box(-2.0, 2.0, (1,), np.float32))
    with ParallelRolloutSampler(
        make, policy, 2, min_rollouts=3, seed=4, max_steps=12, record_states=True,
        show_progress_bar=False,
    ) as sampler:  # fmt: skip
        rollouts = sampler.sample(domain_params=[{"m": 1.5}, {"l": 0.7}])
    spec = EnvSpec.from_env(make())
    export_to_minari(rollouts, "gymsamp/pendulum/nested-v0", spec, **META)
    dataset = minari.load_dataset("gymsamp/pendulum/nested-v0")
    assert dataset.observation_space == spec.observation_space
    for episode, ro in zip(dataset.iterate_episodes(), rollouts, strict=True):
        keys = ["angle", "speed"] if make is DictPendulum else [0, 1]
        assert type(episode.observations) is type(ro.observations)
        for key in keys:
            assert_same_array(episode.observations[key], ro.observations[key])  # T+1 each
        assert_same_array(episode.actions, ro.actions)
        assert_same_array(episode.rewards, ro.rewards)
        assert_same_array(episode.truncations, ro.truncated)
        assert_same_array(episode.infos["states"], ro.states)
        for name, value in ro.rollout_info["domain_param"].items():
            assert_same_array(episode.infos["domain_param"][name], np.full(13, value))
    with pytest.raises(ValueError, match="continuous with T\\+1 observations"):
        episode_buffers([rollouts[0][[3, 0, 2]]], spec)


def test_existing_dataset_id_is_not_overwritten(cartpole_rollouts):
    export_to_minari(cartpole_rollouts[:1], "cartpole/once-v0", env="CartPole-v1", **META)
    with pytest.raises(ValueError, match="already exists"):
        export_to_minari(cartpole_rollouts[:1], "cartpole/once-v0", env="CartPole-v1", **META)


def _with_episode_statistics() -> gym.Env:
    return gym.wrappers.RecordEpisodeStatistics(gym.make("CartPole-v1"))


def test_episodes_with_and_without_a_final_info_keep_their_seeds_and_options():
    # RecordEpisodeStatistics (docs/concepts/autoreset.md) reports at the episode's end only:
    # the rollouts CartPole ended have a final_info, the ones max_steps cut have none. The
    # export then lost every episode's seed, options and domain_param infos.
    def balance(obs):
        return (obs[:, 2] > 0).astype(np.int64)

    with ParallelRolloutSampler(
        _with_episode_statistics, balance, 1, min_rollouts=4, seed=0, max_steps=40,
        vectorization="sync", show_progress_bar=False,
    ) as sampler:  # fmt: skip
        rollouts = sampler.sample(domain_params=[{"length": 0.25}, {"length": 1.0}])
    assert ["final_info" in ro.rollout_info for ro in rollouts] == [True, False, True, False]
    export_to_minari(rollouts, "cartpole/statistics-v0", env="CartPole-v1", **META)
    dataset = minari.load_dataset("cartpole/statistics-v0")
    metadata = list(dataset.storage.get_episode_metadata(range(4)))
    for episode, meta, ro in zip(dataset.iterate_episodes(), metadata, rollouts, strict=True):
        info = ro.rollout_info
        assert meta["seed"] == info["seed"]
        assert meta["options"]["domain_param"]["length"] == info["domain_param"]["length"]
        assert_same_array(
            episode.infos["domain_param"]["length"],
            np.full(ro.length + 1, info["domain_param"]["length"]),
        )
        if "final_info" in info:
            episode_stats = episode.infos["final_info"]["episode"]
            assert episode_stats["l"].tolist() == [ro.length] * (ro.length + 1)
        else:
            assert "final_info" not in episode.infos
