"""gymsamp's own vector envs under Gymnasium's three autoreset modes, step for step against
Gymnasium's SyncVectorEnv (so they are drop-ins for it, not only for the collection loop)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from gymsamp.envs import CountingEnv
from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv
from gymsamp.sampling.collection import autoreset_mode_of
from gymsamp.sampling.in_process_vector_env import InProcessVectorEnv

MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]


def factories() -> list[Callable[[], gym.Env[Any, Any]]]:
    """Three counting envs whose episodes end at different steps, both ways."""
    return [
        lambda: CountingEnv(terminate_at=2),
        lambda: CountingEnv(truncate_at=3),
        lambda: CountingEnv(terminate_at=4, truncate_at=4),  # both flags at once
    ]


@pytest.fixture(params=["in_process", "batched"])
def build(request: pytest.FixtureRequest) -> Iterator[Callable[..., gym.vector.VectorEnv]]:
    made: list[gym.vector.VectorEnv] = []

    def make(mode: AutoresetMode) -> gym.vector.VectorEnv:
        fns = factories()
        envs: gym.vector.VectorEnv
        if request.param == "in_process":
            envs = InProcessVectorEnv([fn() for fn in fns], autoreset_mode=mode)
        else:
            envs = BatchedAsyncVectorEnv(fns, 2, autoreset_mode=mode)
        made.append(envs)
        return envs

    yield make
    for envs in made:
        envs.close()


def same_infos(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert sorted(ours) == sorted(theirs)
    for key, value in theirs.items():
        if isinstance(value, dict):
            same_infos(ours[key], value)
        elif key in ("final_obs", "final_info"):  # object arrays: compare the set entries
            mask = theirs[f"_{key}"]
            for i in np.flatnonzero(mask):
                if key == "final_obs":
                    np.testing.assert_array_equal(ours[key][i], value[i])
                else:
                    same_infos(ours[key][i], value[i])
        else:
            np.testing.assert_array_equal(ours[key], value)


@pytest.mark.parametrize("mode", MODES)
def test_steps_equal_sync_vector_env_in_every_autoreset_mode(build, mode):
    ours = build(mode)
    theirs = SyncVectorEnv(factories(), autoreset_mode=mode)
    try:
        assert ours.metadata["autoreset_mode"] == mode
        a, ia = ours.reset(seed=[1, 2, 3])
        b, ib = theirs.reset(seed=[1, 2, 3])
        np.testing.assert_array_equal(a, b)
        same_infos(ia, ib)
        actions = np.zeros(3, dtype=np.int64)
        for _ in range(9):
            if mode == AutoresetMode.DISABLED:
                ended = theirs._autoreset_envs  # Gymnasium's own record of the last step's ends
                if ended.any():
                    options = {"reset_mask": ended.copy()}
                    a, _ = ours.reset(options=dict(options))
                    b, _ = theirs.reset(options=dict(options))
                    np.testing.assert_array_equal(a, b)
            out, ref = ours.step(actions), theirs.step(actions)
            for x, y in zip(out[:4], ref[:4], strict=True):
                np.testing.assert_array_equal(x, y)
            same_infos(out[4], ref[4])
    finally:
        theirs.close()


def test_a_queued_reset_takes_precedence_over_the_autoreset(build):
    envs = build(AutoresetMode.NEXT_STEP)
    envs.reset(seed=0)
    envs.queue_reset(0, seed=5)
    obs, _, terminated, _, info = envs.step(np.zeros(3, dtype=np.int64))
    obs, _, terminated, _, info = envs.step(np.zeros(3, dtype=np.int64))
    assert terminated.tolist() == [True, False, False]
    assert obs[0, 0] == 0.0  # reset in the ending step (SAME_STEP style), not the next one
    assert info["final_obs"][0].tolist() == [2.0]
    obs, rewards, *_ = envs.step(np.zeros(3, dtype=np.int64))
    assert obs[0, 0] == 1.0  # stepped, not reset a second time by NEXT_STEP
    assert rewards[0] == 1.0


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="sometimes"):
        InProcessVectorEnv([CountingEnv()], autoreset_mode="sometimes")
    with pytest.raises(ValueError, match="sometimes"):
        BatchedAsyncVectorEnv([CountingEnv], 1, autoreset_mode="sometimes")


def frozen_lake() -> gym.Env[Any, Any]:
    # Moving left from the start cell stays there; the time limit ends the episode at step 2.
    return gym.make("FrozenLake-v1", is_slippery=False, max_episode_steps=2)


@pytest.mark.parametrize("kind", ["in_process", "batched"])
def test_same_step_final_obs_keeps_a_discrete_observation_an_int_as_sync_vector_env(kind):
    # It was a 0-d array: unhashable, so a tabular Q-function keyed by the final state failed.
    envs: gym.vector.VectorEnv
    if kind == "in_process":
        envs = InProcessVectorEnv([frozen_lake(), frozen_lake()], autoreset_mode="SameStep")
    else:
        envs = BatchedAsyncVectorEnv([frozen_lake] * 2, 1, autoreset_mode="SameStep")
    theirs = SyncVectorEnv([frozen_lake] * 2, autoreset_mode="SameStep")
    try:
        envs.reset(seed=0)
        theirs.reset(seed=0)
        left = np.zeros(2, dtype=np.int64)
        envs.step(left)
        theirs.step(left)
        info, ref = envs.step(left)[4], theirs.step(left)[4]
        assert ref["_final_obs"].tolist() == info["_final_obs"].tolist() == [True, True]
        assert [type(obs) for obs in info["final_obs"]] == [int, int]
        assert [type(obs) for obs in ref["final_obs"]] == [int, int]
        assert info["final_obs"].tolist() == ref["final_obs"].tolist() == [0, 0]
        assert {info["final_obs"][0]: "start"}[0] == "start"
    finally:
        envs.close()
        theirs.close()


def test_the_loop_reads_a_mode_kept_as_its_string_value():
    # A third-party vector env may keep the mode as the string Gymnasium's constructors take;
    # it still wins over a metadata dict that another vector env of its class rewrote.
    envs = SyncVectorEnv([CountingEnv], autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        envs.autoreset_mode = "SameStep"  # type: ignore[assignment]
        envs.metadata["autoreset_mode"] = AutoresetMode.DISABLED
        assert autoreset_mode_of(envs) is AutoresetMode.SAME_STEP
    finally:
        envs.close()
