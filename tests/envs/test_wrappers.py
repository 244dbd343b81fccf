"""Tests of the env wrappers: domain parameters, domain randomization, fixed initial states.

Values are checked against hand-computed physics, seeded references and in-process runs; the
combined wrapper stack is also run inside Sync/AsyncVectorEnv sub-envs (fork and spawn).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.seeding import np_random
from gymnasium.wrappers import TimeLimit

from gymsamp.envs import (
    DomainParamWrapper,
    DomainRandomizer,
    DomainRandWrapper,
    InitStateWrapper,
    NormalDomainParam,
    UniformDomainParam,
    find_wrapper,
)
from gymsamp.envs.toy import CountingEnv, PointMassEnv
from tests.helpers import assert_tree_equal

CARTPOLE_NOMINAL = {
    "gravity": 9.8,
    "masscart": 1.0,
    "masspole": 0.1,
    "length": 0.5,
    "force_mag": 10.0,
    "tau": 0.02,
}
POINT_MASS_NOMINAL = {"mass": 1.0, "friction": 0.5, "dt": 0.05}
ZERO_TORQUE = np.array([0.0], dtype=np.float32)


def _point_mass_randomizer() -> DomainRandomizer:
    # mass ~ U[0.5, 1.5], friction ~ N(0.5, 0.1) clipped at 0; dt is not randomized.
    return DomainRandomizer(
        UniformDomainParam("mass", mean=1.0, halfspan=0.5),
        NormalDomainParam("friction", mean=0.5, std=0.1, clip_lo=0.0),
    )


def _reference_draw(seed: int) -> tuple[np.ndarray, dict[str, float]]:
    """What a randomized PointMassEnv reset with ``seed`` must give: the initial state from the
    env's np_random (two uniforms, as without randomization), the randomizer's joint sample
    from the first child of the SeedSequence that seeds np_random."""
    rng, _ = np_random(seed)
    state = rng.uniform(-1.0, 1.0, size=2)
    child = np.random.SeedSequence(seed).spawn(1)[0]
    return state, _point_mass_randomizer().sample(np.random.Generator(np.random.PCG64(child)))


class _SpringEnv(gym.Env[np.ndarray, np.ndarray]):
    """A native env whose reset reads a domain parameter: the mass starts at rest at the
    spring's ``rest_length`` (plus a small uniform offset)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    state_space = observation_space
    nominal_domain_param = {"rest_length": 1.0}  # noqa: RUF012 (read only)

    def __init__(self) -> None:
        self.rest_length = 1.0
        self.state = np.zeros(2)

    def get_domain_param(self) -> dict[str, float]:
        return {"rest_length": self.rest_length}

    def set_domain_param(self, domain_param: Mapping[str, float]) -> None:
        self.rest_length = float(domain_param.get("rest_length", self.rest_length))

    def get_state(self) -> np.ndarray:
        return self.state.copy()

    def set_state(self, state: np.ndarray) -> np.ndarray:
        self.state = np.array(state, dtype=np.float64)
        return self.state.copy()

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.state = np.array([self.rest_length + self.np_random.uniform(-0.01, 0.01), 0.0])
        return self.state.copy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.state = self.state + np.array([0.1 * self.state[1], self.rest_length - self.state[0]])
        return self.state.copy(), 0.0, False, False, {}


def _point_mass_step(state: np.ndarray, u: float, param: Mapping[str, float]) -> np.ndarray:
    x, v = state
    return np.array(
        [x + param["dt"] * v, v + param["dt"] * (u - param["friction"] * v) / param["mass"]]
    )


def _cartpole_step(state: np.ndarray, action: int, p: Mapping[str, float]) -> np.ndarray:
    """Gymnasium's CartPole equations of motion (Euler), written out independently."""
    x, x_dot, theta, theta_dot = state
    total_mass = p["masspole"] + p["masscart"]
    polemass_length = p["masspole"] * p["length"]
    force = p["force_mag"] if action == 1 else -p["force_mag"]
    cos, sin = math.cos(theta), math.sin(theta)
    temp = (force + polemass_length * theta_dot**2 * sin) / total_mass
    thetaacc = (p["gravity"] * sin - cos * temp) / (
        p["length"] * (4.0 / 3.0 - p["masspole"] * cos**2 / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * cos / total_mass
    tau = p["tau"]
    return np.array(
        [x + tau * x_dot, x_dot + tau * xacc, theta + tau * theta_dot, theta_dot + tau * thetaacc]
    )


class GainObsEnv(PointMassEnv):
    """A PointMassEnv whose observation is ``gain * state``: the observation depends on a
    domain parameter, so a wrapper that changes parameters after reset must recompute it."""

    def __init__(self) -> None:
        super().__init__()
        self._nominal = {**self._nominal, "gain": 1.0}
        self._param = dict(self._nominal)

    def set_domain_param(self, domain_param: Mapping[str, Any]) -> None:
        rest = dict(domain_param)
        gain = rest.pop("gain", self._param["gain"])
        super().set_domain_param(rest)
        self._param["gain"] = float(gain)

    def _obs(self) -> np.ndarray:
        return (self._param["gain"] * self._state).astype(np.float32)

    def set_state(self, state: Any) -> np.ndarray:
        super().set_state(state)
        return self._obs()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        _, info = super().reset(seed=seed, options=options)
        return self._obs(), info


# --- DomainParamWrapper --------------------------------------------------------------------


def test_cartpole_params_apply_and_are_not_sticky() -> None:
    env = DomainParamWrapper(gym.make("CartPole-v1"))
    un = env.unwrapped
    assert env.nominal_domain_param == CARTPOLE_NOMINAL

    _, info = env.reset(seed=0, options={"domain_param": {"length": 1.0, "masspole": 0.3}})
    expected = {**CARTPOLE_NOMINAL, "length": 1.0, "masspole": 0.3}
    assert info["domain_param"] == expected
    assert env.domain_param == expected
    assert (un.length, un.masspole) == (1.0, 0.3)
    # Derived quantities follow.
    assert un.total_mass == pytest.approx(1.3, abs=1e-15)
    assert un.polemass_length == pytest.approx(0.3, abs=1e-15)

    # Another explicit reset: only gravity given, length and masspole go back to nominal.
    _, info = env.reset(seed=0, options={"domain_param": {"gravity": 20.0}})
    assert info["domain_param"] == {**CARTPOLE_NOMINAL, "gravity": 20.0}
    assert (un.gravity, un.length, un.masspole) == (20.0, 0.5, 0.1)

    # A reset without options: all nominal.
    _, info = env.reset(seed=0)
    assert info["domain_param"] == CARTPOLE_NOMINAL
    assert env.domain_param == CARTPOLE_NOMINAL
    assert un.total_mass == pytest.approx(1.1, abs=1e-15)
    assert un.polemass_length == pytest.approx(0.05, abs=1e-15)
    assert env.nominal_domain_param == CARTPOLE_NOMINAL


def test_point_mass_params_apply_and_are_not_sticky() -> None:
    env = DomainParamWrapper(PointMassEnv(mass=2.0))
    nominal = {**POINT_MASS_NOMINAL, "mass": 2.0}  # the constructor's values are nominal
    assert env.nominal_domain_param == nominal

    _, info = env.reset(seed=1, options={"domain_param": {"friction": 3.0}})
    assert info["domain_param"] == {**nominal, "friction": 3.0}
    assert env.unwrapped.get_domain_param() == {**nominal, "friction": 3.0}
    # The step really uses the parameters: v1 = v + dt * (u - friction * v) / mass.
    state = env.unwrapped.get_state()
    env.step(np.array([0.5]))
    np.testing.assert_allclose(
        env.unwrapped.get_state(),
        _point_mass_step(state, 0.5, {**nominal, "friction": 3.0}),
        rtol=0,
        atol=1e-15,
    )

    _, info = env.reset(seed=1, options={"domain_param": {"dt": 0.1}})
    assert info["domain_param"] == {**nominal, "dt": 0.1}  # friction back to nominal
    _, info = env.reset(seed=1, options={"other": 1})  # other options pass through
    assert info["domain_param"] == nominal
    assert env.domain_param == nominal


def test_returned_dicts_are_copies() -> None:
    env = DomainParamWrapper(gym.make("CartPole-v1"))
    _, info = env.reset(seed=0)
    info["domain_param"]["length"] = 99.0
    env.nominal_domain_param["length"] = 99.0
    env.domain_param["length"] = 99.0
    assert env.nominal_domain_param["length"] == 0.5
    _, info = env.reset(seed=0)
    assert info["domain_param"]["length"] == 0.5
    assert env.unwrapped.length == 0.5


def test_options_dict_of_the_caller_is_not_mutated() -> None:
    env = InitStateWrapper(DomainParamWrapper(PointMassEnv()))
    options = {"domain_param": {"mass": 2.0}, "init_state": [0.1, 0.2]}
    env.reset(seed=0, options=options)
    assert options == {"domain_param": {"mass": 2.0}, "init_state": [0.1, 0.2]}


def test_unknown_name_raises_listing_the_valid_names() -> None:
    env = DomainParamWrapper(gym.make("CartPole-v1"))
    env.reset(seed=0, options={"domain_param": {"length": 1.0}})
    with pytest.raises(ValueError, match="domain_param") as excinfo:
        env.reset(seed=0, options={"domain_param": {"lenght": 1.0}})
    message = str(excinfo.value)
    assert "lenght" in message
    for name in CARTPOLE_NOMINAL:
        assert repr(name) in message
    # Nothing was applied.
    assert env.unwrapped.length == 1.0


def test_non_dict_raises_type_error() -> None:
    env = DomainParamWrapper(PointMassEnv())
    for bad in ([("mass", 2.0)], "mass", 2.0):
        with pytest.raises(TypeError, match="domain_param"):
            env.reset(seed=0, options={"domain_param": bad})


def test_invalid_value_raises_naming_the_parameter_and_changes_nothing() -> None:
    env = DomainParamWrapper(gym.make("CartPole-v1"))
    env.reset(seed=0, options={"domain_param": {"length": 1.0}})
    with pytest.raises(ValueError, match="length"):
        env.reset(seed=0, options={"domain_param": {"masspole": 0.2, "length": -1.0}})
    assert (env.unwrapped.length, env.unwrapped.masspole) == (1.0, 0.1)


def test_non_str_key_raises_naming_domain_param() -> None:
    env = DomainParamWrapper(gym.make("CartPole-v1"))
    with pytest.raises((ValueError, TypeError), match="domain_param"):
        env.reset(seed=0, options={"domain_param": {"lenght": 1.0, 1: 2.0}})


def test_pendulum_gravity_scales_the_angular_acceleration() -> None:
    # Pendulum: thdot' = thdot + dt * 3 g / (2 l) sin(th) (zero torque), th' = th + dt * thdot'.
    env = InitStateWrapper(DomainParamWrapper(gym.make("Pendulum-v1")), record_state=True)
    x0 = np.array([0.7, 0.0])
    dt = 0.05
    accelerations = {}
    for g in (10.0, 4.0, 25.0):
        _, info = env.reset(seed=0, options={"domain_param": {"g": g}, "init_state": x0})
        states = [info["state"]]
        for _ in range(2):
            obs, *_, info = env.step(ZERO_TORQUE)
            states.append(info["state"])
        states = np.array(states)
        acc = np.diff(states[:, 1]) / dt
        np.testing.assert_allclose(acc, 1.5 * g * np.sin(states[:2, 0]), rtol=1e-12)
        np.testing.assert_allclose(np.diff(states[:, 0]), dt * states[1:, 1], rtol=1e-12)
        np.testing.assert_allclose(
            obs, np.float32([np.cos(states[2, 0]), np.sin(states[2, 0]), states[2, 1]]), rtol=1e-6
        )
        accelerations[g] = acc
    # From the same init state, the first acceleration is proportional to g.
    assert accelerations[4.0][0] == pytest.approx(0.4 * accelerations[10.0][0], rel=1e-12)
    assert accelerations[25.0][0] == pytest.approx(2.5 * accelerations[10.0][0], rel=1e-12)
    # A later reset without options is back at g = 10.
    env.reset(seed=0, options={"init_state": x0})
    *_, info = env.step(ZERO_TORQUE)
    assert info["state"][1] == pytest.approx(dt * accelerations[10.0][0], rel=1e-12)


def test_cartpole_longer_pole_falls_more_slowly() -> None:
    env = InitStateWrapper(DomainParamWrapper(gym.make("CartPole-v1")), record_state=True)
    x0 = np.array([0.0, 0.0, 0.05, 0.0])
    thetas = {}
    for length in (0.5, 1.0):
        params = {**CARTPOLE_NOMINAL, "length": length, "force_mag": 0.0}
        _, info = env.reset(seed=0, options={"domain_param": params, "init_state": x0})
        state, theta = x0, []
        for _ in range(10):
            *_, info = env.step(1)
            state = _cartpole_step(state, 1, params)
            np.testing.assert_allclose(info["state"], state, rtol=1e-12, atol=1e-15)
            theta.append(info["state"][2])
        thetas[length] = np.array(theta)
    # Both fall away from upright; the longer pole deviates less at every step.
    assert np.all(np.diff(thetas[0.5]) > 0)
    # (the first step only moves theta by the zero initial velocity)
    assert thetas[1.0][0] == thetas[0.5][0] == x0[2]
    assert np.all(thetas[1.0][1:] < thetas[0.5][1:])
    assert thetas[1.0][-1] - x0[2] < 0.6 * (thetas[0.5][-1] - x0[2])


def test_cartpole_masspole_changes_the_dynamics_through_derived_quantities() -> None:
    # With nominal force and a heavier pole, the equations need the recomputed total_mass and
    # polemass_length; the reference computes them from the parameters.
    env = InitStateWrapper(DomainParamWrapper(gym.make("CartPole-v1")), record_state=True)
    params = {**CARTPOLE_NOMINAL, "masspole": 0.8, "tau": 0.01}
    x0 = np.array([0.1, -0.2, 0.05, 0.3])
    env.reset(seed=0, options={"domain_param": {"masspole": 0.8, "tau": 0.01}, "init_state": x0})
    state = x0
    for action in (1, 0, 0, 1, 1):
        *_, info = env.step(action)
        state = _cartpole_step(state, action, params)
        np.testing.assert_allclose(info["state"], state, rtol=1e-12, atol=1e-15)


# --- DomainRandWrapper ---------------------------------------------------------------------


def test_same_seed_same_draw_different_seed_different_draw() -> None:
    env = DomainRandWrapper(PointMassEnv(), _point_mass_randomizer())
    obs_a, info_a = env.reset(seed=11)
    env.reset()  # unseeded resets in between do not matter
    env.reset(seed=12)
    obs_b, info_b = env.reset(seed=11)
    assert info_a["domain_param"] == info_b["domain_param"]
    np.testing.assert_array_equal(obs_a, obs_b)

    draws = [env.reset(seed=s)[1]["domain_param"] for s in range(20)]
    assert len({d["mass"] for d in draws}) == 20
    assert len({d["friction"] for d in draws}) == 20
    # Unseeded resets keep drawing new values from the advancing generator.
    env.reset(seed=3)
    unseeded = [env.reset()[1]["domain_param"]["mass"] for _ in range(5)]
    assert len(set(unseeded)) == 5


def test_the_simulator_resets_with_the_drawn_parameters() -> None:
    # The draw was applied after the simulator's reset: a state drawn for the nominal
    # rest_length 1.0 started every randomized episode, which its recorded parameters and seed
    # then failed to replay.
    randomizer = DomainRandomizer(UniformDomainParam("rest_length", mean=2.0, halfspan=0.5))
    env = DomainRandWrapper(_SpringEnv(), randomizer)
    for seed in (0, 1, 2):
        obs, info = env.reset(seed=seed)
        drawn = info["domain_param"]["rest_length"]
        assert 1.5 <= drawn <= 2.5
        assert abs(obs[0] - drawn) <= 0.01
        replayed, replayed_info = env.reset(
            seed=seed, options={"domain_param": info["domain_param"]}
        )
        np.testing.assert_array_equal(replayed, obs)
        assert replayed_info["domain_param"] == info["domain_param"]


def test_draw_comes_from_a_child_of_the_reset_seed() -> None:
    env = DomainRandWrapper(PointMassEnv(), _point_mass_randomizer())
    for seed in (0, 7, 12345):
        obs, info = env.reset(seed=seed)
        state, drawn = _reference_draw(seed)
        assert info["domain_param"] == {**drawn, "dt": 0.05}
        assert env.unwrapped.get_domain_param() == {**drawn, "dt": 0.05}
        np.testing.assert_array_equal(env.unwrapped.get_state(), state)
        np.testing.assert_array_equal(obs, state.astype(np.float32))


def test_draws_follow_the_randomizer_distribution() -> None:
    env = DomainRandWrapper(PointMassEnv(), _point_mass_randomizer())
    draws = [env.reset(seed=s)[1]["domain_param"] for s in range(600)]
    mass = np.array([d["mass"] for d in draws])
    friction = np.array([d["friction"] for d in draws])
    # U[0.5, 1.5]: mean 1, sd 0.289 (standard error 0.012); N(0.5, 0.1): sd of the mean 0.004.
    assert np.all((mass >= 0.5) & (mass <= 1.5))
    assert mass.min() < 0.55
    assert mass.max() > 1.45
    assert abs(mass.mean() - 1.0) < 0.05
    assert abs(mass.std() - 0.5 / math.sqrt(3)) < 0.03
    assert abs(friction.mean() - 0.5) < 0.02
    assert abs(friction.std() - 0.1) < 0.015
    # Parameters the randomizer does not cover stay nominal.
    assert {d["dt"] for d in draws} == {0.05}


def test_uncovered_params_return_to_nominal_after_an_explicit_reset() -> None:
    rand = DomainRandomizer(UniformDomainParam("masspole", mean=0.2, halfspan=0.05))
    env = DomainRandWrapper(gym.make("CartPole-v1"), rand)
    _, info = env.reset(seed=0, options={"domain_param": {"length": 2.0, "gravity": 1.0}})
    assert info["domain_param"] == {**CARTPOLE_NOMINAL, "length": 2.0, "gravity": 1.0}
    _, info = env.reset(seed=0)
    masspole = info["domain_param"]["masspole"]
    assert 0.15 <= masspole <= 0.25
    assert info["domain_param"] == {**CARTPOLE_NOMINAL, "masspole": masspole}
    un = env.unwrapped
    assert (un.length, un.gravity, un.masspole) == (0.5, 9.8, masspole)
    assert un.total_mass == pytest.approx(1.0 + masspole, abs=1e-15)


def test_explicit_domain_param_bypasses_the_draw() -> None:
    env = DomainRandWrapper(PointMassEnv(), _point_mass_randomizer())
    obs, info = env.reset(seed=5, options={"domain_param": {"mass": 3.0}})
    assert info["domain_param"] == {**POINT_MASS_NOMINAL, "mass": 3.0}
    assert env.unwrapped.get_domain_param() == {**POINT_MASS_NOMINAL, "mass": 3.0}
    state, _ = _reference_draw(5)
    np.testing.assert_array_equal(obs, state.astype(np.float32))
    # An empty explicit dict means nominal, not a draw.
    _, info = env.reset(seed=5, options={"domain_param": {}})
    assert info["domain_param"] == POINT_MASS_NOMINAL


def test_explicit_parameters_advance_and_reseed_the_stream_as_a_draw_would() -> None:
    # reset(seed=7) with explicit parameters did not reseed the stream: the unseeded reset after
    # it drew from seed 5's stream, and a run replayed with its recorded parameters drew
    # differently from there on.
    env = DomainRandWrapper(PointMassEnv(), _point_mass_randomizer())
    env.reset(seed=5)
    _, drawn_7 = env.reset(seed=7)
    original = [env.reset()[1]["domain_param"] for _ in range(2)]
    env.reset(seed=5)
    env.reset(seed=7, options={"domain_param": drawn_7["domain_param"]})
    assert [env.reset()[1]["domain_param"] for _ in range(2)] == original
    env.reset(seed=7)
    env.reset(options={"domain_param": {"mass": 2.0}})  # an unseeded explicit reset advances too
    assert env.reset()[1]["domain_param"] == original[1]


def test_the_observation_is_made_under_the_drawn_params() -> None:
    rand = DomainRandomizer(UniformDomainParam("gain", mean=3.0, halfspan=1.0))
    env = DomainRandWrapper(GainObsEnv(), rand)
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        gain = info["domain_param"]["gain"]
        assert 2.0 <= gain <= 4.0
        state = env.unwrapped.get_state()
        np.testing.assert_array_equal(obs, (gain * state).astype(np.float32))
        # The initial state is the one the seeded reset draws without randomization.
        rng, _ = np_random(seed)
        np.testing.assert_array_equal(state, rng.uniform(-1.0, 1.0, size=2))


def test_randomizer_with_unknown_names_raises_at_construction() -> None:
    rand = DomainRandomizer(UniformDomainParam("pole_mass", mean=0.2, halfspan=0.05))
    with pytest.raises(ValueError, match=r"randomizer draws parameters \['pole_mass'\]") as err:
        DomainRandWrapper(gym.make("CartPole-v1"), rand)
    assert "'masspole'" in str(err.value)


def test_randomizer_without_names_is_checked_at_its_first_draw() -> None:
    class Sampler:  # only sample(rng): its names are known once it draws
        def sample(self, rng):
            return {"pole_mass": 0.2}

    env = DomainRandWrapper(gym.make("CartPole-v1"), Sampler())
    with pytest.raises(ValueError, match="pole_mass") as err:
        env.reset(seed=0)
    assert "'masspole'" in str(err.value)


def test_randomizer_without_sample_raises_type_error() -> None:
    with pytest.raises(
        TypeError, match=r"randomizer must be a DomainRandomizer \(an object with sample"
    ):
        DomainRandWrapper(PointMassEnv(), object())  # type: ignore[arg-type]


def test_a_single_domain_param_as_randomizer_is_named_with_the_fix() -> None:
    # It has a sample() too (a list of values): every reset failed with "domain_param must be
    # a dict of parameter values, got list", which the user never passed.
    with pytest.raises(
        TypeError,
        match=r"randomizer must be a DomainRandomizer \(joint draws, one dict each\), got the "
        r"single UniformDomainParam 'mass'; wrap it: DomainRandomizer\(param\)",
    ):
        DomainRandWrapper(PointMassEnv(), UniformDomainParam("mass", mean=1.0, halfspan=0.5))


def test_a_draw_that_is_not_a_dict_is_named_as_the_randomizer_s() -> None:
    class Sampler:
        def sample(self, rng):
            return [1.0]

    env = DomainRandWrapper(PointMassEnv(), Sampler())
    with pytest.raises(
        TypeError, match=r"Sampler.sample\(\) must be a dict of domain parameters, got list \[1.0\]"
    ):
        env.reset(seed=0)


def test_randomizing_twice_is_refused() -> None:
    # The inner wrapper's draw reset the outer one's names to nominal, and the outer one
    # reported its own draw: the recorded parameters were not those the simulator ran with.
    inner = DomainRandWrapper(
        gym.make("CartPole-v1"),
        DomainRandomizer(UniformDomainParam("length", mean=1.0, halfspan=0.1)),
    )
    with pytest.raises(
        ValueError,
        match=r"env must not already randomize its domain \(it holds a DomainRandWrapper\); "
        r"draw every parameter with one randomizer",
    ):
        DomainRandWrapper(inner, DomainRandomizer(UniformDomainParam("masspole", 1.0, 0.1)))
    inner.close()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"options": [1]}, TypeError, r"options must be a dict or None, got list"),
        ({"seed": -1}, ValueError, r"seed must be None or an int >= 0, got -1"),
        ({"seed": 1.5}, ValueError, r"seed must be None or an int >= 0, got 1.5"),
    ],
)
def test_reset_arguments_are_checked(kwargs, error, message) -> None:
    env = DomainRandWrapper(PointMassEnv(), _point_mass_randomizer())
    with pytest.raises(error, match=message):
        env.reset(**kwargs)


@pytest.mark.parametrize("wrapper", [DomainParamWrapper, InitStateWrapper])
def test_reset_options_that_are_no_dict_are_refused_by_every_wrapper(wrapper) -> None:
    with (
        wrapper(PointMassEnv()) as env,
        pytest.raises(TypeError, match=r"^options must be a dict or None, got list$"),
    ):
        env.reset(options=[1])


def test_rand_wrapper_adds_a_param_wrapper_only_when_missing() -> None:
    env = DomainRandWrapper(PointMassEnv(), _point_mass_randomizer())
    assert isinstance(env.env, DomainParamWrapper)
    inner = DomainParamWrapper(PointMassEnv())
    env = DomainRandWrapper(TimeLimit(inner, 10), _point_mass_randomizer())
    assert isinstance(env.env, TimeLimit)
    assert find_wrapper(env, DomainParamWrapper) is inner


def test_rand_wrapper_passes_the_callers_other_options_on_with_the_draw() -> None:
    masspole = UniformDomainParam("masspole", mean=0.1, halfspan=0.05)
    env = DomainRandWrapper(InitStateWrapper(gym.make("CartPole-v1")), DomainRandomizer(masspole))
    x = np.array([0.1, 0.2, 0.03, 0.04])
    obs, info = env.reset(seed=0, options={"init_state": x})
    np.testing.assert_array_equal(obs, x.astype(np.float32))
    np.testing.assert_array_equal(info["init_state"], x)
    # The draw, from the first child of the reset seed's SeedSequence (as _reference_draw).
    child = np.random.SeedSequence(0).spawn(1)[0]
    expected = DomainRandomizer(masspole).sample(np.random.Generator(np.random.PCG64(child)))
    assert 0.05 <= expected["masspole"] <= 0.15
    assert info["domain_param"] == {**CARTPOLE_NOMINAL, **expected}


def test_outer_param_wrapper_leaves_the_parameters_to_the_inner_one() -> None:
    # Twice wrapped: the inner wrapper got no parameters and reset them to nominal, while the
    # outer one reported the requested ones.
    env = DomainParamWrapper(DomainParamWrapper(PointMassEnv()))
    _, info = env.reset(seed=0, options={"domain_param": {"mass": 3.0}})
    assert info["domain_param"] == {**POINT_MASS_NOMINAL, "mass": 3.0}
    assert env.unwrapped.get_domain_param() == info["domain_param"]
    _, info = env.reset(seed=0)
    assert env.unwrapped.get_domain_param() == info["domain_param"] == POINT_MASS_NOMINAL
    with pytest.raises(ValueError, match="valid names"):
        env.reset(options={"domain_param": {"masss": 1.0}})

    # Around a randomizing wrapper: explicit parameters bypass the draw, else the drawn ones
    # are both applied and reported.
    env = DomainParamWrapper(DomainRandWrapper(PointMassEnv(), _point_mass_randomizer()))
    _, info = env.reset(seed=1, options={"domain_param": {"mass": 3.0}})
    assert env.unwrapped.get_domain_param() == info["domain_param"]
    assert info["domain_param"] == {**POINT_MASS_NOMINAL, "mass": 3.0}
    _, info = env.reset(seed=1)
    _, drawn = _reference_draw(1)
    assert info["domain_param"] == {**POINT_MASS_NOMINAL, **drawn}
    assert env.unwrapped.get_domain_param() == info["domain_param"]


# --- InitStateWrapper ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "x0", "actions"),
    [
        ("CartPole-v1", [0.3, -0.4, 0.1, 0.25], [1, 0, 1]),
        ("Pendulum-v1", [2.5, -1.2], [np.float32([0.7]), np.float32([-2.0]), ZERO_TORQUE]),
    ],
)
def test_init_state_is_exact_and_steps_like_a_state_set_by_hand(env_id, x0, actions) -> None:
    x0 = np.array(x0)
    env = InitStateWrapper(DomainParamWrapper(gym.make(env_id)))
    obs, info = env.reset(seed=4, options={"init_state": x0})
    np.testing.assert_array_equal(env.unwrapped.state, x0)
    np.testing.assert_array_equal(info["init_state"], x0)
    assert info["init_state"].dtype == np.float64

    raw = gym.make(env_id)
    raw.reset(seed=4)
    raw.unwrapped.state = x0.copy()
    expected_obs = np.array(x0, dtype=np.float32)
    if env_id == "Pendulum-v1":
        expected_obs = raw.unwrapped._get_obs()
    np.testing.assert_array_equal(obs, expected_obs)
    for action in actions:
        got, want = env.step(action), raw.step(action)
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1:4] == want[1:4]
        np.testing.assert_array_equal(env.unwrapped.state, raw.unwrapped.state)


def test_init_state_without_x_reports_the_drawn_state() -> None:
    env = InitStateWrapper(PointMassEnv())
    obs, info = env.reset(seed=9)
    rng, _ = np_random(9)
    drawn = rng.uniform(-1.0, 1.0, size=2)
    np.testing.assert_array_equal(info["init_state"], drawn)
    np.testing.assert_array_equal(obs, drawn.astype(np.float32))
    assert "state" not in info  # record_state is off
    *_, info = env.step(np.array([0.0]))
    assert "state" not in info


def test_init_state_is_copied() -> None:
    env = InitStateWrapper(PointMassEnv())
    x0 = np.array([0.5, -0.5])
    _, info = env.reset(seed=0, options={"init_state": x0})
    x0[0] = 9.0
    info["init_state"][1] = 9.0
    np.testing.assert_array_equal(env.unwrapped.get_state(), [0.5, -0.5])


@pytest.mark.parametrize("bad", [[0.1, 0.2, 0.3], [[0.1, 0.2]], 0.5, []])
def test_init_state_of_wrong_shape_raises_naming_the_expected_shape(bad) -> None:
    env = InitStateWrapper(PointMassEnv())
    env.reset(seed=0, options={"init_state": [0.25, 0.75]})
    with pytest.raises(ValueError, match=r"init_state.*\(2,\)"):
        env.reset(seed=1, options={"init_state": bad})
    # The env was not reset by the failed call.
    np.testing.assert_array_equal(env.unwrapped.get_state(), [0.25, 0.75])


def test_init_state_of_wrong_shape_raises_for_cartpole() -> None:
    env = InitStateWrapper(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match=r"init_state.*\(4,\).*\(2,\)"):
        env.reset(seed=0, options={"init_state": [0.0, 0.1]})
    assert env.state_space.shape == (4,)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_init_state_raises(value) -> None:
    env = InitStateWrapper(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="init_state.*finite"):
        env.reset(seed=0, options={"init_state": [0.0, value, 0.0, 0.0]})


@pytest.mark.parametrize("bad", ["abc", {"x": 1.0}])
def test_non_numeric_init_state_raises_naming_init_state(bad) -> None:
    env = InitStateWrapper(PointMassEnv())
    with pytest.raises((ValueError, TypeError), match="init_state"):
        env.reset(seed=0, options={"init_state": bad})


def test_record_state_reports_the_state_after_every_step() -> None:
    env = InitStateWrapper(
        DomainParamWrapper(TimeLimit(PointMassEnv(), max_episode_steps=100)), record_state=True
    )
    x0 = np.array([0.4, -0.3])
    param = {**POINT_MASS_NOMINAL, "mass": 2.0, "friction": 1.5}
    obs, info = env.reset(
        seed=0, options={"init_state": x0, "domain_param": {"mass": 2.0, "friction": 1.5}}
    )
    np.testing.assert_array_equal(info["state"], x0)
    np.testing.assert_array_equal(info["init_state"], x0)
    assert info["domain_param"] == param
    np.testing.assert_array_equal(obs, x0.astype(np.float32))
    state = x0
    for u in (0.5, -1.0, 0.25, 0.0):
        obs, _, _, _, info = env.step(np.array([u]))
        state = _point_mass_step(state, u, param)
        np.testing.assert_array_equal(info["state"], state)
        np.testing.assert_array_equal(obs, state.astype(np.float32))
    # The recorded state is a copy.
    info["state"][0] = 99.0
    np.testing.assert_array_equal(env.unwrapped.get_state(), state)


def test_record_state_on_counting_env() -> None:
    env = InitStateWrapper(DomainParamWrapper(CountingEnv()), record_state=True)
    obs, info = env.reset(
        seed=0, options={"init_state": [10.0], "domain_param": {"increment": 2.5}}
    )
    assert obs.tolist() == [10.0]
    assert info["state"].tolist() == [10.0]
    states = [env.step(0)[4]["state"].tolist() for _ in range(3)]
    assert states == [[12.5], [15.0], [17.5]]


def test_record_state_switched_on_later_reports_states_and_off_again_stops() -> None:
    env = InitStateWrapper(gym.make("CartPole-v1"))  # record_state=False
    env.record_state = True
    _, info = env.reset(seed=0)
    info = env.step(0)[4]
    reference = gym.make("CartPole-v1")
    reference.reset(seed=0)
    reference.step(0)
    np.testing.assert_array_equal(info["state"], reference.unwrapped.state)
    env.record_state = False
    reference.step(1)
    assert "state" not in env.step(1)[4]
    np.testing.assert_array_equal(env.unwrapped.state, reference.unwrapped.state)


class _StepCountingInit(InitStateWrapper):
    def step(self, action):
        self.steps = getattr(self, "steps", 0) + 1
        return super().step(action)


class _StepCountingParams(DomainParamWrapper):
    def step(self, action):
        self.steps = getattr(self, "steps", 0) + 1
        return super().step(action)


@pytest.mark.parametrize("wrapper", [_StepCountingInit, _StepCountingParams])
@pytest.mark.parametrize("record_state", [False, True])
def test_a_subclass_step_is_called_whatever_the_shortcut(wrapper, record_state) -> None:
    # The wrappers hand steps straight to the inner env through an instance attribute, which
    # hid a subclass's own step: it was never called.
    env = wrapper(gym.make("CartPole-v1"))
    if wrapper is _StepCountingInit:
        env.record_state = record_state
    env.reset(seed=0)
    info = env.step(0)[4]
    env.step(1)
    assert env.steps == 2
    assert ("state" in info) == (record_state and wrapper is _StepCountingInit)


def test_the_state_reported_at_reset_is_not_the_init_state_array() -> None:
    env = InitStateWrapper(gym.make("CartPole-v1"), record_state=True)
    _, info = env.reset(seed=0)
    assert not np.shares_memory(info["state"], info["init_state"])
    init_state = info["init_state"].copy()
    info["state"][0] = 99.0  # the caller may write to it without touching init_state
    np.testing.assert_array_equal(info["init_state"], init_state)


def test_mujoco_init_state_through_the_stack() -> None:
    pytest.importorskip("mujoco")
    env = InitStateWrapper(DomainParamWrapper(gym.make("InvertedPendulum-v5")), record_state=True)
    x0 = np.array([0.1, 0.2, -0.3, 0.4])
    obs, info = env.reset(seed=0, options={"init_state": x0, "domain_param": {"pole_mass": 2.0}})
    data = env.unwrapped.data
    np.testing.assert_array_equal(np.concatenate([data.qpos, data.qvel]), x0)
    np.testing.assert_array_equal(info["state"], x0)
    np.testing.assert_array_equal(obs, x0)  # InvertedPendulum observes qpos, qvel
    assert info["domain_param"]["pole_mass"] == 2.0
    # The next reset is nominal again and draws a state near zero.
    _, info = env.reset(seed=0)
    assert (
        info["domain_param"]["pole_mass"]
        == env.get_wrapper_attr("nominal_domain_param")["pole_mass"]
    )
    assert np.all(np.abs(info["init_state"]) <= 0.01)
    with pytest.raises(ValueError, match=r"init_state.*\(4,\)"):
        env.reset(options={"init_state": x0[:2]})


# --- combined stack and vector envs ------------------------------------------------------


def make_stack(max_episode_steps: int = 3) -> gym.Env[Any, Any]:
    """PointMass with a time limit, DomainParamWrapper, DomainRandWrapper, InitStateWrapper."""
    env = DomainParamWrapper(TimeLimit(PointMassEnv(), max_episode_steps))
    env = DomainRandWrapper(env, _point_mass_randomizer())
    return InitStateWrapper(env, record_state=True)


def make_cartpole_stack() -> gym.Env[Any, Any]:
    rand = DomainRandomizer(UniformDomainParam("length", mean=0.5, halfspan=0.2))
    env = DomainRandWrapper(DomainParamWrapper(gym.make("CartPole-v1")), rand)
    return InitStateWrapper(env, record_state=True)


def _run_single(
    make: Any, seed: int, options: dict[str, Any] | None, actions: list[Any]
) -> list[tuple[Any, ...]]:
    """Reset and step one stack in process, emulating NEXT_STEP autoreset."""
    env = make()
    obs, info = env.reset(seed=seed, options=options)
    out: list[tuple[Any, ...]] = [(obs, info)]
    done = False
    for action in actions:
        if done:
            obs, info = env.reset()
            out.append((obs, 0.0, False, False, info))
            done = False
        else:
            obs, reward, terminated, truncated, info = env.step(action)
            out.append((obs, reward, terminated, truncated, info))
            done = terminated or truncated
    return out


def _run_vector(envs: gym.vector.VectorEnv, seeds, options, actions) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [envs.reset(seed=seeds, options=options)]
    out += [envs.step(action) for action in actions]
    return out


def test_stack_reset_with_init_state_and_random_params() -> None:
    env = make_stack()
    x0 = np.array([0.3, 0.1])
    obs, info = env.reset(seed=21, options={"init_state": x0})
    _, drawn = _reference_draw(21)
    assert info["domain_param"] == {**drawn, "dt": 0.05}
    np.testing.assert_array_equal(obs, x0.astype(np.float32))
    np.testing.assert_array_equal(info["init_state"], x0)
    np.testing.assert_array_equal(info["state"], x0)
    param = {**drawn, "dt": 0.05}
    assert env.unwrapped.get_domain_param() == param
    *_, info = env.step(np.array([1.0]))
    np.testing.assert_array_equal(info["state"], _point_mass_step(x0, 1.0, param))


def test_find_wrapper_returns_the_outermost_or_none() -> None:
    base = PointMassEnv()
    inner = DomainParamWrapper(base)
    outer = DomainParamWrapper(TimeLimit(inner, 5))
    rand = DomainRandWrapper(outer, _point_mass_randomizer())
    top = InitStateWrapper(rand)
    assert find_wrapper(top, DomainParamWrapper) is outer
    assert find_wrapper(TimeLimit(inner, 5), DomainParamWrapper) is inner
    assert find_wrapper(top, DomainRandWrapper) is rand
    assert find_wrapper(top, InitStateWrapper) is top
    assert find_wrapper(top, TimeLimit) is outer.env
    assert find_wrapper(rand, InitStateWrapper) is None
    assert find_wrapper(base, DomainParamWrapper) is None
    assert find_wrapper(make_stack(), gym.Wrapper) is not None


VEC_ACTIONS = [np.array([[0.5], [-0.25]]), np.array([[1.0], [0.0]])] * 3  # 6 steps, 1 autoreset


def _assert_runs_equal(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], what: str) -> None:
    assert len(a) == len(b)
    for t, (x, y) in enumerate(zip(a, b, strict=True)):
        assert_tree_equal(x, y, f"{what} t={t}")


def _sub_env(run: list[tuple[Any, ...]], i: int) -> list[tuple[Any, ...]]:
    """Sub-env i's slice of a vector run: observations, rewards, flags, and selected infos."""
    out = []
    for item in run:
        obs, info = item[0], item[-1]
        sliced = [np.asarray(obs[i])]
        sliced += [float(np.asarray(v)[i]) for v in item[1:-1]]
        sliced.append(np.asarray(info["state"][i]))
        if "domain_param" in info and info["_domain_param"][i]:
            sliced.append({k: float(v[i]) for k, v in info["domain_param"].items() if k[0] != "_"})
        out.append(tuple(sliced))
    return out


def _single_as_sub_env(run: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    out = []
    for item in run:
        obs, info = item[0], item[-1]
        sliced = [np.asarray(obs)]
        sliced += [float(v) for v in item[1:-1]]
        sliced.append(np.asarray(info["state"]))
        if "domain_param" in info:
            sliced.append(dict(info["domain_param"]))
        out.append(tuple(sliced))
    return out


@pytest.mark.parametrize(
    ("context", "make", "seeds", "options", "actions"),
    [
        pytest.param(
            "spawn",
            make_stack,
            [101, 202],
            {"init_state": np.array([0.3, -0.2])},
            VEC_ACTIONS,
            id="spawn-pointmass",
        ),
        pytest.param(
            "fork",
            make_cartpole_stack,
            [5, 6],
            {"init_state": np.array([0.0, 0.1, 0.05, -0.1]), "domain_param": {"masspole": 0.2}},
            [np.array([1, 0]), np.array([0, 0]), np.array([1, 1])],
            id="fork-cartpole",
        ),
    ],
)
def test_stack_in_vector_envs_matches_in_process(context, make, seeds, options, actions) -> None:
    sync = gym.vector.SyncVectorEnv([make, make])
    try:
        sync_run = _run_vector(sync, seeds, dict(options), actions)
    finally:
        sync.close()
    envs = gym.vector.AsyncVectorEnv([make, make], context=context)
    try:
        async_run = _run_vector(envs, seeds, dict(options), actions)
    finally:
        envs.close()
    _assert_runs_equal(sync_run, async_run, f"sync vs async ({context})")

    singles = [
        _run_single(make, seed, dict(options), list(a[i] for a in actions))
        for i, seed in enumerate(seeds)
    ]
    for i, single in enumerate(singles):
        _assert_runs_equal(_sub_env(async_run, i), _single_as_sub_env(single), f"sub-env {i}")

    # Both sub-envs start from the given state; their parameters differ (different seeds)
    # unless given explicitly.
    obs, info = async_run[0]
    np.testing.assert_array_equal(info["init_state"], np.stack([options["init_state"]] * 2))
    np.testing.assert_array_equal(obs, np.stack([options["init_state"]] * 2).astype(np.float32))
    if "domain_param" in options:
        np.testing.assert_array_equal(info["domain_param"]["masspole"], [0.2, 0.2])
        np.testing.assert_array_equal(info["domain_param"]["length"], [0.5, 0.5])
    else:
        masses = info["domain_param"]["mass"]
        assert masses[0] != masses[1]
        for i, seed in enumerate(seeds):
            assert masses[i] == _reference_draw(seed)[1]["mass"]


def test_domain_param_none_still_draws() -> None:
    # One options dict may always carry the key: None means "not given", so randomization stays on.
    randomizer = DomainRandomizer(UniformDomainParam("masspole", mean=0.1, halfspan=0.05))
    env = DomainRandWrapper(gym.make("CartPole-v1"), randomizer)
    _, plain = env.reset(seed=5)
    _, with_none = env.reset(seed=5, options={"domain_param": None})
    assert with_none["domain_param"] == plain["domain_param"]
    assert plain["domain_param"]["masspole"] != 0.1


def test_env_spec_reads_the_adapters_labels_through_the_wrappers() -> None:
    from gymsamp.data import EnvSpec

    spec = EnvSpec.from_env(InitStateWrapper(DomainParamWrapper(gym.make("Pendulum-v1"))))
    assert spec.obs_labels == ("cos_theta", "sin_theta", "theta_dot")
    assert spec.state_labels == ("theta", "theta_dot")
    assert spec.act_labels == ("torque",)
    assert spec.state_space.shape == (2,)


class StateAfterResetEnv(gym.Env[np.ndarray, int]):
    """Implements gymsamp's native interface, but has no ``state_space`` and no state until its
    first ``reset()`` (only the adapter can infer the state's shape, from a state)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Discrete(2)
    nominal_domain_param: Mapping[str, float] = {"gain": 1.0}

    def __init__(self) -> None:
        self.gain = 1.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1.0, 1.0, size=2)
        return self.x.copy(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.x = self.x + self.gain * (action - 0.5)
        return self.x.copy(), 0.0, False, False, {}

    def get_domain_param(self) -> dict[str, float]:
        return {"gain": self.gain}

    def set_domain_param(self, domain_param: Mapping[str, float]) -> None:
        self.gain = float(domain_param["gain"])

    def get_state(self) -> np.ndarray:
        return self.x.copy()  # AttributeError before the first reset

    def set_state(self, state: np.ndarray) -> np.ndarray:
        self.x = np.array(state, dtype=np.float64)
        return self.x.copy()


def test_first_init_state_reset_of_an_env_without_state_before_reset() -> None:
    env = InitStateWrapper(DomainParamWrapper(StateAfterResetEnv()))
    obs, info = env.reset(
        seed=3, options={"init_state": [0.5, -0.5], "domain_param": {"gain": 2.0}}
    )
    np.testing.assert_array_equal(obs, [0.5, -0.5])
    np.testing.assert_array_equal(info["init_state"], [0.5, -0.5])
    assert info["domain_param"] == {"gain": 2.0}
    assert env.state_space == gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    np.testing.assert_array_equal(env.step(1)[0], [1.5, 0.5])
    with pytest.raises(ValueError, match=r"init_state must have shape \(2,\)"):
        env.reset(seed=3, options={"init_state": [0.5]})


def test_an_init_state_outside_the_state_space_is_refused() -> None:
    # MountainCar's track ends at -1.2 and 0.6: a car set to 5.0 "reached the goal" at once.
    env = InitStateWrapper(gym.make("MountainCar-v0"))
    with pytest.raises(
        ValueError,
        match=r"^init_state must lie in the state space of MountainCarEnv, got \[5.0, 0.0\] "
        r"\(element 0 = 5.0 is outside \[-1.2, 0.6\]\)",
    ):
        env.reset(seed=0, options={"init_state": [5.0, 0.0]})
    # The bounds themselves are states (closed box).
    _, info = env.reset(seed=0, options={"init_state": [-1.2, 0.07]})
    np.testing.assert_array_equal(info["init_state"], [-1.2, 0.07])
    env.close()


def test_state_space_of_an_env_without_state_before_reset_leaves_seeding_alone() -> None:
    env = InitStateWrapper(StateAfterResetEnv())
    assert env.state_space.shape == (2,)  # read before any reset
    obs, info = env.reset(seed=5)
    expected, _ = StateAfterResetEnv().reset(seed=5)
    np.testing.assert_array_equal(obs, expected)
    np.testing.assert_array_equal(info["init_state"], expected)


# --- initial states and drawn parameters reach the user's observation wrappers ----------------

X0 = np.array([0.1, 0.2, 0.03, -0.04])
BOX4 = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)


def scaled_cartpole() -> gym.Env:
    """CartPole whose observations a user's wrapper multiplies by 10."""
    return gym.wrappers.TransformObservation(gym.make("CartPole-v1"), lambda o: 10 * o, BOX4)


def test_init_state_passes_through_the_users_observation_wrappers() -> None:
    env = InitStateWrapper(scaled_cartpole())
    obs, info = env.reset(seed=0, options={"init_state": X0})
    np.testing.assert_allclose(obs, 10 * X0.astype(np.float32))
    np.testing.assert_array_equal(info["init_state"], X0)
    assert "reset" not in vars(env.unwrapped)  # the simulator's reset is its own again
    obs, *_ = env.step(0)
    np.testing.assert_allclose(obs, 10 * env.unwrapped.state.astype(np.float32))


def test_init_state_fills_a_frame_stack() -> None:
    env = InitStateWrapper(gym.wrappers.FrameStackObservation(gym.make("CartPole-v1"), 3))
    obs, _ = env.reset(seed=0, options={"init_state": X0})
    np.testing.assert_array_equal(obs, np.tile(X0.astype(np.float32), (3, 1)))
    obs, *_ = env.step(0)
    np.testing.assert_array_equal(obs[:2], np.tile(X0.astype(np.float32), (2, 1)))
    np.testing.assert_array_equal(obs[2], env.unwrapped.state.astype(np.float32))


def test_drawn_params_pass_through_the_users_observation_wrappers() -> None:
    rand = DomainRandomizer(UniformDomainParam("gain", mean=3.0, halfspan=1.0))
    wrapped = gym.wrappers.TransformObservation(
        GainObsEnv(), lambda o: o + 100.0, gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    )
    env = DomainRandWrapper(wrapped, rand)
    obs, info = env.reset(seed=4)
    state = env.unwrapped.get_state()
    np.testing.assert_array_equal(
        obs, (info["domain_param"]["gain"] * state + 100.0).astype(np.float32)
    )
    plain = DomainRandWrapper(GainObsEnv(), rand)
    assert plain.reset(seed=4)[1]["domain_param"] == info["domain_param"]  # the same draw


def test_init_state_restores_a_reset_the_user_set_on_the_simulator() -> None:
    # The simulator's reset is shadowed for the call only: an instance attribute the user put
    # there (a hook, a mock) is called through and is back in place afterwards.
    env = InitStateWrapper(TimeLimit(gym.make("CartPole-v1").unwrapped, max_episode_steps=50))
    base = env.unwrapped
    calls = []

    def users_reset(**kwargs):
        calls.append(kwargs.get("seed"))
        return type(base).reset(base, **kwargs)

    base.reset = users_reset
    obs, info = env.reset(seed=3, options={"init_state": X0})
    np.testing.assert_array_equal(obs, X0.astype(np.float32))
    np.testing.assert_array_equal(info["init_state"], X0)
    assert calls == [3]
    assert vars(base)["reset"] is users_reset


class _SwallowingReset(gym.Wrapper):
    """A user's wrapper that answers reset from a cache after the first one."""

    def reset(self, **kwargs):
        if not hasattr(self, "cached"):
            self.cached = self.env.reset(**kwargs)
        return self.cached


def test_a_wrapper_that_never_resets_the_simulator_is_an_error() -> None:
    env = InitStateWrapper(_SwallowingReset(gym.make("CartPole-v1")))
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="init_state could not be applied: a wrapper of"):
        env.reset(seed=0, options={"init_state": X0})
    assert "reset" not in vars(env.unwrapped)


# -- argument checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrap", "options", "meant"),
    [
        (DomainParamWrapper, {"domain_params": {"masspole": 5.0}}, "domain_param"),
        (DomainParamWrapper, {"Domain_Param": {"masspole": 5.0}}, "domain_param"),
        (InitStateWrapper, {"init_states": np.zeros(4)}, "init_state"),
        (InitStateWrapper, {"initstate": np.zeros(4)}, "init_state"),
        (DomainParamWrapper, {"init_states": np.zeros(4)}, "init_state"),
    ],
)
def test_reset_option_typos_are_refused(wrap, options, meant) -> None:
    # They used to pass silently to the base env, which ignores them.
    env = wrap(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match=rf"got '\w+' \(did you mean '{meant}'\?\)"):
        env.reset(seed=0, options=options)
    env.close()


def test_other_reset_options_still_reach_the_base_env() -> None:
    seen = {}

    class Recording(gym.Wrapper):
        def reset(self, *, seed=None, options=None):
            seen["options"] = options
            return self.env.reset(seed=seed)

    env = InitStateWrapper(DomainParamWrapper(Recording(gym.make("CartPole-v1"))))
    env.reset(
        seed=0,
        options={
            "domain_param": {"length": 1.0},
            "init_state": np.zeros(4),
            "low": -0.01,
            "domain": 1,
        },
    )
    assert seen["options"] == {"low": -0.01, "domain": 1}


def test_the_base_env_gets_no_options_when_only_gymsamps_keys_were_given() -> None:
    class Recording(CountingEnv):
        def reset(self, *, seed=None, options=None):
            self.got = options
            return super().reset(seed=seed, options=options)

    base = Recording()
    env = InitStateWrapper(DomainParamWrapper(base))
    env.reset(seed=0, options={"domain_param": {"increment": 2.0}})
    assert base.got is None  # not {}: Gymnasium envs may tell None from an empty dict
    env.reset(seed=0, options={"domain_param": {"increment": 2.0}, "init_state": [1.0]})
    assert base.got is None
    env.reset(seed=0, options={"init_state": [1.0], "low": 0.0})
    assert base.got == {"low": 0.0}


def test_record_state_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"record_state must be a bool \(True or False\), got 'no'"):
        InitStateWrapper(gym.make("CartPole-v1"), record_state="no")
    assert InitStateWrapper(gym.make("CartPole-v1"), record_state=np.True_).record_state is True


def test_find_wrapper_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="env must be a gymnasium.Env instance, got NoneType"):
        find_wrapper(None, gym.Wrapper)
    with pytest.raises(TypeError, match=r"cls must be a gymnasium.Wrapper subclass .*, got 'x'"):
        find_wrapper(gym.make("CartPole-v1"), "x")
    assert find_wrapper(gym.make("CartPole-v1"), TimeLimit) is not None


@pytest.mark.parametrize("cls", [int, PointMassEnv, gym.Env, "DomainParamWrapper"])
def test_find_wrapper_refuses_a_class_that_is_no_wrapper(cls: Any) -> None:
    # int and env classes returned None ("not wrapped"): they are never among the wrappers.
    with pytest.raises(
        TypeError,
        match=r"^cls must be a gymnasium.Wrapper subclass \(e.g. DomainParamWrapper\), got ",
    ):
        find_wrapper(DomainParamWrapper(PointMassEnv()), cls)


def test_gymsamp_wrappers_leave_the_spec_of_the_env_inside() -> None:
    # gymsamp adds these wrappers to every env it samples: the env's spec stays the env's
    # (no copy per wrapper), and gym.make(env.spec) rebuilds the env they wrap (listed as
    # additional wrappers without a constructor record, they made it raise).
    base = gym.make("CartPole-v1", max_episode_steps=7)
    wrapped = InitStateWrapper(DomainParamWrapper(base), record_state=True)
    assert wrapped.spec is base.spec
    assert wrapped.spec.max_episode_steps == 7
    assert wrapped.spec.additional_wrappers == base.spec.additional_wrappers
    remade = gym.make(wrapped.spec)
    try:
        assert remade.spec.max_episode_steps == 7
        assert type(remade.unwrapped) is type(base.unwrapped)
        assert find_wrapper(remade, DomainParamWrapper) is None
    finally:
        remade.close()
        wrapped.close()


def test_an_outer_domain_param_wrapper_follows_the_inner_init_state_recording() -> None:
    # DomainParamWrapper hands steps straight to the env inside; past an InitStateWrapper that
    # bound step went stale once record_state changed (gymsamp's samplers and rollout() turn it
    # on in an env the caller wrapped), and no state was reported.
    inner = InitStateWrapper(CountingEnv(), record_state=False)
    env = DomainParamWrapper(inner)
    env.reset(seed=0)
    assert "state" not in env.step(0)[4]
    inner.record_state = True
    np.testing.assert_array_equal(env.step(0)[4]["state"], [2.0])
    inner.record_state = False
    assert "state" not in env.step(0)[4]


# --- a randomizer drawing values the env refuses ----------------------------------------------


def test_a_refused_draw_names_the_distribution_that_drew_it_and_what_to_change():
    # A uniform range reaching below zero: the env's message named a negative mass only, with
    # nothing about the randomizer, its range, or the clip bounds that keep it valid.
    param = UniformDomainParam("masspole", mean=-0.1, halfspan=0.05)
    env = DomainRandWrapper(gym.make("CartPole-v1"), DomainRandomizer(param))
    with pytest.raises(ValueError, match="^randomizer drew masspole=") as info:
        env.reset(seed=0)
    message = str(info.value)
    assert message.startswith("randomizer drew masspole=-0.")
    assert (
        " (masspole: Uniform(mean=-0.1, halfspan=0.05), clip [-inf, inf]), which CartPoleEnv "
        "refuses: domain_param['masspole'] must be a finite real number > 0, got -0."
    ) in message
    assert message.endswith(
        "; keep the distribution within the values the env takes (e.g. with the domain "
        "parameter's clip_lo / clip_up)"
    )
    env.close()


def test_a_valid_draw_of_a_clipped_distribution_still_resets():
    param = UniformDomainParam("masspole", mean=-0.1, halfspan=0.05, clip_lo=0.01)
    env = DomainRandWrapper(gym.make("CartPole-v1"), DomainRandomizer(param))
    assert env.reset(seed=0)[1]["domain_param"]["masspole"] == 0.01
    env.close()
