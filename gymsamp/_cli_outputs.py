"""What ``gymsamp sample`` and ``gymsamp plot`` write: the rollout file (``--out``), with save
errors told in terms of the env and the policy, and the plot (``--plot``, ``-o``)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gymsamp._cli_inputs import CliError, EnvInfo, one_line
from gymsamp.summary import count_of

__all__ = ["save_plot", "unsavable", "write_files"]


def write_files(
    args: argparse.Namespace,
    rollouts: list[Any],
    info: EnvInfo,
    *,
    epsilon: float,
    grid_names: Sequence[str],
) -> tuple[list[str], CliError | None]:
    """Save (``--out``) and plot (``--plot``) the rollouts: the lines to print, and the error
    of rollouts that cannot be saved (the plot is still written)."""
    from gymsamp.data.io import save_rollouts

    written, failure = [], None
    if args.out is not None:
        path = Path(args.out)
        try:
            save_rollouts(path, rollouts, compress=True)
            written.append(f"wrote {path} ({count_of(len(rollouts), 'rollout')})")
        except TypeError as err:  # a value the file format cannot hold
            failure = CliError(f"--out {args.out}: cannot save the rollouts: {unsavable(err)}")
    if args.plot is not None:
        path = save_plot(
            rollouts,
            args.plot,
            epsilon=epsilon,
            env_spec=info.spec,
            nominal=info.nominal,
            grid=grid_names or None,
            field="states" if args.record_states else "observations",
        )
        written.append(f"wrote {path}")
    return written, failure


#: Where gymsamp.data.io's encoder places a value it refuses ("rollouts[3].rollout_info[0].
#: final_info.tags has type set, ..."), for a message in terms of the env and the policy.
_UNSAVABLE = re.compile(
    r"rollouts\[(?P<k>\d+)\]\.(?P<part>rollout_info\[0\]|data)\.(?P<path>\S+) (?P<why>.+)"
)
_SAVABLE = "a file holds numbers, strings, arrays, lists, tuples and dicts of them"


def unsavable(err: BaseException) -> str:
    """The save error ``err`` in terms a command-line user can act on: which rollout, and
    whether the env's infos or the policy's put the value there."""
    text = one_line(err)
    match = _UNSAVABLE.fullmatch(text)
    if match is None:
        return text
    k, path, why = match["k"], match["path"], match["why"].split(", which")[0]
    key, _, rest = path.partition(".")
    if match["part"] == "data" and key in ("env_infos", "agent_infos"):
        name, _, step = rest.partition("[")
        source = "env" if key == "env_infos" else "policy"
        where = f"the {source}'s info {name!r} of rollout {k}" + (
            f" at step {step.rstrip(']')}" if step else ""
        )
    elif match["part"] == "rollout_info[0]" and key == "final_info":
        where = f"the env's info {rest!r} at the last step of rollout {k}"
    else:
        source = "rollout_info" if match["part"] == "rollout_info[0]" else "field"
        where = f"the {source} {path!r} of rollout {k}"
    return (
        f"{where} {why} ({_SAVABLE}); report it as one of those, e.g. a list or a string, "
        "or sample without --out"
    )


def save_plot(
    rollouts: Sequence[Any],
    out: str,
    *,
    epsilon: float,
    env_spec: Any,
    nominal: Mapping[str, Any] | None,
    grid: Sequence[str] | None = None,
    field: str = "observations",
    kind: str = "all",
    num_rollouts: int = 4,
) -> Path:
    # Importing it needs no matplotlib (its functions import it), and every caller has checked
    # the output path with plot_file, which reports a missing matplotlib before any sampling.
    # field="states" comes only with rollouts that hold them: --record-states is refused for
    # an env whose state cannot be recorded, and plot --states for a file without them.
    from gymsamp import plot

    if kind == "returns":
        fig = plot.plot_returns(rollouts, epsilon=epsilon)
    elif kind == "trajectories":
        fig = plot.plot_trajectories(
            rollouts, field=field, num_rollouts=num_rollouts, env_spec=env_spec
        )
    elif kind == "grid":
        names = list(grid) if grid else plot.grid_param_names(rollouts)
        if not names:
            raise CliError("--kind grid: these rollouts do not vary domain parameters on a grid")
        fig = plot.plot_return_grid(
            rollouts, names[0], names[1] if len(names) > 1 else None, nominal=nominal
        )
    else:
        fig = plot.plot_rollouts(
            rollouts,
            epsilon=epsilon,
            env_spec=env_spec,
            field=field,
            num_rollouts=num_rollouts,
            grid=grid,
            nominal=nominal,
        )
    try:
        return plot.save_figure(fig, out)
    except (OSError, ValueError) as err:
        raise CliError(f"cannot write the plot {out!r}: {one_line(err)}") from None
