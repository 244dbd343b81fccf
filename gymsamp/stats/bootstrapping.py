"""Nonparametric bootstrap confidence intervals: :func:`bootstrap_ci`.

Modelled on :func:`scipy.stats.bootstrap` (one validation helper, vectorized resampling), with
pyrado's signature and two additions scipy lacks: the percentile-t (studentized) interval and an
optional bias-corrected point estimate.
"""

from __future__ import annotations

import inspect
import numbers
import warnings
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from gymsamp.stats._checks import refuse_grad

FloatArray = npt.NDArray[np.float64]
#: A float for 1-D data, an array of shape ``(d,)`` for 2-D data of shape ``(n, d)``.
BootstrapValue = float | FloatArray

# Upper bound on the bytes of resampled data handed to ``stat_fcn`` in one call. The resample
# indices are drawn in the same row blocks; consecutive draws continue one stream (see
# ``_replicates``), so results do not depend on this constant.
_CHUNK_BYTES = 100 * 2**20
# A replicate whose jackknife standard error is this small relative to the original data's one
# gives a meaningless (infinite or 0/0) studentized pivot.
_SE_RTOL = 1e-10


class DegenerateBootstrapWarning(RuntimeWarning):
    """The bootstrap distribution or a standard error vanished, so an interval degenerated.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     result = bootstrap_ci(np.ones(5), np.mean, 100, 0.05, 2, seed=0)
        >>> caught[0].category.__name__, result.ci_lo, result.ci_up  # constant data
        ('DegenerateBootstrapWarning', 1.0, 1.0)
    """


class BootstrapResult(NamedTuple):
    """Result of :func:`bootstrap_ci`; unpacks as the 3-tuple ``(statistic, ci_lo, ci_up)``.

    Example:
        >>> result = bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0]), np.mean, 200, 0.05, 2, seed=0)
        >>> result.statistic, result.ci_lo, result.ci_up
        (2.5, 1.5, 3.5)
        >>> mean, lo, up = result
    """

    statistic: BootstrapValue
    ci_lo: BootstrapValue
    ci_up: BootstrapValue


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


class _Validated(NamedTuple):
    data: FloatArray
    stat: FloatArray
    rng: np.random.Generator


def _validate(
    data: npt.ArrayLike,
    stat_fcn: Callable[..., Any],
    num_reps: Any,
    alpha: Any,
    ci_sides: Any,
    bias_correction: Any,
    studentized: Any,
    seed: Any,
    bound: Any,
) -> _Validated:
    """Check every argument of :func:`bootstrap_ci`; return the float data, statistic and rng."""
    # Wrong types raise TypeError, wrong values of the right type ValueError.
    if not _is_int(num_reps):
        raise TypeError(f"num_reps must be an int >= 1, got {num_reps!r}")
    if num_reps < 1:
        raise ValueError(f"num_reps must be an int >= 1, got {num_reps!r}")
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"alpha must be a real number in the open interval (0, 1), got {alpha!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be a real number in the open interval (0, 1), got {alpha!r}")
    if not _is_int(ci_sides):
        raise TypeError(f"ci_sides must be the int 1 or 2, got {ci_sides!r}")
    if ci_sides not in (1, 2):
        raise ValueError(f"ci_sides must be the int 1 or 2, got {ci_sides!r}")
    if ci_sides == 2 and bound is not None:
        raise ValueError(
            f"bound must be None with ci_sides=2 (a two-sided interval), got {bound!r}"
        )
    if bound not in (None, "upper", "lower"):
        raise ValueError(f"bound must be 'upper', 'lower' or None, got {bound!r}")
    for name, flag in (("bias_correction", bias_correction), ("studentized", studentized)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {flag!r}")
    if seed is not None and not isinstance(seed, np.random.Generator):
        if not _is_int(seed):
            raise TypeError(
                f"seed must be None, an int >= 0 or a numpy.random.Generator, got {seed!r}"
            )
        if seed < 0:
            raise ValueError(
                f"seed must be None, an int >= 0 or a numpy.random.Generator, got {seed}"
            )

    refuse_grad("data", data, "bootstrapping")
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"data must be array-like of real numbers, got {type(data).__name__}"
        ) from err
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"data must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"data must be 1-D (n,) or 2-D (n, d), got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.size == 0:
        raise ValueError(
            f"data must hold at least 2 samples along axis 0 and >= 1 column, got shape {arr.shape}"
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"data must be finite, got {int(np.sum(~np.isfinite(arr)))} non-finite entries"
        )

    if not callable(stat_fcn):
        raise TypeError(f"stat_fcn must be callable, got {type(stat_fcn).__name__}")
    try:
        params: Any = inspect.signature(stat_fcn).parameters
    except (TypeError, ValueError):
        params = None  # not introspectable (some C callables): the trial call below decides
    if (
        params is not None
        and "axis" not in params
        and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    ):
        raise TypeError(
            "stat_fcn must accept an 'axis' keyword argument like numpy reductions (e.g. np.mean), "
            f"got {getattr(stat_fcn, '__name__', stat_fcn)!s}{inspect.signature(stat_fcn)}"
        )
    try:
        stat = np.asarray(stat_fcn(arr, axis=0), dtype=np.float64)
    except TypeError as err:
        raise TypeError(
            "stat_fcn must accept an 'axis' keyword argument like numpy reductions; "
            f"stat_fcn(data, axis=0) raised TypeError: {err}"
        ) from err
    if stat.shape != arr.shape[1:]:
        raise ValueError(
            f"stat_fcn(data, axis=0) must return shape {arr.shape[1:]} (one value per column), "
            f"got shape {stat.shape}"
        )
    if not np.all(np.isfinite(stat)):
        raise ValueError(f"stat_fcn(data, axis=0) must be finite, got {stat}")

    return _Validated(arr, stat, np.random.default_rng(seed))


def _call_stat(
    stat_fcn: Callable[..., Any], x: FloatArray, axis: int, shape: tuple[int, ...]
) -> FloatArray:
    out = np.asarray(stat_fcn(x, axis=axis), dtype=np.float64)
    if out.shape != shape:
        raise ValueError(
            f"stat_fcn(x, axis={axis}) with x of shape {x.shape} must return shape {shape}, "
            f"got shape {out.shape}; stat_fcn must reduce exactly the given axis"
        )
    return out


def _leave_one_out_block(samples: FloatArray, start: int, stop: int) -> FloatArray:
    """``samples`` (r, n, *cols) with position ``i`` left out, for ``i`` in ``start..stop-1``:
    shape (r, stop - start, n - 1, *cols).

    The sample without ``i`` is ``x[1:]`` with its first ``i`` entries replaced by ``x[:i]``:
    one broadcast copy and one slice copy per position, with no table of ``n * (n - 1)``
    indices (3.2 GB at ``n = 20,000``). The block is laid out in memory as
    (positions, n - 1, r, *cols), as numpy's fancy-index gather lays it out, so a reduction over
    the sample axis runs its inner loop over contiguous replicates (~6x faster than over a
    C-ordered block for a few columns).
    """
    # (n, r, *cols) in this order in memory, so the copies below are contiguous.
    by_position = np.ascontiguousarray(np.moveaxis(samples, 0, 1))
    block = np.empty((stop - start, by_position.shape[0] - 1, *by_position.shape[1:]))
    block[...] = by_position[1:]
    for row, left_out in enumerate(range(start, stop)):
        block[row, :left_out] = by_position[:left_out]
    return np.moveaxis(block, 2, 0)


def _jackknife_se(samples: FloatArray, stat_fcn: Callable[..., Any]) -> FloatArray:
    """Jackknife standard error of ``stat_fcn`` for each sample in ``samples`` (r, n, *cols)."""
    r, n, cols = samples.shape[0], samples.shape[1], samples.shape[2:]
    sample_bytes = (n - 1) * int(np.prod(cols, dtype=np.int64)) * 8
    # Blocks over leave-out positions too, so a single huge sample still respects the budget.
    pos_block = min(n, max(1, _CHUNK_BYTES // sample_bytes))
    rep_block = max(1, _CHUNK_BYTES // (pos_block * sample_bytes))
    se = np.empty((r, *cols))
    for r0 in range(0, r, rep_block):
        chunk = samples[r0 : r0 + rep_block]
        loo_stats = np.empty((chunk.shape[0], n, *cols))
        for j0 in range(0, n, pos_block):
            j1 = min(j0 + pos_block, n)
            block = _leave_one_out_block(chunk, j0, j1)  # (reps, positions, n - 1, *cols)
            loo_stats[:, j0:j1] = _call_stat(stat_fcn, block, 2, block.shape[:2] + cols)
            del block  # freed before the next block is built: one block is held at a time
        se[r0 : r0 + rep_block] = np.sqrt(n - 1) * np.std(loo_stats, axis=1)
    return se


def _replicates(
    data: FloatArray,
    stat_fcn: Callable[..., Any],
    num_reps: int,
    rng: np.random.Generator,
    *,
    studentized: bool,
) -> tuple[FloatArray, FloatArray | None]:
    """Bootstrap replicates of ``stat_fcn`` and, if ``studentized``, their jackknife SEs.

    The indices of a block of resamples are drawn just before its gather, so only one block of
    indices is held at a time instead of the whole ``(num_reps, n)`` array. The values equal one
    draw ``rng.integers(0, n, size=(num_reps, n))``: numpy's bounded integers take each value
    from the bit generator's stream on its own (Lemire rejection per value; a 32-bit half word
    left over by one call is kept in the bit generator's state for the next), so splitting the
    draw by rows changes neither the values nor the generator's final state.
    """
    n, cols = data.shape[0], data.shape[1:]
    stat_bs = np.empty((num_reps, *cols))
    se_bs = np.empty((num_reps, *cols)) if studentized else None
    rep_block = max(1, _CHUNK_BYTES // (data[0].nbytes * n))
    for r0 in range(0, num_reps, rep_block):
        # The indices live only during the gather: (reps, n, *cols).
        resamples = data[rng.integers(0, n, size=(min(rep_block, num_reps - r0), n))]
        stat_bs[r0 : r0 + rep_block] = _call_stat(
            stat_fcn, resamples, 1, resamples.shape[:1] + cols
        )
        if se_bs is not None:
            se_bs[r0 : r0 + rep_block] = _jackknife_se(resamples, stat_fcn)
        # Freed before the next block is drawn, so one block of indices and one of resamples
        # are the most held at once.
        del resamples
    return stat_bs, se_bs


def _warn(message: str, stacklevel: int) -> None:
    # stacklevel counts from the caller of _warn, so the warning points at user code.
    warnings.warn(message, DegenerateBootstrapWarning, stacklevel=stacklevel + 1)


def _studentized_pivots(
    stat: FloatArray, stat_bs: FloatArray, se: FloatArray, se_bs: FloatArray
) -> FloatArray:
    """Percentile-t pivots, NaN where a replicate's standard error vanished (dropped later)."""
    valid = se_bs > _SE_RTOL * se
    # Replicates with a non-finite statistic are already NaN and were reported by the caller.
    num_dropped = np.sum(~valid & np.isfinite(stat_bs), axis=0)
    live = np.atleast_1d((num_dropped > 0) & (se > 0))
    if np.any(live):
        cols = np.flatnonzero(live).tolist()
        _warn(
            f"{np.atleast_1d(num_dropped)[live].tolist()} of {stat_bs.shape[0]} bootstrap "
            f"replicates (per affected column {cols}) have a zero or undefined jackknife standard "
            "error; "
            "they were left out of the studentized interval, which may therefore be too narrow",
            stacklevel=3,
        )
    safe_se = np.where(valid, se_bs, 1.0)
    return np.where(valid, (stat_bs - stat) / safe_se, np.nan)


def bootstrap_ci(
    data: npt.ArrayLike,
    stat_fcn: Callable[..., Any],
    num_reps: int,
    alpha: float,
    ci_sides: int,
    bias_correction: bool = False,
    studentized: bool = False,
    seed: int | np.random.Generator | None = None,
    *,
    bound: Literal["upper", "lower"] | None = None,
) -> BootstrapResult:
    """Nonparametric bootstrap confidence interval of a statistic.

    ``num_reps`` resamples of the ``n`` rows of ``data`` are drawn with replacement; their
    indices are those of one draw ``rng.integers(0, n, size=(num_reps, n))`` with
    ``rng = np.random.default_rng(seed)``, and ``stat_fcn`` is evaluated on all of them with
    ``axis=1`` in one call. Large inputs are handled in blocks of about 100 MB of resampled
    data, each block's indices drawn just before it (the same values, while the memory held
    stays near two blocks whatever ``num_reps``). For 2-D data whole rows are resampled, so
    the columns share the resample indices and each column's result equals bootstrapping that
    column alone.

    Intervals (``stat = stat_fcn(data, axis=0)``, ``stat_b`` the bootstrap replicates, ``q_p`` the
    ``p``-quantile over replicates, linear interpolation as in :func:`numpy.quantile`):

    * basic (default): with ``delta_b = stat_b - stat``, two-sided
      ``[stat - q_{1-alpha/2}(delta), stat - q_{alpha/2}(delta)]``, matching
      ``scipy.stats.bootstrap(..., method="basic")``. The percentile interval is the reflection
      ``[2 stat - ci_up, 2 stat - ci_lo]`` (with the uncorrected ``stat``).
    * studentized (percentile-t): with ``t_b = (stat_b - stat) / se_b``, two-sided
      ``[stat - q_{1-alpha/2}(t) se, stat - q_{alpha/2}(t) se]``. The standard errors ``se`` (of
      the data) and ``se_b`` (of every resample) are jackknife estimates, generic in
      ``stat_fcn`` but costing ``n`` extra evaluations per resample, and only reliable for smooth
      statistics (mean, variance, ...; not the median or other quantiles).
    * ``ci_sides=1``: a one-sided confidence bound at level ``1 - alpha``; by default the
      upper one, as pyrado's: ``ci_lo = -inf`` and ``ci_up = stat - q_{alpha}(pivot) * scale``
      (scipy's ``alternative="less"``); with ``bound="lower"`` the lower one,
      ``ci_lo = stat - q_{1-alpha}(pivot) * scale`` and ``ci_up = inf`` (scipy's
      ``alternative="greater"``: "the mean return is at least ``ci_lo``").

    The interval does not depend on ``bias_correction``; only the returned statistic does.

    Degenerate cases emit a :class:`DegenerateBootstrapWarning` (a :class:`RuntimeWarning`):
    a column whose bootstrap replicates are all equal (e.g. constant data) gets the interval
    ``[stat, stat]`` (one-sided ``(-inf, stat]`` or ``[stat, inf)``); for ``studentized=True``
    a column whose jackknife standard error is zero collapses the same way, and resamples with a
    zero standard error are left out of the pivot quantiles (a column left with none collapses).
    Resamples on which ``stat_fcn`` is not finite are left out of the quantiles and the bias,
    with a warning.

    Args:
        data: Samples, 1-D of shape ``(n,)`` or 2-D of shape ``(n, d)`` (one statistic per
            column), ``n >= 2``, finite real numbers (converted to float64).
        stat_fcn: Statistic taking an array and an ``axis`` keyword and reducing that axis,
            like ``np.mean`` or ``np.median``.
        num_reps: Number of bootstrap resamples, an int >= 1.
        alpha: Significance level in (0, 1); the confidence level is ``1 - alpha``.
        ci_sides: 2 for a two-sided interval, 1 for a one-sided bound (see ``bound``).
        bias_correction: If True, return ``stat - (mean(stat_b) - stat)`` as the statistic.
        studentized: If True, use the percentile-t interval instead of the basic one.
        seed: An int >= 0, a :class:`numpy.random.Generator` (advanced in place) or None for
            fresh OS entropy. The global numpy RNG is never used.
        bound: With ``ci_sides=1``, ``"upper"`` (the default, pyrado's) or ``"lower"``; must be
            None with ``ci_sides=2``.

    Returns:
        ``BootstrapResult(statistic, ci_lo, ci_up)``, a NamedTuple that unpacks as a 3-tuple.
        For 1-D data the three entries are Python floats, for 2-D data float64 arrays of shape
        ``(d,)``.

    Raises:
        TypeError: If an argument has the wrong type: ``num_reps`` or ``ci_sides`` not an int,
            ``alpha`` not a real number, ``data`` not real numeric, ``stat_fcn`` not callable
            or without an ``axis`` keyword, a flag not a bool, ``seed`` of another type.
        ValueError: If ``num_reps < 1``, ``alpha`` is outside (0, 1), ``ci_sides`` is not 1 or
            2, ``data`` is not 1-D/2-D, has fewer than 2 rows or non-finite entries or is a
            tensor that requires grad, ``seed`` is negative, or ``stat_fcn`` returns the wrong
            shape or a non-finite statistic.

    Example:
        >>> import numpy as np
        >>> x = np.arange(20.0)
        >>> stat, lo, up = bootstrap_ci(x, np.mean, 2000, 0.05, 2, seed=0)
        >>> stat, bool(lo < stat < up), bool(6.0 < lo < 9.5 < up < 13.0)
        (9.5, True, True)
        >>> res = bootstrap_ci(x, np.mean, 2000, 0.05, ci_sides=1, seed=0)
        >>> res.ci_lo, bool(stat < res.ci_up < up)
        (-inf, True)
        >>> res = bootstrap_ci(x, np.mean, 2000, 0.05, ci_sides=1, seed=0, bound="lower")
        >>> bool(lo < res.ci_lo < stat), res.ci_up
        (True, inf)
        >>> res = bootstrap_ci(np.c_[x, 2 * x], np.mean, 2000, 0.05, 2, studentized=True, seed=0)
        >>> res.statistic, res.ci_lo.shape
        (array([ 9.5, 19. ]), (2,))
    """
    data_f, stat, rng = _validate(
        data, stat_fcn, num_reps, alpha, ci_sides, bias_correction, studentized, seed, bound
    )
    # A numpy float16/float32 alpha would compute the quantile levels 1 - alpha / 2 in its own
    # precision (NEP 50), moving them by up to 2e-4, and a Fraction would reach np.nanquantile
    # as an object; the levels must use alpha's exact value as a float.
    alpha = float(alpha)
    lower = bound == "lower"
    stat_bs, se_bs = _replicates(data_f, stat_fcn, num_reps, rng, studentized=studentized)

    finite = np.isfinite(stat_bs)
    if not np.all(finite):
        num_bad = np.atleast_1d(np.sum(~finite, axis=0))
        _warn(
            f"stat_fcn returned non-finite values for {num_bad[num_bad > 0].tolist()} of "
            f"{num_reps} resamples in column(s) {np.flatnonzero(num_bad).tolist()}; they were "
            "left out of the interval and the bias estimate",
            stacklevel=2,
        )
        stat_bs = np.where(finite, stat_bs, np.nan)

    with warnings.catch_warnings():
        # All-NaN columns (no usable replicate) raise numpy RuntimeWarnings here; they are
        # caught by ``flat`` and warned about below.
        warnings.simplefilter("ignore", RuntimeWarning)
        flat = np.atleast_1d(np.nanmax(stat_bs, axis=0) == np.nanmin(stat_bs, axis=0))
        bias = np.nan_to_num(np.nanmean(stat_bs, axis=0) - stat, nan=0.0)
    if se_bs is not None:
        se = _jackknife_se(data_f[None], stat_fcn)[0]
        flat |= np.atleast_1d(se == 0)
        pivots = _studentized_pivots(stat, stat_bs, se, se_bs)
        scale = np.where(se > 0, se, 0.0)  # also zeroes a NaN se, whose pivots are all NaN
    else:
        pivots = stat_bs - stat
        scale = np.ones_like(stat)
    flat |= np.atleast_1d(np.all(np.isnan(pivots), axis=0))
    if np.any(flat):
        _warn(
            f"the bootstrap distribution of column(s) {np.flatnonzero(flat).tolist()} is "
            "degenerate (constant data or zero standard error); their interval collapsed to "
            "the statistic",
            stacklevel=2,
        )

    # Two-sided: both tails; one-sided: the one level of the bound asked for.
    one_sided = [1.0 - alpha] if lower else [alpha]
    levels = [1.0 - alpha / 2, alpha / 2] if ci_sides == 2 else one_sided
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # All-NaN columns: see ``flat``
        quantiles = np.nanquantile(pivots, levels, axis=0)
    bounds = stat - np.where(flat, 0.0, quantiles) * scale
    infinite = np.full_like(stat, np.inf)
    if ci_sides == 2:
        ci_lo, ci_up = bounds[0], bounds[1]
    elif lower:
        ci_lo, ci_up = bounds[0], infinite
    else:
        ci_lo, ci_up = -infinite, bounds[0]

    statistic = stat - bias if bias_correction else stat
    if data_f.ndim == 1:
        return BootstrapResult(float(statistic), float(ci_lo), float(ci_up))
    return BootstrapResult(np.asarray(statistic), np.asarray(ci_lo), np.asarray(ci_up))
