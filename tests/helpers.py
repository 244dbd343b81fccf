"""Shared test helpers: bit-exact comparison of rollouts and their parts, a Dict-observation
env, calls from another thread or a fresh Python, and a policy that runs a hook."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from gymsamp.data import StepSequence
from gymsamp.data.data_format import is_tensor


def plain(tree: Any) -> Any:
    """Comparable values: arrays and numpy scalars as lists and Python numbers."""
    if isinstance(tree, dict):
        return {k: plain(v) for k, v in tree.items()}
    if isinstance(tree, (np.ndarray, np.generic)):
        return tree.tolist()
    return tree


def assert_tree_equal(a: Any, b: Any, where: str = "value") -> None:
    """Exact equality of nested dict / tuple / array / scalar values, dtypes included."""
    if isinstance(a, dict):
        assert isinstance(b, dict), where
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            assert_tree_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (tuple, list)):
        assert type(a).__name__ == type(b).__name__, f"{where}: {type(a)} != {type(b)}"
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_tree_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray) or is_tensor(a):
        assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
        x = a.numpy() if is_tensor(a) else a
        y = b.numpy() if is_tensor(b) else b
        assert x.dtype == y.dtype, f"{where}: dtype {x.dtype} != {y.dtype}"
        np.testing.assert_array_equal(x, y, err_msg=where)
    else:
        assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_sequences_equal(a: StepSequence, b: StepSequence) -> None:
    """Every field, flag, bound, final entry and info of two sequences is identical."""
    assert a.length == b.length
    assert a.data_format == b.data_format
    assert a.continuous == b.continuous
    assert list(a.data_names) == list(b.data_names)
    for name in a.data_names:
        assert_tree_equal(a.get_data_values(name), b.get_data_values(name), name)
    np.testing.assert_array_equal(a.terminated, b.terminated)
    np.testing.assert_array_equal(a.truncated, b.truncated)
    np.testing.assert_array_equal(a.step_types, b.step_types)
    assert_tree_equal(a.rollout_infos, b.rollout_infos, "rollout_infos")
    if a.continuous:
        np.testing.assert_array_equal(a.rollout_bounds, b.rollout_bounds)
        for i in range(a.rollout_count):
            ra, rb = a.get_rollout(i), b.get_rollout(i)
            for name in ra.data_names:
                assert_tree_equal(
                    ra.get_data_values(name), rb.get_data_values(name), f"rollout {i} {name}"
                )


class DictPendulum(gym.ObservationWrapper):
    """Pendulum with a Dict observation (``angle`` as cos / sin, ``speed``), the kind SB3's
    ``MultiInputPolicy`` takes."""

    def __init__(self) -> None:
        super().__init__(gym.make("Pendulum-v1"))
        self.observation_space = gym.spaces.Dict(
            {
                "angle": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
                "speed": gym.spaces.Box(-8.0, 8.0, (1,), np.float32),
            }
        )

    def observation(self, observation: Any) -> dict[str, Any]:
        return {"angle": observation[:2], "speed": observation[2:]}


def errors_in_another_thread(*calls: Callable[[], object]) -> list[BaseException]:
    """Run ``calls`` one after the other in a new thread (joined within a minute) and return
    what each raised, in order; calls that return add nothing."""
    errors: list[BaseException] = []

    def run() -> None:
        for call in calls:
            try:
                call()
            except BaseException as err:
                errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    return errors


class HookedPolicy:
    """A batched policy returning ``actions(num_envs)`` that runs ``hook`` (in the sampling
    thread) at its ``at``-th call: a policy that closes, or calls, what runs it."""

    def __init__(
        self, at: int, hook: Callable[[], object], actions: Callable[[int], np.ndarray]
    ) -> None:
        self.calls, self.at, self.hook, self.actions = 0, at, hook, actions

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.at:
            self.hook()
        return self.actions(len(obs))


#: The checkout under test (a worktree or a fresh clone alike).
CHECKOUT = Path(__file__).resolve().parents[1]


def checkout_env(**environ: str) -> dict[str, str]:
    """This process's environment with the checkout under test first on ``PYTHONPATH`` (and
    ``environ`` set), for a subprocess that may run in another folder: it imports this
    checkout's gymsamp, not whatever an installed or editable gymsamp points to, and keeps
    what ``PYTHONPATH`` held."""
    path = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **environ}


def python_output(script: str, timeout: float = 120) -> str:
    """Run ``script`` in a fresh Python; it must succeed (its stderr is shown if not). Returns
    what it printed, stripped."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
