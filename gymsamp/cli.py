"""The ``gymsamp`` command: sample rollouts from a shell, summarize, save and plot them.

Subcommands (``gymsamp COMMAND --help`` for all options)::

    gymsamp sample ENV [options]   sample rollouts, print a summary, optionally save and plot
    gymsamp info FILE              the same summary for saved rollouts
    gymsamp params ENV             the env's domain parameters and whether its state can be set
    gymsamp plot FILE -o OUT.png   plot saved rollouts

Also runnable as ``python -m gymsamp``. Errors are reported as one line on stderr
(``gymsamp: error: ...``, exit code 2 for bad arguments, 1 otherwise; ``--traceback`` shows the
traceback instead); Ctrl-C ends every worker process and exits with code 130.

Policies (``--policy``): ``random``, ``idle``, ``balance`` (a hand-made controller that
balances CartPole), ``sb3:ALGO:PATH`` (a stable-baselines3 / sb3-contrib model zip), a
torch.export (``.pt2``) or TorchScript file, or ``module:attr`` / ``path/to/file.py:attr``
(see :func:`load_policy`). Model files are never unpickled by gymsamp: a torch module must be
saved with ``torch.export.save`` or ``torch.jit.save``, or as a ``state_dict`` (read with
``torch.load(weights_only=True)``) loaded into a module built by ``module:attr``
(``--weights FILE``). SB3 zips are read by SB3's own ``ALGO.load``, which unpickles parts of
the zip, so load only SB3 files you trust.

Heavy modules (torch, matplotlib, stable-baselines3) are imported only when a command needs
them.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gymsamp._cli_inputs import (
    MAX_GRID_POINTS,
    CliError,
    DrawWithFixed,
    EnvInfo,
    EnvMaker,
    check_distribution_range,
    check_output_file,
    check_param_names,
    check_param_values,
    check_state_option,
    one_line,
    parse_distribution,
    parse_env_kwargs,
    parse_fixed_params,
    parse_floats,
    parse_grid,
    plot_file,
    probe_env,
    stateless_reason,
)
from gymsamp._cli_outputs import save_plot, write_files
from gymsamp._cli_parser import DEFAULT_MAX_STEPS, DEFAULT_ROLLOUTS, build_parser
from gymsamp._cli_policies import BUILTIN_POLICIES, balance, load_policy
from gymsamp.summary import count_of

__all__ = [
    "BUILTIN_POLICIES",
    "CliError",
    "balance",
    "build_parser",
    "load_policy",
    "main",
    "parse_distribution",
    "parse_grid",
]


# ----------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------


def _cmd_sample(args: argparse.Namespace) -> int:
    from gymsamp.envs import DomainRandomizer, param_grid

    epsilon = _check_epsilon(args.cvar)
    if args.step_timeout is not None and args.vectorization == "sync":
        raise CliError(
            "--step-timeout must go with --vectorization auto, async or batched (sub-envs in "
            "worker processes; a sub-env in this process cannot be stopped), got "
            "--vectorization sync",
            2,
        )
    if args.out is not None:
        check_output_file(args.out, "--out", "runs/rollouts.npz")
    if args.plot is not None:
        args.plot = plot_file(args.plot, "--plot")
        if args.out is not None and Path(args.plot).resolve() == Path(args.out).resolve():
            raise CliError(
                f"--out and --plot must be different files (the plot would overwrite the "
                f"rollouts), got --out {args.out!r} and --plot {args.plot!r}",
                2,
            )
    kwargs = parse_env_kwargs(args.env_kwarg)
    fixed = parse_fixed_params(args.domain_param)
    randomized = [parse_distribution(text) for text in args.randomize or ()]
    grid_pairs = [parse_grid(text) for text in args.grid or ()]
    grid = dict(grid_pairs)
    # An empty --init-state (e.g. --init-state="$STATE" with STATE unset) is refused by
    # parse_floats, not taken as no initial state.
    init_state = (
        None if args.init_state is None else parse_floats(args.init_state, "--init-state values")
    )
    if len(grid) > 2:
        raise CliError(f"--grid takes 1 or 2 parameters, got {len(grid)}: {', '.join(grid)}", 2)
    points = math.prod(len(values) for values in grid.values())
    if points > MAX_GRID_POINTS:
        sizes = " x ".join(str(len(values)) for values in grid.values())
        raise CliError(
            f"--grid must have at most {MAX_GRID_POINTS} points, got {sizes} = {points}", 2
        )
    if grid and randomized:
        raise CliError("--grid and --randomize cannot be combined (grid points are fixed)", 2)
    names = [*fixed, *(name for name, _, _ in randomized), *(name for name, _ in grid_pairs)]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CliError(f"parameter set more than once: {', '.join(duplicates)}", 2)
    if args.min_rollouts is None and args.min_steps is None:
        args.min_rollouts = len(param_grid(grid)) if grid else DEFAULT_ROLLOUTS

    info = probe_env(args.env, kwargs)
    step_cap = None
    if args.max_steps is None and info.spec.max_episode_length is None:
        # Without a time limit a rollout may never end (gymsamp/Counting-v0 never does), and
        # the run with it: cut rollouts, and say so in the run's first line.
        args.max_steps = step_cap = DEFAULT_MAX_STEPS
    check_param_names(info, list(fixed), "--domain-param")
    check_param_names(info, [name for name, _, _ in randomized], "--randomize")
    check_param_names(info, list(grid), "--grid")
    # Values the env would refuse fail here, not as a worker's error mid-run.
    check_param_values(info, fixed, "--domain-param")
    for name, param, text in randomized:
        check_distribution_range(info, name, param, text)
    for point in param_grid(grid) if grid else ():
        check_param_values(info, {**fixed, **point}, "--grid")
    if args.record_states:
        check_state_option(info, "--record-states", "recorded")
    if init_state is not None:
        check_state_option(info, "--init-state", "set")
        if (len(init_state),) != info.state_shape:
            labels = info.spec.state_labels
            raise CliError(
                f"--init-state must have {info.state_shape[0] if info.state_shape else 0} values"
                + (f" ({', '.join(labels)})" if labels else "")
                + f" for {info.env_id}, got {len(init_state)}",
                2,
            )
    policy, policy_text = load_policy(
        args.policy, info.spec, weights=args.weights, deterministic=not args.stochastic
    )
    draw = None
    if randomized or (fixed and not grid):
        randomizer = (
            DomainRandomizer(*(param for _, param, _ in randomized)) if randomized else None
        )
        draw = DrawWithFixed(fixed, randomizer)
    settings = {name: "fixed" for name in fixed}
    settings.update({name: text for name, _, text in randomized})
    settings.update({name: "grid" for name in grid})
    domain_params = [{**fixed, **point} for point in param_grid(grid)] if grid else None
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    plan = _Plan(EnvMaker(args.env, kwargs, draw), policy, policy_text, seed, epsilon, settings)
    plan.domain_params, plan.init_state, plan.grid_names = domain_params, init_state, list(grid)
    plan.step_cap = step_cap
    return _run_sampling(args, info, plan)


@dataclasses.dataclass
class _Plan:
    """What ``gymsamp sample`` runs, from the parsed options."""

    env: Callable[[], Any]
    policy: Any
    policy_text: str
    seed: int
    epsilon: float
    settings: dict[str, str]
    domain_params: list[dict[str, Any]] | None = None
    init_state: list[float] | None = None
    grid_names: list[str] = dataclasses.field(default_factory=list)
    #: The --max-steps gymsamp chose for an env without a time limit (None: not chosen).
    step_cap: int | None = None


def _run_sampling(args: argparse.Namespace, info: EnvInfo, plan: _Plan) -> int:
    from gymsamp.sampling import ParallelRolloutSampler, StepTimeoutError
    from gymsamp.summary import summarize

    show_bar = not args.quiet and sys.stderr.isatty()
    try:
        sampler = ParallelRolloutSampler(
            plan.env,
            plan.policy,
            args.num_workers,
            min_rollouts=args.min_rollouts,
            min_steps=args.min_steps,
            show_progress_bar=show_bar,
            seed=plan.seed,
            vectorization=args.vectorization,
            max_steps=args.max_steps,
            step_timeout=args.step_timeout,
            record_states=args.record_states,
        )
    except ValueError as err:
        raise CliError(one_line(err), 2) from None
    with sampler:
        # Both bounds hold when both are given (the sampler stops once both are met).
        bounds = [(args.min_rollouts, "rollout"), (args.min_steps, "step")]
        bound = " and ".join(count_of(n, noun) for n, noun in bounds if n is not None)
        workers = count_of(sampler.num_workers, "worker")
        print(
            f"gymsamp sample {info.env_id}: policy {plan.policy_text}, at least {bound}, "
            f"seed {plan.seed}, {workers} ({sampler.vectorization_used})"
            + ("" if plan.init_state is None else f", initial state {plan.init_state}")
            + (
                ""
                if plan.step_cap is None
                else f", rollouts cut at {plan.step_cap} steps (the env has no time limit; "
                "set --max-steps N to change)"
            ),
            flush=True,
        )
        start = time.perf_counter()
        try:
            rollouts = _sample(sampler, plan)
        except StepTimeoutError as err:  # name the option that set the limit
            raise CliError(f"--step-timeout {args.step_timeout:g}: {one_line(err)}") from None
        seconds = time.perf_counter() - start
    for ro in rollouts:
        # Saved with them: `info` and `plot` make the env as it was made here (its nominal
        # parameters depend on the kwargs; a "module:EnvId" id's module registers it).
        ro.rollout_info[CLI_ENV_KEY] = {"env": args.env, "env_kwarg": list(args.env_kwarg or ())}
        # Plots and `info` find the grid, or that there is none: randomized values can repeat
        # (a clipped draw) and would pass for a grid.
        ro.rollout_info["grid"] = list(plan.grid_names)
    # The files first: a reader that closes the pipe early (``| head``) must not cost them,
    # nor anything the summary might fail on.
    written, failure = write_files(
        args, rollouts, info, epsilon=plan.epsilon, grid_names=plan.grid_names
    )
    summary = summarize(
        rollouts,
        epsilon=plan.epsilon,
        seed=0,
        seconds=seconds,
        nominal=info.nominal,
        settings=plan.settings,
        env_id=info.env_id,
    )
    print(summary.format())
    for line in written:
        print(line)
    print(summary.result_line(), flush=True)
    if failure is not None:  # after the summary: a run whose file failed keeps its numbers
        raise failure
    return 0


def _sample(sampler: Any, plan: _Plan) -> list[Any]:
    """Sample with ``sampler``: from ``plan.init_state``, and on every grid point equally."""
    init_states = None if plan.init_state is None else [np.array(plan.init_state)]
    points = plan.domain_params
    rollouts: list[Any] = sampler.sample(init_states=init_states, domain_params=points)
    if points and len(rollouts) % len(points):  # --min-steps ended mid-round
        # Every grid point gets the same number of rollouts: complete the round.
        done = len(rollouts) % len(points)
        sampler.set_min_count(min_rollouts=len(points) - done)
        rollouts += sampler.sample(init_states=init_states, domain_params=points[done:])
    return rollouts


def _check_epsilon(epsilon: float) -> float:
    if not 0 < epsilon <= 1:
        raise CliError(f"--cvar must be in (0, 1], got {epsilon:g}", 2)
    if math.isinf(1 / epsilon):  # a subnormal: summarize's 1 / epsilon rollouts overflow
        raise CliError(f"--cvar must be in (0, 1] with a finite inverse, got {epsilon!r}", 2)
    return epsilon


def _load(path: str) -> list[Any]:
    from gymsamp.data.io import load_rollouts

    # Checked first: the loader calls a folder no readable gymsamp file (whatever error the
    # platform gives for opening one), which would send a shell user looking for a bad file.
    if Path(path).is_dir():
        raise CliError(f"cannot read {path!r}: it is a directory")
    try:
        rollouts = load_rollouts(path)
    except FileNotFoundError:
        raise CliError(f"cannot read {path!r}: no such file") from None
    except (OSError, ValueError) as err:
        text = one_line(err)
        if "is not a readable gymsamp file" in text or "is not a gymsamp file" in text:
            text = "not a gymsamp rollout file (gymsamp sample --out and save_rollouts write them)"
        raise CliError(f"cannot read {path!r}: {text}") from None
    if not rollouts:
        raise CliError(f"{path!r} holds no rollouts")
    from gymsamp.summary import as_rollout_list

    return as_rollout_list(rollouts)


def _select_env(rollouts: list[Any], env_id: str | None, path: str) -> list[Any]:
    """The rollouts of ``env_id`` (``--env``), or all of them if it is None."""
    if env_id is None:
        return rollouts
    from gymsamp.summary import env_id_counts

    counts = env_id_counts(rollouts)
    if env_id not in counts:
        found = ", ".join(counts) or "none"
        raise CliError(f"--env must be an env id of {path!r} ({found}), got {env_id!r}", 2)
    return [ro for ro in rollouts if env_id_counts([ro]) == {env_id: 1}]


def _envs_text(counts: Mapping[str, int]) -> str:
    """``"CartPole-v1 (3), Pendulum-v1 (3)"``: each env id with its number of rollouts."""
    return ", ".join(f"{env_id} ({n})" for env_id, n in counts.items())


#: ``rollout_info`` key under which ``gymsamp sample`` saves how it made the env: its
#: ``--env`` argument and ``--env-kwarg`` texts (texts, so that any literal saves).
CLI_ENV_KEY = "cli_env"


def _saved_env_info(rollouts: Sequence[Any]) -> EnvInfo | None:
    """The env of saved rollouts, if they name one env and it can be made here (rollouts of
    several envs have no one nominal or spec): made as ``gymsamp sample`` made it where every
    rollout recorded the same ``rollout_info["cli_env"]``, else from ``rollout_info["env_id"]``.
    """
    from gymsamp.summary import env_id_counts

    counts = env_id_counts(rollouts)
    if len(counts) != 1:
        return None
    env_id, kwargs = next(iter(counts)), {}
    made = [ro.rollout_info.get(CLI_ENV_KEY) for ro in rollouts]
    try:
        if made[0] is not None and all(entry == made[0] for entry in made):
            env_id, kwargs = made[0]["env"], parse_env_kwargs(made[0]["env_kwarg"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return probe_env(env_id, kwargs)
    except Exception:  # a file from elsewhere: summarize without the env's nominals
        return None


def _cmd_info(args: argparse.Namespace) -> int:
    from gymsamp.summary import summarize

    epsilon = _check_epsilon(args.cvar)
    rollouts = _select_env(_load(args.file), args.env, args.file)
    env = _saved_env_info(rollouts)
    summary = summarize(rollouts, epsilon=epsilon, nominal=env.nominal if env else None)
    if len(summary.env_counts) > 1:
        counts = summary.env_counts
        env_name = f"{len(counts)} envs: {_envs_text(counts)} (--env ENV_ID for one)"
    else:
        env_name = summary.env_id or "an unknown env"
    print(f"{args.file}: {count_of(summary.num_rollouts, 'rollout')} of {env_name}")
    print(summary.format())
    print(summary.result_line())
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    epsilon = _check_epsilon(args.cvar)
    args.output = plot_file(args.output, "--output")
    rollouts = _select_env(_load(args.file), args.env, args.file)
    _check_one_env(rollouts, args.kind, args.file)
    env = _saved_env_info(rollouts)
    if args.states and "states" not in rollouts[0].data_names:
        # Advise --record-states only where it would record them (unknown env: it may).
        reason = stateless_reason(env, "recorded") if env else None
        raise CliError(
            f"{args.file} holds no states: {reason}"
            if reason
            else f"{args.file} holds no states (sample with --record-states to record them)"
        )
    path = save_plot(
        rollouts,
        args.output,
        epsilon=epsilon,
        env_spec=env.spec if env else None,
        nominal=env.nominal if env else None,
        field="states" if args.states else "observations",
        kind=args.kind,
        num_rollouts=args.num_rollouts,
    )
    print(f"wrote {path}")
    return 0


def _check_one_env(rollouts: Sequence[Any], kind: str, path: str) -> None:
    """Refuse plots other than the returns for rollouts of several envs: trajectories have
    each env's own panels, and a grid of one env's parameters does not span the others."""
    from gymsamp.summary import env_id_counts

    counts = env_id_counts(rollouts)
    if len(counts) > 1 and kind != "returns":
        first = next(iter(counts))
        raise CliError(
            f"--kind {kind} must plot the rollouts of one env, got {path!r} with rollouts of "
            f"{len(counts)} envs: {_envs_text(counts)}; pick one with --env {first}, or plot "
            "all their returns with --kind returns",
            2,
        )


def _cmd_params(args: argparse.Namespace) -> int:
    from gymsamp.summary import format_number

    info = probe_env(args.env, parse_env_kwargs(args.env_kwarg))
    spec = info.spec
    print(f"{info.env_id} ({info.class_name})")
    if info.nominal is None:
        print(
            "domain parameters: none (gymsamp has no simulator adapter for this env; it could "
            "implement nominal_domain_param, get/set_domain_param and get/set_state itself)"
        )
        print("initial state: cannot be set")
    else:
        print(f"domain parameters ({len(info.nominal)}; set with --domain-param / --randomize):")
        width = max(len(name) for name in info.nominal) if info.nominal else 0
        for name, value in info.nominal.items():
            print(f"  {name:<{width}}  {format_number(float(value))}")
        shape = info.state_shape or ()
        labels = f": {', '.join(spec.state_labels)}" if spec.state_labels else ""
        count = shape[0] if shape else 0
        print(f"initial state: can be set with --init-state, {count_of(count, 'value')}{labels}")
    obs_labels = f" ({', '.join(spec.obs_labels)})" if spec.obs_labels else ""
    act_labels = f" ({', '.join(spec.act_labels)})" if spec.act_labels else ""
    print(f"observation space: {spec.observation_space}{obs_labels}")
    print(f"action space: {spec.action_space}{act_labels}")
    limit = spec.max_episode_length
    print(f"episode limit: {f'{limit} steps' if limit else 'none'}")
    return 0


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------


def _error(message: str) -> None:
    print(f"gymsamp: error: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gymsamp`` command with ``argv`` (``sys.argv[1:]`` if None).

    Returns:
        The exit code: 0 on success, 2 for bad arguments, 1 for other errors, 130 after Ctrl-C.

    Example:
        >>> main(["params", "gymsamp/PointMass-v0"])  # doctest: +NORMALIZE_WHITESPACE
        gymsamp/PointMass-v0 (PointMassEnv)
        domain parameters (3; set with --domain-param / --randomize):
          mass      1
          friction  0.5
          dt        0.05
        initial state: can be set with --init-state, 2 values: x, v
        observation space: Box(-3.4028235e+38, 3.4028235e+38, (2,), float32) (x, v)
        action space: Box(-1.0, 1.0, (1,), float32) (force)
        episode limit: 200 steps
        0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in argv
    if show_traceback:  # also after the command, where the error message suggests adding it
        argv = ["--traceback", *(arg for arg in argv if arg != "--traceback")]
    try:
        args = build_parser().parse_args(argv)
        # The parser (gymsamp._cli_parser) only names the command (args.command), so that it
        # need not import this module; the name is mapped to its function here, per call.
        commands = {
            "sample": _cmd_sample,
            "info": _cmd_info,
            "params": _cmd_params,
            "plot": _cmd_plot,
        }
        quiet = getattr(args, "quiet", False)
        with warnings.catch_warnings():
            # Gymnasium warns when Ctrl-C makes the sampler close a vector env mid-step.
            warnings.filterwarnings("ignore", message=".*Calling `close` while waiting")
            if quiet:
                warnings.simplefilter("ignore")
            return int(commands[args.command](args))
    except CliError as err:
        _error(str(err))
        return err.exit_code
    except KeyboardInterrupt:
        print("gymsamp: interrupted", file=sys.stderr, flush=True)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `gymsamp info f.npz | head -1`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as err:
        if show_traceback:
            raise
        _error(f"{type(err).__name__}: {one_line(err)} (run with --traceback for details)")
        return 1
