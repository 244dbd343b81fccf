"""Built-in simulator adapters: Gymnasium's classic-control envs and MuJoCo envs.

:func:`register_builtin_adapters` (called by :mod:`gymsamp.envs.adapter` on the first adapter
lookup) registers one adapter per simulator family. Each predicate recognizes the unwrapped
env by its Gymnasium class without importing that class's module: an env of that class can
only exist once its module is imported, so a module missing from ``sys.modules`` means "not
such an env". Hence looking up an adapter never imports ``mujoco``; only adapting a MuJoCo env
imports :mod:`gymsamp.envs.adapters.mujoco`.

Example:
    >>> import gymnasium as gym
    >>> from gymsamp.envs.adapter import adapter_for
    >>> adapter = adapter_for(gym.make("CartPole-v1"))
    >>> type(adapter).__name__, adapter.nominal_domain_param()["length"]
    ('CartPoleAdapter', 0.5)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from gymsamp.envs.adapter import SimAdapter, register_adapter
from gymsamp.envs.adapters.classic import (
    AcrobotAdapter,
    AttributeParamAdapter,
    AttrParam,
    CartPoleAdapter,
    MountainCarAdapter,
    MountainCarContinuousAdapter,
    PendulumAdapter,
    remember_nominal,
    validate_domain_param,
)

if TYPE_CHECKING:
    # What a type checker sees of the lazily imported name (see __getattr__ below).
    from gymsamp.envs.adapters.mujoco import MujocoAdapter as MujocoAdapter

__all__ = [
    "AcrobotAdapter",
    "AttrParam",
    "AttributeParamAdapter",
    "CartPoleAdapter",
    "MountainCarAdapter",
    "MountainCarContinuousAdapter",
    "MujocoAdapter",
    "PendulumAdapter",
    "register_builtin_adapters",
    "remember_nominal",
    "validate_domain_param",
]


def _instance_of(module: str, cls: str) -> Callable[[gym.Env[Any, Any]], bool]:
    """Predicate: the env is an instance of ``module.cls``, checked without importing it."""

    def predicate(env: gym.Env[Any, Any]) -> bool:
        mod = sys.modules.get(module)
        klass = getattr(mod, cls, None)
        return isinstance(klass, type) and isinstance(env, klass)

    return predicate


def _mujoco_adapter(env: gym.Env[Any, Any]) -> SimAdapter:
    from gymsamp.envs.adapters.mujoco import MujocoAdapter

    return MujocoAdapter(env)


_CLASSIC = "gymnasium.envs.classic_control."

#: (module, class, adapter factory) of every built-in adapter.
_BUILTINS: tuple[tuple[str, str, Callable[[gym.Env[Any, Any]], SimAdapter]], ...] = (
    (_CLASSIC + "cartpole", "CartPoleEnv", CartPoleAdapter),
    (_CLASSIC + "pendulum", "PendulumEnv", PendulumAdapter),
    (_CLASSIC + "mountain_car", "MountainCarEnv", MountainCarAdapter),
    (
        _CLASSIC + "continuous_mountain_car",
        "Continuous_MountainCarEnv",
        MountainCarContinuousAdapter,
    ),
    (_CLASSIC + "acrobot", "AcrobotEnv", AcrobotAdapter),
    ("gymnasium.envs.mujoco.mujoco_env", "MujocoEnv", _mujoco_adapter),
)

_registered = False


def register_builtin_adapters() -> None:
    """Register the built-in adapters with :func:`gymsamp.envs.adapter.register_adapter`.

    Idempotent: a second call registers nothing.
    """
    global _registered
    if _registered:
        return
    _registered = True
    for module, cls, factory in _BUILTINS:
        register_adapter(_instance_of(module, cls), factory)


def __getattr__(name: str) -> Any:
    # `MujocoAdapter` is importable from here without importing mujoco on package import.
    if name == "MujocoAdapter":
        from gymsamp.envs.adapters.mujoco import MujocoAdapter

        return MujocoAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
