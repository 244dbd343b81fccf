"""Comparing rollouts: :func:`check_act_equal`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gymsamp._checks import check_bool
from gymsamp.data.data_format import to_format
from gymsamp.data.step_sequence import StepSequence

__all__ = ["check_act_equal"]


def check_act_equal(
    rollout_1: StepSequence | Sequence[StepSequence],
    rollout_2: StepSequence | Sequence[StepSequence],
    check_applied: bool = False,
) -> bool:
    """True if two rollouts (or two lists of rollouts, pairwise) have approximately equal actions.

    Args:
        rollout_1: A rollout or a list of rollouts.
        rollout_2: A rollout or a list of rollouts (the same kind and count as ``rollout_1``).
        check_applied: Compare ``actions_applied`` (the clipped actions sent to the env)
            instead of the commanded ``actions``.

    Returns:
        True if every pair has the same action shape and values within ``numpy.allclose``.

    Raises:
        TypeError: If the two are not both rollouts or both lists (or tuples) of rollouts,
            or ``check_applied`` is not a bool.
        ValueError: If ``check_applied`` is True and a rollout has no ``actions_applied``.

    Example:
        >>> a = StepSequence(rewards=[0.0, 0.0], observations=[0, 0, 0], actions=[0.5, 1.0])
        >>> b = StepSequence(rewards=[1.0, 1.0], observations=[1, 1, 1], actions=[0.5, 1.0])
        >>> check_act_equal(a, b), check_act_equal([a], [b]), check_act_equal(a, a[:1])
        (True, True, False)
    """
    single = [isinstance(r, StepSequence) for r in (rollout_1, rollout_2)]
    if single[0] != single[1]:
        raise TypeError(
            "rollout_1 and rollout_2 must both be StepSequences or both lists of them, got "
            f"{type(rollout_1).__name__} and {type(rollout_2).__name__}"
        )
    applied = check_bool("check_applied", check_applied)
    name = "actions_applied" if applied else "actions"
    pairs: list[tuple[StepSequence, StepSequence]]
    if isinstance(rollout_1, StepSequence) and isinstance(rollout_2, StepSequence):
        pairs = [(rollout_1, rollout_2)]
        labels = [("rollout_1", "rollout_2")]
    else:
        # Checked here: None or a number failed in len(), and a list of other objects with an
        # AttributeError ("'int' object has no attribute 'get_data_values'").
        for arg, rollouts in (("rollout_1", rollout_1), ("rollout_2", rollout_2)):
            if isinstance(rollouts, str) or not isinstance(rollouts, Sequence):
                raise TypeError(
                    f"{arg} must be a StepSequence or a list of them, got {type(rollouts).__name__}"
                )
            for i, ro in enumerate(rollouts):
                if not isinstance(ro, StepSequence):
                    raise TypeError(f"{arg}[{i}] must be a StepSequence, got {type(ro).__name__}")
        if len(rollout_1) != len(rollout_2):
            return False
        pairs = list(zip(rollout_1, rollout_2, strict=True))  # type: ignore[arg-type]
        labels = [(f"rollout_1[{i}]", f"rollout_2[{i}]") for i in range(len(pairs))]
    for (ro_1, ro_2), names in zip(pairs, labels, strict=True):
        for ro, label in zip((ro_1, ro_2), names, strict=True):
            if applied and name not in ro.data_names:
                # Was a KeyError about actions_applied that did not say who asked for it.
                raise ValueError(
                    f"check_applied=True compares actions_applied, but {label} has none (it "
                    f"has {list(ro.data_names)}); pass check_applied=False to compare the "
                    "commanded actions"
                )
        act_1 = np.asarray(to_format(ro_1.get_data_values(name), "numpy"))
        act_2 = np.asarray(to_format(ro_2.get_data_values(name), "numpy"))
        if act_1.shape != act_2.shape or not np.allclose(act_1, act_2):
            return False
    return True
