"""``StepSequence.to_pandas()`` / ``from_pandas()`` on real sampled rollouts.

The seed's semantics: ``from_pandas(df, env_spec, continuous=True, task=None)`` picks the
observation, action (and state) columns by the spec's labels (else ``<field>_<i>``), ``rewards``
is mandatory unless ``task`` recomputes it, and ``continuous`` tells whether the rows are whole
consecutive rollouts.
"""

from __future__ import annotations

import dataclasses
import re

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.data import EnvSpec, StepSequence
from gymsamp.policies import RandomPolicy
from gymsamp.sampling import ParallelRolloutSampler

pd = pytest.importorskip("pandas")

CARTPOLE_LABELS = {
    "obs_labels": ("x", "x_dot", "theta", "theta_dot"),
    "act_labels": ("push_right",),
    "state_labels": ("s_x", "s_x_dot", "s_theta", "s_theta_dot"),
}
PENDULUM_LABELS = {
    "obs_labels": ("cos_th", "sin_th", "th_dot"),
    "act_labels": ("torque",),
    "state_labels": ("th", "s_th_dot"),
}


def sample(env_id, action_space, labels, **kwargs):
    with ParallelRolloutSampler(
        env_id,
        RandomPolicy(action_space),
        2,
        min_rollouts=3,
        seed=5,
        record_states=True,
        vectorization="sync",
        show_progress_bar=False,
        **kwargs,
    ) as sampler:
        rollouts = sampler.sample()
        spec = dataclasses.replace(sampler.env_spec, **labels)
    return rollouts, spec


@pytest.fixture(scope="module")
def cartpole():
    return sample("CartPole-v1", gym.spaces.Discrete(2), CARTPOLE_LABELS)


@pytest.fixture(scope="module")
def pendulum():
    return sample(
        "Pendulum-v1", gym.spaces.Box(-2.0, 2.0, (1,), np.float32), PENDULUM_LABELS, max_steps=20
    )


def assert_round_trip(original: StepSequence, restored: StepSequence) -> None:
    """Everything the table carries comes back exactly, final entries and bounds included."""
    assert restored.length == original.length
    assert restored.continuous
    np.testing.assert_array_equal(restored.rollout_bounds, original.rollout_bounds)
    for name in ("observations", "actions", "rewards", "states", "time"):
        got, want = restored.get_data_values(name), original.get_data_values(name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    np.testing.assert_array_equal(restored.terminated, original.terminated)
    np.testing.assert_array_equal(restored.truncated, original.truncated)
    np.testing.assert_array_equal(restored.step_types, original.step_types)
    for i in range(original.rollout_count):
        np.testing.assert_array_equal(
            restored.get_rollout(i).observations, original.get_rollout(i).observations
        )


@pytest.mark.parametrize("which", ["cartpole", "pendulum"])
def test_single_rollouts_round_trip(which, request):
    rollouts, spec = request.getfixturevalue(which)
    for ro in rollouts:
        df = ro.to_pandas(spec)
        assert len(df) == ro.length
        assert_round_trip(ro, StepSequence.from_pandas(df, spec))


def test_columns_are_named_by_the_spec_labels(cartpole, pendulum):
    (ro, *_), spec = cartpole
    df = ro.to_pandas(spec)
    for i, label in enumerate(spec.obs_labels):
        np.testing.assert_array_equal(df[label].to_numpy(), ro.observations[:-1, i])
        np.testing.assert_array_equal(df[f"next_{label}"].to_numpy(), ro.observations[1:, i])
    np.testing.assert_array_equal(df["push_right"].to_numpy(), ro.actions)
    np.testing.assert_array_equal(df["states.s_theta"].to_numpy(), ro.states[:-1, 2])
    assert df["terminated"].dtype == bool
    (ro, *_), spec = pendulum
    df = ro.to_pandas(spec)
    np.testing.assert_array_equal(df["torque"].to_numpy(), ro.actions[:, 0])
    np.testing.assert_array_equal(df["th_dot"].to_numpy(), ro.observations[:-1, 2])
    # Without labels the columns are numbered.
    unlabeled = ro.to_pandas()
    assert {"observations_0", "observations_2", "actions_0", "states_1"} <= set(unlabeled.columns)
    plain_spec = dataclasses.replace(spec, obs_labels=None, act_labels=None, state_labels=None)
    assert_round_trip(ro, StepSequence.from_pandas(unlabeled, plain_spec))


@pytest.mark.parametrize("which", ["cartpole", "pendulum"])
def test_concatenations_round_trip_with_every_final_observation(which, request):
    rollouts, spec = request.getfixturevalue(which)
    both = StepSequence.concat(rollouts)
    df = both.to_pandas(spec)
    assert len(df) == sum(ro.length for ro in rollouts)
    restored = StepSequence.from_pandas(df, spec)
    assert restored.rollout_count == len(rollouts)
    assert_round_trip(both, restored)
    for i, ro in enumerate(rollouts):  # each part's own final observation survives
        np.testing.assert_array_equal(restored.get_rollout(i).observations, ro.observations)
    # A table built by concatenating per-rollout tables reads the same.
    stacked = pd.concat([ro.to_pandas(spec) for ro in rollouts], ignore_index=True)
    assert_round_trip(both, StepSequence.from_pandas(stacked, spec))


def test_not_continuous_rows_make_a_batch_of_steps(pendulum):
    (ro, *_), spec = pendulum
    df = ro.to_pandas(spec).sample(frac=1.0, random_state=0)  # rows shuffled
    batch = StepSequence.from_pandas(df, spec, continuous=False)
    assert not batch.continuous
    order = df.index.to_numpy()
    np.testing.assert_array_equal(batch.observations, ro.observations[order])
    np.testing.assert_array_equal(batch.rewards, ro.rewards[order])
    np.testing.assert_array_equal(batch.truncated, ro.truncated[order])


class PendulumTask:
    """Gymnasium's Pendulum reward, from the observation the action was taken in."""

    def step_rew(self, state, act, remaining_steps):
        th = np.arctan2(state[1], state[0])
        return -(th**2 + 0.1 * state[2] ** 2 + 0.001 * float(np.clip(act[0], -2, 2)) ** 2)


def test_task_recomputes_the_rewards(pendulum):
    (ro, *_), spec = pendulum
    df = ro.to_pandas(spec).drop(columns="rewards")
    with pytest.raises(ValueError, match="df must have a 'rewards' column"):
        StepSequence.from_pandas(df, spec)
    restored = StepSequence.from_pandas(df, spec, task=PendulumTask())
    # float32 observations: equal to Gymnasium's float64 reward up to float32 rounding.
    np.testing.assert_allclose(restored.rewards, ro.rewards, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(restored.observations, ro.observations)


def test_missing_observation_columns_are_named(cartpole):
    (ro, *_), spec = cartpole
    df = ro.to_pandas(spec).drop(columns="theta")
    with pytest.raises(ValueError, match=r"df must have the observations columns \['x', 'x_dot'"):
        StepSequence.from_pandas(df, spec)


def test_equal_obs_and_state_labels_keep_both():
    rollouts, spec = sample(
        "gymsamp/PointMass-v0", gym.spaces.Box(-1.0, 1.0, (1,)), {}, max_steps=3
    )
    df = rollouts[0].to_pandas(spec)
    assert df["x"].dtype == np.float32  # the observation, not the float64 state
    assert df["states.x"].dtype == np.float64  # states keep their own, prefixed columns
    back = StepSequence.from_pandas(df, spec)
    np.testing.assert_array_equal(back.observations, rollouts[0].observations)
    np.testing.assert_array_equal(back.states, rollouts[0].states)
    # a 2-D extra field written as actions_applied_0.. comes back as one (T, 1) field
    assert back.actions_applied.shape == rollouts[0].actions_applied.shape
    np.testing.assert_array_equal(back.actions_applied, rollouts[0].actions_applied)


def _two_step(time: bool = True) -> StepSequence:
    extra = {"time": [0.0, 0.05, 0.1]} if time else {}
    return StepSequence(
        rewards=[1.0, 2.0],
        observations=[[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]],
        actions=[[5.0], [6.0]],
        terminated=[0, 1],
        truncated=[0, 0],
        **extra,
    )


@pytest.mark.parametrize(
    "obs_labels",
    [("time", "v"), ("x", "x"), ("next_x", "x"), ("v", "truncated"), ("actions", "u")],
)
def test_labels_never_overwrite_other_columns(obs_labels):
    # A label named like another column (the samplers' ``time`` field, a flag, a next_ column,
    # a repeated label) once overwrote that column silently.
    spec = dataclasses.replace(_box_spec(), obs_labels=obs_labels, act_labels=("u",))
    ro = _two_step()
    df = ro.to_pandas(spec)
    assert len(set(df.columns)) == len(df.columns)
    back = StepSequence.from_pandas(df, spec)
    assert back.data_names == ro.data_names
    for name in ro.data_names:
        assert np.array_equal(back.get_data_values(name), ro.get_data_values(name)), name
    assert back.terminated.tolist() == [False, True]
    assert back.truncated.tolist() == [False, False]


def _box_spec():
    from gymnasium.spaces import Box

    from gymsamp.data import EnvSpec

    return EnvSpec(Box(-1e3, 1e3, (2,), np.float64), Box(-1e3, 1e3, (1,), np.float64))


def test_a_rollout_cut_short_keeps_its_bounds_and_final_observation():
    # A slice ends without a done flag: the next_ columns tell where it ended.
    ro = _two_step(time=False)
    first = StepSequence.concat([ro, ro])[0:1]  # one step of an episode, final obs [1, 11]
    cat = StepSequence.concat([first, ro])
    back = StepSequence.from_pandas(cat.to_pandas(), _box_spec())
    assert back.rollout_bounds.tolist() == [0, 1, 3]
    assert back.get_rollout(0).observations.tolist() == [[0.0, 10.0], [1.0, 11.0]]
    assert back.get_rollout(1).observations.tolist() == ro.observations.tolist()
    # A rollout continued by its own next steps (the same values) is one rollout.
    whole = StepSequence.concat([ro[0:1], ro[1:2]])
    assert StepSequence.from_pandas(whole.to_pandas(), _box_spec()).rollout_bounds.tolist() == [
        0,
        2,
    ]


@pytest.mark.parametrize("flag", ["terminated", "truncated"])
def test_a_rollout_ending_on_the_observation_the_next_starts_from_is_cut_by_its_flag(flag):
    # The next_ columns cannot tell these two apart: the first one's flag must end it, either.
    spec = EnvSpec(gym.spaces.Box(-9, 9, (1,)), gym.spaces.Box(-9, 9, (1,)))
    first = StepSequence(
        rewards=np.ones(2),
        observations=np.array([[0.0], [1.0], [2.0]]),
        actions=np.zeros((2, 1)),
        **{flag: [False, True]},
    )
    second = StepSequence(
        rewards=np.ones(2),
        observations=np.array([[2.0], [3.0], [4.0]]),
        actions=np.zeros((2, 1)),
        truncated=[False, True],
    )
    both = StepSequence.concat([first, second])
    back = StepSequence.from_pandas(both.to_pandas(spec), spec)
    assert back.rollout_bounds.tolist() == [0, 2, 4]
    rollouts = [back.get_rollout(i).observations.ravel().tolist() for i in range(2)]
    assert rollouts == [[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]]  # each with its final observation
    assert back.terminated.tolist() == [False, flag == "terminated", False, False]
    assert back.truncated.tolist() == [False, flag == "truncated", False, True]


def test_a_nan_observation_is_no_rollout_cut():
    # NaN != NaN: a NaN next_observations entry must still equal the next row's NaN observation.
    ro = StepSequence(
        rewards=np.ones(3),
        observations=np.array([[0.0], [np.nan], [1.0], [2.0]]),
        actions=np.zeros((3, 1)),
    )
    spec = EnvSpec(gym.spaces.Box(-9, 9, (1,)), gym.spaces.Box(-9, 9, (1,)))
    back = StepSequence.from_pandas(ro.to_pandas(spec), spec)
    assert back.rollout_count == 1
    np.testing.assert_array_equal(back.observations, ro.observations)


def test_from_pandas_refuses_what_is_not_a_frame():
    with pytest.raises(TypeError, match="df must be a pandas DataFrame, got dict"):
        StepSequence.from_pandas({"rewards": [1.0]}, _box_spec())


@pytest.mark.parametrize("column", ["Unnamed: 0", "a[x].b", ".a", "_private", "1st"])
def test_from_pandas_names_a_column_that_can_be_no_field(column):
    # E.g. the index column of a CSV file written by df.to_csv() (index=True by default): it
    # was refused as "name must be an identifier", an argument from_pandas has not.
    df = _two_step().to_pandas()
    df.attrs.clear()
    df.insert(0, column, [0, 1])
    with pytest.raises(
        ValueError, match=rf"df's columns must be field names .* got a column '{re.escape(column)}'"
    ):
        StepSequence.from_pandas(df, _box_spec())


def test_from_pandas_reads_a_csv_file_without_its_index_column():
    import io

    ro = _two_step()
    text = ro.to_pandas().to_csv()  # with the index column
    back = StepSequence.from_pandas(pd.read_csv(io.StringIO(text), index_col=0), _box_spec())
    np.testing.assert_array_equal(back.observations, ro.observations)


def test_from_pandas_refuses_a_spec_that_is_no_envspec_and_an_empty_frame():
    df = _two_step().to_pandas()
    with pytest.raises(TypeError, match="env_spec must be a gymsamp EnvSpec, got str"):
        StepSequence.from_pandas(df, "CartPole-v1")
    with pytest.raises(ValueError, match="df must have at least one row, got an empty DataFrame"):
        StepSequence.from_pandas(df.iloc[:0], _box_spec())


def test_to_pandas_refuses_a_shuffled_batch_and_two_fields_of_one_column_name():
    batch = StepSequence(
        rewards=np.ones(2), observations=np.zeros((2, 1)), actions=np.zeros((2, 1)),
        continuous=False,
    )  # fmt: skip
    with pytest.raises(ValueError, match="seq must be continuous to be written as a table"):
        batch.to_pandas()
    # A 2-D field "x" is written as x_0, x_1: a field named "x_0" would overwrite a column.
    clash = _two_step(time=False)
    clash.add_data("x", np.zeros((2, 2)))
    clash.add_data("x_0", np.ones(2))
    with pytest.raises(ValueError, match=r"distinct column names .* two columns named 'x_0'"):
        clash.to_pandas()


@pytest.mark.parametrize(
    "field",
    [
        {"infos": {True: np.array([1.0, 2.0])}},  # JSON would turn the key into "true"
        {"pair": np.array([(1.0, 2), (3.0, 4)], dtype=[("a", "f8"), ("b", "i4")])},
    ],
    ids=["bool-key", "structured-dtype"],
)
def test_a_frame_json_cannot_describe_has_no_layout_and_is_read_by_names(field):
    ro = _two_step(time=False)
    for name, value in field.items():
        ro.add_data(name, value)
    df = ro.to_pandas()
    assert "gymsamp_layout" not in df.attrs
    back = StepSequence.from_pandas(df, _box_spec())
    np.testing.assert_array_equal(back.observations, ro.observations)
    assert back.data_names[-1] == next(iter(field))


@pytest.mark.parametrize(
    "layout",
    [
        {"version": 1, "leaves": None},
        {"version": 1, "leaves": [{}]},  # a leaf without its keys
        {"version": 1, "leaves": [{"field": "x", "steps": [], "columns": None, "shape": "ab"}]},
        {"version": 2, "leaves": []},
    ],
)
def test_a_layout_that_is_not_what_to_pandas_wrote_is_ignored(layout):
    ro = _two_step(time=False)
    ro.add_data("grid", np.arange(4.0).reshape(2, 2))
    df = ro.to_pandas()
    df.attrs["gymsamp_layout"] = layout
    back = StepSequence.from_pandas(df, _box_spec())  # by column names
    np.testing.assert_array_equal(back.grid, [[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(back.observations, ro.observations)


def test_by_names_states_are_optional_and_a_done_column_ends_rollouts():
    # A hand-made frame: a spec with a state space but no state columns, and "done" for flags.
    spec = EnvSpec(
        gym.spaces.Box(-9, 9, (1,)), gym.spaces.Box(-9, 9, (1,)),
        state_space=gym.spaces.Box(-9, 9, (2,)),
    )  # fmt: skip
    df = pd.DataFrame(
        {
            "observations_0": [0.0, 1.0, 2.0],
            "actions_0": [0.0, 0.0, 0.0],
            "rewards": [1.0, 1.0, 1.0],
            "done": [False, True, True],
        }
    )
    back = StepSequence.from_pandas(df, spec)
    assert back.data_names == ["rewards", "observations", "actions"]
    assert back.rollout_bounds.tolist() == [0, 2, 3]
    assert back.terminated.tolist() == [False, True, True]
    assert not back.truncated.any()
    # Beside a flag column, "done" must agree with the flags (as StepSequence(done=...) must).
    back = StepSequence.from_pandas(df.assign(truncated=[False, True, True]), spec)
    assert back.data_names == ["rewards", "observations", "actions"]
    assert back.truncated.tolist() == [False, True, True]
    with pytest.raises(ValueError, match=r"done must equal terminated \| truncated"):
        StepSequence.from_pandas(df.assign(truncated=[False, False, True]), spec)


def _structured_rollouts() -> tuple[list[StepSequence], EnvSpec]:
    """Two rollouts whose fields the column names alone cannot describe: a Dict observation
    with an image, info keys holding "." or ending in "_<digit>", an int key, a 3-D field, a
    tuple field, strings, and float64 actions under a float32 action space."""
    from gymsamp.data import EnvSpec

    rng = np.random.default_rng(3)
    rollouts = []
    for length, last in ((4, "terminated"), (3, "truncated")):
        flags = {f: np.zeros(length, bool) for f in ("terminated", "truncated")}
        flags[last][-1] = True
        rollouts.append(
            StepSequence(
                observations={
                    "pos": rng.normal(size=(length + 1, 2)).astype(np.float32),
                    "img": rng.integers(0, 255, size=(length + 1, 2, 3)).astype(np.uint8),
                },
                actions=rng.normal(size=(length, 1)),
                rewards=rng.normal(size=length),
                infos={
                    "a.b": np.arange(length),
                    "x_1": rng.normal(size=length),
                    0: np.ones(length),
                },
                grid=rng.normal(size=(length, 2, 3)),
                hidden=(rng.normal(size=(length, 2)), rng.normal(size=(length, 2))),
                label=np.array(list("abcd"[:length])),
                **flags,
            )
        )
    spec = EnvSpec(
        gym.spaces.Dict(
            {
                "pos": gym.spaces.Box(-9, 9, (2,), np.float32),
                "img": gym.spaces.Box(0, 255, (2, 3), np.uint8),
            }
        ),
        gym.spaces.Box(-9, 9, (1,), np.float32),
    )
    return rollouts, spec


def _assert_fields_identical(got: StepSequence, want: StepSequence, *, step_types=True) -> None:
    """Every field with the same structure (dict keys and their types, tuples), shapes, dtypes
    and values."""
    from gymsamp.data._tree import tree_paths

    assert got.data_names == want.data_names
    for name in want.data_names:
        got_leaves = list(tree_paths(got.get_data_values(name)))
        want_leaves = list(tree_paths(want.get_data_values(name)))
        assert [steps for steps, _ in got_leaves] == [steps for steps, _ in want_leaves], name
        for (steps, g), (_, w) in zip(got_leaves, want_leaves, strict=True):
            assert (g.shape, g.dtype) == (w.shape, w.dtype), (name, steps)
            np.testing.assert_array_equal(g, w, err_msg=f"{name} {steps}")
    np.testing.assert_array_equal(got.rollout_bounds, want.rollout_bounds)
    if step_types:
        np.testing.assert_array_equal(got.step_types, want.step_types)


def test_every_field_comes_back_with_its_structure_shape_and_dtype():
    rollouts, spec = _structured_rollouts()
    cat = StepSequence.concat(rollouts)
    df = cat.to_pandas(spec)
    # The layout travels with the frame (pandas keeps attrs through copies and row slices).
    assert "gymsamp_layout" in df.attrs
    back = StepSequence.from_pandas(df.copy(), spec)
    _assert_fields_identical(back, cat)
    assert list(back.get_data_values("infos")) == ["a.b", "x_1", 0]
    assert isinstance(back.get_data_values("hidden"), tuple)
    # A slice of the rows: the layout still fits, rollouts are cut where the next_ entries say
    # (a table cannot tell that its first row was no episode's first step: FIRST, not MID).
    part = StepSequence.from_pandas(df.iloc[2:6], spec)
    _assert_fields_identical(part, cat[2:6], step_types=False)


def test_a_frame_without_its_layout_is_read_by_column_names():
    # E.g. a CSV file: no attrs; the spec's spaces shape observations and actions.
    import io

    rollouts, spec = sample("Pendulum-v1", gym.spaces.Box(-2.0, 2.0, (1,), np.float32), {})
    ro = rollouts[0]
    df = pd.read_csv(io.StringIO(ro.to_pandas(spec).to_csv(index=False)))
    assert "gymsamp_layout" not in df.attrs
    back = StepSequence.from_pandas(df, spec)
    np.testing.assert_array_equal(back.observations, ro.observations)
    np.testing.assert_array_equal(back.actions, ro.actions)
    # A layout that no longer fits (a column dropped) is not used: the rest is read by names.
    dropped = ro.to_pandas(spec).drop(columns=["time"])
    assert "gymsamp_layout" in dropped.attrs
    back = StepSequence.from_pandas(dropped, spec)
    assert "time" not in back.data_names
    np.testing.assert_array_equal(back.observations, ro.observations)


def test_without_a_layout_a_prefixed_action_column_wins_over_a_field_of_its_label():
    # An action labelled "x" next to a field "x": to_pandas writes the action as "actions.x".
    spec = EnvSpec(
        gym.spaces.Box(-9, 9, (1,)), gym.spaces.Box(-9, 9, (1,)), obs_labels=("o",),
        act_labels=("x",),
    )  # fmt: skip
    ro = StepSequence(
        rewards=np.ones(3),
        observations=np.zeros((4, 1)),
        actions=np.array([[1.0], [2.0], [3.0]]),
        x=np.array([7.0, 8.0, 9.0]),
    )
    df = ro.to_pandas(spec)
    assert {"actions.x", "x"} <= set(df.columns)
    df.attrs.clear()  # as read from a CSV file: by column names
    back = StepSequence.from_pandas(df, spec)
    assert back.actions.ravel().tolist() == [1.0, 2.0, 3.0]
    assert np.asarray(back.x).ravel().tolist() == [7.0, 8.0, 9.0]


def test_a_spec_that_contradicts_the_layout_is_named():
    from gymsamp.data import EnvSpec

    ro = _two_step(time=False)
    wrong = EnvSpec(gym.spaces.Box(-1, 1, (3,), np.float64), gym.spaces.Box(-1, 1, (1,)))
    with pytest.raises(ValueError, match=r"env_spec.observation_space must match .* got shape"):
        StepSequence.from_pandas(ro.to_pandas(), wrong)


def test_to_pandas_refuses_a_spec_that_does_not_fit(cartpole, pendulum):
    # An env id (or any non-EnvSpec) and the labels of another env's spec were ignored without
    # a word: the columns came out numbered as if no spec had been given.
    (ro, *_), cartpole_spec = cartpole
    _, pendulum_spec = pendulum
    for not_a_spec in ("CartPole-v1", gym.spec("CartPole-v1"), 5):
        with pytest.raises(TypeError, match=r"env_spec must be None or a gymsamp EnvSpec, got"):
            ro.to_pandas(not_a_spec)
    with pytest.raises(
        ValueError,
        match=r"env_spec.obs_labels has 3 labels but must have 4 to match the observations of "
        r"seq \(entries of shape \(4,\)\), got \('cos_th', 'sin_th', 'th_dot'\)",
    ):
        ro.to_pandas(pendulum_spec)
    assert "x" in ro.to_pandas(cartpole_spec).columns  # its own spec still names the columns


def test_task_recomputes_rewards_from_dict_observations():
    rollouts, spec = _structured_rollouts()

    class PosTask:
        def step_rew(self, obs, act, remaining_steps):
            return float(obs["pos"].sum() + act[0] + remaining_steps)

    ro = rollouts[0]
    back = StepSequence.from_pandas(ro.to_pandas(spec), spec, task=PosTask())
    want = [
        ro.observations["pos"][t].sum() + ro.actions[t, 0] + (ro.length - t - 1)
        for t in range(ro.length)
    ]
    np.testing.assert_allclose(back.rewards, want)


def test_task_sees_observations_no_space_shapes_in_a_frame_without_its_layout():
    # A Text observation space has no shape: its column was read by name after the task's
    # inputs were taken, so the task was refused ("df must have observation ... columns")
    # for a frame that has them; with the layout it was computed.
    spec = EnvSpec(gym.spaces.Text(5), gym.spaces.Box(-9, 9, (1,)))
    ro = StepSequence(
        rewards=np.zeros(3),
        observations=np.array(["a", "bb", "ccc", "d"]),
        actions=np.array([[1.0], [2.0], [3.0]]),
    )

    class LengthTask:
        def step_rew(self, obs, act, remaining_steps):
            return float(len(obs) * act[0])

    for df in (ro.to_pandas(spec), ro.to_pandas(spec).drop(columns="rewards")):
        for keep_layout in (True, False):
            if not keep_layout:
                df = df.copy()
                df.attrs.clear()
            back = StepSequence.from_pandas(df, spec, task=LengthTask())
            assert back.rewards.tolist() == [1.0, 4.0, 9.0]
            assert list(back.observations) == ["a", "bb", "ccc", "d"]
    # Without observation columns at all, the task is refused by name.
    df = ro.to_pandas(spec).drop(columns=["observations", "next_observations"])
    df.attrs.clear()
    with pytest.raises(
        ValueError,
        match=r"df must have observation and action columns for task to compute rewards, "
        r"got \['actions'\]",
    ):
        StepSequence.from_pandas(df, spec, task=LengthTask())


def test_the_layout_stays_small_for_wide_fields():
    # pandas deep-copies attrs on every operation (df[column] too): a layout listing an image's
    # 3,072 column names made each column access ~100x slower.
    import json

    ro = StepSequence(
        observations=np.zeros((3, 32, 32, 3), np.uint8),
        actions=np.zeros((2, 1)),
        rewards=np.zeros(2),
        terminated=np.array([False, True]),
        truncated=np.zeros(2, bool),
    )
    spec = EnvSpec(gym.spaces.Box(0, 255, (32, 32, 3), np.uint8), gym.spaces.Box(-1, 1, (1,)))
    df = ro.to_pandas(spec)
    assert len(df.columns) == 2 * 3072 + 4
    assert len(json.dumps(df.attrs["gymsamp_layout"])) < 1000
    np.testing.assert_array_equal(StepSequence.from_pandas(df, spec).observations, ro.observations)


class RemainingStepsTask:
    """A reward that is the steps left (as a final-reward task reads them: 0 at the end)."""

    def step_rew(self, state, act, remaining_steps):
        return float(remaining_steps)


@pytest.mark.parametrize("next_columns", [True, False])
def test_task_counts_the_remaining_steps_to_the_end_of_each_rollout(next_columns):
    # They were counted to the end of the frame: a 3-step rollout followed by a 2-step one got
    # 4, 3, 2, and only the frame's last row 0 (a final reward went to the last rollout alone).
    spec = EnvSpec(gym.spaces.Box(-99, 99, (1,)), gym.spaces.Box(-9, 9, (1,)))
    rollouts = [
        StepSequence(
            rewards=np.ones(n), observations=start + np.arange(n + 1.0)[:, None],
            actions=np.zeros((n, 1)), terminated=[False] * (n - 1) + [True],
        )
        for n, start in ((3, 0.0), (2, 10.0), (1, 20.0))
    ]  # fmt: skip
    df = StepSequence.concat(rollouts).to_pandas(spec).drop(columns="rewards")
    if not next_columns:  # e.g. a frame from CSV: the flags alone end the rollouts
        df = df.drop(columns="next_observations_0")
        df.attrs.clear()
    back = StepSequence.from_pandas(df, spec, task=RemainingStepsTask())
    assert back.rollout_bounds.tolist() == [0, 3, 5, 6]
    assert back.rewards.tolist() == [2.0, 1.0, 0.0, 1.0, 0.0, 0.0]
    # A rollout cut short (a slice, no flag) ends where its next_ entries say so.
    cut = StepSequence.concat([rollouts[0][0:2], rollouts[1]])
    back = StepSequence.from_pandas(
        cut.to_pandas(spec).drop(columns="rewards"), spec, task=RemainingStepsTask()
    )
    assert back.rollout_bounds.tolist() == [0, 2, 4]
    assert back.rewards.tolist() == [1.0, 0.0, 1.0, 0.0]
    # A batch of steps (continuous=False) has no rollouts: its rows count to the frame's end.
    batch = StepSequence.from_pandas(df, spec, continuous=False, task=RemainingStepsTask())
    assert batch.rewards.tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
