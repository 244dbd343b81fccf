"""Tests of gymsamp.stats' schedules against hand-computed values."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

from gymsamp.stats import (
    sequence,
    sequence_add_init,
    sequence_const,
    sequence_nlog2,
    sequence_plus_one,
    sequence_rec_double,
    sequence_rec_sqrt,
    sequence_sqrt,
)

S2, S3, S5, S6 = np.sqrt([2.0, 3.0, 5.0, 6.0])
L3, L5, L6 = np.log2([3.0, 5.0, 6.0])

# x_init = 2, iter = 4; int values truncate the float ones (e.g. 2 * sqrt(2) = 2.83 -> 2), and
# recursions run on the float values (the seed document's formulas), not on truncated ones.
SCALAR_CASES = [
    (sequence_const, [2, 2, 2, 2, 2], [2, 2, 2, 2, 2]),
    (sequence_plus_one, [2, 3, 4, 5, 6], [2, 3, 4, 5, 6]),
    (sequence_add_init, [2, 2, 4, 6, 8], [2, 2, 4, 6, 8]),
    (sequence_rec_double, [2, 4, 8, 16, 32], [2, 4, 8, 16, 32]),
    (sequence_sqrt, [2, 2, 2, 3, 4], [2, 2, 2 * S2, 2 * S3, 4]),
    # float: 2*sqrt(n!) = 2, 2, 2.83, 4.90, 9.80; int: those truncated
    (sequence_rec_sqrt, [2, 2, 2, 4, 9], [2, 2, 2 * S2, 2 * S6, 4 * S6]),
    # int: 2*log2(3)=3.17->3, 2*2*2=8, 2*3*log2(5)=13.9->13, 2*4*log2(6)=20.7->20
    (sequence_nlog2, [2, 3, 8, 13, 20], [2, 2 * L3, 8, 6 * L5, 8 * L6]),
]

# x_init = [1, 3], iter = 4, int.
VECTOR_CASES = [
    (sequence_const, [[1, 3]] * 5),
    (sequence_plus_one, [[1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]),
    (sequence_add_init, [[1, 3], [1, 3], [2, 6], [3, 9], [4, 12]]),
    (sequence_rec_double, [[1, 3], [2, 6], [4, 12], [8, 24], [16, 48]]),
    # sqrt(2) * [1, 3] = [1.41, 4.24], sqrt(3) * [1, 3] = [1.73, 5.20], 2 * [1, 3]
    (sequence_sqrt, [[1, 3], [1, 3], [1, 4], [1, 5], [2, 6]]),
    # sqrt(n!) * [1, 3]: sqrt(2) -> [1.41, 4.24], sqrt(6) -> [2.45, 7.35], sqrt(24) -> [4.90, 14.7]
    (sequence_rec_sqrt, [[1, 3], [1, 3], [1, 4], [2, 7], [4, 14]]),
    # n log2(n + 2) = 1.58, 4, 6.97, 10.34
    (sequence_nlog2, [[1, 3], [1, 4], [4, 12], [6, 20], [10, 31]]),
]


@pytest.mark.parametrize(("fcn", "ints", "floats"), SCALAR_CASES)
def test_scalar_sequences(fcn, ints, floats):
    last, seq = fcn(2, 4)
    assert seq.dtype == np.int64
    np.testing.assert_array_equal(seq, ints)
    assert type(last) is int
    assert last == ints[-1]

    last, seq = fcn(2.0, 4, dtype=float)
    assert seq.dtype == np.float64
    np.testing.assert_allclose(seq, floats, rtol=1e-12)
    assert type(last) is float
    assert last == pytest.approx(floats[-1], rel=1e-12)


@pytest.mark.parametrize(("fcn", "expected"), VECTOR_CASES)
def test_vector_sequences(fcn, expected):
    last, seq = fcn(np.array([1, 3]), 4)
    assert seq.shape == (5, 2)
    np.testing.assert_array_equal(seq, expected)
    assert isinstance(last, np.ndarray)
    np.testing.assert_array_equal(last, expected[-1])
    last[:] = -1  # the returned element is a copy, not a view into the sequence
    np.testing.assert_array_equal(seq[-1], expected[-1])


@pytest.mark.parametrize("fcn", [case[0] for case in SCALAR_CASES])
def test_multidimensional_init_and_iteration_zero(fcn):
    x_init = np.arange(6.0).reshape(2, 3)
    _, seq = fcn(x_init, 3, float)
    assert seq.shape == (4, 2, 3)
    for j, value in enumerate(x_init.ravel()):
        np.testing.assert_allclose(seq.reshape(4, 6)[:, j], fcn(value, 3, float)[1], rtol=1e-12)
    assert fcn(7, 0) == (7, pytest.approx(np.array([7])))
    assert fcn(7, 0)[1].shape == (1,)


def test_int_casts_truncate_toward_zero():
    np.testing.assert_array_equal(sequence_plus_one(2.7, 2)[1], [2, 3, 4])
    # x_2 = 2.5 * 2 = 5 (pyrado: computed in float, cast once), not trunc(2.5) * 2 = 4
    np.testing.assert_array_equal(sequence_add_init(2.5, 2)[1], [2, 2, 5])
    np.testing.assert_allclose(sequence_plus_one(2.7, 2, float)[1], [2.7, 3.7, 4.7])
    np.testing.assert_array_equal(sequence_sqrt(-2, 3)[1], [-2, -2, -2, -3])


def test_numpy_dtypes_are_honoured():
    assert sequence_rec_double(1, 3, np.int32)[1].dtype == np.int32
    _, seq = sequence_rec_sqrt(1.0, 3, np.float32)
    assert seq.dtype == np.float32
    np.testing.assert_allclose(seq, [1, 1, S2, S6], rtol=1e-6)


def test_sequence_calls_the_iterator_with_init_index_and_previous():
    calls: list[tuple[Any, int, Any]] = []

    def fibonacci_like(x0: np.ndarray, n: int, x_prev: np.ndarray) -> np.ndarray:
        calls.append((x0.copy(), n, x_prev.copy()))
        return x_prev + x0 * n

    last, seq = sequence(np.array([1, 10]), 3, fibonacci_like)
    np.testing.assert_array_equal(seq, [[1, 10], [2, 20], [4, 40], [7, 70]])
    assert [c[1] for c in calls] == [1, 2, 3]
    for (x0, _, x_prev), prev in zip(calls, seq[:-1], strict=True):
        assert x0.dtype == x_prev.dtype == np.float64
        np.testing.assert_array_equal(x0, [1, 10])
        np.testing.assert_array_equal(x_prev, prev)
    np.testing.assert_array_equal(last, [7, 70])


def test_a_callback_changing_its_arguments_in_place_leaves_the_stored_elements_alone():
    def grow_prev(x0: np.ndarray, n: int, x_prev: np.ndarray) -> np.ndarray:
        x_prev += 1  # on a view, this would also change the stored x_(n-1)
        return x_prev

    _, seq = sequence(np.zeros(2), 3, grow_prev, dtype=float)
    np.testing.assert_array_equal(seq, [[0, 0], [1, 1], [2, 2], [3, 3]])

    def grow_init(x0: np.ndarray, n: int, x_prev: np.ndarray) -> np.ndarray:
        x0 += 1  # on a view, every later call (and the stored x_0) would see the change
        return x0 * n

    _, seq = sequence(np.ones(1), 3, grow_init, dtype=float)
    np.testing.assert_array_equal(seq[:, 0], [1, 2 * 1, 2 * 2, 2 * 3])  # x_n = (x_0 + 1) * n


def test_sequence_recurses_on_float_values_and_casts_once():
    seen: list[float] = []

    def halve(x0: np.ndarray, n: int, x_prev: np.ndarray) -> np.ndarray:
        seen.append(float(x_prev))
        return x_prev / 2

    last, seq = sequence(7, 3, halve)  # float: 7, 3.5, 1.75, 0.875
    assert seen == [7.0, 3.5, 1.75]
    np.testing.assert_array_equal(seq, [7, 3, 1, 0])
    assert last == 0
    # A plain float loop, cast once, is the reference for every recursive variant.
    reference = [2.0]
    for n in range(1, 9):
        reference.append(reference[-1] * np.sqrt(n))
    np.testing.assert_array_equal(sequence_rec_sqrt(2, 8)[1], np.array(reference).astype(int))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"iterations": -1}, ValueError, r"iterations must be an int >= 0, got -1"),
        ({"iterations": 2.0}, TypeError, r"iterations must be an int >= 0, got 2.0"),
        ({"iterations": True}, TypeError, r"iterations must be an int >= 0, got True"),
        ({"dtype": complex}, TypeError, r"dtype must be int, float .* got <class 'complex'>"),
        ({"dtype": bool}, TypeError, r"dtype must be int, float .* got <class 'bool'>"),
        ({"dtype": str}, TypeError, r"dtype must be .* got <class 'str'>"),
        ({"dtype": None}, TypeError, r"dtype must be .* got None"),
        ({"dtype": "no-such-type"}, TypeError, r"dtype must be .* got 'no-such-type'"),
        ({"x_init": np.nan}, ValueError, r"x_init must be finite, got nan"),
        ({"x_init": "a"}, TypeError, r"x_init must be a real number or array, got dtype <U1"),
        ({"iterator_function": 3}, TypeError, r"iterator_function must be callable, got int"),
        (
            {"iterator_function": lambda x0, n, x_prev: [1, 2]},
            ValueError,
            r"must return the shape of x_init \(\), got \(2,\) at n=1",
        ),
    ],
)
def test_sequence_validation(kwargs, error, match):
    args = {"x_init": 1, "iterations": 3, "iterator_function": lambda x0, n, x_prev: x0 + n}
    with pytest.raises(error, match=match):
        sequence(**{**args, **kwargs})


@pytest.mark.parametrize("fcn", [case[0] for case in SCALAR_CASES])
def test_named_sequences_validate_iter_and_dtype(fcn):
    with pytest.raises(ValueError, match=r"^iter must be an int >= 0, got -2"):
        fcn(1, -2)
    with pytest.raises(TypeError, match=r"^iter must be an int >= 0, got 2.5"):
        fcn(1, 2.5)
    with pytest.raises(TypeError, match=r"dtype must be int, float"):
        fcn(1, 2, dtype=complex)


def test_overflow_is_an_error_not_a_wrap():
    with pytest.raises(OverflowError, match=r"x_63 .* does not fit dtype int64"):
        sequence_rec_double(1, 70)
    assert sequence_rec_double(1, 6, np.int8)[0] == 64
    with pytest.raises(OverflowError, match=r"x_7 = 128 does not fit dtype int8"):
        sequence_rec_double(1, 7, np.int8)
    with pytest.raises(OverflowError, match=r"x_7 = 128.0 does not fit dtype int8"):
        sequence_rec_double(1.0, 7, np.int8)
    assert sequence_plus_one(-127, 1, np.int8)[0] == -126
    with pytest.raises(OverflowError, match=r"x_0 = -129 does not fit dtype int8"):
        sequence_const(-129, 1, np.int8)
    # Truncation toward zero maps -128.9 into int8; the int64 bounds hold exactly.
    assert sequence_const(-128.9, 0, np.int8)[0] == -128
    assert sequence_const(-(2.0**63), 0)[0] == -(2**63)
    with pytest.raises(OverflowError, match=r"x_0 = 9.223372036854776e\+18 does not fit"):
        sequence_const(2.0**63, 0)
    with pytest.raises(OverflowError, match=r"does not fit dtype float32"):
        sequence_rec_double(1.0, 200, np.float32)


@pytest.mark.parametrize("func", [lambda x: x, lambda x0, n: x0, lambda x0, n, x_prev, extra: x0])
def test_sequence_names_the_callback_signature_it_needs(func: Any) -> None:
    # Was the bare "<lambda>() takes 1 positional argument but 3 were given".
    with pytest.raises(
        TypeError,
        match=r"iterator_function must accept three positional arguments \(x_0, n, x_prev\), "
        r"got <lambda>\(",
    ):
        sequence(1, 3, func)


def test_sequence_takes_any_callback_that_binds_three_arguments() -> None:
    assert sequence(1, 2, lambda *args: args[2] + 1)[0] == 3
    assert sequence(1, 2, lambda x0, n, x_prev=None, **kw: x_prev + 1)[0] == 3
    # A builtin without a signature to read is called (its call would tell what it cannot take).
    assert sequence(1.0, 3, max)[1].tolist() == [1, 1, 2, 3]  # max(x_0, n, x_prev)


@pytest.mark.parametrize("dtype", [float, int])
def test_a_nan_element_is_named_as_the_iterator_functions_result(dtype) -> None:
    # Was "OverflowError: sequence element x_1 = nan does not fit dtype float64".
    def broken(x0: np.ndarray, n: int, x_prev: np.ndarray) -> float:
        return float("nan") if n == 2 else 1.0

    with pytest.raises(
        ValueError,
        match=r"^sequence element x_2 must be a number, got nan from iterator_function "
        r".*broken\(x0",
    ):
        sequence(1.0, 3, broken, dtype=dtype)
    with pytest.raises(ValueError, match=r"x_1 must be a number, got \[ 1. nan\]"):
        sequence([1.0, 2.0], 2, lambda x0, n, x_prev: x0 * [1, np.nan], dtype=float)


@pytest.mark.parametrize(
    ("result", "shown"),
    [
        ("x", r"'x' \(str\)"),
        ("3", r"'3' \(str\)"),
        (1j, r"1j \(complex\)"),
        ({}, r"\{\} \(dict\)"),
        ([[1, 2], [3]], r"\[\[1, 2\], \[3\]\] \(list\)"),  # ragged
    ],
)
def test_an_iterator_function_returning_no_number_is_named(result: Any, shown: str) -> None:
    # A str was numpy's "could not convert string to float: 'x'", naming no argument, and
    # "3" was silently taken as the number 3.
    def broken(x0: np.ndarray, n: int, x_prev: np.ndarray) -> Any:
        return result if n == 2 else x_prev + 1

    with pytest.raises(
        TypeError,
        match=rf"^iterator_function must return real numbers shaped like x_init, got {shown} "
        r"for x_2 from .*broken\(x0: ",
    ):
        sequence(1, 3, broken)
    # Numbers of any real kind are still taken.
    assert sequence(1, 2, lambda x0, n, x_prev: [0, True, 3.5][n])[1].tolist() == [1, 1, 3]


def test_overflow_shows_gymsamps_error_only() -> None:
    # numpy's "RuntimeWarning: overflow encountered" came first; the error says it all.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(OverflowError, match=r"^sequence element x_1024 = inf does not fit"):
            sequence_rec_double(1.0, 1100, dtype=float)
        with pytest.raises(ValueError, match=r"x_1 must be a number, got nan"):
            sequence(1.0, 1, lambda x0, n, x_prev: x_prev * 1e308 * 10 - x_prev * 1e308 * 10)


BIG = 2**53 + 1  # the first integer float64 cannot hold


def test_integral_variants_are_exact_for_int_x_init_and_dtype() -> None:
    # float64 made these 2**53, 2**60 and so on.
    assert sequence_const(BIG, 1) == (BIG, pytest.approx(np.array([BIG, BIG])))
    assert sequence_const(BIG, 1)[1].tolist() == [BIG, BIG]
    last, seq = sequence_plus_one(2**60, 2)
    assert (type(last), last, seq.dtype) == (int, 2**60 + 2, np.int64)
    assert seq.tolist() == [2**60, 2**60 + 1, 2**60 + 2]
    assert sequence_add_init(BIG, 3)[1].tolist() == [BIG, BIG, 2 * BIG, 3 * BIG]
    assert sequence_rec_double(-BIG, 2)[1].tolist() == [-BIG, -2 * BIG, -4 * BIG]
    _, seq = sequence_plus_one(np.array([2**60, -(2**60)]), 1)
    assert seq.tolist() == [[2**60, -(2**60)], [2**60 + 1, -(2**60) + 1]]
    top = np.iinfo(np.uint64).max
    assert sequence_plus_one(top - 2, 2, np.uint64)[1].tolist() == [top - 2, top - 1, top]
    with pytest.raises(OverflowError, match=rf"^sequence element x_3 = {top + 1} does not fit"):
        sequence_plus_one(top - 2, 3, np.uint64)
    # The first element out of range stops the computation (no 2**1000000 is built).
    with pytest.raises(OverflowError, match=r"x_63 = 9223372036854775808 does not fit dtype int64"):
        sequence_rec_double(1, 10**6)


def test_python_ints_beyond_64_bits_overflow_an_int_dtype_and_fit_a_float_one() -> None:
    # numpy keeps them as objects: "x_init must be a real number or array, got dtype object".
    huge = 2**70
    with pytest.raises(
        OverflowError, match=rf"^sequence element x_0 = {huge} does not fit dtype int64"
    ):
        sequence_const(huge, 2, int)
    with pytest.raises(OverflowError, match=rf"x_0 = \[{huge} 1\] does not fit dtype uint64"):
        sequence_plus_one([huge, 1], 2, np.uint64)
    assert sequence_const(-huge, 1, float)[1].tolist() == [-(2.0**70), -(2.0**70)]
    assert sequence(huge, 1, lambda x0, n, x_prev: 2 * x_prev, dtype=float)[1].tolist() == [
        2.0**70,
        2.0**71,
    ]
    with pytest.raises(TypeError, match=r"x_init must be a real number or array, got dtype"):
        sequence_const([huge, "a"], 1, float)


def test_float_x_init_or_dtype_still_compute_in_float64() -> None:
    assert sequence_add_init(2.5, 2)[1].tolist() == [2, 2, 5]  # float values, cast once
    assert sequence_plus_one(2**60, 1, float)[1].tolist() == [2.0**60, 2.0**60]
    assert sequence_sqrt(2**60, 1)[1].tolist() == [2**60, 2**60]  # float64 holds 2**60


@pytest.mark.parametrize(
    "call",
    [
        lambda: sequence_sqrt(BIG, 1),
        lambda: sequence_nlog2(np.array([1, BIG]), 1),
        lambda: sequence(BIG, 1, lambda x0, n, x_prev: x_prev),
    ],
)
def test_int_x_init_that_float64_would_change_is_refused(call) -> None:
    with pytest.raises(
        ValueError,
        match=r"^x_init must be exactly representable in float64 \(integers up to 2\*\*53 are\) "
        r"to be computed in float64 and cast to int64, got ",
    ):
        call()


@pytest.mark.parametrize("fcn", [sequence_plus_one, sequence_sqrt])
def test_tensor_x_init_tracing_gradients_is_refused_by_name(fcn) -> None:
    # np.asarray raised torch's RuntimeError "Can't call numpy() on Tensor that requires
    # grad", which names no argument; a detached tensor is a plain x_init.
    x_init = torch.tensor([1.0, 4.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"^x_init must not require grad .*requires_grad=True$"):
        fcn(x_init, 3, float)
    last, seq = fcn(x_init.detach(), 3, float)
    expected_last, expected_seq = fcn(np.array([1.0, 4.0]), 3, float)
    np.testing.assert_array_equal(seq, expected_seq)
    np.testing.assert_array_equal(last, expected_last)
