"""gymsamp.summary: the statistics the gymsamp command prints, checked against references."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gymsamp.data import StepSequence
from gymsamp.envs import param_grid
from gymsamp.sampling import select_cvar
from gymsamp.stats import bootstrap_ci
from gymsamp.summary import (
    domain_param_values,
    format_number,
    grid_param_names,
    min_rollouts_for_cvar,
    summarize,
)


def rollout(ret, *, length=1, truncated=False, domain_param=None, env_id="Toy-v0"):
    rewards = [ret / length] * length
    info = {"env_id": env_id}
    if domain_param is not None:
        info["domain_param"] = domain_param
    return StepSequence(
        rewards=rewards,
        observations=[[0.0]] * (length + 1),
        actions=[0] * length,
        terminated=[False] * (length - 1) + [not truncated],
        truncated=[False] * (length - 1) + [truncated],
        rollout_info=info,
    )


def test_statistics_match_numpy_bootstrap_and_select_cvar():
    rng = np.random.default_rng(0)
    returns = rng.normal(100, 20, size=37)
    rollouts = [rollout(r, length=k % 5 + 1, truncated=k % 3 == 0) for k, r in enumerate(returns)]
    s = summarize(rollouts, epsilon=0.2, seed=7, seconds=2.0)
    assert s.num_rollouts == 37
    assert s.num_steps == sum(k % 5 + 1 for k in range(37))
    assert s.steps_per_second == s.num_steps / 2.0
    np.testing.assert_allclose(
        [s.mean, s.median, s.std, s.min, s.max],
        [returns.mean(), np.median(returns), returns.std(ddof=1), returns.min(), returns.max()],
    )
    stat, lo, hi = bootstrap_ci(returns, np.mean, 2000, 0.05, 2, seed=7)
    assert (s.ci_low, s.ci_high) == pytest.approx((2 * stat - hi, 2 * stat - lo))
    # The percentile interval is the 2.5% and 97.5% quantiles of the bootstrap means.
    means = returns[np.random.default_rng(7).integers(0, 37, size=(2000, 37))].mean(axis=1)
    assert (s.ci_low, s.ci_high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    worst = select_cvar(rollouts, 0.2)
    assert s.cvar_count == len(worst) == 7
    assert s.cvar == pytest.approx(np.mean([ro.undiscounted_return() for ro in worst]))
    truncated = sum(k % 3 == 0 for k in range(37))
    assert s.endings == {"TERMINAL": 37 - truncated, "TIMEOUT": truncated}
    assert s.env_id == "Toy-v0"


def test_one_multi_rollout_sequence_counts_as_its_rollouts():
    parts = [rollout(1.0, length=2), rollout(3.0, length=3)]
    both = summarize(StepSequence.concat(parts))
    assert (both.num_rollouts, both.num_steps, both.mean) == (2, 5, 2.0)


def test_degenerate_inputs():
    s = summarize([rollout(4.0)])
    assert math.isnan(s.ci_low)
    assert s.std == 0.0
    assert s.cvar is None
    assert "CVaR 10%          n/a (needs at least 10 rollouts)" in s.format()
    assert "95% CI n/a (needs 2 rollouts)" in s.format()
    same = summarize([rollout(4.0)] * 3)  # no warning about the degenerate bootstrap
    assert (same.ci_low, same.ci_high) == (4.0, 4.0)
    with pytest.raises(ValueError, match="at least one rollout"):
        summarize([])
    with pytest.raises(ValueError, match="epsilon must be"):
        summarize([rollout(1.0)], epsilon=0)
    with pytest.raises(TypeError, match="epsilon must be a number in"):
        summarize([rollout(1.0)], epsilon="0.1")


def test_numpy_scalar_epsilon():
    # np.float32 levels were refused as "not a number in (0, 1]".
    rollouts = [rollout(r) for r in (1.0, 2.0, 3.0, 10.0)]
    s = summarize(rollouts, epsilon=np.float32(0.5))
    assert (s.epsilon, s.cvar, s.cvar_count) == (0.5, 1.5, 2)


def test_domain_parameters_listed_by_how_they_were_set():
    nominal = {"mass": 1.0, "length": 0.5, "gravity": 9.8, "tau": 0.02}
    rollouts = [
        rollout(1.0, domain_param={"mass": 1.0, "length": 0.5 + 0.1 * k, "gravity": 3.7,
                                   "tau": 0.02})
        for k in range(4)
    ]  # fmt: skip
    s = summarize(rollouts, nominal=nominal, settings={"length": "uniform(mean=0.65, ...)"})
    assert s.params_at_nominal == 2  # mass and tau
    by_name = {p.name: p for p in s.domain_params}
    assert list(by_name) == ["length", "gravity"]
    assert by_name["length"].setting == "uniform(mean=0.65, ...)"
    assert by_name["length"].used == "0.5 .. 0.8 (4 values)"
    assert by_name["gravity"].setting == "fixed"
    assert by_name["gravity"].used == "3.7"
    table = s.format()
    assert "domain params (2 others at nominal)" in table
    assert "  gravity  9.8      fixed" in table
    # Without nominal values, everything is listed; varying ones say so.
    s = summarize(rollouts)
    assert [(p.name, p.setting) for p in s.domain_params] == [
        ("mass", "constant"),
        ("length", "varies"),
        ("gravity", "constant"),
        ("tau", "constant"),
    ]


def test_nominal_values_that_are_no_number_are_shown_as_unknown():
    # A nominal the env reports as a string or an array is not compared with the draws.
    rollouts = [rollout(1.0, domain_param={"m": 1.0, "g": 9.8})] * 2
    s = summarize(rollouts, nominal={"m": "heavy", "g": [9.8, 1.0]})
    assert s.params_at_nominal == 0
    assert [(p.name, p.nominal, p.setting) for p in s.domain_params] == [
        ("m", None, "constant"),
        ("g", None, "constant"),
    ]
    assert "  g     n/a      constant  9.8" in s.format()


def test_a_list_holding_something_else_than_rollouts_is_named():
    with pytest.raises(TypeError, match="rollouts must be StepSequence objects, got int"):
        summarize([rollout(1.0), 3])


def test_grid_detection():
    grid = [
        rollout(1.0, domain_param={"m": m, "l": length, "g": 9.8})
        for m, length in [(p["m"], p["l"]) for p in param_grid({"m": [1, 2], "l": [3, 4, 5]})]
    ]
    assert grid_param_names(grid) == ["m", "l"]
    assert {p.name: p.setting for p in summarize(grid).domain_params}["l"] == "grid"
    randomized = [
        rollout(1.0, domain_param={"m": float(m), "l": float(length)})
        for m, length in np.random.default_rng(0).uniform(size=(6, 2))
    ]
    assert grid_param_names(randomized) == []
    one = [rollout(1.0, domain_param={"m": m}) for m in (1.0, 2.0, 1.0, 2.0)]
    assert grid_param_names(one) == ["m"]
    assert grid_param_names(one[:2]) == []  # one rollout per value: looks randomized


def test_to_dict_is_json_ready_and_format_number():
    s = summarize([rollout(float(r), domain_param={"m": r}) for r in (1, 2, 3)], nominal={"m": 1})
    data = json.loads(json.dumps(s.to_dict()))
    assert data["rollouts"] == 3
    assert data["return"]["mean"] == 2.0
    assert data["domain_params"][0]["name"] == "m"
    assert [format_number(v) for v in (0.0, -1234.5678, 2e-6, float("inf"), float("nan"))] == [
        "0",
        "-1235",
        "2e-06",
        "inf",
        "n/a",
    ]


@pytest.mark.parametrize("epsilon", [1.0, 0.5, 0.3, 0.25, 0.1, 0.05, 1 / 3, 0.013, 1e-3])
def test_min_rollouts_for_cvar_is_the_first_count_select_cvar_takes(epsilon):
    needed = min_rollouts_for_cvar(epsilon)
    # select_cvar keeps floor(n * epsilon) rollouts (none of these products is float noise
    # away from 1)
    assert math.floor(needed * epsilon) >= 1
    assert all(math.floor(n * epsilon) < 1 for n in range(1, needed))  # a plain search agrees


def test_min_rollouts_for_cvar_of_a_tiny_epsilon_is_computed_at_once():
    # A search counted up to it (minutes, then StopIteration past 10**9).
    assert min_rollouts_for_cvar(1e-10) == 10_000_000_000
    text = summarize([rollout(4.0)], epsilon=1e-10).format()
    assert "n/a (needs at least 10000000000 rollouts)" in text


def test_a_recorded_grid_is_the_grid_even_with_one_rollout_per_value():
    ros = [rollout(1.0, domain_param={"m": m, "l": 0.5}) for m in (1.0, 2.0, 3.0)]
    assert grid_param_names(ros) == []  # by the values alone: randomized, perhaps
    for ro in ros:
        ro.rollout_info["grid"] = ["m"]
    assert grid_param_names(ros) == ["m"]
    ros[0].rollout_info["grid"] = ["x"]  # rollouts that disagree record no grid
    assert grid_param_names(ros) == []


def test_clipped_random_draws_are_not_a_grid():
    # A normal draw clipped to [0.9, 1.1] repeats its bounds; it was taken for a one-parameter
    # grid ("grid" in `gymsamp info`, a return-over-m plot) although no value was chosen.
    draws = np.clip(np.random.default_rng(0).normal(1.0, 0.5, 20), 0.9, 1.1)
    assert len(np.unique(draws)) < len(draws)  # the bounds repeat
    ros = [rollout(1.0, domain_param={"m": float(m)}) for m in draws]
    assert grid_param_names(ros) == []
    assert summarize(ros).domain_params[0].setting == "varies"
    bernoulli = [rollout(1.0, domain_param={"m": m}) for m in (0.0, 1.0, 1.0, 0.0, 1.0)]
    assert grid_param_names(bernoulli) == ["m"]  # every value several times: a grid by the values


def test_a_recorded_empty_grid_says_there_is_none():
    ros = [rollout(1.0, domain_param={"m": m}) for m in (1.0, 2.0, 1.0, 2.0)]
    assert grid_param_names(ros) == ["m"]
    for ro in ros:
        ro.rollout_info["grid"] = []  # what `gymsamp sample` records without --grid
    assert grid_param_names(ros) == []


def test_an_infinite_return_is_summarized_without_an_interval():
    # bootstrap_ci refused the infinity ("data must be finite, got 1 non-finite entries") and
    # `gymsamp sample` lost its --out and --plot files with it.
    returns = [1.0, -math.inf, 3.0, 2.0, 5.0, 6.0]
    s = summarize([rollout(r) for r in returns], epsilon=0.2)
    assert (s.mean, s.median, s.min, s.max, s.cvar) == (-math.inf, 2.5, -math.inf, 6.0, -math.inf)
    assert math.isnan(s.std)
    assert math.isnan(s.ci_low)
    assert math.isnan(s.ci_high)
    text = s.format()
    assert "return mean       -inf   95% CI n/a (1 of 6 returns not finite)\n" in text
    assert "return std        n/a\n" in text
    assert s.result_line().startswith("Toy-v0: mean return -inf over 6 rollouts;")


def test_rollouts_of_several_envs_are_named_each():
    # The summary named the first rollout's env alone, as if all came from it.
    rollouts = [rollout(1.0, env_id="A-v0"), rollout(2.0, env_id="B-v0"), rollout(3.0)]
    rollouts[2].rollout_info["env_id"] = "A-v0"
    s = summarize(rollouts)
    assert s.env_id is None
    assert s.env_counts == {"A-v0": 2, "B-v0": 1}
    assert s.env_name == "mixed: A-v0 (2), B-v0 (1)"
    assert s.result_line().startswith("mixed: A-v0 (2), B-v0 (1): mean return 2 ")
    assert "\nenvs              A-v0 2, B-v0 1 (mixed: the statistics pool their returns)\n" in (
        s.format()
    )
    assert json.loads(json.dumps(s.to_dict()))["env_counts"] == {"A-v0": 2, "B-v0": 1}
    one = summarize(rollouts[:1])
    assert (one.env_id, one.env_name, one.env_counts) == ("A-v0", "A-v0", {"A-v0": 1})
    assert "envs" not in one.format()
    nameless = StepSequence(rewards=[1.0], observations=[[0.0]] * 2, actions=[0])
    assert (summarize([nameless]).env_id, summarize([nameless]).env_counts) == (None, {})


@pytest.mark.parametrize("bad", [None, 3, "rollouts", {"a": 1}])
def test_rollouts_that_are_no_list_of_rollouts_are_named(bad):
    # None gave "'NoneType' object is not iterable" (plot_returns(None) too).
    with pytest.raises(TypeError, match="rollouts must be a StepSequence or a list of them, got"):
        summarize(bad)


def test_finite_returns_whose_mean_overflows_have_no_interval():
    # bootstrap_ci refused the infinite statistic: "stat_fcn(data, axis=0) must be finite".
    s = summarize([rollout(1e308) for _ in range(3)])
    assert s.mean == math.inf
    assert math.isnan(s.ci_low)
    assert "95% CI n/a (the mean overflows float64)" in s.format()


def test_two_rollouts_have_an_interval():
    # The fewest rollouts with an interval: the percentile bootstrap's, not "needs 2 rollouts".
    returns = np.array([1.0, 4.0])
    s = summarize([rollout(r) for r in returns], seed=3)
    means = returns[np.random.default_rng(3).integers(0, 2, size=(2000, 2))].mean(axis=1)
    assert (s.ci_low, s.ci_high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert (s.ci_low, s.ci_high) == (1.0, 4.0)  # 2000 resamples hold both ends
    assert "95% CI [1, 4]" in s.format()


def test_a_parameter_of_two_values_varies():
    # Two distinct values are the fewest that vary; one value is fixed (or constant).
    rollouts = [rollout(1.0, domain_param={"m": m, "l": 0.5}) for m in (1.0, 2.0, 1.0)]
    s = summarize(rollouts, nominal={"m": 1.0, "l": 0.25})
    assert [(p.name, p.setting, p.low, p.high, p.distinct) for p in s.domain_params] == [
        ("m", "varies", 1.0, 2.0, 2),
        ("l", "fixed", 0.5, 0.5, 1),
    ]
    assert [(p.name, p.setting) for p in summarize(rollouts).domain_params] == [
        ("m", "varies"),
        ("l", "constant"),
    ]


def test_domain_params_count_only_where_every_rollout_reports_them():
    # A rollout without domain parameters (e.g. one of a run without randomization joined to
    # randomized ones) has no value: the others' values alone would describe another set of
    # rollouts (and pair their values with the wrong returns in a grid plot).
    rollouts = [rollout(float(m), domain_param={"m": m}) for m in (1.0, 2.0, 1.0, 2.0)]
    rollouts.insert(1, rollout(5.0))
    assert domain_param_values(rollouts) == {}
    assert grid_param_names(rollouts) == []
    s = summarize(rollouts)
    assert (s.domain_params, s.params_at_nominal) == ((), 0)
    assert "domain params" not in s.format()
    np.testing.assert_array_equal(domain_param_values(rollouts[2:])["m"], [2.0, 1.0, 2.0])


def test_a_parameter_named_by_no_str_is_shown_by_its_str():
    # A rollout_info written by hand (or a file's) may key domain_param by an int: the table
    # raised TypeError ("object of type 'int' has no len()"), and `gymsamp info` with it.
    rollouts = [rollout(1.0, domain_param={1: m, "l": 0.5}) for m in (1.0, 2.0)]
    s = summarize(rollouts)
    assert [(p.name, p.setting) for p in s.domain_params] == [("1", "varies"), ("l", "constant")]
    assert "  1     n/a      varies    1 .. 2 (2 values)" in s.format()
