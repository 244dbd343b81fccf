"""Whether a model (an SB3 one, or anything carrying ``observation_space`` and
``action_space``) was made for the env's spaces: :func:`space_mismatch`.

A model trained on another env fails deep inside its ``predict`` mid-run ("Unexpected
observation shape (1, 3) for Box environment"), or worse, sends actions the env takes
without complaint but means something else by. :class:`~gymsamp.policies.SB3Policy` and
the CLI refuse it up front with the spaces named.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from gymsamp.data.spec import EnvSpec

__all__ = ["SpaceMismatch", "space_mismatch"]


class SpaceMismatch(NamedTuple):
    """Which space of a model does not fit the env's, both as text."""

    what: str  #: "observations" or "actions"
    env_space: str
    model_space: str

    def rule(self) -> str:
        """The rule and the value, for a message "``x`` must be <rule>"."""
        return (
            f"made for the env's {self.what} {self.env_space}, got a model for "
            f"{self.what} {self.model_space} (trained on another env?)"
        )


def space_mismatch(model: Any, spec: EnvSpec) -> SpaceMismatch | None:
    """The first of the model's spaces that does not fit the env's, or None.

    Spaces must have the same kind and shape (``n`` / ``nvec`` for discrete ones, the same
    keys for ``Dict``); ``Box`` bounds and dtypes are not compared (a model runs on a variant
    of its env whose bounds differ; SB3 clips actions to its own and casts observations), and
    a channel-first image observation fits the env's channel-last one (SB3 transposes images
    itself). A model without ``observation_space`` / ``action_space`` is not checked.

    Example:
        >>> from gymnasium.spaces import Box, Discrete
        >>> class Model:
        ...     observation_space = Box(-1, 1, (3,))
        ...     action_space = Discrete(2)
        >>> print(space_mismatch(Model(), EnvSpec(Box(-1, 1, (4,)), Discrete(2))).rule())
        made for the env's observations Box(shape=(4,), dtype=float32), got a model for \
observations Box(shape=(3,), dtype=float32) (trained on another env?)
        >>> space_mismatch(Model(), EnvSpec(Box(-5, 5, (3,)), Discrete(2))) is None
        True
    """
    pairs = [
        ("observations", getattr(model, "observation_space", None), spec.observation_space),
        ("actions", getattr(model, "action_space", None), spec.action_space),
    ]
    for what, own, env_space in pairs:
        if not isinstance(own, gym.spaces.Space):
            continue
        if not _spaces_match(own, env_space, image=what == "observations"):
            return SpaceMismatch(what, _space_text(env_space), _space_text(own))
    return None


def _space_text(space: gym.spaces.Space[Any]) -> str:
    """A space as the check compares it: a ``Box`` by shape and dtype (numpy prints its
    bounds over many padded columns), also inside a ``Dict`` or ``Tuple``; anything else as
    Gymnasium prints it, on one line."""
    if isinstance(space, gym.spaces.Box):
        return f"Box(shape={tuple(space.shape)}, dtype={space.dtype})"
    if isinstance(space, gym.spaces.Dict):
        items = ", ".join(f"{key!r}: {_space_text(value)}" for key, value in space.items())
        return f"Dict({items})"
    if isinstance(space, gym.spaces.Tuple):
        return f"Tuple({', '.join(_space_text(value) for value in space)})"
    return " ".join(str(space).split())


def _spaces_match(own: Any, env_space: Any, *, image: bool) -> bool:
    """Whether a model's space fits the env's: see :func:`space_mismatch`."""
    spaces = gym.spaces
    if type(own) is not type(env_space):
        return False
    if isinstance(own, spaces.Box):
        shape, env_shape = tuple(own.shape), tuple(env_space.shape)
        # SB3 (VecTransposeImage) trains image policies channel-first on channel-last envs,
        # where it takes the space for an image: uint8 in [0, 255] (its is_image_space).
        transposed = len(env_shape) == 3 and shape == (env_shape[2], *env_shape[:2])
        pixels = (
            env_space.dtype == np.uint8
            and bool(np.all(env_space.low == 0))
            and bool(np.all(env_space.high == 255))
        )
        return shape == env_shape or (image and transposed and pixels)
    if isinstance(own, spaces.Discrete):
        return bool(own.n == env_space.n and own.start == env_space.start)
    if isinstance(own, spaces.MultiDiscrete):
        return np.array_equal(own.nvec, env_space.nvec)
    if isinstance(own, spaces.MultiBinary):
        return np.array_equal(own.n, env_space.n)
    if isinstance(own, spaces.Dict):
        return own.spaces.keys() == env_space.spaces.keys() and all(
            _spaces_match(own[key], env_space[key], image=image) for key in own.spaces
        )
    if isinstance(own, spaces.Tuple):
        return len(own) == len(env_space) and all(
            _spaces_match(a, b, image=image) for a, b in zip(own, env_space, strict=True)
        )
    return bool(own == env_space)
