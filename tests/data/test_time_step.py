"""Tests of :mod:`gymsamp.data.time_step`: EnvStep, TimeStep and TimeStepBatch."""

from __future__ import annotations

import collections
import dataclasses
import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from gymnasium.spaces import Box, Discrete, Text

from gymsamp.data.episode_batch import EpisodeBatch
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step_type import STEP_TYPE_DTYPE, StepType
from gymsamp.data.time_step import EnvStep, TimeStep, TimeStepBatch
from tests.data.test_episode_batch import (
    assert_batches_equal,
    assert_nested_equal,
    make_batch,
    make_spec,
)

F, M, TE, TO = StepType.FIRST, StepType.MID, StepType.TERMINAL, StepType.TIMEOUT


def time_step_kwargs(**overrides: Any) -> dict[str, Any]:
    return {
        "env_spec": make_spec(),
        "episode_info": {"seed": 3},
        "observation": np.array([0.0, 1.0, 2.0]),
        "action": np.array([0.5, -0.5]),
        "reward": 1.5,
        "next_observation": np.array([3.0, 4.0, 5.0]),
        "env_info": {"x": 1},
        "agent_info": {"h": np.zeros(2)},
        "step_type": StepType.MID,
        **overrides,
    }


# ------------------------------------------------------------------------------------------------
# TimeStep and EnvStep


@pytest.mark.parametrize(
    ("step_type", "flags"),
    [
        # (first, mid, terminal, timeout, last)
        (F, (True, False, False, False, False)),
        (M, (False, True, False, False, False)),
        (TE, (False, False, True, False, True)),
        (TO, (False, False, False, True, True)),
    ],
)
def test_step_type_flags(step_type: StepType, flags: tuple[bool, ...]) -> None:
    ts = TimeStep(**time_step_kwargs(step_type=step_type))
    assert (ts.first, ts.mid, ts.terminal, ts.timeout, ts.last) == flags
    step = EnvStep(make_spec(), np.zeros(2), 0.0, np.zeros(3), {}, step_type)
    assert (step.first, step.mid, step.terminal, step.timeout, step.last) == flags


def test_time_step_normalizes_fields() -> None:
    ts = TimeStep(**time_step_kwargs(reward=np.float32(2.5), step_type=np.int8(2), action=[1, 2]))
    assert ts.reward == 2.5
    assert type(ts.reward) is float
    assert ts.step_type is StepType.TERMINAL
    np.testing.assert_array_equal(ts.action, [1, 2])
    assert isinstance(ts.action, np.ndarray)


def test_time_step_is_frozen() -> None:
    ts = TimeStep(**time_step_kwargs())
    with pytest.raises(dataclasses.FrozenInstanceError):
        ts.reward = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"reward": "1.0"}, TypeError, "reward must be a real scalar, got str"),
        ({"reward": None}, TypeError, "reward must be a real scalar, got NoneType"),
        ({"reward": 1 + 2j}, TypeError, "reward must be a real scalar"),
        # numpy values that float() took: the complex one without its imaginary part.
        (
            {"reward": np.complex128(1 + 2j)},
            TypeError,
            re.escape("reward must be a real scalar, got np.complex128(1+2j) of dtype complex128"),
        ),
        ({"reward": np.array("1.5")}, TypeError, "reward must be a real scalar, .* dtype <U3"),
        ({"reward": np.array(None, dtype=object)}, TypeError, "reward must be a .* dtype object"),
        ({"reward": np.array("a", dtype=object)}, TypeError, "reward must be a .* dtype object"),
        (
            {"reward": np.timedelta64(5, "s")},
            TypeError,
            "reward must be a real scalar, .* dtype timedelta64",
        ),
        (
            {"reward": np.array([1.0])},
            ValueError,
            re.escape("reward must be a scalar, got shape (1,)"),
        ),
        ({"step_type": "MID"}, TypeError, "step_type must be a StepType, got str"),
        ({"step_type": True}, TypeError, "step_type must be a StepType, got bool"),
        (
            {"step_type": 5},
            ValueError,
            re.escape(
                "step_type has value 5 but must have a value in [0, 1, 2, 3] to match StepType"
            ),
        ),
        (
            {"observation": np.zeros(2)},
            ValueError,
            re.escape(
                "observation has item shape (2,) but must have (3,) "
                "to match env_spec.observation_space"
            ),
        ),
        (
            {"next_observation": np.zeros(4)},
            ValueError,
            re.escape("next_observation has item shape (4,) but must have (3,)"),
        ),
        (
            {"action": np.zeros(3)},
            ValueError,
            re.escape(
                "action has item shape (3,) but must have (2,) to match env_spec.action_space"
            ),
        ),
        ({"env_info": None}, TypeError, "env_info must be a dict, got NoneType"),
        ({"agent_info": [1]}, TypeError, "agent_info must be a dict, got list"),
        ({"episode_info": 3}, TypeError, "episode_info must be a dict, got int"),
        (
            {"env_spec": None},
            TypeError,
            r"env_spec must be a gymsamp.data.EnvSpec \(e.g. EnvSpec.from_env\(env\)\), "
            "got NoneType",
        ),
    ],
)
def test_time_step_validation(overrides: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        TimeStep(**time_step_kwargs(**overrides))


def test_env_step_validation() -> None:
    spec = make_spec()
    with pytest.raises(ValueError, match=re.escape("observation has item shape (2,)")):
        EnvStep(spec, np.zeros(2), 0.0, np.zeros(2), {}, M)
    with pytest.raises(TypeError, match="reward must be a real scalar"):
        EnvStep(spec, np.zeros(2), "x", np.zeros(3), {}, M)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step_type has value 9"):
        EnvStep(spec, np.zeros(2), 0.0, np.zeros(3), {}, 9)  # type: ignore[arg-type]


def test_from_env_step() -> None:
    spec = make_spec()
    env_step = EnvStep(spec, np.array([1.0, 2.0]), 0.25, np.array([7.0, 8.0, 9.0]), {"e": 1}, TE)
    ts = TimeStep.from_env_step(env_step, np.array([4.0, 5.0, 6.0]), {"a": 2}, {"seed": 5})
    assert ts.env_spec is spec
    np.testing.assert_array_equal(ts.observation, [4, 5, 6])
    np.testing.assert_array_equal(ts.next_observation, [7, 8, 9])
    np.testing.assert_array_equal(ts.action, [1, 2])
    assert ts.reward == 0.25
    assert ts.env_info == {"e": 1}
    assert ts.agent_info == {"a": 2}
    assert ts.episode_info == {"seed": 5}
    assert ts.step_type is TE
    assert ts.terminal


def test_from_env_step_accepts_duck_typed_steps_and_no_episode_info() -> None:
    spec = EnvSpec(Discrete(4), Discrete(2))
    env_step = SimpleNamespace(
        env_spec=spec, action=1, reward=np.float64(-1.0), observation=3, env_info={}, step_type=0
    )
    ts = TimeStep.from_env_step(env_step, 2, agent_info={})
    assert ts.episode_info == {}
    assert ts.first
    assert ts.reward == -1.0
    assert int(ts.observation) == 2
    assert int(ts.next_observation) == 3


# ------------------------------------------------------------------------------------------------
# TimeStepBatch


def batch_kwargs(**overrides: Any) -> dict[str, Any]:
    """Four transitions; observation rows are [3t, 3t+1, 3t+2]."""
    return {
        "env_spec": make_spec(),
        "episode_infos": {
            "seed": np.array([1, 1, 2, 2]),
            "dp": {"m": np.array([0.1, 0.1, 0.2, 0.2])},
        },
        "observations": np.arange(12.0).reshape(4, 3),
        "actions": np.arange(8.0).reshape(4, 2),
        "rewards": np.array([1.0, 2.0, 3.0, 4.0]),
        "next_observations": 50.0 + np.arange(12.0).reshape(4, 3),
        "env_infos": {"x": np.arange(4), "nested": {"y": np.arange(4) * 2}},
        "agent_infos": {"h": np.arange(8).reshape(4, 2)},
        "step_types": np.array([F, TO, F, TE], dtype=STEP_TYPE_DTYPE),
        **overrides,
    }


def make_ts_batch(**overrides: Any) -> TimeStepBatch:
    return TimeStepBatch(**batch_kwargs(**overrides))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("observations", np.zeros((3, 3)), "observations has batch dimension 3 but must have 4 "),
        ("observations", np.zeros((4, 2)), "observations has item shape (2,) but must have (3,) "),
        ("actions", np.zeros((5, 2)), "actions has batch dimension 5 but must have 4 "),
        ("actions", np.zeros((4, 3)), "actions has item shape (3,) but must have (2,) "),
        ("next_observations", np.zeros((2, 3)), "next_observations has batch dimension 2 "),
        ("next_observations", np.zeros((4, 1)), "next_observations has item shape (1,) "),
        ("step_types", np.zeros(3, dtype=np.int8), "step_types has batch dimension 3 "),
        ("step_types", np.array([0, 1, 2, 8]), "step_types has values [8] but must have "),
        ("env_infos", {"x": np.arange(3)}, "env_infos['x'] has batch dimension 3 "),
        ("agent_infos", {"a": {"b": np.arange(5)}}, "agent_infos['a']['b'] has batch dimension 5 "),
        ("episode_infos", {"seed": np.arange(2)}, "episode_infos['seed'] has batch dimension 2 "),
        ("rewards", np.zeros((4, 1)), "rewards must be a non-empty 1-D array"),
        ("rewards", np.zeros(0), "rewards must be a non-empty 1-D array"),
    ],
)
def test_time_step_batch_validation(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        TimeStepBatch(**batch_kwargs(**{field: value}))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("observations", np.zeros((3, 3)), "observations has batch dimension 3 but must have 4 "),
        ("env_infos", {"x": np.arange(3)}, "env_infos['x'] has batch dimension 3 but must have 4 "),
        (
            "step_types",
            np.zeros(5, dtype=np.int8),
            "step_types has batch dimension 5 but must have 4 ",
        ),
    ],
)
def test_time_step_batch_batch_messages_name_the_reference(
    field: str, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message + "to match len(rewards)") + "$"):
        TimeStepBatch(**batch_kwargs(**{field: value}))


def test_time_step_batch_full_messages() -> None:
    cases = [
        (
            {"observations": np.zeros((4, 2))},
            "observations has item shape (2,) but must have (3,) to match "
            "env_spec.observation_space",
        ),
        (
            {"actions": np.zeros((4, 3))},
            "actions has item shape (3,) but must have (2,) to match env_spec.action_space",
        ),
        (
            {"step_types": np.array([0, 1, 2, 8])},
            "step_types has values [8] but must have values in [0, 1, 2, 3] to match StepType",
        ),
        (
            {"rewards": np.zeros((4, 1))},
            "rewards must be a non-empty 1-D array with one reward per transition, "
            "got shape (4, 1)",
        ),
    ]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=re.escape(message) + "$"):
            TimeStepBatch(**batch_kwargs(**overrides))


def test_time_step_batch_type_errors() -> None:
    with pytest.raises(TypeError, match="env_infos must be a dict, got list"):
        make_ts_batch(env_infos=[])
    with pytest.raises(TypeError, match="env_spec must be a gymsamp.data.EnvSpec"):
        make_ts_batch(env_spec={})
    with pytest.raises(TypeError, match="step_types must hold integers or StepType members"):
        make_ts_batch(step_types=np.zeros(4))


def test_time_step_batch_stores_int8_step_types() -> None:
    batch = make_ts_batch(step_types=[F, TO, F, TE])
    assert batch.step_types.dtype == np.int8
    np.testing.assert_array_equal(batch.step_types, [0, 3, 0, 2])


def test_time_step_batch_concatenate_split_round_trip() -> None:
    batch = make_ts_batch()
    parts = batch.split()
    assert len(parts) == 4
    np.testing.assert_array_equal(parts[2].observations, [[6, 7, 8]])
    np.testing.assert_array_equal(parts[2].rewards, [3.0])
    assert_nested_equal(parts[3].env_infos, {"x": [3], "nested": {"y": [6]}})
    assert_batches_equal(TimeStepBatch.concatenate(*parts), batch)


def test_time_step_batch_concatenate_errors() -> None:
    with pytest.raises(
        ValueError, match=re.escape("concatenate() needs at least one TimeStepBatch")
    ):
        TimeStepBatch.concatenate()
    other = make_ts_batch(agent_infos={})
    with pytest.raises(
        ValueError,
        match=re.escape(
            "batches[1].agent_infos has keys [] but must have ['h'] to match "
            "batches[0].agent_infos (missing ['h'], extra [])"
        ),
    ):
        TimeStepBatch.concatenate(make_ts_batch(), other)
    with pytest.raises(TypeError, match=re.escape("batches[0] must be a TimeStepBatch")):
        TimeStepBatch.concatenate(make_batch())  # type: ignore[arg-type]


def test_to_time_step_list_values() -> None:
    samples = make_ts_batch().to_time_step_list()
    assert len(samples) == 4
    sample = samples[1]
    assert set(sample) == {
        "episode_infos", "observations", "actions", "rewards", "next_observations",
        "env_infos", "agent_infos", "step_types",
    }  # fmt: skip
    # garage's layout: every value keeps a batch dimension of length 1.
    np.testing.assert_array_equal(sample["observations"], [[3, 4, 5]])
    np.testing.assert_array_equal(sample["next_observations"], [[53, 54, 55]])
    np.testing.assert_array_equal(sample["actions"], [[2, 3]])
    np.testing.assert_array_equal(sample["rewards"], [2.0])
    np.testing.assert_array_equal(sample["step_types"], [TO])
    assert_nested_equal(sample["episode_infos"], {"seed": [1], "dp": {"m": [0.1]}})
    assert_nested_equal(sample["env_infos"], {"x": [1], "nested": {"y": [2]}})
    assert_nested_equal(sample["agent_infos"], {"h": [[2, 3]]})


def test_from_time_step_list_round_trip() -> None:
    batch = make_ts_batch()
    rebuilt = TimeStepBatch.from_time_step_list(batch.env_spec, batch.to_time_step_list())
    assert_batches_equal(rebuilt, batch)


def test_from_time_step_list_accepts_time_steps() -> None:
    spec = make_spec()
    steps = [
        TimeStep(**time_step_kwargs(reward=1.0, step_type=F, agent_info={"h": np.array([1, 2])})),
        TimeStep(**time_step_kwargs(reward=2.0, step_type=TE, agent_info={"h": np.array([3, 4])})),
    ]
    batch = TimeStepBatch.from_time_step_list(spec, steps)
    np.testing.assert_array_equal(batch.rewards, [1.0, 2.0])
    np.testing.assert_array_equal(batch.step_types, [F, TE])
    np.testing.assert_array_equal(batch.observations, [[0, 1, 2], [0, 1, 2]])
    assert_nested_equal(batch.episode_infos, {"seed": [3, 3]})
    assert_nested_equal(batch.env_infos, {"x": [1, 1]})
    assert_nested_equal(batch.agent_infos, {"h": [[1, 2], [3, 4]]})


def test_from_time_step_list_errors() -> None:
    spec = make_spec()
    with pytest.raises(ValueError, match="ts_samples must hold at least one time step"):
        TimeStepBatch.from_time_step_list(spec, [])
    sample = make_ts_batch().to_time_step_list()[0]
    del sample["actions"]
    with pytest.raises(ValueError, match=re.escape("ts_samples[0] is missing key 'actions'")):
        TimeStepBatch.from_time_step_list(spec, [sample])
    with pytest.raises(TypeError, match=re.escape("ts_samples[0] must be a dict or a TimeStep")):
        TimeStepBatch.from_time_step_list(spec, [3])  # type: ignore[list-item]
    infos = {"env_infos": 3}
    with pytest.raises(TypeError, match=re.escape("ts_samples[0]['env_infos'] must be a dict")):
        TimeStepBatch.from_time_step_list(spec, [{**sample_with_actions(), **infos}])
    nested, flat = ({"a": {"b": np.zeros(1)}}, {"a": np.zeros(1)})
    for first, second, kind in ((nested, flat, "a dict"), (flat, nested, "an array")):
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"ts_samples[1]['env_infos']['a'] must be {kind} to match "
                "ts_samples[0]['env_infos']['a']"
            ),
        ):
            TimeStepBatch.from_time_step_list(
                spec,
                [
                    {**sample_with_actions(), "env_infos": first},
                    {**sample_with_actions(), "env_infos": second},
                ],
            )


def sample_with_actions() -> dict[str, Any]:
    """One transition of :func:`make_ts_batch` as a dict sample, without infos."""
    sample = make_ts_batch().to_time_step_list()[0]
    return {k: v for k, v in sample.items() if not k.endswith("_infos")}


def test_an_empty_step_types_list_is_a_batch_dimension_error_not_a_dtype_one() -> None:
    # np.asarray([]) is float64: read as such it was "must hold integers ... float64".
    batch = make_ts_batch()
    with pytest.raises(
        ValueError, match=re.escape("step_types has batch dimension 0 but must have")
    ):
        dataclasses.replace(batch, step_types=[])


@pytest.mark.parametrize(
    ("index", "changes", "message"),
    [
        (
            1,
            {"rewards": 1.0},
            "ts_samples[1]['rewards'] must be a 1-D array with one reward per transition, "
            "got shape ()",
        ),
        (
            1,
            {"observations": np.zeros((1, 4))},
            "ts_samples[1]['observations'] has item shape (4,) but must have (3,) to match "
            "env_spec.observation_space",
        ),
        (
            0,
            {"actions": np.zeros(2)},
            "ts_samples[0]['actions'] has batch dimension 2 but must have 1 to match "
            "len(ts_samples[0]['rewards'])",
        ),
        (
            0,
            {"next_observations": np.zeros(3)},
            "ts_samples[0]['next_observations'] has batch dimension 3 but must have 1 to match "
            "len(ts_samples[0]['rewards'])",
        ),
        (
            1,
            {"step_types": [[1]]},
            "ts_samples[1]['step_types'] has item shape (1,) but must have () to match "
            "one step type per transition",
        ),
    ],
)
def test_from_time_step_list_names_the_sample_of_a_wrong_array(
    index: int, changes: dict[str, Any], message: str
) -> None:
    # These were numpy's concatenation errors, naming no sample.
    samples = make_ts_batch().to_time_step_list()[:2]
    samples[index] = {**samples[index], **changes}
    with pytest.raises(ValueError, match=re.escape(message)):
        TimeStepBatch.from_time_step_list(make_spec(), samples)


def test_from_time_step_list_takes_any_iterable_but_no_single_sample() -> None:
    batch = make_ts_batch()
    rebuilt = TimeStepBatch.from_time_step_list(
        batch.env_spec, (s for s in batch.to_time_step_list())
    )
    assert_batches_equal(rebuilt, batch)
    sample = batch.to_time_step_list()[0]
    with pytest.raises(
        TypeError,
        match=re.escape(
            "ts_samples must be a list of dicts or TimeSteps, one per time step, got a dict; "
            "wrap a single dict in a list"
        ),
    ):
        TimeStepBatch.from_time_step_list(batch.env_spec, sample)  # type: ignore[arg-type]
    step = TimeStep(**time_step_kwargs())
    with pytest.raises(TypeError, match=re.escape("got a TimeStep; wrap a single TimeStep in a")):
        TimeStepBatch.from_time_step_list(batch.env_spec, step)  # type: ignore[arg-type]


def test_from_episode_batch_values() -> None:
    episodes = make_batch()  # lengths [3, 1, 2]; last observations start at 100
    batch = TimeStepBatch.from_episode_batch(episodes)
    np.testing.assert_array_equal(batch.observations, episodes.observations)
    # At every episode end the next observation is that episode's last observation, never the
    # next episode's first observation (rows 3 and 4 of observations).
    np.testing.assert_array_equal(
        batch.next_observations,
        [[3, 4, 5], [6, 7, 8], [100, 101, 102], [103, 104, 105], [15, 16, 17], [106, 107, 108]],
    )
    np.testing.assert_array_equal(batch.rewards, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(batch.step_types, [F, M, TE, TO, F, TE])
    # Episode infos are repeated for every step of their episode.
    assert_nested_equal(
        batch.episode_infos,
        {"seed": [10, 10, 10, 11, 12, 12], "domain_param": {"mass": [1, 1, 1, 1.5, 2, 2]}},
    )
    assert_nested_equal(batch.env_infos, episodes.env_infos)
    assert_nested_equal(batch.agent_infos, episodes.agent_infos)


def test_from_episode_batch_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="batch must be an EpisodeBatch, got TimeStepBatch"):
        TimeStepBatch.from_episode_batch(make_ts_batch())  # type: ignore[arg-type]


def test_discrete_spaces() -> None:
    spec = EnvSpec(Discrete(10), Discrete(2))
    batch = TimeStepBatch(
        env_spec=spec,
        episode_infos={},
        observations=np.array([0, 1]),
        actions=np.array([1, 0]),
        rewards=np.array([0.0, 1.0]),
        next_observations=np.array([1, 2]),
        env_infos={},
        agent_infos={},
        step_types=np.array([F, TO]),
    )
    np.testing.assert_array_equal(batch.next_observations, [1, 2])
    with pytest.raises(
        ValueError, match=re.escape("observations has item shape (1,) but must have ()")
    ):
        dataclasses.replace(batch, observations=np.zeros((2, 1), dtype=int))
    box = EnvSpec(Box(-1.0, 1.0, (2, 2)), Discrete(2))
    with pytest.raises(
        ValueError, match=re.escape("observation has item shape (4,) but must have (2, 2)")
    ):
        TimeStep(**time_step_kwargs(env_spec=box, observation=np.zeros(4), action=1))


# ------------------------------------------------------------------------------------------------
# namedtuple behaviour (garage's types were namedtuples)


def test_garage_types_behave_like_their_namedtuples() -> None:
    ts = TimeStep(**time_step_kwargs())
    names = (
        "env_spec",
        "episode_info",
        "observation",
        "action",
        "reward",
        "next_observation",
        "env_info",
        "agent_info",
        "step_type",
    )
    assert TimeStep._fields == ts._fields == names
    assert len(ts) == len(names)
    env_spec, episode_info, observation, *_, step_type = ts  # unpacking, in field order
    assert observation is ts.observation
    assert env_spec is ts.env_spec
    assert episode_info == {"seed": 3}
    assert step_type is StepType.MID
    assert ts[4] == 1.5
    assert ts[-1] is StepType.MID
    assert ts.index(ts.env_spec) == 0  # identity first, as for tuples
    # count compares every field with == as tuple.count does: array fields make that ambiguous
    # for garage's namedtuples too.
    as_namedtuple = collections.namedtuple("TimeStep", names)(*ts)
    for counted in (ts, as_namedtuple):
        with pytest.raises(ValueError, match="truth value of an array"):
            counted.count(1.5)
    assert list(ts._asdict()) == list(names)
    assert ts._asdict()["reward"] == 1.5
    changed = ts._replace(reward=np.float32(4.0), step_type=2)
    assert (changed.reward, changed.step_type, ts.reward) == (4.0, StepType.TERMINAL, 1.5)
    with pytest.raises(ValueError, match="observation"):  # _replace validates like __init__
        ts._replace(observation=np.zeros(7))
    assert not isinstance(ts, tuple)
    batch = make_ts_batch()
    assert TimeStepBatch._fields[:3] == ("env_spec", "episode_infos", "observations")
    assert batch[2] is batch.observations
    episodes = make_batch()
    assert EpisodeBatch._fields == tuple(episodes._asdict())
    assert episodes[EpisodeBatch._fields.index("lengths")] is episodes.lengths


# ------------------------------------------------------------------------------------------------
# Content types, wrong objects and specs that differ (DESIGN §8)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "action",
            np.array(["a", "b"]),
            r"action must be real numbers to match env_spec.action_space, got dtype <U1",
        ),
        ("observation", np.array(["a", "b", "c"]), r"observation must be real numbers to match"),
        ("next_observation", np.full(3, None), r"next_observation must be real numbers"),
        ("reward", "1.0", r"reward must be a real scalar, got str"),
    ],
)
def test_time_step_refuses_non_numeric_content(field: str, value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        TimeStep(**time_step_kwargs(**{field: value}))


def test_env_step_refuses_a_string_action() -> None:
    spec = EnvSpec(Box(-1.0, 1.0, (2,)), Discrete(2))
    with pytest.raises(TypeError, match=r"action must be real numbers to match env_spec"):
        EnvStep(spec, "a", 0.0, np.zeros(2), {}, StepType.MID)
    # Values outside the action space are not checked (garage does not check them either).
    assert EnvStep(spec, np.int64(7), 0.0, np.zeros(2), {}, StepType.MID).action == 7


def test_a_text_observation_space_takes_strings() -> None:
    # Only numeric spaces require real numbers: a Text space's observations are strings.
    spec = EnvSpec(Text(5), Discrete(2))
    ts = TimeStep(
        **time_step_kwargs(env_spec=spec, observation="abc", next_observation="abd", action=1)
    )
    assert (ts.observation.item(), ts.next_observation.item()) == ("abc", "abd")
    assert EnvStep(spec, 1, 0.0, "x", {}, StepType.FIRST).observation.item() == "x"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rewards", np.array(["a", "b", "c", "d"]), r"rewards must be real numbers, got dtype"),
        ("actions", np.full((4, 2), "a"), r"actions must be real numbers to match env_spec"),
        ("next_observations", np.full((4, 3), None), r"next_observations must be real numbers"),
    ],
)
def test_time_step_batch_refuses_non_numeric_content(field: str, value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        TimeStepBatch(**batch_kwargs(**{field: value}))


def test_tuple_observations_are_refused_like_dict_ones() -> None:
    # A Tuple space's value gave numpy's "setting an array element with a sequence".
    from gymnasium.spaces import Tuple

    spec = EnvSpec(Tuple((Box(-1.0, 1.0, (2,)), Discrete(3))), Discrete(2))
    obs = (np.zeros(2, np.float32), 1)
    message = re.escape(
        "observation must be array-like (of one shape), got a tuple whose entries differ in "
        "shape or type"
    )
    with pytest.raises(TypeError, match=message):
        TimeStep(spec, {}, obs, 1, 0.0, obs, {}, {}, StepType.MID)
    with pytest.raises(TypeError, match=message):
        EnvStep(spec, 1, 0.0, obs, {}, StepType.MID)


def test_from_env_step_refuses_what_is_no_env_step() -> None:
    with pytest.raises(TypeError, match=r"env_step must be an EnvStep .* got NoneType$"):
        TimeStep.from_env_step(None, np.zeros(3), agent_info={})  # type: ignore[arg-type]
    partial = SimpleNamespace(env_spec=make_spec(), action=np.zeros(2))
    with pytest.raises(TypeError, match=r"got SimpleNamespace lacking \['reward', 'observation'"):
        TimeStep.from_env_step(partial, np.zeros(3), agent_info={})  # type: ignore[arg-type]


def test_from_env_step_refuses_non_dict_infos() -> None:
    env_step = EnvStep(make_spec(), np.zeros(2), 1.0, np.zeros(3), {}, StepType.MID)
    with pytest.raises(TypeError, match=r"agent_info must be a dict, got NoneType"):
        TimeStep.from_env_step(env_step, np.zeros(3), agent_info=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"episode_info must be a dict, got list"):
        TimeStep.from_env_step(env_step, np.zeros(3), {}, episode_info=[1])  # type: ignore[arg-type]


def test_time_step_batch_concatenate_refuses_different_env_specs() -> None:
    other = make_ts_batch(env_spec=make_spec(max_episode_length=5))
    with pytest.raises(
        ValueError, match=r"batches\[1\] has env_spec.max_episode_length 5 but must have None"
    ):
        TimeStepBatch.concatenate(make_ts_batch(), other)
