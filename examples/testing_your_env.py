"""Writing pytest tests for your own environment with gymsamp's toy envs and samplers.

Shows how to test a custom Gymnasium env (``HeaterEnv`` below: a room heated towards a
setpoint) and code around it: Gymnasium's env checker; the time alignment of a recorded
rollout (``rewards[t]`` from ``states[t]`` and ``actions[t]``, T+1 observations); termination
vs truncation; reproducibility across worker counts; domain parameters reaching the env (it
implements gymsamp's native interface, so no adapter is needed); your own analysis code
checked on gymsamp's known-answer toy envs (``gymsamp/Counting-v0``,
``gymsamp/RandomLength-v0``); and env errors reaching the test as ``WorkerError``.

Copy the ``test_*`` functions into your test suite and run them with pytest, or run this file
as a script, which calls every check in turn and reports the result:

Run: ``.venv/bin/python examples/testing_your_env.py`` or
``.venv/bin/python -m pytest examples/testing_your_env.py -p no:cacheprovider``
"""

# smoke-test:
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from gymsamp.data import StepSequence, StepType
from gymsamp.envs import DomainRandomizer, DomainRandWrapper, UniformDomainParam
from gymsamp.sampling import ParallelRolloutSampler, WorkerError, rollout

SETPOINT = 21.0
OVERHEAT = 40.0

# -------------------------------------------------------------------------------------------
# The code under test: your env and your analysis code
# -------------------------------------------------------------------------------------------


class HeaterEnv(gym.Env):
    """Room temperature ``T`` driven by a heater of power ``u`` in [-1, 1] (cooling if < 0).

    ``T' = T + dt * (gain * u - heat_loss * (T - ambient))``; reward ``-(T - SETPOINT)**2`` in
    the state the action was taken in; terminated when ``T'`` exceeds ``OVERHEAT``. The initial
    temperature is drawn from U[15, 25]. Domain parameters ``gain``, ``heat_loss``,
    ``ambient``; state ``[T]``.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium's convention)
    NOMINAL: Mapping[str, float] = {"gain": 2.0, "heat_loss": 0.1, "ambient": 10.0}

    def __init__(self, dt: float = 0.5) -> None:
        self.dt = dt
        self.observation_space = gym.spaces.Box(-100.0, 100.0, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.params = dict(self.NOMINAL)
        self.temperature = SETPOINT

    # gymsamp's native interface: domain parameters and the full state.
    nominal_domain_param = NOMINAL

    def get_domain_param(self) -> dict[str, float]:
        return dict(self.params)

    def set_domain_param(self, domain_param: Mapping[str, float]) -> None:
        self.params = {**self.NOMINAL, **domain_param}

    def get_state(self) -> np.ndarray:
        return np.array([self.temperature])

    def set_state(self, state: np.ndarray) -> np.ndarray:
        self.temperature = float(state[0])
        return self._obs()

    def _obs(self) -> np.ndarray:
        return np.array([self.temperature], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        super().reset(seed=seed)
        self.temperature = float(self.np_random.uniform(15.0, 25.0))
        return self._obs(), {}

    def step(self, action: np.ndarray) -> Any:
        p, temp = self.params, self.temperature
        reward = -((temp - SETPOINT) ** 2)
        flow = p["gain"] * float(action[0]) - p["heat_loss"] * (temp - p["ambient"])
        self.temperature = temp + self.dt * flow
        return self._obs(), reward, self.temperature > OVERHEAT, False, {}


def make_heater(max_episode_steps: int = 50) -> gym.Env:
    """The factory the samplers get (a TimeLimit adds truncation, as gym.make would)."""
    return gym.wrappers.TimeLimit(HeaterEnv(), max_episode_steps=max_episode_steps)


def thermostat(observations: np.ndarray) -> np.ndarray:
    """A proportional controller: heat below the setpoint, cool above it."""
    return np.clip(0.5 * (SETPOINT - observations), -1.0, 1.0)


def full_power(observations: np.ndarray) -> np.ndarray:
    return np.ones((len(observations), 1))


def summarize(rollouts: list[StepSequence]) -> dict[str, float]:
    """Your analysis code: mean return and how the episodes ended."""
    ends = [StepType(int(ro.step_types[-1])) for ro in rollouts]
    return {
        "mean_return": float(np.mean([ro.undiscounted_return() for ro in rollouts])),
        "terminal": ends.count(StepType.TERMINAL) / len(ends),
        "timeout": ends.count(StepType.TIMEOUT) / len(ends),
    }


def sample(
    env: Any,
    policy: Any,
    workers: int = 2,
    rollouts: int = 4,
    seed: int = 0,
    *,
    record_states: bool = False,
    **sample_kwargs: Any,
) -> list[StepSequence]:
    """``rollouts`` rollouts with ``workers`` sub-envs; ``sample_kwargs`` go to ``sample()``.

    ``record_states=True`` also records the full env state (``HeaterEnv`` has ``get_state``);
    only for envs whose state gymsamp can read: for others, such as the toy envs, the sampler
    warns that it cannot.
    """
    with ParallelRolloutSampler(
        env,
        policy,
        workers,
        min_rollouts=rollouts,
        seed=seed,
        vectorization="sync",  # fast and deterministic in tests; "async" gives the same data
        show_progress_bar=False,
        record_states=record_states,
    ) as sampler:
        return sampler.sample(**sample_kwargs)


# -------------------------------------------------------------------------------------------
# The tests
# -------------------------------------------------------------------------------------------


def test_env_passes_gymnasium_checks() -> None:
    check_env(HeaterEnv(), skip_render_check=True)


def test_rollout_time_alignment() -> None:
    ro = rollout(make_heater, thermostat, seed=0)
    assert ro.length == 50
    assert ro.observations.shape == (51, 1)  # T+1: the final observation is kept
    temps = ro.states[:, 0]  # the full float64 state, recorded since the env has get_state
    np.testing.assert_array_equal(ro.rewards, -((temps[:-1] - SETPOINT) ** 2))
    p, dt = HeaterEnv.NOMINAL, 0.5
    flow = p["gain"] * ro.actions_applied[:, 0] - p["heat_loss"] * (temps[:-1] - p["ambient"])
    np.testing.assert_allclose(temps[1:], temps[:-1] + dt * flow, rtol=1e-12)
    assert StepType(int(ro.step_types[-1])) is StepType.TIMEOUT
    # Known answer: a P-controller settles where 2 * 0.5 * (21 - T) = 0.1 * (T - 10), at T = 20.
    assert temps[-1] == pytest.approx(20.0, abs=1e-6)


def test_overheating_terminates_with_its_final_observation() -> None:
    # A stronger heater (gain 5: it would settle at 60 degrees) overheats.
    strong = {"domain_param": {"gain": 5.0}}
    ro = rollout(make_heater(max_episode_steps=500), full_power, seed=0, reset_kwargs=strong)
    assert ro.terminated[-1]
    assert not ro.truncated[-1]
    assert not ro.done[:-1].any()
    assert ro.observations[-1, 0] > OVERHEAT >= ro.observations[-2, 0]


def test_sampling_is_reproducible_and_independent_of_workers() -> None:
    one = sample(make_heater, thermostat, workers=1, rollouts=5, seed=1)
    three = sample(make_heater, thermostat, workers=3, rollouts=5, seed=1)
    for k, (a, b) in enumerate(zip(one, three, strict=True)):
        np.testing.assert_array_equal(a.observations, b.observations)
        ref = rollout(make_heater, thermostat, seed=1, sub_seed=0, sub_sub_seed=k)
        np.testing.assert_array_equal(a.observations, ref.observations)


def test_domain_parameters_reach_the_env() -> None:
    def randomized() -> gym.Env:
        rand = DomainRandomizer(UniformDomainParam("heat_loss", mean=0.3, halfspan=0.2))
        return DomainRandWrapper(make_heater(), rand)

    rollouts = sample(randomized, thermostat, record_states=True)
    losses = [ro.rollout_info["domain_param"]["heat_loss"] for ro in rollouts]
    assert len(set(losses)) == len(losses)
    assert all(0.1 <= loss <= 0.5 for loss in losses)
    for ro, loss in zip(rollouts, losses, strict=True):  # each rollout ran its own physics
        temp, u = ro.states[0, 0], ro.actions_applied[0, 0]
        expected = temp + 0.5 * (2.0 * u - loss * (temp - 10.0))
        assert ro.states[1, 0] == pytest.approx(expected, rel=1e-12)
    # Explicit parameters for named domains: sample(domain_params=[...]).
    (cold,) = sample(make_heater, full_power, rollouts=1, record_states=True)
    warm_room = [{"ambient": 30.0}]
    (warm,) = sample(
        make_heater, full_power, rollouts=1, record_states=True, domain_params=warm_room
    )
    assert warm.rollout_info["domain_param"]["ambient"] == 30.0
    assert warm.states[-1, 0] > cold.states[-1, 0]


def test_analysis_code_on_known_answer_envs() -> None:
    # Counting-v0: reward k at step k, ends exactly where told.
    ended = sample(lambda: gym.make("gymsamp/Counting-v0", terminate_at=4), full_power_discrete)
    assert summarize(ended) == {"mean_return": 10.0, "terminal": 1.0, "timeout": 0.0}
    cut = sample(lambda: gym.make("gymsamp/Counting-v0", truncate_at=3), full_power_discrete)
    assert summarize(cut) == {"mean_return": 6.0, "terminal": 0.0, "timeout": 1.0}
    # RandomLength-v0: uneven lengths L; the return is 1 + 2 + ... + L.
    uneven = sample("gymsamp/RandomLength-v0", full_power_discrete, rollouts=6)
    expected = np.mean([ro.length * (ro.length + 1) / 2 for ro in uneven])
    assert summarize(uneven)["mean_return"] == expected
    assert len({ro.length for ro in uneven}) > 1


def full_power_discrete(observations: np.ndarray) -> np.ndarray:
    return np.ones(len(observations), dtype=np.int64)


def test_env_errors_reach_the_test() -> None:
    def broken() -> gym.Env:
        return gym.make("gymsamp/Raising-v0", raise_at=3, message="sensor failure")

    with pytest.raises(WorkerError, match="sensor failure") as info:
        sample(broken, full_power_discrete)
    assert info.value.env_index in (0, 1)


# -------------------------------------------------------------------------------------------
# Script mode: run every test above
# -------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Runs every test_* check in this file and reports each; exit status 1 if any fails.",
    )
    parser.parse_args()
    tests: list[tuple[str, Callable[[], None]]] = [
        (name, fn) for name, fn in globals().items() if name.startswith("test_") and callable(fn)
    ]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"PASS {name}")
        except Exception as error:  # report every failing check, not just the first
            failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
    print(f"{len(tests) - failed} of {len(tests)} checks passed; all passed: {failed == 0}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
