"""check_act_equal: the actions (or applied actions) of rollouts compared."""

from __future__ import annotations

import numpy as np
import pytest

from gymsamp.data import StepSequence, check_act_equal


def _seq(actions, applied=None):
    n = len(actions)
    data = {"actions_applied": applied} if applied is not None else {}
    return StepSequence(rewards=[0.0] * n, observations=[0.0] * (n + 1), actions=actions, **data)


def test_actions_or_applied_actions_are_compared():
    a = _seq([0.5, 3.0], applied=[0.5, 1.0])
    b = _seq([0.5, 1.0], applied=[0.5, 1.0])
    assert check_act_equal(a, a)
    assert not check_act_equal(a, b)
    assert check_act_equal(a, b, check_applied=True)
    assert check_act_equal([a, b], [a, b])
    assert not check_act_equal([a], [a, b])
    assert not check_act_equal(a, _seq([0.5]))
    np.testing.assert_array_equal(a.actions, [0.5, 3.0])


@pytest.mark.parametrize("flag", ["yes", None, 1])
def test_check_applied_must_be_a_bool(flag):
    # "yes" once asked for actions_applied (a KeyError where there is none), None for actions.
    a = _seq([0.5])
    with pytest.raises(TypeError, match=r"check_applied must be a bool \(True or False\), got"):
        check_act_equal(a, a, check_applied=flag)


def test_check_applied_names_the_rollout_without_applied_actions():
    # Was a KeyError "name must be a data field, got 'actions_applied'", not naming
    # check_applied.
    with_applied, without = _seq([0.5], applied=[0.5]), _seq([0.5])
    message = r"^check_applied=True compares actions_applied, but {} has none \(it has \[.*\]\)"
    with pytest.raises(ValueError, match=message.format("rollout_2")):
        check_act_equal(with_applied, without, check_applied=True)
    with pytest.raises(ValueError, match=message.format(r"rollout_1\[1\]")):
        check_act_equal([with_applied, without], [with_applied] * 2, check_applied=True)
    assert check_act_equal(with_applied, without)  # the commanded actions are equal


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (None, r"^rollout_1 must be a StepSequence or a list of them, got NoneType$"),
        ({1}, r"^rollout_1 must be a StepSequence or a list of them, got set$"),
        ([1], r"^rollout_1\[0\] must be a StepSequence, got int$"),
    ],
)
def test_lists_must_hold_rollouts(bad, message):
    # None failed in len() and [1] with "'int' object has no attribute 'get_data_values'".
    with pytest.raises(TypeError, match=message):
        check_act_equal(bad, [_seq([0.5])])


def test_a_rollout_and_a_list_are_refused_together():
    a = _seq([0.5])
    message = r"rollout_1 and rollout_2 must both be StepSequences or both lists of them, got {}"
    with pytest.raises(TypeError, match=message.format("StepSequence and list")):
        check_act_equal(a, [a])
    with pytest.raises(TypeError, match=message.format("list and StepSequence")):
        check_act_equal([a], a)
