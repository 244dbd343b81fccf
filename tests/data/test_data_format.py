from collections import namedtuple

import numpy as np
import pytest
import torch

from gymsamp.data import cat_to_format, new_tuple, stack_to_format, to_format

Hidden = namedtuple("Hidden", "h c")


def test_to_format_numpy_torch_round_trip_keeps_values_and_dtype():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor = to_format(array, "torch")
    assert isinstance(tensor, torch.Tensor)
    assert tensor.dtype == torch.float32
    back = to_format(tensor, "numpy")
    np.testing.assert_array_equal(back, array)
    assert to_format(array, "numpy") is array  # no copy when nothing changes


def test_to_format_casts_and_handles_negative_strides():
    reversed_view = np.arange(4.0)[::-1]
    tensor = to_format(reversed_view, "torch", torch.float32)
    assert tensor.tolist() == [3.0, 2.0, 1.0, 0.0]
    assert tensor.dtype == torch.float32
    assert to_format([1, 2], "numpy", np.float32).dtype == np.float32
    assert to_format(np.arange(3), "torch", np.float64).dtype == torch.float64


def test_to_format_rejects_unknown_format():
    with pytest.raises(ValueError, match="data_format must be one of"):
        to_format(np.zeros(2), "jax")


@pytest.mark.parametrize("data_format", ["numpy", "torch"])
def test_to_format_names_ragged_lists(data_format):
    # Was numpy's bare "setting an array element with a sequence".
    with pytest.raises(
        ValueError, match=r"data must be array-like of one shape \(nested lists of equal lengths\)"
    ):
        to_format([[1.0], [1.0, 2.0]], data_format)


def test_stack_list_of_dicts_and_tuples():
    items = [{"a": 1.0, "h": Hidden(np.zeros(2), np.ones(2))} for _ in range(3)]
    stacked = stack_to_format(items, "numpy")
    assert stacked["a"].tolist() == [1.0, 1.0, 1.0]
    assert isinstance(stacked["h"], Hidden)
    assert stacked["h"].c.shape == (3, 2)
    torch_stacked = stack_to_format(items, "torch")
    assert isinstance(torch_stacked["h"].h, torch.Tensor)


def test_stack_dicts_with_different_keys_raises():
    with pytest.raises(ValueError, match=r"keys \['a'\].*index 1"):
        stack_to_format([{"a": 1}, {"b": 2}], "numpy")


def test_cat_to_format():
    out = cat_to_format([np.zeros((2, 3)), torch.ones(1, 3)], "numpy")
    np.testing.assert_array_equal(out, [[0, 0, 0], [0, 0, 0], [1, 1, 1]])
    parts = [{"x": np.arange(2)}, {"x": np.arange(3)}]
    assert cat_to_format(parts, "numpy")["x"].tolist() == [0, 1, 0, 1, 2]


def test_new_tuple():
    assert new_tuple(Hidden, (1, 2)) == Hidden(1, 2)
    assert new_tuple(tuple, (x for x in (1, 2))) == (1, 2)


SCALARS = [
    1,
    2.5,
    True,
    np.float16(0.5),
    np.float32(1.5),
    np.float64(2.0),
    np.int8(-3),
    np.int32(3),
    np.int64(4),
    np.uint8(7),
    np.uint64(2**63),
    np.bool_(False),
]


@pytest.mark.parametrize("second", SCALARS, ids=lambda x: type(x).__name__)
@pytest.mark.parametrize("first", SCALARS, ids=lambda x: type(x).__name__)
def test_stacking_scalars_gives_what_stacking_their_0d_arrays_gives(first, second) -> None:
    """The scalar fast path (per-step env infos) against numpy.stack of 0-d arrays."""
    items = [first, second, first]
    reference = np.stack([np.asarray(x) for x in items])
    stacked = stack_to_format(items, "numpy")
    assert stacked.dtype == reference.dtype
    np.testing.assert_array_equal(stacked, reference)
    per_key = stack_to_format([{"v": x} for x in items], "numpy")["v"]
    assert per_key.dtype == reference.dtype


# --- input validation (DESIGN §8) -----------------------------------------------------------


@pytest.mark.parametrize("data_format", ["numpy", "torch"])
def test_stacking_items_of_different_shapes_names_them(data_format):
    with pytest.raises(
        ValueError,
        match=r"data must hold items of one shape to stack them, got shape \(2,\) at index 0 "
        r"and \(3,\) at index 1",
    ):
        stack_to_format([np.ones(2), np.ones(3)], data_format)


def test_stacking_nested_items_names_the_path():
    with pytest.raises(ValueError, match=r"data.a must hold items of one shape"):
        stack_to_format([{"a": 1}, {"a": [1, 2]}], "numpy")
    with pytest.raises(ValueError, match=r"every tuple in data must have the length 2"):
        stack_to_format([(1, 2), (1,)], "numpy")


def test_concatenating_mismatched_arrays_names_them():
    with pytest.raises(
        ValueError, match=r"data must hold arrays of one item shape to concatenate them"
    ):
        cat_to_format([np.ones((2, 2)), np.ones((1, 3))], "numpy")
    with pytest.raises(ValueError, match=r"data must hold arrays with at least one axis"):
        cat_to_format([np.ones(2), np.float64(1.0)], "numpy")


@pytest.mark.parametrize("data", [None, 5, "abc"])
def test_stacking_a_non_list_raises(data):
    with pytest.raises(TypeError, match=r"data must be a list of per-step items"):
        stack_to_format(data, "numpy")


def test_to_format_refuses_unknown_data_types():
    with pytest.raises(TypeError, match=r"data_type must be a numpy dtype or None, got 'foo'"):
        to_format([1, 2], "numpy", "foo")
    with pytest.raises(
        TypeError, match=r"data_type must be a torch dtype, a numpy dtype or None, got 'foo'"
    ):
        to_format([1, 2], "torch", "foo")
    with pytest.raises(TypeError, match=r"data_type must be a dtype torch supports"):
        to_format(torch.ones(2), "torch", np.dtype("U3"))
    with pytest.raises(ValueError, match=r"data must be convertible to"):
        to_format(["a"], "numpy", np.float64)


def test_python_floats_become_torch_default_dtype_as_in_pyrado():
    # pyrado converted non-array data with torch.tensor(data, dtype=torch.get_default_dtype());
    # numpy would make Python floats float64, which float32 networks then refuse.
    assert torch.get_default_dtype() == torch.float32
    assert to_format([1.0, 2.5], "torch").dtype == torch.float32
    assert to_format(3.0, "torch").dtype == torch.float32
    assert stack_to_format([0.5, 1.5], "torch").tolist() == [0.5, 1.5]
    assert stack_to_format([0.5, 1.5], "torch").dtype == torch.float32
    assert stack_to_format([[1.0, 2.0], [3.0, 4.0]], "torch").dtype == torch.float32
    assert cat_to_format([[1.0, 2.0], [3.0]], "torch").dtype == torch.float32
    # Arrays keep their dtype, ints stay ints, and an explicit data_type wins.
    assert to_format(np.zeros(2), "torch").dtype == torch.float64
    assert stack_to_format([np.zeros(2), np.ones(2)], "torch").dtype == torch.float64
    assert to_format([1, 2], "torch").dtype == torch.int64
    assert to_format([1.0, 2.0], "torch", torch.float64).dtype == torch.float64
    # A numpy data_type wins too (it was dropped for Python floats, which then became float32).
    assert to_format([1.0, 2.5], "torch", np.float64).dtype == torch.float64
    assert to_format([1.0, 2.5], "torch", np.float64).tolist() == [1.0, 2.5]
    assert to_format([1.0, 2.0], "numpy").dtype == np.float64
    # numpy scalars carry a dtype, which torch.tensor (pyrado's conversion) keeps.
    assert to_format(np.float64(1.0), "torch").dtype == torch.float64
    assert to_format([np.float64(1.0), np.float64(2.0)], "torch").dtype == torch.float64
    assert stack_to_format([np.float64(0.5), np.float64(1.5)], "torch").dtype == torch.float64
    assert to_format([np.float16(1.0)], "torch").dtype == torch.float16
    assert to_format(((1.0,), (2,)), "torch").dtype == torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert to_format([1.0, 2.0], "torch").dtype == torch.float64
    finally:
        torch.set_default_dtype(previous)


def test_tensors_in_a_list_keep_their_dtype_in_torch_format():
    # Tensors carry a dtype, which torch.tensor (pyrado's conversion) keeps: a list of float64
    # tensors became float32 (precision lost) and one of float16 tensors float32.
    doubles = [torch.tensor(0.1, dtype=torch.float64), torch.tensor(0.2, dtype=torch.float64)]
    converted = to_format(doubles, "torch")
    assert converted.dtype == torch.float64
    assert converted.tolist() == [0.1, 0.2]
    rows = [torch.full((2,), 0.1, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)]
    assert to_format(rows, "torch").dtype == torch.float64
    assert to_format([[torch.tensor(1.0, dtype=torch.float16)]], "torch").dtype == torch.float16
    assert to_format([np.zeros(2), np.ones(2)], "torch").dtype == torch.float64
    assert to_format([[1.0, 2.0], (3.0, 4)], "torch").dtype == torch.float32


def test_step_sequence_from_python_lists_in_torch_format_is_default_dtype():
    from gymsamp.data import StepSequence

    ro = StepSequence(
        rewards=[1.0, 2.0],
        observations=[[0.0], [1.0], [2.0]],
        actions=[[0.5], [0.5]],
        data_format="torch",
    )
    assert ro.rewards.dtype == torch.float32
    assert ro.observations.dtype == torch.float32
    assert ro.rewards.tolist() == [1.0, 2.0]


def test_to_format_takes_numpy_dtypes_for_torch():
    assert to_format([1, 2], "torch", "float32").dtype == torch.float32
    assert to_format(torch.ones(2), "torch", np.int64).dtype == torch.int64
    assert to_format(np.ones(2), "torch", np.float16).dtype == torch.float16


def test_a_tuple_of_scalars_is_stacked_like_a_list():
    # No tuple of scalars can hold one field per position: it lists per-step values.
    stacked = stack_to_format((1, 2, 3), "numpy")
    np.testing.assert_array_equal(stacked, np.array([1, 2, 3]))
    assert stack_to_format((np.float32(1.5), 2.5), "torch").tolist() == [1.5, 2.5]
    # A tuple of arrays still holds one already stacked field per position (LSTM (h, c)).
    h, c = stack_to_format((np.zeros(2), np.ones(2)), "numpy")
    assert h.tolist() == [0.0, 0.0]
    assert c.tolist() == [1.0, 1.0]


def test_errors_inside_a_tuple_field_name_the_position():
    with pytest.raises(
        TypeError, match=r"data\[1\] must be a list of per-step items .*got 5 \(int\)"
    ):
        stack_to_format((np.zeros(2), 5), "numpy")


def test_new_tuple_passes_on_errors_raised_while_producing_the_values():
    def values():
        yield 1
        raise TypeError("the real reason")

    with pytest.raises(TypeError, match="the real reason"):
        new_tuple(tuple, values())
    with pytest.raises(ValueError, match=r"values must hold 2 values .* got 3"):
        new_tuple(Hidden, (x for x in [1, 2, 3]))


def test_new_tuple_refuses_wrong_counts_and_types():
    with pytest.raises(
        ValueError,
        match=r"values must hold 2 values to match the fields \('h', 'c'\) of Hidden, got 3",
    ):
        new_tuple(Hidden, [1, 2, 3])
    with pytest.raises(TypeError, match=r"nt_type must be a tuple class .* got None"):
        new_tuple(None, [1, 2])
    with pytest.raises(TypeError, match=r"values must be an iterable, got NoneType"):
        new_tuple(Hidden, None)
    WithDefault = namedtuple("WithDefault", "h c", defaults=[0])
    assert new_tuple(WithDefault, [1]) == WithDefault(1, 0)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: to_format([None, 1], "torch"), TypeError, r"data of dtype object cannot be conv"),
        (
            lambda: to_format(["a"], "torch", np.float32),
            ValueError,
            r"data must be convertible to float32, got could not convert string",
        ),
        (lambda: to_format(["a"], "torch"), TypeError, r"data must be numeric .* got dtype <U1"),
        (lambda: stack_to_format([], "numpy"), ValueError, r"data must not be empty to stack it"),
        (lambda: cat_to_format([], "torch"), ValueError, r"data must not be empty to concatenate"),
        (
            lambda: stack_to_format([np.zeros(2), [1, [2, 3]]], "numpy"),
            ValueError,
            r"data must hold items of one shape to stack them, got a ragged item \[1, \[2, 3\]\] "
            r"at index 1",
        ),
        (
            lambda: stack_to_format([np.zeros(2), np.array(["a", "b"])], "torch"),
            TypeError,
            r"data must hold numeric items to stack them, got .* dtype <U1",
        ),
        (
            lambda: cat_to_format([np.zeros((1, 2), "M8[s]"), np.zeros((1, 2))], "numpy"),
            TypeError,
            r"data must hold numeric items to concatenate them, got .*DateTime64",
        ),
    ],
)
def test_conversions_that_cannot_be_done_name_the_data_and_why(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_new_tuple_names_a_tuple_class_that_refuses_the_values():
    class Pair(tuple):  # takes two arguments, not one iterable
        def __new__(cls, a, b):
            return super().__new__(cls, (a, b))

    class IntHidden(Hidden):
        def __new__(cls, h, c):
            if not isinstance(h, int):
                raise TypeError("h must be an int")
            return super().__new__(cls, h, c)

    with pytest.raises(TypeError, match=r"values cannot build a Pair, got \(1, 2\)"):
        new_tuple(Pair, [1, 2])
    with pytest.raises(TypeError, match=r"values cannot build a IntHidden, got \('x', 2\)"):
        new_tuple(IntHidden, ["x", 2])
    assert new_tuple(IntHidden, [1, 2]) == (1, 2)
