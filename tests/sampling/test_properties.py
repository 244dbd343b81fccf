"""Property-based tests of the sampling contract (DESIGN §3, §4) with generated configurations.

For generated envs (gymsamp's toy envs), policies, worker counts, bounds, cuts, call indices and
reset payloads, a sampler built with ``seed=s`` returns in call ``c`` exactly the rollouts of
sequential ``rollout(env, policy, seed=s, sub_seed=c, sub_sub_seed=k)`` calls; independently of
that reference, the result is the shortest prefix meeting the bounds, payload ``k`` reaches
rollout ``k`` by the documented rules, and step types, flags and final observations follow the
env's known answers under every autoreset mode of the collection loop.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gymsamp.data import EnvSpec, StepType
from gymsamp.envs import CountingEnv, RandomLengthEnv
from gymsamp.policies import GaussianActionNoise, IdlePolicy, LinearPolicy, RandomPolicy, as_policy
from gymsamp.sampling import (
    CVaRSampler,
    ParallelRolloutSampler,
    ParameterExplorationSampler,
    Quota,
    RolloutJob,
    collect,
    eval_domain_params,
    rollout,
)
from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.in_process_vector_env import InProcessVectorEnv
from gymsamp.sampling.seeding import derive_seed
from tests.helpers import plain

FIELDS = (
    "observations",
    "actions",
    "actions_applied",
    "rewards",
    "terminated",
    "truncated",
    "time",
)


# --- envs and policies (module level: the async / batched workers must be able to build them) ---


class FragileCountingEnv(CountingEnv):
    """A counting env whose step fails once the count reaches 100 (an init state of 100 makes a
    call fail in a sub-env, after its arguments were accepted)."""

    def step(self, action: Any) -> Any:
        if self.get_state()[0] >= 100:
            raise RuntimeError("the count reached 100")
        return super().step(action)


class DrawnLengthCountingEnv(FragileCountingEnv):
    """A counting env whose episode length is drawn from its reset seed (1..6 steps): uneven
    episode ends, with the counting env's domain parameter and state."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        obs, info = super().reset(seed=seed, options=options)
        self.terminate_at = int(self.np_random.integers(1, 7))
        return obs, info


def point_mass(limit: int) -> gym.Env[Any, Any]:
    """The registered point mass with a short time limit."""
    return gym.make("gymsamp/PointMass-v0", max_episode_steps=limit)


def discrete_rule(obs: np.ndarray) -> np.ndarray:
    """A deterministic callable policy for the Discrete(2) envs."""
    return (obs[:, 0] % 2 > 0.5).astype(np.int64)


def force_rule(obs: np.ndarray) -> np.ndarray:
    """A deterministic callable policy for the point mass; it commands forces past the bounds,
    so ``actions`` and ``actions_applied`` differ."""
    return -3.0 * obs[:, :1]


def make_policy(kind: str, space: gym.Space[Any]) -> Any:
    if kind == "random":
        return RandomPolicy(space)
    if kind == "callable":
        return force_rule if isinstance(space, gym.spaces.Box) else discrete_rule
    if kind == "noise" and isinstance(space, gym.spaces.Box):
        return GaussianActionNoise(IdlePolicy(space), std=0.7)
    if kind == "noisy_callable" and isinstance(space, gym.spaces.Box):
        spec = EnvSpec(gym.spaces.Box(-np.inf, np.inf, (2,), np.float32), space)
        return GaussianActionNoise(as_policy(force_rule, spec), std=np.array([0.3]))
    return IdlePolicy(space)


# --- strategies ---------------------------------------------------------------------------------

counts = st.integers(1, 6)


@st.composite
def env_cases(draw: st.DrawFn) -> dict[str, Any]:
    """An env factory, what it is, and whether it takes reset payloads."""
    kind = draw(st.sampled_from(["counting", "random_length", "point_mass"]))
    if kind == "counting":
        terminate_at = draw(st.none() | counts)
        # equal ends are drawn often: both flags on one step (termination wins)
        truncate_at = draw(st.none() | counts | st.just(terminate_at))
        if terminate_at is None and truncate_at is None:
            truncate_at = draw(counts)
        factory: Any = functools.partial(
            FragileCountingEnv, terminate_at=terminate_at, truncate_at=truncate_at
        )
        return {"kind": kind, "factory": factory, "ends": (terminate_at, truncate_at)}
    if kind == "random_length":
        factory = functools.partial(RandomLengthEnv, mean_length=draw(st.integers(1, 5)))
        return {"kind": kind, "factory": factory}
    factory = functools.partial(point_mass, draw(st.integers(1, 12)))
    return {"kind": kind, "factory": factory}


def state_lists(kind: str) -> st.SearchStrategy[list[np.ndarray] | None]:
    size = 2 if kind == "point_mass" else 1
    state = st.lists(st.integers(-4, 4), min_size=size, max_size=size).map(
        lambda v: np.array(v, dtype=np.float64) / 2
    )
    # None entries: the env's own initial state for that setting
    return st.none() | st.lists(state | st.none(), min_size=1, max_size=3)


def param_lists(kind: str) -> st.SearchStrategy[list[dict[str, float]] | None]:
    if kind == "point_mass":
        param = st.fixed_dictionaries(
            {},
            optional={
                "mass": st.sampled_from([0.5, 2.0]),
                "friction": st.sampled_from([0.0, 0.1]),
                "dt": st.sampled_from([0.02, 0.1]),
            },
        )
    else:
        param = st.fixed_dictionaries({}, optional={"increment": st.sampled_from([-1.0, 0.5])})
    # None entries and empty dicts: nominal parameters for that setting
    return st.none() | st.lists(param | st.none(), min_size=1, max_size=3)


#: Settings of earlier calls that a later call must not inherit (they are not sticky).
OTHER_SETTINGS = {
    "counting": {"init_states": [np.array([7.0])], "domain_params": [{"increment": 0.25}]},
    "point_mass": {
        "init_states": [np.array([3.0, -3.0])],
        "domain_params": [{"mass": 3.0, "friction": 1.0, "dt": 0.2}],
    },
    "random_length": {},
}


@st.composite
def bounds(draw: st.DrawFn) -> dict[str, int]:
    """min_rollouts 1-9, min_steps 1-60, or both."""
    which = draw(st.sampled_from(["rollouts", "steps", "both"]))
    result = {}
    if which != "steps":
        result["min_rollouts"] = draw(st.integers(1, 9))
    if which != "rollouts":
        result["min_steps"] = draw(st.integers(1, 60))
    return result


# --- the reference and the independent checks -----------------------------------------------------


def settings_of(init_states: Any, domain_params: Any) -> list[dict[str, Any]]:
    """The reset settings in the documented order: init-state-major product."""
    states = [None] if init_states is None else list(init_states)
    params = [None] if domain_params is None else list(domain_params)
    out = []
    for state in states:
        for param in params:
            setting = {}
            if state is not None:
                setting["init_state"] = state
            if param is not None:
                setting["domain_param"] = param
            out.append(setting)
    return out


def expected_count(lengths: list[int], min_rollouts: int | None, min_steps: int | None) -> int:
    """The shortest prefix of ``lengths`` meeting both bounds."""
    total = 0
    for k, length in enumerate(lengths):
        if k >= (min_rollouts or 0) and total >= (min_steps or 0):
            return k
        total += length
    return len(lengths)


def reference(
    factory: Any,
    policy: Any,
    *,
    seed: int,
    call: int,
    count: int,
    max_steps: int | None,
    payloads: list[dict[str, Any]],
) -> list[Any]:
    """``count`` sequential rollout() calls, rollout ``k`` with setting ``k mod len``."""
    result = []
    for k in range(count):
        setting = payloads[k % len(payloads)] if payloads else {}
        result.append(
            rollout(
                factory,
                policy,
                seed=seed,
                sub_seed=call,
                sub_sub_seed=k,
                max_steps=max_steps,
                reset_kwargs=setting or None,
            )
        )
    return result


def step_types_of(terminated: np.ndarray, truncated: np.ndarray) -> list[int]:
    """DESIGN §3, written out: TERMINAL wins, then TIMEOUT, then FIRST at t == 0, else MID."""
    types = []
    for t, (term, trunc) in enumerate(zip(terminated, truncated, strict=True)):
        if term:
            types.append(int(StepType.TERMINAL))
        elif trunc:
            types.append(int(StepType.TIMEOUT))
        else:
            types.append(int(StepType.FIRST if t == 0 else StepType.MID))
    return types


def check_rollout_shape(ro: Any, max_steps: int | None, where: str) -> None:
    """Time alignment and step types of one rollout, from its own flags."""
    assert ro.length >= 1, where
    assert len(ro.observations) == ro.length + 1, where
    assert ro.step_types.tolist() == step_types_of(ro.terminated, ro.truncated), where
    done = np.asarray(ro.terminated) | np.asarray(ro.truncated)
    assert not done[:-1].any(), f"{where}: an episode end before the last step"
    assert done[-1], f"{where}: the last step ends neither by the env nor by max_steps"
    if max_steps is not None:
        assert ro.length <= max_steps, where


def check_counting(
    ro: Any,
    ends: tuple[int | None, int | None],
    max_steps: int | None,
    setting: dict[str, Any],
    where: str,
) -> None:
    """Known answers of a CountingEnv rollout: its length, observations, rewards and flags."""
    terminate_at, truncate_at = ends
    length = min(x for x in (terminate_at, truncate_at, max_steps) if x is not None)
    assert ro.length == length, where
    start = float(setting.get("init_state", [0.0])[0])
    increment = float(setting.get("domain_param", {}).get("increment", 1.0))
    # The env counts in float64 and observes float32; these values are exact in both.
    counts_ = start + increment * np.arange(length + 1)
    np.testing.assert_array_equal(ro.observations[:, 0], counts_.astype(np.float32), err_msg=where)
    np.testing.assert_array_equal(ro.rewards, np.arange(1, length + 1), err_msg=where)
    steps = np.arange(1, length + 1)
    want_term = steps >= terminate_at if terminate_at is not None else np.zeros(length, bool)
    np.testing.assert_array_equal(ro.terminated, want_term, err_msg=where)
    want_trunc = steps >= truncate_at if truncate_at is not None else np.zeros(length, bool)
    if max_steps is not None and length == max_steps and not ro.terminated[-1]:
        want_trunc = want_trunc.copy()
        want_trunc[-1] = True  # cut by the sampler: TIMEOUT
    np.testing.assert_array_equal(ro.truncated, want_trunc, err_msg=where)


def compare(
    got: list[Any],
    want: list[Any],
    where: str,
    *,
    states: bool = False,
    keys: tuple[str, ...] = ("seed", "rollout_index", "domain_param"),
) -> None:
    assert len(got) == len(want), f"{where}: {len(got)} rollouts, want {len(want)}"
    for k, (ro, ref) in enumerate(zip(got, want, strict=True)):
        at = f"{where}, rollout {k}"
        for name in FIELDS:
            value, expected = np.asarray(getattr(ro, name)), np.asarray(getattr(ref, name))
            np.testing.assert_array_equal(value, expected, err_msg=f"{at}: {name}")
            assert value.dtype == expected.dtype, f"{at}: {name} {value.dtype} {expected.dtype}"
        assert ro.step_types.tolist() == ref.step_types.tolist(), at
        for key in keys:
            assert ro.rollout_info.get(key) == ref.rollout_info.get(key), f"{at}: {key}"
        np.testing.assert_array_equal(
            ro.rollout_info.get("init_state"), ref.rollout_info.get("init_state"), err_msg=at
        )
        assert plain(ro.rollout_info.get("final_info")) == plain(
            ref.rollout_info.get("final_info")
        ), at
        assert plain(getattr(ro, "env_infos", None)) == plain(getattr(ref, "env_infos", None)), at
        if states:  # rollout() records the states wherever an adapter reads them
            np.testing.assert_array_equal(ro.states, ref.states, err_msg=f"{at}: states")
            np.testing.assert_array_equal(ro.states[0], ro.rollout_info["init_state"], err_msg=at)


def check_result(
    got: list[Any],
    *,
    seed: int,
    call: int,
    quota: dict[str, int | None],
    max_steps: int | None,
    payloads: list[dict[str, Any]],
    where: str,
) -> None:
    """What holds of a sample() result without any reference rollouts."""
    lengths = [ro.length for ro in got]
    # The shortest prefix: one rollout fewer would miss a bound.
    assert len(got) == expected_count(lengths, quota["min_rollouts"], quota["min_steps"]), (
        f"{where}: lengths {lengths} for {quota}"
    )
    for k, ro in enumerate(got):
        at = f"{where}, rollout {k}"
        assert ro.rollout_info["rollout_index"] == k, at
        assert ro.rollout_info["seed"] == derive_seed(seed, call, k), at
        check_rollout_shape(ro, max_steps, at)
        dt = ro.rollout_info.get("domain_param", {}).get("dt", 1.0)  # PointMass: its dt
        np.testing.assert_allclose(ro.time, dt * np.arange(ro.length + 1), err_msg=at)
        if payloads:
            setting = payloads[k % len(payloads)]
            if "init_state" in setting:
                np.testing.assert_array_equal(
                    ro.rollout_info["init_state"], setting["init_state"], err_msg=at
                )
            applied = ro.rollout_info["domain_param"]
            for name, value in setting.get("domain_param", {}).items():
                assert applied[name] == value, f"{at}: {name}"


def sampler_quota(bounds_: dict[str, int], payloads: list[dict[str, Any]]) -> dict[str, int | None]:
    """The bounds sample() works to: with payloads and no min_steps, every setting gets the
    same number of rollouts."""
    min_rollouts, min_steps = bounds_.get("min_rollouts"), bounds_.get("min_steps")
    if payloads and min_steps is None:
        min_rollouts = math.ceil((min_rollouts or 1) / len(payloads)) * len(payloads)
    return {"min_rollouts": min_rollouts, "min_steps": min_steps}


def reference_count(
    factory: Any,
    policy: Any,
    seed: int,
    call: int,
    max_steps: int | None,
    payloads: list[dict[str, Any]],
    quota: dict[str, int | None],
) -> list[Any]:
    """Sequential rollouts until the quota is met (the reference of a sample() call)."""
    result: list[Any] = []
    steps = 0
    while len(result) < (quota["min_rollouts"] or 0) or steps < (quota["min_steps"] or 0):
        k = len(result)
        result += reference(
            factory,
            policy,
            seed=seed,
            call=call,
            count=k + 1,
            max_steps=max_steps,
            payloads=payloads,
        )[k:]
        steps += result[-1].length
    return result


def refuse_a_call(sampler: ParallelRolloutSampler, kind: str) -> None:
    """A sample() call refused for its arguments, with a message naming them."""
    if kind == "random_length":  # no simulator adapter: no reset payloads
        with pytest.raises(TypeError, match="RandomLength"):
            sampler.sample(init_states=[np.zeros(2)])
    else:
        with pytest.raises(ValueError, match="domain_params .*unknown names \\['nope'\\]"):
            sampler.sample(domain_params=[{"nope": 1.0}])
    with pytest.raises(TypeError, match="eval"):
        sampler.sample(eval="yes")


def fail_a_call(sampler: ParallelRolloutSampler) -> None:
    """A sample() call that fails in a sub-env of a FragileCountingEnv."""
    with pytest.raises(WorkerError, match="the count reached 100"):
        sampler.sample(init_states=[np.array([100.0])])


# --- in-process sampler: many generated configurations ------------------------------------------


@settings(max_examples=250)
@given(data=st.data())
def test_sync_sampler_returns_the_sequential_rollouts(data: st.DataObject) -> None:
    case = data.draw(env_cases(), label="env")
    kind = case["kind"]
    with contextlib.closing(case["factory"]()) as probe:
        space = probe.action_space
    policy_kind = data.draw(
        st.sampled_from(["idle", "random", "callable", "noise", "noisy_callable"]), "policy"
    )
    workers = data.draw(st.integers(1, 4), label="num_workers")
    bounds_ = data.draw(bounds(), label="bounds")
    max_steps = data.draw(st.none() | st.integers(1, 8), label="max_steps")
    call = data.draw(st.integers(0, 2), label="call")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    init_states = domain_params = None
    if kind != "random_length":  # the other toy envs take reset payloads
        init_states = data.draw(state_lists(kind), label="init_states")
        domain_params = data.draw(param_lists(kind), label="domain_params")
    if (
        init_states is not None
        and all(state is not None for state in init_states)
        and data.draw(st.booleans(), label="init_states as a 2-D array")
    ):
        init_states = np.stack(init_states)  # one state per row
    payload_kwargs = {"init_states": init_states, "domain_params": domain_params}
    payloads = (
        []
        if init_states is None and domain_params is None
        else settings_of(init_states, domain_params)
    )
    quota = sampler_quota(bounds_, payloads)

    # Earlier calls, with their own payloads, and calls refused for their arguments (which do
    # not count) must not change call c's result.
    before = [
        data.draw(
            st.sampled_from(
                ["same", "none", "other", "refused"] + ["failed"] * (kind == "counting")
            ),
            label=f"call {c}",
        )
        for c in range(call)
    ]
    record_states = kind != "random_length" and data.draw(st.booleans(), label="record_states")
    # An env instance is copied into every sub-env: the same rollouts as from its factory.
    as_instance = data.draw(st.booleans(), label="env instance")
    instance = case["factory"]() if as_instance else None
    with (
        contextlib.closing(instance) if instance is not None else contextlib.nullcontext(),
        ParallelRolloutSampler(
            case["factory"] if instance is None else instance,
            make_policy(policy_kind, space),
            workers,
            **bounds_,
            max_steps=max_steps,
            seed=seed,
            vectorization="sync",
            record_states=record_states,
            show_progress_bar=False,
        ) as sampler,
    ):
        for how in before:
            if how == "refused":
                refuse_a_call(sampler, kind)
            if how == "failed":  # a failed call counts (its sub_seed is used up)
                fail_a_call(sampler)
                continue
            kwargs = {"same": payload_kwargs, "other": OTHER_SETTINGS[kind]}.get(how, {})
            sampler.sample(**kwargs)
        got = sampler.sample(**payload_kwargs)
    where = (
        f"{kind} {policy_kind} workers={workers} {bounds_} max_steps={max_steps} call={call} "
        f"instance={as_instance}"
    )
    check_result(
        got,
        seed=seed,
        call=call,
        quota=quota,
        max_steps=max_steps,
        payloads=payloads,
        where=where,
    )
    if kind == "counting":
        for k, ro in enumerate(got):
            setting = payloads[k % len(payloads)] if payloads else {}
            check_counting(ro, case["ends"], max_steps, setting, f"{where}, rollout {k}")
    want = reference_count(
        case["factory"], make_policy(policy_kind, space), seed, call, max_steps, payloads, quota
    )
    compare(got, want, where, states=record_states)
    if record_states:
        assert all(len(ro.states) == ro.length + 1 for ro in got), where


# --- worker processes: one sampler per vectorization, reused across examples ---------------------


class _Shared:
    """A sampler reused across examples, and how many calls it has made (the next call's
    ``sub_seed``)."""

    def __init__(self, sampler: ParallelRolloutSampler) -> None:
        self.sampler = sampler
        self.calls = 0


@pytest.fixture(scope="module", params=["async", "batched"])
def shared(request: pytest.FixtureRequest) -> Iterator[_Shared]:
    with ParallelRolloutSampler(
        DrawnLengthCountingEnv,
        discrete_rule,
        4 if request.param == "batched" else 3,
        min_rollouts=1,
        seed=11,
        vectorization=request.param,
        show_progress_bar=False,
    ) as sampler:
        yield _Shared(sampler)


@pytest.mark.slow
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_worker_processes_return_the_sequential_rollouts(
    shared: _Shared, data: st.DataObject
) -> None:
    sampler = shared.sampler
    bounds_ = data.draw(bounds(), label="bounds")
    max_steps = data.draw(st.none() | st.integers(1, 5), label="max_steps")
    init_states = data.draw(state_lists("counting"), label="init_states")
    domain_params = data.draw(param_lists("counting"), label="domain_params")
    payloads = (
        []
        if init_states is None and domain_params is None
        else settings_of(init_states, domain_params)
    )
    quota = sampler_quota(bounds_, payloads)
    sampler.set_min_count(**bounds_)
    sampler.max_steps = max_steps
    if data.draw(st.integers(0, 4), label="fail first") == 0:
        fail_a_call(sampler)
        shared.calls += 1
    call = shared.calls
    shared.calls += 1
    got = sampler.sample(init_states=init_states, domain_params=domain_params)
    where = f"{sampler.vectorization_used} {bounds_} max_steps={max_steps} call={call}"
    check_result(
        got,
        seed=11,
        call=call,
        quota=quota,
        max_steps=max_steps,
        payloads=payloads,
        where=where,
    )
    want = reference_count(
        DrawnLengthCountingEnv, discrete_rule, 11, call, max_steps, payloads, quota
    )
    compare(got, want, where)


# --- the collection loop on Gymnasium's vector envs, in every autoreset mode -------------------


def counting_factories(ends: list[tuple[int | None, int | None]]) -> list[Any]:
    """Counting sub-envs with the given (terminate_at, truncate_at) ends; sub-env i counts by
    i + 1, so a rollout's observations tell which sub-env ran it."""
    return [
        functools.partial(CountingEnv, terminate_at=t, truncate_at=u, increment=float(i + 1))
        for i, (t, u) in enumerate(ends)
    ]


def collect_and_check(
    envs: gym.vector.VectorEnv,
    bounds_: dict[str, int],
    max_steps: int | None,
    *,
    seed: int,
    call: int,
    where: str,
) -> list[Any]:
    """Collect from ``envs`` with the discrete rule (and close them), check the quota's prefix
    and the seeds of the result, and return it."""
    with contextlib.closing(envs):
        got = collect(
            envs,
            as_policy(
                discrete_rule, EnvSpec(envs.single_observation_space, envs.single_action_space)
            ),
            lambda k: RolloutJob.seeded(k, seed, call, k),
            Quota(**bounds_),
            max_steps=max_steps,
        )
    quota = {"min_rollouts": bounds_.get("min_rollouts"), "min_steps": bounds_.get("min_steps")}
    check_result(
        got, seed=seed, call=call, quota=quota, max_steps=max_steps, payloads=[], where=where
    )
    return got


def collect_and_check_counting(
    envs: gym.vector.VectorEnv,
    ends: list[tuple[int | None, int | None]],
    bounds_: dict[str, int],
    max_steps: int | None,
    *,
    seed: int,
    call: int,
    where: str,
) -> None:
    """:func:`collect_and_check` for ``envs`` of :func:`counting_factories`, plus each rollout
    against its sub-env's known answers."""
    got = collect_and_check(envs, bounds_, max_steps, seed=seed, call=call, where=where)
    for k, ro in enumerate(got):
        increment = float(ro.observations[1, 0] - ro.observations[0, 0])
        sub_env = int(increment) - 1
        assert increment == sub_env + 1, where
        assert 0 <= sub_env < len(ends), where
        setting = {"domain_param": {"increment": increment}}
        check_counting(ro, ends[sub_env], max_steps, setting, f"{where}, rollout {k}")


@settings(max_examples=150)
@given(
    ends=st.lists(st.tuples(st.none() | counts, st.none() | counts), min_size=1, max_size=4),
    mode=st.sampled_from(
        [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED, "ours"]
    ),
    bounds_=bounds(),
    max_steps=st.none() | st.integers(1, 7),
    seed=st.integers(0, 2**32 - 1),
)
def test_collection_boundaries_in_every_autoreset_mode(
    ends: list[tuple[int | None, int | None]],
    mode: Any,
    bounds_: dict[str, int],
    max_steps: int | None,
    seed: int,
) -> None:
    ends = [(t, u if t is not None or u is not None else 3) for t, u in ends]
    fns = counting_factories(ends)
    envs = (
        InProcessVectorEnv([fn() for fn in fns], autoreset_mode=AutoresetMode.NEXT_STEP)
        if mode == "ours"
        else SyncVectorEnv(fns, autoreset_mode=mode)
    )
    where = f"{mode} ends={ends} {bounds_} max_steps={max_steps}"
    collect_and_check_counting(envs, ends, bounds_, max_steps, seed=seed, call=0, where=where)


@pytest.mark.slow
@settings(max_examples=6)
@given(
    ends=st.lists(st.tuples(st.none() | counts, counts), min_size=1, max_size=3),
    mode=st.sampled_from(
        [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]
    ),
    bounds_=bounds(),
    max_steps=st.none() | st.integers(1, 7),
)
def test_collection_boundaries_on_gymnasium_async_vector_env(
    ends: list[tuple[int | None, int]], mode: Any, bounds_: dict[str, int], max_steps: int | None
) -> None:
    envs = gym.vector.AsyncVectorEnv(counting_factories(ends), autoreset_mode=mode)
    where = f"async {mode} ends={ends} {bounds_} max_steps={max_steps}"
    collect_and_check_counting(envs, ends, bounds_, max_steps, seed=5, call=1, where=where)


@pytest.mark.slow
@settings(max_examples=25)
@given(
    data=st.data(),
    ends=st.lists(st.tuples(st.none() | counts, counts), min_size=2, max_size=4),
    mode=st.sampled_from(
        [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]
    ),
    bounds_=bounds(),
    max_steps=st.none() | st.integers(1, 7),
)
def test_collection_boundaries_on_batched_workers_with_a_parent_block(
    data: st.DataObject,
    ends: list[tuple[int | None, int]],
    mode: Any,
    bounds_: dict[str, int],
    max_steps: int | None,
) -> None:
    # gymsamp's batched vector env, some sub-envs in this process (as "auto" lays it out)
    in_parent = data.draw(st.integers(0, len(ends) - 1), label="in_parent")
    workers = data.draw(st.integers(1, min(2, len(ends) - in_parent)), label="workers")
    envs = BatchedAsyncVectorEnv(
        counting_factories(ends), workers, in_parent=in_parent, autoreset_mode=mode
    )
    where = f"batched {mode} in_parent={in_parent} ends={ends} {bounds_} max_steps={max_steps}"
    collect_and_check_counting(envs, ends, bounds_, max_steps, seed=5, call=1, where=where)


@settings(max_examples=60)
@given(
    ends=st.tuples(st.none() | counts, counts),
    workers=st.integers(1, 4),
    min_steps=st.integers(1, 30),
    min_rollouts=st.none() | st.integers(1, 5),
    num_settings=st.integers(2, 6),
    failing=st.data(),
    vectorization=st.sampled_from(["sync"] * 5 + ["batched"]),
)
def test_min_steps_drops_a_failed_surplus_rollout(
    ends: tuple[int | None, int],
    workers: int,
    min_steps: int,
    min_rollouts: int | None,
    num_settings: int,
    failing: st.DataObject,
    vectorization: str,
) -> None:
    # Setting f starts from a count of 100, where the env fails at its first step: the call
    # fails only if rollout f (or a later one using it) is part of the result.
    f = failing.draw(st.integers(0, num_settings - 1), label="failing setting")
    states = [np.array([100.0 if i == f else float(i)]) for i in range(num_settings)]
    factory = functools.partial(FragileCountingEnv, terminate_at=ends[0], truncate_at=ends[1])
    length = min(x for x in ends if x is not None)
    # Every rollout but the failing ones has the same length: the result needs K of them.
    needed = max(min_rollouts or 0, math.ceil(min_steps / length))
    with ParallelRolloutSampler(
        factory,
        discrete_rule,
        workers,
        min_steps=min_steps,
        min_rollouts=min_rollouts,
        seed=3,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        if needed > f:
            with pytest.raises(WorkerError, match="the count reached 100"):
                sampler.sample(init_states=states)
            return
        got = sampler.sample(init_states=states)
        # and the sampler goes on, with the next call's seeds
        again = sampler.sample(init_states=states[:f] or None)
    payloads = settings_of(states, None)
    where = f"ends={ends} workers={workers} {min_steps=} {min_rollouts=} {f=} {vectorization}"
    quota = {"min_rollouts": min_rollouts, "min_steps": min_steps}
    check_result(got, seed=3, call=0, quota=quota, max_steps=None, payloads=payloads, where=where)
    compare(got, reference_count(factory, discrete_rule, 3, 0, None, payloads, quota), where)
    payloads = settings_of(states[:f], None) if f else []
    compare(again, reference_count(factory, discrete_rule, 3, 1, None, payloads, quota), where)


@settings(max_examples=40)
@given(
    data=st.data(),
    limit=st.integers(1, 12),
    workers=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    pool_max_steps=st.none() | st.integers(1, 6),
    max_steps=st.none() | st.integers(1, 6),
)
def test_eval_domain_params_returns_the_sequential_rollouts(
    data: st.DataObject,
    limit: int,
    workers: int,
    seed: int,
    pool_max_steps: int | None,
    max_steps: int | None,
) -> None:
    params = data.draw(
        param_lists("point_mass").filter(lambda p: p is not None and None not in p), "params"
    )
    init_state = data.draw(state_lists("point_mass").map(lambda s: s and s[0]), "init_state")
    policy_kind = data.draw(st.sampled_from(["idle", "callable", "noise", "random"]), "policy")
    factory = functools.partial(point_mass, limit)
    space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    as_sampler = data.draw(st.booleans(), label="pool is a sampler")
    with ParallelRolloutSampler(
        factory,
        make_policy(policy_kind, space),
        workers,
        min_rollouts=1,
        max_steps=pool_max_steps,
        vectorization="sync",
        show_progress_bar=False,
    ) as pool_sampler:
        got = eval_domain_params(
            pool_sampler if as_sampler else workers,
            factory,
            make_policy(policy_kind, space),
            params,
            init_state=init_state,
            seed=seed,
            max_steps=max_steps,
        )
    cut = max_steps if max_steps is not None else (pool_max_steps if as_sampler else None)
    want = [
        rollout(
            factory,
            make_policy(policy_kind, space),
            eval=True,
            seed=seed,
            sub_seed=0,
            sub_sub_seed=k,
            max_steps=cut,
            reset_kwargs={
                "domain_param": param,
                **({} if init_state is None else {"init_state": init_state}),
            },
        )
        for k, param in enumerate(params)
    ]
    where = f"{policy_kind} {workers=} {as_sampler=} {pool_max_steps=} {max_steps=} {limit=}"
    compare(got, want, where)


@settings(max_examples=40)
@given(
    epsilon=st.sampled_from([0.1, 0.2, 0.25, 0.3, 0.5, 0.7, 0.9, 1.0]) | st.floats(0.05, 1.0),
    bounds_=bounds().filter(
        lambda b: b.get("min_rollouts", 0) <= 5 and b.get("min_steps", 0) <= 20
    ),
    gamma=st.sampled_from([1.0, 0.9, 0.0]),
    workers=st.integers(1, 4),
    mean_length=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_cvar_sampler_keeps_the_worst_of_the_sequential_rollouts(
    epsilon: float,
    bounds_: dict[str, int],
    gamma: float,
    workers: int,
    mean_length: int,
    seed: int,
) -> None:
    factory = functools.partial(RandomLengthEnv, mean_length=mean_length)
    inner = ParallelRolloutSampler(
        factory,
        discrete_rule,
        workers,
        min_rollouts=1,
        seed=seed,
        show_progress_bar=False,
        vectorization="sync",
    )
    with CVaRSampler(inner, epsilon, gamma, **bounds_) as sampler:
        got = sampler.sample()
    # The full set: the shortest prefix of at least ceil(min_rollouts / epsilon) rollouts
    # (ceil(1 / epsilon) without min_rollouts) and min_steps / epsilon steps.
    need = math.ceil(round((bounds_.get("min_rollouts") or 1) / epsilon, 9))
    steps = bounds_.get("min_steps")
    quota = {
        "min_rollouts": need,
        "min_steps": None if steps is None else math.ceil(round(steps / epsilon, 9)),
    }
    full = reference_count(factory, discrete_rule, seed, 0, None, [], quota)
    count = math.floor(round(epsilon * len(full), 9))
    assert count >= (bounds_.get("min_rollouts") or 1)
    order = sorted(range(len(full)), key=lambda i: full[i].discounted_return(gamma))
    where = f"{epsilon=} {bounds_} {gamma=} {workers=} {mean_length=}"
    compare(got, [full[i] for i in order[:count]], where)


@settings(max_examples=30)
@given(
    data=st.data(),
    limit=st.integers(1, 8),
    workers=st.integers(1, 4),
    per_domain=st.integers(1, 2),
    num_domains=st.integers(1, 2),
    seed=st.integers(0, 2**32 - 1),
    call=st.integers(0, 1),
)
def test_parameter_exploration_returns_the_sequential_rollouts(
    data: st.DataObject,
    limit: int,
    workers: int,
    per_domain: int,
    num_domains: int,
    seed: int,
    call: int,
) -> None:
    factory = functools.partial(point_mass, limit)
    with contextlib.closing(factory()) as probe:
        spec = EnvSpec.from_env(probe)
    values = st.integers(-4, 4).map(lambda v: v / 2)
    param_sets = np.array(
        data.draw(st.lists(st.lists(values, min_size=3, max_size=3), min_size=1, max_size=3))
    )
    pairs = per_domain * num_domains
    init_states = data.draw(
        st.none()
        | st.lists(
            st.lists(values, min_size=2, max_size=2).map(np.array),
            min_size=per_domain,
            max_size=per_domain,
        )
        | st.lists(
            st.lists(values, min_size=2, max_size=2).map(np.array), min_size=pairs, max_size=pairs
        ),
        label="init_states",
    )
    with ParameterExplorationSampler(
        factory, LinearPolicy(spec), per_domain, num_domains, workers, seed=seed
    ) as sampler:
        for _ in range(call + 1):
            result = sampler.sample(param_sets, init_states=init_states)
    assert len(result) == len(param_sets)
    states = None if init_states is None else list(init_states)
    if states is not None and len(states) == per_domain:
        states = states * num_domains
    for p, sample in enumerate(result):
        np.testing.assert_array_equal(sample.params, param_sets[p])
        want = [
            rollout(
                factory,
                LinearPolicy(spec, weight=param_sets[p][None, :2], bias=param_sets[p][2:]),
                eval=True,
                seed=seed,
                sub_seed=call,
                sub_sub_seed=i,
                reset_kwargs=None if states is None else {"init_state": states[i]},
            )
            for i in range(pairs)
        ]
        where = f"param set {p} {workers=} {per_domain=} {num_domains=} {call=}"
        compare(sample.rollouts, want, where, keys=("seed", "domain_param"))
        for i, ro in enumerate(sample.rollouts):
            assert ro.rollout_info["param_set_index"] == p, where
            assert ro.rollout_info["domain_index"] == i // per_domain, where


@settings(max_examples=60)
@given(
    num_envs=st.integers(1, 4),
    mean_length=st.integers(1, 5),
    mode=st.sampled_from(
        [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED, "ours"]
    ),
    bounds_=bounds(),
    max_steps=st.none() | st.integers(1, 7),
    seed=st.integers(0, 2**32 - 1),
    call=st.integers(0, 2),
)
def test_collection_of_seeded_lengths_equals_sequential_rollouts_in_every_autoreset_mode(
    num_envs: int,
    mean_length: int,
    mode: Any,
    bounds_: dict[str, int],
    max_steps: int | None,
    seed: int,
    call: int,
) -> None:
    # Episode lengths drawn from each reset seed: the result depends on the seeds alone, not on
    # which sub-env ran a rollout nor on how the vector env resets its sub-envs.
    factory = functools.partial(RandomLengthEnv, mean_length=mean_length)
    envs = (
        InProcessVectorEnv([factory() for _ in range(num_envs)])
        if mode == "ours"
        else SyncVectorEnv([factory] * num_envs, autoreset_mode=mode)
    )
    where = f"{mode} {num_envs=} {mean_length=} {bounds_} {max_steps=} {call=}"
    got = collect_and_check(envs, bounds_, max_steps, seed=seed, call=call, where=where)
    for k, ro in enumerate(got):
        length = int(ro.observations[0, 1])  # the drawn episode length L
        assert ro.length == min(length, max_steps or length), where
        np.testing.assert_array_equal(
            ro.observations[:, 0], np.arange(ro.length + 1), err_msg=where
        )
        assert bool(ro.terminated[-1]) == (ro.length == length), f"{where}, rollout {k}"
    quota = {"min_rollouts": bounds_.get("min_rollouts"), "min_steps": bounds_.get("min_steps")}
    compare(got, reference_count(factory, discrete_rule, seed, call, max_steps, [], quota), where)
