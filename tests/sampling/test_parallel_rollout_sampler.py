import copy
import multiprocessing
import os
import pickle
import re
import threading
import time
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.envs import CountingEnv
from gymsamp.policies import GaussianActionNoise, IdlePolicy, RandomPolicy
from gymsamp.sampling import (
    NonFiniteError,
    ParallelRolloutSampler,
    Quota,
    StatesNotRecordedWarning,
    StepTimeoutError,
    WorkerError,
    derive_seed,
    rollout,
)
from tests.helpers import HookedPolicy, errors_in_another_thread, python_output

BOX = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)


def policies():
    return {
        "idle": ("gymsamp/PointMass-v0", IdlePolicy(BOX)),
        "random": ("CartPole-v1", RandomPolicy(gym.spaces.Discrete(2))),
        "noisy": ("gymsamp/PointMass-v0", GaussianActionNoise(IdlePolicy(BOX), std=0.5)),
    }


def assert_same(a, b):
    np.testing.assert_array_equal(a.observations, b.observations)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.rewards, b.rewards)
    np.testing.assert_array_equal(a.step_types, b.step_types)


@pytest.fixture(scope="module")
def references():
    out = {}
    for name, (env, policy) in policies().items():
        out[name] = [
            rollout(env, policy, max_steps=30, seed=0, sub_seed=0, sub_sub_seed=k) for k in range(5)
        ]
    return out


@pytest.mark.parametrize("name", ["idle", "random", "noisy"])
@pytest.mark.parametrize("vectorization", ["sync", "async"])
@pytest.mark.parametrize("num_workers", [1, 2, 4])
def test_sequential_equals_parallel(references, name, vectorization, num_workers):
    env, policy = policies()[name]
    with ParallelRolloutSampler(
        env,
        policy,
        num_workers,
        min_rollouts=5,
        seed=0,
        max_steps=30,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    assert len(rollouts) == 5
    for ref, ro in zip(references[name], rollouts, strict=True):
        assert_same(ref, ro)
    # The rollouts of one call are pairwise different (own seeds, own noise).
    firsts = {ro.observations[:3].tobytes() for ro in rollouts}
    assert len(firsts) == 5


def test_second_call_uses_the_next_sub_seed():
    policy = RandomPolicy(gym.spaces.Discrete(2))
    with ParallelRolloutSampler(
        "CartPole-v1", policy, 2, min_rollouts=2, seed=3, show_progress_bar=False
    ) as sampler:
        sampler.sample()
        second = sampler.sample()
    for k, ro in enumerate(second):
        assert_same(ro, rollout("CartPole-v1", policy, seed=3, sub_seed=1, sub_sub_seed=k))


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_min_steps_mode_is_independent_of_the_worker_count(vectorization):
    policy = RandomPolicy(gym.spaces.Discrete(2))
    results = []
    for workers in (1, 2, 4):
        with ParallelRolloutSampler(
            "CartPole-v1",
            policy,
            workers,
            min_steps=150,
            seed=2,
            vectorization=vectorization,
            show_progress_bar=False,
        ) as s:
            results.append(s.sample())
    lengths = [[ro.length for ro in res] for res in results]
    assert lengths[0] == lengths[1] == lengths[2]
    assert sum(lengths[0]) >= 150
    assert sum(lengths[0][:-1]) < 150  # the shortest sufficient prefix
    for a, b in zip(results[0], results[2], strict=True):
        assert_same(a, b)


def test_seed_none_gives_fresh_rollouts():
    policy = RandomPolicy(gym.spaces.Discrete(2))
    with ParallelRolloutSampler(
        "CartPole-v1", policy, 1, min_rollouts=3, seed=None, show_progress_bar=False
    ) as sampler:
        a, b = sampler.sample(), sampler.sample()
    pairs = zip(a, b, strict=True)
    assert any(x.observations[0].tobytes() != y.observations[0].tobytes() for x, y in pairs)


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_seed_none_with_a_reset_env_instance_gives_distinct_replayable_rollouts(vectorization):
    # An instance copied into every sub-env carries one np_random state: unseeded resets
    # would replay the same episode in every sub-env, and in every fresh sampler.
    env = gym.make("CartPole-v1")
    env.reset(seed=1)
    policy = RandomPolicy(gym.spaces.Discrete(2))
    calls = []
    for _ in range(2):
        with ParallelRolloutSampler(
            env,
            policy,
            2,
            min_rollouts=4,
            seed=None,
            vectorization=vectorization,
            show_progress_bar=False,
        ) as sampler:
            calls.append(sampler.sample())
    first = [ro.observations[0].tobytes() for ro in calls[0]]
    assert len(set(first)) == 4  # pairwise different within a call
    assert set(first).isdisjoint(ro.observations[0].tobytes() for ro in calls[1])
    # every rollout was reset with a recorded seed, which replays it
    for ro in calls[0]:
        obs, _ = gym.make("CartPole-v1").reset(seed=ro.rollout_info["seed"])
        np.testing.assert_array_equal(obs, ro.observations[0])


class TestPayloads:
    def make(self, **kwargs):
        return ParallelRolloutSampler(
            lambda: CountingEnv(terminate_at=3),
            IdlePolicy(gym.spaces.Discrete(2)),
            2,
            seed=0,
            show_progress_bar=False,
            **kwargs,
        )

    def test_init_states_and_domain_params_product_init_major(self):
        states = [np.array([10.0]), np.array([20.0])]
        params = [{"increment": 1.0}, {"increment": 0.5}, {"increment": 2.0}]
        with self.make(min_rollouts=6) as sampler:
            rollouts = sampler.sample(init_states=states, domain_params=params)
        assert len(rollouts) == 6
        for k, ro in enumerate(rollouts):
            state, param = states[k // 3], params[k % 3]
            assert ro.rollout_info["domain_param"] == param
            np.testing.assert_array_equal(ro.rollout_info["init_state"], state)
            # The dynamics show both: count starts at the state and grows by the increment.
            expected = state[0] + param["increment"] * np.arange(4)
            np.testing.assert_allclose(ro.observations[:, 0], expected)

    def test_list_repetition_gives_every_setting_the_same_count(self):
        params = [{"increment": 1.0}, {"increment": 3.0}]
        with self.make(min_rollouts=3) as sampler:
            rollouts = sampler.sample(domain_params=params)
        # ceil(3 / 2) = 2 repetitions: a, b, a, b (pyrado's semantics)
        assert [ro.rollout_info["domain_param"]["increment"] for ro in rollouts] == [1, 3, 1, 3]

    def test_payloads_are_honoured_in_min_steps_mode(self):
        params = [{"increment": 1.0}, {"increment": 3.0}]
        with self.make(min_steps=10) as sampler:
            rollouts = sampler.sample(domain_params=params)
        assert len(rollouts) == 4  # 4 rollouts of 3 steps reach 10 steps
        assert [ro.observations[1, 0] for ro in rollouts] == [1.0, 3.0, 1.0, 3.0]
        # Unspecified parameters are not sticky: a later plain call is nominal again.
        with self.make(min_rollouts=2) as sampler:
            sampler.sample(domain_params=[{"increment": 5.0}])
            plain = sampler.sample()
        assert [ro.rollout_info["domain_param"]["increment"] for ro in plain] == [1.0, 1.0]

    def test_bad_payloads(self):
        with self.make(min_rollouts=1) as sampler:
            with pytest.raises(ValueError, match=r"init_states must have shape \(1,\)"):
                sampler.sample(init_states=[np.zeros(3)])
            with pytest.raises(
                ValueError, match="domain_params must use the domain-parameter names"
            ):
                sampler.sample(domain_params=[{"mass": 1.0}])
            with pytest.raises(ValueError, match="non-empty list"):
                sampler.sample(domain_params=[])
            # Refused here, before any sub-env sees them (not as a worker's error).
            with pytest.raises(ValueError, match=r"^init_states must be finite, got \[nan\]"):
                sampler.sample(init_states=[np.array([np.nan])])
            with pytest.raises(
                ValueError, match=r"^init_states must be a list of states .* shape \(1,\); wrap"
            ):
                sampler.sample(init_states=np.array([1.0]))
            with pytest.raises(TypeError, match=r"^init_states must hold arrays of real numbers"):
                sampler.sample(init_states=[["a"]])
            for name in (
                "init_states",
                "domain_params",
            ):  # once "object of type 'int' has no len()"
                with pytest.raises(
                    TypeError, match=rf"^{name} must be None or a list .*, got int 5$"
                ):
                    sampler.sample(**{name: 5})
                with pytest.raises(
                    TypeError, match=rf"^{name} must be None or a list .*got a dict .*; wrap it"
                ):
                    sampler.sample(**{name: {"increment": 2.0}})
            with pytest.raises(
                TypeError,
                match=r"^domain_params must hold dicts of parameter values, got an entry 2.0$",
            ):
                sampler.sample(domain_params=[{"increment": 1.0}, 2.0])
            # The sampler still works, and a 2-D array holds one state per row.
            rollouts = sampler.sample(init_states=np.array([[2.0], [4.0]]))
            assert [ro.observations[0, 0] for ro in rollouts] == [2.0, 4.0]

    def test_domain_parameter_values_the_adapter_refuses_are_refused_here(self):
        policy = IdlePolicy(gym.spaces.Discrete(2))
        with ParallelRolloutSampler(
            "CartPole-v1", policy, 2, min_rollouts=2, vectorization="async"
        ) as sampler:
            with pytest.raises(
                ValueError,
                match=r"^domain_params must hold values CartPole-v1 accepts: "
                r"domain_param\['masspole'\] must be a finite real number > 0, got -1",
            ):
                sampler.sample(domain_params=[{"masspole": 0.2}, {"masspole": -1}])
            assert sampler._local.envs is None  # no worker was started for it
            rollouts = sampler.sample(domain_params=[{"masspole": 0.2}])
        assert [ro.rollout_info["domain_param"]["masspole"] for ro in rollouts] == [0.2, 0.2]

    def test_init_states_outside_the_state_space_are_refused_here(self):
        # They were accepted: Acrobot started at 100 rad/s, beyond its own velocity bound.
        policy = IdlePolicy(gym.spaces.Discrete(3))
        with ParallelRolloutSampler(
            "Acrobot-v1", policy, 2, min_rollouts=2, vectorization="async", max_steps=3
        ) as sampler:
            with pytest.raises(
                ValueError,
                match=r"^init_states must lie in the state space of Acrobot-v1, got \[0.0, 0.0, "
                r"100.0, 0.0\] \(element 2 = 100.0 is outside \[-12.56637\d*, 12.56637\d*\]\)",
            ):
                sampler.sample(init_states=[[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 100.0, 0.0]])
            assert sampler._local.envs is None  # no worker was started for it
            rollouts = sampler.sample(init_states=[[0.0, 0.0, 4 * np.pi, 0.0]])
        assert [ro.rollout_info["init_state"][2] for ro in rollouts] == [4 * np.pi] * 2

    def test_env_without_adapter_refuses_payloads(self):
        class Plain(gym.Env):
            observation_space = gym.spaces.Box(-1, 1, (1,))
            action_space = gym.spaces.Discrete(2)

            def reset(self, *, seed=None, options=None):
                return np.zeros(1, np.float32), {}

            def step(self, action):
                return np.zeros(1, np.float32), 0.0, True, False, {}

        with ParallelRolloutSampler(
            Plain, IdlePolicy(gym.spaces.Discrete(2)), 1, min_rollouts=1, show_progress_bar=False
        ) as sampler:
            assert sampler.sample()[0].length == 1
            with pytest.raises(TypeError, match="lacks"):
                sampler.sample(init_states=[np.zeros(1)])
            # Also where only some rollouts set something: the others' settings were not
            # silently dropped.
            with pytest.raises(TypeError, match="lacks"):
                sampler.sample(init_states=[None, np.zeros(1)])
            with pytest.raises(TypeError, match="lacks"):
                sampler.sample(domain_params=[None, {"mass": 1.0}])


IDLE2 = IdlePolicy(gym.spaces.Discrete(2))


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"num_workers": 0, "min_rollouts": 1}, ValueError, "num_workers must be an int >= 1"),
            ({"num_workers": 1}, ValueError, "at least one of min_rollouts and min_steps"),
            ({"num_workers": 1, "min_rollouts": -2}, ValueError, "min_rollouts must be"),
            (
                {"num_workers": 1, "min_rollouts": 1, "vectorization": "gpu"},
                ValueError,
                "vectorization",
            ),
            ({"num_workers": 1, "min_rollouts": 1, "seed": -1}, ValueError, "seed must be"),
            ({"num_workers": 1.0, "min_rollouts": 1}, TypeError, "num_workers must be an int"),
            ({"num_workers": 1, "min_steps": True}, TypeError, "min_steps must be an int"),
            ({"num_workers": 1, "min_rollouts": 1, "max_steps": 0}, ValueError, "max_steps"),
        ],
    )
    def test_bad_arguments(self, kwargs, error, match):
        workers = kwargs.pop("num_workers")
        with pytest.raises(error, match=match):
            ParallelRolloutSampler(
                "CartPole-v1", RandomPolicy(gym.spaces.Discrete(2)), workers, **kwargs
            )

    def test_numpy_integer_counts_are_accepted_as_ints(self):
        with ParallelRolloutSampler(
            "CartPole-v1",
            RandomPolicy(gym.spaces.Discrete(2)),
            np.int64(2),
            min_rollouts=np.int32(3),
            max_steps=np.int64(5),
            seed=0,
            show_progress_bar=False,
        ) as sampler:
            assert (sampler.num_workers, sampler.min_rollouts) == (2, 3)
            assert type(sampler.min_rollouts) is int
            sampler.set_min_count(min_steps=np.int64(7))
            assert sampler.quota == Quota(min_steps=7)
            rollouts = sampler.sample()
        assert sum(ro.length for ro in rollouts) >= 7
        assert all(ro.length <= 5 for ro in rollouts)

    def test_unknown_env_id(self):
        with pytest.raises(ValueError, match="registered Gymnasium id"):
            ParallelRolloutSampler("NoSuchEnv-v9", lambda o: o, 1, min_rollouts=1)

    def test_policy_with_wrong_action_shape(self):
        with (
            ParallelRolloutSampler(
                "CartPole-v1",
                lambda obs: np.zeros((len(obs), 3)),
                1,
                min_rollouts=1,
                show_progress_bar=False,
            ) as sampler,
            pytest.raises(ValueError, match="shape"),
        ):
            sampler.sample()


class TrapEnv(CountingEnv):
    """Raises when action 1 is taken, so a policy choice decides whether it fails."""

    def step(self, action):
        if action == 1:
            raise ValueError("trap 100% sprung")
        return super().step(action)


def children():
    return [p for p in multiprocessing.active_children() if p.is_alive()]


def trapped_sampler(vectorization: str) -> ParallelRolloutSampler:
    """2 sub-envs whose policy springs the trap at the first step."""
    return ParallelRolloutSampler(
        lambda: TrapEnv(terminate_at=3),
        lambda obs: np.ones(len(obs), np.int64),
        2,
        min_rollouts=2,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    )


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_worker_error_names_the_sub_env_and_the_sampler_recovers(vectorization):
    before = len(children())
    sampler = trapped_sampler(vectorization)
    with sampler:
        with pytest.raises(
            WorkerError, match=r"sub-env \d raised ValueError.*trap 100% sprung"
        ) as info:
            sampler.sample()
        assert isinstance(info.value, RuntimeError)
        assert info.value.env_index in (0, 1)
        assert "TrapEnv" in info.value.remote_traceback or "trap" in info.value.remote_traceback
        sampler.reinit(policy=lambda obs: np.zeros(len(obs), np.int64))
        assert [ro.length for ro in sampler.sample()] == [3, 3]
    assert len(children()) == before


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class _HangsIgnoringSigterm(CountingEnv):
    """Hangs in its first step, in a worker process that ignores SIGTERM (as some simulators'
    native code sets it up); a file in ``marks`` says that a worker left the hanging step."""

    def __init__(self, parent: int, marks: str) -> None:
        super().__init__()
        self.marks = marks
        self.in_worker = os.getpid() != parent  # not the probe in the test's own process
        if self.in_worker:
            import signal

            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def step(self, action):
        if self.in_worker:
            time.sleep(20.0)
            with open(os.path.join(self.marks, f"left-{os.getpid()}"), "w"):
                pass
        return super().step(action)


@pytest.mark.slow
@pytest.mark.parametrize("vectorization", ["async", "batched"])
def test_hanging_workers_that_ignore_sigterm_are_killed_after_a_step_timeout(
    tmp_path, vectorization
):
    # After a timeout the workers are terminated; one that ignores SIGTERM is killed, not
    # waited for until its step ends (it may never).
    before = {p.pid for p in children()}
    parent = os.getpid()
    with ParallelRolloutSampler(
        lambda: _HangsIgnoringSigterm(parent, str(tmp_path)),
        IDLE2,
        2,
        min_rollouts=2,
        seed=0,
        vectorization=vectorization,
        step_timeout=0.5,
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(StepTimeoutError):
            sampler.sample()
        assert [p.pid for p in children() if p.pid not in before] == []
    assert os.listdir(tmp_path) == []  # no worker left its hanging step


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in Linux's /proc")
@pytest.mark.parametrize("vectorization", ["async", "batched"])
def test_kept_worker_errors_keep_no_fds_of_the_ended_workers(vectorization):
    """Each failure ends the vector env's workers, and its error's traceback keeps the env.
    A run that kept its errors kept every ended env's process pipes and error queue (4-6
    fds per error) until it ran out of fds."""
    kept, counts = [], []
    with trapped_sampler(vectorization) as sampler:
        for _ in range(6):
            with pytest.raises(WorkerError) as info:
                sampler.sample()
            kept.append(info.value)
            counts.append(open_fds())
    assert counts[-1] == counts[1], counts


class _FailsOnCall:
    """An env factory whose ``n``-th call (0-based; call 0 builds the sampler's probe) raises,
    like a simulator whose license server stops answering."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self) -> gym.Env:
        self.calls += 1
        if self.calls - 1 == self.n:
            raise OSError("license server unreachable")
        return CountingEnv(terminate_at=3)


@pytest.mark.parametrize(
    ("vectorization", "failing_call", "where"),
    [
        # Sub-env 1's build (call 0 is the sampler's probe): only worker processes named it;
        # in this process the factory's own error came through.
        ("sync", 2, ""),
        # Worker-process modes build sub-env 0 once in this process too (for its spaces): its
        # failure came through as the factory's bare OSError, naming no sub-env.
        ("async", 1, " in this process"),
        ("batched", 1, " in this process"),
    ],
)
def test_a_sub_env_failing_to_build_in_this_process_is_named(vectorization, failing_call, where):
    factory = _FailsOnCall(failing_call)
    with (
        ParallelRolloutSampler(
            factory,
            IdlePolicy(gym.spaces.Discrete(2)),
            2,
            min_rollouts=2,
            vectorization=vectorization,
            show_progress_bar=False,
        ) as sampler,
        pytest.raises(WorkerError) as info,
    ):
        sampler.sample()
    index = failing_call - 1
    assert info.value.env_index == index
    assert info.value.message == (
        f"sub-env {index} raised OSError while being built{where}: license server unreachable"
    )
    assert "license server unreachable" in info.value.remote_traceback
    assert factory.calls == failing_call + 1


class _TextObservations(gym.Env):
    observation_space = gym.spaces.Text(5)
    action_space = gym.spaces.Discrete(2)


@pytest.mark.parametrize("vectorization", ["sync", "batched"])
def test_a_refused_reinit_leaves_the_sampler_as_it_was(vectorization):
    # It kept the refused env's factory and name, so every later sample() failed again.
    with ParallelRolloutSampler(
        lambda: CountingEnv(terminate_at=3),
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=2,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        first = sampler.sample()
        text = repr(sampler)
        with pytest.raises(TypeError, match="observation"):
            sampler.reinit(env=_TextObservations)
        with pytest.raises(TypeError, match="policy"):
            sampler.reinit(policy="not a policy")
        assert repr(sampler) == text
        again = sampler.sample()
        assert [ro.length for ro in again] == [3, 3]
        assert [ro.rollout_info["seed"] for ro in again] == [derive_seed(0, 1, k) for k in range(2)]
        assert first[0].rollout_info["env_id"] == again[0].rollout_info["env_id"]


@pytest.mark.parametrize("vectorization", ["sync", "async"])
@pytest.mark.parametrize("policy", [None, "new"])
def test_reinit_rebuilds_the_sub_envs(vectorization, policy):
    # reinit() (also with only a new policy) rebuilds the sub-envs: what the env factory reads
    # when it builds one (here the episode length) reaches the rollouts of the next call, as
    # on a fresh sampler.
    setting = {"terminate_at": 2}

    def make_env():
        return CountingEnv(terminate_at=setting["terminate_at"])

    before = {p.pid for p in children()}
    options: dict[str, Any] = dict(
        min_rollouts=2, seed=0, vectorization=vectorization, show_progress_bar=False
    )
    with ParallelRolloutSampler(make_env, IDLE2, 2, **options) as sampler:
        assert [ro.length for ro in sampler.sample()] == [2, 2]
        workers = {p.pid for p in children()} - before
        setting["terminate_at"] = 5
        sampler.reinit(policy=None if policy is None else IdlePolicy(gym.spaces.Discrete(2)))
        assert {p.pid for p in children()} - before == set()  # the old workers ended
        rollouts = sampler.sample()
        assert len(workers & {p.pid for p in children()}) == 0
    with ParallelRolloutSampler(make_env, IDLE2, 2, **options) as fresh:
        fresh.sample()
        expected = fresh.sample()  # its call 1, as the reinitialized sampler's
    assert [ro.length for ro in rollouts] == [5, 5]
    for ro, ref in zip(rollouts, expected, strict=True):
        assert_same(ro, ref)
        assert ro.rollout_info["seed"] == ref.rollout_info["seed"]
    assert {p.pid for p in children()} - before == set()


@pytest.mark.slow
def test_hanging_env_is_bounded_by_the_step_timeout():
    before = len(children())
    with ParallelRolloutSampler(
        "gymsamp/Hanging-v0",
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=2,
        vectorization="async",
        step_timeout=1.0,
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(StepTimeoutError, match="step_timeout=1.0"):
            sampler.sample()
        assert len(children()) == before  # the hung workers were terminated
        sampler.reinit(env=lambda: CountingEnv(terminate_at=2))
        assert [ro.length for ro in sampler.sample()] == [2, 2]
    assert len(children()) == before


class _ParentTrapEnv(gym.Env):
    """Raises in step when stepped in the process that built the sampler (auto's probe)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, parent: int):
        self.parent = parent

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        import os

        if os.getpid() == self.parent:
            raise RuntimeError("stepped in the parent")
        return np.zeros(1, np.float32), 1.0, True, False, {}


class TestStepTimeoutPlacement:
    def test_sync_refuses_a_step_timeout(self):
        with pytest.raises(ValueError, match="vectorization='sync' with step_timeout=1.0"):
            ParallelRolloutSampler(
                "CartPole-v1", IDLE2, 2, min_rollouts=1, vectorization="sync", step_timeout=1.0
            )

    def test_auto_with_a_timeout_probes_nothing_here_and_picks_bounded_workers(self):
        import functools
        import os

        factory = functools.partial(_ParentTrapEnv, os.getpid())
        before = len(children())
        with ParallelRolloutSampler(
            factory, IDLE2, 2, min_rollouts=3, seed=0, step_timeout=5.0, show_progress_bar=False
        ) as sampler:
            assert sampler.vectorization_used == "batched"
            assert sampler.step_cost_us is None
            assert [ro.length for ro in sampler.sample()] == [1, 1, 1]
        assert len(children()) == before

    def test_a_probe_failure_is_named_as_the_probe(self):
        import functools
        import os

        factory = functools.partial(_ParentTrapEnv, os.getpid())
        with pytest.raises(
            WorkerError,
            match=r"RuntimeError in a probe env's first reset or steps \(vectorization='auto' runs",
        ) as info:
            ParallelRolloutSampler(factory, IDLE2, 2, min_rollouts=1)
        assert "stepped in the parent" in str(info.value)
        assert "in step" in info.value.remote_traceback


def test_text_observations_are_refused_before_any_worker_starts():
    class TextEnv(gym.Env):
        observation_space = gym.spaces.Tuple((gym.spaces.Box(-1, 1, (2,)), gym.spaces.Text(4)))
        action_space = gym.spaces.Discrete(2)

    before = len(children())
    with pytest.raises(TypeError, match=r"got Text.* at observation_space\[1\]"):
        ParallelRolloutSampler(TextEnv, IDLE2, 2, min_rollouts=1, vectorization="async")
    assert len(children()) == before


def test_the_progress_bar_names_the_batched_layout_from_the_first_call(capsys):
    with ParallelRolloutSampler(
        lambda: CountingEnv(terminate_at=2),
        IDLE2,
        4,
        min_rollouts=4,
        seed=0,
        vectorization="batched",
        show_progress_bar=True,
    ) as sampler:
        sampler.sample()
        processes = sampler._local.envs.num_workers
    assert f"Sampling (batched, 4 sub-envs on {processes} processes)" in capsys.readouterr().err


class _SlowResetEnv(gym.Env):
    """Sleeps a minute in its ``hang_at``-th reset (counted per sub-env)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, hang_at: int):
        self.hang_at, self.resets = hang_at, 0

    def reset(self, *, seed=None, options=None):
        import time

        super().reset(seed=seed)
        self.resets += 1
        if self.resets == self.hang_at:
            time.sleep(60)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 1.0, False, False, {}


@pytest.mark.slow
@pytest.mark.parametrize("vectorization", ["async", "batched"])
@pytest.mark.parametrize("hang_at", [1, 2])  # the first reset of a call; a masked one later
def test_a_hanging_reset_is_bounded_by_the_step_timeout(vectorization, hang_at):
    import functools

    before = len(children())
    with ParallelRolloutSampler(
        functools.partial(_SlowResetEnv, hang_at),
        IDLE2,
        2,
        min_rollouts=4,
        max_steps=2,  # cut rollouts: the next one starts with a masked reset
        seed=0,
        vectorization=vectorization,
        step_timeout=1.0,
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(StepTimeoutError, match="reset within step_timeout=1.0"):
            sampler.sample()
        assert len(children()) == before  # the hung workers were terminated
    assert len(children()) == before


class _ResetTrapEnv(CountingEnv):
    """Raises in the reset of rollout 3 (``derive_seed(0, 0, 3)``): inside the vector step
    that ends an earlier rollout of its sub-env (a queued reset)."""

    def reset(self, *, seed=None, options=None):
        if seed == derive_seed(0, 0, 3):
            raise ValueError("reset trap")
        return super().reset(seed=seed, options=options)


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_a_failed_reset_inside_a_step_is_named_as_a_reset(vectorization):
    with (
        ParallelRolloutSampler(
            lambda: _ResetTrapEnv(terminate_at=2),
            IDLE2,
            2,
            min_rollouts=6,
            seed=0,
            vectorization=vectorization,
            show_progress_bar=False,
        ) as sampler,
        pytest.raises(WorkerError) as info,
    ):
        sampler.sample()
    assert str(info.value).startswith("sub-env 1 raised ValueError in reset: reset trap")
    assert info.value.env_index == 1


class _HangsInRolloutOne(gym.Env):
    """Hangs in the first step of the rollout reset with ``derive_seed(0, 0, 1)``."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.hangs = seed == derive_seed(0, 0, 1)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        if self.hangs:
            import time

            time.sleep(60)
        return np.zeros(1, np.float32), 1.0, False, False, {}


@pytest.mark.slow
@pytest.mark.parametrize("vectorization", ["async", "batched"])
def test_a_step_timeout_names_the_hanging_sub_env(vectorization):
    before = len(children())
    with ParallelRolloutSampler(
        _HangsInRolloutOne,
        IDLE2,
        2,  # rollout k starts in sub-env k (one sub-env per worker in both modes)
        min_rollouts=2,
        max_steps=3,
        seed=0,
        vectorization=vectorization,
        step_timeout=0.5,
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(StepTimeoutError) as info:
            sampler.sample()
        assert str(info.value) == "sub-env 1 did not finish its step within step_timeout=0.5 s"
        assert info.value.env_index == 1
        assert info.value.lost_env_indices == ()  # env_index names the only one
        assert info.value.rollout_indices == (1,)
    assert len(children()) == before


class _HangsInEveryRollout(CountingEnv):
    def step(self, action):
        time.sleep(60.0)
        return super().step(action)


@pytest.mark.slow
def test_a_step_timeout_of_several_sub_envs_names_their_rollouts():
    before = len(children())
    with ParallelRolloutSampler(
        _HangsInEveryRollout,
        IDLE2,
        2,
        min_rollouts=2,
        seed=0,
        vectorization="async",
        step_timeout=0.5,
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(StepTimeoutError) as info:
            sampler.sample()
        assert (
            str(info.value) == "sub-envs 0, 1 did not finish their step within step_timeout=0.5 s"
        )
        assert info.value.lost_env_indices == (0, 1)
        assert info.value.rollout_indices == (0, 1)
    assert len(children()) == before


class _FailsFromStateHundred(CountingEnv):
    """Raises in a step whose count reaches 100: a rollout started at init state 99 fails."""

    def step(self, action):
        out = super().step(action)
        if self.get_state()[0] >= 100:
            raise ValueError("count 100 reached")
        return out


_OK, _FAILS = np.array([0.0]), np.array([99.0])


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
@pytest.mark.parametrize("num_workers", [1, 4])
def test_a_failure_in_a_surplus_min_steps_rollout_does_not_fail_the_call(
    vectorization, num_workers
):
    # min_steps=10 of 5-step rollouts: the result is rollouts 0 and 1; with 4 workers, the
    # failing rollouts 2 and 3 run beside them, with 1 they never start (DESIGN §4).
    env = lambda: _FailsFromStateHundred(terminate_at=5)  # noqa: E731
    policy = IdlePolicy(gym.spaces.Discrete(2))
    states = [_OK, _OK, _FAILS, _FAILS]
    with ParallelRolloutSampler(
        env,
        policy,
        num_workers,
        min_steps=10,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample(init_states=states)
        assert [ro.rollout_info["rollout_index"] for ro in rollouts] == [0, 1]
        for k, ro in enumerate(rollouts):
            reference = rollout(
                env, policy, reset_kwargs={"init_state": states[k]}, seed=0, sub_sub_seed=k
            )
            assert_same(ro, reference)
        # A failing rollout the result needs still fails the call, naming that rollout.
        with pytest.raises(WorkerError, match="count 100 reached") as info:
            sampler.sample(init_states=[_OK, _FAILS, _OK, _OK])
        assert 1 in info.value.rollout_indices
        assert [ro.length for ro in sampler.sample()] == [5, 5]


def test_the_progress_bar_starts_over_with_a_surplus_rerun(monkeypatch):
    # The rerun's rollouts alone are counted: the bar of the failed first run, which had
    # counted rollouts 0 and 1 when the surplus rollout 3 failed beside rollout 2, is reset.
    from gymsamp.sampling.progress_bar import RolloutProgress

    shown = []
    exit_bar = RolloutProgress.__exit__

    def record(self, *exc_info):
        shown.append((dict(self.counts), self.bar.n))
        exit_bar(self, *exc_info)

    monkeypatch.setattr(RolloutProgress, "__exit__", record)
    env = lambda: _FailsFromStateHundred(terminate_at=5)  # noqa: E731
    with ParallelRolloutSampler(
        env, IdlePolicy(gym.spaces.Discrete(2)), 2, min_steps=15, seed=0,
        vectorization="sync", show_progress_bar=True,
    ) as sampler:  # fmt: skip
        rollouts = sampler.sample(init_states=[_OK, _OK, _OK, _FAILS])
    assert [ro.rollout_info["rollout_index"] for ro in rollouts] == [0, 1, 2]
    assert shown == [({"rollouts": 3, "steps": 15}, 15)]


class _ReusedListObs(gym.Env):
    """Observes a plain list that it reuses: its reset overwrites the last step's list."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.obs = [0.0, 0.0]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.obs[:] = [0.0, 0.0]
        return self.obs, {}

    def step(self, action):
        self.t += 1
        self.obs[:] = [float(self.t), -float(self.t)]
        return self.obs, 1.0, self.t >= 3, False, {}


def test_a_final_observation_in_a_reused_list_is_kept_past_the_next_reset():
    # A queued reset in the step that ends a rollout copies the final observation first.
    with ParallelRolloutSampler(
        _ReusedListObs, IdlePolicy(gym.spaces.Discrete(2)), 1, min_rollouts=3, seed=0,
        vectorization="sync", show_progress_bar=False,
    ) as sampler:  # fmt: skip
        rollouts = sampler.sample()
    for ro in rollouts:
        np.testing.assert_array_equal(ro.observations[:, 0], [0.0, 1.0, 2.0, 3.0])


_TEST_PROCESS = os.getpid()


class _DiesFromStateHundred(CountingEnv):
    """Its worker process exits once the count reaches 100 (never the test process itself)."""

    def step(self, action):
        out = super().step(action)
        if self.get_state()[0] >= 100:
            if os.getpid() == _TEST_PROCESS:
                raise RuntimeError("would have ended the test process")
            os._exit(3)
        return out


def test_a_dead_batched_worker_in_a_surplus_min_steps_rollout_does_not_fail_the_call(monkeypatch):
    # A worker holding several sub-envs dies in rollout 2 or 3 (surplus beside 0 and 1): the
    # error names no single sub-env, so it must name all it took down (lost_env_indices).
    # Two CPUs, as on CI: with 4 or more, each of the 4 sub-envs got a worker of its own (seen
    # on a 16-core machine), and the worker that died held only the one it named.
    import gymsamp.sampling.batched_workers as workers_module

    monkeypatch.setattr(workers_module, "available_cpus", lambda: 2)
    env = lambda: _DiesFromStateHundred(terminate_at=5)  # noqa: E731
    with ParallelRolloutSampler(
        env,
        IdlePolicy(gym.spaces.Discrete(2)),
        4,
        min_steps=10,
        seed=0,
        vectorization="batched",
        step_timeout=60.0,  # workers only: no sub-env stepped in this process
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample(init_states=[_OK, _OK, _FAILS, _FAILS])
        assert [ro.rollout_info["rollout_index"] for ro in rollouts] == [0, 1]
        assert [ro.length for ro in rollouts] == [5, 5]
        with pytest.raises(WorkerError, match="died unexpectedly") as info:
            sampler.sample(init_states=[_OK, _FAILS, _OK, _OK])
        assert 1 in info.value.rollout_indices
        assert len(info.value.lost_env_indices) > 1


class _BadOutputFromStateHundred(CountingEnv):
    """Returns an output that fits no batch once the count reaches 100 (``what``: a None or
    wrong-shaped observation, a reward that is no number, flags that are not one bool)."""

    def __init__(self, what: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.what = what

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if obs[0] >= 100:
            if self.what == "none":
                obs = None
            elif self.what == "shape":
                obs = np.zeros(3, np.float32)
            elif self.what == "terminated":
                terminated = np.array([True, False])
            elif self.what == "truncated":
                truncated = "yes"  # numpy would take it for True
            elif self.what == "reward_none":
                reward = None  # numpy reads it as NaN
            elif self.what == "reward_nan":
                reward = float("nan")
            else:
                reward = "x"
        return obs, reward, terminated, truncated, info


_BAD_OUTPUT_MESSAGES = {
    "none": r"the observation must fit the observation space Box\(.*\), got None",
    "shape": r"the observation must fit the observation space Box\(.*\), got array\(\[0., 0.",
    "reward": r"the reward must be a real number, got 'x'",
    "terminated": r"the terminated flag must be one bool, got array\(\[ True, False\]\)",
    "truncated": r"the truncated flag must be one bool, got 'yes'",
}


def _surplus_sampler(env, vectorization):
    """A min_steps=10 sampler of 4 sub-envs whose first call, on 5-step rollouts at init
    states [ok, ok, failing, failing], must return rollouts 0 and 1 despite the failing
    surplus ones (DESIGN §4); the caller then checks a failure the result needs."""
    sampler = ParallelRolloutSampler(
        env,
        IdlePolicy(gym.spaces.Discrete(2)),
        4,
        min_steps=10,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    )
    try:
        rollouts = sampler.sample(init_states=[_OK, _OK, _FAILS, _FAILS])
        assert [ro.rollout_info["rollout_index"] for ro in rollouts] == [0, 1]
    except BaseException:
        sampler.close()
        raise
    return sampler


@pytest.mark.parametrize("what", list(_BAD_OUTPUT_MESSAGES))
@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_an_output_that_fits_no_batch_is_the_sub_envs_error(what, vectorization):
    # Written into the batch, such output once failed inside gymsamp with numpy's message (a
    # bare ValueError, no sub-env; a None observation became NaN), and a surplus rollout's
    # then failed a min_steps call for some worker counts only (DESIGN §4, §7).
    env = lambda: _BadOutputFromStateHundred(what, terminate_at=5)  # noqa: E731
    with _surplus_sampler(env, vectorization) as sampler:
        with pytest.raises(WorkerError, match=_BAD_OUTPUT_MESSAGES[what]) as info:
            sampler.sample(init_states=[_OK, _FAILS, _OK, _OK])
        assert info.value.env_index == 1
        assert info.value.rollout_indices == (1,)
    with pytest.raises(ValueError, match=_BAD_OUTPUT_MESSAGES[what]):
        rollout(env, IdlePolicy(gym.spaces.Discrete(2)), reset_kwargs={"init_state": _FAILS})


@pytest.mark.parametrize("what", ["reward_none", "reward_nan"])
@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_a_reward_that_is_no_number_fails_its_rollout(what, vectorization):
    # A reward of None silently became NaN in every mode (numpy's cast into the reward batch).
    env = lambda: _BadOutputFromStateHundred(what, terminate_at=5)  # noqa: E731
    message = r"rewards must be numbers \(not NaN\), got nan at step 0 of rollout 1 \(sub-env"
    with _surplus_sampler(env, vectorization) as sampler:
        with pytest.raises(NonFiniteError, match=message) as info:
            sampler.sample(init_states=[_OK, _FAILS, _OK, _OK])
        assert info.value.rollout_indices == (1,)
    with pytest.raises(NonFiniteError, match="rewards must be numbers"):
        rollout(env, IdlePolicy(gym.spaces.Discrete(2)), reset_kwargs={"init_state": _FAILS})


def test_infinite_rewards_are_kept():
    env = gym.wrappers.TimeLimit(_InfiniteReward(), 3)
    ro = rollout(env, IdlePolicy(gym.spaces.Discrete(2)), seed=0)
    assert ro.rewards.tolist() == [-np.inf, np.inf, -np.inf]


class _InfiniteReward(CountingEnv):
    """Rewards -inf, inf, -inf, ...: numbers (a penalty of -inf is legal), whose sum is NaN."""

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, np.inf if self._step_count % 2 == 0 else -np.inf, terminated, truncated, info


class _SizeOneArrays(CountingEnv):
    """Reward and flags as size-1 arrays (``np.array([r])``): one number each."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, np.array([reward]), np.array([terminated]), np.array([truncated]), info


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_size_one_rewards_and_flags_are_numbers_in_every_mode(vectorization):
    # The async workers once passed them on, so the rollouts held (T, 1) rewards (and array
    # flags failed inside the parent with an IndexError); the batched ones refused them.
    with ParallelRolloutSampler(
        lambda: _SizeOneArrays(terminate_at=3, truncate_at=3),
        IDLE2,
        2,
        min_rollouts=3,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    for k, ro in enumerate(rollouts):
        ref = rollout(CountingEnv(terminate_at=3, truncate_at=3), IDLE2, seed=0, sub_sub_seed=k)
        assert ro.rewards.shape == ref.rewards.shape == (3,)
        np.testing.assert_array_equal(ro.rewards, ref.rewards)
        np.testing.assert_array_equal(ro.terminated, ref.terminated)
        np.testing.assert_array_equal(ro.truncated, ref.truncated)
        assert ro.terminated[-1]
        assert ro.truncated[-1]


class _NanFromStateHundred(CountingEnv):
    """Observes NaN once the count reaches 100: a rollout started at init state 99 does."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs if obs[0] < 100 else obs * np.nan, reward, terminated, truncated, info


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_non_finite_observations_of_a_surplus_min_steps_rollout_do_not_fail_the_call(
    vectorization,
):
    env = lambda: _NanFromStateHundred(terminate_at=5)  # noqa: E731
    with _surplus_sampler(env, vectorization) as sampler:
        with pytest.raises(ValueError, match="observations must be finite") as info:
            sampler.sample(init_states=[_OK, _FAILS, _OK, _OK])
        assert info.value.rollout_indices == (1,)


class _Ramp(gym.Env):
    """Observes 0, 1, 2, 3 and terminates there; the policy below is undefined at 3."""

    observation_space = gym.spaces.Box(0.0, 3.0, (1,), np.float32)
    action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = 0.0
        return np.array([self.x], np.float32), {}

    def step(self, action):
        assert np.isfinite(action).all()  # NaN never reaches a simulator
        self.x += 1.0
        return np.array([self.x], np.float32), 0.0, self.x >= 3.0, False, {}


def _sqrt_policy(obs):
    with np.errstate(invalid="ignore"):
        return np.sqrt(2.5 - obs).astype(np.float32)  # NaN in the final state only


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_non_finite_actions_for_an_idle_sub_envs_final_state_are_ignored(vectorization):
    # Rollouts 0 and 1 end together; sub-env 1 then idles in its final state while sub-env 0
    # runs rollout 2, and the policy is still asked for its action.
    with ParallelRolloutSampler(
        _Ramp,
        _sqrt_policy,
        2,
        min_rollouts=3,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    assert [ro.length for ro in rollouts] == [3, 3, 3]
    for ro in rollouts:
        np.testing.assert_allclose(ro.actions[:, 0], np.sqrt([2.5, 1.5, 0.5]), rtol=1e-6)
    with pytest.raises(
        ValueError, match=r"actions must be finite, got .* from the policy in rollout 0 "
    ):
        rollout(lambda: _Ramp(), lambda obs: np.full((len(obs), 1), np.nan, np.float32))
    # The message claimed "at step 0" whatever the step (the row of a one-row slice).
    late_nan = lambda obs: np.where(obs[:, :1] >= 2.0, np.nan, 0.0).astype(np.float32)  # noqa: E731
    with pytest.raises(ValueError, match=r"from the policy in rollout 0 \(sub-env 0\)") as info:
        rollout(lambda: _Ramp(), late_nan)
    assert "at step" not in str(info.value)


def test_sampling_leaves_the_global_start_method_unset():
    # In a fresh interpreter: the test process's own start method may be set by other tests.
    # The progress bar (tqdm makes a multiprocessing lock, also when disabled) used to fix it
    # at the first sample(), so the caller's own set_start_method() raised "context has already
    # been set".
    import textwrap

    script = textwrap.dedent(
        """
        import multiprocessing as mp
        import numpy as np
        from gymsamp.sampling import ParallelRolloutSampler, eval_nominal_domain

        if __name__ == "__main__":
            policy = lambda obs: np.zeros(len(obs), dtype=np.int64)
            for vectorization in ("sync", "async", "batched"):
                for bar in (False, True):
                    with ParallelRolloutSampler(
                        "CartPole-v1", policy, 2, min_rollouts=2, seed=0,
                        vectorization=vectorization, show_progress_bar=bar,
                    ) as sampler:
                        assert len(sampler.sample()) == 2
            assert len(eval_nominal_domain(1, "CartPole-v1", policy, [np.zeros(4)])) == 1
            assert mp.get_start_method(allow_none=True) is None
            mp.set_start_method("spawn")  # the caller's choice is still free
            print("free")
        """
    )
    assert python_output(script) == "free"


def test_a_quiet_sampler_leaves_no_thread_or_fd_behind():
    # In a fresh interpreter: other tests may have started tqdm's monitor thread already. A
    # disabled tqdm bar still started its monitor thread and a shared-memory lock (two fds),
    # which outlived close(): a training loop of quiet samplers found them left behind.
    import textwrap

    script = textwrap.dedent(
        """
        import os, threading
        import numpy as np
        from gymsamp.sampling import ParallelRolloutSampler

        before = sorted(os.listdir("/proc/self/fd"))
        policy = lambda obs: np.zeros(len(obs), dtype=np.int64)
        with ParallelRolloutSampler(
            "CartPole-v1", policy, 2, min_rollouts=2, seed=0, vectorization="sync",
            show_progress_bar=False,
        ) as sampler:
            assert len(sampler.sample()) == 2
        after = sorted(os.listdir("/proc/self/fd"))
        print(sorted(t.name for t in threading.enumerate()), len(after) - len(before))
        """
    )
    assert python_output(script) == "['MainThread'] 0"


def test_the_progress_bar_leaves_no_thread_behind_for_later_forks():
    # In a fresh interpreter: other tests may have started tqdm's monitor thread already. The
    # bar started tqdm's monitor thread, which lived on after close(): on Python 3.12+ every
    # later fork (the default start method on Linux up to 3.13) then warned "This process ...
    # is multi-threaded, use of fork() may lead to deadlocks in the child".
    import textwrap

    script = textwrap.dedent(
        """
        import threading, warnings
        import numpy as np
        from gymsamp.sampling import ParallelRolloutSampler

        policy = lambda obs: np.zeros(len(obs), dtype=np.int64)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):  # the second forks after the first one's bar
                with ParallelRolloutSampler(
                    "CartPole-v1", policy, 2, min_rollouts=2, seed=0, vectorization="async",
                    start_method="fork", show_progress_bar=True,
                ) as sampler:
                    assert len(sampler.sample()) == 2
                print(sorted(t.name for t in threading.enumerate()))
        print([str(w.message) for w in caught if "fork()" in str(w.message)])
        """
    )
    assert python_output(script).splitlines() == ["['MainThread']", "['MainThread']", "[]"]


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_a_sampler_cannot_be_pickled_or_copied(vectorization):
    # It owns its sub-envs and a call lock: the refusal says so, not "cannot pickle
    # '_thread.lock' object" from inside it.
    with ParallelRolloutSampler(
        "CartPole-v1", _zero_policy, 2, min_rollouts=2, seed=0, vectorization=vectorization
    ) as sampler:
        for copy_it in (pickle.dumps, copy.copy, copy.deepcopy):
            with pytest.raises(TypeError) as info:
                copy_it(sampler)
            assert str(info.value) == (
                "a ParallelRolloutSampler cannot be pickled or copied: it owns its sub-envs and "
                "worker processes (build another one from the same env and policy)"
            )
        assert len(sampler.sample()) == 2


def test_no_worker_outlives_close_or_garbage_collection():
    import gc

    before = len(children())
    sampler = ParallelRolloutSampler(
        "CartPole-v1",
        RandomPolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=2,
        vectorization="async",
        show_progress_bar=False,
    )
    sampler.sample()
    assert len(children()) == before + 2
    sampler.close()
    assert len(children()) == before
    sampler.sample()  # rebuilt on demand
    del sampler
    gc.collect()
    assert len(children()) == before


class TestAutoVectorization:
    def test_choice_rule(self):
        from gymsamp.sampling.vector_envs import choose_vectorization

        assert choose_vectorization(1, 1000.0, 8) == "sync"
        assert choose_vectorization(4, 10.0, 8) == "sync"  # cheaper than a pipe round trip
        assert choose_vectorization(4, 1000.0, 1) == "sync"  # one core: no parallelism to win
        assert choose_vectorization(4, 1000.0, 2) == "async"
        # 2 CPUs: one worker and a block in the parent pay for 10 us steps x 8, not for
        # CartPole's ~6 us or 4 cheap sub-envs, and a step timeout rules the parent block out.
        assert choose_vectorization(8, 10.0, 2) == "batched"
        assert choose_vectorization(8, 10.0, 2, parent_block=False) == "sync"
        assert choose_vectorization(8, 6.0, 2) == "sync"
        assert choose_vectorization(4, 4.0, 2) == "sync"
        assert choose_vectorization(8, 3.0, 2) == "sync"

    def test_batched_layout(self):
        from gymsamp.sampling.vector_envs import batched_layout

        assert batched_layout(8, 6.0, 2) == (1, 4)  # equal shares: the worker's and the parent's
        assert batched_layout(5, 6.0, 2) == (1, 2)  # the parent, which also books, takes less
        assert batched_layout(2, 200.0, 2) == (1, 1)
        assert batched_layout(8, 6.0, 2, parent_block=False) == (2, 0)
        assert batched_layout(8, 200.0, 16) == (8, 0)  # CPUs to spare: workers only

    def test_measured_at_construction_and_reported(self):
        cheap = ParallelRolloutSampler(
            CountingEnv,
            IdlePolicy(gym.spaces.Discrete(2)),
            4,
            min_rollouts=1,
            show_progress_bar=False,
        )
        slow = ParallelRolloutSampler(
            lambda: CountingEnv(step_cost_us=1000),
            IdlePolicy(gym.spaces.Discrete(2)),
            2,
            min_rollouts=1,
            show_progress_bar=False,
        )
        assert cheap.step_cost_us < 1000 <= slow.step_cost_us
        assert cheap.vectorization_used == "sync"
        import os

        assert slow.vectorization_used == ("async" if (os.cpu_count() or 1) > 1 else "sync")
        assert "vectorization='sync'" in repr(cheap)

    def test_a_slow_env_is_probed_in_a_few_steps(self, monkeypatch):
        # 30 probe steps of a 50 ms simulator would cost 1.5 s at construction. The steps take
        # simulated time (no timing in tests): the probe reads the clock this env advances.
        from gymsamp.sampling.vector_envs import MIN_PROBE_STEPS, measure_step_cost

        clock = [0.0]
        monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
        env = _ClockedEnv(clock, [50_000])
        cost = measure_step_cost(env, budget_s=0.1)
        assert env.step_count == MIN_PROBE_STEPS  # 2 steps reach the budget, 3 are the fewest
        assert cost == pytest.approx(50_000)
        cheap = _ClockedEnv(clock, [5])
        assert measure_step_cost(cheap) == pytest.approx(5)
        assert cheap.step_count == 30  # cheap steps: the full probe

    def test_the_probe_reports_the_fast_steps_not_those_slowed_by_other_load(self, monkeypatch):
        # Two of three steps slowed (as other load slows some): the cost is the fast steps'
        # (the lower quartile), where the median would report the slowed ones.
        from gymsamp.sampling.vector_envs import measure_step_cost

        clock = [0.0]
        monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
        env = _ClockedEnv(clock, [1_000, 8_000, 8_000])
        cost = measure_step_cost(env, budget_s=10.0)
        assert env.step_count == 30
        assert cost == pytest.approx(1_000)


class _ClockedEnv(CountingEnv):
    """A counting env whose step ``t`` takes ``costs_us[t % len(costs_us)]`` microseconds of
    the simulated ``clock`` (a one-element list of seconds)."""

    def __init__(self, clock: list[float], costs_us: list[float]) -> None:
        super().__init__()
        self.clock, self.costs_us = clock, costs_us

    def step(self, action: Any) -> Any:
        self.clock[0] += self.costs_us[self.step_count % len(self.costs_us)] * 1e-6
        return super().step(action)


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_a_policy_reusing_its_output_arrays_is_recorded_as_it_acted(vectorization):
    """The loop for worker processes asks for step t+1's actions before it books step t."""
    buffer = np.zeros((1, 1), np.float32)
    hidden = np.zeros((1, 2))
    count = [0]

    class Reusing:
        def start(self, num_envs, *, eval):
            count[0] = 0

        def reset_envs(self, env_indices, rngs):
            pass

        def act(self, observations):
            from gymsamp.policies import PolicyStep

            buffer[:] = count[0] / 10
            hidden[:] = count[0]
            count[0] += 1
            return PolicyStep(buffer, {"hidden": hidden})

    with ParallelRolloutSampler(
        "Pendulum-v1",
        Reusing(),
        1,
        min_rollouts=1,
        max_steps=4,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        ro = sampler.sample()[0]
    np.testing.assert_array_equal(ro.actions.ravel(), np.float32([0.0, 0.1, 0.2, 0.3]))
    np.testing.assert_array_equal(ro.actions_applied.ravel(), np.float32([0.0, 0.1, 0.2, 0.3]))
    np.testing.assert_array_equal(ro.agent_infos["hidden"][:, 0], [0.0, 1.0, 2.0, 3.0])


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_playback_rollout_k_replays_recording_k_whatever_the_workers(vectorization):
    from gymsamp.policies import PlaybackPolicy

    rng = np.random.default_rng(0)
    recordings = [rng.integers(0, 2, size=60) for _ in range(3)]
    results = []
    for workers in (1, 2):
        with ParallelRolloutSampler(
            "CartPole-v1",
            PlaybackPolicy(recordings),
            workers,
            min_rollouts=6,
            max_steps=60,
            seed=0,
            vectorization=vectorization,
            show_progress_bar=False,
        ) as sampler:
            results.append(sampler.sample())
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.observations, b.observations)
    for k, ro in enumerate(results[1]):
        np.testing.assert_array_equal(ro.actions, recordings[k % 3][: ro.length])
        alone = rollout(
            "CartPole-v1", PlaybackPolicy(recordings), seed=0, sub_sub_seed=k, max_steps=60
        )
        np.testing.assert_array_equal(alone.observations, ro.observations)


@pytest.mark.parametrize("vectorization", ["sync", "batched"])
@pytest.mark.parametrize(
    ("env_id", "action", "error", "match"),
    [
        ("CartPole-v1", 1.9, TypeError, r"numeric dtype .*numpy kinds 'iu'.*float64"),
        ("CartPole-v1", 5, ValueError, r"actions in \[0, 2\) .* got \[5\]"),
        ("CartPole-v1", -1, ValueError, r"actions in \[0, 2\)"),
        ("Pendulum-v1", "x", TypeError, r"numeric dtype .* kinds 'fiu'.*<U1"),
        ("Pendulum-v1", 1 + 0j, TypeError, r"numeric dtype .*complex128"),
    ],
)
def test_actions_of_the_wrong_kind_or_range_are_refused_alike_in_every_mode(
    vectorization, env_id, action, error, match
):
    # Before: a float for a Discrete space failed inside the env in some modes and was
    # truncated silently by the batched env's shared memory.
    def policy(obs):
        shape = (len(obs),) if env_id == "CartPole-v1" else (len(obs), 1)
        return np.full(shape, action)

    with (
        ParallelRolloutSampler(
            env_id,
            policy,
            1,
            min_rollouts=1,
            max_steps=3,
            seed=0,
            vectorization=vectorization,
            show_progress_bar=False,
        ) as sampler,
        pytest.raises(error, match=match),
    ):
        sampler.sample()
    with pytest.raises(error, match=match):
        rollout(env_id, policy, seed=0, max_steps=3)


# -- argument checks ----------------------------------------------------------------------------


def _zero_policy(obs):
    return np.zeros(len(obs), dtype=np.int64)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        # nan / inf used to fail at the first sample() (numpy / int() errors), True to be 1 s.
        (
            {"step_timeout": float("nan"), "vectorization": "async"},
            ValueError,
            r"step_timeout must be None or a finite number > 0 \(seconds\), got nan",
        ),
        (
            {"step_timeout": float("inf"), "vectorization": "async"},
            ValueError,
            r"step_timeout must be .*, got inf",
        ),
        ({"step_timeout": True}, TypeError, r"step_timeout must be .*, got True"),
        ({"step_timeout": "a"}, TypeError, r"step_timeout must be .*, got 'a'"),
        # An unknown start method was ignored in sync mode, and failed late elsewhere.
        (
            {"start_method": "foo", "vectorization": "sync"},
            ValueError,
            r"start_method must be None or one of \[.*'spawn'.*\], got 'foo'",
        ),
        (
            {"start_method": "foo", "vectorization": "async"},
            ValueError,
            r"start_method must be None or one of \[.*\], got 'foo'",
        ),
        ({"start_method": 3}, TypeError, r"start_method must be None or one of \[.*\], got 3"),
        (
            {"record_states": "no"},
            TypeError,
            r"record_states must be a bool \(True or False\), "
            r"got 'no'",
        ),
        (
            {"show_progress_bar": "no"},
            TypeError,
            r"show_progress_bar must be a bool \(True or "
            r"False\), got 'no'",
        ),
        (
            {"ray_actor_options": [("num_cpus", 1)], "backend": "ray"},
            TypeError,
            r"^ray_actor_options must be None or a mapping, got list$",
        ),
    ],
)
def test_constructor_arguments_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        ParallelRolloutSampler(
            "CartPole-v1",
            _zero_policy,
            1,
            min_rollouts=1,
            **{"vectorization": "sync", "show_progress_bar": False, **kwargs},
        )


def test_a_policy_that_is_no_policy_is_named_as_the_policy_argument():
    # It was named as as_policy's own argument ("as_policy: obj must be ..."), which the user
    # of the sampler never passed.
    message = r"^policy must be a gymsamp Policy \(start, reset_envs, act\), .*, got int$"
    with pytest.raises(TypeError, match=message):
        ParallelRolloutSampler("CartPole-v1", 42, 1, min_rollouts=1, vectorization="sync")
    with ParallelRolloutSampler(
        "CartPole-v1", _zero_policy, 1, min_rollouts=1, vectorization="sync"
    ) as sampler:
        with pytest.raises(TypeError, match=message):
            sampler.reinit(policy=42)
        assert sampler.policy.fn is _zero_policy  # the refused reinit changed nothing


def test_sample_eval_must_be_a_bool():
    with ParallelRolloutSampler(
        "CartPole-v1",
        _zero_policy,
        1,
        min_rollouts=1,
        vectorization="sync",
        show_progress_bar=np.False_,
        record_states=np.True_,
        start_method="spawn",
    ) as sampler:
        with pytest.raises(TypeError, match=r"eval must be a bool \(True or False\), got 'yes'"):
            sampler.sample(eval="yes")
        assert len(sampler.sample(eval=np.True_)) == 1


class _ScriptEnv(CountingEnv):
    """A class a user's script registers under an id of its own (see the test below)."""


@pytest.fixture
def script_registered_id():
    # Registered in this process only: a spawned worker imports this module for the class,
    # but never runs the registration.
    env_id = "gymsamp_test/ScriptOnly-v0"
    gym.register(env_id, entry_point=_ScriptEnv, kwargs={"terminate_at": 3})
    yield env_id
    del gym.registry[env_id]


@pytest.mark.parametrize("vectorization", ["async", "batched"])
def test_an_id_registered_by_the_users_script_reaches_spawned_workers(
    script_registered_id, vectorization
):
    # The workers got the id alone: "Environment `ScriptOnly` doesn't exist" in a spawned
    # worker (and on every Ray actor), where a forked one inherited the registry.
    with ParallelRolloutSampler(
        script_registered_id,
        IdlePolicy(gym.spaces.Discrete(2)),
        1,
        min_rollouts=2,
        seed=0,
        vectorization=vectorization,
        start_method="spawn",
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    assert [ro.length for ro in rollouts] == [3, 3]
    assert [ro.rollout_info["env_id"] for ro in rollouts] == [script_registered_id] * 2


@pytest.mark.parametrize("vectorization", ["async", "batched"])
def test_an_env_spawned_workers_cannot_receive_is_refused_at_construction(vectorization):
    # It failed at the first sample() with cloudpickle's bare "cannot pickle '_thread.lock'
    # object", naming neither the env nor why it had to be pickled.
    lock = threading.Lock()
    before = len(children())
    with pytest.raises(
        TypeError,
        match=r"env must be picklable with cloudpickle to reach worker processes started "
        r"with 'spawn', got EnvFactory\(<function .*<lambda>.*\): cannot pickle "
        r"'_thread.lock' object",
    ):
        ParallelRolloutSampler(
            lambda: lock and CountingEnv(terminate_at=3),
            IDLE2,
            2,
            min_rollouts=2,
            vectorization=vectorization,
            start_method="spawn",
        )
    assert len(children()) == before


@pytest.mark.parametrize(
    ("vectorization", "start_method"),
    [("async", "fork"), ("batched", "fork"), ("sync", "spawn")],
)
def test_an_env_that_need_not_travel_need_not_be_picklable(vectorization, start_method):
    # Forked workers inherit the factory; sync sub-envs run in this process.
    lock = threading.Lock()
    with ParallelRolloutSampler(
        lambda: lock and CountingEnv(terminate_at=3),
        IDLE2,
        2,
        min_rollouts=2,
        seed=0,
        vectorization=vectorization,
        start_method=start_method,
        show_progress_bar=False,
    ) as sampler:
        assert [ro.length for ro in sampler.sample()] == [3, 3]


class _UnpicklableInfo(CountingEnv):
    """Reports a lock in its step info: it cannot travel from a worker process."""

    def step(self, action):
        obs, reward, terminated, truncated, _ = super().step(action)
        return obs, reward, terminated, truncated, {"lock": threading.Lock()}


@pytest.mark.parametrize("vectorization", ["async", "batched"])
def test_an_info_that_cannot_travel_names_its_sub_env(vectorization):
    # The batched worker pickles a whole block's reply at once: its failure named no sub-env.
    with ParallelRolloutSampler(
        lambda: _UnpicklableInfo(terminate_at=3),
        IDLE2,
        2,
        min_rollouts=2,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(
            WorkerError, match=r"sub-env \d raised TypeError: cannot pickle"
        ) as info:
            sampler.sample()
        assert info.value.env_index in (0, 1)


class _HangsInWorkerClose(CountingEnv):
    """Its close() hangs, in a worker process only (the parent's probe env closes at once)."""

    parent = os.getpid()

    def close(self):
        if os.getpid() != self.parent:
            time.sleep(60.0)
        super().close()


def test_a_sub_env_whose_close_hangs_cannot_hang_an_async_close(monkeypatch):
    # Gymnasium's graceful close waits for every worker without a timeout: close() hung.
    from gymsamp.sampling import async_vector_env

    monkeypatch.setattr(async_vector_env, "_CLOSE_TIMEOUT_S", 0.5)
    before = len(children())
    sampler = ParallelRolloutSampler(
        lambda: _HangsInWorkerClose(terminate_at=3),
        IDLE2,
        2,
        min_rollouts=2,
        seed=0,
        vectorization="async",
        show_progress_bar=False,
    )
    try:
        assert [ro.length for ro in sampler.sample()] == [3, 3]
    finally:
        start = time.monotonic()
        sampler.close()
    assert time.monotonic() - start < 5.0
    assert len(children()) == before


class NeedsSeed(gym.Env):
    """Picks its scenario from the reset seed, so it refuses a reset without one."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        if seed is None:
            raise ValueError("NeedsSeed must be reset with a seed")
        super().reset(seed=seed)
        self.n = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.n += 1
        return np.array([self.n], np.float32), 1.0, self.n >= 5, False, {}


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched", "auto"])
@pytest.mark.parametrize("quota", [{"min_rollouts": 1}, {"min_rollouts": 3}, {"min_steps": 5}])
def test_sub_envs_without_a_rollout_are_never_reset(vectorization, quota):
    # They were reset without a seed at the first reset of every call: 2 workers failed where
    # 1 worker worked (DESIGN §4), naming no rollout; auto's probe also reset without a seed
    # after an episode ended, so building the sampler failed.
    lengths = {}
    for num_workers in (1, 2, 4):
        with ParallelRolloutSampler(
            NeedsSeed, IdlePolicy(NeedsSeed.action_space), num_workers, seed=0,
            vectorization=vectorization, show_progress_bar=False, **quota,
        ) as sampler:  # fmt: skip
            lengths[num_workers] = [[ro.length for ro in sampler.sample()] for _ in range(2)]
    expected = [[5] * quota.get("min_rollouts", 1)] * 2
    assert lengths == {1: expected, 2: expected, 4: expected}


def test_the_step_cost_probe_resets_with_seeds_only():
    from gymsamp.sampling.vector_envs import measure_step_cost

    env = NeedsSeed()  # episodes of 5 steps: the probe's 30 steps reset it several times
    assert measure_step_cost(env, steps=30, budget_s=10.0) > 0.0


def test_an_env_instance_keeps_its_spec_in_the_sub_envs():
    # A MuJoCo env (Gymnasium's EzPickle) came back from its copy without its spec: the
    # sampler's rollouts named the class, not the id, and max_episode_length was None.
    env = gym.make("InvertedPendulum-v5", max_episode_steps=3)
    with ParallelRolloutSampler(
        env, IdlePolicy(env.action_space), 1, min_rollouts=1, seed=0, vectorization="sync",
        show_progress_bar=False,
    ) as sampler:  # fmt: skip
        (ro,) = sampler.sample()
        assert sampler.env_spec.max_episode_length == 3
    ref = rollout(
        gym.make("InvertedPendulum-v5", max_episode_steps=3), IdlePolicy(env.action_space), seed=0
    )
    assert ro.rollout_info["env_id"] == ref.rollout_info["env_id"] == "InvertedPendulum-v5"
    assert ro.length == ref.length == 3
    np.testing.assert_array_equal(ro.observations, ref.observations)


class _CloseRaises(CountingEnv):
    """Its close() raises (a renderer already gone); the env itself samples fine."""

    def close(self):
        raise OSError("display connection lost")


@pytest.mark.parametrize("vectorization", ["auto", "sync", "async", "batched"])
def test_sub_envs_whose_close_raises_sample_and_close_with_a_warning(vectorization):
    # The sampler's constructor failed with the probe's OSError: the user never asked for it.
    # async: Gymnasium's dummy env (built in the parent for the spaces) failed the sampler's
    # first sample() likewise; close() swallowed the error silently (async: Gymnasium's worker
    # printed it on stderr).
    with pytest.warns(RuntimeWarning, match=r"close\(\) raised OSError on a probe env"):
        sampler = ParallelRolloutSampler(
            lambda: _CloseRaises(terminate_at=3),
            IDLE2,
            2,
            min_rollouts=3,
            seed=0,
            vectorization=vectorization,
            show_progress_bar=False,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # async and batched probe once more (the dummy env)
        rollouts = sampler.sample()
    assert [ro.length for ro in rollouts] == [3, 3, 3]
    with pytest.warns(RuntimeWarning) as record:
        sampler.close()
    [warning] = record
    assert re.fullmatch(
        r"closing the sampler's sub-envs failed: (sub-env 0 raised )?OSError: display connection "
        r"lost \(every sub-env was still closed and every worker process ended\)",
        str(warning.message),
    )
    assert warning.filename == __file__


def test_a_probe_failure_is_not_hidden_by_the_probes_close():
    class FailsInStepAndClose(_CloseRaises):
        def step(self, action):
            raise RuntimeError("sim diverged")

    with (
        pytest.warns(RuntimeWarning, match="display connection lost"),
        pytest.raises(WorkerError, match="sim diverged"),
    ):
        ParallelRolloutSampler(FailsInStepAndClose, IDLE2, 1, min_rollouts=1)


class _OwnStateInfo(gym.Env):
    """No simulator adapter; its infos carry a "state" of its own (a lamp's switch)."""

    observation_space = gym.spaces.Box(-1e9, 1e9, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {"state": "off"}

    def step(self, action):
        self.t += 1
        obs = np.array([self.t], np.float32)
        return obs, 1.0, self.t >= 3, False, {"state": "on" if action else "off"}


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_record_states_leaves_an_envs_own_state_info_alone(vectorization):
    # record_states records what a simulator adapter reads; the sampler took the env's own
    # info["state"] as states instead (env_infos lost it), unlike rollout().
    policy = lambda obs: np.ones(len(obs), dtype=np.int64)  # noqa: E731
    # ... and says so: record_states=True recorded nothing, silently.
    with (
        pytest.warns(
            StatesNotRecordedWarning,
            match=r"record_states=True: the state of _OwnStateInfo cannot be read \(no "
            r"simulator adapter\), so the rollouts hold no states",
        ),
        ParallelRolloutSampler(
            _OwnStateInfo,
            policy,
            2,
            min_rollouts=2,
            seed=0,
            vectorization=vectorization,
            record_states=True,
            show_progress_bar=False,
        ) as sampler,
    ):
        rollouts = sampler.sample()
    for k, ro in enumerate(rollouts):
        ref = rollout(_OwnStateInfo, policy, seed=0, sub_seed=0, sub_sub_seed=k)
        assert "states" not in ro.data_names
        assert ro.env_infos["state"].tolist() == ref.env_infos["state"].tolist() == ["on"] * 3


# -- other threads: close() during a sample(), a second sample() -----------------------------------


def _acts_then(at, hook):
    """A batched CartPole policy (zeros) that runs ``hook`` in the sampling thread at its
    ``at``-th call."""
    return HookedPolicy(at, hook, lambda n: np.zeros(n, dtype=np.int64))


def _close_in_another_thread(
    sampler_of: Any, before: set[int], after_close: list[list[int]], *, first: Any = None
) -> Any:
    """A hook for :func:`_acts_then`: ``sampler_of().close()`` in another thread (after
    ``first()``, if given), which then puts the child pids not in ``before`` into
    ``after_close``."""

    def hook() -> None:
        def close() -> None:
            if first is not None:
                first()
            sampler_of().close()
            after_close.append([p.pid for p in children() if p.pid not in before])

        # Not joined here: close() may wait for this very call to end.
        threading.Thread(target=close, daemon=True).start()

    return hook


def _children_left_by_close(after_close: list[list[int]]) -> list[list[int]]:
    """``after_close`` once the thread's close() returned (it does right after the call ended)."""
    deadline = time.monotonic() + 60
    while not after_close and time.monotonic() < deadline:
        time.sleep(0.01)
    return after_close


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_close_from_another_thread_ends_a_running_sample_with_a_clear_error(vectorization):
    # A watchdog's close() while sample() ran: the sampling thread failed with whatever the
    # closed pipes and processes gave ("got end of file during message", "process object is
    # closed"), or went on sampling on sub-envs closed under it.
    before = {p.pid for p in children()}
    after_close: list[list[int]] = []
    policy = _acts_then(3, _close_in_another_thread(lambda: sampler, before, after_close))
    sampler = ParallelRolloutSampler(
        "CartPole-v1",
        policy,
        2,
        min_rollouts=10**6,  # never done: only close() ends this call
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    )
    with sampler:
        with pytest.raises(
            WorkerError,
            match=r"^the ParallelRolloutSampler was closed while sample\(\) ran \(close\(\) "
            r"during the call\)$",
        ):
            sampler.sample()
        assert _children_left_by_close(after_close) == [[]]
        # Closed, as any close() leaves it: the next call builds fresh sub-envs.
        policy.at = 0
        assert len(sampler.sample_jobs(Quota(min_rollouts=2), sampler._job_maker(None))) == 2
    assert [p for p in children() if p.pid not in before] == []


class _HangsInStepThree(CountingEnv):
    """Hangs for ``HANG_S`` in step 3 of every rollout, with a file in ``marks`` saying that
    its worker entered the hanging step and another saying that it left it."""

    HANG_S = 20.0

    def __init__(self, marks: str) -> None:
        super().__init__()
        self.marks = marks

    def step(self, action):
        if self._step_count + 1 == 3:
            with open(os.path.join(self.marks, f"entered-{os.getpid()}"), "w"):
                pass
            time.sleep(self.HANG_S)
            with open(os.path.join(self.marks, f"left-{os.getpid()}"), "w"):
                pass
        return super().step(action)


@pytest.mark.parametrize("call", ["sample", "sample_jobs"])
@pytest.mark.parametrize("vectorization", ["async", "batched"])
def test_close_from_another_thread_ends_the_workers_a_hanging_step_waits_on(
    tmp_path, vectorization, call
):
    # A watchdog closes a sampler whose sub-env hangs in a step: close() must end the worker
    # processes the call waits on (the call then fails at once), not wait for the step to end
    # (it may never) and end the call after it.
    before = {p.pid for p in children()}
    after_close: list[list[int]] = []

    def a_worker_hangs() -> None:
        deadline = time.monotonic() + 60
        while not any(f.startswith("entered") for f in os.listdir(tmp_path)):
            assert time.monotonic() < deadline
            time.sleep(0.01)

    close = _close_in_another_thread(lambda: sampler, before, after_close, first=a_worker_hangs)
    policy = _acts_then(3, close)  # the actions of step 3, which hangs
    sampler = ParallelRolloutSampler(
        lambda: _HangsInStepThree(str(tmp_path)),
        policy,
        2,
        min_rollouts=10**6,  # never done: only close() ends this call
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    )
    with sampler:
        run = {
            "sample": sampler.sample,
            "sample_jobs": lambda: sampler.sample_jobs(
                Quota(min_rollouts=10**6), sampler._job_maker(None)
            ),
        }[call]
        with pytest.raises(
            WorkerError, match=rf"^the ParallelRolloutSampler was closed while {call}"
        ):
            run()
        assert _children_left_by_close(after_close) == [[]]
        # The workers were ended inside the hanging step: none of them left it.
        marks = sorted(f.split("-")[0] for f in os.listdir(tmp_path))
        assert "entered" in marks
        assert "left" not in marks


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_a_second_thread_sampling_the_same_sampler_is_refused(vectorization):
    # Two threads' sample() calls stepped the same sub-envs at once: garbled errors
    # ("tuple index out of range", a sub-env's TypeError), or rollouts stepped by both.
    refused: list[BaseException] = []

    def sample_and_reinit_from_another_thread() -> None:
        refused.extend(errors_in_another_thread(sampler.sample, sampler.reinit))

    options: dict[str, Any] = dict(
        min_rollouts=4, seed=0, vectorization=vectorization, show_progress_bar=False
    )
    with ParallelRolloutSampler("CartPole-v1", _acts_then(0, print), 2, **options) as reference:
        expected = reference.sample()
    policy = _acts_then(2, sample_and_reinit_from_another_thread)
    with ParallelRolloutSampler("CartPole-v1", policy, 2, **options) as sampler:
        rollouts = sampler.sample()
        assert [type(err) for err in refused] == [RuntimeError, RuntimeError]
        for err, call in zip(refused, ["sample", "reinit"], strict=True):
            assert str(err) == (
                f"ParallelRolloutSampler.{call}() was called while sample() runs in another "
                "thread: a sampler runs one call at a time (give each thread its own sampler)"
            )
        # The refused calls neither disturbed this one nor counted as calls.
        assert len(rollouts) == len(expected) == 4
        for ro, ref in zip(rollouts, expected, strict=True):
            assert_same(ro, ref)
        seeds = [ro.rollout_info["seed"] for ro in sampler.sample()]
        assert seeds == [derive_seed(0, 1, k) for k in range(4)]


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_close_or_sample_from_inside_a_running_sample(vectorization):
    # From the policy (the sampling thread itself): close() ends the call as from another
    # thread (it cannot wait for the call it runs in); a nested sample() is refused.
    before = {p.pid for p in children()}
    nested: list[BaseException] = []

    def sample_then_close() -> None:
        try:
            sampler.sample()
        except BaseException as err:
            nested.append(err)
        sampler.close()

    with ParallelRolloutSampler(
        "CartPole-v1",
        _acts_then(3, sample_then_close),
        2,
        min_rollouts=10**6,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(WorkerError, match=r"^the ParallelRolloutSampler was closed while"):
            sampler.sample()
        assert [p for p in children() if p.pid not in before] == []
    assert [str(err) for err in nested] == [
        "ParallelRolloutSampler.sample() was called inside its running sample() (from the "
        "policy or a callback): a sampler runs one call at a time"
    ]


def test_a_close_from_another_thread_during_reinit_lets_it_finish_then_closes():
    # No worker to end for a reinit: the close waits for it, then closes; the next call runs
    # the reinit's env.
    closed: list[str] = []

    def factory() -> CountingEnv:
        call = sampler._calls._call
        if call is not None and call.name == "reinit" and not closed:
            closed.append("asked")
            threading.Thread(target=lambda: closed.append(sampler.close()), daemon=True).start()
            while not call.closed:  # the close has seen the reinit running
                time.sleep(0.001)
        return CountingEnv(terminate_at=3)

    with ParallelRolloutSampler(
        lambda: CountingEnv(terminate_at=2),
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=2,
        seed=0,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        assert [ro.length for ro in sampler.sample()] == [2, 2]
        sampler.reinit(env=factory)
        deadline = time.monotonic() + 60
        while len(closed) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert closed == ["asked", None]
        assert sampler._local.envs is None
        assert [ro.length for ro in sampler.sample()] == [3, 3]


def test_a_close_from_inside_a_call_holds_the_sampler_until_it_is_done(monkeypatch):
    # The close asked for inside the call runs once the call has ended, holding the sampler:
    # a call from another thread meanwhile is refused, not run on sub-envs being closed.
    refused: list[BaseException] = []
    close_now = ParallelRolloutSampler._close_now

    def close_now_with_a_call_from_another_thread(self) -> None:
        refused.extend(errors_in_another_thread(self.reinit))
        close_now(self)

    monkeypatch.setattr(
        ParallelRolloutSampler, "_close_now", close_now_with_a_call_from_another_thread
    )
    with ParallelRolloutSampler(
        "CartPole-v1",
        _acts_then(3, lambda: sampler.close()),
        2,
        min_rollouts=10**6,
        seed=0,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(WorkerError, match=r"^the ParallelRolloutSampler was closed while"):
            sampler.sample()
        assert [str(err) for err in refused] == [
            "ParallelRolloutSampler.reinit() was called while close() runs in another thread: "
            "a sampler runs one call at a time (give each thread its own sampler)"
        ]


@pytest.mark.parametrize("vectorization", ["async", "batched"])
def test_ctrl_c_in_a_call_ends_its_workers_and_the_next_call_works(vectorization):
    # A KeyboardInterrupt (no Exception) in the sampling thread ends the call's worker
    # processes at once, not at close() or exit, and the next call builds fresh sub-envs.
    before = {p.pid for p in children()}

    def interrupt() -> None:
        raise KeyboardInterrupt

    policy = _acts_then(3, interrupt)
    options: dict[str, Any] = dict(
        min_rollouts=4, seed=0, vectorization=vectorization, show_progress_bar=False
    )
    with ParallelRolloutSampler("CartPole-v1", policy, 2, **options) as sampler:
        with pytest.raises(KeyboardInterrupt):
            sampler.sample()
        assert [p.pid for p in children() if p.pid not in before] == []
        rollouts = sampler.sample()  # call 1
    with ParallelRolloutSampler("CartPole-v1", _acts_then(0, print), 2, **options) as fresh:
        fresh.sample()
        expected = fresh.sample()
    assert len(rollouts) == len(expected) == 4
    for ro, ref in zip(rollouts, expected, strict=True):
        assert_same(ro, ref)
    assert [p.pid for p in children() if p.pid not in before] == []


def test_a_failed_call_counts_and_a_refused_one_does_not():
    # Documented in sample() and docs/concepts/seeding.md: the call after a failure returns
    # what the same call of a fresh sampler returns (sub_seed c + 1), not a replay of call c.
    fail = {"now": False}

    def policy(obs):
        if fail["now"]:
            fail["now"] = False
            raise ValueError("policy failed")
        return np.zeros(len(obs), dtype=np.int64)

    with ParallelRolloutSampler(
        "CartPole-v1",
        policy,
        2,
        min_rollouts=2,
        seed=5,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        with pytest.raises(TypeError, match="eval"):
            sampler.sample(eval="yes")  # refused: not a call
        fail["now"] = True
        with pytest.raises(ValueError, match="policy failed"):
            sampler.sample()  # call 0 fails
        rollouts = sampler.sample()  # call 1
    assert [ro.rollout_info["seed"] for ro in rollouts] == [derive_seed(5, 1, k) for k in (0, 1)]


def test_states_are_recorded_for_an_env_the_caller_wrapped_in_an_init_state_wrapper():
    # The sampler adds a DomainParamWrapper outside the caller's InitStateWrapper and turns its
    # recording on: every step's state must reach the rollout.
    from gymsamp.envs import InitStateWrapper

    env = InitStateWrapper(CountingEnv(terminate_at=3), record_state=False)
    with ParallelRolloutSampler(
        env, IDLE2, 1, min_rollouts=1, seed=0, record_states=True, show_progress_bar=False
    ) as sampler:
        (ro,) = sampler.sample()
    np.testing.assert_array_equal(ro.states[:, 0], [0.0, 1.0, 2.0, 3.0])
