"""Adapters for Gymnasium's classic-control envs (CartPole, Pendulum, MountainCar(s), Acrobot).

Their physical parameters are plain attributes of the env, so one base class,
:class:`AttributeParamAdapter`, serves all of them: a table maps each parameter name to the
attribute it lives in and the rule its value must satisfy, and one hook recomputes what the env
derives from them. The value checks (:func:`validate_domain_param`) and the per-env memory of
nominal values (:func:`remember_nominal`) are shared with the MuJoCo adapter.

Example:
    >>> import gymnasium as gym
    >>> from gymsamp.envs.adapters import PendulumAdapter
    >>> env = gym.make("Pendulum-v1")
    >>> adapter = PendulumAdapter(env.unwrapped)
    >>> sorted(adapter.nominal_domain_param())
    ['dt', 'g', 'l', 'm', 'max_speed', 'max_torque']
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import gymnasium as gym
import numpy as np

from gymsamp.envs.adapter import SimAdapter

__all__ = [
    "AcrobotAdapter",
    "AttrParam",
    "AttributeParamAdapter",
    "CartPoleAdapter",
    "MountainCarAdapter",
    "MountainCarContinuousAdapter",
    "PendulumAdapter",
    "Rule",
    "remember_nominal",
    "validate_domain_param",
]

#: What a parameter value must satisfy besides being a finite real number.
Rule = Literal["real", "nonnegative", "positive"]

_RULE_TEXT: dict[str, str] = {
    "real": "a finite real number",
    "nonnegative": "a finite real number >= 0",
    "positive": "a finite real number > 0",
}

_T = TypeVar("_T")

# Attribute under which an env instance keeps the nominal values its first adapter saw.
_NOMINAL_ATTR = "_gymsamp_nominal"


def remember_nominal(env: gym.Env[Any, Any], key: str, capture: Callable[[], _T]) -> _T:
    """The nominal snapshot of ``env`` for adapter kind ``key``, captured once per env instance.

    The first adapter created for an env stores ``capture()`` on the env itself; later adapters
    of the same kind reuse it. Otherwise an adapter created after another one had already
    changed the physics would take the changed values for nominal.

    Args:
        env: The unwrapped env.
        key: Names the adapter kind (its snapshot layout).
        capture: Reads the current values; called only on the first request.

    Returns:
        The stored snapshot (callers copy before handing it out).
    """
    store: dict[str, Any] = env.__dict__.setdefault(_NOMINAL_ATTR, {})
    if key not in store:
        store[key] = capture()
    return store[key]


def _as_real(name: str, value: Any, rule: Rule) -> float:
    """``value`` as a float checked against ``rule``; errors name ``domain_param[name]``."""
    what = f"domain_param[{name!r}]"
    if type(value) is float or type(value) is np.float64:  # the common case, at every reset
        x = float(value)
    else:
        if (
            isinstance(value, (bool, np.bool_, str, bytes))  # numpy would parse "1.0"
            or getattr(value, "dtype", None) == np.bool_
        ):
            raise TypeError(f"{what} must be {_RULE_TEXT[rule]}, got {value!r}")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} must be {_RULE_TEXT[rule]}, got {value!r}") from exc
        if arr.size != 1:
            raise ValueError(
                f"{what} must be {_RULE_TEXT[rule]} (one value), got shape {arr.shape}"
            )
        x = float(arr.reshape(()))
    ok = math.isfinite(x) and (
        rule == "real" or (rule == "nonnegative" and x >= 0.0) or (rule == "positive" and x > 0.0)
    )
    if not ok:
        raise ValueError(f"{what} must be {_RULE_TEXT[rule]}, got {value!r}")
    return x


def validate_domain_param(
    domain_param: Mapping[str, Any], rules: Mapping[str, Rule], nominal: Mapping[str, float]
) -> dict[str, float]:
    """Check a parameter dict against an adapter's table and complete it.

    Args:
        domain_param: Parameter name -> value (a real scalar or a one-element array).
        rules: Every valid name -> the rule its value must satisfy.
        nominal: Every valid name -> its nominal value; fills in missing names, so a partial
            dict means "these, the rest nominal" (DESIGN §6: parameters are never sticky).

    Returns:
        A complete dict name -> float, in the order of ``rules``.

    Raises:
        TypeError: If ``domain_param`` is not a mapping or a value is not a real number.
        ValueError: If a name is unknown (the message lists the valid ones) or a value breaks
            its rule.

    Example:
        >>> validate_domain_param({"m": 2}, {"m": "positive", "g": "real"}, {"m": 1.0, "g": 9.8})
        {'m': 2.0, 'g': 9.8}
    """
    if not isinstance(domain_param, Mapping):
        raise TypeError(f"domain_param must be a mapping of name -> value, got {domain_param!r}")
    unknown = [key for key in domain_param if key not in rules]
    if unknown:
        raise ValueError(
            f"domain_param keys must be among {sorted(rules)}, "
            f"got unknown {sorted(map(str, unknown))}"
        )
    return {
        name: _as_real(name, domain_param[name] if name in domain_param else nominal[name], rule)
        for name, rule in rules.items()
    }


@dataclass(frozen=True)
class AttrParam:
    """One attribute-backed domain parameter.

    Attributes:
        attr: The env attribute holding the value (set on the instance, never on the class).
        rule: What the value must satisfy.
    """

    attr: str
    rule: Rule = "real"


class AttributeParamAdapter(SimAdapter):
    """Base for envs whose parameters are attributes and whose state is ``env.state``.

    Subclasses fill in :attr:`PARAMS` (name -> :class:`AttrParam`), the label tables, and
    override :meth:`_update_derived`, :meth:`_after_set_state`, :meth:`_observation` and
    :meth:`_state_bounds` where the env needs it. Parameters are written with ``setattr`` on the
    env instance, so class attributes (Acrobot's ``LINK_MASS_1``, ...) stay untouched.

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.envs.adapters import MountainCarAdapter
        >>> env = gym.make("MountainCar-v0")
        >>> adapter = MountainCarAdapter(env.unwrapped)
        >>> _ = adapter.set_domain_param({"gravity": 0.003})  # the rest back to nominal
        >>> adapter.get_domain_param()["gravity"], adapter.get_domain_param()["force"]
        (0.003, 0.001)
    """

    #: Parameter name -> attribute and rule; the order is the order of the dicts returned.
    PARAMS: ClassVar[Mapping[str, AttrParam]] = {}
    STATE_LABELS: ClassVar[tuple[str, ...]] = ()
    OBS_LABELS: ClassVar[tuple[str, ...] | None] = None
    ACT_LABELS: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        self._rules: dict[str, Rule] = {name: p.rule for name, p in self.PARAMS.items()}
        self._nominal: dict[str, float] = remember_nominal(
            env, type(self).__qualname__, self.get_domain_param
        )
        # The bounds as the env's parameters are now; the Box is built on first use (a Box
        # costs ~70 us, more than the rest of an adapter, and most adapters never show it).
        self._state_bounds_now = self._state_bounds()
        self._state_shape = self._state_bounds_now[0].shape

    # -- domain parameters ----------------------------------------------------------------
    def nominal_domain_param(self) -> dict[str, float]:
        return dict(self._nominal)

    def get_domain_param(self) -> dict[str, float]:
        return {name: float(getattr(self.env, p.attr)) for name, p in self.PARAMS.items()}

    def domain_param_validator(self) -> Callable[[Mapping[str, Any]], object]:
        return functools.partial(
            validate_domain_param, rules=dict(self._rules), nominal=dict(self._nominal)
        )

    def set_domain_param(self, domain_param: Mapping[str, Any]) -> dict[str, float]:
        values = validate_domain_param(domain_param, self._rules, self._nominal)
        for name, value in values.items():
            setattr(self.env, self.PARAMS[name].attr, value)
        self._update_derived()
        return values

    def _update_derived(self) -> None:
        """Recompute what the env derived from its parameters in ``__init__``."""

    # -- state ----------------------------------------------------------------------------
    @functools.cached_property
    def state_space(self) -> gym.spaces.Box:
        low, high = self._state_bounds_now
        return gym.spaces.Box(low, high, dtype=np.float64)

    def _state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the state space; unbounded unless the dynamics keep the state in a box."""
        n = len(self.STATE_LABELS)
        return np.full(n, -np.inf), np.full(n, np.inf)

    def get_state(self) -> np.ndarray:
        state = getattr(self.env, "state", None)
        if state is None:
            raise RuntimeError(
                f"{type(self.env).__name__} has no state yet: call env.reset() before get_state()"
            )
        # np.array copies; MountainCar keeps a tuple of scalars after step(), hence the dtype.
        return np.array(state, dtype=np.float64).reshape(self._state_shape)

    def set_state(self, state: np.ndarray) -> Any:
        arr = np.array(state, dtype=np.float64)
        if arr.shape != self._state_shape:
            raise ValueError(
                f"state must have shape {self._state_shape} to match "
                f"{type(self.env).__name__}'s state space, got shape {arr.shape}"
            )
        self.env.state = arr  # type: ignore[attr-defined]
        self._after_set_state()
        return self._observation()

    def _after_set_state(self) -> None:
        """Reset whatever episode bookkeeping ``env.reset()`` resets besides the state."""

    def _observation(self) -> Any:
        """The observation the env returns in its current state."""
        return np.array(self.env.state, dtype=np.float32)  # type: ignore[attr-defined]

    # -- labels ---------------------------------------------------------------------------
    @property
    def state_labels(self) -> tuple[str, ...] | None:
        return self.STATE_LABELS or None

    @property
    def obs_labels(self) -> tuple[str, ...] | None:
        return self.OBS_LABELS

    @property
    def act_labels(self) -> tuple[str, ...] | None:
        return self.ACT_LABELS


class CartPoleAdapter(AttributeParamAdapter):
    """Adapter for ``CartPole-v1`` (``gymnasium.envs.classic_control.CartPoleEnv``).

    ==============  ==============  ======  =====================================
    name            attribute       rule    meaning
    ==============  ==============  ======  =====================================
    ``gravity``     ``gravity``     >= 0    gravitational acceleration [m/s²]
    ``masscart``    ``masscart``    > 0     cart mass [kg]
    ``masspole``    ``masspole``    > 0     pole mass [kg]
    ``length``      ``length``      > 0     HALF the pole length [m]
    ``force_mag``   ``force_mag``   >= 0    magnitude of the push force [N]
    ``tau``         ``tau``         > 0     integration time step [s]
    ==============  ==============  ======  =====================================

    ``total_mass`` and ``polemass_length`` are recomputed after every edit. State and
    observation: ``(x, x_dot, theta, theta_dot)`` (state float64, observation float32 like
    ``step``). :meth:`set_state` also clears ``steps_beyond_terminated`` as ``reset`` does.
    Actions are discrete, so there are no action labels.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from gymsamp.envs.adapters import CartPoleAdapter
        >>> env = gym.make("CartPole-v1")
        >>> adapter = CartPoleAdapter(env.unwrapped)
        >>> _ = adapter.set_domain_param({**adapter.nominal_domain_param(), "masspole": 0.5})
        >>> round(env.unwrapped.total_mass, 12), round(env.unwrapped.polemass_length, 12)
        (1.5, 0.25)
        >>> adapter.set_state(np.array([0.0, 0.0, 0.1, 0.0]))
        array([0. , 0. , 0.1, 0. ], dtype=float32)
    """

    PARAMS: ClassVar[Mapping[str, AttrParam]] = {
        "gravity": AttrParam("gravity", "nonnegative"),
        "masscart": AttrParam("masscart", "positive"),
        "masspole": AttrParam("masspole", "positive"),
        "length": AttrParam("length", "positive"),
        "force_mag": AttrParam("force_mag", "nonnegative"),
        "tau": AttrParam("tau", "positive"),
    }
    STATE_LABELS = ("x", "x_dot", "theta", "theta_dot")
    OBS_LABELS = ("x", "x_dot", "theta", "theta_dot")

    def _update_derived(self) -> None:
        env: Any = self.env
        # CartPoleEnv computes these once in __init__ and reads them in every step.
        env.total_mass = env.masspole + env.masscart
        env.polemass_length = env.masspole * env.length

    def _after_set_state(self) -> None:
        # Otherwise a state injected after a terminal step would still get the
        # "stepped past termination" reward of 0 and a warning.
        self.env.steps_beyond_terminated = None  # type: ignore[attr-defined]


class PendulumAdapter(AttributeParamAdapter):
    """Adapter for ``Pendulum-v1`` (``gymnasium.envs.classic_control.PendulumEnv``).

    ===============  ==============  ======  ===========================================
    name             attribute       rule    meaning
    ===============  ==============  ======  ===========================================
    ``g``            ``g``           >= 0    gravitational acceleration [m/s²]
    ``m``            ``m``           > 0     pendulum mass [kg]
    ``l``            ``l``           > 0     pendulum length [m]
    ``dt``           ``dt``          > 0     integration time step [s]
    ``max_speed``    ``max_speed``   > 0     angular velocity clip [rad/s]
    ``max_torque``   ``max_torque``  >= 0    torque clip [N m]
    ===============  ==============  ======  ===========================================

    The env's spaces keep the bounds from construction (Gymnasium's vector envs need fixed
    spaces), so a ``max_torque`` above the action space's bound only acts on actions that
    reach the env unclipped. State ``(theta, theta_dot)``; observation
    ``(cos theta, sin theta, theta_dot)`` from the env's own ``_get_obs``.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from gymsamp.envs.adapters import PendulumAdapter
        >>> env = gym.make("Pendulum-v1", g=9.81)
        >>> adapter = PendulumAdapter(env.unwrapped)
        >>> adapter.nominal_domain_param()["g"]
        9.81
        >>> adapter.set_state(np.array([0.0, 1.0]))
        array([1., 0., 1.], dtype=float32)
    """

    PARAMS: ClassVar[Mapping[str, AttrParam]] = {
        "g": AttrParam("g", "nonnegative"),
        "m": AttrParam("m", "positive"),
        "l": AttrParam("l", "positive"),
        "dt": AttrParam("dt", "positive"),
        "max_speed": AttrParam("max_speed", "positive"),
        "max_torque": AttrParam("max_torque", "nonnegative"),
    }
    STATE_LABELS = ("theta", "theta_dot")
    OBS_LABELS = ("cos_theta", "sin_theta", "theta_dot")
    ACT_LABELS = ("torque",)

    def _after_set_state(self) -> None:
        # reset() clears the last torque so that render() draws no stale arrow.
        self.env.last_u = None  # type: ignore[attr-defined]

    def _observation(self) -> Any:
        return self.env._get_obs()  # type: ignore[attr-defined]


class _MountainCarBase(AttributeParamAdapter):
    """State and labels shared by both mountain cars."""

    STATE_LABELS = ("position", "velocity")
    OBS_LABELS = ("position", "velocity")

    def _state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        # step() clips the position to the track; the velocity bound is a domain parameter.
        env: Any = self.env
        return (
            np.array([env.min_position, -np.inf], dtype=np.float64),
            np.array([env.max_position, np.inf], dtype=np.float64),
        )


class MountainCarAdapter(_MountainCarBase):
    """Adapter for ``MountainCar-v0`` (``gymnasium.envs.classic_control.MountainCarEnv``).

    =================  =================  ======  ===========================================
    name               attribute          rule    meaning
    =================  =================  ======  ===========================================
    ``force``          ``force``          >= 0    velocity change per step from pushing
    ``gravity``        ``gravity``        >= 0    slope-dependent velocity change per step
    ``max_speed``      ``max_speed``      > 0     velocity clip
    ``goal_position``  ``goal_position``  real    position that ends the episode
    =================  =================  ======  ===========================================

    State and observation ``(position, velocity)``; the env keeps a tuple after ``step``,
    :meth:`get_state` always returns a float64 array. Discrete actions: no action labels.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from gymsamp.envs.adapters import MountainCarAdapter
        >>> env = gym.make("MountainCar-v0")
        >>> adapter = MountainCarAdapter(env.unwrapped)
        >>> adapter.set_state(np.array([-0.5, 0.0]))
        array([-0.5,  0. ], dtype=float32)
        >>> adapter.state_labels
        ('position', 'velocity')
    """

    PARAMS: ClassVar[Mapping[str, AttrParam]] = {
        "force": AttrParam("force", "nonnegative"),
        "gravity": AttrParam("gravity", "nonnegative"),
        "max_speed": AttrParam("max_speed", "positive"),
        "goal_position": AttrParam("goal_position", "real"),
    }


class MountainCarContinuousAdapter(_MountainCarBase):
    """Adapter for ``MountainCarContinuous-v0`` (``Continuous_MountainCarEnv``).

    =================  =================  ======  ===========================================
    name               attribute          rule    meaning
    =================  =================  ======  ===========================================
    ``power``          ``power``          >= 0    velocity change per step per unit action
    ``max_speed``      ``max_speed``      > 0     velocity clip
    ``goal_position``  ``goal_position``  real    position that ends the episode
    =================  =================  ======  ===========================================

    There is no ``gravity``: this env hard-codes it (0.0025) inside ``step``. State and
    observation ``(position, velocity)``. ``reset`` draws a float64 state, ``step`` leaves a
    float32 one, and the next ``step`` computes in that precision (NumPy 2's promotion rules), so
    :meth:`set_state` stores a state whose values are all float32 numbers (every state ``step``
    left behind) as float32 and any other as float64: a restart from any recorded state then
    continues the recording bit for bit.

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.envs.adapters import MountainCarContinuousAdapter
        >>> env = gym.make("MountainCarContinuous-v0")
        >>> adapter = MountainCarContinuousAdapter(env.unwrapped)
        >>> list(adapter.nominal_domain_param())
        ['power', 'max_speed', 'goal_position']
    """

    PARAMS: ClassVar[Mapping[str, AttrParam]] = {
        "power": AttrParam("power", "nonnegative"),
        "max_speed": AttrParam("max_speed", "positive"),
        "goal_position": AttrParam("goal_position", "real"),
    }
    ACT_LABELS = ("force",)

    def _after_set_state(self) -> None:
        # A float32 state steps in float32, a float64 one in float64: store the precision the
        # env had it in. A state drawn by reset() is float64 and (but with odds of ~2**-29)
        # holds a value no float32 equals; every state step() leaves is float32.
        env: Any = self.env
        as_float32 = env.state.astype(np.float32)
        if np.array_equal(as_float32, env.state):
            env.state = as_float32


class AcrobotAdapter(AttributeParamAdapter):
    """Adapter for ``Acrobot-v1`` (``gymnasium.envs.classic_control.AcrobotEnv``).

    ==================  ==================  ======  =========================================
    name                attribute           rule    meaning
    ==================  ==================  ======  =========================================
    ``link_length_1``   ``LINK_LENGTH_1``   > 0     length of link 1 [m]
    ``link_length_2``   ``LINK_LENGTH_2``   > 0     length of link 2 [m] (rendering only:
                                                    Gymnasium's dynamics never read it)
    ``link_mass_1``     ``LINK_MASS_1``     > 0     mass of link 1 [kg]
    ``link_mass_2``     ``LINK_MASS_2``     > 0     mass of link 2 [kg]
    ``link_com_pos_1``  ``LINK_COM_POS_1``  >= 0    joint-to-COM distance of link 1 [m]
    ``link_com_pos_2``  ``LINK_COM_POS_2``  >= 0    joint-to-COM distance of link 2 [m]
    ``link_moi``        ``LINK_MOI``        > 0     moment of inertia of BOTH links [kg m²]
    ``dt``              ``dt``              > 0     integration time step [s]
    ==================  ==================  ======  =========================================

    The attributes are class attributes in Gymnasium; the adapter sets them on the env
    instance only, so the class and other instances keep their values. Gravity (9.8) is a
    local constant in ``_dsdt`` and therefore no parameter. State
    ``(theta1, theta2, theta1_dot, theta2_dot)`` (angles kept in [-pi, pi] by ``step``,
    velocities bounded by ``MAX_VEL_1/2``); observation from the env's own ``_get_ob``.
    Discrete actions: no action labels.

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.envs.adapters import AcrobotAdapter
        >>> from gymnasium.envs.classic_control import AcrobotEnv
        >>> env = gym.make("Acrobot-v1")
        >>> adapter = AcrobotAdapter(env.unwrapped)
        >>> _ = adapter.set_domain_param({"link_mass_1": 2.0})
        >>> env.unwrapped.LINK_MASS_1, AcrobotEnv.LINK_MASS_1
        (2.0, 1.0)
    """

    PARAMS: ClassVar[Mapping[str, AttrParam]] = {
        "link_length_1": AttrParam("LINK_LENGTH_1", "positive"),
        "link_length_2": AttrParam("LINK_LENGTH_2", "positive"),
        "link_mass_1": AttrParam("LINK_MASS_1", "positive"),
        "link_mass_2": AttrParam("LINK_MASS_2", "positive"),
        "link_com_pos_1": AttrParam("LINK_COM_POS_1", "nonnegative"),
        "link_com_pos_2": AttrParam("LINK_COM_POS_2", "nonnegative"),
        "link_moi": AttrParam("LINK_MOI", "positive"),
        "dt": AttrParam("dt", "positive"),
    }
    STATE_LABELS = ("theta1", "theta2", "theta1_dot", "theta2_dot")
    OBS_LABELS = (
        "cos_theta1",
        "sin_theta1",
        "cos_theta2",
        "sin_theta2",
        "theta1_dot",
        "theta2_dot",
    )

    def _state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        env: Any = self.env
        high = np.array([np.pi, np.pi, env.MAX_VEL_1, env.MAX_VEL_2], dtype=np.float64)
        return -high, high

    def _observation(self) -> Any:
        return self.env._get_ob()  # type: ignore[attr-defined]
