"""StepBuffer: rows addressed by a global step index, older rows dropped when it fills up, and
the collection loop's rollouts across those drops."""

from __future__ import annotations

import numpy as np
import pytest

from gymsamp.envs import CountingEnv
from gymsamp.policies import RandomPolicy
from gymsamp.sampling import ParallelRolloutSampler, rollout
from gymsamp.sampling.step_buffer import StepBuffer


def test_rows_read_back_by_global_index_across_drops_and_growth():
    # A reference of every row ever written; keep_from moves forward in uneven jumps, as the
    # oldest running rollout's start row does, and sometimes stays (the buffer then grows).
    buffer = StepBuffer(2, capacity=4)
    written: list[np.ndarray] = []
    keep_from = 0
    rng = np.random.default_rng(0)
    for step in range(200):
        if rng.random() < 0.2:
            keep_from = int(rng.integers(keep_from, len(written) + 1))
        row = np.array([[step, 0.5], [-step, 1.5]])
        # keep_from: the row the oldest running rollout started at.
        appended = buffer.append({"x": row, "n": np.array([step, -step])}, lambda: keep_from)  # noqa: B023
        assert appended == step
        written.append(row)
        assert buffer.offset <= keep_from  # nothing still needed was dropped
        start = int(rng.integers(keep_from, step + 1))
        for env in (0, 1):
            np.testing.assert_array_equal(
                buffer.column("x", start, step + 1, env),
                np.array([r[env] for r in written[start:]]),
            )
            assert buffer.column("n", start, step + 1, env).tolist() == [
                int(r[env, 0]) for r in written[start:]
            ]
    assert buffer.offset > 0  # rows were dropped
    # set() addresses the same global rows.
    buffer.set("x", keep_from, 1, np.array([7.0, 8.0]))
    np.testing.assert_array_equal(buffer.column("x", keep_from, keep_from + 1, 1), [[7.0, 8.0]])
    np.testing.assert_array_equal(
        buffer.column("x", keep_from, keep_from + 1, 0), written[keep_from][None, 0]
    )


def test_a_column_is_a_copy_of_its_own():
    # A view would keep the whole column alive in each rollout.
    buffer = StepBuffer(2, capacity=4)
    buffer.append({"x": np.zeros(2)}, lambda: 0)
    column = buffer.column("x", 0, 1, 1)
    assert not np.shares_memory(column, buffer.columns["x"])


class UnevenCounting(CountingEnv):
    """A :class:`CountingEnv` (state: the count) whose episodes end after 1..1199 steps, drawn at
    each reset."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.terminate_at = int(self.np_random.integers(1, 1200))
        return obs, info


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_rollouts_that_outlast_the_buffer_equal_single_rollouts(vectorization):
    # Episodes of 1..1199 steps beside each other: the loop's buffer (1024 rows) drops the rows
    # of finished rollouts while others run on. Each sampled rollout must equal rollout() with
    # its seed triple (one sub-env: nothing is dropped there). Async resets in the step
    # (SAME_STEP), which writes each final state into a kept row afterwards.
    policy = RandomPolicy(CountingEnv().action_space)
    with ParallelRolloutSampler(
        UnevenCounting,
        policy,
        3,
        min_rollouts=9,
        seed=2,
        record_states=True,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        sampled = sampler.sample()
    lengths = [ro.length for ro in sampled]
    assert max(lengths) > 1024 or sum(lengths) > 3 * 1024  # the buffer filled up
    for k, ro in enumerate(sampled):
        ref = rollout(UnevenCounting, policy, seed=2, sub_seed=0, sub_sub_seed=k)
        np.testing.assert_array_equal(ro.observations, ref.observations)
        np.testing.assert_array_equal(ro.actions, ref.actions)
        np.testing.assert_array_equal(ro.rewards, ref.rewards)
        np.testing.assert_array_equal(ro.states, ref.states)
        np.testing.assert_array_equal(ro.states[:, 0], np.arange(ro.length + 1))
        np.testing.assert_array_equal(ro.rewards, np.arange(1, ro.length + 1))
