"""SamplerPool: ordering, worker-local state, run_collect's prefix rule, failures, cleanup."""

from __future__ import annotations

import collections
import functools
import gc
import io
import itertools
import multiprocessing as mp
import operator
import os
import signal
import threading
import time

import numpy as np
import pytest
from tqdm import tqdm

from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.sampler_pool import GlobalNamespace, SamplerPool
from tests.helpers import errors_in_another_thread, python_output

# Most functions shipped to workers are closures or lambdas, which cloudpickle sends by value;
# module-level ones (e.g. _num_samples) are imported by the spawned workers.


@pytest.fixture(scope="module")
def pool2():
    with SamplerPool(2) as pool:
        yield pool


@pytest.fixture(params=[1, 2], ids=["inproc", "2workers"])
def pool(request, pool2):
    if request.param == 2:
        yield pool2
    else:
        with SamplerPool(1) as pool1:
            yield pool1


def _alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _worker_pids(pool: SamplerPool) -> list[int]:
    getpid = os.getpid
    return pool.invoke_all(lambda G: getpid())


def _assert_gone(pids: list[int], before: set[int]) -> None:
    assert not [pid for pid in pids if _alive(pid)]
    assert {p.pid for p in mp.active_children()} <= before


class Recorder:
    def __init__(self) -> None:
        self.updates: list[int] = []

    def update(self, n: int = 1) -> None:
        self.updates.append(n)


# -- construction -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -2])
def test_num_threads_below_one_is_value_error(bad):
    with pytest.raises(ValueError, match="num_threads"):
        SamplerPool(bad)


@pytest.mark.parametrize("bad", [2.0, "2", True, None])
def test_num_threads_not_int_is_type_error(bad):
    with pytest.raises(TypeError, match="num_threads"):
        SamplerPool(bad)


def test_num_threads_property_and_numpy_int():
    with SamplerPool(np.int64(1)) as pool:
        assert pool.num_threads == 1
        assert type(pool.num_threads) is int


def test_repr_tells_running_from_stopped():
    pool = SamplerPool(1)
    assert repr(pool) == "SamplerPool(num_threads=1, running)"
    pool.stop()
    assert repr(pool) == "SamplerPool(num_threads=1, stopped)"


def test_a_worker_that_fails_to_start_leaves_no_worker_of_the_pool(monkeypatch):
    # E.g. EMFILE at the second worker's start: the first one must not outlive the failed
    # constructor.
    from gymsamp.sampling import pool_worker

    before = {p.pid for p in mp.active_children()}
    real = pool_worker.PoolWorker.start
    started: list[int] = []

    def start_once(self) -> None:
        if started:
            raise OSError(24, "Too many open files")
        real(self)
        started.append(self.process.pid)

    monkeypatch.setattr(pool_worker.PoolWorker, "start", start_once)
    with pytest.raises(OSError, match="Too many open files"):
        SamplerPool(2)
    assert len(started) == 1
    _assert_gone(started, before)


def test_unknown_start_method_rejected():
    with pytest.raises(ValueError, match="nonsense"):
        SamplerPool(2, start_method="nonsense")


def test_global_namespace_is_attribute_bag():
    G = GlobalNamespace(3)
    G.x = 5
    assert (G.worker_index, G.x) == (3, 5)
    assert "x=5" in repr(G)
    with pytest.raises(AttributeError, match="worker 3 has no attribute 'y'"):
        _ = G.y
    # Protocol lookups (numpy's, copy's, pickle's) get a plain AttributeError, not the hint.
    with pytest.raises(AttributeError, match=r"^__array_interface__$"):
        _ = G.__array_interface__
    assert np.asarray(G, dtype=object).item() is G


# -- invoke_all / invoke_all_map / run_map --------------------------------------------------------


def test_invoke_all_one_value_per_worker_and_state_persists(pool):
    def bump(G, step):
        G.counter = getattr(G, "counter", 0) + step
        return (G.worker_index, G.counter)

    n = pool.num_threads
    pool.invoke_all(lambda G: setattr(G, "counter", 0))
    assert pool.invoke_all(bump, 2) == [(i, 2) for i in range(n)]
    assert pool.invoke_all(bump, step=3) == [(i, 5) for i in range(n)]
    # State is per worker: distinct processes (for 2 workers) each hold their own counter.
    if n == 2:
        assert len(set(_worker_pids(pool))) == 2


def test_invoke_all_map_distributes_in_worker_order(pool):
    n = pool.num_threads
    args = [f"arg{i}" for i in range(n)]
    assert pool.invoke_all_map(lambda G, a: (G.worker_index, a), args) == list(enumerate(args))
    with pytest.raises(ValueError, match=f"must have {n}"):
        pool.invoke_all_map(lambda G, a: a, [*args, "extra"])


@pytest.mark.parametrize("arglist", [None, 5, 1.5])
def test_an_arglist_that_is_no_iterable_is_named(pool, arglist):
    # It failed in list() with "'NoneType' object is not iterable", naming nothing.
    message = (
        r"arglist must be an iterable of arguments \(one per call\), got "
        rf"{type(arglist).__name__} {arglist}"
    )
    with pytest.raises(TypeError, match=message):
        pool.run_map(lambda G, a: a, arglist)
    with pytest.raises(TypeError, match=message):
        pool.invoke_all_map(lambda G, a: a, arglist)
    assert pool.run_map(lambda G, a: 2 * a, range(3)) == [0, 2, 4]  # any iterable still works


def test_a_type_error_raised_by_an_arglist_generator_is_its_own(pool):
    # A TypeError from inside a generator was reported as "arglist must be an iterable of
    # arguments ..., got generator", hiding the generator's own error (and its traceback).
    def arguments():
        yield 1
        yield 1 + "a"

    for call in (pool.run_map, pool.invoke_all_map):
        with pytest.raises(TypeError) as caught:
            call(lambda G, a: a, arguments())
        assert str(caught.value) == "unsupported operand type(s) for +: 'int' and 'str'"


def test_run_map_keeps_argument_order_with_shuffled_durations(pool):
    durations = [0.08, 0.0, 0.05, 0.01, 0.06, 0.0, 0.02, 0.04]

    def work(G, arg):
        i, d = arg
        time.sleep(d)
        return (i * 10, G.worker_index)

    bar = Recorder()
    out = pool.run_map(work, list(enumerate(durations)), progressbar=bar)
    assert [v for v, _ in out] == [i * 10 for i in range(len(durations))]
    assert bar.updates == [1] * len(durations)
    if pool.num_threads == 2:
        assert {w for _, w in out} == {0, 1}  # both workers took part
    assert pool.run_map(lambda G, x: x, []) == []


def test_run_map_updates_a_real_tqdm(pool):
    with tqdm(total=5, file=io.StringIO()) as bar:
        assert pool.run_map(lambda G, x: x * x, range(5), progressbar=bar) == [0, 1, 4, 9, 16]
        assert bar.n == 5


def test_the_calls_set_the_total_of_a_tqdm_as_pyrado_did(pool):
    # pyrado set progressbar.total = len(arglist) and collect_progressbar.total = n; a bar
    # built without a total showed no fraction or time estimate.
    with tqdm(file=io.StringIO()) as bar:
        assert pool.run_map(lambda G, x: x, range(4), progressbar=bar) == [0, 1, 2, 3]
        assert (bar.total, bar.n) == (4, 4)
    with tqdm(file=io.StringIO()) as bar:
        assert pool.run_collect(10, _num_samples, collect_progressbar=bar)[1] == 10
        assert (bar.total, bar.n) == (10, 10)


def test_a_total_the_caller_set_is_kept_and_a_read_only_one_is_left_alone(pool):
    # The calls overwrote a preset total (a bar over several calls jumped to 100% after the
    # first) and raised AttributeError for a bar whose total is a read-only property, which
    # the calls took before they set totals.
    with tqdm(total=7, file=io.StringIO()) as bar:
        assert pool.run_map(lambda G, x: x, range(3), progressbar=bar) == [0, 1, 2]
        assert pool.run_collect(3, _num_samples, collect_progressbar=bar)[1] == 3
        assert (bar.total, bar.n) == (7, 6)

    class FixedTotal:
        total = property(lambda self: None)

        def __init__(self) -> None:
            self.n = 0

        def update(self, n: int) -> None:
            self.n += n

    fixed = FixedTotal()
    assert pool.run_map(lambda G, x: x, range(3), progressbar=fixed) == [0, 1, 2]
    assert pool.run_collect(10, _num_samples, collect_progressbar=fixed)[1] == 10
    assert (fixed.total, fixed.n) == (None, 13)


# -- run_collect --------------------------------------------------------------------------------


def _num_samples(G, num):
    return (("run", num), num)


@pytest.mark.parametrize(
    ("n", "min_runs", "runs"),
    [(10, None, 4), (11, None, 5), (10, 6, 6), (1, None, 1), (0, None, 0), (0, 2, 2)],
)
def test_run_collect_returns_shortest_sufficient_prefix(pool, n, min_runs, runs):
    bar = Recorder()
    results, total = pool.run_collect(n, _num_samples, collect_progressbar=bar, min_runs=min_runs)
    assert results == [("run", k) for k in range(1, runs + 1)]
    assert total == runs * (runs + 1) // 2
    assert sum(bar.updates) == total


def test_run_collect_passes_args_and_kwargs(pool):
    def func(G, num, a, *, b):
        return ((num, a, b), 2)

    assert pool.run_collect(5, func, "x", b="y") == ([(k, "x", "y") for k in (1, 2, 3)], 6)


def test_run_collect_drops_surplus_runs_of_fast_workers(pool2):
    # Run 1 is slow, so worker 1 races ahead through runs 2, 3, ...; the answer must still be
    # exactly the prefix 1..2 (1 + 2 >= 3), never something that depends on who finished first.
    def func(G, num):
        time.sleep(0.3 if num == 1 else 0.005)
        return (num, num)

    assert pool2.run_collect(3, func) == ([1, 2], 3)


def test_run_collect_is_deterministic_across_worker_counts(pool2):
    def func(G, num, scale):
        time.sleep(float(np.random.default_rng().uniform(0, 0.02)))  # fresh entropy: timing noise
        n_samples = (num * 7) % 5  # 2, 4, 1, 3, 0, 2, ... (0-sample runs included)
        return (num * scale, n_samples)

    with SamplerPool(1) as pool1:
        expected = pool1.run_collect(17, func, 3, min_runs=3)
    assert expected == ([3, 6, 9, 12, 15, 18, 21, 24], 17)
    for _ in range(3):
        assert pool2.run_collect(17, func, 3, min_runs=3) == expected


def test_run_collect_ignores_failures_of_surplus_runs(pool):
    # Runs 3, 4, ... fail, but 1 + 2 >= 3 already: whether a worker got to start them while run 1
    # was slow must not change the outcome.
    def func(G, num):
        if num >= 3:
            raise RuntimeError(f"run {num} failed")
        time.sleep(0.2 if num == 1 else 0.0)
        return (num, num)

    assert pool.run_collect(3, func) == ([1, 2], 3)
    with pytest.raises(WorkerError, match="run 3 failed"):
        pool.run_collect(4, func)


def test_run_collect_reports_a_worker_lost_in_a_surplus_run(tmp_path):
    # Runs 1 + 2 suffice, but the worker that died in surplus run 3 lost its GlobalNamespace:
    # that is reported, unlike a surplus run's exception.
    marker = tmp_path / "run3"

    def func(G, num):
        if num == 3:
            marker.touch()
            os._exit(3)
        if num == 1:  # still running while the other worker dies in run 3
            deadline = time.monotonic() + 60
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return (num, num)

    with SamplerPool(2) as pool:
        with pytest.raises(WorkerError, match=r"^SamplerPool worker 1 died \(exit code 3\) while"):
            pool.run_collect(3, func)
        assert marker.exists()
        assert pool.invoke_all(lambda G: G.worker_index) == [0, 1]


def test_a_worker_found_dead_when_its_task_is_sent_is_a_worker_error_and_restarts():
    # It died after the call checked its workers: the send fails (a broken pipe).
    with SamplerPool(2) as pool:
        old = _worker_pids(pool)
        worker = pool._workers[1]

        def died_before_the_send(msg: bytes) -> None:
            worker.process.kill()
            worker.process.join()
            raise BrokenPipeError(32, "Broken pipe")

        worker.conn.send_bytes = died_before_the_send
        with pytest.raises(WorkerError, match=r"^SamplerPool worker 1 died \(exit code -9\) while"):
            pool.run_map(lambda G, x: x, [0, 1])
        new = _worker_pids(pool)
        assert new[0] == old[0]
        assert new[1] != old[1]
        assert pool.run_map(lambda G, x: x, [0, 1, 2]) == [0, 1, 2]


def test_a_result_that_cannot_be_unpickled_is_a_worker_error_and_the_pool_survives(pool2):
    with pytest.raises(
        WorkerError,
        match=r"^result of .*<lambda> from SamplerPool worker [01] could not be unpickled: "
        r"ValueError: refused on load\n",
    ) as info:
        pool2.run_map(lambda G, x: _LoadRefused(), [0])
    assert "refused on load" in info.value.remote_traceback
    assert pool2.run_map(lambda G, x: x, [0, 1]) == [0, 1]


def test_run_collect_validates(pool):
    with pytest.raises(ValueError, match="n must be"):
        pool.run_collect(-1, _num_samples)
    with pytest.raises(ValueError, match="min_runs must be"):
        pool.run_collect(1, _num_samples, min_runs=-1)
    with pytest.raises(WorkerError, match="must return \\(result, n_samples\\)"):
        pool.run_collect(1, lambda G, num: num)
    with pytest.raises(WorkerError, match="n_samples must be an int >= 0"):
        pool.run_collect(1, lambda G, num: (num, 1.5))


# -- failures -----------------------------------------------------------------------------------


def test_worker_exception_becomes_worker_error_and_pool_survives(pool):
    def fragile_func(G, x):
        if x == 3:
            raise KeyError("boom")
        return x

    with pytest.raises(WorkerError) as info:
        pool.run_map(fragile_func, range(6))
    err = info.value
    assert isinstance(err, RuntimeError)
    assert err.worker_index in range(pool.num_threads)
    assert "fragile_func" in str(err)
    assert "KeyError" in str(err)
    assert "boom" in str(err)
    assert "raise KeyError" in err.remote_traceback
    assert "Traceback" in err.remote_traceback
    # Still usable, and G survived the exception.
    pool.invoke_all(lambda G: setattr(G, "mark", G.worker_index + 100))
    with pytest.raises(WorkerError, match="ZeroDivisionError"):
        pool.invoke_all(lambda G: 1 / 0)
    assert pool.invoke_all(lambda G: G.mark) == [100 + i for i in range(pool.num_threads)]
    assert pool.run_map(fragile_func, [1, 2]) == [1, 2]


def test_worker_death_is_worker_error_and_worker_restarts():
    before = {p.pid for p in mp.active_children()}
    with SamplerPool(2) as pool:
        old = _worker_pids(pool)

        def die_on_3(G, x):
            if x == 3:
                os._exit(1)
            time.sleep(0.01)
            return x

        with pytest.raises(WorkerError, match="died \\(exit code 1\\)") as info:
            pool.run_map(die_on_3, range(6))
        assert info.value.worker_index in (0, 1)
        assert pool.run_map(die_on_3, [0, 1, 2, 4]) == [0, 1, 2, 4]
        new = _worker_pids(pool)
        assert len(set(old) & set(new)) == 1  # exactly the dead worker was replaced
        assert pool.invoke_all(lambda G: G.worker_index) == [0, 1]
    _assert_gone(old + new, before)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in Linux's /proc")
def test_kept_errors_of_dead_workers_keep_no_fds():
    """An error's traceback keeps the call's frame and with it the dead workers' handles: a
    run that kept its errors kept 2 fds per dead worker open until it ran out of fds."""
    kept, counts = [], []
    with SamplerPool(2) as pool:
        for _ in range(6):
            with pytest.raises(WorkerError, match="died") as info:
                pool.run_map(lambda G, x: os._exit(3), [0, 1])
            kept.append(info.value)
            counts.append(len(os.listdir("/proc/self/fd")))
    assert counts[-1] == counts[1], counts


def test_worker_killed_between_calls_is_restarted_with_warning():
    before = mp.active_children()
    with SamplerPool(2) as pool:
        pids = _worker_pids(pool)
        os.kill(pids[1], signal.SIGKILL)
        # active_children() reaps it once fully dead (a zombie leader may still have threads).
        deadline = time.monotonic() + 10
        while pids[1] in {p.pid for p in mp.active_children()} and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.warns(RuntimeWarning, match="worker 1 died between calls") as record:
            assert pool.invoke_all(lambda G: G.worker_index) == [0, 1]
        # The warning names the caller's line, not gymsamp's (whatever the call's depth).
        assert [w.filename for w in record] == [__file__]
        os.kill(_worker_pids(pool)[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while len(mp.active_children()) > 1 + len(before) and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.warns(RuntimeWarning, match="worker 0 died between calls") as record:
            pool.set_seed(3)
        assert [w.filename for w in record] == [__file__]


# -- seeding ------------------------------------------------------------------------------------


def test_set_seed_reproducible_per_worker_and_leaves_global_rng_alone(pool):
    global_state = np.random.get_state()[1].copy()  # read, never seeded: nothing may move it

    def draw(G):
        return G.rng.integers(0, 2**31, size=3).tolist()

    pool.set_seed(7)
    first = pool.invoke_all(draw)
    pool.set_seed(7)
    assert pool.invoke_all(draw) == first
    pool.set_seed(8)
    assert pool.invoke_all(draw) != first
    # Pinned formula: worker i uses SeedSequence(seed).spawn(n)[i].
    n = pool.num_threads
    children = np.random.SeedSequence(7).spawn(n)
    assert first == [np.random.default_rng(s).integers(0, 2**31, size=3).tolist() for s in children]
    if n == 2:
        assert first[0] != first[1]
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)
    with pytest.raises(ValueError, match="seed must be"):
        pool.set_seed(-1)


# -- lifetime -----------------------------------------------------------------------------------


def test_stop_leaves_no_children_and_pool_is_unusable_afterwards():
    before = {p.pid for p in mp.active_children()}
    pool = SamplerPool(2)
    pids = _worker_pids(pool)
    assert all(_alive(pid) for pid in pids)
    pool.stop()
    _assert_gone(pids, before)
    pool.stop()  # idempotent
    with pytest.raises(RuntimeError, match="stopped"):
        pool.run_map(lambda G, x: x, [1])


def test_context_manager_stops_on_exception():
    before = {p.pid for p in mp.active_children()}
    pids: list[int] = []

    def body() -> None:
        with SamplerPool(2) as pool:
            pids.extend(_worker_pids(pool))
            raise RuntimeError("user error")

    with pytest.raises(RuntimeError, match="user error"):
        body()
    assert len(pids) == 2
    _assert_gone(pids, before)


def test_garbage_collection_leaves_no_children():
    before = {p.pid for p in mp.active_children()}
    pool = SamplerPool(2)
    pids = _worker_pids(pool)
    del pool
    gc.collect()
    _assert_gone(pids, before)


def test_keyboard_interrupt_terminates_workers_and_next_call_restarts():
    before = {p.pid for p in mp.active_children()}
    with SamplerPool(2) as pool:
        old = _worker_pids(pool)

        def interrupt_parent(G, seconds):
            # Ctrl-C as the parent sees it, sent once the parent is surely waiting for results.
            if G.worker_index == 0:
                os.kill(os.getppid(), signal.SIGINT)
            time.sleep(seconds)

        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            pool.run_map(interrupt_parent, [10.0, 10.0])
        assert time.monotonic() - t0 < 5  # did not wait for the 10 s tasks
        _assert_gone(old, before)
        assert pool.invoke_all(lambda G: G.worker_index) == [0, 1]
        new = _worker_pids(pool)
        assert not set(new) & set(old)
    _assert_gone(new, before)


def test_a_ctrl_c_in_the_fork_of_a_worker_leaves_no_process():
    # A KeyboardInterrupt raised in Process.start() between the fork and multiprocessing's
    # record of the child left a worker that no stop() could see (it ended only when its pipe
    # closed, then stayed a zombie). Held back until the start is recorded, the Ctrl-C now
    # comes after it, and the worker is ended.
    script = """
import multiprocessing.popen_fork as popen_fork, os, signal, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # also under nohup
from gymsamp.sampling import SamplerPool

launch = popen_fork.Popen._launch
forks = []

def launch_then_ctrl_c(self, process_obj):
    launch(self, process_obj)  # the fork
    forks.append(self.pid)
    if len(forks) == 1:  # the main thread's handler runs at once, here
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

popen_fork.Popen._launch = launch_then_ctrl_c
try:
    with SamplerPool(2, start_method="fork") as pool:
        pool.invoke_all(lambda G: G.worker_index)
except KeyboardInterrupt:
    print("interrupted")
deadline = time.monotonic() + 10  # ended and reaped by then
while time.monotonic() < deadline:
    with open(f"/proc/self/task/{threading.get_native_id()}/children") as f:
        left = [pid for pid in f.read().split() if int(pid) in forks]
    if not left:
        break
    time.sleep(0.05)
print("left", left)
"""
    assert python_output(script).splitlines() == ["interrupted", "left []"]


def test_a_process_a_task_forked_ends_at_its_sigterm():
    # It inherits the worker's SIGTERM handler: that unwound the child's copy of the task,
    # which would then go on serving in the worker's place.
    def fork_and_terminate(G, x):
        ready, tell = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(tell, b"x")  # CPython drops a signal that lands while fork() returns
            time.sleep(60)
            os._exit(0)
        os.read(ready, 1)
        os.close(ready)
        os.close(tell)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM

    with SamplerPool(2) as pool:
        assert pool.run_map(fork_and_terminate, [0]) == [True]
        assert pool.run_map(lambda G, x: G.worker_index, [0, 1]) == [0, 1]


def test_a_worker_that_ignores_sigterm_is_killed_after_ctrl_c(monkeypatch):
    from gymsamp.sampling import pool_worker

    monkeypatch.setattr(pool_worker, "JOIN_TIMEOUT_S", 0.2)  # fast: it ignores SIGTERM anyway
    before = {p.pid for p in mp.active_children()}
    with SamplerPool(2) as pool:
        old = _worker_pids(pool)

        def ignore_sigterm_and_interrupt_parent(G, seconds):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if G.worker_index == 0:
                os.kill(os.getppid(), signal.SIGINT)
            time.sleep(seconds)

        with pytest.raises(KeyboardInterrupt):
            pool.run_map(ignore_sigterm_and_interrupt_parent, [30.0, 30.0])
        _assert_gone(old, before)
        assert pool.run_map(lambda G, x: G.worker_index, [0, 1]) == [0, 1]


class _Marker:
    """Writes its file when released: whether a worker ended by unwinding (releasing G)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __del__(self) -> None:
        with open(self.path, "w") as f:
            f.write("released")


class _SlowMarker(_Marker):
    """A :class:`_Marker` whose release takes longer than the parent's SIGTERM period."""

    def __del__(self) -> None:
        time.sleep(0.3)  # three SIGTERMs land meanwhile
        super().__del__()


def _assert_ctrl_c_releases_what_g_holds(tmp_path, interrupt, marker=_Marker) -> None:
    """Each worker's G holds a ``marker`` (:class:`_Marker`); worker 0 runs
    ``interrupt(seconds)`` (which sends Ctrl-C to the parent), both then sleep 10 s: the
    KeyboardInterrupt ends the workers, and each one's G must be released (its marker file
    written)."""
    with SamplerPool(2) as pool:
        pool.invoke_all_map(
            lambda G, path: setattr(G, "held", marker(path)),
            [str(tmp_path / "0"), str(tmp_path / "1")],
        )

        def interrupt_parent(G, seconds):
            if G.worker_index == 0:
                interrupt(seconds)
            time.sleep(seconds)

        with pytest.raises(KeyboardInterrupt):
            pool.run_map(interrupt_parent, [10.0, 10.0])
    assert [(p.name, p.read_text()) for p in sorted(tmp_path.iterdir())] == [
        ("0", "released"),
        ("1", "released"),
    ]


def test_workers_ended_after_ctrl_c_release_what_g_holds(tmp_path):
    # E.g. a sampler in G: its vector env and semaphores are closed, not left to the resource
    # tracker ("leaked semaphore objects" at exit).
    _assert_ctrl_c_releases_what_g_holds(
        tmp_path, lambda seconds: os.kill(os.getppid(), signal.SIGINT)
    )


def test_a_release_of_g_outlasting_the_repeated_sigterm_completes(tmp_path):
    # The parent repeats SIGTERM every 0.1 s until the worker ends: only the first one may
    # unwind, a later one would cut the release of what G holds short.
    _assert_ctrl_c_releases_what_g_holds(
        tmp_path, lambda seconds: os.kill(os.getppid(), signal.SIGINT), _SlowMarker
    )


def _kill_then_sleep_unchecked(pid: int, sig: int, busy_s: float, seconds: float) -> None:
    """``os.kill(pid, sig)``, ``busy_s`` of busy waiting, then ``time.sleep(seconds)``, all in C
    calls chained by C iterators: the interpreter checks for signals nowhere in between."""
    deadline = time.monotonic() + busy_s
    busy = itertools.takewhile(functools.partial(operator.gt, deadline), iter(time.monotonic, None))
    calls = [os.kill, collections.deque, time.sleep]
    arguments = [[(pid, sig)], [(busy, 0)], [(seconds,)]]
    # One starmap per call, chained: each call is made by C code, on every Python (3.10 has no
    # operator.call).
    collections.deque(itertools.chain.from_iterable(map(itertools.starmap, calls, arguments)), 0)


def test_workers_ended_after_ctrl_c_release_g_when_sigterm_lands_before_a_sleep(tmp_path):
    # A SIGTERM that lands after the interpreter's last signal check and before a blocking call
    # starts (worker 0's time.sleep right after its kill() in the test above, preempted under
    # load) interrupts nothing: its Python handler ran after the 10 s sleep, so the worker was
    # killed at the join timeout with G unreleased. Widened here to 0.5 s of C busy waiting.
    def interrupt(seconds):
        time.sleep(0.3)  # the parent is surely waiting for results: it ends us at once
        _kill_then_sleep_unchecked(os.getppid(), signal.SIGINT, 0.5, seconds)

    _assert_ctrl_c_releases_what_g_holds(tmp_path, interrupt)


def test_unpicklable_argument_raises_its_error_and_pool_survives(pool2):
    pool2.invoke_all(lambda G: setattr(G, "kept", True))
    with pytest.raises(
        TypeError,
        match=r"argument 0 \(lock\) must be picklable to reach a SamplerPool worker process "
        r"\(cloudpickle; num_threads=1 .*\), got TypeError: cannot pickle '_thread.lock'",
    ):
        pool2.run_map(lambda G, x: x, [1, 2, threading.Lock(), 4])
    lock = threading.Lock()
    with pytest.raises(TypeError, match=r"func .*<lambda> must be picklable"):
        pool2.run_collect(2, lambda G, num: (lock, 1))
    with pytest.raises(TypeError, match=r"keyword argument 'x' \(lock\) must be picklable"):
        pool2.invoke_all(lambda G, x: x, x=lock)
    assert pool2.invoke_all(lambda G: G.kept) == [True, True]


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


def test_an_error_whose_str_fails_still_arrives_and_the_worker_survives(pool):
    def fail(G, x):
        G.kept = x
        raise _UnprintableError()

    pids = _worker_pids(pool)
    with pytest.raises(
        WorkerError, match=r"raised _UnprintableError in .*fail: <str\(\) of the .* failed"
    ):
        pool.run_map(fail, [7])
    # The worker that ran it lives on with its G (it died of the failing str() before).
    assert _worker_pids(pool) == pids
    assert 7 in pool.invoke_all(lambda G: getattr(G, "kept", None))


def test_system_exit_in_func_is_a_worker_error_in_every_mode(pool):
    import sys

    with pytest.raises(WorkerError, match=r"raised SystemExit in .*: bye"):
        pool.run_map(lambda G, x: sys.exit("bye"), [1])
    assert pool.run_map(lambda G, x: x, [2]) == [2]


def test_pool_cannot_be_pickled():
    import pickle

    with SamplerPool(1) as pool, pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(pool)


def test_the_global_start_method_stays_unset():
    # In a fresh interpreter: the test process's own start method may be set by other tests.
    import textwrap

    script = textwrap.dedent(
        """
        import multiprocessing as mp
        import os
        import gymnasium as gym
        from gymsamp.sampling import SamplerPool
        from gymsamp.sampling.errors import WorkerError
        from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv

        if __name__ == "__main__":
            with SamplerPool(2) as pool:
                assert pool.run_map(lambda G, x: x + 1, [1, 2]) == [2, 3]
                try:  # a worker dies in a call and is restarted
                    pool.run_map(lambda G, x: os._exit(3) if x else x, [0, 1])
                except WorkerError:
                    pass
                assert pool.run_map(lambda G, x: x, [5, 6]) == [5, 6]
            envs = BatchedAsyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2, 2)
            envs.close()
            assert mp.get_start_method(allow_none=True) is None
            mp.set_start_method("spawn")  # the caller's choice is still free
            print("free")
        """
    )
    assert python_output(script) == "free"


# -- argument checks ----------------------------------------------------------------------------


@pytest.mark.parametrize("num_threads", [1, 2])
def test_start_method_is_checked_in_every_mode(num_threads):
    with pytest.raises(ValueError, match=r"start_method must be None or one of \[.*\], got 'foo'"):
        SamplerPool(num_threads, start_method="foo")
    with pytest.raises(TypeError, match=r"start_method must be None or one of \[.*\], got 3"):
        SamplerPool(num_threads, start_method=3)


def test_functions_and_progress_bars_are_checked_up_front():
    with SamplerPool(1) as pool:
        # invoke_all(None) was a WorkerError from inside the worker.
        with pytest.raises(TypeError, match=r"func must be callable .*, got None"):
            pool.invoke_all(None)
        with pytest.raises(TypeError, match=r"func must be callable .*, got 3"):
            pool.run_map(3, [1])
        with pytest.raises(
            TypeError,
            match=r"progressbar must be None or have an update\(n\) "
            r"method .*, got 3",
        ):
            pool.run_map(lambda G, x: x, [1], progressbar=3)
        with pytest.raises(TypeError, match=r"collect_progressbar must be None or have"):
            pool.run_collect(1, lambda G, num: (num, 1), collect_progressbar="bar")
        assert pool.run_map(lambda G, x: x, [1]) == [1]


@pytest.mark.parametrize(
    ("index", "error"), [(-1, ValueError), ("a", TypeError), (True, TypeError), (1.0, TypeError)]
)
def test_global_namespace_worker_index_is_checked(index, error):
    with pytest.raises(error, match=rf"worker_index must be an int >= 0, got {index!r}"):
        GlobalNamespace(index)
    assert GlobalNamespace(np.int64(2)).worker_index == 2


def _sleep_long(G, x):
    time.sleep(3600)


def test_stop_from_another_thread_ends_a_running_call_and_starts_no_worker():
    # A watchdog's stop() while run_map waited on hanging tasks: run_map restarted the
    # "dead" workers, so the stopped pool held live ones and the interpreter hung at exit.
    before = {p.pid for p in mp.active_children()}
    pool = SamplerPool(2, start_method="fork")
    outcome: list[BaseException] = []

    def run():
        try:
            pool.run_map(_sleep_long, [0, 1])
        except BaseException as err:
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.5)  # the tasks are running
    pool.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], WorkerError)
    assert str(outcome[0]).startswith("the SamplerPool was stopped while _sleep_long ran")
    assert [p for p in mp.active_children() if p.is_alive() and p.pid not in before] == []


def test_concurrent_shutdowns_of_one_worker_end_it_once():
    # A stop() from another thread ends the workers of the call it interrupts, which ends
    # them too: both closed the same process handle at once, and one failed inside
    # multiprocessing (AttributeError: no attribute '_sentinel').
    import multiprocessing

    from gymsamp.sampling.pool_worker import PoolWorker

    ctx = multiprocessing.get_context()
    for _ in range(10):
        worker = PoolWorker(ctx, 0)
        worker.start()
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def end(worker=worker, barrier=barrier, errors=errors) -> None:
            barrier.wait()
            try:
                worker.shutdown(graceful=False)
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=end) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert worker.conn.closed


# -- stop() from another thread at the worst moments ----------------------------------------------
# Each hook below runs stop() in another thread at one exact point of a call and waits for it,
# so the interleaving is the same on every run (no sleeps).


def _stop_before_worker_starts(monkeypatch, pool: SamplerPool) -> list:
    """Make ``pool``'s next worker start run ``pool.stop()`` from another thread first; the
    workers made from then on are returned (for the checks and the cleanup)."""
    from gymsamp.sampling import sampler_pool

    real = sampler_pool.PoolWorker
    made: list = []

    def make(ctx, index):
        if not made:
            stopper = threading.Thread(target=pool.stop)
            stopper.start()
            stopper.join(30)
            assert not stopper.is_alive()
        made.append(real(ctx, index))
        return made[-1]

    monkeypatch.setattr(sampler_pool, "PoolWorker", make)
    return made


def _refuse_to_load() -> None:
    raise ValueError("refused on load")


class _LoadRefused:
    """Pickles in a worker, but fails to unpickle in the parent."""

    def __reduce__(self):
        return (_refuse_to_load, ())


def _exit_on_zero(G, x):
    if x == 0:
        os._exit(3)
    return x


def test_stop_landing_while_a_dead_worker_is_replaced_leaves_no_worker(monkeypatch):
    # The call checked that the pool was not stopped, then started the replacement of the
    # worker that died in it; a stop() in between ended the other workers and returned, and
    # the replacement ran on after it (the interpreter then hung at exit joining it).
    from gymsamp.sampling.pool_worker import shutdown_all

    before = {p.pid for p in mp.active_children()}
    pool = SamplerPool(2)
    made: list = []
    try:
        made = _stop_before_worker_starts(monkeypatch, pool)
        with pytest.raises(WorkerError, match="the SamplerPool was stopped while _exit_on_zero"):
            pool.run_map(_exit_on_zero, [0, 1])
        assert len(made) == 1  # the hook ran: stop() landed right before the replacement
        assert {p.pid for p in mp.active_children()} <= before
    finally:
        pool.stop()
        shutdown_all(made)


def test_stop_landing_while_a_call_restarts_all_workers_leaves_no_worker(monkeypatch):
    # After an exception in the parent (Ctrl-C) a call starts all workers afresh; a stop()
    # landing among those starts left the later ones running, and the call ran its tasks on
    # them as if the pool were not stopped.
    from gymsamp.sampling.pool_worker import shutdown_all

    before = {p.pid for p in mp.active_children()}
    pool = SamplerPool(2)
    made: list = []
    try:

        class Interrupting:
            def update(self, n):
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            pool.run_map(lambda G, x: x, [0], progressbar=Interrupting())
        assert pool._workers == [None, None]  # ended: the next call starts fresh ones
        made = _stop_before_worker_starts(monkeypatch, pool)
        with pytest.raises(WorkerError, match="the SamplerPool was stopped while .*<lambda> ran"):
            pool.run_map(lambda G, x: x, [0, 1])
        assert len(made) == 1  # stop() landed before the first start: none was started
        assert {p.pid for p in mp.active_children()} <= before
    finally:
        pool.stop()
        shutdown_all(made)


def test_a_second_concurrent_stop_returns_only_once_every_worker_ended():
    # stop() runs a one-shot finalizer: a second stop() (or a with-exit) while the first was
    # still ending the workers returned at once, with the workers still running.
    before = {p.pid for p in mp.active_children()}
    pool = SamplerPool(2)
    try:
        pids = _worker_pids(pool)
        first = pool._workers[0]
        real_shutdown = first.shutdown
        alive_after_second_stop: list[list[int]] = []

        def shutdown(graceful):
            if not alive_after_second_stop:  # the first stop(), about to end worker 0
                alive_after_second_stop.append([])
                second = threading.Thread(target=pool.stop)
                second.start()
                second.join(30)
                assert not second.is_alive()
                alive_after_second_stop[0] = [pid for pid in pids if _alive(pid)]
            real_shutdown(graceful)

        first.shutdown = shutdown
        pool.stop()
        assert alive_after_second_stop == [[]]
        _assert_gone(pids, before)
    finally:
        pool.stop()


def test_stop_from_another_thread_ends_an_in_process_call_after_its_running_task():
    # With num_threads=1 the call went on through all its tasks and returned, where with
    # workers the same stop() ends the call with a WorkerError.
    ran: list[int] = []
    with SamplerPool(1) as pool:

        def func(G, x):
            ran.append(x)
            if x == 1:
                stopper = threading.Thread(target=pool.stop)
                stopper.start()
                stopper.join(30)
            return x

        with pytest.raises(WorkerError, match="the SamplerPool was stopped while .*func ran"):
            pool.run_map(func, range(5))
        assert ran == [0, 1]
        with pytest.raises(RuntimeError, match="stopped"):
            pool.run_map(func, [0])


def test_a_replacement_that_fails_to_start_is_started_by_the_next_call(monkeypatch):
    # The dead worker's ended handle stayed in its slot when its replacement failed to start
    # (e.g. EMFILE), and every later call failed on it: "process object is closed".
    from gymsamp.sampling import sampler_pool

    real = sampler_pool.PoolWorker

    def fail(ctx, index):
        raise OSError(24, "Too many open files")

    with SamplerPool(2) as pool:
        monkeypatch.setattr(sampler_pool, "PoolWorker", fail)
        with pytest.raises(OSError, match="Too many open files"):
            pool.run_map(lambda G, x: os._exit(3), [0, 1])  # both die; neither restarts
        monkeypatch.setattr(sampler_pool, "PoolWorker", real)
        assert pool.invoke_all(lambda G: G.worker_index) == [0, 1]
        assert pool.run_map(_exit_on_zero, [1, 2]) == [1, 2]


@pytest.mark.parametrize("num_threads", [1, 2])
def test_a_call_from_another_thread_while_one_runs_is_refused(num_threads):
    # Both calls sent tasks to the same workers and read each other's replies: the second
    # thread's run_map returned the first one's results as its own, silently, and the first
    # call failed with a worker "died (exit code None)" that never died.
    refused: list[BaseException] = []

    class CallsFromAnotherThread:
        def __init__(self) -> None:
            self.updates = 0

        def update(self, n):
            self.updates += 1
            if self.updates == 1:
                refused.extend(
                    errors_in_another_thread(
                        lambda: pool.run_map(lambda G, x: -x, [1, 2]),
                        lambda: pool.invoke_all(lambda G: None),
                    )
                )

    with SamplerPool(num_threads) as pool:
        bar = CallsFromAnotherThread()
        assert pool.run_map(lambda G, x: x, range(6), progressbar=bar) == list(range(6))
        message = (
            "this SamplerPool was called while a call of it runs in another thread: a "
            "SamplerPool runs one call at a time (give each thread its own SamplerPool)"
        )
        assert [(type(err), str(err)) for err in refused] == [(RuntimeError, message)] * 2
        assert pool.run_map(lambda G, x: -x, [1, 2]) == [-1, -2]


def test_a_call_from_inside_a_call_of_an_in_process_pool_is_refused():
    # Only an in-process pool's function can reach its pool (a worker's gets no pickled pool);
    # the nested call ran the outer call's remaining tasks from inside one of them.
    with SamplerPool(1) as pool:
        with pytest.raises(
            WorkerError,
            match=r"raised RuntimeError in .*<lambda>: this SamplerPool was called inside its "
            r"running call \(from its function or progress bar\): a SamplerPool runs one "
            r"call at a time\n",
        ) as info:
            pool.run_map(lambda G, x: pool.run_map(lambda G, y: y, [x]), [1, 2])
        assert isinstance(info.value.__cause__, RuntimeError)
        assert pool.run_map(lambda G, x: x, [1, 2]) == [1, 2]
