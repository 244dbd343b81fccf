"""Summary statistics of a set of rollouts, as the ``gymsamp`` command prints them.

:func:`summarize` computes, from rollouts alone (plus optional context the caller knows), the
numbers the ``gymsamp sample`` and ``gymsamp info`` commands report: counts, throughput, return
statistics with a bootstrap interval of the mean, the empirical CVaR, how the rollouts ended and
which domain parameters they used. The result is a :class:`Summary`, which formats itself as a
table (:meth:`Summary.format`), a one-line verdict (:meth:`Summary.result_line`) or a plain dict
(:meth:`Summary.to_dict`, JSON-ready).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gymsamp._checks import ceil_count, check_epsilon, cvar_count
from gymsamp._rollout_facts import (
    as_rollout_list,
    domain_param_values,
    env_id_counts,
    grid_param_names,
    rollout_returns,
)
from gymsamp.data import StepSequence, StepType

__all__ = [
    "ParamUsage",
    "Summary",
    "as_rollout_list",
    "count_of",
    "domain_param_values",
    "env_id_counts",
    "format_number",
    "grid_param_names",
    "rollout_returns",
    "summarize",
]


#: Bootstrap resamples for the interval of the mean return.
NUM_RESAMPLES = 2000


def format_number(value: float | None, *, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, without scientific notation in the usual
    ranges.

    Example:
        >>> [format_number(x) for x in (484.2567, 500.0, 0.051834, 12345678.0, None)]
        ['484.3', '500', '0.05183', '1.235e+07', 'n/a']
        >>> format_number(1.00025, digits=6)
        '1.00025'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and not 1e-4 <= abs(value) < 1e7:
        return f"{value:.{digits}g}"
    return np.format_float_positional(
        value, precision=digits, unique=False, fractional=False, trim="-"
    )


@dataclass(frozen=True)
class ParamUsage:
    """How one domain parameter was set across the rollouts.

    Args:
        name: The parameter name.
        nominal: The env's nominal value, or None if unknown.
        setting: How it was chosen: ``"fixed"``, ``"varies"``, a distribution such as
            ``"uniform(mean=0.5, halfspan=0.45)"``, ``"grid"``, ``"constant"`` (nominal unknown).
        low: The smallest value used.
        high: The largest value used.
        distinct: The number of distinct values used.

    Example:
        >>> usage = ParamUsage("length", 0.5, "uniform(mean=0.5, halfspan=0.45)", 0.0613,
        ...                    0.8466, 40)
        >>> usage.used
        '0.0613 .. 0.8466 (40 values)'
        >>> ParamUsage("m", 1.0, "fixed", 1.5, 1.5, 1).used
        '1.5'
    """

    name: str
    nominal: float | None
    setting: str
    low: float
    high: float
    distinct: int

    @property
    def used(self) -> str:
        """The values used: one value, or ``"low .. high"``."""
        if self.distinct == 1:
            return format_number(self.low)
        return f"{format_number(self.low)} .. {format_number(self.high)} ({self.distinct} values)"


@dataclass(frozen=True)
class Summary:
    """Statistics of a set of rollouts (see :func:`summarize`, which makes it).

    Example:
        >>> ros = [StepSequence(rewards=[r], observations=[0.0, 1.0], actions=[0])
        ...        for r in (1.0, 2.0, 3.0, 10.0)]
        >>> s = summarize(ros, epsilon=0.25, seconds=2.0)
        >>> s.num_rollouts, s.num_steps, s.steps_per_second, s.min, s.max
        (4, 4, 2.0, 1.0, 10.0)
        >>> s.cvar, s.cvar_count, s.to_dict()["cvar"]
        (1.0, 1, {'epsilon': 0.25, 'value': 1.0, 'count': 1})
    """

    num_rollouts: int
    num_steps: int
    returns: np.ndarray = field(repr=False)
    mean: float
    median: float
    std: float
    min: float
    max: float
    ci_low: float
    ci_high: float
    confidence: float
    epsilon: float
    cvar: float | None
    cvar_count: int
    endings: dict[str, int]
    domain_params: tuple[ParamUsage, ...] = ()
    params_at_nominal: int = 0
    seconds: float | None = None
    env_id: str | None = None
    #: env id -> rollouts, from ``rollout_info["env_id"]``; more than one: mixed envs, whose
    #: statistics pool returns of different tasks (``env_id`` is then None).
    env_counts: dict[str, int] = field(default_factory=dict)

    @property
    def env_name(self) -> str | None:
        """What the rollouts come from: ``env_id``, or ``"mixed: A (3), B (3)"``.

        Example:
            >>> ros = [StepSequence(rewards=[1.0], observations=[0.0, 1.0], actions=[0],
            ...                     rollout_info={"env_id": e}) for e in ("A-v0", "B-v0", "A-v0")]
            >>> summarize(ros).env_name
            'mixed: A-v0 (2), B-v0 (1)'
        """
        if self.env_id is not None or len(self.env_counts) < 2:
            return self.env_id
        return "mixed: " + ", ".join(f"{e} ({n})" for e, n in self.env_counts.items())

    @property
    def steps_per_second(self) -> float | None:
        """Steps per second of wall time, if the time is known."""
        if self.seconds is None or self.seconds <= 0:
            return None
        return self.num_steps / self.seconds

    def format(self) -> str:
        """The summary as an aligned text table (what ``gymsamp sample`` prints).

        Example:
            >>> ros = [StepSequence(rewards=[1.0] * n, observations=[0.0] * (n + 1),
            ...                     actions=[0] * n) for n in (3, 5, 4)]
            >>> print(summarize(ros, epsilon=0.5).format())  # doctest: +NORMALIZE_WHITESPACE
            rollouts          3
            steps             12
            return mean       4   95% CI [3, 5] (percentile bootstrap, 2000 resamples)
            return median     4
            return std        1
            return min / max  3 / 5
            CVaR 50%          3     mean of the worst return
            endings           TERMINAL 3, TIMEOUT 0
        """
        pct = _percent(self.confidence)
        rows: list[tuple[str, str]] = [
            ("rollouts", f"{self.num_rollouts:,}"),
            ("steps", f"{self.num_steps:,}"),
        ]
        if len(self.env_counts) > 1:  # the statistics below mix tasks: say so first
            envs = ", ".join(f"{e} {n}" for e, n in self.env_counts.items())
            rows.insert(1, ("envs", f"{envs} (mixed: the statistics pool their returns)"))
        if self.steps_per_second is not None:
            assert self.seconds is not None
            rows.append(("steps/s", f"{self.steps_per_second:,.0f}   ({self.seconds:.2f} s)"))
        if math.isnan(self.ci_low):
            interval = f"{pct} CI n/a ({self._no_interval_reason()})"
        else:
            interval = (
                f"{pct} CI [{format_number(self.ci_low)}, {format_number(self.ci_high)}] "
                f"(percentile bootstrap, {NUM_RESAMPLES} resamples)"
            )
        rows += [
            ("return mean", f"{format_number(self.mean)}   {interval}"),
            ("return median", format_number(self.median)),
            ("return std", format_number(self.std)),
            ("return min / max", f"{format_number(self.min)} / {format_number(self.max)}"),
        ]
        eps = _percent(self.epsilon)
        if self.cvar is None:
            cvar = f"n/a (needs at least {min_rollouts_for_cvar(self.epsilon)} rollouts)"
        else:
            worst = "return" if self.cvar_count == 1 else f"{self.cvar_count} returns"
            cvar = f"{format_number(self.cvar)}   mean of the worst {worst}"
        rows.append((f"CVaR {eps}", cvar))
        endings = ", ".join(f"{name} {count}" for name, count in self.endings.items())
        rows.append(("endings", endings))
        width = max(len(label) for label, _ in rows) + 2
        lines = [f"{label:<{width}}{value}".rstrip() for label, value in rows]
        lines += self._param_lines()
        return "\n".join(lines)

    def _no_interval_reason(self) -> str:
        if self.num_rollouts < 2:
            return "needs 2 rollouts"
        bad = int(np.count_nonzero(~np.isfinite(self.returns)))
        if bad == 0:
            return "the mean overflows float64"
        return f"{bad} of {self.num_rollouts} returns not finite"

    def _param_lines(self) -> list[str]:
        if not self.domain_params:
            if self.params_at_nominal:
                return [f"domain params     all {self.params_at_nominal} at nominal"]
            return []
        others = f" ({self.params_at_nominal} others at nominal)" if self.params_at_nominal else ""
        table = [("name", "nominal", "setting", "used")] + [
            (p.name, format_number(p.nominal), p.setting, p.used) for p in self.domain_params
        ]
        widths = [max(len(row[i]) for row in table) for i in range(3)]
        lines = [f"domain params{others}"]
        for row in table:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            lines.append(("  " + "  ".join([*cells, row[3]])).rstrip())
        return lines

    def result_line(self) -> str:
        """One line with the headline numbers.

        Example:
            >>> ros = [StepSequence(rewards=[1.0] * n, observations=[0.0] * (n + 1),
            ...                     actions=[0] * n, truncated=[False] * (n - 1) + [True])
            ...        for n in (3, 5, 4)]
            >>> summarize(ros).result_line()
            'mean return 4 (95% CI [3, 5]) over 3 rollouts; 3 of 3 ran to the time limit (TIMEOUT)'
        """
        pct = _percent(self.confidence)
        ci = (
            ""
            if math.isnan(self.ci_low)
            else f" ({pct} CI [{format_number(self.ci_low)}, {format_number(self.ci_high)}])"
        )
        subject = f"{self.env_name}: " if self.env_name else ""
        timeouts, terminals = self.endings.get("TIMEOUT", 0), self.endings.get("TERMINAL", 0)
        ends = f"{timeouts} of {self.num_rollouts} ran to the time limit (TIMEOUT)"
        if terminals:
            ends += f", {terminals} ended early (TERMINAL)"
        return (
            f"{subject}mean return {format_number(self.mean)}{ci} over "
            f"{count_of(self.num_rollouts, 'rollout')}; {ends}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain Python values (JSON-serializable; NaN for n/a numbers)."""
        return {
            "env_id": self.env_id,
            "env_counts": dict(self.env_counts),
            "rollouts": self.num_rollouts,
            "steps": self.num_steps,
            "seconds": self.seconds,
            "steps_per_second": self.steps_per_second,
            "return": {
                "mean": self.mean,
                "median": self.median,
                "std": self.std,
                "min": self.min,
                "max": self.max,
                "ci": [self.ci_low, self.ci_high],
                "confidence": self.confidence,
            },
            "cvar": {"epsilon": self.epsilon, "value": self.cvar, "count": self.cvar_count},
            "endings": dict(self.endings),
            "domain_params": [
                {
                    "name": p.name,
                    "nominal": p.nominal,
                    "setting": p.setting,
                    "low": p.low,
                    "high": p.high,
                    "distinct": p.distinct,
                }
                for p in self.domain_params
            ],
            "params_at_nominal": self.params_at_nominal,
        }


def min_rollouts_for_cvar(epsilon: float) -> int:
    """The fewest rollouts whose CVaR at ``epsilon`` is defined (``floor(n * epsilon) >= 1``,
    as ``select_cvar`` counts the worst rollouts), computed, not searched (any ``epsilon``).

    Example:
        >>> min_rollouts_for_cvar(0.1), min_rollouts_for_cvar(0.25), min_rollouts_for_cvar(1e-10)
        (10, 4, 10000000000)
    """
    n = max(1, ceil_count(1 / epsilon) - 1)  # 1 / epsilon, give or take float noise
    while cvar_count(n, epsilon) < 1:
        n += 1
    return n


def _percent(fraction: float) -> str:
    return f"{format_number(100 * fraction)}%"


def count_of(count: int, noun: str) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1.

    Example:
        >>> count_of(1, "rollout"), count_of(3, "step")
        ('1 rollout', '3 steps')
    """
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _sample_std(returns: np.ndarray) -> float:
    """The sample standard deviation (``ddof=1``; 0 for one rollout, NaN with an infinite
    return, without numpy's warning about inf - inf)."""
    if len(returns) < 2:
        return 0.0
    if not np.isfinite(returns).all():
        return math.nan
    with np.errstate(over="ignore"):  # inf where the squares overflow
        return float(returns.std(ddof=1))


def _cvar(returns: np.ndarray, epsilon: float) -> tuple[float | None, int]:
    """Mean of the ``floor(epsilon * n)`` lowest returns (as :func:`select_cvar` picks them)."""
    count = cvar_count(len(returns), epsilon)
    if count == 0:
        return None, 0
    return float(np.sort(returns, kind="stable")[:count].mean()), count


def _param_usage(
    rollouts: Sequence[StepSequence],
    nominal: Mapping[str, Any] | None,
    settings: Mapping[str, str] | None,
) -> tuple[tuple[ParamUsage, ...], int]:
    usages: list[ParamUsage] = []
    at_nominal = 0
    settings = {**{name: "grid" for name in grid_param_names(rollouts)}, **(settings or {})}
    for name, column in domain_param_values(rollouts).items():
        nominal_value: float | None = None
        if nominal is not None and name in nominal:
            try:
                nominal_value = float(nominal[name])
            except (TypeError, ValueError):
                nominal_value = None
        distinct = len(np.unique(column))
        if name in settings:
            setting = settings[name]
        elif nominal_value is not None and distinct == 1 and column[0] == nominal_value:
            at_nominal += 1
            continue
        elif distinct > 1:
            setting = "varies"
        else:
            setting = "fixed" if nominal_value is not None else "constant"
        usages.append(
            ParamUsage(
                # A str for the table: a file's rollout_info may name a parameter otherwise.
                str(name),
                nominal_value,
                setting,
                float(column.min()),
                float(column.max()),
                distinct,
            )
        )
    return tuple(usages), at_nominal


def summarize(
    rollouts: StepSequence | Iterable[StepSequence],
    *,
    epsilon: float = 0.1,
    seed: int | None = 0,
    alpha: float = 0.05,
    seconds: float | None = None,
    nominal: Mapping[str, Any] | None = None,
    settings: Mapping[str, str] | None = None,
    env_id: str | None = None,
) -> Summary:
    """Summarize rollouts: counts, return statistics, CVaR, endings and domain parameters.

    The interval of the mean return is the percentile bootstrap interval (2000 resamples, the
    generator seeded with ``seed``), computed by :func:`gymsamp.stats.bootstrap_ci` (whose basic
    interval ``[lo, hi]`` reflects to the percentile one ``[2 mean - hi, 2 mean - lo]``); NaN
    for one rollout or where a return is infinite (an env's crash penalty of ``-inf``: the mean,
    minimum and CVaR show it). The standard deviation is the sample one (``ddof=1``; 0 for one
    rollout, NaN with an infinite return). The CVaR at level ``epsilon`` is the mean of the
    ``floor(epsilon * n)`` lowest returns, the rollouts :func:`gymsamp.sampling.select_cvar`
    selects (None if that count is 0). A rollout's ending is the step type of its last step.

    Domain parameters are read from each rollout's ``rollout_info["domain_param"]``. A parameter
    is listed when ``settings`` names it, when it varies, or when it differs from ``nominal``;
    parameters constant at their nominal value are only counted.

    Args:
        rollouts: A list of rollouts, or one sequence holding several.
        epsilon: The CVaR level, in (0, 1].
        seed: Seed of the bootstrap resampling.
        alpha: 1 - the confidence level of the interval of the mean.
        seconds: Wall time the sampling took, for the throughput.
        nominal: The env's nominal domain parameters, if known.
        settings: How parameters were chosen, e.g. ``{"length": "uniform(mean=0.5, ...)"}``.
        env_id: The env id, for :meth:`Summary.result_line`; taken from ``rollout_info`` if
            None and every rollout that names one names the same (rollouts of several envs
            get None, and :attr:`Summary.env_name` and the table name each env).

    Returns:
        The :class:`Summary`.

    Raises:
        ValueError: No rollouts, or ``epsilon`` not in (0, 1].

    Example:
        >>> ros = [StepSequence(rewards=[r], observations=[0.0, 1.0], actions=[0])
        ...        for r in (1.0, 2.0, 3.0, 10.0)]
        >>> s = summarize(ros, epsilon=0.5)
        >>> s.mean, s.median, s.cvar, s.cvar_count, s.endings
        (4.0, 2.5, 1.5, 2, {'TERMINAL': 4, 'TIMEOUT': 0})
    """
    from gymsamp.stats import bootstrap_ci

    rollouts = as_rollout_list(rollouts)
    if not rollouts:
        raise ValueError("rollouts must hold at least one rollout, got none")
    epsilon = check_epsilon(epsilon)
    returns = rollout_returns(rollouts)
    with np.errstate(invalid="ignore", over="ignore"):  # +inf with -inf, or a sum past float64
        mean = float(returns.mean())
    # An env may return an infinite reward (a crash penalty); its mean and extremes say so, but
    # resampling infinities has no interval (bootstrap_ci refuses them).
    if len(returns) >= 2 and np.isfinite(returns).all() and math.isfinite(mean):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # identical returns give the interval [mean, mean]
            stat, lo, hi = bootstrap_ci(returns, np.mean, NUM_RESAMPLES, alpha, 2, seed=seed)
        # The percentile interval (the basic one reflected about the mean): it stays within
        # the range of the returns, where the basic one can exceed e.g. a capped maximum.
        ci_low, ci_high = float(2 * stat - hi), float(2 * stat - lo)
    else:
        ci_low = ci_high = math.nan
    cvar, cvar_count = _cvar(returns, float(epsilon))
    endings = {"TERMINAL": 0, "TIMEOUT": 0}
    for ro in rollouts:  # every rollout has a step (StepSequence refuses empty ones)
        name = StepType(int(ro.step_types[-1])).name
        endings[name] = endings.get(name, 0) + 1
    env_counts = env_id_counts(rollouts)
    if env_id is None and len(env_counts) == 1:
        env_id = next(iter(env_counts))
    params, at_nominal = _param_usage(rollouts, nominal, settings)
    return Summary(
        num_rollouts=len(rollouts),
        num_steps=int(sum(ro.length for ro in rollouts)),
        returns=returns,
        mean=mean,
        median=float(np.median(returns)),
        std=_sample_std(returns),
        min=float(returns.min()),
        max=float(returns.max()),
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=1 - alpha,
        epsilon=float(epsilon),
        cvar=cvar,
        cvar_count=cvar_count,
        endings=endings,
        domain_params=params,
        params_at_nominal=at_nominal,
        seconds=seconds,
        env_id=env_id,
        env_counts=env_counts,
    )
