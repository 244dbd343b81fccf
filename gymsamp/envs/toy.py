"""Toy environments with known answers, for tests, benchmarks and examples.

Every env here is small, deterministic given its reset seed, picklable (plain pickle and
cloudpickle, so it runs in ``AsyncVectorEnv`` under fork and spawn) and passes
:func:`gymnasium.utils.env_checker.check_env`. Each takes ``step_cost_us``: that many
microseconds of busy-waiting in every ``step``, so throughput benchmarks can pose as a simulator
of a chosen cost. :func:`gymsamp.envs.registration.register_toy_envs` registers them:

- ``gymsamp/Counting-v0``: :class:`CountingEnv` (no time limit; it has ``truncate_at``)
- ``gymsamp/PointMass-v0``: :class:`PointMassEnv` (``max_episode_steps=200``)
- ``gymsamp/RandomLength-v0``: :class:`RandomLengthEnv` (``max_episode_steps=1000``)
- ``gymsamp/Raising-v0``: :class:`~gymsamp.envs.toy_faults.RaisingEnv` (``max_episode_steps=100``)
- ``gymsamp/Hanging-v0``: :class:`~gymsamp.envs.toy_faults.HangingEnv` (``max_episode_steps=100``)

The step-counting envs (all but PointMass) take a ``Discrete(2)`` action that is validated but
otherwise ignored, and return as reward the number of steps taken since the last reset
(1.0, 2.0, 3.0, ...), so recorded rewards reveal each transition's position in its episode.
:class:`CountingEnv` and :class:`PointMassEnv` implement gymsamp's native domain-parameter and
state interface (:data:`gymsamp.envs.adapter.NATIVE_METHODS`), so they need no adapter.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

__all__ = ["CountingEnv", "PointMassEnv", "RandomLengthEnv"]

ActT = TypeVar("ActT")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: What the step-counting envs accept as an action (``Discrete(2)`` samples are ``np.int64``).
DiscreteAction = int | np.integer[Any]


# --- validation helpers ---------------------------------------------------------------------


def _check_count(name: str, value: Any, minimum: int) -> int:
    # bool is an int subclass; True as a step count is almost certainly a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_optional_count(name: str, value: Any) -> int | None:
    return None if value is None else _check_count(name, value, 1)


def _check_real(name: str, value: Any, rule: str, ok: Callable[[float], bool]) -> float:
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (real and math.isfinite(value) and ok(float(value))):
        raise ValueError(f"{name} must be a finite number {rule}".rstrip() + f", got {value!r}")
    return float(value)


def _check_domain_param(
    domain_param: Mapping[str, Any], rules: Mapping[str, tuple[str, Callable[[float], bool]]]
) -> dict[str, float]:
    """Validate a (possibly partial) domain-parameter dict against ``rules`` before any is set."""
    unknown = sorted(set(domain_param) - set(rules))
    if unknown:
        raise ValueError(f"domain_param keys must be among {sorted(rules)}, got unknown {unknown}")
    return {name: _check_real(name, value, *rules[name]) for name, value in domain_param.items()}


def _check_state(state: Any, shape: tuple[int, ...]) -> NDArray[np.float64]:
    array = np.array(state, dtype=np.float64)  # a copy: the caller's array stays theirs
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise ValueError(f"state must be a finite array of shape {shape}, got {state!r}")
    return array


def _any_number(_: float) -> bool:
    return True


def _positive(x: float) -> bool:
    return x > 0


def _non_negative(x: float) -> bool:
    return x >= 0


def _busy_wait(duration_us: float) -> None:
    # Spin instead of sleeping: a simulator step occupies a core, and throughput benchmarks must
    # see the same CPU contention between workers that a real simulator would cause.
    if duration_us <= 0:
        return
    deadline = time.perf_counter() + duration_us * 1e-6
    while time.perf_counter() < deadline:
        pass


def _count_obs(value: float) -> NDArray[np.float32]:
    return np.array([value], dtype=np.float32)


# --- shared base ----------------------------------------------------------------------------


class _ToyEnv(gym.Env[NDArray[np.float32], ActT]):
    """Step-count bookkeeping and step cost shared by all toy envs.

    Subclasses call :meth:`_start_episode` in ``reset`` and :meth:`_advance` in ``step`` after
    validating the action (so an invalid action costs no time and changes nothing).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium declares it a plain attribute)

    def __init__(self, step_cost_us: float = 0) -> None:
        self.step_cost_us = _check_real("step_cost_us", step_cost_us, ">= 0", _non_negative)
        self._step_count = 0

    @property
    def step_count(self) -> int:
        """Number of steps completed since the last ``reset``."""
        return self._step_count

    def _start_episode(self, seed: int | None) -> None:
        super().reset(seed=seed)
        self._step_count = 0

    def _advance(self) -> int:
        """Pay the step cost and count the step; returns the new step count."""
        _busy_wait(self.step_cost_us)
        self._step_count += 1
        return self._step_count

    def _check_discrete_action(self, action: Any) -> None:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an element of {self.action_space}, got {action!r}")


def _float32_box(size: int) -> gym.spaces.Box[np.float32]:
    # Finite bounds (the float32 range, as CartPole does) keep gym.make's env checker from
    # warning about infinite bounds on every construction, in every worker. A new space per env:
    # a space carries its own sampling RNG, which must not be shared.
    return gym.spaces.Box(-_FLOAT32_MAX, _FLOAT32_MAX, (size,), np.float32)


# --- CountingEnv ----------------------------------------------------------------------------


class CountingEnv(_ToyEnv[DiscreteAction]):
    """A counter with exactly predictable observations, rewards and episode boundaries.

    After ``reset`` the observation is ``[0.0]``. Step ``k`` (1-based) adds ``increment`` to the
    count, observes the new count and returns reward ``float(k)``; ``terminated`` is True from
    step ``terminate_at`` on and ``truncated`` from step ``truncate_at`` on (both on the same
    step if they are equal). Rewards and flags depend only on the number of steps since reset,
    never on ``increment`` or a state set with :meth:`set_state`, so episode boundaries stay
    fixed under domain randomization and initial states. The action space is ``Discrete(2)``;
    actions are checked to lie in it (``ValueError`` otherwise) and have no other effect.

    Domain parameter: ``increment`` (nominal: the constructor's value, 1.0 by default).
    State: ``[count]`` (float64); :meth:`set_state` sets the count and returns its observation.
    Each reset puts ``int(np_random.integers(2**30))`` into ``info["reset_seed_draw"]``, so a test
    can tell which seed a reset received.

    Args:
        terminate_at: Step number at which ``terminated`` becomes True; None never terminates.
        truncate_at: Step number at which ``truncated`` becomes True; None never truncates.
        step_cost_us: Busy-wait per step, in microseconds.
        increment: Nominal amount the count grows per step.

    Example:
        >>> env = CountingEnv(terminate_at=2, truncate_at=2)
        >>> env.reset(seed=0)[0]
        array([0.], dtype=float32)
        >>> env.step(1)[:4]
        (array([1.], dtype=float32), 1.0, False, False)
        >>> env.step(0)[:4]
        (array([2.], dtype=float32), 2.0, True, True)
        >>> env.set_domain_param({"increment": 0.5})
        >>> env.reset()[0], env.step(0)[0]
        (array([0.], dtype=float32), array([0.5], dtype=float32))
    """

    state_labels: ClassVar[tuple[str, ...]] = ("count",)
    obs_labels: ClassVar[tuple[str, ...]] = ("count",)
    _DOMAIN_RULES: ClassVar[dict[str, tuple[str, Callable[[float], bool]]]] = {
        "increment": ("", _any_number),
    }

    def __init__(
        self,
        terminate_at: int | None = None,
        truncate_at: int | None = None,
        step_cost_us: float = 0,
        increment: float = 1.0,
    ) -> None:
        super().__init__(step_cost_us)
        self.terminate_at = _check_optional_count("terminate_at", terminate_at)
        self.truncate_at = _check_optional_count("truncate_at", truncate_at)
        self.action_space = gym.spaces.Discrete(2)
        self.observation_space = _float32_box(1)
        self.state_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
        self._nominal = _check_domain_param({"increment": increment}, self._DOMAIN_RULES)
        self._increment = self._nominal["increment"]
        self._count = 0.0

    @property
    def nominal_domain_param(self) -> dict[str, float]:
        """The domain parameters the env was built with."""
        return dict(self._nominal)

    def get_domain_param(self) -> dict[str, float]:
        """The domain parameters in effect."""
        return {"increment": self._increment}

    def set_domain_param(self, domain_param: Mapping[str, Any]) -> None:
        """Set the given parameters (a subset is fine); ValueError names a bad key or value."""
        self._increment = _check_domain_param(domain_param, self._DOMAIN_RULES).get(
            "increment", self._increment
        )

    def get_state(self) -> NDArray[np.float64]:
        """``[count]`` as a new float64 array."""
        return np.array([self._count], dtype=np.float64)

    def set_state(self, state: Any) -> NDArray[np.float32]:
        """Set the count (the step number is unaffected) and return the matching observation."""
        self._count = float(_check_state(state, (1,))[0])
        return _count_obs(self._count)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        self._start_episode(seed)
        self._count = 0.0
        return _count_obs(0.0), {"reset_seed_draw": int(self.np_random.integers(1 << 30))}

    def step(
        self, action: DiscreteAction
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        self._check_discrete_action(action)
        k = self._advance()
        self._count += self._increment
        terminated = self.terminate_at is not None and k >= self.terminate_at
        truncated = self.truncate_at is not None and k >= self.truncate_at
        return _count_obs(self._count), float(k), terminated, truncated, {}


# --- PointMassEnv ---------------------------------------------------------------------------


class PointMassEnv(_ToyEnv[NDArray[Any]]):
    """A 1-D point mass with linear friction, pushed by a bounded force.

    Continuous dynamics ``x'' = (u - friction * x') / mass``, discretized with explicit Euler in
    float64 (``x``, ``v`` before the step; ``x1``, ``v1`` after)::

        x1 = x + dt * v
        v1 = v + dt * (u - friction * v) / mass
        reward = -(x**2 + 0.1 * u**2)

    The reward is taken in the state the action was applied in (DESIGN §3). The action is a
    force ``u`` in ``Box(-1, 1, (1,))``; an action of another shape, non-finite or outside
    ``[-1, 1]`` raises ``ValueError`` (gymsamp's samplers clip before stepping; any float dtype
    is accepted). The episode never terminates; registration adds a 200-step time limit. The
    initial state is drawn uniformly from ``[-1, 1]**2`` with ``np_random``. Observation = state
    as float32; the full state stays float64.

    Domain parameters (nominal: the constructor's values): ``mass`` > 0, ``friction`` >= 0,
    ``dt`` > 0. State: ``[x, v]``.

    Args:
        step_cost_us: Busy-wait per step, in microseconds.
        mass: Nominal mass.
        friction: Nominal linear friction coefficient.
        dt: Nominal integration time step.

    Example:
        >>> env = PointMassEnv()
        >>> _ = env.reset(seed=0)
        >>> env.set_state([1.0, 2.0])
        array([1., 2.], dtype=float32)
        >>> obs, reward, terminated, truncated, _ = env.step(np.array([0.5]))
        >>> env.get_state()  # [1 + 0.05*2, 2 + 0.05*(0.5 - 0.5*2)/1]
        array([1.1  , 1.975])
        >>> reward, terminated, truncated  # -(1**2 + 0.1*0.5**2)
        (-1.025, False, False)
    """

    state_labels: ClassVar[tuple[str, ...]] = ("x", "v")
    obs_labels: ClassVar[tuple[str, ...]] = ("x", "v")
    act_labels: ClassVar[tuple[str, ...]] = ("force",)
    _DOMAIN_RULES: ClassVar[dict[str, tuple[str, Callable[[float], bool]]]] = {
        "mass": ("> 0", _positive),
        "friction": (">= 0", _non_negative),
        "dt": ("> 0", _positive),
    }

    def __init__(
        self,
        step_cost_us: float = 0,
        mass: float = 1.0,
        friction: float = 0.5,
        dt: float = 0.05,
    ) -> None:
        super().__init__(step_cost_us)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.observation_space = _float32_box(2)
        self.state_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
        self._nominal = _check_domain_param(
            {"mass": mass, "friction": friction, "dt": dt}, self._DOMAIN_RULES
        )
        self._param = dict(self._nominal)
        self._state = np.zeros(2, dtype=np.float64)

    @property
    def nominal_domain_param(self) -> dict[str, float]:
        """The domain parameters the env was built with."""
        return dict(self._nominal)

    def get_domain_param(self) -> dict[str, float]:
        """The domain parameters in effect."""
        return dict(self._param)

    def set_domain_param(self, domain_param: Mapping[str, Any]) -> None:
        """Set the given parameters (a subset is fine); all are validated before any is set."""
        self._param.update(_check_domain_param(domain_param, self._DOMAIN_RULES))

    def get_state(self) -> NDArray[np.float64]:
        """``[x, v]`` as a new float64 array."""
        return self._state.copy()

    def set_state(self, state: Any) -> NDArray[np.float32]:
        """Set ``[x, v]`` exactly and return the matching observation."""
        self._state = _check_state(state, (2,))
        return self._state.astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        self._start_episode(seed)
        self._state = self.np_random.uniform(-1.0, 1.0, size=2)
        return self._state.astype(np.float32), {}

    def step(
        self, action: NDArray[Any]
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        u_array = np.asarray(action, dtype=np.float64)
        if u_array.shape != (1,) or not (np.isfinite(u_array[0]) and abs(u_array[0]) <= 1.0):
            raise ValueError(
                f"action must be a finite array of shape (1,) in [-1, 1], got {action!r}"
            )
        u = float(u_array[0])
        self._advance()
        x, v = float(self._state[0]), float(self._state[1])
        mass, friction, dt = self._param["mass"], self._param["friction"], self._param["dt"]
        self._state = np.array([x + dt * v, v + dt * (u - friction * v) / mass])
        # x * x, not x**2: an unstable Euler step (friction * dt / mass > 2) lets the state
        # grow without bound, and a float's ** raises OverflowError where * gives inf.
        reward = -(x * x + 0.1 * u * u)
        return self._state.astype(np.float32), reward, False, False, {}


_MAX_MEAN_LENGTH = 2**62


# --- RandomLengthEnv ------------------------------------------------------------------------


class RandomLengthEnv(_ToyEnv[DiscreteAction]):
    """Episodes of a random length drawn at each reset, for tests of uneven episode ends.

    The length ``L`` is drawn uniformly from the integers ``1 .. 2 * mean_length - 1`` (mean
    exactly ``mean_length``) with ``np_random``, so it is reproducible from ``reset(seed)``.
    The observation is ``[step number, L]``; step ``k`` returns reward ``float(k)`` and
    terminates at ``k == L``. The reset info holds ``{"length": L}``. The action space is
    ``Discrete(2)``; actions are validated and otherwise ignored.

    Args:
        mean_length: Mean episode length, an integer >= 1.
        step_cost_us: Busy-wait per step, in microseconds.

    Example:
        >>> env = RandomLengthEnv(mean_length=5)
        >>> obs, info = env.reset(seed=3)
        >>> length = info["length"]
        >>> for _ in range(length):
        ...     obs, reward, terminated, truncated, _ = env.step(0)
        >>> bool(obs[0] == length == reward), terminated
        (True, True)
    """

    def __init__(self, mean_length: int = 20, step_cost_us: float = 0) -> None:
        super().__init__(step_cost_us)
        self.mean_length = _check_count("mean_length", mean_length, 1)
        if self.mean_length > _MAX_MEAN_LENGTH:
            # reset draws lengths below 2 * mean_length as int64.
            raise ValueError(
                f"mean_length must be an integer <= 2**62 (lengths are drawn as int64), "
                f"got {mean_length!r}"
            )
        max_length = 2 * self.mean_length - 1
        self.action_space = gym.spaces.Discrete(2)
        self.observation_space = gym.spaces.Box(0.0, float(max_length), (2,), np.float32)
        self._length = 1

    @property
    def length(self) -> int:
        """The length of the current episode."""
        return self._length

    def _obs(self) -> NDArray[np.float32]:
        return np.array([self._step_count, self._length], dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        self._start_episode(seed)
        self._length = int(self.np_random.integers(1, 2 * self.mean_length))
        return self._obs(), {"length": self._length}

    def step(
        self, action: DiscreteAction
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        self._check_discrete_action(action)
        k = self._advance()
        return self._obs(), float(k), k >= self._length, False, {}
