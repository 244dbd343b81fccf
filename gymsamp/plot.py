"""Plots of rollouts: return distribution, trajectories, and return over a parameter grid.

Every function builds a :class:`matplotlib.figure.Figure` directly (never through ``pyplot``),
so plotting works without a display, changes no global matplotlib state, and is safe under any
backend; save a figure with :func:`save_figure` or ``fig.savefig``. Each function can also draw
into a given (sub)figure, which is how :func:`plot_rollouts` combines them. matplotlib (the
``plot`` extra) is imported only by this module.

Example:
    >>> from gymsamp.data import StepSequence
    >>> ros = [StepSequence(rewards=[1.0] * n, observations=[[0.0, 1.0]] * (n + 1),
    ...                     actions=[[0.5]] * n) for n in (3, 5, 4, 6)]
    >>> fig = plot_returns(ros)
    >>> fig.axes[0].get_xlabel()
    'return (undiscounted sum of rewards)'
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from gymsamp._checks import check_int
from gymsamp.data import EnvSpec, StepSequence
from gymsamp.summary import (
    as_rollout_list,
    domain_param_values,
    format_number,
    grid_param_names,
    rollout_returns,
    summarize,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, FigureBase

__all__ = [
    "KNOWN_UNITS",
    "grid_param_names",
    "plot_return_grid",
    "plot_returns",
    "plot_rollouts",
    "plot_trajectories",
    "save_figure",
]

#: Units of the observation / state / action labels of simulators whose units are documented,
#: keyed by the env id's name (the part before ``-v``).
KNOWN_UNITS: dict[str, dict[str, str]] = {
    "CartPole": {"x": "m", "x_dot": "m/s", "theta": "rad", "theta_dot": "rad/s"},
    "Pendulum": {"theta": "rad", "theta_dot": "rad/s", "torque": "N·m"},
    "Acrobot": {
        "theta1": "rad",
        "theta2": "rad",
        "theta1_dot": "rad/s",
        "theta2_dot": "rad/s",
    },
}
#: Names of discrete actions where the simulator documents them.
_ACTION_NAMES: dict[str, dict[int, str]] = {
    "CartPole": {0: "push left", 1: "push right"},
    "MountainCar": {0: "accelerate left", 1: "no acceleration", 2: "accelerate right"},
    "Acrobot": {0: "torque -1", 1: "torque 0", 2: "torque +1"},
}
#: Discrete action values: greys first, then muted colors, distinct from the rollout colors.
_ACTION_COLORS = (
    "#3a3a3a", "#c4c4c4", "#8da0cb", "#e5c494", "#66c2a5", "#fc8d62", "#a6d854", "#ffd92f",
    "#e78ac3", "#7f7f7f",
)  # fmt: skip
_RETURN_LABEL = "return (undiscounted sum of rewards)"
_MAX_PANELS = 48
_COLORS = ("#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _env_name(env_id: str | None) -> str | None:
    if not env_id:
        return None
    return env_id.split("/")[-1].split("-v")[0]


def _env_id_of(rollouts: Sequence[StepSequence]) -> str | None:
    info = rollouts[0].rollout_info if rollouts else None
    env_id = info.get("env_id") if isinstance(info, Mapping) else None
    return env_id if isinstance(env_id, str) else None


def save_figure(fig: FigureBase, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Save ``fig`` (a figure, or the figure a subfigure belongs to) to ``path`` (PNG, SVG, ...).

    The parent folder is created if needed.

    Example:
        >>> import tempfile, pathlib
        >>> fig = plot_returns([StepSequence(rewards=[r], observations=[0.0, 0.0], actions=[0])
        ...                     for r in (1.0, 2.0, 3.0)])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_figure(fig, pathlib.Path(folder) / "returns.png")
        ...     path.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        True
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from matplotlib.figure import Figure

    root: Any = fig
    while not isinstance(root, Figure):
        root = root.figure  # a subfigure's figure is the figure it belongs to
    root.savefig(path, dpi=dpi)
    return path


# ----------------------------------------------------------------------------------------------
# Return distribution
# ----------------------------------------------------------------------------------------------


def plot_returns(
    rollouts: StepSequence | Iterable[StepSequence],
    *,
    epsilon: float = 0.1,
    alpha: float = 0.05,
    seed: int | None = 0,
    title: str | None = None,
    fig: FigureBase | None = None,
) -> FigureBase:
    """Histogram of the returns with the mean, its bootstrap interval and the CVaR tail.

    The statistics are those of :func:`gymsamp.summary.summarize` with the same arguments, so
    the plot and the ``gymsamp`` summary table agree. The worst ``round(epsilon * n)`` returns
    (the CVaR tail) are drawn in red, with a dashed line at their mean (the CVaR).

    Args:
        rollouts: The rollouts.
        epsilon: The CVaR level, in (0, 1].
        alpha: 1 - the confidence level of the interval of the mean.
        seed: Seed of the bootstrap resampling.
        title: The title; by default names the env and the number of rollouts.
        fig: A figure or subfigure to draw into (a new figure if None).

    Returns:
        The figure drawn into (one axes).

    Example:
        >>> ros = [StepSequence(rewards=[r], observations=[0.0, 0.0], actions=[0])
        ...        for r in (1.0, 2.0, 3.0, 4.0, 10.0)]
        >>> fig = plot_returns(ros, epsilon=0.2)
        >>> ax = fig.axes[0]
        >>> ax.get_ylabel(), [t.get_text() for t in ax.get_legend().get_texts()][-1]
        ('rollouts', 'worst 20% (1 rollout), CVaR = 1')
    """
    from matplotlib.ticker import MaxNLocator

    rollouts = as_rollout_list(rollouts)
    summary = summarize(rollouts, epsilon=epsilon, seed=seed, alpha=alpha)
    returns = summary.returns
    fig = fig if fig is not None else _new_figure(7.0, 4.2)
    ax = fig.add_subplot()
    edges = np.histogram_bin_edges(returns, bins=_num_bins(returns))
    tail = np.sort(returns, kind="stable")[: summary.cvar_count]
    rest = np.sort(returns, kind="stable")[summary.cvar_count :]
    ax.hist(
        [rest, tail],
        bins=edges.tolist(),
        stacked=True,
        color=["#4c72b0", "#d62728"],
        edgecolor="white",
        label=["rollouts", "_tail"],
        zorder=2,
    )
    pct = f"{format_number(100 * summary.confidence)}%"
    ax.axvline(
        summary.mean, color="black", lw=2, zorder=3, label=f"mean = {format_number(summary.mean)}"
    )
    if not math.isnan(summary.ci_low):
        ax.axvspan(
            summary.ci_low,
            summary.ci_high,
            color="black",
            alpha=0.15,
            zorder=0,
            label=(
                f"{pct} CI of the mean [{format_number(summary.ci_low)}, "
                f"{format_number(summary.ci_high)}]"
            ),
        )
    eps = f"{format_number(100 * summary.epsilon)}%"
    if summary.cvar is not None:
        count = summary.cvar_count
        ax.axvline(
            summary.cvar,
            color="#d62728",
            lw=2,
            ls="--",
            zorder=3,
            label=(
                f"worst {eps} ({count} rollout{'s' if count != 1 else ''}), "
                f"CVaR = {format_number(summary.cvar)}"
            ),
        )
    else:
        ax.plot([], [], " ", label=f"CVaR {eps}: n/a (too few rollouts)")
    ax.set_xlabel(_RETURN_LABEL)
    ax.set_ylabel("rollouts")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    env = summary.env_id or "rollouts"
    ax.set_title(title or f"Return distribution: {env}, {summary.num_rollouts} rollouts")
    ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.set_axisbelow(True)
    return fig


def _num_bins(returns: np.ndarray) -> int:
    distinct = len(np.unique(returns))
    if distinct <= 1:
        return 1
    return int(min(40, max(5, math.ceil(math.sqrt(len(returns))) * 2, distinct // 4)))


# ----------------------------------------------------------------------------------------------
# Trajectories
# ----------------------------------------------------------------------------------------------


def _pick_rollouts(returns: np.ndarray, count: int) -> list[int]:
    """Indices of up to ``count`` rollouts spread over the return ranking, worst first."""
    order = np.argsort(returns, kind="stable")
    ranks = np.unique(np.round(np.linspace(0, len(returns) - 1, min(count, len(returns)))))
    return [int(order[int(r)]) for r in ranks]


def _flat(values: Any, name: str) -> np.ndarray:
    if isinstance(values, (dict, tuple)):
        raise ValueError(
            f"{name} must be arrays to plot trajectories, got a {type(values).__name__} field"
        )
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(len(array), -1)


def _with_unit(label: str, units: Mapping[str, str]) -> str:
    unit = units.get(label)
    return f"{label} [{unit}]" if unit else label


def plot_trajectories(
    rollouts: StepSequence | Iterable[StepSequence],
    *,
    field: str = "observations",
    num_rollouts: int = 4,
    env_spec: EnvSpec | None = None,
    labels: Sequence[str] | None = None,
    act_labels: Sequence[str] | None = None,
    units: Mapping[str, str] | None = None,
    title: str | None = None,
    fig: FigureBase | None = None,
) -> FigureBase:
    """Observations (or states) and actions over time, one panel per dimension.

    A few rollouts are drawn, spread over the return ranking (worst, ..., best), each in the
    same color in every panel. Panels are titled with the dimension's label where known (from
    ``labels``, else the spec's ``obs_labels`` / ``state_labels`` and ``act_labels``, else
    ``obs[i]``), with units for simulators in :data:`KNOWN_UNITS`. The time axis is the
    recorded ``time`` field in seconds where the env has a time step, else the step index. At
    most 48 panels are drawn.

    Args:
        rollouts: The rollouts.
        field: ``"observations"`` or ``"states"`` (recorded with ``record_states=True``).
        num_rollouts: How many rollouts to draw.
        env_spec: The env's spec, for labels.
        labels: Labels of the ``field`` dimensions (override the spec's).
        act_labels: Labels of the action dimensions (override the spec's).
        units: Units per label (override :data:`KNOWN_UNITS`).
        title: The figure title; by default names the env and the field.
        fig: A figure or subfigure to draw into (a new figure if None).

    Returns:
        The figure drawn into (one axes per dimension).

    Example:
        >>> ros = [StepSequence(rewards=[1.0] * 3, observations=[[0.0, 1.0]] * 4,
        ...                     actions=[[0.5]] * 3) for _ in range(2)]
        >>> fig = plot_trajectories(ros, labels=["x", "v"], act_labels=["force"])
        >>> [ax.get_title() for ax in fig.axes]
        ['observation x', 'observation v', 'action force']
    """
    rollouts = as_rollout_list(rollouts)
    if not rollouts:
        raise ValueError("rollouts must hold at least one rollout, got none")
    if field not in ("observations", "states"):
        raise ValueError(f"field must be 'observations' or 'states', got {field!r}")
    if field not in rollouts[0].data_names:
        raise ValueError(
            f"the rollouts have no {field!r} field (record states with record_states=True / "
            "--record-states)"
        )
    num_rollouts = check_int("num_rollouts", num_rollouts)
    env_id = _env_id_of(rollouts)
    name = _env_name(env_id)
    units = {**KNOWN_UNITS.get(name or "", {}), **(units or {})}
    returns = rollout_returns(rollouts)
    picked = _pick_rollouts(returns, num_rollouts)

    kind = "observation" if field == "observations" else "state"
    spec_labels = None
    if env_spec is not None:
        spec_labels = env_spec.obs_labels if field == "observations" else env_spec.state_labels
    obs_dim = _flat(rollouts[0].get_data_values(field), field).shape[1]
    x_labels = _labels(labels if labels is not None else spec_labels, obs_dim, kind[:3])
    act_dim = _flat(rollouts[0].actions, "actions").shape[1]
    if act_labels is None and env_spec is not None:
        act_labels = env_spec.act_labels
    a_labels = _labels(act_labels, act_dim, "action") if act_dim > 1 else list(act_labels or [""])
    discrete = env_spec is not None and _is_discrete(env_spec.action_space)
    if env_spec is None:
        discrete = np.issubdtype(np.asarray(rollouts[0].actions).dtype, np.integer)

    panels = [(field, i, f"{kind} {label}", label) for i, label in enumerate(x_labels)]
    panels += [
        ("actions", i, f"action {label}".rstrip(), label or "action")
        for i, label in enumerate(a_labels)
    ]
    omitted = max(0, len(panels) - _MAX_PANELS)
    panels = panels[:_MAX_PANELS]
    ncols = _num_columns(len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = fig if fig is not None else _new_figure(3.3 * ncols + 1.5, 2.4 * nrows + 0.8)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    timed = "time" in rollouts[0].data_names
    # Without a known time step the samplers record the step index as the time (dt = 1).
    seconds = timed and not np.array_equal(rollouts[0].time, np.arange(rollouts[0].length + 1))
    x_label = "time [s]" if seconds else "step"

    for p, (source, dim, panel_title, label) in enumerate(panels):
        ax: Axes = axes[p // ncols][p % ncols]
        raster = (
            source == "actions"
            and discrete
            and _action_raster(
                fig, ax, rollouts, picked, dim, timed, _ACTION_NAMES.get(name or "", {})
            )
        )
        if not raster:
            for c, k in enumerate(picked):
                ro = rollouts[k]
                values = _flat(ro.get_data_values(source), source)[:, dim]
                t = _times(ro, timed)
                color = _COLORS[c % len(_COLORS)]
                if source == "actions":
                    ax.step(t[: len(values)], values, where="post", color=color, lw=1.0)
                else:
                    ax.plot(t[: len(values)], values, color=color, lw=1.0)
            ax.set_ylabel(_with_unit(label, units))
        ax.set_title(panel_title, fontsize="medium")
        ax.grid(alpha=0.3)
        if p + ncols >= len(panels):
            ax.set_xlabel(x_label)
    for p in range(len(panels), nrows * ncols):
        axes[p // ncols][p % ncols].remove()

    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=_COLORS[c % len(_COLORS)], lw=2) for c in range(len(picked))]
    legend = [_rollout_legend(rollouts[k], k, returns[k]) for k in picked]
    fig.legend(handles, legend, loc="outside lower center", fontsize="small", ncols=len(picked))
    what = "Observations" if field == "observations" else "States"
    heading = title or (
        f"{what} and actions over time: {env_id or 'rollouts'}, "
        f"{len(picked)} of {len(rollouts)} rollouts (worst to best return)"
    )
    if omitted:
        heading += f" (first {_MAX_PANELS} panels, {omitted} more not shown)"
    fig.suptitle(heading, x=0.01, ha="left")
    return fig


def _num_columns(panels: int) -> int:
    """Panels per row: all of them up to 4, then a near-square grid of at most 6 columns."""
    return max(1, panels) if panels <= 4 else min(6, math.ceil(math.sqrt(panels)))


def _labels(labels: Sequence[str] | None, count: int, prefix: str) -> list[str]:
    if labels is not None and len(labels) == count:
        return list(labels)
    return [f"{prefix}[{i}]" for i in range(count)]


def _is_discrete(space: Any) -> bool:
    import gymnasium as gym

    return isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete))


def _times(ro: StepSequence, timed: bool) -> np.ndarray:
    return np.asarray(ro.time, dtype=np.float64) if timed else np.arange(ro.length + 1.0)


def _action_raster(
    fig: FigureBase,
    ax: Axes,
    all_rollouts: Sequence[StepSequence],
    picked: Sequence[int],
    dim: int,
    timed: bool,
    names: Mapping[int, str],
) -> bool:
    """Discrete actions as one colored lane per rollout (False if there are too many values)."""
    from matplotlib.colors import ListedColormap

    rollouts = [all_rollouts[k] for k in picked]
    actions = [_flat(ro.actions, "actions")[:, dim] for ro in rollouts]
    levels = np.unique(np.concatenate(actions))
    if len(levels) > 10:
        return False
    cmap = ListedColormap(list(_ACTION_COLORS[: len(levels)]))
    mesh = None
    for lane, (ro, values) in enumerate(zip(rollouts, actions, strict=True)):
        edges = _times(ro, timed)[: len(values) + 1]
        codes = np.searchsorted(levels, values)[None, :]
        mesh = ax.pcolormesh(
            edges,
            [lane - 0.4, lane + 0.4],
            codes,
            cmap=cmap,
            vmin=-0.5,
            vmax=len(levels) - 0.5,
            shading="flat",
        )
    ax.set_yticks(
        range(len(rollouts)), [_rollout_name(ro, k) for ro, k in zip(rollouts, picked, strict=True)]
    )
    for lane, tick in enumerate(ax.get_yticklabels()):
        tick.set_color(_COLORS[lane % len(_COLORS)])
    ax.set_ylim(-0.6, len(rollouts) - 0.4)
    ax.set_ylabel("rollout")
    if mesh is not None:
        bar = fig.colorbar(mesh, ax=ax, ticks=range(len(levels)), fraction=0.08, pad=0.02)
        bar.ax.set_yticklabels([names.get(int(v), str(int(v))) for v in levels])
    return True


def _rollout_name(ro: StepSequence, position: int) -> str:
    info = ro.rollout_info
    index = info.get("rollout_index", position) if isinstance(info, Mapping) else position
    return f"#{index}"


def _rollout_legend(ro: StepSequence, position: int, ret: float) -> str:
    return f"rollout {_rollout_name(ro, position)}: return {format_number(ret)}, {ro.length} steps"


# ----------------------------------------------------------------------------------------------
# Return over a domain-parameter grid
# ----------------------------------------------------------------------------------------------


def _param_columns(rollouts: Sequence[StepSequence]) -> dict[str, np.ndarray]:
    return domain_param_values(rollouts)


def plot_return_grid(
    rollouts: StepSequence | Iterable[StepSequence],
    x_name: str | None = None,
    y_name: str | None = None,
    *,
    nominal: Mapping[str, Any] | None = None,
    title: str | None = None,
    fig: FigureBase | None = None,
) -> FigureBase:
    """Mean return over a grid of domain parameters: a heatmap (2-D) or a line (1-D).

    Made for the rollouts of :func:`gymsamp.sampling.eval_domain_params` over a
    :func:`gymsamp.envs.param_grid` (or a sampler's ``sample(domain_params=grid)``): rollouts
    are grouped by the values of the parameters in their ``rollout_info["domain_param"]`` and
    each cell shows the mean return of its rollouts (annotated; the count per cell is in the
    title). Cells without rollouts stay blank.

    Args:
        rollouts: The rollouts.
        x_name: The parameter on the x axis; with ``y_name`` None too, both are found by
            :func:`grid_param_names`.
        y_name: The parameter on the y axis, or None for a 1-D plot over ``x_name``.
        nominal: Nominal parameter values, shown in the axis labels.
        title: The title; by default names the env and the parameters.
        fig: A figure or subfigure to draw into (a new figure if None).

    Returns:
        The figure drawn into (the heatmap's axes first, then its colorbar).

    Raises:
        ValueError: A named parameter is missing from the rollouts, or no grid was found.

    Example:
        >>> from gymsamp.envs import param_grid
        >>> from gymsamp.policies import IdlePolicy
        >>> from gymsamp.sampling import eval_domain_params
        >>> import gymnasium as gym
        >>> grid = param_grid({"length": [0.25, 0.5, 1.0], "masspole": [0.05, 0.1]})
        >>> ros = eval_domain_params(1, "CartPole-v1", IdlePolicy(gym.spaces.Discrete(2)),
        ...                          grid, seed=0)
        >>> fig = plot_return_grid(ros, "length", "masspole")
        >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
        ('length', 'masspole')
    """
    rollouts = as_rollout_list(rollouts)
    if x_name is None and y_name is None:
        names = grid_param_names(rollouts)
        if not names:
            raise ValueError(
                "the rollouts do not vary domain parameters on a grid; pass x_name (and y_name)"
            )
        x_name, y_name = names[0], (names[1] if len(names) > 1 else None)
    assert x_name is not None
    columns = _param_columns(rollouts)
    for name in (x_name, y_name):
        if name is not None and name not in columns:
            raise ValueError(
                f"x_name and y_name must be domain parameters of the rollouts "
                f"{sorted(columns)}, got {name!r}"
            )
    returns = rollout_returns(rollouts)
    env_id = _env_id_of(rollouts)
    fig = fig if fig is not None else _new_figure(7.0, 4.8)
    ax = fig.add_subplot()

    def axis_label(name: str) -> str:
        if nominal is not None and name in nominal:
            return f"{name} (nominal {format_number(float(nominal[name]))})"
        return name

    xs = np.unique(columns[x_name])
    if y_name is None:
        means = np.array([returns[columns[x_name] == x].mean() for x in xs])
        lows = np.array([returns[columns[x_name] == x].min() for x in xs])
        highs = np.array([returns[columns[x_name] == x].max() for x in xs])
        ax.fill_between(xs, lows, highs, color="#4c72b0", alpha=0.2, label="min .. max")
        ax.plot(xs, means, "o-", color="#4c72b0", label="mean return")
        ax.set_xlabel(axis_label(x_name))
        ax.set_ylabel("return")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
        ax.set_title(title or f"Return over {x_name}: {env_id or 'rollouts'}")
        return fig

    ys = np.unique(columns[y_name])
    grid = np.full((len(ys), len(xs)), np.nan)
    counts = np.zeros((len(ys), len(xs)), dtype=int)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            mask = (columns[x_name] == x) & (columns[y_name] == y)
            counts[i, j] = int(mask.sum())
            if counts[i, j]:
                grid[i, j] = returns[mask].mean()
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)), [format_number(float(x)) for x in xs])
    ax.set_yticks(range(len(ys)), [format_number(float(y)) for y in ys])
    ax.set_xlabel(axis_label(x_name))
    ax.set_ylabel(axis_label(y_name))
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    if len(xs) * len(ys) <= 150:
        for i in range(len(ys)):
            for j in range(len(xs)):
                if counts[i, j]:
                    ax.text(
                        j,
                        i,
                        format_number(grid[i, j]),
                        ha="center",
                        va="center",
                        fontsize="small",
                        color="black" if grid[i, j] > middle else "white",
                    )
    fig.colorbar(image, ax=ax, label="mean return")
    per_cell = np.unique(counts[counts > 0])
    n = f"{per_cell[0]}" if len(per_cell) == 1 else f"{per_cell.min()}-{per_cell.max()}"
    ax.set_title(
        title
        or f"Mean return over {x_name} and {y_name}: {env_id or 'rollouts'} "
        f"({n} rollout{'s' if n != '1' else ''} per cell)"
    )
    return fig


# ----------------------------------------------------------------------------------------------
# All of them
# ----------------------------------------------------------------------------------------------


def plot_rollouts(
    rollouts: StepSequence | Iterable[StepSequence],
    *,
    epsilon: float = 0.1,
    seed: int | None = 0,
    env_spec: EnvSpec | None = None,
    field: str = "observations",
    num_rollouts: int = 4,
    grid: Sequence[str] | None = None,
    nominal: Mapping[str, Any] | None = None,
) -> Figure:
    """One figure with the return distribution, the return grid (if any) and trajectories.

    The top row shows :func:`plot_returns` and, when the rollouts vary domain parameters on a
    grid (``grid``, or found by :func:`grid_param_names`), :func:`plot_return_grid`; below are
    :func:`plot_trajectories`. This is what ``gymsamp plot`` and ``gymsamp sample --plot`` save.

    Args:
        rollouts: The rollouts.
        epsilon: The CVaR level for the return distribution.
        seed: Seed of the bootstrap resampling.
        env_spec: The env's spec, for labels.
        field: ``"observations"`` or ``"states"`` for the trajectories.
        num_rollouts: How many rollouts the trajectories show.
        grid: The grid's parameter names (1 or 2); found automatically if None.
        nominal: Nominal parameter values, shown in the grid's axis labels.

    Returns:
        The figure (subfigures: the top row, then the trajectories).

    Example:
        >>> ros = [StepSequence(rewards=[1.0] * n, observations=[[0.0]] * (n + 1),
        ...                     actions=[0] * n) for n in (3, 5, 4)]
        >>> fig = plot_rollouts(ros)
        >>> [ax.get_title() for ax in fig.axes][:2]
        ['Return distribution: rollouts, 3 rollouts', 'observation obs[0]']
    """
    rollouts = as_rollout_list(rollouts)
    names = list(grid) if grid is not None else grid_param_names(rollouts)
    if len(names) > 2:
        raise ValueError(f"grid must name 1 or 2 parameters, got {names}")
    dims = _flat(rollouts[0].get_data_values(field), field).shape[1] if rollouts else 0
    dims += _flat(rollouts[0].actions, "actions").shape[1] if rollouts else 0
    panels = min(dims, _MAX_PANELS)
    ncols = _num_columns(panels)
    nrows = math.ceil(panels / ncols)
    width = max(13.0, 3.3 * ncols + 1.5)
    top, bottom = 4.6, 2.4 * nrows + 0.9
    fig = _new_figure(width, top + bottom)
    upper, lower = cast(Any, fig.subfigures(2, 1, height_ratios=[top, bottom]))
    if names:
        left, right = cast(Any, upper.subfigures(1, 2, width_ratios=[1, 1]))
        plot_returns(rollouts, epsilon=epsilon, seed=seed, fig=left)
        plot_return_grid(
            rollouts, names[0], names[1] if len(names) > 1 else None, nominal=nominal, fig=right
        )
    else:
        plot_returns(rollouts, epsilon=epsilon, seed=seed, fig=upper)
    plot_trajectories(
        rollouts, field=field, num_rollouts=num_rollouts, env_spec=env_spec, fig=lower
    )
    return fig
