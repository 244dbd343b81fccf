"""A simple evolution strategy that improves a linear policy, built on parameter exploration.

Shows: ``ParameterExplorationSampler`` evaluating a whole population of ``LinearPolicy``
parameter sets side by side (different parameters per sub-env in one vector step) on common
random numbers (every parameter set sees the same initial states in a call), random search
directions from ``gymsamp.stats.sample_from_hyper_sphere_surface``, and an antithetic ES update
(``theta += lr * sum_i (R(theta + sigma d_i) - R(theta - sigma d_i)) d_i``, normalized by the
spread of the returns). The task is ``gymsamp/PointMass-v0``: push a 1-D point mass to the
origin (reward ``-(x**2 + 0.1 u**2)``). The mean return rises from the zero policy's.

Run: ``.venv/bin/python examples/evolution_strategy.py [--iterations N] [--directions N]
[--rollouts N] [--workers N] [--max-steps N]``
"""

# smoke-test: --iterations 4 --directions 3 --rollouts 2 --workers 2 --max-steps 60
from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

from gymsamp.data import EnvSpec
from gymsamp.policies import LinearPolicy
from gymsamp.sampling import ParameterExplorationSampler
from gymsamp.stats import sample_from_hyper_sphere_surface

ENV_ID = "gymsamp/PointMass-v0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--directions", type=int, default=8, help="population = 2 * this")
    parser.add_argument("--rollouts", type=int, default=4, help="rollouts per parameter set")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--sigma", type=float, default=0.3, help="exploration radius")
    parser.add_argument("--lr", type=float, default=0.3, help="step length")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    spec = EnvSpec.from_env(gym.make(ENV_ID))
    policy = LinearPolicy(spec)  # u = W @ [x, v] + b, starts at zero (no push)
    theta0 = policy.param_values
    theta = theta0.copy()
    rng = np.random.default_rng(args.seed)

    options = {"num_domains": 1, "num_workers": args.workers, "max_steps": args.max_steps}
    with ParameterExplorationSampler(
        ENV_ID, policy, num_init_states_per_domain=args.rollouts, seed=args.seed, **options
    ) as sampler:
        for iteration in range(args.iterations):
            directions = np.stack(
                [
                    sample_from_hyper_sphere_surface(policy.num_params, "normal", rng).numpy()
                    for _ in range(args.directions)
                ]
            )
            # theta itself first (to report its return), then the antithetic pairs.
            population = np.concatenate(
                [theta[None], theta + args.sigma * directions, theta - args.sigma * directions]
            )
            returns = sampler.sample(population).mean_returns()
            current, plus, minus = returns[0], *np.split(returns[1:], 2)
            step = (plus - minus) @ directions / (returns[1:].std() + 1e-8)
            theta = theta + args.lr * step / args.directions
            print(
                f"iteration {iteration:3d}: mean return {current:9.2f}, next theta "
                f"{np.array2string(theta, precision=2)}"
            )

    # Before vs after on 20 fresh initial states, the same for both (common random numbers).
    with ParameterExplorationSampler(
        ENV_ID, policy, num_init_states_per_domain=20, seed=args.seed + 1, **options
    ) as evaluation:
        initial, final = evaluation.sample(np.stack([theta0, theta])).mean_returns()

    print(f"mean return of the zero policy {initial:.2f}, of the final policy {final:.2f}")
    print(f"self-check passed (final > initial): {final > initial}")


if __name__ == "__main__":
    main()
