"""The request/reply signals of the batched vector env (gymsamp.sampling.handshake)."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from gymsamp.sampling.handshake import REPLY, REQUEST, Handshake


@pytest.fixture
def signals() -> Handshake:
    return Handshake(multiprocessing.get_context(), 3)


def test_each_signal_carries_its_message_flag_to_its_worker_and_direction(signals):
    signals.post(REQUEST, 2, message=True)
    signals.post(REPLY, 2, message=False)
    signals.post(REQUEST, 0, message=False)
    assert signals.wait(REPLY, 2, spin_s=0.0, alive=lambda: True) is False
    assert signals.wait(REQUEST, 2, spin_s=0.0, alive=lambda: True) is True
    assert signals.wait(REQUEST, 0, spin_s=1e-3, alive=lambda: True) is False
    for direction, worker in [(REQUEST, 1), (REQUEST, 2), (REPLY, 0)]:  # nothing left
        with pytest.raises(TimeoutError, match="no signal from the other side within 0.0 s"):
            signals.wait(direction, worker, spin_s=0.0, alive=lambda: True, timeout=0.0)


def test_signals_count_so_none_is_lost(signals):
    for message in (True, False):
        signals.post(REPLY, 1, message=message)
    signals.wait(REPLY, 1, spin_s=0.0, alive=lambda: True)  # the flag is the latest one
    assert signals.wait(REPLY, 1, spin_s=0.0, alive=lambda: True) is False
    with pytest.raises(TimeoutError):
        signals.wait(REPLY, 1, spin_s=0.0, alive=lambda: True, timeout=0.01)


@pytest.mark.parametrize("spin_s", [0.0, 1e-4, 1.0])
def test_a_signal_wakes_a_checking_or_sleeping_waiter(signals, spin_s):
    timer = threading.Timer(0.05, lambda: signals.post(REQUEST, 1, message=True))
    start = time.monotonic()
    timer.start()
    try:
        assert signals.wait(REQUEST, 1, spin_s=spin_s, alive=lambda: True, timeout=5.0)
    finally:
        timer.cancel()
    assert 0.04 < time.monotonic() - start < 2.0


def test_the_timeout_bounds_the_wait(signals):
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="within 0.2 s"):
        signals.wait(REPLY, 0, spin_s=0.01, alive=lambda: True, timeout=0.2)
    assert 0.19 < time.monotonic() - start < 1.0


def test_a_sleeping_waiter_notices_that_the_other_side_is_gone(signals):
    calls = []

    def alive() -> bool:
        calls.append(time.monotonic())
        return len(calls) < 3

    start = time.monotonic()
    with pytest.raises(EOFError, match="the other side of the handshake is gone"):
        signals.wait(REPLY, 0, spin_s=0.0, alive=alive, check_every_s=0.02)
    assert len(calls) == 3  # asked only after each sleep, not while checking
    assert calls[0] - start >= 0.015


def _reply_from_a_process(signals: Handshake) -> None:
    assert signals.wait(REQUEST, 1, spin_s=1e-3, alive=lambda: True, timeout=10.0) is False
    signals.post(REPLY, 1, message=True)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_signals_cross_processes_under_every_start_method(method):
    ctx = multiprocessing.get_context(method)
    signals = Handshake(ctx, 2)
    process = ctx.Process(target=_reply_from_a_process, args=(signals,))
    process.start()
    try:
        signals.post(REQUEST, 1, message=False)
        assert signals.wait(REPLY, 1, spin_s=1e-3, alive=process.is_alive, timeout=30.0)
    finally:
        process.join(timeout=10.0)
        if process.is_alive():
            process.kill()
            process.join()
    assert process.exitcode == 0
