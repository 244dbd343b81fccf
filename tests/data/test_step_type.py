import numpy as np
import pytest

from gymsamp.data import StepType, step_types_from_flags


class TestGetStepType:
    @pytest.mark.parametrize(
        ("step_cnt", "max_len", "done", "expected"),
        [
            (1, 5, False, StepType.FIRST),
            (2, 5, False, StepType.MID),
            (3, 5, True, StepType.TERMINAL),
            (5, 5, False, StepType.TIMEOUT),
            # done wins over the time limit: the seed's example terminates at step 5 of 5 in
            # TERMINAL (garage's code had the time limit first)
            (5, 5, True, StepType.TERMINAL),
            (1, 1, True, StepType.TERMINAL),
            (1, None, True, StepType.TERMINAL),
            (1, 1, False, StepType.TIMEOUT),
            (7, None, False, StepType.MID),
        ],
    )
    def test_rules(self, step_cnt, max_len, done, expected):
        assert StepType.get_step_type(step_cnt, max_len, done) is expected

    @pytest.mark.parametrize("step_cnt", [0, -1, None])
    def test_step_cnt_below_one_raises(self, step_cnt):
        with pytest.raises(ValueError, match=r"step_cnt must be >= 1.*reset\(\)"):
            StepType.get_step_type(step_cnt, 5, False)

    def test_values_match_garage(self):
        assert [int(t) for t in StepType] == [0, 1, 2, 3]
        assert [t.name for t in StepType] == ["FIRST", "MID", "TERMINAL", "TIMEOUT"]


class TestFromFlags:
    def test_termination_wins_and_one_step_episode_has_no_first(self):
        types = step_types_from_flags([True], [True])
        assert types.tolist() == [StepType.TERMINAL]
        assert types.dtype == np.int8

    def test_single_episode(self):
        types = step_types_from_flags([0, 0, 0, 0], [0, 0, 0, 1])
        assert types.tolist() == [0, 1, 1, 3]

    def test_bounds_mark_every_first(self):
        term = [0, 0, 1, 0, 1, 0, 0]
        trunc = [0, 0, 0, 0, 1, 0, 0]
        types = step_types_from_flags(term, trunc, rollout_bounds=[0, 3, 5, 7])
        assert types.tolist() == [0, 1, 2, 0, 2, 0, 1]

    def test_reference_loop(self):
        rng = np.random.default_rng(3)
        term = rng.random(200) < 0.05
        trunc = rng.random(200) < 0.05
        ends = np.flatnonzero(term | trunc) + 1
        bounds = np.unique(np.concatenate([[0], ends, [200]]))
        expected = []
        starts = set(bounds[:-1].tolist())
        for t in range(200):
            if term[t]:
                expected.append(StepType.TERMINAL)
            elif trunc[t]:
                expected.append(StepType.TIMEOUT)
            elif t in starts:
                expected.append(StepType.FIRST)
            else:
                expected.append(StepType.MID)
        assert step_types_from_flags(term, trunc, bounds).tolist() == expected

    def test_shape_mismatch_raises(self):
        with pytest.raises(ValueError, match="equal length"):
            step_types_from_flags([True, False], [True])

    @pytest.mark.parametrize(
        "bounds",
        [
            [0, 5],  # does not end at the number of steps
            [1, 2],  # does not start at 0
            [0, 1, 1, 2],  # not strictly increasing
            [0],  # no rollout
            [[0, 2]],  # not 1-D
        ],
    )
    def test_bad_bounds_raise_naming_rollout_bounds(self, bounds):
        with pytest.raises(
            ValueError,
            match=r"rollout_bounds must be strictly increasing from 0 to the length 2, got",
        ):
            step_types_from_flags([0, 0], [0, 0], rollout_bounds=bounds)

    def test_non_integer_bounds_raise(self):
        with pytest.raises(TypeError, match=r"rollout_bounds must be integers, got \[0.0, 2.5\]"):
            step_types_from_flags([0, 0], [0, 0], rollout_bounds=[0.0, 2.5])

    def test_valid_bounds_of_numpy_ints(self):
        types = step_types_from_flags([0, 0, 0], [0, 0, 0], rollout_bounds=np.array([0, 1, 3]))
        assert types.tolist() == [0, 0, 1]


# --- input validation (DESIGN §8: "`param` must be <rule>, got <value>") ----------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([0.5, 0, 0], r"terminated must hold only bools \(or 0/1\), got 0.5 at index 0"),
        ([0, np.nan, 0], r"terminated must hold only bools \(or 0/1\), got nan at index 1"),
        ([0, 0, 2], r"terminated must hold only bools \(or 0/1\), got 2 at index 2"),
        (["a", "b", "c"], r"terminated must hold only bools \(or 0/1\), got \['a', 'b', 'c'\]"),
        # Ragged nesting numpy cannot make an array of.
        ([[0], [0, 1], 0], r"terminated must be a 1-D array of bools, got \[\[0\], \[0, 1\], 0\]"),
    ],
)
def test_flags_other_than_bools_or_0_1_raise(flags, message):
    with pytest.raises(ValueError, match=message):
        step_types_from_flags(flags, [0, 0, 0])


def test_truncated_flags_are_checked_and_named():
    with pytest.raises(ValueError, match=r"truncated must hold only bools \(or 0/1\), got -1"):
        step_types_from_flags([0, 0], [0, -1])


def test_bool_and_0_1_flags_are_accepted():
    expected = [0, 3]
    assert step_types_from_flags(np.array([False, False]), [False, True]).tolist() == expected
    assert step_types_from_flags([0, 0], np.array([0, 1], dtype=np.int64)).tolist() == expected
    assert step_types_from_flags([0.0, 0.0], (0.0, 1.0)).tolist() == expected
    assert step_types_from_flags([np.False_, np.False_], [0, np.True_]).tolist() == expected


@pytest.mark.parametrize("bounds", [[], "ab", [0, [1, 2]]])
def test_empty_or_non_integer_bounds_raise(bounds):
    error = ValueError if bounds == [] else TypeError
    with pytest.raises(error, match=r"rollout_bounds must be"):
        step_types_from_flags([0, 0], [0, 0], rollout_bounds=bounds)


@pytest.mark.parametrize("max_len", [0, -5])
def test_get_step_type_max_episode_length_below_one_raises(max_len):
    with pytest.raises(ValueError, match=rf"max_episode_length must be an int >= 1, got {max_len}"):
        StepType.get_step_type(1, max_len, False)


def test_get_step_type_bad_types_raise():
    with pytest.raises(TypeError, match=r"step_cnt must be an int >= 1, got 'a'"):
        StepType.get_step_type("a", 5, False)
    with pytest.raises(TypeError, match=r"max_episode_length must be an int >= 1, got 2.5"):
        StepType.get_step_type(1, 2.5, False)
    with pytest.raises(TypeError, match=r"done must be a bool \(True or False\), got 'no'"):
        StepType.get_step_type(1, 5, "no")


def test_get_step_type_accepts_numpy_scalars():
    step_type = StepType.get_step_type(np.int64(5), np.int64(5), np.bool_(False))
    assert step_type is StepType.TIMEOUT
    assert StepType.get_step_type(2, None, np.True_) is StepType.TERMINAL
