import functools
import pickle
import re

import gymnasium as gym
import numpy as np
import pytest
import torch

from gymsamp.data import StepSequence
from gymsamp.data.io import save_rollouts
from gymsamp.envs import CountingEnv, PointMassEnv
from gymsamp.policies import IdlePolicy, LinearPolicy, PlaybackPolicy, RandomPolicy
from gymsamp.sampling import NonFiniteError, SamplerPool, WorkerError, derive_seed, rollout
from gymsamp.sbi import (
    AllStepsEmbedding,
    BayesSimEmbedding,
    DynamicTimeWarpingEmbedding,
    Embedding,
    RealRolloutSamplerForSBI,
    RecRolloutSamplerForSBI,
    RolloutSamplerForSBI,
    SimRolloutSamplerForSBI,
    sbi_env_spec,
)
from tests.helpers import HookedPolicy, errors_in_another_thread

POINT_MASS = "gymsamp/PointMass-v0"
PM_SPEC = sbi_env_spec(POINT_MASS)  # states (x, v), one force
T = 30
FORCES = np.random.default_rng(0).uniform(-1, 1, (T, 1)).astype(np.float32)
COUNTING = functools.partial(CountingEnv, terminate_at=3)


def record(mass: float = 2.0, seed: int = 0, forces: np.ndarray = FORCES) -> StepSequence:
    """A "real" PointMass rollout: the recorded forces from a seeded random initial state."""
    return rollout(
        POINT_MASS,
        PlaybackPolicy(forces),
        seed=seed,
        max_steps=len(forces),
        reset_kwargs={"domain_param": {"mass": mass}},
    )


def series(ro: StepSequence) -> np.ndarray:
    """The [s_t, a_t] rows of a rollout, as the samplers build them."""
    return np.concatenate([ro.states[:-1], ro.actions_applied.reshape(ro.length, -1)], axis=1)


def embed(emb: Embedding, rows: list[list[np.ndarray]]) -> torch.Tensor:
    """Features of data rows[b][r] = (T, D) arrays."""
    return emb(torch.as_tensor(np.array(rows)))


def reference(
    real: list[StepSequence], mass: float, edges: list[tuple[int, int]], policy=None
) -> list[np.ndarray]:
    """pyrado's loop: one rollout() per segment from the recorded state, replaying its forces."""
    out = []
    for ro in real:
        parts = []
        for start, stop in edges:
            seg = rollout(
                PointMassEnv(),
                PlaybackPolicy(ro.actions_applied[start:stop]) if policy is None else policy,
                max_steps=stop - start,
                reset_kwargs={"init_state": ro.states[start], "domain_param": {"mass": mass}},
            )
            parts.append(series(seg))
        out.append(np.concatenate(parts))
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_segments_restart_from_the_recorded_states_and_replay_the_recorded_actions(workers):
    real = [record(seed=0), record(seed=1)]
    emb = AllStepsEmbedding(PM_SPEC, 3, len_rollouts=T)
    with SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass"}, emb, len_segments=7, rollouts_real=real, num_workers=workers
    ) as sim:
        x = sim(torch.tensor([[2.0], [0.7]], dtype=torch.float64))
    assert x.shape == (2, 2 * emb.dim_output)
    # At the true mass the simulation reproduces the recording exactly.
    assert torch.equal(x[0], embed(emb, [[series(ro) for ro in real]])[0])
    # At another mass it equals a one-by-one loop over the segments 7, 7, 7, 7, 2.
    edges = [(0, 7), (7, 14), (14, 21), (21, 28), (28, 30)]
    assert torch.equal(x[1], embed(emb, [reference(real, 0.7, edges)])[0])
    assert not torch.equal(x[0], x[1])


def test_num_segments_splits_as_evenly_as_possible():
    real = [record()]
    emb = AllStepsEmbedding(PM_SPEC, 3, len_rollouts=T)
    with SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass"}, emb, num_segments=4, rollouts_real=real
    ) as sim:
        x = sim(torch.tensor([0.5]))  # exact in float32
    assert x.shape == (emb.dim_output,)  # a (P,) row gives a (R * dim_output,) vector
    edges = [(0, 8), (8, 16), (16, 23), (23, 30)]
    assert torch.equal(x, embed(emb, [reference(real, 0.5, edges)])[0])


def test_as_many_segments_as_steps_restart_every_step():
    real = [record(mass=1.5, forces=FORCES[:6])]
    emb = BayesSimEmbedding(PM_SPEC, 3)
    with SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass"}, emb, num_segments=6, rollouts_real=real
    ) as sim:
        x = sim(torch.tensor([[1.5], [0.7]]))
    assert torch.equal(x[0], embed(emb, [[series(ro) for ro in real]])[0])
    edges = [(t, t + 1) for t in range(6)]
    assert torch.equal(x[1], embed(emb, [reference(real, 0.7, edges)])[0])


def test_policy_runs_instead_of_the_recording_without_use_rec_act():
    real = [record(seed=0), record(seed=2)]
    policy = LinearPolicy((2, 1), weight=[[-0.5, -0.2]])
    emb = BayesSimEmbedding(PM_SPEC, 3)
    with SimRolloutSamplerForSBI(
        POINT_MASS, policy, {0: "mass"}, emb, num_segments=2, rollouts_real=real, use_rec_act=False
    ) as sim:
        x = sim(np.array([[1.5]]))
    edges = [(0, 15), (15, 30)]
    assert torch.equal(x, embed(emb, [reference(real, 1.5, edges, policy)]))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stochastic_policys_segments_reset_with_their_own_seeds_whatever_the_batch(workers):
    """Segment k of row b in call c resets with (seed, c * K + k, b). Before, the segments of
    all rows ran as one collection, seeded by their position k * B + b in it: a row's
    features changed with the number of rows simulated next to it."""
    real = [record(seed=0), record(seed=2)]
    policy = RandomPolicy(PM_SPEC.action_space)
    emb = AllStepsEmbedding(PM_SPEC, 3, len_rollouts=T)
    edges = [(0, 15), (15, 30)]  # K = 4 segments: 2 per target rollout

    def simulate(theta: list[list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
        with SimRolloutSamplerForSBI(
            POINT_MASS,
            policy,
            {0: "mass"},
            emb,
            num_segments=2,
            rollouts_real=real,
            use_rec_act=False,
            num_workers=workers,
            seed=3,
        ) as sim:
            return sim(torch.tensor(theta)), sim(torch.tensor(theta))

    first, second = simulate([[1.5], [0.5], [1.0]])
    alone_first, alone_second = simulate([[1.5]])
    assert torch.equal(alone_first[0], first[0])
    assert torch.equal(alone_second[0], second[0])
    for c, x in enumerate((first, second)):
        for b, mass in enumerate((1.5, 0.5, 1.0)):
            rows = []
            for r, ro in enumerate(real):
                parts = []
                for i, (start, stop) in enumerate(edges):
                    seg = rollout(
                        POINT_MASS,
                        policy,
                        eval=True,
                        max_steps=stop - start,
                        seed=3,
                        sub_seed=c * 4 + 2 * r + i,
                        sub_sub_seed=b,
                        reset_kwargs={
                            "init_state": ro.states[start],
                            "domain_param": {"mass": mass},
                        },
                    )
                    parts.append(series(seg))
                rows.append(np.concatenate(parts))
            assert torch.equal(x[b], embed(emb, [rows])[0])
    assert not torch.equal(first, second)


def test_one_and_two_workers_give_identical_features_matching_seeded_rollouts():
    """Without target rollouts: full episodes from seeded initial states, stochastic policy."""
    policy = RandomPolicy(PM_SPEC.action_space)
    emb = BayesSimEmbedding(PM_SPEC, 3)
    theta = torch.tensor(
        [[0.5, 0.1], [1.0, 0.5], [2.0, 0.0], [0.8, 1.0], [1.2, 0.3]], dtype=torch.float64
    )
    mapping = {0: "mass", 1: "friction"}
    results = []
    for workers in (1, 2):
        with SimRolloutSamplerForSBI(
            POINT_MASS, policy, mapping, emb, num_segments=1, num_workers=workers, seed=3
        ) as sim:
            results.append(sim(theta))
    assert torch.equal(results[0], results[1])
    # Row b of the first call is rollout(seed=3, sub_seed=0, sub_sub_seed=b) (DESIGN §4).
    rows = []
    for b, (mass, friction) in enumerate(theta.tolist()):
        ro = rollout(
            POINT_MASS,
            policy,
            eval=True,
            seed=3,
            sub_seed=0,
            sub_sub_seed=b,
            reset_kwargs={"domain_param": {"mass": mass, "friction": friction}},
        )
        assert ro.length == 200
        rows.append([series(ro)])
    assert torch.equal(results[0], embed(emb, rows))


def test_every_call_of_a_seeded_simulator_draws_afresh():
    # Call c resets row b with (seed, c, b): the second call must not repeat the first.
    policy = RandomPolicy(PM_SPEC.action_space)
    emb = BayesSimEmbedding(PM_SPEC, 3)
    theta = torch.tensor([[1.0], [1.0]], dtype=torch.float64)
    with SimRolloutSamplerForSBI(
        POINT_MASS, policy, {0: "mass"}, emb, num_segments=1, seed=3
    ) as sim:
        first, second = sim(theta), sim(theta)
    assert not torch.equal(first, second)
    ro = rollout(
        POINT_MASS,
        policy,
        eval=True,
        seed=3,
        sub_seed=1,
        sub_sub_seed=0,
        reset_kwargs={"domain_param": {"mass": 1.0}},
    )
    assert torch.equal(second[0], embed(emb, [[series(ro)]])[0])


def test_without_a_seed_every_row_still_gets_its_own_reset():
    """seed=None: a fresh base seed per call, shared by the workers. Before, each worker's
    copy of an env instance replayed the same unseeded stream."""
    env = gym.make(POINT_MASS)
    env.reset(seed=1)
    emb = BayesSimEmbedding(PM_SPEC, 3)
    theta = torch.ones((4, 1), dtype=torch.float64)  # the same parameters in every row
    with SimRolloutSamplerForSBI(
        env, IdlePolicy(PM_SPEC.action_space), {0: "mass"}, emb, num_segments=1, num_workers=2
    ) as sim:
        first, second = sim(theta), sim(theta)
    rows = {tuple(row.tolist()) for row in torch.cat([first, second])}
    assert len(rows) == 8  # all different: 4 rows x 2 calls


def test_episode_ends_pad_with_zeros_unless_stop_on_done_is_false():
    # CountingEnv: state = count, +increment per step, terminated from step 3 after a reset.
    spec = sbi_env_spec(COUNTING)
    real = [rollout(COUNTING(), IdlePolicy(spec.action_space), max_steps=5, stop_on_done=False)]
    assert real[0].states[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    emb = AllStepsEmbedding(spec, 2, len_rollouts=5)

    def simulate(stop_on_done: bool, **segments) -> list[float]:
        with SimRolloutSamplerForSBI(
            COUNTING,
            None,
            {0: "increment"},
            emb,
            stop_on_done=stop_on_done,
            rollouts_real=real,
            **segments,
        ) as sim:
            return sim(torch.tensor([2.0])).tolist()

    assert simulate(True, num_segments=1) == [0.0, 2.0, 4.0, 0.0, 0.0]  # ended after 3 steps
    assert simulate(False, num_segments=1) == [0.0, 2.0, 4.0, 6.0, 8.0]
    # Segments (0, 2), (2, 4), (4, 5) start from the recorded counts 0, 2, 4.
    assert simulate(True, len_segments=2) == [0.0, 2.0, 2.0, 4.0, 4.0]


@pytest.mark.parametrize("stop_on_done", [True, False])
def test_segments_longer_than_the_envs_time_limit_are_refused(stop_on_done):
    # A 30-step recording simulated on a 20-step PointMass: the env's time limit, counted from
    # each segment's reset, cut the simulated segment at step 20 and the rest was zero-padded,
    # even with stop_on_done=False, so sim(truth) never matched the recording's features.
    emb = AllStepsEmbedding(PM_SPEC, 3, len_rollouts=T)
    short = functools.partial(gym.make, POINT_MASS, max_episode_steps=20)
    with pytest.raises(
        ValueError,
        match=r"^rollouts_real segments must fit the env's time limit: segments of up to 30 "
        r"steps, but gymsamp/PointMass-v0 truncates episodes after 20 steps "
        r"\(max_episode_length\).*max_episode_steps=30\).*num_segments=2 or more",
    ):
        SimRolloutSamplerForSBI(
            short, None, {0: "mass"}, emb, num_segments=1, stop_on_done=stop_on_done,
            rollouts_real=[record()],
        )  # fmt: skip
    # Segments that fit the limit run as usual: every one is a fresh episode of the env.
    real = record()
    with SimRolloutSamplerForSBI(
        short, None, {0: "mass"}, emb, num_segments=2, stop_on_done=stop_on_done,
        rollouts_real=[real],
    ) as sim:  # fmt: skip
        x = sim(torch.tensor([2.0]))
    expected = reference([real], 2.0, [(0, 15), (15, 30)])
    torch.testing.assert_close(x, embed(emb, [expected])[0])


def test_dtw_compares_with_the_target_rollouts():
    real = [record(seed=0), record(seed=1)]
    emb = DynamicTimeWarpingEmbedding(PM_SPEC, 3)
    with SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass"}, emb, num_segments=1, rollouts_real=real
    ) as sim:
        x = sim(torch.tensor([[2.0], [1.0]]))
    assert x.shape == (2, 4)
    assert x[0].tolist() == [0.0] * 4  # the truth reproduces both recordings
    assert bool(torch.all(x[1, [0, 2]] > 0))  # the positions of a lighter mass differ


def test_dtw_aligns_the_simulation_to_the_target_in_that_order():
    # The default symmetric2 pattern hides the order: an asymmetric one tells.
    import dtw

    real = [record(seed=0)]
    emb = DynamicTimeWarpingEmbedding(PM_SPEC, 3, step_pattern="asymmetric")
    with SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass"}, emb, num_segments=1, rollouts_real=real
    ) as sim:
        x = sim(torch.tensor([[0.7]]))
    sim_states = reference(real, 0.7, [(0, T)])[0][:, :2]
    target_states = series(real[0])[:, :2]
    expected = [
        dtw.dtw(sim_states[:, j], target_states[:, j], step_pattern="asymmetric").distance
        for j in range(2)
    ]
    torch.testing.assert_close(x[0], torch.tensor(expected, dtype=x.dtype))


def test_dtw_without_target_rollouts_is_refused_not_embedded_to_zeros():
    # Without recordings the simulations were compared with themselves: all features were 0.
    emb = DynamicTimeWarpingEmbedding(PM_SPEC, 3)
    policy = IdlePolicy(PM_SPEC.action_space)
    with pytest.raises(ValueError, match=r"rollouts_real must be given for DynamicTimeWarping"):
        SimRolloutSamplerForSBI(POINT_MASS, policy, {0: "mass"}, emb, num_segments=1)


def test_the_simulation_replays_the_actions_the_recording_applied():
    # Torques of 3 beyond Pendulum's 2: the recording's actions_applied are what it ran.
    spec = sbi_env_spec("Pendulum-v1")
    torques = np.full((10, 1), 3.0, np.float32)
    real = rollout("Pendulum-v1", PlaybackPolicy(torques), seed=0, max_steps=10)
    assert real.actions_applied.ravel().tolist() == [2.0] * 10
    emb = BayesSimEmbedding(spec, 3)
    with SimRolloutSamplerForSBI(
        "Pendulum-v1", None, {0: "m"}, emb, num_segments=1, rollouts_real=[real]
    ) as sim:
        x = sim(torch.tensor([[1.0]]))  # Pendulum's nominal mass: the recording again
    torch.testing.assert_close(x[0], embed(emb, [[series(real)]])[0])


def test_a_recording_whose_actions_the_env_would_change_is_refused():
    # Without actions_applied, actions beyond the action space are replayed clipped.
    ran = rollout("Pendulum-v1", PlaybackPolicy(np.ones((10, 1), np.float32)), seed=0, max_steps=10)
    bad = StepSequence(
        rewards=ran.rewards,
        observations=ran.observations,
        states=ran.states,
        actions=np.full((10, 1), 3.0, np.float32),
        truncated=ran.truncated,
    )
    emb = BayesSimEmbedding(sbi_env_spec("Pendulum-v1"), 3)
    with (
        SimRolloutSamplerForSBI(
            "Pendulum-v1", None, {0: "m"}, emb, num_segments=2, rollouts_real=[bad]
        ) as sim,
        pytest.raises(ValueError, match="applied other actions than the recorded ones"),
    ):
        sim(torch.tensor([[1.0]]))


def test_the_callers_env_is_never_stepped_or_changed():
    env = gym.make("Pendulum-v1")
    before = {k: v for k, v in vars(env.unwrapped).items() if not k.startswith("np_random")}
    assert env.spec is not None  # Gymnasium's wrappers cache their spec on first access
    state_before = pickle.dumps(env)
    spec = sbi_env_spec(env)
    emb = BayesSimEmbedding(spec, 3)
    torques = np.full((20, 1), 1.0, np.float32)
    real = [rollout("Pendulum-v1", PlaybackPolicy(torques), seed=0, max_steps=20)]
    with SimRolloutSamplerForSBI(
        env, None, {0: "m", 1: "l"}, emb, num_segments=2, rollouts_real=real
    ) as sim:
        sim(torch.tensor([[1.5, 0.7]]))
    assert pickle.dumps(env) == state_before
    assert type(env) is gym.wrappers.TimeLimit
    assert env.unwrapped.m == 1.0
    assert env.unwrapped.l == 1.0
    assert "_gymsamp_adapter" not in vars(env.unwrapped)
    assert before.keys() == {k for k in vars(env.unwrapped) if not k.startswith("np_random")}
    # Its own initial-state distribution is intact (pyrado left an infinite init space).
    fresh = gym.make("Pendulum-v1")
    assert np.array_equal(env.reset(seed=5)[0], fresh.reset(seed=5)[0])


def test_closed_sampler_restarts_its_workers():
    real = [record()]
    emb = BayesSimEmbedding(PM_SPEC, 3)
    sim = SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass"}, emb, num_segments=3, rollouts_real=real
    )
    first = sim(torch.tensor([[1.0]]))
    sim.close()
    assert torch.equal(sim(torch.tensor([[1.0]])), first)
    sim.close()
    sim.close()  # idempotent
    assert "dp_names=('mass',)" in repr(sim)


def _zero_force_then(at, hook):
    """A batched PointMass policy (no force) that runs ``hook`` at its ``at``-th call."""
    return HookedPolicy(at, hook, lambda n: np.zeros((n, 1), dtype=np.float32))


def test_a_call_from_another_thread_is_refused_without_ending_the_running_one():
    # The second thread's call was refused by the SamplerPool (one call at a time), and the
    # simulator's error path then closed its pool: the running call failed with "the
    # SamplerPool was stopped while run_collections ran", and the refused call had counted
    # as a collection, so every later call reset with other seeds.
    emb = BayesSimEmbedding(PM_SPEC, 3)
    theta = torch.tensor([[1.0], [0.5]], dtype=torch.float64)
    options = dict(num_segments=1, seed=3)
    with SimRolloutSamplerForSBI(
        POINT_MASS, _zero_force_then(0, print), {0: "mass"}, emb, **options
    ) as reference:
        expected = [reference(theta), reference(theta)]
    refused: list[BaseException] = []

    def call_from_another_thread() -> None:
        refused.extend(errors_in_another_thread(lambda: sim(theta)))

    policy = _zero_force_then(3, call_from_another_thread)
    with SimRolloutSamplerForSBI(POINT_MASS, policy, {0: "mass"}, emb, **options) as sim:
        assert torch.equal(sim(theta), expected[0])
        assert [str(err) for err in refused] == [
            "SimRolloutSamplerForSBI was called while a call of it runs in another thread: a "
            "simulator runs one call at a time (give each thread its own simulator)"
        ]
        assert type(refused[0]) is RuntimeError
        assert torch.equal(sim(theta), expected[1])  # the refused call counted no collection


def test_a_call_from_inside_a_running_call_is_refused():
    emb = BayesSimEmbedding(PM_SPEC, 3)
    nested: list[BaseException] = []

    def call_inside() -> None:
        try:
            sim(torch.tensor([1.0]))
        except RuntimeError as err:
            nested.append(err)

    policy = _zero_force_then(2, call_inside)
    with SimRolloutSamplerForSBI(
        POINT_MASS, policy, {0: "mass"}, emb, num_segments=1, seed=3
    ) as sim:
        assert sim(torch.tensor([[1.0]])).shape == (1, emb.dim_output)
    assert [str(err) for err in nested] == [
        "SimRolloutSamplerForSBI was called inside its running call (from the policy or the "
        "embedding): a simulator runs one call at a time"
    ]


def test_an_interrupted_call_closes_the_workers_and_the_next_call_restarts_them():
    def interrupt() -> None:
        raise KeyboardInterrupt

    emb = BayesSimEmbedding(PM_SPEC, 3)
    theta = torch.tensor([[1.0]])
    with SimRolloutSamplerForSBI(
        POINT_MASS, _zero_force_then(0, print), {0: "mass"}, emb, num_segments=1, seed=3
    ) as reference:
        reference(theta)  # the interrupted call counts as collection 0
        expected = reference(theta)
    policy = _zero_force_then(2, interrupt)
    with SimRolloutSamplerForSBI(
        POINT_MASS, policy, {0: "mass"}, emb, num_segments=1, seed=3
    ) as sim:
        with pytest.raises(KeyboardInterrupt):
            sim(theta)
        assert sim._pool is None  # a worker may hold a half-run collection
        assert torch.equal(sim(theta), expected)


def test_an_env_that_fails_to_build_in_the_workers_stops_them(monkeypatch):
    stopped = []
    stop = SamplerPool.stop
    monkeypatch.setattr(SamplerPool, "stop", lambda pool: stopped.append(pool) or stop(pool))

    def no_simulator():
        raise RuntimeError("no simulator here")

    emb = BayesSimEmbedding(PM_SPEC, 3)
    with pytest.raises(WorkerError, match="raised RuntimeError in setup_worker: no simulator here"):
        SimRolloutSamplerForSBI(
            no_simulator, IdlePolicy(PM_SPEC.action_space), {0: "mass"}, emb, num_segments=1
        )
    assert len(stopped) == 1


def test_the_simulator_shows_its_embedding_and_the_envs_spec():
    emb = BayesSimEmbedding(PM_SPEC, 3)
    with SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass"}, emb, num_segments=1, rollouts_real=[record()]
    ) as sim:
        assert sim.embedding is emb
        assert sim.spec.state_labels == PM_SPEC.state_labels
        assert sim.spec.state_space == PM_SPEC.state_space
        assert sim.spec.max_episode_length == 200


def test_check_domain_params_compares_rollout_info_with_the_command():
    real = [record()]
    emb = BayesSimEmbedding(PM_SPEC, 3)
    with SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass", 1: "dt"}, emb, num_segments=1, rollouts_real=real
    ) as sim:
        ro = record(mass=1.5)
        sim.check_domain_params(ro, np.array([1.5, 0.05]), ["mass", "dt"])
        sim.check_domain_params([ro, ro], [1.5], ["mass"])
        with pytest.raises(ValueError, match=r"ran with domain parameters \['mass'\] = \[1.5\]"):
            sim.check_domain_params(ro, np.array([1.4]), ["mass"])


def test_parameter_rows_the_simulator_refuses_are_named_before_any_worker_runs():
    emb = BayesSimEmbedding(sbi_env_spec("Pendulum-v1"), 3)
    with SimRolloutSamplerForSBI(
        "Pendulum-v1", LinearPolicy((3, 1)), {0: "m"}, emb, num_segments=1, seed=0
    ) as sim:
        with pytest.raises(
            ValueError,
            match=r"^dp_values row 1 must hold values Pendulum-v1 accepts: "
            r"domain_param\['m'\] must be a finite real number > 0, got -1.0$",
        ):
            sim(torch.tensor([[1.0], [-1.0]]))
        assert sim(torch.tensor([[1.0], [0.5]])).shape == (2, emb.dim_output)


def test_dp_mapping_keys_may_be_numpy_integers():
    # dict(zip(np.arange(2), names)) was refused: "dp_mapping keys must be the integers 0 .. 1,
    # got [np.int64(0), np.int64(1)]", although they are those integers.
    real = [record()]
    emb = BayesSimEmbedding(PM_SPEC, 3)
    theta = torch.tensor([[2.0, 0.05], [1.5, 0.05]])
    features = []
    for mapping in ({0: "mass", 1: "dt"}, dict(zip(np.arange(2), ["mass", "dt"], strict=True))):
        with SimRolloutSamplerForSBI(
            POINT_MASS, None, mapping, emb, num_segments=1, rollouts_real=real, seed=0
        ) as sim:
            features.append(sim(theta))
    torch.testing.assert_close(features[0], features[1], rtol=0, atol=0)
    for keys in ([0.0, 1.0], ["0", "1"]):
        with pytest.raises(ValueError, match="dp_mapping keys must be the integers 0 .. 1"):
            SimRolloutSamplerForSBI(
                POINT_MASS,
                None,
                dict(zip(keys, ["mass", "dt"], strict=True)),
                emb,
                num_segments=1,
                rollouts_real=real,
            )


def test_complex_or_bool_dp_values_are_refused_not_cast():
    # A complex theta lost its imaginary part (only torch's UserWarning said so) and a bool
    # theta simulated mass=1.0: both ran as if they were the real values they are not.
    emb = BayesSimEmbedding(PM_SPEC, 3)
    with SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass"}, emb, num_segments=1, rollouts_real=[record()]
    ) as sim:
        with pytest.raises(
            TypeError, match=r"dp_values must hold real numbers, got dtype .*complex"
        ):
            sim(torch.tensor([[1.5 + 2.0j]]))
        with pytest.raises(TypeError, match=r"dp_values must hold real numbers, got dtype .*bool"):
            sim(np.array([[True]]))
        # Integer and float rows still work (the mass 2 is applied as 2.0).
        torch.testing.assert_close(sim(torch.tensor([[2]])), sim(torch.tensor([[2.0]])))


def test_bad_input_is_named():
    real = [record()]
    emb = BayesSimEmbedding(PM_SPEC, 3)
    kwargs = {"num_segments": 1, "rollouts_real": real}
    with SimRolloutSamplerForSBI(POINT_MASS, None, {0: "mass", 1: "dt"}, emb, **kwargs) as sim:
        with pytest.raises(ValueError, match=r"dp_values must have shape \(B, 2\) or \(2,\)"):
            sim(torch.ones(3, 3))
        with pytest.raises(ValueError, match="dp_values must have shape"):
            sim(torch.ones(2, 2, 2))
        with pytest.raises(ValueError, match=r"dp_values must have shape .* got shape \(0, 2\)"):
            sim(torch.zeros(0, 2))  # no rows: nothing to simulate
        with pytest.raises(ValueError, match="dp_values must be finite"):
            sim(torch.tensor([[1.0, float("nan")]]))
        with pytest.raises(TypeError, match="dp_values must be a tensor or array of numbers"):
            sim("mass")
    with pytest.raises(ValueError, match="exactly one of num_segments and len_segments"):
        SimRolloutSamplerForSBI(POINT_MASS, None, {0: "mass"}, emb, rollouts_real=real)
    with pytest.raises(ValueError, match="exactly one of num_segments and len_segments"):
        SimRolloutSamplerForSBI(
            POINT_MASS, None, {0: "mass"}, emb, num_segments=2, len_segments=3, rollouts_real=real
        )
    with pytest.raises(ValueError, match="len_segments must be None or an int >= 1"):
        SimRolloutSamplerForSBI(POINT_MASS, None, {0: "mass"}, emb, len_segments=0)
    with pytest.raises(ValueError, match="num_segments must be at most the rollout length 30"):
        SimRolloutSamplerForSBI(
            POINT_MASS, None, {0: "mass"}, emb, num_segments=31, rollouts_real=real
        )
    # Once accepted: one segment of all 30 steps, shorter than asked, without a word.
    with pytest.raises(
        ValueError,
        match=r"^len_segments must be at most the rollout length 30, got 31 \(num_segments=1 ",
    ):
        SimRolloutSamplerForSBI(
            POINT_MASS, None, {0: "mass"}, emb, len_segments=31, rollouts_real=real
        )
    # Once "rollout_count needs a continuous sequence", naming no argument.
    shuffled = next(iter(real[0].split_shuffled_batches(10, seed=0)))
    with pytest.raises(
        ValueError,
        match=r"^rollouts_real\[1\] must be a recorded rollout, got a non-continuous batch ",
    ):
        SimRolloutSamplerForSBI(
            POINT_MASS, None, {0: "mass"}, emb, num_segments=1, rollouts_real=[real[0], shuffled]
        )
    with pytest.raises(
        ValueError, match=r"rollouts_real must all have the same length, got \[30, 20\]"
    ):
        SimRolloutSamplerForSBI(
            POINT_MASS,
            None,
            {0: "mass"},
            emb,
            num_segments=1,
            rollouts_real=[real[0], record(forces=FORCES[:20])],
        )
    with pytest.raises(TypeError, match="rollouts_real must be None or a list"):
        SimRolloutSamplerForSBI(
            POINT_MASS, None, {0: "mass"}, emb, num_segments=1, rollouts_real=real[0]
        )
    with pytest.raises(ValueError, match="dp_mapping has unknown names \\['m'\\]"):
        SimRolloutSamplerForSBI(POINT_MASS, None, {0: "m"}, emb, **kwargs)
    with pytest.raises(ValueError, match="dp_mapping keys must be the integers 0 .. 1"):
        SimRolloutSamplerForSBI(POINT_MASS, None, {1: "mass", 2: "dt"}, emb, **kwargs)
    with pytest.raises(ValueError, match="policy must be given"):
        SimRolloutSamplerForSBI(POINT_MASS, None, {0: "mass"}, emb, num_segments=1)
    pendulum_emb = BayesSimEmbedding(sbi_env_spec("Pendulum-v1"), 3)
    with pytest.raises(
        ValueError, match="rollouts_real\\[0\\] has states of shape \\(2,\\) but must"
    ):
        SimRolloutSamplerForSBI(
            "CartPole-v1",
            None,
            {0: "length"},
            BayesSimEmbedding(sbi_env_spec("CartPole-v1"), 5),
            **kwargs,
        )
    with pytest.raises(ValueError, match="embedding was built for 2 state and 1 action columns"):
        SimRolloutSamplerForSBI("CartPole-v1", None, {0: "length"}, pendulum_emb, **kwargs)
    with pytest.raises(TypeError, match="embedding must be a gymsamp.sbi.Embedding"):
        SimRolloutSamplerForSBI(POINT_MASS, None, {0: "mass"}, None, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_workers must be an int >= 1"):
        SimRolloutSamplerForSBI(POINT_MASS, None, {0: "mass"}, emb, num_workers=0, **kwargs)


def _frozen_lake_rollout() -> StepSequence:
    """A rollout of an env gymsamp has no state adapter for: it records no 'states'."""
    return rollout("FrozenLake-v1", IdlePolicy(gym.spaces.Discrete(4)), seed=0, max_steps=3)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"dp_mapping": ["mass"]},
            TypeError,
            r"dp_mapping must be a non-empty dict .* got \['mass'\]",
        ),
        ({"dp_mapping": {}}, ValueError, r"dp_mapping must be a non-empty dict .* got \{\}"),
        (
            {"dp_mapping": {0: "mass", 1: "mass"}},
            ValueError,
            r"dp_mapping values must be distinct names, got \('mass', 'mass'\)",
        ),
        (
            {"dp_mapping": {0: 1}},
            ValueError,
            r"dp_mapping values must be distinct names, got \(1,\)",
        ),
        ({"vectorization": "thread"}, ValueError, "vectorization must be one of .* got 'thread'"),
        (
            {"rollouts_real": []},
            ValueError,
            r"rollouts_real must be None or a non-empty list, got \[\]",
        ),
        (
            {"rollouts_real": ["x"]},
            TypeError,
            "rollouts_real\\[0\\] must be a StepSequence, got str",
        ),
        (
            {"rollouts_real": [StepSequence.concat([record(), record()])]},
            ValueError,
            r"rollouts_real\[0\] must hold a single rollout, got 2",
        ),
        (
            {"rollouts_real": [_frozen_lake_rollout()]},
            ValueError,
            r"rollouts_real\[0\] must have 'states' to start the simulated segments",
        ),
    ],
    ids=[
        "list",
        "empty",
        "twice",
        "not-a-name",
        "vectorization",
        "no-rollouts",
        "not-a-rollout",
        "two-rollouts",
        "no-states",
    ],
)
def test_bad_mappings_and_recordings_are_refused_before_workers_start(
    monkeypatch, kwargs, error, message
):
    def no_pool(*args, **kwargs):
        raise AssertionError("the pool must not start for arguments the simulator refuses")

    monkeypatch.setattr(SimRolloutSamplerForSBI, "_start_pool", no_pool)
    args = {"dp_mapping": {0: "mass"}, "num_segments": 1, "rollouts_real": [record()], **kwargs}
    with pytest.raises(error, match=f"^{message}"):
        SimRolloutSamplerForSBI(POINT_MASS, None, embedding=BayesSimEmbedding(PM_SPEC, 3), **args)


def test_an_env_without_domain_parameters_or_time_limit_is_refused_by_name():
    spec = sbi_env_spec("FrozenLake-v1")  # no adapter: its observations are the data
    assert spec.state_space is None
    with pytest.raises(TypeError, match=r"^env must have domain parameters .* got FrozenLake-v1$"):
        SimRolloutSamplerForSBI(
            "FrozenLake-v1",
            IdlePolicy(spec.action_space),
            {0: "p"},
            BayesSimEmbedding(spec, 2),
            num_segments=1,
        )
    # Without recordings, the simulations run to the time limit: there must be one.
    with pytest.raises(
        ValueError,
        match=r"^env must have a time limit \(max_episode_length\) when rollouts_real is None, "
        "got PointMassEnv without one$",
    ):
        SimRolloutSamplerForSBI(
            PointMassEnv,
            IdlePolicy(PM_SPEC.action_space),
            {0: "mass"},
            BayesSimEmbedding(PM_SPEC, 3),
            num_segments=1,
        )


def test_rec_sampler_reads_gymsamp_files_and_cycles(tmp_path):
    ros = [record(seed=s) for s in range(3)]
    save_rollouts(tmp_path / "b.npz", ros[1:])  # one file may hold several rollouts
    save_rollouts(tmp_path / "a.npz", ros[:1])
    (tmp_path / "notes.txt").write_text("ignored: not an .npz file")
    emb = BayesSimEmbedding(PM_SPEC, 3)
    rec = RecRolloutSamplerForSBI(tmp_path, emb, num_segments=1, rand_init_rollout=False)
    assert rec.num_rollouts == 3
    assert rec.ring_idx == 0
    seeds = []
    for _ in range(4):
        x, ro = rec()
        assert torch.equal(x, embed(emb, [[series(ro)]]))
        seeds.append(ro.rollout_info["seed"])
    assert seeds == [derive_seed(s, 0, 0) for s in (0, 1, 2, 0)]  # file name order, cycling
    randomized = RecRolloutSamplerForSBI(str(tmp_path), emb, num_segments=1, seed=7)
    assert randomized.ring_idx == int(np.random.default_rng(7).integers(3))
    randomized.ring_idx = 2
    assert randomized()[1].rollout_info["seed"] == derive_seed(2, 0, 0)
    with pytest.raises(ValueError, match=r"ring_idx must be in \[0, 3\)"):
        randomized.ring_idx = 3


def test_rec_sampler_splits_a_saved_sequence_of_several_rollouts(tmp_path):
    ros = [record(seed=s, forces=FORCES[:5]) for s in range(2)]
    save_rollouts(tmp_path / "r.npz", [StepSequence.concat(ros)])
    emb = BayesSimEmbedding(PM_SPEC, 3)
    rec = RecRolloutSamplerForSBI(tmp_path, emb, num_segments=1, rand_init_rollout=False)
    assert rec.num_rollouts == 2
    for expected in ros:
        x, ro = rec()
        assert ro.length == 5
        np.testing.assert_array_equal(ro.states, expected.states)
        assert torch.equal(x, embed(emb, [[series(expected)]]))


def test_rec_sampler_says_how_to_record_states(tmp_path):
    from gymsamp.sampling import ParallelRolloutSampler

    with ParallelRolloutSampler(
        POINT_MASS,
        IdlePolicy(PM_SPEC.action_space),
        1,
        min_rollouts=2,
        max_steps=5,
        seed=0,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        save_rollouts(tmp_path / "no_states.npz", sampler.sample())  # record_states=False
    with pytest.raises(
        ValueError, match="no_states.npz' must have a 'states' field.*record_states=True"
    ):
        RecRolloutSamplerForSBI(tmp_path, BayesSimEmbedding(PM_SPEC, 3), num_segments=1)


def test_rec_sampler_rejects_bad_directories(tmp_path):
    emb = BayesSimEmbedding(PM_SPEC, 3)
    with pytest.raises(ValueError, match="rollouts_dir .* holds no rollouts"):
        RecRolloutSamplerForSBI(tmp_path, emb, num_segments=1)
    with pytest.raises(ValueError, match="rollouts_dir must be an existing directory"):
        RecRolloutSamplerForSBI(tmp_path / "missing", emb, num_segments=1)
    save_rollouts(tmp_path / "long.npz", [record()])
    save_rollouts(tmp_path / "short.npz", [record(forces=FORCES[:10])] * 3)
    with pytest.raises(ValueError, match="rollouts_dir .* equal length") as info:
        RecRolloutSamplerForSBI(tmp_path, emb, num_segments=1)
    assert str(info.value).endswith(
        "got lengths 10 (3x, first in short.npz), 30 (1x, first in long.npz)"
    )
    # A folder of thousands of recordings of many lengths: the most common few are listed.
    for n in range(11, 18):
        save_rollouts(tmp_path / f"len{n}.npz", [record(forces=FORCES[:n])] * (1 + n % 2))
    with pytest.raises(ValueError, match="rollouts_dir .* equal length") as info:
        RecRolloutSamplerForSBI(tmp_path, emb, num_segments=1)
    assert str(info.value).endswith(
        "got lengths 10 (3x, first in short.npz), 11 (2x, first in len11.npz), "
        "13 (2x, first in len13.npz), 15 (2x, first in len15.npz), "
        "17 (2x, first in len17.npz) and 4 other lengths"
    )
    for n in range(11, 18):
        (tmp_path / f"len{n}.npz").unlink()
    (tmp_path / "short.npz").unlink()
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))  # not a gymsamp file
    with pytest.raises(ValueError, match="plain.npz"):
        RecRolloutSamplerForSBI(tmp_path, emb, num_segments=1)
    with pytest.raises(ValueError, match="exactly one of num_segments and len_segments"):
        RecRolloutSamplerForSBI(tmp_path, emb)
    # A shuffled batch was accepted and failed at the call it came up: "rollout_count needs
    # a continuous sequence".
    batches = tmp_path / "batches"
    batches.mkdir()
    save_rollouts(batches / "shuffled.npz", list(record().split_shuffled_batches(10, seed=0)))
    with pytest.raises(
        ValueError,
        match=r"^rollouts_dir .* must hold recorded rollouts, but shuffled.npz holds a "
        r"non-continuous batch ",
    ):
        RecRolloutSamplerForSBI(batches, emb, num_segments=1)


def test_rec_sampler_ring_idx_and_rollouts_dir_are_checked(tmp_path):
    save_rollouts(tmp_path / "a.npz", [record(seed=0), record(seed=1)])
    emb = BayesSimEmbedding(PM_SPEC, 3)
    with pytest.raises(TypeError, match="^rollouts_dir must be a path to a directory, got int$"):
        RecRolloutSamplerForSBI(3, emb, num_segments=1)  # type: ignore[arg-type]
    rec = RecRolloutSamplerForSBI(tmp_path, emb, num_segments=1, rand_init_rollout=False)
    for bad in (1.0, True, "1"):
        with pytest.raises(TypeError, match=f"^ring_idx must be an int, got {bad!r}$"):
            rec.ring_idx = bad  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"^ring_idx must be in \[0, 2\), got 2$"):
        rec.ring_idx = 2
    rec.ring_idx = np.int64(1)
    assert rec.ring_idx == 1
    assert rec()[1].rollout_info["seed"] == record(seed=1).rollout_info["seed"]
    assert rec.ring_idx == 0
    # rollouts_rec is the sampler's list: a sequence of two rollouts put there is named.
    rec.rollouts_rec[0] = StepSequence.concat([record(), record()])
    with pytest.raises(
        ValueError, match=rf"^the rollout from {tmp_path} must hold a single rollout, got 2$"
    ):
        rec()


def test_target_rollouts_of_another_width_than_the_embedding_are_named(tmp_path):
    save_rollouts(tmp_path / "a.npz", [record()])
    cart_pole = BayesSimEmbedding(sbi_env_spec("CartPole-v1"), 5)
    # Named when the folder is read, with the file, not at the call that reaches the rollout.
    with pytest.raises(
        ValueError,
        match=rf"^a rollout in '{re.escape(str(tmp_path / 'a.npz'))}' has 2 states and 1 action "
        "columns but must have 4 and 1 to match the embedding's spec$",
    ):
        RecRolloutSamplerForSBI(tmp_path, cart_pole, num_segments=1)
    # The list stays the sampler's own: a rollout put there later is checked at its call.
    rec = RecRolloutSamplerForSBI(tmp_path, BayesSimEmbedding(PM_SPEC, 3), num_segments=1)
    rec.rollouts_rec[0] = rollout("CartPole-v1", IdlePolicy(gym.spaces.Discrete(2)), seed=0)
    with pytest.raises(ValueError, match=rf"^the rollout from {tmp_path} has 4 states"):
        rec()
    real = RealRolloutSamplerForSBI(
        "CartPole-v1", IdlePolicy(gym.spaces.Discrete(2)), BayesSimEmbedding(PM_SPEC, 3), 1
    )
    with pytest.raises(
        ValueError,
        match="^the target-domain rollout has 4 states and 1 action columns but must have 2 and 1",
    ):
        real()


def test_real_sampler_runs_one_seeded_rollout_per_call():
    emb = BayesSimEmbedding(PM_SPEC, 3)
    real = RealRolloutSamplerForSBI(POINT_MASS, PlaybackPolicy(FORCES), emb, num_segments=1, seed=4)
    for k in range(2):
        x, ro = real()
        assert ro.rollout_info["seed"] == derive_seed(4, 0, k)
        assert ro.length == 200  # the env's time limit
        assert torch.equal(x, embed(emb, [[series(ro)]]))
    assert RolloutSamplerForSBI.get_dim_data(PM_SPEC) == 3
    with pytest.raises(TypeError, match="^spec must be a gymsamp.data.EnvSpec, got str$"):
        RolloutSamplerForSBI.get_dim_data("gymsamp/PointMass-v0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="env and policy must be given"):
        RealRolloutSamplerForSBI(POINT_MASS, None, emb, num_segments=1)


@pytest.mark.filterwarnings("ignore:.*already returned terminated = True")
def test_target_samplers_repr_names_their_source_and_position(tmp_path):
    emb = BayesSimEmbedding(PM_SPEC, 3)
    env = gym.make(POINT_MASS)
    real = RealRolloutSamplerForSBI(env, IdlePolicy(PM_SPEC.action_space), emb, 1, seed=4)
    real()
    assert repr(real) == (
        "RealRolloutSamplerForSBI(env='gymsamp/PointMass-v0', embedding=BayesSimEmbedding, "
        "seed=4, calls=1)"
    )
    env.close()
    factory = RealRolloutSamplerForSBI(PointMassEnv, IdlePolicy(PM_SPEC.action_space), emb, 1)
    assert repr(factory).startswith("RealRolloutSamplerForSBI(env='PointMassEnv', ")
    save_rollouts(tmp_path / "a.npz", [record(seed=0), record(seed=1)])
    rec = RecRolloutSamplerForSBI(tmp_path, emb, 1, rand_init_rollout=False)
    rec()
    assert repr(rec) == (
        f"RecRolloutSamplerForSBI(rollouts_dir={str(tmp_path)!r}, num_rollouts=2, "
        "embedding=BayesSimEmbedding, ring_idx=1)"
    )


def test_real_sampler_runs_past_episode_ends_with_stop_on_done_false():
    spec = sbi_env_spec("CartPole-v1")
    emb = BayesSimEmbedding(spec, 5)
    push = PlaybackPolicy(np.ones(60, dtype=np.int64))  # always right: falls after ~10 steps

    def make():
        return gym.make("CartPole-v1", max_episode_steps=50)

    _, stopped = RealRolloutSamplerForSBI(make, push, emb, num_segments=1, seed=0)()
    # Gymnasium warns that the env steps past its end: what stop_on_done=False asks for.
    with pytest.warns(UserWarning, match="already returned terminated = True"):
        x, ran = RealRolloutSamplerForSBI(
            make, push, emb, num_segments=1, stop_on_done=False, seed=0
        )()
    assert stopped.length < 50
    assert stopped.terminated[-1]
    assert ran.length == 50  # to the time limit
    with pytest.warns(UserWarning, match="already returned terminated = True"):
        expected = rollout(make(), push, eval=True, stop_on_done=False, seed=0, sub_seed=0)
    np.testing.assert_array_equal(ran.observations, expected.observations)
    assert torch.equal(x, embed(emb, [[series(ran)]]))


def test_sim_sampler_checks_the_policy_before_starting_workers(monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("the pool must not start for a policy as_policy would refuse")

    monkeypatch.setattr(SimRolloutSamplerForSBI, "_start_pool", no_pool)
    emb = BayesSimEmbedding(PM_SPEC, 3)
    # Was a WorkerError from the worker's as_policy.
    with pytest.raises(TypeError, match=r"policy must be a gymsamp Policy .*, got int"):
        SimRolloutSamplerForSBI(POINT_MASS, 3, {0: "mass"}, emb, num_segments=1)


def test_rec_sampler_rand_init_rollout_must_be_a_bool(tmp_path):
    save_rollouts(tmp_path / "a.npz", [record()])
    emb = BayesSimEmbedding(PM_SPEC, 3)
    with pytest.raises(
        TypeError, match=r"rand_init_rollout must be a bool \(True or False\), got 'no'"
    ):
        RecRolloutSamplerForSBI(tmp_path, emb, num_segments=1, rand_init_rollout="no")
    rec = RecRolloutSamplerForSBI(tmp_path, emb, num_segments=1, rand_init_rollout=np.False_)
    assert rec.num_rollouts == 1


def test_pickling_the_simulator_says_how_to_simulate_in_parallel():
    # sbi's simulate_for_sbi(num_workers > 1) ships the simulator to joblib workers: each copy
    # would number its calls from the same count, so every batch's row b would share a seed.
    import cloudpickle

    emb = AllStepsEmbedding(PM_SPEC, 3, len_rollouts=T)
    real = [record()]
    with SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass"}, emb, num_segments=1, rollouts_real=real
    ) as sim:
        for dumps in (pickle.dumps, cloudpickle.dumps):
            with pytest.raises(TypeError, match="simulate_for_sbi with num_workers=1"):
                dumps(sim)


def _no_torque(obs):
    return np.zeros((len(obs), 1))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("mode", ["episodes", "replay", "policy"])
def test_a_failing_simulation_is_named_by_its_theta_row_for_any_worker_count(workers, mode):
    # The error named the worker's own rollout and sub-env numbers (row 2 read "rollout 0"
    # with 2 workers) and no parameter row.
    kwargs: dict = {"num_segments": 1}
    if mode != "episodes":
        real = rollout("Pendulum-v1", _no_torque, seed=3, max_steps=12)
        kwargs = {"num_segments": 2, "rollouts_real": [real], "use_rec_act": mode == "replay"}
    theta = np.array([[1.0, 1.0], [0.9, 1.2], [1e-200, 1.0], [1.1, 0.8]])
    embedding = BayesSimEmbedding(sbi_env_spec("Pendulum-v1"), 3)
    with SimRolloutSamplerForSBI(
        "Pendulum-v1", _no_torque, {0: "l", 1: "m"}, embedding, seed=0, num_workers=workers,
        **kwargs,
    ) as sim:  # fmt: skip
        with pytest.raises(WorkerError) as info:
            sim(theta)
        assert str(info.value).splitlines()[0] == (
            "simulating theta row 2 (l=1e-200, m=1) failed: the env raised ZeroDivisionError "
            "in step: float division by zero"
        )
        assert info.value.rollout_indices == (2,)
        assert "ZeroDivisionError" in info.value.remote_traceback
        assert sim(theta[[0, 1, 3]]).shape[0] == 3  # usable again


# The diverging CartPole's own overflow warnings, and Gymnasium's on stepping past its end.
@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("workers", [1, 2])
def test_a_diverging_simulation_is_a_non_finite_error_of_its_row(workers):
    def push(obs):
        return np.ones(len(obs), np.int64)

    theta = np.array([[0.5], [0.6], [1e-300], [0.7]])  # row 2: the pole's length underflows
    spec = sbi_env_spec("CartPole-v1")
    with (
        SimRolloutSamplerForSBI(
            "CartPole-v1", push, {0: "length"}, BayesSimEmbedding(spec, 5), num_segments=1,
            seed=0, stop_on_done=False, num_workers=workers,
        ) as sim,
        pytest.raises(NonFiniteError) as info,
    ):  # fmt: skip
        sim(theta)
    assert str(info.value).startswith(
        "simulating theta row 2 (length=1e-300) failed: observations must be finite, got array("
    )
    assert str(info.value).endswith("at step 1")
    assert info.value.rollout_indices == (2,)


def _nan_and_valid_features(workers: int, mode: str, theta: np.ndarray, valid: np.ndarray):
    """Pendulum features of ``theta`` with ``on_failure="nan"`` (and the warnings), those of
    ``valid`` from a raising simulator, and those of ``valid`` from the NaN one's next call."""
    kwargs: dict = {"num_segments": 1}
    if mode != "episodes":
        real = rollout("Pendulum-v1", _no_torque, seed=3, max_steps=12)
        kwargs = {"num_segments": 2, "rollouts_real": [real], "use_rec_act": mode == "replay"}
    embedding = BayesSimEmbedding(sbi_env_spec("Pendulum-v1"), 3)

    def simulator(on_failure: str) -> SimRolloutSamplerForSBI:
        return SimRolloutSamplerForSBI(
            "Pendulum-v1", _no_torque, {0: "l", 1: "m"}, embedding, seed=0,
            num_workers=workers, on_failure=on_failure, **kwargs,
        )  # fmt: skip

    with simulator("raise") as sim:
        expected = sim(valid)
    with simulator("nan") as sim:
        with pytest.warns(RuntimeWarning) as record:
            features = sim(theta)
        again = sim(valid)  # the next call runs every row
    return features, expected, again, record


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("mode", ["episodes", "replay", "policy"])
def test_on_failure_nan_gives_failed_rows_nan_features_and_the_rest_as_usual(workers, mode):
    # sbi's convention for a failed simulation is a row of NaN, which append_simulations drops;
    # without on_failure="nan" one diverging row cost the whole batch.
    theta = np.array([[1.0, 1.0], [0.9, 1.2], [1e-200, 1.0], [1.1, 0.8], [1e-200, 0.5]])
    valid = theta.copy()
    valid[[2, 4], 0] = 1.0  # the same rows at the same positions (hence seeds), all valid
    features, expected, again, record = _nan_and_valid_features(workers, mode, theta, valid)
    assert features.shape == expected.shape
    assert torch.isnan(features[[2, 4]]).all()
    assert torch.equal(features[[0, 1, 3]], expected[[0, 1, 3]])
    assert not torch.isnan(again).any()
    (warning,) = record
    assert str(warning.message) == (
        "2 of 5 theta rows failed to simulate and have NaN features (on_failure='nan'): "
        "row 2 (l=1e-200, m=1): the env raised ZeroDivisionError in step: float division by "
        "zero; row 4 (l=1e-200, m=0.5): the env raised ZeroDivisionError in step: float "
        "division by zero"
    )


def test_on_failure_nan_with_every_row_failing_gives_nan_features_of_the_usual_shape():
    embedding = BayesSimEmbedding(sbi_env_spec("Pendulum-v1"), 3)
    with (
        SimRolloutSamplerForSBI(
            "Pendulum-v1", _no_torque, {0: "l"}, embedding, num_segments=1, seed=0,
            on_failure="nan",
        ) as sim,
        pytest.warns(RuntimeWarning, match=r"^2 of 2 theta rows failed"),
    ):  # fmt: skip
        features = sim(np.array([[1e-200], [1e-250]]))
    assert features.shape == (2, embedding.dim_output)
    assert torch.isnan(features).all()


def test_on_failure_nan_features_stay_on_the_device_the_embedding_computed_them_on(monkeypatch):
    # With use_cuda=True a call's features are on the GPU, but those of a call with failed
    # rows were written into a NaN tensor made on the CPU (mixing devices). The "meta" device
    # stands in for a GPU on a machine without one.
    import gymsamp.sbi.samplers as samplers

    embed_data = samplers.embed_data
    monkeypatch.setattr(samplers, "embed_data", lambda *args: embed_data(*args).to("meta"))
    embedding = BayesSimEmbedding(sbi_env_spec("Pendulum-v1"), 3)
    with SimRolloutSamplerForSBI(
        "Pendulum-v1", _no_torque, {0: "l"}, embedding, num_segments=1, seed=0, on_failure="nan"
    ) as sim:
        with pytest.warns(RuntimeWarning, match=r"^1 of 3 theta rows failed"):
            features = sim(np.array([[1.0], [1e-200], [0.9]]))
        clean = sim(np.array([[1.0], [0.9]]))
    assert features.device.type == clean.device.type == "meta"
    assert features.shape == (3, embedding.dim_output)


@pytest.mark.parametrize(
    ("workers", "mode"), [(1, "episodes"), (1, "replay"), (1, "policy"), (2, "policy")]
)
def test_on_failure_nan_gives_rows_the_env_would_refuse_nan_features_too(workers, mode):
    # A value the env refuses (a negative mass drawn from a wide prior) was checked up front
    # for the whole call: it raised and no row got features, whatever on_failure said.
    theta = np.array([[1.0, 1.0], [0.9, 1.2], [1.0, -0.1], [1.1, 0.8], [1e-200, 0.5]])
    valid = theta.copy()
    valid[2, 1] = valid[4, 0] = 1.0  # the same rows at the same positions (hence seeds)
    features, expected, again, record = _nan_and_valid_features(workers, mode, theta, valid)
    assert not torch.isnan(again).any()
    assert features.shape == expected.shape
    assert torch.isnan(features[[2, 4]]).all()
    assert torch.equal(features[[0, 1, 3]], expected[[0, 1, 3]])
    (warning,) = record
    assert str(warning.message) == (
        "2 of 5 theta rows failed to simulate and have NaN features (on_failure='nan'): "
        "row 2 (l=1, m=-0.1): Pendulum-v1 does not accept these values: domain_param['m'] "
        "must be a finite real number > 0, got -0.1; row 4 (l=1e-200, m=0.5): the env "
        "raised ZeroDivisionError in step: float division by zero"
    )


def test_on_failure_nan_with_every_row_refused_gives_nan_features_of_the_usual_shape():
    embedding = BayesSimEmbedding(sbi_env_spec("Pendulum-v1"), 3)
    with SimRolloutSamplerForSBI(
        "Pendulum-v1", _no_torque, {0: "m"}, embedding, num_segments=1, seed=0,
        on_failure="nan",
    ) as sim:  # fmt: skip
        with pytest.warns(RuntimeWarning, match=r"^2 of 2 theta rows failed .* got -2.0$"):
            features = sim(np.array([[-1.0], [-2.0]]))
        assert features.shape == (2, embedding.dim_output)
        assert torch.isnan(features).all()
        assert not torch.isnan(sim(np.array([[1.0], [2.0]]))).any()  # usable as usual


def test_on_failure_must_be_raise_or_nan():
    embedding = BayesSimEmbedding(sbi_env_spec("Pendulum-v1"), 3)
    with pytest.raises(
        ValueError, match=r"on_failure must be one of \('raise', 'nan'\), got 'skip'"
    ):
        SimRolloutSamplerForSBI(
            "Pendulum-v1", _no_torque, {0: "l"}, embedding, num_segments=1, on_failure="skip"
        )


class _FragileMass(PointMassEnv):
    """Refuses masses above 10 in its reset (no validator can tell beforehand)."""

    def set_domain_param(self, domain_param):
        if domain_param.get("mass", 1.0) > 10:
            raise RuntimeError("too heavy")
        super().set_domain_param(domain_param)


def _fragile_point_mass() -> gym.Env:
    return gym.wrappers.TimeLimit(_FragileMass(), 20)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("on_failure", ["raise", "nan"])
def test_a_failed_reset_between_episodes_is_named_by_its_own_row(workers, on_failure):
    # Row 5's reset runs in the step that ends an earlier row's episode on its sub-env, so
    # the error may belong to either: with one worker it named "row 1 (mass=1.5), row 5
    # (mass=20)", with two only row 5. The suspects now run again one at a time.
    theta = np.array([[1.0], [1.5], [2.0], [2.5], [3.0], [20.0], [3.5], [30.0], [4.0]])
    with SimRolloutSamplerForSBI(
        _fragile_point_mass, _no_torque, {0: "mass"}, BayesSimEmbedding(PM_SPEC, 3),
        num_segments=1, seed=0, num_workers=workers, on_failure=on_failure,
    ) as sim:  # fmt: skip
        if on_failure == "raise":
            with pytest.raises(WorkerError) as info:
                sim(theta)
            assert str(info.value).splitlines()[0] == (
                "simulating theta row 5 (mass=20) failed: the env raised RuntimeError in "
                "reset: too heavy"
            )
            assert info.value.rollout_indices == (5,)
        else:
            with pytest.warns(RuntimeWarning, match=r"^2 of 9 theta rows failed .*row 5 "):
                features = sim(theta)
            assert torch.isnan(features).all(dim=1).tolist() == [False] * 5 + [
                True, False, True, False,
            ]  # fmt: skip
