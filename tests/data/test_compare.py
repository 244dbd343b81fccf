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
