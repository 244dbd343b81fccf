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

3. Step access: ``ro[i].reward``, ``ro[i].done`` and ``ro[i].step_type`` per access, a
   gathered batch ``ro[idcs]`` of 1,000 random steps, one epoch of
   ``split_shuffled_batches(1000)`` and one ``sample_w_next(1000)``, on sequences of rollouts
   of 100 steps ending in TIMEOUT, against the raw numpy they stand for (an array entry;
   fancy indexing of the fields and flags; a permutation cut into batches; a mask, the same
   draw and fancy indexing). Step access must not grow with the sequence: each per-access time
   at the large size is also divided by the one at a size 100x smaller. Target: that growth
   <= 3x (it was 14-20x for ``done`` and ``step_type``, whose every access built the flags
   of all steps: 60 and 370 us per access at 1,000,000 steps).

Each result also checks the outputs agree (max abs difference to the loop). The exit code is
always 0: this is a report, not a test.

Run from the repository root::

    .venv/bin/python bench/bench_data.py            # full size (well under a minute)
    .venv/bin/python bench/bench_data.py --quick    # tiny size, a few seconds
    .venv/bin/python bench/bench_data.py --only access   # one section (returns, concat, access)
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _timing import load_test_module, verdict  # bench/ is the script's directory

from gymsamp.data import StepSequence, discounted_value, gae_returns
from gymsamp.data import returns as returns_module

RETURNS_SPEEDUP_TARGET = 50.0
CONCAT_RATIO_TARGET = 3.0
ACCESS_GROWTH_TARGET = 3.0


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
    ref = load_test_module("tests/data/test_returns.py")  # the plain-loop references
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


def timeout_rollouts(length: int, rollout_len: int = 100) -> StepSequence:
    """``length`` steps of rollouts of ``rollout_len`` steps, each ending in TIMEOUT."""
    truncated = np.zeros(length, dtype=bool)
    truncated[rollout_len - 1 :: rollout_len] = True
    truncated[-1] = True
    bounds = np.unique(np.concatenate([np.arange(0, length, rollout_len), [length]]))
    return StepSequence(
        rewards=np.ones(length),
        observations=np.arange(length + 1.0)[:, None] * np.ones(4),
        actions=np.zeros((length, 1)),
        terminated=np.zeros(length, dtype=bool),
        truncated=truncated,
        rollout_bounds=bounds,
    )


def per_access(
    fns: dict[str, tuple[Callable[[int], Any], int]], count: int, repeats: int
) -> dict[str, float]:
    """Best time per call of each ``fn(i)`` over ``count`` spread-out indices of its length,
    in seconds; the contenders alternate within a round, so a noisy moment hurts all alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for key, (fn, length) in fns.items():
            idcs = np.linspace(0, length - 1, count).astype(int).tolist()

            def run(fn: Callable[[int], Any] = fn, idcs: list[int] = idcs) -> None:
                for i in idcs:
                    fn(i)

            best[key] = min(best[key], best_time(run, 1)[0] / count)
    return best


def bench_access(rng: np.random.Generator, length: int, repeats: int) -> None:
    small, large = timeout_rollouts(length // 100), timeout_rollouts(length)
    print(
        f"step access data: rollouts of 100 steps ending in TIMEOUT, {length} steps "
        f"(and {length // 100} for the growth), best of {repeats}"
    )
    raw_types = large.step_types  # computed once, outside the timed region
    full = {"reward": large.rewards, "done": large.done, "step_type": raw_types}
    fns: dict[str, tuple[Callable[[int], Any], int]] = {"raw": (raw_types.__getitem__, length)}
    for name in full:
        fns[name] = (lambda i, n=name: getattr(large[i], n), length)
        fns[name + " small"] = (lambda i, n=name: getattr(small[i], n), length // 100)
    times = per_access(fns, 2000, repeats)
    for name, values in full.items():
        growth = times[name] / times[name + " small"]
        same = all(getattr(large[i], name) == values[i] for i in (0, 99, 150, length - 1))
        print(
            f"ro[i].{name}: {times[name] * 1e6:.1f} us per access, "
            f"{times[name] / times['raw']:.0f}x an array entry; growth over 100x the steps "
            f"{growth:.2f}x (target <= {ACCESS_GROWTH_TARGET:.0f}x) "
            f"{verdict(growth <= ACCESS_GROWTH_TARGET)}  [same values: {same}]"
        )

    fields = (large.rewards, large.observations, large.actions, large.terminated, large.truncated)
    idcs = rng.permutation(length)[:1000]
    t_gather, batch = best_time(lambda: large[idcs], repeats)
    t_raw, _ = best_time(lambda: [field[idcs] for field in fields], repeats)
    same = np.array_equal(batch.step_types, raw_types[idcs]) and np.array_equal(
        batch.observations, large.observations[idcs]
    )
    print(
        f"ro[1000 random idcs]: {t_gather * 1e6:.0f} us, {t_gather / t_raw:.1f}x numpy fancy "
        f"indexing of the fields and flags  [same step types: {same}]"
    )

    def epoch() -> int:
        return sum(len(b) for b in large.split_shuffled_batches(1000, seed=0))

    def raw_epoch() -> int:
        order = np.random.default_rng(0).permutation(length)
        for start in range(0, length, 1000):
            chunk = order[start : start + 1000]
            _ = [field[chunk] for field in fields]
        return length

    t_epoch, _ = best_time(epoch, repeats)
    t_raw_epoch, _ = best_time(raw_epoch, repeats)
    print(
        f"one epoch of split_shuffled_batches(1000): {t_epoch:.3f} s, "
        f"{t_epoch / t_raw_epoch:.1f}x a numpy permutation + fancy indexing"
    )

    def raw_sample() -> tuple[np.ndarray, np.ndarray]:
        has_successor = np.ones(length, dtype=bool)
        has_successor[large.rollout_bounds[1:] - 1] = False
        eligible = np.flatnonzero(has_successor)
        picked = np.sort(np.random.default_rng(0).choice(eligible, size=1000, replace=False))
        return large.observations[picked], large.observations[picked + 1]

    t_sample, (steps, nxt) = best_time(lambda: large.sample_w_next(1000, seed=0), repeats)
    t_raw_sample, expected = best_time(raw_sample, repeats)
    same = np.array_equal(steps.observations, expected[0]) and np.array_equal(
        nxt.observations, expected[1]
    )
    print(
        f"sample_w_next(1000): {t_sample * 1e3:.2f} ms, {t_sample / t_raw_sample:.1f}x a mask + "
        f"the same draw + fancy indexing  [same rows: {same}]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("returns", "concat", "access"),
        default=("returns", "concat", "access"),
        help="the sections to run",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.quick:
        print("--quick: tiny sizes, dominated by fixed overheads; the verdicts mean little here")
    if "returns" in args.only:
        if args.quick:
            bench_returns(rng, num_rollouts=20, total_steps=20_000, repeats=3, loop_repeats=2)
        else:
            bench_returns(rng, num_rollouts=1_000, total_steps=1_000_000, repeats=5, loop_repeats=3)
    if "concat" in args.only:
        if args.quick:
            bench_concat(rng, num_rollouts=50, rollout_len=200, repeats=3)
        else:
            bench_concat(rng, num_rollouts=1_000, rollout_len=1_000, repeats=5)
    if "access" in args.only:
        bench_access(
            rng, length=100_000 if args.quick else 1_000_000, repeats=3 if args.quick else 5
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
