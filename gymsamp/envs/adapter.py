"""Simulator adapters: what gymsamp needs to know about an env to set its physics and state.

Gymnasium envs expose neither domain parameters nor a settable full state, so an adapter per
simulator family supplies them (DESIGN §6). An adapter is bound to one *unwrapped* env
instance. Built-in adapters cover CartPole, Pendulum, MountainCar(Continuous), Acrobot, MuJoCo
and gymsamp's toy envs; an env that implements ``nominal_domain_param``, ``get_domain_param``,
``set_domain_param``, ``get_state`` and ``set_state`` itself is served by :class:`NativeAdapter`.
Register more with :func:`register_adapter`.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from gymsamp.data import EnvSpec
from gymsamp.data.spec import labels_for

__all__ = [
    "NATIVE_METHODS",
    "NativeAdapter",
    "SimAdapter",
    "adapter_for",
    "has_adapter",
    "register_adapter",
    "shared_adapter",
    "spec_with_adapter",
]

#: The methods an env implements to need no adapter.
NATIVE_METHODS = (
    "nominal_domain_param",
    "get_domain_param",
    "set_domain_param",
    "get_state",
    "set_state",
)


class SimAdapter(abc.ABC):
    """Reads and writes the domain parameters and the full state of one unwrapped env.

    Subclasses implement the abstract methods; ``env`` is the unwrapped env instance.
    Domain parameters are a flat ``dict[str, float | np.ndarray]``; names are the physically
    meaningful ones of the simulator (e.g. CartPole's ``masspole``). In ``set_domain_param``
    names left out mean their nominal values (never the previous ones), and every derived
    quantity is recomputed (CartPole's ``total_mass``, MuJoCo's ``mj_setConst``). Nominal
    values are those of the env instance before gymsamp first changed it.

    Example:
        >>> import gymnasium as gym
        >>> adapter = adapter_for(gym.make("Pendulum-v1"))
        >>> adapter.nominal_domain_param()["g"], adapter.state_space.shape
        (10.0, (2,))
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        self.env = env

    @abc.abstractmethod
    def nominal_domain_param(self) -> dict[str, Any]:
        """The parameters the env had when the adapter was created (copies, not views)."""

    @abc.abstractmethod
    def get_domain_param(self) -> dict[str, Any]:
        """The parameters currently in effect (copies, not views)."""

    @abc.abstractmethod
    def set_domain_param(self, domain_param: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Apply a complete parameter dict and recompute derived quantities.

        Returns the values as applied (e.g. ``2`` as ``2.0``), which the reset info reports,
        or None to report them as given."""

    def domain_param_validator(self) -> Callable[[Mapping[str, Any]], object] | None:
        """A function that raises ``TypeError`` / ``ValueError`` for a parameter dict that
        :meth:`set_domain_param` would refuse, without an env (samplers check their payloads
        with it before any sub-env runs; it pickles). None: only the env itself can tell."""
        return None

    @property
    @abc.abstractmethod
    def state_space(self) -> gym.spaces.Box:
        """The space of the full simulator state (a flat float64 Box)."""

    @abc.abstractmethod
    def get_state(self) -> np.ndarray:
        """A copy of the full simulator state, shape ``state_space.shape``."""

    @abc.abstractmethod
    def set_state(self, state: np.ndarray) -> Any:
        """Set the full state exactly (shape already validated) and return the observation
        the env would return in that state."""

    def reset_info(self) -> dict[str, Any]:
        """The entries of the simulator's own reset info for its current state (those its
        ``reset`` would report had it drawn this state), which replace the drawn state's once
        an initial state is set; none by default."""
        return {}

    @property
    def state_labels(self) -> tuple[str, ...] | None:
        """One name per state dimension, or None."""
        return None

    @property
    def obs_labels(self) -> tuple[str, ...] | None:
        """One name per flat observation dimension, or None."""
        return None

    @property
    def act_labels(self) -> tuple[str, ...] | None:
        """One name per flat action dimension, or None."""
        return None


class NativeAdapter(SimAdapter):
    """Adapter for an env that implements :data:`NATIVE_METHODS` itself.

    Example:
        >>> from gymsamp.envs import CountingEnv
        >>> adapter = NativeAdapter(CountingEnv())
        >>> adapter.nominal_domain_param(), adapter.get_state().tolist()
        ({'increment': 1.0}, [0.0])
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        missing = _missing_native_methods(env)
        if missing:
            raise TypeError(
                f"env must implement {list(NATIVE_METHODS)} to use NativeAdapter (use "
                f"adapter_for(env) for the built-in simulators), got {type(env).__name__}, "
                f"which lacks {missing}"
            )
        super().__init__(env)
        nominal = env.nominal_domain_param  # type: ignore[attr-defined]
        self._nominal = dict(nominal() if callable(nominal) else nominal)
        self._inferred_state_space: gym.spaces.Box | None = None

    def nominal_domain_param(self) -> dict[str, Any]:
        return dict(self._nominal)

    def get_domain_param(self) -> dict[str, Any]:
        return dict(self.env.get_domain_param())  # type: ignore[attr-defined]

    def set_domain_param(self, domain_param: Mapping[str, Any]) -> None:
        self.env.set_domain_param(dict(domain_param))  # type: ignore[attr-defined]
        return None

    @property
    def state_space(self) -> gym.spaces.Box:
        """The env's own ``state_space``, else an unbounded Box shaped like its state."""
        space = getattr(self.env, "state_space", None)
        if isinstance(space, gym.spaces.Box):
            return space
        if self._inferred_state_space is None:  # a state's shape never changes
            shape = self._some_state().shape
            self._inferred_state_space = gym.spaces.Box(-np.inf, np.inf, shape, np.float64)
        return self._inferred_state_space

    def _some_state(self) -> np.ndarray:
        """A state to infer the state space from.

        An env may create its state in ``reset()`` only, so before the first reset
        ``get_state()`` fails (AttributeError) or has nothing (None). Such an env is reset
        once, unseeded: whoever needs the space (e.g. the first
        ``reset(options={"init_state": x})``, which checks ``x`` against it) resets it next.
        """
        try:
            state = self.env.get_state()  # type: ignore[attr-defined]
        except AttributeError:
            state = None
        if state is None:
            self.env.reset()
            state = self.env.get_state()  # type: ignore[attr-defined]
        return np.asarray(state, dtype=np.float64)

    def get_state(self) -> np.ndarray:
        return np.array(self.env.get_state(), dtype=np.float64)  # type: ignore[attr-defined]

    def set_state(self, state: np.ndarray) -> Any:
        obs = self.env.set_state(state)  # type: ignore[attr-defined]
        if obs is None:
            # Otherwise the reset would silently return None as its observation.
            raise TypeError(
                f"{type(self.env).__name__}.set_state(state) must return the observation of the "
                "state it set (the native interface is set_state(state) -> observation), got None"
            )
        return obs

    @property
    def state_labels(self) -> tuple[str, ...] | None:
        return getattr(self.env, "state_labels", None)

    @property
    def obs_labels(self) -> tuple[str, ...] | None:
        return getattr(self.env, "obs_labels", None)

    @property
    def act_labels(self) -> tuple[str, ...] | None:
        return getattr(self.env, "act_labels", None)


# (predicate on the unwrapped env, adapter factory); later registrations are tried first.
_REGISTRY: list[tuple[Callable[[gym.Env[Any, Any]], bool], Callable[..., SimAdapter]]] = []


def check_init_state(
    state: np.ndarray, space: gym.Space[Any], *, owner: str, name: str = "init_state"
) -> None:
    """Refuse an initial state the simulator cannot start from: of another shape than
    ``space``, not finite, or outside its bounds (where the dynamics keep the state, e.g.
    MountainCar's track: a state outside was accepted and ran on from where no episode can be).

    Args:
        state: The state, as a float array.
        space: The simulator's state space (bounds are checked for a ``Box``).
        owner: The env, for the messages (its id or class name).
        name: The argument that gave ``state``, for the messages.

    Raises:
        ValueError: Naming ``name``, the rule and the value.
    """
    if state.shape != space.shape:
        raise ValueError(
            f"{name} must have shape {space.shape} (the state of {owner}), got shape {state.shape}"
        )
    if not np.isfinite(state).all():
        raise ValueError(f"{name} must be finite, got {state.tolist()}")
    if not isinstance(space, gym.spaces.Box):
        return
    outside = np.flatnonzero((state < space.low) | (state > space.high))
    if outside.size:
        i = int(outside[0])
        low, high = space.low.flat[i], space.high.flat[i]
        raise ValueError(
            f"{name} must lie in the state space of {owner}, got {state.tolist()} (element {i} "
            f"= {state.flat[i]} is outside [{low}, {high}])"
        )


def register_adapter(
    predicate: Callable[[gym.Env[Any, Any]], bool], factory: Callable[..., SimAdapter]
) -> None:
    """Register an adapter factory for the unwrapped envs ``predicate`` accepts.

    User registrations take precedence over the built-in adapters.

    Example:
        >>> class MySimAdapter(NativeAdapter): ...  # or a full SimAdapter subclass
        >>> register_adapter(lambda env: type(env).__name__ == "MySim", MySimAdapter)

    Raises:
        TypeError: ``predicate`` or ``factory`` is not callable.
    """
    for name, value in (("predicate", predicate), ("factory", factory)):
        if not callable(value):
            raise TypeError(
                f"{name} must be callable (predicate(env) -> bool, factory(env) -> SimAdapter), "
                f"got {value!r}"
            )
    _ensure_builtins()  # so the built-ins end up behind this registration
    _REGISTRY.insert(0, (predicate, factory))


def _missing_native_methods(env: gym.Env[Any, Any]) -> list[str]:
    # nominal_domain_param may be a property (a dict) or a method; the others are methods.
    missing = [] if hasattr(env, NATIVE_METHODS[0]) else [NATIVE_METHODS[0]]
    return missing + [m for m in NATIVE_METHODS[1:] if not callable(getattr(env, m, None))]


def _is_native(env: gym.Env[Any, Any]) -> bool:
    return not _missing_native_methods(env)


def _load_builtin_adapters() -> None:
    # Imported on first use so `import gymsamp.envs` stays light (MuJoCo is an extra).
    from gymsamp.envs.adapters import register_builtin_adapters

    register_builtin_adapters()


_builtins_loaded = False


def _ensure_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        _load_builtin_adapters()


def _find_factory(env: gym.Env[Any, Any]) -> Callable[..., SimAdapter] | None:
    _ensure_builtins()
    if _is_native(env):
        return NativeAdapter
    for predicate, factory in _REGISTRY:
        if predicate(env):
            return factory
    return None


def _unwrapped(env: Any) -> gym.Env[Any, Any]:
    """``env.unwrapped``, or a TypeError naming ``env`` if it is not a Gymnasium env."""
    if not isinstance(env, gym.Env):
        raise TypeError(f"env must be a gymnasium.Env instance, got {_describe(env)}")
    return env.unwrapped


def _describe(value: Any) -> str:
    return repr(value) if isinstance(value, (str, int, float, type(None))) else type(value).__name__


def has_adapter(env: gym.Env[Any, Any]) -> bool:
    """True if gymsamp can set domain parameters and states of ``env`` (wrapped or not).

    Raises:
        TypeError: ``env`` is not a ``gymnasium.Env`` instance (e.g. an env id).

    Example:
        >>> import gymnasium as gym
        >>> has_adapter(gym.make("CartPole-v1")), has_adapter(gym.make("FrozenLake-v1"))
        (True, False)
    """
    unwrapped = _unwrapped(env)
    if getattr(unwrapped, _SHARED, None) is not None:  # found before (see shared_adapter)
        return True
    return _find_factory(unwrapped) is not None


def adapter_for(env: gym.Env[Any, Any]) -> SimAdapter:
    """The adapter for ``env`` (its unwrapped env is what gets adapted).

    Raises:
        TypeError: If no adapter is registered for the env and it does not implement
            :data:`NATIVE_METHODS`; the message names the missing methods. Also if ``env``
            is not a ``gymnasium.Env`` instance.

    Example:
        >>> import gymnasium as gym
        >>> env = gym.make("CartPole-v1")
        >>> adapter = adapter_for(env)
        >>> adapter.nominal_domain_param()["length"]
        0.5
        >>> _ = env.reset(seed=0)
        >>> obs = adapter.set_state(np.array([0.1, 0.0, -0.05, 0.0]))
        >>> adapter.get_state().tolist(), bool(np.allclose(obs, [0.1, 0.0, -0.05, 0.0]))
        ([0.1, 0.0, -0.05, 0.0], True)
    """
    unwrapped = _unwrapped(env)
    factory = _find_factory(unwrapped)
    if factory is None:
        missing = _missing_native_methods(unwrapped)
        on_wrappers = env is not unwrapped and all(hasattr(env, m) for m in missing)
        raise TypeError(
            f"env must be a simulator gymsamp has an adapter for (CartPole, Pendulum, "
            f"MountainCar, MountainCarContinuous, Acrobot, MuJoCo, gymsamp toy envs) or implement "
            f"{list(NATIVE_METHODS)} as methods of its own (nominal_domain_param may be a "
            f"property); got {type(unwrapped).__name__}, which lacks {missing}"
            + (" (a wrapper's methods are not the env's)" if on_wrappers else "")
        )
    return factory(unwrapped)


# The attribute of an unwrapped env that holds its shared adapter.
_SHARED = "_gymsamp_adapter"


def shared_adapter(env: gym.Env[Any, Any]) -> SimAdapter:
    """The one adapter of ``env``'s stack, made by :func:`adapter_for` on first use: gymsamp's
    wrappers share it (they see the same nominal values), and looking it up again costs an
    attribute read, not the search of the registered adapters.

    Raises:
        TypeError: As :func:`adapter_for`.

    Example:
        >>> import gymnasium as gym
        >>> env = gym.make("CartPole-v1")
        >>> shared_adapter(env) is shared_adapter(env.unwrapped)
        True
    """
    unwrapped = _unwrapped(env)
    adapter = getattr(unwrapped, _SHARED, None)
    if adapter is None:
        adapter = adapter_for(unwrapped)
        # An attribute on the unwrapped env, so it travels with the env into workers.
        setattr(unwrapped, _SHARED, adapter)
    return adapter


def spec_with_adapter(spec: EnvSpec, adapter: SimAdapter) -> EnvSpec:
    """``spec`` completed with what a simulator adapter knows: the state space, and the labels
    the spec lacks where they still name its spaces (a wrapper may have reshaped them).

    Example:
        >>> import gymnasium as gym
        >>> from gymnasium.wrappers import FlattenObservation, FrameStackObservation
        >>> env = FlattenObservation(FrameStackObservation(gym.make("CartPole-v1"), 3))
        >>> spec = spec_with_adapter(EnvSpec.from_env(env), adapter_for(env))
        >>> spec.obs_labels is None, spec.state_labels  # 12 observations, 4 labels
        (True, ('x', 'x_dot', 'theta', 'theta_dot'))
    """
    state_space = spec.state_space or adapter.state_space
    return dataclasses.replace(
        spec,
        state_space=state_space,
        obs_labels=spec.obs_labels or labels_for(spec.observation_space, adapter.obs_labels),
        act_labels=spec.act_labels or labels_for(spec.action_space, adapter.act_labels),
        state_labels=spec.state_labels or labels_for(state_space, adapter.state_labels),
    )
