"""Argument checks of the collection loop (gymsamp.sampling.collector / collection)."""

from __future__ import annotations

import contextlib

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.policies import IdlePolicy
from gymsamp.sampling import Quota, RolloutJob, collect

IDLE = IdlePolicy(gym.spaces.Discrete(2))


def _cartpole_envs() -> contextlib.closing[gym.vector.SyncVectorEnv]:
    return contextlib.closing(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")]))


def _collect(make_job=lambda k: RolloutJob(k, k), quota=None, **kwargs):
    with _cartpole_envs() as envs:
        return collect(envs, IDLE, make_job, quota or Quota(2), **kwargs)


@pytest.mark.parametrize(
    ("make_job", "error", "message"),
    [
        # Both used to hang forever: the quota waited for rollouts that never came.
        (
            lambda k: None,
            TypeError,
            r"make_job must return a RolloutJob for every index k, got "
            r"None for k=0",
        ),
        (
            lambda k: RolloutJob(k + 5, k),
            ValueError,
            r"make_job\(k\) must return a RolloutJob "
            r"with index k, got index 5 for k=0",
        ),
        # Was gymnasium.error.Error from the env's reset.
        (
            lambda k: RolloutJob(k, -1),
            ValueError,
            r"RolloutJob.seed must be None or an int in "
            r"\[0, 2\*\*32\), got -1 \(rollout 0\)",
        ),
        (lambda k: RolloutJob(k, 2**32), ValueError, r"RolloutJob.seed must be .*, got 4294967296"),
        (lambda k: RolloutJob(k, "a"), TypeError, r"RolloutJob.seed must be .*, got 'a'"),
        (lambda k: RolloutJob(k, 1.5), TypeError, r"RolloutJob.seed must be .*, got 1.5"),
        (
            lambda k: RolloutJob(k, 0, options=[1]),
            TypeError,
            r"RolloutJob.options must be None "
            r"or a dict of reset options, got \[1\]",
        ),
        (
            lambda k: RolloutJob(k, 0, rng=3),
            TypeError,
            r"RolloutJob.rng must be None or a "
            r"numpy.random.Generator, got 3",
        ),
    ],
)
def test_what_make_job_returns_is_checked(make_job, error, message) -> None:
    with pytest.raises(error, match=message):
        _collect(make_job)


def test_valid_jobs_with_numpy_integers_and_own_generators_run() -> None:
    rollouts = _collect(
        lambda k: RolloutJob(
            np.int64(k), np.uint32(2**32 - 1), rng=np.random.default_rng(k), options={}
        )
    )
    assert [ro.rollout_info["seed"] for ro in rollouts] == [2**32 - 1] * 2


def test_argument_types_are_checked() -> None:
    jobs = lambda k: RolloutJob(k, k)  # noqa: E731
    with pytest.raises(TypeError, match=r"envs must be a gymnasium.vector.VectorEnv, got NoneType"):
        collect(None, IDLE, jobs, Quota(1))
    with (
        contextlib.closing(gym.make("CartPole-v1")) as env,
        pytest.raises(TypeError, match=r"envs must be .*VectorEnv, got TimeLimit \(wrap"),
    ):
        collect(env, IDLE, jobs, Quota(1))
    with _cartpole_envs() as envs:
        with pytest.raises(
            TypeError,
            match=r"policy must be a gymsamp Policy .*as_policy.*got "
            r"function",
        ):
            collect(envs, lambda obs: np.zeros(len(obs), dtype=np.int64), jobs, Quota(1))
        with pytest.raises(TypeError, match=r"make_job must be callable .*, got 3"):
            collect(envs, IDLE, 3, Quota(1))
        with pytest.raises(TypeError, match=r"quota must be a Quota .*, got 2"):
            collect(envs, IDLE, jobs, 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_steps": 2.5}, TypeError, r"max_steps must be an int >= 1, got 2.5"),
        ({"max_steps": "5"}, TypeError, r"max_steps must be an int >= 1, got '5'"),
        ({"max_steps": 0}, ValueError, r"max_steps must be an int >= 1, got 0"),
        ({"dt": -1.0}, ValueError, r"dt must be a finite number > 0, got -1.0"),
        ({"dt": float("nan")}, ValueError, r"dt must be a finite number > 0, got nan"),
        ({"dt": True}, TypeError, r"dt must be a finite number > 0, got True"),
        (
            {"step_timeout": float("inf")},
            ValueError,
            r"step_timeout must be None or a finite "
            r"number > 0 \(seconds\), got inf",
        ),
        ({"eval": "no"}, TypeError, r"eval must be a bool \(True or False\), got 'no'"),
        ({"stop_on_done": "no"}, TypeError, r"stop_on_done must be a bool .*, got 'no'"),
        ({"record_dts": 1}, TypeError, r"record_dts must be a bool .*, got 1"),
        (
            {"stop_on_done": False},
            ValueError,
            r"^max_steps must be given when stop_on_done is False, got None$",
        ),
    ],
)
def test_options_are_checked(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        _collect(**kwargs)


def test_a_job_shows_every_field_in_its_repr() -> None:
    job = RolloutJob(2, 7, options={"init_state": [0.5]}, info={"k": 1})
    assert repr(job) == (
        "RolloutJob(index=2, seed=7, options={'init_state': [0.5]}, policy_params=None, "
        "info={'k': 1})"
    )


def test_valid_numpy_options_run() -> None:
    rollouts = _collect(max_steps=np.int64(3), dt=np.float32(0.5), eval=np.True_)
    assert [ro.length for ro in rollouts] == [3, 3]
    np.testing.assert_allclose(rollouts[0].time, [0.0, 0.5, 1.0, 1.5])


def test_a_step_timeout_on_an_env_stepped_in_this_process_is_refused():
    # It was accepted and ignored: a hanging sub-env ran on, unbounded.
    with pytest.raises(
        ValueError,
        match=r"step_timeout must be None for a vector env that steps its sub-envs in this "
        r"process \(a step here cannot be stopped\), got 0.5 with SyncVectorEnv",
    ):
        _collect(step_timeout=0.5)
    with contextlib.closing(
        gym.vector.AsyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
    ) as envs:  # an env in worker processes takes it
        rollouts = collect(envs, IDLE, lambda k: RolloutJob(k, k), Quota(2), step_timeout=30.0)
    assert [ro.rollout_info["seed"] for ro in rollouts] == [0, 1]


def test_a_step_timeout_through_a_vector_wrapper_is_refused_with_the_reason():
    # A wrapper has no step_wait(timeout=...); its step must not be skipped either.
    with (
        contextlib.closing(
            gym.vector.VectorWrapper(
                gym.vector.AsyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
            )
        ) as envs,
        pytest.raises(
            ValueError,
            match=r"step_timeout must be None for a Gymnasium vector wrapper \(it has no "
            r"step_wait\(timeout=...\), and the wrapped env's would skip its step\), got 0.5 "
            r"with VectorWrapper; wrap each sub-env instead",
        ),
    ):
        collect(envs, IDLE, lambda k: RolloutJob(k, k), Quota(2), step_timeout=0.5)


class _StateEnv(gym.Env):
    """Observation = state = step count; reports info['state'] at reset and at every step but
    ``silent_step`` (1-based)."""

    observation_space = gym.spaces.Box(0.0, 10.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self, silent_step: int | None = None) -> None:
        self.silent_step = silent_step
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {"state": np.array([0.0])}

    def step(self, action):
        self.t += 1
        info = {} if self.t == self.silent_step else {"state": np.array([float(self.t)])}
        return np.full(1, self.t, np.float32), 0.0, self.t == 4, False, info


def _state_collection(silent_steps: list[int | None]) -> list:
    envs = gym.vector.SyncVectorEnv(
        [lambda s=s: _StateEnv(s) for s in silent_steps],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    with contextlib.closing(envs):
        quota = Quota(min_rollouts=len(silent_steps))
        return collect(envs, IDLE, lambda k: RolloutJob(k, k), quota, record_states=True)


def test_recorded_states_are_every_step_s_own() -> None:
    (ro,) = _state_collection([None])
    assert ro.states[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("silent_steps", [[2], [None, 2], [4]], ids=["alone", "beside", "last"])
def test_a_rollout_recording_states_whose_step_reports_none_is_refused(silent_steps) -> None:
    # The row was the buffer's uninitialised memory (alone) or a made-up 0.0 (beside a sub-env
    # that reported one): now the sub-env and the step are named.
    sub_env = len(silent_steps) - 1
    step = silent_steps[-1] - 1
    with pytest.raises(
        ValueError,
        match=rf"^sub-env {sub_env} reported no info\['state'\] at step {step} of rollout "
        rf"{sub_env}, but its reset did: with record_states=True",
    ):
        _state_collection(silent_steps)


class _MetadataModeVectorEnv(gym.vector.VectorEnv):
    """A third-party vector env that states its autoreset mode in its metadata alone (no
    ``autoreset_mode`` attribute), stepping a SyncVectorEnv of that mode."""

    def __init__(self, mode: gym.vector.AutoresetMode | None) -> None:
        self.inner = gym.vector.SyncVectorEnv(
            [lambda: gym.make("CartPole-v1")] * 2,
            autoreset_mode=mode or gym.vector.AutoresetMode.NEXT_STEP,
        )
        for name in ("num_envs", "single_observation_space", "single_action_space"):
            setattr(self, name, getattr(self.inner, name))
        self.observation_space, self.action_space = (
            self.inner.observation_space,
            self.inner.action_space,
        )
        self.metadata = {} if mode is None else {"autoreset_mode": mode}

    def reset(self, **kwargs):
        return self.inner.reset(**kwargs)

    def step(self, actions):
        return self.inner.step(actions)

    def close(self, **kwargs):
        self.inner.close()


@pytest.mark.parametrize(
    ("mode", "read"),
    [
        (gym.vector.AutoresetMode.SAME_STEP, gym.vector.AutoresetMode.SAME_STEP),
        (None, gym.vector.AutoresetMode.NEXT_STEP),  # Gymnasium's default
    ],
)
def test_a_vector_env_without_a_mode_attribute_is_read_by_its_metadata(mode, read) -> None:
    from gymsamp.sampling.collection import autoreset_mode_of

    with contextlib.closing(_MetadataModeVectorEnv(mode)) as envs:
        assert getattr(envs, "autoreset_mode", None) is None
        assert autoreset_mode_of(envs) is read
        rollouts = collect(envs, IDLE, lambda k: RolloutJob(k, k), Quota(3))
    with contextlib.closing(
        gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2, autoreset_mode=read)
    ) as reference_envs:
        reference = collect(reference_envs, IDLE, lambda k: RolloutJob(k, k), Quota(3))
    assert [ro.length for ro in rollouts] == [ro.length for ro in reference]
    for ro, ref in zip(rollouts, reference, strict=True):
        np.testing.assert_array_equal(ro.observations, ref.observations)
