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


def test_integer_box_actions_are_clipped_into_its_bounds_in_its_dtype():
    # An integer Box has no float range to keep actions in: its own bounds alone.
    space = gym.spaces.Box(low=np.array([0, -2]), high=np.array([10, 2]), dtype=np.int64)
    check = ActionCheck(space, 2)
    clipped = check.clip(np.array([[12, -5], [3, 1]], dtype=np.int32))
    np.testing.assert_array_equal(clipped, [[10, -2], [3, 1]])
    assert clipped.dtype == np.int64


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


def reference_outside(space: gym.Space, actions: np.ndarray) -> int | None:
    """The first sub-env whose action the space does not contain (Gymnasium's own rule)."""
    for i, action in enumerate(actions):
        if not space.contains(action.astype(space.dtype)):
            return i
    return None


MULTI_DISCRETE = gym.spaces.MultiDiscrete([3, 2, 4], start=[0, -1, 2])


@pytest.mark.parametrize("seed", range(20))
def test_multi_discrete_entries_are_range_checked_as_the_space_contains_them(seed):
    rng = np.random.default_rng(seed)
    actions = rng.integers(-2, 7, size=(5, 3))  # often outside, sometimes inside
    check = ActionCheck(MULTI_DISCRETE, 5)
    bad = reference_outside(MULTI_DISCRETE, actions)
    if bad is None:
        check.check(actions)
        return
    with pytest.raises(ValueError, match="must return actions with entries") as info:
        check.check(actions)
    assert str(info.value) == (
        "policy must return actions with entries from [0, -1, 2] up to (not including) "
        f"[3, 1, 6] for the action space {MULTI_DISCRETE}, got {actions[bad].tolist()} "
        f"for sub-env {bad}"
    )


def test_every_action_of_a_multi_discrete_space_passes():
    check = ActionCheck(MULTI_DISCRETE, 24)
    every = np.array(np.meshgrid(range(0, 3), range(-1, 1), range(2, 6))).reshape(3, -1).T
    check.check(every)  # 24 actions, all inside


@pytest.mark.parametrize("dtype", [np.int8, np.int64, bool])
def test_multi_binary_actions_must_be_zero_or_one(dtype):
    space = gym.spaces.MultiBinary(3)
    check = ActionCheck(space, 2)
    check.check(np.array([[1, 0, 1], [0, 0, 0]], dtype=dtype))
    if dtype is bool:
        return  # booleans are always 0 or 1
    for bad in (2, -1):
        actions = np.array([[1, 0, 1], [0, bad, 0]], dtype=dtype)
        with pytest.raises(
            ValueError, match=rf"entries 0 or 1 .*got \[0, {bad}, 0\] for sub-env 1"
        ):
            check.check(actions)


@pytest.mark.parametrize(
    ("space", "kinds"),
    [(gym.spaces.MultiBinary(3), "biu"), (gym.spaces.MultiDiscrete([2, 2, 2]), "iu")],
)
def test_float_actions_of_integer_spaces_are_refused_even_when_whole(space, kinds):
    # 1.0 and 0.5 lie in [0, 2): only the dtype check keeps a float from the env (a MultiBinary
    # accepting float kinds passed).
    check = ActionCheck(space, 2)
    for actions in (np.ones((2, 3)), np.full((2, 3), 0.5)):
        with pytest.raises(TypeError, match=rf"numpy kinds '{kinds}'\), got dtype float64"):
            check.check(actions)


def test_an_out_of_range_multi_discrete_action_never_reaches_the_env():
    from gymsamp import rollout

    class Counting(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (1,))
        action_space = gym.spaces.MultiDiscrete([2, 2])
        steps = 0

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(1, np.float32), {}

        def step(self, action):
            type(self).steps += 1  # an env that indexes tables with the action, unchecked
            return np.zeros(1, np.float32), 0.0, False, True, {}

    def policy(obs):
        return np.full((len(obs), 2), 2)

    with pytest.raises(ValueError, match=r"entries from \[0, 0\] up to \(not including\) \[2, 2\]"):
        rollout(Counting(), policy, seed=0)
    assert Counting.steps == 0


def test_finite_actions_past_an_unbounded_float32_space_stay_finite():
    # 1e300 is finite as commanded, but the cast to the space's float32 made it inf: an inf
    # reached the env (and its rewards) with nothing but numpy's overflow warning.
    unbounded = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    applied = ActionCheck(unbounded, 1).clip(np.array([[1e300, -1e300]]))
    largest = np.finfo(np.float32).max
    np.testing.assert_array_equal(applied, np.array([[largest, -largest]], np.float32))
    half = gym.spaces.Box(np.array([0.0, -np.inf], np.float32), np.array([np.inf, 1.0], np.float32))
    applied = ActionCheck(half, 1).clip(np.array([[1e300, -1e300]]))
    np.testing.assert_array_equal(applied, np.array([[largest, -largest]], np.float32))
    ordinary = np.array([[0.25, -3.5]])  # within range: untouched but for the cast
    np.testing.assert_array_equal(ActionCheck(half, 1).clip(ordinary), ordinary.astype(np.float32))


class _TupleActions(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Tuple([gym.spaces.Box(-1.0, 1.0, (2,)), gym.spaces.Discrete(2)])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, False, {}


def test_dict_and_tuple_action_spaces_are_refused_up_front():
    # They failed at the first step with a message about the policy's output shape.
    from gymsamp.sampling import ParallelRolloutSampler, rollout

    message = (
        r"the action space must be a Box, Discrete, MultiDiscrete or MultiBinary space .* got "
        r"Tuple\(Box\(-1.0, 1.0, \(2,\), float32\), Discrete\(2\)\); wrap the env in a "
        r"gymnasium.ActionWrapper"
    )
    with pytest.raises(TypeError, match=message):
        rollout(_TupleActions(), lambda obs: obs, max_steps=2)
    with pytest.raises(TypeError, match=message):
        ParallelRolloutSampler(_TupleActions, lambda obs: obs, 1, min_rollouts=1)
