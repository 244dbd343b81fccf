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


FORK_SCRIPT = textwrap.dedent(
    """
    import multiprocessing.popen_fork as popen_fork, os, signal, sys, threading, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also under nohup
    from gymsamp.envs import CountingEnv
    from gymsamp.sampling.vector_envs import EnvFactory, make_vector_env

    launch = popen_fork.Popen._launch
    forks = []

    def launch_then_ctrl_c(self, process_obj):
        # Ctrl-C just after the first fork, before multiprocessing records the child (the
        # moment a fork of a large process makes likely): the signal reaches the main thread
        # here, where its handler runs at once.
        launch(self, process_obj)
        forks.append(self.pid)
        if len(forks) == 1:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    popen_fork.Popen._launch = launch_then_ctrl_c
    try:
        workers = 3 if sys.argv[1] == "batched" else None  # one sub-env each, as async's
        envs = make_vector_env(
            EnvFactory(CountingEnv), 3, sys.argv[1], start_method="fork", num_workers=workers
        )
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    else:
        envs.close()
    deadline = time.monotonic() + 10  # every worker ends (and is reaped) by then
    while time.monotonic() < deadline:
        left = []
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                left += f.read().split()
        left = [p for p in left if p in {str(pid) for pid in forks}]
        if not left:
            break
        time.sleep(0.05)
    print("forks", len(forks), "left", left, flush=True)
    """
)


@pytest.mark.parametrize("vectorization", ["async", "batched"])
def test_ctrl_c_in_a_fork_of_a_worker_leaves_no_process(vectorization):
    # A KeyboardInterrupt raised in Process.start() between the fork and multiprocessing's
    # record of the child left a worker that close() could not see: it ran until its pipe
    # closed, then stayed a zombie until the parent exited. Ctrl-C is now held back until
    # every worker started is recorded, and the build then ends them all.
    proc = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, vectorization],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "interrupted", proc.stdout + proc.stderr
    # The interrupt came after the first fork: the later workers were started too (held
    # back, the Ctrl-C waits for the start loop) and ended as well.
    assert lines[1] == "forks 3 left []", proc.stderr


def test_sigint_held_raises_the_held_ctrl_c_at_its_end_and_restores_the_handler():
    import threading

    from gymsamp.sampling.worker_lifetime import sigint_held, sigint_released

    assert threading.current_thread() is threading.main_thread()  # only it gets Ctrl-C
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        reached = []

        def ctrl_c_inside() -> None:
            with sigint_held():
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                reached.append("after the signal")  # held: the block runs to its end

        with pytest.raises(KeyboardInterrupt):
            ctrl_c_inside()
        assert reached == ["after the signal"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with sigint_held():  # no Ctrl-C: nothing raised
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
            sigint_released()  # what a worker forked here does: the parent's handler back
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("vectorization", ["async", "batched"])
def test_a_ctrl_c_in_the_samplers_close_ends_the_workers_and_the_next_call_builds_new_ones(
    monkeypatch, vectorization
):
    # A KeyboardInterrupt as the sampler's close() began closing its sub-envs left them open:
    # their finalizer was detached first, so neither a second close() nor garbage collection
    # ended the workers, and the next sample() stepped the half-closed sub-envs (OSError
    # "handle is closed", or "unusable"). The workers are now terminated all the same, and
    # the next call builds new sub-envs.
    import gymnasium as gym

    import gymsamp.sampling.local_backend as local_backend
    from gymsamp.envs import CountingEnv
    from gymsamp.policies import IdlePolicy
    from gymsamp.sampling import ParallelRolloutSampler

    def build():
        return ParallelRolloutSampler(
            CountingEnv,
            IdlePolicy(gym.spaces.Discrete(2)),
            2,
            min_rollouts=3,
            max_steps=4,
            seed=5,
            vectorization=vectorization,
            show_progress_bar=False,
        )

    with build() as fresh:
        expected = [fresh.sample() for _ in range(2)]
    sampler = build()

    def seeds(rollouts):
        return [ro.rollout_info["seed"] for ro in rollouts]

    assert seeds(sampler.sample()) == seeds(expected[0])
    pids = {process.pid for process in sampler._local.envs.processes}

    def ctrl_c(envs, terminate):
        monkeypatch.undo()
        raise KeyboardInterrupt

    monkeypatch.setattr(local_backend, "close_vector_env", ctrl_c)
    with pytest.raises(KeyboardInterrupt) as info:  # kept, as IPython keeps the last one
        sampler.close()
    assert info.value is not None
    assert not any(alive(pid) for pid in pids)
    with sampler:  # call 1 (close() leaves the count alone), on new sub-envs
        got = sampler.sample()
        assert {process.pid for process in sampler._local.envs.processes}.isdisjoint(pids)
    assert seeds(got) == seeds(expected[1])
    assert [ro.observations.tolist() for ro in got] == [
        ro.observations.tolist() for ro in expected[1]
    ]
