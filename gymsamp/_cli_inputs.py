"""Turning the ``gymsamp`` command's option values into objects (used by :mod:`gymsamp.cli`).

Distributions (``--randomize``), grids (``--grid``) and env probes (names, labels, nominal
parameters); policies (``--policy``) are loaded by :mod:`gymsamp._cli_policies`. Every problem
with a value raises :class:`CliError`, which the command prints as one line.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CliError",
    "DrawWithFixed",
    "EnvInfo",
    "EnvMaker",
    "check_output_file",
    "check_param_names",
    "check_state_option",
    "is_plain_number",
    "one_line",
    "parse_distribution",
    "parse_env_kwargs",
    "parse_fixed_params",
    "parse_floats",
    "parse_grid",
    "parse_number",
    "plot_file",
    "probe_env",
    "split_assignment",
    "stateless_reason",
]


class CliError(Exception):
    """A user-facing error: printed as one line, exit code ``exit_code``.

    Example:
        >>> err = CliError("unknown env id 'Foo-v0'", exit_code=2)
        >>> str(err), err.exit_code
        ("unknown env id 'Foo-v0'", 2)
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ----------------------------------------------------------------------------------------------
# Parsing option values
# ----------------------------------------------------------------------------------------------


def split_assignment(text: str, option: str, form: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise CliError(f"{option} must look like {form}, got {text!r}", 2)
    return name.strip(), value.strip()


#: Appended to a number's rule where the text was refused for its characters alone.
PLAIN_DIGITS = " (ASCII digits, without underscores)"


def is_plain_number(text: str) -> bool:
    """Whether ``text`` may be read as a number: ASCII, no underscores.

    Python's ``int`` and ``float`` also read ``1_000`` and other scripts' digits (``١`` is 1):
    on a command line those are typos or pasted text, not numbers the user meant.

    Example:
        >>> is_plain_number("1e-3"), is_plain_number("1_000"), is_plain_number("\u0661")
        (True, False, False)
    """
    return text.isascii() and "_" not in text


def parse_number(text: str, what: str, *, allow_inf: bool = False) -> float:
    try:
        if not is_plain_number(text):
            raise ValueError(text)
        value = float(text)
    except ValueError:
        rule = "a number" + ("" if is_plain_number(text) else PLAIN_DIGITS)
        raise CliError(f"{what} must be {rule}, got {text!r}", 2) from None
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        rule = "a number other than nan" if allow_inf else "a finite number"
        raise CliError(f"{what} must be {rule}, got {text!r}", 2)
    return value


def parse_floats(text: str, what: str) -> list[float]:
    return [parse_number(part.strip(), what) for part in text.split(",")]


def parse_distribution(text: str) -> tuple[str, Any, str]:
    """Parse ``--randomize NAME=uniform:MEAN,HALFSPAN`` or ``NAME=normal:MEAN,STD[,LOW,HIGH]``
    (a normal distribution's draws clipped to ``[LOW, HIGH]`` where given).

    Returns:
        ``(name, domain parameter, description)``.

    Raises:
        CliError: The text is not of these forms (exit code 2).

    Example:
        >>> name, param, text = parse_distribution("length=uniform:0.5,0.2")
        >>> name, type(param).__name__, text
        ('length', 'UniformDomainParam', 'uniform(mean=0.5, halfspan=0.2)')
        >>> parse_distribution("length=normal:0.5,0.5,0.05,2")[2]
        'normal(mean=0.5, std=0.5, clipped to [0.05, 2])'
        >>> parse_distribution("length=normal:0.5,0.5,0.05,inf")[2]
        'normal(mean=0.5, std=0.5, clipped to [0.05, inf])'
    """
    from gymsamp.envs import NormalDomainParam, UniformDomainParam
    from gymsamp.summary import format_number

    form = "NAME=uniform:MEAN,HALFSPAN or NAME=normal:MEAN,STD[,LOW,HIGH]"
    name, spec = split_assignment(text, "--randomize", form)
    kind, sep, args = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in ("uniform", "normal"):
        raise CliError(f"--randomize must look like {form}, got {text!r}", 2)
    parts = [part.strip() for part in args.split(",")]
    what = f"--randomize {name} parameters"
    # Only the clip bounds may be infinite (-inf,HIGH or LOW,inf clip one side only).
    values = [parse_number(part, what, allow_inf=index >= 2) for index, part in enumerate(parts)]
    counts = (2, 4) if kind == "normal" else (2,)
    if len(values) not in counts:
        needed = "2 or 4 numbers" if kind == "normal" else "2 numbers"
        raise CliError(
            f"--randomize {name}={kind}: needs {needed} ({form}), got {len(values)} in {text!r}",
            2,
        )
    mean, spread = values[:2]
    try:
        if kind == "uniform":
            param: Any = UniformDomainParam(name, mean=mean, halfspan=spread)
            label = "halfspan"
        else:
            clip_lo, clip_up = values[2:] if len(values) == 4 else (-math.inf, math.inf)
            param = NormalDomainParam(name, mean=mean, std=spread, clip_lo=clip_lo, clip_up=clip_up)
            label = "std"
    except (TypeError, ValueError) as err:
        raise CliError(f"--randomize {text!r}: {err}", 2) from None
    description = f"{kind}(mean={format_number(mean)}, {label}={format_number(spread)})"
    if len(values) == 4:
        low, high = (format_number(value) for value in values[2:])
        description = f"{description[:-1]}, clipped to [{low}, {high}])"
    return name, param, description


#: How far (in standard deviations) the range check looks into an unclipped normal
#: distribution: a draw beyond it has a probability of about 6e-7.
NORMAL_CHECK_STDS = 5.0


#: The most points a ``--grid`` may have (each parameter's values, and all points of a 2-D
#: grid): every point gets at least one rollout, so a larger NUM is a typo (1000000 for 100),
#: and ``START:STOP:NUM`` with a huge NUM ended in a MemoryError or a long hang before it.
MAX_GRID_POINTS = 100_000


def parse_grid(text: str) -> tuple[str, list[float]]:
    """Parse ``--grid NAME=V1,V2,...`` or ``NAME=START:STOP:NUM`` (evenly spaced).

    Both forms must give distinct values: a repeated one would run the same grid point twice.

    Example:
        >>> parse_grid("length=0.25,0.5,1"), parse_grid("masspole=0.1:0.3:3")
        (('length', [0.25, 0.5, 1.0]), ('masspole', [0.1, 0.2, 0.3]))
        >>> parse_grid("mass=1:1:3")
        Traceback (most recent call last):
        ...
        gymsamp._cli_inputs.CliError: --grid mass: values must be distinct, got '1:1:3' \
(the values 1, 1, 1)
    """
    from gymsamp.summary import format_number

    form = "NAME=V1,V2,... or NAME=START:STOP:NUM"
    name, spec = split_assignment(text, "--grid", form)
    spaced = ":" in spec
    if spaced:
        values = _grid_range(name, spec, text, form)
    else:
        values = parse_floats(spec, f"--grid {name} values")
    if len(set(values)) != len(values):
        # The range form's values are not in the text: show them (after rounding).
        shown = ", ".join(format_number(v) for v in values)
        given = f"{spec!r} (the values {shown})" if spaced else repr(spec)
        raise CliError(f"--grid {name}: values must be distinct, got {given}", 2)
    return name, values


def _grid_range(name: str, spec: str, text: str, form: str) -> list[float]:
    """The values of ``--grid NAME=START:STOP:NUM``, with 12 significant digits."""
    parts = spec.split(":")
    if len(parts) != 3:
        raise CliError(f"--grid must look like {form}, got {text!r}", 2)
    start, stop = (
        parse_number(parts[0], f"--grid {name} start"),
        parse_number(parts[1], f"--grid {name} stop"),
    )
    try:
        num = int(parts[2]) if is_plain_number(parts[2]) else 0
    except ValueError:
        num = 0
    if not 1 <= num <= MAX_GRID_POINTS:
        plain = "" if is_plain_number(parts[2]) else PLAIN_DIGITS
        raise CliError(
            f"--grid {name}: NUM must be an int from 1 to {MAX_GRID_POINTS}{plain}, got "
            f"{parts[2]!r}",
            2,
        )
    if num == 1 and start != stop:  # linspace would give START alone, dropping STOP unsaid
        raise CliError(
            f"--grid {name}: NUM 1 must go with START equal to STOP (one value), got {spec!r}; "
            f"write NUM >= 2 for both ends",
            2,
        )
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.linspace(start, stop, num)
    if not np.all(np.isfinite(values)):  # STOP - START beyond float64's range: nan or inf
        raise CliError(
            f"--grid {name}: START:STOP:NUM must give finite values, got {spec!r} (STOP - START "
            "is beyond float64's range)",
            2,
        )
    # 12 significant digits: 0.3, not linspace's 0.30000000000000004, and tiny values kept apart
    # (12 decimals made 1e-13:3e-13:3 three zeros).
    return [float(f"{v:.12g}") for v in values]


def _literal(text: str, option: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a plain string
    except (TypeError, MemoryError, RecursionError) as err:
        # A literal that cannot be built ({[]: 1}: an unhashable key) or is nested too deeply
        # for the parser: not a plain string either, and no value the user meant.
        raise CliError(
            f"{option} value must be a Python literal or a plain string, got {text!r} "
            f"({type(err).__name__}: {one_line(err)})",
            2,
        ) from None


def check_output_file(text: str, option: str, example: str) -> None:
    """Refuse an output path that cannot be written as a file, before any work is done.

    The path must not be a folder or another non-regular file (a device: the writer renames
    its temporary file onto the path); its missing folders are created when the file is
    written, so the nearest existing one must be a folder in which a file can be created
    (tried with a temporary file: ``os.access`` passes read-only folders for root, and
    folders such as ``/proc`` for anyone).

    Example:
        >>> check_output_file("runs/", "--out", "runs/rollouts.npz")
        Traceback (most recent call last):
        ...
        gymsamp._cli_inputs.CliError: --out must be a file path such as runs/rollouts.npz, \
got 'runs/' (a folder)
    """
    if not text.strip():  # e.g. --out "$OUT" with OUT unset: nothing would be written
        raise CliError(f"{option} must be a file path such as {example}, got {text!r}", 2)
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise CliError(
            f"{option} must be a file path such as {example}, got {text!r} (a folder)", 2
        )
    if path.exists() and not path.is_file():
        raise CliError(
            f"{option} must be a regular file path such as {example}, got {text!r} (it exists "
            "and is not a regular file)",
            2,
        )
    folder = path.parent
    while not folder.is_dir():  # the folders still to create must not be files
        if folder.exists():
            raise CliError(
                f"{option} must be a path under folders, got {text!r} ({str(folder)!r} is a "
                "file, not a folder)",
                2,
            )
        folder = folder.parent
    problem = _cannot_create_file_in(folder)
    if problem is not None:
        raise CliError(
            f"{option} must be a path in a folder where files can be created, got {text!r} "
            f"(not in {str(folder)!r}: {problem})",
            2,
        )


def _cannot_create_file_in(folder: Path) -> str | None:
    """Why no file can be created in ``folder`` (found by creating and removing one), or None."""
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=".gymsamp-write-check-")
    except OSError as err:
        return err.strerror or one_line(err)
    os.close(handle)
    os.unlink(name)
    return None


def plot_file(text: str, option: str) -> str:
    """A checked image path for ``option``: ``.png`` added where it has no suffix (as
    matplotlib would, so the path printed is the file written); other suffixes must be a
    format matplotlib writes.

    Checked before any sampling starts, so that a missing matplotlib (the ``plot`` extra)
    is reported at once rather than after the whole run.

    Raises:
        CliError: The path cannot be written (exit code 2), matplotlib is not installed
            (exit code 1), or the suffix is not an image format matplotlib writes (exit code 2).
    """
    check_output_file(text, option, "runs/rollouts.png")
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise CliError(
            f"{option} needs matplotlib (pip install 'gymsamp[plot]'): {one_line(err)}"
        ) from None
    suffix = Path(text).suffix.lower()
    if not suffix:
        return text + ".png"
    formats = Figure().canvas.get_supported_filetypes()
    if suffix[1:] not in formats:
        raise CliError(
            f"{option} must name an image file ({', '.join('.' + f for f in sorted(formats))}), "
            f"got {text!r}",
            2,
        )
    return text


def parse_env_kwargs(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``--env-kwarg KEY=VALUE`` options as keyword arguments (values are Python literals;
    each key once, as ``--domain-param`` takes each name once: a repeated key would silently
    keep only its last value)."""
    kwargs: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for text in pairs or ():
        key, value = split_assignment(text, "--env-kwarg", "KEY=VALUE")
        if key in texts:
            raise CliError(
                f"--env-kwarg must set each key once, got {key!r} twice: {texts[key]!r} and "
                f"{text!r}",
                2,
            )
        kwargs[key], texts[key] = _literal(value, f"--env-kwarg {key}"), text
    return kwargs


def parse_fixed_params(pairs: Sequence[str] | None) -> dict[str, float]:
    """``--domain-param NAME=VALUE`` options as a dict of floats (each name once)."""
    fixed = {}
    for text in pairs or ():
        name, value = split_assignment(text, "--domain-param", "NAME=VALUE")
        if name in fixed:
            raise CliError(f"parameter set more than once: {name}", 2)
        fixed[name] = parse_number(value, f"--domain-param {name}")
    return fixed


# ----------------------------------------------------------------------------------------------
# Environments
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class EnvInfo:
    env_id: str
    class_name: str
    spec: Any  # EnvSpec with the adapter's labels
    nominal: dict[str, Any] | None
    state_shape: tuple[int, ...] | None
    #: Checks domain-parameter values without an env (None: only the env can tell).
    validator: Callable[[Mapping[str, Any]], object] | None = None


class DrawWithFixed:
    """A randomizer's draw with some parameters fixed (for :class:`DomainRandWrapper`)."""

    def __init__(self, fixed: Mapping[str, float], randomizer: Any) -> None:
        self.fixed = dict(fixed)
        self.randomizer = randomizer

    def sample(self, rng: np.random.Generator | None = None) -> dict[str, Any]:
        drawn = {} if self.randomizer is None else self.randomizer.sample(rng=rng)
        return {**self.fixed, **drawn}


class EnvMaker:
    """Picklable env factory: ``gym.make(env_id, **kwargs)``, optionally randomized."""

    def __init__(self, env_id: str, kwargs: Mapping[str, Any], draw: Any = None) -> None:
        self.env_id = env_id
        self.kwargs = dict(kwargs)
        self.draw = draw

    def __call__(self) -> Any:
        import gymnasium as gym

        import gymsamp  # noqa: F401  (registers the gymsamp/... ids in worker processes)

        env = gym.make(self.env_id, **self.kwargs)
        if self.draw is not None:
            from gymsamp.envs import DomainRandWrapper

            env = DomainRandWrapper(env, self.draw)
        return env


def _check_env_id(env_id: str) -> None:
    import gymnasium as gym

    import gymsamp  # noqa: F401

    # Gymnasium's "module:EnvId" form imports the module that registers the env (as gym.make
    # does; gym.spec alone does not).
    module, _, name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
        gym.spec(name)
    except ImportError as err:
        raise CliError(
            f"environment id {env_id!r}: cannot import {module!r}: {err}",
            2 if missing_module(err, module) else 1,
        ) from None
    except gym.error.Error as err:
        raise CliError(f"unknown environment id {env_id!r}: {one_line(err)}", 2) from None


def missing_module(err: BaseException, module: str) -> bool:
    """Whether ``err`` says that ``module`` itself (or a package it is in) does not exist: a bad
    argument (exit code 2), not a module that fails while it is imported (exit code 1)."""
    name = getattr(err, "name", None) if isinstance(err, ModuleNotFoundError) else None
    return bool(name) and (module == name or module.startswith(f"{name}."))


def probe_env(env_id: str, kwargs: Mapping[str, Any]) -> EnvInfo:
    """Make the env once and read its spec, labels, nominal parameters and state shape."""
    import gymnasium as gym

    from gymsamp.data import EnvSpec
    from gymsamp.envs.adapter import adapter_for, has_adapter, spec_with_adapter
    from gymsamp.envs.probe import probing

    _check_env_id(env_id)
    try:
        env = gym.make(env_id, **kwargs)
    except Exception as err:  # a missing dependency, bad kwargs, ...
        # An --env-kwarg the env does not take is a bad argument (exit code 2), as a bad id is.
        unknown_kwarg = (
            bool(kwargs)
            and isinstance(err, TypeError)
            and "unexpected keyword argument" in str(err)
        )
        raise CliError(
            f"cannot make {env_id!r}: {one_line(err)}", 2 if unknown_kwarg else 1
        ) from None
    with probing(env):
        spec = EnvSpec.from_env(env)
        nominal = state_shape = validator = None
        if has_adapter(env):
            adapter = adapter_for(env)
            nominal = adapter.nominal_domain_param()
            validator = adapter.domain_param_validator()
            state_shape = tuple(adapter.state_space.shape)
            spec = spec_with_adapter(spec, adapter)
        return EnvInfo(env_id, type(env.unwrapped).__name__, spec, nominal, state_shape, validator)


def check_param_names(info: EnvInfo, names: Sequence[str], option: str) -> None:
    if not names:
        return
    if info.nominal is None:
        raise CliError(
            f"{option}: {info.env_id} ({info.class_name}) has no domain parameters gymsamp can "
            "set (no simulator adapter; see 'gymsamp params')",
            2,
        )
    unknown = sorted(set(names) - set(info.nominal))
    if unknown:
        raise CliError(
            f"{option}: unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)} for {info.env_id}; valid names: {', '.join(info.nominal)}",
            2,
        )


def stateless_reason(info: EnvInfo, verb: str) -> str | None:
    """Why gymsamp cannot ``verb`` ("set", "recorded"...) the full state of the env: it has no
    adapter (None: it has one)."""
    if info.state_shape is not None:
        return None
    return f"the state of {info.env_id} cannot be {verb} (no adapter)"


def check_state_option(info: EnvInfo, option: str, verb: str) -> None:
    """Refuse ``option`` (one line, exit code 2) for an env whose full state gymsamp cannot
    ``verb``: the option would do nothing (``--record-states`` would record no states)."""
    reason = stateless_reason(info, verb)
    if reason is not None:
        raise CliError(f"{option}: {reason}", 2)


# Terminal colour codes (torch's pickling errors carry them): noise in a one-line message.
ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")


def one_line(err: BaseException | str) -> str:
    """The first line of an error's text, whitespace collapsed, colour codes removed."""
    text = ANSI_CODES.sub("", str(err)).strip() or type(err).__name__
    return " ".join(text.splitlines()[0].split()) if text else text


def check_param_values(info: EnvInfo, params: Mapping[str, float], option: str) -> None:
    """Refuse values the env's adapter refuses (one line, exit code 2) before sampling starts."""
    if info.validator is None or not params:
        return
    try:
        info.validator(params)
    except (TypeError, ValueError) as err:
        raise CliError(f"{option}: {one_line(err)}", 2) from None


def check_distribution_range(info: EnvInfo, name: str, param: Any, text: str) -> None:
    """Refuse a distribution that can draw values the env refuses, before sampling starts: a
    uniform one's ends; a normal one's clip bounds, or where it has none, the values
    ``NORMAL_CHECK_STDS`` standard deviations from the mean (a refused draw would otherwise
    end the run with the env's error once it comes)."""
    halfspan = getattr(param, "halfspan", None)
    if halfspan is not None:
        low, high = param.mean - halfspan, param.mean + halfspan
        for value in (low, high):
            check_param_values(
                info, {name: value}, f"--randomize {name}={text} draws from {low:g} to {high:g}"
            )
        return
    reach = NORMAL_CHECK_STDS * param.std
    ends = (max(param.clip_lo, param.mean - reach), min(param.clip_up, param.mean + reach))
    for end, clipped in zip(ends, (param.clip_lo, param.clip_up), strict=True):
        if end == clipped:
            what = f"--randomize {name}={text} draws up to its clip bound {end:g}"
        else:
            # The bound on this side is missing or infinite (-inf,HIGH clips one side only).
            hint = (
                "give clip bounds: NAME=normal:MEAN,STD,LOW,HIGH"
                if math.isinf(param.clip_lo) and math.isinf(param.clip_up)
                else f"give a finite {'LOW' if end < param.mean else 'HIGH'}"
            )
            what = (
                f"--randomize {name}={text} can draw {end:g} ({NORMAL_CHECK_STDS:g} std from the "
                f"mean; {hint})"
            )
        check_param_values(info, {name: end}, what)
