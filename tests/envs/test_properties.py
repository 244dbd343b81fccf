"""Property-based tests of gymsamp.envs: generated distributions, randomizers and wrapper use.

Each property compares what gymsamp gives against a reference computed here from numpy (the
same generator calls a distribution documents) or from a raw Gymnasium env driven by hand.
Hypothesis runs derandomized, so CI sees the same examples. No MuJoCo here: too slow.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gymsamp.envs import (
    BernoulliDomainParam,
    DomainParam,
    DomainParamWrapper,
    DomainRandomizer,
    DomainRandWrapper,
    InitStateWrapper,
    MultivariateNormalDomainParam,
    NormalDomainParam,
    UniformDomainParam,
    find_wrapper,
    param_grid,
)
from gymsamp.envs.toy import PointMassEnv

SETTINGS = settings(max_examples=80)  # derandomized: the profile in tests/conftest.py
FEW = settings(SETTINGS, max_examples=25)  # the env properties: each example builds envs

# Generated initial states may lie outside an env's observation bounds (CartPole's x beyond
# 4.8): valid states to start from, which Gymnasium's passive checker merely warns about.
pytestmark = pytest.mark.filterwarnings("ignore:.*not within the observation space")

SEEDS = st.integers(0, 2**32 - 1)
FINITE = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
NONNEG = st.floats(0.0, 1e2, allow_nan=False, allow_infinity=False)
NUM_SAMPLES = st.integers(1, 20)


# --- strategies ---------------------------------------------------------------------------


@st.composite
def clips(draw: st.DrawFn, roundint: bool) -> tuple[float, float]:
    """(clip_lo, clip_up), each finite or infinite; with ``roundint`` an integer lies inside."""
    lo = draw(st.one_of(st.just(-math.inf), FINITE))
    up = draw(st.one_of(st.just(math.inf), FINITE))
    if lo > up:
        lo, up = up, lo
    if roundint:
        assume(math.ceil(lo) <= math.floor(up) if math.isfinite(lo) and math.isfinite(up) else True)
    return lo, up


@st.composite
def scalar_params(draw: st.DrawFn) -> DomainParam:
    """A Constant, Uniform, Normal or Bernoulli parameter with generated fields."""
    roundint = draw(st.booleans())
    lo, up = draw(clips(roundint))
    kind = draw(st.sampled_from(["const", "uniform", "normal", "bernoulli"]))
    name = draw(st.sampled_from(["a", "b", "mass"]))
    try:
        return _build_scalar(draw, kind, name, lo, up, roundint)
    except ValueError:  # e.g. roundint draws beyond int64 (refused by design)
        assume(False)
        raise


def _build_scalar(
    draw: st.DrawFn, kind: str, name: str, lo: float, up: float, roundint: bool
) -> DomainParam:
    if kind == "const":
        return DomainParam(name, draw(FINITE), lo, up, roundint)
    if kind == "uniform":
        return UniformDomainParam(name, draw(FINITE), draw(NONNEG), lo, up, roundint)
    if kind == "normal":
        return NormalDomainParam(name, draw(FINITE), draw(NONNEG), lo, up, roundint)
    prob = draw(st.floats(0.0, 1.0))
    return BernoulliDomainParam(name, draw(FINITE), draw(FINITE), prob, lo, up, roundint)


@st.composite
def mvn_params(draw: st.DrawFn) -> MultivariateNormalDomainParam:
    """A multivariate normal with cov = A A^T (PSD, possibly singular) and vector clips."""
    dim = draw(st.integers(1, 4))
    rank = draw(st.integers(0, dim))
    mean = np.array(draw(st.lists(FINITE, min_size=dim, max_size=dim)))
    a = np.array(
        draw(st.lists(st.floats(-3, 3), min_size=dim * rank, max_size=dim * rank))
    ).reshape(dim, rank)
    roundint = draw(st.booleans())
    bounds = [draw(clips(roundint)) for _ in range(dim)]
    lo, up = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    try:
        return MultivariateNormalDomainParam("com", mean, a @ a.T, lo, up, roundint)
    except ValueError:  # e.g. roundint draws beyond int64 (refused by design)
        assume(False)
        raise


def _reference_raw(param: DomainParam, num: int, rng: np.random.Generator) -> np.ndarray:
    """The raw draws every distribution documents, from numpy directly."""
    if isinstance(param, UniformDomainParam):
        return rng.uniform(param.mean - param.halfspan, param.mean + param.halfspan, size=num)
    if isinstance(param, NormalDomainParam):
        return rng.normal(param.mean, param.std, size=num)
    if isinstance(param, MultivariateNormalDomainParam):
        return rng.multivariate_normal(
            param.mean, param.cov, size=num, check_valid="ignore", method="eigh"
        )
    if isinstance(param, BernoulliDomainParam):
        return np.where(rng.random(num) < param.prob_1, param.val_1, param.val_0)
    return np.full(num, param.mean)


def _reference_finish(param: DomainParam, raw: np.ndarray) -> np.ndarray:
    if param.roundint:
        return np.clip(np.rint(raw), np.ceil(param.clip_lo), np.floor(param.clip_up))
    return np.clip(raw, param.clip_lo, param.clip_up)


# --- distributions --------------------------------------------------------------------------


@SETTINGS
@given(param=st.one_of(scalar_params(), mvn_params()), num=NUM_SAMPLES, seed=SEEDS)
def test_samples_match_numpy_reference_and_respect_clips_and_rounding(
    param: DomainParam, num: int, seed: int
) -> None:
    values = param.sample(num, rng=seed)
    expected = _reference_finish(param, _reference_raw(param, num, np.random.default_rng(seed)))
    assert len(values) == num
    stacked = np.array(values)
    assert stacked.shape == expected.shape
    np.testing.assert_array_equal(stacked, expected)
    # Clips and rounding hold for every element.
    assert np.all(stacked >= param.clip_lo)
    assert np.all(stacked <= param.clip_up)
    if isinstance(param, MultivariateNormalDomainParam):
        assert all(v.shape == (param.mean.shape[0],) for v in values)
        assert all(v.dtype == (np.int64 if param.roundint else np.float64) for v in values)
    else:
        assert all(type(v) is (int if param.roundint else float) for v in values)
    # Same seed, same samples; a Generator is advanced in place like numpy's own draws.
    np.testing.assert_array_equal(np.array(param.sample(num, rng=seed)), stacked)
    gen = np.random.default_rng(seed)
    first = param.sample(num, rng=gen)
    np.testing.assert_array_equal(np.array(first), stacked)
    ref = np.random.default_rng(seed)
    _reference_raw(param, num, ref)  # the draws already taken from gen
    np.testing.assert_array_equal(
        np.array(param.sample(num, rng=gen)),
        _reference_finish(param, _reference_raw(param, num, ref)),
    )


@SETTINGS
@given(param=scalar_params(), seed=SEEDS)
def test_support_of_scalar_params(param: DomainParam, seed: int) -> None:
    values = np.array(param.sample(50, rng=seed), dtype=np.float64)
    if isinstance(param, UniformDomainParam):
        low, high = param.mean - param.halfspan, param.mean + param.halfspan
    elif isinstance(param, BernoulliDomainParam):
        low, high = min(param.val_0, param.val_1), max(param.val_0, param.val_1)
        assert param.mean == param.val_0 + param.prob_1 * (param.val_1 - param.val_0)
        allowed = {
            v for v, p in ((param.val_0, 1 - param.prob_1), (param.val_1, param.prob_1)) if p > 0
        }
        finished = set(_reference_finish(param, np.array(sorted(allowed))).tolist())
        assert set(values.tolist()) <= finished
    elif isinstance(param, NormalDomainParam):
        low, high = -math.inf, math.inf
        if param.std == 0:
            low = high = param.mean
    else:
        low = high = param.mean
    # The finished support: [low, high] clipped (and rounded) stays an interval.
    lo_f, hi_f = _reference_finish(param, np.array([low, high]))
    if math.isfinite(low) and math.isfinite(high):
        assert np.all(values >= lo_f)
        assert np.all(values <= hi_f)


def _valid_new_value(draw: st.DrawFn, param: DomainParam, field: str) -> Any:
    if field == "name":
        return draw(st.sampled_from(["x", "y"]))
    if field == "roundint":
        return draw(st.booleans())
    if field in ("halfspan", "std"):
        return draw(NONNEG)
    if field == "prob_1":
        return draw(st.floats(0.0, 1.0))
    if field == "cov":
        dim = param.mean.shape[0]  # type: ignore[union-attr]
        a = np.array(draw(st.lists(st.floats(-3, 3), min_size=dim * dim, max_size=dim * dim)))
        return a.reshape(dim, dim) @ a.reshape(dim, dim).T
    if isinstance(param, MultivariateNormalDomainParam):
        dim = param.mean.shape[0]
        return np.array(draw(st.lists(FINITE, min_size=dim, max_size=dim)))
    return draw(FINITE)


@SETTINGS
@given(param=st.one_of(scalar_params(), mvn_params()), data=st.data(), seed=SEEDS)
def test_adapt_equals_a_fresh_construction_or_changes_nothing(
    param: DomainParam, data: st.DataObject, seed: int
) -> None:
    field = data.draw(st.sampled_from(param.get_field_names()))
    value = _valid_new_value(data.draw, param, field)
    kwargs = {f: getattr(param, f) for f in param.get_field_names()}
    kwargs[field] = value
    before = repr(param)
    try:
        fresh = type(param)(**kwargs)
    except ValueError as err:
        # The constructor refuses the combination (e.g. clips without an integer), so must adapt.
        with pytest.raises(ValueError, match=re.escape(str(err))):
            param.adapt(field, value)
        assert repr(param) == before
        return
    param.adapt(field, value)
    assert repr(param) == repr(fresh)
    np.testing.assert_array_equal(np.array(param.sample(5, rng=seed)), fresh.sample(5, rng=seed))


@SETTINGS
@given(param=scalar_params(), field=st.sampled_from(["nope", "Mean", ""]))
def test_adapt_refuses_unknown_fields(param: DomainParam, field: str) -> None:
    before = repr(param)
    with pytest.raises(ValueError, match="field must be one of"):
        param.adapt(field, 1.0)
    assert repr(param) == before


# --- DomainRandomizer ---------------------------------------------------------------------


@st.composite
def randomizers(draw: st.DrawFn) -> DomainRandomizer:
    params = draw(st.lists(st.one_of(scalar_params(), mvn_params()), min_size=1, max_size=4))
    for i, param in enumerate(params):
        param.adapt("name", f"p{i}")
    return DomainRandomizer(*params)


@SETTINGS
@given(randomizer=randomizers(), num=NUM_SAMPLES, seed=SEEDS, data=st.data())
def test_randomize_and_get_params_are_consistent(
    randomizer: DomainRandomizer, num: int, seed: int, data: st.DataObject
) -> None:
    randomizer.randomize(num, rng=seed)
    gen = np.random.default_rng(seed)
    expected = [randomizer.sample(rng=gen) for _ in range(num)]
    # The reference of each joint sample: the params drawn one after the other from one stream.
    ref = np.random.default_rng(seed)
    for sample in expected:
        for param in randomizer.domain_params:
            want = _reference_finish(param, _reference_raw(param, 1, ref))[0]
            np.testing.assert_array_equal(np.asarray(sample[param.name]), want)

    count = data.draw(st.sampled_from([-1, *range(1, num + 1)]))
    chosen = expected if count == -1 else expected[:count]
    as_list = randomizer.get_params(count)
    assert len(as_list) == len(chosen)
    for got, want in zip(as_list, chosen, strict=True):
        assert list(got) == randomizer.param_names
        for name in want:
            np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(want[name]))
            assert type(got[name]) is type(want[name])

    as_dict = randomizer.get_params(count, fmt="dict")
    as_torch = randomizer.get_params(count, fmt="dict", dtype="torch")
    list_torch = randomizer.get_params(count, dtype="torch")
    for param in randomizer.domain_params:
        stacked = np.stack([np.asarray(s[param.name]) for s in chosen])
        arr = as_dict[param.name]
        assert arr.dtype == (np.int64 if param.roundint else np.float64)
        np.testing.assert_array_equal(arr, stacked)
        tensor = as_torch[param.name]
        assert tensor.dtype == (torch.int64 if param.roundint else torch.float64)
        np.testing.assert_array_equal(tensor.numpy(), stacked)
        for row, got in zip(stacked, list_torch, strict=True):
            assert isinstance(got[param.name], torch.Tensor)
            np.testing.assert_array_equal(got[param.name].numpy(), row)

    # get_params hands out copies: changing them leaves the stored samples alone.
    as_dict[randomizer.param_names[0]][...] = 12345
    for row in randomizer.get_params(count):
        value = row[randomizer.param_names[0]]
        if isinstance(value, np.ndarray):
            value[...] = 12345
    again = randomizer.get_params(count, fmt="dict")
    for param in randomizer.domain_params:
        np.testing.assert_array_equal(
            again[param.name], np.stack([np.asarray(s[param.name]) for s in chosen])
        )


@SETTINGS
@given(
    randomizer=randomizers(),
    field=st.sampled_from(["std", "halfspan", "cov", "mean", "clip_lo", "prob_1", "val_1"]),
    scale=st.floats(0.0, 4.0),
)
def test_rescale_distr_param_scales_every_holder_or_changes_nothing(
    randomizer: DomainRandomizer, field: str, scale: float
) -> None:
    before = [repr(p) for p in randomizer.domain_params]
    holders = [p for p in randomizer.domain_params if field in p.get_field_names()]
    if not holders:
        with pytest.raises(ValueError, match="param must be a numeric field"):
            randomizer.rescale_distr_param(field, scale)
        assert [repr(p) for p in randomizer.domain_params] == before
        return
    expected = []
    for param in randomizer.domain_params:
        if field not in param.get_field_names():
            expected.append(repr(param))
            continue
        old = np.asarray(getattr(param, field), dtype=np.float64)
        with np.errstate(invalid="ignore"):
            new = np.where(np.isinf(old), old, scale * old)
        kwargs = {f: getattr(param, f) for f in param.get_field_names()}
        kwargs[field] = new if new.ndim else float(new)
        try:
            expected.append(repr(type(param)(**kwargs)))
        except ValueError as err:
            refusal = str(err)
            break
    else:
        refusal = None
    if refusal is not None:
        with pytest.raises(ValueError, match=re.escape(refusal)):
            randomizer.rescale_distr_param(field, scale)
        assert [repr(p) for p in randomizer.domain_params] == before
    else:
        randomizer.rescale_distr_param(field, scale)
        assert [repr(p) for p in randomizer.domain_params] == expected


@SETTINGS
@given(
    values=st.dictionaries(
        st.text("abcxyz", min_size=1, max_size=3),
        st.lists(st.one_of(FINITE, st.integers(-5, 5)), min_size=1, max_size=4),
        max_size=4,
    )
)
def test_param_grid_is_the_row_major_cartesian_product(values: dict[str, list[Any]]) -> None:
    grid = param_grid(values)
    assert len(grid) == math.prod(len(v) for v in values.values())
    names = list(values)
    expected = [dict(zip(names, p, strict=True)) for p in itertools.product(*values.values())]
    assert grid == expected
    assert all(list(point) == names for point in grid)
    # Values are kept as given (an int stays an int).
    for point in grid:
        for name, value in point.items():
            assert any(value is v for v in values[name])


# --- DomainParamWrapper on the adapters' envs -----------------------------------------------


def _factor_of(nominal: float) -> st.SearchStrategy[float]:
    """Positive values around a nominal one (rules: > 0 or >= 0; 0 nominal -> small values)."""
    if nominal == 0:
        return st.floats(0.0, 1.0)
    return st.floats(0.1, 10.0).map(lambda f: abs(nominal) * f)


# Env id -> names whose rule is "real" (any finite value); the others must be > 0 or >= 0.
ENVS = {
    "CartPole-v1": (),
    "Pendulum-v1": (),
    "MountainCar-v0": ("goal_position",),
    "MountainCarContinuous-v0": ("goal_position",),
    "Acrobot-v1": (),
    "gymsamp/PointMass-v0": (),
}


def _attr_values(env: gym.Env[Any, Any], names: list[str]) -> dict[str, float]:
    """The parameters as the raw env holds them, read without the adapter."""
    base: Any = env.unwrapped
    if isinstance(base, PointMassEnv):
        return base.get_domain_param()
    if base.spec.id.startswith("Acrobot"):
        return {
            name: float(getattr(base, "dt" if name == "dt" else name.upper())) for name in names
        }
    return {name: float(getattr(base, name)) for name in names}


@st.composite
def param_subsets(
    draw: st.DrawFn, nominal: dict[str, float], real: tuple[str, ...]
) -> dict[str, float]:
    """Some of the names (maybe none), each with a value its rule accepts."""
    names = draw(st.lists(st.sampled_from(sorted(nominal)), unique=True, max_size=len(nominal)))
    return {
        name: draw(st.floats(-1.0, 1.0) if name in real else _factor_of(nominal[name]))
        for name in names
    }


@pytest.mark.parametrize("env_id", list(ENVS))
@FEW
@given(data=st.data())
def test_domain_param_wrapper_applies_subsets_and_returns_to_nominal(
    env_id: str, data: st.DataObject
) -> None:
    with DomainParamWrapper(gym.make(env_id)) as env:
        nominal = env.nominal_domain_param
        subsets = data.draw(
            st.lists(
                st.one_of(st.none(), param_subsets(nominal, ENVS[env_id])), min_size=1, max_size=5
            )
        )
        for i, subset in enumerate(subsets):
            options = None if subset is None else {"domain_param": subset}
            _, info = env.reset(seed=i, options=options)
            expected = {**nominal, **(subset or {})}
            assert info["domain_param"] == expected
            assert list(info["domain_param"]) == list(nominal)
            assert env.domain_param == expected
            assert _attr_values(env, list(nominal)) == expected
            base: Any = env.unwrapped
            if env_id == "CartPole-v1":  # derived quantities follow the parameters
                assert base.total_mass == expected["masspole"] + expected["masscart"]
                assert base.polemass_length == expected["masspole"] * expected["length"]
        # Nominal values are what a fresh env has.
        with gym.make(env_id) as fresh:
            assert _attr_values(fresh, list(nominal)) == nominal


@pytest.mark.parametrize("env_id", list(ENVS))
@FEW
@given(extra=st.text("abcdefgh_", min_size=1, max_size=8), value=st.floats(0.1, 2.0))
def test_domain_param_wrapper_refuses_unknown_names_with_the_valid_ones(
    env_id: str, extra: str, value: float
) -> None:
    with DomainParamWrapper(gym.make(env_id)) as env:
        nominal = env.nominal_domain_param
        assume(extra not in nominal)
        env.reset(seed=0)
        with pytest.raises(ValueError, match="unknown names") as err:
            env.reset(seed=1, options={"domain_param": {extra: value}})
        assert repr(extra) in str(err.value)
        assert str(sorted(nominal)) in str(err.value)
        # Nothing was applied.
        assert env.domain_param == nominal


def find_param_wrapper(env: gym.Env[Any, Any]) -> DomainParamWrapper:
    return find_wrapper(env, DomainParamWrapper)


def find_state_wrapper(env: gym.Env[Any, Any]) -> InitStateWrapper:
    return find_wrapper(env, InitStateWrapper)


# --- InitStateWrapper ---------------------------------------------------------------------


@st.composite
def states_in(draw: st.DrawFn, space: gym.spaces.Box) -> np.ndarray:
    """A state inside ``space`` (its bounds often), unbounded dimensions within +-5."""
    out = []
    for low, high in zip(space.low, space.high, strict=True):
        lo = max(float(low), -5.0)
        hi = min(float(high), 5.0)
        out.append(draw(st.one_of(st.sampled_from([lo, hi]), st.floats(lo, hi))))
    return np.array(out, dtype=np.float64)


def _raw_set_state(base: Any, state: np.ndarray) -> Any:
    """Put ``state`` into a raw env by hand; returns the observation the env would give."""
    if isinstance(base, PointMassEnv):
        return base.set_state(state)
    base.state = state.copy()
    if hasattr(base, "steps_beyond_terminated"):
        base.steps_beyond_terminated = None
    if hasattr(base, "_get_obs"):
        return base._get_obs()
    if hasattr(base, "_get_ob"):
        return base._get_ob()
    return np.array(state, dtype=np.float32)


def _action_for(space: gym.Space[Any], draw: Callable[..., Any]) -> Any:
    if isinstance(space, gym.spaces.Discrete):
        return draw(st.integers(0, int(space.n) - 1))
    low, high = float(space.low[0]), float(space.high[0])
    return np.array([draw(st.floats(low, high, width=32))], dtype=np.float32)


@pytest.mark.parametrize("env_id", list(ENVS))
@FEW
@given(data=st.data(), seed=st.integers(0, 1000))
def test_init_state_is_exact_and_first_step_equals_a_raw_env(
    env_id: str, data: st.DataObject, seed: int
) -> None:
    with (
        InitStateWrapper(gym.make(env_id), record_state=True) as env,
        gym.make(env_id) as raw_env,
    ):
        state = data.draw(states_in(env.state_space))
        obs, info = env.reset(seed=seed, options={"init_state": state})
        np.testing.assert_array_equal(info["init_state"], state)
        assert info["init_state"].dtype == np.float64

        raw: Any = raw_env.unwrapped
        raw.reset(seed=seed)
        expected_obs = _raw_set_state(raw, state)
        np.testing.assert_array_equal(obs, expected_obs)
        assert obs.dtype == expected_obs.dtype

        action = _action_for(env.action_space, data.draw)
        got = env.step(action)
        want = raw.step(action)
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1:4] == want[1:4]
        # The state after the step, as recorded, is the raw env's state read by hand.
        raw_state = raw.get_state() if isinstance(raw, PointMassEnv) else raw.state
        np.testing.assert_array_equal(got[4]["state"], np.asarray(raw_state, dtype=np.float64))


@pytest.mark.parametrize("env_id", ["MountainCar-v0", "MountainCarContinuous-v0", "Acrobot-v1"])
@FEW
@given(data=st.data())
def test_init_state_outside_the_state_space_is_refused_naming_the_element(
    env_id: str, data: st.DataObject
) -> None:
    with InitStateWrapper(gym.make(env_id)) as env:
        space = env.state_space
        state = data.draw(states_in(space))
        bounded = [i for i in range(space.shape[0]) if np.isfinite(space.high[i])]
        i = data.draw(st.sampled_from(bounded))
        above = data.draw(st.booleans())
        excess = data.draw(st.floats(1e-6, 10.0))
        state[i] = space.high[i] + excess if above else space.low[i] - excess
        assume(not space.low[i] <= state[i] <= space.high[i])  # not lost to round-off
        with pytest.raises(ValueError, match=rf"\(element {i} = ") as err:
            env.reset(seed=0, options={"init_state": state})
        assert "init_state must lie in the state space of" in str(err.value)
        assert str(state.tolist()) in str(err.value)


# --- DomainRandWrapper ----------------------------------------------------------------------


POINT_MASS_NOMINAL = {"mass": 1.0, "friction": 0.5, "dt": 0.05}


def _point_mass_randomizer() -> DomainRandomizer:
    return DomainRandomizer(
        UniformDomainParam("mass", mean=1.0, halfspan=0.5),
        NormalDomainParam("friction", mean=0.5, std=0.1, clip_lo=0.0),
    )


def _reference_draw(seed: int) -> dict[str, Any]:
    child = np.random.SeedSequence(seed).spawn(1)[0]
    return _point_mass_randomizer().sample(np.random.Generator(np.random.PCG64(child)))


@SETTINGS
@given(
    resets=st.lists(st.one_of(st.none(), st.integers(0, 50)), min_size=1, max_size=8),
    seed=st.integers(0, 50),
    position=st.integers(0, 8),
)
def test_domain_rand_draw_depends_only_on_the_reset_seed(
    resets: list[int | None], seed: int, position: int
) -> None:
    resets = [*resets[:position], seed, *resets[position:]]
    with DomainRandWrapper(gym.make("gymsamp/PointMass-v0"), _point_mass_randomizer()) as env:
        seen: dict[int, dict[str, Any]] = {}
        for reset_seed in resets:
            obs, info = env.reset(seed=reset_seed)
            drawn = info["domain_param"]
            assert env.unwrapped.get_domain_param() == {**POINT_MASS_NOMINAL, **drawn}
            if reset_seed is None:
                continue
            assert drawn == {"dt": POINT_MASS_NOMINAL["dt"], **_reference_draw(reset_seed)}
            if reset_seed in seen:
                assert drawn == seen[reset_seed]
            seen[reset_seed] = drawn
            # Replaying the draw explicitly gives the same reset.
            replay_obs, replay_info = env.reset(
                seed=reset_seed, options={"domain_param": dict(drawn)}
            )
            np.testing.assert_array_equal(replay_obs, obs)
            assert replay_info["domain_param"] == drawn


@SETTINGS
@given(seed=st.integers(0, 2**31), unseeded=st.integers(0, 4), noise=st.integers(0, 3))
def test_domain_rand_unseeded_resets_continue_the_seeded_stream(
    seed: int, unseeded: int, noise: int
) -> None:
    child = np.random.SeedSequence(seed).spawn(1)[0]
    ref = np.random.Generator(np.random.PCG64(child))
    randomizer = _point_mass_randomizer()
    expected = [randomizer.sample(ref) for _ in range(unseeded + 1)]
    with (
        DomainRandWrapper(gym.make("gymsamp/PointMass-v0"), randomizer) as env,
        gym.make("gymsamp/PointMass-v0") as raw_env,
    ):
        for other in range(noise):  # earlier resets must not matter
            env.reset(seed=seed + other + 1)
        obs, info = env.reset(seed=seed)
        # The simulator's initial state comes from its own stream, as without randomization.
        raw_obs, _ = raw_env.reset(seed=seed)
        np.testing.assert_array_equal(obs, raw_obs)
        draws = [info["domain_param"]]
        for _ in range(unseeded):
            draws.append(env.reset()[1]["domain_param"])
        assert draws == [{**POINT_MASS_NOMINAL, **want} for want in expected]
        # An explicit subset bypasses the draw; the names left out are nominal, not drawn.
        _, info = env.reset(options={"domain_param": {"dt": 0.1}})
        assert info["domain_param"] == {**POINT_MASS_NOMINAL, "dt": 0.1}
        assert env.unwrapped.get_domain_param() == {**POINT_MASS_NOMINAL, "dt": 0.1}


# --- the wrappers together ------------------------------------------------------------------


def _cartpole_by_hand(base: Any, param: dict[str, float]) -> None:
    for name, value in param.items():
        setattr(base, name, value)
    base.total_mass = base.masspole + base.masscart
    base.polemass_length = base.masspole * base.length


@pytest.mark.parametrize("env_id", ["CartPole-v1", "gymsamp/PointMass-v0"])
@pytest.mark.parametrize("order", ["param_outside", "state_outside"])
@FEW
@given(data=st.data(), seed=st.integers(0, 1000))
def test_domain_param_and_init_state_together_equal_a_raw_env_built_by_hand(
    env_id: str, order: str, data: st.DataObject, seed: int
) -> None:
    inner = gym.make(env_id)
    if order == "param_outside":
        env: gym.Env[Any, Any] = DomainParamWrapper(InitStateWrapper(inner, record_state=True))
    else:
        env = InitStateWrapper(DomainParamWrapper(inner), record_state=True)
    with contextlib.ExitStack() as stack:
        stack.enter_context(env)
        nominal = find_param_wrapper(env).nominal_domain_param
        subset = data.draw(param_subsets(nominal, ()))
        state = data.draw(states_in(find_state_wrapper(env).state_space))
        obs, info = env.reset(seed=seed, options={"domain_param": subset, "init_state": state})
        expected_param = {**nominal, **subset}
        assert info["domain_param"] == expected_param
        np.testing.assert_array_equal(info["init_state"], state)
        np.testing.assert_array_equal(info["state"], state)

        if env_id == "CartPole-v1":
            raw: Any = gym.make(env_id).unwrapped
            stack.callback(raw.close)
            _cartpole_by_hand(raw, expected_param)
            raw.reset(seed=seed)
            expected_obs = _raw_set_state(raw, state)
        else:
            raw = PointMassEnv(**expected_param)
            stack.callback(raw.close)
            raw.reset(seed=seed)
            expected_obs = raw.set_state(state)
        np.testing.assert_array_equal(obs, expected_obs)
        for _ in range(3):
            action = _action_for(env.action_space, data.draw)
            got = env.step(action)
            want = raw.step(action)
            np.testing.assert_array_equal(got[0], want[0])
            assert got[1:3] == want[1:3]
            raw_state = raw.get_state() if isinstance(raw, PointMassEnv) else raw.state
            np.testing.assert_array_equal(got[4]["state"], np.asarray(raw_state, np.float64))
            if got[2]:
                break
        # The next plain reset is nominal again and starts from the simulator's own draw.
        _, info = env.reset(seed=seed)
        assert info["domain_param"] == nominal
        raw_fresh: Any = gym.make(env_id).unwrapped
        stack.callback(raw_fresh.close)
        raw_fresh.reset(seed=seed)
        fresh_state = raw_fresh.get_state() if env_id != "CartPole-v1" else raw_fresh.state
        np.testing.assert_array_equal(info["init_state"], np.asarray(fresh_state, np.float64))
