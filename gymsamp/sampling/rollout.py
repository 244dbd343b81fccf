"""Single rollouts: :func:`rollout` and the interactive :func:`after_rollout_query`.

``rollout()`` runs the same collection loop as the samplers (on a one-env vector view), which
is why ``sample()`` of a sampler built with ``seed=s`` returns exactly
``[rollout(env, policy, seed=s, sub_seed=c, sub_sub_seed=k) for k in range(n)]``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from gymsamp._checks import check_bool, check_int
from gymsamp._warnings import user_stacklevel
from gymsamp.data import EnvSpec, StepSequence
from gymsamp.envs.adapter import adapter_for, has_adapter
from gymsamp.envs.wrappers import DomainParamWrapper, InitStateWrapper, find_wrapper
from gymsamp.policies import as_policy
from gymsamp.policies.adapters import check_policy_like
from gymsamp.sampling.collector import collect
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.rollout_job import RolloutJob
from gymsamp.sampling.seeding import check_seed
from gymsamp.sampling.vector_envs import (
    EnvFactory,
    SingleEnvVector,
    dt_param_name,
    env_dt,
    env_id_of,
    prepare_env,
)

__all__ = ["RenderMode", "after_rollout_query", "reset_options", "rollout"]

_RESET_KWARGS = ("init_state", "domain_param", "options")


class RenderMode(NamedTuple):
    """What :func:`rollout` shows: step prints (``text``), frames (``video`` / ``render``).

    Example:
        >>> RenderMode(text=True)
        RenderMode(text=True, video=False, render=False)
    """

    text: bool = False
    video: bool = False
    render: bool = False


def reset_options(reset_kwargs: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Reset options from ``rollout``'s ``reset_kwargs`` (init_state, domain_param, options)."""
    if reset_kwargs is None:
        return None
    if not isinstance(reset_kwargs, Mapping):
        raise TypeError(f"reset_kwargs must be a dict, got {type(reset_kwargs).__name__}")
    unknown = sorted(set(reset_kwargs) - set(_RESET_KWARGS))
    if unknown:
        raise ValueError(
            f"reset_kwargs has unknown keys {unknown}; valid keys: {list(_RESET_KWARGS)}"
        )
    options = dict(reset_kwargs.get("options") or {})
    for key in ("init_state", "domain_param"):
        if reset_kwargs.get(key) is not None:
            options[key] = reset_kwargs[key]
    return options or None


class _NoResetVector(SingleEnvVector):
    """Starts from the env's current state instead of resetting it (``no_reset=True``)."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        adapter = adapter_for(self.env)
        state = adapter.get_state()
        obs = adapter.set_state(state.copy())
        info: dict[str, Any] = {"init_state": state, "state": state.copy()}
        params = find_wrapper(self.env, DomainParamWrapper)
        # prepare_env wraps every env with an adapter (which get_state above needs) in one.
        assert params is not None
        info["domain_param"] = params.domain_param
        return self._batch(obs), self._add_info({}, info, 0)


def _check_no_reset(env: gym.Env[Any, Any]) -> None:
    """``no_reset`` rebuilds the first observation from the simulator's state: refuse wrappers
    that would have changed it (their last output is not kept anywhere)."""
    adapter_for(env)  # raises a TypeError naming what the env lacks
    current: Any = env
    while isinstance(current, gym.Wrapper):
        inner = current.env
        if isinstance(current, gym.ObservationWrapper) or (
            current.observation_space != inner.observation_space
        ):
            raise ValueError(
                f"no_reset must be False for an env with an observation wrapper, got True "
                f"with {type(current).__name__} (the first observation is rebuilt from the "
                "simulator's state, which that wrapper would have transformed)"
            )
        current = inner


def rollout(
    env: gym.Env[Any, Any] | str | Callable[[], gym.Env[Any, Any]],
    policy: Any,
    eval: bool = False,
    max_steps: int | None = None,
    reset_kwargs: dict[str, Any] | None = None,
    render_mode: RenderMode = RenderMode(),  # noqa: B008  (immutable NamedTuple)
    render_step: int = 1,
    no_reset: bool = False,
    no_close: bool = False,
    record_dts: bool = False,
    stop_on_done: bool = True,
    seed: int | None = None,
    sub_seed: int | None = None,
    sub_sub_seed: int | None = None,
) -> StepSequence:
    """Run one episode of ``policy`` in ``env`` and record it.

    Args:
        env: An env instance, a registered env id or a factory. gymsamp's domain-parameter
            and init-state wrappers are added where the env has a simulator adapter.
        policy: Anything :func:`gymsamp.policies.as_policy` accepts.
        eval: True for evaluation (torch modules run in ``.eval()`` mode).
        max_steps: Cut the rollout after this many steps (it then ends in ``TIMEOUT``);
            None lets the env's own limit end it.
        reset_kwargs: ``init_state``, ``domain_param`` and/or extra reset ``options``.
        render_mode: Print steps (``text``) and/or call ``env.render()`` (``video``/``render``;
            frames it returns, as for ``render_mode="rgb_array"``, are not kept: a warning says
            so).
        render_step: Render every ``render_step``-th step.
        no_reset: Continue from the env's current state instead of resetting it (needs a
            simulator adapter, and no observation wrapper: the first observation is rebuilt
            from the simulator's state).
        no_close: Keep the env open afterwards (envs built here from an id are always closed).
        record_dts: Record the policy and env step durations per step.
        stop_on_done: False ignores the env's episode end until ``max_steps`` (debugging).
        seed: Base seed; the env is reset with ``derive_seed(seed, sub_seed, sub_sub_seed)``
            and the policy draws from a generator of the same triple. None: no seed.
        sub_seed: Second element of the seed triple (None counts as 0).
        sub_sub_seed: Third element of the seed triple (None counts as 0).

    Returns:
        The rollout: ``observations`` (T+1), ``actions``, ``actions_applied``, ``rewards``,
        ``terminated``, ``truncated``, ``time`` (T+1), ``env_infos`` / ``agent_infos`` where
        reported, ``states`` (T+1) where an adapter exists, and ``rollout_info``.

    Example:
        >>> from gymsamp.policies import IdlePolicy
        >>> import gymnasium as gym
        >>> ro = rollout("CartPole-v1", lambda obs: np.zeros(len(obs), dtype=np.int64), seed=0)
        >>> int(ro.step_types[-1]), ro.observations.shape[0] == ro.length + 1
        (2, True)
    """
    check_seed(seed)
    # Checked even without a seed: sub_sub_seed also numbers the rollout (rollout_index).
    sub_seed = check_seed(sub_seed, "sub_seed")
    sub_sub_seed = check_seed(sub_sub_seed, "sub_sub_seed")
    render_step = check_int("render_step", render_step)
    if not isinstance(render_mode, RenderMode):
        raise TypeError(
            "render_mode must be a RenderMode (e.g. RenderMode(render=True) to call "
            f"env.render(), RenderMode() for none), got {render_mode!r}"
        )
    eval = check_bool("eval", eval)
    no_reset = check_bool("no_reset", no_reset)
    no_close = check_bool("no_close", no_close)
    record_dts = check_bool("record_dts", record_dts)
    stop_on_done = check_bool("stop_on_done", stop_on_done)
    max_steps = None if max_steps is None else check_int("max_steps", max_steps)
    check_policy_like(policy)  # named as this function's argument, before an env is built
    owned = not isinstance(env, gym.Env)
    base = EnvFactory(env)() if owned else env
    assert isinstance(base, gym.Env)
    # prepare_env turns on the state recording of an InitStateWrapper the caller's env already
    # has (the rollout records states): it is put back afterwards, or the caller's own steps
    # would report (and copy) a state each from then on.
    own_wrapper = None if owned else find_wrapper(base, InitStateWrapper)
    recording = own_wrapper is not None and own_wrapper.record_state
    prepared = base  # closed as it is if adding gymsamp's wrappers fails
    try:
        prepared = prepare_env(base)
        result = _record(
            prepared,
            policy,
            eval=eval,
            max_steps=max_steps,
            reset_kwargs=reset_kwargs,
            render_mode=render_mode,
            render_step=render_step,
            no_reset=no_reset,
            record_dts=record_dts,
            stop_on_done=stop_on_done,
            seeds=(seed, sub_seed, sub_sub_seed),
            close=not owned and not no_close,  # the caller's env: once it ran
        )
    finally:
        if own_wrapper is not None:
            own_wrapper.record_state = recording
        if owned:  # built here: closed whatever failed
            prepared.close()
    if render_mode.text:
        print(f"rollout: {result.length} steps, return {result.undiscounted_return():.4g}")
    return result


def _record(
    prepared: gym.Env[Any, Any],
    policy: Any,
    *,
    eval: bool,
    max_steps: int | None,
    reset_kwargs: dict[str, Any] | None,
    render_mode: RenderMode,
    render_step: int,
    no_reset: bool,
    record_dts: bool,
    stop_on_done: bool,
    seeds: tuple[int | None, int | None, int | None],
    close: bool,
) -> StepSequence:
    """:func:`rollout`'s episode in the prepared env (``close``: close it once it ran)."""
    seed, sub_seed, sub_sub_seed = seeds
    options = reset_options(reset_kwargs)
    if options and not has_adapter(prepared) and ({"init_state", "domain_param"} & set(options)):
        adapter_for(prepared)  # raises a TypeError naming what the env lacks
    if no_reset:
        _check_no_reset(prepared)
    if not stop_on_done and max_steps is None:
        max_steps = _time_limit(prepared)
        if max_steps is None:
            raise ValueError(
                "max_steps must be given with stop_on_done=False for an env without a time limit"
            )
    spec = EnvSpec.from_env(prepared)
    policy = as_policy(policy, spec)
    vector = (_NoResetVector if no_reset else SingleEnvVector)(prepared)
    job = RolloutJob.seeded(
        0,
        seed,
        sub_seed or 0,
        sub_sub_seed or 0,
        options=options,
        info={"rollout_index": 0 if sub_sub_seed is None else sub_sub_seed},
    )
    steps = [0]
    frames_dropped = False  # warned once per rollout

    def show(_: int) -> None:
        nonlocal frames_dropped
        steps[0] += 1
        if steps[0] % render_step:
            return
        if render_mode.text:
            print(f"step {steps[0]}")
        frame = prepared.render() if render_mode.render or render_mode.video else None
        if frame is not None and not frames_dropped:
            frames_dropped = True
            warnings.warn(
                f"env.render() returns frames (render_mode={prepared.render_mode!r}), which "
                "rollout() does not keep: make the env with render_mode='human' to watch it, "
                "or wrap it in gymnasium.wrappers.RecordVideo to save them",
                UserWarning,
                stacklevel=user_stacklevel(),
            )

    try:
        (result,) = collect(
            vector,
            policy,
            lambda k: job,
            Quota(min_rollouts=1),
            eval=eval,
            max_steps=max_steps,
            stop_on_done=stop_on_done,
            record_dts=record_dts,
            record_states=has_adapter(prepared),  # prepare_env records them where it can
            dt=env_dt(prepared),
            dt_param=dt_param_name(prepared),
            env_id=env_id_of(prepared),
            on_step=show if any(render_mode) else None,
        )
    finally:
        if close:
            prepared.close()
    return result


def _time_limit(env: gym.Env[Any, Any]) -> int | None:
    """The env's episode limit: its spec's ``max_episode_steps``, else that of a ``TimeLimit``
    wrapper applied by hand (an env built without ``gym.make`` has no spec)."""
    limit = getattr(env.spec, "max_episode_steps", None)
    current: Any = env
    while limit is None and isinstance(current, gym.Wrapper):
        if isinstance(current, gym.wrappers.TimeLimit):
            limit = current._max_episode_steps
        current = current.env
    return limit


def _domain_params(env: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(nominal, current)`` domain parameters of ``env``, or None if it has none."""
    if not isinstance(env, gym.Env):
        return None
    wrapper = find_wrapper(env, DomainParamWrapper)
    if wrapper is not None:
        return wrapper.nominal_domain_param, wrapper.domain_param
    if has_adapter(env):
        adapter = adapter_for(env)
        return adapter.nominal_domain_param(), adapter.get_domain_param()
    return None


def _initial_state(rollout: StepSequence) -> np.ndarray | None:
    """The full state a rollout started from: its first recorded state, else the one its
    reset reported (``rollout_info["init_state"]``; samplers record states only on request),
    or None where there is none (an env without a state adapter). Never its observation,
    which is no state (Pendulum observes cos, sin and velocity of a 2-number state)."""
    if "states" in rollout.data_names:
        states = rollout.get_data_values("states")
        if not isinstance(states, (dict, tuple)):
            return np.asarray(states[0], dtype=np.float64)
    info = rollout.rollout_info
    if isinstance(info, dict) and info.get("init_state") is not None:
        return np.asarray(info["init_state"], dtype=np.float64)
    return None


def after_rollout_query(
    env: gym.Env[Any, Any],
    policy: Any,
    rollout: StepSequence,
    *,
    input_fn: Callable[[str], str] = input,
    print_fn: Callable[[str], None] = print,
) -> tuple[bool, np.ndarray | None, dict[str, Any] | None]:
    """Ask the user what to do after a rollout was shown (the seed's interactive menu).

    Keys: ``C`` (or Enter) continue, ``N`` continue with nominal domain parameters, ``F`` fix
    the initial state (type its values separated by commas or spaces, or Enter for this
    rollout's initial state: its first recorded state, else ``rollout_info["init_state"]``;
    the shape must match), ``I`` print the env, ``D`` print the domain
    parameters, ``E`` exit. Domain parameters come from the env's ``DomainParamWrapper`` or,
    for an env without one, from its simulator adapter.

    Args:
        env: The env the rollout ran in.
        policy: The policy used (printed with ``I``).
        rollout: The rollout just shown.
        input_fn: Reads the answer (injectable for tests).
        print_fn: Shows text (injectable for tests).

    Returns:
        ``(done, init_state, domain_param)``: whether to stop, the initial state to fix (or
        None) and the domain parameters for the next rollout (None: unchanged / randomized).

    Example:
        >>> ro = StepSequence(rewards=[0.0], observations=[[0.0], [1.0]], actions=[[0.0]])
        >>> after_rollout_query(None, None, ro, input_fn=lambda _: "e", print_fn=lambda _: None)
        (True, None, None)
    """
    if not isinstance(rollout, StepSequence):
        raise TypeError(
            f"rollout must be a StepSequence (the rollout shown), got {type(rollout).__name__}"
        )
    menu = (
        "C: continue (with domain randomization)\n"
        "N: set domain parameters to nominal values, and continue\n"
        "F: fix the initial state\n"
        "I: print information about the environment\n"
        "D: print the domain parameters\n"
        "E: exit"
    )
    while True:
        answer = input_fn(menu + "\n").strip().lower()
        if answer in ("", "c"):
            return False, None, None
        if answer == "e":
            return True, None, None
        params = _domain_params(env)
        if answer == "n":
            if params is None:
                print_fn("this env has no domain parameters")
                continue
            return False, None, params[0]
        if answer == "f":
            first = _initial_state(rollout)
            if first is None:
                print_fn(
                    "this rollout holds no initial state (no states, no rollout_info "
                    "'init_state'): its env has no simulator adapter to set one"
                )
                continue
            text = input_fn(f"initial state ({first.size} numbers, Enter for {first.tolist()}): ")
            try:
                values = [float(v) for v in text.replace(",", " ").split()]
            except ValueError:
                print_fn(f"could not read {text!r} as numbers separated by commas or spaces")
                continue
            if values and len(values) != first.size:
                print_fn(f"the initial state needs {first.size} numbers, got {len(values)}")
                continue
            return False, np.reshape(values, first.shape) if values else first, None
        if answer == "i":
            print_fn(f"env: {env}\npolicy: {policy}\nrollout: {rollout}")
        elif answer == "d":
            print_fn(str(params[1] if params is not None else "no domain parameters"))
        else:
            print_fn(f"unknown choice {answer!r}")
