"""Tests of the built-in policies: values computed by hand, per-env reproducibility, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from gymsamp.data import EnvSpec
from gymsamp.policies import (
    GaussianActionNoise,
    IdlePolicy,
    LazyGenerators,
    LinearPolicy,
    ParametricPolicy,
    PlaybackPolicy,
    Policy,
    PolicyStep,
    RandomPolicy,
    RolloutIndexedPolicy,
)
from gymsamp.policies.base import is_policy, is_rollout_indexed

SPACES: dict[str, spaces.Space[Any]] = {
    "box": spaces.Box(
        low=np.array([-1.0, -np.inf, 0.0, -np.inf], np.float32),
        high=np.array([1.0, np.inf, np.inf, 5.0], np.float32),
    ),
    "int_box": spaces.Box(low=-3, high=4, shape=(3,), dtype=np.int64),
    "discrete": spaces.Discrete(5, start=-2),
    "multi_discrete": spaces.MultiDiscrete([3, 4], start=[1, -1]),
    "multi_binary": spaces.MultiBinary(6),
}


def rngs(*seeds: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in seeds]


def idx(*indices: int) -> np.ndarray:
    return np.array(indices, dtype=np.int64)


def obs(batch: int, dim: int = 3) -> np.ndarray:
    return np.zeros((batch, dim))


# ----------------------------------------------------------------------------------------------
# RandomPolicy
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SPACES))
def test_random_episode_depends_only_on_its_own_rng(name: str) -> None:
    space = SPACES[name]
    single = RandomPolicy(space)
    single.start(1, eval=True)
    single.reset_envs(idx(0), rngs(42))
    expected = [single.act(obs(1)).actions[0] for _ in range(6)]

    batch = RandomPolicy(space)
    batch.start(4, eval=True)
    batch.act(obs(4))  # idle steps before the episode starts draw from the fallback only
    batch.reset_envs(idx(3, 2, 0), rngs(1, 42, 3))
    got = []
    for t in range(6):
        if t == 2:  # other sub-envs start and restart episodes meanwhile
            batch.reset_envs(idx(1, 0), rngs(5, 6))
        got.append(batch.act(obs(4)).actions[2])
    np.testing.assert_array_equal(np.stack(got), np.stack(expected))


@pytest.mark.parametrize("name", list(SPACES))
def test_random_actions_lie_in_the_space_with_its_dtype(name: str) -> None:
    space = SPACES[name]
    policy = RandomPolicy(space)
    policy.start(8, eval=True)
    policy.reset_envs(np.arange(8), rngs(*range(8)))
    for _ in range(25):
        actions = policy.act(obs(8)).actions
        assert actions.shape == (8, *(space.shape or ()))
        assert actions.dtype == space.dtype
        assert all(space.contains(a) for a in actions)


def test_random_box_covers_the_bounded_interval() -> None:
    policy = RandomPolicy(spaces.Box(-2.0, 3.0, shape=(1,)))
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), rngs(0))
    draws = np.array([policy.act(obs(1)).actions[0, 0] for _ in range(2000)])
    assert draws.min() < -1.9
    assert draws.max() > 2.9
    assert abs(draws.mean() - 0.5) < 0.15


def test_random_int_box_and_discrete_hit_every_value() -> None:
    policy = RandomPolicy(spaces.Discrete(5, start=-2))
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), rngs(0))
    values = {int(policy.act(obs(1)).actions[0]) for _ in range(200)}
    assert values == {-2, -1, 0, 1, 2}
    int_box = RandomPolicy(spaces.Box(low=-1, high=1, shape=(1,), dtype=np.int64))
    int_box.start(1, eval=True)
    int_box.reset_envs(idx(0), rngs(0))
    assert {int(int_box.act(obs(1)).actions[0, 0]) for _ in range(200)} == {-1, 0, 1}


def test_random_different_rngs_give_different_actions() -> None:
    policy = RandomPolicy(SPACES["box"])
    policy.start(2, eval=True)
    policy.reset_envs(idx(0, 1), rngs(0, 1))
    actions = policy.act(obs(2)).actions
    assert not np.array_equal(actions[0], actions[1])


def test_random_before_any_reset_uses_a_fixed_fallback() -> None:
    policy = RandomPolicy(SPACES["box"])
    policy.start(3, eval=True)
    first = policy.act(obs(3)).actions
    policy.start(3, eval=True)
    np.testing.assert_array_equal(policy.act(obs(3)).actions, first)


class _SeededGenerators(LazyGenerators):
    """Lazy generators made from seeds when read (like the collection loop's)."""

    def __init__(self, seeds: list[int]) -> None:
        self.seeds = seeds

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return np.random.default_rng(self.seeds[index])


def test_random_multi_binary_draws_integers_0_or_1_from_each_env_rng() -> None:
    policy = RandomPolicy(spaces.MultiBinary(16))
    policy.start(2, eval=True)
    policy.reset_envs(idx(0, 1), rngs(3, 4))
    actions = policy.act(obs(2)).actions
    expected = np.stack([r.integers(0, 2, size=(16,)) for r in rngs(3, 4)])
    assert actions.dtype == np.int8
    np.testing.assert_array_equal(actions, expected)
    assert set(np.unique(expected).tolist()) == {0, 1}  # the reference is no constant


def test_start_forgets_lazy_generators_not_read_in_the_previous_collection() -> None:
    policy = RandomPolicy(spaces.Box(-1.0, 1.0, (3,)))
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), _SeededGenerators([1]))  # never read: no act() follows
    policy.start(1, eval=True)  # sub-env 0 not reset in this collection: the fallback
    actions = policy.act(obs(1)).actions
    # The module docstring's fallback: np.random.default_rng(0).
    expected = np.random.default_rng(0).uniform(-1.0, 1.0, 3).astype(np.float32)
    np.testing.assert_array_equal(actions, [expected])


def test_a_later_eager_reset_overrides_an_unread_lazy_one() -> None:
    policy = RandomPolicy(spaces.Box(-1.0, 1.0, (3,)))
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), _SeededGenerators([1]))
    policy.reset_envs(idx(0), rngs(2))  # the newer episode's generator wins
    actions = policy.act(obs(1)).actions
    expected = np.random.default_rng(2).uniform(-1.0, 1.0, 3).astype(np.float32)
    np.testing.assert_array_equal(actions, [expected])


def test_random_validation() -> None:
    with pytest.raises(TypeError, match="action_space must be one of"):
        RandomPolicy(spaces.Dict({"a": spaces.Discrete(2)}))
    policy = RandomPolicy(spaces.Discrete(2))
    with pytest.raises(RuntimeError, match="before start"):
        policy.act(obs(2))
    with pytest.raises(RuntimeError, match="before start"):
        policy.reset_envs(idx(0), rngs(0))
    with pytest.raises(ValueError, match="num_envs must be an int >= 1, got 0"):
        policy.start(0, eval=True)
    with pytest.raises(TypeError, match="^RandomPolicy: num_envs must be an int >= 1, got '2'$"):
        policy.start("2", eval=True)  # type: ignore[arg-type]
    policy.start(2, eval=True)
    with pytest.raises(ValueError, match="^RandomPolicy: observations must not be an empty dict$"):
        policy.act({})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^RandomPolicy: observations must not be an empty tuple$"):
        policy.act(())  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=r"^RandomPolicy: observations must have a leading batch dimension "
        r"\(B, \*obs_shape\), got a scalar$",
    ):
        policy.act(np.float32(1.0))
    with pytest.raises(
        TypeError,
        match=r"^RandomPolicy: env_indices must be a 1-D array of ints, got array\(\[\[0\]\]\)$",
    ):
        policy.reset_envs(np.array([[0]]), rngs(0))
    with pytest.raises(TypeError, match="env_indices must be a 1-D array of ints"):
        policy.reset_envs(np.array([0.0]), rngs(0))
    with pytest.raises(ValueError, match="batch dimension 3 but must have 2"):
        policy.act(obs(3))
    with pytest.raises(ValueError, match=r"env_indices must lie in \[0, num_envs=2\), got \[2\]"):
        policy.reset_envs(idx(2), rngs(0))
    with pytest.raises(ValueError, match="rngs has length 2 but must have 1"):
        policy.reset_envs(idx(0), rngs(0, 1))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        policy.reset_envs(idx(0), [np.random.RandomState(0)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="distinct"):
        policy.reset_envs(idx(1, 1), rngs(0, 1))


def test_builtins_satisfy_the_protocols() -> None:
    box = spaces.Box(-1.0, 1.0, shape=(2,))
    for policy in (
        RandomPolicy(box),
        IdlePolicy(box),
        LinearPolicy((3, 2)),
        PlaybackPolicy(np.zeros((2, 2))),
        GaussianActionNoise(IdlePolicy(box), 0.1),
    ):
        assert isinstance(policy, Policy)
    assert isinstance(LinearPolicy((3, 2)), ParametricPolicy)
    assert not isinstance(RandomPolicy(box), ParametricPolicy)


def test_the_cheap_protocol_checks_agree_with_isinstance() -> None:
    # The collection loop asks is_policy / is_rollout_indexed (no runtime Protocol check per
    # rollout() call): they must decide as isinstance does, also for duck-typed objects.
    box = spaces.Box(-1.0, 1.0, shape=(2,))

    class Duck:
        def start(self, num_envs: int, *, eval: bool) -> None: ...
        def reset_envs(self, env_indices: Any, rngs: Any) -> None: ...
        def act(self, observations: Any) -> Any: ...

    class IndexedDuck(Duck):
        def start_rollouts(self, env_indices: Any, rollout_indices: Any) -> None: ...

    candidates = [
        RandomPolicy(box),
        IdlePolicy(box),
        LinearPolicy((3, 2)),
        PlaybackPolicy(np.zeros((2, 2))),
        GaussianActionNoise(IdlePolicy(box), 0.1),
        Duck(),
        IndexedDuck(),
        lambda obs: obs,
        object(),
    ]
    for candidate in candidates:
        assert is_policy(candidate) == isinstance(candidate, Policy), candidate
        indexed = isinstance(candidate, RolloutIndexedPolicy)
        assert is_rollout_indexed(candidate) == indexed, candidate
    assert [is_rollout_indexed(c) for c in candidates[3:]] == [
        True,
        True,
        False,
        True,
        False,
        False,
    ]


# ----------------------------------------------------------------------------------------------
# IdlePolicy
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        (spaces.Box(-1.0, 1.0, shape=(2,)), np.zeros(2, np.float32)),
        (
            spaces.Box(np.array([0.5, -2.0], np.float32), np.array([1.0, -1.0], np.float32)),
            np.array([0.5, -1.0], np.float32),
        ),
        (spaces.Discrete(4), np.int64(0)),
        (spaces.Discrete(4, start=2), np.int64(2)),
        (spaces.MultiDiscrete([3, 3], start=[1, 0]), np.array([1, 0])),
        (spaces.MultiBinary(3), np.zeros(3, np.int8)),
    ],
)
def test_idle_actions(space: spaces.Space, expected: np.ndarray) -> None:
    policy = IdlePolicy(space)
    policy.start(3, eval=True)
    policy.reset_envs(idx(1), rngs(0))
    actions = policy.act(obs(3)).actions
    assert actions.dtype == space.dtype
    np.testing.assert_array_equal(actions, np.stack([expected] * 3))


def test_idle_actions_are_a_fresh_writable_array_per_call() -> None:
    # Like every policy's actions, the caller's to change (e.g. to perturb them by hand): not a
    # read-only broadcast of one row, and changing them leaves the next call's alone.
    policy = IdlePolicy(spaces.Box(-1.0, 1.0, shape=(2,)))
    policy.start(3, eval=True)
    actions = policy.act(obs(3)).actions
    assert actions.flags.writeable
    actions[0] = 0.5
    np.testing.assert_array_equal(actions, [[0.5, 0.5], [0.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(policy.act(obs(3)).actions, np.zeros((3, 2), np.float32))


def test_idle_rejects_unsupported_space() -> None:
    with pytest.raises(TypeError, match="action_space"):
        IdlePolicy(spaces.Text(5))


# ----------------------------------------------------------------------------------------------
# LinearPolicy
# ----------------------------------------------------------------------------------------------

W = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
B = np.array([0.25, -4.0])


def test_linear_actions_by_hand() -> None:
    policy = LinearPolicy((3, 2), weight=W, bias=B)
    policy.start(2, eval=True)
    o = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    expected = np.array(
        [
            [1 * 1 - 2 * 2 + 0.5 * 3 + 0.25, 0 * 1 + 3 * 2 - 1 * 3 - 4.0],
            [1 * -1 - 2 * 0.5 + 0.5 * 2 + 0.25, 0 * -1 + 3 * 0.5 - 1 * 2 - 4.0],
        ]
    )
    np.testing.assert_allclose(policy.act(o).actions, expected, rtol=0, atol=1e-12)


def test_linear_param_layout_and_round_trip() -> None:
    policy = LinearPolicy((3, 2), weight=W, bias=B)
    assert policy.num_params == 8
    np.testing.assert_array_equal(policy.param_values, [1.0, -2.0, 0.5, 0.0, 3.0, -1.0, 0.25, -4.0])
    new = np.arange(8.0)
    policy.param_values = new
    np.testing.assert_array_equal(policy.param_values, new)
    np.testing.assert_array_equal(policy.weight, [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(policy.bias, [6, 7])
    returned = policy.param_values
    returned[0] = 100.0  # a copy: the policy is unchanged
    assert policy.param_values[0] == 0.0
    no_bias = LinearPolicy((3, 2), weight=W, use_bias=False)
    assert no_bias.num_params == 6
    assert no_bias.bias is None
    no_bias.start(1, eval=True)
    np.testing.assert_allclose(no_bias.act(np.ones((1, 3))).actions, [W.sum(axis=1)])


def test_linear_per_env_params_by_hand() -> None:
    policy = LinearPolicy((3, 2), weight=W, bias=B)
    policy.start(4, eval=True)
    rng = np.random.default_rng(0)
    params = rng.normal(size=(3, 8))
    policy.set_env_params(idx(3, 0, 1), params)
    o = rng.normal(size=(4, 3))
    actions = policy.act(o).actions
    for env, p in zip((3, 0, 1), params, strict=True):
        expected = p[:6].reshape(2, 3) @ o[env] + p[6:]
        np.testing.assert_allclose(actions[env], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(actions[2], W @ o[2] + B, rtol=0, atol=1e-12)
    # bit-identical to a policy whose default parameters are those of the sub-env
    single = LinearPolicy((3, 2))
    single.param_values = params[0]
    single.start(1, eval=True)
    np.testing.assert_array_equal(single.act(o[3:4]).actions[0], actions[3])
    # clear_env_params returns sub-envs to param_values
    policy.clear_env_params(idx(0))
    np.testing.assert_allclose(policy.act(o).actions[0], W @ o[0] + B, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(policy.act(o).actions[1:], actions[1:])
    # a new collection starts without per-env params: nothing leaks into later sampling
    policy.start(4, eval=True)
    np.testing.assert_allclose(policy.act(o).actions, o @ W.T + B, rtol=0, atol=1e-12)


def test_linear_clear_env_params_clears_every_sub_env_named() -> None:
    policy = LinearPolicy((3, 2), weight=W, bias=B)
    policy.start(4, eval=True)
    params = np.random.default_rng(0).normal(size=(4, 8))
    policy.set_env_params(idx(0, 1, 2, 3), params)
    policy.clear_env_params(idx(2, 0))
    o = np.random.default_rng(1).normal(size=(4, 3))
    actions = policy.act(o).actions
    for env in (0, 2):  # back to param_values
        np.testing.assert_allclose(actions[env], W @ o[env] + B, rtol=0, atol=1e-12)
    for env in (1, 3):  # still their own
        p = params[env]
        np.testing.assert_allclose(
            actions[env], p[:6].reshape(2, 3) @ o[env] + p[6:], rtol=0, atol=1e-12
        )


def test_linear_from_env_spec_flattens_and_keeps_dtype() -> None:
    spec = EnvSpec(spaces.Box(-1, 1, (2, 2)), spaces.Box(-1, 1, (1,)))
    policy = LinearPolicy(spec, weight=[[1.0, 2.0, 3.0, 4.0]])
    policy.start(2, eval=True)
    o = np.array([[[1, 0], [0, 0]], [[0, 0], [0, 1]]], dtype=np.float32)
    actions = policy.act(o).actions
    assert actions.dtype == np.float32
    np.testing.assert_array_equal(actions, [[1.0], [4.0]])
    with pytest.raises(ValueError, match=r"observations has shape \(2, 4\) but must have"):
        policy.act(np.zeros((2, 4)))


def test_linear_validation() -> None:
    with pytest.raises(ValueError, match=r"weight has shape \(3, 2\) but must have \(2, 3\)"):
        LinearPolicy((3, 2), weight=W.T)
    with pytest.raises(
        ValueError,
        match=r"spec must be an EnvSpec or a pair \(obs_dim, act_dim\) of ints >= 1, got \(0, 2\)",
    ):
        LinearPolicy((0, 2))
    with pytest.raises(TypeError, match="action_space must be a Box"):
        LinearPolicy(EnvSpec(spaces.Box(-1, 1, (2,)), spaces.Discrete(2)))
    with pytest.raises(ValueError, match="bias must be None when use_bias is False"):
        LinearPolicy((3, 2), bias=B, use_bias=False)
    with pytest.raises(
        ValueError, match=r"^LinearPolicy: bias has shape \(3,\) but must have \(2,\) \(act_dim,\)$"
    ):
        LinearPolicy((3, 2), bias=np.zeros(3))
    for spec in ("x", (3, 2, 1), [3, 2]):
        with pytest.raises(
            TypeError,
            match=r"^LinearPolicy: spec must be an EnvSpec or a pair \(obs_dim, act_dim\), got ",
        ):
            LinearPolicy(spec)  # type: ignore[arg-type]
    policy = LinearPolicy((3, 2))
    with pytest.raises(
        ValueError,
        match=r"param_values must be a flat vector of length "
        r"num_params=8, got shape \(7,\)",
    ):
        policy.param_values = np.zeros(7)
    policy.start(2, eval=True)
    with pytest.raises(ValueError, match=r"params has shape \(1, 7\) but must have \(1, 8\)"):
        policy.set_env_params(idx(0), np.zeros((1, 7)))
    with pytest.raises(ValueError, match="env_indices must lie in"):
        policy.set_env_params(idx(2), np.zeros((1, 8)))
    with pytest.raises(ValueError, match="flatten to 4 features per sub-env but must have obs_dim"):
        policy.act(np.zeros((2, 4)))


# ----------------------------------------------------------------------------------------------
# PlaybackPolicy
# ----------------------------------------------------------------------------------------------


def test_playback_replays_recordings_in_episode_start_order() -> None:
    recs = [np.array([[0.0], [1.0], [2.0]]), np.array([[10.0], [11.0]]), np.array([[20.0]])]
    policy = PlaybackPolicy(recs)
    assert policy.num_recordings == 3
    policy.start(2, eval=True)
    policy.reset_envs(idx(1, 0), rngs(0, 1))  # env 1 -> recording 0, env 0 -> recording 1
    step = policy.act(obs(2))
    np.testing.assert_array_equal(step.actions, [[10.0], [0.0]])
    np.testing.assert_array_equal(step.agent_infos["playback_exhausted"], [False, False])
    step = policy.act(obs(2))
    np.testing.assert_array_equal(step.actions, [[11.0], [1.0]])
    policy.reset_envs(idx(0), rngs(2))  # third episode -> recording 2
    np.testing.assert_array_equal(policy.act(obs(2)).actions, [[20.0], [2.0]])
    policy.reset_envs(idx(1), rngs(3))  # fourth episode -> recording 3 mod 3 = 0
    step = policy.act(obs(2))
    np.testing.assert_array_equal(step.actions, [[20.0], [0.0]])  # env 0 ran past its end
    np.testing.assert_array_equal(step.agent_infos["playback_exhausted"], [True, False])
    # start() begins again with recording 0
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), rngs(0))
    np.testing.assert_array_equal(policy.act(obs(1)).actions, [[0.0]])


def test_playback_single_array_and_unassigned_envs() -> None:
    policy = PlaybackPolicy(np.array([3, 1, 2]))
    policy.start(2, eval=True)
    step = policy.act(obs(2))  # nobody reset yet: flagged, first recorded action
    np.testing.assert_array_equal(step.actions, [3, 3])
    np.testing.assert_array_equal(step.agent_infos["playback_exhausted"], [True, True])
    policy.reset_envs(idx(0, 1), rngs(0, 1))
    replay = np.stack([policy.act(obs(2)).actions for _ in range(3)])
    np.testing.assert_array_equal(replay, [[3, 3], [1, 1], [2, 2]])


def test_playback_start_rollouts_restarts_the_assigned_recording() -> None:
    policy = PlaybackPolicy([np.array([10, 11, 12]), np.array([20, 21, 22])])
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), rngs(0))
    assert [policy.act(obs(1)).actions.tolist() for _ in range(2)] == [[10], [11]]
    policy.start_rollouts(idx(0), idx(1))  # rollout 1 -> recording 1, from its first action
    assert [policy.act(obs(1)).actions.tolist() for _ in range(3)] == [[20], [21], [22]]


@pytest.mark.parametrize("as_list", [True, False])
def test_playback_keeps_its_own_copy_of_the_recordings(as_list: bool) -> None:
    # A caller reusing its action buffer (recording the next episode into it) must not change
    # what the policy replays.
    recorded = np.array([[1.0], [2.0], [3.0]])
    policy = PlaybackPolicy([recorded] if as_list else recorded)
    recorded[:] = -1.0
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), rngs(0))
    replay = [policy.act(obs(1)).actions.tolist() for _ in range(3)]
    assert replay == [[[1.0]], [[2.0]], [[3.0]]]


def test_playback_validation() -> None:
    with pytest.raises(ValueError, match="at least one recording"):
        PlaybackPolicy([])
    with pytest.raises(
        ValueError,
        match=r"actions_per_rollout\[1\] has action shape \(3,\) but "
        r"must have \(2,\)",
    ):
        PlaybackPolicy([np.zeros((4, 2)), np.zeros((4, 3))])
    with pytest.raises(ValueError, match="T >= 1"):
        PlaybackPolicy([np.zeros((0, 2))])
    with pytest.raises(TypeError, match="actions_per_rollout must be a list of arrays"):
        PlaybackPolicy(5)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# GaussianActionNoise
# ----------------------------------------------------------------------------------------------

BOX2 = spaces.Box(-1.0, 1.0, shape=(2,))


def test_noise_is_std_times_standard_normal_from_the_env_rng() -> None:
    inner = LinearPolicy((3, 2), weight=W, bias=B)
    policy = GaussianActionNoise(inner, std=[0.5, 2.0])
    policy.start(2, eval=True)
    policy.reset_envs(idx(0, 1), rngs(7, 8))
    o = np.ones((2, 3))
    ref = rngs(7, 8)
    for _ in range(3):
        step = policy.act(o)
        expected_noise = np.stack([[0.5, 2.0] * r.standard_normal(2) for r in ref])
        np.testing.assert_array_equal(step.agent_infos["noise"], expected_noise)
        np.testing.assert_allclose(step.actions, o @ W.T + B + expected_noise, atol=1e-12)


def test_noise_std_is_empirically_right() -> None:
    policy = GaussianActionNoise(IdlePolicy(BOX2), std=np.array([0.3, 1.5]))
    policy.start(4, eval=True)
    policy.reset_envs(np.arange(4), rngs(0, 1, 2, 3))
    noise = np.concatenate([policy.act(obs(4)).actions for _ in range(1500)])
    np.testing.assert_allclose(noise.std(axis=0), [0.3, 1.5], rtol=0.04)
    np.testing.assert_allclose(noise.mean(axis=0), [0.0, 0.0], atol=0.08)
    zero = GaussianActionNoise(IdlePolicy(BOX2), std=0.0)
    zero.start(1, eval=True)
    np.testing.assert_array_equal(zero.act(obs(1)).actions, [[0.0, 0.0]])


def test_noise_over_random_policy_depends_only_on_own_rng() -> None:
    def make() -> GaussianActionNoise:
        return GaussianActionNoise(RandomPolicy(BOX2), std=0.2)

    single = make()
    single.start(1, eval=True)
    single.reset_envs(idx(0), rngs(99))
    expected = np.stack([single.act(obs(1)).actions[0] for _ in range(5)])
    batch = make()
    batch.start(4, eval=True)
    batch.reset_envs(idx(0, 2), rngs(1, 99))
    got = []
    for t in range(5):
        if t == 3:
            batch.reset_envs(idx(1, 3), rngs(4, 5))
        got.append(batch.act(obs(4)).actions[2])
    np.testing.assert_array_equal(np.stack(got), expected)


def test_noise_passes_inner_infos_and_forwards_resets() -> None:
    policy = GaussianActionNoise(PlaybackPolicy(np.array([[1.0], [2.0]])), std=0.0, info_key="eps")
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), rngs(0))
    step = policy.act(obs(1))
    assert sorted(step.agent_infos) == ["eps", "playback_exhausted"]
    np.testing.assert_array_equal(step.actions, [[1.0]])
    policy.reset_envs(idx(0), rngs(0))  # forwarded: the recording restarts
    np.testing.assert_array_equal(policy.act(obs(1)).actions, [[1.0]])
    quiet = GaussianActionNoise(IdlePolicy(BOX2), std=0.1, info_key=None)
    quiet.start(1, eval=True)
    assert quiet.act(obs(1)).agent_infos == {}


def test_noise_forwards_start_rollouts_to_a_rollout_indexed_policy() -> None:
    inner = PlaybackPolicy([np.array([[0.1]]), np.array([[0.2]]), np.array([[0.3]])])
    policy = GaussianActionNoise(inner, std=0.0)
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), rngs(0))  # episode 0 -> recording 0
    policy.start_rollouts(idx(0), idx(2))  # rollout 2 -> recording 2
    np.testing.assert_array_equal(policy.act(obs(1)).actions, [[0.3]])


class _EvalRecorder:
    """A minimal policy that records the ``eval`` flag of every start()."""

    def __init__(self) -> None:
        self.evals: list[bool] = []

    def start(self, num_envs: int, *, eval: bool) -> None:
        self.evals.append(eval)

    def reset_envs(self, env_indices: np.ndarray, rngs: Any) -> None:
        pass

    def act(self, observations: np.ndarray) -> PolicyStep:
        return PolicyStep(np.zeros((len(observations), 2)), {})


@pytest.mark.parametrize("eval_flag", [False, True])
def test_noise_forwards_the_eval_flag(eval_flag: bool) -> None:
    inner = _EvalRecorder()
    GaussianActionNoise(inner, std=0.1).start(2, eval=eval_flag)  # type: ignore[arg-type]
    assert inner.evals == [eval_flag]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_noisy_actions_keep_the_inner_dtype(dtype: type) -> None:
    policy = GaussianActionNoise(IdlePolicy(spaces.Box(-1.0, 1.0, (2,), dtype)), std=0.1)
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), rngs(0))
    actions = policy.act(obs(1)).actions
    assert actions.dtype == dtype
    expected = (0.1 * np.random.default_rng(0).standard_normal(2)).astype(dtype)
    np.testing.assert_array_equal(actions, [expected])


def test_noise_std_can_be_annealed_between_calls() -> None:
    # A float assigned to std (the documented type) broke repr() and with it every rollout;
    # a negative one was taken as it came.
    policy = GaussianActionNoise(IdlePolicy(BOX2), std=0.5)
    policy.std = 0.25
    assert repr(policy).endswith("std=0.25)")
    policy.start(1, eval=True)
    policy.reset_envs(idx(0), rngs(3))
    np.testing.assert_array_equal(
        policy.act(obs(1)).actions, [(0.25 * rngs(3)[0].standard_normal(2)).astype(np.float32)]
    )
    scales = np.array([0.1, 0.2])
    policy.std = scales
    scales *= 10  # the caller's array, changed later, does not change the noise
    np.testing.assert_array_equal(policy.std, [0.1, 0.2])
    policy.std *= 0.5  # in place, as an annealing schedule might
    np.testing.assert_array_equal(policy.std, [0.05, 0.1])
    with pytest.raises(ValueError, match=r"std must be finite and >= 0, got -0.1"):
        policy.std = -0.1
    with pytest.raises(TypeError, match=r"std must be a float >= 0 or an array of them"):
        policy.std = True
    np.testing.assert_array_equal(policy.std, [0.05, 0.1])


def test_noise_validation() -> None:
    with pytest.raises(ValueError, match=r"std must be finite and >= 0, got -0.1"):
        GaussianActionNoise(IdlePolicy(BOX2), std=-0.1)
    with pytest.raises(TypeError, match="policy must be a gymsamp Policy"):
        GaussianActionNoise(lambda o: o, std=0.1)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="^GaussianActionNoise: info_key must be a str or None, got 3$"
    ):
        GaussianActionNoise(IdlePolicy(BOX2), std=0.1, info_key=3)  # type: ignore[arg-type]
    quiet = GaussianActionNoise(IdlePolicy(BOX2), std=0.1, info_key=None)
    quiet.start(1, eval=True)
    quiet.reset_envs(idx(0), rngs(0))
    assert quiet.act(obs(1)).agent_infos == {}
    discrete = GaussianActionNoise(IdlePolicy(spaces.Discrete(2)), std=0.1)
    discrete.start(1, eval=True)
    with pytest.raises(TypeError, match="floating-point actions, got dtype int64"):
        discrete.act(obs(1))
    wrong = GaussianActionNoise(IdlePolicy(BOX2), std=[0.1, 0.2, 0.3])
    wrong.start(1, eval=True)
    with pytest.raises(ValueError, match=r"std has shape \(3,\) but must be broadcastable"):
        wrong.act(obs(1))
    clash = GaussianActionNoise(
        PlaybackPolicy(np.zeros((2, 1))), std=0.1, info_key="playback_exhausted"
    )
    clash.start(1, eval=True)
    with pytest.raises(ValueError, match="clashes"):
        clash.act(obs(1))


def test_linear_policy_parameters_are_copied_real_and_finite():
    policy = LinearPolicy((3, 1))
    values = np.zeros(4)
    policy.param_values = values
    values[:] = 5.0  # the caller's array stays the caller's
    np.testing.assert_array_equal(policy.param_values, np.zeros(4))
    with pytest.raises(ValueError, match="param_values must be finite"):
        policy.param_values = np.array([0.0, np.nan, 0.0, 0.0])
    with pytest.raises(TypeError, match="param_values must hold real numbers, got dtype complex"):
        policy.param_values = np.zeros(4, dtype=complex)
    policy.start(2, eval=True)
    with pytest.raises(ValueError, match="params must be finite"):
        policy.set_env_params(np.array([0]), np.full((1, 4), np.inf))
    np.testing.assert_array_equal(policy.param_values, np.zeros(4))


class _CountingGenerators(LazyGenerators):
    """Lazy generators (like the collection loop's) that count how often they are read."""

    def __init__(self, items: list[object]) -> None:
        self.items = items
        self.reads = 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        self.reads += 1
        return self.items[index]


def test_generators_of_a_lazy_sequence_are_read_only_when_drawn_from() -> None:
    policy = RandomPolicy(spaces.Discrete(5))
    policy.start(2, eval=False)
    lazy = _CountingGenerators([np.random.default_rng(3), np.random.default_rng(4)])
    policy.reset_envs(idx(0, 1), lazy)
    assert lazy.reads == 0  # nothing drawn yet
    actions = policy.act(obs(2))
    assert lazy.reads == 2
    expected = [np.random.default_rng(s).integers(5) for s in (3, 4)]
    assert actions.actions.tolist() == expected
    # A deterministic policy never reads them.
    idle = IdlePolicy(spaces.Box(-1.0, 1.0, (2,)))
    idle.start(2, eval=True)
    untouched = _CountingGenerators([np.random.default_rng(0), np.random.default_rng(1)])
    idle.reset_envs(idx(0, 1), untouched)
    idle.act(obs(2))
    assert untouched.reads == 0


def test_a_lazy_sequence_holding_no_generator_fails_when_read() -> None:
    policy = RandomPolicy(spaces.Discrete(2))
    policy.start(1, eval=False)
    policy.reset_envs(idx(0), _CountingGenerators([np.random.RandomState(0)]))
    with pytest.raises(TypeError, match="numpy.random.Generator objects, got RandomState"):
        policy.act(obs(1))


def test_other_rngs_are_read_and_checked_in_reset_envs() -> None:
    policy = RandomPolicy(spaces.Discrete(100))
    policy.start(2, eval=False)
    policy.reset_envs(idx(0, 1), (np.random.default_rng(s) for s in (3, 4)))  # read once
    given = np.array([np.random.default_rng(5), np.random.default_rng(6)], dtype=object)
    policy.reset_envs(idx(0, 1), given)
    given[:] = [np.random.default_rng(7), np.random.default_rng(8)]  # too late to matter
    expected = [np.random.default_rng(s).integers(100) for s in (5, 6)]
    assert policy.act(obs(2)).actions.tolist() == expected
    idle = IdlePolicy(spaces.Box(-1.0, 1.0, (2,)))  # draws nothing, still checks
    idle.start(1, eval=True)
    with pytest.raises(TypeError, match="numpy.random.Generator objects, got str"):
        idle.reset_envs(idx(0), ["not a generator"])  # type: ignore[list-item]


def test_splitmix64_matches_the_reference_sequence() -> None:
    """SplitMix64 from state 1234567 (Vigna's reference values)."""
    from gymsamp.policies._shared import _MASK64, _splitmix64

    gamma = 0x9E3779B97F4A7C15
    outputs = [_splitmix64((1234567 + k * gamma) & _MASK64) for k in range(5)]
    assert outputs == [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
        4593380528125082431,
        16408922859458223821,
    ]


def test_the_combined_seed_depends_on_every_sub_envs_generator_and_their_order() -> None:
    from gymsamp.policies._shared import _EnvRngs

    def seed_of(seeds: list[int]) -> int:
        env_rngs = _EnvRngs("test")
        env_rngs.start(len(seeds))
        env_rngs.reset(np.arange(len(seeds)), rngs(*seeds))
        return env_rngs.combined_seed()

    base = seed_of([1, 2, 3])
    assert base == seed_of([1, 2, 3])
    assert 0 <= base < 2**63
    others = {seed_of([9, 2, 3]), seed_of([1, 9, 3]), seed_of([1, 2, 9]), seed_of([3, 2, 1])}
    assert base not in others
    assert len(others) == 4


# -- argument checks ----------------------------------------------------------------------------


@pytest.mark.parametrize("std", [True, np.True_, [True, False]])
def test_gaussian_noise_std_must_not_be_a_bool(std: Any) -> None:
    # True was taken as std=1.0.
    with pytest.raises(TypeError, match=r"std must be a float >= 0 or an array of them, got"):
        GaussianActionNoise(RandomPolicy(spaces.Box(-1.0, 1.0, (2,))), std)
    noisy = GaussianActionNoise(RandomPolicy(spaces.Box(-1.0, 1.0, (2,))), np.float32(0.1))
    assert noisy.std == pytest.approx(0.1)


def test_linear_weights_and_spec_are_checked() -> None:
    with pytest.raises(ValueError, match=r"LinearPolicy: weight must be finite, got"):
        LinearPolicy((3, 2), weight=np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match=r"LinearPolicy: bias must be finite, got"):
        LinearPolicy((3, 2), bias=[np.inf, 0.0])
    with pytest.raises(TypeError, match=r"LinearPolicy: weight must hold real numbers"):
        LinearPolicy((3, 2), weight="ab")
    with pytest.raises(
        TypeError,
        match=r"spec must be an EnvSpec or a pair \(obs_dim, act_dim\) of ints >= 1, "
        r"got \(True, 2\)",
    ):
        LinearPolicy((True, 2))
    with pytest.raises(TypeError, match=r"use_bias must be a bool \(True or False\), got 'no'"):
        LinearPolicy((3, 2), use_bias="no")
    assert LinearPolicy((np.int64(3), 2), weight=W, use_bias=np.True_).obs_dim == 3
