"""What the collection loop accepts from a policy's ``act``: a
:class:`~gymsamp.policies.PolicyStep` whose agent infos keep the structure of the first step,
each leaf an array of shape ``(B, ...)``.

The loop books agent infos into columns shaped by the first step's values. Without these
checks a key missing at some step left that step's entries uninitialized (whatever the
memory held), a leaf of another shape was broadcast or cut silently into the column, and a
scalar leaf failed deep inside the buffer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gymsamp.policies.base import PolicyStep

__all__ = ["AgentInfoCheck", "checked_policy_step"]


def checked_policy_step(step: Any, who: str) -> PolicyStep:
    """``step`` if it is a :class:`PolicyStep`; else a ``TypeError`` naming the policy
    (``who``).

    Example:
        >>> checked_policy_step(PolicyStep(np.zeros(2), {}), "policy P").agent_infos
        {}
        >>> checked_policy_step(np.zeros(2), "policy P")
        Traceback (most recent call last):
        ...
        TypeError: policy P's act() must return a PolicyStep(actions, agent_infos), got ndarray \
(a gymsamp Policy returns both; as_policy() wraps a function returning actions only)
    """
    if isinstance(step, PolicyStep):
        return step
    raise TypeError(
        f"{who}'s act() must return a PolicyStep(actions, agent_infos), got "
        f"{type(step).__name__} (a gymsamp Policy returns both; as_policy() wraps a function "
        "returning actions only)"
    )


class AgentInfoCheck:
    """Checks the flattened agent infos of each step (column key -> leaf) for ``num_envs``
    sub-envs against the first step's keys, shapes and dtype kinds.

    Example:
        >>> check = AgentInfoCheck(2, "policy P")
        >>> check.check({"agent/h": np.zeros((2, 3))})
        >>> check.check({"agent/h": np.ones((2, 3))})
        >>> try:
        ...     check.check({})
        ... except ValueError as err:
        ...     print(err)
        policy P must return the same agent_infos at every step (the keys, shapes and dtype \
kinds of its first step: ['h'] of shapes [(2, 3)]), got [] of shapes []
    """

    def __init__(self, num_envs: int, who: str) -> None:
        self.num_envs = num_envs
        self.who = who
        # key -> (shape, dtype kind) of the first step's leaves; None before the first step.
        self.template: dict[str, tuple[tuple[int, ...], str]] | None = None
        #: Whether the first step had agent infos (so every later one must have them); an
        #: attribute, read at every step of a policy without any.
        self.expects_infos = False

    def check(self, flat: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` unless every leaf has shape ``(B, ...)`` and the keys, shapes
        and dtype kinds are the first step's, or if a leaf is no array numpy can take."""
        layout = {}
        for key, value in flat.items():
            try:
                layout[key] = _layout(value)
            except (RuntimeError, TypeError) as err:  # torch: requires grad, or on a GPU
                raise ValueError(
                    f"{self.who} must return agent_infos of numpy arrays (or CPU tensors that "
                    f"do not require grad), got {_path(key)!r}: {err}"
                ) from err
        if self.template is None:
            for key, (shape, _) in layout.items():
                if shape[:1] != (self.num_envs,):
                    raise ValueError(
                        f"{self.who} must return agent_infos whose values have shape (B, ...) "
                        f"with B={self.num_envs} sub-envs, got {_path(key)!r} of shape {shape}"
                    )
            self.template = layout
            self.expects_infos = bool(layout)
        elif layout != self.template:
            raise ValueError(
                f"{self.who} must return the same agent_infos at every step (the keys, "
                f"shapes and dtype kinds of its first step: {_describe(self.template)}), got "
                f"{_describe(layout)}"
            )


def _layout(value: Any) -> tuple[tuple[int, ...], str]:
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    # Kinds, not dtypes: float32 at one step and float64 at the next book alike.
    return array.shape, array.dtype.kind


def _path(key: str) -> str:
    return key.partition("/")[2]  # column keys are "agent/<path>"


def _describe(layout: Mapping[str, tuple[tuple[int, ...], str]]) -> str:
    keys = [_path(key) for key in layout]
    shapes = [shape for shape, _ in layout.values()]
    return f"{keys} of shapes {shapes}"
