"""Argument checks of the adapter registry (gymsamp.envs.adapter)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control import CartPoleEnv

from gymsamp.envs import (
    CountingEnv,
    InitStateWrapper,
    NativeAdapter,
    adapter_for,
    has_adapter,
    register_adapter,
)
from gymsamp.envs import adapter as adapter_module


@pytest.mark.parametrize(
    ("predicate", "factory", "bad"),
    [(3, NativeAdapter, "predicate"), (lambda env: False, 4, "factory")],
)
def test_register_adapter_refuses_non_callables_and_registers_nothing(
    predicate, factory, bad
) -> None:
    before = list(adapter_module._REGISTRY)
    with pytest.raises(TypeError, match=rf"{bad} must be callable .*, got \d"):
        register_adapter(predicate, factory)
    assert before == adapter_module._REGISTRY  # later lookups still work
    assert has_adapter(gym.make("CartPole-v1"))


@pytest.mark.parametrize("env", [None, "CartPole-v1", 3])
def test_adapter_lookups_need_an_env_instance(env) -> None:
    with pytest.raises(TypeError, match=r"env must be a gymnasium.Env instance, got"):
        adapter_for(env)
    with pytest.raises(TypeError, match=r"env must be a gymnasium.Env instance, got"):
        has_adapter(env)


def test_native_adapter_names_the_methods_the_env_lacks() -> None:
    with pytest.raises(
        TypeError,
        match=r"env must implement \[.*\] to use NativeAdapter .*got TimeLimit, which lacks "
        r"\['nominal_domain_param', 'get_domain_param', 'set_domain_param', 'get_state', "
        r"'set_state'\]",
    ):
        NativeAdapter(gym.make("CartPole-v1"))
    assert NativeAdapter(CountingEnv()).nominal_domain_param() == {"increment": 1.0}


class _SilentSetStateEnv(CountingEnv):
    """A native env whose set_state returns nothing (as pyrado's and MuJoCo's do)."""

    def set_state(self, state):  # type: ignore[no-untyped-def, override]
        super().set_state(state)


def test_native_set_state_must_return_the_observation() -> None:
    env = InitStateWrapper(_SilentSetStateEnv())
    # Before: the reset returned None as its observation, and a rollout failed later with
    # "observations must be finite".
    with pytest.raises(TypeError, match=r"_SilentSetStateEnv.set_state\(state\) must return the"):
        env.reset(seed=0, options={"init_state": [2.0]})
    obs, info = InitStateWrapper(CountingEnv()).reset(seed=0, options={"init_state": [2.0]})
    assert obs.tolist() == [2.0]
    assert info["init_state"].tolist() == [2.0]


class _StateAsProperty(CountingEnv):
    """Every native name, but get_state as a property (not callable)."""

    @property
    def get_state(self):  # type: ignore[override]
        return np.zeros(1)


class _Plain(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)


class _NativeWrapper(gym.Wrapper):
    """The native interface on a wrapper, which the adapter does not look at."""

    def nominal_domain_param(self):
        return {"g": 1.0}

    def get_domain_param(self):
        return {"g": 1.0}

    def set_domain_param(self, domain_param):
        pass

    def get_state(self):
        return np.zeros(1)

    def set_state(self, state):
        return np.zeros(1, np.float32)


def test_adapter_for_names_what_is_missing_and_where_it_must_be() -> None:
    # A property get_state read "which lacks []" (it was looked for with hasattr, but must
    # be callable); methods on a wrapper were called missing without saying why.
    with pytest.raises(TypeError, match=r"got _StateAsProperty, which lacks \['get_state'\]$"):
        adapter_for(_StateAsProperty())
    with pytest.raises(
        TypeError, match=r"which lacks \[.*'set_state'\] \(a wrapper's methods are not the env's\)"
    ):
        adapter_for(_NativeWrapper(_Plain()))
    with pytest.raises(TypeError, match=r"got _Plain, which lacks \[.*'set_state'\]$"):
        adapter_for(_Plain())


def test_native_adapter_hands_out_copies_of_the_nominal_values() -> None:
    # The wrappers of one env share its adapter: a caller changing the dict it got must not
    # change what "nominal" means for them (the values every reset without parameters uses).
    env = CountingEnv(increment=2.0)
    adapter = adapter_for(env)
    adapter.nominal_domain_param()["increment"] = 5.0
    assert adapter.nominal_domain_param() == {"increment": 2.0}


class _NativeCartPole(CartPoleEnv):
    """A CartPole subclass that implements gymsamp's native interface itself (one parameter,
    the push force, which the built-in CartPole adapter would also cover)."""

    def nominal_domain_param(self) -> dict[str, float]:
        return {"force_mag": 10.0}

    def get_domain_param(self) -> dict[str, float]:
        return {"force_mag": self.force_mag}

    def set_domain_param(self, domain_param: dict[str, float]) -> None:
        self.force_mag = domain_param.get("force_mag", self.force_mag)

    def get_state(self) -> np.ndarray:
        return np.array(self.state, dtype=np.float64)

    def set_state(self, state: np.ndarray) -> np.ndarray:
        self.state = np.array(state, dtype=np.float64)
        return np.array(self.state, dtype=np.float32)


def test_an_env_implementing_the_native_interface_is_served_natively() -> None:
    # Its own methods win over the built-in adapter of the class it derives from (which knows
    # neither its parameters nor its state layout).
    adapter = adapter_for(_NativeCartPole())
    assert type(adapter) is NativeAdapter
    assert adapter.nominal_domain_param() == {"force_mag": 10.0}


class _PlainStateAdapter(adapter_module.SimAdapter):
    """A user's adapter for _Plain: no parameters, the state its observation; no labels."""

    def nominal_domain_param(self):
        return {}

    def get_domain_param(self):
        return {}

    def set_domain_param(self, domain_param):
        return None

    @property
    def state_space(self):
        return gym.spaces.Box(-1.0, 1.0, (1,), np.float64)

    def get_state(self):
        return np.zeros(1)

    def set_state(self, state):
        return np.asarray(state, np.float32)


def test_an_adapter_without_labels_gives_a_spec_without_labels(monkeypatch) -> None:
    from gymsamp.data import EnvSpec

    monkeypatch.setattr(adapter_module, "_REGISTRY", list(adapter_module._REGISTRY))
    register_adapter(lambda env: isinstance(env, _Plain), _PlainStateAdapter)
    env = InitStateWrapper(_Plain())
    assert (env.state_labels, env.obs_labels, env.act_labels) == (None, None, None)
    spec = EnvSpec.from_env(env)
    assert spec.state_space == gym.spaces.Box(-1.0, 1.0, (1,), np.float64)
    assert (spec.state_labels, spec.obs_labels, spec.act_labels) == (None, None, None)


class _NativeWithoutStateSpace(CountingEnv):
    """A native env that declares no state_space: its shape is read from a state."""

    def __init__(self, state_before_reset: bool) -> None:
        super().__init__()
        del self.state_space
        self.resets = 0
        self._state_before_reset = state_before_reset

    def get_state(self):  # type: ignore[no-untyped-def, override]
        return super().get_state() if self._state_before_reset or self.resets else None

    def reset(self, **kwargs):  # type: ignore[no-untyped-def, override]
        self.resets += 1
        return super().reset(**kwargs)


@pytest.mark.parametrize(("state_before_reset", "resets"), [(True, 0), (False, 1)])
def test_a_native_state_space_is_inferred_resetting_only_an_env_without_a_state(
    state_before_reset, resets
) -> None:
    env = _NativeWithoutStateSpace(state_before_reset)
    space = adapter_for(env).state_space
    assert space == gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    assert env.resets == resets
