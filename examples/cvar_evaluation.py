"""Worst-case (CVaR) evaluation of policies under domain randomization.

Shows: ``CVaRSampler`` wrapping a ``ParallelRolloutSampler`` on a randomized CartPole (pole
length and mass drawn at every reset): it samples ``1 / epsilon`` times as many rollouts and
keeps the worst ``epsilon`` fraction, whose mean return is the empirical conditional value at
risk (CVaR). Two controllers are compared by mean return and by CVaR; ``select_cvar`` applied
to the full set of a plain sampler with the same seed picks exactly the same rollouts.

Run: ``.venv/bin/python examples/cvar_evaluation.py [--workers N] [--rollouts N]
[--epsilon 0.2]``
"""

# smoke-test: --workers 2 --rollouts 2 --epsilon 0.5
from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from gymsamp.envs import DomainRandomizer, DomainRandWrapper, UniformDomainParam
from gymsamp.sampling import CVaRSampler, ParallelRolloutSampler, select_cvar


def randomized_cartpole() -> gym.Env:
    """CartPole with the half pole length in U[0.2, 1.4] and the pole mass in U[0.05, 0.5]."""
    randomizer = DomainRandomizer(
        UniformDomainParam("length", mean=0.8, halfspan=0.6),
        UniformDomainParam("masspole", mean=0.275, halfspan=0.225),
    )
    return DomainRandWrapper(gym.make("CartPole-v1"), randomizer)


def lean(obs: np.ndarray) -> np.ndarray:
    """Push towards the side the pole leans to."""
    return (obs[:, 2] > 0).astype(np.int64)


def lean_ahead(obs: np.ndarray) -> np.ndarray:
    """Push towards where the pole will lean a moment later (angle + 0.5 * angular velocity)."""
    return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rollouts", type=int, default=10, help="rollouts kept by the CVaR")
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    total = math.ceil(args.rollouts / args.epsilon)
    print(f"CVaR at epsilon={args.epsilon}: the worst {args.rollouts} of {total} rollouts")

    checks = []
    policies: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "lean": lean,
        "lean_ahead": lean_ahead,
    }
    for name, policy in policies.items():
        options = {"num_workers": args.workers, "seed": args.seed, "show_progress_bar": False}
        inner = ParallelRolloutSampler(randomized_cartpole, policy, min_rollouts=1, **options)
        with CVaRSampler(inner, args.epsilon, min_rollouts=args.rollouts) as sampler:
            worst = sampler.sample()
        # The same, spelled out: the full set, then its worst epsilon (the list is not reordered).
        with ParallelRolloutSampler(
            randomized_cartpole, policy, min_rollouts=total, **options
        ) as plain:
            everything = plain.sample()
        selected = select_cvar(everything, args.epsilon)
        returns = np.array([ro.undiscounted_return() for ro in everything])
        cvar = float(np.mean([ro.undiscounted_return() for ro in worst]))
        lengths = [ro.rollout_info["domain_param"]["length"] for ro in worst]
        print(
            f"{name:>10}: mean return {returns.mean():6.1f}, CVaR {cvar:6.1f} "
            f"(worst-case pole lengths {min(lengths):.2f} .. {max(lengths):.2f})"
        )
        checks += [
            len(worst) == round(args.epsilon * len(everything)),
            [ro.rollout_info["rollout_index"] for ro in worst]
            == [ro.rollout_info["rollout_index"] for ro in selected],
            cvar <= returns.mean(),
            [ro.rollout_info["rollout_index"] for ro in everything] == list(range(total)),
        ]
    print(f"self-check passed: {all(checks)}")


if __name__ == "__main__":
    main()
