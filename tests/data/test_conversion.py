import re

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.data import EnvSpec, EpisodeBatch, StepSequence, StepType
from gymsamp.data.io import load_episode_batch, save_episode_batch
from tests.data.test_step_sequence import make_rollout
from tests.helpers import assert_tree_equal

SPEC = EnvSpec(gym.spaces.Box(-np.inf, np.inf, (3,), np.float64), gym.spaces.Discrete(2))


@pytest.fixture
def rollouts():
    parts = [
        make_rollout(3, seed=1, end="terminal", info={"seed": 0, "dp": {"mass": 1.0}}),
        make_rollout(4, seed=2, end="timeout", info={"seed": 1, "dp": {"mass": 2.0}}, offset=9),
        make_rollout(2, seed=3, end="none", info={"seed": 2, "dp": {"mass": 3.0}}, offset=50),
    ]
    for i, part in enumerate(parts):
        part.add_data("values", np.arange(part.length + 1.0) + 10 * i)
    # Both flags on the last step: the step type says TERMINAL, the flags must survive anyway.
    parts[0]._truncated[-1] = True
    return parts


def test_batch_layout(rollouts):
    batch = EpisodeBatch.from_step_sequences(rollouts, SPEC, agent_info_names=["hidden"])
    assert batch.lengths.tolist() == [3, 4, 2]
    assert batch.step_types.tolist() == [0, 1, 2, 0, 1, 1, 3, 0, 1]
    # last_observations are each episode's true final observation
    assert batch.last_observations[:, 0].tolist() == [3.0, 13.0, 52.0]
    assert batch.episode_infos["dp"]["mass"].tolist() == [1.0, 2.0, 3.0]
    assert batch.episode_infos["last_entries"]["values"].tolist() == [3.0, 14.0, 22.0]
    assert set(batch.agent_infos) == {"hidden"}
    assert set(batch.env_infos) == {"infos", "values", "terminated", "truncated"}
    assert batch.env_infos["truncated"].tolist()[2] is True


def test_round_trip_is_lossless(rollouts):
    batch = EpisodeBatch.from_step_sequences(
        [StepSequence.concat(rollouts)], SPEC, agent_info_names=["hidden"]
    )
    back = batch.to_step_sequences()
    assert len(back) == 3
    for original, restored in zip(rollouts, back, strict=True):
        for name in ("observations", "actions", "rewards", "values", "infos"):
            assert_tree_equal(original.get_data_values(name), restored.get_data_values(name))
        np.testing.assert_array_equal(original.hidden.h, restored.hidden["h"])
        np.testing.assert_array_equal(original.terminated, restored.terminated)
        np.testing.assert_array_equal(original.truncated, restored.truncated)
        assert restored.rollout_info["dp"]["mass"] == original.rollout_info["dp"]["mass"]
    # And back again: the batch is reproduced field by field.
    again = EpisodeBatch.from_step_sequences(back, SPEC, agent_info_names=["hidden"])
    for field in ("observations", "last_observations", "actions", "rewards", "step_types"):
        assert_tree_equal(getattr(batch, field), getattr(again, field))
    assert_tree_equal(batch.env_infos, again.env_infos)
    assert_tree_equal(batch.episode_infos, again.episode_infos)


def test_restored_rollouts_batch_together_with_the_originals(rollouts):
    # to_step_sequences lists the agent infos last; the field order must not matter.
    back = EpisodeBatch.from_step_sequences(
        rollouts, SPEC, agent_info_names=["hidden"]
    ).to_step_sequences()
    assert list(back[0].data_names) != list(rollouts[0].data_names)
    mixed = EpisodeBatch.from_step_sequences(
        [rollouts[0], back[1]], SPEC, agent_info_names=["hidden"]
    )
    assert mixed.lengths.tolist() == [3, 4]
    np.testing.assert_array_equal(
        mixed.agent_infos["hidden"]["h"],
        np.concatenate([rollouts[0].hidden.h, rollouts[1].hidden.h]),
    )
    np.testing.assert_array_equal(mixed.episode_infos["last_entries"]["values"], [3.0, 14.0])


def test_foreign_batch_converts_from_step_types():
    batch = EpisodeBatch(
        env_spec=SPEC,
        episode_infos={},
        observations=np.zeros((3, 3)),
        last_observations=np.ones((1, 3)),
        actions=np.array([0, 1, 0]),
        rewards=np.ones(3),
        env_infos={},
        agent_infos={},
        step_types=[StepType.FIRST, StepType.MID, StepType.TIMEOUT],
        lengths=np.array([3]),
    )
    (ro,) = batch.to_step_sequences()
    assert ro.truncated.tolist() == [False, False, True]
    assert ro.observations[-1].tolist() == [1.0, 1.0, 1.0]
    assert ro.rollout_info is None


def test_slices_starting_mid_rollout_convert_and_come_back(rollouts):
    # A slice that starts mid-rollout keeps its first step's type (MID): from_step_sequences
    # refused it, blaming step types the caller never set; the way back must keep MID too
    # (the rollout bounds alone would make it FIRST).
    concat = StepSequence.concat(rollouts)  # 3 + 4 + 2 steps
    inside, across = concat[1:3], concat[4:8]  # in rollout 0; the middle of 1 into 2
    batch = EpisodeBatch.from_step_sequences([inside, across], SPEC)
    assert batch.lengths.tolist() == [2, 3, 1]
    assert batch.step_types.tolist() == [1, 2, 1, 1, 3, 0]
    back = batch.to_step_sequences()
    assert [ro.step_types.tolist() for ro in back] == [[1, 2], [1, 1, 3], [0]]
    for original, restored in zip([inside, *across.iterate_rollouts()], back, strict=True):
        np.testing.assert_array_equal(original.step_types, restored.step_types)
        np.testing.assert_array_equal(original.observations, restored.observations)
        np.testing.assert_array_equal(original.terminated, restored.terminated)
        np.testing.assert_array_equal(original.truncated, restored.truncated)
    again = EpisodeBatch.from_step_sequences(back, SPEC)
    np.testing.assert_array_equal(again.step_types, batch.step_types)


def test_a_foreign_fragment_converts_with_its_first_step_mid():
    # garage's FragmentWorker: a fragment that continues an episode begins with MID. Its own
    # flags (given or read from the step types) must then not turn that step into FIRST.
    batch = EpisodeBatch(
        ONE_SPEC, {}, np.arange(3.0)[:, None], np.full((1, 1), 9.0), np.zeros(3, int),
        np.zeros(3), {"truncated": np.array([0, 0, 1])}, {}, [1, 1, 3], [3],
    )  # fmt: skip
    (ro,) = batch.to_step_sequences()
    assert ro.step_types.tolist() == [1, 1, 3]
    assert ro.truncated.tolist() == [False, False, True]
    assert ro.observations[:, 0].tolist() == [0.0, 1.0, 2.0, 9.0]


ONE_SPEC = EnvSpec(gym.spaces.Box(-9.0, 9.0, (1,)), gym.spaces.Discrete(2))


def foreign_batch(step_types=(0, 1, 3), episode_infos=None, env_infos=None, agent_infos=None):
    """One episode of three steps, as a batch not made by gymsamp may hold it."""
    return EpisodeBatch(
        ONE_SPEC, episode_infos or {}, np.arange(3.0)[:, None], np.full((1, 1), 9.0),
        np.zeros(3, int), np.zeros(3), env_infos or {}, agent_infos or {}, list(step_types), [3],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("step_types", "env_infos", "terminated", "truncated"),
    [
        # A batch's own flags, the step types agreeing: kept as the flags, both set too.
        ((0, 1, 2), {"terminated": [0, 0, 1], "truncated": [0, 0, 1]}, [0, 0, 1], [0, 0, 1]),
        # One flag alone: the other is read from the step types (was dropped silently).
        ((0, 1, 2), {"terminated": [False, False, True]}, [0, 0, 1], [0, 0, 0]),
        ((0, 1, 3), {"truncated": [0, 0, 1]}, [0, 0, 0], [0, 0, 1]),
        ((0, 1, 2), {"truncated": [0, 0, 1]}, [0, 0, 1], [0, 0, 1]),
    ],
)
def test_env_infos_named_like_the_flags_are_the_flags(step_types, env_infos, terminated, truncated):
    infos = {key: np.array(value) for key, value in env_infos.items()}
    (ro,) = foreign_batch(step_types, env_infos={**infos, "speed": np.ones(3)}).to_step_sequences()
    assert list(ro.data_names) == ["rewards", "observations", "actions", "speed"]
    assert ro.terminated.tolist() == [bool(x) for x in terminated]
    assert ro.truncated.tolist() == [bool(x) for x in truncated]
    assert ro.step_types.tolist() == list(step_types)


@pytest.mark.parametrize(
    ("env_infos", "message"),
    [
        (
            {"terminated": [0, 0, 1], "truncated": [0, 0, 0]},
            "env_infos['terminated'] and env_infos['truncated'] give step type TERMINAL at "
            "index 2 but must give TIMEOUT to match step_types",
        ),
        (
            {"terminated": [0, 1, 0]},
            "env_infos['terminated'] gives step type TERMINAL at index 1 but must give MID to "
            "match step_types",
        ),
        (
            {"truncated": [0, 0, 0.5]},
            "env_infos['truncated'] must hold only bools (or 0/1), got 0.5 at index 2",
        ),
        (
            {"truncated": np.zeros((3, 2))},
            "env_infos['truncated'] must be 1-D flags (one per step), got shape (3, 2)",
        ),
    ],
)
def test_env_infos_named_like_the_flags_must_agree_with_the_step_types(env_infos, message):
    # Both names replaced the step types unchecked: [0, 1, 3] came back as [0, 1, 2].
    infos = {key: np.array(value) for key, value in env_infos.items()}
    with pytest.raises(ValueError, match=re.escape(message)):
        foreign_batch(env_infos=infos).to_step_sequences()


@pytest.mark.parametrize(
    ("where", "key", "error", "message"),
    [
        (
            "env_infos",
            "GymEnv.TimeLimitTerminated",
            ValueError,
            "env_infos key 'GymEnv.TimeLimitTerminated' must be an identifier not starting "
            "with '_' to become a StepSequence field",
        ),
        (
            "agent_infos",
            "_h",
            ValueError,
            "agent_infos key '_h' must be an identifier not starting with '_'",
        ),
        (
            "env_infos",
            "rewards",
            ValueError,
            "env_infos key 'rewards' must not be a name StepSequence reserves",
        ),
        ("env_infos", "done", ValueError, "env_infos key 'done' must not be a name StepSequence"),
        ("env_infos", "complete", ValueError, "env_infos key 'complete' must not be a name"),
        ("agent_infos", "terminated", ValueError, "agent_infos key 'terminated' must not be a"),
        # An attribute's name: the field would be hidden behind ro.length / ro.count.
        ("env_infos", "length", ValueError, "env_infos key 'length' must not be a name"),
        ("agent_infos", "count", ValueError, "agent_infos key 'count' must not be a name"),
        (
            "env_infos",
            0,
            TypeError,
            "env_infos key 0 must be a str to become a StepSequence field, got int",
        ),
    ],
)
def test_info_keys_that_cannot_be_fields_are_named(where, key, error, message):
    # They were StepSequence's "name must be an identifier", "got multiple values for keyword
    # argument 'rewards'", "keywords must be strings"; 'done' was taken as the done flags.
    batch = foreign_batch(**{where: {key: np.arange(3)}})
    with pytest.raises(error, match=re.escape(message)):
        batch.to_step_sequences()


def test_a_key_in_env_infos_and_agent_infos_is_refused():
    # agent_infos' values silently replaced env_infos'.
    batch = foreign_batch(env_infos={"v": np.zeros(3)}, agent_infos={"v": np.ones(3)})
    with pytest.raises(
        ValueError,
        match=re.escape(
            "env_infos and agent_infos both have the key 'v' but a StepSequence has one field "
            "per name; rename one of them"
        ),
    ):
        batch.to_step_sequences()


@pytest.mark.parametrize(
    ("last_entries", "error", "message"),
    [
        (
            np.array([5]),
            TypeError,
            "episode_infos['last_entries'] must be a dict of the final entries of env_infos / "
            "agent_infos fields (a key gymsamp reserves), got ndarray",
        ),
        (
            {"x": np.array([5])},
            ValueError,
            "episode_infos['last_entries'] has keys ['x'] but must have only keys of env_infos "
            "/ agent_infos ['speed'] (the fields whose final entries it holds)",
        ),
        (
            {"speed": {"a": np.array([5.0])}},
            ValueError,
            "episode_infos['last_entries']['speed'] must have the structure of env_infos['speed']",
        ),
        (
            {"speed": np.ones((1, 2))},
            ValueError,
            "episode_infos['last_entries']['speed'] has item shape (2,) but must have () to "
            "match env_infos['speed']",
        ),
    ],
)
def test_last_entries_must_fit_the_fields(last_entries, error, message):
    # An array was an AttributeError, an unknown key a KeyError.
    batch = foreign_batch(
        episode_infos={"last_entries": last_entries}, env_infos={"speed": np.arange(3.0)}
    )
    with pytest.raises(error, match=re.escape(message)):
        batch.to_step_sequences()


def test_a_rollout_info_key_is_the_whole_info_only_alone():
    # gymsamp stores infos it keeps whole as the only key (besides last_entries); next to other
    # keys, "rollout_info" is one key of the info dict (it replaced the whole info).
    (ro,) = foreign_batch(episode_infos={"rollout_info": np.array([5])}).to_step_sequences()
    assert ro.rollout_info == 5
    infos = {"rollout_info": np.array([5]), "seed": np.array([1])}
    (ro,) = foreign_batch(episode_infos=infos).to_step_sequences()
    assert ro.rollout_info == {"rollout_info": 5, "seed": 1}
    rollouts = [make_rollout(2, info={"rollout_info": 5})]
    back = EpisodeBatch.from_step_sequences(rollouts, SPEC).to_step_sequences()
    assert back[0].rollout_info == {"rollout_info": 5}


def test_rollouts_without_final_observation_are_refused(rollouts):
    shuffled = StepSequence.concat(rollouts)[[0, 4]]
    with pytest.raises(ValueError, match=r"rollouts\[0\] must be continuous with T\+1"):
        EpisodeBatch.from_step_sequences([shuffled], SPEC)
    with pytest.raises(ValueError, match="at least one"):
        EpisodeBatch.from_step_sequences([], SPEC)


def test_dict_observations_are_refused_with_a_pointer_to_flattening():
    ro = StepSequence(
        rewards=[1.0], observations={"a": [[0.0], [1.0]], "b": [[2.0], [3.0]]}, actions=[0]
    )
    with pytest.raises(TypeError, match=r"got a dict field.*FlattenObservation"):
        EpisodeBatch.from_step_sequences([ro], SPEC)


def test_episode_batch_save_load_round_trip(tmp_path, rollouts):
    batch = EpisodeBatch.from_step_sequences(rollouts, SPEC, agent_info_names=["hidden"])
    loaded = load_episode_batch(save_episode_batch(tmp_path / "batch.npz", batch))
    assert loaded.env_spec == batch.env_spec
    for field in ("observations", "last_observations", "actions", "rewards", "step_types"):
        assert_tree_equal(getattr(batch, field), getattr(loaded, field))
    for field in ("env_infos", "agent_infos", "episode_infos"):
        assert_tree_equal(getattr(batch, field), getattr(loaded, field))


def test_flat_multi_rollout_sequence_is_refused_with_the_sequences_own_error():
    flat = StepSequence(
        rewards=np.arange(5.0),
        observations=np.arange(6.0)[:, None] * np.ones(3),
        actions=np.zeros(5, dtype=np.int64),
        rollout_bounds=[0, 2, 5],
    )
    with pytest.raises(ValueError, match="the final observations of rollout 0 is unknown") as own:
        flat.next_values("observations")
    with pytest.raises(ValueError, match=r"rollouts\[0\] cannot be converted: ") as converted:
        EpisodeBatch.from_step_sequences([flat], SPEC)
    assert str(converted.value).endswith(str(own.value))


def test_a_plain_tuple_field_becomes_a_dict_keyed_by_its_positions():
    spec = EnvSpec(gym.spaces.Box(-9, 9, (1,)), gym.spaces.Box(-9, 9, (1,)), max_episode_length=10)
    ro = StepSequence(
        rewards=np.ones(2),
        observations=np.zeros((3, 1)),
        actions=np.zeros((2, 1)),
        pair=(np.array([1.0, 2.0]), np.array([3, 4])),
        truncated=[False, True],
    )
    pair = EpisodeBatch.from_step_sequences([ro], spec).env_infos["pair"]
    assert sorted(pair) == ["0", "1"]  # as Python indexes the tuple: from 0
    assert pair["0"].tolist() == [1.0, 2.0]
    assert pair["1"].tolist() == [3, 4]


def test_rollout_info_scalars_come_back_as_python_values():
    infos = [
        {"seed": 1, "name": "a", "ok": True, "x": 2.5, "f32": np.float32(1.5), "l": [1, 2]},
        {"seed": 2, "name": "bc", "ok": False, "x": 0.5, "f32": np.float32(2.5), "l": [3, 4]},
    ]
    parts = [make_rollout(2, seed=i, info=info) for i, info in enumerate(infos)]
    back = EpisodeBatch.from_step_sequences(parts, SPEC).to_step_sequences()
    # float32 can only have come from numpy: it stays numpy. Lists come back as arrays (the
    # batch does not record that they were lists, as the conversion's documentation says).
    types = {"seed": int, "name": str, "ok": bool, "x": float, "f32": np.float32, "l": np.ndarray}
    for original, ro in zip(infos, back, strict=True):
        info = ro.rollout_info
        assert {key: type(value) for key, value in info.items()} == types
        assert {k: v for k, v in info.items() if k != "l"} == {
            k: v for k, v in original.items() if k != "l"
        }
        np.testing.assert_array_equal(info["l"], np.array(original["l"]))
    # Infos that are no dicts are restored the same way.
    plain = [make_rollout(2, seed=i, info=i + 7) for i in range(2)]
    restored = [
        ro.rollout_info for ro in EpisodeBatch.from_step_sequences(plain, SPEC).to_step_sequences()
    ]
    assert restored == [7, 8]
    assert [type(info) for info in restored] == [int, int]


def test_rollout_infos_with_a_final_info_in_some_episodes_keep_their_layout(tmp_path):
    # As the samplers return them: only the rollouts the env ended carry a final_info. The
    # infos were kept whole (episode_infos["rollout_info"]) when some episode had one, so
    # episode_infos["seed"] existed or not depending on how the episodes ended, a batch with
    # final infos did not concatenate with one without, and the Minari export lost the seeds.
    infos = [
        {"seed": 1, "final_info": {"episode": {"r": 2.0, "l": 2}}},
        {"seed": 2},
        {"seed": 3, "final_info": {"episode": {"r": 3.0, "l": 3}, "x": np.arange(2)}},
    ]
    parts = [make_rollout(n, seed=n, info=info) for n, info in zip((2, 5, 3), infos, strict=True)]
    batch = EpisodeBatch.from_step_sequences(parts, SPEC)
    assert batch.episode_infos["seed"].tolist() == [1, 2, 3]
    final = batch.episode_infos["final_info"]
    assert final.dtype == object
    assert final.shape == (3,)
    assert final[1] is None
    assert_tree_equal(final[2], infos[2]["final_info"])
    assert [ep["episode_infos"]["seed"] for ep in batch.to_list()] == [1, 2, 3]
    for restored in (batch, load_episode_batch(save_episode_batch(tmp_path / "b.npz", batch))):
        back = [ro.rollout_info for ro in restored.to_step_sequences()]
        assert_tree_equal(back, infos)  # no final_info where there was none
        back[0]["seed"] = 99  # each conversion hands out its own copies
        back[0]["final_info"]["episode"]["r"] = -1.0
        again = restored.to_step_sequences()[0].rollout_info
        assert again["seed"] == 1
        assert again["final_info"]["episode"]["r"] == 2.0
    assert infos[0]["seed"] == 1  # and the batch never shared the caller's dicts
    without = EpisodeBatch.from_step_sequences(
        [make_rollout(4, seed=4, info={"seed": 4})], SPEC
    )  # no episode with a final info: the same keys
    assert set(without.episode_infos) == set(batch.episode_infos)
    both = EpisodeBatch.concatenate(batch, without, batch)
    back = [ro.rollout_info for ro in both.to_step_sequences()]
    assert_tree_equal(back, [*infos, {"seed": 4}, *infos])


def test_to_list_from_list_round_trip_keeps_the_rollout_info_layout():
    # from_list stacked every episode's final_info dict into {"success": array} (one with
    # None in some episodes failed), so the result no longer concatenated with the original.
    infos = [
        {"seed": 1, "dp": {"m": 1.0}, "ragged": np.zeros(2), "final_info": {"success": True}},
        {"seed": 2, "dp": {"m": 2.0}, "ragged": np.zeros(3)},
        {"seed": 3, "dp": {"m": 3.0}, "ragged": np.ones(2), "final_info": {"x": np.arange(2)}},
    ]
    parts = [make_rollout(n, seed=n, info=info) for n, info in zip((2, 5, 3), infos, strict=True)]
    for part in parts:
        part.add_data("values", np.arange(part.length + 1.0))  # final entries: last_entries
    batch = EpisodeBatch.from_step_sequences(parts, SPEC)
    again = EpisodeBatch.from_list(SPEC, batch.to_list())
    for name in ("final_info", "ragged"):  # one object per episode, as in the batch
        stored = again.episode_infos[name]
        assert (stored.dtype, stored.shape) == (np.dtype(object), (3,))
        for mine, theirs in zip(stored, batch.episode_infos[name], strict=True):
            assert_tree_equal(mine, theirs)
    assert_tree_equal(again.episode_infos["seed"], batch.episode_infos["seed"])
    assert_tree_equal(again.episode_infos["dp"], batch.episode_infos["dp"])
    assert_tree_equal(again.episode_infos["last_entries"], batch.episode_infos["last_entries"])
    assert list(again.episode_infos) == list(batch.episode_infos)
    assert_tree_equal([ro.rollout_info for ro in again.to_step_sequences()], infos)
    both = EpisodeBatch.concatenate(batch, again)
    assert_tree_equal([ro.rollout_info for ro in both.to_step_sequences()], infos * 2)
    # Infos that are no dicts (kept whole) come back the same way.
    plain = EpisodeBatch.from_step_sequences(
        [make_rollout(2, seed=i, info=[i] * (i + 1)) for i in range(2)], SPEC
    )
    again = EpisodeBatch.from_list(SPEC, plain.to_list())
    assert_tree_equal(
        [ro.rollout_info for ro in again.to_step_sequences()],
        [ro.rollout_info for ro in plain.to_step_sequences()],
    )


def test_from_list_still_refuses_episode_infos_of_different_keys():
    batch = EpisodeBatch.from_step_sequences(
        [make_rollout(2, seed=i, info={"seed": i}) for i in range(2)], SPEC
    )
    paths = batch.to_list()
    del paths[1]["episode_infos"]["seed"]
    with pytest.raises(
        ValueError,
        match=re.escape(
            "paths[1]['episode_infos'] has keys ['final_info'] but must have "
            "['final_info', 'seed'] to match paths[0]['episode_infos'] (missing ['seed'], extra [])"
        ),
    ):
        EpisodeBatch.from_list(SPEC, paths)


def test_rollout_infos_with_differing_keys_are_kept_whole(tmp_path):
    infos = [{"seed": 1, "tag": "a"}, {"seed": 2}, {"seed": 3, "tag": "c"}]
    parts = [make_rollout(n, seed=n, info=info) for n, info in zip((2, 5, 3), infos, strict=True)]
    batch = EpisodeBatch.from_step_sequences(parts, SPEC)
    stored = batch.episode_infos["rollout_info"]
    assert stored.dtype == object
    assert stored.shape == (3,)
    assert [ep["episode_infos"]["rollout_info"]["seed"] for ep in batch.to_list()] == [1, 2, 3]
    for restored in (batch, load_episode_batch(save_episode_batch(tmp_path / "b.npz", batch))):
        assert_tree_equal([ro.rollout_info for ro in restored.to_step_sequences()], infos)
    both = EpisodeBatch.concatenate(batch, batch)
    assert [ro.rollout_info["seed"] for ro in both.to_step_sequences()] == [1, 2, 3] * 2


def test_one_sequence_is_taken_as_its_rollouts(rollouts):
    # A concatenation given alone (not in a list) is a batch of its rollouts, not of its steps.
    whole = EpisodeBatch.from_step_sequences(StepSequence.concat(rollouts), SPEC)
    listed = EpisodeBatch.from_step_sequences(rollouts, SPEC)
    assert whole.lengths.tolist() == listed.lengths.tolist() == [3, 4, 2]
    assert_tree_equal(whole.observations, listed.observations)
    assert_tree_equal(whole.episode_infos, listed.episode_infos)


@pytest.mark.parametrize(
    ("names", "error", "message"),
    [
        # A str was matched by substring: "hidden, values" moved both fields.
        (
            "hidden, values",
            TypeError,
            "agent_info_names must be a sequence of field names, not a str, got 'hidden, values'",
        ),
        (
            ["hidden_states"],
            ValueError,
            "agent_info_names has ['hidden_states'] but must name only fields of the rollouts "
            "besides observations, actions and rewards: ['infos', 'hidden', 'values']",
        ),
        (3, TypeError, "agent_info_names must be a sequence of field names, got int"),
    ],
)
def test_agent_info_names_must_name_fields(rollouts, names, error, message):
    # An unknown name moved nothing, silently.
    with pytest.raises(error, match=re.escape(message)):
        EpisodeBatch.from_step_sequences(rollouts, SPEC, agent_info_names=names)


def test_agent_info_names_may_be_any_iterable(rollouts):
    batch = EpisodeBatch.from_step_sequences(rollouts, SPEC, agent_info_names=iter(["hidden"]))
    assert list(batch.agent_infos) == ["hidden"]
    assert "hidden" not in batch.env_infos


def test_swapped_arguments_are_named(rollouts):
    with pytest.raises(TypeError, match=r"rollouts must be StepSequences .* got EnvSpec"):
        EpisodeBatch.from_step_sequences(SPEC, rollouts)


def _one_step(**fields):
    return StepSequence(rewards=[0.0], observations=[[0.0] * 3, [1.0] * 3], actions=[0], **fields)


@pytest.mark.parametrize(
    ("rollouts", "error", "message"),
    [
        ([_one_step(), 3], TypeError, r"rollouts\[1\] must be a StepSequence, got int"),
        (
            [_one_step(), _one_step(extra=[1.0])],
            ValueError,
            r"episode 1 has the fields \['actions', 'extra', 'observations', 'rewards'\] but "
            r"must have \['actions', 'observations', 'rewards'\] to match episode 0",
        ),
        (
            [_one_step(rollout_info={"last_entries": 1})],
            ValueError,
            r"rollout_info must not use the key 'last_entries', which is reserved",
        ),
    ],
)
def test_from_step_sequences_refuses_rollouts_it_cannot_convert(rollouts, error, message):
    with pytest.raises(error, match=message):
        EpisodeBatch.from_step_sequences(rollouts, SPEC)
