"""gymsamp's episode data model, end to end, on real CartPole episodes.

Shows: recording Gymnasium episodes into StepSequence (T+1 observations, terminated/truncated
kept apart), step types, concatenation that keeps every final observation, discounted returns
and GAE that respect rollout boundaries, conversion to garage's EpisodeBatch and back, and
saving / loading without pickle (to ``--out``, else to a temporary folder removed at the end).

Run: ``.venv/bin/python examples/data_model.py [--episodes N] [--max-steps N] [--out FILE]``
"""

# smoke-test: --episodes 3 --max-steps 20
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np

from gymsamp.data import (
    EnvSpec,
    EpisodeBatch,
    StepSequence,
    StepType,
    discounted_value,
    gae_returns,
)
from gymsamp.data.io import load_rollouts, save_rollouts


def record_episode(
    env: gym.Env, rng: np.random.Generator, seed: int, max_steps: int
) -> StepSequence:
    """Run a random policy for one episode with a plain Gymnasium loop."""
    obs, _ = env.reset(seed=seed)
    observations, actions, rewards, terminated, truncated = [obs], [], [], [], []
    for t in range(max_steps):
        action = int(rng.integers(2))
        obs, reward, term, trunc, _info = env.step(action)
        # The sampler cuts an episode at max_steps: that ending is a truncation (TIMEOUT).
        trunc = trunc or t == max_steps - 1
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
        terminated.append(term)
        truncated.append(trunc)
        if term or trunc:
            break
    return StepSequence(
        rewards=rewards,
        observations=observations,
        actions=actions,
        terminated=terminated,
        truncated=truncated,
        rollout_info={"seed": seed},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None, help="where to save the rollouts")
    args = parser.parse_args()

    env = gym.make("CartPole-v1")
    spec = EnvSpec.from_env(env)
    rng = np.random.default_rng(0)
    rollouts = [record_episode(env, rng, seed, args.max_steps) for seed in range(args.episodes)]
    env.close()

    print(f"{'seed':>4} {'steps':>5} {'return':>7}  ending    first obs -> final obs (x)")
    for ro in rollouts:
        ending = StepType(ro.step_types[-1]).name
        x0, x1 = ro.observations[0, 0], ro.observations[-1, 0]
        print(
            f"{ro.rollout_info['seed']:>4} {ro.length:>5} {ro.undiscounted_return():>7.1f}"
            f"  {ending:<8}  {x0:+.3f} -> {x1:+.3f}"
        )

    everything = StepSequence.concat(rollouts)
    print(f"\nconcatenated: {everything}")
    print(f"rollout lengths: {everything.rollout_lengths.tolist()}")
    values = discounted_value(everything, gamma=0.99)
    starts = everything.rollout_bounds[:-1]
    print(f"discounted return at each rollout start: {np.round(values[starts], 2).tolist()}")

    # A crude value estimate with T+1 entries per rollout, so TIMEOUT endings bootstrap V(s_T).
    parts = []
    for ro in rollouts:
        ro.add_data("values", np.full(ro.length + 1, 10.0))
        parts.append(ro)
    advantages = gae_returns(StepSequence.concat(parts), gamma=0.99, lamb=0.95)
    print(f"GAE advantages: mean {advantages.mean():+.3f}, std {advantages.std():.3f}")

    batch = EpisodeBatch.from_step_sequences(rollouts, spec)
    print(f"\nEpisodeBatch: {len(batch.lengths)} episodes, {batch.rewards.shape[0]} steps")
    back = batch.to_step_sequences()
    same = all(
        np.array_equal(a.observations, b.observations) for a, b in zip(rollouts, back, strict=False)
    )
    print(f"StepSequence -> EpisodeBatch -> StepSequence keeps every observation: {same}")

    with tempfile.TemporaryDirectory() as scratch:  # removed at the end, unless --out is given
        out = args.out or Path(scratch) / "rollouts.npz"
        save_rollouts(out, rollouts)
        loaded = load_rollouts(out)
        same = all(
            np.array_equal(a.rewards, b.rewards) for a, b in zip(rollouts, loaded, strict=False)
        )
        kept = "" if args.out else ", then removed"
        print(
            f"saved to {out} ({out.stat().st_size} bytes{kept}) and loaded back identical: {same}"
        )


if __name__ == "__main__":
    main()
