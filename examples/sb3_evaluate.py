"""Evaluate a stable-baselines3 model with gymsamp, with bootstrap confidence intervals.

Shows: an SB3 model (trained here, or loaded from a zip with ``--model``) used directly as a
gymsamp policy, deterministic and stochastic (``as_policy(model, spec, deterministic=False)``);
95% bootstrap confidence intervals of the mean return and a one-sided lower bound with
``gymsamp.stats.bootstrap_ci``; and a cross-check against SB3's own ``evaluate_policy``: given
the same reset seeds, it reports the very same episode returns.

The default run takes about two minutes on two CPU cores: training for 20,000 steps (~40 s)
gives a model that balances the pole to CartPole's 500-step limit in every deterministic
episode, and evaluating episodes that long takes the rest. ``--train-steps 2000`` runs in
about 15 s, with a weaker model (shorter, uneven episodes); the cross-check holds either way.

Run: ``.venv/bin/python examples/sb3_evaluate.py [--model ppo.zip] [--train-steps N]
[--episodes N] [--workers N]`` (needs ``pip install stable-baselines3``).
"""

# smoke-test: --train-steps 128 --episodes 6 --workers 2
from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from gymsamp.data import EnvSpec, StepSequence
from gymsamp.policies import as_policy
from gymsamp.sampling import ParallelRolloutSampler, derive_seed
from gymsamp.stats import DegenerateBootstrapWarning, bootstrap_ci

ENV_ID = "CartPole-v1"


class ResetSeeds(gym.Wrapper):
    """Resets with ``seeds[k]`` at its ``k``-th reset (None once the list is used up)."""

    def __init__(self, env: gym.Env, seeds: list[int]) -> None:
        super().__init__(env)
        self.seeds, self.resets = list(seeds), 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        k, self.resets = self.resets, self.resets + 1
        return self.env.reset(seed=self.seeds[k] if k < len(self.seeds) else None, options=options)


def report(name: str, rollouts: list[StepSequence]) -> tuple[float, float, float]:
    returns = np.array([ro.undiscounted_return() for ro in rollouts])
    with warnings.catch_warnings():
        # Identical returns (a model that balances the pole to the time limit every time) make
        # the bootstrap distribution degenerate: the interval is [mean, mean], printed as such.
        warnings.simplefilter("ignore", DegenerateBootstrapWarning)
        mean, lo, up = bootstrap_ci(returns, np.mean, 5000, 0.05, 2, seed=0)
        lower = bootstrap_ci(returns, np.mean, 5000, 0.05, ci_sides=1, seed=0, bound="lower").ci_lo
    print(
        f"{name:>13}: {len(returns)} episodes, mean return {mean:.1f}, "
        f"95% CI [{lo:.1f}, {up:.1f}], 95% lower bound {lower:.1f}"
    )
    return mean, lo, up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an SB3 PPO zip for CartPole-v1; else train one")
    parser.add_argument(
        "--train-steps", type=int, default=20_000, help="PPO training steps (default: %(default)s)"
    )
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.episodes < 2:
        parser.error(f"--episodes must be at least 2 (a confidence interval), got {args.episodes}")

    if args.model:
        model = PPO.load(args.model, device="cpu")
    else:
        n_steps = min(512, max(64, args.train_steps))  # PPO's rollout length per update
        model = PPO("MlpPolicy", ENV_ID, n_steps=n_steps, batch_size=64, seed=0, device="cpu")
        print(f"training PPO for {args.train_steps} steps (--train-steps N to change)", flush=True)
        start = time.perf_counter()
        # SB3's default logger makes a folder tmp/SB3-<time> on every learn(), even when it
        # writes nothing there; a logger without outputs keeps the example from leaving it.
        model.set_logger(Logger(folder=None, output_formats=[]))
        model.learn(total_timesteps=args.train_steps)
        print(f"trained in {time.perf_counter() - start:.0f} s")

    def evaluate(policy: Any) -> list[StepSequence]:
        with ParallelRolloutSampler(
            ENV_ID,
            policy,
            num_workers=args.workers,
            min_rollouts=args.episodes,
            seed=args.seed,
            show_progress_bar=False,
        ) as sampler:
            return sampler.sample()

    deterministic = evaluate(model)  # as_policy(model, spec) with deterministic=True
    mean, lo, up = report("deterministic", deterministic)
    spec = EnvSpec.from_env(gym.make(ENV_ID))
    report("stochastic", evaluate(as_policy(model, spec, deterministic=False)))

    # SB3's evaluate_policy runs its episodes one after another in one env; resetting that env
    # with gymsamp's seeds derive_seed(seed, 0, k) makes it play the very same episodes.
    seeds = [derive_seed(args.seed, 0, k) for k in range(args.episodes)]
    vec_env = DummyVecEnv([lambda: Monitor(ResetSeeds(gym.make(ENV_ID), seeds))])
    sb3_returns, _ = evaluate_policy(
        model, vec_env, n_eval_episodes=args.episodes, return_episode_rewards=True
    )
    vec_env.close()
    ours = [ro.undiscounted_return() for ro in deterministic]
    same = ours == [float(r) for r in sb3_returns]
    print(f"evaluate_policy with the same reset seeds gives the same returns: {same}")
    print(f"self-check passed: {same and lo <= mean <= up}")


if __name__ == "__main__":
    main()
