"""The checks of :func:`~gymsamp.plot.trajectories.plot_trajectories`' input: the field, the
env spec, rollouts of one env and one width, and label lists (one label per dimension).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from gymsamp.data import EnvSpec, StepSequence
from gymsamp.data._tree import tree_leaves
from gymsamp.summary import count_of, env_id_counts

__all__ = ["check_env_spec", "check_field", "check_label_count", "check_one_env"]


def check_field(rollouts: Sequence[StepSequence], field: str) -> None:
    """Refuse no rollouts, or a ``field`` other than ``"observations"`` / ``"states"`` that
    the rollouts hold.

    Raises:
        ValueError: No rollouts, another field name, or ``"states"`` that were not recorded.

    Example:
        >>> ro = StepSequence(rewards=[1.0], observations=[0.0, 1.0], actions=[0])
        >>> check_field([ro], "states")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the rollouts have no 'states' field (record states with ...)
    """
    if not rollouts:
        raise ValueError("rollouts must hold at least one rollout, got none")
    if field not in ("observations", "states"):
        raise ValueError(f"field must be 'observations' or 'states', got {field!r}")
    if field not in rollouts[0].data_names:
        raise ValueError(
            f"the rollouts have no {field!r} field (record states with record_states=True / "
            "--record-states)"
        )


def check_env_spec(env_spec: Any) -> None:
    """Refuse an ``env_spec`` that is neither an :class:`~gymsamp.data.EnvSpec` nor None.

    Raises:
        TypeError: Another type (e.g. the env id).

    Example:
        >>> check_env_spec("CartPole-v1")
        Traceback (most recent call last):
        ...
        TypeError: env_spec must be a gymsamp.data.EnvSpec or None, got 'CartPole-v1' (str)
    """
    if env_spec is not None and not isinstance(env_spec, EnvSpec):
        raise TypeError(
            f"env_spec must be a gymsamp.data.EnvSpec or None, got {env_spec!r} "
            f"({type(env_spec).__name__})"
        )


def check_one_env(rollouts: Sequence[StepSequence], field: str) -> None:
    """Refuse rollouts of several envs (``rollout_info["env_id"]``), or whose ``field`` or
    actions differ in width: their panels, labels and units would be those of the first.

    Raises:
        ValueError: The rollouts name several env ids, or their widths differ.

    Example:
        >>> ros = [StepSequence(rewards=[1.0], observations=[[0.0] * n] * 2, actions=[0],
        ...                     rollout_info={"env_id": e}) for n, e in ((2, "A-v0"), (3, "B-v0"))]
        >>> check_one_env(ros, "observations")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: rollouts must come from one env to be plotted over time, got 2 envs: A-v0 ...
    """
    counts = env_id_counts(rollouts)
    if len(counts) > 1:
        envs = ", ".join(f"{e} ({count_of(n, 'rollout')})" for e, n in counts.items())
        first = next(iter(counts))
        raise ValueError(
            f"rollouts must come from one env to be plotted over time, got {len(counts)} envs: "
            f"{envs}; plot each env's rollouts on their own, e.g. [ro for ro in rollouts if "
            f"ro.rollout_info['env_id'] == {first!r}] (plot_returns takes them all)"
        )
    for name in (field, "actions"):
        widths = [_width(ro.get_data_values(name)) for ro in rollouts]
        odd = next((k for k, w in enumerate(widths) if w != widths[0]), None)
        if odd is not None:
            raise ValueError(
                f"rollouts must have {name} of one width to be plotted together, got "
                f"{widths[0]} in rollout 0 and {widths[odd]} in rollout {odd}"
            )


def _width(values: Any) -> int:
    """The number of panels a field's values fill (as :func:`flat_values` flattens them)."""
    if isinstance(values, (dict, tuple)):
        return sum(_width(leaf) for _, leaf in tree_leaves(values))
    return int(np.prod(np.shape(values)[1:], dtype=np.int64))


def check_label_count(
    name: str, labels: Iterable[str] | None, count: int, what: str
) -> list[str] | None:
    """``labels`` as a list, checked: str entries, one per dimension (None stays None)."""
    if labels is None:
        return None
    # A str is a sequence of str too, but its characters are no labels. Arrays of str and
    # pandas indexes (df.columns) are sequences of labels, though no collections.abc.Sequence.
    if isinstance(labels, str) or not isinstance(labels, Iterable):
        raise TypeError(f"{name} must be a sequence of str, got {labels!r}")
    if not all(isinstance(label, str) for label in labels):
        raise TypeError(f"{name} must be a sequence of str, got {list(labels)!r}")
    labels = [str(label) for label in labels]  # numpy's str_ too
    if len(labels) != count:
        raise ValueError(
            f"{name} must hold one label per dimension of {what} ({count}), got {len(labels)}: "
            f"{labels!r}"
        )
    return labels
