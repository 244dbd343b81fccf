"""Benchmark of gymsamp's ParallelRolloutSampler against raw Gymnasium loops, in the same run.

Every number is a ratio against a baseline measured in the same run (best of several
repetitions of each side, the sides interleaved, garbage collection off while timing),
because the machine is shared and absolute speeds mean little. The issue-7 targets:

1. Bookkeeping, in every mode (``sync``, ``async``, ``batched``): the sampler with 8
   CartPole-v1 sub-envs and a cheap numpy policy (``min_steps`` per ``sample()``, one sampler
   reused, worker start-up excluded by a warm-up sample) against a raw loop over the same
   vector env (``make_vector_env``: same sub-envs, autoreset ``DISABLED``) that steps the
   same policy, resets ended sub-envs with a masked reset and records nothing. >= 0.9x.
   Also printed: the same raw loop giving each new episode its own seed, as DESIGN §4 asks
   of the sampler (the share of the gap that reproducibility itself sets).
2. ``vectorization="auto"`` (the default) with 8 CartPole sub-envs against raw loops over
   Gymnasium's ``SyncVectorEnv(8)`` (>= 1.5x) and ``AsyncVectorEnv(8)`` (>= 4x) of
   ``gym.make("CartPole-v1")`` with their default ``NEXT_STEP`` autoreset. The raw batched
   loop is printed too: the ceiling of the sampler on this machine.
3. An expensive env: ``gymsamp/PointMass-v0`` with ``step_cost_us=200`` (a 200 us busy-wait
   per step), the ``auto`` sampler with 2 sub-envs against one env stepped by a plain
   single-process loop (>= 1.8x); raw batched and ``AsyncVectorEnv(2)`` loops for reference.
4. Memory: the peak RSS increase of a fresh child process (``resource.getrusage``, so earlier
   sections cannot hide it) while the ``auto`` sampler collects 1,000,000 CartPole steps,
   against the bytes of the numpy arrays in the returned rollouts (<= 2x).

5. ``rollout()`` (no target): one episode per call on one env instance against a raw loop with
   the same seeded resets; its fixed cost per call matters to pyrado-style loops of calls.

Finally a profile hint: the ``auto`` sampler (8 CartPole sub-envs) runs once under cProfile
and the top gymsamp functions by own time (in this process) are printed, and once under
pyinstrument (the ``bench`` extra), whose call tree is printed.

The exit code is always 0: this is a report, not a test. Each section catches its own errors.

Run from the repository root (the machine should be otherwise idle-ish; it uses <= 9 processes)::

    .venv/bin/python bench/bench_sampling.py            # full size, a few minutes
    .venv/bin/python bench/bench_sampling.py --quick    # tiny sizes, a smoke test (~30 s)
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import json
import math
import os
import pstats
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from _timing import best_rates, load, sampler_run, verdict  # bench/ is the script's directory

import gymsamp
from gymsamp.policies import IdlePolicy
from gymsamp.sampling import derive_seed
from gymsamp.sampling.batched_vector_env import available_cpus
from gymsamp.sampling.parallel_rollout_sampler import ParallelRolloutSampler
from gymsamp.sampling.vector_envs import EnvFactory, make_vector_env

CARTPOLE = "CartPole-v1"
POINTMASS = "gymsamp/PointMass-v0"
STEP_COST_US = 200.0
BOOKKEEPING_TARGET = 0.9
AUTO_VS_SYNC_TARGET = 1.5
AUTO_VS_ASYNC_TARGET = 4.0
EXPENSIVE_TARGET = 1.8
MEMORY_TARGET = 2.0
GYMSAMP_DIR = str(Path(gymsamp.__file__).resolve().parent)


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run."""

    repeats: int
    bookkeeping_steps: int
    auto_steps: int
    expensive_steps: int
    memory_steps: int
    profile_steps: int
    warmup_steps: int
    info_rollouts: int


FULL = Sizes(
    repeats=5,
    bookkeeping_steps=24_000,
    auto_steps=24_000,
    expensive_steps=4_800,  # whole waves of 8 rollouts of 200 steps: no surplus dropped
    memory_steps=1_000_000,
    profile_steps=8_000,
    warmup_steps=1_000,
    info_rollouts=16_000,
)
QUICK = Sizes(
    repeats=2,
    bookkeeping_steps=2_000,
    auto_steps=2_000,
    expensive_steps=1_600,
    memory_steps=20_000,
    profile_steps=1_000,
    warmup_steps=200,
    info_rollouts=1_000,
)


# --- policies and env factories (module level: picklable for any start method) ------------


def cartpole_policy(obs: np.ndarray) -> np.ndarray:
    """Push towards the side the pole leans to (episodes of ~40 steps)."""
    return (obs[:, 2] > 0).astype(np.int64)


def pointmass_policy(obs: np.ndarray) -> np.ndarray:
    """A clipped PD controller towards x = 0."""
    return np.clip(-obs[:, :1] - obs[:, 1:2], -1.0, 1.0).astype(np.float32)


def make_cartpole() -> gym.Env[Any, Any]:
    return gym.make(CARTPOLE)


def make_expensive_pointmass() -> gym.Env[Any, Any]:
    import gymsamp  # noqa: F401  (registers the gymsamp/... ids, also in a spawned worker)

    return gym.make(POINTMASS, step_cost_us=STEP_COST_US)


# --- timing helpers -----------------------------------------------------------------------


def raw_vector_run(
    envs: gym.vector.VectorEnv,
    policy: Any,
    steps: int,
    *,
    seeded: bool = False,
    state: dict[str, Any] | None = None,
) -> Callable[[], int]:
    """``ceil(steps / num_envs)`` vector steps of ``policy``, recording nothing.

    Autoreset ``DISABLED`` envs get a masked reset of their ended sub-envs after each step,
    as every user of such an env must do; other envs reset themselves. ``seeded`` (``DISABLED``
    envs only): each new episode is reset with its own seed ``derive_seed(0, 0, k)``, as
    reproducible sampling must (DESIGN §4), and nothing else. Runs over one env share its
    ``state`` (the last observations), so each one starts where the other left the env.
    """
    vector_steps = math.ceil(steps / envs.num_envs)
    disabled = envs.metadata.get("autoreset_mode") == gym.vector.AutoresetMode.DISABLED
    if seeded and not disabled:
        raise ValueError("seeded raw loops need an autoreset-DISABLED vector env")
    state = {} if state is None else state
    if "obs" not in state:
        state.update(obs=envs.reset(seed=0)[0], episodes=0)

    def run() -> int:
        obs = state["obs"]
        for _ in range(vector_steps):
            obs, _, terminated, truncated, _ = envs.step(policy(obs))
            if disabled:
                ended = terminated | truncated
                if ended.any():
                    seeds: list[int | None] | None = None
                    if seeded:
                        seeds = [None] * envs.num_envs
                        for i in np.flatnonzero(ended).tolist():
                            seeds[i] = derive_seed(0, 0, state["episodes"])
                            state["episodes"] += 1
                    obs, _ = envs.reset(seed=seeds, options={"reset_mask": ended})  # type: ignore[arg-type]
        state["obs"] = obs
        return vector_steps * envs.num_envs

    return run


def make_sampler(
    env: Any, policy: Any, num_workers: int, vectorization: str, steps: int
) -> ParallelRolloutSampler:
    return ParallelRolloutSampler(
        env,
        policy,
        num_workers,
        min_steps=steps,
        seed=0,
        vectorization=vectorization,
        show_progress_bar=False,
    )


# --- 1. bookkeeping -----------------------------------------------------------------------


def bench_bookkeeping(sizes: Sizes) -> None:
    steps = sizes.bookkeeping_steps
    print(
        f"[1] bookkeeping: CartPole-v1, 8 sub-envs, numpy policy, ~{steps} steps per run, "
        f"best of {sizes.repeats}, sampler vs a raw loop over the same vector env (and vs that "
        "loop with a seeded reset per episode, the part of the cost reproducibility sets)"
    )
    for mode in ("sync", "async", "batched"):
        sampler = make_sampler(CARTPOLE, cartpole_policy, 8, mode, steps)
        raw = make_vector_env(EnvFactory(CARTPOLE), 8, mode, record_state=False)
        shared: dict[str, Any] = {}  # both raw runs step the same env
        try:
            runs = {
                "sampler": sampler_run(sampler),
                "raw": raw_vector_run(raw, cartpole_policy, steps, state=shared),
                "seeded": raw_vector_run(raw, cartpole_policy, steps, seeded=True, state=shared),
            }
            rates = best_rates(runs, sizes.repeats, warm_up=True)
        finally:
            sampler.close()
            raw.close()
        ratio = rates["sampler"] / rates["raw"]
        print(
            f"    {mode:7s}: sampler {rates['sampler']:8.0f} steps/s, raw "
            f"{type(raw).__name__}(8) {rates['raw']:8.0f} steps/s, ratio {ratio:.2f}x "
            f"(target >= {BOOKKEEPING_TARGET}x) {verdict(ratio >= BOOKKEEPING_TARGET)}; seeded "
            f"raw {rates['seeded']:8.0f} ({rates['seeded'] / rates['raw']:.2f}x raw), sampler "
            f"vs it {rates['sampler'] / rates['seeded']:.2f}x  [{load()}]"
        )


# --- 2. vectorization="auto" --------------------------------------------------------------


def bench_auto(sizes: Sizes) -> None:
    steps = sizes.auto_steps
    print(
        f"[2] vectorization='auto': CartPole-v1, 8 sub-envs, ~{steps} steps per run, "
        f"best of {sizes.repeats}"
    )
    sampler = make_sampler(CARTPOLE, cartpole_policy, 8, "auto", steps)
    raw_sync = gym.vector.SyncVectorEnv([make_cartpole] * 8)
    raw_async = gym.vector.AsyncVectorEnv([make_cartpole] * 8)
    raw_batched = make_vector_env(EnvFactory(CARTPOLE), 8, "batched", record_state=False)
    try:
        runs = {
            "sampler": sampler_run(sampler),
            "sync": raw_vector_run(raw_sync, cartpole_policy, steps),
            "async": raw_vector_run(raw_async, cartpole_policy, steps),
            "batched": raw_vector_run(raw_batched, cartpole_policy, steps),
        }
        rates = best_rates(runs, sizes.repeats, warm_up=True)
    finally:
        sampler.close()
        raw_sync.close()
        raw_async.close()
        raw_batched.close()
    vs_sync = rates["sampler"] / rates["sync"]
    vs_async = rates["sampler"] / rates["async"]
    print(
        f"    auto (chose {sampler.vectorization_used!r}, measured step "
        f"{sampler.step_cost_us:.1f} us) {rates['sampler']:8.0f} steps/s; raw SyncVectorEnv(8) "
        f"{rates['sync']:8.0f}; raw AsyncVectorEnv(8) {rates['async']:8.0f}; raw batched(8) "
        f"{rates['batched']:8.0f} ({rates['batched'] / rates['sync']:.2f}x sync)  [{load()}]"
    )
    print(
        f"    auto vs raw sync:  {vs_sync:.2f}x (target >= {AUTO_VS_SYNC_TARGET}x) "
        f"{verdict(vs_sync >= AUTO_VS_SYNC_TARGET)}"
    )
    print(
        f"    auto vs raw async: {vs_async:.2f}x (target >= {AUTO_VS_ASYNC_TARGET}x) "
        f"{verdict(vs_async >= AUTO_VS_ASYNC_TARGET)}"
    )


# --- 3. an expensive env ------------------------------------------------------------------


def single_process_run(steps: int) -> Callable[[], int]:
    """One env, a plain Python loop, the same policy (on a batch of one), recording nothing."""
    env = make_expensive_pointmass()
    state = {"obs": env.reset(seed=0)[0]}

    def run() -> int:
        obs = state["obs"]
        for _ in range(steps):
            action = pointmass_policy(obs[None])[0]
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()
        state["obs"] = obs
        return steps

    return run


def bench_expensive(sizes: Sizes) -> None:
    steps = sizes.expensive_steps
    print(
        f"[3] expensive env: PointMass-v0, step_cost_us={STEP_COST_US:.0f}, {steps} steps per "
        f"run, best of {sizes.repeats}; 2 workers as 2 sub-envs, and as 2 processes of 4"
    )
    sampler = make_sampler(make_expensive_pointmass, pointmass_policy, 2, "auto", steps)
    # The sampler's num_workers counts sub-envs; with 8 of them a batched vector env runs 2
    # processes of 4 here, so the collection loop's own time is spread over 8 env steps.
    sampler8 = make_sampler(make_expensive_pointmass, pointmass_policy, 8, "batched", steps)
    factory = EnvFactory(make_expensive_pointmass)
    raw_async = gym.vector.AsyncVectorEnv([make_expensive_pointmass] * 2)
    raw_batched = make_vector_env(factory, 2, "batched", record_state=False)
    raw_batched8 = make_vector_env(factory, 8, "batched", record_state=False, num_workers=2)
    try:
        runs = {
            "sampler": sampler_run(sampler),
            "sampler8": sampler_run(sampler8),
            "single": single_process_run(steps),
            "raw_batched": raw_vector_run(raw_batched, pointmass_policy, steps),
            "raw_batched8": raw_vector_run(raw_batched8, pointmass_policy, steps),
            "raw_async": raw_vector_run(raw_async, pointmass_policy, steps),
        }
        rates = best_rates(runs, sizes.repeats, warm_up=True)
    finally:
        for closable in (sampler, sampler8, raw_async, raw_batched, raw_batched8):
            closable.close()
    single = rates["single"]
    print(
        f"    single-process loop {single:6.0f} steps/s (busy-wait alone: "
        f"{1e6 / STEP_COST_US:.0f})  [{load()}]"
    )
    for name, label in (
        ("sampler", f"sampler auto (chose {sampler.vectorization_used!r}), 2 sub-envs"),
        ("sampler8", f"sampler batched, 8 sub-envs on {min(8, available_cpus())} processes"),
    ):
        ratio = rates[name] / single
        print(
            f"    {label}: {rates[name]:6.0f} steps/s, {ratio:.2f}x single "
            f"(target >= {EXPENSIVE_TARGET}x) {verdict(ratio >= EXPENSIVE_TARGET)}"
        )
    print(
        "    [info] raw loops: "
        + ", ".join(
            f"{label} {rates[name]:6.0f} ({rates[name] / single:.2f}x)"
            for name, label in (
                ("raw_batched", "batched(2)"),
                ("raw_batched8", "batched(8 on 2)"),
                ("raw_async", "AsyncVectorEnv(2)"),
            )
        )
    )


# --- 4. memory ----------------------------------------------------------------------------


def array_bytes(obj: Any, seen: set[int] | None = None) -> int:
    """Total ``nbytes`` of the distinct numpy arrays reachable through containers and objects."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes if obj.base is None or id(obj.base) not in seen else 0
    if isinstance(obj, dict):
        return sum(array_bytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(array_bytes(v, seen) for v in obj)
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return array_bytes(vars(obj), seen)
    return 0


def maxrss_bytes() -> int:
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def memory_child(steps: int) -> None:
    """Runs in a fresh process: prints one JSON line of memory figures."""
    sampler = make_sampler(CARTPOLE, cartpole_policy, 8, "auto", 1_000)
    sampler.sample()  # build envs, import everything lazily imported
    sampler.set_min_count(min_steps=steps)
    gc.collect()
    before = maxrss_bytes()
    start = time.perf_counter()
    rollouts = sampler.sample()
    elapsed = time.perf_counter() - start
    peak = maxrss_bytes()
    sampler.close()
    print(
        json.dumps(
            {
                "mode": sampler.vectorization_used,
                "steps": sum(ro.length for ro in rollouts),
                "rollouts": len(rollouts),
                "rss_peak_increase": peak - before,
                "array_bytes": array_bytes(rollouts),
                "seconds": elapsed,
            }
        )
    )


def bench_memory(sizes: Sizes) -> None:
    steps = sizes.memory_steps
    print(f"[4] memory: auto sampler, 8 CartPole sub-envs, {steps} steps, fresh process")
    proc = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(steps)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"    child failed (rc {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        return
    res = json.loads(lines[-1])
    mib = 1024 * 1024
    ratio = res["rss_peak_increase"] / max(res["array_bytes"], 1)
    print(
        f"    {res['steps']} steps in {res['rollouts']} rollouts ({res['mode']}, "
        f"{res['seconds']:.1f} s): peak RSS +{res['rss_peak_increase'] / mib:.1f} MiB, numpy "
        f"arrays returned {res['array_bytes'] / mib:.1f} MiB, ratio {ratio:.2f}x "
        f"(target <= {MEMORY_TARGET}x) {verdict(ratio <= MEMORY_TARGET)}"
    )


# --- profile hint -------------------------------------------------------------------------


def bench_pyinstrument(sizes: Sizes) -> None:
    """The ``auto`` sampler's call tree from pyinstrument (the ``bench`` extra), if installed."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("[pyinstrument] not installed: pip install -e '.[bench]'")
        return
    sampler = make_sampler(CARTPOLE, cartpole_policy, 8, "auto", sizes.warmup_steps)
    try:
        sampler.sample()  # warm-up
        sampler.set_min_count(min_steps=sizes.profile_steps)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        sampler.sample()
        profiler.stop()
    finally:
        sampler.close()
    print(f"[pyinstrument] auto sampler ({sampler.vectorization_used}), 8 CartPole sub-envs:")
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def bench_profile(sizes: Sizes) -> None:
    steps = sizes.profile_steps
    sampler = make_sampler(CARTPOLE, cartpole_policy, 8, "auto", sizes.warmup_steps)
    try:
        sampler.sample()  # warm-up
        sampler.set_min_count(min_steps=steps)
        profiler = cProfile.Profile()
        profiler.enable()
        rollouts = sampler.sample()
        profiler.disable()
    finally:
        sampler.close()
    done = sum(ro.length for ro in rollouts)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    own_by_area = {"gymsamp": 0.0, "gymnasium": 0.0, "numpy": 0.0, "C builtins": 0.0}
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.items():
        if filename.startswith(GYMSAMP_DIR):
            own_by_area["gymsamp"] += own
            where = f"{Path(filename).relative_to(Path(GYMSAMP_DIR).parent)}:{line}"
            rows.append((own, cumulative, calls, f"{where}({name})"))
        elif "/gymnasium/" in filename:
            own_by_area["gymnasium"] += own
        elif "/numpy/" in filename:
            own_by_area["numpy"] += own
        elif filename == "~":
            own_by_area["C builtins"] += own
    shares = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in own_by_area.items())
    print(
        f"[profile] auto sampler ({sampler.vectorization_used}), 8 CartPole sub-envs, {done} "
        f"steps under cProfile, this process only: {1e6 * total / done:.1f} us/step profiled; "
        f"own time by area: {shares}; top 12 gymsamp functions by own time:"
    )
    print(f"    {'own ms':>8} {'cum ms':>8} {'own us/step':>11} {'calls':>8}  function")
    for own, cumulative, calls, where in sorted(rows, reverse=True)[:12]:
        print(
            f"    {1e3 * own:8.1f} {1e3 * cumulative:8.1f} {1e6 * own / done:11.2f} "
            f"{calls:8d}  {where}"
        )


# --- 6. env infos beside one long episode -------------------------------------------------

LONG_EPISODE = 30_000


class InfoEnv(gym.Env[np.ndarray, np.int64]):
    """5-step episodes, except those reset with one of ``long_seeds`` (``LONG_EPISODE``
    steps); ``{"x": t}`` as the info of every step where ``report`` is ``"infos"``."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, report: str, long_seeds: frozenset[int]) -> None:
        self.report, self.long_seeds = report == "infos", long_seeds

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        super().reset(seed=seed)
        self.t, self.length = 0, LONG_EPISODE if seed in self.long_seeds else 5
        return np.zeros(2, np.float32), {}

    def step(self, action: Any) -> Any:
        self.t += 1
        info = {"x": float(self.t)} if self.report else {}
        return np.full(2, self.t, np.float32), 1.0, False, self.t >= self.length, info


def bench_infos(sizes: Sizes) -> None:
    many = sizes.info_rollouts
    print(
        f"[6] env infos: 8 sub-envs (sync), rollout 0 runs {LONG_EPISODE} steps beside 5-step "
        "ones, an info at every step vs none; the ratio must not grow with the number of "
        "rollouts (each ending rollout looked at every info row kept since the long one began)"
    )
    for count in (many // 4, many):
        samplers = {
            report: ParallelRolloutSampler(
                # rollout 0 of every call is the long one
                functools.partial(
                    InfoEnv, report, frozenset(derive_seed(0, c, 0) for c in range(9))
                ),
                IdlePolicy(InfoEnv.action_space),
                8,
                min_rollouts=count,
                seed=0,
                vectorization="sync",
                show_progress_bar=False,
            )
            for report in ("infos", "none")
        }
        try:
            runs = {name: sampler_run(sampler) for name, sampler in samplers.items()}
            rates = best_rates(runs, max(1, sizes.repeats // 2))
        finally:
            for sampler in samplers.values():
                sampler.close()
        print(
            f"    {count:6d} rollouts: infos {rates['infos']:8.0f} steps/s, none "
            f"{rates['none']:8.0f} steps/s, cost of the infos {rates['none'] / rates['infos']:.2f}x"
            f"  [{load()}]"
        )


def bench_rollout(sizes: Sizes) -> None:
    from gymsamp.sampling import rollout

    count = sizes.info_rollouts // 20
    env = gym.make(CARTPOLE)
    print(
        "[7] rollout() one episode at a time on one CartPole-v1 instance (no_close=True), "
        "a policy pushing left (~9 steps) and the bench policy (~40 steps), against a raw "
        "loop over the same env that resets it with the same seeds and records nothing"
    )

    def push_left(obs: np.ndarray) -> np.ndarray:
        return np.zeros(len(obs), dtype=np.int64)

    try:
        for label, policy in (("push left", push_left), ("bench policy", cartpole_policy)):

            def gymsamp_run(policy: Callable[..., Any] = policy) -> int:
                return sum(
                    rollout(env, policy, seed=0, sub_sub_seed=k, no_close=True).length
                    for k in range(count)
                )

            def raw_run(policy: Callable[..., Any] = policy) -> int:
                steps = 0
                for k in range(count):
                    obs, _ = env.reset(seed=derive_seed(0, 0, k))
                    done = False
                    while not done:
                        action = policy(np.asarray(obs)[None])[0]
                        obs, _, terminated, truncated, _ = env.step(action)
                        done = terminated or truncated
                        steps += 1
                return steps

            rates = best_rates({"rollout": gymsamp_run, "raw": raw_run}, sizes.repeats)
            steps_per_episode = gymsamp_run() / count
            # Per-episode cost over the raw loop, in microseconds.
            extra_us = steps_per_episode * (1 / rates["rollout"] - 1 / rates["raw"]) * 1e6
            print(
                f"    {label}: {steps_per_episode:.1f} steps per episode, rollout() "
                f"{rates['rollout'] / rates['raw']:.2f}x the raw loop, {extra_us:.0f} us more "
                f"per episode  [{load()}]"
            )
    finally:
        env.close()


# --- main ---------------------------------------------------------------------------------

SECTIONS = {
    "bookkeeping": bench_bookkeeping,
    "auto": bench_auto,
    "expensive": bench_expensive,
    "memory": bench_memory,
    "profile": bench_profile,
    "pyinstrument": bench_pyinstrument,
    "infos": bench_infos,
    "rollout": bench_rollout,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(SECTIONS), help="run only these sections"
    )
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return 0
    sizes = QUICK if args.quick else FULL
    if args.quick:
        print("--quick: tiny sizes, dominated by fixed overheads; the verdicts mean little here")
    print(
        f"gymsamp {gymsamp.__version__}, gymnasium {gym.__version__}, numpy {np.__version__}, "
        f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs, {load()} (ratios are the "
        "signal; those of worker processes suffer most from other load)"
    )
    start = time.perf_counter()
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        try:
            section(sizes)
        except Exception:
            print(f"    ERROR in {section.__name__}:")
            print("    " + traceback.format_exc().strip().replace("\n", "\n    "))
        sys.stdout.flush()
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
