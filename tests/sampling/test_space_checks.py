"""ActionCheck: shape, dtype and range checks, the NaN/inf search and Box clipping."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.sampling.space_checks import ActionCheck

BOX = gym.spaces.Box(
    low=np.array([-1.0, 0.0], np.float32), high=np.array([1.0, 2.0], np.float32), dtype=np.float32
)


def reference_first_non_finite(actions: np.ndarray) -> int | None:
    """A plain loop over sub-envs."""
    if actions.dtype.kind != "f":
        return None
    for i, row in enumerate(actions.reshape(len(actions), -1)):
        if not all(np.isfinite(value) for value in row):
            return i
    return None


@pytest.mark.parametrize("num_envs", [1, 3, 40])  # 40 x 2 values: past the small-batch path
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, -1])
def test_first_non_finite_matches_a_loop(num_envs, bad, where):
    check = ActionCheck(BOX, num_envs)
    actions = np.random.default_rng(num_envs).uniform(-1, 1, (num_envs, 2)).astype(np.float32)
    if bad is not None:
        actions[where, 1] = bad
    expected = reference_first_non_finite(actions)
    assert expected == (None if bad is None else range(num_envs)[where])
    assert check.first_non_finite(actions) == expected


def test_first_non_finite_of_inf_and_minus_inf_together():
    # Their sum is NaN, not inf: still found.
    actions = np.array([[0.5, 0.5], [np.inf, -np.inf]])
    assert ActionCheck(BOX, 2).first_non_finite(actions) == 1


def test_finite_actions_whose_sum_overflows_are_finite():
    big = np.finfo(np.float64).max
    actions = np.array([[big, big], [big, 0.0]])
    with np.errstate(over="ignore"):
        assert not np.isfinite(actions.sum())
    assert ActionCheck(BOX, 2).first_non_finite(actions) is None


def test_integer_actions_are_never_non_finite():
    assert ActionCheck(gym.spaces.Discrete(3), 2).first_non_finite(np.array([0, 2])) is None


def test_box_actions_are_clipped_into_the_space_in_its_dtype():
    check = ActionCheck(BOX, 3)
    actions = np.array([[-5.0, 1.0], [0.5, 9.0], [2.0, -1.0]])  # float64
    clipped = check.clip(actions)
    np.testing.assert_array_equal(clipped, [[-1.0, 1.0], [0.5, 2.0], [1.0, 0.0]])
    assert clipped.dtype == np.float32
    assert actions[0, 0] == -5.0  # the policy's own array is left alone
    integer = check.clip(np.array([[-3, 1], [0, 4], [1, 1]]))
    np.testing.assert_array_equal(integer, [[-1.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    assert integer.dtype == np.float32


def test_discrete_actions_are_not_clipped_but_range_checked():
    check = ActionCheck(gym.spaces.Discrete(2), 2)
    actions = np.array([0, 1])
    assert check.clip(actions) is actions
    assert not check.clips
    with pytest.raises(ValueError, match=r"actions in \[0, 2\).*got \[0, 2\]"):
        check.check(np.array([0, 2]))
    with pytest.raises(ValueError, match=r"shape \(2,\).*got shape \(3,\)"):
        check.check(np.array([0, 1, 1]))
    with pytest.raises(TypeError, match="dtype float64"):
        check.check(np.array([0.0, 1.0]))
