"""Conversion between numpy arrays and torch tensors, for plain and nested data.

torch is imported only when torch data is asked for, so numpy-only users never load it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from gymsamp.data._tree import new_tuple

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

    Example:
        >>> to_format([1, 2], "numpy", np.float32)
        array([1., 2.], dtype=float32)
    """
    _check_format(data_format)
    if data_format == "numpy":
        data = data.detach().cpu().numpy() if is_tensor(data) else np.asarray(data)
        return data if data_type is None else data.astype(data_type, copy=False)

    import torch

    if not isinstance(data, torch.Tensor):
        array = np.asarray(data)
        if array.dtype == object:
            raise TypeError(f"data of dtype object cannot be converted to torch, got {data!r}")
        if isinstance(data_type, (type, np.dtype)) and not isinstance(data_type, torch.dtype):
            array = array.astype(data_type, copy=False)
            data_type = None
        # torch.from_numpy rejects negative strides (e.g. reversed views): copy those.
        data = torch.from_numpy(array if array.flags.c_contiguous else np.ascontiguousarray(array))
    return data if data_type is None else data.to(data_type)


def _format_of_items(items: Sequence[Any], data_format: str) -> Any:
    if data_format == "numpy":
        return np, [to_format(item, "numpy") for item in items]
    import torch

    return torch, [to_format(item, "torch") for item in items]


def _combine(data: Any, data_format: str, how: str) -> Any:
    _check_format(data_format)
    if isinstance(data, dict):
        return {key: _combine(value, data_format, how) for key, value in data.items()}
    if isinstance(data, tuple) and not (len(data) and isinstance(data[0], tuple)):
        return new_tuple(type(data), (_combine(part, data_format, how) for part in data))
    if isinstance(data, np.ndarray) or is_tensor(data):
        # Already combined along axis 0: stacking or concatenating rows would only copy.
        return to_format(data, data_format)
    items = list(data)
    if not items:
        raise ValueError(f"data must not be empty to {how} it")
    first = items[0]
    if isinstance(first, dict):
        keys = list(first)
        for i, item in enumerate(items):
            if not isinstance(item, dict) or list(item) != keys:
                found = list(item) if isinstance(item, dict) else type(item).__name__
                raise ValueError(
                    f"every dict in data must have the keys {keys} of the first one, "
                    f"got {found} at index {i}"
                )
        return {key: _combine([item[key] for item in items], data_format, how) for key in keys}
    if isinstance(first, tuple):
        return new_tuple(
            type(first),
            (_combine([item[i] for item in items], data_format, how) for i in range(len(first))),
        )
    if how == "stack" and data_format == "numpy" and all(type(x) in _SCALARS for x in items):
        # Per-step scalars (env infos of every step): one array, not a 0-d array per item;
        # the dtype is the one stacking them would give.
        return np.array(items)
    lib, converted = _format_of_items(items, data_format)
    return lib.stack(converted) if how == "stack" else lib.concatenate(converted)


def stack_to_format(
    data: dict[str, Any] | tuple[Any, ...] | Sequence[Any], data_format: str
) -> Any:
    """Stack a sequence of per-step items along a new first axis.

    Dicts are stacked per key and tuples per position; a list of dicts is treated as a dict of
    lists (every dict must have the same keys), a list of tuples as a tuple of lists.

    Example:
        >>> stacked = stack_to_format([{"a": 1, "b": [0, 1]}, {"a": 2, "b": [2, 3]}], "numpy")
        >>> stacked["a"], stacked["b"].shape
        (array([1, 2]), (2, 2))
    """
    return _combine(data, data_format, "stack")


def cat_to_format(data: dict[str, Any] | tuple[Any, ...] | Sequence[Any], data_format: str) -> Any:
    """Concatenate a sequence of arrays along their first axis, per key for dicts.

    Example:
        >>> cat_to_format([np.zeros((2, 3)), np.ones((1, 3))], "numpy").shape
        (3, 3)
    """
    return _combine(data, data_format, "concatenate")
