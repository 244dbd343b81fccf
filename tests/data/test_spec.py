import gymnasium as gym
import pytest

from gymsamp.data import EnvSpec, InOutSpec

BOX2 = gym.spaces.Box(0.0, 1.0, (2,))
BOX2X3 = gym.spaces.Box(0.0, 1.0, (2, 3))
DISCRETE = gym.spaces.Discrete(2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"obs_labels": ("a",)},
            r"obs_labels has 1 labels but must have 2 to match observation_space "
            r"\(one per flat entry of shape \(2,\)\), got \('a',\)",
        ),
        (
            {"act_labels": ("push", "pull")},
            r"act_labels has 2 labels but must have 1 to match action_space "
            r"\(one per flat entry of shape \(\)\)",
        ),
        (
            {"state_space": BOX2X3, "state_labels": ("x", "y")},
            r"state_labels has 2 labels but must have 6 to match state_space",
        ),
    ],
)
def test_labels_must_name_every_flat_entry_of_their_space(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EnvSpec(BOX2, DISCRETE, **kwargs)


def test_labels_must_be_strings():
    with pytest.raises(TypeError, match="obs_labels must be a sequence of strings, got 5"):
        EnvSpec(BOX2, DISCRETE, obs_labels=5)  # type: ignore[arg-type]


def test_matching_labels_are_kept():
    spec = EnvSpec(
        BOX2,
        DISCRETE,
        obs_labels=["x", "v"],
        act_labels=("push",),
        state_space=BOX2X3,
        state_labels=tuple("abcdef"),
    )
    assert (spec.obs_labels, spec.act_labels) == (("x", "v"), ("push",))
    assert spec.state_labels == ("a", "b", "c", "d", "e", "f")


def test_labels_of_nested_spaces_name_every_flat_entry_of_their_parts():
    # One label for a Dict of two entries was accepted unchecked.
    dict_space = gym.spaces.Dict({"a": BOX2})
    with pytest.raises(
        ValueError,
        match=r"^obs_labels has 1 labels but must have 2 to match observation_space \(one per "
        r"flat entry of its parts, in order\), got \('a0',\)$",
    ):
        EnvSpec(dict_space, DISCRETE, obs_labels=("a0",))
    tuple_space = gym.spaces.Tuple([BOX2X3, DISCRETE])  # 6 + 1 entries
    with pytest.raises(ValueError, match=r"^act_labels has 2 labels but must have 7 to match"):
        EnvSpec(BOX2, tuple_space, act_labels=("a", "b"))
    # The flat labels of what the Dict holds (a simulator's, under a wrapper that made its
    # observation a Dict) fit: plot_trajectories takes such a spec and titles by paths.
    nested = gym.spaces.Dict({"a": BOX2, "b": gym.spaces.Tuple([DISCRETE])})
    assert EnvSpec(nested, DISCRETE, obs_labels=("x", "v", "k")).obs_labels == ("x", "v", "k")
    with pytest.raises(
        ValueError,
        match=r"^obs_labels must be None for observation_space Dict\('t': Text\(.*\)\), "
        r"which has no fixed shape, got \('t',\)$",
    ):
        EnvSpec(gym.spaces.Dict({"t": gym.spaces.Text(5)}), DISCRETE, obs_labels=("t",))


def test_labels_without_a_state_space_are_not_checked():
    # No state space: the states may be the observations (CartPole's adapter labels them),
    # so there is nothing to check the labels against.
    assert EnvSpec(BOX2, DISCRETE, state_labels=("s",)).state_labels == ("s",)
    assert EnvSpec(BOX2, DISCRETE).state_labels is None


def test_from_env_leaves_out_labels_a_wrapper_made_unfit():
    from gymnasium.wrappers import FlattenObservation, FrameStackObservation

    from gymsamp.envs import InitStateWrapper

    plain = EnvSpec.from_env(InitStateWrapper(gym.make("CartPole-v1")))
    assert plain.obs_labels == ("x", "x_dot", "theta", "theta_dot")
    # Three stacked frames: 12 entries, which the simulator's 4 labels no longer name.
    stacked = FlattenObservation(
        FrameStackObservation(InitStateWrapper(gym.make("CartPole-v1")), 3)
    )
    spec = EnvSpec.from_env(stacked)
    assert spec.observation_space.shape == (12,)
    assert spec.obs_labels is None
    assert spec.state_labels == plain.state_labels  # the state is not reshaped
    assert spec.state_space.shape == (4,)


@pytest.mark.parametrize(
    ("spaces", "message"),
    [
        ((None, gym.spaces.Discrete(2)), r"input_space must be a gymnasium.Space, got NoneType"),
        ((gym.spaces.Discrete(2), 5), r"output_space must be a gymnasium.Space, got int"),
    ],
)
def test_inoutspec_refuses_non_spaces(spaces, message):
    with pytest.raises(TypeError, match=message):
        InOutSpec(*spaces)


def test_from_env_reads_the_limit_of_a_time_limit_wrapper_around_an_env_without_a_spec():
    # A TimeLimit put around an env built without gym.make has no spec to write its limit to.
    from gymsamp.envs import PointMassEnv

    assert EnvSpec.from_env(gym.wrappers.TimeLimit(PointMassEnv(), 20)).max_episode_length == 20
    assert EnvSpec.from_env(PointMassEnv()).max_episode_length is None
    # The smallest limit in the stack ends the episodes, whichever layer the spec reports.
    inner = gym.make("CartPole-v1")  # 500 steps
    assert EnvSpec.from_env(gym.wrappers.TimeLimit(inner, 700)).max_episode_length == 500
    assert EnvSpec.from_env(gym.wrappers.TimeLimit(inner, 30)).max_episode_length == 30


def test_from_env_reads_the_limit_of_the_sub_envs_of_a_vector_env():
    # A vector env built by hand has no spec: the limit was lost (None).
    from gymsamp.envs import PointMassEnv

    def make_cartpole():
        return gym.make("CartPole-v1")  # 500 steps

    def make_point_mass():
        return gym.wrappers.TimeLimit(PointMassEnv(), 20)  # a wrapper only, no spec

    sync = gym.vector.SyncVectorEnv([make_cartpole, make_cartpole])
    assert EnvSpec.from_env(sync).max_episode_length == 500
    wrapped = gym.wrappers.vector.RecordEpisodeStatistics(sync)
    assert EnvSpec.from_env(wrapped).max_episode_length == 500
    sync.close()
    sync = gym.vector.SyncVectorEnv([make_point_mass])
    assert EnvSpec.from_env(sync).max_episode_length == 20
    sync.close()
    asynchronous = gym.vector.AsyncVectorEnv([make_cartpole, make_cartpole])
    try:
        assert EnvSpec.from_env(asynchronous).max_episode_length == 500
    finally:
        asynchronous.close()
    # Closed, it can no longer be asked: no limit rather than an error.
    assert EnvSpec.from_env(asynchronous).max_episode_length is None
    # A vector env of its own kind (no sub-envs to ask): its own spec's limit, if it has one.
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    made = gym.make_vec("CartPole-v1", 2, vectorization_mode="vector_entry_point")
    by_hand = CartPoleVectorEnv(2, max_episode_steps=7)  # its limit is internal
    try:
        assert EnvSpec.from_env(made).max_episode_length == 500
        assert EnvSpec.from_env(by_hand).max_episode_length is None
    finally:
        made.close()
        by_hand.close()


def test_equal_inoutspecs_hash_alike():
    # Box equality allows for rounding; the hash was the spaces' repr, which does not.
    import numpy as np

    a = gym.spaces.Box(-1.0, 1.0, (2,), np.float64)
    b = gym.spaces.Box(np.array([-1.0, -1.0 + 1e-12]), np.array([1.0, 1.0]), (2,), np.float64)
    x, y = InOutSpec(a, DISCRETE), InOutSpec(b, gym.spaces.Discrete(2))
    assert x == y
    assert hash(x) == hash(y)
    assert len({x, y}) == 1
    assert {x: 1}[y] == 1
    assert InOutSpec(BOX2, DISCRETE) != InOutSpec(BOX2X3, DISCRETE)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EnvSpec(3, BOX2), r"observation_space must be a gymnasium.Space, got int"),
        (lambda: EnvSpec(BOX2, "box"), r"action_space must be a gymnasium.Space, got str"),
        (
            lambda: EnvSpec(BOX2, DISCRETE, state_space=(2,)),
            r"state_space must be a gymnasium.Space or None, got tuple",
        ),
        (
            lambda: EnvSpec.from_env("CartPole-v1"),
            r"env must be a gymnasium.Env or gymnasium.vector.VectorEnv, got str",
        ),
    ],
)
def test_spaces_and_envs_that_are_none_are_refused(make, message):
    with pytest.raises(TypeError, match=message):
        make()


def test_in_out_spec_compares_only_with_in_out_specs_and_shows_its_spaces():
    spec = InOutSpec(BOX2, DISCRETE)
    assert spec == InOutSpec(BOX2, DISCRETE)
    assert spec != (BOX2, DISCRETE)
    assert spec.__eq__((BOX2, DISCRETE)) is NotImplemented
    assert repr(spec) == f"InOutSpec(input_space={BOX2!r}, output_space={DISCRETE!r})"
