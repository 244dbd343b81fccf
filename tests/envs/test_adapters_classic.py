"""Tests of the classic-control adapters: parameter tables, round trips, physics, exact states."""

from __future__ import annotations

import math
import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control import AcrobotEnv

from gymsamp.envs.adapter import SimAdapter, adapter_for
from gymsamp.envs.adapters import (
    AcrobotAdapter,
    CartPoleAdapter,
    MountainCarAdapter,
    MountainCarContinuousAdapter,
    PendulumAdapter,
    register_builtin_adapters,
)

# env id -> (adapter class, nominal parameters as Gymnasium 1.x defines them)
NOMINAL: dict[str, tuple[type[SimAdapter], dict[str, float]]] = {
    "CartPole-v1": (
        CartPoleAdapter,
        {
            "gravity": 9.8,
            "masscart": 1.0,
            "masspole": 0.1,
            "length": 0.5,
            "force_mag": 10.0,
            "tau": 0.02,
        },
    ),
    "Pendulum-v1": (
        PendulumAdapter,
        {"g": 10.0, "m": 1.0, "l": 1.0, "dt": 0.05, "max_speed": 8.0, "max_torque": 2.0},
    ),
    "MountainCar-v0": (
        MountainCarAdapter,
        {"force": 0.001, "gravity": 0.0025, "max_speed": 0.07, "goal_position": 0.5},
    ),
    "MountainCarContinuous-v0": (
        MountainCarContinuousAdapter,
        {"power": 0.0015, "max_speed": 0.07, "goal_position": 0.45},
    ),
    "Acrobot-v1": (
        AcrobotAdapter,
        {
            "link_length_1": 1.0,
            "link_length_2": 1.0,
            "link_mass_1": 1.0,
            "link_mass_2": 1.0,
            "link_com_pos_1": 0.5,
            "link_com_pos_2": 0.5,
            "link_moi": 1.0,
            "dt": 0.2,
        },
    ),
}
ENV_IDS = list(NOMINAL)

# A valid non-terminal state and an action per env, for the exact-state tests.
STATES: dict[str, tuple[list[float], Any]] = {
    "CartPole-v1": ([0.1, -0.2, 0.05, 0.3], 1),
    "Pendulum-v1": ([2.0, -1.5], np.array([0.7], dtype=np.float32)),
    "MountainCar-v0": ([-0.3, 0.01], 2),
    "MountainCarContinuous-v0": ([-0.3, 0.01], np.array([0.5], dtype=np.float32)),
    "Acrobot-v1": ([0.3, -0.2, 0.5, -1.0], 0),
}


def _make(env_id: str, **kwargs: Any) -> tuple[gym.Env[Any, Any], Any]:
    env = gym.make(env_id, **kwargs)
    return env, adapter_for(env)


def _edited(params: dict[str, float]) -> dict[str, float]:
    """Valid values, each different from the nominal one."""
    return {k: v * 1.5 + 0.25 for k, v in params.items()}


# --- registry and tables ----------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_adapter_for_finds_the_builtin_adapter_through_wrappers(env_id: str) -> None:
    env, adapter = _make(env_id)
    assert type(adapter) is NOMINAL[env_id][0]
    assert adapter.env is env.unwrapped


def test_register_builtin_adapters_is_idempotent() -> None:
    from gymsamp.envs import adapter as adapter_module

    adapter_for(gym.make("CartPole-v1"))  # builtins loaded
    before = len(adapter_module._REGISTRY)
    register_builtin_adapters()
    assert len(adapter_module._REGISTRY) == before


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_nominal_values_are_gymnasiums(env_id: str) -> None:
    _, adapter = _make(env_id)
    nominal = adapter.nominal_domain_param()
    assert nominal == NOMINAL[env_id][1]
    assert list(nominal) == list(NOMINAL[env_id][1])  # stable order
    assert all(type(v) is float for v in nominal.values())


def test_pendulum_nominal_follows_the_make_kwarg() -> None:
    _, adapter = _make("Pendulum-v1", g=9.81)
    assert adapter.nominal_domain_param()["g"] == 9.81


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_labels_and_state_space_match_the_env(env_id: str) -> None:
    env, adapter = _make(env_id)
    obs, _ = env.reset(seed=0)
    space = adapter.state_space
    assert isinstance(space, gym.spaces.Box)
    assert space.dtype == np.float64
    state = adapter.get_state()
    assert state.dtype == np.float64
    assert state.shape == space.shape
    assert space.contains(state)
    assert len(adapter.state_labels) == space.shape[0]
    assert len(adapter.obs_labels) == gym.spaces.flatdim(env.observation_space) == obs.size
    if isinstance(env.action_space, gym.spaces.Box):
        assert len(adapter.act_labels) == env.action_space.shape[0]
    else:
        assert adapter.act_labels is None


def test_cartpole_labels() -> None:
    _, adapter = _make("CartPole-v1")
    assert adapter.state_labels == ("x", "x_dot", "theta", "theta_dot")
    assert adapter.obs_labels == ("x", "x_dot", "theta", "theta_dot")


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_round_trips(env_id: str) -> None:
    _, adapter = _make(env_id)
    nominal = adapter.nominal_domain_param()
    edited = _edited(nominal)
    adapter.set_domain_param(edited)
    assert adapter.get_domain_param() == edited
    # The nominal values are a copy, unaffected by the edit ...
    assert adapter.nominal_domain_param() == nominal
    # ... and setting them restores the env.
    adapter.set_domain_param(nominal)
    assert adapter.get_domain_param() == nominal


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_returned_dicts_are_copies(env_id: str) -> None:
    _, adapter = _make(env_id)
    nominal = adapter.nominal_domain_param()
    nominal[next(iter(nominal))] = 123.0
    adapter.get_domain_param()[next(iter(nominal))] = 123.0
    assert adapter.nominal_domain_param() == NOMINAL[env_id][1]
    assert adapter.get_domain_param() == NOMINAL[env_id][1]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_missing_keys_go_back_to_nominal(env_id: str) -> None:
    _, adapter = _make(env_id)
    nominal = adapter.nominal_domain_param()
    first, *rest = list(nominal)
    adapter.set_domain_param(_edited(nominal))
    adapter.set_domain_param({first: nominal[first] * 2})
    current = adapter.get_domain_param()
    assert current[first] == nominal[first] * 2
    assert {k: current[k] for k in rest} == {k: nominal[k] for k in rest}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_second_adapter_after_edits_still_knows_the_nominal_values(env_id: str) -> None:
    env, adapter = _make(env_id)
    adapter.set_domain_param(_edited(adapter.nominal_domain_param()))
    assert adapter_for(env).nominal_domain_param() == NOMINAL[env_id][1]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_unknown_key_raises_naming_the_valid_ones(env_id: str) -> None:
    _, adapter = _make(env_id)
    before = adapter.get_domain_param()
    with pytest.raises(ValueError, match="bogus") as info:
        adapter.set_domain_param({**adapter.nominal_domain_param(), "bogus": 1.0})
    for name in NOMINAL[env_id][1]:
        assert repr(name) in str(info.value)
    assert adapter.get_domain_param() == before  # nothing applied


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("heavy", TypeError, r"domain_param\['masspole'\] must be a finite real number > 0"),
        (-0.1, ValueError, r"must be a finite real number > 0, got -0.1"),
        (0.0, ValueError, r"> 0, got 0.0"),
        (float("nan"), ValueError, r"> 0, got nan"),
        (np.array([0.1, 0.2]), ValueError, r"one value\), got shape \(2,\)"),
        (True, TypeError, r"must be a finite real number > 0, got True"),
        (np.bool_(True), TypeError, r"must be a finite real number > 0, got np.True_"),
        # Values numpy cannot make a float array of.
        ({"x": 1}, TypeError, r"must be a finite real number > 0, got \{'x': 1\}"),
        ([1, [2]], TypeError, r"must be a finite real number > 0, got \[1, \[2\]\]"),
    ],
)
def test_invalid_values_raise(value: Any, error: type[Exception], match: str) -> None:
    _, adapter = _make("CartPole-v1")
    with pytest.raises(error, match=match):
        adapter.set_domain_param({"masspole": value})
    assert adapter.get_domain_param() == NOMINAL["CartPole-v1"][1]
    # The env-free validator (what samplers check payloads with) refuses the same, and pickles.
    validator = pickle.loads(pickle.dumps(adapter.domain_param_validator()))
    with pytest.raises(error, match=match):
        validator({"masspole": value})
    assert validator({"masspole": 0.3})["masspole"] == 0.3


def test_numpy_scalars_and_one_element_arrays_are_accepted() -> None:
    _, adapter = _make("CartPole-v1")
    adapter.set_domain_param({"masspole": np.float32(0.25), "length": np.array([0.75])})
    values = adapter.get_domain_param()
    assert values["masspole"] == 0.25
    assert values["length"] == 0.75


def test_non_mapping_raises_type_error() -> None:
    _, adapter = _make("CartPole-v1")
    with pytest.raises(TypeError, match="domain_param must be a mapping"):
        adapter.set_domain_param([("masspole", 0.2)])  # type: ignore[arg-type]


# --- CartPole ---------------------------------------------------------------------------------


def test_cartpole_recomputes_derived_quantities() -> None:
    env, adapter = _make("CartPole-v1")
    adapter.set_domain_param({"masscart": 2.0, "masspole": 0.3, "length": 0.8})
    u = env.unwrapped
    assert u.total_mass == 2.0 + 0.3
    assert u.polemass_length == 0.3 * 0.8


def _cartpole_theta_after(k: int, **params: float) -> float:
    """|theta| after k steps from a slightly tilted pole at rest, without any push."""
    env, adapter = _make("CartPole-v1")
    env.reset(seed=0)
    adapter.set_domain_param({"force_mag": 0.0, **params})
    adapter.set_state(np.array([0.0, 0.0, 0.02, 0.0]))
    for _ in range(k):
        env.step(0)
    return abs(float(adapter.get_state()[2]))


def test_cartpole_longer_pole_falls_more_slowly() -> None:
    nominal = _cartpole_theta_after(15)
    longer = _cartpole_theta_after(15, length=1.5)
    assert 0.02 < longer < nominal


def test_cartpole_stronger_gravity_falls_faster() -> None:
    nominal = _cartpole_theta_after(15)
    stronger = _cartpole_theta_after(15, gravity=20.0)
    assert nominal > 0.02
    assert stronger > nominal


def test_cartpole_first_step_matches_the_equations_of_motion() -> None:
    # Barto et al.'s pole equation with F = 0 and theta_dot = 0, written out independently.
    g, mc, mp, half, tau, theta = 12.0, 1.5, 0.4, 0.7, 0.01, 0.1
    env, adapter = _make("CartPole-v1")
    env.reset(seed=0)
    adapter.set_domain_param(
        {"gravity": g, "masscart": mc, "masspole": mp, "length": half, "tau": tau, "force_mag": 0}
    )
    adapter.set_state(np.array([0.0, 0.0, theta, 0.0]))
    env.step(1)
    total = mc + mp
    theta_acc = g * math.sin(theta) / (half * (4 / 3 - mp * math.cos(theta) ** 2 / total))
    x_acc = -mp * half * theta_acc * math.cos(theta) / total
    np.testing.assert_allclose(
        adapter.get_state(), [0.0, tau * x_acc, theta, tau * theta_acc], rtol=1e-12, atol=1e-15
    )


def test_cartpole_set_state_clears_steps_beyond_terminated() -> None:
    # After a terminal step, CartPole pays 0 for further terminal steps; an injected state
    # starts a new episode, so its first terminal step must pay 1 like after reset().
    env, adapter = _make("CartPole-v1")
    env.reset(seed=0)
    terminal = np.array([0.0, 0.0, 0.3, 0.0])
    adapter.set_state(terminal)
    assert env.step(1)[2]
    assert env.unwrapped.steps_beyond_terminated == 0
    adapter.set_state(terminal)
    assert env.unwrapped.steps_beyond_terminated is None
    _, reward, terminated, _, _ = env.unwrapped.step(1)
    assert terminated
    assert reward == 1.0


# --- Pendulum ---------------------------------------------------------------------------------


def _pendulum_acc(theta: float, torque: float, **params: float) -> float:
    """(theta_dot_1 - theta_dot_0) / dt of one step from rest at theta."""
    env, adapter = _make("Pendulum-v1")
    env.reset(seed=0)
    adapter.set_domain_param(params)
    adapter.set_state(np.array([theta, 0.0]))
    env.step(np.array([torque], dtype=np.float32))
    return float(adapter.get_state()[1]) / adapter.get_domain_param()["dt"]


def test_pendulum_gravity_scales_the_angular_acceleration() -> None:
    # Zero torque: theta_ddot = 3 g / (2 l) sin(theta); small enough to stay below max_speed.
    acc_10 = _pendulum_acc(1.0, 0.0)
    acc_5 = _pendulum_acc(1.0, 0.0, g=5.0)
    assert acc_10 == pytest.approx(3 * 10.0 / 2 * math.sin(1.0), rel=1e-12)
    assert acc_10 / acc_5 == pytest.approx(2.0, rel=1e-12)
    acc_long = _pendulum_acc(1.0, 0.0, g=5.0, l=2.0, dt=0.01)
    assert acc_long == pytest.approx(3 * 5.0 / (2 * 2.0) * math.sin(1.0), rel=1e-12)


def test_pendulum_mass_scales_the_torque_response() -> None:
    # g = 0 leaves only the torque term 3 u / (m l^2).
    acc = _pendulum_acc(0.5, 1.5, g=0.0, m=2.0, l=0.5)
    assert acc == pytest.approx(3 * 1.5 / (2.0 * 0.5**2), rel=1e-6)  # float32 torque


def test_pendulum_max_speed_clips() -> None:
    env, adapter = _make("Pendulum-v1")
    env.reset(seed=0)
    adapter.set_domain_param({"max_speed": 0.5})
    adapter.set_state(np.array([1.0, 0.4]))
    env.step(np.array([2.0], dtype=np.float32))
    assert adapter.get_state()[1] == 0.5


def test_pendulum_set_state_clears_the_last_torque_as_reset_does() -> None:
    # Pendulum's reset() sets last_u = None (render() draws the last torque's arrow from it);
    # a state injected after a step starts a new episode, with no torque applied yet.
    env, adapter = _make("Pendulum-v1")
    env.reset(seed=0)
    assert env.unwrapped.last_u is None
    env.step(np.array([1.5], dtype=np.float32))
    assert env.unwrapped.last_u == pytest.approx(1.5)
    adapter.set_state(np.array([0.3, 0.0]))
    assert env.unwrapped.last_u is None


# --- MountainCar ------------------------------------------------------------------------------


def test_mountain_car_force_and_gravity_act_per_step() -> None:
    env, adapter = _make("MountainCar-v0")
    env.reset(seed=0)
    adapter.set_domain_param({"force": 0.002, "gravity": 0.004})
    p = -0.3
    adapter.set_state(np.array([p, 0.0]))
    env.step(2)  # push right
    expected_v = 0.002 - 0.004 * math.cos(3 * p)
    state = adapter.get_state()
    assert isinstance(env.unwrapped.state, tuple)  # what step() leaves behind
    assert state.dtype == np.float64
    assert state.shape == (2,)
    assert state[1] == pytest.approx(expected_v, rel=1e-12)
    assert state[0] == pytest.approx(p + expected_v, rel=1e-12)


def test_mountain_car_goal_position_ends_the_episode() -> None:
    env, adapter = _make("MountainCar-v0")
    env.reset(seed=0)
    adapter.set_domain_param({"goal_position": -0.2})
    adapter.set_state(np.array([-0.25, 0.06]))
    assert env.step(1)[2]


def test_mountain_car_continuous_power_acts_and_has_no_gravity() -> None:
    env, adapter = _make("MountainCarContinuous-v0")
    assert "gravity" not in adapter.nominal_domain_param()
    env.reset(seed=0)
    adapter.set_domain_param({"power": 0.003})
    p = -0.3
    adapter.set_state(np.array([p, 0.0]))
    env.step(np.array([0.5], dtype=np.float32))
    expected_v = 0.5 * 0.003 - 0.0025 * math.cos(3 * p)
    # step() computes in float32 (NEP 50) and stores float32: absolute error ~1e-10.
    assert adapter.get_state()[1] == pytest.approx(expected_v, abs=1e-9)


# --- Acrobot ----------------------------------------------------------------------------------

ACROBOT_CLASS_ATTRS = {
    "LINK_LENGTH_1": 1.0,
    "LINK_LENGTH_2": 1.0,
    "LINK_MASS_1": 1.0,
    "LINK_MASS_2": 1.0,
    "LINK_COM_POS_1": 0.5,
    "LINK_COM_POS_2": 0.5,
    "LINK_MOI": 1.0,
    "dt": 0.2,
}


def test_acrobot_state_space_is_gymnasiums_state_bounds() -> None:
    # Gymnasium's AcrobotEnv wraps both angles into [-pi, pi] and bounds the angular
    # velocities by MAX_VEL_1 = 4 pi and MAX_VEL_2 = 9 pi.
    _, adapter = _make("Acrobot-v1")
    high = [math.pi, math.pi, 4 * math.pi, 9 * math.pi]
    assert adapter.state_space.high.tolist() == high
    assert adapter.state_space.low.tolist() == [-h for h in high]


def test_acrobot_class_attributes_stay_untouched() -> None:
    env, adapter = _make("Acrobot-v1")
    edited = _edited(adapter.nominal_domain_param())
    adapter.set_domain_param(edited)
    # The class and a second instance keep Gymnasium's values ...
    assert {a: getattr(AcrobotEnv, a) for a in ACROBOT_CLASS_ATTRS} == ACROBOT_CLASS_ATTRS
    other, other_adapter = _make("Acrobot-v1")
    assert {a: getattr(other.unwrapped, a) for a in ACROBOT_CLASS_ATTRS} == ACROBOT_CLASS_ATTRS
    assert other_adapter.get_domain_param() == NOMINAL["Acrobot-v1"][1]
    # ... while the edited instance holds the new values as instance attributes.
    own = vars(env.unwrapped)
    assert own["LINK_MASS_1"] == edited["link_mass_1"]
    assert own["LINK_MOI"] == edited["link_moi"]
    # Restoring nominal values keeps the class untouched too.
    adapter.set_domain_param(adapter.nominal_domain_param())
    assert {a: getattr(AcrobotEnv, a) for a in ACROBOT_CLASS_ATTRS} == ACROBOT_CLASS_ATTRS


@pytest.mark.parametrize("name", ["link_mass_2", "link_moi", "link_com_pos_1", "dt"])
def test_acrobot_parameters_change_the_dynamics(name: str) -> None:
    def next_state(**params: float) -> np.ndarray:
        env, adapter = _make("Acrobot-v1")
        env.reset(seed=0)
        adapter.set_domain_param(params)
        adapter.set_state(np.array([0.3, -0.2, 0.5, -1.0]))
        env.step(2)
        return adapter.get_state()

    nominal = NOMINAL["Acrobot-v1"][1][name]
    assert not np.allclose(next_state(), next_state(**{name: nominal * 2}))


# --- exact initial states ---------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_set_state_is_exact_and_steps_like_a_state_set_by_hand(env_id: str) -> None:
    x_list, action = STATES[env_id]
    x = np.array(x_list)
    env, adapter = _make(env_id)
    env.reset(seed=1)
    env.action_space.seed(1)
    for _ in range(3):  # some history that set_state must erase
        env.step(env.action_space.sample())
    obs = adapter.set_state(x)
    assert np.array_equal(adapter.get_state(), x)
    assert np.array_equal(np.asarray(env.unwrapped.state, dtype=np.float64), x)

    ref = gym.make(env_id)
    ref_obs0, _ = ref.reset(seed=2)
    ref.unwrapped.state = x.copy()
    if hasattr(ref.unwrapped, "_get_obs"):
        ref_obs0 = ref.unwrapped._get_obs()
    elif hasattr(ref.unwrapped, "_get_ob"):
        ref_obs0 = ref.unwrapped._get_ob()
    else:
        ref_obs0 = np.array(x, dtype=np.float32)
    assert obs.dtype == ref_obs0.dtype == env.observation_space.dtype
    assert np.array_equal(obs, ref_obs0)

    got = env.step(action)
    want = ref.step(action)
    assert np.array_equal(got[0], want[0])
    assert got[0].dtype == want[0].dtype
    assert got[1:4] == want[1:4]  # reward, terminated, truncated


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_set_state_copies_its_input(env_id: str) -> None:
    env, adapter = _make(env_id)
    env.reset(seed=0)
    x = np.array(STATES[env_id][0])
    adapter.set_state(x)
    x[0] = 99.0
    assert adapter.get_state()[0] != 99.0
    state = adapter.get_state()
    state[0] = 99.0
    assert adapter.get_state()[0] != 99.0


def test_set_state_rejects_a_wrong_shape() -> None:
    env, adapter = _make("CartPole-v1")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"state must have shape \(4,\).*got shape \(3,\)"):
        adapter.set_state(np.zeros(3))


def test_get_state_before_reset_raises() -> None:
    _, adapter = _make("CartPole-v1")
    with pytest.raises(RuntimeError, match="call env.reset"):
        adapter.get_state()


def test_parameters_are_reported_as_applied_and_strings_are_refused():
    # numpy parsed "1.0" as a number, and the reset info reported the values as given (a
    # string, an int, a one-element array) rather than the floats the env ran with.
    from gymsamp.envs import DomainParamWrapper

    env = DomainParamWrapper(gym.make("CartPole-v1"))
    given = {"length": 1, "masspole": np.array([0.2]), "gravity": np.float32(9.0)}
    _, info = env.reset(seed=0, options={"domain_param": given})
    reported = info["domain_param"]
    assert {k: reported[k] for k in given} == {"length": 1.0, "masspole": 0.2, "gravity": 9.0}
    assert all(type(value) is float for value in reported.values())
    with pytest.raises(
        TypeError, match=r"domain_param\['length'\] must be a finite real number > 0, got '1.0'"
    ):
        env.reset(seed=0, options={"domain_param": {"length": "1.0"}})
    env.close()


def test_mountain_car_continuous_restarts_a_stepped_state_bit_for_bit() -> None:
    # step() leaves the state float32 and computes the next one in float32 (NEP 50); a
    # restart stored the float64 copy of a recorded state, so every step after it computed in
    # float64 and drifted from the recording in the last bits (~1e-10).
    env, adapter = _make("MountainCarContinuous-v0")
    env.reset(seed=7)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(60, 1)).astype(np.float32)
    states = [adapter.get_state()]
    for a in actions:
        env.step(a)
        states.append(adapter.get_state())
    ref, ref_adapter = _make("MountainCarContinuous-v0")
    ref.reset(seed=1)
    mismatched = []
    for t in range(len(actions)):
        ref_adapter.set_state(states[t])
        obs = ref.step(actions[t])[0]
        if not np.array_equal(ref_adapter.get_state(), states[t + 1]) or not np.array_equal(
            obs, np.float32(states[t + 1])
        ):
            mismatched.append(t)
    assert mismatched == []
    # The reset state (float64, as reset draws it) stays float64.
    ref_adapter.set_state(states[0])
    assert ref.unwrapped.state.dtype == np.float64
