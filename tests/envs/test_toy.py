"""Tests of gymsamp's toy envs against hand-computed values, closed forms and seeded references."""

from __future__ import annotations

import functools
import math
import pickle
import time
import warnings
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.seeding import np_random

from gymsamp.envs import toy
from gymsamp.envs.adapter import NativeAdapter, adapter_for
from gymsamp.envs.registration import TOY_ENV_IDS, register_toy_envs
from gymsamp.envs.toy import CountingEnv, PointMassEnv, RandomLengthEnv
from gymsamp.envs.toy_faults import HangingEnv, RaisingEnv, ToyEnvError


def _run(env: gym.Env[Any, Any], num_steps: int, action: Any = 0) -> list[tuple[Any, ...]]:
    """(obs, reward, terminated, truncated) of ``num_steps`` steps with a constant action."""
    return [env.step(action)[:4] for _ in range(num_steps)]


def _seed_draw(seed: int) -> int:
    """What CountingEnv reports for reset(seed=seed): the first draw of Gymnasium's seeded RNG."""
    return int(np_random(seed)[0].integers(1 << 30))


# --- CountingEnv ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terminate_at", "truncate_at", "terminated", "truncated"),
    [
        (3, None, [False, False, True], [False, False, False]),
        (None, 3, [False, False, False], [False, False, True]),
        (3, 3, [False, False, True], [False, False, True]),
        (1, 1, [True], [True]),
        (4, 2, [False, False], [False, True]),
        (2, 4, [False, True], [False, False]),
    ],
)
def test_counting_steps_and_flags(terminate_at, truncate_at, terminated, truncated):
    env = CountingEnv(terminate_at=terminate_at, truncate_at=truncate_at)
    for _ in range(2):  # a second episode starts from scratch
        obs, _info = env.reset(seed=5)
        np.testing.assert_array_equal(obs, np.array([0.0], dtype=np.float32))
        assert obs.dtype == np.float32
        steps = _run(env, len(terminated), action=1)
        assert [o.tolist() for o, *_ in steps] == [[k] for k in range(1, len(terminated) + 1)]
        assert [r for _, r, _, _ in steps] == [float(k) for k in range(1, len(terminated) + 1)]
        assert [t for _, _, t, _ in steps] == terminated
        assert [t for *_, t in steps] == truncated


def test_counting_flags_stay_set_when_stepped_past_the_end():
    # Gymnasium leaves this undefined; CountingEnv keeps counting and keeps reporting the end, so
    # a sampler that steps a finished sub-env records visibly wrong data rather than a new episode.
    env = CountingEnv(terminate_at=2, truncate_at=3)
    env.reset(seed=0)
    steps = _run(env, 5)
    assert [o.tolist() for o, *_ in steps] == [[1.0], [2.0], [3.0], [4.0], [5.0]]
    assert [(t, u) for _, _, t, u in steps] == [
        (False, False),
        (True, False),
        (True, True),
        (True, True),
        (True, True),
    ]


def test_counting_without_limits_never_ends():
    env = CountingEnv()
    env.reset(seed=0)
    steps = _run(env, 500)
    assert not any(t or u for _, _, t, u in steps)
    assert steps[-1][0].tolist() == [500.0]
    assert steps[-1][1] == 500.0


def test_counting_flags_and_rewards_follow_time_not_state():
    env = CountingEnv(terminate_at=3)
    env.reset(seed=0)
    obs = env.set_state(np.array([10.5]))
    np.testing.assert_array_equal(obs, [10.5])
    env.set_domain_param({"increment": -2.0})
    steps = _run(env, 3)
    assert [o.tolist() for o, *_ in steps] == [[8.5], [6.5], [4.5]]
    assert [r for _, r, _, _ in steps] == [1.0, 2.0, 3.0]
    assert [t for _, _, t, _ in steps] == [False, False, True]


def test_counting_state_round_trip():
    env = CountingEnv()
    env.reset(seed=0)
    _run(env, 4)
    state = env.get_state()
    assert state.dtype == np.float64
    np.testing.assert_array_equal(state, [4.0])
    state[0] = 99.0  # a copy: editing it must not move the env
    np.testing.assert_array_equal(env.get_state(), [4.0])

    value = 1.0 / 3.0  # not representable in float32: the state must stay exact
    obs = env.set_state([value])
    assert env.get_state()[0] == value
    np.testing.assert_array_equal(obs, np.array([value], dtype=np.float32))
    obs, *_ = env.step(0)
    assert env.get_state()[0] == value + 1.0
    np.testing.assert_array_equal(obs, np.array([value + 1.0], dtype=np.float32))
    assert env.step_count == 5  # set_state moves the count, not time


def test_counting_reset_returns_count_to_zero():
    env = CountingEnv()
    env.reset(seed=0)
    env.set_state([7.0])
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs, [0.0])
    np.testing.assert_array_equal(env.get_state(), [0.0])


def test_counting_increment_domain_param():
    env = CountingEnv()
    assert env.nominal_domain_param == {"increment": 1.0}
    assert env.get_domain_param() == {"increment": 1.0}
    env.set_domain_param({"increment": 0.25})
    assert env.get_domain_param() == {"increment": 0.25}
    assert env.nominal_domain_param == {"increment": 1.0}
    env.reset(seed=0)
    assert [o.tolist() for o, *_ in _run(env, 3)] == [[0.25], [0.5], [0.75]]
    env.set_domain_param({})  # a partial (here empty) dict leaves the rest as it is
    assert env.get_domain_param() == {"increment": 0.25}

    built = CountingEnv(increment=3.0)
    assert built.nominal_domain_param == {"increment": 3.0}
    built.reset(seed=0)
    assert built.step(0)[0].tolist() == [3.0]


def test_counting_is_served_by_the_native_adapter():
    env = CountingEnv()
    adapter = adapter_for(env)
    assert isinstance(adapter, NativeAdapter)
    assert adapter.nominal_domain_param() == {"increment": 1.0}
    assert adapter.state_space.shape == (1,)
    assert adapter.state_labels == ("count",)


def test_counting_reset_seed_draw_identifies_the_seed():
    env = CountingEnv()
    draws = {}
    for seed in range(20):
        _, info = env.reset(seed=seed)
        draws[seed] = info["reset_seed_draw"]
        assert draws[seed] == _seed_draw(seed)
    assert len(set(draws.values())) == 20
    # Equal seeds give equal draws, also on another instance and after unseeded resets.
    other = CountingEnv()
    other.reset()
    other.reset()
    assert other.reset(seed=7)[1]["reset_seed_draw"] == draws[7]
    # An unseeded reset continues the stream instead of repeating the draw.
    assert other.reset()[1]["reset_seed_draw"] != draws[7]


@pytest.mark.parametrize("action", [2, -1, 0.0, 1.5, np.array([1]), "1", None])
def test_counting_rejects_actions_outside_its_space(action):
    env = CountingEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be"):
        env.step(action)
    assert env.step_count == 0  # the failed step did not count


@pytest.mark.parametrize("action", [0, 1, np.int64(1), np.array(0)])
def test_counting_accepts_actions_in_its_space(action):
    env = CountingEnv()
    env.reset(seed=0)
    assert env.step(action)[1] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"terminate_at": 0}, "terminate_at"),
        ({"terminate_at": True}, "terminate_at"),
        ({"truncate_at": 2.0}, "truncate_at"),
        ({"step_cost_us": -1}, "step_cost_us"),
        ({"increment": float("nan")}, "increment"),
    ],
)
def test_counting_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CountingEnv(**kwargs)


def test_counting_rejects_bad_domain_params_and_states():
    env = CountingEnv()
    with pytest.raises(ValueError, match=r"\['increment'\].*'mass'"):
        env.set_domain_param({"mass": 1.0})
    with pytest.raises(ValueError, match="increment"):
        env.set_domain_param({"increment": float("inf")})
    assert env.get_domain_param() == {"increment": 1.0}
    env.reset(seed=0)
    for bad in ([1.0, 2.0], 1.0, [np.nan]):
        with pytest.raises(ValueError, match="state must be"):
            env.set_state(bad)
    np.testing.assert_array_equal(env.get_state(), [0.0])


# --- PointMassEnv -----------------------------------------------------------------------------


def test_point_mass_one_step_matches_the_closed_form():
    rng = np.random.default_rng(2024)
    env = PointMassEnv()
    env.reset(seed=0)
    for i in range(200):
        mass, friction, dt = rng.uniform(0.1, 5.0), rng.uniform(0.0, 2.0), rng.uniform(1e-3, 0.2)
        x0, v0 = rng.normal(scale=3.0, size=2)
        u = [-1.0, 1.0, 0.0][i] if i < 3 else rng.uniform(-1.0, 1.0)
        env.set_domain_param({"mass": mass, "friction": friction, "dt": dt})
        env.set_state(np.array([x0, v0]))
        obs, reward, terminated, truncated, info = env.step(np.array([u], dtype=np.float64))
        x1 = x0 + dt * v0
        v1 = v0 + dt * (u - friction * v0) / mass
        np.testing.assert_allclose(env.get_state(), [x1, v1], rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(obs, env.get_state().astype(np.float32))
        assert reward == pytest.approx(-(x0**2 + 0.1 * u**2), rel=1e-13, abs=1e-15)
        assert (terminated, truncated, info) == (False, False, {})


def test_point_mass_coasting_decays_geometrically():
    # With u = 0 explicit Euler gives v_n = v_0 r^n with r = 1 - dt*friction/mass, and
    # x_n = x_0 + dt*v_0*(1 - r^n)/(1 - r): an independent check of many steps.
    mass, friction, dt, x0, v0, n = 2.0, 0.8, 0.1, 0.3, -1.5, 50
    env = PointMassEnv(mass=mass, friction=friction, dt=dt)
    env.reset(seed=0)
    env.set_state([x0, v0])
    rewards = [env.step(np.zeros(1))[1] for _ in range(n)]
    r = 1.0 - dt * friction / mass
    x_n = x0 + dt * v0 * (1.0 - r**n) / (1.0 - r)
    np.testing.assert_allclose(env.get_state(), [x_n, v0 * r**n], rtol=1e-12)
    x_path = [x0 + dt * v0 * (1.0 - r**k) / (1.0 - r) for k in range(n)]
    np.testing.assert_allclose(rewards, [-(x**2) for x in x_path], rtol=1e-12)


def test_point_mass_unstable_params_diverge_to_inf_instead_of_raising():
    # friction * dt / mass = 5 > 2: the explicit Euler step multiplies v by -4 each step, so
    # the state overflows; step raised Python's bare OverflowError (x**2) at step ~260.
    with PointMassEnv(friction=50.0, dt=0.1, mass=1.0) as env:
        env.reset(seed=0)
        env.set_state([1.0, 1.0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # float32 cast of inf
            rewards = [env.step(np.array([0.0]))[1] for _ in range(600)]
        assert rewards[0] == -1.0
        # The reward reaches -inf, then NaN once the state holds inf - inf: both say diverged.
        assert -math.inf in rewards
        assert np.isnan(rewards[-1])
        assert not np.isfinite(env.get_state()).any()


def test_point_mass_nominal_params_and_round_trip():
    env = PointMassEnv()
    assert env.nominal_domain_param == {"mass": 1.0, "friction": 0.5, "dt": 0.05}
    assert env.get_domain_param() == {"mass": 1.0, "friction": 0.5, "dt": 0.05}
    new = {"mass": 2.5, "friction": 0.0, "dt": 0.01}
    env.set_domain_param(new)
    assert env.get_domain_param() == new
    assert env.nominal_domain_param == {"mass": 1.0, "friction": 0.5, "dt": 0.05}
    env.set_domain_param({"mass": 4.0})  # partial: the others stay
    assert env.get_domain_param() == {"mass": 4.0, "friction": 0.0, "dt": 0.01}
    assert PointMassEnv(mass=3.0, dt=0.1).nominal_domain_param == {
        "mass": 3.0,
        "friction": 0.5,
        "dt": 0.1,
    }


@pytest.mark.parametrize(
    ("param", "value"),
    [("mass", 0.0), ("mass", -1.0), ("friction", -0.1), ("dt", 0.0), ("dt", np.nan), ("mass", "1")],
)
def test_point_mass_rejects_bad_params_without_applying_any(param, value):
    env = PointMassEnv()
    with pytest.raises(ValueError, match=f"^{param} must be"):
        env.set_domain_param({"friction": 1.0, param: value})
    assert env.get_domain_param() == {"mass": 1.0, "friction": 0.5, "dt": 0.05}
    with pytest.raises(ValueError, match=f"^{param} must be"):
        PointMassEnv(**{param: value})


def test_point_mass_rejects_unknown_params():
    with pytest.raises(ValueError, match=r"\['dt', 'friction', 'mass'\].*'gravity'"):
        PointMassEnv().set_domain_param({"gravity": 9.81})


def test_point_mass_state_is_exact_after_set_state():
    env = PointMassEnv()
    env.reset(seed=0)
    state = np.array([0.1, 1.0 / 3.0])  # neither is representable in float32
    obs = env.set_state(state)
    state[0] = 5.0  # the env keeps its own copy
    np.testing.assert_array_equal(env.get_state(), [0.1, 1.0 / 3.0])
    assert env.get_state().dtype == np.float64
    np.testing.assert_array_equal(obs, np.array([0.1, 1.0 / 3.0], dtype=np.float32))
    with pytest.raises(ValueError, match="state must be"):
        env.set_state([1.0])


def test_point_mass_initial_state_is_uniform_from_the_seed():
    env = PointMassEnv()
    starts = []
    for seed in range(100):
        obs, _ = env.reset(seed=seed)
        expected = np_random(seed)[0].uniform(-1.0, 1.0, size=2)
        np.testing.assert_array_equal(env.get_state(), expected)
        np.testing.assert_array_equal(obs, expected.astype(np.float32))
        starts.append(expected)
    starts = np.array(starts)
    assert np.all(np.abs(starts) <= 1.0)
    assert starts.min() < -0.9
    assert starts.max() > 0.9


@pytest.mark.parametrize(
    "action", [np.array([1.5]), np.array([-1.01]), np.array([np.nan]), np.zeros(2), 0.5]
)
def test_point_mass_rejects_bad_actions(action):
    env = PointMassEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be"):
        env.step(action)
    assert env.step_count == 0


def test_point_mass_accepts_float32_and_float64_actions():
    env = PointMassEnv()
    env.reset(seed=0)
    env.set_state([0.0, 0.0])
    env.step(np.array([1.0], dtype=np.float32))
    env.step(np.array([1.0], dtype=np.float64))
    np.testing.assert_allclose(env.get_state(), [0.05 * 0.05, 0.05 + 0.05 * (1.0 - 0.025)])


def test_point_mass_labels_and_adapter():
    adapter = adapter_for(PointMassEnv())
    assert isinstance(adapter, NativeAdapter)
    assert adapter.state_labels == ("x", "v")
    assert adapter.obs_labels == ("x", "v")
    assert adapter.act_labels == ("force",)
    assert adapter.state_space.shape == (2,)
    assert adapter.state_space.dtype == np.float64


# --- RandomLengthEnv --------------------------------------------------------------------------


def _lengths(env: RandomLengthEnv, seed: int, n: int) -> list[int]:
    lengths = [env.reset(seed=seed)[1]["length"]]
    lengths += [env.reset()[1]["length"] for _ in range(n - 1)]
    return lengths


def test_random_length_is_reproducible_and_varies():
    a = _lengths(RandomLengthEnv(), seed=11, n=50)
    b = _lengths(RandomLengthEnv(), seed=11, n=50)
    assert a == b
    assert a != _lengths(RandomLengthEnv(), seed=12, n=50)
    assert len(set(a)) > 15
    first = {RandomLengthEnv().reset(seed=s)[1]["length"] for s in range(50)}
    assert len(first) > 15


def test_random_length_distribution():
    mean_length = 20
    lengths = np.array(_lengths(RandomLengthEnv(mean_length), seed=0, n=4000))
    assert lengths.min() == 1
    assert lengths.max() == 2 * mean_length - 1
    # Uniform on 1..39: sd ~11.25, standard error of the mean over 4000 ~0.18; allow ~5 se.
    assert abs(lengths.mean() - mean_length) < 0.9
    assert RandomLengthEnv(mean_length=1).reset(seed=3)[1]["length"] == 1


def test_random_length_episode_ends_at_its_length():
    env = RandomLengthEnv(mean_length=6)
    for seed in range(10):
        obs, info = env.reset(seed=seed)
        length = info["length"]
        assert obs.tolist() == [0.0, float(length)]
        steps = _run(env, length)
        assert [o.tolist() for o, *_ in steps] == [[k, length] for k in range(1, length + 1)]
        assert [r for _, r, _, _ in steps] == [float(k) for k in range(1, length + 1)]
        assert [t for _, _, t, _ in steps] == [False] * (length - 1) + [True]
        assert not any(u for *_, u in steps)
        assert env.length == length


# --- step cost --------------------------------------------------------------------------------


class _FakeClock:
    """Stands in for the toy module's ``time``: every reading advances one tick, and sleeping
    fails (a step's cost must be spent spinning, occupying a core as a simulator would)."""

    TICK_S = 2.0**-14  # ~61 us, a power of 2: the clock's sums are exact

    def __init__(self) -> None:
        self.now = 0.0
        self.readings = 0

    def perf_counter(self) -> float:
        self.readings += 1
        self.now += self.TICK_S
        return self.now

    def sleep(self, seconds: float) -> None:
        raise AssertionError(f"the step cost must be spun, not slept ({seconds} s)")


@pytest.fixture
def fake_clock(monkeypatch):
    # Deterministic, unlike timing the real clock (which other processes on the machine skew).
    clock = _FakeClock()
    monkeypatch.setattr(toy, "time", clock)
    return clock


@pytest.mark.parametrize(
    "make_env",
    [
        CountingEnv,
        PointMassEnv,
        RandomLengthEnv,
        functools.partial(RaisingEnv, raise_at=1000),
        functools.partial(HangingEnv, hang_at=1000),
    ],
)
def test_step_cost_is_spent_in_step(make_env, fake_clock):
    env = make_env(step_cost_us=2000)
    env.reset(seed=0)
    env.action_space.seed(0)
    action = env.action_space.sample()
    before, readings = fake_clock.now, fake_clock.readings
    for _ in range(5):
        env.step(action)
    # Each step reads the clock for its deadline, then spins until 2000 us have passed on it.
    per_step = 1 + math.ceil(2000e-6 / _FakeClock.TICK_S)
    assert fake_clock.readings - readings == 5 * per_step
    assert fake_clock.now - before >= 5 * 2000e-6


def test_zero_step_cost_never_reads_the_clock(fake_clock):
    env = CountingEnv()
    env.reset(seed=0)
    _run(env, 1000)
    assert fake_clock.readings == 0


# --- RaisingEnv and HangingEnv ----------------------------------------------------------------


def test_raising_env_raises_at_its_step_in_every_episode():
    env = RaisingEnv(raise_at=3, message="simulator exploded")
    for _ in range(2):
        env.reset(seed=0)
        steps = _run(env, 2)
        assert [(o.tolist(), r, t, u) for o, r, t, u in steps] == [
            ([1.0], 1.0, False, False),
            ([2.0], 2.0, False, False),
        ]
        for _ in range(2):  # the failure is sticky until the next reset
            with pytest.raises(ToyEnvError, match=r"^simulator exploded \(step 3\)$"):
                env.step(0)
        assert env.step_count == 2


def test_raising_env_error_is_a_runtime_error_and_keeps_percent_signs():
    env = RaisingEnv(raise_at=1, message="100% broken %s %d")
    env.reset(seed=0)
    with pytest.raises(RuntimeError) as excinfo:
        env.step(0)
    assert str(excinfo.value) == "100% broken %s %d (step 1)"


def test_hanging_env_hangs_at_its_step_only():
    env = HangingEnv(hang_at=2, hang_seconds=0.2)
    env.reset(seed=0)
    durations, results = [], []
    for _ in range(3):
        start = time.perf_counter()
        obs, reward, terminated, truncated, _ = env.step(1)
        durations.append(time.perf_counter() - start)
        results.append((obs.tolist(), reward, terminated, truncated))
    assert durations[0] < 0.1
    assert durations[2] < 0.1
    assert 0.2 <= durations[1] < 2.0
    assert results == [([k], float(k), False, False) for k in (1.0, 2.0, 3.0)]


@pytest.mark.parametrize(
    ("make_env", "name"),
    [
        (functools.partial(RaisingEnv, raise_at=0), "raise_at"),
        (functools.partial(HangingEnv, hang_at=0), "hang_at"),
        (functools.partial(HangingEnv, hang_seconds=-1.0), "hang_seconds"),
        (functools.partial(RandomLengthEnv, mean_length=0), "mean_length"),
        (functools.partial(RandomLengthEnv, mean_length=2.5), "mean_length"),
        # Was accepted, then reset failed with numpy's "high is out of bounds for int64".
        (functools.partial(RandomLengthEnv, mean_length=2**62 + 1), "mean_length"),
    ],
)
def test_bad_arguments_name_the_parameter(make_env, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        make_env()


# --- all envs: Gymnasium API, registration, pickling ------------------------------------------

# Each id with kwargs that keep check_env away from the deliberate failures.
_CHECK_KWARGS = {
    "gymsamp/Counting-v0": {"terminate_at": 5, "truncate_at": 7},
    "gymsamp/PointMass-v0": {},
    "gymsamp/RandomLength-v0": {},
    "gymsamp/Raising-v0": {"raise_at": 10**6},
    "gymsamp/Hanging-v0": {"hang_at": 10**6},
}


@pytest.fixture(scope="module", autouse=True)
def _registered() -> None:
    register_toy_envs()


def test_registration_is_idempotent_and_lazy():
    assert set(TOY_ENV_IDS) == set(_CHECK_KWARGS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # re-registering an id would warn
        register_toy_envs()
        register_toy_envs()
    for env_id in TOY_ENV_IDS:
        # A string entry point: registering imported no env module.
        assert isinstance(gym.spec(env_id).entry_point, str)


@pytest.mark.parametrize(
    ("env_id", "cls", "max_episode_steps"),
    [
        ("gymsamp/Counting-v0", CountingEnv, None),
        ("gymsamp/PointMass-v0", PointMassEnv, 200),
        ("gymsamp/RandomLength-v0", RandomLengthEnv, 1000),
        ("gymsamp/Raising-v0", RaisingEnv, 100),
        ("gymsamp/Hanging-v0", HangingEnv, 100),
    ],
)
def test_make_builds_each_env(env_id, cls, max_episode_steps):
    env = gym.make(env_id, **_CHECK_KWARGS[env_id])
    assert type(env.unwrapped) is cls
    assert env.spec is not None
    assert env.spec.max_episode_steps == max_episode_steps
    env.reset(seed=0)
    env.action_space.seed(0)
    env.step(env.action_space.sample())
    env.close()


def test_made_point_mass_truncates_at_200_steps():
    env = gym.make("gymsamp/PointMass-v0")
    env.reset(seed=0)
    flags = [env.step(np.zeros(1, dtype=np.float32))[2:4] for _ in range(200)]
    assert flags == [(False, False)] * 199 + [(False, True)]


def test_make_passes_kwargs():
    env = gym.make("gymsamp/Counting-v0", terminate_at=2)
    env.reset(seed=0)
    assert [s[1:3] for s in _run(env, 2)] == [(1.0, False), (2.0, True)]


@pytest.mark.parametrize("env_id", sorted(_CHECK_KWARGS))
def test_check_env_passes_without_warnings(env_id):
    env = gym.make(env_id, **_CHECK_KWARGS[env_id]).unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", sorted(_CHECK_KWARGS))
def test_step_returns_python_types(env_id):
    env = gym.make(env_id, **_CHECK_KWARGS[env_id]).unwrapped
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space
    assert isinstance(info, dict)
    env.action_space.seed(0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert obs in env.observation_space
    assert type(reward) is float
    assert type(terminated) is bool
    assert type(truncated) is bool
    assert type(info) is dict


@pytest.mark.parametrize("env_id", sorted(_CHECK_KWARGS))
@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_pickle_round_trip_mid_episode_preserves_behaviour(env_id, dumps):
    env = gym.make(env_id, **_CHECK_KWARGS[env_id]).unwrapped
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(6)]
    env.reset(seed=3)
    for action in actions[:3]:
        env.step(action)
    if hasattr(env, "set_domain_param"):  # a non-nominal parameter must survive too
        param = env.get_domain_param()
        env.set_domain_param({name: 1.5 * value for name, value in param.items()})
    copy = pickle.loads(dumps(env))
    assert type(copy) is type(env)
    for action in actions[3:]:
        a, b = env.step(action), copy.step(action)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:] == b[1:]
    # The RNG state travelled too: the next unseeded resets agree.
    (obs_a, info_a), (obs_b, info_b) = env.reset(), copy.reset()
    np.testing.assert_array_equal(obs_a, obs_b)
    assert info_a == info_b


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_async_vector_env_runs_toy_envs(context):
    env_fns = [
        functools.partial(CountingEnv, terminate_at=2),
        functools.partial(CountingEnv, terminate_at=3),
    ]
    envs = gym.vector.AsyncVectorEnv(env_fns, context=context)
    try:
        obs, info = envs.reset(seed=[10, 20])
        np.testing.assert_array_equal(obs, np.zeros((2, 1), dtype=np.float32))
        assert info["reset_seed_draw"].tolist() == [_seed_draw(10), _seed_draw(20)]
        steps = [envs.step(np.array([0, 1]))[:4] for _ in range(2)]
    finally:
        envs.close()
    assert steps[0][0].tolist() == [[1.0], [1.0]]
    assert steps[1][1].tolist() == [2.0, 2.0]
    assert steps[1][2].tolist() == [True, False]
