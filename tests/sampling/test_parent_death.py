"""A worker whose sub-env (or pool task) hangs ends with its parent when the parent is killed:
it never reads its pipe's EOF, so only the kernel's parent-death signal can end it (Linux)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.sampling.test_interrupt import alive

# The parent starts workers whose sub-env hangs in a step (or a pool task that hangs), writes
# their pids, and then kills itself with SIGKILL: no close, no finalizer, no atexit.
VECTOR_ENV_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    import gymnasium as gym
    import numpy as np
    from gymsamp.sampling.async_vector_env import _AsyncVectorEnv
    from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv

    class Hangs(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
        action_space = gym.spaces.Discrete(2)
        def reset(self, *, seed=None, options=None):
            return np.zeros(1, dtype=np.float32), {}
        def step(self, action):
            time.sleep(3600)

    mode, context, pid_file, where = sys.argv[1:5]
    built = []

    def build():
        fns = [Hangs] * 2
        if mode == "async":
            built.append(_AsyncVectorEnv(fns, context=context))
        else:
            built.append(BatchedAsyncVectorEnv(fns, 2, context=context))

    if where == "thread":  # the thread ends: its workers must not end with it
        thread = threading.Thread(target=build)
        thread.start()
        thread.join()
    else:
        build()
    envs = built[0]
    envs.reset(seed=0)
    envs.step_async(np.zeros(2, dtype=np.int64))
    time.sleep(0.3)  # the workers are inside the hanging step now
    if not all(p.is_alive() for p in envs.processes):
        sys.exit(5)
    with open(pid_file, "w") as f:
        f.write(" ".join(str(p.pid) for p in envs.processes))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)

POOL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from gymsamp.sampling import SamplerPool

    def hang(G, pid_file):
        time.sleep(3600)

    context, pid_file, where = sys.argv[2:5]
    pools = []

    def build():
        pools.append(SamplerPool(2, start_method=context))
        pools.append(pools[0].invoke_all_map(lambda G, _: os.getpid(), [0, 1]))

    if where == "thread":  # the thread ends: its workers must not end with it
        thread = threading.Thread(target=build)
        thread.start()
        thread.join()
    else:
        build()
    pool, pids = pools
    threading.Thread(target=pool.invoke_all, args=(hang, pid_file), daemon=True).start()
    time.sleep(0.5)  # the workers are inside the hanging task now
    with open(pid_file, "w") as f:
        f.write(" ".join(str(p) for p in pids))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize(
    ("context", "where"),
    [("fork", "main"), ("spawn", "main"), ("forkserver", "main"), ("fork", "thread")],
)
@pytest.mark.parametrize("what", ["async", "batched", "pool"])
def test_workers_die_with_a_killed_parent(tmp_path, what, context, where):
    # From the main thread (fork, spawn) the kernel's parent-death signal ends them; from
    # another thread or a forkserver, a thread in each worker that watches the parent.
    pid_file = tmp_path / "pids"
    script = POOL_SCRIPT if what == "pool" else VECTOR_ENV_SCRIPT
    err_file = tmp_path / "stderr"
    # Not pipes: workers that outlive the parent would hold them open, and reading them hang.
    with open(err_file, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", script, what, context, str(pid_file), where],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    workers: list[int] = []
    try:
        proc.wait(timeout=60)
        if pid_file.exists():
            workers = [int(p) for p in pid_file.read_text().split()]
        assert proc.returncode == -signal.SIGKILL, err_file.read_text()
        assert len(workers) == 2
        deadline = time.monotonic() + 10
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in workers if alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:  # a failed test must not leave them running for an hour
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_workers_end_on_sigterm_whatever_the_parent_set(context):
    # A parent that ignores SIGTERM (or handles it, as Ray's driver and graceful-shutdown code
    # do) passes that on to its workers; gymsamp ends them with SIGTERM, so they reset it.
    script = textwrap.dedent(
        f"""
        import signal
        import gymnasium as gym
        from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv
        from gymsamp.sampling.errors import WorkerError
        from gymsamp.sampling.vector_envs import EnvFactory, make_vector_env

        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        factory = EnvFactory("CartPole-v1")
        codes = []
        for envs in (
            BatchedAsyncVectorEnv([factory] * 2, num_workers=2, context={context!r}),
            make_vector_env(factory, 2, "async", start_method={context!r}),
        ):
            try:
                envs.reset(seed=0)
                for process in envs.processes:
                    process.terminate()
                    process.join(5)
                    codes.append(process.exitcode)
                    if process.is_alive():
                        process.kill()
                        process.join()
            finally:
                try:
                    envs.close()
                except WorkerError:  # close() reports the workers that died before it
                    pass
        print(codes)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([-signal.SIGTERM] * 4)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads Linux's /proc")
def test_a_parent_that_ended_but_is_not_reaped_counts_as_gone():
    # A killed parent whose own parent has not reaped it yet is a zombie: its pid still
    # answers kill(pid, 0), but a worker watching it must end all the same.
    from gymsamp.sampling.worker_lifetime import is_alive

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 60
        while alive(proc.pid):  # alive() reads /proc without reaping it
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, 0)  # the pid is still there, a zombie
        assert not is_alive(proc.pid)
    finally:
        proc.wait()
    assert not is_alive(proc.pid)
