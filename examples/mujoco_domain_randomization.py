"""Domain randomization and fixed initial states on a MuJoCo env (InvertedPendulum-v5).

Shows: the MuJoCo adapter's physical parameters (``pole_mass``, ``cart_mass``, ...), a
``DomainRandomizer`` drawing new masses at every reset through ``DomainRandWrapper`` (seeded
per rollout, so the draws do not depend on the number of workers), how a linear balancing
controller fares on the nominal vs the randomized domain (bootstrap confidence intervals), a
sweep over pole masses with ``eval_domain_params`` and ``param_grid``, and rollouts started from
fixed initial states (``qpos`` + ``qvel``).

Run: ``.venv/bin/python examples/mujoco_domain_randomization.py [--workers N] [--rollouts N]
[--max-steps N]`` (needs ``pip install mujoco``).
"""

# smoke-test: --workers 2 --rollouts 4 --max-steps 50
from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

from gymsamp.data import StepSequence
from gymsamp.envs import (
    DomainParamWrapper,
    DomainRandomizer,
    DomainRandWrapper,
    NormalDomainParam,
    UniformDomainParam,
    param_grid,
)
from gymsamp.policies import LinearPolicy
from gymsamp.sampling import ParallelRolloutSampler, eval_domain_params
from gymsamp.stats import bootstrap_ci

ENV_ID = "InvertedPendulum-v5"
POLE_MASS = (1.0, 30.0)  # the randomized range; nominal 5.02


def randomized_pendulum() -> gym.Env:
    """InvertedPendulum whose pole and cart masses are drawn anew at every reset."""
    randomizer = DomainRandomizer(
        UniformDomainParam("pole_mass", mean=sum(POLE_MASS) / 2, halfspan=np.ptp(POLE_MASS) / 2),
        NormalDomainParam("cart_mass", mean=10.5, std=2.0, clip_lo=1.0),
    )
    return DomainRandWrapper(gym.make(ENV_ID), randomizer)


def summary(name: str, rollouts: list[StepSequence]) -> None:
    returns = np.array([ro.undiscounted_return() for ro in rollouts])
    if np.ptp(returns) > 0:
        mean, lo, up = bootstrap_ci(returns, np.mean, 2000, 0.05, 2, seed=0)
    else:  # every rollout alike: a bootstrap interval would collapse (and warn)
        mean = lo = up = float(returns[0])
    fell = sum(bool(ro.terminated[-1]) for ro in rollouts)
    masses = [ro.rollout_info["domain_param"]["pole_mass"] for ro in rollouts]
    print(
        f"{name:>10}: mean return {mean:6.1f} (95% CI [{lo:.1f}, {up:.1f}]), pole fell in "
        f"{fell}/{len(rollouts)}, pole mass {min(masses):.2f} .. {max(masses):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rollouts", type=int, default=20)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    env = DomainParamWrapper(gym.make(ENV_ID))
    nominal = env.nominal_domain_param
    print(f"{ENV_ID} domain parameters: {', '.join(nominal)}")
    env.close()

    # a = K @ [slider, hinge, slider_dot, hinge_dot]: balances the nominal pole, not a heavy one.
    policy = LinearPolicy((4, 1), weight=[[0.3, 3.0, 0.3, 0.3]], use_bias=False)
    common = {"num_workers": args.workers, "seed": args.seed, "max_steps": args.max_steps}
    common["show_progress_bar"] = False

    with ParallelRolloutSampler(ENV_ID, policy, min_rollouts=args.rollouts, **common) as sampler:
        nominal_rollouts = sampler.sample()
        # Fixed initial states: the pole tilted by 0.05 and 0.1 rad, at rest.
        states = [np.array([0.0, tilt, 0.0, 0.0]) for tilt in (0.05, 0.1)]
        tilted = sampler.sample(init_states=states)
    with ParallelRolloutSampler(
        randomized_pendulum, policy, min_rollouts=args.rollouts, **common
    ) as sampler:
        randomized = sampler.sample()
    summary("nominal", nominal_rollouts)
    summary("randomized", randomized)
    summary("tilted", tilted)

    masses = [1.0, 5.0, 15.0, 30.0]
    sweep = eval_domain_params(
        args.workers,
        lambda: gym.make(ENV_ID, max_episode_steps=args.max_steps),
        policy,
        param_grid({"pole_mass": masses}),
        seed=args.seed,
    )
    print(
        "pole mass sweep (return): "
        + ", ".join(
            f"{m:g}: {ro.undiscounted_return():.0f}" for m, ro in zip(masses, sweep, strict=True)
        )
    )

    drawn = np.array([ro.rollout_info["domain_param"]["pole_mass"] for ro in randomized])
    checks = [
        all(ro.rollout_info["domain_param"] == nominal for ro in nominal_rollouts),
        bool(np.all((drawn >= POLE_MASS[0]) & (drawn <= POLE_MASS[1]))),
        len(np.unique(drawn)) == len(drawn),  # a new draw for every rollout
        [ro.rollout_info["domain_param"]["pole_mass"] for ro in sweep] == masses,
        all(
            np.array_equal(ro.rollout_info["init_state"], states[k % 2])
            and np.allclose(ro.observations[0], states[k % 2])
            for k, ro in enumerate(tilted)
        ),
    ]
    print(f"self-check passed: {all(checks)}")


if __name__ == "__main__":
    main()
