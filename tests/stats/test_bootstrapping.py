"""Tests of gymsamp.stats.bootstrap_ci against scipy, closed forms and hand computations."""

from __future__ import annotations

import tracemalloc
import warnings
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import scipy.stats
import torch

from gymsamp.stats import BootstrapResult, DegenerateBootstrapWarning, bootstrap_ci, bootstrapping


@pytest.fixture
def skewed() -> np.ndarray:
    # Skewed data make the basic and percentile intervals differ, so swapping them is caught.
    return np.random.default_rng(123).exponential(size=40)


def _indices(seed: int, num_reps: int, n: int) -> np.ndarray:
    """The documented resampling scheme of bootstrap_ci."""
    return np.random.default_rng(seed).integers(0, n, size=(num_reps, n))


# --- references: scipy and the percentile identity -------------------------------------------


@pytest.mark.parametrize("stat_fcn", [np.mean, np.std])
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_basic_matches_scipy_within_monte_carlo_error(skewed, stat_fcn, alpha):
    num_reps = 20_000
    _, lo, up = bootstrap_ci(skewed, stat_fcn, num_reps, alpha, 2, seed=1)
    ref = scipy.stats.bootstrap(
        (skewed,), stat_fcn, n_resamples=num_reps, method="basic",
        confidence_level=1 - alpha, rng=2,
    )  # fmt: skip
    # Quantile MC error at B = 20000 is ~2% of the bootstrap SD per bound; allow ~5 sigma.
    tol = 0.1 * ref.standard_error
    assert lo == pytest.approx(ref.confidence_interval.low, abs=tol)
    assert up == pytest.approx(ref.confidence_interval.high, abs=tol)


@pytest.mark.parametrize("stat_fcn", [np.mean, np.std])
def test_reflected_basic_interval_matches_scipy_percentile(skewed, stat_fcn):
    stat, lo, up = bootstrap_ci(skewed, stat_fcn, 20_000, 0.05, 2, seed=3)
    ref = scipy.stats.bootstrap((skewed,), stat_fcn, n_resamples=20_000, method="percentile", rng=4)
    tol = 0.1 * ref.standard_error
    assert 2 * stat - up == pytest.approx(ref.confidence_interval.low, abs=tol)
    assert 2 * stat - lo == pytest.approx(ref.confidence_interval.high, abs=tol)
    # Skew and bias separate the two methods by more than the tolerance, so a mix-up fails.
    assert abs((2 * stat - up) - lo) > 2 * tol


@pytest.mark.parametrize(
    ("ci_sides", "bound", "alternative"),
    [(2, None, "two-sided"), (1, None, "less"), (1, "upper", "less"), (1, "lower", "greater")],
)
def test_basic_equals_scipy_with_the_same_resamples(skewed, ci_sides, bound, alternative):
    # scipy draws its resamples as rng.integers(0, n, (n_resamples, n)), exactly like
    # bootstrap_ci, so with the same seed the two must agree to rounding.
    _, lo, up = bootstrap_ci(skewed, np.median, 5000, 0.1, ci_sides, seed=7, bound=bound)
    ref = scipy.stats.bootstrap(
        (skewed,), np.median, n_resamples=5000, method="basic", confidence_level=0.9,
        alternative=alternative, rng=7,
    )  # fmt: skip
    assert lo == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert up == pytest.approx(ref.confidence_interval.high, rel=1e-12)


def test_one_sided_is_pyrados_upper_bound_or_the_lower_one(skewed):
    # pyrado's ci_sides=1 is the upper bound (-inf, stat - q_alpha(delta)); bound="lower"
    # gives [stat - q_{1-alpha}(delta), inf).
    stat, lo1, up1 = bootstrap_ci(skewed, np.mean, 3000, 0.05, 1, seed=5)
    _, lo_lower, up_lower = bootstrap_ci(skewed, np.mean, 3000, 0.05, 1, seed=5, bound="lower")
    _, lo2, up2 = bootstrap_ci(skewed, np.mean, 3000, 0.10, 2, seed=5)
    assert lo1 == -np.inf
    assert up_lower == np.inf
    # The one-sided alpha tails are the two-sided 2*alpha interval's ends.
    assert up1 == up2
    assert lo_lower == lo2
    delta = np.mean(skewed[_indices(5, 3000, skewed.size)], axis=1) - stat
    assert up1 == pytest.approx(stat - np.quantile(delta, 0.05), rel=1e-12)
    assert lo_lower == pytest.approx(stat - np.quantile(delta, 0.95), rel=1e-12)
    assert bootstrap_ci(skewed, np.mean, 3000, 0.05, 1, seed=5, bound="upper") == (stat, lo1, up1)


@pytest.mark.parametrize(
    ("ci_sides", "bound", "match"),
    [
        (2, "upper", r"bound must be None with ci_sides=2 \(a two-sided interval\), got 'upper'"),
        (1, "both", r"bound must be 'upper', 'lower' or None, got 'both'"),
    ],
)
def test_bound_is_checked(ci_sides, bound, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(np.arange(10.0), np.mean, 10, 0.05, ci_sides, seed=0, bound=bound)


# --- coverage ----------------------------------------------------------------------------------


def _coverage(
    ci_sides: int, studentized: bool, num_exp: int, num_reps: int, bound: str | None = None
) -> float:
    rng = np.random.default_rng(2024)
    mu, hits = 1.0, 0
    for _ in range(num_exp):
        x = rng.normal(mu, 2.0, size=40)
        _, lo, up = bootstrap_ci(
            x, np.mean, num_reps, 0.05, ci_sides, studentized=studentized, seed=rng, bound=bound
        )
        hits += lo <= mu <= up
    return hits / num_exp


# With 800 experiments the coverage estimate has a standard error of about 0.008.


def test_coverage_of_two_sided_basic_interval():
    # The basic bootstrap undercovers slightly at n = 40 (about 0.93).
    assert 0.90 <= _coverage(2, False, 800, 1000) <= 0.98


@pytest.mark.parametrize("bound", ["upper", "lower"])
def test_coverage_of_one_sided_bounds(bound):
    assert 0.90 <= _coverage(1, False, 800, 1000, bound) <= 0.98


def test_coverage_of_studentized_interval():
    # Percentile-t is second-order accurate, so it should be closer to 0.95 than the basic one.
    assert 0.925 <= _coverage(2, True, 800, 1000) <= 0.975


# --- studentized ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ci_sides", [1, 2])
def test_studentized_matches_closed_form_for_the_mean(skewed, ci_sides):
    # The jackknife standard error of the mean is exactly std(ddof=1) / sqrt(n).
    n, num_reps, alpha = skewed.size, 2000, 0.05
    stat, lo, up = bootstrap_ci(
        skewed, np.mean, num_reps, alpha, ci_sides, studentized=True, seed=9
    )
    res = skewed[_indices(9, num_reps, n)]
    se = np.std(skewed, ddof=1) / np.sqrt(n)
    t = (res.mean(axis=1) - skewed.mean()) / (np.std(res, axis=1, ddof=1) / np.sqrt(n))
    tail = alpha / 2 if ci_sides == 2 else alpha
    assert stat == skewed.mean()
    assert up == pytest.approx(skewed.mean() - np.quantile(t, tail) * se, rel=1e-10)
    if ci_sides == 2:
        assert lo == pytest.approx(skewed.mean() - np.quantile(t, 1 - tail) * se, rel=1e-10)
    else:  # pyrado's upper bound
        assert lo == -np.inf


def test_studentized_differs_from_basic_but_contains_estimate(skewed):
    stat_b, lo_b, up_b = bootstrap_ci(skewed, np.std, 2000, 0.05, 2, seed=11)
    stat_t, lo_t, up_t = bootstrap_ci(skewed, np.std, 2000, 0.05, 2, studentized=True, seed=11)
    assert stat_t == stat_b
    assert lo_t < stat_t < up_t
    assert abs(lo_t - lo_b) > 1e-3
    assert abs(up_t - up_b) > 1e-3


# --- 2-D data, bias correction, return types ---------------------------------------------------


@pytest.mark.parametrize("studentized", [False, True])
@pytest.mark.parametrize("ci_sides", [1, 2])
def test_2d_equals_each_column_alone(studentized, ci_sides):
    data = np.random.default_rng(0).gamma(2.0, size=(30, 3)) * [1.0, 10.0, 0.1]
    res = bootstrap_ci(data, np.var, 500, 0.1, ci_sides, True, studentized, seed=21)
    for field in res:
        assert isinstance(field, np.ndarray)
        assert field.shape == (3,)
    for j in range(3):
        col = bootstrap_ci(data[:, j], np.var, 500, 0.1, ci_sides, True, studentized, seed=21)
        np.testing.assert_allclose([r[j] for r in res], col, rtol=1e-12)


def test_bias_correction_matches_hand_computation(skewed):
    n, num_reps = skewed.size, 1000
    stat, lo, up = bootstrap_ci(skewed, np.var, num_reps, 0.05, 2, bias_correction=True, seed=13)
    stat_bs = np.var(skewed[_indices(13, num_reps, n)], axis=1)
    assert stat == pytest.approx(np.var(skewed) - (stat_bs.mean() - np.var(skewed)), rel=1e-12)
    # The interval does not depend on the bias correction.
    assert (lo, up) == bootstrap_ci(skewed, np.var, num_reps, 0.05, 2, seed=13)[1:]


def test_bias_correction_of_the_plugin_variance_closed_form(skewed):
    # E*[var(resample)] = (n - 1) / n * var, so the corrected value is about var * (n + 1) / n.
    n, var = skewed.size, np.var(skewed)
    stat, _, _ = bootstrap_ci(skewed, np.var, 40_000, 0.05, 2, bias_correction=True, seed=17)
    assert stat == pytest.approx(var * (n + 1) / n, rel=2e-3)
    assert stat > var * (1 + 0.5 / n)


def test_result_types_for_1d_data(skewed):
    res = bootstrap_ci(skewed, np.mean, 100, 0.05, 2, seed=0)
    assert isinstance(res, BootstrapResult)
    assert isinstance(res, tuple)
    assert len(res) == 3
    assert all(type(v) is float for v in res)
    assert (res.statistic, res.ci_lo, res.ci_up) == tuple(res)


def test_integer_and_list_data_are_accepted():
    a = bootstrap_ci([1, 2, 3, 4, 5, 9], np.mean, 200, 0.05, 2, seed=0)
    b = bootstrap_ci(np.array([1.0, 2, 3, 4, 5, 9]), np.mean, 200, 0.05, 2, seed=0)
    assert a == b


@pytest.mark.parametrize("ci_sides", [1, 2])
@pytest.mark.parametrize("low_precision", [np.float16, np.float32])
def test_numpy_low_precision_alpha_uses_its_exact_value(skewed, low_precision, ci_sides):
    # 1 - alpha / 2 was computed in float16/float32 (NEP 50): np.float16(0.1) gave the level
    # 0.9502 instead of 0.95001..., a different interval than the same alpha as a Python float.
    alpha = low_precision(0.1)
    delta = np.mean(skewed[_indices(0, 1000, skewed.size)], axis=1) - np.mean(skewed)
    stat, lo, up = bootstrap_ci(skewed, np.mean, 1000, alpha, ci_sides, seed=0)
    assert (stat, lo, up) == bootstrap_ci(skewed, np.mean, 1000, float(alpha), ci_sides, seed=0)
    level = alpha.item() / ci_sides  # the exact value, in float64
    assert up == pytest.approx(stat - np.quantile(delta, level), rel=1e-13)
    if ci_sides == 2:
        assert lo == pytest.approx(stat - np.quantile(delta, 1.0 - level), rel=1e-13)


def test_fraction_alpha_is_accepted_as_the_real_number_it_is(skewed):
    # A fractions.Fraction passed validation (a numbers.Real) and then failed inside
    # np.nanquantile with numpy's "ufunc 'isnan' not supported for the input types".
    res = bootstrap_ci(skewed, np.mean, 500, Fraction(1, 10), 2, seed=0)
    assert res == bootstrap_ci(skewed, np.mean, 500, 0.1, 2, seed=0)


def test_tensor_data_tracing_gradients_is_refused_by_name(skewed):
    # np.asarray raised torch's RuntimeError "Can't call numpy() on Tensor that requires
    # grad", which names no argument; a detached tensor is plain data.
    data = torch.tensor(skewed, requires_grad=True)
    with pytest.raises(ValueError, match=r"^data must not require grad .*requires_grad=True$"):
        bootstrap_ci(data, np.mean, 100, 0.1, 2, seed=0)
    assert bootstrap_ci(data.detach(), np.mean, 100, 0.1, 2, seed=0) == bootstrap_ci(
        skewed, np.mean, 100, 0.1, 2, seed=0
    )


# --- seeds, global RNG, vectorization ----------------------------------------------------------


def test_seeds(skewed):
    first = bootstrap_ci(skewed, np.median, 300, 0.05, 2, seed=42)
    assert bootstrap_ci(skewed, np.median, 300, 0.05, 2, seed=42) == first
    assert (
        bootstrap_ci(skewed, np.mean, 300, 0.05, 2, seed=43)[1:]
        != (bootstrap_ci(skewed, np.mean, 300, 0.05, 2, seed=42)[1:])
    )
    gen = np.random.default_rng(42)
    assert bootstrap_ci(skewed, np.median, 300, 0.05, 2, seed=gen) == first
    # The generator is advanced in place, so a second call draws new resamples.
    assert (
        bootstrap_ci(skewed, np.mean, 300, 0.05, 2, seed=gen)[1:]
        != (bootstrap_ci(skewed, np.mean, 300, 0.05, 2, seed=42)[1:])
    )
    stat, lo, up = bootstrap_ci(skewed, np.mean, 300, 0.05, 2, seed=None)
    assert lo < stat < up


def test_global_rng_untouched(skewed):
    # Reading the legacy global state is the point of this test (it is never set).
    before = np.random.get_state()
    bootstrap_ci(skewed, np.mean, 200, 0.05, 2, seed=None)
    bootstrap_ci(skewed, np.mean, 200, 0.05, 1, True, True, seed=1)
    after = np.random.get_state()
    assert before[0] == after[0]
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]


def test_stat_fcn_is_called_once_on_all_resamples(skewed):
    calls: list[tuple[tuple[int, ...], Any]] = []

    def mean(x: np.ndarray, axis: Any = None) -> Any:
        calls.append((x.shape, axis))
        return np.mean(x, axis=axis)

    bootstrap_ci(skewed, mean, 700, 0.05, 2, seed=0)
    assert calls == [((40,), 0), ((700, 40), 1)]


@pytest.mark.parametrize("studentized", [False, True])
def test_chunking_does_not_change_results(monkeypatch, studentized):
    data = np.random.default_rng(5).normal(size=(25, 2))
    full = bootstrap_ci(data, np.std, 300, 0.05, 2, True, studentized, seed=3)
    # Smaller than one leave-one-out sample: forces one replicate and one position per block.
    monkeypatch.setattr(bootstrapping, "_CHUNK_BYTES", 64)
    chunked = bootstrap_ci(data, np.std, 300, 0.05, 2, True, studentized, seed=3)
    for a, b in zip(full, chunked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def _one_draw_replicates(
    data: np.ndarray,
    stat_fcn: Any,
    num_reps: int,
    rng: np.random.Generator,
    *,
    studentized: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Reference copy of the replicates of bootstrap_ci before the indices were drawn in blocks:
    the whole (num_reps, n) index array in one draw, then the gather and statistic in blocks."""
    n, cols = data.shape[0], data.shape[1:]
    idx = rng.integers(0, n, size=(num_reps, n))
    stat_bs = np.empty((num_reps, *cols))
    se_bs = np.empty((num_reps, *cols)) if studentized else None
    rep_block = max(1, bootstrapping._CHUNK_BYTES // (data[0].nbytes * n))
    for r0 in range(0, num_reps, rep_block):
        resamples = data[idx[r0 : r0 + rep_block]]
        stat_bs[r0 : r0 + rep_block] = bootstrapping._call_stat(
            stat_fcn, resamples, 1, resamples.shape[:1] + cols
        )
        if se_bs is not None:
            se_bs[r0 : r0 + rep_block] = bootstrapping._jackknife_se(resamples, stat_fcn)
    return stat_bs, se_bs


# n near powers of two, odd n (a block of an odd number of 32-bit draws leaves half a 64-bit
# word of the bit generator to the next), num_reps not a multiple of the block, seeds of either
# kind and of several bit generators.
_DRAW_CASES: list[tuple[int, int, Any]] = [
    (2, 5, 0),
    (3, 50, 1),
    (255, 41, 2),
    (256, 24, 3),
    (257, 33, lambda: np.random.Generator(np.random.Philox(4))),
    (1025, 20, lambda: np.random.Generator(np.random.MT19937(5))),
]


@pytest.mark.parametrize("num_cols", [None, 2])
@pytest.mark.parametrize(
    "method",
    [
        {"ci_sides": 2},
        {"ci_sides": 1, "bias_correction": True},
        {"ci_sides": 1, "bound": "lower"},
        {"ci_sides": 2, "studentized": True, "bias_correction": True},
        {"ci_sides": 1, "studentized": True},
        {"ci_sides": 1, "studentized": True, "bound": "lower"},
    ],
)
def test_blocked_index_draw_is_bit_identical_to_one_draw(monkeypatch, num_cols, method):
    blocked = bootstrapping._replicates  # before the patches below replace it
    for n, num_reps, seed in _DRAW_CASES:
        if method.get("studentized") and n > 300:
            continue  # n jackknife blocks per replicate at this block size: slow, same draws
        shape = (n,) if num_cols is None else (n, num_cols)
        data = np.random.default_rng(n).gamma(2.0, size=shape)
        # Three replicates per block, so every case spans several blocks.
        monkeypatch.setattr(bootstrapping, "_CHUNK_BYTES", 3 * data[0].nbytes * n)
        results, states = [], []
        for replicates in (blocked, _one_draw_replicates):
            monkeypatch.setattr(bootstrapping, "_replicates", replicates)
            rng = seed() if callable(seed) else np.random.default_rng(seed)
            with warnings.catch_warnings():
                # n = 2 or 3 gives ties and zero standard errors; both versions warn alike.
                warnings.simplefilter("ignore", DegenerateBootstrapWarning)
                results.append(bootstrap_ci(data, np.var, num_reps, 0.1, seed=rng, **method))
            states.append(rng.bit_generator.random_raw(4))
        new, old = results
        for a, b in zip(new, old, strict=True):
            np.testing.assert_array_equal(a, b, strict=True)
        # A Generator passed in is advanced by exactly the same amount.
        np.testing.assert_array_equal(states[0], states[1])


def test_peak_memory_stays_near_the_block_size(monkeypatch):
    n, num_reps = 200_000, 200
    data = np.random.default_rng(0).standard_normal(n)
    chunk = 5 * n * data.itemsize  # five replicates per block, 8 MB
    monkeypatch.setattr(bootstrapping, "_CHUNK_BYTES", chunk)
    tracemalloc.start()
    try:
        bootstrap_ci(data, np.mean, num_reps, 0.05, 2, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    index_bytes = num_reps * n * np.dtype(np.int64).itemsize  # 320 MB in one draw
    # One block of indices and one of resamples (a chunk each) plus the float copy of data;
    # the previous block's resamples still held while the next is gathered would add a chunk.
    assert peak < 2 * chunk + 2 * data.nbytes
    assert peak < index_bytes / 3


def _table_jackknife_se(samples: np.ndarray, stat_fcn: Any) -> np.ndarray:
    """Reference copy of the jackknife before the leave-one-out samples were built by slice
    copies: a gather through the whole (n, n - 1) table of indices, in position blocks."""
    r, n, cols = samples.shape[0], samples.shape[1], samples.shape[2:]
    j = np.arange(n - 1)
    loo = j[None, :] + (j[None, :] >= np.arange(n)[:, None])
    sample_bytes = (n - 1) * int(np.prod(cols, dtype=np.int64)) * 8
    pos_block = min(n, max(1, bootstrapping._CHUNK_BYTES // sample_bytes))
    rep_block = max(1, bootstrapping._CHUNK_BYTES // (pos_block * sample_bytes))
    se = np.empty((r, *cols))
    for r0 in range(0, r, rep_block):
        chunk = samples[r0 : r0 + rep_block]
        loo_stats = np.empty((chunk.shape[0], n, *cols))
        for j0 in range(0, n, pos_block):
            block = chunk[:, loo[j0 : j0 + pos_block]]
            loo_stats[:, j0 : j0 + pos_block] = bootstrapping._call_stat(
                stat_fcn, block, 2, block.shape[:2] + cols
            )
        se[r0 : r0 + rep_block] = np.sqrt(n - 1) * np.std(loo_stats, axis=1)
    return se


@pytest.mark.parametrize("chunk", [None, 64, 5000])
@pytest.mark.parametrize("shape", [(4, 2), (7, 30), (3, 17, 2), (2, 5, 2, 3)])
@pytest.mark.parametrize("stat_fcn", [np.mean, np.var, np.median])
def test_jackknife_equals_the_index_table_gather(monkeypatch, chunk, shape, stat_fcn):
    if chunk is not None:  # one position per block, or a few
        monkeypatch.setattr(bootstrapping, "_CHUNK_BYTES", chunk)
    samples = np.random.default_rng(len(shape)).gamma(2.0, size=shape)
    np.testing.assert_array_equal(
        bootstrapping._jackknife_se(samples, stat_fcn),
        _table_jackknife_se(samples, stat_fcn),
        strict=True,
    )


def test_studentized_peak_memory_stays_near_the_block_size(monkeypatch):
    # The jackknife of every resample leaves out each of the n positions in turn; its
    # (n, n - 1) table of indices (72 MB here, 3.2 GB at n = 20,000) is built per block of
    # positions, like the gathered values.
    n = 3000
    data = np.random.default_rng(0).standard_normal(n)
    whole = bootstrap_ci(data, np.mean, 3, 0.05, 2, studentized=True, seed=0)
    chunk = 2**20
    monkeypatch.setattr(bootstrapping, "_CHUNK_BYTES", chunk)
    tracemalloc.start()
    try:
        blocked = bootstrap_ci(data, np.mean, 3, 0.05, 2, studentized=True, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    table_bytes = n * (n - 1) * np.dtype(np.intp).itemsize
    # A block of indices and a block of values (a chunk each), the boolean mask that builds the
    # indices (an eighth of a chunk) and a few arrays of n floats.
    assert peak < 2.25 * chunk + 10 * data.nbytes
    assert peak < table_bytes / 20
    np.testing.assert_allclose(blocked, whole, rtol=1e-12)


# --- degenerate data ---------------------------------------------------------------------------


@pytest.mark.parametrize("studentized", [False, True])
@pytest.mark.parametrize("ci_sides", [1, 2])
def test_constant_data_collapses_with_warning(studentized, ci_sides):
    with pytest.warns(DegenerateBootstrapWarning, match=r"column\(s\) \[0\] is degenerate"):
        res = bootstrap_ci(np.full(10, 3.5), np.mean, 200, 0.05, ci_sides, True, studentized, 0)
    assert res == (3.5, 3.5 if ci_sides == 2 else -np.inf, 3.5)
    assert issubclass(DegenerateBootstrapWarning, RuntimeWarning)


@pytest.mark.parametrize("studentized", [False, True])
def test_constant_column_collapses_others_unaffected(studentized):
    data = np.c_[np.full(20, -2.0), np.arange(20.0)]
    with pytest.warns(DegenerateBootstrapWarning, match=r"column\(s\) \[0\]"):
        stat, lo, up = bootstrap_ci(data, np.mean, 500, 0.05, 2, studentized=studentized, seed=0)
    assert lo.shape == up.shape == (2,)
    assert lo[0] == up[0] == stat[0] == -2.0
    assert lo[1] < stat[1] == 9.5 < up[1]
    ref = bootstrap_ci(data[:, 1], np.mean, 500, 0.05, 2, studentized=studentized, seed=0)
    np.testing.assert_allclose((stat[1], lo[1], up[1]), ref, rtol=1e-12)


def test_zero_standard_error_replicates_are_dropped_with_warning():
    data = np.array([0.0, 1.0, 2.0, 3.0, 10.0])
    with pytest.warns(
        DegenerateBootstrapWarning, match="zero or undefined jackknife standard error"
    ):
        stat, lo, up = bootstrap_ci(data, np.median, 300, 0.05, 2, studentized=True, seed=0)
    assert np.isfinite(lo)
    assert np.isfinite(up)
    assert lo <= stat <= up


def test_non_finite_replicates_are_left_out_with_warning(skewed):
    def mean_or_nan(x: np.ndarray, axis: int) -> np.ndarray:
        # NaN whenever the resample misses the first observation (about (1 - 1/n)^n = 36%).
        return np.where(np.any(x == skewed[0], axis=axis), np.mean(x, axis=axis), np.nan)

    with pytest.warns(DegenerateBootstrapWarning, match=r"non-finite values for \[\d+\] of 400"):
        stat, lo, up = bootstrap_ci(skewed, mean_or_nan, 400, 0.05, 2, True, seed=0)
    res = skewed[_indices(0, 400, skewed.size)]
    kept = np.any(res == skewed[0], axis=1)
    assert 0.5 < kept.mean() < 0.8
    delta = res[kept].mean(axis=1) - skewed.mean()
    assert stat == pytest.approx(skewed.mean() - delta.mean(), rel=1e-12)
    assert lo == pytest.approx(skewed.mean() - np.quantile(delta, 0.975), rel=1e-12)
    assert up == pytest.approx(skewed.mean() - np.quantile(delta, 0.025), rel=1e-12)


def test_regular_data_emits_no_warning(skewed):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bootstrap_ci(skewed, np.mean, 300, 0.05, 2, True, True, seed=0)
        bootstrap_ci(np.c_[skewed, skewed**2], np.std, 300, 0.05, 1, seed=0)


# --- validation --------------------------------------------------------------------------------

_GOOD: dict[str, Any] = {
    "data": np.arange(10.0),
    "stat_fcn": np.mean,
    "num_reps": 10,
    "alpha": 0.05,
    "ci_sides": 2,
    "bias_correction": False,
    "studentized": False,
    "seed": 0,
}


@pytest.mark.parametrize(
    ("name", "value", "error", "match"),
    [
        ("num_reps", 0, ValueError, r"num_reps must be an int >= 1, got 0"),
        ("num_reps", 10.0, TypeError, r"num_reps must be an int >= 1, got 10.0"),
        ("num_reps", True, TypeError, r"num_reps must be an int >= 1, got True"),
        ("alpha", 0.0, ValueError, r"alpha must be a real number in the open interval \(0, 1\)"),
        ("alpha", 1.0, ValueError, r"alpha .* got 1.0"),
        ("alpha", float("nan"), ValueError, r"alpha .* got nan"),
        ("alpha", "0.05", TypeError, r"alpha .* got '0.05'"),
        ("ci_sides", 3, ValueError, r"ci_sides must be the int 1 or 2, got 3"),
        ("ci_sides", 2.0, TypeError, r"ci_sides must be the int 1 or 2, got 2.0"),
        ("bias_correction", 1, TypeError, r"bias_correction must be a bool, got 1"),
        ("studentized", "yes", TypeError, r"studentized must be a bool, got 'yes'"),
        ("seed", 1.5, TypeError, r"seed must be None, an int >= 0 or a numpy.random.Generator"),
        ("seed", np.random.RandomState(0), TypeError, r"seed must be None"),
        ("seed", -1, ValueError, r"seed must be None, an int >= 0 .* got -1"),
        ("data", np.zeros((3, 2, 2)), ValueError, r"data must be 1-D \(n,\) or 2-D \(n, d\), got"),
        ("data", np.float64(3.0), ValueError, r"data must be 1-D .* got shape \(\)"),
        ("data", np.array([]), ValueError, r"data must hold at least 2 samples .* shape \(0,\)"),
        ("data", np.array([1.0]), ValueError, r"at least 2 samples .* shape \(1,\)"),
        ("data", np.zeros((5, 0)), ValueError, r"at least 2 samples .* shape \(5, 0\)"),
        (
            "data",
            np.array([1.0, np.nan, 2.0]),
            ValueError,
            r"data must be finite, got 1 non-finite",
        ),
        ("data", np.array([1.0, np.inf]), ValueError, r"data must be finite"),
        ("data", ["a", "b"], TypeError, r"data must hold real numbers, got dtype <U1"),
        ("data", np.array([1j, 2j]), TypeError, r"data must hold real numbers, got dtype complex"),
        ("data", [[1.0, 2.0], [3.0]], TypeError, r"data must be array-like of real numbers"),
        ("stat_fcn", "mean", TypeError, r"stat_fcn must be callable, got str"),
        ("stat_fcn", lambda x: np.mean(x), TypeError, r"stat_fcn must accept an 'axis' keyword"),
        ("stat_fcn", lambda x, axis: np.full(3, 1.0), ValueError, r"must return shape \(\)"),
        (
            "stat_fcn",
            lambda x, axis: np.nan,
            ValueError,
            r"stat_fcn\(data, axis=0\) must be finite",
        ),
    ],
)
def test_validation_errors(name, value, error, match):
    with pytest.raises(error, match=match):
        bootstrap_ci(**{**_GOOD, name: value})


def test_stat_fcn_without_introspectable_signature_that_rejects_axis():
    class Mean:
        @property
        def __signature__(self) -> Any:
            raise ValueError("no signature")

        def __call__(self, x: np.ndarray) -> float:
            return float(np.mean(x))

    with pytest.raises(TypeError, match=r"stat_fcn must accept an 'axis' keyword .* raised"):
        bootstrap_ci(np.arange(5.0), Mean(), 10, 0.05, 2)


def test_stat_fcn_that_ignores_axis_is_rejected():
    with pytest.raises(ValueError, match=r"must return shape \(2,\)"):
        bootstrap_ci(np.zeros((5, 2)) + np.arange(5.0)[:, None], lambda x, axis: 0.0, 10, 0.05, 2)
    with pytest.raises(ValueError, match=r"axis=1\) with x of shape \(10, 5\) must return shape"):
        bootstrap_ci(np.arange(5.0), lambda x, axis: float(np.mean(x)), 10, 0.05, 2)


def test_zero_standard_error_of_the_data_collapses_studentized_with_warning():
    # The jackknife SE of the median of [0, 0, 0, 1] is 0 (every leave-one-out median is 0),
    # though some resamples ([0, 0, 1, 1]) have a positive one: the percentile-t interval
    # has no scale, so it collapses to the statistic and says so.
    data = np.array([0.0, 0.0, 0.0, 1.0])
    with pytest.warns(DegenerateBootstrapWarning, match=r"column\(s\) \[0\] is degenerate"):
        res = bootstrap_ci(data, np.median, 300, 0.05, 2, studentized=True, seed=0)
    assert res == (0.0, 0.0, 0.0)
