"""Memory and time of ``bootstrap_ci`` against former versions of two steps, in the same run.

``bootstrap_ci`` draws the resample indices block by block, just before each block's gather;
until then it drew the whole ``(num_reps, n)`` int64 index array at once. Its studentized
interval builds each leave-one-out sample of the jackknife by slice copies; until then it
gathered them through a whole ``(n, n - 1)`` table of indices. The references are the tests'
copies of those former steps (``_one_draw_replicates`` and ``_table_jackknife_se`` in
``tests/stats/test_bootstrapping.py``, imported from there), swapped into the module for the
baseline runs, so both sides share everything else.

For each size it prints the peak of traced memory (``tracemalloc``, one call each, outside the
timed runs), the best wall time of several interleaved repetitions (a noisy moment of the
machine hurts both alike) and whether the two results are bit-identical. Prediction: the peak
drops from about ``8 * num_reps * n`` bytes plus one block to two blocks (~200 MiB at the
default block of 100 MiB), whatever ``num_reps``; the time stays within noise (the same values
are drawn and gathered). For the jackknife the index table (~8 n^2 bytes) is gone and the
slice copies cost less than the gather. The exit code is always 0: this is a report, not a test.

Run from the repository root::

    .venv/bin/python bench/bench_stats.py            # n = 100,000, up to 1,000 resamples
    .venv/bin/python bench/bench_stats.py --quick    # tiny sizes, 4 MiB blocks, seconds
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from _timing import best_rates, load_test_module, size_options  # bench/ is the script's directory

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


def bench_swap(
    attribute: str,
    reference: Callable[..., Any],
    label: str,
    data: np.ndarray,
    num_reps: int,
    repeats: int,
    **options: Any,
) -> None:
    """Peak and time of ``bootstrap_ci`` as it is and with ``bootstrapping.<attribute>`` swapped
    for ``reference``, the former version of that step."""
    current = getattr(bootstrapping, attribute)

    def run(step: Callable[..., Any]) -> Callable[[], Any]:
        def call() -> Any:
            setattr(bootstrapping, attribute, step)
            try:
                return bootstrap_ci(data, np.mean, num_reps, 0.05, 2, seed=0, **options)
            finally:
                setattr(bootstrapping, attribute, current)

        return call

    runs = {"new": run(current), "former": run(reference)}
    peak_new, res_new = peak_and_result(runs["new"])
    peak_old, res_old = peak_and_result(runs["former"])
    rates = best_rates({name: counted(fn) for name, fn in runs.items()}, repeats)
    times = {name: 1.0 / rate for name, rate in rates.items()}  # seconds per call
    print(
        f"n={len(data):,} num_reps={num_reps:,} ({label}): "
        f"peak {peak_new:,.0f} MiB vs {peak_old:,.0f} MiB ({peak_new / peak_old:.2f}x), "
        f"time {times['new']:.2f} s vs {times['former']:.2f} s "
        f"({times['new'] / times['former']:.2f}x), identical: {res_new == res_old}"
    )


def main() -> int:
    args = size_options(__doc__)
    tests = load_test_module("tests/stats/test_bootstrapping.py")
    n, sizes = (20_000, [50, 400]) if args.quick else (100_000, [250, 1000])
    if args.quick:
        # A smaller block, so the tiny sizes span several blocks too.
        bootstrapping._CHUNK_BYTES = 4 * MiB
    print(f"bootstrap_ci(np.mean), block {bootstrapping._CHUNK_BYTES / MiB:.0f} MiB")
    print("resample indices drawn per block (new) vs in one draw (former):")
    data = np.random.default_rng(0).standard_normal(n)
    for num_reps in sizes:
        label = f"index array {8 * n * num_reps / MiB:,.0f} MiB"
        bench_swap("_replicates", tests._one_draw_replicates, label, data, num_reps, args.repeats)
    print("studentized: leave-one-out samples by slice copies (new) vs an index table (former):")
    for n, num_reps in [(300, 20), (3000, 2)] if args.quick else [(300, 400), (8000, 3)]:
        data = np.random.default_rng(1).standard_normal(n)
        label = f"index table {8 * n * (n - 1) / MiB:,.0f} MiB"
        bench_swap(
            "_jackknife_se",
            tests._table_jackknife_se,
            label,
            data,
            num_reps,
            args.repeats,
            studentized=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
