"""What the collection loop accepts from the spaces and the policy: observation spaces whose
observations are arrays (or dicts / tuples of them, :mod:`gymsamp.sampling.observations`), and
actions of a dtype and range the action space takes (Box actions clipped into it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from gymsamp.sampling._numpy_c import clip
from gymsamp.sampling.observations import check_observation_space

__all__ = ["ActionCheck", "check_action_space", "check_observation_space"]

#: The action spaces the collection loop steps: one array of actions per vector step.
_ACTION_SPACES = (
    gym.spaces.Box,
    gym.spaces.Discrete,
    gym.spaces.MultiDiscrete,
    gym.spaces.MultiBinary,
)


def check_action_space(space: gym.Space[Any]) -> None:
    """Refuse action spaces whose actions are not one array per sub-env.

    Raises:
        TypeError: ``space`` is not a Box, Discrete, MultiDiscrete or MultiBinary space (a
            ``Dict`` or ``Tuple`` of them, ``Text``, ...).

    Example:
        >>> check_action_space(gym.spaces.Discrete(2))
        >>> try:
        ...     check_action_space(gym.spaces.Tuple([gym.spaces.Discrete(2)] * 2))
        ... except TypeError as err:
        ...     print(str(err)[:55])
        the action space must be a Box, Discrete, MultiDiscrete
    """
    if not isinstance(space, _ACTION_SPACES):
        raise TypeError(
            "the action space must be a Box, Discrete, MultiDiscrete or MultiBinary space (a "
            "policy returns one array of actions per vector step, and rollouts store them "
            f"as one array), got {' '.join(str(space).split())}; wrap the env in a "
            "gymnasium.ActionWrapper that takes one flat array"
        )


# Action batches up to this size are checked for NaN and inf with Python floats.
_SMALL = 64


def _clipper(space: gym.Space[Any]) -> Callable[[np.ndarray], np.ndarray]:
    if isinstance(space, gym.spaces.Box):
        low, high, dtype = space.low, space.high, space.dtype
        if dtype is not None and np.issubdtype(dtype, np.floating):
            # An unbounded float32 space: a finite float64 action past float32's range would
            # reach the env as inf. Its finite range is the space's, as far as it can hold.
            finite = np.finfo(dtype)
            low, high = np.maximum(low, finite.min), np.minimum(high, finite.max)
        return lambda actions: clip(actions, low, high).astype(dtype, copy=False)
    return lambda actions: actions


def _action_kinds(space: gym.Space[Any]) -> str:
    """The numpy dtype kinds a policy's actions may have for ``space`` (checked every step:
    otherwise a float for a Discrete space fails inside one env and is silently truncated by
    another's shared memory)."""
    if isinstance(space, gym.spaces.Box):
        return "fiu"
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        return "iu"
    return "biu"  # MultiBinary: check_action_space refuses every other space up front


def _integer_bounds(space: gym.Space[Any]) -> tuple[Any, Any] | None:
    """``[low, high)`` of each action entry of an integer space (arrays per dimension for
    ``MultiDiscrete``): an action outside it may index out of an env's tables silently."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.start), int(space.start + space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return space.start, space.start + space.nvec
    if isinstance(space, gym.spaces.MultiBinary):
        return 0, 2
    return None


class ActionCheck:
    """Checks a policy's action batch for ``num_envs`` sub-envs of ``space`` before any
    sub-env sees it, and clips Box actions into the space (once per vector step); ``who``
    names the policy in the messages.

    Example:
        >>> check = ActionCheck(gym.spaces.Discrete(2), num_envs=2)
        >>> check.check(np.array([0, 1]))
        >>> try:
        ...     check.check(np.array([0, 2]))
        ... except ValueError as err:
        ...     print(err)
        policy must return actions in [0, 2) for the action space Discrete(2), got [0, 2]
    """

    def __init__(self, space: gym.Space[Any], num_envs: int, *, who: str = "policy") -> None:
        self.who = who  # names the policy in the messages
        self.space = space
        self.num_envs = num_envs
        self.shape = (num_envs, *(space.shape or ()))
        self.kinds = _action_kinds(space)
        self.bounds = _integer_bounds(space)
        # Discrete actions, one per sub-env, are checked with Python's min / max.
        self.scalar_actions = isinstance(space, gym.spaces.Discrete)
        self.clip = _clipper(space)
        # Only Box actions can differ from what the env gets (other spaces are not clipped).
        self.clips = isinstance(space, gym.spaces.Box)

    def check(self, actions: np.ndarray) -> None:
        """Raise unless ``actions`` has the batch's shape and a dtype and range the space takes."""
        if actions.shape != self.shape:
            raise ValueError(
                f"{self.who} must return actions of shape {self.shape} for {self.num_envs} "
                f"sub-envs, got shape {actions.shape}"
            )
        if actions.dtype.kind not in self.kinds:
            # Integer spaces get float or bool arrays first (a comparison, a network's output).
            cast = ", e.g. .astype(np.int64)" if actions.dtype.kind in "fb" else ""
            raise TypeError(
                f"{self.who} must return actions of a numeric dtype that the action space "
                f"{self.space} takes (numpy kinds {self.kinds!r}), got dtype {actions.dtype}"
                f"{cast}"
            )
        if self.bounds is None:
            return
        low, high = self.bounds
        if self.scalar_actions:
            values = actions.tolist()  # Python min/max beat numpy's on a handful of values
            if min(values) < low or max(values) >= high:
                raise ValueError(
                    f"{self.who} must return actions in [{low}, {high}) for the action space "
                    f"{self.space}, got {values}"
                )
            return
        outside = (actions < low) | (actions >= high)
        if outside.any():  # one reduction per step; which sub-env only on failure
            index = int(np.flatnonzero(outside.reshape(self.num_envs, -1).any(1))[0])
            rule = (
                "with entries 0 or 1"
                if isinstance(self.space, gym.spaces.MultiBinary)
                else f"with entries from {np.asarray(low).tolist()} up to (not including) "
                f"{np.asarray(high).tolist()}"
            )
            raise ValueError(
                f"{self.who} must return actions {rule} for the action space {self.space}, "
                f"got {actions[index].tolist()} for sub-env {index}"
            )

    def first_non_finite(self, actions: np.ndarray) -> int | None:
        """The first sub-env whose float action holds NaN or inf, or None."""
        if actions.dtype.kind != "f":
            return None
        if actions.size <= _SMALL:
            # A float sum is finite only if every term is (or it overflows: checked below);
            # Python's sum of a short list beats numpy's isfinite + all.
            total = sum(actions.ravel().tolist())
            if total - total == 0.0:
                return None
        if np.isfinite(actions).all():
            return None
        return int(np.flatnonzero(~np.isfinite(actions.reshape(self.num_envs, -1)).all(1))[0])
