"""Single-env wrappers for domain parameters, domain randomization and fixed initial states.

They live inside each sub-env of a vector env (so they work under fork and spawn) and are
driven through ``reset(options=...)``, Gymnasium's per-reset channel:

- ``options["domain_param"]``: a dict of parameters to apply (:class:`DomainParamWrapper`);
  names are validated, names left out return to their nominal values (never sticky);
- ``options["init_state"]``: the full simulator state to start from (:class:`InitStateWrapper`).

Each wrapper pops its own key and passes the remaining options on (the base env gets None if
nothing is left, since many envs reject unknown keys). The applied parameters and the initial
state are reported in the reset ``info`` under the same keys.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Callable, Mapping
from typing import Any, Protocol, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec

from gymsamp._checks import check_bool
from gymsamp.envs.adapter import check_init_state, shared_adapter
from gymsamp.envs.randomizer import check_randomizer, checked_domain_param

__all__ = [
    "DomainParamWrapper",
    "DomainRandWrapper",
    "InitStateWrapper",
    "find_wrapper",
]


class SupportsSample(Protocol):
    """What :class:`DomainRandWrapper` needs of a randomizer (e.g. ``DomainRandomizer``)."""

    def sample(self, rng: np.random.Generator | None = None) -> dict[str, Any]:
        """One joint draw of all randomized parameters."""
        ...


def find_wrapper(env: gym.Env[Any, Any], cls: type[gym.Wrapper[Any, Any, Any, Any]]) -> Any:
    """The outermost wrapper of type ``cls`` in ``env``'s wrapper stack, or None.

    Raises:
        TypeError: ``env`` is not a ``gymnasium.Env`` or ``cls`` is not a subclass of
            ``gymnasium.Wrapper``.

    Example:
        >>> env = DomainParamWrapper(gym.make("CartPole-v1"))
        >>> find_wrapper(env, DomainParamWrapper) is env
        True
        >>> type(find_wrapper(env, gym.wrappers.TimeLimit)).__name__
        'TimeLimit'
        >>> find_wrapper(env, InitStateWrapper) is None
        True
    """
    if not isinstance(env, gym.Env):
        raise TypeError(f"env must be a gymnasium.Env instance, got {type(env).__name__}")
    # Any other class (int, an env class) is never found among the wrappers: None would say
    # "not wrapped" for a question that cannot be asked.
    if not isinstance(cls, type) or not issubclass(cls, gym.Wrapper):
        raise TypeError(
            f"cls must be a gymnasium.Wrapper subclass (e.g. DomainParamWrapper), got {cls!r}"
        )
    current: Any = env
    while isinstance(current, gym.Wrapper):
        if isinstance(current, cls):
            return current
        current = current.env
    return None


#: The reset options gymsamp's wrappers read; other keys pass through to the base env.
OPTION_KEYS = ("domain_param", "init_state")


def _check_option_typos(options: Mapping[str, Any]) -> None:
    """Refuse keys that are near-misses of :data:`OPTION_KEYS` (``"domain_params"``), which
    would otherwise pass silently to the base env and be ignored there."""
    for key in options:
        if not isinstance(key, str) or key in OPTION_KEYS:
            continue
        close = difflib.get_close_matches(key.lower(), OPTION_KEYS, n=1, cutoff=0.8)
        if close:
            raise ValueError(
                f"reset options must use the key {close[0]!r} for gymsamp's wrappers, got "
                f"{key!r} (did you mean {close[0]!r}?)"
            )


def _split_options(
    options: Mapping[str, Any] | None, key: str
) -> tuple[Any, dict[str, Any] | None]:
    """(the value under ``key`` or None, the remaining options or None if empty).

    Raises:
        TypeError: ``options`` is not a dict.
        ValueError: A key is a near-miss of ``"domain_param"`` / ``"init_state"``.
    """
    if options is None:
        return None, None
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict or None, got {type(options).__name__}")
    rest = dict(options)
    value = rest.pop(key, None)
    if rest:
        _check_option_typos(rest)
    return value, (rest or None)


def reset_with(
    env: gym.Env[Any, Any],
    after_base_reset: Callable[[Any], Any],
    *,
    seed: int | None,
    options: dict[str, Any] | None,
    what: str,
    reset_info: Callable[[], dict[str, Any]],
) -> tuple[Any, dict[str, Any]]:
    """``env.reset(seed=seed, options=options)``, in which the simulator's own reset is
    followed at once by ``after_base_reset(obs)`` (e.g. setting a state), whose observation
    then passes through every wrapper of ``env``, as if the simulator had reset to it.

    So an observation wrapper (scaling, frame stacking, a time feature) sees the state gymsamp
    set, not the one the seeded reset drew; so does its info, whose entries ``reset_info()``
    (the simulator's reset info for the state set) replaces. The simulator's ``reset`` is
    shadowed for the duration of the call only.

    Raises:
        RuntimeError: A wrapper of ``env`` did not pass the reset on to the simulator
            (``what`` could not be applied).
    """
    base = env.unwrapped
    if base is env:
        obs, info = env.reset(seed=seed, options=options)
        obs = after_base_reset(obs)
        return obs, {**info, **reset_info()}
    inner_reset = base.reset  # the simulator's, or another wrapper's hook around it
    shadowed = vars(base).get("reset")
    applied = False

    def reset_then_apply(*args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        nonlocal applied
        obs, info = inner_reset(*args, **kwargs)
        obs = after_base_reset(obs)
        applied = True
        return obs, {**info, **reset_info()}

    base.reset = reset_then_apply  # type: ignore[method-assign]
    try:
        obs, info = env.reset(seed=seed, options=options)
    finally:
        if shadowed is None:
            del base.reset
        else:
            base.reset = shadowed  # type: ignore[method-assign]
    if not applied:
        raise RuntimeError(
            f"{what} could not be applied: a wrapper of {type(base).__name__} did not pass "
            "reset() on to it"
        )
    return obs, info


def _wrapped_spec(self: gym.Wrapper[Any, Any, Any, Any]) -> EnvSpec | None:
    """The spec of the env inside, as it is.

    Gymnasium's wrappers return a deep copy of the inner spec with themselves appended to
    ``additional_wrappers``. gymsamp adds its domain-parameter and init-state wrappers to every
    env it samples (``rollout()`` anew on each call), where those copies cost more than a short
    episode's steps; and listed there, they would only make ``gym.make(env.spec)`` fail (they
    take no constructor record), where now it rebuilds the env they wrap.
    """
    return self.env.spec


class DomainParamWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """Applies ``reset(options={"domain_param": {...}})``; unspecified names return to nominal.

    If ``env`` already holds a :class:`DomainParamWrapper` (e.g. inside a
    :class:`DomainRandWrapper`), this one passes resets through unchanged and the inner one
    applies and reports the parameters, so ``info["domain_param"]`` always names the
    parameters the simulator runs with (and explicit parameters still bypass a draw).

    Args:
        env: An env with a simulator adapter (see :mod:`gymsamp.envs.adapter`).

    Example:
        >>> import gymnasium as gym
        >>> env = DomainParamWrapper(gym.make("CartPole-v1"))
        >>> _, info = env.reset(seed=0, options={"domain_param": {"length": 1.0}})
        >>> info["domain_param"]["length"], env.unwrapped.length
        (1.0, 1.0)
        >>> _, info = env.reset(seed=0)  # not sticky: back to nominal
        >>> env.unwrapped.length
        0.5
    """

    spec = property(_wrapped_spec)

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        self._adapter = shared_adapter(env)
        self._nominal = self._adapter.nominal_domain_param()
        # An inner DomainParamWrapper resets the parameters to nominal whenever it is not given
        # any, which would silently undo what this one applied.
        self._inner: DomainParamWrapper | None = find_wrapper(env, DomainParamWrapper)
        # Nothing to do per step: hand steps straight to the inner env (one Python frame less
        # on the sampler's hottest path). Not past an InitStateWrapper: its step changes with
        # its record_state, which the bound method would miss (no states recorded); nor for a
        # subclass's own step, which the instance attribute would hide (never called).
        if find_wrapper(env, InitStateWrapper) is None and type(self).step is gym.Wrapper.step:
            self.step = env.step  # type: ignore[method-assign]

    @property
    def nominal_domain_param(self) -> dict[str, Any]:
        """The env's nominal domain parameters (a copy)."""
        return dict(self._nominal)

    @property
    def domain_param(self) -> dict[str, Any]:
        """The domain parameters currently in effect."""
        return self._adapter.get_domain_param()

    def complete_domain_param(self, domain_param: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validate names and fill in nominal values for the names left out."""
        if domain_param is None:
            return dict(self._nominal)
        if not isinstance(domain_param, Mapping):
            raise TypeError(
                "domain_param must be a dict of parameter values, got "
                f"{type(domain_param).__name__}"
            )
        unknown = sorted(map(repr, set(domain_param) - set(self._nominal)))
        if unknown:
            raise ValueError(
                f"domain_param has unknown names [{', '.join(unknown)}]; valid names for "
                f"{type(self.env.unwrapped).__name__} are {sorted(self._nominal)}"
            )
        return {**self._nominal, **domain_param}

    def domain_param_validator(self) -> Callable[[Mapping[str, Any]], object] | None:
        """The adapter's check of parameter values without an env, or None (see
        :meth:`~gymsamp.envs.SimAdapter.domain_param_validator`)."""
        return self._adapter.domain_param_validator()

    def apply_domain_param(self, domain_param: Mapping[str, Any] | None) -> dict[str, Any]:
        """Apply ``domain_param`` (nominal for names left out) now; returns the full dict, as
        applied (e.g. ``2`` as ``2.0``) where the adapter says so."""
        full = self.complete_domain_param(domain_param)
        applied = self._adapter.set_domain_param(full)
        return full if applied is None else dict(applied)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if self._inner is not None:  # the inner wrapper applies and reports the parameters
            return self.env.reset(seed=seed, options=options)
        requested, rest = _split_options(options, "domain_param")
        full = self.apply_domain_param(requested)
        obs, info = self.env.reset(seed=seed, options=rest)
        info["domain_param"] = full
        return obs, info


class DomainRandWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """Draws new domain parameters at every reset, before the simulator resets.

    The draw comes from a generator seeded by the reset seed: for ``reset(seed=s)`` the first
    child of the ``SeedSequence(s)`` that also seeds the env's ``np_random`` (a stream of its
    own, so the parameters are independent of the initial state the simulator draws). Resets
    without a seed continue that generator (fresh entropy before the first seeded reset). The
    drawn parameters are applied as ``options["domain_param"]`` would be, so the simulator's
    own reset already runs with them (an initial state that depends on a parameter is drawn
    for the drawn model), and ``reset(seed=s)`` equals
    ``reset(seed=s, options={"domain_param": info["domain_param"]})`` exactly. Explicit
    ``options["domain_param"]`` are applied instead of the draw, which is still made (and
    discarded): the generator advances once per reset and a seeded reset reseeds it, whatever
    the options, so a run replayed with its recorded parameters also replays the draws of its
    later unseeded resets. Parameters the randomizer does not cover stay nominal.

    Args:
        env: An env with a simulator adapter; a :class:`DomainParamWrapper` is added inside if
            the env has none. It must not hold another ``DomainRandWrapper`` (put every
            randomized parameter into one randomizer).
        randomizer: Anything with ``sample(rng) -> dict``, e.g.
            :class:`~gymsamp.envs.DomainRandomizer`.

    Raises:
        TypeError: ``randomizer`` is a single ``DomainParam`` or has no ``sample`` method.
        ValueError: ``env`` already randomizes its domain, or the randomizer names
            parameters the env does not have.

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.envs import DomainRandomizer, UniformDomainParam
        >>> rand = DomainRandomizer(UniformDomainParam("masspole", mean=0.1, halfspan=0.05))
        >>> env = DomainRandWrapper(gym.make("CartPole-v1"), rand)
        >>> obs, info = env.reset(seed=3)
        >>> 0.05 <= info["domain_param"]["masspole"] <= 0.15
        True
        >>> replayed, _ = env.reset(seed=3, options={"domain_param": info["domain_param"]})
        >>> bool((replayed == obs).all())
        True
    """

    def __init__(self, env: gym.Env[Any, Any], randomizer: SupportsSample) -> None:
        check_randomizer(randomizer)
        if find_wrapper(env, DomainRandWrapper) is not None:
            # The inner one's draw would reset the outer one's names to nominal, and only one
            # of them would be reported.
            raise ValueError(
                "env must not already randomize its domain (it holds a DomainRandWrapper); "
                "draw every parameter with one randomizer, DomainRandomizer(param_1, param_2, "
                "...)"
            )
        if find_wrapper(env, DomainParamWrapper) is None:
            env = DomainParamWrapper(env)
        super().__init__(env)
        self.randomizer = randomizer
        self._rng: np.random.Generator | None = None
        # A randomizer that names its parameters is checked now, not at the first reset.
        nominal = find_wrapper(env, DomainParamWrapper).nominal_domain_param
        unknown = sorted(set(getattr(randomizer, "param_names", None) or ()) - set(nominal))
        if unknown:
            raise ValueError(
                f"randomizer draws parameters {unknown} that {type(env.unwrapped).__name__} "
                f"does not have; valid names are {sorted(nominal)}"
            )

    def _generator(self, seed: int | None) -> np.random.Generator:
        if seed is not None:
            if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
                raise ValueError(f"seed must be None or an int >= 0, got {seed!r}")
            # The np_random of reset(seed=s) is Generator(PCG64(SeedSequence(s))): its first
            # child is a stream of its own, not a prefix or a shift of the simulator's.
            child = np.random.SeedSequence(int(seed)).spawn(1)[0]
            self._rng = np.random.Generator(np.random.PCG64(child))
        elif self._rng is None:
            self._rng = np.random.default_rng()
        return self._rng

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options must be a dict or None, got {type(options).__name__}")
        drawn = self.randomizer.sample(rng=self._generator(seed))
        # None counts as "not given", so one options dict may always carry the key. Explicit
        # parameters replace the draw, made anyway: otherwise reset(seed=7) with explicit
        # parameters left the stream of an earlier seed to the unseeded resets after it.
        if options is not None and options.get("domain_param") is not None:
            return self.env.reset(seed=seed, options=options)
        drawn = checked_domain_param(drawn, f"{type(self.randomizer).__name__}.sample()")
        try:
            return self.env.reset(seed=seed, options={**(options or {}), "domain_param": drawn})
        except (TypeError, ValueError) as err:
            refused = self._refused_draw(drawn)
            if refused is None:
                raise
            raise (TypeError if isinstance(err, TypeError) else ValueError)(refused) from err

    def _refused_draw(self, drawn: Mapping[str, Any]) -> str | None:
        """Why the env refuses a drawn value (None if its adapter's check finds none): the env's
        message alone named a value, not the distribution that drew it or what to change."""
        validator = find_wrapper(self.env, DomainParamWrapper).domain_param_validator()
        if validator is None:
            return None
        by_name = {p.name: p for p in getattr(self.randomizer, "domain_params", ())}
        for name, value in drawn.items():
            try:
                validator({name: value})
            except (TypeError, ValueError) as err:
                param = by_name.get(name)
                source = f" ({param})" if param is not None else ""
                return (
                    f"randomizer drew {name}={value}{source}, which "
                    f"{type(self.env.unwrapped).__name__} refuses: {err}; keep the "
                    "distribution within the values the env takes (e.g. with the domain "
                    "parameter's clip_lo / clip_up)"
                )
        return None


class InitStateWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """Starts from ``reset(options={"init_state": x})`` exactly and reports states in ``info``.

    Right after the simulator's own reset (which seeds it; domain parameters are applied) the
    full state is set to ``x``, and the observation that state produces passes through the
    wrappers inside this one, as a reset observation would. ``info["init_state"]``
    holds the initial state (the drawn one if none was given); with ``record_state=True`` every
    ``step`` also reports the full state after the step in ``info["state"]`` (the samplers use
    this to record ``states``).

    Args:
        env: An env with a simulator adapter.
        record_state: Report ``info["state"]`` after every reset and step.

    Example:
        >>> import gymnasium as gym
        >>> env = InitStateWrapper(gym.make("CartPole-v1"))
        >>> obs, info = env.reset(options={"init_state": np.array([0.1, 0.0, 0.05, 0.0])})
        >>> obs.tolist() == np.float32([0.1, 0.0, 0.05, 0.0]).tolist()
        True
    """

    spec = property(_wrapped_spec)

    def __init__(self, env: gym.Env[Any, Any], *, record_state: bool = False) -> None:
        super().__init__(env)
        self._adapter = shared_adapter(env)
        self.record_state = record_state

    @property
    def record_state(self) -> bool:
        """Whether every reset and step reports the full state in ``info["state"]``."""
        return self._record_state

    @record_state.setter
    def record_state(self, value: bool) -> None:
        self._record_state = check_bool("record_state", value)
        # Without recording there is nothing to do per step: hand steps straight to the inner
        # env (one Python frame less on the sampler's hottest path); not past a subclass's own
        # step, which the instance attribute would hide (never called).
        if self._record_state or type(self).step is not InitStateWrapper.step:
            self.__dict__.pop("step", None)
        else:
            self.step = self.env.step  # type: ignore[method-assign]

    @property
    def state_space(self) -> gym.spaces.Box:
        """The space of the full simulator state."""
        return self._adapter.state_space

    # Labels from the simulator adapter, so EnvSpec.from_env(env) can name every dimension.
    @property
    def state_labels(self) -> tuple[str, ...] | None:
        """One name per state dimension, or None."""
        return self._adapter.state_labels

    @property
    def obs_labels(self) -> tuple[str, ...] | None:
        """One name per flat observation dimension, or None."""
        return self._adapter.obs_labels

    @property
    def act_labels(self) -> tuple[str, ...] | None:
        """One name per flat action dimension, or None."""
        return self._adapter.act_labels

    def _checked_state(self, init_state: Any) -> np.ndarray:
        try:
            state = np.asarray(init_state, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"init_state must be an array of numbers, got {init_state!r} ({err})"
            ) from None
        check_init_state(state, self._adapter.state_space, owner=type(self.env.unwrapped).__name__)
        return state

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        requested, rest = _split_options(options, "init_state")
        if requested is None:
            obs, info = self.env.reset(seed=seed, options=rest)
        else:
            state = self._checked_state(requested)
            obs, info = reset_with(
                self.env,
                lambda _: self._adapter.set_state(state.copy()),
                seed=seed,
                options=rest,
                what="init_state",
                reset_info=self._adapter.reset_info,
            )
        info["init_state"] = self._adapter.get_state()
        if self.record_state:
            info["state"] = info["init_state"].copy()
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.record_state:
            info["state"] = self._adapter.get_state()
        return obs, reward, terminated, truncated, info
