"""The Ray backend: same rollouts as the local backend, failures, parameters, Ray lifecycle.

One local Ray (2 CPUs, no dashboard, 127.0.0.1) serves the whole session (``ray_session``).
"""

import asyncio
import os
import re
import subprocess
import sys
import textwrap
import threading
import time

import gymnasium as gym
import numpy as np
import pytest
import ray.cloudpickle

from gymsamp.envs import CountingEnv
from gymsamp.policies import GaussianActionNoise, IdlePolicy, LinearPolicy, RandomPolicy
from gymsamp.sampling import (
    CVaRSampler,
    NonFiniteError,
    ParallelRolloutSampler,
    ParameterExplorationSampler,
    WorkerError,
    eval_domain_params,
)
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.ray_backend import load_policy_params, policy_params
from gymsamp.sampling.ray_worker import _Failure
from tests.helpers import DictPendulum, assert_sequences_equal, checkout_env
from tests.sampling import conftest_ray

# The session-wide local Ray (registered as a fixture of this module, see conftest_ray).
ray_session = conftest_ray.ray_session

# Classes of this module travel to the actors by value (with Ray's own cloudpickle), so the
# workers need not import it, whatever directory pytest runs from.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

BOX = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
STATES = [np.array([0.1, 0.0, 0.05, 0.0]), np.array([-0.1, 0.0, -0.05, 0.0])]
DOMAINS = [{"masspole": 0.1}, {"masspole": 0.3, "length": 0.7}]


def cartpole_sampler(**kwargs):
    options = {"min_rollouts": 5, "seed": 7, "show_progress_bar": False}
    options.update(kwargs)
    workers = options.pop("num_workers", 2)
    return ParallelRolloutSampler(
        "CartPole-v1", RandomPolicy(gym.spaces.Discrete(2)), workers, **options
    )


def three_calls(sampler):
    """min_rollouts, min_steps and payload calls (call counter 0, 1, 2) on one sampler."""
    out = [sampler.sample()]
    sampler.set_min_count(min_steps=150)
    out.append(sampler.sample())
    sampler.set_min_count(min_rollouts=6)
    out.append(sampler.sample(init_states=STATES, domain_params=DOMAINS))
    return out


def assert_all_equal(expected, actual):
    assert [len(x) for x in actual] == [len(x) for x in expected]
    for exp, act in zip(expected, actual, strict=True):
        for a, b in zip(exp, act, strict=True):
            assert_sequences_equal(a, b)


@pytest.fixture(scope="module")
def local_reference():
    with cartpole_sampler(backend="local", vectorization="sync") as sampler:
        return three_calls(sampler)


# -- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize(("actors", "envs"), [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_ray_rollouts_are_bit_identical_to_local(ray_session, local_reference, actors, envs):
    with cartpole_sampler(num_workers=actors, backend="ray", envs_per_actor=envs) as sampler:
        results = three_calls(sampler)
        assert len(sampler._ray.actors) == actors
    assert_all_equal(local_reference, results)
    # min_steps: the shortest sufficient prefix, whatever ran concurrently
    lengths = [ro.length for ro in results[1]]
    assert sum(lengths) >= 150 > sum(lengths[:-1])
    # payloads, init-state-major, each rollout reporting its own
    params = [ro.rollout_info["domain_param"]["masspole"] for ro in results[2]]
    assert params == [0.1, 0.3] * 4  # 2 states x 2 domains, repeated to reach 6
    # results are ordinary writable arrays, as locally
    results[0][0].rewards[0] = 0.0


def test_noisy_policy_max_steps_and_cvar_match_local(ray_session):
    def make(**kwargs):
        policy = GaussianActionNoise(IdlePolicy(BOX), std=0.5)
        return ParallelRolloutSampler(
            "gymsamp/PointMass-v0",
            policy,
            2,
            min_rollouts=6,
            seed=1,
            max_steps=25,
            show_progress_bar=False,
            **kwargs,
        )

    with make() as local, make(backend="ray") as remote:
        assert_all_equal([local.sample()], [remote.sample()])
        worst_local = CVaRSampler(local, 0.5, min_rollouts=3).sample()
        worst_remote = CVaRSampler(remote, 0.5, min_rollouts=3).sample()
        assert_all_equal([worst_local], [worst_remote])


def test_dict_observations_match_local(ray_session):
    """Rollouts of a Dict observation space come back from the actors with their structure."""

    def make(**kwargs):
        return ParallelRolloutSampler(
            DictPendulum, damp, 2, min_rollouts=3, seed=2, max_steps=15,
            show_progress_bar=False, **kwargs,
        )  # fmt: skip

    with make() as local, make(backend="ray") as remote:
        expected, actual = local.sample(), remote.sample()
    assert_all_equal([expected], [actual])
    assert sorted(actual[0].observations) == ["angle", "speed"]


def damp(obs):
    return np.clip(-obs["speed"], -2.0, 2.0).astype(np.float32)


# -- parameters -------------------------------------------------------------------------------


def linear_policy(values):
    policy = LinearPolicy((2, 1))
    policy.param_values = np.asarray(values, dtype=np.float64)
    return policy


def test_parameters_travel_once_per_call_and_changes_are_seen(ray_session, monkeypatch):
    def make(policy, **kwargs):
        return ParallelRolloutSampler(
            "gymsamp/PointMass-v0",
            policy,
            2,
            min_rollouts=6,
            seed=0,
            max_steps=20,
            show_progress_bar=False,
            **kwargs,
        )

    local_policy, ray_policy = linear_policy([-0.5, -0.5, 0.0]), linear_policy([-0.5, -0.5, 0.0])
    with make(local_policy) as local, make(ray_policy, backend="ray") as remote:
        assert_all_equal([local.sample()], [remote.sample()])
        local.sample()  # keep the call counters equal: remote samples once more below
        puts = []
        real_put = ray_session.put
        monkeypatch.setattr(ray_session, "put", lambda value: puts.append(value) or real_put(value))
        before = remote.sample()
        for policy in (local_policy, ray_policy):
            policy.param_values = np.array([0.3, -0.2, 0.1])
        puts.clear()
        expected, actual = local.sample(), remote.sample()
        assert len(puts) == 1  # one broadcast for 6 rollouts on 2 actors
        params = puts[0].load()  # shipped as bytes (arrays stay writable in the actors)
        assert params.kind == "param_values"
        np.testing.assert_array_equal(params.value, [0.3, -0.2, 0.1])
    assert_all_equal([expected], [actual])
    assert not np.array_equal(before[0].actions, actual[0].actions)


def test_parameter_exploration_matches_local(ray_session):
    param_sets = np.array([[-1.0, -1.0, 0.0], [0.5, 0.0, 0.2], [0.0, -0.3, -0.1]])

    def make(**kwargs):
        return ParameterExplorationSampler(
            "gymsamp/PointMass-v0",
            linear_policy([0.0, 0.0, 0.0]),
            num_init_states_per_domain=2,
            num_domains=1,
            num_workers=2,
            seed=3,
            max_steps=15,
            **kwargs,
        )

    with make() as local, make(backend="ray", envs_per_actor=2) as remote:
        expected, actual = local.sample(param_sets), remote.sample(param_sets)
    assert_all_equal(expected.rollouts(), actual.rollouts())
    assert [ro.rollout_info["param_set_index"] for ro in actual[2].rollouts] == [2, 2]


def test_evaluation_functions_take_the_backend(ray_session):
    env = lambda: CountingEnv(terminate_at=4)  # noqa: E731
    grid = [{"increment": 1.0}, {"increment": 2.0}, {"increment": 0.5}]
    policy = IdlePolicy(gym.spaces.Discrete(2))
    local = eval_domain_params(2, env, policy, grid, init_state=np.array([1.0]), seed=0)
    remote = eval_domain_params(
        2, env, policy, grid, init_state=np.array([1.0]), seed=0, backend="ray"
    )
    assert_all_equal([local], [remote])
    assert [ro.observations[1, 0] for ro in remote] == [2.0, 3.0, 1.5]


@pytest.mark.slow
def test_torch_module_state_dict_travels(ray_session):
    import torch

    def make(module, **kwargs):
        return ParallelRolloutSampler(
            "gymsamp/PointMass-v0",
            module,
            1,
            min_rollouts=3,
            seed=5,
            max_steps=10,
            show_progress_bar=False,
            **kwargs,
        )

    torch.manual_seed(0)
    local_module = torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    )
    ray_module = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    ray_module.load_state_dict(local_module.state_dict())
    with make(local_module) as local, make(ray_module, backend="ray") as remote:
        assert policy_params(remote.policy).kind == "state_dict"
        assert_all_equal([local.sample()], [remote.sample()])
        with torch.no_grad():
            for module in (local_module, ray_module):
                module[0].weight.mul_(3.0)
        assert_all_equal([local.sample()], [remote.sample()])


@pytest.mark.slow
def test_batch_invariant_torch_policy_matches_local_for_other_batch_sizes(ray_session):
    """docs/ray.md: an actor's batch (envs_per_actor) differs from the local one (num_workers);
    a batch-invariant torch policy still gives the very same bits on both backends."""
    import torch

    from gymsamp.data import EnvSpec
    from gymsamp.policies import TorchPolicy

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    spec = EnvSpec.from_env(gym.make("gymsamp/PointMass-v0"))
    policy = TorchPolicy(net, spec, batch_invariant=True)

    def make(workers, **kwargs):
        return ParallelRolloutSampler(
            "gymsamp/PointMass-v0", policy, workers, min_rollouts=6, seed=4, max_steps=12,
            show_progress_bar=False, **kwargs,
        )  # fmt: skip

    with make(4, vectorization="sync") as local, make(2, backend="ray", envs_per_actor=3) as remote:
        expected, actual = local.sample(), remote.sample()
    assert_all_equal([expected], [actual])
    assert len({ro.actions.tobytes() for ro in actual}) == 6  # six different rollouts


def test_a_rollout_indexed_policy_sees_the_callers_rollout_indices(ray_session):
    # The actor runs a batch under indices 0..n-1: PlaybackPolicy replayed recording j mod 3
    # (j: the rollout's place in its batch) where the local backend replays recording k mod 3.
    from gymsamp.policies import PlaybackPolicy

    recordings = [np.full((4, 1), float(r)) for r in range(3)]

    def run(backend, **kwargs):
        with ParallelRolloutSampler(
            "gymsamp/PointMass-v0", PlaybackPolicy(recordings), 2, min_rollouts=7, seed=0,
            max_steps=4, show_progress_bar=False, backend=backend, **kwargs,
        ) as sampler:  # fmt: skip
            return sampler.sample()

    local = run("local", vectorization="sync")
    assert [ro.actions[0, 0] for ro in local] == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0]
    assert_all_equal([local], [run("ray", envs_per_actor=2)])


def test_policy_params_round_trip_without_ray():
    source, target = linear_policy([1.0, 2.0, 3.0]), linear_policy([0.0, 0.0, 0.0])
    assert load_policy_params(target, policy_params(source)) is target
    np.testing.assert_array_equal(target.param_values, [1.0, 2.0, 3.0])
    idle = IdlePolicy(BOX)
    assert policy_params(idle).kind == "policy"
    assert load_policy_params(IdlePolicy(BOX), policy_params(idle)) is idle
    with pytest.raises(ValueError, match="params.kind must be"):
        load_policy_params(idle, ("pickle", None))  # type: ignore[arg-type]


def test_torch_and_sb3_parameters_round_trip_without_ray():
    import torch
    from stable_baselines3 import PPO

    from gymsamp.data import EnvSpec
    from gymsamp.policies.sb3_policy import SB3Policy
    from gymsamp.policies.torch_policy import TorchPolicy

    def module(fill):
        net = torch.nn.Linear(1, 1)
        with torch.no_grad():
            net.weight.fill_(fill)
            net.bias.fill_(fill)
        return net

    spec = EnvSpec.from_env(gym.make("gymsamp/PointMass-v0"))
    source, target = TorchPolicy(module(2.0), spec), TorchPolicy(module(0.0), spec)
    assert policy_params(source).kind == "state_dict"
    assert load_policy_params(target, policy_params(source)) is target
    assert target.module.weight.item() == target.module.bias.item() == 2.0

    models = [PPO("MlpPolicy", "Pendulum-v1", seed=s, device="cpu", n_steps=64) for s in (0, 1)]
    spec = EnvSpec.from_env(gym.make("Pendulum-v1"))
    source, target = (SB3Policy(model, spec) for model in models)
    params = policy_params(source)
    assert params.kind == "sb3_state_dict"
    assert load_policy_params(target, params) is target
    for name, value in models[0].policy.state_dict().items():
        assert torch.equal(models[1].policy.state_dict()[name], value), name


def _worker_spec(env=lambda: CountingEnv(terminate_at=2), policy=None):
    from gymsamp.sampling.ray_worker import WorkerSpec
    from gymsamp.sampling.vector_envs import EnvFactory

    return WorkerSpec(EnvFactory(env), policy or IdlePolicy(gym.spaces.Discrete(2)), 1,
                      record_states=False, dt=1.0, env_id=None)  # fmt: skip


def test_an_actor_loads_the_parameters_once_per_call_without_ray():
    # A call's later batches (same call number) keep the parameters the first one loaded;
    # the next call loads its own.
    from gymsamp.sampling.ray_worker import RolloutWorker
    from gymsamp.sampling.rollout_job import RolloutJob

    worker = RolloutWorker(0, _worker_spec("gymsamp/PointMass-v0", linear_policy([0.0] * 3)))
    try:
        assert worker.ready() == (os.getpid(), __import__("socket").gethostname())
        for call, values, expected in [(1, [5.0, 0.0, 0.0], 5.0), (1, [9.0, 0.0, 0.0], 5.0),
                                       (2, [9.0, 0.0, 0.0], 9.0)]:  # fmt: skip
            params = policy_params(linear_policy(values))
            result = worker.run(call, [params], [RolloutJob.seeded(4, 0, 0, 4)], eval=True,
                                max_steps=3)  # fmt: skip
            (ro,) = ray.cloudpickle.loads(result.payload)
            assert ro.rollout_info["rollout_index"] == 4
            assert worker.policy.param_values[0] == expected
    finally:
        worker.close()
    worker.close()  # a second close does nothing
    assert worker._envs is None


class _HoldsALockError(ValueError):
    def __init__(self, message):
        super().__init__(message)
        self.lock = threading.Lock()


def _raise_holding_a_lock(obs):
    raise _HoldsALockError("bad observation")


def test_an_actor_reports_its_build_failures_and_unpicklable_errors_without_ray():
    from gymsamp.sampling.ray_worker import Pickled, RolloutWorker
    from gymsamp.sampling.rollout_job import RolloutJob

    jobs = [RolloutJob.seeded(0, 0, 0, 0)]
    params = [policy_params(IdlePolicy(gym.spaces.Discrete(2)))]
    # The spec does not load here (a module missing where the actor runs, say): ready() and
    # every run() report it.
    worker = RolloutWorker(0, Pickled(b"not a pickle"))
    failure = worker.ready()
    assert isinstance(failure, _Failure)
    assert isinstance(failure.exception, WorkerError)
    assert failure.text.startswith("the env factory and policy could not be loaded on this "
                                   "actor: UnpicklingError: ")  # fmt: skip
    assert worker.run(1, params, jobs, eval=True, max_steps=None) is failure
    worker.close()

    def no_licence():
        raise RuntimeError("no simulator licence on this node")

    worker = RolloutWorker(1, _worker_spec(no_licence))
    failure = worker.ready()
    assert isinstance(failure.exception, WorkerError)  # as a local sub-env's build failure
    assert failure.exception.message == (
        "sub-env 0 raised RuntimeError while being built: no simulator licence on this node"
    )
    worker.close()

    # An exception that does not pickle travels as its type name and text.
    from gymsamp.data import EnvSpec
    from gymsamp.policies import as_policy

    policy = as_policy(_raise_holding_a_lock, EnvSpec.from_env(CountingEnv(terminate_at=2)))
    worker = RolloutWorker(2, _worker_spec(policy=policy))
    try:
        failure = worker.run(1, [policy_params(policy)], jobs, eval=True, max_steps=None)
    finally:
        worker.close()
    assert failure.exception is None
    assert (failure.type_name, failure.text) == ("_HoldsALockError", "bad observation")
    assert "_raise_holding_a_lock" in failure.remote_traceback

    # SystemExit is how Ray ends an actor (ray.actor.exit_actor()): it is left to Ray.
    policy = as_policy(sys.exit, EnvSpec.from_env(CountingEnv(terminate_at=2)))
    worker = RolloutWorker(3, _worker_spec(policy=policy))
    try:
        with pytest.raises(SystemExit):
            worker.run(1, [policy_params(policy)], jobs, eval=True, max_steps=None)
    finally:
        worker.close()


# -- failures ---------------------------------------------------------------------------------


class FragileEnv(CountingEnv):
    """Fails on demand, chosen through the domain parameter ``increment``."""

    def step(self, action):
        if self._increment == 13.0:
            raise ValueError("trap 100% sprung")
        if self._increment == 66.0:
            os._exit(1)  # the actor process dies
        return super().step(action)


def fragile_sampler(**kwargs):
    return ParallelRolloutSampler(
        lambda: FragileEnv(terminate_at=3),
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=4,
        seed=0,
        show_progress_bar=False,
        backend="ray",
        **kwargs,
    )


def assert_dead(ray, actors, timeout=30.0):
    """Every actor is gone (``ray.kill`` is asynchronous, so give it a moment)."""
    deadline = time.monotonic() + timeout
    for actor in actors:
        while True:
            try:
                ray.get(actor.ready.remote(), timeout=timeout)
            except ray.exceptions.RayActorError:
                break
            assert time.monotonic() < deadline, f"{actor} is still alive"
            time.sleep(0.1)


def test_env_error_is_the_local_worker_error_and_actors_restart(ray_session):
    with fragile_sampler(envs_per_actor=2) as sampler:
        assert [ro.length for ro in sampler.sample()] == [3, 3, 3, 3]
        before = sampler._ray.actors
        with pytest.raises(
            WorkerError, match=r"sub-env \d raised ValueError in step: trap 100% sprung \(in Ray"
        ) as info:
            sampler.sample(domain_params=[{"increment": 1.0}, {"increment": 13.0}])
        assert isinstance(info.value, RuntimeError)
        assert info.value.env_index in (0, 1)
        assert info.value.worker_index in (0, 1)
        assert "trap 100% sprung" in info.value.remote_traceback
        assert "FragileEnv" in info.value.remote_traceback or "step" in info.value.remote_traceback
        assert_dead(ray_session, before)
        assert sampler._ray.actors == []
        # The next call works on fresh actors, and still follows the call counter.
        rollouts = sampler.sample()
        assert [ro.length for ro in rollouts] == [3, 3, 3, 3]
        assert len(sampler._ray.actors) == 2


def test_a_failed_surplus_min_steps_rollout_does_not_fail_the_call_on_ray(ray_session):
    # As locally (DESIGN §4): whether rollout 3 (past the 9 steps asked for) ran, and failed,
    # depends on the actors; the driver once raised on it, with no rollout named.
    ok, trap = {"increment": 1.0}, {"increment": 13.0}
    with fragile_sampler(envs_per_actor=2) as sampler:
        sampler.set_min_count(min_steps=9)
        rollouts = sampler.sample(domain_params=[ok, ok, ok, trap])
        assert [ro.length for ro in rollouts] == [3, 3, 3]
        assert [ro.rollout_info["rollout_index"] for ro in rollouts] == [0, 1, 2]
        # A failure the result needs still raises, naming the rollout by the driver's index.
        with pytest.raises(WorkerError, match="trap 100% sprung") as info:
            sampler.sample(domain_params=[ok, trap])
        assert info.value.rollout_indices == (1,)


def test_an_actor_killed_by_a_surplus_rollout_fails_no_call(ray_session):
    # Rollout 3 (past the 9 steps asked for) ends its actor's process after the call has its
    # result; the next call, whose rollouts are all fine, then failed with "Ray actor 1 died
    # while sampling", naming its own rollout 1. Locally both calls work.
    ok, fatal = {"increment": 1.0}, {"increment": 66.0}

    def make(**kwargs):
        return ParallelRolloutSampler(
            lambda: FragileEnv(terminate_at=3), RandomPolicy(gym.spaces.Discrete(2)), 2,
            min_steps=9, seed=0, show_progress_bar=False, **kwargs,
        )  # fmt: skip

    with make(vectorization="async") as local:  # a worker process to kill
        expected = [local.sample(domain_params=[ok, ok, ok, fatal]), local.sample()]
    with make(backend="ray") as sampler:
        actual = [sampler.sample(domain_params=[ok, ok, ok, fatal]), sampler.sample()]
    assert [[ro.length for ro in call] for call in actual] == [[3, 3, 3], [3, 3, 3]]
    assert_all_equal(expected, actual)


@pytest.mark.parametrize("envs_per_actor", [1, 2])
def test_dead_actor_is_a_worker_error_and_actors_restart(ray_session, envs_per_actor):
    with fragile_sampler(envs_per_actor=envs_per_actor) as sampler:
        with pytest.raises(WorkerError, match=r"Ray actor \d .*died while sampling") as info:
            sampler.sample(domain_params=[{"increment": 66.0}])
        assert info.value.worker_index in (0, 1)
        # The sub-envs it took down, within the actor, as for a dead local worker (they
        # were env_index=None and no lost_env_indices).
        if envs_per_actor == 1:
            assert (info.value.env_index, info.value.lost_env_indices) == (0, ())
        else:
            assert (info.value.env_index, info.value.lost_env_indices) == (None, (0, 1))
        assert info.value.rollout_indices  # the batch it ran (every rollout kills its actor)
        assert set(info.value.rollout_indices) <= {0, 1, 2, 3}
        assert [ro.length for ro in sampler.sample()] == [3, 3, 3, 3]


def test_a_dead_actor_names_the_batch_it_was_running_first(ray_session):
    # Every batch an actor holds fails when it dies; the error named whichever failed
    # reference ray.wait returned first, often a batch that had not started. It names every
    # rollout lost with the actor (a reply not yet sent dies with it too), in order: the batch
    # it was running first, then those queued behind it.
    with fragile_sampler(envs_per_actor=2) as sampler:
        sampler.set_min_count(min_rollouts=8)  # batches [0, 1] [2, 3] first, [4, 5] [6, 7] queued
        for _ in range(3):
            with pytest.raises(WorkerError, match=r"died while sampling") as info:
                sampler.sample(domain_params=[{"increment": 66.0}])
            lost = info.value.rollout_indices
            assert lost[:2] in ((0, 1), (2, 3))
            assert lost in ((0, 1), (2, 3), (0, 1, 4, 5), (2, 3, 6, 7))


class _NaNAt13(CountingEnv):
    """Observes NaN once its domain parameter ``increment`` is 13."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return (
            obs * (np.nan if self._increment == 13.0 else 1.0),
            reward,
            terminated,
            truncated,
            info,
        )


def test_non_finite_observations_are_the_local_error_naming_the_rollout(ray_session):
    # The actor numbers its batch's rollouts 0..n-1: the error names the driver's index.
    errors = []
    for backend in ("local", "ray"):
        with ParallelRolloutSampler(
            lambda: _NaNAt13(terminate_at=3), IdlePolicy(gym.spaces.Discrete(2)), 1,
            min_rollouts=3, seed=0, show_progress_bar=False, backend=backend,
        ) as sampler:  # fmt: skip
            with pytest.raises(NonFiniteError) as info:
                sampler.sample(domain_params=[{"increment": 1.0}] * 2 + [{"increment": 13.0}])
            errors.append(info.value)
    local, remote = errors
    assert str(remote) == str(local)
    assert str(local).startswith("observations must be finite, got array([nan]")
    assert remote.rollout_indices == local.rollout_indices == (2,)


def test_an_exception_that_does_not_pickle_is_a_worker_error_naming_it(ray_session):
    with (
        ParallelRolloutSampler(
            lambda: CountingEnv(terminate_at=3), _raise_holding_a_lock, 1, min_rollouts=1,
            show_progress_bar=False, backend="ray",
        ) as sampler,
        pytest.raises(
            WorkerError,
            match=r"^Ray actor 0 \(pid \d+ on .+\) raised _HoldsALockError: bad observation\n",
        ) as info,
    ):  # fmt: skip
        sampler.sample()
    assert info.value.worker_index == 0
    assert "_raise_holding_a_lock" in info.value.remote_traceback


def test_policy_error_keeps_its_type(ray_session):
    with (
        ParallelRolloutSampler(
            "CartPole-v1",
            lambda obs: np.zeros((len(obs), 3)),
            1,
            min_rollouts=1,
            show_progress_bar=False,
            backend="ray",
        ) as sampler,
        pytest.raises(ValueError, match="shape"),
    ):
        sampler.sample()


class NoAddNoteError(ValueError):
    """An exception as on Python 3.10, where ``BaseException`` has no ``add_note``."""

    @property
    def add_note(self):
        raise AttributeError("add_note")


def test_the_remote_traceback_note_does_not_need_add_note():
    # On Python 3.10 (no add_note) an actor's exception, e.g. the policy's, was re-raised
    # without its remote traceback: the note was skipped. No Ray needed: the driver's raise only.
    from gymsamp.sampling.ray_backend import RayRolloutDriver

    driver = object.__new__(RayRolloutDriver)  # _raise reads only actor_info
    driver.actor_info = [(101, "node-a"), (102, "node-b")]
    remote = "Traceback (most recent call last):\n  ...\nValueError: bad actions\n"
    err = NoAddNoteError("bad actions")
    err.__notes__ = ["an earlier note"]
    with pytest.raises(NoAddNoteError) as info:
        driver._raise(_Failure(err, "NoAddNoteError", "bad actions", remote), 1)
    assert info.value is err
    assert info.value.__notes__ == [
        "an earlier note",
        f"Raised in Ray actor 1 (pid 102 on node-b); remote traceback:\n{remote}",
    ]
    fresh = NoAddNoteError("no notes yet")
    with pytest.raises(NoAddNoteError) as info:
        driver._raise(_Failure(fresh, "NoAddNoteError", "no notes yet", remote), 0)
    assert info.value.__notes__ == [
        f"Raised in Ray actor 0 (pid 101 on node-a); remote traceback:\n{remote}"
    ]


def interrupt_at_13(obs):
    """Idle, but raises KeyboardInterrupt on seeing a count of 13 (a Ctrl-C in the policy)."""
    if np.any(obs == 13.0):
        raise KeyboardInterrupt
    return np.zeros(len(obs), dtype=np.int64)


def test_keyboard_interrupt_in_the_policy_is_raised_as_locally(ray_session):
    # Ray reports a KeyboardInterrupt inside an actor task as a cancelled task: the caller got a
    # WorkerError "failed while sampling: RayTaskError(TaskCancelledError) ..." instead of the
    # KeyboardInterrupt the local backend raises.
    with ParallelRolloutSampler(
        lambda: CountingEnv(terminate_at=3),
        interrupt_at_13,
        2,
        min_rollouts=4,
        seed=0,
        show_progress_bar=False,
        backend="ray",
    ) as sampler:
        before = sampler.sample()
        actors = sampler._ray.actors
        with pytest.raises(KeyboardInterrupt) as info:
            sampler.sample(domain_params=[{"increment": 13.0}])
        assert re.match(r"Raised in Ray actor [01] \(pid \d+", info.value.__notes__[0])
        assert "interrupt_at_13" in info.value.__notes__[0]  # the remote traceback
        assert_dead(ray_session, actors)
        # The next call works, on fresh actors.
        assert [ro.observations[-1, 0] for ro in sampler.sample()] == [3.0] * 4
    assert [ro.length for ro in before] == [3] * 4


def _cancel_at_13(obs):
    """Idle, but cancelled on seeing a count of 13: asyncio's CancelledError is a BaseException
    that is neither an Exception nor a KeyboardInterrupt."""
    if np.any(obs == 13.0):
        raise asyncio.CancelledError("stop at 13")
    return np.zeros(len(obs), dtype=np.int64)


def test_a_base_exception_in_the_policy_is_raised_as_locally(ray_session):
    # Only Exception and KeyboardInterrupt came back as themselves: another BaseException
    # escaped the actor method and the caller got a WorkerError "failed while sampling:
    # RayTaskError(CancelledError): ..." with Ray's terminal colour codes, where the local
    # backend raises the CancelledError itself.
    errors = []
    for backend in ("local", "ray"):
        with ParallelRolloutSampler(
            lambda: CountingEnv(terminate_at=3), _cancel_at_13, 2, min_rollouts=4, seed=0,
            show_progress_bar=False, backend=backend,
        ) as sampler:  # fmt: skip
            with pytest.raises(asyncio.CancelledError, match="stop at 13") as info:
                sampler.sample(domain_params=[{"increment": 13.0}])
            errors.append(info.value)
            assert [ro.length for ro in sampler.sample()] == [3] * 4  # usable again
    assert re.match(r"Raised in Ray actor [01] \(pid \d+", errors[1].__notes__[0])
    assert "_cancel_at_13" in errors[1].__notes__[0]  # the remote traceback


def test_bad_env_factory_fails_when_the_actors_start(ray_session):
    calls = {"n": 0}

    def factory():
        calls["n"] += 1
        if calls["n"] > 1:  # the probe in this process works; the actors' copies fail
            raise RuntimeError("no simulator licence on this node")
        return CountingEnv(terminate_at=2)

    with (
        ParallelRolloutSampler(
            factory,
            IdlePolicy(gym.spaces.Discrete(2)),
            1,
            min_rollouts=1,
            backend="ray",
            show_progress_bar=False,
        ) as sampler,
        pytest.raises(RuntimeError, match="no simulator licence"),
    ):
        sampler.sample()


def test_an_env_the_actors_cannot_import_is_named_when_they_start(ray_session, tmp_path):
    # The env class lives in a module only this process can import (as on a cluster node
    # without the user's package). The actor failed in its creation task and the caller got
    # only Ray's "The actor died because of an error raised in its creation task, ..." with
    # terminal colour codes, not the ModuleNotFoundError.
    (tmp_path / "driver_only_envs.py").write_text(
        "from gymsamp.envs import CountingEnv\n\n"
        "class DriverOnlyEnv(CountingEnv):\n"
        "    def __init__(self):\n"
        "        super().__init__(terminate_at=2)\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import driver_only_envs  # type: ignore[import-not-found]

        with (
            ParallelRolloutSampler(
                driver_only_envs.DriverOnlyEnv,  # pickled by reference: its module is imported
                IdlePolicy(gym.spaces.Discrete(2)),
                1,
                min_rollouts=1,
                show_progress_bar=False,
                backend="ray",
            ) as sampler,
            pytest.raises(WorkerError) as info,
        ):
            sampler.sample()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("driver_only_envs", None)
    assert str(info.value).startswith(
        "the env factory and policy could not be loaded on this actor: ModuleNotFoundError: "
        "No module named 'driver_only_envs' (the modules they import must be installed where "
        "the actors run) (in Ray actor 0"
    )
    assert info.value.worker_index == 0
    assert "_resolve" in info.value.remote_traceback


# -- Ray lifecycle ----------------------------------------------------------------------------


def test_close_kills_the_actors_but_not_a_ray_it_did_not_start(ray_session):
    sampler = cartpole_sampler(backend="ray", min_rollouts=2)
    assert not sampler._ray.started_ray
    assert sampler._ray.actor_options == {"num_cpus": 1}  # Ray places them by free cores
    sampler.sample()
    actors = sampler._ray.actors
    sampler.close()
    assert ray_session.is_initialized()
    assert_dead(ray_session, actors)
    assert len(sampler.sample()) == 2  # a closed sampler starts new actors on demand
    sampler.close()
    assert ray_session.is_initialized()


@pytest.mark.slow
def test_own_ray_is_started_and_shut_down_by_the_last_sampler(tmp_path):
    script = textwrap.dedent(
        """
        import os
        import gymnasium as gym
        import ray
        from gymsamp.policies import RandomPolicy
        from gymsamp.sampling import ParallelRolloutSampler

        def make(workers):
            return ParallelRolloutSampler("CartPole-v1", RandomPolicy(gym.spaces.Discrete(2)),
                                          workers, min_rollouts=2, seed=0, backend="ray",
                                          show_progress_bar=False)

        assert not ray.is_initialized()
        cpus = max(2, os.cpu_count() or 1)
        first = make(cpus)
        assert ray.is_initialized() and first._ray.started_ray
        assert ray.cluster_resources()["CPU"] == cpus
        assert first._ray.actor_options == {"num_cpus": 0}
        second = make(1)  # more actors than Ray has CPUs: they must not wait for each other
        a, b = first.sample(), second.sample()
        assert [x.observations.tobytes() for x in a] == [y.observations.tobytes() for y in b]
        first.close()
        print("after first close", ray.is_initialized())
        second.close()
        print("after second close", ray.is_initialized())
        """
    )
    out = _run_script(script, tmp_path)
    assert out.stdout.splitlines()[-2:] == ["after first close True", "after second close False"]


def test_close_from_inside_a_call_also_shuts_down_the_ray_the_sampler_started(tmp_path):
    # close() inside the call (here from sample_jobs' make_job, which runs in this process;
    # a policy runs on the actors) ended the call and killed its actors, but the Ray the
    # sampler had started stayed up: only a close() outside a call released it.
    script = textwrap.dedent(
        """
        import numpy as np
        import ray
        from gymsamp.sampling import ParallelRolloutSampler, WorkerError
        from gymsamp.sampling.quota import Quota
        from gymsamp.sampling.rollout_job import RolloutJob

        sampler = ParallelRolloutSampler("CartPole-v1", lambda obs: np.zeros(len(obs), int), 2,
                                         min_rollouts=4, backend="ray", show_progress_bar=False)
        assert ray.is_initialized() and sampler._ray.started_ray

        def make_job(k):
            if k == 1:  # the call ends when it asks for the next job
                sampler.close()
            return RolloutJob.seeded(k, 0, 0, k)

        try:
            sampler.sample_jobs(Quota(min_rollouts=4), make_job)
        except WorkerError as err:
            print("raised", str(err).startswith("the ParallelRolloutSampler was closed"))
        print("after the call", ray.is_initialized())
        """
    )
    out = _run_script(script, tmp_path)
    assert out.stdout.splitlines()[-2:] == ["raised True", "after the call False"]


def _run_script(
    script: str, cwd: os.PathLike[str], **environ: str
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh Python with Ray kept quiet (and ``environ`` set); it must pass."""
    env = checkout_env(**conftest_ray.RAY_ENV, **environ)
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    return out


def test_local_sampling_does_not_import_ray():
    script = (
        "import sys, gymnasium as gym\n"
        "from gymsamp.policies import RandomPolicy\n"
        "from gymsamp.sampling import ParallelRolloutSampler\n"
        "with ParallelRolloutSampler('CartPole-v1', RandomPolicy(gym.spaces.Discrete(2)), 1,\n"
        "                            min_rollouts=1, show_progress_bar=False) as s:\n"
        "    s.sample()\n"
        "print('ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# -- validation (no Ray needed) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backend": "spark"}, r"backend must be one of \('local', 'ray'\), got 'spark'"),
        ({"backend": "ray", "envs_per_actor": 0}, "envs_per_actor must be an int >= 1, got 0"),
        ({"envs_per_actor": 2}, "envs_per_actor applies to backend='ray' only"),
        ({"ray_actor_options": {"num_cpus": 1}}, "ray_actor_options applies to backend='ray'"),
        ({"backend": "ray", "vectorization": "async"}, "vectorization must be 'auto' or 'sync'"),
        (
            {"backend": "ray", "step_timeout": 1.0},
            # It said "async vector envs only", though "batched" takes one too.
            r"step_timeout must be None with backend='ray' \(it bounds sub-envs in worker "
            r"processes; a Ray actor steps its sub-envs in its own process\), got 1.0",
        ),
    ],
)
def test_bad_backend_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ParallelRolloutSampler(
            "CartPole-v1", RandomPolicy(gym.spaces.Discrete(2)), 1, min_rollouts=1, **kwargs
        )


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"num_cpu": 1}, ValueError, r"Invalid option keyword num_cpu for actors"),
        ({"num_cpus": -1}, ValueError, r"num_cpus cannot be negative"),
        ({"resources": "GPU"}, TypeError, r"'resources' must be"),
    ],
)
def test_actor_options_ray_refuses_are_named_at_construction(options, error, match):
    # Before, Ray refused them only at the first sample(), after Ray had started.
    import ray

    running = ray.is_initialized()  # the session's Ray, where an earlier test started it
    with pytest.raises(error, match=r"ray_actor_options must be options Ray accepts .*" + match):
        ParallelRolloutSampler(
            "CartPole-v1",
            RandomPolicy(gym.spaces.Discrete(2)),
            1,
            min_rollouts=1,
            backend="ray",
            ray_actor_options=options,
        )
    assert ray.is_initialized() == running


def test_evaluation_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match="backend must be None or one of"):
        eval_domain_params(1, "CartPole-v1", lambda o: o, [{}], backend="dask")


@pytest.mark.slow
def test_ray_address_from_the_environment_is_joined_not_started(ray_session, tmp_path):
    # What `ray job submit` does: the script runs with RAY_ADDRESS naming the cluster; gymsamp
    # must join that cluster (here: the test session's Ray) and leave it running after close.
    gcs_address = ray_session.get_runtime_context().gcs_address
    script = textwrap.dedent(
        """
        import gymnasium as gym
        import ray
        from gymsamp.policies import RandomPolicy
        from gymsamp.sampling import ParallelRolloutSampler

        sampler = ParallelRolloutSampler("CartPole-v1", RandomPolicy(gym.spaces.Discrete(2)),
                                         1, min_rollouts=2, seed=0, backend="ray",
                                         show_progress_bar=False)
        rollouts = sampler.sample()
        print("joined", ray.get_runtime_context().gcs_address, sampler._ray.started_ray)
        print("actor options", sampler._ray.actor_options)
        sampler.close()
        print("after close", ray.is_initialized(), len(rollouts))
        """
    )
    environ = {"RAY_ADDRESS": gcs_address}
    if gcs_address.startswith("127.0.0.1:"):
        # Ray up to 2.50 keeps the session's _node_ip_address="127.0.0.1" and its GCS listens
        # on loopback only, while ray.init() in the script rewrites a 127.0.0.1 RAY_ADDRESS to
        # the machine's own address, which nothing listens on (ConnectionError after ~140 s,
        # in any Ray script, gymsamp or not). Ray keeps 127.0.0.1 where it runs without
        # clusters of several machines (as on macOS and Windows): the script then joins this
        # very cluster at the address RAY_ADDRESS names. (Ray 2.60 uses the machine's address.)
        environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    out = _run_script(script, tmp_path, **environ)
    assert out.stdout.splitlines()[-3:] == [
        f"joined {gcs_address} False",
        "actor options {'num_cpus': 1}",
        "after close True 2",
    ]
    assert ray_session.is_initialized()


class _RunningSum:
    """A policy that updates an array of its own in place (as a running normalizer does)."""

    def __init__(self) -> None:
        self.obs_sum = np.zeros(4)

    def __call__(self, obs):
        self.obs_sum += obs.sum(axis=0)
        return (obs[:, 2] > 0).astype(np.int64)


class _Drifting(gym.Wrapper):
    """CartPole whose observations drift by an array the factory handed it, updated in place."""

    def __init__(self, offset: np.ndarray) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.offset = offset

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.offset += 0.001
        return obs + self.offset.astype(np.float32), reward, terminated, truncated, info


def _drifting_factory(offset=np.zeros(4)):  # noqa: B008 (one array, shipped with the factory)
    return _Drifting(offset)


def test_arrays_a_policy_or_factory_updates_in_place_stay_writable_on_ray(ray_session):
    # Ray hands the arrays of what it stores back as read-only views: "output array is
    # read-only" on Ray only.
    def run(backend):
        # One sub-env: the factory's array is then one env's alone, locally and on Ray.
        with ParallelRolloutSampler(
            _drifting_factory, _RunningSum(), 1, min_rollouts=3, seed=0, max_steps=20,
            show_progress_bar=False, backend=backend, vectorization="sync",
        ) as sampler:  # fmt: skip
            return sampler.sample()

    assert_all_equal([run("local")], [run("ray")])


def test_a_ray_shut_down_between_calls_is_started_again(tmp_path):
    # The driver kept its dead actors: Ray's bare "Failed to submit task to actor", while
    # ray.put started a Ray of Ray's defaults that no close() ended.
    script = textwrap.dedent(
        """
        import gymnasium as gym
        import ray
        from gymsamp.policies import RandomPolicy
        from gymsamp.sampling import ParallelRolloutSampler

        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
        sampler = ParallelRolloutSampler("CartPole-v1", RandomPolicy(gym.spaces.Discrete(2)),
                                         2, min_rollouts=2, seed=0, backend="ray",
                                         show_progress_bar=False)
        first = sampler.sample()
        ray.shutdown()
        second = sampler.sample()
        print("started its own", sampler._ray.started_ray, len(second))
        sampler.close()
        print("after close", ray.is_initialized())
        """
    )
    out = _run_script(script, tmp_path)
    assert out.stdout.splitlines()[-2:] == ["started its own True 2", "after close False"]


@pytest.mark.slow
def test_a_ray_restarted_between_calls_is_used_afresh(tmp_path):
    # The driver took the new Ray for the old one: Ray's bare "Can't find actor ... from a
    # different cluster" on the next call.
    script = textwrap.dedent(
        """
        import gymnasium as gym
        import ray
        from gymsamp.policies import RandomPolicy
        from gymsamp.sampling import ParallelRolloutSampler

        init = dict(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
        sampler = ParallelRolloutSampler("CartPole-v1", RandomPolicy(gym.spaces.Discrete(2)),
                                         2, min_rollouts=2, seed=0, backend="ray",
                                         show_progress_bar=False)
        first = sampler.sample()  # on a Ray gymsamp started
        print("first on its own", sampler._ray.started_ray, sampler._ray.actor_options)
        ray.shutdown()
        ray.init(**init)  # the user's Ray now
        second = sampler.sample()
        print("second on its own", sampler._ray.started_ray, sampler._ray.actor_options)
        print("same rollouts", [r.rewards.sum() for r in first] ==
              [r.rewards.sum() for r in sampler.sample()])
        sampler.close()
        print("after close", ray.is_initialized())
        ray.shutdown()
        """
    )
    out = _run_script(script, tmp_path)
    assert out.stdout.splitlines()[-4:] == [
        "first on its own True {'num_cpus': 0}",
        "second on its own False {'num_cpus': 1}",
        "same rollouts False",  # a second call: the next sub_seed
        "after close True",  # the user's Ray is the user's to shut down
    ]


def _script_only_env():
    return FragileEnv(terminate_at=3)


def test_an_id_registered_by_the_users_script_is_made_on_the_actors(ray_session):
    # The actors got the id alone and never ran the script's gym.register: "Environment
    # `ScriptOnly` doesn't exist" (in Ray actor 0).
    env_id = "gymsamp_test/RayScriptOnly-v0"
    gym.register(env_id, entry_point=_script_only_env)
    try:
        runs = []
        for backend in ("local", "ray"):
            with ParallelRolloutSampler(
                env_id, IdlePolicy(gym.spaces.Discrete(2)), 2, min_rollouts=3, seed=0,
                backend=backend, vectorization="sync", show_progress_bar=False,
            ) as sampler:  # fmt: skip
                runs.append(sampler.sample())
    finally:
        del gym.registry[env_id]
    assert [ro.length for ro in runs[1]] == [3, 3, 3]
    assert_all_equal([runs[0]], [runs[1]])


def test_actor_options_may_set_max_restarts(ray_session):
    # gymsamp's own max_restarts=0 and the user's collided inside Ray's options().
    sampler = cartpole_sampler(
        backend="ray", min_rollouts=2, ray_actor_options={"num_cpus": 1, "max_restarts": 1}
    )
    with sampler:
        assert len(sampler.sample()) == 2


def test_the_progress_bar_counts_the_rollouts_from_the_actors(ray_session, capsys, monkeypatch):
    from gymsamp.sampling.progress_bar import RolloutProgress

    shown = []
    show = RolloutProgress._show
    monkeypatch.setattr(
        RolloutProgress, "_show", lambda self, ro: shown.append(ro) or show(self, ro)
    )
    with cartpole_sampler(backend="ray", min_rollouts=4, show_progress_bar=True) as sampler:
        rollouts = sampler.sample()
    assert "Sampling (ray, 2 actors x 1 envs)" in capsys.readouterr().err
    assert sorted(ro.rollout_info["rollout_index"] for ro in shown) == [0, 1, 2, 3]
    assert {ro.rollout_info["rollout_index"]: ro.length for ro in shown} == {
        ro.rollout_info["rollout_index"]: ro.length for ro in rollouts
    }


def test_actors_slow_to_start_are_warned_about_with_what_they_need(ray_session, monkeypatch):
    from gymsamp.sampling import ray_backend

    monkeypatch.setattr(ray_backend, "START_WARNING_S", 0.0)
    cpus = ray_session.cluster_resources()["CPU"]
    with (
        cartpole_sampler(backend="ray", min_rollouts=2) as sampler,
        pytest.warns(RuntimeWarning) as record,
    ):
        assert len(sampler.sample()) == 2
    (warning,) = [w for w in record if "not started" in str(w.message)]
    assert re.fullmatch(
        r"[12] Ray actor\(s\) not started after 0 s, still waiting: "
        + re.escape(
            "num_workers=2 actors with ray_actor_options={'num_cpus': 1} need 2 CPU (the "
            f"cluster has {cpus:g}, "
        )
        + r"\d+(\.\d+)? free\)"
        + re.escape(
            "; actors hold what is not free (this sampler's started ones too, and those of "
            "other open samplers)"
        ),
        str(warning.message),
    )
    assert warning.filename == __file__  # the user's line


class _NeverIssues(Quota):
    """A quota that asks for no rollout yet is never met (no valid Quota does that)."""

    def should_issue(self, index, issued_steps):
        return False


def test_a_driver_refuses_to_run_unconfigured_or_without_work(ray_session):
    from gymsamp.sampling.ray_backend import RayRolloutDriver
    from gymsamp.sampling.rollout_job import RolloutJob

    driver = RayRolloutDriver(1, 1)
    try:
        with pytest.raises(RuntimeError, match=r"configure\(\) must be called before run\(\)"):
            driver.run(Quota(min_rollouts=1), RolloutJob.seeded, eval=True, max_steps=None)
        driver.configure(_worker_spec())
        # Never waits on nothing: the guard against a quota that cannot be met.
        with pytest.raises(RuntimeError, match="no rollout in flight but the quota is not met"):
            driver.run(_NeverIssues(min_rollouts=1), RolloutJob.seeded, eval=True, max_steps=None)
        assert driver.actors == []  # the failed call ended them
    finally:
        driver.close()


def test_the_start_warning_names_the_resource_the_cluster_lacks(ray_session):
    # It counted CPUs only: a GPU request read "need 2 CPUs; the Ray cluster has 2, 2 free
    # ... pass ray_actor_options={'num_cpus': ...} to reserve less".
    from gymsamp.sampling.ray_backend import RayRolloutDriver

    driver = RayRolloutDriver(2, 1, actor_options={"num_cpus": 1, "num_gpus": 1})
    try:
        note = driver._resource_note()
    finally:
        driver.close()
    cpus = ray_session.cluster_resources()["CPU"]
    # The free CPUs as the note read them: an earlier test's actors may still be releasing
    # theirs (Ray kills actors asynchronously).
    assert re.fullmatch(
        re.escape(
            "num_workers=2 actors with ray_actor_options={'num_cpus': 1, 'num_gpus': 1} need "
            f"2 CPU (the cluster has {cpus:g}, "
        )
        + r"\d+(\.\d+)? free\), "
        + re.escape(
            "2 GPU (the cluster has 0, 0 free); the cluster has too little GPU for them all: "
            "pass ray_actor_options asking less per actor, or fewer num_workers"
        ),
        note,
    )


@pytest.mark.parametrize("what", ["env", "policy"])
def test_an_env_or_policy_ray_cannot_receive_is_refused_at_construction(what):
    # It failed at the first sample(), after Ray had started, with cloudpickle's bare
    # "cannot pickle '_thread.lock' object".
    import ray

    running = ray.is_initialized()
    lock = threading.Lock()
    env = (lambda: lock and CountingEnv(terminate_at=2)) if what == "env" else "CartPole-v1"
    policy = (
        (lambda obs: lock and np.zeros(len(obs), np.int64))
        if what == "policy"
        else IdlePolicy(gym.spaces.Discrete(2))
    )
    with pytest.raises(
        TypeError,
        match=rf"{what} must be picklable with cloudpickle to reach the Ray actors "
        r"\(backend='ray'\), got .*: cannot pickle '_thread.lock' object",
    ):
        ParallelRolloutSampler(env, policy, 1, min_rollouts=1, backend="ray")
    assert ray.is_initialized() == running


def test_reinit_with_a_policy_ray_cannot_receive_keeps_the_previous_one(ray_session):
    idle = IdlePolicy(gym.spaces.Discrete(2))
    lock = threading.Lock()
    with ParallelRolloutSampler(
        lambda: CountingEnv(terminate_at=2), idle, 1, min_rollouts=1, backend="ray", seed=0,
        show_progress_bar=False,
    ) as sampler:  # fmt: skip
        with pytest.raises(TypeError, match=r"policy must be picklable with cloudpickle"):
            sampler.reinit(policy=lambda obs: lock and np.zeros(len(obs), np.int64))
        assert [ro.length for ro in sampler.sample()] == [2]
        assert sampler.sample()[0].actions.tolist() == [0, 0]
