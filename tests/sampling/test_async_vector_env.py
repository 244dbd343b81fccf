"""gymsamp's AsyncVectorEnv ("async" mode): dead workers, failing factories, close, seeds."""

from __future__ import annotations

import functools
import gc
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
from gymnasium.error import AlreadyPendingCallError
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from gymsamp.envs import CountingEnv
from gymsamp.envs.toy_faults import HangingEnv, RaisingEnv
from gymsamp.sampling.async_vector_env import _AsyncVectorEnv, _ProbeEnv
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.vector_envs import EnvFactory, SubEnvFactory, make_vector_env
from tests.sampling.gc_order import finalize_before_owner

Build = Callable[[list[Callable[[], Any]]], _AsyncVectorEnv]


def children() -> int:
    return len([p for p in multiprocessing.active_children() if p.is_alive()])


def zeros(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64)


def build_async(fns: list[Callable[[], Any]]) -> _AsyncVectorEnv:
    """The vector env ``make_vector_env(..., "async")`` builds, one factory per sub-env."""
    return _AsyncVectorEnv(
        [SubEnvFactory(EnvFactory(fn), i, queued_resets=True) for i, fn in enumerate(fns)],
        autoreset_mode=AutoresetMode.DISABLED,
    )


@pytest.fixture
def make() -> Iterator[Build]:
    """Builds vector envs and ends all of them at teardown; no worker may outlive the test."""
    built: list[_AsyncVectorEnv] = []
    before = children()

    def build(fns: list[Callable[[], Any]]) -> _AsyncVectorEnv:
        envs = build_async(fns)
        built.append(envs)
        return envs

    yield build
    for envs in built:
        envs.close(terminate=True)
    assert children() == before


# --- envs and factories for the tests (module level: picklable under any start method) ---


class ExitEnv(CountingEnv):
    """Ends its worker process with exit code 3 in ``step``, after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay

    def step(self, action: Any) -> Any:
        time.sleep(self.delay)
        os._exit(3)


class SlowRaisingEnv(RaisingEnv):
    """A RaisingEnv that raises in its first step, ``delay`` seconds late."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(raise_at=1)
        self.delay = delay

    def step(self, action: Any) -> Any:
        time.sleep(self.delay)
        return super().step(action)


def in_worker() -> bool:
    return multiprocessing.parent_process() is not None


def fails_in_worker() -> CountingEnv:
    if in_worker():  # the parent's probe env builds fine: only the worker fails
        raise OSError("no simulator licence in 100% of workers")
    return CountingEnv()


def exits_in_worker() -> CountingEnv:
    if in_worker():
        os._exit(5)
    return CountingEnv()


def assert_closes_every_worker(envs: _AsyncVectorEnv, before: int) -> None:
    envs.close()  # after a failure: terminates the rest, raises nothing
    assert envs.closed
    assert children() == before
    assert not any(process.is_alive() for process in envs.processes)
    envs.close()  # twice is fine
    envs.close(terminate=True)


# --- dead workers -------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["step", "reset"])
def test_a_killed_worker_names_its_sub_env_and_exit_code(make: Build, call: str) -> None:
    before = children()
    envs = make([CountingEnv] * 3)
    envs.reset(seed=0)
    assert children() == before + 3
    os.kill(envs.processes[1].pid, signal.SIGKILL)  # type: ignore[arg-type]
    envs.processes[1].join(timeout=5)  # dead between two calls
    with pytest.raises(WorkerError, match=r"^worker 1 \(sub-env 1\) died unexpectedly") as info:
        envs.step(zeros(3)) if call == "step" else envs.reset()
    assert isinstance(info.value, RuntimeError)
    assert (info.value.env_index, info.value.worker_index) == (1, 1)
    assert "exit code -9" in str(info.value)
    with pytest.raises(WorkerError, match="unusable after the failure of sub-env 1") as info:
        envs.step(zeros(3))
    assert info.value.env_index == 1
    assert children() == before + 2  # the others still run, until close
    assert_closes_every_worker(envs, before)


def test_a_sub_env_exiting_in_step_names_it_and_its_exit_code(make: Build) -> None:
    before = children()
    envs = make([CountingEnv, CountingEnv, ExitEnv])
    envs.reset()
    with pytest.raises(WorkerError, match=r"worker 2 \(sub-env 2\) died .*exit code 3") as info:
        envs.step(zeros(3))
    assert (info.value.env_index, info.value.worker_index) == (2, 2)
    assert_closes_every_worker(envs, before)


@pytest.mark.filterwarnings("ignore:.*Calling `close` while waiting for a pending call")
def test_close_with_a_pending_step_after_a_death(make: Build) -> None:
    before = children()
    envs = make([CountingEnv] * 3)
    envs.reset()
    envs.step_async(zeros(3))
    os.kill(envs.processes[0].pid, signal.SIGKILL)  # type: ignore[arg-type]
    assert_closes_every_worker(envs, before)


def test_a_forgotten_env_whose_pipes_were_finalized_first_closes_them_not_again() -> None:
    before = children()
    envs = build_async([CountingEnv] * 2)
    envs.reset()
    second_closes = finalize_before_owner([pipe.conn for pipe in envs.parent_pipes])
    envs.__del__()  # what garbage collection calls next on the same cycle
    assert second_closes == []
    assert children() == before


def test_garbage_collection_after_a_death_is_quiet_and_ends_every_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    before = children()
    envs = build_async([CountingEnv] * 3)
    envs.reset()
    os.kill(envs.processes[2].pid, signal.SIGKILL)  # type: ignore[arg-type]
    with pytest.raises(WorkerError, match="sub-env 2"):
        envs.step(zeros(3))
    del envs
    gc.collect()
    assert children() == before
    assert unraisable == []  # no "Exception ignored in __del__"


# --- factories that fail only in the worker -----------------------------------------------


def test_a_factory_failing_in_its_worker_names_the_sub_env_and_the_error() -> None:
    before = children()
    with pytest.raises(WorkerError, match="sub-env 1 raised OSError while being built") as info:
        build_async([CountingEnv, fails_in_worker, CountingEnv])
    assert (info.value.env_index, info.value.worker_index) == (1, 1)
    assert "no simulator licence in 100% of workers" in info.value.message
    assert info.value.remote_traceback is not None
    assert "in fails_in_worker" in info.value.remote_traceback
    assert children() == before


def test_factories_failing_in_every_worker_name_the_lowest_sub_env() -> None:
    before = children()
    with pytest.raises(WorkerError, match="sub-env 0 raised OSError") as info:
        make_vector_env(EnvFactory(fails_in_worker), 3, "async")
    assert info.value.env_index == 0
    assert children() == before


def test_a_factory_exiting_in_its_worker_names_the_sub_env_and_exit_code() -> None:
    before = children()
    with pytest.raises(WorkerError, match=r"worker 1 \(sub-env 1\) died .*exit code 5") as info:
        build_async([CountingEnv, exits_in_worker])
    assert info.value.env_index == 1
    assert children() == before


def makes_a_vector_env() -> Any:
    return SyncVectorEnv([CountingEnv])


def makes_no_env() -> Any:
    return 3


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (makes_no_env, r"env factory makes_no_env must return a gymnasium.Env, got int"),
        # A VectorEnv is no gymnasium.Env: the gymnasium.Env check once caught it first, so its
        # own message ("a single env") never showed.
        (
            makes_a_vector_env,
            r"env factory makes_a_vector_env must return a single env, got a VectorEnv \(Sync",
        ),
    ],
)
def test_a_factory_returning_no_single_env_is_refused_with_what_it_returned(
    fn: Callable[[], Any], match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        EnvFactory(fn)()


# --- several failures in one step ---------------------------------------------------------


def raising() -> RaisingEnv:
    return RaisingEnv(raise_at=1)


def slow_raising() -> SlowRaisingEnv:
    return SlowRaisingEnv(delay=0.3)


def slow_exit() -> ExitEnv:
    return ExitEnv(delay=0.3)


@pytest.mark.parametrize(
    ("fns", "lowest", "match"),
    [
        # Sub-env 2 reports last: naming the last report (Gymnasium's way) would name it.
        ([raising, raising, slow_raising], 0, r"^sub-env 0 raised ToyEnvError in step"),
        # A death (no report) and a reported error: the lower of the two is named.
        (
            [CountingEnv, slow_exit, raising],
            1,
            r"^worker 1 \(sub-env 1\) died unexpectedly \(exit code 3\)",
        ),
    ],
)
def test_the_lowest_failing_sub_env_is_named(
    make: Build, fns: list[Callable[[], Any]], lowest: int, match: str
) -> None:
    before = children()
    envs = make(fns)
    envs.reset()
    with pytest.raises(WorkerError, match=match) as info:
        envs.step(zeros(3))
    assert (info.value.env_index, info.value.worker_index) == (lowest, lowest)
    assert_closes_every_worker(envs, before)


# --- timeouts, ordinary close, seeds and masks ----------------------------------------------


def test_after_a_timeout_the_env_is_unusable_and_close_terminates(make: Build) -> None:
    before = children()
    envs = make([CountingEnv, lambda: HangingEnv(hang_at=1, hang_seconds=60), CountingEnv])
    envs.reset()
    envs.step_async(zeros(3))
    with pytest.raises(multiprocessing.TimeoutError) as info:
        envs.step_wait(timeout=0.2)
    assert str(info.value) == "sub-env 1 did not finish its step within 0.2 s"  # the hanging one
    assert info.value.env_indices == [1]
    with pytest.raises(WorkerError, match="unusable after a call timed out"):
        envs.step(zeros(3))
    start = time.monotonic()
    assert_closes_every_worker(envs, before)
    assert time.monotonic() - start < 5.0


def test_an_ordinary_close_ends_every_worker(make: Build) -> None:
    before = children()
    envs = make([CountingEnv] * 3)
    envs.reset()
    assert envs.step(zeros(3))[1].tolist() == [1.0, 1.0, 1.0]
    assert_closes_every_worker(envs, before)


class _SlowCloseInWorker(CountingEnv):
    """Takes a minute to close in its worker (the parent's probe env closes at once)."""

    def close(self) -> None:
        if in_worker():
            time.sleep(60)


def test_a_close_that_takes_over_its_timeout_terminates_the_workers(
    make: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = children()
    envs = make([CountingEnv, _SlowCloseInWorker, CountingEnv])
    envs.reset()
    slow = envs.processes[1]
    terminated: list[bool] = []
    terminate = slow.terminate
    monkeypatch.setattr(slow, "terminate", lambda: (terminated.append(True), terminate())[1])
    envs.close(timeout=0.2)  # graceful, but sub-env 1's close() would take a minute
    assert envs.closed
    assert children() == before
    assert terminated == [True]  # ended while still in its close(), not waited for


def test_ctrl_c_in_a_graceful_close_ends_every_worker_and_is_raised(
    make: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = children()
    envs = make([CountingEnv] * 2)
    envs.reset()

    def interrupted(timeout: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(envs, "_close_gracefully", interrupted)
    with pytest.raises(KeyboardInterrupt):
        envs.close()
    assert children() == before
    assert envs.processes == []


def test_a_close_interrupted_before_it_ended_every_worker_leaves_them_to_the_next(
    make: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C while close() waits for a worker that ignores SIGTERM (hanging in a step) ends
    # the close with a worker still running. The close dropped every process handle all the
    # same, so the next close (the sampler's, a finalizer's) had none left to kill and the
    # worker outlived it.
    before = children()
    envs = make([CountingEnv] * 2)
    envs.reset()
    first, second = envs.processes
    end_workers = envs._end_workers

    def interrupted() -> None:  # the first worker ended, then Ctrl-C
        monkeypatch.setattr(envs, "_end_workers", end_workers)  # the next close ends them all
        first.terminate()
        first.join()
        raise KeyboardInterrupt

    monkeypatch.setattr(envs, "_end_workers", interrupted)
    with pytest.raises(KeyboardInterrupt):
        envs.close(terminate=True)
    assert not envs.closed
    assert envs.processes == [second]  # the ended one released, the running one kept
    assert second.is_alive()
    envs.close(terminate=True)
    assert envs.closed
    assert children() == before
    assert envs.processes == []


def test_reset_takes_the_seeds_and_masks_the_other_vector_envs_take(make: Build) -> None:
    envs = make([CountingEnv] * 3)
    draws = {s: int(CountingEnv().reset(seed=s)[1]["reset_seed_draw"]) for s in range(1, 7)}
    _, infos = envs.reset(seed=(1, 2, 3))
    assert infos["reset_seed_draw"].tolist() == [draws[1], draws[2], draws[3]]
    _, infos = envs.reset(seed=np.int64(4))
    assert infos["reset_seed_draw"].tolist() == [draws[4], draws[5], draws[6]]
    with pytest.raises(ValueError, match="seed must hold num_envs=3 seeds, got 2"):
        envs.reset(seed=(1, 2))
    with pytest.raises(TypeError, match="numpy bool array"):
        envs.reset(options={"reset_mask": [True, False, True]})
    envs.step(zeros(3))  # the refused resets sent nothing: the env is still in step
    _, infos = envs.reset(seed=[None, 2, None], options={"reset_mask": np.array([0, 1, 0], bool)})
    assert infos["_reset_seed_draw"].tolist() == [False, True, False]
    assert infos["reset_seed_draw"][1] == draws[2]


def test_a_second_step_async_with_a_queued_reset_is_refused_while_one_is_pending(
    make: Build,
) -> None:
    envs = make([CountingEnv] * 2)
    envs.reset()
    envs.step_async(zeros(2))
    envs.queue_reset(0, seed=3)  # the next step message carries it
    with pytest.raises(AlreadyPendingCallError, match="pending call to `step` to complete"):
        envs.step_async(zeros(2))
    assert envs.step_wait(timeout=5)[1].tolist() == [1.0, 1.0]  # the pending one completes


class _ClassMetadataEnv(CountingEnv):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}  # the class's dict, shared


def test_the_dummy_env_writes_no_autoreset_mode_into_the_env_class_metadata() -> None:
    # Gymnasium < 1.4's AsyncVectorEnv sets metadata["autoreset_mode"] on the dummy env's
    # metadata, the env class's own dict: every vector env of that class then reported the
    # last-built one's mode (a user's SAME_STEP SyncVectorEnv was collected as DISABLED).
    probe = _ProbeEnv(_ClassMetadataEnv())
    probe.metadata["autoreset_mode"] = AutoresetMode.NEXT_STEP  # as Gymnasium < 1.4 does
    assert _ClassMetadataEnv.metadata == {"render_modes": []}
    assert probe.metadata == {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}
    envs = _AsyncVectorEnv([_ClassMetadataEnv] * 2, autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
        assert _ClassMetadataEnv.metadata == {"render_modes": []}
    finally:
        envs.close()


class _CloseFails(CountingEnv):
    """Its close() raises with ``message`` (a renderer already gone)."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def close(self) -> None:
        raise OSError(self.message)


def test_a_close_that_fails_in_several_sub_envs_names_the_lowest(make: Build) -> None:
    # Every sub-env is closed and every worker ends; of the failures, the lowest sub-env's is
    # raised (as every mode reports a failure), whichever worker reported first.
    envs = make(
        [
            CountingEnv,
            functools.partial(_CloseFails, "renderer 1 gone"),
            functools.partial(_CloseFails, "renderer 2 gone"),
        ]
    )
    envs.reset(seed=0)
    with pytest.raises(WorkerError, match="renderer 1 gone") as info:
        envs.close()
    assert info.value.env_index == 1
    assert "sub-env 1" in str(info.value)
    assert envs.closed  # every worker ended (the fixture counts them)


def test_a_close_after_an_interrupted_close_ends_what_is_left(
    make: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A close() interrupted by Ctrl-C ends the workers and drops the error queue; the next
    # close() then tried a graceful close again and failed on the dropped queue
    # (AttributeError: 'NoneType' object has no attribute 'get').
    envs = make([CountingEnv] * 2)
    envs.reset()

    def ctrl_c(self: _AsyncVectorEnv, timeout: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_AsyncVectorEnv, "_close_gracefully", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        envs.close()
    monkeypatch.undo()
    assert envs.processes == []  # every worker ended already
    assert not envs.closed
    envs.close()
    assert envs.closed
