"""Plots of rollouts: return distribution, trajectories, and return over a parameter grid.

Every function builds a :class:`matplotlib.figure.Figure` directly (never through ``pyplot``),
so plotting works without a display, changes no global matplotlib state, and is safe under any
backend; save a figure with :func:`save_figure` or ``fig.savefig``. Each function can also draw
into a given (sub)figure, which is how :func:`plot_rollouts` combines them. matplotlib (the
``plot`` extra) is imported only by this package.

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

from gymsamp._files import written_atomically
from gymsamp.data import EnvSpec, StepSequence
from gymsamp.plot._figure import new_figure
from gymsamp.plot.grid import check_grid_names, plot_return_grid
from gymsamp.plot.returns import plot_returns
from gymsamp.plot.trajectories import (
    KNOWN_UNITS,
    MAX_PANELS,
    check_env_spec,
    check_field,
    check_one_env,
    flat_values,
    legend_height,
    num_columns,
    plot_trajectories,
)
from gymsamp.summary import as_rollout_list, grid_param_names

if TYPE_CHECKING:
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


def save_figure(fig: FigureBase, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Save ``fig`` (a figure, or the figure a subfigure belongs to) to ``path`` (PNG, SVG, ...).

    The format is that of the path's suffix (any case), one of those matplotlib writes
    (``fig.canvas.get_supported_filetypes()``). The parent folder is created if needed.

    Raises:
        TypeError: ``fig`` is not a matplotlib figure or subfigure.
        ValueError: ``path`` has no suffix, or one matplotlib cannot write.

    Example:
        >>> import tempfile, pathlib
        >>> fig = plot_returns([StepSequence(rewards=[r], observations=[0.0, 0.0], actions=[0])
        ...                     for r in (1.0, 2.0, 3.0)])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_figure(fig, pathlib.Path(folder) / "returns.png")
        ...     path.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        True
    """
    from matplotlib.figure import Figure, FigureBase

    if not isinstance(fig, FigureBase):
        raise TypeError(
            f"fig must be a matplotlib Figure or SubFigure, got {fig!r} ({type(fig).__name__})"
        )
    path = Path(path)
    root: Any = fig
    while not isinstance(root, Figure):
        root = root.figure  # a subfigure's figure is the figure it belongs to
    formats = root.canvas.get_supported_filetypes()
    # Checked here: the file is written under a temporary name whose suffix matplotlib would
    # otherwise guess the format from ("Format 'tmp' is not supported").
    if path.suffix[1:].lower() not in formats:
        suffixes = ", ".join(f".{name}" for name in sorted(formats))
        raise ValueError(
            f"path must end in the suffix of a format matplotlib writes ({suffixes}), "
            f"got {str(path)!r}"
        )
    # Written beside the target and renamed (its folder made if needed): an interrupted SVG
    # is never left half-written (its backend truncates the file before drawing), nor an older
    # plot destroyed.
    with written_atomically(path) as tmp:
        root.savefig(tmp, dpi=dpi, format=path.suffix[1:].lower())
    return path


def plot_rollouts(
    rollouts: StepSequence | Iterable[StepSequence],
    *,
    epsilon: float = 0.1,
    seed: int | None = 0,
    env_spec: EnvSpec | None = None,
    field: str = "observations",
    num_rollouts: int = 4,
    grid: str | Sequence[str] | None = None,
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
        grid: The grid's parameter names (a str is one name; 1 or 2 different ones; an empty
            sequence draws no grid); found automatically if None.
        nominal: Nominal parameter values, shown in the grid's axis labels.

    Returns:
        The figure (subfigures: the top row, then the trajectories).

    Raises:
        ValueError: As :func:`plot_returns`, :func:`plot_return_grid` and
            :func:`plot_trajectories` raise it, or ``grid`` names more than 2 parameters or
            one twice.
        TypeError: ``env_spec`` is not an :class:`~gymsamp.data.EnvSpec`.

    Example:
        >>> ros = [StepSequence(rewards=[1.0] * n, observations=[[0.0]] * (n + 1),
        ...                     actions=[0] * n) for n in (3, 5, 4)]
        >>> fig = plot_rollouts(ros)
        >>> [ax.get_title() for ax in fig.axes][:2]
        ['Return distribution: rollouts, 3 rollouts', 'obs[0]']
    """
    rollouts = as_rollout_list(rollouts)
    check_field(rollouts, field)
    check_one_env(rollouts, field)  # before any drawing: the trajectories need one env
    check_env_spec(env_spec)
    names = check_grid_names(grid) if grid is not None else grid_param_names(rollouts)
    dims = flat_values(rollouts[0].get_data_values(field), field).shape[1]
    dims += flat_values(rollouts[0].actions, "actions").shape[1]
    panels = min(dims, MAX_PANELS)
    ncols = num_columns(panels)
    nrows = math.ceil(panels / ncols)
    width = max(13.0, 3.3 * ncols + 1.5)
    top = 4.6
    bottom = 2.4 * nrows + 0.9 + legend_height(rollouts, num_rollouts, width)
    fig = new_figure(width, top + bottom)
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
