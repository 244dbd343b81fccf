"""Helpers shared by the benchmark scripts: timing (ratios against baselines of the same run)
and the tests' reference implementations to compare against."""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def timed(fn: Callable[[], int]) -> float:
    """Steps per second of one call of ``fn`` (which returns its number of steps), GC off."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        steps = fn()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return steps / elapsed


def best_rates(
    runs: dict[str, Callable[[], int]], repeats: int, *, warm_up: bool = False
) -> dict[str, float]:
    """Best steps/s of each run over ``repeats`` rounds; the runs alternate within a round,
    so a noisy moment of the machine hurts every contender alike."""
    if warm_up:
        for fn in runs.values():
            fn()  # worker start-up, caches, lazy imports
    best = dict.fromkeys(runs, 0.0)
    for _ in range(repeats):
        for name, fn in runs.items():
            best[name] = max(best[name], timed(fn))
    return best


def sampler_run(sampler: Any) -> Callable[[], int]:
    """One ``sample()``; returns the number of steps in the returned rollouts."""

    def run() -> int:
        return sum(ro.length for ro in sampler.sample())

    return run


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISS"


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def load_test_module(relative_path: str) -> Any:
    """The repository's test module at ``relative_path`` (e.g. ``tests/data/test_returns.py``),
    whose reference implementations a benchmark compares with."""
    path = Path(__file__).resolve().parent.parent / relative_path
    spec = importlib.util.spec_from_file_location(f"gymsamp_bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the references of {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def size_options(doc: str | None) -> argparse.Namespace:
    """The command line of a benchmark with a ``--quick`` smoke size and ``--repeats`` rounds
    (its description: the first paragraph of ``doc``, the script's docstring)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per size")
    return parser.parse_args()
