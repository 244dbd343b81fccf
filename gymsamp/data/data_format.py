"""Conversion between numpy arrays and torch tensors, for plain and nested data.

torch is imported only when torch data is asked for, so numpy-only users never load it.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from gymsamp.data._tree import new_tuple

if TYPE_CHECKING:
    import torch

__all__ = [
    "DATA_FORMATS",
    "cat_to_format",
    "is_tensor",
    "new_tuple",
    "stack_to_format",
    "to_format",
]

DATA_FORMATS = ("numpy", "torch")

# Scalar types that numpy.array stacks exactly as numpy.stack stacks their 0-d arrays.
_SCALARS = frozenset(
    {int, float, bool, np.bool_, np.float16, np.float32, np.float64, np.longdouble}
    | {np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64}
)


def is_tensor(obj: Any) -> bool:
    """True if ``obj`` is a torch tensor; never imports torch to find out."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _check_format(data_format: str) -> None:
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")


def _tensor_to_numpy(tensor: Any) -> np.ndarray:
    """``tensor`` as a numpy array; numpy has no bfloat16, so those become float32 (exactly)."""
    tensor = tensor.detach().cpu()
    if tensor.dtype == sys.modules["torch"].bfloat16:
        tensor = tensor.float()
    return tensor.numpy()


def _as_array(data: Any) -> np.ndarray:
    """``np.asarray(data)``, refusing ragged nested lists with a message that says so."""
    try:
        return np.asarray(data)
    except ValueError as err:  # numpy: "setting an array element with a sequence ..."
        raise ValueError(
            f"data must be array-like of one shape (nested lists of equal lengths), got {err}"
        ) from None


@overload
def to_format(data: Any, data_format: Literal["numpy"], data_type: Any = None) -> np.ndarray: ...


@overload
def to_format(data: Any, data_format: Literal["torch"], data_type: Any = None) -> torch.Tensor: ...


@overload
def to_format(data: Any, data_format: str, data_type: Any = None) -> Any: ...


def to_format(data: Any, data_format: str, data_type: Any = None) -> Any:
    """Convert array-like ``data`` to a numpy array or a torch tensor.

    Args:
        data: A numpy array, a torch tensor, or anything ``numpy.asarray`` accepts.
        data_format: ``"numpy"`` or ``"torch"``.
        data_type: dtype of the result (a numpy dtype, or a torch dtype for torch), or None to
            keep the dtype.

    Returns:
        The converted data. Arrays already in the requested format and dtype are returned
        as they are (no copy); numpy <-> torch conversions share memory where possible.
        A bfloat16 tensor becomes a float32 array (numpy has no bfloat16). Python floats (also
        in nested lists and tuples) become tensors of torch's default dtype
        (``torch.get_default_dtype()``), as ``torch.tensor`` and pyrado make them; numpy
        arrays and scalars keep their dtype.

    Example:
        >>> to_format([1, 2], "numpy", np.float32)
        array([1., 2.], dtype=float32)
    """
    _check_format(data_format)
    if data_format == "numpy":
        data = _tensor_to_numpy(data) if is_tensor(data) else _as_array(data)
        if data_type is None:
            return data
        try:
            return data.astype(data_type, copy=False)
        except TypeError:
            raise TypeError(f"data_type must be a numpy dtype or None, got {data_type!r}") from None
        except ValueError as err:  # e.g. strings that are no numbers
            raise ValueError(f"data must be convertible to {data_type!r}, got {err}") from None

    import torch

    np_type = None
    if data_type is not None and not isinstance(data_type, torch.dtype):
        try:  # a numpy dtype, or anything numpy reads as one (e.g. "float32")
            np_type = np.dtype(data_type)
        except TypeError:
            raise TypeError(
                f"data_type must be a torch dtype, a numpy dtype or None, got {data_type!r}"
            ) from None
        data_type = None
    if not isinstance(data, torch.Tensor):
        data_arg = data
        array = _as_array(data)
        if array.dtype == object:
            raise TypeError(f"data of dtype object cannot be converted to torch, got {data!r}")
        if np_type is not None:
            try:
                array = array.astype(np_type, copy=False)
            except ValueError as err:
                raise ValueError(f"data must be convertible to {np_type}, got {err}") from None
        # torch.from_numpy rejects negative strides (e.g. reversed views): copy those.
        contiguous = array if array.flags.c_contiguous else np.ascontiguousarray(array)
        try:
            data = torch.from_numpy(contiguous)
        except TypeError:
            raise TypeError(
                f"data must be numeric to convert it to torch, got dtype {array.dtype}"
            ) from None
        if data_type is None and np_type is None and _is_native_float(data_arg, array):
            # As pyrado: Python floats (numpy would make them float64) take torch's default
            # dtype, so a rollout built from lists matches the float32 networks it feeds.
            data_type = torch.get_default_dtype()
    elif np_type is not None:  # a tensor cast to a numpy dtype: torch's equivalent of it
        try:
            data_type = torch.from_numpy(np.empty(0, dtype=np_type)).dtype
        except TypeError:
            raise TypeError(
                f"data_type must be a dtype torch supports, got {np_type} (no torch equivalent)"
            ) from None
    return data if data_type is None else data.to(data_type)


def _is_native_float(data: Any, array: np.ndarray) -> bool:
    """Whether ``data`` (converted to ``array``) is floating data that carries no dtype of its
    own: a Python float, or (nested) lists and tuples of Python numbers only.
    ``torch.tensor(data)``, which pyrado called, gives such data torch's default dtype and
    keeps the dtype of anything that has one: numpy floats (``np.float64(1.0)`` stays
    float64), and tensors or arrays in a list."""
    if array.dtype.kind != "f":
        return False
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, np.generic) or not isinstance(item, (float, int)):
            # np.float64 is a float subclass; a tensor in the list (torch.tensor keeps its
            # dtype) or any other array type carries a dtype of its own.
            return False
    return True


def _format_of_items(items: Sequence[Any], data_format: str) -> Any:
    if data_format == "numpy":
        return np, [to_format(item, "numpy") for item in items]
    import torch

    return torch, [to_format(item, "torch") for item in items]


def _is_single_value(item: Any) -> bool:
    """True for a scalar (number, string, 0-d array or tensor): no per-step field by itself."""
    return isinstance(item, (numbers.Number, np.generic, str, bytes)) or (
        getattr(item, "ndim", None) == 0
    )


def _lists_steps(data: tuple[Any, ...]) -> bool:
    """Whether a tuple lists per-step items (tuples, or scalars such as ``(0, 1, 1)``) rather
    than holding one field per position (e.g. an LSTM's stacked ``(h, c)``)."""
    return bool(data) and (
        isinstance(data[0], tuple) or all(_is_single_value(item) for item in data)
    )


def combine_named(data: Any, data_format: str, how: str, name: str) -> Any:
    """Stack (``how="stack"``) or concatenate ``data`` per key and position, as
    :func:`stack_to_format` and :func:`cat_to_format` do; errors name the data ``name`` (a
    field name, or ``data`` for the public functions) and the path inside it."""
    _check_format(data_format)
    if isinstance(data, dict):
        return {
            key: combine_named(value, data_format, how, f"{name}.{key}")
            for key, value in data.items()
        }
    if isinstance(data, tuple) and not _lists_steps(data):
        return new_tuple(
            type(data),
            (combine_named(part, data_format, how, f"{name}[{i}]") for i, part in enumerate(data)),
        )
    if isinstance(data, np.ndarray) or is_tensor(data):
        # Already combined along axis 0: stacking or concatenating rows would only copy.
        return to_format(data, data_format)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(
            f"{name} must be a list of per-step items (or an array, dict or tuple), got "
            f"{data!r} ({type(data).__name__})"
        )
    items = list(data)
    if not items:
        raise ValueError(f"{name} must not be empty to {how} it")
    first = items[0]
    if isinstance(first, dict):
        keys = list(first)
        for i, item in enumerate(items):
            if not isinstance(item, dict) or list(item) != keys:
                found = list(item) if isinstance(item, dict) else type(item).__name__
                raise ValueError(
                    f"every dict in {name} must have the keys {keys} of the first one, "
                    f"got {found} at index {i}"
                )
        return {
            key: combine_named([item[key] for item in items], data_format, how, f"{name}.{key}")
            for key in keys
        }
    if isinstance(first, tuple):
        for i, item in enumerate(items):
            if not isinstance(item, tuple) or len(item) != len(first):
                found = f"length {len(item)}" if isinstance(item, tuple) else type(item).__name__
                raise ValueError(
                    f"every tuple in {name} must have the length {len(first)} of the first one, "
                    f"got {found} at index {i}"
                )
        return new_tuple(
            type(first),
            (
                combine_named([item[i] for item in items], data_format, how, f"{name}[{i}]")
                for i in range(len(first))
            ),
        )
    if how == "stack" and data_format == "numpy" and all(type(x) in _SCALARS for x in items):
        # Per-step scalars (env infos of every step): one array, not a 0-d array per item;
        # the dtype is the one stacking them would give.
        return np.array(items)
    try:
        lib, converted = _format_of_items(items, data_format)
        return lib.stack(converted) if how == "stack" else lib.concatenate(converted)
    except (ValueError, RuntimeError, TypeError) as err:  # torch raises RuntimeError
        raise _combine_error(items, how, name, err) from err


def _combine_error(items: list[Any], how: str, name: str, err: Exception) -> Exception:
    """The error for items that numpy or torch could not stack or concatenate: it names the
    first item whose shape does not fit, else passes on the library's reason."""
    shapes: list[tuple[int, ...] | None] = []
    for item in items:
        try:
            shapes.append(tuple(item.shape) if is_tensor(item) else np.shape(item))
        except ValueError:  # a ragged item: numpy cannot give it a shape
            shapes.append(None)
    first = shapes[0]
    for i, shape in enumerate(shapes):
        if shape is None:
            return ValueError(
                f"{name} must hold items of one shape to {how} them, got a ragged item "
                f"{items[i]!r} at index {i}"
            )
        if how == "concatenate" and len(shape) == 0:
            return ValueError(
                f"{name} must hold arrays with at least one axis to concatenate them, got "
                f"shape () at index {i}"
            )
        if first is not None and (shape != first if how == "stack" else shape[1:] != first[1:]):
            rule = "items of one shape" if how == "stack" else "arrays of one item shape"
            return ValueError(
                f"{name} must hold {rule} to {how} them, got shape {first} at index 0 and "
                f"{shape} at index {i}"
            )
    error = TypeError if isinstance(err, TypeError) else ValueError
    return error(f"{name} must hold numeric items to {how} them, got {err}")


def stack_to_format(
    data: dict[str, Any] | tuple[Any, ...] | Sequence[Any], data_format: str
) -> Any:
    """Stack a sequence of per-step items along a new first axis.

    Dicts are stacked per key and tuples per position; a list of dicts is treated as a dict of
    lists (every dict must have the same keys), a list of tuples as a tuple of lists. A tuple
    of scalars (numbers, strings, 0-d arrays) is a sequence of per-step items like a list.

    Example:
        >>> stacked = stack_to_format([{"a": 1, "b": [0, 1]}, {"a": 2, "b": [2, 3]}], "numpy")
        >>> stacked["a"], stacked["b"].shape
        (array([1, 2]), (2, 2))
    """
    return combine_named(data, data_format, "stack", "data")


def cat_to_format(data: dict[str, Any] | tuple[Any, ...] | Sequence[Any], data_format: str) -> Any:
    """Concatenate a sequence of arrays along their first axis, per key for dicts.

    Example:
        >>> cat_to_format([np.zeros((2, 3)), np.ones((1, 3))], "numpy").shape
        (3, 3)
    """
    return combine_named(data, data_format, "concatenate", "data")
