"""Probe envs: copies of the user's env that gymsamp builds only to look at (spaces, adapter,
step cost), closed by :func:`probing`."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, TypeVar

import gymnasium as gym

from gymsamp._warnings import user_stacklevel

__all__ = ["probing"]

EnvT = TypeVar("EnvT", bound="gym.Env[Any, Any]")


@contextlib.contextmanager
def probing(env: EnvT) -> Iterator[EnvT]:
    """Yield ``env``, then close it; a ``close()`` that raises becomes a ``RuntimeWarning``.

    The user asked for a sampler, not for the probe: an env whose ``close()`` fails (a buggy
    renderer, a simulator already shut down) must neither fail the sampler's construction nor
    replace an error the probe itself raised.

    Example:
        >>> import gymnasium as gym
        >>> with probing(gym.make("CartPole-v1")) as probe:
        ...     probe.observation_space.shape
        (4,)
    """
    try:
        yield env
    finally:
        try:
            env.close()
        except Exception as err:
            warnings.warn(
                f"the env's close() raised {type(err).__name__} on a probe env (a copy gymsamp "
                f"built to inspect it), ignored: {err}",
                RuntimeWarning,
                stacklevel=user_stacklevel(),
            )
