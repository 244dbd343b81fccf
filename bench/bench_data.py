"""Benchmark of gymsamp's data helpers against plain baselines, measured in the same run.

What it measures (best of several repetitions of each side, since machines are noisy):

1. Returns: ``discounted_value(seq, 0.99)`` and ``gae_returns(seq, 0.99, 0.95)`` on one
   :class:`~gymsamp.data.StepSequence` holding 1,000 rollouts that total 1,000,000 steps
   (random lengths, random TERMINAL / TIMEOUT endings, a ``values`` field with T+1 entries per
   rollout), built once with ``StepSequence.concat`` outside the timed region; against the
   plain Python loops of ``tests/data/test_returns.py`` (imported from there, so they are the
   very loops the tests check against), run on the full data (no extrapolation). The verdict
   uses the loops fed Python lists prepared beforehand, their fastest input, so the speed-up is
   a conservative one; the same loops fed the numpy arrays are printed too. Target: >= 50x.
   gymsamp runs its compiled (numba) kernels when numba is installed (the ``fast`` extra), and
   the verdict is on them; the scipy fallback (used without numba) is timed too, for
   information. A line says how long the kernels took to get ready in this process
   (compiled, or loaded from numba's on-disk cache).
2. Concatenation: ``StepSequence.concat`` of 1,000 rollouts of 1,000 steps (rewards ``(1000,)``,
   observations ``(1001, 4)`` float64, actions ``(1000, 1)``, ending in TIMEOUT) against
   ``np.concatenate`` of the same raw arrays (rewards, ``observations[:-1]``, actions,
   terminated, truncated), the least that concat must do. Target: concat <= 3x np.concatenate.

Each result also checks the outputs agree (max abs difference to the loop). The exit code is
always 0: this is a report, not a test.

Run from the repository root::

    .venv/bin/python bench/bench_data.py            # full size (well under a minute)
    .venv/bin/python bench/bench_data.py --quick    # tiny size, a few seconds
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _timing import verdict  # bench/ is the script's directory

from gymsamp.data import StepSequence, discounted_value, gae_returns
from gymsamp.data import returns as returns_module

REPO = Path(__file__).resolve().parent.parent
RETURNS_SPEEDUP_TARGET = 50.0
CONCAT_RATIO_TARGET = 3.0


def load_reference_loops() -> Any:
    """The plain-loop references of the tests (``tests/data/test_returns.py``)."""
    path = REPO / "tests" / "data" / "test_returns.py"
    spec = importlib.util.spec_from_file_location("gymsamp_returns_reference", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the reference loops from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls (garbage collection off while timing) and a result."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        best = min(best, elapsed)
    return best, result


def prepare_kernels() -> bool:
    """Get the compiled kernels ready (timed) and say which path gymsamp takes."""
    start = time.perf_counter()
    compiled = returns_module._get_kernels() is not None
    elapsed = time.perf_counter() - start
    if compiled:
        import numba

        print(
            f"gymsamp path: compiled (numba {numba.__version__}); kernels ready in "
            f"{elapsed:.2f} s (compiled, or loaded from numba's cache)"
        )
    else:
        print("gymsamp path: scipy fallback (numba is not installed)")
    return compiled


def random_lengths(rng: np.random.Generator, num_rollouts: int, total_steps: int) -> np.ndarray:
    """``num_rollouts`` random positive lengths summing to ``total_steps``."""
    cuts = np.sort(rng.choice(np.arange(1, total_steps), size=num_rollouts - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [total_steps]]))


def bench_returns(
    rng: np.random.Generator, num_rollouts: int, total_steps: int, repeats: int, loop_repeats: int
) -> None:
    ref = load_reference_loops()
    lengths = random_lengths(rng, num_rollouts, total_steps)
    parts = []
    for length in lengths:
        terminated = np.zeros(length, dtype=bool)
        truncated = np.zeros(length, dtype=bool)
        (terminated if rng.random() < 0.5 else truncated)[-1] = True
        parts.append(
            StepSequence(
                rewards=rng.normal(size=length),
                observations=np.zeros(length + 1),
                actions=np.zeros(length),
                terminated=terminated,
                truncated=truncated,
                values=rng.normal(size=length + 1),
            )
        )
    seq = StepSequence.concat(parts)  # not timed
    num_terminal = int(seq.terminated.sum())
    print(
        f"returns data: {num_rollouts} rollouts, {total_steps} steps "
        f"({num_terminal} TERMINAL, {num_rollouts - num_terminal} TIMEOUT endings), "
        f"gymsamp best of {repeats}, loop best of {loop_repeats}, full data (no scaling)"
    )

    # Loop inputs prepared outside the timed region: Python lists (the loops' fastest input)
    # and, for comparison, the numpy arrays themselves.
    rewards_np = seq.rewards
    bounds_np = seq.rollout_bounds
    rewards_list = rewards_np.tolist()
    bounds_list = bounds_np.tolist()
    parts_np = [(p.rewards, p.values, bool(p.terminated[-1])) for p in parts]
    parts_list = [(r.tolist(), v.tolist(), term) for r, v, term in parts_np]

    def loop_value(rewards: Any, bounds: Any) -> Callable[[], np.ndarray]:
        return lambda: ref.loop_discounted_cumsum(rewards, 0.99, bounds)

    def loop_gae(raw_parts: list[tuple[Any, Any, bool]]) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            out: list[float] = []
            for rewards, values, last_terminated in raw_parts:
                out.extend(ref.loop_gae_rollout(rewards, values, last_terminated, 0.99, 0.95))
            return np.array(out, dtype=np.float64)

        return run

    cases = [
        (
            "discounted_value",
            lambda: discounted_value(seq, 0.99),
            loop_value(rewards_list, bounds_list),
            loop_value(rewards_np, bounds_np),
        ),
        (
            "gae_returns",
            lambda: gae_returns(seq, 0.99, 0.95),
            loop_gae(parts_list),
            loop_gae(parts_np),
        ),
    ]
    compiled = prepare_kernels()
    for name, fast, slow_lists, slow_arrays in cases:
        fast()  # warm-up
        t_fast, out_fast = best_time(fast, repeats)
        t_lists, out_lists = best_time(slow_lists, loop_repeats)
        t_arrays, _ = best_time(slow_arrays, loop_repeats)
        err = float(np.max(np.abs(np.asarray(out_fast) - out_lists)))
        speedup = t_lists / t_fast
        print(
            f"{name}: gymsamp {t_fast:.4f} s, loop {t_lists:.3f} s, speed-up {speedup:.0f}x "
            f"(target >= {RETURNS_SPEEDUP_TARGET:.0f}x) "
            f"{verdict(speedup >= RETURNS_SPEEDUP_TARGET)}"
        )
        print(
            f"    (same loop fed numpy arrays: {t_arrays:.3f} s, speed-up "
            f"{t_arrays / t_fast:.0f}x; max |gymsamp - loop| = {err:.1e})"
        )
        if compiled:
            # The path taken without numba, for information (no verdict).
            returns_module._USE_COMPILED = False
            try:
                fast()  # warm-up
                t_scipy, out_scipy = best_time(fast, repeats)
            finally:
                returns_module._USE_COMPILED = True
            err_scipy = float(np.max(np.abs(np.asarray(out_scipy) - out_lists)))
            print(
                f"    (scipy fallback: {t_scipy:.4f} s, speed-up {t_lists / t_scipy:.0f}x; "
                f"max |scipy - loop| = {err_scipy:.1e})"
            )


def bench_concat(
    rng: np.random.Generator, num_rollouts: int, rollout_len: int, repeats: int
) -> None:
    raws = []
    parts = []
    for _ in range(num_rollouts):
        rewards = rng.normal(size=rollout_len)
        observations = rng.normal(size=(rollout_len + 1, 4))
        actions = rng.normal(size=(rollout_len, 1))
        terminated = np.zeros(rollout_len, dtype=bool)
        truncated = np.zeros(rollout_len, dtype=bool)
        truncated[-1] = True
        raws.append((rewards, observations, actions, terminated, truncated))
        parts.append(
            StepSequence(
                rewards=rewards,
                observations=observations,
                actions=actions,
                terminated=terminated,
                truncated=truncated,
            )
        )

    def plain() -> tuple[np.ndarray, ...]:
        return (
            np.concatenate([r[0] for r in raws]),
            np.concatenate([r[1][:-1] for r in raws]),
            np.concatenate([r[2] for r in raws]),
            np.concatenate([r[3] for r in raws]),
            np.concatenate([r[4] for r in raws]),
        )

    def concat() -> StepSequence:
        return StepSequence.concat(parts)

    plain()
    concat()  # warm-up
    t_plain, expected = best_time(plain, repeats)
    t_concat, seq = best_time(concat, repeats)
    same = (
        np.array_equal(seq.rewards, expected[0])
        and np.array_equal(seq.observations[: seq.length], expected[1])
        and np.array_equal(seq.actions, expected[2])
        and seq.rollout_count == num_rollouts
    )
    ratio = t_concat / t_plain
    print(
        f"concat data: {num_rollouts} rollouts x {rollout_len} steps, observations "
        f"({rollout_len + 1}, 4) float64, best of {repeats}"
    )
    print(
        f"StepSequence.concat: gymsamp {t_concat:.4f} s, np.concatenate {t_plain:.4f} s, "
        f"ratio {ratio:.2f}x (target <= {CONCAT_RATIO_TARGET:.0f}x) "
        f"{verdict(ratio <= CONCAT_RATIO_TARGET)}  [same data: {same}]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.quick:
        print("--quick: tiny sizes, dominated by fixed overheads; the verdicts mean little here")
        bench_returns(rng, num_rollouts=20, total_steps=20_000, repeats=3, loop_repeats=2)
        bench_concat(rng, num_rollouts=50, rollout_len=200, repeats=3)
    else:
        bench_returns(rng, num_rollouts=1_000, total_steps=1_000_000, repeats=5, loop_repeats=3)
        bench_concat(rng, num_rollouts=1_000, rollout_len=1_000, repeats=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
