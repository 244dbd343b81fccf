"""Benchmark of the Ray backend against a single-process loop and the local backend, same run.

Every number that carries a target is a ratio against a baseline measured in the same run (best
of several repetitions, the sides interleaved, garbage collection off while timing), because the
machine is shared and absolute speeds mean little. One local Ray is started for the whole run
(``num_cpus=4`` logical CPUs, so up to 4 actors of ``num_cpus=1`` fit; no dashboard, 127.0.0.1),
with ``RAY_worker_niceness=0``: Ray runs its workers at nice 15 by default, which on
this shared machine would let every other process (including the local backend's worker
processes, at nice 0) take the cores from the actors; at 0 both backends compete on equal
terms. ``--ray-niceness 15`` measures Ray's default.

1. Throughput on the 200-microsecond toy env (``PointMassEnv(step_cost_us=200)``, 200-step
   episodes, a clipped PD controller; ``min_rollouts`` so every side does the same work):
   ``backend="ray"`` with 2 actors (1 env each) against one env stepped by a plain Python loop
   (target >= 1.5x) and against the local backend with 2 workers (``vectorization="auto"``,
   which picks worker processes for this env; target >= 0.75x). Actor and worker start-up are
   excluded by a warm-up call.
2. Per-call overhead of a small request (2 rollouts of 10 cheap steps, 2 actors): the median
   wall time of ``sample()`` with Ray and with the local backend (``"sync"``, one process), and
   the Ray driver's breakdown (``RayRolloutDriver.stats``): the one ``ray.put`` of the
   parameters (parameter broadcast), the mean delay from submitting a batch to its actor
   starting it (actor dispatch) and from the actor finishing to the driver holding the
   unpickled rollouts (result transfer). Repeated with a policy of 1,000,000 parameters (8 MB
   broadcast per call).
3. Scaling with the number of actors in a simulated multi-node setting: several actors on this
   one machine, each a separate process with its own env and object-store traffic as on
   separate nodes (Ray's multi-raylet test cluster cannot start offline here). 1, 2 and 4
   actors (1 env each) and 2 actors x 2 envs on the 200-us env, a fixed number of rollouts per
   actor-env; steps/s and the speed-up over 1 actor. This machine has only 2 cores, so more
   than 2 busy actors cannot go faster; the numbers show what the dispatch costs on top.

The exit code is always 0: this is a report, not a test. Each section catches its own errors.

Run from the repository root::

    .venv/bin/python bench/bench_ray.py            # full size, about two minutes
    .venv/bin/python bench/bench_ray.py --quick    # tiny sizes, a smoke test (~40 s)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from _timing import best_rates, load, sampler_run, verdict  # bench/ is the script's directory

from gymsamp.envs import CountingEnv, PointMassEnv
from gymsamp.policies import PolicyStep
from gymsamp.sampling import ParallelRolloutSampler

STEP_COST_US = 200.0
VS_SINGLE_TARGET = 1.5
VS_LOCAL_TARGET = 0.75
RAY_CPUS = 4


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run."""

    repeats: int
    throughput_rollouts: int  # 200-step rollouts per call in section 1
    overhead_calls: int
    scaling_rollouts_per_env: int
    scaling_actors: tuple[int, ...]


FULL = Sizes(
    repeats=3,
    throughput_rollouts=24,
    overhead_calls=50,
    scaling_rollouts_per_env=6,
    scaling_actors=(1, 2, 4),
)
QUICK = Sizes(
    repeats=2,
    throughput_rollouts=6,
    overhead_calls=10,
    scaling_rollouts_per_env=2,
    scaling_actors=(1, 2),
)


# --- envs and policies (module level: they travel to the actors by value from __main__) ----


def make_expensive() -> gym.Env[Any, Any]:
    """The 200-us toy env with its 200-step time limit."""
    return gym.wrappers.TimeLimit(PointMassEnv(step_cost_us=STEP_COST_US), 200)


def make_cheap() -> gym.Env[Any, Any]:
    """A 10-step counter with no step cost (for the overhead of a small request)."""
    return CountingEnv(truncate_at=10)


def pd_controller(obs: np.ndarray) -> np.ndarray:
    """A clipped PD controller towards x = 0."""
    return np.clip(-obs[:, :1] - obs[:, 1:2], -1.0, 1.0).astype(np.float32)


class ManyParams:
    """A parametric policy with ``n`` parameters that always takes action 0 (broadcast cost)."""

    def __init__(self, n: int) -> None:
        self._params = np.zeros(n)

    @property
    def param_values(self) -> np.ndarray:
        return self._params

    @param_values.setter
    def param_values(self, values: np.ndarray) -> None:
        self._params = np.asarray(values, dtype=np.float64)

    @property
    def num_params(self) -> int:
        return len(self._params)

    def set_env_params(self, env_indices: np.ndarray, params: np.ndarray) -> None:
        pass

    def start(self, num_envs: int, *, eval: bool) -> None:
        pass

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        pass

    def act(self, observations: np.ndarray) -> PolicyStep:
        return PolicyStep(np.zeros(len(observations), dtype=np.int64), {})


# --- timing helpers -----------------------------------------------------------------------


def single_process_run(rollouts: int) -> Callable[[], int]:
    """``rollouts`` episodes of one env in a plain Python loop, recording nothing."""
    env = make_expensive()

    def run() -> int:
        steps = 0
        for k in range(rollouts):
            obs, _ = env.reset(seed=k)
            done = False
            while not done:
                action = pd_controller(obs[None])[0]
                obs, _, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
                steps += 1
        return steps

    return run


def make_sampler(env: Any, policy: Any, workers: int, rollouts: int, **kwargs: Any) -> Any:
    sampler = ParallelRolloutSampler(
        env, policy, workers, min_rollouts=rollouts, seed=0, show_progress_bar=False, **kwargs
    )
    sampler.sample()  # warm-up: start worker processes or actors
    return sampler


def ms(seconds: float) -> str:
    return f"{1e3 * seconds:6.2f} ms"


# --- 1. throughput ------------------------------------------------------------------------


def bench_throughput(sizes: Sizes) -> None:
    n = sizes.throughput_rollouts
    print(
        f"[1] throughput: PointMassEnv(step_cost_us={STEP_COST_US:.0f}), {n} rollouts x 200 "
        f"steps per call, best of {sizes.repeats}"
    )
    ray_sampler = make_sampler(make_expensive, pd_controller, 2, n, backend="ray")
    local = make_sampler(make_expensive, pd_controller, 2, n)
    try:
        runs = {
            "ray": sampler_run(ray_sampler),
            "local": sampler_run(local),
            "single": single_process_run(n),
        }
        rates = best_rates(runs, sizes.repeats)
    finally:
        ray_sampler.close()
        local.close()
    vs_single = rates["ray"] / rates["single"]
    vs_local = rates["ray"] / rates["local"]
    print(
        f"    ray 2 actors x 1 env {rates['ray']:6.0f} steps/s; local 2 workers "
        f"({local.vectorization_used!r}) {rates['local']:6.0f}; single-process loop "
        f"{rates['single']:6.0f} (busy-wait alone: {1e6 / STEP_COST_US:.0f})  [{load()}]"
    )
    print(
        f"    ray vs single-process loop: {vs_single:.2f}x (target >= {VS_SINGLE_TARGET}x) "
        f"{verdict(vs_single >= VS_SINGLE_TARGET)}"
    )
    print(
        f"    ray vs local backend:       {vs_local:.2f}x (target >= {VS_LOCAL_TARGET}x) "
        f"{verdict(vs_local >= VS_LOCAL_TARGET)}"
    )


# --- 2. per-call overhead -----------------------------------------------------------------


def call_times(sampler: Any, calls: int) -> tuple[float, list[Any]]:
    """Median wall seconds of ``calls`` sample() calls, and the Ray stats of each (if Ray)."""
    seconds, stats = [], []
    for _ in range(calls):
        start = time.perf_counter()
        sampler.sample()
        seconds.append(time.perf_counter() - start)
        if sampler.backend == "ray":
            stats.append(sampler._ray.stats)
    return statistics.median(seconds), stats


def bench_overhead(sizes: Sizes) -> None:
    calls = sizes.overhead_calls
    print(
        f"[2] per-call overhead: 2 rollouts x 10 cheap steps, 2 actors x 1 env, median of "
        f"{calls} calls"
    )
    for label, size in (("3 params", 3), ("1,000,000 params", 1_000_000)):
        ray_sampler = make_sampler(make_cheap, ManyParams(size), 2, 2, backend="ray")
        local = make_sampler(make_cheap, ManyParams(size), 1, 2, vectorization="sync")
        try:
            ray_s, stats = call_times(ray_sampler, calls)
            local_s, _ = call_times(local, calls)
        finally:
            ray_sampler.close()
            local.close()

        def median(name: str, stats: list[Any] = stats) -> float:
            return statistics.median(getattr(s, name) for s in stats)

        print(
            f"    {label:>16}: ray {ms(ray_s)} per call, local sync {ms(local_s)} (overhead "
            f"{ms(ray_s - local_s)}); parameter broadcast (ray.put) {ms(median('put_s'))}, "
            f"actor dispatch {ms(median('dispatch_s'))}, result transfer "
            f"{ms(median('transfer_s'))}, batches/call {median('batches'):.0f}"
        )


# --- 3. scaling ---------------------------------------------------------------------------


def bench_scaling(sizes: Sizes) -> None:
    per_env = sizes.scaling_rollouts_per_env
    print(
        f"[3] scaling over actors (simulated nodes: separate actor processes on this "
        f"{os.cpu_count()}-core machine), {per_env} rollouts x 200 steps per actor-env, "
        f"best of {sizes.repeats}"
    )
    configs = [(a, 1) for a in sizes.scaling_actors] + [(2, 2)]
    base = None
    for actors, envs in configs:
        rollouts = per_env * actors * envs
        sampler = make_sampler(
            make_expensive, pd_controller, actors, rollouts, backend="ray", envs_per_actor=envs
        )
        try:
            rate = best_rates({"ray": sampler_run(sampler)}, sizes.repeats)["ray"]
            stats = sampler._ray.stats
        finally:
            sampler.close()
        base = rate if base is None else base
        print(
            f"    {actors} actor(s) x {envs} env(s): {rate:6.0f} steps/s, speed-up "
            f"{rate / base:.2f}x over 1 actor, {stats.batches} batches/call, actors busy "
            f"{stats.collect_s / max(stats.total_s * actors, 1e-9):.0%} of the call  [{load()}]"
        )


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument(
        "--ray-niceness", type=int, default=0, help="nice value of Ray's workers (Ray: 15)"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray reads its config from RAY_<name> with the name's own case.
    os.environ["RAY_worker_niceness"] = str(args.ray_niceness)  # noqa: SIM112
    import ray

    print(
        f"bench_ray: python {sys.version.split()[0]}, ray {ray.__version__}, "
        f"{os.cpu_count()} CPUs, {'quick' if args.quick else 'full'} sizes, Ray workers at "
        f"nice {args.ray_niceness}"
    )
    ray.init(
        address="local",
        num_cpus=RAY_CPUS,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    try:
        for section in (bench_throughput, bench_overhead, bench_scaling):
            try:
                section(sizes)
            except Exception:
                print(f"    {section.__name__} failed:")
                traceback.print_exc(file=sys.stdout)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
