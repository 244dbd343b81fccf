"""Benchmark of gymsamp's SBI simulator against pyrado's one-row-at-a-time loop, in the same run.

Task (issue 6): simulate 1,000 parameter rows ``(m, l)`` of Pendulum-v1, one 200-step rollout
each, every rollout starting from the recorded initial state of a "real" rollout and replaying
its excitation torques, and embed them with the BayesSim embedding.

- baseline: a plain loop over the rows calling :func:`gymsamp.sampling.rollout` (one env
  instance reused, the recorded torques replayed), then the same embedding of all rows, as
  pyrado's ``SimRolloutSamplerForSBI`` did;
- gymsamp: one call of ``SimRolloutSamplerForSBI(..., num_workers=2)`` on the same rows (its
  workers started and warmed up beforehand, as a training loop keeps them).

Both must give identical features (checked). Each side runs best-of-``repeats``, the two sides
interleaved, garbage collection off while timing, because the machine is shared and absolute
speeds mean little. The one-worker sampler is printed for information. Target: gymsamp with 2
workers >= 1.5x the loop. The exit code is always 0: this is a report, not a test.

Run from the repository root::

    .venv/bin/python bench/bench_sbi.py            # 1,000 rows, about a minute
    .venv/bin/python bench/bench_sbi.py --quick    # 100 rows, a smoke test
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import traceback
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from gymsamp.policies import PlaybackPolicy
from gymsamp.sampling import rollout
from gymsamp.sbi import (
    BayesSimEmbedding,
    RolloutSamplerForSBI,
    SimRolloutSamplerForSBI,
    sbi_env_spec,
)

ENV_ID = "Pendulum-v1"
STEPS = 200
TARGET = 1.5
TRUTH = {"m": 1.3, "l": 0.8}


def timed(fn: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
    """Seconds of one call of ``fn`` (GC off) and its result."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        out = fn()
        return time.perf_counter() - start, out
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 rows, one repetition")
    args = parser.parse_args()
    rows, repeats = (100, 1) if args.quick else (1000, 2)

    spec = sbi_env_spec(ENV_ID)
    embedding = BayesSimEmbedding(spec, RolloutSamplerForSBI.get_dim_data(spec))
    rng = np.random.default_rng(0)
    torques = rng.uniform(-2.0, 2.0, (STEPS, 1)).astype(np.float32)
    real = rollout(ENV_ID, PlaybackPolicy(torques), seed=0, reset_kwargs={"domain_param": TRUTH})
    theta = torch.as_tensor(rng.uniform([0.5, 0.5], [2.0, 1.5], (rows, 2)))
    print(
        f"SBI simulator: {ENV_ID}, {rows} rows (m, l) x one {STEPS}-step rollout, replayed "
        f"torques, BayesSim features; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}"
    )

    env = gym.make(ENV_ID)
    playback = PlaybackPolicy(torques)

    def loop() -> torch.Tensor:
        data = []
        for m, length in theta.tolist():
            ro = rollout(
                env,
                playback,
                eval=True,
                no_close=True,
                reset_kwargs={"init_state": real.states[0], "domain_param": {"m": m, "l": length}},
            )
            data.append(np.concatenate([ro.states[:-1], ro.actions_applied], axis=1))
        with torch.no_grad():
            return embedding(torch.as_tensor(np.stack(data))[:, None])

    samplers = {
        workers: SimRolloutSamplerForSBI(
            ENV_ID,
            None,
            {0: "m", 1: "l"},
            embedding,
            num_segments=1,
            rollouts_real=[real],
            num_workers=workers,
            seed=0,
        )
        for workers in (1, 2)
    }
    try:
        for sampler in samplers.values():
            sampler(theta[:8])  # warm-up: worker start-up and first collection
        runs: dict[str, Callable[[], torch.Tensor]] = {"loop": loop}
        runs.update({f"{w} worker(s)": (lambda s=s: s(theta)) for w, s in samplers.items()})
        best = dict.fromkeys(runs, float("inf"))
        results: dict[str, torch.Tensor] = {}
        for _ in range(repeats):
            for name, fn in runs.items():
                seconds, results[name] = timed(fn)
                best[name] = min(best[name], seconds)
        for name, seconds in best.items():
            print(f"  {name:12s} {seconds:7.2f} s  ({rows * STEPS / seconds:9,.0f} steps/s)")
        same = all(torch.equal(results["loop"], x) for x in results.values())
        print(f"  identical features: {same}")
        ratio_1 = best["loop"] / best["1 worker(s)"]
        ratio_2 = best["loop"] / best["2 worker(s)"]
        print(f"  1 worker  vs loop: {ratio_1:.2f}x (information)")
        ok = ratio_2 >= TARGET and same
        print(f"  2 workers vs loop: {ratio_2:.2f}x (target >= {TARGET}x) {'OK' if ok else 'MISS'}")
    except Exception:
        traceback.print_exc()
        print("  benchmark failed: MISS")
    finally:
        for sampler in samplers.values():
            sampler.close()
        env.close()


if __name__ == "__main__":
    main()
