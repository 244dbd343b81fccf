"""Loading the ``gymsamp`` command's ``--policy`` (used by :mod:`gymsamp.cli`).

Built-in policies by name, stable-baselines3 zips, torch.export / TorchScript files and
``module:attr`` objects. Every problem raises :class:`CliError`, which the command prints as
one line.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np

from gymsamp._cli_inputs import ANSI_CODES, CliError, missing_module, one_line

__all__ = ["BUILTIN_POLICIES", "balance", "load_policy"]

#: The policies ``--policy`` knows by name.
BUILTIN_POLICIES = ("random", "idle", "balance")


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
            f"this env has observations {spec.observation_space} and actions {spec.action_space}",
            2,
        )


def _import_attr(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if module_name.startswith("."):  # importlib's TypeError asks for a package: exit code 1
        raise CliError(
            f"--policy module:attr must name an absolute module (or a file.py), got {target!r}",
            2,
        )
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise CliError(f"--policy {target!r}: no such file {module_name!r}", 2)
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
        # The gymsamp script, unlike `python -m gymsamp`, does not import from the current
        # folder: point to the file form where such a file exists.
        as_file = Path(*module_name.split(".")).with_suffix(".py")
        hint = f" (for the file {as_file}, write --policy {as_file}:{attr})"
        raise CliError(
            f"--policy {target!r}: cannot import {module_name!r}: {one_line(err)}"
            + (hint if isinstance(err, ImportError) and as_file.is_file() else ""),
            2 if missing_module(err, module_name) else 1,
        ) from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CliError(f"--policy {target!r}: {module_name!r} has no attribute {attr!r}", 2)
        obj = getattr(obj, part)
    return obj


def _is_factory(obj: Any) -> bool:
    if inspect.isclass(obj):
        return True
    if not inspect.isfunction(obj):
        return False
    params = list(inspect.signature(obj).parameters)
    return bool(params) and params[0] in ("spec", "env_spec")


def _check_policy_attr(obj: Any, target: str) -> None:
    """Refuse an attribute that is neither a factory nor usable as a policy: it would fail only
    once sampling calls it on observations (e.g. ``os:getcwd``)."""
    from gymsamp.policies.adapters import check_policy_like

    rule = (
        f"--policy {target!r}: the attribute must be a policy (a callable on observation "
        "batches, a torch module, an SB3 model or a gymsamp policy) or a factory taking the "
        "env spec (a class, or a function whose first parameter is spec or env_spec)"
    )
    try:
        check_policy_like(obj)
    except TypeError:
        raise CliError(f"{rule}, got {type(obj).__name__} {one_line(repr(obj))}") from None
    if any(callable(getattr(obj, name, None)) for name in ("act", "predict")):
        return  # a gymsamp policy or an SB3 model: not called on observations directly
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # no signature to read: the first call will tell
        return
    try:
        signature.bind(None)
    except TypeError:
        name = getattr(obj, "__qualname__", type(obj).__name__)
        raise CliError(
            f"{rule}, got {name}{signature}, which cannot take an observation batch"
        ) from None


def _instantiate(obj: Any, env_spec: Any, target: str) -> Any:
    if not _is_factory(obj):
        _check_policy_attr(obj, target)
        return obj
    try:
        positional = [
            p.name
            for p in inspect.signature(obj).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
    except (TypeError, ValueError):
        positional = ["spec"]
    # The spec, or the action space where that is what it takes (RandomPolicy, IdlePolicy).
    args = [env_spec.action_space if positional[:1] == ["action_space"] else env_spec]
    try:
        return obj(*args[: len(positional)])
    except Exception as err:
        raise CliError(
            f"--policy {target!r}: building the policy failed: {one_line(err)}"
        ) from None


def _load_weights(module: Any, path: str, target: str) -> None:
    import torch

    if not isinstance(module, torch.nn.Module):
        # A bad combination of arguments (exit code 2), as --weights with a model file is.
        raise CliError(
            f"--weights needs a torch.nn.Module policy, but {target!r} gave "
            f"{type(module).__name__}",
            2,
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except FileNotFoundError:
        raise CliError(f"--weights: no such file {path!r}") from None
    except Exception as err:  # not a state dict, mismatched keys or shapes, ...
        # torch lists the missing and unexpected keys and the shapes on the lines after its
        # first ("Error(s) in loading state_dict for Net:"): all of them, on one line.
        detail = " ".join(ANSI_CODES.sub("", str(err)).split()) or type(err).__name__
        raise CliError(f"--weights {path!r}: {detail}") from None


def _load_sb3(text: str, env_spec: Any, deterministic: bool) -> tuple[Any, str]:
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise CliError(
            f"--policy must look like sb3:ALGO:PATH (e.g. sb3:PPO:ppo.zip), got {text!r}", 2
        )
    _, algo, path = parts
    if not Path(path).is_file() and Path(f"{path}.zip").is_file():
        # SB3's load() tries PATH.zip when PATH is missing, as save(PATH) wrote PATH.zip.
        path = f"{path}.zip"
    if not Path(path).is_file():
        tried = "" if path.endswith(".zip") else f" (nor {path + '.zip'!r})"
        raise CliError(f"--policy {text!r}: no such file {path!r}{tried}", 2)
    cls = None
    for package in ("stable_baselines3", "sb3_contrib"):
        try:
            found = importlib.import_module(package)
        except ImportError:
            continue
        # Case as users type it (rl-zoo writes "ppo"): the class whose name matches.
        names = [name for name in dir(found) if name.lower() == algo.lower()]
        cls = getattr(found, names[0], None) if names else None
        if cls is not None:
            break
    if cls is None or not hasattr(cls, "load"):
        raise CliError(
            f"--policy {text!r}: unknown algorithm {algo!r} (stable-baselines3 has A2C, DDPG, "
            "DQN, PPO, SAC, TD3; sb3-contrib adds more; is stable-baselines3 installed?)",
            2,
        )
    try:
        model = cls.load(path, device="cpu")
    except Exception as err:
        # An SB3 zip of another algorithm fails deep inside load() (DQN.load of a PPO zip:
        # "'ActorCriticPolicy' object has no attribute 'q_net'"): say what was asked for.
        what = f"it as a {cls.__name__} model" if "data" in _zip_members(path) else "it"
        hint = " (was it saved by another algorithm?)" if what != "it" else ""
        raise CliError(
            f"--policy {text!r}: SB3 could not load {what}{hint}: {one_line(err)}"
        ) from None
    return _sb3_policy(model, env_spec, deterministic, f"{algo} from {path}", text)


def _sb3_policy(
    model: Any, env_spec: Any, deterministic: bool, name: str, text: str
) -> tuple[Any, str]:
    """An SB3 model as a policy; one made for other spaces than the env's is refused in the
    CLI's words (the rule is :class:`~gymsamp.policies.SB3Policy`'s own check).

    Raises:
        CliError: The spaces do not match, naming the model's and the env's.
    """
    from gymsamp.policies import SB3Policy
    from gymsamp.policies._model_spaces import space_mismatch

    mismatch = space_mismatch(model, env_spec)
    if mismatch is not None:
        raise CliError(f"--policy {text!r} must be {mismatch.rule()}")
    mode = "deterministic" if deterministic else "stochastic"
    return SB3Policy(model, env_spec, deterministic=deterministic), f"{name} ({mode})"


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
        kind = "torch.export program" if exported else "TorchScript module"
        if any(name.endswith("policy.pth") for name in members):
            # torch's reason ("[enforce fail at inline_container.cc:180] ") says nothing here.
            raise CliError(
                f"--policy {path!r} is not a readable {kind}; it looks like a "
                f"stable-baselines3 model: use --policy sb3:ALGO:PATH (e.g. sb3:PPO:{path}, "
                "ALGO being the algorithm that saved it)"
            ) from None
        cause = one_line(err).split(". ")[0]  # torch's messages run on for several sentences
        raise CliError(f"--policy {path!r} is not a readable {kind} ({cause}); {hint}") from None


def _check_any_batch_size(module: Any, kind: str, path: str, env_spec: Any) -> None:
    """Refuse a torch.export program exported for one batch size (it fails with a guard
    error at any other number of sub-envs, deep inside the sampling run)."""
    shape = getattr(env_spec.observation_space, "shape", None)
    if not kind.startswith("torch.export") or shape is None:
        return
    import torch

    for batch in (1, 3):  # torch.export specializes a fixed batch size to what it was traced at
        try:
            with torch.no_grad():
                module(torch.zeros((batch, *shape), dtype=torch.float32))
        except Exception as err:  # a module may fail on zeros for reasons of its own
            # A guard on another axis than the batch's (size()[1] == 4): the observations.
            axes = {int(a) for a in re.findall(r"size\(\)\[(\d+)\]", str(err))}
            if "Guard failed" in str(err) and axes - {0}:
                raise CliError(
                    f"--policy {path!r} must accept the env's observations of shape "
                    f"{tuple(shape)}, got a program exported for others ({one_line(err)})"
                ) from None
            if "Guard failed" in str(err):
                raise CliError(
                    f"--policy {path!r} must accept any batch size (one row per sub-env), got "
                    f"a program exported for a fixed one ({one_line(err)}); export it with a "
                    "dynamic batch dimension: torch.export.export(module, (obs,), "
                    "dynamic_shapes=({0: torch.export.Dim('batch')},))"
                ) from None
            return


def _refuse_stochastic(text: str, kind: str) -> None:
    """``--stochastic`` switches SB3's ``predict`` to sampling; other policies ignore it."""
    raise CliError(
        f"--stochastic must go with an SB3 model (--policy sb3:ALGO:PATH, or module:attr "
        f"giving one), got --policy {text} ({kind}, which acts the same without it)",
        2,
    )


def _attr_policy(policy: Any, env_spec: Any, deterministic: bool, text: str) -> tuple[Any, str]:
    """A ``module:attr`` policy: an SB3 model is checked against the env's spaces and gets
    ``deterministic`` (as ``sb3:ALGO:PATH`` does); anything else is refused ``--stochastic``."""
    from gymsamp.policies.adapters import _is_sb3_like, _is_torch_module
    from gymsamp.policies.base import is_policy

    if not is_policy(policy) and _is_sb3_like(policy):  # as_policy's order: policies first
        return _sb3_policy(policy, env_spec, deterministic, text, text)
    if not deterministic:
        if is_policy(policy):
            kind = f"a gymsamp policy, {type(policy).__name__}"
        elif _is_torch_module(policy):
            kind = f"a torch module, {type(policy).__name__}"
        else:
            kind = "a callable on observations"
        _refuse_stochastic(text, kind)
    return policy, text


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
    - ``sb3:ALGO:PATH``: ``ALGO.load(PATH)`` from stable-baselines3 (or sb3-contrib), ``PATH.zip``
      where ``PATH`` is missing (as SB3's ``load`` reads what ``save(PATH)`` wrote); SB3 reads
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
        deterministic: For SB3 models: ``predict(..., deterministic=...)``; False is refused
            for every other policy (``--stochastic`` would not change it).

    Returns:
        ``(policy, description)``.

    Raises:
        CliError: The policy cannot be found or loaded, an SB3 model was made for other spaces
            than the env's, or ``deterministic`` is False for a policy other than an SB3 model.

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
    if text in BUILTIN_POLICIES and not deterministic:
        _refuse_stochastic(text, f"the built-in {text} policy")
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
        module, name = _load_torch_file(text)
        if not deterministic:
            exported = name.startswith("torch.export")
            _refuse_stochastic(
                text, "a torch.export program" if exported else "a TorchScript module"
            )
        _check_any_batch_size(module, name, text, env_spec)
        return module, name
    module_name, sep, attr = text.partition(":")
    if sep and module_name and attr:
        policy = _instantiate(_import_attr(text), env_spec, text)
        if weights is not None:
            _load_weights(policy, weights, text)
            text = f"{text} with weights {weights}"
        return _attr_policy(policy, env_spec, deterministic, text)
    raise CliError(
        f"--policy: unknown policy {text!r}; expected {', '.join(BUILTIN_POLICIES)}, "
        "sb3:ALGO:PATH, a torch.export or TorchScript file, or module:attr",
        2,
    )
