"""min_steps results past a failed surplus rollout: against a plain reference, and the number
of times a failing rollout runs again (each run of a hanging one costs a step timeout)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gymsamp.data import StepSequence
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.surplus import collect_without_failed_surplus


def _rollout(length):
    return StepSequence(
        rewards=[0.0] * length, observations=[0.0] * (length + 1), actions=[0] * length
    )


class _Prefixes:
    """``collect_prefix`` over rollouts of ``lengths``; the rollouts in ``failing`` fail (the
    first one of a prefix is named, as a collection that stops at the failure would)."""

    def __init__(self, lengths, failing):
        self.rollouts = [_rollout(n) for n in lengths]
        self.failing = set(failing)
        self.calls, self.failed_runs = [], 0

    def __call__(self, quota):
        n = quota.min_rollouts
        self.calls.append(n)
        bad = sorted(self.failing & set(range(n)))
        if bad:
            self.failed_runs += 1
            err = WorkerError(f"rollout {bad[0]} failed")
            err.rollout_indices = (bad[0],)
            raise err
        return self.rollouts[:n]


def _reference(lengths, failing, min_steps, min_rollouts):
    """The shortest prefix meeting both bounds, or None where it holds a failing rollout."""
    total = 0
    for k, n in enumerate(lengths):
        total += n
        if total >= min_steps and k + 1 >= (min_rollouts or 0):
            return None if failing & set(range(k + 1)) else k + 1
    raise AssertionError("the lengths never meet the quota")


def _original_error(suspects):
    err = WorkerError("step timed out")
    err.rollout_indices = tuple(suspects)
    return err


def test_a_hang_in_the_first_suspect_costs_no_second_timeout_when_the_result_lies_before_it():
    # Rollouts of 5 steps, min_steps=10: the result is 0..1. A timeout named the running
    # rollout 2 and the queued 3; rollout 2 hangs. Running 0..2 again would hang again.
    prefixes = _Prefixes([5] * 6, failing={2})
    result = collect_without_failed_surplus(prefixes, Quota(min_steps=10), _original_error((2, 3)))
    assert len(result) == 2
    assert prefixes.calls == [2]
    assert prefixes.failed_runs == 0


def test_the_result_needs_the_hanging_rollout_one_more_run_then_the_error():
    prefixes = _Prefixes([5] * 6, failing={2})
    with pytest.raises(WorkerError, match="rollout 2 failed"):
        collect_without_failed_surplus(prefixes, Quota(min_steps=12), _original_error((2, 3)))
    assert prefixes.calls == [2, 3]
    assert prefixes.failed_runs == 1


def test_the_queued_suspect_was_at_fault_the_running_one_joins_the_result():
    prefixes = _Prefixes([5] * 6, failing={3})
    result = collect_without_failed_surplus(prefixes, Quota(min_steps=12), _original_error((2, 3)))
    assert len(result) == 3
    assert prefixes.failed_runs == 0


@pytest.mark.parametrize("seed", range(10))
def test_matches_the_reference_and_runs_no_failing_rollout_again_where_the_result_lacks_it(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 6, size=12).tolist()
    for a, b in itertools.combinations(range(1, 10), 2):
        for failing in ({a}, {b}, {a, b}):
            suspects = sorted({a, b})
            for min_rollouts in (None, 2):
                min_steps = int(rng.integers(1, sum(lengths[: b + 2]) + 1))
                prefixes = _Prefixes(lengths, failing)
                expected = _reference(lengths, failing, min_steps, min_rollouts)
                quota = Quota(min_steps=min_steps, min_rollouts=min_rollouts)
                if expected is None:
                    with pytest.raises(WorkerError):
                        collect_without_failed_surplus(prefixes, quota, _original_error(suspects))
                    # Proving the result needs a failing rollout takes one run of it at most.
                    assert prefixes.failed_runs <= 1
                    continue
                result = collect_without_failed_surplus(prefixes, quota, _original_error(suspects))
                assert len(result) == expected
                assert all(r is ro for r, ro in zip(result, prefixes.rollouts, strict=False))
                assert prefixes.failed_runs == 0  # no failing rollout ran again


def test_prefixes_shorter_than_min_rollouts_are_not_collected():
    # min_rollouts=4: no prefix of fewer than 4 rollouts can be the result, so the suspect
    # rollout 2 caps no prefix worth a run; the first run collects 0..4, short of suspect 5.
    prefixes = _Prefixes([5] * 8, failing={5})
    quota = Quota(min_steps=10, min_rollouts=4)
    result = collect_without_failed_surplus(prefixes, quota, _original_error((2, 5)))
    assert len(result) == 4
    assert prefixes.calls == [5]
    assert prefixes.failed_runs == 0


@pytest.mark.parametrize("named", [(), (4,)])
def test_a_rerun_failure_that_names_no_rollout_before_the_cap_is_raised_as_it_is(named):
    # A rerun of rollouts 0..1 that fails naming no rollout (a lost worker process) or one
    # past them tells nothing about the prefix: that failure is the call's.
    rerun_error = WorkerError("worker 0 died")
    rerun_error.rollout_indices = named
    calls = []

    def collect_prefix(quota):
        calls.append(quota.min_rollouts)
        raise rerun_error

    with pytest.raises(WorkerError) as info:
        collect_without_failed_surplus(collect_prefix, Quota(min_steps=10), _original_error((2,)))
    assert info.value is rerun_error
    assert calls == [2]
