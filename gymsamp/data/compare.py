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
    if single[0]:
        pairs = [(rollout_1, rollout_2)]
    else:
        if len(rollout_1) != len(rollout_2):
            return False
        pairs = list(zip(rollout_1, rollout_2, strict=True))  # type: ignore[arg-type]
    name = "actions_applied" if check_bool("check_applied", check_applied) else "actions"
    for ro_1, ro_2 in pairs:
        act_1 = np.asarray(to_format(ro_1.get_data_values(name), "numpy"))  # type: ignore[union-attr]
        act_2 = np.asarray(to_format(ro_2.get_data_values(name), "numpy"))  # type: ignore[union-attr]
        if act_1.shape != act_2.shape or not np.allclose(act_1, act_2):
            return False
    return True
