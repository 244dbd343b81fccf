"""Property-based tests of gymsamp.stats against scipy and plain-loop references.

* :func:`bootstrap_ci` on generated samples (2-200 values, ties, constant data, negative and
  scaled values): the basic interval against :func:`scipy.stats.bootstrap` with the same
  resamples, every method against a per-resample loop over the documented index draw, seed
  forms, interval nesting in ``alpha``, affine equivariance, 2-D columns and bad input.
* :func:`sample_from_hyper_sphere_surface`: unit norm, shape, dtype, determinism and the
  documented draws of ``"normal"`` and ``"Marsaglia"``.
* the sequences: generated ``x_init`` (scalars and arrays), counts and dtypes against the seed
  document's formulas written as plain loops (DESIGN §8), overflow included.

Hypothesis runs derandomized, so CI sees the same examples.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gymsamp.stats import (
    DegenerateBootstrapWarning,
    bootstrap_ci,
    sample_from_hyper_sphere_surface,
    sequence,
    sequence_add_init,
    sequence_const,
    sequence_nlog2,
    sequence_plus_one,
    sequence_rec_double,
    sequence_rec_sqrt,
    sequence_sqrt,
)

SETTINGS = settings(max_examples=60)  # derandomized: the profile in tests/conftest.py

# --- bootstrap_ci --------------------------------------------------------------------------------

STATS: dict[str, Callable[..., Any]] = {"mean": np.mean, "median": np.median, "std": np.std}


@st.composite
def samples(draw: st.DrawFn, min_size: int = 2, max_size: int = 200) -> np.ndarray:
    """1-D data on a coarse grid (ties are common, constant data occurs), shifted and scaled."""
    grid = draw(
        st.lists(st.integers(-20, 20), min_size=min_size, max_size=max_size)
        | st.lists(st.integers(-2, 2), min_size=min_size, max_size=max_size)
        | st.builds(
            lambda v, n: [v] * n, st.integers(-5, 5), st.integers(min_size, max(min_size, 12))
        )
    )
    scale = draw(st.sampled_from([1.0, 0.37, -2.5, 1e3]))
    offset = draw(st.sampled_from([0.0, -100.0, 7.25]))
    return np.asarray(grid, dtype=np.float64) * scale + offset


# (ci_sides, bound, scipy alternative)
SIDES = [(2, None, "two-sided"), (1, None, "less"), (1, "upper", "less"), (1, "lower", "greater")]


def _tol(x: np.ndarray) -> float:
    # Bounds are sums and differences of values of magnitude max|x|: rounding only.
    return 1e-9 * (1.0 + float(np.max(np.abs(x))))


def _ref_replicates(x: np.ndarray, stat_fcn: Callable[..., Any], num_reps: int, seed: int):
    """The documented draw ``default_rng(seed).integers(0, n, (num_reps, n))``, one resample
    at a time."""
    idx = np.random.default_rng(seed).integers(0, len(x), size=(num_reps, len(x)))
    return np.array([float(stat_fcn(x[row])) for row in idx]), idx


def _ref_bounds(stat: float, pivots: np.ndarray, scale: float, alpha: float, sides, bound):
    """Bounds from pivots as documented: two-sided both tails, one-sided upper or lower."""
    q = lambda p: float(np.quantile(pivots, p))  # noqa: E731
    if sides == 2:
        return stat - q(1 - alpha / 2) * scale, stat - q(alpha / 2) * scale
    if bound == "lower":
        return stat - q(1 - alpha) * scale, math.inf
    return -math.inf, stat - q(alpha) * scale


@SETTINGS
@given(
    x=samples(),
    stat_name=st.sampled_from(sorted(STATS)),
    num_reps=st.integers(2, 300),
    alpha=st.floats(0.001, 0.999),
    sides=st.sampled_from(SIDES),
    seed=st.integers(0, 2**32),
)
def test_basic_interval_equals_scipy_with_the_same_resamples(
    x, stat_name, num_reps, alpha, sides, seed
):
    ci_sides, bound, alternative = sides
    stat_fcn = STATS[stat_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate data: both warn, each in its own way
        res = bootstrap_ci(x, stat_fcn, num_reps, alpha, ci_sides, seed=seed, bound=bound)
        ref = scipy.stats.bootstrap(
            (x,), stat_fcn, n_resamples=num_reps, method="basic", confidence_level=1 - alpha,
            alternative=alternative, rng=seed,
        )  # fmt: skip
    assert res.statistic == pytest.approx(float(stat_fcn(x)), abs=_tol(x))
    assert res.ci_lo == pytest.approx(ref.confidence_interval.low, abs=_tol(x))
    assert res.ci_up == pytest.approx(ref.confidence_interval.high, abs=_tol(x))


@SETTINGS
@given(
    cols=st.lists(samples(min_size=15, max_size=15), min_size=1, max_size=4),
    stat_name=st.sampled_from(sorted(STATS)),
    sides=st.sampled_from(SIDES),
    seed=st.integers(0, 2**32),
)
def test_2d_basic_interval_equals_scipy_along_axis_0(cols, stat_name, sides, seed):
    # Both resample whole rows with one index draw, so every column matches scipy's.
    ci_sides, bound, alternative = sides
    data = np.stack(cols, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap_ci(data, STATS[stat_name], 120, 0.1, ci_sides, seed=seed, bound=bound)
        ref = scipy.stats.bootstrap(
            (data,), STATS[stat_name], n_resamples=120, method="basic", confidence_level=0.9,
            alternative=alternative, rng=seed, axis=0,
        )  # fmt: skip
    np.testing.assert_allclose(res.ci_lo, ref.confidence_interval.low, rtol=0, atol=_tol(data))
    np.testing.assert_allclose(res.ci_up, ref.confidence_interval.high, rtol=0, atol=_tol(data))


@SETTINGS
@given(
    x=samples(),
    stat_name=st.sampled_from(sorted(STATS)),
    num_reps=st.integers(1, 200),
    alpha=st.floats(0.001, 0.999),
    sides=st.sampled_from(SIDES),
    bias_correction=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_basic_interval_and_bias_match_a_loop_over_resamples(
    x, stat_name, num_reps, alpha, sides, bias_correction, seed
):
    ci_sides, bound, _ = sides
    stat_fcn = STATS[stat_name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = bootstrap_ci(
            x, stat_fcn, num_reps, alpha, ci_sides, bias_correction, seed=seed, bound=bound
        )
    stat = float(stat_fcn(x))
    stat_b, _ = _ref_replicates(x, stat_fcn, num_reps, seed)
    flat = bool(np.all(stat_b == stat_b[0]))
    pivots = np.zeros(1) if flat else stat_b - stat  # a flat column collapses to the statistic
    lo, up = _ref_bounds(stat, pivots, 1.0, alpha, ci_sides, bound)
    expected_stat = stat - (float(np.mean(stat_b)) - stat) if bias_correction else stat

    assert all(type(v) is float for v in res)
    assert res.statistic == pytest.approx(expected_stat, abs=_tol(x))
    assert res.ci_lo == pytest.approx(lo, abs=_tol(x))
    assert res.ci_up == pytest.approx(up, abs=_tol(x))
    assert res.ci_lo <= res.ci_up
    # The interval never depends on bias_correction.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateBootstrapWarning)
        other = bootstrap_ci(
            x, stat_fcn, num_reps, alpha, ci_sides, not bias_correction, seed=seed, bound=bound
        )
    assert (other.ci_lo, other.ci_up) == (res.ci_lo, res.ci_up)
    # Exactly the degenerate cases warn, and only with gymsamp's warning.
    assert [w.category for w in caught] == [DegenerateBootstrapWarning] * flat


def _ref_jackknife_se(s: np.ndarray, stat_fcn: Callable[..., Any]) -> float:
    loo = [float(stat_fcn(np.delete(s, i))) for i in range(len(s))]
    return math.sqrt(len(s) - 1) * float(np.std(loo))


@SETTINGS
@given(
    x=samples(max_size=25),
    stat_name=st.sampled_from(["mean", "std"]),
    num_reps=st.integers(1, 40),
    alpha=st.floats(0.01, 0.99),
    sides=st.sampled_from(SIDES),
    seed=st.integers(0, 2**32),
)
def test_studentized_interval_matches_a_loop_with_jackknife_errors(
    x, stat_name, num_reps, alpha, sides, seed
):
    ci_sides, bound, _ = sides
    stat_fcn = STATS[stat_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateBootstrapWarning)
        res = bootstrap_ci(
            x, stat_fcn, num_reps, alpha, ci_sides, studentized=True, seed=seed, bound=bound
        )
    stat = float(stat_fcn(x))
    se = _ref_jackknife_se(x, stat_fcn)
    stat_b, idx = _ref_replicates(x, stat_fcn, num_reps, seed)
    se_b = np.array([_ref_jackknife_se(x[row], stat_fcn) for row in idx])
    # Documented: resamples with a (relatively) zero standard error are left out; a column with
    # none left, a zero se or all replicates equal collapses to the statistic.
    keep = se_b > 1e-10 * se
    flat = se == 0 or not np.any(keep) or bool(np.all(stat_b == stat_b[0]))
    pivots = np.zeros(1) if flat else (stat_b[keep] - stat) / se_b[keep]
    lo, up = _ref_bounds(stat, pivots, se, alpha, ci_sides, bound)
    # Pivots divide by standard errors, which can be small for tiny resamples.
    tol = 1e-7 * (1.0 + float(np.max(np.abs(x))))
    assert res.statistic == pytest.approx(stat, abs=tol)
    assert res.ci_lo == pytest.approx(lo, abs=tol)
    assert res.ci_up == pytest.approx(up, abs=tol)
    assert res.ci_lo <= res.ci_up


@SETTINGS
@given(
    x=samples(),
    num_reps=st.integers(1, 100),
    alphas=st.lists(st.floats(0.001, 0.999), min_size=2, max_size=2, unique=True),
    studentized=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_smaller_alpha_gives_a_nested_wider_interval(x, num_reps, alphas, studentized, seed):
    small, large = sorted(alphas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateBootstrapWarning)
        wide = bootstrap_ci(x, np.mean, num_reps, small, 2, studentized=studentized, seed=seed)
        narrow = bootstrap_ci(x, np.mean, num_reps, large, 2, studentized=studentized, seed=seed)
    # Same resamples, quantile levels further out: the confidence-(1 - small) interval
    # contains the confidence-(1 - large) one.
    assert wide.statistic == narrow.statistic
    assert wide.ci_lo <= narrow.ci_lo <= narrow.ci_up <= wide.ci_up


@SETTINGS
@given(x=samples(), num_reps=st.integers(1, 100), seed=st.integers(0, 2**63 - 1))
def test_int_seed_numpy_int_seed_and_generator_agree(x, num_reps, seed):
    gen = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateBootstrapWarning)
        by_int = bootstrap_ci(x, np.median, num_reps, 0.1, 2, seed=seed)
        by_np_int = bootstrap_ci(x, np.median, num_reps, 0.1, 2, seed=np.uint64(seed))
        by_gen = bootstrap_ci(x, np.median, num_reps, 0.1, 2, seed=gen)
    assert by_int == by_np_int == by_gen
    # The Generator is advanced by exactly the documented draw, no more.
    ref = np.random.default_rng(seed)
    ref.integers(0, len(x), size=(num_reps, len(x)))
    assert gen.bit_generator.state == ref.bit_generator.state


@SETTINGS
@given(
    x=samples(),
    a=st.sampled_from([2.0, 0.5, -1.0, -4.0]),
    c=st.sampled_from([0.0, 3.0, -1e3]),
    sides=st.sampled_from(SIDES[:2]),
    studentized=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_mean_interval_is_affine_equivariant(x, a, c, sides, studentized, seed):
    ci_sides, _, _ = sides
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateBootstrapWarning)
        res = bootstrap_ci(x, np.mean, 150, 0.1, ci_sides, studentized=studentized, seed=seed)
        moved = bootstrap_ci(
            a * x + c, np.mean, 150, 0.1, ci_sides, studentized=studentized, seed=seed
        )
    tol = 1e-7 * (1.0 + float(np.max(np.abs(a * x + c))))
    assert moved.statistic == pytest.approx(a * res.statistic + c, abs=tol)
    if ci_sides == 1:
        if a > 0:  # an upper bound stays an upper bound
            assert moved.ci_lo == -math.inf
            assert moved.ci_up == pytest.approx(a * res.ci_up + c, abs=tol)
        return
    # numpy's linear quantile is symmetric (q_p(-d) = -q_{1-p}(d)), so a < 0 swaps the ends.
    lo, up = sorted([a * res.ci_lo + c, a * res.ci_up + c])
    assert moved.ci_lo == pytest.approx(lo, abs=tol)
    assert moved.ci_up == pytest.approx(up, abs=tol)


@SETTINGS
@given(
    cols=st.lists(samples(min_size=12, max_size=12), min_size=1, max_size=4),
    studentized=st.booleans(),
    sides=st.sampled_from(SIDES),
    seed=st.integers(0, 2**32),
)
def test_2d_data_equals_each_column_alone(cols, studentized, sides, seed):
    ci_sides, bound, _ = sides
    data = np.stack(cols, axis=1)
    kwargs = dict(studentized=studentized, seed=seed, bound=bound)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateBootstrapWarning)
        res = bootstrap_ci(data, np.mean, 60, 0.2, ci_sides, **kwargs)
        alone = [bootstrap_ci(col, np.mean, 60, 0.2, ci_sides, **kwargs) for col in cols]
    for field in range(3):
        assert res[field].shape == (len(cols),)
        np.testing.assert_allclose(res[field], [r[field] for r in alone], rtol=1e-12, atol=1e-12)


@SETTINGS
@given(x=samples(), position=st.integers(0, 199), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_non_finite_data_is_refused_with_the_count(x, position, bad):
    x = x.copy()
    x[position % len(x)] = bad
    with pytest.raises(ValueError, match=r"^data must be finite, got 1 non-finite entries$"):
        bootstrap_ci(x, np.mean, 10, 0.05, 2, seed=0)


@SETTINGS
@given(
    alpha=st.one_of(
        st.floats(max_value=0.0), st.floats(min_value=1.0), st.just(math.nan), st.just(math.inf)
    ),
)
def test_alpha_outside_the_open_unit_interval_is_refused(alpha):
    with pytest.raises(ValueError, match=r"^alpha must be a real number in the open interval"):
        bootstrap_ci(np.arange(5.0), np.mean, 10, alpha, 2, seed=0)


@SETTINGS
@given(num_reps=st.integers(max_value=0) | st.floats(allow_nan=False))
def test_bad_num_reps_is_refused(num_reps):
    error = ValueError if isinstance(num_reps, int) else TypeError
    with pytest.raises(
        error, match=rf"^num_reps must be an int >= 1, got {re.escape(repr(num_reps))}$"
    ):
        bootstrap_ci(np.arange(5.0), np.mean, num_reps, 0.05, 2, seed=0)


@SETTINGS
@given(x=samples(), stat_name=st.sampled_from(sorted(STATS)), sides=st.sampled_from(SIDES))
def test_one_resample_collapses_to_the_statistic_with_a_warning(x, stat_name, sides):
    ci_sides, bound, _ = sides
    stat = float(STATS[stat_name](x))
    with pytest.warns(DegenerateBootstrapWarning, match="degenerate"):
        res = bootstrap_ci(x, STATS[stat_name], 1, 0.05, ci_sides, seed=0, bound=bound)
    expected = {
        (2, None): (stat, stat),
        (1, None): (-math.inf, stat),
        (1, "upper"): (-math.inf, stat),
        (1, "lower"): (stat, math.inf),
    }[(ci_sides, bound)]
    assert res == pytest.approx((stat, *expected), abs=_tol(x))


# --- sample_from_hyper_sphere_surface -----------------------------------------------------------

# (method, dimensions it supports)
SPHERE = [
    ("normal", st.integers(1, 64)),
    ("uniform", st.integers(1, 10)),
    ("Marsaglia", st.sampled_from([3, 4])),
]


@st.composite
def sphere_args(draw: st.DrawFn) -> tuple[str, int]:
    method, dims = draw(st.sampled_from(SPHERE))
    return method, draw(dims)


def _ref_disk_point(rng: np.random.Generator) -> tuple[float, float, float]:
    while True:
        x1, x2 = rng.uniform(-1.0, 1.0, size=2)
        if 0.0 < x1 * x1 + x2 * x2 < 1.0:
            return x1, x2, x1 * x1 + x2 * x2


def _ref_sphere_point(method: str, num_dim: int, rng: np.random.Generator) -> np.ndarray | None:
    """The documented draw of ``method``, or None where only its distribution is promised."""
    if method == "normal":
        while True:
            v = rng.standard_normal(num_dim)
            if np.linalg.norm(v) > 1e-6:
                return v / np.linalg.norm(v)
    if method == "Marsaglia" and num_dim == 3:  # Marsaglia (1972), eq. (2)
        x1, x2, s = _ref_disk_point(rng)
        return np.array([2 * x1 * math.sqrt(1 - s), 2 * x2 * math.sqrt(1 - s), 1 - 2 * s])
    if method == "Marsaglia":  # Marsaglia (1972), 4-D from two disk points
        x1, x2, s1 = _ref_disk_point(rng)
        x3, x4, s2 = _ref_disk_point(rng)
        root = math.sqrt((1 - s1) / s2)
        return np.array([x1, x2, x3 * root, x4 * root])
    return None


@SETTINGS
@given(args=sphere_args(), seed=st.integers(0, 2**63 - 1), num_points=st.integers(1, 4))
def test_sphere_points_are_unit_deterministic_and_follow_the_documented_draws(
    args, seed, num_points
):
    method, num_dim = args
    gen, ref_gen = np.random.default_rng(seed), np.random.default_rng(seed)
    points = [sample_from_hyper_sphere_surface(num_dim, method, rng=gen) for _ in range(num_points)]
    # An int seed is default_rng(seed): the first point of the Generator's stream.
    first = sample_from_hyper_sphere_surface(num_dim, method, rng=seed)
    assert torch.equal(first, points[0])
    assert torch.equal(sample_from_hyper_sphere_surface(num_dim, method, rng=np.int64(seed)), first)
    for point in points:
        assert point.shape == (num_dim,)
        assert point.dtype == torch.get_default_dtype()
        assert point.device.type == "cpu"
        assert float(torch.linalg.vector_norm(point.double())) == pytest.approx(1.0, abs=1e-6)
        assert bool(torch.all(point.abs() <= 1.0))
        ref = _ref_sphere_point(method, num_dim, ref_gen)
        if ref is not None:
            assert torch.equal(point, torch.from_numpy(ref).to(torch.get_default_dtype()))


@SETTINGS
@given(
    num_dim=st.integers(max_value=0) | st.floats(allow_nan=False) | st.booleans(),
    method=st.sampled_from(["normal", "uniform"]),
)
def test_sphere_refuses_bad_num_dim(num_dim, method):
    error = ValueError if type(num_dim) is int else TypeError
    with pytest.raises(
        error, match=rf"^num_dim must be an int >= 1, got {re.escape(repr(num_dim))}$"
    ):
        sample_from_hyper_sphere_surface(num_dim, method, rng=0)


@SETTINGS
@given(
    num_dim=st.integers(1, 40),
    method=st.sampled_from(["normal", "uniform", "Marsaglia", "marsaglia", "gauss", ""]),
)
def test_sphere_refuses_unsupported_methods_and_dimensions(num_dim, method):
    supported = (
        method == "normal"
        or (method == "uniform" and num_dim <= 10)
        or (method == "Marsaglia" and num_dim in (3, 4))
    )
    if supported:
        assert sample_from_hyper_sphere_surface(num_dim, method, rng=0).shape == (num_dim,)
        return
    # The message names the rule and the offending value.
    if method not in ("uniform", "Marsaglia"):
        methods = r"\['uniform', 'normal', 'Marsaglia'\]"
        match = rf"^method must be one of {methods}, got {re.escape(repr(method))}$"
    elif method == "uniform":
        match = rf"^method 'uniform' supports num_dim <= 10 .*got num_dim={num_dim};"
    else:
        match = rf"^method 'Marsaglia' is only defined for num_dim 3 or 4, got {num_dim}$"
    with pytest.raises(ValueError, match=match):
        sample_from_hyper_sphere_surface(num_dim, method, rng=0)


# --- sequences ------------------------------------------------------------------------------

# name -> (function, formula x_n(x_0, n, x_prev) for n >= 1, maps ints to ints)
FORMULAS: dict[str, tuple[Callable[..., Any], Callable[[Any, int, Any], Any], bool]] = {
    "const": (sequence_const, lambda x0, n, prev: x0, True),
    "plus_one": (sequence_plus_one, lambda x0, n, prev: x0 + n, True),
    "add_init": (sequence_add_init, lambda x0, n, prev: x0 * n, True),
    "rec_double": (sequence_rec_double, lambda x0, n, prev: prev * 2, True),
    "sqrt": (sequence_sqrt, lambda x0, n, prev: x0 * math.sqrt(n), False),
    "rec_sqrt": (sequence_rec_sqrt, lambda x0, n, prev: prev * math.sqrt(n), False),
    "nlog2": (sequence_nlog2, lambda x0, n, prev: x0 * n * math.log2(n + 2), False),
}
DTYPES: list[Any] = [
    int, float, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint64,
    np.float16, np.float32, np.float64,
]  # fmt: skip


def _fits(value: float | int, dt: np.dtype) -> bool:
    if dt.kind == "f":
        with np.errstate(over="ignore"):
            return bool(np.isfinite(np.array(value, dtype=np.float64).astype(dt)))
    info = np.iinfo(dt)
    return int(info.min) <= math.trunc(value) <= int(info.max)


def _ref_sequence(name: str, x0: float | int, iterations: int, exact: bool) -> list[Any]:
    """The seed document's formula as a plain loop over one scalar entry: Python ints where
    gymsamp computes exactly (integral formula, int x_init, int dtype), else float64."""
    formula = FORMULAS[name][1]
    values = [x0 if exact else float(x0)]
    for n in range(1, iterations + 1):
        values.append(formula(values[0], n, values[-1]))
    return values


@st.composite
def x_inits(draw: st.DrawFn) -> Any:
    """Scalars (Python, numpy and bool ints, floats, ints beyond 2**53) and arrays of shape
    (k,) or (2, k)."""
    ints = st.integers(-1000, 1000)
    floats = st.floats(-1000.0, 1000.0, allow_nan=False, allow_infinity=False)
    kind = draw(
        st.sampled_from(
            ["int", "big_int", "float", "np_int", "np_uint", "bool", "np_float", "int_array",
             "float_array"]
        )
    )  # fmt: skip
    if kind == "int":
        return draw(ints)
    if kind == "big_int":  # exact in the integral formulas, refused by the others for ints
        return draw(st.integers(2**53 - 4, 2**53 + 4) | st.integers(-(2**62), 2**62))
    if kind == "float":
        return draw(floats)
    if kind == "np_int":
        return np.int32(draw(ints))
    if kind == "np_uint":
        return np.uint16(draw(st.integers(0, 1000)))
    if kind == "bool":
        return draw(st.booleans())
    if kind == "np_float":
        return np.float64(draw(floats))
    shape = draw(st.sampled_from([(0,), (1,), (3,), (2, 2), (2, 3)]))
    elements = st.lists(ints if kind == "int_array" else floats, min_size=math.prod(shape))
    values = draw(elements.map(lambda v: v[: math.prod(shape)]))
    return np.array(values, dtype=np.int64 if kind == "int_array" else np.float64).reshape(shape)


SEQ_SETTINGS = settings(SETTINGS, max_examples=200)


@SEQ_SETTINGS
@given(
    name=st.sampled_from(sorted(FORMULAS)),
    x_init=x_inits(),
    iterations=st.integers(0, 45),
    dtype=st.sampled_from(DTYPES),
)
def test_named_sequences_follow_the_seed_formulas(name, x_init, iterations, dtype):
    _check_named_sequence(name, x_init, iterations, dtype)


INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


@st.composite
def near_int_bounds(draw: st.DrawFn) -> tuple[Any, int]:
    """An int dtype and an x_init (a Python int or float) near one of its bounds."""
    dtype = draw(st.sampled_from(INT_DTYPES))
    info = np.iinfo(dtype)
    edge = draw(st.sampled_from([int(info.min), int(info.max)]))
    if info.bits <= 32 and draw(st.booleans()):
        # Floats truncate toward zero: 127.99 fits int8, 128.0 does not, -0.99 fits uint8.
        return dtype, edge + draw(st.sampled_from([-1.0, -0.99, -0.5, 0.0, 0.5, 0.99, 1.0]))
    return dtype, edge + draw(st.integers(-4, 4))


@SEQ_SETTINGS
@given(
    name=st.sampled_from(sorted(FORMULAS)),
    bounds=near_int_bounds(),
    iterations=st.integers(0, 5),
)
def test_named_sequences_at_the_bounds_of_int_dtypes(name, bounds, iterations):
    # Exact Python-int computation (integral formulas) up to the last value the dtype holds,
    # OverflowError one past it, and ints float64 would round refused by the other formulas.
    dtype, x_init = bounds
    _check_named_sequence(name, x_init, iterations, dtype)


def _check_named_sequence(name: str, x_init: Any, iterations: int, dtype: Any) -> None:
    """Check one named sequence against its formula as a plain loop (see _ref_sequence)."""
    fcn, _, integral = FORMULAS[name]
    x0 = np.asarray(x_init)
    dt = np.dtype(dtype)
    int_init = x0.dtype.kind in "biuO"  # "O": Python ints no numpy integer holds
    exact = integral and int_init and dt.kind in "iu"
    if int_init and dt.kind in "iu" and not exact:
        # Computed in float64 and cast to an int dtype: ints float64 would round are refused.
        rounded = [v for v in x0.reshape(-1).tolist() if int(float(v)) != v]
        if rounded:
            with pytest.raises(ValueError, match=r"^x_init must be exactly representable in"):
                fcn(x_init, iterations, dtype)
            return
    entries = [
        _ref_sequence(name, v, iterations, exact) for v in x0.reshape(-1).tolist()
    ]  # one list of iterations + 1 values per entry of x_init
    # The first element (lowest n) that some entry cannot hold in dt.
    bad = [n for n in range(iterations + 1) if not all(_fits(e[n], dt) for e in entries)]
    if bad:
        with pytest.raises(
            OverflowError, match=rf"(?s)^sequence element x_{bad[0]} = .* does not fit dtype {dt}$"
        ):
            fcn(x_init, iterations, dtype)
        return
    last, x_seq = fcn(x_init, iterations, dtype)

    expected = np.array(
        [[e[n] for e in entries] for n in range(iterations + 1)],
        dtype=object if exact else np.float64,
    ).astype(dt)
    assert x_seq.dtype == dt
    assert x_seq.shape == (iterations + 1, *x0.shape)
    np.testing.assert_array_equal(x_seq.reshape(iterations + 1, -1), expected)
    if x0.ndim == 0:
        assert type(last) is (int if dt.kind in "iu" else float)
        assert last == x_seq[-1]
    else:
        assert isinstance(last, np.ndarray)
        np.testing.assert_array_equal(last, x_seq[-1])
        assert not np.shares_memory(last, x_seq)


@SETTINGS
@given(
    x_init=x_inits(),
    iterations=st.integers(0, 30),
    a=st.floats(-2.0, 2.0),
    b=st.floats(-3.0, 3.0),
    dtype=st.sampled_from([float, np.float32, int]),
)
# Generated only in the whole suite (Hypothesis also draws constants it finds in the loaded
# modules): an int that float64 rounds, which sequence() refuses for an int dtype.
@example(x_init=2**53 + 1, iterations=0, a=0.0, b=0.0, dtype=int)
def test_sequence_calls_the_iterator_as_documented(x_init, iterations, a, b, dtype):
    calls: list[tuple[np.ndarray, int, np.ndarray]] = []

    def iterate(x0, n, x_prev):
        calls.append((x0.copy(), n, x_prev.copy()))
        return a * x_prev + b * x0 / n

    if dtype is int and isinstance(x_init, int) and float(x_init) != x_init:
        with pytest.raises(ValueError, match="x_init must be exactly representable in float64"):
            sequence(x_init, iterations, iterate, dtype=dtype)
        assert calls == []
        return
    x0 = np.asarray(x_init, dtype=np.float64)
    ref = [x0]
    for n in range(1, iterations + 1):
        ref.append(a * ref[-1] + b * ref[0] / n)  # float64 throughout, cast once at the end
    expected = np.array(ref)
    if dtype is int and not (np.all(np.abs(expected) < 2**62)):
        return  # the overflow error is covered by the named sequences
    _, x_seq = sequence(x_init, iterations, iterate, dtype=dtype)
    np.testing.assert_array_equal(x_seq, expected.astype(dtype))
    assert [n for _, n, _ in calls] == list(range(1, iterations + 1))
    for (init_arg, _, prev_arg), prev in zip(calls, ref[:-1], strict=True):
        assert init_arg.dtype == prev_arg.dtype == np.float64
        np.testing.assert_array_equal(init_arg, x0)
        np.testing.assert_array_equal(prev_arg, prev)


@SETTINGS
@given(
    name=st.sampled_from(sorted(FORMULAS)),
    iterations=st.integers(max_value=-1) | st.floats(allow_nan=False) | st.booleans(),
)
def test_named_sequences_refuse_bad_iter(name, iterations):
    error = ValueError if type(iterations) is int else TypeError
    with pytest.raises(
        error, match=rf"^iter must be an int >= 0, got {re.escape(repr(iterations))}$"
    ):
        FORMULAS[name][0](1, iterations)


@SETTINGS
@given(
    name=st.sampled_from(sorted(FORMULAS)),
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
    as_array=st.booleans(),
)
def test_named_sequences_refuse_non_finite_x_init(name, bad, as_array):
    x_init = np.array([1.0, bad]) if as_array else bad
    with pytest.raises(ValueError, match=r"^x_init must be finite, got "):
        FORMULAS[name][0](x_init, 3, float)
