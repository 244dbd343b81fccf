"""The return over a grid of domain parameters: a heatmap (2-D) or a line (1-D)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gymsamp.data import StepSequence
from gymsamp.plot._figure import LEGEND_FONT, env_id_of, label_every_kth, new_figure
from gymsamp.summary import (
    as_rollout_list,
    count_of,
    domain_param_values,
    format_number,
    grid_param_names,
    rollout_returns,
)

if TYPE_CHECKING:
    from matplotlib.figure import FigureBase

__all__ = ["check_grid_names", "plot_return_grid", "tick_labels"]


def _param_columns(rollouts: Sequence[StepSequence]) -> dict[str, np.ndarray]:
    return domain_param_values(rollouts)


def check_grid_names(grid: str | Sequence[str]) -> list[str]:
    """The parameter names of a grid: a str is one name, a sequence holds none, 1 or 2
    different ones.

    Raises:
        ValueError: More than 2 names, or one name twice.

    Example:
        >>> check_grid_names("mass"), check_grid_names(("mass", "length"))
        (['mass'], ['mass', 'length'])
    """
    names = [grid] if isinstance(grid, str) else list(grid)
    if len(names) > 2 or len(set(names)) < len(names):
        raise ValueError(
            f"grid must name 1 or 2 different parameters (none: no grid), got {names!r}"
        )
    return names


def tick_labels(values: Sequence[float] | np.ndarray) -> list[str]:
    """Labels of sorted distinct ``values``: with the fewest significant digits (at least the
    4 of :func:`~gymsamp.summary.format_number`) that tell neighbours apart.

    Example:
        >>> tick_labels([0.05, 0.1, 0.5]), tick_labels([1.0, 1.0005, 1.001])
        (['0.05', '0.1', '0.5'], ['1', '1.0005', '1.001'])
    """
    for digits in range(4, 18):
        labels = [format_number(float(value), digits=digits) for value in values]
        if all(a != b for a, b in itertools.pairwise(labels)):
            break
    return labels


def _draw_broken_cells(fig: FigureBase, ax: Any, broken: np.ndarray) -> None:
    """Grey hatched cells where ``broken`` (rows: y, columns: x), named in a legend."""
    from matplotlib.patches import Rectangle

    style: dict[str, Any] = {"facecolor": "#d9d9d9", "edgecolor": "#7f7f7f", "hatch": "//", "lw": 0}
    for i, j in zip(*np.nonzero(broken), strict=True):
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, **style))
    if broken.any():
        handle = Rectangle((0, 0), 1, 1, **style)
        fig.legend(
            [handle], ["mean return not finite"], loc="outside lower center", fontsize=LEGEND_FONT
        )


def _nominal_values(nominal: Mapping[str, Any] | None, names: Iterable[str]) -> dict[str, float]:
    """The nominal values of the parameters ``names`` that ``nominal`` holds, as floats."""
    values: dict[str, float] = {}
    for name in names:
        if nominal is None or name not in nominal:
            continue
        value = np.asarray(nominal[name])
        # A number of any kind (Python, numpy, 0-d array), not a str float() would parse.
        if value.ndim or not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            raise TypeError(f"nominal[{name!r}] must be a real number, got {nominal[name]!r}")
        values[name] = float(value)
    return values


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
    title). Cells without rollouts stay blank; cells whose mean is not finite (a NaN or
    infinite return) are grey and hatched, named in a legend below. The heatmap's axes label
    the values with the fewest significant digits (at least 4) that tell neighbours apart,
    every k-th value where all would overlap.

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
        ValueError: A named parameter is missing from the rollouts, ``y_name`` is given
            without ``x_name`` or equals it, or no grid was found.
        TypeError: The nominal value of a plotted parameter is not a real number.

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
    if x_name is None:
        raise ValueError(
            f"x_name must name the parameter on the x axis when y_name is given, got x_name=None "
            f"with y_name={y_name!r}"
        )
    if x_name == y_name:
        raise ValueError(f"x_name and y_name must be different parameters, got {x_name!r} for both")
    columns = _param_columns(rollouts)
    for name in (x_name, y_name):
        if name is not None and name not in columns:
            raise ValueError(
                f"x_name and y_name must be domain parameters of the rollouts "
                f"{sorted(columns)}, got {name!r}"
            )
    nominal_values = _nominal_values(nominal, [x_name] if y_name is None else [x_name, y_name])
    returns = rollout_returns(rollouts)
    env_id = env_id_of(rollouts)
    fig = fig if fig is not None else new_figure(7.0, 4.8)
    ax = fig.add_subplot()

    def axis_label(name: str) -> str:
        if name in nominal_values:
            return f"{name} (nominal {format_number(nominal_values[name])})"
        return name

    xs = np.unique(columns[x_name])
    if y_name is None:
        with np.errstate(invalid="ignore"):  # +inf and -inf together: a NaN mean
            means = np.array([returns[columns[x_name] == x].mean() for x in xs])
        lows = np.array([returns[columns[x_name] == x].min() for x in xs])
        highs = np.array([returns[columns[x_name] == x].max() for x in xs])
        # Points whose returns are not all finite leave gaps in the band and the line, and
        # are marked on the axis (as the heatmap hatches such cells).
        band = np.isfinite(lows) & np.isfinite(highs)
        ax.fill_between(
            xs, np.where(band, lows, np.nan), np.where(band, highs, np.nan),
            color="#4c72b0", alpha=0.2, label="min .. max",
        )  # fmt: skip
        # Each point's own range, visible also where gaps leave it no neighbour to fill to.
        ax.vlines(xs[band], lows[band], highs[band], color="#4c72b0", alpha=0.35, lw=3)
        finite = np.isfinite(means)
        ax.plot(xs, np.where(finite, means, np.nan), "o-", color="#4c72b0", label="mean return")
        if not finite.all():
            ax.plot(
                xs[~finite], np.zeros(int((~finite).sum())), "X", color="#7f7f7f", ms=9,
                transform=ax.get_xaxis_transform(), clip_on=False,
                label="mean return not finite",
            )  # fmt: skip
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
    # Only every k-th value is labelled where all would overlap.
    label_every_kth(ax, "x", tick_labels(xs))
    label_every_kth(ax, "y", tick_labels(ys))
    ax.set_xlabel(axis_label(x_name))
    ax.set_ylabel(axis_label(y_name))
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    # A cell with rollouts whose mean is not finite (a NaN or infinite return) is masked
    # like an empty one: grey and hatched, it differs from an empty cell's blank.
    broken = (counts > 0) & ~np.isfinite(grid)
    _draw_broken_cells(fig, ax, broken)
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
                        # Dark on a bright cell and on a grey one.
                        color="black" if broken[i, j] or grid[i, j] > middle else "white",
                    )
    fig.colorbar(image, ax=ax, label="mean return")
    per_cell = np.unique(counts[counts > 0])
    if len(per_cell) == 1:
        n = count_of(int(per_cell[0]), "rollout")
    else:
        n = f"{per_cell.min()}-{per_cell.max()} rollouts"
    ax.set_title(
        title or f"Mean return over {x_name} and {y_name}: {env_id or 'rollouts'} ({n} per cell)"
    )
    return fig
