"""Episode boundaries on the counting env: exact under every autoreset mode."""

import contextlib

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from gymsamp.data import StepType
from gymsamp.envs import CountingEnv, RandomLengthEnv
from gymsamp.policies import IdlePolicy
from gymsamp.sampling import ParallelRolloutSampler, Quota, RolloutJob, collect, derive_seed
from gymsamp.sampling.errors import WorkerError

MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]
# (terminate_at, truncate_at, expected length, expected last step type, last truncated flag)
ENDINGS = [
    (3, None, 3, StepType.TERMINAL, False),
    (None, 4, 4, StepType.TIMEOUT, True),
    (3, 3, 3, StepType.TERMINAL, True),  # both at once: termination wins, the flag stays
    (1, None, 1, StepType.TERMINAL, False),  # one-step episode: no FIRST
]


def jobs(seed=0):
    return lambda k: RolloutJob(index=k, seed=derive_seed(seed, 0, k), rng=np.random.default_rng(k))


def check_counting_rollout(ro, length, last_type, last_truncated):
    assert ro.length == length
    # Observations count 0..T: the reset transition of NEXT_STEP is never recorded and the
    # final observation is the true one, also for SAME_STEP.
    np.testing.assert_array_equal(ro.observations[:, 0], np.arange(length + 1))
    np.testing.assert_array_equal(ro.rewards, np.arange(1, length + 1))
    expected = [StepType.FIRST] + [StepType.MID] * (length - 2) + [last_type]
    if length == 1:
        expected = [last_type]
    assert ro.step_types.tolist() == expected
    assert bool(ro.truncated[-1]) == last_truncated


class StrictCountingEnv(CountingEnv):
    """A counting env that refuses a step past its episode's end, or past ``horizon`` steps
    since its last reset (as an env with a hard step budget would), instead of counting on."""

    def __init__(self, terminate_at=None, horizon=None):
        super().__init__(terminate_at=terminate_at)
        self.horizon = horizon
        self.ended = False

    def reset(self, *, seed=None, options=None):
        self.ended = False
        return super().reset(seed=seed, options=options)

    def step(self, action):
        if self.ended or self.step_count == self.horizon:
            raise RuntimeError(f"stepped past the episode's end, {self.step_count} steps in")
        obs, reward, terminated, truncated, info = super().step(action)
        self.ended = terminated or truncated
        return obs, reward, terminated, truncated, info


def in_process(fns, autoreset_mode):
    from gymsamp.sampling.in_process_vector_env import InProcessVectorEnv

    return InProcessVectorEnv([fn() for fn in fns], autoreset_mode=autoreset_mode)


def batched(fns, autoreset_mode):
    from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv

    return BatchedAsyncVectorEnv(fns, 2, autoreset_mode=autoreset_mode)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("ending", ENDINGS, ids=["terminal", "timeout", "both", "one_step"])
@pytest.mark.parametrize(
    "vector_cls",
    [SyncVectorEnv, AsyncVectorEnv, in_process, batched],
    ids=["sync", "async", "gymsamp_in_process", "gymsamp_batched"],
)
def test_user_vector_envs_in_every_autoreset_mode(mode, ending, vector_cls):
    terminate_at, truncate_at, length, last_type, last_truncated = ending
    fns = [lambda: CountingEnv(terminate_at=terminate_at, truncate_at=truncate_at)] * 2
    envs = vector_cls(fns, autoreset_mode=mode)
    try:
        policy = IdlePolicy(envs.single_action_space)
        rollouts = collect(envs, policy, jobs(), Quota(min_rollouts=5))
    finally:
        envs.close()
    assert len(rollouts) == 5
    for ro in rollouts:
        check_counting_rollout(ro, length, last_type, last_truncated)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_reset_seeds_reach_every_rollout_in_every_mode(mode):
    # RandomLengthEnv draws its episode length from np_random at reset: the lengths show
    # exactly which seed each rollout's reset received.
    envs = SyncVectorEnv([lambda: RandomLengthEnv(mean_length=6)] * 2, autoreset_mode=mode)
    try:
        rollouts = collect(
            envs, IdlePolicy(envs.single_action_space), jobs(5), Quota(min_rollouts=8)
        )
    finally:
        envs.close()
    reference = RandomLengthEnv(mean_length=6)
    expected = [reference.reset(seed=derive_seed(5, 0, k))[1]["length"] for k in range(8)]
    assert [ro.length for ro in rollouts] == expected
    assert len(set(expected)) > 2  # the check has teeth: the seeds give different lengths
    assert [ro.rollout_info["seed"] for ro in rollouts] == [derive_seed(5, 0, k) for k in range(8)]
    assert [ro.rollout_info["rollout_index"] for ro in rollouts] == list(range(8))


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_an_idle_sub_env_whose_episode_ended_is_reset_before_its_next_step(mode):
    # Sub-env 0 idles from step 2 on (no job left) while sub-env 1 runs to step 6; each time its
    # idle episode ends it must be reset (by the loop under DISABLED), never stepped on.
    fns = [lambda: StrictCountingEnv(terminate_at=2), lambda: StrictCountingEnv(terminate_at=6)]
    with contextlib.closing(SyncVectorEnv(fns, autoreset_mode=mode)) as envs:
        rollouts = collect(envs, IdlePolicy(envs.single_action_space), jobs(), Quota(2))
    check_counting_rollout(rollouts[0], 2, StepType.TERMINAL, False)
    check_counting_rollout(rollouts[1], 6, StepType.TERMINAL, False)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_a_sub_env_cut_by_max_steps_is_reset_before_its_next_step(mode):
    # A cut rollout ends mid-episode, so no autoreset follows: the loop must reset the sub-env
    # itself, also when it then idles (the third rollout runs in sub-env 0 alone).
    fns = [lambda: StrictCountingEnv(horizon=3)] * 2
    with contextlib.closing(SyncVectorEnv(fns, autoreset_mode=mode)) as envs:
        policy = IdlePolicy(envs.single_action_space)
        rollouts = collect(envs, policy, jobs(), Quota(3), max_steps=3)
    assert len(rollouts) == 3
    for ro in rollouts:
        check_counting_rollout(ro, 3, StepType.TIMEOUT, True)


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_sampler_max_steps_cuts_with_timeout(vectorization):
    with ParallelRolloutSampler(
        lambda: CountingEnv(terminate_at=10),
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=3,
        max_steps=4,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
        record_states=True,
    ) as sampler:
        rollouts = sampler.sample()
    for ro in rollouts:
        check_counting_rollout(ro, 4, StepType.TIMEOUT, True)
        assert not ro.terminated.any()
        # states are recorded where an adapter exists (CountingEnv implements it natively)
        np.testing.assert_array_equal(ro.states[:, 0], np.arange(5))


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_recorded_states_are_exact_in_every_mode(mode):
    from gymsamp.envs import InitStateWrapper

    fns = [lambda: InitStateWrapper(CountingEnv(terminate_at=3), record_state=True)] * 2
    envs = SyncVectorEnv(fns, autoreset_mode=mode)
    try:
        rollouts = collect(
            envs,
            IdlePolicy(envs.single_action_space),
            jobs(),
            Quota(min_rollouts=4),
            record_states=True,
        )
    finally:
        envs.close()
    for ro in rollouts:
        # SAME_STEP autoresets inside the last step: its final state comes from final_info
        np.testing.assert_array_equal(ro.states[:, 0], [0.0, 1.0, 2.0, 3.0])


def test_samplers_record_states_only_when_asked():
    def sample(**kwargs):
        with ParallelRolloutSampler(
            lambda: CountingEnv(terminate_at=2),
            IdlePolicy(gym.spaces.Discrete(2)),
            1,
            min_rollouts=1,
            show_progress_bar=False,
            **kwargs,
        ) as s:
            return s.sample()[0]

    assert "states" not in sample().data_names
    np.testing.assert_array_equal(sample(record_states=True).states[:, 0], [0.0, 1.0, 2.0])


def test_in_process_vector_env_masked_reset_keeps_the_others_and_names_failures():
    from gymsamp.sampling.in_process_vector_env import InProcessVectorEnv

    envs = InProcessVectorEnv([CountingEnv(terminate_at=5) for _ in range(3)])
    try:
        envs.reset(seed=[0, 1, 2])
        obs, *_ = envs.step(np.zeros(3, np.int64))
        np.testing.assert_array_equal(obs[:, 0], [1.0, 1.0, 1.0])
        mask = np.array([False, True, False])
        obs, _ = envs.reset(seed=[None, 7, None], options={"reset_mask": mask})
        np.testing.assert_array_equal(obs[:, 0], [1.0, 0.0, 1.0])  # only sub-env 1 reset
        with pytest.raises(WorkerError, match=r"sub-env 0 raised ValueError in step") as info:
            envs.step(np.array([5, 0, 0]))  # action 5 is outside Discrete(2)
        assert info.value.env_index == 0
        assert envs.get_attr("terminate_at") == (5, 5, 5)
    finally:
        envs.close()


def test_in_process_steps_accept_size_one_rewards_and_refuse_others() -> None:
    from gymsamp.sampling.in_process_vector_env import InProcessVectorEnv

    class ArrayReward(gym.Wrapper):
        def __init__(self, env: gym.Env, shape: tuple[int, ...]) -> None:
            super().__init__(env)
            self.shape = shape

        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            return obs, np.full(self.shape, reward), terminated, truncated, info

    envs = InProcessVectorEnv([ArrayReward(CountingEnv(), (1,)) for _ in range(2)])
    try:
        envs.reset(seed=0)
        assert envs.step(np.zeros(2, np.int64))[1].tolist() == [1.0, 1.0]
    finally:
        envs.close()
    envs = InProcessVectorEnv([ArrayReward(CountingEnv(), (2,)) for _ in range(2)])
    try:
        envs.reset(seed=0)
        with pytest.raises(WorkerError, match=r"the reward must be a real number") as info:
            envs.step(np.zeros(2, np.int64))
        assert info.value.env_index == 0
    finally:
        envs.close()


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_a_one_step_cut_ends_in_timeout(mode):
    # max_steps=1 cuts every rollout after its only step (DESIGN §3: a rollout cut short by
    # the sampler ends in TIMEOUT); a one-step rollout has no FIRST to keep instead.
    fns = [lambda: StrictCountingEnv(horizon=3)] * 2
    with contextlib.closing(SyncVectorEnv(fns, autoreset_mode=mode)) as envs:
        rollouts = collect(
            envs, IdlePolicy(envs.single_action_space), jobs(), Quota(3), max_steps=1
        )
    assert len(rollouts) == 3
    for ro in rollouts:
        check_counting_rollout(ro, 1, StepType.TIMEOUT, True)


class SeedLengthEnv(CountingEnv):
    """A counting env whose episode, reset with seed ``n``, terminates after ``n`` steps."""

    def reset(self, *, seed=None, options=None):
        self.terminate_at = seed
        return super().reset(seed=seed, options=options)


def test_min_steps_issues_no_rollout_once_the_steps_taken_meet_the_bound():
    # Rollout 1 runs 10 steps in sub-env 1 while rollouts 0 and 2 (2 steps each) run in
    # sub-env 0. When rollout 2 ends, 4 complete steps and the 4 rollout 1 has taken meet
    # min_steps=8: the result is rollouts 0 and 1 whatever else runs, so no rollout 3 is
    # issued (its steps, and any failure of it, would be wasted; Quota.should_issue).
    issued = []

    def make_job(k):
        issued.append(k)
        return RolloutJob(k, 10 if k == 1 else 2)

    fns = [SeedLengthEnv] * 2
    with contextlib.closing(SyncVectorEnv(fns, autoreset_mode=AutoresetMode.DISABLED)) as envs:
        policy = IdlePolicy(envs.single_action_space)
        rollouts = collect(envs, policy, make_job, Quota(min_steps=8))
    assert [ro.length for ro in rollouts] == [2, 10]
    assert issued == [0, 1, 2]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_the_vector_envs_own_mode_counts_where_its_metadata_was_overwritten(mode):
    # Gymnasium < 1.4 writes the mode into metadata that its vector envs share with the env
    # class: a later vector env of that class with another mode rewrote an earlier one's. The
    # loop reads the env's own autoreset_mode, so the rollouts stay exact.
    other = MODES[(MODES.index(mode) + 1) % len(MODES)]
    fns = [lambda: StrictCountingEnv(terminate_at=3)] * 2
    with contextlib.closing(SyncVectorEnv(fns, autoreset_mode=mode)) as envs:
        envs.metadata["autoreset_mode"] = other  # as the other vector env's write
        rollouts = collect(envs, IdlePolicy(envs.single_action_space), jobs(), Quota(4))
    assert len(rollouts) == 4
    for ro in rollouts:
        check_counting_rollout(ro, 3, StepType.TERMINAL, False)
