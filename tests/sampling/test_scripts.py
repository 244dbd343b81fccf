"""gymsamp in users' scripts: the ways a main script reaches worker processes it starts.

Each test runs a script in a fresh Python (a file, ``python -`` reading standard input), as
users do; the worker processes it starts are spawned, so each run takes a second or two.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import CHECKOUT as REPO
from tests.helpers import checkout_env

# A user's env defined in the script itself.
ENV = """
import gymnasium as gym
import numpy as np

class ScriptEnv(gym.Env):
    observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(1, self.t, np.float32), 1.0, self.t >= 3, False, {}

idle = lambda obs: np.zeros(len(obs), np.int64)
"""


def run(
    source: str, *, stdin: bool = False, path: Path | None = None
) -> subprocess.CompletedProcess:
    """Run ``source`` as ``python FILE`` (at ``path``) or ``python -`` (``stdin``), with this
    checkout's gymsamp first on the path."""
    env = checkout_env()
    if stdin:
        args, text = [sys.executable, "-"], source
    else:
        assert path is not None
        path.write_text(source)
        args, text = [sys.executable, str(path)], None
    return subprocess.run(
        args, input=text, capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )


def test_a_script_read_from_stdin_is_refused_spawned_workers_at_construction():
    # `python - < script.py` sets __main__.__file__ to "<stdin>": every spawned or forkserver
    # worker died re-running that missing file (FileNotFoundError on stderr, hundreds of
    # lines), and the caller got only "worker 0 (sub-env 0) died unexpectedly (exit code 1)".
    script = ENV + textwrap.dedent(
        """
        from gymsamp.sampling import ParallelRolloutSampler, SamplerPool

        def attempt(build):
            try:
                build()
            except ValueError as err:
                print(type(err).__name__, err)
            else:
                print("built")

        for method in ("spawn", "forkserver"):
            for mode in ("async", "batched"):
                attempt(lambda: ParallelRolloutSampler(
                    ScriptEnv, idle, 2, min_rollouts=2, vectorization=mode,
                    start_method=method, show_progress_bar=False))
        attempt(lambda: SamplerPool(2))
        # What works instead: fork, or the sub-envs in this process.
        attempt(lambda: SamplerPool(2, start_method="fork").stop())
        for mode, method in (("async", "fork"), ("sync", "spawn")):
            with ParallelRolloutSampler(
                ScriptEnv, idle, 2, min_rollouts=2, seed=0, vectorization=mode,
                start_method=method, show_progress_bar=False,
            ) as sampler:
                print("lengths", [ro.length for ro in sampler.sample()])
        """
    )
    done = run(script, stdin=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no dying workers' tracebacks
    lines = done.stdout.splitlines()
    expected = (
        "ValueError start_method must not be 'spawn' or 'forkserver' for a main script "
        "without a file, got '{method}': worker processes started with '{method}' first re-run "
        f"the main script from '{REPO / '<stdin>'}', which does not exist (a script read from "
        "standard input, `python - < script.py`?); save the script to a file and run that, or "
        "pass {instead} or start_method='fork'"
    )
    sampler = "vectorization='sync'"
    assert lines == [
        expected.format(method="spawn", instead=sampler),
        expected.format(method="spawn", instead=sampler),
        expected.format(method="forkserver", instead=sampler),
        expected.format(method="forkserver", instead=sampler),
        expected.format(method="spawn", instead="num_threads=1"),
        "built",
        "lengths [3, 3]",
        "lengths [3, 3]",
    ]


@pytest.mark.parametrize("kind", ["async", "batched", "pool"])
def test_a_worker_killed_by_a_missing_main_guard_says_so(tmp_path, kind):
    # Without `if __name__ == "__main__":`, each spawned worker re-runs the script, reaches its
    # sampler, and Python refuses to start processes there: the caller's WorkerError said only
    # that the worker died (Python's RuntimeError went to stderr among the workers' tracebacks).
    start = (
        "SamplerPool(2).run_map(lambda G, x: x, [1, 2])"
        if kind == "pool"
        else f"ParallelRolloutSampler(ScriptEnv, idle, 2, min_rollouts=2, "
        f"vectorization={kind!r}, start_method='spawn', show_progress_bar=False).sample()"
    )
    script = ENV + textwrap.dedent(
        f"""
        from gymsamp.sampling import ParallelRolloutSampler, SamplerPool, WorkerError

        try:
            {start}
        except WorkerError as err:
            if __name__ == "__main__":
                print(err)
        """
    )
    path = tmp_path / "unguarded.py"
    done = run(script, path=path)
    assert done.returncode == 0, done.stderr
    assert "bootstrapping phase" in done.stderr  # Python's own message, in the workers
    died = (
        "SamplerPool worker 0 died (exit code 1) while running <lambda>; it is restarted with "
        "a fresh GlobalNamespace"
        if kind == "pool"
        else "worker 0 (sub-env 0) died unexpectedly (exit code 1)"
    )
    assert done.stdout.strip() == (
        f"{died}; a worker started with 'spawn' first re-runs the main script {path}: if that "
        "starts worker processes at its top level (a sampler, a pool), Python refuses in the "
        "worker (a RuntimeError about the bootstrapping phase, on stderr) and the worker dies, "
        'so keep the top-level work under `if __name__ == "__main__":`'
    )


def test_an_id_registered_with_an_entry_point_into_the_main_script_reaches_spawned_workers(
    monkeypatch,
):
    # gym.register("MyEnv-v0", entry_point="__main__:MyEnv") in a script run with `python -c`,
    # in Jupyter or with backend="ray": the workers' __main__ is not the script, and every
    # worker failed with "module '__main__' has no attribute 'MyEnv'".
    import gymnasium as gym

    from gymsamp.envs import CountingEnv
    from gymsamp.sampling import ParallelRolloutSampler

    monkeypatch.setattr(sys.modules["__main__"], "GymsampScriptEnv", CountingEnv, raising=False)
    env_id = "gymsamp_test/MainEntryPoint-v0"
    gym.register(env_id, entry_point="__main__:GymsampScriptEnv", kwargs={"terminate_at": 3})
    try:
        with ParallelRolloutSampler(
            env_id,
            lambda obs: np.zeros(len(obs), np.int64),
            2,
            min_rollouts=2,
            seed=0,
            vectorization="async",
            start_method="spawn",
            show_progress_bar=False,
        ) as sampler:
            rollouts = sampler.sample()
    finally:
        del gym.registry[env_id]
    assert [ro.length for ro in rollouts] == [3, 3]
    assert [ro.rollout_info["env_id"] for ro in rollouts] == [env_id] * 2


def test_an_entry_point_into_the_main_script_that_does_not_pickle_travels_by_name(monkeypatch):
    # An env class of the main script that cloudpickle cannot ship by value (it holds or uses
    # a lock, an open file, a client of the script's) still reached spawned workers by name,
    # as they re-run the script: shipping every "__main__:Cls" entry point by value made
    # ParallelRolloutSampler("MyEnv-v0", ..., start_method="spawn") raise "env must be
    # picklable ... cannot pickle '_thread.lock'" for a script that sampled before.
    import threading

    import cloudpickle
    import gymnasium as gym

    from gymsamp.envs import CountingEnv
    from gymsamp.sampling.vector_envs import EnvFactory

    unpicklable = type(
        "GymsampLockedEnv", (CountingEnv,), {"__module__": "__main__", "lock": threading.Lock()}
    )
    monkeypatch.setattr(sys.modules["__main__"], "GymsampLockedEnv", unpicklable, raising=False)
    env_id = "gymsamp_test/LockedMainEntryPoint-v0"
    gym.register(env_id, entry_point="__main__:GymsampLockedEnv", kwargs={"terminate_at": 3})
    try:
        shipped = cloudpickle.loads(cloudpickle.dumps(EnvFactory(env_id)))
        env = shipped()
    finally:
        del gym.registry[env_id]
    try:
        assert type(env.unwrapped) is unpicklable
        assert env.spec is not None
        assert env.spec.entry_point == "__main__:GymsampLockedEnv"
        assert env.spec.kwargs == {"terminate_at": 3}
    finally:
        env.close()
