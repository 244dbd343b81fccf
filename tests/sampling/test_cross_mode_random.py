"""Randomized cross-mode check of the determinism contract (DESIGN §4): for drawn envs,
policies, bounds, cuts and reset payloads, every worker count and vectorization returns the
rollouts of sequential ``rollout()`` calls, bit for bit. A seeded generator draws the cases, so a
failure names a reproducible case (a compact form of a fuzzer that ran ~750 such cases)."""

from __future__ import annotations

import functools
import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.envs import CountingEnv, RandomLengthEnv
from gymsamp.policies import GaussianActionNoise, IdlePolicy, PlaybackPolicy, RandomPolicy
from gymsamp.sampling import ParallelRolloutSampler, rollout
from tests.helpers import plain


class InfoEnv(CountingEnv):
    """A counting env whose infos are drawn from its own ``np_random`` (so the reset seed fixes
    them): ``x`` at every step, ``rare`` at some, a nested dict and an array it reuses at some
    sub-envs' steps, its own ``_flag`` key; it reuses one observation buffer too."""

    def __init__(self, terminate_at: int = 3, p_rare: float = 0.5) -> None:
        super().__init__(terminate_at=terminate_at)
        self.p_rare = p_rare
        self._buffer = np.zeros(2)
        self._obs = np.zeros(1, dtype=np.float32)

    def reset(self, *, seed: Any = None, options: Any = None) -> Any:
        obs, info = super().reset(seed=seed, options=options)
        self._obs[:] = obs
        self._buffer[:] = -1.0  # what a rollout's final info must not show
        return self._obs, {**info, "start": float(self.np_random.random())}

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = super().step(action)
        self._obs[:] = obs
        draw = self.np_random.random(3)
        self._buffer[:] = draw[:2]
        info = {**info, "x": float(draw[0]), "nested": {"k": int(draw[1] * 10)}, "_flag": True}
        if draw[2] < self.p_rare:
            info["rare"] = self._buffer  # reused: overwritten by the next step
        return self._obs, reward, terminated, truncated, info


ENVS: dict[str, Any] = {
    "infos": lambda rng: functools.partial(
        InfoEnv, terminate_at=int(rng.integers(1, 6)), p_rare=float(rng.choice([0.0, 0.5, 1.0]))
    ),
    "counting": lambda rng: functools.partial(
        CountingEnv, terminate_at=int(rng.integers(1, 6)), truncate_at=int(rng.integers(2, 7))
    ),
    "random_length": lambda rng: functools.partial(
        RandomLengthEnv, mean_length=int(rng.integers(1, 6))
    ),
    "point_mass": lambda rng: "gymsamp/PointMass-v0",  # with its time limit
    "cartpole": lambda rng: "CartPole-v1",
}
FIELDS = ("observations", "actions", "actions_applied", "rewards", "terminated", "truncated")


def draw_case(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    name = str(rng.choice(list(ENVS)))
    bounds: dict[str, int] = {}
    if rng.random() < 0.7:
        bounds["min_rollouts"] = int(rng.integers(1, 6))
    if not bounds or rng.random() < 0.4:
        bounds["min_steps"] = int(rng.integers(1, 40))
    return {
        "name": name,
        "env": ENVS[name](rng),
        "policy": str(rng.choice(["random", "idle", "noise", "playback"])),
        "bounds": bounds,
        # None only where episodes are short (PointMass runs 200 steps, idle CartPole ~10)
        "max_steps": None
        if rng.random() < 0.5 and name != "point_mass"
        else int(rng.integers(1, 12)),
        "payloads": name in ("counting", "infos", "point_mass") and rng.random() < 0.4,
        "seed": int(rng.integers(0, 2**31)),
    }


def make_policy(case: dict[str, Any]) -> Any:
    env = case["env"]() if callable(case["env"]) else gym.make(case["env"])
    space = env.action_space
    env.close()
    if case["policy"] == "random":
        return RandomPolicy(space)
    if case["policy"] == "noise" and isinstance(space, gym.spaces.Box):
        return GaussianActionNoise(IdlePolicy(space), std=0.3)
    if case["policy"] == "playback":
        space.seed(case["seed"])  # the same recordings for the sampler and the reference
        return PlaybackPolicy([np.stack([space.sample() for _ in range(15)]) for _ in range(2)])
    return IdlePolicy(space)


def payloads(case: dict[str, Any]) -> dict[str, Any]:
    if not case["payloads"]:
        return {}
    if case["name"] in ("counting", "infos"):
        return {"init_states": [np.array([2.0])], "domain_params": [{"increment": 0.5}, {}]}
    return {"domain_params": [{"mass": 2.0}, {"friction": 0.1}]}


def expected(case: dict[str, Any], call: int) -> list[Any]:
    """The rollouts sequential ``rollout()`` calls give, under the sampler's bounds."""
    extra = payloads(case)
    states = extra.get("init_states", [None])
    params = extra.get("domain_params", [None])
    settings = [(s, p) for s in states for p in params] if extra else [(None, None)]
    min_rollouts, min_steps = case["bounds"].get("min_rollouts"), case["bounds"].get("min_steps")
    if extra and min_steps is None:  # each setting gets the same number of rollouts
        min_rollouts = math.ceil((min_rollouts or 1) / len(settings)) * len(settings)
    result, steps = [], 0
    while len(result) < (min_rollouts or 0) or steps < (min_steps or 0):
        k = len(result)
        state, param = settings[k % len(settings)]
        reset_kwargs = {
            **({} if state is None else {"init_state": state}),
            **({} if param is None else {"domain_param": param}),
        }
        ro = rollout(
            case["env"],
            make_policy(case),
            seed=case["seed"],
            sub_seed=call,
            sub_sub_seed=k,
            max_steps=case["max_steps"],
            reset_kwargs=reset_kwargs or None,
        )
        result.append(ro)
        steps += ro.length
    return result


@pytest.mark.parametrize("case_seed", range(48))
def test_every_layout_returns_the_sequential_rollouts(case_seed: int) -> None:
    case = draw_case(case_seed)
    reference = [expected(case, call) for call in (0, 1)]
    for workers, vectorization in ((1, "sync"), (3, "sync"), (2, "async"), (3, "batched")):
        with ParallelRolloutSampler(
            case["env"],
            make_policy(case),
            workers,
            **case["bounds"],
            max_steps=case["max_steps"],
            seed=case["seed"],
            vectorization=vectorization,
            show_progress_bar=False,
        ) as sampler:
            calls = [sampler.sample(**payloads(case)) for _ in (0, 1)]
        for call, (got, want) in enumerate(zip(calls, reference, strict=True)):
            where = f"case {case_seed} {case['name']} {workers} {vectorization} call {call}"
            assert len(got) == len(want), where
            for ro, ref in zip(got, want, strict=True):
                for name in FIELDS:
                    np.testing.assert_array_equal(
                        getattr(ro, name), getattr(ref, name), err_msg=f"{where}: {name}"
                    )
                assert ro.step_types.tolist() == ref.step_types.tolist(), where
                assert ro.rollout_info["seed"] == ref.rollout_info["seed"], where
                assert ro.rollout_info.get("domain_param") == ref.rollout_info.get(
                    "domain_param"
                ), where
                assert plain(ro.rollout_info.get("final_info")) == plain(
                    ref.rollout_info.get("final_info")
                ), where
                assert plain(getattr(ro, "env_infos", None)) == plain(
                    getattr(ref, "env_infos", None)
                ), where
