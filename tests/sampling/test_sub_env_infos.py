"""Infos per sub-env (gymsamp.sampling.sub_env_infos): gymsamp's vector envs hand each sub-env's
info over as Gymnasium's batched dict holds it, and the collection loop records the same env
infos from them as from a foreign vector env's batched dicts."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

from gymsamp.envs import CountingEnv
from gymsamp.policies import IdlePolicy
from gymsamp.sampling import (
    ParallelRolloutSampler,
    Quota,
    RolloutJob,
    StatesNotRecordedWarning,
    WorkerError,
    collect,
    rollout,
)
from gymsamp.sampling.in_process_vector_env import InProcessVectorEnv
from gymsamp.sampling.sub_env_infos import infos_per_env, state_rows, unbatch_infos
from gymsamp.sampling.vector_envs import EnvFactory, make_vector_env
from tests.helpers import assert_tree_equal, plain

N = 3


class ReusedInfoEnv(CountingEnv):
    """Reports ``info["x"]``, the steps since the reset, and its observation in arrays it
    reuses (as some simulators do with their buffers); an episode ends at step 2, 3 or 4, by
    its reset seed."""

    def __init__(self) -> None:
        super().__init__(terminate_at=2)
        self._x = np.zeros(1)
        self._obs = np.zeros(1, dtype=np.float32)

    def reset(self, *, seed: Any = None, options: Any = None) -> Any:
        if seed is not None:
            self.terminate_at = 2 + seed % 3
        obs, info = super().reset(seed=seed, options=options)
        self._x[0] = 0.0
        self._obs[:] = obs
        return self._obs, {**info, "x": self._x}

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = super().step(action)
        self._x[0] += 1.0
        self._obs[:] = obs
        return self._obs, reward, terminated, truncated, {**info, "x": self._x}


def make_reused() -> gym.Env[Any, Any]:
    return ReusedInfoEnv()


# Vector envs of every mode; "batched+parent" steps its last sub-env in this process (whose
# infos reach the loop without a pickle round trip, so they must be copied on the way).
MODES = ["sync", "async", "batched", "batched+parent"]


def make_reused_vector(mode: str, **kwargs: Any) -> gym.vector.VectorEnv:
    in_parent = int(mode == "batched+parent")
    return make_vector_env(
        EnvFactory(make_reused),
        N,
        mode.removesuffix("+parent"),
        num_workers=2,
        in_parent=in_parent,
        **kwargs,
    )


@pytest.fixture(params=MODES)
def envs(request: pytest.FixtureRequest) -> Iterator[gym.vector.VectorEnv]:
    vector = make_reused_vector(request.param)
    yield vector
    vector.close()


def test_per_env_infos_equal_the_batched_dict_unbatched(envs: gym.vector.VectorEnv) -> None:
    actions = np.zeros(N, dtype=np.int64)
    batched: list[Any] = [envs.reset(seed=1)[1]]
    batched += [envs.step(actions)[4] for _ in range(2)]
    with infos_per_env(envs) as per_env:
        assert envs.per_env_infos is True  # type: ignore[attr-defined]
        direct = [per_env(envs.reset(seed=1)[1])]
        direct += [per_env(envs.step(actions)[4]) for _ in range(2)]
    assert envs.per_env_infos is False  # type: ignore[attr-defined]
    expected = [unbatch_infos(infos, N) for infos in batched]
    assert [sorted(d) for d in direct] == [[0, 1, 2]] * 3
    assert plain(direct) == plain(expected)
    # Each step's "x" is its own value, though the env reuses one array for it.
    assert [d[0]["x"].tolist() for d in direct] == [[0.0], [1.0], [2.0]]


def test_infos_per_env_restores_the_batched_format_after_an_error() -> None:
    vector = make_vector_env(EnvFactory(make_reused), 2, "sync")
    try:
        with pytest.raises(KeyError), infos_per_env(vector):
            raise KeyError("inside")
        _, infos = vector.reset(seed=0)
        assert infos["_x"].tolist() == [True, True]  # Gymnasium's batched dict again
    finally:
        vector.close()


def test_unbatch_infos_treats_a_key_without_mask_as_every_sub_envs() -> None:
    infos = {"a": np.array([1, 2]), "b": np.array([5.0, 6.0]), "_b": np.array([False, True])}
    assert plain(unbatch_infos(infos, 2)) == {0: {"a": 1}, 1: {"a": 2, "b": 6.0}}
    assert unbatch_infos({}, 2) == {}


def test_unbatched_array_entries_are_copies_that_keep_no_batch_alive() -> None:
    # A row of the batch is a view: each sub-env's info would keep the whole batch alive.
    batch = np.arange(6.0).reshape(3, 2)
    infos = unbatch_infos({"x": batch, "_x": np.array([True, False, True])}, 3)
    assert plain(infos) == {0: {"x": [0.0, 1.0]}, 2: {"x": [4.0, 5.0]}}
    for info in infos.values():
        assert not np.shares_memory(info["x"], batch)


@pytest.mark.parametrize(("state", "dtype"), [(3, np.int64), (True, np.bool_), (0.5, np.float64)])
def test_number_states_are_batched_in_their_own_type(state: Any, dtype: type) -> None:
    # As Gymnasium's VectorEnv._add_info batches them: an int state stayed no float.
    rows, reported = state_rows({1: {"state": state}}, 3)
    assert rows is not None
    assert reported == 1
    assert rows.dtype == dtype
    assert rows.tolist() == [type(state)(0), state, type(state)(0)]


def test_a_sub_env_without_a_state_entry_gets_a_zero_row_beside_one_with() -> None:
    # Sub-env 0 reports other infos only: its row is the batch's zero (as Gymnasium batches).
    rows, reported = state_rows({0: {"x": 1}, 1: {"state": np.array([0.5, 1.0])}, 2: {}}, 3)
    assert rows is not None
    assert rows.tolist() == [[0.0, 0.0], [0.5, 1.0], [0.0, 0.0]]
    assert reported == 1
    assert state_rows({0: {"x": 1}}, 2) == (None, 0)


def collect_x(
    vector: gym.vector.VectorEnv, rollouts: int, *, check_observations: bool = True
) -> list[list[float]]:
    """Each rollout's ``x`` infos, after checking that its observations count 0..T (the
    true final observation too, though the env reuses its observation buffer)."""
    result = collect(
        vector,
        IdlePolicy(vector.single_action_space),
        lambda k: RolloutJob.seeded(k, 0, 0, k),
        Quota(min_rollouts=rollouts),
    )
    for r in result if check_observations else ():
        assert np.asarray(r.observations).reshape(-1).tolist() == list(range(r.length + 1))
    return [np.asarray(r.env_infos["x"]).reshape(-1).tolist() for r in result]


@pytest.mark.parametrize("mode", MODES)
def test_recorded_env_infos_match_a_foreign_vector_env(mode: str) -> None:
    """The collection loop reads gymsamp's envs per sub-env and Gymnasium's SyncVectorEnv
    through its batched dicts: the rollouts' env infos are the same, step by step."""
    foreign = SyncVectorEnv([make_reused] * N, autoreset_mode=AutoresetMode.SAME_STEP)
    own = make_reused_vector(mode, record_state=False)
    try:
        # SyncVectorEnv's SAME_STEP keeps a reference to the reused observation buffer as
        # final_obs (Gymnasium 1.x), which its reset then overwrites: infos are compared only.
        expected = collect_x(foreign, 7, check_observations=False)
        assert collect_x(own, 7) == expected
    finally:
        foreign.close()
        own.close()
    # Rollout k ran in some sub-env; whichever, "x" counts its steps 1..T.
    assert all(x == [float(t) for t in range(1, len(x) + 1)] for x in expected)
    assert sorted({len(x) for x in expected}) == [2, 3, 4]


class MappingInfoEnv(gym.Env[np.ndarray, int]):
    """An env without a simulator adapter that reports a nested ``OrderedDict`` holding an
    array it reuses, a key of its own that starts with ``_``, and its own ``state``: a string
    whose length differs between rollouts. Episodes last 3 steps."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self._buffer = np.zeros(1)
        self._word = ""
        self._t = 0

    def reset(self, *, seed: Any = None, options: Any = None) -> Any:
        super().reset(seed=seed)
        self._buffer[:] = -1.0
        self._word = ["running", "ok"][int(self.np_random.integers(2))]
        self._t = 0
        return np.zeros(1, np.float32), {"state": self._word}

    def step(self, action: Any) -> Any:
        self._t += 1
        self._buffer[:] = float(self._t)
        info = {"nested": OrderedDict(a=self._buffer), "_own": 7, "state": self._word}
        return np.zeros(1, np.float32), 1.0, self._t >= 3, False, info


def make_mapping_env() -> gym.Env[Any, Any]:
    return MappingInfoEnv()


@pytest.mark.parametrize("mode", ["sync", "async", "batched"])
def test_nested_mappings_own_keys_and_object_states_are_recorded_as_reported(mode: str) -> None:
    policy = IdlePolicy(gym.spaces.Discrete(2))
    with pytest.warns(StatesNotRecordedWarning, match="the state of MappingInfoEnv"):
        sampler = ParallelRolloutSampler(
            make_mapping_env,
            policy,
            2,
            min_rollouts=4,
            seed=0,
            vectorization=mode,
            record_states=True,
            show_progress_bar=False,
        )
    try:
        rollouts = sampler.sample()
    finally:
        sampler.close()
    words = set()
    for k, ro in enumerate(rollouts):
        assert np.asarray(ro.env_infos["nested"]["a"]).ravel().tolist() == [1.0, 2.0, 3.0]
        assert np.asarray(ro.env_infos["_own"]).tolist() == [7, 7, 7]
        # Samplers record states where a simulator adapter reads them, as rollout() does;
        # without one, the env's own "state" is an env info like any other (record_states or
        # not).
        assert "states" not in ro.data_names
        states = np.asarray(ro.env_infos["state"]).tolist()
        assert len(set(states)) == 1  # the rollout's own word at every step, never cut short
        words |= set(states)
        single = rollout(make_mapping_env, policy, seed=0, sub_sub_seed=k)
        assert "states" not in single.data_names
        assert np.asarray(single.env_infos["state"]).tolist() == states
    assert words <= {"running", "ok"}
    assert len(words) == 2


def test_foreign_vector_envs_keep_an_own_key_that_starts_with_an_underscore() -> None:
    """Gymnasium masks ``_own`` as ``__own``: only a key that masks another one is a mask."""
    batched = {"_own": np.array([7, 0]), "__own": np.array([True, False])}
    assert plain(unbatch_infos(batched, 2)) == {0: {"_own": 7}}


class NoneInfoEnv(CountingEnv):
    """Returns ``None`` for its step infos (against Gymnasium's API; SyncVectorEnv fails on it)."""

    def step(self, action: Any) -> Any:
        return (*super().step(action)[:4], None)


def make_none_info_env() -> gym.Env[Any, Any]:
    return NoneInfoEnv(terminate_at=2)


@pytest.mark.parametrize("mode", ["sync", "batched"])
def test_envs_that_return_none_for_their_infos_still_run(mode: str) -> None:
    sampler = ParallelRolloutSampler(
        make_none_info_env,
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=3,
        seed=0,
        vectorization=mode,
        show_progress_bar=False,
    )
    try:
        assert [ro.length for ro in sampler.sample()] == [2, 2, 2]
    finally:
        sampler.close()


class AlwaysBatched(InProcessVectorEnv):
    """Batches its infos whatever ``per_env_infos`` says (as if Gymnasium stopped routing
    them through ``VectorEnv._add_info``)."""

    def _add_info(self, vector_infos: Any, env_info: Any, env_num: int) -> Any:
        return VectorEnv._add_info(self, vector_infos, env_info, env_num)


def test_the_loop_unbatches_an_env_that_batches_despite_per_env_infos() -> None:
    batching = AlwaysBatched([ReusedInfoEnv() for _ in range(N)])
    own = InProcessVectorEnv([ReusedInfoEnv() for _ in range(N)])
    try:
        with infos_per_env(batching) as per_env:
            infos = per_env(batching.reset(seed=0)[1])
        assert sorted(infos) == [0, 1, 2]
        assert collect_x(batching, 7) == collect_x(own, 7)
    finally:
        batching.close()
        own.close()


def _cartpole_with_episode_statistics():
    return gym.wrappers.RecordEpisodeStatistics(gym.make("CartPole-v1"))


def test_sampled_rollouts_with_and_without_a_final_info_make_an_episode_batch():
    from gymsamp.data import EnvSpec, EpisodeBatch

    with ParallelRolloutSampler(
        _cartpole_with_episode_statistics,
        lambda obs: np.zeros(len(obs), np.int64),  # falls after ~10 steps
        2,
        min_rollouts=6,
        max_steps=9,  # cuts some rollouts first: those have no final_info
        seed=0,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    ended = ["final_info" in ro.rollout_info for ro in rollouts]
    assert any(ended)
    assert not all(ended)
    for ro, has_stats in zip(rollouts, ended, strict=True):
        if has_stats:  # the episode's statistics, as RecordEpisodeStatistics reported them
            assert ro.rollout_info["final_info"]["episode"]["l"] == ro.length
    spec = EnvSpec.from_env(_cartpole_with_episode_statistics())
    back = EpisodeBatch.from_step_sequences(rollouts, spec).to_step_sequences()
    for original, restored in zip(rollouts, back, strict=True):
        assert_tree_equal(restored.rollout_info, original.rollout_info)


class PlainStateInfoEnv(gym.Env[np.ndarray, int]):
    """No simulator adapter; reports its own ``info["state"]`` (a word at reset, an array per
    step): plain env infos, not gymsamp's state channel."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: Any = None, options: Any = None) -> Any:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {"state": "reset"}

    def step(self, action: int) -> Any:
        self.t += 1
        info = {"state": np.array([self.t, 7]), "other": self.t}
        return np.full(1, self.t, np.float32), 1.0, self.t >= 3, False, info


@pytest.mark.parametrize("mode", ["sync", "async", "batched"])
def test_an_envs_own_state_info_is_an_env_info_unless_states_are_recorded(mode: str) -> None:
    # It was taken for gymsamp's state channel: dropped from env_infos, a `states` field
    # without record_states, and numpy's errors where its type changed from reset to step.
    policy = IdlePolicy(gym.spaces.Discrete(2))
    single = rollout(PlainStateInfoEnv, policy, seed=0)
    with ParallelRolloutSampler(
        PlainStateInfoEnv, policy, 2, min_rollouts=3, seed=0, vectorization=mode,
        show_progress_bar=False,
    ) as sampler:  # fmt: skip
        rollouts = sampler.sample()
    for ro in [single, *rollouts]:
        assert "states" not in ro.data_names
        np.testing.assert_array_equal(ro.env_infos["state"], [[1, 7], [2, 7], [3, 7]])
        np.testing.assert_array_equal(ro.env_infos["other"], [1, 2, 3])


class FinalObsInfoEnv(CountingEnv):
    """Reports Gymnasium's in-step reset keys as its own step info."""

    def __init__(self, key: str) -> None:
        super().__init__(terminate_at=3)
        self.key = key

    def step(self, action: int) -> Any:
        obs, reward, terminated, truncated, _ = super().step(action)
        return obs, reward, terminated, truncated, {self.key: obs}


@pytest.mark.parametrize("key", ["final_obs", "final_info"])
@pytest.mark.parametrize("mode", ["sync", "async", "batched"])
def test_a_step_info_with_gymnasiums_final_keys_is_refused(key: str, mode: str) -> None:
    # They once crashed inside the loop (KeyError, AttributeError) or vanished into the
    # rollout_info of some rollouts only.
    message = r"step info must not hold the keys 'final_obs' and 'final_info'"
    policy = IdlePolicy(gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match=message):
        rollout(lambda: FinalObsInfoEnv(key), policy, seed=0)
    with (
        ParallelRolloutSampler(
            lambda: FinalObsInfoEnv(key), policy, 2, min_rollouts=2, seed=0,
            vectorization=mode, show_progress_bar=False,
        ) as sampler,
        pytest.raises(WorkerError, match=message),
    ):  # fmt: skip
        sampler.sample()


class RaggedInfoEnv(CountingEnv):
    """Reports a contact list whose length is the step number, and a dict whose keys change."""

    def __init__(self) -> None:
        super().__init__(terminate_at=3)

    def step(self, action: int) -> Any:
        obs, reward, terminated, truncated, _ = super().step(action)
        t = int(reward)
        info = {"contacts": np.arange(t), "flag": {"a": t} if t % 2 else {"b": t}, "t": t}
        return obs, reward, terminated, truncated, info


@pytest.mark.parametrize("mode", ["sync", "async", "batched"])
def test_infos_that_do_not_stack_are_kept_as_object_arrays(mode: str) -> None:
    # They once failed the whole call (numpy's "must hold items of one shape"), no rollout back.
    policy = IdlePolicy(gym.spaces.Discrete(2))
    single = rollout(RaggedInfoEnv, policy, seed=0)
    with ParallelRolloutSampler(
        RaggedInfoEnv, policy, 2, min_rollouts=3, seed=0, vectorization=mode,
        show_progress_bar=False,
    ) as sampler:  # fmt: skip
        rollouts = sampler.sample()
    for ro in [single, *rollouts]:
        contacts = ro.env_infos["contacts"]
        assert contacts.dtype == object
        assert [c.tolist() for c in contacts] == [[0], [0, 1], [0, 1, 2]]
        assert ro.env_infos["flag"].tolist() == [{"a": 1}, {"b": 2}, {"a": 3}]
        np.testing.assert_array_equal(ro.env_infos["t"], [1, 2, 3])  # stacked as before


class LongAndShortEnv(gym.Env[np.ndarray, np.int64]):
    """Episodes of 40 steps where the reset seed is even, else of 2; the step number ``t``
    and the episode's seed as infos of every step."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.seed_, self.t, self.length = seed, 0, 40 if seed % 2 == 0 else 2
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        info = {"t": self.t, "seed": self.seed_}
        return np.full(1, self.t, np.float32), 0.0, False, self.t >= self.length, info


@pytest.mark.parametrize("mode", ["sync", "async", "batched"])
def test_each_rollout_gets_its_own_step_infos_beside_long_episodes(mode: str) -> None:
    """Short rollouts end while long ones keep info rows alive; each must get exactly its
    own rows (the rows kept are now looked up by the rollout's own range and dropped from
    the front)."""
    with ParallelRolloutSampler(
        LongAndShortEnv,
        IdlePolicy(LongAndShortEnv.action_space),
        3,
        min_rollouts=30,
        seed=1,
        vectorization=mode,
        show_progress_bar=False,
    ) as sampler:
        for rollouts in (sampler.sample(), sampler.sample()):
            assert {ro.length for ro in rollouts} == {2, 40}
            for ro in rollouts:
                assert ro.env_infos["t"].tolist() == list(range(1, ro.length + 1))
                assert set(ro.env_infos["seed"].tolist()) == {ro.rollout_info["seed"]}


@pytest.mark.parametrize("kept", [3, 50])
def test_a_rollouts_infos_are_its_own_rows_of_the_kept_ones(kept: int) -> None:
    # Both lookups (by the rollout's rows, or over the rows kept) give the same infos.
    from gymsamp.sampling.rollout_assembly import _sub_env_infos

    rng = np.random.default_rng(kept)
    rows = sorted(rng.choice(200, size=kept, replace=False).tolist())
    info_rows = OrderedDict((r, {int(i): {"r": r} for i in rng.choice(3, 2)}) for r in rows)
    for start, stop in [(0, 200), (20, 30), (150, 151), (5, 5)]:
        for i in range(3):
            expected = {
                r: infos[i] for r, infos in info_rows.items() if start <= r < stop and i in infos
            }
            assert _sub_env_infos(info_rows, i, start, stop) == expected


class LastStepKeyEnv(CountingEnv):
    """Reports ``t`` (the step number) at every step and ``end`` at the last one only."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        info = {"t": self.step_count}
        if terminated or truncated:
            info["end"] = True
        return obs, reward, terminated, truncated, info


@pytest.mark.parametrize("mode", ["sync", "batched"])
def test_final_info_holds_the_last_steps_keys_that_are_no_env_infos(mode: str) -> None:
    # Keys of every step become env_infos; only the last step's other keys go to
    # rollout_info["final_info"] (docs/concepts/time-alignment.md), not a second copy of t.
    with ParallelRolloutSampler(
        lambda: LastStepKeyEnv(terminate_at=3),
        IdlePolicy(gym.spaces.Discrete(2)),
        2,
        min_rollouts=3,
        seed=0,
        vectorization=mode,
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    for ro in rollouts:
        assert ro.env_infos["t"].tolist() == [1, 2, 3]
        assert plain(ro.rollout_info["final_info"]) == {"end": True}
