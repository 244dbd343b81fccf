import functools
import os
import time

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.data import StepSequence
from gymsamp.envs import (
    CountingEnv,
    DomainRandomizer,
    DomainRandWrapper,
    UniformDomainParam,
    param_grid,
)
from gymsamp.policies import IdlePolicy, PlaybackPolicy, RandomPolicy
from gymsamp.sampling import (
    ParallelRolloutSampler,
    SamplerPool,
    StepTimeoutError,
    eval_domain_params,
    eval_domain_params_with_segmentwise_reset,
    eval_nominal_domain,
    eval_randomized_domain,
    rollout,
)
from gymsamp.sampling.evaluation_pool import pool_settings

IDLE = IdlePolicy(gym.spaces.Discrete(2))


def env():
    return CountingEnv(terminate_at=3)


@pytest.mark.parametrize("pool", [1, 2, "pool", "sampler"])
def test_eval_domain_params_one_rollout_per_grid_point(pool):
    if pool == "pool":
        pool = SamplerPool(2)
    elif pool == "sampler":
        pool = ParallelRolloutSampler(env, IDLE, 2, min_rollouts=1, show_progress_bar=False)
    grid = param_grid({"increment": [0.5, 1.0, 2.0, 4.0]})
    try:
        rollouts = eval_domain_params(pool, env, IDLE, grid, init_state=np.array([1.0]), seed=0)
    finally:
        if hasattr(pool, "stop"):
            pool.stop()
        if hasattr(pool, "close"):
            pool.close()
    assert [ro.rollout_info["domain_param"] for ro in rollouts] == grid
    for ro, point in zip(rollouts, grid, strict=True):
        np.testing.assert_allclose(ro.observations[:, 0], 1.0 + point["increment"] * np.arange(4))


class HangsInWorkers(CountingEnv):
    """Its second step hangs for an hour in any process but ``parent``."""

    def __init__(self, parent: int) -> None:
        super().__init__(terminate_at=5)
        self.parent = parent

    def step(self, action):
        out = super().step(action)
        if self._step_count == 2 and os.getpid() != self.parent:
            time.sleep(3600)
        return out


@pytest.mark.parametrize("vectorization", ["auto", "async", "batched"])
def test_a_sampler_as_pool_carries_its_step_timeout_over(vectorization):
    # It was dropped: a hanging env then hung eval_domain_params for good ("auto" even ran
    # its probe steps in this process), while the sampler's own sample() raised.
    hangs = functools.partial(HangsInWorkers, os.getpid())
    with (
        ParallelRolloutSampler(
            hangs,
            IDLE,
            2,
            min_rollouts=1,
            step_timeout=1.0,
            vectorization=vectorization,
            start_method="spawn",
            show_progress_bar=False,
        ) as pool,
        pytest.raises(StepTimeoutError, match="step_timeout=1.0 s"),
    ):
        eval_domain_params(pool, hangs, IDLE, [{}, {}], seed=0)


def test_eval_nominal_domain_one_rollout_per_init_state():
    states = [np.array([s]) for s in (0.0, 10.0, -3.0)]
    rollouts = eval_nominal_domain(2, env, IDLE, states)
    assert [ro.observations[0, 0] for ro in rollouts] == [0.0, 10.0, -3.0]
    assert all(ro.rollout_info["domain_param"] == {"increment": 1.0} for ro in rollouts)


@pytest.mark.parametrize("workers", [1, 2])
def test_eval_nominal_domain_does_not_draw_in_a_randomizing_env(workers):
    randomizer = DomainRandomizer(UniformDomainParam("increment", mean=5.0, halfspan=1.0))

    def randomizing():
        return DomainRandWrapper(CountingEnv(terminate_at=3), randomizer)

    states = [np.array([0.0]), np.array([2.0])]
    rollouts = eval_nominal_domain(workers, randomizing, IDLE, states, seed=0)
    assert [ro.rollout_info["domain_param"] for ro in rollouts] == [{"increment": 1.0}] * 2
    for ro, state in zip(rollouts, states, strict=True):
        np.testing.assert_allclose(ro.observations[:, 0], state[0] + np.arange(4))
    # The same env still randomizes where nothing asks for the nominal domain.
    drawn = rollout(randomizing, IDLE, seed=0).rollout_info["domain_param"]["increment"]
    assert 4.0 <= drawn <= 6.0


def test_a_none_init_state_lets_the_env_draw_it():
    # pyrado: "initial states ... which will be fixed if not set to None"
    point_mass = "gymsamp/PointMass-v0"
    policy = IdlePolicy(gym.spaces.Box(-1.0, 1.0, (1,), np.float32))
    fixed = np.array([0.5, -0.25])
    randomizer = DomainRandomizer(UniformDomainParam("mass", mean=1.0, halfspan=0.5))
    for rollouts in (
        eval_nominal_domain(2, point_mass, policy, [None, fixed, None], seed=4),
        eval_randomized_domain(2, point_mass, randomizer, policy, [None, fixed, None], seed=4),
    ):
        starts = [ro.observations[0] for ro in rollouts]
        np.testing.assert_array_equal(starts[1], fixed.astype(np.float32))
        for k in (0, 2):
            drawn = rollout(point_mass, policy, seed=4, sub_sub_seed=k).observations[0]
            np.testing.assert_array_equal(starts[k], drawn)
        assert not np.array_equal(starts[0], starts[2])


def test_eval_randomized_domain_pairs_each_init_state_with_its_own_draw():
    randomizer = DomainRandomizer(UniformDomainParam("increment", mean=2.0, halfspan=1.0))
    states = [np.array([s]) for s in (0.0, 5.0, 9.0, 1.0)]
    a = eval_randomized_domain(2, env, randomizer, IDLE, states, seed=3)
    b = eval_randomized_domain(1, env, randomizer, IDLE, states, seed=3)
    increments = [ro.rollout_info["domain_param"]["increment"] for ro in a]
    assert increments == [ro.rollout_info["domain_param"]["increment"] for ro in b]
    assert len(set(increments)) == 4
    assert all(1.0 <= x <= 3.0 for x in increments)
    for ro, state, inc in zip(a, states, increments, strict=True):
        np.testing.assert_allclose(ro.observations[:, 0], state[0] + inc * np.arange(4))


def counting(terminate_at=10):
    return lambda: CountingEnv(terminate_at=terminate_at)


def real_rollouts():
    """Two "real" rollouts (random actions, increment 1.5), cut into segments of mixed length."""
    policy = RandomPolicy(gym.spaces.Discrete(2))
    reals = [
        rollout(
            counting(),
            policy,
            max_steps=7,
            reset_kwargs={"domain_param": {"increment": 1.5}, "init_state": np.array([s])},
            seed=5,
            sub_sub_seed=k,
        )
        for k, s in enumerate((0.0, 10.0))
    ]
    return [[reals[0][0:2], reals[0][2:5], reals[0][5:7]], [reals[1][0:3], reals[1][3:7]]]


def segmentwise_reference(env_sim, policy, segments_all, params_all, stop_on_done, use_rec, seed):
    """The contract as a plain loop of rollout() calls: result[i][s][d]."""
    return [
        [
            [
                rollout(
                    env_sim,
                    PlaybackPolicy([segment.actions]) if use_rec else policy,
                    eval=True,
                    max_steps=segment.length,
                    reset_kwargs={"init_state": segment.states[0], "domain_param": params},
                    stop_on_done=stop_on_done,
                    seed=seed,
                    sub_seed=i,
                    sub_sub_seed=s * len(params_all[i]) + d,
                )
                for d, params in enumerate(params_all[i])
            ]
            for s, segment in enumerate(segments)
        ]
        for i, segments in enumerate(segments_all)
    ]


def assert_same_nested(result, expected):
    assert [[len(per_seg) for per_seg in per_real] for per_real in result] == [
        [len(per_seg) for per_seg in per_real] for per_real in expected
    ]
    for per_real, ref_real in zip(result, expected, strict=True):
        for per_seg, ref_seg in zip(per_real, ref_real, strict=True):
            for ro, ref in zip(per_seg, ref_seg, strict=True):
                np.testing.assert_array_equal(ro.observations, ref.observations)
                np.testing.assert_array_equal(ro.actions, ref.actions)
                np.testing.assert_array_equal(ro.rewards, ref.rewards)
                np.testing.assert_array_equal(ro.step_types, ref.step_types)
                for key in ("seed", "rollout_index", "domain_param"):
                    assert ro.rollout_info[key] == ref.rollout_info[key]


def test_segmentwise_reset_indexes_real_rollout_then_segment_then_domain():
    segments_all = real_rollouts()
    params_all = [[{"increment": 1.5}, {"increment": 1.0}], [{"increment": 0.5}]]
    result = eval_domain_params_with_segmentwise_reset(
        2, counting(), IDLE, segments_all, params_all, stop_on_done=True, use_rec=True, seed=0
    )
    # pyrado's segments_ml_all[i][s][d]: 2 real rollouts, 3 and 2 segments, 2 and 1 domains.
    assert [[len(per_seg) for per_seg in per_real] for per_real in result] == [[2, 2, 2], [1, 1]]
    for i, per_real in enumerate(result):
        for s, per_seg in enumerate(per_real):
            real = segments_all[i][s]
            for d, sim in enumerate(per_seg):
                increment = params_all[i][d]["increment"]
                assert sim.length == real.length
                assert sim.rollout_info["domain_param"] == params_all[i][d]
                # Starts from the real segment's initial state, runs its recorded actions.
                start = real.states[0, 0]
                expected = start + increment * np.arange(real.length + 1)
                np.testing.assert_allclose(sim.observations[:, 0], expected)
                np.testing.assert_array_equal(sim.actions, real.actions)
                if increment == 1.5:  # the true parameters reproduce the real segment
                    np.testing.assert_allclose(sim.observations, real.observations)


@pytest.mark.parametrize("use_rec", [True, False])
def test_segmentwise_reset_equals_a_rollout_loop_for_any_worker_count(use_rec):
    segments_all = real_rollouts()
    params_all = [[{"increment": 1.5}, {"increment": 1.0}, {"increment": 2.0}], [{}]]
    policy = RandomPolicy(gym.spaces.Discrete(2))  # stochastic: the seeds must line up
    expected = segmentwise_reference(counting(), policy, segments_all, params_all, True, use_rec, 3)
    pool = SamplerPool(2)
    sampler = ParallelRolloutSampler(
        counting(), IDLE, 2, min_rollouts=1, vectorization="async", show_progress_bar=False
    )
    try:
        for workers in (1, 2, pool, sampler):  # the sampler: 2 worker processes
            result = eval_domain_params_with_segmentwise_reset(
                workers, counting(), policy, segments_all, params_all, True, use_rec, seed=3
            )
            assert_same_nested(result, expected)
    finally:
        pool.stop()
        sampler.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_segmentwise_stop_on_done_false_runs_past_the_end(workers):
    real = rollout(counting(), IDLE, max_steps=4)
    short = counting(terminate_at=2)
    args = (short, IDLE, [[real]], [[{"increment": 1.0}, {"increment": 2.0}]])
    result = eval_domain_params_with_segmentwise_reset(workers, *args, False, False, seed=1)
    assert [ro.length for ro in result[0][0]] == [4, 4]
    assert_same_nested(
        result, segmentwise_reference(short, IDLE, [[real]], args[3], False, False, 1)
    )
    stopped = eval_domain_params_with_segmentwise_reset(workers, *args, True, False, seed=1)
    assert [ro.length for ro in stopped[0][0]] == [2, 2]


def test_segmentwise_empty_lists_keep_the_structure():
    real = rollout(counting(), IDLE, max_steps=2)
    assert eval_domain_params_with_segmentwise_reset(1, env, IDLE, [], [], True, False) == []
    nested = eval_domain_params_with_segmentwise_reset(
        1, env, IDLE, [[real], []], [[], [{}]], True, False
    )
    assert nested == [[[]], []]


BAD_INPUT = [
    # (call, exception, message pattern)
    (
        lambda: eval_domain_params(1, env, IDLE, {"increment": 2.0}),
        TypeError,
        r"params must be a list of domain-parameter dicts .*got dict \{'increment': 2.0\}",
    ),
    (
        lambda: eval_domain_params(1, env, IDLE, []),
        ValueError,
        r"params must be a non-empty list .*got an empty list",
    ),
    (
        lambda: eval_domain_params(1, env, IDLE, [1.0]),
        TypeError,
        r"params\[0\] must be a dict of domain parameters, got float 1.0",
    ),
    (
        lambda: eval_domain_params(1, env, IDLE, [{}, {"bogus": 1.0}]),
        ValueError,
        r"params\[1\] must use the domain-parameter names of CountingEnv .*\['bogus'\]",
    ),
    (
        lambda: eval_domain_params(1, env, IDLE, [{}], init_state=np.zeros(3)),
        ValueError,
        r"init_state must have shape \(1,\) .*got shape \(3,\)",
    ),
    (
        lambda: eval_domain_params(0, env, IDLE, [{}]),
        ValueError,
        r"pool must be a worker count >= 1, got 0",
    ),
    (lambda: eval_domain_params(True, env, IDLE, [{}]), TypeError, r"pool must be a worker count"),
    (lambda: eval_domain_params("2", env, IDLE, [{}]), TypeError, r"pool must be .*got str '2'"),
    (
        lambda: eval_nominal_domain(-1, env, IDLE, [np.zeros(1)]),
        ValueError,
        r"pool must be a worker count >= 1, got -1",
    ),
    (
        lambda: eval_nominal_domain(1, env, IDLE, None),
        TypeError,
        r"init_states must be a list of initial states .*got NoneType None",
    ),
    (
        lambda: eval_nominal_domain(1, env, IDLE, []),
        ValueError,
        r"init_states must be a non-empty list",
    ),
    (
        lambda: eval_nominal_domain(1, env, IDLE, [np.zeros(1), np.zeros(2)]),
        ValueError,
        r"init_states\[1\] must have shape \(1,\) .*got shape \(2,\)",
    ),
    (
        lambda: eval_nominal_domain(1, env, IDLE, np.zeros(1)),
        ValueError,
        r"init_states\[0\] must have shape \(1,\) .*got shape \(\)",
    ),
    (
        lambda: eval_nominal_domain(1, env, IDLE, [np.zeros(1), ["a"]]),
        TypeError,
        r"^init_states\[1\] must be an array of numbers, got list \['a'\]$",
    ),
    (
        lambda: eval_domain_params(1, env, IDLE, [{}], init_state=[[1.0], [2.0, 3.0]]),
        TypeError,
        r"^init_state must be an array of numbers, got list \[\[1.0\], \[2.0, 3.0\]\]$",
    ),
    (
        lambda: eval_randomized_domain(1, env, None, IDLE, [np.zeros(1)]),
        TypeError,
        r"randomizer must be a DomainRandomizer .*got NoneType None",
    ),
    (
        lambda: eval_randomized_domain(1, env, DomainRandomizer(), IDLE, {"x": 1}),
        TypeError,
        r"init_states must be a list .*got dict",
    ),
    (
        lambda: eval_domain_params_with_segmentwise_reset(1, env, IDLE, [[]], [], True, False),
        ValueError,
        r"one entry per real rollout, got 1 and 0",
    ),
    (
        lambda: eval_domain_params_with_segmentwise_reset(0, env, IDLE, [], [], True, False),
        ValueError,
        r"pool must be a worker count >= 1, got 0",
    ),
    (
        lambda: eval_domain_params_with_segmentwise_reset(
            1, env, IDLE, [[1.0]], [[{}]], True, False
        ),
        TypeError,
        r"segments_real_all\[0\]\[0\] must be a StepSequence, got float 1.0",
    ),
    (
        lambda: eval_domain_params_with_segmentwise_reset(1, env, IDLE, [[]], [{}], True, False),
        TypeError,
        r"domain_params_ml_all\[0\] must be a list of domain-parameter dicts, got dict",
    ),
    (
        lambda: eval_domain_params_with_segmentwise_reset(1, env, IDLE, [[]], [[]], "no", False),
        TypeError,
        r"stop_on_done must be a bool \(True or False\), got 'no'",
    ),
    (
        lambda: eval_domain_params_with_segmentwise_reset(
            1, env, IDLE, [[]], [[]], False, False, backend="ray"
        ),
        ValueError,
        r"stop_on_done must be True with the Ray backend",
    ),
]


@pytest.mark.parametrize(("call", "error", "pattern"), BAD_INPUT)
def test_bad_input_names_the_argument_the_rule_and_the_value(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_segmentwise_bad_segments_name_their_position():
    real = rollout(counting(), IDLE, max_steps=3)
    with pytest.raises(TypeError, match=r"segments_real_all\[0\] must be a list of segments"):
        eval_domain_params_with_segmentwise_reset(1, env, IDLE, [real], [[{}]], True, False)
    with pytest.raises(ValueError, match=r"domain_params_ml_all\[0\]\[1\] must use .*bogus"):
        eval_domain_params_with_segmentwise_reset(
            1, env, IDLE, [[real]], [[{}, {"bogus": 1.0}]], True, False
        )


def test_segmentwise_playback_needs_segments_of_one_action_shape():
    real = rollout(counting(), IDLE, max_steps=3)
    wide = StepSequence(
        rewards=real.rewards,
        observations=real.observations,
        actions=np.zeros((3, 2)),
        states=real.states,
    )
    with pytest.raises(
        ValueError,
        match=r"^segments_real_all must hold segments of one action shape, got shapes "
        r"\[\(\), \(2,\)\]$",
    ):
        eval_domain_params_with_segmentwise_reset(
            1, env, IDLE, [[real], [wide]], [[{}], [{}]], True, True
        )


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_a_local_sampler_as_pool_for_the_ray_backend_keeps_what_its_rollouts_are(vectorization):
    # What runs inside the actors is Ray's choice (sync stays sync); the local bounds on
    # hanging sub-envs and the start method do not apply there.
    with ParallelRolloutSampler(
        env,
        IDLE,
        2,
        min_rollouts=1,
        vectorization=vectorization,
        max_steps=7,
        record_states=True,
        show_progress_bar=False,
    ) as sampler:
        workers, options = pool_settings(sampler, backend="ray")
    assert workers == 2
    assert options == {
        "vectorization": "sync" if vectorization == "sync" else "auto",
        "max_steps": 7,
        "record_states": True,
        "backend": "ray",
    }


class _Unlimited(CountingEnv):
    """Never ends by itself (no time limit either)."""

    def __init__(self) -> None:
        super().__init__(terminate_at=None)


@pytest.mark.parametrize("how", ["keyword", "sampler"])
@pytest.mark.parametrize(
    "evaluate",
    [
        lambda pool, **kw: eval_domain_params(pool, _Unlimited, IDLE, [{}, {}], seed=0, **kw),
        lambda pool, **kw: eval_nominal_domain(pool, _Unlimited, IDLE, [None, None], seed=0, **kw),
        lambda pool, **kw: eval_randomized_domain(
            pool,
            _Unlimited,
            DomainRandomizer(UniformDomainParam("increment", mean=2.0, halfspan=1.0)),
            IDLE,
            [None, None],
            seed=0,
            **kw,
        ),
    ],
    ids=["params", "nominal", "randomized"],
)
def test_max_steps_bounds_an_env_without_a_time_limit(how, evaluate):
    # A sampler's max_steps was dropped and the functions had none: evaluation never ended.
    if how == "keyword":
        rollouts = evaluate(2, max_steps=7)
    else:
        with ParallelRolloutSampler(
            _Unlimited, IDLE, 2, min_rollouts=1, max_steps=7, show_progress_bar=False
        ) as pool:
            rollouts = evaluate(pool)
    assert [ro.length for ro in rollouts] == [7, 7]
    assert all(ro.truncated[-1] and not ro.terminated.any() for ro in rollouts)


def test_a_sampler_as_pool_carries_record_states_over():
    with ParallelRolloutSampler(
        env, IDLE, 1, min_rollouts=1, record_states=True, show_progress_bar=False
    ) as pool:
        (ro,) = eval_domain_params(pool, env, IDLE, [{}], seed=0)
    np.testing.assert_array_equal(ro.states, ro.observations)  # CountingEnv's state: its count


def test_segments_spanning_two_rollouts_are_refused():
    # A segment across an episode boundary was simulated as one run through it.
    first = rollout(counting(3), IDLE, seed=0)
    second = rollout(counting(3), IDLE, seed=1, reset_kwargs={"init_state": np.array([10.0])})
    across = StepSequence.concat([first, second])[2:5]
    with pytest.raises(
        ValueError,
        match=r"segments_real_all\[0\]\[1\] must be a piece of one rollout \(steps in order, "
        r"no episode start inside\), got steps of 2 rollouts",
    ):
        eval_domain_params_with_segmentwise_reset(
            1, env, IDLE, [[first[0:2], across]], [[{}]], True, True, seed=0
        )
    shuffled = next(StepSequence.concat([first, second]).split_shuffled_batches(3, seed=0))
    with pytest.raises(ValueError, match=r"segments_real_all\[0\]\[0\] .*got a shuffled batch"):
        eval_domain_params_with_segmentwise_reset(
            1, env, IDLE, [[shuffled]], [[{}]], True, True, seed=0
        )


@pytest.mark.parametrize(
    "observations",
    [
        {"pos": np.zeros((3, 2)), "vel": np.ones((3, 2))},
        (np.arange(3.0), np.ones((3, 2))),
    ],
    ids=["Dict", "Tuple"],
)
@pytest.mark.parametrize("length", [1, 2])
def test_a_segment_with_nested_observations_and_no_states_is_refused(observations, length):
    # A Dict's key 0 was looked up (a bare KeyError); a Tuple's first leaf, all its steps,
    # was taken for the initial state (a wrong shape named, or for one step a wrong start).
    steps = (
        {key: value[: length + 1] for key, value in observations.items()}
        if isinstance(observations, dict)
        else tuple(value[: length + 1] for value in observations)
    )
    segment = StepSequence(
        observations=steps, actions=np.zeros((length, 1)), rewards=np.zeros(length)
    )
    kind = "Dict" if isinstance(observations, dict) else "Tuple"
    with pytest.raises(
        ValueError,
        match=rf"segments_real_all\[0\]\[0\] must hold states, or observations of an array "
        rf"space, to start from .*, got {kind} observations and no states; samplers record "
        r"states with record_states=True",
    ):
        eval_domain_params_with_segmentwise_reset(
            1, counting(), IDLE, [[segment]], [[{}]], True, True, seed=0
        )


def test_a_segment_without_states_is_named_as_its_first_observation():
    # The message spoke of "its initial state", which the user never gave.
    with ParallelRolloutSampler(
        "Pendulum-v1", RandomPolicy(gym.spaces.Box(-2, 2, (1,))), 1, min_rollouts=1,
        max_steps=4, seed=0, show_progress_bar=False,
    ) as sampler:  # fmt: skip
        (real,) = sampler.sample()
    with pytest.raises(
        ValueError,
        match=r"segments_real_all\[0\]\[0\] \(its first observation, as its initial state: it "
        r"has no states; samplers record them with record_states=True\) must have shape \(2,\)",
    ):
        eval_domain_params_with_segmentwise_reset(
            1, "Pendulum-v1", None, [[real]], [[{}]], True, True, seed=0
        )
