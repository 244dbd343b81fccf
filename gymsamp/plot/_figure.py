"""Figures for the plots: a new constrained-layout figure, legends below a figure's panels,
category axes labelled without overlap, the env id of some rollouts.

Shared by the plot modules of :mod:`gymsamp.plot`; matplotlib is imported only when a figure
is made.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, cast

from gymsamp.data import StepSequence

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, FigureBase, SubFigure
    from matplotlib.font_manager import FontProperties

__all__ = [
    "LEGEND_FONT",
    "env_id_of",
    "figure_width",
    "label_every_kth",
    "legend_columns",
    "legend_row_height",
    "new_figure",
    "text_width",
]

#: Font size of the legends below a figure's panels.
LEGEND_FONT = "small"


def new_figure(width: float, height: float) -> Figure:
    """A blank figure of ``width`` x ``height`` inches with constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_width(fig: FigureBase) -> float:
    """The width of a figure or subfigure in inches."""
    # A subfigure's dpi is its root figure's; get_figure(root=True) would say the same but
    # needs matplotlib >= 3.10 (TypeError before), and gymsamp[plot] supports 3.8. Every
    # FigureBase is a Figure or a SubFigure; only those two declare dpi.
    dpi = cast("Figure | SubFigure", fig).dpi
    return float(fig.get_window_extent().width / dpi)


def legend_columns(entries: Sequence[str], width: float) -> tuple[int, int]:
    """Columns and rows of a legend of ``entries`` (in :data:`LEGEND_FONT`) whose rows fit a
    figure ``width`` inches wide: as many columns as fit, at most one per entry."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties

    font = FontProperties(size=LEGEND_FONT)
    size = font.get_size_in_points()
    text = text_width(entries, font)
    handle = (rcParams["legend.handlelength"] + rcParams["legend.handletextpad"]) * size
    spacing = rcParams["legend.columnspacing"] * size
    frame = 2 * (rcParams["legend.borderpad"] + rcParams["legend.borderaxespad"]) * size
    room = 72.0 * width - frame - 12.0  # points; the layout's margins take some too
    columns = max(1, min(len(entries), int((room + spacing) // (text + handle + spacing))))
    return columns, math.ceil(len(entries) / columns)


def text_width(texts: Iterable[str], font: FontProperties) -> float:
    """The width in points of the widest of ``texts`` in ``font``, as any backend draws it."""
    from matplotlib.textpath import TextToPath

    measure = TextToPath().get_text_width_height_descent
    # A raster backend's hinted text is up to ~10% wider than its outline.
    return 1.1 * max(measure(text, font, ismath=False)[0] for text in texts)


def label_every_kth(ax: Axes, axis_name: str, labels: Sequence[str]) -> None:
    """Ticks at the categories ``0 .. len(labels) - 1`` of an axis of ``ax``, labelled with
    ``labels``: every k-th one, k the smallest that keeps them apart at the axis' length.

    The labels come from a formatter run at each draw, when the layout has fixed that length.
    Every category keeps its tick, so a tick's own properties (a color) stay with its label;
    other positions (an interactive cursor's readout) get no label.
    """
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import FuncFormatter

    horizontal = axis_name == "x"
    font = FontProperties(size=rcParams["xtick.labelsize" if horizontal else "ytick.labelsize"])
    size = font.get_size_in_points()
    # Points along the axis a label needs: side by side, the widest and a gap of one em;
    # stacked, a line each.
    extent = text_width(labels, font) + size if horizontal else 1.5 * size

    def label(value: float, _: int) -> str:
        index = round(float(value))
        box = ax.get_window_extent()
        length = (box.width if horizontal else box.height) * 72.0 / ax.figure.dpi
        step = max(1, math.ceil(extent * len(labels) / length)) if length > 0 else 1
        return labels[index] if 0 <= index < len(labels) and index % step == 0 else ""

    axis = ax.xaxis if horizontal else ax.yaxis
    axis.set_ticks(range(len(labels)))
    axis.set_major_formatter(FuncFormatter(label))


def legend_row_height() -> float:
    """The height in inches of one row of a legend in :data:`LEGEND_FONT`."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties

    size = FontProperties(size=LEGEND_FONT).get_size_in_points()
    return float((1.0 + rcParams["legend.labelspacing"]) * size / 72.0)


def env_id_of(rollouts: Sequence[StepSequence]) -> str | None:
    """The env id in the first rollout's ``rollout_info``, if any."""
    info = rollouts[0].rollout_info if rollouts else None
    env_id = info.get("env_id") if isinstance(info, Mapping) else None
    return env_id if isinstance(env_id, str) else None
