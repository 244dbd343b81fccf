"""BatchedAsyncVectorEnv: its own contract, and the samplers' contract in ``"batched"`` mode."""

import gc
import math
import multiprocessing
import os
import signal
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import tests.sampling.test_boundaries as boundaries
import tests.sampling.test_parallel_rollout_sampler as prs
from gymsamp.data import StepType
from gymsamp.envs import CountingEnv, RandomLengthEnv
from gymsamp.envs.toy_faults import HangingEnv, RaisingEnv
from gymsamp.policies import IdlePolicy
from gymsamp.sampling import (
    ParallelRolloutSampler,
    Quota,
    StepTimeoutError,
    WorkerError,
    collect,
    derive_seed,
)
from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv
from gymsamp.sampling.vector_envs import EnvFactory, make_vector_env
from tests.helpers import python_output
from tests.sampling.gc_order import finalize_before_owner

references = prs.references  # the module-scoped fixture of rollout() references
DISCRETE = gym.spaces.Discrete(2)


def children():
    return len([p for p in multiprocessing.active_children() if p.is_alive()])


@pytest.fixture
def make():
    """Builds vector envs and closes every one of them at teardown, also when a test fails."""
    built = []

    def build(fns, num_workers=None, **kwargs):
        envs = BatchedAsyncVectorEnv(fns, num_workers, **kwargs)
        built.append(envs)
        return envs

    before = children()
    yield build
    for envs in built:
        envs.close(terminate=True)
    assert children() == before


def counting(**kwargs):
    return lambda: CountingEnv(**kwargs)


def zeros(n):
    return np.zeros(n, dtype=np.int64)


# --- envs for the tests (module level: picklable under any start method) -----------------


class InfoEnv(CountingEnv):
    """Reports ``{"odd": k}`` on odd steps k, and always an empty info in sub-env ``quiet``."""

    def __init__(self, quiet=False):
        super().__init__()
        self.quiet = quiet

    def step(self, action):
        obs, reward, terminated, truncated, _ = super().step(action)
        k = int(reward)
        return obs, reward, terminated, truncated, {} if self.quiet or k % 2 == 0 else {"odd": k}


class OptionsEnv(CountingEnv):
    """Pops ``"tag"`` from its reset options (a careless env) and reports it."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed)
        info["tag"] = None if options is None else options.pop("tag", "gone")
        return obs, info


class DictObsEnv(gym.Env):
    observation_space = gym.spaces.Dict(
        {"pos": gym.spaces.Box(-10, 10, (2,), np.float64), "mode": gym.spaces.Discrete(3)}
    )
    action_space = gym.spaces.Dict(
        {"push": gym.spaces.Box(-1, 1, (2,), np.float32), "flag": gym.spaces.Discrete(2)}
    )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = np.zeros(2)
        return {"pos": self.pos.copy(), "mode": 0}, {}

    def step(self, action):
        self.pos += action["push"]
        return {"pos": self.pos.copy(), "mode": int(action["flag"])}, 0.0, False, False, {}


class TextObsEnv(CountingEnv):
    """Observations that cannot live in shared memory (they travel pickled)."""

    def __init__(self):
        super().__init__()
        self.observation_space = gym.spaces.Text(8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return "r", {}

    def step(self, action):
        _, reward, terminated, truncated, info = super().step(action)
        return "s" * int(reward), reward, terminated, truncated, info


class ExitEnv(CountingEnv):
    def step(self, action):
        os._exit(7)


class TupleEnv(gym.Env):
    """Tuple observations and actions (shared memory, one array per component)."""

    observation_space = gym.spaces.Tuple(
        (gym.spaces.Box(-10, 10, (2,), np.float32), gym.spaces.Discrete(3))
    )
    action_space = gym.spaces.Tuple(
        (gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Discrete(2))
    )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = np.zeros(2, np.float32)
        return (self.pos.copy(), 0), {}

    def step(self, action):
        self.pos += action[0]
        return (self.pos.copy(), int(action[1])), 0.0, False, False, {}


class TextActionEnv(gym.Env):
    """Actions that cannot live in shared memory (they travel pickled); observes their length."""

    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Text(4)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return len(action), 0.0, False, False, {"got": action}


class BigInfoEnv(CountingEnv):
    """Replies larger than one pipe read: a 100,000-float info each step; echoes the sum of
    the reset option ``big``."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed)
        if options is not None:
            info["echo"] = float(options["big"].sum())
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, "big": np.full(100_000, reward)}


class NoneResetEnv(CountingEnv):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return None, {}


class RenderEnv(CountingEnv):
    metadata = {"render_modes": ["rgb_array"]}  # noqa: RUF012

    def __init__(self, ident=0):
        super().__init__()
        self.ident, self.render_mode = ident, "rgb_array"

    def render(self):
        return np.full((2, 2, 3), 10 * self.ident + self.step_count, dtype=np.uint8)


class SlowCloseEnv(CountingEnv):
    """Takes a minute to close in a worker (the parent's probe env closes at once)."""

    def close(self):
        if multiprocessing.parent_process() is not None:
            time.sleep(60)


def other_spaces_at(index):
    """Sub-env ``index``'s factory: sub-env 1 has other spaces than the rest."""
    return TextActionEnv if index == 1 else counting()


# --- layout, reset, step -------------------------------------------------------------------


def test_layout_splits_sub_envs_into_blocks(make):
    before = children()
    envs = make([counting()] * 5, 4)
    assert (envs.num_workers, envs.envs_per_worker) == (3, 2)  # 2 + 2 + 1
    assert children() == before + 3
    assert envs.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    assert make([counting()] * 3).num_workers == min(3, len(os.sched_getaffinity(0)))
    with pytest.raises(ValueError, match="num_workers must be an int >= 1"):
        BatchedAsyncVectorEnv([counting()], 0)


def test_a_parent_block_steps_the_last_sub_envs_in_this_process(make):
    before = children()
    envs = make([counting(terminate_at=t) for t in (3, 4, 5, 6, 7)], 2, in_parent=2)
    assert (envs.num_workers, envs.envs_per_worker, envs.in_parent) == (2, 2, 2)
    assert len(envs.processes) == children() - before == 2
    assert repr(envs).endswith("in_parent=2)")
    assert envs.get_attr("terminate_at") == (3, 4, 5, 6, 7)
    envs.reset(seed=0)
    # The parent's sub-envs live here: their state is visible without any message.
    local = envs._local.envs
    assert [env.unwrapped.terminate_at for env in local] == [6, 7]
    obs, *_ = envs.step(zeros(5))
    assert obs[:, 0].tolist() == [1.0] * 5
    assert [env.unwrapped.step_count for env in local] == [1, 1]
    envs.close()
    assert envs._local.envs == []  # closed and let go
    assert children() == before


@pytest.mark.parametrize(
    ("in_parent", "error", "match"),
    [
        (-1, ValueError, r"in_parent must be an int >= 0, got -1"),
        (
            4,
            ValueError,
            r"in_parent must leave at least one sub-env to the workers: be < "
            r"len\(env_fns\)=4, got 4",
        ),
        (1.0, TypeError, "in_parent"),
        (True, TypeError, "in_parent"),
    ],
)
def test_bad_parent_blocks(in_parent, error, match):
    before = children()
    with pytest.raises(error, match=match):
        BatchedAsyncVectorEnv([counting()] * 4, 1, in_parent=in_parent)
    assert children() == before


def test_an_error_in_the_parent_block_names_the_sub_env_and_the_env_stays_usable(make):
    fns = [counting()] * 3 + [lambda: RaisingEnv(raise_at=2, message="100% broken")]
    envs = make(fns, 1, in_parent=2)
    envs.reset()
    envs.step(zeros(4))
    with pytest.raises(WorkerError, match=r"sub-env 3 raised ToyEnvError: 100% broken") as info:
        envs.step(zeros(4))
    assert (info.value.env_index, info.value.worker_index) == (3, 1)  # block 1: the parent's
    assert "raise ToyEnvError" in info.value.remote_traceback
    assert envs.get_attr("step_count")[:3] == (2, 2, 2)  # the workers' steps completed
    obs, _ = envs.reset(seed=1)
    assert obs[:, 0].tolist() == [0.0] * 4


def test_a_parent_block_queues_and_pauses_like_a_worker(make):
    envs = make([counting(terminate_at=2)] * 4, 1, in_parent=2)
    envs.reset(seed=0)
    envs.queue_reset(3, seed=7, options=None)
    envs.pause(2)
    envs.step(zeros(4))
    obs, rewards, terminated, _, infos = envs.step(zeros(4))
    assert terminated.tolist() == [True, True, False, True]  # the paused one did not step
    assert rewards.tolist() == [2.0, 2.0, 0.0, 2.0]
    assert obs[:, 0].tolist() == [2.0, 2.0, 0.0, 0.0]  # sub-env 3 reset inside the step
    assert infos["_final_obs"].tolist() == [False, False, False, True]
    assert infos["final_obs"][3].tolist() == [2.0]
    expected_draw = CountingEnv().reset(seed=7)[1]["reset_seed_draw"]
    assert infos["reset_seed_draw"][3] == expected_draw


def test_a_pause_while_a_step_is_pending_applies_from_the_next_step(make):
    envs = make([counting()] * 3, 2)
    envs.reset()
    envs.step_async(zeros(3))
    envs.pause(1)  # travels with the next step_async
    assert envs.step_wait(timeout=5)[1].tolist() == [1.0, 1.0, 1.0]
    obs, rewards, *_ = envs.step(zeros(3))
    assert rewards.tolist() == [2.0, 0.0, 2.0]
    assert obs[:, 0].tolist() == [2.0, 1.0, 2.0]  # the paused one keeps its observation


@pytest.mark.parametrize("busy_poll_us", [-1.0, math.nan, math.inf, True, "100"])
def test_busy_poll_must_be_a_finite_duration(busy_poll_us):
    before = children()
    with pytest.raises(ValueError, match=r"busy_poll_us must be a finite number >= 0, got"):
        BatchedAsyncVectorEnv([counting()], 1, busy_poll_us=busy_poll_us)
    assert children() == before  # refused before any worker started


@pytest.mark.parametrize("busy_poll_us", [0.0, 100.0, 5000.0])
def test_polling_or_sleeping_workers_step_alike(make, busy_poll_us):
    envs = make([counting()] * 4, 2, busy_poll_us=busy_poll_us)
    envs.reset(seed=0)
    for k in range(1, 4):
        obs, rewards, *_ = envs.step(zeros(4))
        assert obs[:, 0].tolist() == [float(k)] * 4
        assert rewards.tolist() == [float(k)] * 4


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux CPU affinity")
@pytest.mark.parametrize("pin", [True, False])
def test_workers_are_pinned_round_robin_unless_asked_not_to(make, pin):
    cpus = sorted(os.sched_getaffinity(0))
    envs = make([counting()] * 6, 3, pin_workers=pin)
    pinned = [os.sched_getaffinity(p.pid) for p in envs.processes]
    expected = [{cpus[w % len(cpus)]} if pin else set(cpus) for w in range(3)]
    assert pinned == expected


def test_factories_are_not_pickled_under_fork(make):
    if multiprocessing.get_start_method() != "fork":
        pytest.skip("fork start method only")
    lock = multiprocessing.Lock()  # cannot be pickled: fine when inherited through fork

    def factory():
        assert lock is not None
        return CountingEnv()

    assert make([factory] * 2, 2).reset()[0].shape == (2, 1)


@pytest.mark.parametrize(("num_workers", "in_parent"), [(2, 0), (1, 2), (2, 1)])
def test_reset_and_step_match_sync_vector_env(make, num_workers, in_parent):
    fns = [lambda: gym.make("CartPole-v1")] * 4
    envs = make(fns, num_workers, in_parent=in_parent)
    ref = SyncVectorEnv(fns, autoreset_mode=AutoresetMode.DISABLED)
    try:
        for a, b in zip(envs.reset(seed=3), ref.reset(seed=3), strict=True):
            np.testing.assert_equal(a, b)
        actions = np.array([0, 1, 1, 0])
        for a, b in zip(envs.step(actions), ref.step(actions), strict=True):
            np.testing.assert_equal(a, b)
        seeds = [None, 11, None, 12]
        mask = np.array([False, True, False, True])
        got = envs.reset(seed=seeds, options={"reset_mask": mask})
        np.testing.assert_equal(got, ref.reset(seed=seeds, options={"reset_mask": mask}))
    finally:
        ref.close()


@pytest.mark.parametrize("in_parent", [0, 1])
def test_masked_reset_uses_own_seeds_and_keeps_the_others(make, in_parent):
    envs = make([counting()] * 4, 2, in_parent=in_parent)
    obs, infos = envs.reset(seed=[1, 2, 3, 4])
    reference = CountingEnv()
    draws = [reference.reset(seed=s)[1]["reset_seed_draw"] for s in (1, 2, 3, 4, 9)]
    assert infos["reset_seed_draw"].tolist() == draws[:4]
    envs.step(zeros(4))
    obs, *_ = envs.step(zeros(4))
    assert obs[:, 0].tolist() == [2.0] * 4
    mask = np.array([False, False, True, False])
    options = {"reset_mask": mask}
    obs, infos = envs.reset(seed=[None, None, 9, None], options=options)
    assert obs[:, 0].tolist() == [2.0, 2.0, 0.0, 2.0]  # only sub-env 2 (of worker 1) was reset
    assert infos["_reset_seed_draw"].tolist() == [False, False, True, False]
    assert infos["reset_seed_draw"][2] == draws[4]
    assert options["reset_mask"] is mask  # the caller's dict is left alone
    assert envs.reset(seed=5)[1]["reset_seed_draw"].tolist() == [
        reference.reset(seed=5 + i)[1]["reset_seed_draw"] for i in range(4)
    ]


@pytest.mark.parametrize(
    ("mask", "error", "match"),
    [
        ([True, False], TypeError, "numpy bool array"),
        (np.array([1, 0]), TypeError, "numpy bool array"),
        (np.array([True]), ValueError, r"shape \(2,\)"),
        (np.array([False, False]), ValueError, "at least one True"),
    ],
)
def test_bad_reset_masks(make, mask, error, match):
    envs = make([counting()] * 2, 2)
    with pytest.raises(error, match=match):
        envs.reset(options={"reset_mask": mask})
    with pytest.raises(ValueError, match="seed must hold num_envs=2 seeds"):
        envs.reset(seed=[1, 2, 3])


def test_reset_options_reach_masked_sub_envs_each_as_a_copy(make):
    envs = make([OptionsEnv] * 4, 2)
    envs.reset()
    mask = np.array([True, True, False, True])
    _, infos = envs.reset(options={"reset_mask": mask, "tag": "x"})
    # Sub-envs 0 and 1 share a worker: the first one's pop does not reach the second.
    assert infos["tag"].tolist() == ["x", "x", None, "x"]
    assert infos["_tag"].tolist() == [True, True, False, True]
    assert envs.reset()[1]["tag"].tolist() == [None] * 4


def test_reset_options_without_a_mask_reach_every_sub_env_each_as_a_copy(make):
    envs = make([OptionsEnv] * 3, 2)
    options = {"tag": "x"}
    _, infos = envs.reset(options=options)
    assert infos["tag"].tolist() == ["x", "x", "x"]  # sub-env 1's pop did not reach 2
    assert options == {"tag": "x"}  # the caller's dict is as it was


@pytest.mark.parametrize("in_parent", [0, 1])
def test_a_none_reset_observation_names_its_sub_env(make, in_parent):
    envs = make([counting(), NoneResetEnv], 1, in_parent=in_parent)
    with pytest.raises(
        WorkerError, match=r"^sub-env 1 raised ValueError: the observation must fit .* got None"
    ) as info:
        envs.reset()
    assert info.value.env_index == 1


def test_messages_longer_than_one_pipe_read_arrive_whole(make):
    # Replies and requests over 64 KiB take several reads on the other side.
    envs = make([BigInfoEnv] * 3, 1)
    _, infos = envs.reset(options={"big": np.ones(50_000)})  # a 400 kB request
    assert infos["echo"].tolist() == [50_000.0] * 3
    *_, infos = envs.step(zeros(3))  # a 2.4 MB reply
    assert infos["big"].shape == (3, 100_000)
    assert (infos["big"] == 1.0).all()


def test_payload_options_through_gymsamp_wrappers():
    envs = make_vector_env(EnvFactory(counting()), 4, "batched", num_workers=2)
    try:
        envs.reset()
        mask = np.array([False, True, True, False])
        _, infos = envs.reset(options={"reset_mask": mask, "domain_param": {"increment": 2.0}})
        assert infos["domain_param"]["increment"][mask].tolist() == [2.0, 2.0]
        obs, *_ = envs.step(zeros(4))
        assert obs[:, 0].tolist() == [1.0, 2.0, 2.0, 1.0]
    finally:
        envs.close()


def test_observations_come_from_shared_memory_and_are_copies(make):
    envs = make([counting()] * 4, 2)
    assert isinstance(envs._obs, np.ndarray)  # the shared batch itself
    obs, _ = envs.reset()
    obs[:] = 42.0  # the caller's copy: changes nothing inside
    first, *_ = envs.step(zeros(4))
    second, *_ = envs.step(zeros(4))
    assert first[:, 0].tolist() == [1.0] * 4
    assert second[:, 0].tolist() == [2.0] * 4


def test_dict_observations_and_actions_in_shared_memory(make):
    envs = make([DictObsEnv] * 3, 2)
    assert envs._obs is not None
    assert envs._act is not None
    envs.reset()
    push = np.array([[0.5, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=np.float32)
    actions = {"push": push, "flag": np.array([1, 0, 1])}
    envs.step(actions)
    obs, *_ = envs.step(actions)
    np.testing.assert_allclose(obs["pos"], 2 * push)
    assert obs["mode"].tolist() == [1, 0, 1]


def test_tuple_observations_and_actions_in_shared_memory(make):
    envs = make([TupleEnv] * 3, 2)
    assert envs._obs is not None
    assert envs._act is not None
    envs.reset()
    push = np.array([[0.5, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=np.float32)
    actions = (push, np.array([1, 0, 1]))
    envs.step(actions)
    (pos, mode), *_ = envs.step(actions)
    np.testing.assert_allclose(pos, 2 * push)
    assert mode.tolist() == [1, 0, 1]


@pytest.mark.parametrize("in_parent", [0, 1])
def test_actions_of_another_shape_are_refused_not_broadcast(make, in_parent):
    # One action (or a batch of one) reached every sub-env: numpy broadcast it into the
    # shared action array, where Gymnasium's vector envs raise.
    envs = make([counting()] * 3, 1, in_parent=in_parent)
    envs.reset()
    for actions in (np.zeros(1, dtype=np.int64), np.int64(0), zeros(4), [0, 1]):
        with pytest.raises(ValueError, match=r"actions must have the shape \(3,\) of a batch "):
            envs.step(actions)
    dict_envs = make([DictObsEnv] * 2, 1)
    dict_envs.reset()
    with pytest.raises(ValueError, match=r"shape \(2, 2\) .* got shape \(2,\)"):
        dict_envs.step({"push": np.zeros(2, np.float32), "flag": np.array([1, 0])})
    obs, rewards, *_ = envs.step([0, 1, 1])  # a list of the right length is fine
    assert obs[:, 0].tolist() == [1.0, 1.0, 1.0]
    assert rewards.tolist() == [1.0, 1.0, 1.0]


def test_float_actions_for_an_integer_action_space_are_refused_not_truncated(make):
    # 0.7 reached the Discrete sub-env as 0 (cast into the int64 shared array).
    envs = make([counting()] * 2, 1)
    envs.reset()
    with pytest.raises(
        TypeError, match="actions must be integers .* dtype int64 .* got dtype float64"
    ):
        envs.step(np.array([0.7, 1.0]))
    assert envs.step(np.array([True, False]))[1].tolist() == [1.0, 1.0]  # bools cast exactly


def test_spaces_without_shared_memory_travel_pickled(make):
    envs = make([TextObsEnv] * 3, 2)
    assert envs._obs is None
    assert envs.reset()[0] == ("r", "r", "r")
    envs.step(zeros(3))
    obs, _ = envs.reset(options={"reset_mask": np.array([False, True, False])})
    assert obs == ("s", "r", "s")


def test_actions_without_shared_memory_travel_pickled(make):
    envs = make([TextActionEnv] * 3, 2)
    assert envs._act is None
    envs.reset()
    obs, *_, infos = envs.step(("a", "bb", "ccc"))
    assert obs.tolist() == [1, 2, 3]
    assert infos["got"].tolist() == ["a", "bb", "ccc"]


@pytest.mark.parametrize("in_parent", [0, 1])
def test_sub_envs_with_other_spaces_than_sub_env_0_are_refused(in_parent):
    before = children()
    with pytest.raises(
        WorkerError, match=r"sub-env 1 raised ValueError: sub-env spaces must equal sub-env 0's"
    ) as info:
        BatchedAsyncVectorEnv([other_spaces_at(i) for i in range(3)], 1, in_parent=in_parent)
    assert "got (Discrete(5), Text(" in str(info.value)
    assert info.value.env_index == 1
    assert children() == before


def test_empty_infos_cost_nothing_and_others_are_batched_like_gymnasium(make):
    fns = [lambda q=q: InfoEnv(quiet=q) for q in (False, True, False, True)]
    envs = make(fns, 2)
    ref = SyncVectorEnv(fns, autoreset_mode=AutoresetMode.DISABLED)
    try:
        envs.reset()
        ref.reset()
        for k in (1, 2, 3):
            *_, infos = envs.step(zeros(4))
            *_, expected = ref.step(zeros(4))
            if k % 2 == 0:
                assert infos == {}
            else:
                assert sorted(infos) == ["_odd", "odd"]
                np.testing.assert_array_equal(infos["odd"], expected["odd"])
                assert infos["_odd"].tolist() == [True, False, True, False]
                assert infos["odd"].tolist() == [k, 0, k, 0]
    finally:
        ref.close()


# --- call / get_attr / set_attr -----------------------------------------------------------


@pytest.mark.parametrize("in_parent", [0, 1])
def test_call_get_attr_set_attr(make, in_parent):
    envs = make([counting(terminate_at=t) for t in (3, 4, 5)], 2, in_parent=in_parent)
    envs.reset()
    assert envs.get_attr("terminate_at") == (3, 4, 5)
    assert envs.call("get_domain_param") == ({"increment": 1.0},) * 3
    envs.call("set_domain_param", {"increment": 0.5})
    assert envs.get_attr("step_count") == (0, 0, 0)  # a property: its value, not called
    obs, *_ = envs.step(zeros(3))
    assert obs[:, 0].tolist() == [0.5] * 3
    envs.set_attr("terminate_at", [1, 9, 1])
    assert envs.get_attr("terminate_at") == (1, 9, 1)
    envs.set_attr("truncate_at", 7)  # one value for all
    assert envs.get_attr("truncate_at") == (7, 7, 7)
    with pytest.raises(ValueError, match="values must hold num_envs=3"):
        envs.set_attr("terminate_at", [1, 2])
    with pytest.raises(ValueError, match="use the vector env's own step"):
        envs.call("step", 0)


@pytest.mark.parametrize("in_parent", [0, 1])
def test_render_returns_every_sub_envs_frame(make, in_parent):
    envs = make([lambda i=i: RenderEnv(i) for i in range(3)], 1, in_parent=in_parent)
    envs.reset()
    envs.step(zeros(3))
    frames = envs.render()
    assert [frame[0, 0, 0] for frame in frames] == [1, 11, 21]
    assert all(frame.shape == (2, 2, 3) for frame in frames)


def test_a_missing_attribute_names_the_sub_env_and_the_env_stays_usable(make):
    envs = make([counting()] * 4, 2)
    envs.reset()
    with pytest.raises(WorkerError, match=r"sub-env 0 raised AttributeError") as info:
        envs.get_attr("no_such_attribute")
    assert info.value.env_index == 0
    assert "no_such_attribute" in info.value.remote_traceback
    assert envs.step(zeros(4))[1].tolist() == [1.0] * 4


# --- failures ------------------------------------------------------------------------------


def test_sub_env_error_names_the_global_index_with_the_traceback(make):
    fns = [counting()] * 3 + [lambda: RaisingEnv(raise_at=2, message="100% broken")]
    envs = make(fns, 2)
    envs.reset()
    envs.step(zeros(4))
    with pytest.raises(WorkerError, match=r"sub-env 3 raised ToyEnvError: 100% broken") as info:
        envs.step(zeros(4))
    assert isinstance(info.value, RuntimeError)
    assert (info.value.env_index, info.value.worker_index) == (3, 1)
    assert "toy_faults.py" in info.value.remote_traceback
    assert "raise ToyEnvError" in info.value.remote_traceback


def test_gymsamp_tagged_errors_keep_their_message():
    envs = make_vector_env(EnvFactory(lambda: RaisingEnv(raise_at=1)), 3, "batched", num_workers=2)
    try:
        envs.reset()
        with pytest.raises(WorkerError, match=r"^sub-env 0 raised ToyEnvError in step") as info:
            envs.step(zeros(3))
        assert info.value.env_index == 0  # the lowest of the three failing sub-envs
    finally:
        envs.close()


def test_construction_errors_leave_no_process():
    before = children()

    def bad():
        raise OSError("no simulator licence")

    with pytest.raises(
        WorkerError,
        match="sub-env 2 raised OSError while being built in its worker process: no simulator",
    ):
        BatchedAsyncVectorEnv([counting()] * 2 + [bad], 2)
    assert children() == before


@pytest.mark.parametrize("how", ["killed", "exits"])
def test_a_dead_worker_names_the_worker_and_its_sub_envs(make, how):
    fns = [counting()] * 3 + ([counting()] if how == "killed" else [ExitEnv])
    envs = make(fns, 2)
    envs.reset()
    if how == "killed":
        os.kill(envs.processes[1].pid, signal.SIGKILL)
    with pytest.raises(WorkerError, match=r"worker 1 \(sub-envs 2..3\) died") as info:
        envs.step(zeros(4))
    assert info.value.worker_index == 1
    assert f"exit code {-9 if how == 'killed' else 7}" in str(info.value)
    # Two sub-envs died with it: neither is "the" failing one, both are lost.
    assert info.value.env_index is None
    assert info.value.lost_env_indices == (2, 3)
    with pytest.raises(WorkerError, match="unusable"):
        envs.step(zeros(4))
    before = children()
    envs.close()
    assert children() == before - 1  # the live worker ended too


def test_a_request_to_a_dead_worker_names_the_worker(make):
    # A reset request writes to the dead worker's socket, which fails at once.
    envs = make([counting()] * 4, 2)
    envs.reset()
    process = envs.processes[1]
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=10)
    with pytest.raises(WorkerError, match=r"worker 1 \(sub-envs 2..3\) died") as info:
        envs.reset()
    assert "exit code -9" in str(info.value)
    assert info.value.lost_env_indices == (2, 3)
    with pytest.raises(WorkerError, match="unusable"):
        envs.step(zeros(4))


def test_a_close_that_takes_over_close_timeout_terminates_the_workers(make, monkeypatch):
    import gymsamp.sampling.batched_vector_env as batched

    ended = []

    def end_workers(processes, *, terminate, close_timeout):
        ended.append(terminate)
        return real_end_workers(processes, terminate=terminate, close_timeout=close_timeout)

    real_end_workers = batched.end_workers
    monkeypatch.setattr(batched, "end_workers", end_workers)
    envs = make([SlowCloseEnv] * 2 + [counting()] * 2, 2, close_timeout=0.2)
    envs.reset()
    before = children()
    envs.close()  # the sub-envs' close() would sleep a minute
    assert ended == [True]  # terminated, not waited for
    assert envs.closed
    assert children() == before - 2


def our_children():
    """Pids of this process's children, ended ones not yet reaped (zombies) included."""
    pids = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            pids += [int(p) for p in f.read().split()]
    return pids


@pytest.mark.parametrize("interrupted", ["close message", "wait for the workers"])
def test_a_ctrl_c_in_close_still_ends_every_worker(make, monkeypatch, interrupted):
    # A KeyboardInterrupt while close() sent its message or waited for the workers left them
    # running (or unreaped), their sockets open, for as long as the interrupt's traceback kept
    # the env alive (IPython keeps the last one); a sampler does not close it again.
    import gymsamp.sampling.batched_vector_env as batched

    envs = make([counting()] * 4, 2)
    envs.reset()
    pids = [process.pid for process in envs.processes]

    def ctrl_c(*args, **kwargs):
        monkeypatch.undo()  # the real one again, for the close's own cleanup
        raise KeyboardInterrupt

    if interrupted == "close message":
        monkeypatch.setattr(batched, "write_message", ctrl_c)
    else:
        monkeypatch.setattr(multiprocessing.process.BaseProcess, "join", ctrl_c)
    with pytest.raises(KeyboardInterrupt) as info:  # kept: the env stays alive
        envs.close()
    assert info.value is not None
    assert set(pids).isdisjoint(our_children())  # ended and reaped
    assert all(conn.closed for conn in envs._conns)
    with pytest.raises(WorkerError, match="unusable"):
        envs.step(zeros(4))
    envs.close()  # the rest of the close: nothing left to end
    assert envs.closed


@pytest.mark.parametrize("vectorization", ["batched", "async"])
def test_a_ctrl_c_as_a_worker_is_reaped_leaves_no_process_alive_for_ever(
    monkeypatch, vectorization
):
    # multiprocessing reaps an ended worker with a blocking waitpid (the process may take a
    # few milliseconds to become reapable after it closed its sentinel): a KeyboardInterrupt
    # raised as that waitpid returned left a reaped process that multiprocessing thought
    # alive for ever: it could not be closed, its pipes stayed open (+2 fds per Ctrl-C in
    # chaos runs of close()) and active_children() listed it. The reaping now holds Ctrl-C
    # back until multiprocessing has recorded it.
    import threading

    envs = make_vector_env(EnvFactory(counting()), 2, vectorization, start_method="fork")
    envs.reset()
    workers = list(envs.processes)
    real_waitpid = os.waitpid

    def waitpid_then_ctrl_c(pid, options):
        result = real_waitpid(pid, options)
        if result[0] == pid:  # reaped: Ctrl-C now, before the caller records it
            monkeypatch.undo()
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return result

    monkeypatch.setattr(os, "waitpid", waitpid_then_ctrl_c)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # also under nohup
    try:
        with pytest.raises(KeyboardInterrupt):
            envs.close()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not set(workers) & set(multiprocessing.active_children())
    assert envs.processes == []  # every one ended and its handle closed
    envs.close()


def test_a_dead_worker_of_one_sub_env_names_that_sub_env(make):
    # A worker stepping a single sub-env: that sub-env is "the" failing one (as in async mode).
    envs = make([counting()] * 3, 3)
    envs.reset()
    os.kill(envs.processes[1].pid, signal.SIGKILL)
    with pytest.raises(WorkerError, match=r"^worker 1 \(sub-env 1\) died unexpectedly") as info:
        envs.step(zeros(3))
    assert (info.value.env_index, info.value.worker_index) == (1, 1)
    assert info.value.lost_env_indices == ()


@pytest.mark.parametrize("in_parent", [0, 1])
def test_step_timeout_then_close_terminates(make, in_parent):
    fns = [lambda: HangingEnv(hang_at=2, hang_seconds=60)] * 2 + [counting()] * 2
    envs = make(fns, 2, in_parent=in_parent)  # sub-env 3 in the parent, or in worker 1
    envs.reset()
    envs.step(zeros(4))
    envs.step_async(zeros(4))
    start = time.monotonic()
    with pytest.raises(multiprocessing.TimeoutError) as info:
        envs.step_wait(timeout=0.3)
    assert str(info.value) == "worker 0 (sub-envs 0..1) did not finish its step within 0.3 s"
    assert (info.value.env_indices, info.value.worker_index) == ([0, 1], 0)
    assert time.monotonic() - start < 2.0
    with pytest.raises(WorkerError, match="unusable"):
        envs.step(zeros(4))
    before = children()
    start = time.monotonic()
    envs.close()  # a broken env always terminates, also without terminate=True
    assert time.monotonic() - start < 3.0
    assert children() == before - 2


def test_protocol_misuse_and_close(make):
    envs = make([counting()] * 2, 2)
    envs.reset()
    with pytest.raises(gym.error.NoAsyncCallError):
        envs.step_wait()
    envs.step_async(zeros(2))
    with pytest.raises(gym.error.AlreadyPendingCallError):
        envs.step_async(zeros(2))
    assert envs.step_wait(timeout=5)[1].tolist() == [1.0, 1.0]
    with pytest.raises(gym.error.NoAsyncCallError):
        envs.reset_wait()
    envs.reset_async(seed=[3, None], options={"reset_mask": np.array([True, False])})
    with pytest.raises(gym.error.NoAsyncCallError):
        envs.step_wait()  # a pending reset's replies are not step results
    with pytest.raises(gym.error.AlreadyPendingCallError):
        envs.step_async(zeros(2))
    obs, _ = envs.reset_wait(timeout=5)
    assert obs[:, 0].tolist() == [0.0, 1.0]  # only sub-env 0 was reset
    before = children()
    envs.close()
    envs.close()  # idempotent
    envs.close(terminate=True)
    assert children() == before - 2
    with pytest.raises(gym.error.ClosedEnvironmentError):
        envs.step(zeros(2))


@pytest.mark.parametrize("terminate", [False, True])
def test_no_process_outlives_close_or_garbage_collection(terminate):
    before = children()
    envs = BatchedAsyncVectorEnv([counting()] * 4, 2)
    assert children() == before + 2
    envs.close(terminate=terminate)
    assert children() == before
    envs = BatchedAsyncVectorEnv([counting()] * 4, 2)
    envs.reset()
    del envs
    gc.collect()
    assert children() == before


def test_a_forgotten_env_whose_sockets_were_finalized_first_closes_them_not_again(make):
    before = children()
    envs = make([counting()] * 4, 2)
    envs.reset()
    second_closes = finalize_before_owner(envs._conns)
    envs.__del__()  # what garbage collection calls next on the same cycle
    assert second_closes == []
    assert children() == before


@pytest.mark.slow
def test_spawn_start_method(make):
    envs = make([counting(terminate_at=2)] * 3, 2, context="spawn")
    envs.reset()
    envs.step(zeros(3))
    assert envs.step(zeros(3))[2].tolist() == [True] * 3


@pytest.mark.slow
def test_ctrl_c_ends_every_batched_worker(tmp_path, monkeypatch):
    from tests.sampling import test_interrupt

    script = test_interrupt.SCRIPT.replace('vectorization="async"', 'vectorization="batched"')
    assert script != test_interrupt.SCRIPT
    monkeypatch.setattr(test_interrupt, "SCRIPT", script)
    test_interrupt.test_ctrl_c_ends_every_worker(tmp_path, "group")


# --- the collection loop and the samplers in "batched" mode -------------------------------


@pytest.mark.parametrize("ending", boundaries.ENDINGS, ids=["terminal", "timeout", "both", "one"])
@pytest.mark.parametrize("in_parent", [0, 1])
@pytest.mark.parametrize("copy", [True, False])  # False: the loop copies the shared batch
def test_episode_boundaries_in_the_collection_loop(make, ending, in_parent, copy):
    terminate_at, truncate_at, length, last_type, last_truncated = ending
    fns = [counting(terminate_at=terminate_at, truncate_at=truncate_at)] * 3
    envs = make(fns, 2, in_parent=in_parent, copy=copy)
    rollouts = collect(envs, IdlePolicy(DISCRETE), boundaries.jobs(), Quota(min_rollouts=7))
    assert [ro.rollout_info["rollout_index"] for ro in rollouts] == list(range(7))
    for ro in rollouts:
        boundaries.check_counting_rollout(ro, length, last_type, last_truncated)


def test_the_pipelined_loop_sends_no_step_past_the_result(make):
    # The loop may send the next step before booking one, but not once the booked rollouts
    # complete the quota: 4 steps make rollouts 0 and 1, and rollout 2 (a surplus) started
    # in the worker with its queued reset inside step 4; a 5th step would have advanced it.
    envs = make([counting(terminate_at=2)], 1)
    rollouts = collect(envs, IdlePolicy(DISCRETE), boundaries.jobs(), Quota(min_steps=4))
    assert [ro.length for ro in rollouts] == [2, 2]
    assert envs.get_attr("step_count") == (0,)


@pytest.mark.parametrize("in_parent", [0, 1, 2])
def test_reset_seeds_reach_every_rollout(make, in_parent):
    envs = make([lambda: RandomLengthEnv(mean_length=6)] * 3, 1, in_parent=in_parent)
    rollouts = collect(envs, IdlePolicy(DISCRETE), boundaries.jobs(5), Quota(min_rollouts=8))
    reference = RandomLengthEnv(mean_length=6)
    expected = [reference.reset(seed=derive_seed(5, 0, k))[1]["length"] for k in range(8)]
    assert [ro.length for ro in rollouts] == expected
    assert len(set(expected)) > 2


@pytest.mark.parametrize("ending", boundaries.ENDINGS, ids=["terminal", "timeout", "both", "one"])
def test_sampler_episode_boundaries(ending):
    terminate_at, truncate_at, length, last_type, last_truncated = ending
    with ParallelRolloutSampler(
        counting(terminate_at=terminate_at, truncate_at=truncate_at),
        IdlePolicy(DISCRETE),
        4,
        min_rollouts=6,
        seed=0,
        vectorization="batched",
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    assert len(rollouts) == 6
    for ro in rollouts:
        boundaries.check_counting_rollout(ro, length, last_type, last_truncated)


def test_sampler_max_steps_cuts_with_timeout():
    boundaries.test_sampler_max_steps_cuts_with_timeout("batched")


@pytest.mark.parametrize("name", ["idle", "random", "noisy"])
@pytest.mark.parametrize("num_workers", [2, 4])
def test_sequential_equals_parallel(references, name, num_workers):
    prs.test_sequential_equals_parallel(references, name, "batched", num_workers)


def test_min_steps_mode_is_independent_of_the_worker_count():
    prs.test_min_steps_mode_is_independent_of_the_worker_count("batched")


class TestPayloadsBatched(prs.TestPayloads):
    """The payload tests of the sampler, on 2 sub-envs of a batched vector env."""

    test_env_without_adapter_refuses_payloads = None  # builds its own sampler: nothing new

    def make(self, **kwargs):
        return ParallelRolloutSampler(
            counting(terminate_at=3),
            IdlePolicy(DISCRETE),
            2,
            seed=0,
            vectorization="batched",
            show_progress_bar=False,
            **kwargs,
        )


def test_worker_error_names_the_sub_env_and_the_sampler_recovers():
    prs.test_worker_error_names_the_sub_env_and_the_sampler_recovers("batched")


@pytest.mark.slow
def test_hanging_env_is_bounded_by_the_step_timeout():
    before = children()
    with ParallelRolloutSampler(
        lambda: HangingEnv(hang_at=3),
        IdlePolicy(DISCRETE),
        4,
        min_rollouts=2,
        vectorization="batched",
        step_timeout=0.5,
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(StepTimeoutError, match=r"step_timeout=0.5"):
            sampler.sample()
        assert children() == before  # the hung workers were terminated
        sampler.reinit(env=counting(terminate_at=2))
        assert [ro.length for ro in sampler.sample()] == [2, 2]
    assert children() == before


def test_sampler_workers_end_with_close_and_garbage_collection():
    before = children()
    sampler = ParallelRolloutSampler(
        "CartPole-v1",
        IdlePolicy(DISCRETE),
        4,
        min_rollouts=2,
        vectorization="batched",
        show_progress_bar=False,
    )
    sampler.sample()
    assert children() == before + min(4, len(os.sched_getaffinity(0)))
    sampler.close()
    assert children() == before
    sampler.sample()
    del sampler
    gc.collect()
    assert children() == before


def test_auto_chooses_batching_for_mid_cost_envs_and_says_so():
    with ParallelRolloutSampler(
        counting(terminate_at=3, step_cost_us=100),
        IdlePolicy(DISCRETE),
        8,
        min_rollouts=1,
        show_progress_bar=False,
    ) as sampler:
        cpus = os.cpu_count() or 1
        assert sampler.vectorization_used == ("batched" if cpus > 1 else "sync")
        assert f"vectorization={sampler.vectorization_used!r}" in repr(sampler)
        rollouts = sampler.sample()
    assert rollouts[0].rollout_info["rollout_index"] == 0
    assert rollouts[0].step_types[0] == StepType.FIRST


@pytest.mark.parametrize("name", ["idle", "random", "noisy"])
def test_auto_steps_a_share_in_the_parent_where_cpus_are_scarce(references, name, monkeypatch):
    """Steps of 10 us x 8 sub-envs on 2 CPUs: 4 in one worker, 4 in the parent, and the
    rollouts are still those of rollout()."""
    import gymsamp.sampling.local_backend as local_module
    import gymsamp.sampling.parallel_rollout_sampler as sampler_module
    import gymsamp.sampling.sampler_env as env_module

    monkeypatch.setattr(env_module, "probe_step_cost", lambda probe: 10.0)
    monkeypatch.setattr(sampler_module, "available_cpus", lambda: 2)
    monkeypatch.setattr(local_module, "available_cpus", lambda: 2)  # the layout's
    env, policy = prs.policies()[name]
    with ParallelRolloutSampler(
        env, policy, 8, min_rollouts=5, seed=0, max_steps=30, show_progress_bar=False
    ) as sampler:
        assert sampler.vectorization_used == "batched"
        rollouts = sampler.sample()
        layout = sampler._local.envs
        assert (layout.num_workers, layout.in_parent) == (1, 4)
        assert sampler._local.layout(sampler._local_spec()) == (
            "4 sub-envs on 1 process, 4 in this one"
        )
    for ref, ro in zip(references[name], rollouts, strict=True):
        prs.assert_same(ref, ro)


def test_a_step_timeout_keeps_every_sub_env_in_a_worker(monkeypatch):
    import gymsamp.sampling.local_backend as local_module
    import gymsamp.sampling.parallel_rollout_sampler as sampler_module

    monkeypatch.setattr(sampler_module, "available_cpus", lambda: 2)
    monkeypatch.setattr(local_module, "available_cpus", lambda: 2)  # the layout's
    with ParallelRolloutSampler(
        counting(terminate_at=3),
        IdlePolicy(DISCRETE),
        8,
        min_rollouts=8,
        step_timeout=30.0,
        show_progress_bar=False,
    ) as sampler:
        sampler.sample()
        assert sampler.vectorization_used == "batched"
        assert sampler._local.envs.in_parent == 0


class _InterruptsItself(CountingEnv):
    """Raises ``error`` (KeyboardInterrupt or SystemExit) from its own step code at step 2."""

    def __init__(self, error: type[BaseException]) -> None:
        super().__init__()
        self.error = error

    def step(self, action):
        if self._step_count == 1:
            raise self.error("the sub-env gave up")
        return super().step(action)


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_raised_by_a_sub_env_is_its_error_not_its_workers_end(make, error):
    # It ended the worker: "worker 0 (sub-envs 0..1) died unexpectedly", the sibling lost.
    fns = [counting(), lambda: _InterruptsItself(error), counting(), counting()]
    envs = make(fns, 2)
    envs.reset(seed=0)
    envs.step(zeros(4))
    with pytest.raises(WorkerError) as info:
        envs.step(zeros(4))
    assert info.value.env_index == 1
    assert info.value.message == f"sub-env 1 raised {error.__name__}: the sub-env gave up"
    assert all(p.is_alive() for p in envs.processes)
    obs, _ = envs.reset(seed=0)  # the worker and its other sub-env live on
    assert obs.tolist() == [[0.0]] * 4


def test_a_dead_one_env_worker_names_its_sub_env(make):
    envs = make([counting(), counting()], 2)
    envs.reset(seed=0)
    os.kill(envs.processes[1].pid, signal.SIGKILL)
    envs.processes[1].join()
    with pytest.raises(WorkerError, match=r"^worker 1 \(sub-env 1\) died unexpectedly"):
        envs.step(zeros(2))


class _KeepsActions(gym.Env):
    """Keeps every action it is given (as an env may: a recording, a last-action buffer)."""

    observation_space = gym.spaces.Box(-10, 10, (1,), np.float64)
    action_space = gym.spaces.Box(-10, 10, (2,), np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.kept = []
        return np.zeros(1), {}

    def step(self, action):
        self.kept.append(action)
        return np.zeros(1), 0.0, False, False, {}


@pytest.mark.parametrize("in_parent", [0, 1])
def test_a_sub_env_may_keep_the_actions_it_was_given(make, in_parent):
    # The actions come from shared memory, which the next step overwrites: each sub-env gets a
    # copy of its own, as Gymnasium's vector envs give it.
    envs = make([_KeepsActions] * 3, 1, in_parent=in_parent)
    envs.reset()
    batches = [np.full((3, 2), float(t)) + np.arange(3)[:, None] for t in range(3)]
    for actions in batches:
        envs.step(actions)
    kept = envs.get_attr("kept")
    for i in range(3):
        assert [a.tolist() for a in kept[i]] == [b[i].tolist() for b in batches]


class _UnpicklableInfo(CountingEnv):
    def step(self, action):
        obs, reward, terminated, truncated, _ = super().step(action)
        return obs, reward, terminated, truncated, {"lock": multiprocessing.Lock()}


def test_an_unpicklable_info_names_its_sub_env_in_a_later_worker(make):
    # Sub-env 3 is its worker's second (worker 1 serves sub-envs 2..3): the error names
    # the sub-env's index in the vector env, not its place in the worker.
    envs = make([counting()] * 3 + [_UnpicklableInfo], 2)
    envs.reset()
    with pytest.raises(WorkerError) as info:
        envs.step(zeros(4))
    assert info.value.env_index == 3
    assert info.value.worker_index == 1
    assert info.value.message.startswith("sub-env 3 raised ")


@pytest.mark.parametrize("num_envs", [2, 3, 8])
@pytest.mark.parametrize("cpus", [2, 4, 16])
def test_batching_uses_two_workers_at_least_even_for_the_cheapest_steps(num_envs, cpus):
    # For steps of ~1 us one worker costs the model less than two, but "batched" with one
    # worker and no parent block is a single process stepping every sub-env behind a pipe.
    from gymsamp.sampling.vector_envs import batched_layout, batched_workers

    assert batched_workers(num_envs, 0.5, cpus) >= 2
    workers, in_parent = batched_layout(num_envs, 0.5, cpus, parent_block=False)
    assert (workers, in_parent) == (batched_workers(num_envs, 0.5, cpus), 0)
    assert workers >= 2


def test_a_ctrl_c_while_the_shared_memory_is_made_leaves_no_file_in_dev_shm():
    # multiprocessing makes the shared memory's file (/dev/shm/pym-*) and unlinks its name at
    # once; a Ctrl-C in between left an empty file there for good. It is now held back.
    script = """
import os, signal, tempfile, threading
signal.signal(signal.SIGINT, signal.default_int_handler)  # also under nohup
from gymsamp.envs import CountingEnv
from gymsamp.sampling.vector_envs import EnvFactory, make_vector_env

mkstemp = tempfile.mkstemp
made = []

def mkstemp_then_ctrl_c(*args, **kwargs):
    fd, path = mkstemp(*args, **kwargs)
    made.append(path)
    if len(made) == 1:  # the main thread's handler runs at once, before the unlink
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    return fd, path

tempfile.mkstemp = mkstemp_then_ctrl_c
try:
    envs = make_vector_env(EnvFactory(CountingEnv), 2, "batched", start_method="fork")
except KeyboardInterrupt:
    print("interrupted")
else:
    envs.close()
print(len(made) > 0, [path for path in made if os.path.exists(path)])
"""
    assert python_output(script).splitlines() == ["interrupted", "True []"]
