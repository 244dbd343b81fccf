"""gymsamp's main demo: reproducible sampling on CartPole-v1, nominal and randomized.

A simple hand-made controller (it pushes towards the side the pole leans to, and keeps the pole
up for ~40 steps, not the full 500) runs on CartPole-v1 on several sub-envs, in whatever
layout ``vectorization="auto"`` picks for an env this cheap (in-process here): first with the
nominal physics, then with the pole length randomized (domain randomization), then the worst
20% of rollouts are selected (CVaR). For each run it prints the number of rollouts and steps,
the throughput, return statistics with a 95% bootstrap confidence interval of the mean, and how
the episodes ended (TERMINAL vs TIMEOUT). It then checks the determinism contract: the parallel
result equals sequential ``rollout()`` calls with the same seeds.

Run: ``.venv/bin/python examples/demo.py [--workers N] [--rollouts N]`` (``make demo`` runs a
similar job with the ``gymsamp sample`` command instead).
"""

# smoke-test: --workers 1 --rollouts 10
from __future__ import annotations

import argparse
import sys
import time

import gymnasium as gym
import numpy as np

from gymsamp.data import StepSequence, StepType
from gymsamp.envs import DomainRandomizer, DomainRandWrapper, UniformDomainParam
from gymsamp.sampling import CVaRSampler, ParallelRolloutSampler, rollout
from gymsamp.stats import bootstrap_ci


def balance(observations: np.ndarray) -> np.ndarray:
    """Push the cart towards the side the pole leans to (a simple, imperfect controller)."""
    return (observations[:, 2] > 0).astype(np.int64)


def randomized_cartpole() -> gym.Env:
    """CartPole whose (half) pole length is drawn from U[0.2, 1.4] at every reset."""
    randomizer = DomainRandomizer(UniformDomainParam("length", mean=0.8, halfspan=0.6))
    return DomainRandWrapper(gym.make("CartPole-v1"), randomizer)


def summarize(name: str, rollouts: list[StepSequence], seconds: float | None) -> None:
    returns = np.array([ro.undiscounted_return() for ro in rollouts])
    steps = sum(ro.length for ro in rollouts)
    mean, lo, up = (
        bootstrap_ci(returns, np.mean, 2000, 0.05, 2, seed=0)
        if len(returns) > 1
        else (returns[0], np.nan, np.nan)  # an interval needs at least two rollouts
    )
    endings = [StepType(int(ro.step_types[-1])).name for ro in rollouts]
    print(f"\n{name}")
    speed = "" if seconds is None else f", {steps / seconds:,.0f} steps/s"
    print(f"  rollouts {len(rollouts)}, steps {steps}{speed}")
    print(
        f"  return mean {mean:.1f} (95% CI [{lo:.1f}, {up:.1f}]), median {np.median(returns):.1f},"
        f" std {returns.std():.1f}, min {returns.min():.0f}, max {returns.max():.0f}"
    )
    print(f"  endings: TERMINAL {endings.count('TERMINAL')}, TIMEOUT {endings.count('TIMEOUT')}")
    lengths = [ro.rollout_info["domain_param"]["length"] for ro in rollouts]
    print(f"  pole length: {min(lengths):.2f} .. {max(lengths):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rollouts", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    options = {"seed": args.seed, "show_progress_bar": sys.stderr.isatty()}

    with ParallelRolloutSampler(
        "CartPole-v1", balance, args.workers, min_rollouts=args.rollouts, **options
    ) as sampler:
        start = time.perf_counter()
        nominal = sampler.sample()
        summarize(f"CartPole-v1, nominal physics ({sampler})", nominal, time.perf_counter() - start)

    with ParallelRolloutSampler(
        randomized_cartpole, balance, args.workers, min_rollouts=args.rollouts, **options
    ) as sampler:
        start = time.perf_counter()
        randomized = sampler.sample()
        seconds = time.perf_counter() - start
        summarize("CartPole-v1, pole length randomized in [0.2, 1.4]", randomized, seconds)

        # At least one of the worst; the inner sampler then draws ceil(that / 0.2) rollouts.
        cvar = CVaRSampler(sampler, epsilon=0.2, min_rollouts=max(1, args.rollouts // 5))
        worst = cvar.sample()
        drawn = sampler.min_rollouts
        summarize(f"worst 20% (CVaR) of {drawn} fresh randomized rollouts", worst, None)

    same = all(
        np.array_equal(
            ro.observations,
            rollout(
                "CartPole-v1", balance, seed=args.seed, sub_seed=0, sub_sub_seed=k
            ).observations,
        )
        for k, ro in enumerate(nominal[:5])
    )
    print(f"\nparallel rollouts equal sequential rollout() calls with the same seeds: {same}")


if __name__ == "__main__":
    main()
