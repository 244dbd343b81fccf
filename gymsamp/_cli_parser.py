"""The ``gymsamp`` command's argument parser: its commands, options and help.

The parser knows the commands by name only (``args.command``); :mod:`gymsamp.cli` runs them.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any

from gymsamp._cli_inputs import PLAIN_DIGITS, CliError, is_plain_number
from gymsamp.sampling.vector_envs import VECTORIZATIONS as _VECTORIZATIONS

__all__ = ["DEFAULT_EPSILON", "DEFAULT_MAX_STEPS", "DEFAULT_ROLLOUTS", "build_parser"]

#: The default ``--cvar`` level.
DEFAULT_EPSILON = 0.1
#: The default ``--min-rollouts`` of ``gymsamp sample`` (without ``--grid`` and ``--min-steps``).
DEFAULT_ROLLOUTS = 10
#: The ``--max-steps`` of ``gymsamp sample`` for an env without a time limit (Gymnasium's
#: ``max_episode_steps`` None) when none is given: such an env may never end a rollout.
DEFAULT_MAX_STEPS = 1000


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise :class:`CliError` (one line, exit code 2)."""

    def error(self, message: str) -> Any:
        raise CliError(f"{message} (see '{self.prog} --help')", 2)


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an int >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value: int | None = int(text) if is_plain_number(text) else None
        except ValueError:
            value = None
        if value is None or value < minimum:
            plain = "" if is_plain_number(text) else PLAIN_DIGITS
            raise argparse.ArgumentTypeError(f"must be an int >= {minimum}{plain}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_seed = _int_at_least(0)


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text) if is_plain_number(text) else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        plain = "" if is_plain_number(text) else PLAIN_DIGITS
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0{plain}, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        if not is_plain_number(text):
            raise ValueError(text)
        return float(text)
    except ValueError:
        plain = "" if is_plain_number(text) else PLAIN_DIGITS
        raise argparse.ArgumentTypeError(
            f"must be a number in (0, 1]{plain}, got {text!r}"
        ) from None


_SAMPLE_EPILOG = """examples:
  gymsamp sample CartPole-v1 --policy balance --min-rollouts 40 --seed 0 \\
      --randomize length=uniform:0.5,0.45 --out runs/cp.npz --plot runs/cp.png
  gymsamp sample Pendulum-v1 --domain-param m=1.5 --init-state=3.1,0 --max-steps 100
  gymsamp sample CartPole-v1 --policy balance --grid length=0.05,0.1,0.5 --grid masspole=0.1:1:3
  gymsamp sample CartPole-v1 --policy sb3:PPO:ppo_cartpole.zip --min-steps 10000"""

_HELP = {
    "env": "a Gymnasium env id, e.g. CartPole-v1, Hopper-v5, gymsamp/PointMass-v0",
    "policy": "random (default), idle, balance (CartPole), sb3:ALGO:PATH (an SB3 zip), a "
    "torch.export (.pt2) or TorchScript file, or module:attr / file.py:attr (a policy, or a "
    "class or factory(spec) returning one; a class taking action_space gets the env's)",
    "weights": "a torch state_dict for the module --policy module:attr builds (read with "
    "torch.load(weights_only=True))",
    "stochastic": "SB3 models: sample actions instead of taking the most likely one "
    "(refused for other policies, which it would not change)",
    "num-workers": "sub-envs stepped in parallel (default: the number of CPUs, at most 8)",
    "min-rollouts": f"sample at least N complete rollouts (default {DEFAULT_ROLLOUTS}, or one "
    "per grid point with --grid, if --min-steps is not given)",
    "min-steps": "sample at least N steps in total",
    "max-steps": "cut rollouts after N steps (they end in TIMEOUT); default: the env's time "
    f"limit, or {DEFAULT_MAX_STEPS} for an env without one (the run's first line says so)",
    "step-timeout": "end the run with an error when a sub-env's step or reset takes longer "
    "than SECONDS (a hanging env); sub-envs then run in worker processes, so it does not go "
    "with --vectorization sync",
    "seed": "base seed (default: a random one, printed so that the run can be repeated)",
    "vectorization": "auto (default: chosen by the env's step cost), sync (in this process), "
    "async (one process per worker) or batched (several sub-envs per worker process)",
    "domain-param": "fix a domain parameter (repeatable; 'gymsamp params ENV' lists them)",
    "randomize": "draw a domain parameter anew for every rollout: NAME=uniform:MEAN,HALFSPAN or "
    "NAME=normal:MEAN,STD[,LOW,HIGH] (drawn values clipped to [LOW, HIGH]; -inf or inf clips "
    "one side only) (repeatable)",
    "grid": "sample on a grid of domain-parameter values: NAME=V1,V2,... or NAME=START:STOP:NUM "
    "(1 or 2 times, at most 100000 points); every grid point gets the same number of rollouts, "
    "and the plot shows the mean return per grid point",
    "init-state": "start every rollout from this full simulator state (write "
    "--init-state=-0.1,0 when the first value is negative)",
    "env-kwarg": "keyword argument for gymnasium.make, the value a Python literal (repeatable)",
    "record-states": "also record the full simulator states (plotted instead of observations; "
    "envs whose state can be set, see 'gymsamp params')",
    "cvar": "report the CVaR at level EPS: the mean return of the worst EPS fraction of "
    f"rollouts (default {DEFAULT_EPSILON})",
    "out": "save the rollouts to FILE (gymsamp's .npz format, no pickle; missing folders are "
    "created; checked before sampling)",
    "plot": "save a plot of the rollouts (return distribution, grid, trajectories)",
    "env-filter": "only the rollouts of this env id (for a file holding several envs' "
    "rollouts; trajectory and grid plots need one env)",
    "quiet": "no progress bar and no warnings (the summary is still printed)",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``gymsamp`` argument parser (its usage errors raise :class:`CliError`).

    Example:
        >>> args = build_parser().parse_args(["sample", "CartPole-v1", "--min-rollouts", "4"])
        >>> args.command, args.env, args.min_rollouts, args.policy
        ('sample', 'CartPole-v1', 4, 'random')
    """
    from gymsamp import __version__

    parser = _Parser(
        prog="gymsamp",
        description="Sample rollouts of Gymnasium environments in parallel, reproducibly, with "
        "domain randomization; summarize, save and plot them.",
        epilog="Run 'gymsamp COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"gymsamp {__version__}")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks of errors")
    # The command's name goes to args.command, and gymsamp.cli maps it to the function that
    # runs it: this module knows no command functions, so it need not import gymsamp.cli.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    sample = commands.add_parser(
        "sample",
        help="sample rollouts and print a summary (optionally save and plot them)",
        description="Sample rollouts of ENV with a policy in parallel and print a summary:\n"
        "rollouts, steps, throughput, return statistics with a 95% bootstrap interval of\n"
        "the mean, the CVaR, how the rollouts ended, and the domain parameters used.",
        epilog=_SAMPLE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = sample.add_argument
    add("env", metavar="ENV", help=_HELP["env"])
    add("--policy", default="random", help=_HELP["policy"])
    add("--weights", metavar="FILE", help=_HELP["weights"])
    add("--stochastic", action="store_true", help=_HELP["stochastic"])
    workers = min(os.cpu_count() or 1, 8)
    add(
        "--num-workers", type=_positive_int, default=workers, metavar="N", help=_HELP["num-workers"]
    )
    for name in ("min-rollouts", "min-steps", "max-steps"):
        add(f"--{name}", type=_positive_int, metavar="N", help=_HELP[name])
    add("--step-timeout", type=_seconds, metavar="SECONDS", help=_HELP["step-timeout"])
    add("--seed", type=_seed, metavar="S", help=_HELP["seed"])
    add("--vectorization", default="auto", choices=_VECTORIZATIONS, help=_HELP["vectorization"])
    add("--domain-param", action="append", metavar="NAME=VALUE", help=_HELP["domain-param"])
    add("--randomize", action="append", metavar="NAME=DIST", help=_HELP["randomize"])
    add("--grid", action="append", metavar="NAME=VALUES", help=_HELP["grid"])
    add("--init-state", metavar="V1,V2,...", help=_HELP["init-state"])
    add("--env-kwarg", action="append", metavar="KEY=VALUE", help=_HELP["env-kwarg"])
    add("--record-states", action="store_true", help=_HELP["record-states"])
    add("--cvar", type=_fraction, default=DEFAULT_EPSILON, metavar="EPS", help=_HELP["cvar"])
    add("--out", metavar="FILE", help=_HELP["out"])
    add("--plot", metavar="FILE.png", help=_HELP["plot"])
    add("--quiet", action="store_true", help=_HELP["quiet"])

    cvar_help = f"the CVaR level (default {DEFAULT_EPSILON})"
    info = commands.add_parser(
        "info",
        help="summarize saved rollouts",
        description="Print the summary of rollouts saved with 'gymsamp sample --out' or "
        "gymsamp.data.io.save_rollouts.",
    )
    info.add_argument("file", metavar="FILE", help="a gymsamp rollout file (.npz)")
    info.add_argument("--env", metavar="ENV_ID", help=_HELP["env-filter"])
    info.add_argument("--cvar", type=_fraction, default=DEFAULT_EPSILON, metavar="EPS",
                      help=cvar_help)  # fmt: skip

    params = commands.add_parser(
        "params",
        help="list an env's domain parameters and whether its state can be set",
        description="List the domain parameters of ENV with their nominal values, and whether "
        "its initial state can be set (with how many values, and their labels).",
    )
    params.add_argument("env", metavar="ENV", help="a Gymnasium env id")
    params.add_argument("--env-kwarg", action="append", metavar="KEY=VALUE",
                        help=_HELP["env-kwarg"])  # fmt: skip

    plot = commands.add_parser(
        "plot",
        help="plot saved rollouts",
        description="Plot saved rollouts: the return distribution (mean, its 95% bootstrap "
        "interval, the CVaR tail), the mean return over the domain-parameter grid if the "
        "rollouts form one, and observations and actions over time for a few rollouts.",
    )
    add = plot.add_argument
    add("file", metavar="FILE", help="a gymsamp rollout file (.npz)")
    add("--env", metavar="ENV_ID", help=_HELP["env-filter"])
    add("-o", "--output", required=True, metavar="OUT.png", help="the image to write (png, svg)")
    kinds = ("all", "returns", "trajectories", "grid")
    add("--kind", default="all", choices=kinds, help="which plot (default: all in one figure)")
    add("--states", action="store_true", help="plot recorded states instead of observations")
    add("--num-rollouts", type=_positive_int, default=4, metavar="N",
        help="rollouts shown over time, worst to best return (default 4)")  # fmt: skip
    add("--cvar", type=_fraction, default=DEFAULT_EPSILON, metavar="EPS", help=cvar_help)
    return parser
