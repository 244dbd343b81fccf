"""Quickstart: sample rollouts from a Gymnasium env in parallel, reproducibly.

Shows: a policy given as a plain function on observation batches, ``ParallelRolloutSampler``
with a seed, what a rollout holds (T+1 observations, Gymnasium's two end flags, step types),
a 95% bootstrap confidence interval of the mean return, and the determinism contract: the
parallel result equals sequential ``rollout()`` calls with the same seed triple.

Any other ``--env`` gets random actions. An env without a time limit (``gymsamp/Counting-v0``
never ends) has its rollouts cut at ``--max-steps`` (1000 unless given), as ``gymsamp sample``
does.

Run: ``.venv/bin/python examples/quickstart.py [--env CartPole-v1] [--workers N] [--rollouts N]
[--max-steps N]``
"""

# smoke-test: --workers 2 --rollouts 4
from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from gymsamp.data import EnvSpec, StepType
from gymsamp.policies import RandomPolicy
from gymsamp.sampling import ParallelRolloutSampler, rollout
from gymsamp.stats import DegenerateBootstrapWarning, bootstrap_ci

#: The step cap for an env without a time limit, the one ``gymsamp sample`` uses.
DEFAULT_MAX_STEPS = 1000


def lean_policy(observations: np.ndarray) -> np.ndarray:
    """CartPole: push the cart towards the side the pole leans to (one action per sub-env)."""
    return (observations[:, 2] > 0).astype(np.int64)


def policy_for(env_id: str) -> tuple[Any, EnvSpec]:
    """The CartPole controller above, or random actions for any other ``--env``; and the env's
    spec (its spaces and time limit)."""
    with gym.make(env_id) as env:
        spec = EnvSpec.from_env(env)
    policy = lean_policy if env_id == "CartPole-v1" else RandomPolicy(spec.action_space)
    return policy, spec


def int_at_least(minimum: int, why: str = "") -> Callable[[str], int]:
    """An argparse type: an int of at least ``minimum`` (else a usage error saying ``why``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an int, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{why}, got {value}")
        return value

    return parse


def shape_of(data: Any) -> str:
    """The shape of an array, or of each array in a tuple or dict observation (Blackjack-v1's
    observations are a tuple of three arrays, one per entry of its Tuple space)."""
    if isinstance(data, dict):
        return "{" + ", ".join(f"{k!r}: {shape_of(v)}" for k, v in data.items()) + "}"
    if isinstance(data, tuple):
        return "(" + ", ".join(shape_of(item) for item in data) + ")"
    return str(tuple(np.shape(data)))


def equal(a: Any, b: Any) -> bool:
    """Whether two fields are equal, array by array in a tuple or dict observation."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--workers", type=int_at_least(1), default=4)
    parser.add_argument(
        "--rollouts",
        type=int_at_least(2, " (a confidence interval needs two returns)"),
        default=20,
    )
    parser.add_argument(
        "--max-steps",
        type=int_at_least(1),
        default=None,
        help=f"cut rollouts after N steps (default: the env's time limit, or {DEFAULT_MAX_STEPS}"
        " for an env without one)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    policy, spec = policy_for(args.env)
    max_steps = args.max_steps
    if max_steps is None and spec.max_episode_length is None:
        # Without a time limit a rollout may never end (gymsamp/Counting-v0 never does).
        max_steps = DEFAULT_MAX_STEPS
        print(f"{args.env} has no time limit: rollouts cut at {max_steps} steps (--max-steps N)")
    with ParallelRolloutSampler(
        args.env,
        policy,
        num_workers=args.workers,
        min_rollouts=args.rollouts,
        seed=args.seed,
        max_steps=max_steps,
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()

    first = rollouts[0]
    print(f"{len(rollouts)} rollouts of {args.env} ({sampler.vectorization_used} vectorization)")
    print(f"rollout 0: {first.length} steps, fields {list(first.data_names)}")
    print(f"  observations {shape_of(first.observations)} (T+1: the last is the final observation)")
    print(
        f"  last step: {StepType(int(first.step_types[-1])).name}, "
        f"terminated={bool(first.terminated[-1])}, truncated={bool(first.truncated[-1])}"
    )
    print(f"  reset seed {first.rollout_info['seed']} = derive_seed({args.seed}, 0, 0)")

    returns = np.array([ro.undiscounted_return() for ro in rollouts])
    with warnings.catch_warnings():
        # Identical returns (gymsamp/Counting-v0 cut at --max-steps) make the bootstrap
        # distribution degenerate: the interval is [mean, mean], printed as such.
        warnings.simplefilter("ignore", DegenerateBootstrapWarning)
        mean, lo, up = bootstrap_ci(returns, np.mean, 2000, 0.05, 2, seed=0)
    print(f"mean return {mean:.1f}, 95% CI [{lo:.1f}, {up:.1f}]")

    # The determinism contract: the same rollouts, one at a time.
    again = [
        rollout(args.env, policy, max_steps=max_steps, seed=args.seed, sub_seed=0, sub_sub_seed=k)
        for k in range(len(rollouts))
    ]
    same = all(
        equal(a.observations, b.observations) and equal(a.actions, b.actions)
        for a, b in zip(rollouts, again, strict=True)
    )
    print(f"parallel sampling equals sequential rollouts: {same}")
    ok = same and len(rollouts) == args.rollouts and lo <= mean <= up
    print(f"self-check passed: {ok}")


if __name__ == "__main__":
    main()
