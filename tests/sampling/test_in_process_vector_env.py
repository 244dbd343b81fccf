"""InProcessVectorEnv and SingleEnvVector: render, reset masks and seeds as in Gymnasium."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

from gymsamp.envs import CountingEnv
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.in_process_vector_env import InProcessVectorEnv, SingleEnvVector
from gymsamp.sampling.sampler_sub_envs import close_vector_env

N = 3
ACTIONS = np.zeros(N, dtype=np.int64)


class SeedEnv(CountingEnv):
    """Records the seed of its last reset and renders a frame from its id and step count."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(self, ident: int = 0) -> None:
        super().__init__()
        self.ident = ident
        self.render_mode = "rgb_array"
        self.last_seed: Any = "never reset"
        self.steps = 0

    def reset(self, *, seed: Any = None, options: Any = None) -> Any:
        self.last_seed, self.steps = seed, 0
        return super().reset(seed=seed, options=options)

    def step(self, action: Any) -> Any:
        self.steps += 1
        return super().step(action)

    def render(self) -> np.ndarray:
        return np.full((2, 2, 3), 10 * self.ident + self.steps, dtype=np.uint8)


@pytest.fixture
def envs() -> Iterator[InProcessVectorEnv]:
    vector = InProcessVectorEnv([SeedEnv(i) for i in range(N)])
    yield vector
    vector.close()


def seed_draw(seed: int) -> int:
    """The ``reset_seed_draw`` of a CountingEnv reset with ``seed``."""
    return int(CountingEnv().reset(seed=seed)[1]["reset_seed_draw"])


# --- render ---------------------------------------------------------------------------------


def test_render_returns_every_sub_envs_frame_like_sync_vector_env(
    envs: InProcessVectorEnv,
) -> None:
    reference = SyncVectorEnv([lambda i=i: SeedEnv(i) for i in range(N)])
    try:
        for vector in (envs, reference):
            vector.reset(seed=0)
            vector.step(ACTIONS)
        frames = envs.render()
        assert isinstance(frames, tuple)
        assert [frame[0, 0, 0] for frame in frames] == [1, 11, 21]
        expected = reference.render()
        assert expected is not None
        for frame, reference_frame in zip(frames, expected, strict=True):
            np.testing.assert_array_equal(frame, reference_frame)
    finally:
        reference.close()


def test_single_env_vector_renders_its_env() -> None:
    vector = SingleEnvVector(SeedEnv(4))
    try:
        vector.reset()
        vector.step(np.zeros(1, dtype=np.int64))
        frames = vector.render()
        assert frames is not None
        assert len(frames) == 1
        np.testing.assert_array_equal(frames[0], np.full((2, 2, 3), 41, dtype=np.uint8))
    finally:
        vector.close()


# --- reset_mask -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "error", "match"),
    [
        ([True, False, True], TypeError, "numpy bool array"),
        (np.array([1, 0, 1]), TypeError, "numpy bool array"),
        (np.array([True, False]), ValueError, r"shape \(3,\)"),
        (np.array([False, False, False]), ValueError, "at least one True"),
    ],
)
def test_bad_reset_masks_are_refused_and_reset_nothing(
    envs: InProcessVectorEnv, mask: Any, error: type[Exception], match: str
) -> None:
    envs.reset(seed=0)
    envs.step(ACTIONS)
    with pytest.raises(error, match=rf"options\['reset_mask'\] must .*{match}"):
        envs.reset(seed=7, options={"reset_mask": mask})
    assert envs.get_attr("steps") == (1, 1, 1)  # no sub-env was reset
    assert envs.get_attr("last_seed") == (0, 1, 2)


def test_a_masked_reset_resets_only_the_masked_sub_envs(envs: InProcessVectorEnv) -> None:
    envs.reset(seed=0)
    envs.step(ACTIONS)
    envs.step(ACTIONS)
    options = {"reset_mask": np.array([True, False, True])}
    obs, infos = envs.reset(seed=[7, None, 9], options=options)
    assert obs[:, 0].tolist() == [0.0, 2.0, 0.0]  # sub-env 1 keeps its observation
    assert envs.get_attr("last_seed") == (7, 1, 9)
    assert infos["_reset_seed_draw"].tolist() == [True, False, True]
    assert infos["reset_seed_draw"][[0, 2]].tolist() == [seed_draw(7), seed_draw(9)]
    assert "reset_mask" in options  # the caller's dict is left alone


# --- seed -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        (None, [None, None, None]),
        (5, [5, 6, 7]),
        (np.int64(5), [5, 6, 7]),
        (np.uint32(5), [5, 6, 7]),
        ([5, None, 7], [5, None, 7]),
        ((5, None, 7), [5, None, 7]),
        ((np.int64(5), 6, np.int32(7)), [5, 6, 7]),
        (np.array([5, 6, 7]), [5, 6, 7]),
    ],
)
def test_reset_seed_forms_reach_each_sub_env_as_python_ints(
    envs: InProcessVectorEnv, seed: Any, expected: list[int | None]
) -> None:
    _, infos = envs.reset(seed=seed)
    seen = envs.get_attr("last_seed")
    assert list(seen) == expected
    assert all(s is None or type(s) is int for s in seen)
    for i, s in enumerate(expected):
        if s is not None:
            assert infos["reset_seed_draw"][i] == seed_draw(s)


def test_an_int_seed_matches_sync_vector_env(envs: InProcessVectorEnv) -> None:
    reference = SyncVectorEnv([CountingEnv for _ in range(N)])
    try:
        expected = reference.reset(seed=11)[1]["reset_seed_draw"].tolist()
        assert envs.reset(seed=11)[1]["reset_seed_draw"].tolist() == expected
    finally:
        reference.close()


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [
        ([1, 2], ValueError, r"seed must hold num_envs=3 seeds, got 2"),
        ((1, 2, 3, 4), ValueError, r"seed must hold num_envs=3 seeds, got 4"),
        (np.array([1, 2]), ValueError, r"seed must hold num_envs=3 seeds, got 2"),
        ("abc", TypeError, r"seed must be None, an int or a list or tuple .* got 'abc'"),
        (1.5, TypeError, r"seed must be None, an int .* got 1\.5"),
        (True, TypeError, r"seed must be None, an int .* got True"),
        (np.array([[1, 2, 3]]), TypeError, r"seed must be None, an int"),
        ([1, 2.5, 3], TypeError, r"seed must hold ints or None, got 2\.5 for sub-env 1"),
    ],
)
def test_bad_seeds_name_the_rule_and_value(
    envs: InProcessVectorEnv, seed: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        envs.reset(seed=seed)
    assert envs.get_attr("last_seed") == ("never reset",) * N


def test_single_env_vector_takes_numpy_and_tuple_seeds() -> None:
    env = SeedEnv()
    vector = SingleEnvVector(env)
    try:
        vector.reset(seed=np.int64(3))
        assert env.last_seed == 3
        assert type(env.last_seed) is int
        vector.reset(seed=(4,))
        assert env.last_seed == 4
        with pytest.raises(ValueError, match="seed must hold num_envs=1 seeds, got 2"):
            vector.reset(seed=(4, 5))
    finally:
        vector.close()


@pytest.mark.parametrize("name", ["reset", "step", "close"])
def test_call_refuses_the_vector_envs_own_methods(envs: InProcessVectorEnv, name: str) -> None:
    # Run per sub-env, they would bypass the observation batch and the queued resets.
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=f"name must not be '{name}': use the vector env's own"):
        envs.call(name)
    assert envs.call("get_domain_param") == ({"increment": 1.0},) * N  # others still run
    assert envs.get_attr("last_seed") == tuple(range(N))  # nothing was reset again


def test_no_envs_are_refused() -> None:
    with pytest.raises(ValueError, match="envs must hold at least one env, got none"):
        InProcessVectorEnv([])


def test_spaces_and_spec_are_gymnasiums_batched_spaces_and_the_first_envs_spec() -> None:
    made = [gym.make("gymsamp/Counting-v0") for _ in range(N)]
    vector = InProcessVectorEnv(made)
    theirs = SyncVectorEnv([lambda: gym.make("gymsamp/Counting-v0")] * N)
    try:
        assert vector.observation_space == theirs.observation_space
        assert vector.action_space == theirs.action_space
        assert vector.spec is made[0].spec
        assert vector.spec.id == "gymsamp/Counting-v0"
    finally:
        vector.close()
        theirs.close()


def test_set_attr_takes_one_value_each_or_one_for_all(envs: InProcessVectorEnv) -> None:
    envs.set_attr("ident", [7, 8, 9])
    assert envs.get_attr("ident") == (7, 8, 9)
    envs.set_attr("ident", 5)
    assert envs.get_attr("ident") == (5, 5, 5)
    with pytest.raises(ValueError, match=rf"values must hold num_envs={N} values, got 2"):
        envs.set_attr("ident", [1, 2])
    assert envs.get_attr("ident") == (5, 5, 5)  # refused before any sub-env was set


class _WideObservation(CountingEnv):
    def reset(self, *, seed: Any = None, options: Any = None) -> Any:
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}


def test_a_reset_observation_that_does_not_fit_names_its_sub_env() -> None:
    vector = InProcessVectorEnv([CountingEnv(), _WideObservation()])
    with pytest.raises(
        WorkerError,
        match=r"^sub-env 1 raised ValueError in reset: the observation must fit the observation "
        r"space Box\(.*\(1,\), float32\), got array\(\[0., 0.*could not broadcast",
    ) as info:
        vector.reset(seed=0)
    assert info.value.env_index == 1
    vector.close()


class _CloseRaises(CountingEnv):
    def __init__(self, ident: int, closed: list[int]) -> None:
        super().__init__()
        self.ident, self.closed = ident, closed

    def close(self) -> None:
        self.closed.append(self.ident)
        if self.ident in (0, 1):
            raise OSError(f"renderer {self.ident} already gone")


def test_close_closes_every_sub_env_and_raises_the_first_error() -> None:
    # A raising close() stopped the loop: the sub-envs after it were never closed.
    closed: list[int] = []
    vector = InProcessVectorEnv([_CloseRaises(i, closed) for i in range(N)])
    with pytest.raises(OSError, match="renderer 0 already gone"):
        vector.close()
    assert closed == [0, 1, 2]


def test_a_close_that_raised_leaves_the_vector_env_closed() -> None:
    # The env stayed marked open, so a second close() closed every sub-env again and raised
    # again; Gymnasium < 1.3 makes that second close() itself (VectorEnv.__del__), and its error
    # surfaced as "Exception ignored in VectorEnv.__del__" at garbage collection.
    closed: list[int] = []
    vector = InProcessVectorEnv([_CloseRaises(i, closed) for i in range(N)])
    with pytest.raises(OSError, match="renderer 0 already gone"):
        vector.close()
    assert vector.closed is True
    vector.close()  # nothing left to close: no error, no sub-env closed twice
    assert closed == [0, 1, 2]


@pytest.mark.parametrize("terminate", [False, True])
def test_the_samplers_close_warns_of_a_failed_close_only_when_not_terminating(
    terminate: bool,
) -> None:
    # A failed close is not raised (close runs in with-exits and finalizers): it is a warning
    # where the user closed the sampler, and expected (silent) on error paths (terminate).
    closed: list[int] = []
    vector = InProcessVectorEnv([_CloseRaises(i, closed) for i in range(N)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        close_vector_env(vector, terminate=terminate)
        close_vector_env(vector, terminate=terminate)  # closed already: nothing to do
    messages = [str(w.message) for w in caught]
    assert messages == (
        []
        if terminate
        else [
            "closing the sampler's sub-envs failed: OSError: renderer 0 already gone (every "
            "sub-env was still closed and every worker process ended)"
        ]
    )
    assert closed == [0, 1, 2]


class DictActionEnv(gym.Env[np.ndarray, dict[str, Any]]):
    """Observes ``[a + sum(b)]`` of the last action ``{"a": int, "b": (2,) floats}``."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
    action_space = gym.spaces.Dict(
        {"a": gym.spaces.Discrete(3), "b": gym.spaces.Box(-1.0, 1.0, (2,), np.float32)}
    )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: dict[str, Any]) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        value = np.float32(action["a"] + action["b"].sum())
        return np.array([value], dtype=np.float32), float(action["a"]), False, False, {}


def test_dict_actions_reach_each_sub_env_as_with_sync_vector_env() -> None:
    # A batch of Dict actions is a dict of arrays: indexing it by sub-env raised KeyError.
    ours = InProcessVectorEnv([DictActionEnv(), DictActionEnv()])
    theirs = SyncVectorEnv([DictActionEnv, DictActionEnv])
    try:
        ours.reset(seed=0)
        theirs.reset(seed=0)
        actions = {"a": np.array([2, 1]), "b": np.array([[0.5, 0.25], [-1.0, 0.0]], np.float32)}
        obs, rewards, *_ = ours.step(actions)
        ref_obs, ref_rewards, *_ = theirs.step(actions)
        assert obs.tolist() == ref_obs.tolist() == [[2.75], [0.0]]
        assert rewards.tolist() == ref_rewards.tolist() == [2.0, 1.0]
    finally:
        ours.close()
        theirs.close()


class TupleActionEnv(gym.Env[np.ndarray, tuple[int, int]]):
    """Observes its last action ``(a, b)`` as ``[a, b]``."""

    observation_space = gym.spaces.Box(0, 9, (2,), np.int64)
    action_space = gym.spaces.Tuple((gym.spaces.Discrete(10), gym.spaces.Discrete(10)))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(2, dtype=np.int64), {}

    def step(self, action: tuple[int, int]) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        return np.array([int(action[0]), int(action[1])]), 0.0, False, False, {}


def test_a_list_of_per_env_dict_or_tuple_actions_still_reaches_each_sub_env() -> None:
    # step() took a list of one action per sub-env before it split batches: since, a list of
    # dicts raised "list indices must be integers", and a list of two (a, b) tuples for two
    # sub-envs was split as a batch of components, sub-env 0 getting (a0, a1).
    tuples = InProcessVectorEnv([TupleActionEnv(), TupleActionEnv()])
    dicts = InProcessVectorEnv([DictActionEnv(), DictActionEnv()])
    try:
        tuples.reset(seed=0)
        obs, *_ = tuples.step([(1, 2), (3, 4)])
        assert obs.tolist() == [[1, 2], [3, 4]]
        obs, *_ = tuples.step((np.array([5, 7]), np.array([6, 8])))  # a batch, as Gymnasium's
        assert obs.tolist() == [[5, 6], [7, 8]]
        dicts.reset(seed=0)
        half = np.array([0.5, 0.25], np.float32)
        obs, rewards, *_ = dicts.step([{"a": 2, "b": half}, {"a": 1, "b": -half}])
        assert obs.tolist() == [[2.75], [0.25]]
        assert rewards.tolist() == [2.0, 1.0]
        with pytest.raises(ValueError, match=r"one action per sub-env \(num_envs=2\), got 3"):
            tuples.step([(1, 2), (3, 4), (5, 6)])
    finally:
        tuples.close()
        dicts.close()


class TextActionEnv(gym.Env[int, str]):
    """Observes the length of its last action, a string (a space batched as a tuple)."""

    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Text(4)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        return 0, {}

    def step(self, action: str) -> tuple[int, float, bool, bool, dict[str, Any]]:
        return len(action), 0.0, False, False, {}


@pytest.mark.parametrize("actions", [("a", "bbb"), ["a", "bbb"]])
def test_text_actions_reach_each_sub_env_as_with_sync_vector_env(actions: Any) -> None:
    ours = InProcessVectorEnv([TextActionEnv(), TextActionEnv()])
    theirs = SyncVectorEnv([TextActionEnv, TextActionEnv])
    try:
        ours.reset(seed=0)
        theirs.reset(seed=0)
        assert ours.step(actions)[0].tolist() == theirs.step(actions)[0].tolist() == [1, 3]
    finally:
        ours.close()
        theirs.close()


@pytest.mark.parametrize("count", [N - 1, N + 1])
def test_actions_for_another_number_of_sub_envs_are_refused(
    envs: InProcessVectorEnv, count: int
) -> None:
    # N + 1 actions were taken as N (the extra one dropped), as SyncVectorEnv never does.
    envs.reset(seed=0)
    with pytest.raises(
        ValueError, match=rf"actions must hold one action per sub-env \(num_envs={N}\), got {count}"
    ):
        envs.step(np.zeros(count, dtype=np.int64))
    assert [env.steps for env in envs.envs] == [0] * N  # refused before any sub-env stepped


@pytest.mark.parametrize("action", [0, np.int64(0), np.array(0)])
def test_a_single_action_is_refused_with_the_rule(envs: InProcessVectorEnv, action: Any) -> None:
    # It failed with Python's "object of type 'int' has no len()".
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"one action per sub-env \(num_envs=\d+\), got "):
        envs.step(action)


def test_a_reset_after_an_episode_end_cancels_the_next_step_autoreset() -> None:
    # NEXT_STEP: the step after an episode end only resets. A reset in between already
    # started the next episode, so that step must step it, as SyncVectorEnv does.
    def make() -> CountingEnv:
        return CountingEnv(terminate_at=1)

    own = InProcessVectorEnv([make() for _ in range(2)], autoreset_mode="NextStep")
    ref = SyncVectorEnv([make] * 2, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    try:
        results = []
        for envs in (own, ref):
            envs.reset(seed=0)
            assert envs.step(np.zeros(2, dtype=np.int64))[2].tolist() == [True, True]
            envs.reset(seed=[3, None], options={"reset_mask": np.array([True, False])})
            obs, rewards, terminated, _, _ = envs.step(np.zeros(2, dtype=np.int64))
            results.append((obs[:, 0].tolist(), rewards.tolist(), terminated.tolist()))
        # Sub-env 0 steps its new episode; sub-env 1 does its autoreset.
        assert results[0] == results[1] == ([1.0, 0.0], [1.0, 0.0], [True, False])
    finally:
        own.close()
        ref.close()
