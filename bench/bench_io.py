"""Saving and loading rollouts: file format version 2 against version 1, in the same run.

Version 2 writes the bytes of every plain array into one ``packed`` member; version 1 wrote
each array as an ``.npy`` member of its own (about 7 per short rollout), and reading a member
costs tens of microseconds (zip lookup, ``.npy`` header parsed with ``ast.literal_eval``).
The version 1 files here are written by a copy of version 1's writer below (the same
encoding, then ``np.savez`` with one member per array); both are loaded by today's
``load_rollouts``, which reads either version.

Prediction: for many short rollouts, saving and loading are several times faster and the
file smaller; for one long rollout the times stay within noise and the peak memory of a load
stays near the returned arrays (each packed array is read into its own array, no buffer of
the whole member is held). The exit code is always 0: this is a report, not a test.

Run from the repository root::

    .venv/bin/python bench/bench_io.py            # 20,000 short rollouts, 1,000,000 steps
    .venv/bin/python bench/bench_io.py --quick    # small sizes, seconds
"""

from __future__ import annotations

import gc
import json
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _timing import size_options  # bench/ is the script's directory

from gymsamp.data import StepSequence
from gymsamp.data import io as rollout_io

MiB = 2**20


def short_rollouts(count: int, steps: int) -> list[StepSequence]:
    """CartPole-like rollouts with the rollout_info a sampler records."""
    rng = np.random.default_rng(0)
    return [
        StepSequence(
            observations=rng.standard_normal((steps + 1, 4)).astype(np.float32),
            actions=rng.integers(0, 2, steps),
            rewards=np.ones(steps, np.float32),
            terminated=np.arange(steps) == steps - 1,
            rollout_info={"seed": k, "rollout_index": k, "domain_param": {"gravity": 9.8}},
        )
        for k in range(count)
    ]


def long_rollout(steps: int) -> list[StepSequence]:
    rng = np.random.default_rng(1)
    return [
        StepSequence(
            observations=rng.standard_normal((steps + 1, 17)),
            actions=rng.standard_normal((steps, 6)).astype(np.float32),
            rewards=rng.standard_normal(steps),
        )
    ]


def save_version_1(path: Path, rollouts: list[StepSequence]) -> None:
    """Version 1's writer: the same encoding, then ``np.savez`` with one ``a<N>`` member per
    array (array keys are strings there)."""
    encoder = rollout_io._Encoder()
    content = encoder(rollouts, "rollouts")

    def rename(value: Any) -> Any:
        if isinstance(value, list):
            return [rename(v) for v in value]
        if isinstance(value, dict):
            if isinstance(value.get("__array__"), int):
                return {**value, "__array__": f"a{value['__array__']}"}
            return {k: rename(v) for k, v in value.items()}
        return value

    meta = {"format": "gymsamp", "version": 1, "kind": "rollouts", "content": rename(content)}
    members = {f"a{i}": array for i, array in enumerate(encoder.packed)}
    members["__gymsamp__.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **members)


def best_seconds(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def load_peak(path: Path) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        rollout_io.load_rollouts(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / MiB


def bench(label: str, rollouts: list[StepSequence], folder: Path, repeats: int) -> None:
    v2, v1 = folder / "v2.npz", folder / "v1.npz"
    save_v2 = best_seconds(lambda: rollout_io.save_rollouts(v2, rollouts), repeats)
    save_v1 = best_seconds(lambda: save_version_1(v1, rollouts), repeats)
    load_v2 = best_seconds(lambda: rollout_io.load_rollouts(v2), repeats)
    load_v1 = best_seconds(lambda: rollout_io.load_rollouts(v1), repeats)
    same = all(
        np.array_equal(a.observations, b.observations)
        for a, b in zip(rollout_io.load_rollouts(v1), rollout_io.load_rollouts(v2), strict=True)
    )
    data_mib = sum(ro.observations.nbytes + ro.actions.nbytes for ro in rollouts) / MiB
    print(
        f"{label}: save {save_v2:.2f} s vs {save_v1:.2f} s ({save_v2 / save_v1:.2f}x), "
        f"load {load_v2:.2f} s vs {load_v1:.2f} s ({load_v2 / load_v1:.2f}x), "
        f"file {v2.stat().st_size / MiB:.1f} vs {v1.stat().st_size / MiB:.1f} MiB, "
        f"load peak {load_peak(v2):.0f} vs {load_peak(v1):.0f} MiB "
        f"(observations + actions {data_mib:.0f} MiB), same data: {same}"
    )


def main() -> int:
    args = size_options(__doc__)
    count, steps = (500, 100_000) if args.quick else (20_000, 1_000_000)
    print("version 2 (one packed member) vs version 1 (a member per array):")
    with tempfile.TemporaryDirectory() as folder:
        bench(
            f"{count:,} rollouts of 20 steps", short_rollouts(count, 20), Path(folder), args.repeats
        )
        bench(f"1 rollout of {steps:,} steps", long_rollout(steps), Path(folder), args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
