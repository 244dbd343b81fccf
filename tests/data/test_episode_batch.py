"""Tests of :class:`gymsamp.data.episode_batch.EpisodeBatch`."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.spaces import Box, Discrete

from gymsamp.data.episode_batch import PAD_STEP_TYPE, EpisodeBatch
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step_type import STEP_TYPE_DTYPE, StepType

F, M, TE, TO = StepType.FIRST, StepType.MID, StepType.TERMINAL, StepType.TIMEOUT


def make_spec(max_episode_length: int | None = None) -> EnvSpec:
    """Observations of shape (3,), actions of shape (2,)."""
    return EnvSpec(
        Box(-1000.0, 1000.0, (3,), dtype=np.float64),
        Box(-100.0, 100.0, (2,), dtype=np.float64),
        max_episode_length=max_episode_length,
    )


def batch_kwargs(spec: EnvSpec | None = None) -> dict[str, Any]:
    """Three episodes of lengths [3, 1, 2]; every value is distinct and easy to trace.

    Observation rows are [3t, 3t+1, 3t+2] for t = 0..5; last observations start at 100.
    """
    return {
        "env_spec": make_spec() if spec is None else spec,
        "episode_infos": {
            "seed": np.array([10, 11, 12]),
            "domain_param": {"mass": np.array([1.0, 1.5, 2.0])},
        },
        "observations": np.arange(18.0).reshape(6, 3),
        "last_observations": 100.0 + np.arange(9.0).reshape(3, 3),
        "actions": np.arange(12.0).reshape(6, 2),
        "rewards": np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        "env_infos": {"x": np.arange(6), "nested": {"y": 2.0 * np.arange(6)}},
        "agent_infos": {"h": np.arange(12).reshape(6, 2)},
        "step_types": np.array([F, M, TE, TO, F, TE], dtype=STEP_TYPE_DTYPE),
        "lengths": np.array([3, 1, 2]),
    }


def make_batch(spec: EnvSpec | None = None) -> EpisodeBatch:
    return EpisodeBatch(**batch_kwargs(spec))


def assert_nested_equal(actual: Any, expected: Any) -> None:
    """Recursive array equality of nested dicts (same keys at every level)."""
    if isinstance(expected, Mapping):
        assert isinstance(actual, Mapping)
        assert set(actual) == set(expected)
        for key in expected:
            assert_nested_equal(actual[key], expected[key])
    else:
        np.testing.assert_array_equal(actual, expected)


def assert_batches_equal(actual: Any, expected: Any) -> None:
    """Field-by-field equality of two dataclass batches (EpisodeBatch or TimeStepBatch)."""
    assert type(actual) is type(expected)
    for field in dataclasses.fields(expected):
        a, e = getattr(actual, field.name), getattr(expected, field.name)
        if field.name == "env_spec":
            assert a == e
        else:
            assert_nested_equal(a, e)


# ------------------------------------------------------------------------------------------------
# Construction and validation


def test_fields_are_stored_normalized() -> None:
    batch = EpisodeBatch(**{**batch_kwargs(), "step_types": [F, M, TE, TO, F, TE]})
    assert batch.step_types.dtype == np.int8
    np.testing.assert_array_equal(batch.step_types, [0, 1, 2, 3, 0, 2])
    assert batch.lengths.dtype == np.int64
    np.testing.assert_array_equal(batch.lengths, [3, 1, 2])
    assert_nested_equal(batch.episode_infos, batch_kwargs()["episode_infos"])


def test_object_array_of_step_types_is_converted_to_int8() -> None:
    step_types = np.array([F, M, TE, TO, F, TE], dtype=object)
    batch = EpisodeBatch(**{**batch_kwargs(), "step_types": step_types})
    assert batch.step_types.dtype == STEP_TYPE_DTYPE
    np.testing.assert_array_equal(batch.step_types, [0, 1, 2, 3, 0, 2])


def test_empty_infos_are_allowed() -> None:
    kwargs = {**batch_kwargs(), "episode_infos": {}, "env_infos": {}, "agent_infos": {}}
    batch = EpisodeBatch(**kwargs)
    assert batch.episode_infos == {}
    assert batch.episode_infos_by_episode == [{}, {}, {}]


def test_batch_is_frozen() -> None:
    batch = make_batch()
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch.rewards = np.zeros(6)  # type: ignore[misc]


def test_replace_revalidates() -> None:
    batch = make_batch()
    with pytest.raises(ValueError, match="rewards has batch dimension 5 but must have 6"):
        dataclasses.replace(batch, rewards=np.zeros(5))


_PER_STEP = "to match the sum of lengths"
_PER_EPISODE = re.escape("to match the number of episodes (len(lengths))")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "observations",
            np.zeros((5, 3)),
            "observations has batch dimension 5 but must have 6 " + _PER_STEP,
        ),
        (
            "observations",
            np.zeros((6, 4)),
            re.escape(
                "observations has item shape (4,) but must have (3,) "
                "to match env_spec.observation_space"
            ),
        ),
        (
            "last_observations",
            np.zeros((2, 3)),
            "last_observations has batch dimension 2 but must have 3 " + _PER_EPISODE,
        ),
        (
            "last_observations",
            np.zeros((3, 2)),
            re.escape(
                "last_observations has item shape (2,) but must have (3,) "
                "to match env_spec.observation_space"
            ),
        ),
        ("actions", np.zeros((7, 2)), "actions has batch dimension 7 but must have 6 " + _PER_STEP),
        (
            "actions",
            np.zeros((6, 3)),
            re.escape(
                "actions has item shape (3,) but must have (2,) to match env_spec.action_space"
            ),
        ),
        ("rewards", np.zeros(5), "rewards has batch dimension 5 but must have 6 " + _PER_STEP),
        (
            "rewards",
            np.zeros((6, 1)),
            re.escape("rewards has item shape (1,) but must have () to match one scalar reward"),
        ),
        (
            "rewards",
            np.float64(1.0),
            re.escape("rewards has shape () but must have batch dimension 6 " + _PER_STEP),
        ),
        (
            "env_infos",
            {"x": np.arange(5)},
            re.escape("env_infos['x'] has batch dimension 5 but must have 6 " + _PER_STEP),
        ),
        (
            "env_infos",
            {"nested": {"y": np.arange(4)}},
            re.escape(
                "env_infos['nested']['y'] has batch dimension 4 but must have 6 " + _PER_STEP
            ),
        ),
        (
            "agent_infos",
            {"h": np.zeros((3, 2))},
            re.escape("agent_infos['h'] has batch dimension 3 but must have 6 " + _PER_STEP),
        ),
        (
            "episode_infos",
            {"seed": np.array([1, 2])},
            re.escape("episode_infos['seed'] has batch dimension 2 but must have 3")
            + " "
            + _PER_EPISODE,
        ),
        (
            "episode_infos",
            {"domain_param": {"mass": np.ones(6)}},
            re.escape(
                "episode_infos['domain_param']['mass'] has batch dimension 6 but must have 3"
            ),
        ),
        (
            "step_types",
            np.zeros(5, dtype=np.int8),
            "step_types has batch dimension 5 but must have 6 " + _PER_STEP,
        ),
        (
            "step_types",
            np.zeros((6, 1), dtype=np.int8),
            re.escape("step_types has item shape (1,) but must have ()"),
        ),
        (
            "step_types",
            np.array([0, 1, 2, 3, 4, 7]),
            re.escape(
                "step_types has values [4, 7] but must have values in [0, 1, 2, 3] "
                "to match StepType"
            ),
        ),
        ("step_types", np.array([0, 1, 2, 3, -1, 2]), re.escape("step_types has values [-1]")),
        # 256 would wrap around to 0 (FIRST) in an unchecked cast to int8.
        ("step_types", np.array([0, 1, 2, 3, 256, 2]), re.escape("step_types has values [256]")),
        (
            "lengths",
            np.array([3, 1, 1]),
            "observations has batch dimension 6 but must have 5 " + _PER_STEP,
        ),
        (
            "lengths",
            np.array([3, 2, 2]),
            "observations has batch dimension 6 but must have 7 " + _PER_STEP,
        ),
        (
            "lengths",
            np.array([[3, 1, 2]]),
            re.escape("lengths must be a 1-D array, got shape (1, 3)"),
        ),
        (
            "lengths",
            np.array([4, 0, 2]),
            re.escape("lengths must be >= 1 for every episode, got [4 0 2]"),
        ),
        ("lengths", np.array([], dtype=int), "lengths must hold at least one episode"),
    ],
)
def test_validation_messages(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EpisodeBatch(**{**batch_kwargs(), field: value})


def test_sum_of_lengths_is_checked_against_every_flat_array() -> None:
    # garage checked each array against lengths.sum() only for some fields; here a batch whose
    # observations and actions match but whose rewards are one short fails on rewards.
    kwargs = batch_kwargs()
    kwargs["rewards"] = np.arange(5.0)
    with pytest.raises(
        ValueError, match="rewards has batch dimension 5 but must have 6 " + _PER_STEP
    ):
        EpisodeBatch(**kwargs)


@pytest.mark.parametrize(
    ("step_types", "lengths", "message"),
    [
        # An episode ended in the middle (its episode then read as two rollouts).
        (
            [F, TE, TO],
            [3],
            "step_types has TERMINAL at step 1 of episode 0 (index 1) but must have TERMINAL "
            "or TIMEOUT only at an episode's last step to match lengths",
        ),
        (
            [F, TO, M],
            [3],
            "step_types has TIMEOUT at step 1 of episode 0 (index 1) but must have TERMINAL "
            "or TIMEOUT only at an episode's last step to match lengths",
        ),
        (
            [F, TO, F, F],
            [2, 2],
            "step_types has FIRST at step 1 of episode 1 (index 3) but must have FIRST only at "
            "an episode's first step to match lengths",
        ),
        (
            [M, F, TO],
            [3],
            "step_types has FIRST at step 1 of episode 0 (index 1) but must have FIRST only at "
            "an episode's first step to match lengths",
        ),
    ],
)
def test_step_types_must_fit_the_episodes(
    step_types: list[StepType], lengths: list[int], message: str
) -> None:
    # garage: FIRST marks an episode's first step, only its last is TERMINAL / TIMEOUT.
    n = len(step_types)
    spec = EnvSpec(Box(-9.0, 9.0, (1,)), Discrete(2))
    fields = {
        "observations": np.zeros((n, 1)),
        "last_observations": np.zeros((len(lengths), 1)),
        "actions": np.zeros(n, int),
        "rewards": np.zeros(n),
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        EpisodeBatch(spec, {}, **fields, env_infos={}, agent_infos={}, step_types=step_types,
                     lengths=lengths)  # fmt: skip


def test_cut_and_one_step_episodes_are_valid() -> None:
    # An episode cut by the sampler before its end has a MID (or, after one step, FIRST) last
    # step; a one-step episode that ends has no FIRST (DESIGN §3).
    spec = EnvSpec(Box(-9.0, 9.0, (1,)), Discrete(2))
    step_types = [F, M, F, TE, TO, F]
    batch = EpisodeBatch(
        spec, {}, np.zeros((6, 1)), np.zeros((5, 1)), np.zeros(6, int), np.zeros(6), {}, {},
        step_types, [2, 1, 1, 1, 1],
    )  # fmt: skip
    assert batch.step_types.tolist() == [0, 1, 0, 2, 3, 0]


def test_fragments_continuing_an_episode_are_valid() -> None:
    # garage's FragmentWorker sends episodes in fragments: each one after the first continues
    # its episode, so its first step is MID (the env's step count goes on). Such batches were
    # refused ("must have FIRST at an episode's first step"), as were slices of a StepSequence
    # that start mid-rollout.
    spec = EnvSpec(Box(-9.0, 9.0, (1,)), Discrete(2))
    fragments = [
        EpisodeBatch(
            spec,
            {},
            np.arange(a, b, dtype=float)[:, None],
            np.array([[float(b)]]),
            np.zeros(b - a, int),
            np.ones(b - a),
            {},
            {},
            types,
            [b - a],
        )
        for a, b, types in [(0, 2, [F, M]), (2, 3, [M]), (3, 5, [M, TO])]
    ]
    batch = EpisodeBatch.concatenate(*fragments)
    assert batch.step_types.tolist() == [F, M, M, M, TO]
    assert batch.lengths.tolist() == [2, 1, 2]
    # Each fragment's next observation at its end is the one it was cut at.
    assert batch.next_observations[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [p.step_types.tolist() for p in batch.split()] == [[F, M], [M], [M, TO]]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "env_spec",
            "CartPole-v1",
            re.escape(
                "env_spec must be a gymsamp.data.EnvSpec (e.g. EnvSpec.from_env(env)), got str"
            ),
        ),
        (
            # A porter's garage habit, env.spec: gymnasium's EnvSpec (of its registry) was
            # named as "an EnvSpec, got EnvSpec".
            "env_spec",
            gym.make("CartPole-v1").spec,
            re.escape(
                "env_spec must be a gymsamp.data.EnvSpec (e.g. EnvSpec.from_env(env)), got "
                "gymnasium.envs.registration.EnvSpec"
            ),
        ),
        (
            "lengths",
            np.array([3.0, 1.0, 2.0]),
            "lengths must be an integer array, got dtype float64",
        ),
        (
            "step_types",
            np.zeros(6),
            "step_types must hold integers or StepType members, got dtype float64",
        ),
        ("step_types", np.array([0, 1, "a", 0, 0, 0], dtype=object), "got a str"),
        ("env_infos", [np.arange(6)], "env_infos must be a dict, got list"),
        (
            "env_infos",
            {"x": list(range(6))},
            re.escape("env_infos['x'] must be a numpy array or a dict, got list"),
        ),
        ("observations", None, "observations must be array-like, got NoneType"),
    ],
)
def test_type_errors(field: str, value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        EpisodeBatch(**{**batch_kwargs(), field: value})


def test_tuple_observations_are_refused_like_dict_ones() -> None:
    from gymnasium.spaces import Tuple

    spec = EnvSpec(Tuple((Box(-1.0, 1.0, (2,)), Discrete(3))), Discrete(2))
    obs = (np.zeros(2, np.float32), 1)
    with pytest.raises(
        TypeError,
        match=re.escape(
            "observations must be array-like (of one shape), got a list whose entries differ "
            "in shape or type (a Dict or Tuple space's values? flatten them, e.g. with "
            "gymnasium.wrappers.FlattenObservation)"
        ),
    ):
        EpisodeBatch(spec, {}, [obs], [obs], [1], [0.0], {}, {}, [TE], [1])


def test_discrete_spaces_have_scalar_items() -> None:
    spec = EnvSpec(Discrete(20), Discrete(3))
    kwargs = {
        **batch_kwargs(spec),
        "observations": np.array([0, 1, 2, 3, 4, 5]),
        "last_observations": np.array([7, 8, 9]),
        "actions": np.array([0, 1, 2, 0, 1, 2]),
    }
    batch = EpisodeBatch(**kwargs)
    np.testing.assert_array_equal(batch.next_observations, [1, 2, 7, 8, 5, 9])
    with pytest.raises(
        ValueError,
        match=re.escape(
            "actions has item shape (1,) but must have () to match env_spec.action_space"
        ),
    ):
        EpisodeBatch(**{**kwargs, "actions": np.zeros((6, 1), dtype=int)})


# ------------------------------------------------------------------------------------------------
# Views


def test_next_observations_use_each_episodes_last_observation() -> None:
    expected = [
        [3, 4, 5], [6, 7, 8], [100, 101, 102],  # episode 0
        [103, 104, 105],  # episode 1: a single step
        [15, 16, 17], [106, 107, 108],  # episode 2
    ]  # fmt: skip
    np.testing.assert_array_equal(make_batch().next_observations, expected)


def test_episode_infos_by_episode() -> None:
    by_episode = make_batch().episode_infos_by_episode
    assert len(by_episode) == 3
    for i, (seed, mass) in enumerate([(10, 1.0), (11, 1.5), (12, 2.0)]):
        assert_nested_equal(by_episode[i], {"seed": seed, "domain_param": {"mass": mass}})


def test_observations_and_actions_lists() -> None:
    batch = make_batch()
    obs = np.arange(18.0).reshape(6, 3)
    act = np.arange(12.0).reshape(6, 2)
    for actual, expected in zip(
        batch.observations_list, [obs[0:3], obs[3:4], obs[4:6]], strict=True
    ):
        np.testing.assert_array_equal(actual, expected)
    for actual, expected in zip(batch.actions_list, [act[0:3], act[3:4], act[4:6]], strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_padded_views_and_valids() -> None:
    batch = make_batch()  # lengths [3, 1, 2], no max_episode_length: pad to 3
    np.testing.assert_array_equal(
        batch.valids,
        [[True, True, True], [True, False, False], [True, True, False]],
    )
    assert batch.valids.dtype == np.bool_
    np.testing.assert_array_equal(
        batch.padded_observations,
        [
            [[0, 1, 2], [3, 4, 5], [6, 7, 8]],
            [[9, 10, 11], [0, 0, 0], [0, 0, 0]],
            [[12, 13, 14], [15, 16, 17], [0, 0, 0]],
        ],
    )
    np.testing.assert_array_equal(
        batch.padded_next_observations,
        [
            [[3, 4, 5], [6, 7, 8], [100, 101, 102]],
            [[103, 104, 105], [0, 0, 0], [0, 0, 0]],
            [[15, 16, 17], [106, 107, 108], [0, 0, 0]],
        ],
    )
    np.testing.assert_array_equal(
        batch.padded_actions,
        [
            [[0, 1], [2, 3], [4, 5]],
            [[6, 7], [0, 0], [0, 0]],
            [[8, 9], [10, 11], [0, 0]],
        ],
    )
    np.testing.assert_array_equal(batch.padded_rewards, [[1, 2, 3], [4, 0, 0], [5, 6, 0]])
    # Padding uses -1, which is no StepType; garage's 0 would read as FIRST.
    assert PAD_STEP_TYPE == -1
    np.testing.assert_array_equal(batch.padded_step_types, [[0, 1, 2], [3, -1, -1], [0, 2, -1]])
    assert batch.padded_step_types.dtype == np.int8
    assert_nested_equal(
        batch.padded_env_infos,
        {
            "x": [[0, 1, 2], [3, 0, 0], [4, 5, 0]],
            "nested": {"y": [[0, 2, 4], [6, 0, 0], [8, 10, 0]]},
        },
    )
    assert_nested_equal(
        batch.padded_agent_infos,
        {
            "h": [
                [[0, 1], [2, 3], [4, 5]],
                [[6, 7], [0, 0], [0, 0]],
                [[8, 9], [10, 11], [0, 0]],
            ]
        },
    )


def test_padding_uses_max_episode_length_when_set() -> None:
    batch = make_batch(make_spec(max_episode_length=5))
    np.testing.assert_array_equal(
        batch.padded_rewards, [[1, 2, 3, 0, 0], [4, 0, 0, 0, 0], [5, 6, 0, 0, 0]]
    )
    np.testing.assert_array_equal(
        batch.padded_step_types, [[0, 1, 2, -1, -1], [3, -1, -1, -1, -1], [0, 2, -1, -1, -1]]
    )
    np.testing.assert_array_equal(batch.valids.sum(axis=1), [3, 1, 2])
    assert batch.valids.shape == (3, 5)
    assert batch.padded_observations.shape == (3, 5, 3)
    assert batch.padded_env_infos["nested"]["y"].shape == (3, 5)


def test_padding_rejects_episodes_longer_than_max_episode_length() -> None:
    batch = make_batch(make_spec(max_episode_length=2))
    message = re.escape(
        "lengths has maximum 3 but must have at most 2 to match env_spec.max_episode_length"
    )
    with pytest.raises(ValueError, match=message):
        _ = batch.padded_rewards
    with pytest.raises(ValueError, match=message):
        _ = batch.valids


# ------------------------------------------------------------------------------------------------
# concatenate / split / to_list / from_list


def test_split_gives_one_batch_per_episode() -> None:
    parts = make_batch().split()
    assert [len(p.lengths) for p in parts] == [1, 1, 1]
    np.testing.assert_array_equal(parts[1].observations, [[9, 10, 11]])
    np.testing.assert_array_equal(parts[1].last_observations, [[103, 104, 105]])
    np.testing.assert_array_equal(parts[1].step_types, [TO])
    np.testing.assert_array_equal(parts[2].rewards, [5, 6])
    assert_nested_equal(parts[2].env_infos, {"x": [4, 5], "nested": {"y": [8, 10]}})
    assert_nested_equal(parts[2].episode_infos, {"seed": [12], "domain_param": {"mass": [2.0]}})


def test_concatenate_split_round_trip() -> None:
    batch = make_batch()
    assert_batches_equal(EpisodeBatch.concatenate(*batch.split()), batch)


def test_concatenate_two_batches() -> None:
    batch = make_batch()
    both = EpisodeBatch.concatenate(batch, batch)
    np.testing.assert_array_equal(both.lengths, [3, 1, 2, 3, 1, 2])
    np.testing.assert_array_equal(both.episode_infos["seed"], [10, 11, 12, 10, 11, 12])
    np.testing.assert_array_equal(both.next_observations[:6], batch.next_observations)
    np.testing.assert_array_equal(both.next_observations[6:], batch.next_observations)
    assert both.env_spec is batch.env_spec


def test_concatenate_without_batches_raises() -> None:
    with pytest.raises(ValueError, match="concatenate\\(\\) needs at least one EpisodeBatch"):
        EpisodeBatch.concatenate()


def test_concatenate_rejects_non_batches() -> None:
    with pytest.raises(TypeError, match=re.escape("batches[1] must be an EpisodeBatch, got dict")):
        EpisodeBatch.concatenate(make_batch(), {})  # type: ignore[arg-type]


def test_concatenate_names_missing_info_keys() -> None:
    batch = make_batch()
    other = dataclasses.replace(batch, env_infos={"x": np.arange(6), "z": np.arange(6)})
    message = re.escape(
        "batches[1].env_infos has keys ['x', 'z'] but must have ['nested', 'x'] to match "
        "batches[0].env_infos (missing ['nested'], extra ['z'])"
    )
    with pytest.raises(ValueError, match=message):
        EpisodeBatch.concatenate(batch, other)


def test_concatenate_names_missing_nested_info_keys() -> None:
    batch = make_batch()
    other = dataclasses.replace(batch, episode_infos={"seed": np.arange(3), "domain_param": {}})
    with pytest.raises(ValueError, match=re.escape("missing ['mass']")) as info:
        EpisodeBatch.concatenate(batch, other)
    assert "batches[1].episode_infos['domain_param'] has keys []" in str(info.value)


def test_to_list_values() -> None:
    episodes = make_batch().to_list()
    assert len(episodes) == 3
    assert set(episodes[0]) == {
        "episode_infos", "observations", "next_observations", "actions", "rewards",
        "agent_infos", "env_infos", "step_types",
    }  # fmt: skip
    ep = episodes[2]
    np.testing.assert_array_equal(ep["observations"], [[12, 13, 14], [15, 16, 17]])
    np.testing.assert_array_equal(ep["next_observations"], [[15, 16, 17], [106, 107, 108]])
    np.testing.assert_array_equal(ep["actions"], [[8, 9], [10, 11]])
    np.testing.assert_array_equal(ep["rewards"], [5, 6])
    np.testing.assert_array_equal(ep["step_types"], [F, TE])
    assert_nested_equal(ep["env_infos"], {"x": [4, 5], "nested": {"y": [8, 10]}})
    assert_nested_equal(ep["agent_infos"], {"h": [[8, 9], [10, 11]]})


def test_to_list_gives_each_episode_its_own_episode_infos() -> None:
    # garage put the whole batch's episode_infos into every episode's dict.
    episodes = make_batch().to_list()
    for ep, (seed, mass) in zip(episodes, [(10, 1.0), (11, 1.5), (12, 2.0)], strict=True):
        assert_nested_equal(ep["episode_infos"], {"seed": seed, "domain_param": {"mass": mass}})


def test_from_list_to_list_round_trip() -> None:
    batch = make_batch()
    assert_batches_equal(EpisodeBatch.from_list(batch.env_spec, batch.to_list()), batch)


def _path(obs: np.ndarray, **extra: Any) -> dict[str, Any]:
    t = 2
    return {
        "observations": obs,
        "actions": np.zeros((t, 2)),
        "rewards": np.ones(t),
        "step_types": np.array([F, TO]),
        **extra,
    }


def test_from_list_last_observation_cases() -> None:
    obs3 = np.array([[0.0, 0, 0], [1, 1, 1], [2, 2, 2]])
    paths = [
        # 1. T + 1 observations: the extra one is the last observation.
        _path(obs3),
        # 2. T observations and next_observations: the last next observation.
        _path(obs3[:2], next_observations=np.array([[1.0, 1, 1], [9, 9, 9]])),
        # 3. T observations only: the last observation is duplicated (garage's leniency).
        _path(obs3[:2]),
    ]
    batch = EpisodeBatch.from_list(make_spec(), paths)
    np.testing.assert_array_equal(batch.last_observations, [[2, 2, 2], [9, 9, 9], [1, 1, 1]])
    np.testing.assert_array_equal(batch.observations, np.tile(obs3[:2], (3, 1)))
    np.testing.assert_array_equal(batch.lengths, [2, 2, 2])
    assert batch.episode_infos == {}
    assert batch.env_infos == {}
    assert batch.agent_infos == {}


def test_from_list_errors() -> None:
    spec = make_spec()
    obs3 = np.zeros((3, 3))
    with pytest.raises(ValueError, match="paths must hold at least one episode"):
        EpisodeBatch.from_list(spec, [])
    with pytest.raises(TypeError, match=re.escape("paths[1] must be a dict, got int")):
        EpisodeBatch.from_list(spec, [_path(obs3), 3])  # type: ignore[list-item]
    with pytest.raises(
        TypeError, match=re.escape("paths[0]['episode_infos'] must be a dict, got int")
    ):
        EpisodeBatch.from_list(spec, [{**_path(obs3), "episode_infos": 3}])
    with pytest.raises(
        TypeError, match="paths must be a list of dicts, one per episode, got a dict"
    ):
        EpisodeBatch.from_list(spec, _path(obs3))  # type: ignore[arg-type]
    path = _path(obs3)
    del path["step_types"]
    with pytest.raises(ValueError, match=re.escape("paths[1] is missing key 'step_types'")):
        EpisodeBatch.from_list(spec, [_path(obs3), path])
    # garage's older paths carry 'dones': named, with the way to step types (the message was
    # only "missing key 'step_types'").
    with pytest.raises(
        ValueError,
        match=re.escape(
            "paths[1] must have the key 'step_types', got 'dones' instead (garage read them as "
            "TERMINAL / MID, taking every time limit for a termination); build "
            "path['step_types'] = gymsamp.data.step_types_from_flags(terminated, truncated)"
        ),
    ):
        EpisodeBatch.from_list(spec, [_path(obs3), {**path, "dones": np.array([False, True])}])
    with pytest.raises(
        ValueError,
        match=re.escape(
            "paths[0]['observations'] has length 5 but must have 2 or 3 to match "
            "len(paths[0]['rewards'])"
        ),
    ):
        EpisodeBatch.from_list(spec, [_path(np.zeros((5, 3)))])
    with pytest.raises(
        ValueError, match=re.escape("paths[0]['rewards'] must hold at least one step")
    ):
        EpisodeBatch.from_list(spec, [{**_path(obs3[:1]), "rewards": np.zeros(0)}])
    with pytest.raises(
        ValueError,
        match=re.escape("paths[1]['env_infos'] has keys [] but must have ['a']"),
    ):
        EpisodeBatch.from_list(spec, [_path(obs3, env_infos={"a": np.zeros(2)}), _path(obs3)])
    with pytest.raises(
        ValueError,
        match=re.escape("paths[0]['next_observations'] has batch dimension 3 but must have 2"),
    ):
        EpisodeBatch.from_list(spec, [_path(obs3[:2], next_observations=obs3)])


@pytest.mark.parametrize(
    ("index", "changes", "message"),
    [
        (
            1,
            {"observations": np.zeros((3, 4))},
            "paths[1]['observations'] has item shape (4,) but must have (3,) to match "
            "env_spec.observation_space",
        ),
        (
            0,
            {"observations": np.zeros((2, 3)), "next_observations": np.zeros((2, 4))},
            "paths[0]['next_observations'] has item shape (4,) but must have (3,) to match "
            "paths[0]['observations']",
        ),
        (
            1,
            {"actions": 0.0, "rewards": [1.0], "observations": np.zeros((2, 3)), "step_types": [2]},
            "paths[1]['actions'] has shape () but must have batch dimension 1 to match "
            "len(paths[1]['rewards'])",
        ),
        (
            0,
            {"actions": np.zeros((3, 2))},
            "paths[0]['actions'] has batch dimension 3 but must have 2 to match "
            "len(paths[0]['rewards'])",
        ),
        (
            0,
            {"actions": np.zeros((2, 2, 1))},
            "paths[0]['actions'] has item shape (2, 1) but must have (2,) to match "
            "env_spec.action_space",
        ),
        (
            1,
            {"rewards": np.ones((2, 1))},
            "paths[1]['rewards'] has item shape (1,) but must have () to match "
            "one scalar reward per step",
        ),
        (
            1,
            {"step_types": [F, M, TO]},
            "paths[1]['step_types'] has batch dimension 3 but must have 2 to match "
            "len(paths[1]['rewards'])",
        ),
    ],
)
def test_from_list_names_the_path_of_a_wrong_array(
    index: int, changes: dict[str, Any], message: str
) -> None:
    # These were numpy's concatenation errors, naming no path.
    paths = [_path(np.zeros((3, 3))), _path(np.zeros((3, 3)))]
    paths[index] = {**paths[index], **changes}
    with pytest.raises(ValueError, match=re.escape(message)):
        EpisodeBatch.from_list(make_spec(), paths)


def test_from_list_compares_shapes_with_the_first_path_where_the_space_has_none() -> None:
    from gymnasium.spaces import Tuple

    spec = EnvSpec(Box(-1.0, 1.0, (3,)), Tuple((Discrete(2), Discrete(2))))
    paths = [_path(np.zeros((3, 3))), _path(np.zeros((3, 3)), actions=np.zeros((2, 3)))]
    with pytest.raises(
        ValueError,
        match=re.escape(
            "paths[1]['actions'] has item shape (3,) but must have (2,) to match "
            "paths[0]['actions']"
        ),
    ):
        EpisodeBatch.from_list(spec, paths)


def test_from_list_accepts_any_iterable_of_paths() -> None:
    batch = make_batch()
    rebuilt = EpisodeBatch.from_list(batch.env_spec, (path for path in batch.to_list()))
    assert_batches_equal(rebuilt, batch)
    with pytest.raises(ValueError, match="paths must hold at least one episode"):
        EpisodeBatch.from_list(batch.env_spec, iter([]))
    with pytest.raises(
        TypeError, match="paths must be a list of dicts, one per episode, got an EpisodeBatch"
    ):
        EpisodeBatch.from_list(batch.env_spec, batch)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="paths must be a list of dicts, one per episode, got an int"
    ):
        EpisodeBatch.from_list(batch.env_spec, 3)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Content types and concatenation of different specs (DESIGN §8)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rewards", np.array(["a", "b", "c", "d", "e", "f"]), r"rewards must be real numbers, got"),
        ("rewards", np.array([1j] * 6), r"rewards must be real numbers, got dtype complex128"),
        (
            "observations",
            np.full((6, 3), "x"),
            r"observations must be real numbers to match env_spec.observation_space, got dtype",
        ),
        ("last_observations", np.full((3, 3), None), r"last_observations must be real numbers"),
        (
            "actions",
            np.full((6, 2), "a"),
            r"actions must be real numbers to match env_spec.action_space, got dtype <U1",
        ),
    ],
)
def test_non_numeric_content_raises(field: str, value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        EpisodeBatch(**{**batch_kwargs(), field: value})


def test_actions_are_not_checked_against_the_space_values() -> None:
    # garage checks types and shapes only, not that actions lie in the action space.
    spec = EnvSpec(Box(-20.0, 20.0, (2,)), Discrete(3))
    batch = EpisodeBatch(
        spec, {}, np.zeros((3, 2)), np.zeros((1, 2)), np.array([0, 1, 7]), np.ones(3, bool),
        {}, {}, [0, 1, 2], [3],
    )  # fmt: skip
    assert batch.actions.tolist() == [0, 1, 7]


def test_concatenate_refuses_batches_of_different_env_specs() -> None:
    other = make_spec(max_episode_length=9)
    with pytest.raises(
        ValueError,
        match=r"batches\[1\] has env_spec.max_episode_length 9 but must have None to match "
        r"batches\[0\]",
    ):
        EpisodeBatch.concatenate(make_batch(), make_batch(other))
    wider = EnvSpec(Box(-1.0, 1.0, (3,), dtype=np.float64), Box(-1.0, 1.0, (2,)))
    with pytest.raises(ValueError, match=r"batches\[2\] has env_spec.observation_space Box"):
        EpisodeBatch.concatenate(make_batch(), make_batch(), make_batch(wider))
    # Equal specs built separately are fine.
    assert len(EpisodeBatch.concatenate(make_batch(), make_batch(make_spec())).lengths) == 6
