"""Turning the ``gymsamp`` command's option values into objects (used by :mod:`gymsamp.cli`).

Distributions (``--randomize``), grids (``--grid``), env probes (names, labels, nominal
parameters) and policies (``--policy``). Every problem with a value raises :class:`CliError`,
which the command prints as one line.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BUILTIN_POLICIES",
    "CliError",
    "DrawWithFixed",
    "EnvInfo",
    "EnvMaker",
    "balance",
    "check_param_names",
    "load_policy",
    "one_line",
    "parse_distribution",
    "parse_env_kwargs",
    "parse_fixed_params",
    "parse_floats",
    "parse_grid",
    "parse_number",
    "probe_env",
    "split_assignment",
]

#: The policies ``--policy`` knows by name.
BUILTIN_POLICIES = ("random", "idle", "balance")


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


def parse_number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CliError(f"{what} must be a number, got {text!r}", 2) from None
    if not math.isfinite(value):
        raise CliError(f"{what} must be a finite number, got {text!r}", 2)
    return value


def parse_floats(text: str, what: str) -> list[float]:
    return [parse_number(part.strip(), what) for part in text.split(",")]


def parse_distribution(text: str) -> tuple[str, Any, str]:
    """Parse ``--randomize NAME=uniform:MEAN,HALFSPAN`` or ``NAME=normal:MEAN,STD``.

    Returns:
        ``(name, domain parameter, description)``.

    Raises:
        CliError: The text is not of either form (exit code 2).

    Example:
        >>> name, param, text = parse_distribution("length=uniform:0.5,0.2")
        >>> name, type(param).__name__, text
        ('length', 'UniformDomainParam', 'uniform(mean=0.5, halfspan=0.2)')
    """
    from gymsamp.envs import NormalDomainParam, UniformDomainParam
    from gymsamp.summary import format_number

    form = "NAME=uniform:MEAN,HALFSPAN or NAME=normal:MEAN,STD"
    name, spec = split_assignment(text, "--randomize", form)
    kind, sep, args = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in ("uniform", "normal"):
        raise CliError(f"--randomize must look like {form}, got {text!r}", 2)
    values = parse_floats(args, f"--randomize {name} parameters")
    if len(values) != 2:
        raise CliError(
            f"--randomize {name}={kind}: needs 2 numbers ({form}), got {len(values)} in {text!r}",
            2,
        )
    mean, spread = values
    try:
        if kind == "uniform":
            param: Any = UniformDomainParam(name, mean=mean, halfspan=spread)
            label = "halfspan"
        else:
            param = NormalDomainParam(name, mean=mean, std=spread)
            label = "std"
    except (TypeError, ValueError) as err:
        raise CliError(f"--randomize {text!r}: {err}", 2) from None
    description = f"{kind}(mean={format_number(mean)}, {label}={format_number(spread)})"
    return name, param, description


def parse_grid(text: str) -> tuple[str, list[float]]:
    """Parse ``--grid NAME=V1,V2,...`` or ``NAME=START:STOP:NUM`` (evenly spaced).

    Example:
        >>> parse_grid("length=0.25,0.5,1"), parse_grid("masspole=0.1:0.3:3")
        (('length', [0.25, 0.5, 1.0]), ('masspole', [0.1, 0.2, 0.3]))
    """
    form = "NAME=V1,V2,... or NAME=START:STOP:NUM"
    name, spec = split_assignment(text, "--grid", form)
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise CliError(f"--grid must look like {form}, got {text!r}", 2)
        start, stop = (
            parse_number(parts[0], f"--grid {name} start"),
            parse_number(parts[1], f"--grid {name}"),
        )
        try:
            num = int(parts[2])
        except ValueError:
            num = 0
        if num < 1:
            raise CliError(f"--grid {name}: NUM must be an int >= 1, got {parts[2]!r}", 2)
        return name, [round(float(v), 12) for v in np.linspace(start, stop, num)]
    values = parse_floats(spec, f"--grid {name} values")
    if len(set(values)) != len(values):
        raise CliError(f"--grid {name}: values must be distinct, got {spec!r}", 2)
    return name, values


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a plain string


def parse_env_kwargs(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``--env-kwarg KEY=VALUE`` options as keyword arguments (values are Python literals)."""
    kwargs = {}
    for text in pairs or ():
        key, value = split_assignment(text, "--env-kwarg", "KEY=VALUE")
        kwargs[key] = _literal(value)
    return kwargs


def parse_fixed_params(pairs: Sequence[str] | None) -> dict[str, float]:
    """``--domain-param NAME=VALUE`` options as a dict of floats."""
    fixed = {}
    for text in pairs or ():
        name, value = split_assignment(text, "--domain-param", "NAME=VALUE")
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

    try:
        gym.spec(env_id)
    except gym.error.Error as err:
        raise CliError(f"unknown environment id {env_id!r}: {one_line(err)}") from None


def probe_env(env_id: str, kwargs: Mapping[str, Any]) -> EnvInfo:
    """Make the env once and read its spec, labels, nominal parameters and state shape."""
    import gymnasium as gym

    from gymsamp.data import EnvSpec
    from gymsamp.envs import adapter_for, has_adapter

    _check_env_id(env_id)
    try:
        env = gym.make(env_id, **kwargs)
    except Exception as err:  # a missing dependency, bad kwargs, ...
        raise CliError(f"cannot make {env_id!r}: {one_line(err)}") from None
    try:
        spec = EnvSpec.from_env(env)
        nominal = state_shape = None
        if has_adapter(env):
            adapter = adapter_for(env)
            nominal = adapter.nominal_domain_param()
            state_shape = tuple(adapter.state_space.shape)
            spec = dataclasses.replace(
                spec,
                state_space=spec.state_space or adapter.state_space,
                obs_labels=spec.obs_labels or adapter.obs_labels,
                act_labels=spec.act_labels or adapter.act_labels,
                state_labels=spec.state_labels or adapter.state_labels,
            )
        return EnvInfo(env_id, type(env.unwrapped).__name__, spec, nominal, state_shape)
    finally:
        env.close()


def check_param_names(info: EnvInfo, names: Sequence[str], option: str) -> None:
    if not names:
        return
    if info.nominal is None:
        raise CliError(
            f"{option}: {info.env_id} ({info.class_name}) has no domain parameters gymsamp can "
            "set (no simulator adapter; see 'gymsamp params')"
        )
    unknown = sorted(set(names) - set(info.nominal))
    if unknown:
        raise CliError(
            f"{option}: unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)} for {info.env_id}; valid names: {', '.join(info.nominal)}",
            2,
        )


# ----------------------------------------------------------------------------------------------
# Policies
# ----------------------------------------------------------------------------------------------


def balance(observations: np.ndarray) -> np.ndarray:
    """A hand-made CartPole controller: push towards where the pole is falling.

    Pushes right when ``theta + 0.5 theta_dot + 0.05 x + 0.1 x_dot > 0``: the pole angle and
    its rate dominate, the cart terms keep the cart near the centre. It balances the nominal
    CartPole-v1 for the full 500 steps and fails only for very short poles.

    Example:
        >>> balance(np.array([[0.0, 0.0, 0.05, 0.0], [0.0, 0.0, -0.05, 0.0]]))
        array([1, 0])
    """
    obs = np.asarray(observations, dtype=np.float64)
    score = obs[:, 2] + 0.5 * obs[:, 3] + 0.05 * obs[:, 0] + 0.1 * obs[:, 1]
    return (score > 0).astype(np.int64)


def _check_cartpole_like(spec: Any) -> None:
    import gymnasium as gym

    ok = (
        isinstance(spec.action_space, gym.spaces.Discrete)
        and spec.action_space.n == 2
        and getattr(spec.observation_space, "shape", None) == (4,)
    )
    if not ok:
        raise CliError(
            "--policy balance is a CartPole controller (4 observations, 2 discrete actions); "
            f"this env has observations {spec.observation_space} and actions {spec.action_space}"
        )


def _import_attr(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise CliError(f"--policy {target!r}: no such file {module_name!r}")
            mod_spec = importlib.util.spec_from_file_location(path.stem, path)
            if mod_spec is None or mod_spec.loader is None:
                raise CliError(f"--policy {target!r}: cannot import {module_name!r}")
            module: Any = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except CliError:
        raise
    except Exception as err:
        raise CliError(
            f"--policy {target!r}: cannot import {module_name!r}: {one_line(err)}"
        ) from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CliError(f"--policy {target!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _is_factory(obj: Any) -> bool:
    if inspect.isclass(obj):
        return True
    if not inspect.isfunction(obj):
        return False
    params = list(inspect.signature(obj).parameters)
    return bool(params) and params[0] in ("spec", "env_spec")


def _instantiate(obj: Any, env_spec: Any, target: str) -> Any:
    if not _is_factory(obj):
        return obj
    try:
        signature = inspect.signature(obj)
        takes_arg = any(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
            for p in signature.parameters.values()
        )
    except (TypeError, ValueError):
        takes_arg = True
    try:
        return obj(env_spec) if takes_arg else obj()
    except Exception as err:
        raise CliError(
            f"--policy {target!r}: building the policy failed: {one_line(err)}"
        ) from None


def _load_weights(module: Any, path: str, target: str) -> None:
    import torch

    if not isinstance(module, torch.nn.Module):
        raise CliError(
            f"--weights needs a torch.nn.Module policy, but {target!r} gave {type(module).__name__}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except FileNotFoundError:
        raise CliError(f"--weights: no such file {path!r}") from None
    except Exception as err:  # not a state dict, mismatched keys or shapes, ...
        raise CliError(f"--weights {path!r}: {one_line(err)}") from None


def _load_sb3(text: str, env_spec: Any, deterministic: bool) -> tuple[Any, str]:
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise CliError(
            f"--policy must look like sb3:ALGO:PATH (e.g. sb3:PPO:ppo.zip), got {text!r}", 2
        )
    _, algo, path = parts
    if not Path(path).is_file():
        raise CliError(f"--policy {text!r}: no such file {path!r}")
    cls = None
    for package in ("stable_baselines3", "sb3_contrib"):
        try:
            cls = getattr(importlib.import_module(package), algo, None)
        except ImportError:
            continue
        if cls is not None:
            break
    if cls is None or not hasattr(cls, "load"):
        raise CliError(
            f"--policy {text!r}: unknown algorithm {algo!r} (stable-baselines3 has A2C, DDPG, "
            "DQN, PPO, SAC, TD3; sb3-contrib adds more; is stable-baselines3 installed?)"
        )
    try:
        model = cls.load(path, device="cpu")
    except Exception as err:
        raise CliError(f"--policy {text!r}: SB3 could not load it: {one_line(err)}") from None
    from gymsamp.policies import SB3Policy

    mode = "deterministic" if deterministic else "stochastic"
    return SB3Policy(model, env_spec, deterministic=deterministic), f"{algo} from {path} ({mode})"


def _zip_members(path: str) -> list[str]:
    import zipfile

    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def _load_torch_file(path: str) -> tuple[Any, str]:
    """A torch.export program (``.pt2``) or a TorchScript module, never a pickled module."""
    import warnings

    import torch

    members = _zip_members(path)
    exported = any(name.endswith("/archive_format") for name in members)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated
            if exported:
                return torch.export.load(path).module(), f"torch.export program {path}"
            return torch.jit.load(path, map_location="cpu"), f"TorchScript module {path}"
    except Exception as err:
        hint = (
            "save a module with torch.export.save (a dynamic batch dimension) or "
            "torch.jit.script(module).save(PATH), or save its state_dict and pass "
            "--policy module:attr --weights PATH (gymsamp never unpickles model files)"
        )
        if any(name.endswith("policy.pth") for name in members):
            hint = "it looks like a stable-baselines3 model: use --policy sb3:ALGO:PATH"
        cause = one_line(err).split(". ")[0]  # torch's messages run on for several sentences
        kind = "torch.export program" if exported else "TorchScript module"
        raise CliError(f"--policy {path!r} is not a readable {kind} ({cause}); {hint}") from None


def load_policy(
    text: str,
    env_spec: Any,
    *,
    weights: str | None = None,
    deterministic: bool = True,
) -> tuple[Any, str]:
    """Resolve the ``--policy`` value into something :func:`gymsamp.policies.as_policy` takes.

    ``text`` is one of:

    - ``random`` / ``idle``: :class:`~gymsamp.policies.RandomPolicy` /
      :class:`~gymsamp.policies.IdlePolicy` for the env's action space;
    - ``balance``: :func:`balance`, for CartPole;
    - ``sb3:ALGO:PATH``: ``ALGO.load(PATH)`` from stable-baselines3 (or sb3-contrib); SB3 reads
      the zip itself and unpickles parts of it, so use trusted files only;
    - a path to a ``torch.export`` program (``torch.export.save``; export it with a dynamic
      batch dimension, the sub-envs' observations come batched) or a TorchScript module
      (``torch.jit.script(module).save(PATH)``), loaded with ``torch.export.load`` /
      ``torch.jit.load``; pickled modules (``torch.save(module)``) are refused, since loading
      them can run arbitrary code;
    - ``module:attr`` or ``path/to/file.py:attr``: the attribute (dots allowed in ``attr``).
      A class, or a function whose first parameter is named ``spec`` or ``env_spec``, is a
      factory: it is called with the env's :class:`~gymsamp.data.EnvSpec` (or with no
      arguments if it takes none) and must return the policy. Anything else is the policy
      itself (a callable on observation batches, a torch module, an SB3 model, a gymsamp
      policy). With ``weights``, the policy must be a ``torch.nn.Module`` and gets the
      ``state_dict`` in that file (read with ``torch.load(weights_only=True)``).

    Args:
        text: The ``--policy`` value.
        env_spec: The env's :class:`~gymsamp.data.EnvSpec`.
        weights: A ``state_dict`` file for a torch module made by ``module:attr``.
        deterministic: For SB3 models: ``predict(..., deterministic=...)``.

    Returns:
        ``(policy, description)``.

    Raises:
        CliError: The policy cannot be found or loaded.

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.data import EnvSpec
        >>> spec = EnvSpec.from_env(gym.make("CartPole-v1"))
        >>> load_policy("random", spec)[1], load_policy("numpy:zeros_like", spec)[1]
        ('random', 'numpy:zeros_like')
    """
    from gymsamp.policies import IdlePolicy, RandomPolicy

    if weights is not None and (text in BUILTIN_POLICIES or text.startswith("sb3:")):
        raise CliError("--weights goes with --policy module:attr (a torch module)", 2)
    if text == "random":
        return RandomPolicy(env_spec.action_space), "random"
    if text == "idle":
        return IdlePolicy(env_spec.action_space), "idle"
    if text == "balance":
        _check_cartpole_like(env_spec)
        return balance, "balance"
    if text.startswith("sb3:"):
        return _load_sb3(text, env_spec, deterministic)
    if Path(text).is_file():
        if weights is not None:
            raise CliError("--weights goes with --policy module:attr, not a torch model file", 2)
        return _load_torch_file(text)
    module_name, sep, attr = text.partition(":")
    if sep and module_name and attr:
        policy = _instantiate(_import_attr(text), env_spec, text)
        if weights is not None:
            _load_weights(policy, weights, text)
            return policy, f"{text} with weights {weights}"
        return policy, text
    raise CliError(
        f"--policy: unknown policy {text!r}; expected {', '.join(BUILTIN_POLICIES)}, "
        "sb3:ALGO:PATH, a torch.export or TorchScript file, or module:attr",
        2,
    )


def one_line(err: BaseException | str) -> str:
    text = str(err).strip() or type(err).__name__
    return " ".join(text.splitlines()[0].split()) if text else text
