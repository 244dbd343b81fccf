"""Ctrl-C while sampling leaves no worker process behind."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    # Ctrl-C raises KeyboardInterrupt here also where the test runs with SIGINT ignored (a
    # background job, nohup): an ignored SIGINT stays ignored in the child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import gymnasium as gym
    from gymsamp.envs import CountingEnv
    from gymsamp.policies import IdlePolicy
    from gymsamp.sampling import ParallelRolloutSampler

    pid_file = sys.argv[1]
    sampler = ParallelRolloutSampler(
        lambda: CountingEnv(step_cost_us=20000), IdlePolicy(gym.spaces.Discrete(2)), 2,
        min_steps=10**6, vectorization="async", show_progress_bar=False,
    )
    envs = sampler._local.vector_env(sampler._local_spec())
    with open(pid_file, "w") as f:
        f.write(" ".join(str(p.pid) for p in envs.processes))
    try:
        sampler.sample()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
    """
)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("target", ["process", "group"])
def test_ctrl_c_ends_every_worker(tmp_path, target):
    pid_file = tmp_path / "pids"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(pid_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline, (
                proc.stderr.read() if proc.poll() is not None else ""
            )
            time.sleep(0.05)
        workers = [int(p) for p in pid_file.read_text().split()]
        assert len(workers) == 2
        assert all(alive(p) for p in workers)
        time.sleep(0.5)  # let sampling get going
        if target == "group":  # what a terminal does: every process of the group gets SIGINT
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 3, err
    assert "interrupted" in out
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in workers)
