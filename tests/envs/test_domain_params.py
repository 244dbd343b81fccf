"""Tests of gymsamp.envs.domain_params: moments against theory, clipping, rounding, seeding,
adapt, formatting and every validation message."""

from __future__ import annotations

import math
import random
import re
import warnings

import numpy as np
import pytest
import scipy.stats

from gymsamp.envs.domain_params import (
    BernoulliDomainParam,
    DomainParam,
    MultivariateNormalDomainParam,
    NormalDomainParam,
    UniformDomainParam,
)

N = 20_000
# Sample statistics are compared with theory within this many standard errors; with fixed seeds
# the tests are deterministic, the margin only keeps them honest about what they can resolve.
Z = 5.0


def _all_params() -> list[DomainParam]:
    return [
        DomainParam("c", mean=1.5),
        UniformDomainParam("u", mean=1.0, halfspan=0.5),
        NormalDomainParam("n", mean=2.0, std=0.3),
        MultivariateNormalDomainParam("v", mean=[0.0, 1.0], cov=[[1.0, 0.3], [0.3, 0.5]]),
        BernoulliDomainParam("b", val_0=1.0, val_1=3.0, prob_1=0.25),
    ]


# --- distributions against theory -------------------------------------------------------------


def test_constant_param_yields_its_clipped_mean():
    assert DomainParam("g", mean=9.81).sample(3, rng=0) == [9.81, 9.81, 9.81]
    assert DomainParam("g", mean=9.81, clip_up=5.0).sample(2, rng=0) == [5.0, 5.0]
    assert DomainParam("k", mean=2.6, roundint=True).sample(1) == [3]


def test_uniform_moments_support_and_ks():
    mean, half = 1.0, 0.5
    x = np.array(UniformDomainParam("u", mean=mean, halfspan=half).sample(N, rng=0))
    var = half**2 / 3
    assert abs(x.mean() - mean) < Z * math.sqrt(var / N)
    # Var of the sample variance is (mu4 - sigma^4) / n, mu4 = half^4 / 5 for a uniform.
    assert abs(x.var() - var) < Z * math.sqrt((half**4 / 5 - var**2) / N)
    assert x.min() >= mean - half
    assert x.max() <= mean + half
    assert x.min() < mean - half + 0.01 * half
    assert x.max() > mean + half - 0.01 * half
    assert scipy.stats.kstest(x, scipy.stats.uniform(mean - half, 2 * half).cdf).pvalue > 1e-4


def test_uniform_zero_halfspan_is_constant():
    assert UniformDomainParam("u", mean=2.0, halfspan=0.0).sample(4, rng=1) == [2.0] * 4


@pytest.mark.parametrize(("mean", "half"), [(0.0, 1e308), (1e308, 1e308), (-1.7e308, 1e307)])
def test_uniform_width_beyond_float64_is_named(mean, half):
    with pytest.raises(ValueError, match=r"halfspan must keep .* float64's range.*'u'"):
        UniformDomainParam("u", mean=mean, halfspan=half)
    param = UniformDomainParam("u", mean=0.0, halfspan=1.0)
    with pytest.raises(ValueError, match="halfspan must keep"):
        param.adapt("halfspan", 1e308)
    assert param.halfspan == 1.0


def test_uniform_widest_representable_interval_samples():
    values = UniformDomainParam("u", mean=0.0, halfspan=8e307).sample(1000, rng=0)
    assert all(-8e307 <= v <= 8e307 for v in values)
    assert min(values) < -4e307
    assert max(values) > 4e307


def test_normal_moments_and_ks():
    mean, std = 2.0, 0.3
    x = np.array(NormalDomainParam("n", mean=mean, std=std).sample(N, rng=1))
    assert abs(x.mean() - mean) < Z * std / math.sqrt(N)
    # The sample std of a normal has standard error about std / sqrt(2 n).
    assert abs(x.std() - std) < Z * std / math.sqrt(2 * N)
    assert scipy.stats.kstest(x, scipy.stats.norm(mean, std).cdf).pvalue > 1e-4


def test_multivariate_normal_mean_and_covariance():
    mean = np.array([0.0, 1.0, -2.0])
    a = np.array([[1.0, 0.0, 0.0], [0.5, 0.8, 0.0], [-0.3, 0.2, 0.4]])
    cov = a @ a.T
    x = np.stack(MultivariateNormalDomainParam("v", mean, cov).sample(N, rng=2))
    assert x.shape == (N, 3)
    se_mean = np.sqrt(np.diag(cov) / N)
    assert np.all(np.abs(x.mean(axis=0) - mean) < Z * se_mean)
    emp = np.cov(x, rowvar=False)
    # For normal data Var(S_ij) ~ (S_ii S_jj + S_ij^2) / n.
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / N)
    assert np.all(np.abs(emp - cov) < Z * se_cov)


def test_multivariate_normal_singular_covariance_stays_on_its_line():
    # cov = [1, 2]^T [1, 2]: rank one, so x1 - mean1 = 2 (x0 - mean0) exactly.
    param = MultivariateNormalDomainParam("v", [1.0, -1.0], [[1.0, 2.0], [2.0, 4.0]])
    x = np.stack(param.sample(500, rng=3))
    np.testing.assert_allclose(x[:, 1] + 1.0, 2 * (x[:, 0] - 1.0), atol=1e-9)
    assert abs(x[:, 0].std() - 1.0) < Z / math.sqrt(2 * 500)


def test_multivariate_normal_huge_covariance_draws_finite_values():
    # The symmetrization (cov + cov.T) / 2 overflowed to inf here, and every draw was NaN.
    param = MultivariateNormalDomainParam("v", [0.0, 0.0], np.eye(2) * 1e308)
    np.testing.assert_array_equal(param.cov, np.eye(2) * 1e308)
    x = np.stack(param.sample(50, rng=0))
    assert np.isfinite(x).all()
    assert 0.5 < (x / 1e154).std() < 2.0  # std sqrt(1e308) = 1e154 per element


def test_multivariate_normal_covariance_with_an_infinite_eigenvalue_is_refused():
    # Finite entries whose eigenvalue 3.4e308 overflows: numpy would draw NaN or inf.
    with pytest.raises(
        ValueError,
        match=re.escape("cov must have eigenvalues within float64's range, got [0, inf]"),
    ):
        MultivariateNormalDomainParam("v", [0.0, 0.0], np.full((2, 2), 1.7e308))


def test_bernoulli_frequency_and_values():
    p = 0.25
    x = np.array(BernoulliDomainParam("b", val_0=1.0, val_1=3.0, prob_1=p).sample(N, rng=4))
    assert set(x.tolist()) == {1.0, 3.0}
    assert abs((x == 3.0).mean() - p) < Z * math.sqrt(p * (1 - p) / N)


@pytest.mark.parametrize(("prob", "expected"), [(0.0, 1.0), (1.0, 3.0)])
def test_bernoulli_extreme_probabilities(prob, expected):
    assert BernoulliDomainParam("b", 1.0, 3.0, prob).sample(1000, rng=5) == [expected] * 1000


def test_bernoulli_mean_is_the_expected_value():
    assert BernoulliDomainParam("b", val_0=2, val_1=6, prob_1=0.25).mean == 3.0


def test_a_bernoulli_mean_follows_its_fields_and_is_not_assigned():
    param = BernoulliDomainParam("b", val_0=2, val_1=6, prob_1=0.25)
    # Assigned, it said 10.0 while every draw stayed 2 or 6.
    with pytest.raises(
        AttributeError,
        match=r"mean of a BernoulliDomainParam follows from its "
        r"fields \['val_0', 'val_1', 'prob_1'\] .*got mean=10.0",
    ):
        param.mean = 10.0
    assert param.mean == 3.0
    param.prob_1 = 0.5  # a field: the mean follows
    assert param.mean == 4.0


def test_bernoulli_values_near_the_float_limits_have_their_finite_mean():
    # val_1 - val_0 overflowed to -inf, and the constructor refused its own mean as not finite.
    param = BernoulliDomainParam("b", val_0=1e308, val_1=-1e308, prob_1=0.5)
    assert param.mean == 0.0
    assert set(param.sample(50, rng=0)) == {1e308, -1e308}


# --- clipping and rounding --------------------------------------------------------------------


def test_normal_clipping_puts_the_tails_on_the_bounds():
    x = np.array(NormalDomainParam("n", 0.0, 1.0, clip_lo=-0.5, clip_up=1.0).sample(N, rng=6))
    assert x.min() == -0.5
    assert x.max() == 1.0
    for value, mass in ((-0.5, scipy.stats.norm.cdf(-0.5)), (1.0, scipy.stats.norm.sf(1.0))):
        assert abs((x == value).mean() - mass) < Z * math.sqrt(mass * (1 - mass) / N)


def test_roundint_gives_python_ints_with_the_rounded_distribution():
    x = UniformDomainParam("k", mean=0.0, halfspan=2.5, roundint=True).sample(N, rng=7)
    assert all(type(v) is int for v in x)
    counts = np.bincount(np.array(x) + 2)
    # U[-2.5, 2.5] rounds to -2..2 with probability 1/5 each.
    assert len(counts) == 5
    assert np.all(np.abs(counts / N - 0.2) < Z * math.sqrt(0.2 * 0.8 / N))


def test_roundint_never_leaves_the_clip_range():
    # Clipping before rounding would give 0 (from 0.3) and 3 (from 2.6), both outside the range.
    x = NormalDomainParam("k", 1.5, 5.0, clip_lo=0.3, clip_up=2.6, roundint=True).sample(2000, 8)
    assert set(x) == {1, 2}


def test_equal_clip_bounds_pin_every_draw_to_them():
    # A degenerate range is valid (pyrado allowed it): every draw is clipped onto the bound.
    assert NormalDomainParam("m", 2.0, 1.0, clip_lo=1.0, clip_up=1.0).sample(3, rng=0) == [1.0] * 3
    pinned = UniformDomainParam("k", 5.0, 3.0, clip_lo=2.0, clip_up=2.0, roundint=True)
    assert pinned.sample(3, rng=0) == [2, 2, 2]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: DomainParam("g", 9.81, clip_lo=math.inf),
            "clip_lo must be finite or -inf (no bound), got inf",
        ),
        (
            lambda: NormalDomainParam("m", 1.0, 0.1, clip_up=-math.inf),
            "clip_up must be finite or inf (no bound), got -inf",
        ),
        (
            lambda: UniformDomainParam("m", 1.0, 0.1, clip_lo=-math.inf, clip_up=-math.inf),
            "clip_up must be finite or inf (no bound), got -inf",
        ),
        (
            lambda: MultivariateNormalDomainParam(
                "v", [0.0, 1.0], np.eye(2), clip_lo=[0.0, np.inf]
            ),
            "clip_lo must be finite or -inf (no bound), got [0, inf]",
        ),
    ],
)
def test_clip_bounds_infinite_on_the_wrong_side_are_refused(make, message):
    # Every draw was clipped to that infinity, which no simulator accepts at reset.
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_adapt_to_an_infinite_bound_on_the_wrong_side_changes_nothing():
    param = NormalDomainParam("m", 1.0, 0.1, clip_lo=0.5)
    with pytest.raises(ValueError, match=re.escape("clip_lo must be finite or -inf")):
        param.adapt("clip_lo", math.inf)
    assert param.clip_lo == 0.5
    assert all(math.isfinite(v) for v in param.sample(5, rng=0))


# The rule of the message refusing roundint values that int64 cannot hold.
_INT64_RULE = r"roundint values of '{}' must lie within int64's range \[-2\*\*63, 2\*\*63 - 1\]"


@pytest.mark.parametrize(
    ("make", "value"),
    [
        (lambda: DomainParam("n", mean=-1e19, roundint=True), "-1e+19"),
        (lambda: DomainParam("n", mean=2.0**63, roundint=True), "9.22337e+18"),
        (lambda: UniformDomainParam("n", mean=1e19, halfspan=1.0, roundint=True), "1e+19"),
        (lambda: UniformDomainParam("n", mean=0.0, halfspan=1e19, roundint=True), "-1e+19"),
        (lambda: NormalDomainParam("n", mean=1e19, std=1.0, roundint=True), "1e+19"),
        (lambda: BernoulliDomainParam("n", 0.0, 1e19, prob_1=0.5, roundint=True), "1e+19"),
        (
            lambda: MultivariateNormalDomainParam("n", [0.0, 2e19], np.eye(2), roundint=True),
            "2e+19",
        ),
    ],
    ids=["mean", "mean=2**63", "uniform_mean", "halfspan", "normal_mean", "bernoulli", "vector"],
)
def test_roundint_params_whose_draws_cannot_fit_int64_are_refused(make, value):
    # numpy's cast wrapped them silently to -2**63 (with a RuntimeWarning at most).
    with pytest.raises(
        ValueError, match=_INT64_RULE.format("n") + f", got a possible draw of {re.escape(value)}"
    ):
        make()


def test_roundint_draws_beyond_int64_are_refused_at_sampling_not_wrapped():
    param = NormalDomainParam("n", mean=0.0, std=1e20, roundint=True)  # the mean fits
    raw = np.rint(np.random.default_rng(0).normal(0.0, 1e20, size=4))
    first = raw[(raw < -(2.0**63)) | (raw >= 2.0**63)][0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused before numpy's cast could warn
        with pytest.raises(
            ValueError,
            match=_INT64_RULE.format("n") + f", got a draw of {re.escape(f'{first:.6g}')}",
        ):
            param.sample(4, rng=0)
    vector = MultivariateNormalDomainParam("v", [0.0, 0.0], np.diag([0.0, 1e38]), roundint=True)
    with pytest.raises(ValueError, match=_INT64_RULE.format("v") + ", got a draw of"):
        vector.sample(4, rng=0)


def test_roundint_draws_clipped_into_int64_and_its_edges_are_exact():
    clipped = UniformDomainParam("n", mean=1e19, halfspan=1.0, clip_up=2.0**62, roundint=True)
    assert clipped.sample(2, rng=0) == [2**62, 2**62]
    wide = NormalDomainParam("n", 0.0, 1e19, clip_lo=-1e18, clip_up=1e18, roundint=True)
    assert all(-(10**18) <= v <= 10**18 for v in wide.sample(100, rng=0))
    assert DomainParam("n", mean=-(2.0**63), roundint=True).sample(1) == [-(2**63)]
    below = float(np.nextafter(2.0**63, 0.0))  # the largest float64 that fits: 2**63 - 1024
    assert DomainParam("n", mean=below, roundint=True).sample(1) == [2**63 - 1024]
    # A value never drawn does not count; roundint off leaves floats alone.
    assert BernoulliDomainParam("n", 0.0, 1e19, prob_1=0.0, roundint=True).sample(2) == [0, 0]
    assert UniformDomainParam("n", mean=1e19, halfspan=1.0).sample(1, rng=0)[0] > 9e18


def test_adapt_into_a_range_beyond_int64_is_refused_and_changes_nothing():
    param = UniformDomainParam("n", mean=0.0, halfspan=1.0, roundint=True)
    with pytest.raises(ValueError, match=_INT64_RULE.format("n")):
        param.adapt("halfspan", 1e19)
    assert param.halfspan == 1.0
    free = UniformDomainParam("n", mean=1e19, halfspan=1.0)
    with pytest.raises(ValueError, match=_INT64_RULE.format("n")):
        free.adapt("roundint", True)
    assert free.roundint is False


def test_scalar_samples_are_python_floats():
    for param in _all_params():
        if not isinstance(param, MultivariateNormalDomainParam):
            values = param.sample(3, rng=0)
            assert isinstance(values, list)
            assert len(values) == 3
            assert all(type(v) is float for v in values)


def test_multivariate_clipping_and_rounding_are_elementwise():
    param = MultivariateNormalDomainParam(
        "v", [0.0, 0.0], np.eye(2) * 4, clip_lo=[-1.0, -np.inf], clip_up=[np.inf, 0.5]
    )
    x = np.stack(param.sample(N, rng=9))
    assert x[:, 0].min() == -1.0
    assert x[:, 0].max() > 5.0
    assert x[:, 1].max() == 0.5
    assert x[:, 1].min() < -5.0
    param.adapt("roundint", True)
    values = param.sample(100, rng=9)
    assert all(
        isinstance(v, np.ndarray) and v.dtype == np.int64 and v.shape == (2,) for v in values
    )
    stacked = np.stack(values)
    assert stacked[:, 0].min() == -1
    assert stacked[:, 1].max() == 0


def test_multivariate_scalar_clip_bounds_apply_to_every_element():
    param = MultivariateNormalDomainParam("v", [0.0, 5.0], np.eye(2), clip_lo=0.0, clip_up=5.0)
    x = np.stack(param.sample(1000, rng=10))
    assert x.min() == 0.0
    assert x.max() == 5.0


# --- randomness sources -----------------------------------------------------------------------


@pytest.mark.parametrize("param", _all_params(), ids=lambda p: type(p).__name__)
def test_same_seed_same_samples_and_generator_accepted(param):
    first = np.array(param.sample(50, rng=123))
    np.testing.assert_array_equal(first, np.array(param.sample(50, rng=123)))
    from_gen = np.array(param.sample(50, rng=np.random.default_rng(123)))
    np.testing.assert_array_equal(first, from_gen)
    if type(param) is not DomainParam:
        assert not np.array_equal(first, np.array(param.sample(50, rng=124)))


def test_generator_is_advanced_in_place():
    param = NormalDomainParam("n", 0.0, 1.0)
    gen = np.random.default_rng(11)
    a, b = param.sample(3, gen), param.sample(3, gen)
    assert a != b
    # Consecutive draws from one generator continue its stream.
    assert a + b == param.sample(6, np.random.default_rng(11))


def test_none_rng_gives_fresh_entropy():
    param = NormalDomainParam("n", 0.0, 1.0)
    assert param.sample(5) != param.sample(5)


def test_global_rngs_are_untouched():
    np_state = np.random.get_state()
    py_state = random.getstate()
    for param in _all_params():
        param.sample(10)
        param.sample(10, rng=1)
    after = np.random.get_state()
    assert np_state[0] == after[0]
    np.testing.assert_array_equal(np_state[1], after[1])
    assert np_state[2:] == after[2:]
    assert random.getstate() == py_state


@pytest.mark.parametrize("rng", ["abc", 1.5, True, np.random.RandomState(0), [1]])
def test_bad_rng_type(rng):
    with pytest.raises(TypeError, match=r"rng must be None, an int >= 0 or a numpy\.random\.Gen"):
        NormalDomainParam("n", 0.0, 1.0).sample(1, rng=rng)


def test_negative_seed():
    with pytest.raises(ValueError, match="rng must be None, an int >= 0 .*, got -1"):
        NormalDomainParam("n", 0.0, 1.0).sample(1, rng=-1)


@pytest.mark.parametrize(("num", "exc"), [(0, ValueError), (-2, ValueError), (1.0, TypeError)])
def test_bad_num_samples(num, exc):
    with pytest.raises(exc, match=f"num_samples must be an int >= 1, got {num}"):
        NormalDomainParam("n", 0.0, 1.0).sample(num)


# --- fields, adapt, formatting ----------------------------------------------------------------


def test_field_names():
    base = ("name", "mean", "clip_lo", "clip_up", "roundint")
    assert DomainParam.get_field_names() == base
    assert UniformDomainParam("u", 0, 1).get_field_names() == (
        "name",
        "mean",
        "halfspan",
        "clip_lo",
        "clip_up",
        "roundint",
    )
    assert NormalDomainParam.get_field_names() == (*base[:2], "std", *base[2:])
    assert MultivariateNormalDomainParam.get_field_names() == (*base[:2], "cov", *base[2:])
    assert BernoulliDomainParam.get_field_names() == (
        "name",
        "val_0",
        "val_1",
        "prob_1",
        "clip_lo",
        "clip_up",
        "roundint",
    )


def test_adapt_std_changes_the_distribution():
    param = NormalDomainParam("n", mean=0.0, std=1.0)
    param.adapt("std", 2.0)
    assert param.std == 2.0
    x = np.array(param.sample(N, rng=12))
    assert abs(x.std() - 2.0) < Z * 2.0 / math.sqrt(2 * N)
    param.adapt("mean", 5.0)
    assert abs(np.mean(param.sample(N, rng=13)) - 5.0) < Z * 2.0 / math.sqrt(N)


def test_adapt_halfspan_clip_and_name():
    param = UniformDomainParam("u", mean=0.0, halfspan=1.0)
    param.adapt("halfspan", 3.0)
    assert max(param.sample(N, rng=14)) > 2.9
    param.adapt("clip_up", 0.0)
    assert max(param.sample(100, rng=14)) == 0.0
    param.adapt("name", "w")
    assert param.name == "w"


def test_adapt_bernoulli_prob_updates_mean():
    param = BernoulliDomainParam("b", val_0=0.0, val_1=1.0, prob_1=0.5)
    param.adapt("prob_1", 0.9)
    assert param.mean == pytest.approx(0.9)
    assert abs(np.mean(param.sample(N, rng=15)) - 0.9) < Z * math.sqrt(0.09 / N)


def test_adapt_multivariate_cov():
    param = MultivariateNormalDomainParam("v", [0.0, 0.0], np.eye(2))
    param.adapt("cov", [[4.0, 0.0], [0.0, 0.25]])
    x = np.stack(param.sample(N, rng=16))
    np.testing.assert_allclose(x.std(axis=0), [2.0, 0.5], rtol=Z / math.sqrt(2 * N))


def test_adapt_unknown_field_lists_valid_fields():
    param = NormalDomainParam("n", 0.0, 1.0)
    with pytest.raises(
        ValueError,
        match=r"field must be one of \['name', 'mean', 'std', 'clip_lo', 'clip_up', 'roundint'\], "
        r"got 'halfspan'",
    ):
        param.adapt("halfspan", 1.0)
    with pytest.raises(ValueError, match="field must be one of .*'prob_1'.*, got 'mean'"):
        BernoulliDomainParam("b", 0.0, 1.0, 0.5).adapt("mean", 0.3)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("std", -1.0, r"std must be >= 0, got -1\.0"),
        ("clip_lo", 2.0, r"clip_lo must be <= clip_up, got clip_lo=2, clip_up=1"),
        ("mean", math.nan, r"mean must be a finite number, got nan"),
        ("roundint", 1, r"roundint must be a bool \(True or False\), got 1"),
    ],
)
def test_invalid_adapt_leaves_the_param_unchanged(field, value, message):
    param = NormalDomainParam("n", 0.0, 1.0, clip_lo=-1.0, clip_up=1.0)
    before = repr(param)
    with pytest.raises((ValueError, TypeError), match=message):
        param.adapt(field, value)
    assert repr(param) == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("std", -1.0, r"std must be >= 0, got -1\.0"),
        ("clip_lo", 2.0, r"clip_lo must be <= clip_up, got clip_lo=2, clip_up=1"),
        ("mean", math.nan, r"mean must be a finite number, got nan"),
        ("name", "", r"name must be"),
    ],
)
def test_assigning_a_field_is_checked_as_adapt_checks_it(field, value, message):
    # `param.std = -1.0` slipped past every rule: the next sample() drew from numpy's normal
    # with a negative scale (ValueError from inside numpy), or clipped to an empty range.
    param = NormalDomainParam("n", 0.0, 1.0, clip_lo=-1.0, clip_up=1.0)
    before = repr(param)
    with pytest.raises(ValueError, match=message):
        setattr(param, field, value)
    assert repr(param) == before


def test_assigning_a_valid_field_changes_the_distribution():
    param = UniformDomainParam("u", mean=0.0, halfspan=1.0)
    param.halfspan = 3.0
    param.clip_up = 0.0
    draws = param.sample(N, rng=14)
    assert min(draws) < -2.9
    assert max(draws) == 0.0
    assert repr(param) == (
        "UniformDomainParam(name='u', mean=0.0, halfspan=3.0, clip_lo=-inf, clip_up=0.0, "
        "roundint=False)"
    )


def test_adapt_multivariate_mean_must_match_cov():
    param = MultivariateNormalDomainParam("v", [0.0, 0.0], np.eye(2))
    with pytest.raises(ValueError, match=r"cov has shape \(2, 2\) but must have shape \(3, 3\)"):
        param.adapt("mean", [0.0, 0.0, 0.0])
    assert param.mean.shape == (2,)


def test_repr_and_str():
    param = NormalDomainParam("mass", mean=1.2, std=0.1, clip_lo=0.5)
    assert repr(param) == (
        "NormalDomainParam(name='mass', mean=1.2, std=0.1, clip_lo=0.5, clip_up=inf, "
        "roundint=False)"
    )
    assert str(param) == "mass: Normal(mean=1.2, std=0.1), clip [0.5, inf]"
    uniform = UniformDomainParam("k", mean=3, halfspan=2, roundint=True)
    assert str(uniform) == "k: Uniform(mean=3, halfspan=2), clip [-inf, inf], roundint"
    mvn = MultivariateNormalDomainParam("v", [0, 1], [[1, 0], [0, 2]], clip_lo=[-1, 0])
    assert (
        str(mvn) == "v: MultivariateNormal(mean=[0, 1], cov=[[1, 0], [0, 2]]), clip [[-1, 0], inf]"
    )
    assert repr(mvn).startswith("MultivariateNormalDomainParam(name='v', mean=[0.0, 1.0], cov=[[")
    bern = BernoulliDomainParam("b", 2, 5, 0.8)
    assert str(bern) == "b: Bernoulli(val_0=2, val_1=5, prob_1=0.8), clip [-inf, inf]"
    assert str(DomainParam("g", 9.81)) == "g: Constant(mean=9.81), clip [-inf, inf]"


def test_inputs_are_copied():
    mean, cov = np.zeros(2), np.eye(2)
    param = MultivariateNormalDomainParam("v", mean, cov)
    mean[0], cov[0, 0] = 100.0, 100.0
    np.testing.assert_array_equal(param.mean, [0.0, 0.0])
    np.testing.assert_array_equal(param.cov, np.eye(2))


# --- validation messages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: NormalDomainParam("n", 0.0, -1.0), ValueError, r"std must be >= 0, got -1\.0"),
        (
            lambda: UniformDomainParam("u", 0.0, -0.5),
            ValueError,
            r"halfspan must be >= 0, got -0.5",
        ),
        (
            lambda: NormalDomainParam("n", 0.0, "1"),
            TypeError,
            r"std must be a real number, got '1'",
        ),
        (lambda: NormalDomainParam("n", math.inf, 1.0), ValueError, "mean must be a finite number"),
        (lambda: NormalDomainParam("n", True, 1.0), TypeError, "mean must be a real number, got T"),
        (lambda: NormalDomainParam(3, 0.0, 1.0), TypeError, "name must be a str, got 3"),
        (lambda: NormalDomainParam("", 0.0, 1.0), ValueError, "name must be a non-empty str"),
        (
            lambda: NormalDomainParam("n", 0.0, 1.0, clip_lo=1.0, clip_up=-1.0),
            ValueError,
            "clip_lo must be <= clip_up, got clip_lo=1, clip_up=-1",
        ),
        (
            lambda: NormalDomainParam("n", 0.0, 1.0, clip_lo=math.nan),
            ValueError,
            "clip_lo must be a finite number, got nan",
        ),
        (
            lambda: NormalDomainParam("n", 0.5, 1.0, clip_lo=0.2, clip_up=0.8, roundint=True),
            ValueError,
            r"\[clip_lo, clip_up\] must contain an integer when roundint is True, got \[0.2, 0.8\]",
        ),
        (  # the element whose bounds hold no integer (it read as two intervals)
            lambda: MultivariateNormalDomainParam(
                "v", [0.0, 0.0], np.eye(2), clip_lo=[0.2, 1.3], clip_up=[1.5, 1.9], roundint=True
            ),
            ValueError,
            r"\[clip_lo, clip_up\] must contain an integer in every element when roundint is "
            r"True, got \[1.3, 1.9\] in element 1$",
        ),
        (
            lambda: NormalDomainParam("n", 0.0, 1.0, roundint="yes"),
            TypeError,
            r"roundint must be a bool \(True or False\), got 'yes'",
        ),
        (
            lambda: BernoulliDomainParam("b", 0.0, 1.0, 1.5),
            ValueError,
            r"prob_1 must be in \[0, 1\], got 1.5",
        ),
        (
            lambda: BernoulliDomainParam("b", 0.0, 1.0, -0.1),
            ValueError,
            r"prob_1 must be in \[0, 1\], got -0.1",
        ),
        (
            lambda: BernoulliDomainParam("b", "x", 1.0, 0.5),
            TypeError,
            "val_0 must be a real number, got 'x'",
        ),
        (
            lambda: MultivariateNormalDomainParam("v", [[0.0, 1.0]], np.eye(2)),
            ValueError,
            r"mean must have shape \(d,\) with d >= 1, got shape \(1, 2\)",
        ),
        (
            lambda: MultivariateNormalDomainParam("v", 0.0, np.eye(1)),
            ValueError,
            r"mean must have shape \(d,\) with d >= 1, got shape \(\)",
        ),
        (
            lambda: MultivariateNormalDomainParam("v", [0.0, np.nan], np.eye(2)),
            ValueError,
            r"mean must be finite, got \[0.0, nan\]",
        ),
        (
            lambda: MultivariateNormalDomainParam("v", ["a", "b"], np.eye(2)),
            TypeError,
            "mean must be an array of real numbers",
        ),
        (
            lambda: MultivariateNormalDomainParam("v", [0.0, 0.0], np.eye(3)),
            ValueError,
            r"cov has shape \(3, 3\) but must have shape \(2, 2\) to match mean of shape \(2,\)",
        ),
        (
            lambda: MultivariateNormalDomainParam("v", [0.0, 0.0], [[1.0, 0.5], [0.4, 1.0]]),
            ValueError,
            r"cov must be symmetric, got max \|cov - cov.T\| = 0.1",
        ),
        (
            lambda: MultivariateNormalDomainParam("v", [0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]),
            ValueError,
            "cov must be positive semi-definite, got smallest eigenvalue -1",
        ),
        (
            lambda: MultivariateNormalDomainParam("v", [0.0, 0.0], np.eye(2), clip_lo=[0, 1, 2]),
            ValueError,
            r"clip_lo has shape \(3,\) but must have shape \(2,\) to match mean",
        ),
        (
            lambda: MultivariateNormalDomainParam(
                "v", [0.0, 0.0], np.eye(2), clip_lo=[0.0, 1.0], clip_up=[1.0, 0.0]
            ),
            ValueError,
            r"clip_lo must be <= clip_up, got clip_lo=\[0, 1\], clip_up=\[1, 0\]",
        ),
    ],
)
def test_validation_messages(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


def test_round_off_asymmetry_and_tiny_negative_eigenvalues_are_accepted():
    a = np.random.default_rng(17).normal(size=(4, 6))
    cov = a @ a.T
    cov[0, 1] += 1e-14  # round-off level asymmetry
    MultivariateNormalDomainParam("v", np.zeros(4), cov)
    # Rank two: the zero eigenvalues come out of eigvalsh at round-off level, one below zero.
    b = np.random.default_rng(0).normal(size=(4, 2))
    singular = b @ b.T
    assert np.linalg.eigvalsh((singular + singular.T) / 2)[0] < 0  # the premise of this check
    param = MultivariateNormalDomainParam("v", np.zeros(4), singular)
    x = np.stack(param.sample(200, rng=18))
    # Draws stay in the column space of b: orthogonal to it they only have the spread of the
    # round-off eigenvalues, sqrt(1e-15) ~ 3e-8.
    resid = x - x @ b @ np.linalg.pinv(b)
    assert np.abs(resid).max() < 1e-6


@pytest.mark.parametrize(
    "cov",
    [
        np.diag([1.0, -1e-6]),  # slightly indefinite: far beyond round-off, so rejected
        1e-12 * np.array([[1.0, 2.0], [2.0, 1.0]]),  # the tolerance is relative, not absolute
    ],
)
def test_small_negative_eigenvalues_beyond_round_off_are_rejected(cov):
    with pytest.raises(ValueError, match="cov must be positive semi-definite, got smallest eig"):
        MultivariateNormalDomainParam("v", [0.0, 0.0], cov)


def test_zero_dim_arrays_are_taken_as_numbers_and_int_bounds_are_shown_as_given():
    param = UniformDomainParam("m", mean=np.array(1.0), halfspan=np.array(0.5))
    assert (param.mean, param.halfspan) == (1.0, 0.5)
    assert type(param.mean) is float
    with pytest.raises(
        ValueError, match=re.escape("clip_lo must be <= clip_up, got clip_lo=3, clip_up=2")
    ):
        NormalDomainParam("m", mean=1.0, std=1.0, clip_lo=3, clip_up=2)
