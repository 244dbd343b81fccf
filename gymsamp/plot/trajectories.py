"""Trajectories: observations (or states) and actions over time, one panel per dimension.

Discrete actions are drawn as a raster, one colored lane per rollout.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gymsamp._checks import check_int
from gymsamp.data import EnvSpec, StepSequence
from gymsamp.data._tree import tree_leaves
from gymsamp.plot._figure import (
    LEGEND_FONT,
    env_id_of,
    figure_width,
    label_every_kth,
    legend_columns,
    legend_row_height,
    new_figure,
)
from gymsamp.plot._trajectory_checks import (
    check_env_spec,
    check_field,
    check_label_count,
    check_one_env,
)
from gymsamp.summary import as_rollout_list, count_of, format_number, rollout_returns

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

__all__ = [
    "KNOWN_UNITS",
    "MAX_PANELS",
    "check_env_spec",
    "check_field",
    "flat_values",
    "legend_height",
    "num_columns",
    "plot_trajectories",
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
MAX_PANELS = 48
_COMMANDED = "commanded action (dotted), where the env applied another"
#: Rollout colors: tab10's strong colors first, then their light tab20 partners; more
#: rollouts than these get a colormap sampled once per rollout.
_COLORS = (
    "#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#ff9896", "#ffbb78", "#98df8a", "#aec7e8", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip


def _env_name(env_id: str | None) -> str | None:
    if not env_id:
        return None
    return env_id.split("/")[-1].split("-v")[0]


def _pick_rollouts(returns: np.ndarray, count: int) -> list[int]:
    """Indices of up to ``count`` rollouts spread over the return ranking, worst first."""
    order = np.argsort(returns, kind="stable")
    ranks = np.unique(np.round(np.linspace(0, len(returns) - 1, min(count, len(returns)))))
    return [int(order[int(r)]) for r in ranks]


def _rollout_colors(count: int) -> list[str]:
    """``count`` different colors, one per drawn rollout."""
    if count <= len(_COLORS):
        return list(_COLORS[:count])
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return [to_hex(colormaps["turbo"](x)) for x in np.linspace(0.0, 1.0, count)]


def _legend_entries(
    rollouts: Sequence[StepSequence], num_rollouts: int
) -> tuple[list[int], list[str]]:
    """The drawn rollouts (their indices, worst to best return) and their legend entries."""
    returns = rollout_returns(rollouts)
    picked = _pick_rollouts(returns, num_rollouts)
    names = _rollout_names(rollouts)
    entries = [_rollout_legend(rollouts[k], names[k], returns[k]) for k in picked]
    if any(_commanded_differs(rollouts[k]).any() for k in picked):
        entries.append(_COMMANDED)
    return picked, entries


def _applied_actions(ro: StepSequence) -> np.ndarray:
    """The actions the env received (``actions_applied``, e.g. clipped to a Box) where they
    are recorded in the commanded actions' shape, else the commanded ``actions``; flat."""
    commanded = flat_values(ro.actions, "actions")
    if "actions_applied" not in ro.data_names:
        return commanded
    applied = flat_values(ro.get_data_values("actions_applied"), "actions_applied")
    return applied if applied.shape == commanded.shape else commanded


def _commanded_differs(ro: StepSequence) -> np.ndarray:
    """Where (steps x dims) the commanded actions differ from those the env received.

    A float64 command that a float32 Box took as its float32 value is the same action, not a
    clipped one (the flat values are float64 either way); NaN equals NaN.
    """
    applied = _applied_actions(ro)
    commanded = flat_values(ro.actions, "actions")
    same = commanded == applied
    same |= commanded.astype(np.float32) == applied
    same |= np.isnan(commanded) & np.isnan(applied)
    return ~same


def _draw_actions(ax: Axes, ro: StepSequence, dim: int, t: np.ndarray, color: str) -> None:
    """The actions the env received as a step line; the commanded ones dotted where they
    differ (a policy's command beyond a Box's bounds, which the env clipped)."""
    applied = _applied_actions(ro)[:, dim]
    # Action t holds from t to t + 1: the last one up to the final observation's time
    # (repeated, so that "post" steps draw it; else a one-step rollout's is a lone point).
    edges = t[: len(applied) + 1]
    ax.step(edges, np.append(applied, applied[-1:]), where="post", color=color, lw=1.0)
    differs = _commanded_differs(ro)[:, dim]
    if differs.any():
        commanded = np.where(differs, flat_values(ro.actions, "actions")[:, dim], np.nan)
        ax.stairs(commanded, edges, baseline=None, color=color, lw=0.8, ls=":")


def legend_height(rollouts: Sequence[StepSequence], num_rollouts: int, width: float) -> float:
    """The height (inches) the trajectories' legend of rollouts needs beyond its first row,
    in a figure ``width`` inches wide: what to add to the figure's height so that the
    panels keep theirs.

    Raises:
        ValueError: ``num_rollouts`` is not an int >= 1.
    """
    num_rollouts = check_int("num_rollouts", num_rollouts)
    _, entries = _legend_entries(rollouts, num_rollouts)
    _, rows = legend_columns(entries, width)
    return (rows - 1) * legend_row_height()


def flat_values(values: Any, name: str) -> np.ndarray:
    """Field ``name`` of a rollout as a float array of shape ``(steps, dims)``; the arrays of a
    dict / tuple field (Dict and Tuple observation spaces) side by side, in the field's order.

    Example:
        >>> flat_values({"pos": np.zeros((3, 2)), "flag": np.ones(3)}, "observations").shape
        (3, 3)
    """
    if isinstance(values, (dict, tuple)):
        leaves = [flat_values(leaf, name) for _, leaf in tree_leaves(values)]
        if not leaves:
            raise ValueError(f"{name} must hold at least one array, got an empty field")
        return np.concatenate(leaves, axis=1)
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(len(array), -1)


def nested_labels(values: Any) -> list[str] | None:
    """Default labels of a dict / tuple field's dimensions (see :func:`flat_values`): each
    array's path, with the index where it has several (None for a plain array).

    Example:
        >>> nested_labels({"pos": np.zeros((3, 2)), "flag": np.ones(3)})
        ['pos[0]', 'pos[1]', 'flag']
    """
    if not isinstance(values, (dict, tuple)):
        return None
    labels: list[str] = []
    for path, leaf in tree_leaves(values):
        width = flat_values(leaf, path).shape[1]
        labels += [path] if width == 1 else [f"{path}[{j}]" for j in range(width)]
    return labels


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
    most :data:`MAX_PANELS` (48) panels are drawn: with more dimensions (e.g. an image
    observation), the first ones of ``field`` and of the actions, which keep all their panels
    unless both need more than half of them; the title says how many are shown.

    Continuous actions are those the env received (``actions_applied`` where recorded, e.g.
    clipped to the action space's bounds, which is what the units describe); where the
    policy commanded another action, the commanded one is drawn dotted in the same color
    and the legend says so. Discrete actions are drawn as one lane per rollout.

    A rollout is named ``#k`` by its ``rollout_info["rollout_index"]`` where every rollout
    has one and they are unique in ``rollouts``, else by its position ``k`` in ``rollouts``
    (e.g. for rollouts of several ``sample()`` calls, whose indices each restart at 0).

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

    Raises:
        ValueError: No rollouts, another field, ``"states"`` that were not recorded, rollouts
            of several envs, or ``labels`` / ``act_labels`` of another length than the
            dimensions they label.
        TypeError: ``env_spec`` is not an :class:`~gymsamp.data.EnvSpec`, or ``labels`` /
            ``act_labels`` is not a sequence of str (e.g. one str).

    Example:
        >>> ros = [StepSequence(rewards=[1.0] * 3, observations=[[0.0, 1.0]] * 4,
        ...                     actions=[[0.5]] * 3) for _ in range(2)]
        >>> fig = plot_trajectories(ros, labels=["x", "v"], act_labels=["force"])
        >>> [ax.get_title() for ax in fig.axes]
        ['observation x', 'observation v', 'action force']
    """
    rollouts = as_rollout_list(rollouts)
    check_field(rollouts, field)
    check_one_env(rollouts, field)
    check_env_spec(env_spec)
    num_rollouts = check_int("num_rollouts", num_rollouts)
    env_id = env_id_of(rollouts)
    env_name = _env_name(env_id)
    units = {**KNOWN_UNITS.get(env_name or "", {}), **(units or {})}
    picked, entries = _legend_entries(rollouts, num_rollouts)
    names = _rollout_names(rollouts)
    colors = _rollout_colors(len(picked))

    kind = "observation" if field == "observations" else "state"
    prefix = "obs" if field == "observations" else "state"  # of numbered labels: obs[0]
    spec_labels = None
    if env_spec is not None:
        spec_labels = env_spec.obs_labels if field == "observations" else env_spec.state_labels
    first = rollouts[0].get_data_values(field)
    obs_dim = flat_values(first, field).shape[1]
    # A nested field is labelled by its paths: a spec's labels describe a flat observation
    # (e.g. those of the simulator under a wrapper that made the observation a Dict).
    default_labels = nested_labels(first) or spec_labels
    act_dim = flat_values(rollouts[0].actions, "actions").shape[1]
    # The caller's labels must fit (a spec's that do not are replaced by numbered ones).
    labels = check_label_count("labels", labels, obs_dim, f"the {field}")
    act_labels = check_label_count("act_labels", act_labels, act_dim, "the actions")
    x_labels = _labels(labels if labels is not None else default_labels, obs_dim, prefix)
    if act_labels is None and env_spec is not None:
        act_labels = env_spec.act_labels
    a_labels = _labels(act_labels, act_dim, "action") if act_dim > 1 else list(act_labels or [""])
    discrete = env_spec is not None and _is_discrete(env_spec.action_space)
    if env_spec is None:
        # Integer actions the env applied otherwise (clipped: an integer Box, as a Discrete
        # space never changes them) are drawn as lines with the commanded ones dotted, as the
        # legend then says; lanes of cells would show only the commanded values.
        discrete = (
            np.issubdtype(np.asarray(rollouts[0].actions).dtype, np.integer)
            and _COMMANDED not in entries
        )

    obs_shown, act_shown = _panel_counts(obs_dim, act_dim)
    # A name gets its kind in the title ("observation x"); a numbered label says it already.
    panels = [
        (field, i, label if label == f"{prefix}[{i}]" else f"{kind} {label}", label)
        for i, label in enumerate(x_labels[:obs_shown])
    ]
    panels += [
        (
            "actions",
            i,
            label if label == f"action[{i}]" else f"action {label}".rstrip(),
            label or "action",
        )
        for i, label in enumerate(a_labels[:act_shown])
    ]
    ncols = num_columns(len(panels))
    nrows = math.ceil(len(panels) / ncols)
    if fig is None:
        width = 3.3 * ncols + 1.5
        fig = new_figure(width, 2.4 * nrows + 0.8 + legend_height(rollouts, num_rollouts, width))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    timed = "time" in rollouts[0].data_names
    times = functools.partial(_times, timed=timed, interval=_step_interval(rollouts, timed))
    # Without a known time step the samplers record the step index as the time (dt = 1).
    seconds = timed and not np.array_equal(times(rollouts[0]), np.arange(rollouts[0].length + 1))
    x_label = "time [s]" if seconds else "step"

    for p, (source, dim, panel_title, label) in enumerate(panels):
        ax: Axes = axes[p // ncols][p % ncols]
        raster = (
            source == "actions"
            and discrete
            and _action_raster(
                fig,
                ax,
                [rollouts[k] for k in picked],
                [names[k] for k in picked],
                colors,
                dim,
                times,
                _ACTION_NAMES.get(env_name or "", {}),
            )
        )
        if not raster:
            for k, color in zip(picked, colors, strict=True):
                ro = rollouts[k]
                t = times(ro)
                if source == "actions":
                    _draw_actions(ax, ro, dim, t, color)
                else:
                    values = flat_values(ro.get_data_values(source), source)[:, dim]
                    ax.plot(t[: len(values)], values, color=color, lw=1.0)
            ax.set_ylabel(_with_unit(label, units))
        ax.set_title(panel_title, fontsize="medium")
        ax.grid(alpha=0.3)
        if p + ncols >= len(panels):
            ax.set_xlabel(x_label)
    for p in range(len(panels), nrows * ncols):
        axes[p // ncols][p % ncols].remove()

    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=color, lw=2) for color in colors]
    if len(entries) > len(picked):  # the note on commanded actions
        handles.append(Line2D([], [], color="black", lw=1, ls=":"))
    # In rows that fit the (sub)figure's width (one row ran off both sides).
    columns, _ = legend_columns(entries, figure_width(fig))
    fig.legend(handles, entries, loc="outside lower center", fontsize=LEGEND_FONT, ncols=columns)
    what = "Observations" if field == "observations" else "States"
    heading = title or (
        f"{what} and actions over time: {env_id or 'rollouts'}, "
        f"{len(picked)} of {count_of(len(rollouts), 'rollout')} (worst to best return)"
    )
    heading += _omitted_note([(obs_shown, obs_dim, kind), (act_shown, act_dim, "action")])
    fig.suptitle(heading, x=0.01, ha="left")
    return fig


def _panel_counts(obs_dim: int, act_dim: int) -> tuple[int, int]:
    """How many of the ``obs_dim`` observation (or state) and ``act_dim`` action dimensions
    get a panel: all of them up to :data:`MAX_PANELS` in all; beyond that the first ones of
    each, the actions keeping all of theirs unless both need more than half the panels (an
    image observation must not push the actions out of a plot titled with them).

    Example:
        >>> _panel_counts(192, 1), _panel_counts(2, 60), _panel_counts(30, 30)
        ((47, 1), (2, 46), (24, 24))
    """
    act_shown = min(act_dim, max(MAX_PANELS - obs_dim, MAX_PANELS // 2))
    return min(obs_dim, MAX_PANELS - act_shown), act_shown


def _omitted_note(counts: Sequence[tuple[int, int, str]]) -> str:
    """The heading's note on the dimensions without a panel (``(shown, total, kind)`` per
    field), or "" when every dimension has one."""
    parts = [
        f"first {shown} of {total} {kind} dimensions"
        for shown, total, kind in counts
        if shown < total
    ]
    return f" ({' and '.join(parts)} shown)" if parts else ""


def num_columns(panels: int) -> int:
    """Panels per row: all of them up to 4, then a near-square grid of at most 6 columns."""
    return max(1, panels) if panels <= 4 else min(6, math.ceil(math.sqrt(panels)))


def _labels(labels: Sequence[str] | None, count: int, prefix: str) -> list[str]:
    if labels is not None and len(labels) == count:
        return list(labels)
    return [f"{prefix}[{i}]" for i in range(count)]


def _is_discrete(space: Any) -> bool:
    import gymnasium as gym

    return isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete))


def _step_interval(rollouts: Sequence[StepSequence], timed: bool) -> float:
    """The time between two steps, from the first ``time`` field of two entries or more (for
    a one-step rollout whose ``time`` holds its step time only), else 1."""
    for ro in rollouts if timed else ():
        values = _time_values(ro)
        if len(values) >= 2:
            return float(values[1] - values[0])
    return 1.0


def _time_values(ro: StepSequence) -> np.ndarray:
    return np.asarray(ro.time, dtype=np.float64).reshape(len(ro.time), -1)[:, 0]


def _times(ro: StepSequence, *, timed: bool, interval: float) -> np.ndarray:
    """The T + 1 times of a rollout's observations: its ``time`` field, or the step index.

    The samplers record the final observation's time too (T + 1 entries); a ``time`` field
    built elsewhere may hold the T step times only, and is extended by its last interval
    (``interval`` for a one-step rollout) so that the final observation has a time.
    """
    if not timed:
        return np.arange(ro.length + 1.0)
    values = _time_values(ro)
    if len(values) == ro.length and ro.length > 0:
        last = values[-1] - values[-2] if ro.length > 1 else interval
        values = np.append(values, values[-1] + last)
    return values


def _action_raster(
    fig: FigureBase,
    ax: Axes,
    rollouts: Sequence[StepSequence],
    names: Sequence[str],
    colors: Sequence[str],
    dim: int,
    times: Callable[[StepSequence], np.ndarray],
    action_names: Mapping[int, str],
) -> bool:
    """Discrete actions as one lane per rollout, named in its color (False if there are too
    many values)."""
    from matplotlib.colors import ListedColormap

    actions = [flat_values(ro.actions, "actions")[:, dim] for ro in rollouts]
    levels = np.unique(np.concatenate(actions))
    if len(levels) > 10:
        return False
    cmap = ListedColormap(list(_ACTION_COLORS[: len(levels)]))
    for lane, (ro, values) in enumerate(zip(rollouts, actions, strict=True)):
        edges = times(ro)[: len(values) + 1]
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
    label_every_kth(ax, "y", names)
    for tick, color in zip(ax.get_yticklabels(), colors, strict=True):
        tick.set_color(color)
    ax.set_ylim(-0.6, len(rollouts) - 0.4)
    ax.set_ylabel("rollout")
    # The last lane's mesh: every lane has one (np.concatenate above refuses no rollouts).
    bar = fig.colorbar(mesh, ax=ax, ticks=range(len(levels)), fraction=0.08, pad=0.02)
    bar.ax.set_yticklabels([action_names.get(int(v), str(int(v))) for v in levels])
    return True


def _rollout_names(rollouts: Sequence[StepSequence]) -> list[str]:
    """``#k`` per rollout: its recorded ``rollout_index`` where every rollout has one and no
    two share one, else its position in the list (the indices restart at 0 with each
    ``sample()`` call, so a list joined from several calls repeats them)."""
    infos = [ro.rollout_info for ro in rollouts]
    indices = [info.get("rollout_index") if isinstance(info, Mapping) else None for info in infos]
    if None in indices or len(set(indices)) < len(indices):
        indices = list(range(len(rollouts)))
    return [f"#{index}" for index in indices]


def _rollout_legend(ro: StepSequence, name: str, ret: float) -> str:
    return f"rollout {name}: return {format_number(ret)}, {count_of(ro.length, 'step')}"
