"""Memory and time of ``bootstrap_ci`` against its former one-draw resampling, in the same run.

``bootstrap_ci`` draws the resample indices block by block, just before each block's gather;
until then it drew the whole ``(num_reps, n)`` int64 index array at once. The reference is the
tests' copy of that former step (``_one_draw_replicates`` in
``tests/stats/test_bootstrapping.py``, imported from there), swapped into the module for the
baseline runs, so both sides share everything else.

For each size it prints the peak of traced memory (``tracemalloc``, one call each, outside the
timed runs), the best wall time of several interleaved repetitions (a noisy moment of the
machine hurts both alike) and whether the two results are bit-identical. Prediction: the peak
drops from about ``8 * num_reps * n`` bytes plus one block to two blocks (~200 MiB at the
default block of 100 MiB), whatever ``num_reps``; the time stays within noise (the same values
are drawn and gathered). The exit code is always 0: this is a report, not a test.

Run from the repository root::

    .venv/bin/python bench/bench_stats.py            # n = 100,000, up to 1,000 resamples
    .venv/bin/python bench/bench_stats.py --quick    # tiny sizes, 4 MiB blocks, seconds
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from _timing import best_rates, load_test_module  # bench/ is the script's directory

from gymsamp.stats import bootstrap_ci, bootstrapping

MiB = 2**20


def peak_and_result(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Peak traced memory of one call of ``fn`` in MiB, and its result."""
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / MiB, result


def counted(fn: Callable[[], Any]) -> Callable[[], int]:
    """``fn`` as one counted call, for :func:`best_rates` (calls per second)."""

    def call() -> int:
        fn()
        return 1

    return call


def bench_size(reference: Callable[..., Any], n: int, num_reps: int, repeats: int) -> None:
    data = np.random.default_rng(0).standard_normal(n)
    blocked = bootstrapping._replicates

    def run(replicates: Callable[..., Any]) -> Callable[[], Any]:
        def call() -> Any:
            bootstrapping._replicates = replicates
            try:
                return bootstrap_ci(data, np.mean, num_reps, 0.05, 2, seed=0)
            finally:
                bootstrapping._replicates = blocked

        return call

    runs = {"blocked": run(blocked), "one draw": run(reference)}
    peak_new, res_new = peak_and_result(runs["blocked"])
    peak_old, res_old = peak_and_result(runs["one draw"])
    rates = best_rates({name: counted(fn) for name, fn in runs.items()}, repeats)
    times = {name: 1.0 / rate for name, rate in rates.items()}  # seconds per call
    print(
        f"n={n:,} num_reps={num_reps:,} (index array {8 * n * num_reps / MiB:,.0f} MiB): "
        f"peak {peak_new:,.0f} MiB vs {peak_old:,.0f} MiB ({peak_new / peak_old:.2f}x), "
        f"time {times['blocked']:.2f} s vs {times['one draw']:.2f} s "
        f"({times['blocked'] / times['one draw']:.2f}x), identical: {res_new == res_old}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per size")
    args = parser.parse_args()
    # The one-draw replicates of the tests
    reference = load_test_module("tests/stats/test_bootstrapping.py")._one_draw_replicates
    n, sizes = (20_000, [50, 400]) if args.quick else (100_000, [250, 1000])
    if args.quick:
        # A smaller block, so the tiny sizes span several blocks too.
        bootstrapping._CHUNK_BYTES = 4 * MiB
    print(f"bootstrap_ci(np.mean), block {bootstrapping._CHUNK_BYTES / MiB:.0f} MiB")
    for num_reps in sizes:
        bench_size(reference, n, num_reps, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
