import gymnasium as gym
import numpy as np
import pytest

from gymsamp.data import StepSequence, StepType
from gymsamp.envs import CountingEnv, DomainParamWrapper, InitStateWrapper, PointMassEnv
from gymsamp.envs.adapter import has_adapter
from gymsamp.policies import IdlePolicy, RandomPolicy
from gymsamp.sampling import (
    ParallelRolloutSampler,
    RenderMode,
    after_rollout_query,
    derive_seed,
    rollout,
)

IDLE = IdlePolicy(gym.spaces.Discrete(2))


def test_records_every_field_with_the_time_alignment():
    ro = rollout(CountingEnv(terminate_at=4), IDLE, seed=1)
    assert ro.length == 4
    assert ro.observations.shape == (5, 1)
    assert ro.actions_applied.shape == (4,)
    np.testing.assert_array_equal(ro.states[:, 0], np.arange(5))  # adapter: full states
    np.testing.assert_array_equal(ro.time, np.arange(5.0))  # no dt attribute: 1 per step
    assert ro.rollout_info["seed"] == derive_seed(1, 0, 0)
    assert ro.rollout_info["domain_param"] == {"increment": 1.0}
    assert ro.step_types.tolist() == [0, 1, 1, 2]


def test_time_uses_the_simulators_step():
    ro = rollout("CartPole-v1", RandomPolicy(gym.spaces.Discrete(2)), seed=0, max_steps=3)
    np.testing.assert_allclose(ro.time, [0.0, 0.02, 0.04, 0.06])


def test_reset_kwargs_set_init_state_and_domain_params():
    env = CountingEnv(terminate_at=3)
    ro = rollout(env, IDLE, reset_kwargs={"init_state": [5.0], "domain_param": {"increment": 2.0}})
    np.testing.assert_array_equal(ro.observations[:, 0], [5.0, 7.0, 9.0, 11.0])
    with pytest.raises(ValueError, match="reset_kwargs has unknown keys"):
        rollout(env, IDLE, reset_kwargs={"seed": 3})
    with pytest.raises(ValueError, match=r"init_state must have shape \(1,\)"):
        rollout(CountingEnv(terminate_at=3), IDLE, reset_kwargs={"init_state": [1.0, 2.0]})


def test_point_mass_step_follows_the_closed_form_from_a_fixed_state():
    env = PointMassEnv()
    push = lambda obs: np.full((len(obs), 1), 0.5, np.float32)  # noqa: E731
    ro = rollout(
        env,
        push,
        max_steps=1,
        reset_kwargs={"init_state": [0.2, -0.4], "domain_param": {"mass": 2.0}},
    )
    x, v, dt, friction = 0.2, -0.4, 0.05, 0.5
    np.testing.assert_allclose(ro.states[1], [x + dt * v, v + dt * (0.5 - friction * v) / 2.0])


def test_max_steps_ends_in_timeout_and_stop_on_done_false_continues():
    ro = rollout(CountingEnv(terminate_at=10), IDLE, max_steps=3)
    assert ro.step_types.tolist() == [StepType.FIRST, StepType.MID, StepType.TIMEOUT]
    assert ro.truncated[-1]
    assert not ro.terminated.any()
    past = rollout(CountingEnv(terminate_at=2), IDLE, max_steps=4, stop_on_done=False)
    assert past.length == 4
    np.testing.assert_array_equal(past.observations[:, 0], np.arange(5))
    # Cut by max_steps past the end: the last step is a truncation as well.
    assert past.terminated.tolist() == [False, True, True, True]
    assert past.truncated.tolist() == [False, False, False, True]
    with pytest.raises(ValueError, match="max_steps must be given"):
        rollout(CountingEnv(terminate_at=2), IDLE, stop_on_done=False)


def test_stop_on_done_false_runs_to_a_hand_applied_time_limit():
    # An env built without gym.make has no spec; its TimeLimit wrapper still sets the limit.
    env = gym.wrappers.TimeLimit(CountingEnv(terminate_at=2), max_episode_steps=5)
    ro = rollout(env, IDLE, stop_on_done=False)
    assert ro.length == 5
    assert ro.terminated.tolist() == [False, True, True, True, True]
    assert ro.truncated.tolist() == [False, False, False, False, True]


def test_no_reset_continues_from_the_current_state():
    env = DomainParamWrapper(CountingEnv(terminate_at=20))
    env.reset(seed=0, options={"domain_param": {"increment": 3.0}})
    env.step(0)
    ro = rollout(env, IDLE, max_steps=2, no_reset=True, no_close=True)
    np.testing.assert_array_equal(ro.observations[:, 0], [3.0, 6.0, 9.0])
    assert ro.rollout_info["domain_param"] == {"increment": 3.0}


def test_nan_observations_or_actions_raise():
    class NanEnv(CountingEnv):
        def step(self, action):
            obs, *rest = super().step(action)
            return np.full_like(obs, np.nan), *rest

    with pytest.raises(ValueError, match="observations must be finite"):
        rollout(NanEnv(terminate_at=3), IDLE)
    nan_policy = lambda obs: np.full((len(obs), 1), np.nan, np.float32)  # noqa: E731
    with pytest.raises(ValueError, match="actions must be finite"):
        rollout(PointMassEnv(), nan_policy)
    # Errors name the rollout as its rollout_info does: by sub_sub_seed (was "rollout 0").
    with pytest.raises(ValueError, match=r"at step 1 of rollout 7 \(sub-env 0\)"):
        rollout(NanEnv(terminate_at=3), IDLE, seed=0, sub_sub_seed=7)
    with pytest.raises(ValueError, match=r"from the policy in rollout 7 \(sub-env 0\)"):
        rollout(PointMassEnv(), nan_policy, seed=0, sub_sub_seed=7)

    class NoneReward(CountingEnv):
        def step(self, action):
            obs, _, *rest = super().step(action)
            return obs, None, *rest

    with pytest.raises(ValueError, match=r"got nan at step 0 of rollout 7 \(sub-env 0;"):
        rollout(NoneReward(terminate_at=3), IDLE, seed=0, sub_sub_seed=7)


def test_box_actions_are_clipped_but_recorded_as_commanded():
    big = lambda obs: np.full((len(obs), 1), 5.0, np.float32)  # noqa: E731
    ro = rollout("gymsamp/PointMass-v0", big, max_steps=2, seed=0)
    np.testing.assert_array_equal(ro.actions[:, 0], [5.0, 5.0])
    np.testing.assert_array_equal(ro.actions_applied[:, 0], [1.0, 1.0])


def test_record_dts_and_render_text(capsys):
    ro = rollout(
        CountingEnv(terminate_at=3),
        IDLE,
        record_dts=True,
        render_mode=RenderMode(text=True),
        render_step=2,
    )
    assert ro.dt_policy.shape == ro.dt_step.shape == (3,)
    assert (ro.dt_step >= 0).all()
    out = capsys.readouterr().out
    assert "step 2" in out
    assert "step 1\n" not in out
    assert "return 6" in out


class _RgbFrames(gym.Wrapper):
    """An env made with render_mode="rgb_array": render() returns a frame."""

    @property
    def render_mode(self):
        return "rgb_array"

    def render(self):
        return np.zeros((4, 4, 3), dtype=np.uint8)


def test_render_of_an_env_returning_frames_warns_once_that_they_are_not_kept():
    # render_mode="rgb_array": env.render() returns each frame, which rollout() threw away in
    # silence (nothing shown, nothing stored).
    env = _RgbFrames(CountingEnv(terminate_at=4))
    with pytest.warns(UserWarning, match=r"render\(\) returns frames") as record:
        ro = rollout(env, IDLE, render_mode=RenderMode(render=True), seed=0)
    assert [str(w.message) for w in record] == [
        "env.render() returns frames (render_mode='rgb_array'), which rollout() does not keep: "
        "make the env with render_mode='human' to watch it, or wrap it in "
        "gymnasium.wrappers.RecordVideo to save them"
    ]
    assert ro.length == 4  # rendered at every step, warned once
    assert record[0].filename == __file__  # points at the caller


def test_same_seed_same_rollout_and_env_is_closed_unless_asked():
    a = rollout(
        "CartPole-v1", RandomPolicy(gym.spaces.Discrete(2)), seed=4, sub_seed=1, sub_sub_seed=2
    )
    b = rollout(
        "CartPole-v1", RandomPolicy(gym.spaces.Discrete(2)), seed=4, sub_seed=1, sub_sub_seed=2
    )
    np.testing.assert_array_equal(a.observations, b.observations)
    np.testing.assert_array_equal(a.actions, b.actions)


@pytest.mark.parametrize("recording", [False, True])
def test_the_callers_init_state_wrapper_records_states_as_before(recording):
    # rollout() records states through the wrapper; the caller's own steps afterwards must not
    # start reporting (and copying) a state each.
    env = InitStateWrapper(CountingEnv(terminate_at=3), record_state=recording)
    ro = rollout(env, IDLE, seed=0, no_close=True)
    np.testing.assert_array_equal(ro.states[:, 0], [0.0, 1.0, 2.0, 3.0])
    assert env.record_state is recording
    env.reset(seed=0)
    assert ("state" in env.step(0)[4]) is recording


class _CountedCloses(CountingEnv):
    closes = 0

    def close(self):
        type(self).closes += 1
        super().close()


def test_an_env_built_for_the_call_is_closed_when_the_call_fails_before_it_runs():
    _CountedCloses.closes = 0
    # No time limit to run up to with stop_on_done=False: refused before any step.
    with pytest.raises(ValueError, match="max_steps must be given with stop_on_done=False"):
        rollout(_CountedCloses, IDLE, stop_on_done=False)
    assert _CountedCloses.closes == 1
    # The caller's own env stays open when nothing ran (it can be used with a max_steps).
    env = _CountedCloses()
    with pytest.raises(ValueError, match="max_steps must be given"):
        rollout(env, IDLE, stop_on_done=False)
    assert _CountedCloses.closes == 1
    assert rollout(env, IDLE, stop_on_done=False, max_steps=2).length == 2
    assert _CountedCloses.closes == 2  # closed once it ran (no_close=False)


def test_an_env_built_for_the_call_is_closed_when_its_wrappers_fail():
    # prepare_env ran before the clean-up: an env whose adapter failed while gymsamp's
    # wrappers were added (its nominal_domain_param raised) stayed open, for every call.
    closes = []

    class BrokenNominal(CountingEnv):
        def nominal_domain_param(self):
            raise RuntimeError("no nominal parameters yet")

        def close(self):
            closes.append(self)
            super().close()

    assert has_adapter(BrokenNominal())  # native methods: gymsamp adds its wrappers
    with pytest.raises(RuntimeError, match="no nominal parameters yet"):
        rollout(BrokenNominal, IDLE)
    assert len(closes) == 1
    # The caller's own env stays open (nothing ran).
    env = BrokenNominal()
    with pytest.raises(RuntimeError, match="no nominal parameters yet"):
        rollout(env, IDLE)
    assert len(closes) == 1


class _PlainEnv(gym.Env):
    """An env gymsamp has no simulator adapter for (no state or domain parameters to set)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 1.0, True, False, {}


@pytest.mark.parametrize(
    "reset_kwargs",
    [{"init_state": [1.0]}, {"domain_param": {"mass": 1.0}}, {"options": {"init_state": [1.0]}}],
)
def test_init_states_or_domain_params_need_an_env_with_an_adapter(reset_kwargs):
    assert not has_adapter(_PlainEnv())
    with pytest.raises(
        TypeError,
        match=r"env must be a simulator gymsamp has an adapter for .*got _PlainEnv, which lacks",
    ):
        rollout(_PlainEnv(), IDLE, reset_kwargs=reset_kwargs)


def test_no_reset_reports_the_domain_parameters_the_env_runs_with():
    env = DomainParamWrapper(CountingEnv(increment=2.0))
    env.reset(seed=0, options={"domain_param": {"increment": 3.0}})
    ro = rollout(env, IDLE, max_steps=2, no_reset=True)
    assert ro.rollout_info["domain_param"] == {"increment": 3.0}
    np.testing.assert_array_equal(ro.observations[:, 0], [0.0, 3.0, 6.0])


class _ReportsDomainParams(_PlainEnv):
    """Reports its own domain parameters at reset (no adapter, so no DomainParamWrapper
    replaces them): an int, a nested dict of a numpy float, a key that is no str."""

    def reset(self, *, seed=None, options=None):
        obs, _ = super().reset(seed=seed, options=options)
        return obs, {"domain_param": {"links": 2, "geom": {"len": np.float64(0.5)}, 3: "x"}}


def test_domain_params_an_env_reports_are_kept_as_plain_python_values():
    ro = rollout(_ReportsDomainParams(), IDLE, seed=0)
    params = ro.rollout_info["domain_param"]
    assert params == {"links": 2, "geom": {"len": 0.5}, 3: "x"}
    assert type(params["geom"]["len"]) is float  # not a numpy scalar


class _Flags(CountingEnv):
    """Terminates with a flag that is no single bool."""

    def __init__(self, flag):
        super().__init__()
        self.flag = flag

    def step(self, action):
        obs, reward, _, truncated, info = super().step(action)
        return obs, reward, self.flag, truncated, info


@pytest.mark.parametrize(
    ("flag", "shown"), [([[True], [True, False]], r"\[\[True\], \[True, False\]\]"), (None, "None")]
)
def test_a_terminated_flag_numpy_cannot_read_as_one_bool_is_refused(flag, shown):
    # A ragged list is no array at all for numpy (its ValueError): the same message as a
    # flag of many entries.
    with pytest.raises(ValueError, match=rf"^the terminated flag must be one bool, got {shown}$"):
        rollout(_Flags(flag), IDLE, max_steps=3, seed=0)


class TestAfterRolloutQuery:
    def run(self, answers, env=None):
        answers = iter(answers)
        printed = []
        ro = rollout(CountingEnv(terminate_at=2), IDLE, reset_kwargs={"init_state": [4.0]})
        env = env or DomainParamWrapper(CountingEnv(increment=2.0))
        result = after_rollout_query(
            env, IDLE, ro, input_fn=lambda _: next(answers), print_fn=printed.append
        )
        return result, printed

    def test_choices(self):
        assert self.run(["c"])[0] == (False, None, None)
        assert self.run([""])[0] == (False, None, None)
        assert self.run(["E"])[0] == (True, None, None)
        assert self.run(["n"])[0] == (False, None, {"increment": 2.0})
        _, state, _ = self.run(["f", ""])[0]
        np.testing.assert_array_equal(state, [4.0])
        _, state, _ = self.run(["f", "1.5"])[0]
        np.testing.assert_array_equal(state, [1.5])

    def test_info_and_unknown_answers_ask_again(self):
        result, printed = self.run(["d", "x", "f", "oops", "c"])
        assert result == (False, None, None)
        assert "{'increment': 2.0}" in printed[0]
        assert "unknown choice 'x'" in printed[1]
        assert "could not read 'oops'" in printed[2]

    def test_an_env_without_domain_parameters_says_so_and_prints_what_it_is(self):
        # No DomainParamWrapper and no simulator adapter: N cannot reset to nominal values.
        env = _PlainEnv()
        result, printed = self.run(["n", "d", "i", "c"], env=env)
        assert result == (False, None, None)
        assert printed[:2] == ["this env has no domain parameters", "no domain parameters"]
        assert printed[2].startswith(f"env: {env}\npolicy: {IDLE}\nrollout: StepSequence(length=2")

    def test_an_env_without_wrapper_uses_its_adapter(self):
        env = gym.make("CartPole-v1")
        result, printed = self.run(["d", "n"], env=env)
        assert result[2] == {**result[2], "gravity": 9.8, "masspole": 0.1}
        assert "'gravity': 9.8" in printed[0]

    def test_a_fixed_state_reads_commas_or_spaces_and_must_have_the_state_size(self):
        env = gym.make("CartPole-v1")
        ro = rollout(env, IdlePolicy(env.action_space), seed=0, max_steps=2, no_close=True)
        answers = iter(["f", "1 2", "f", "1, 2 3,4"])
        printed = []
        _, state, _ = after_rollout_query(
            env, IDLE, ro, input_fn=lambda _: next(answers), print_fn=printed.append
        )
        np.testing.assert_array_equal(state, [1.0, 2.0, 3.0, 4.0])
        assert printed == ["the initial state needs 4 numbers, got 2"]

    def test_nominal_and_current_domain_parameters_are_told_apart(self):
        # N and D both showed the same values where the current ones equal the nominal ones.
        env = DomainParamWrapper(CountingEnv(increment=2.0))
        env.reset(seed=0, options={"domain_param": {"increment": 5.0}})
        result, printed = self.run(["d", "n"], env=env)
        assert printed == ["{'increment': 5.0}"]
        assert result == (False, None, {"increment": 2.0})

    def test_a_fixed_state_with_too_many_numbers_is_asked_again(self):
        result, printed = self.run(["f", "1 2", "f", "3"])
        assert printed == ["the initial state needs 1 numbers, got 2"]
        np.testing.assert_array_equal(result[1], [3.0])

    def test_a_dict_observation_without_states_cannot_fix_the_state(self):
        ro = StepSequence(
            rewards=[0.0], observations={"a": [[0.0], [1.0]], "b": [[2.0], [3.0]]}, actions=[[0]]
        )
        answers = iter(["f", "c"])
        printed = []
        result = after_rollout_query(
            CountingEnv(), IDLE, ro, input_fn=lambda _: next(answers), print_fn=printed.append
        )
        assert result == (False, None, None)
        assert printed == [
            "this rollout holds no initial state (no states, no rollout_info 'init_state'): its "
            "env has no simulator adapter to set one"
        ]

    def test_nested_states_leave_the_reset_state_to_fix(self):
        # A Dict of states is no state vector: its first row was offered (or failed).
        ro = StepSequence(
            rewards=[0.0],
            observations=[[0.0], [1.0]],
            actions=[[0]],
            states={"q": [[0.5, 0.1], [1.0, 0.2]]},
            rollout_info={"init_state": np.array([0.25])},
        )
        answers = iter(["f", ""])
        _, state, _ = after_rollout_query(
            None, IDLE, ro, input_fn=lambda _: next(answers), print_fn=print
        )
        np.testing.assert_array_equal(state, [0.25])

    def test_a_sampled_rollout_without_states_fixes_its_reset_state_not_its_observation(self):
        # Samplers record no states by default: "F" offered Pendulum's first observation (cos,
        # sin, velocity: 3 numbers) as the 2-number state, and refused the state typed in.
        policy = IdlePolicy(gym.spaces.Box(-2.0, 2.0, (1,)))
        with ParallelRolloutSampler(
            "Pendulum-v1", policy, 1, min_rollouts=1, seed=0, max_steps=3, show_progress_bar=False
        ) as sampler:
            (ro,) = sampler.sample()
        assert "states" not in ro.data_names
        env = gym.make("Pendulum-v1")
        answers = iter(["f", "", "f", "0.1 0.2"])
        _, state, _ = after_rollout_query(
            env, policy, ro, input_fn=lambda _: next(answers), print_fn=print
        )
        np.testing.assert_array_equal(state, ro.rollout_info["init_state"])
        _, state, _ = after_rollout_query(
            env, policy, ro, input_fn=lambda _: next(answers), print_fn=print
        )
        np.testing.assert_array_equal(state, [0.1, 0.2])
        again = rollout(env, policy, reset_kwargs={"init_state": state}, max_steps=1)
        np.testing.assert_allclose(again.rollout_info["init_state"], [0.1, 0.2])


def test_text_observations_are_refused_with_the_path_and_a_pointer_to_flattening():
    class TextEnv(gym.Env):
        observation_space = gym.spaces.Dict(
            {"a": gym.spaces.Box(-1, 1, (2,)), "note": gym.spaces.Text(4)}
        )
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            return {"a": np.zeros(2, np.float32), "note": "ok"}, {}

        def step(self, action):
            return {"a": np.zeros(2, np.float32), "note": "ok"}, 0.0, True, False, {}

    with pytest.raises(TypeError, match=r"got Text.* at observation_space\['note'\].*Flatten"):
        rollout(TextEnv(), IDLE)


def _scaled_cartpole():
    box = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    return gym.wrappers.TransformObservation(gym.make("CartPole-v1"), lambda o: 10 * o, box)


@pytest.mark.parametrize("vectorization", ["sync", "async", "batched"])
def test_init_states_reach_the_policy_through_the_users_observation_wrapper(vectorization):
    from gymsamp.sampling import ParallelRolloutSampler

    x0 = np.array([0.1, 0.2, 0.03, -0.04])
    expected = rollout(
        _scaled_cartpole(), IDLE, seed=0, max_steps=3, reset_kwargs={"init_state": x0}
    )
    np.testing.assert_allclose(expected.observations[0], 10 * x0.astype(np.float32))
    with ParallelRolloutSampler(
        _scaled_cartpole,
        IDLE,
        2,
        min_rollouts=2,
        max_steps=3,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        ros = sampler.sample(init_states=[x0])
    for ro in ros:
        np.testing.assert_array_equal(ro.observations, expected.observations)


def test_no_reset_refuses_an_observation_wrapper():
    env = _scaled_cartpole()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="no_reset must be False .* TransformObservation"):
        rollout(env, IDLE, max_steps=2, no_reset=True, no_close=True)
    env.close()


def test_time_follows_a_changed_time_step():
    lean = lambda obs: (obs[:, 2] > 0).astype(np.int64)  # noqa: E731
    for tau in (0.02, 0.01):
        ro = rollout(
            "CartPole-v1", lean, seed=0, max_steps=5, reset_kwargs={"domain_param": {"tau": tau}}
        )
        np.testing.assert_allclose(ro.time, tau * np.arange(6))
    ro = rollout(
        "Pendulum-v1",
        lambda o: np.zeros((len(o), 1)),
        seed=0,
        max_steps=3,
        reset_kwargs={"domain_param": {"dt": 0.1}},
    )
    np.testing.assert_allclose(ro.time, [0.0, 0.1, 0.2, 0.3])
    ro = rollout(CountingEnv(terminate_at=3), IDLE, seed=0)  # no time step: steps count
    np.testing.assert_array_equal(ro.time, [0.0, 1.0, 2.0, 3.0])


def test_time_of_an_env_that_keeps_its_step_among_its_domain_parameters():
    # PointMass has no dt attribute, only a "dt" domain parameter: time counted whole steps.
    still = lambda obs: np.zeros((len(obs), 1), np.float32)  # noqa: E731
    ro = rollout("gymsamp/PointMass-v0", still, seed=0, max_steps=3)
    np.testing.assert_allclose(ro.time, [0.0, 0.05, 0.1, 0.15])
    faster = {"domain_param": {"dt": 0.2}}
    ro = rollout("gymsamp/PointMass-v0", still, seed=0, max_steps=3, reset_kwargs=faster)
    np.testing.assert_allclose(ro.time, [0.0, 0.2, 0.4, 0.6])
    with ParallelRolloutSampler(
        "gymsamp/PointMass-v0", still, 2, min_rollouts=2, max_steps=3, show_progress_bar=False
    ) as sampler:
        rollouts = sampler.sample(domain_params=[{"dt": 0.2}, {"dt": 0.01}])
    np.testing.assert_allclose(rollouts[0].time, [0.0, 0.2, 0.4, 0.6])
    np.testing.assert_allclose(rollouts[1].time, [0.0, 0.01, 0.02, 0.03])


def test_a_time_step_that_is_no_positive_number_counts_whole_steps():
    # A dt attribute of 0 (or a flag) is no time step: time counted steps, not zeros.
    class ZeroDt(CountingEnv):
        dt = 0.0
        tau = True

    ro = rollout(ZeroDt(terminate_at=3), IDLE, seed=0)
    np.testing.assert_array_equal(ro.time, [0.0, 1.0, 2.0, 3.0])


def _cartpole_with_random_tau():
    from gymsamp.envs import DomainRandomizer, DomainRandWrapper, UniformDomainParam

    rand = DomainRandomizer(UniformDomainParam("tau", mean=0.02, halfspan=0.01))
    return DomainRandWrapper(gym.make("CartPole-v1"), rand)


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_sampled_rollouts_keep_their_own_time_step(vectorization):
    from gymsamp.sampling import ParallelRolloutSampler

    with ParallelRolloutSampler(
        _cartpole_with_random_tau,
        lambda obs: (obs[:, 2] > 0).astype(np.int64),
        2,
        min_rollouts=4,
        max_steps=5,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
        fixed = sampler.sample(domain_params=[{"tau": 0.005}])
    taus = [ro.rollout_info["domain_param"]["tau"] for ro in rollouts]
    assert len(set(taus)) == 4  # drawn per rollout
    for ro, tau in zip(rollouts, taus, strict=True):
        np.testing.assert_allclose(ro.time, tau * np.arange(ro.length + 1))
    for ro in fixed:
        np.testing.assert_allclose(ro.time, 0.005 * np.arange(ro.length + 1))


# -- argument checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_steps": 2.5}, TypeError, r"max_steps must be an int >= 1, got 2.5"),  # cut at 3
        ({"max_steps": "5"}, TypeError, r"max_steps must be an int >= 1, got '5'"),
        (
            {"render_mode": "human"},
            TypeError,
            r"render_mode must be a RenderMode \(e.g. "
            r"RenderMode\(render=True\).*got 'human'",
        ),
        ({"render_mode": None}, TypeError, r"render_mode must be a RenderMode .*got None"),
        ({"eval": "no"}, TypeError, r"eval must be a bool \(True or False\), got 'no'"),
        ({"no_reset": "no"}, TypeError, r"no_reset must be a bool \(True or False\), got 'no'"),
        ({"no_close": "no"}, TypeError, r"no_close must be a bool \(True or False\), got 'no'"),
        ({"record_dts": "no"}, TypeError, r"record_dts must be a bool \(True or False\), got"),
        ({"stop_on_done": "no"}, TypeError, r"stop_on_done must be a bool \(True or False\)"),
        (
            {"reset_kwargs": [("init_state", [1.0])]},
            TypeError,
            "reset_kwargs must be a dict, got list",
        ),
    ],
)
def test_rollout_arguments_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        rollout(CountingEnv(terminate_at=3), IDLE, **kwargs)


@pytest.mark.parametrize("seed", [None, 0])
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"sub_seed": -1}, ValueError, r"sub_seed must be None or an int >= 0, got -1"),
        ({"sub_seed": "a"}, TypeError, r"sub_seed must be None or an int >= 0, got 'a'"),
        ({"sub_sub_seed": -4}, ValueError, r"sub_sub_seed must be None or an int >= 0, got -4"),
        ({"sub_sub_seed": 2.5}, TypeError, r"sub_sub_seed must be None or an int >= 0, got 2.5"),
    ],
)
def test_sub_seeds_are_checked_with_or_without_a_seed(seed, kwargs, error, message):
    # Without a seed they were not looked at, and sub_sub_seed became the rollout_index as
    # given (2.5, -4, "x").
    with pytest.raises(error, match=message):
        rollout(CountingEnv(terminate_at=3), IDLE, seed=seed, **kwargs)


def test_a_numpy_sub_sub_seed_numbers_the_rollout_with_an_int():
    ro = rollout(CountingEnv(terminate_at=3), IDLE, sub_sub_seed=np.int64(3))
    assert ro.rollout_info["rollout_index"] == 3
    assert type(ro.rollout_info["rollout_index"]) is int


def test_a_policy_that_is_no_policy_is_named_as_the_policy_argument():
    # It was named as as_policy's own argument ("as_policy: obj must be ...").
    with pytest.raises(TypeError, match=r"^policy must be a gymsamp Policy .*, got str$"):
        rollout(CountingEnv(terminate_at=3), "idle")


def test_rollout_takes_numpy_flags_and_counts():
    ro = rollout(
        CountingEnv(terminate_at=9), IDLE, max_steps=np.int64(2), eval=np.True_, no_close=np.False_
    )
    assert ro.length == 2


def test_rollout_refuses_reset_option_typos():
    # "domain_params" used to be passed to the base env and silently ignored.
    with pytest.raises(ValueError, match=r"did you mean 'domain_param'\?"):
        rollout(
            "CartPole-v1",
            RandomPolicy(gym.spaces.Discrete(2)),
            seed=0,
            reset_kwargs={"options": {"domain_params": {"masspole": 5.0}}},
        )


def test_after_rollout_query_needs_the_rollout():
    with pytest.raises(TypeError, match=r"rollout must be a StepSequence .*, got NoneType"):
        after_rollout_query(None, None, None, input_fn=lambda _: "e", print_fn=lambda _: None)


# -- what mutation testing found unchecked -------------------------------------------------------


def test_the_seed_triple_keeps_its_order_and_an_unnumbered_rollout_is_rollout_0():
    # sub_seed and sub_sub_seed swapped, or a rollout without sub_sub_seed numbered 1, passed.
    ro = rollout(CountingEnv(terminate_at=2), IDLE, seed=4, sub_seed=1, sub_sub_seed=2)
    assert ro.rollout_info["seed"] == derive_seed(4, 1, 2) != derive_seed(4, 2, 1)
    assert ro.rollout_info["rollout_index"] == 2
    ro = rollout(CountingEnv(terminate_at=2), IDLE, seed=4, sub_seed=1)
    assert ro.rollout_info["seed"] == derive_seed(4, 1, 0)
    assert ro.rollout_info["rollout_index"] == 0


class _StartRecorder(IdlePolicy):
    """Records the ``eval`` flag of each ``start``."""

    def __init__(self):
        super().__init__(gym.spaces.Discrete(2))
        self.evals = []

    def start(self, num_envs, *, eval):
        self.evals.append(eval)
        super().start(num_envs, eval=eval)


def test_eval_reaches_the_policy():
    policy = _StartRecorder()
    rollout(CountingEnv(terminate_at=2), policy, eval=True)
    rollout(CountingEnv(terminate_at=2), policy)
    assert policy.evals == [True, False]


def test_no_reset_reports_the_simulator_state_as_init_state_not_the_observation():
    # Pendulum observes (cos, sin, velocity) of its (angle, velocity) state.
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    env.step(np.array([1.0], np.float32))
    state = np.array(env.unwrapped.state, dtype=np.float64)
    zero = lambda obs: np.zeros((len(obs), 1), np.float32)  # noqa: E731
    ro = rollout(env, zero, max_steps=1, no_reset=True)
    np.testing.assert_allclose(ro.rollout_info["init_state"], state)
    np.testing.assert_allclose(ro.states[0], state)
    np.testing.assert_allclose(
        ro.observations[0], [np.cos(state[0]), np.sin(state[0]), state[1]], rtol=1e-6
    )


def test_no_reset_refuses_an_observation_wrapper_that_keeps_the_space():
    # A wrapper that transforms observations within the same space changed the first
    # observation without a trace: only a changed space was refused.
    class Negate(gym.ObservationWrapper):
        def observation(self, observation):
            return -observation

    env = Negate(CountingEnv(terminate_at=5))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="no_reset must be False .* Negate"):
        rollout(env, IDLE, max_steps=2, no_reset=True, no_close=True)


class _CountedRenders(CountingEnv):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.renders = 0

    def render(self):
        self.renders += 1


@pytest.mark.parametrize(
    ("mode", "render_step", "renders"),
    [
        (RenderMode(video=True), 1, 4),
        (RenderMode(render=True), 2, 2),
        (RenderMode(text=True), 1, 0),  # prints only
        (RenderMode(), 1, 0),
    ],
)
def test_video_and_render_call_env_render_every_render_step(mode, render_step, renders):
    env = _CountedRenders(terminate_at=4)
    rollout(env, IDLE, render_mode=mode, render_step=render_step, no_close=True)
    assert env.renders == renders
