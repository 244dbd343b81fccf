"""Queued resets: gymsamp's vector envs start a sub-env's next episode inside the ending step."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

import gymsamp  # noqa: F401  (registers the toy ids)
from gymsamp.sampling.queued_reset import QueuedResetVectorEnv
from gymsamp.sampling.vector_envs import EnvFactory, make_vector_env

COUNTING = "gymsamp/Counting-v0"
ACTIONS = np.zeros(2, dtype=np.int64)


@pytest.fixture(params=["sync", "async", "batched"])
def envs(request: pytest.FixtureRequest) -> Iterator[gym.vector.VectorEnv]:
    """Two counting sub-envs ending every 3 steps (one batched worker each)."""
    vector_env = make_vector_env(
        EnvFactory(COUNTING, terminate_at=3), 2, request.param, record_state=False, num_workers=2
    )
    yield vector_env
    vector_env.close()


def seed_draw(seed: int) -> int:
    """The counting env's ``reset_seed_draw`` after ``reset(seed=seed)`` (a fresh env)."""
    env = gym.make(COUNTING)
    try:
        return int(env.reset(seed=seed)[1]["reset_seed_draw"])
    finally:
        env.close()


def step_times(envs: gym.vector.VectorEnv, times: int) -> tuple:
    for _ in range(times):
        result = envs.step(ACTIONS)
    return result


def test_gymsamp_vector_envs_support_queued_resets(envs: gym.vector.VectorEnv) -> None:
    assert isinstance(envs, QueuedResetVectorEnv)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.DISABLED


def test_the_ending_step_resets_with_the_queued_seed_and_options(
    envs: gym.vector.VectorEnv,
) -> None:
    envs.reset(seed=[1, 2])
    envs.queue_reset(0, seed=7, options={"domain_param": {"increment": 0.5}})
    obs, _rewards, terminated, truncated, infos = step_times(envs, 3)
    # Both episodes ended; only sub-env 0 had a payload, so only it starts a new episode.
    assert terminated.tolist() == [True, True]
    assert truncated.tolist() == [False, False]
    assert obs[:, 0].tolist() == [0.0, 3.0]
    assert infos["_final_obs"].tolist() == [True, False]
    assert infos["final_obs"][0].tolist() == [3.0]
    assert infos["_final_info"].tolist() == [True, False]
    assert infos["_reset_seed_draw"].tolist() == [True, False]
    assert infos["reset_seed_draw"][0] == seed_draw(7)
    assert infos["domain_param"]["increment"][0] == 0.5
    # The new episode runs with the queued options: counts in steps of 0.5.
    obs = envs.step(ACTIONS)[0]
    assert obs[0, 0] == 0.5


def test_a_payload_is_used_once(envs: gym.vector.VectorEnv) -> None:
    envs.reset(seed=0)
    envs.queue_reset(1, seed=3)
    infos = step_times(envs, 3)[4]
    assert infos["_final_obs"].tolist() == [False, True]
    envs.reset(seed=0)  # sub-env 1 ends again at step 3, now without a payload
    obs, _, terminated, _, infos = step_times(envs, 3)
    assert terminated.tolist() == [True, True]
    assert "final_obs" not in infos
    assert obs[:, 0].tolist() == [3.0, 3.0]


def test_a_later_payload_replaces_an_earlier_one(envs: gym.vector.VectorEnv) -> None:
    envs.reset(seed=0)
    envs.queue_reset(0, seed=3)
    envs.step(ACTIONS)  # the first payload already travelled to the worker (batched)
    envs.queue_reset(0, seed=4)
    infos = step_times(envs, 2)[4]
    assert infos["reset_seed_draw"][0] == seed_draw(4)


def test_reset_discards_the_payloads_of_the_sub_envs_it_resets(
    envs: gym.vector.VectorEnv,
) -> None:
    envs.reset(seed=0)
    envs.queue_reset(0, seed=3)
    envs.queue_reset(1, seed=4)
    envs.step(ACTIONS)
    envs.reset(seed=[5, None], options={"reset_mask": np.array([True, False])})
    obs, _, terminated, _, infos = step_times(envs, 2)  # sub-env 1 reaches its end
    assert terminated.tolist() == [False, True]
    assert infos["_final_obs"].tolist() == [False, True]
    obs, _, terminated, _, infos = envs.step(ACTIONS)  # sub-env 0 ends: its payload is gone
    assert terminated.tolist() == [True, False]
    assert "final_obs" not in infos
    assert obs[0, 0] == 3.0


@pytest.mark.parametrize("index", [-1, 2, 1.0, True, "0"])
def test_queue_reset_refuses_a_bad_index(envs: gym.vector.VectorEnv, index: object) -> None:
    with pytest.raises(ValueError, match=r"index must be an int in \[0, 2\)"):
        envs.queue_reset(index, seed=0)  # type: ignore[arg-type]


def test_a_failing_in_step_reset_names_the_sub_env(envs: gym.vector.VectorEnv) -> None:
    from gymsamp.sampling.errors import WorkerError

    envs.reset(seed=0)
    envs.queue_reset(1, seed=0, options={"domain_param": {"no_such_param": 1.0}})
    with pytest.raises(WorkerError, match="sub-env 1") as info:
        step_times(envs, 3)
    assert info.value.env_index == 1
    assert "no_such_param" in str(info.value)
    # The sub-env's traceback, once (an async worker's own would repeat it inside its text).
    assert str(info.value).count("Original traceback") == 1
    assert info.value.remote_traceback.count("Traceback (most recent call last)") == 1
    assert "in complete_domain_param" in info.value.remote_traceback


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_sampler_rollouts_started_inside_a_step_are_exact(vectorization: str) -> None:
    from gymsamp.policies import IdlePolicy
    from gymsamp.sampling import ParallelRolloutSampler

    increments = [1.0, 0.5, 2.0]
    with ParallelRolloutSampler(
        EnvFactory(COUNTING, terminate_at=3),
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=9,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
        record_states=True,
    ) as sampler:
        rollouts = sampler.sample(domain_params=[{"increment": inc} for inc in increments])
    assert len(rollouts) == 9  # 2 sub-envs: most rollouts start inside the step ending another
    for k, ro in enumerate(rollouts):
        increment = increments[k % 3]
        assert ro.rollout_info["domain_param"] == {"increment": increment}
        assert ro.rollout_info["rollout_index"] == k
        np.testing.assert_array_equal(ro.observations[:, 0], increment * np.arange(4))
        # the final state comes from final_info, the first from the in-step reset's info
        np.testing.assert_array_equal(ro.states[:, 0], increment * np.arange(4))
        assert ro.terminated.tolist() == [False, False, True]
        assert "final_obs" not in ro.rollout_info.get("final_info", {})


class StrictEnv(gym.Env):
    """Ends every episode after 3 steps and raises when stepped past an episode's end or
    more than ``budget`` times in all, so an extra step anywhere shows."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.count = self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.count = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.steps += 1
        if self.count >= 3 or self.steps > self.budget:
            raise RuntimeError(f"step {self.steps} of a budget of {self.budget}, {self.count}")
        self.count += 1
        return np.full(1, self.count, np.float32), 1.0, self.count == 3, False, {}


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
@pytest.mark.parametrize("bound", [{"min_rollouts": 4}, {"min_steps": 12}])
def test_no_step_is_taken_past_the_result(vectorization: str, bound: dict) -> None:
    """2 sub-envs in lockstep need exactly 6 steps each for 4 rollouts of 3 steps. In
    ``min_steps`` mode their next jobs are already queued when the result completes, so a
    pipelined loop that sent the next step before booking would take a 7th."""
    from gymsamp.policies import IdlePolicy
    from gymsamp.sampling import ParallelRolloutSampler

    with ParallelRolloutSampler(
        lambda: StrictEnv(budget=6),
        IdlePolicy(StrictEnv.action_space),
        2,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
        **bound,
    ) as sampler:
        rollouts = sampler.sample()
    assert [ro.length for ro in rollouts] == [3, 3, 3, 3]


def test_a_paused_sub_env_is_not_stepped_until_its_next_reset(
    envs: gym.vector.VectorEnv,
) -> None:
    envs.reset(seed=[0, 1])
    obs, *_ = envs.step(ACTIONS)
    assert obs[:, 0].tolist() == [1.0, 1.0]
    envs.pause(0)
    envs.queue_reset(1, seed=5)
    obs, rewards, terminated, truncated, infos = step_times(envs, 2)
    # sub-env 0 stays at its last observation, with no reward and no end (never stepped:
    # a counting env stepped twice more would have ended at 3); sub-env 1 went on and reset
    assert obs[:, 0].tolist() == [1.0, 0.0]
    assert rewards.tolist() == [0.0, 3.0]  # the third step of sub-env 1's episode
    assert terminated.tolist() == [False, True]
    assert not truncated.any()
    assert infos["_final_obs"].tolist() == [False, True]
    obs, _ = envs.reset(seed=[7, None], options={"reset_mask": np.array([True, False])})
    assert obs[:, 0].tolist() == [0.0, 0.0]
    obs, rewards, *_ = envs.step(ACTIONS)  # resumed by the reset
    assert obs[:, 0].tolist() == [1.0, 1.0]
    assert rewards.tolist() == [1.0, 1.0]


class SeededOnlyEnv(gym.Env):
    """Raises when stepped in an episode that was reset without a seed: an episode that no
    rollout asked for (the collection loop seeds every rollout's reset)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.seeded, self.count = seed is not None, 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        if not self.seeded:
            raise RuntimeError("stepped in an episode no rollout asked for")
        self.count += 1
        return np.full(1, self.count, np.float32), 1.0, self.count >= 2 + action, False, {}


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
@pytest.mark.parametrize("min_rollouts", [1, 3])
def test_sub_envs_without_a_rollout_run_no_episodes(vectorization: str, min_rollouts: int):
    """With 3 sub-envs and 1 rollout, two never get one; with 3 rollouts of unequal length
    (2 or 3 steps, random actions), the early finishers have nothing left to run."""
    from gymsamp.policies import RandomPolicy
    from gymsamp.sampling import ParallelRolloutSampler

    with ParallelRolloutSampler(
        SeededOnlyEnv,
        RandomPolicy(SeededOnlyEnv.action_space),
        3,
        min_rollouts=min_rollouts,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        first, second = sampler.sample(), sampler.sample()
    assert len(first) == len(second) == min_rollouts
    assert all(ro.length in (2, 3) for ro in first + second)


class SpaceEnv(gym.Env):
    """Observes ``obs`` of ``space`` for 3 steps."""

    action_space = gym.spaces.Discrete(2)

    def __init__(self, space: gym.Space, obs) -> None:
        self.observation_space, self.obs = space, obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.count = 0
        return self.obs, {}

    def step(self, action):
        self.count += 1
        return self.obs, 1.0, self.count == 3, False, {}


S = gym.spaces
# space, what the env observes, the numbers of an idle row (zero, or the nearest element)
OBSERVATION_SPACES = {
    "float Box": (S.Box(-2.0, 2.0, (2,), np.float32), np.ones(2, np.float32), [0, 0]),
    "float Box above 0": (S.Box(1.0, 2.0, (2,), np.float32), np.full(2, 1.5, np.float32), [1, 1]),
    "int Box below 0": (S.Box(-5, -2, (2,), np.int32), np.full(2, -3, np.int32), [-2, -2]),
    "Discrete": (S.Discrete(3), np.int64(1), [0]),
    "Discrete from 5": (S.Discrete(3, start=5), np.int64(6), [5]),
    # Zero where the space holds it, else the nearest element, as for MultiDiscrete and Box
    # (a Discrete's start was taken whatever it was).
    "Discrete from -1": (S.Discrete(3, start=-1), np.int64(1), [0]),
    "Discrete up to -3": (S.Discrete(3, start=-5), np.int64(-4), [-3]),
    "MultiDiscrete up to -3": (S.MultiDiscrete([3], start=[-5]), np.array([-4]), [-3]),
    "MultiDiscrete": (S.MultiDiscrete([3, 4], start=[1, -1]), np.array([2, 2]), [1, 0]),
    "Dict": (
        S.Dict(a=S.Discrete(2, start=3), b=S.Box(0.0, 2.0, (2,))),
        {"a": np.int64(4), "b": np.ones(2, np.float32)},
        [3, 0, 0],
    ),
    "Tuple": (
        S.Tuple((S.Discrete(2), S.MultiBinary(2))),
        (np.int64(1), np.ones(2, np.int8)),
        [0, 0, 0],
    ),
}


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
@pytest.mark.parametrize(
    ("space", "observed", "idle"), OBSERVATION_SPACES.values(), ids=OBSERVATION_SPACES.keys()
)
def test_a_sub_env_paused_before_any_reset_shows_the_policy_an_element_of_its_space(
    vectorization, space, observed, idle
):
    """With 1 rollout on 2 sub-envs, sub-env 1 is paused from the start. Its row is zero, or
    the element nearest to it where zero lies outside the space, at every step and in every
    mode. Async workers wrote None to shared memory (a TypeError for integer and nested
    spaces, NaN rows for float ones); rows of zeros outside the space (Discrete(3, start=5))
    failed a policy correct on every observation of the space, for some worker counts only."""
    from gymsamp.sampling import ParallelRolloutSampler

    idle_rows = []

    def policy(obs):
        row = list(iterate(batch_space(space, 2), obs))[1]
        assert space.contains(row), row
        idle_rows.append(leaves(row))
        return np.zeros(2, np.int64)

    with ParallelRolloutSampler(
        functools.partial(SpaceEnv, space, observed),
        policy,
        2,
        min_rollouts=1,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        (ro,) = sampler.sample()
    assert ro.length == 3
    assert len(idle_rows) == 3
    for row in idle_rows:
        np.testing.assert_array_equal(row, idle)
    recorded = concatenate(space, [observed] * 4, create_empty_array(space, n=4))
    np.testing.assert_array_equal(leaves(ro.observations), leaves(recorded))


def leaves(obs) -> np.ndarray:
    """Every number of an observation (nested in dicts and tuples) in one flat array."""
    if isinstance(obs, dict):
        return np.concatenate([leaves(value) for value in obs.values()])
    if isinstance(obs, tuple):
        return np.concatenate([leaves(value) for value in obs])
    return np.ravel(obs).astype(np.float64)


def test_a_queued_reset_does_not_resume_a_paused_sub_env(envs: gym.vector.VectorEnv) -> None:
    """Also when queued before the pause reached a worker (found by a fuzzer)."""
    envs.reset(seed=[0, 1])
    envs.step(ACTIONS)
    envs.pause(0)
    envs.queue_reset(0, seed=5)
    obs, rewards, terminated, *_ = step_times(envs, 3)
    assert obs[0, 0] == 1.0  # still at its last observation
    assert rewards[0] == 0.0
    assert not terminated[0]
    obs, _ = envs.reset(seed=[7, None], options={"reset_mask": np.array([True, False])})
    obs, rewards, *_ = envs.step(ACTIONS)  # the reset resumed it
    assert obs[0, 0] == 1.0
    assert rewards[0] == 1.0


def test_a_queued_reset_takes_precedence_over_a_same_step_autoreset() -> None:
    # In SAME_STEP mode an ending episode resets at once: with the sub-env's queued payload
    # where it has one (used up), else without seed or options.
    from gymsamp.envs import CountingEnv, DomainParamWrapper
    from gymsamp.sampling.in_process_vector_env import InProcessVectorEnv

    envs = InProcessVectorEnv(
        [DomainParamWrapper(CountingEnv(terminate_at=3)) for _ in range(2)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    try:
        envs.reset(seed=[1, 2])
        envs.queue_reset(0, seed=7, options={"domain_param": {"increment": 0.5}})
        infos = step_times(envs, 3)[4]
        assert infos["_final_obs"].tolist() == [True, True]  # both reset in the step
        assert infos["reset_seed_draw"][0] == seed_draw(7)
        assert infos["domain_param"]["increment"].tolist() == [0.5, 1.0]
        assert envs.step(ACTIONS)[0][:, 0].tolist() == [0.5, 1.0]
        # The payload was used: the next episode end of sub-env 0 resets without it.
        infos = step_times(envs, 2)[4]
        assert infos["_final_obs"].tolist() == [True, True]
        assert infos["domain_param"]["increment"].tolist() == [1.0, 1.0]
    finally:
        envs.close()


@pytest.mark.parametrize("mode", ["sync", "async", "batched"])
def test_a_truncated_episode_end_also_takes_the_queued_reset(mode: str) -> None:
    # A time limit ends the episode as a termination does: the queued reset applies.
    factory = EnvFactory(COUNTING, max_episode_steps=2)
    envs = make_vector_env(factory, 2, mode, record_state=False, num_workers=2)
    try:
        envs.reset(seed=[1, 2])
        envs.queue_reset(1, seed=7)
        obs, _rewards, terminated, truncated, infos = step_times(envs, 2)
        assert terminated.tolist() == [False, False]
        assert truncated.tolist() == [True, True]
        assert obs[:, 0].tolist() == [2.0, 0.0]
        assert infos["_final_obs"].tolist() == [False, True]
        assert infos["final_obs"][1].tolist() == [2.0]
        assert infos["reset_seed_draw"][1] == seed_draw(7)
    finally:
        envs.close()
