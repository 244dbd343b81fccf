"""Schedules such as iteration-dependent sample counts: :func:`sequence` and its named variants.

Every function returns ``(x_iter, x_seq)``: the element at the last iteration and the whole
sequence ``x_0 .. x_iter`` as an array of shape ``(iter + 1, *x_init.shape)`` and the requested
dtype. Casting to ``dtype`` happens element by element as the sequence is built, so recursive
sequences recurse on the cast values; casting to an int type truncates toward zero like
``numpy.ndarray.astype`` (as pyrado did), e.g. ``2 * sqrt(2) = 2.83 -> 2``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
#: ``iterator_function(x_0, n, x_prev) -> x_n`` for ``n >= 1``; see :func:`sequence`.
IteratorFunction = Callable[[FloatArray, int, FloatArray], npt.ArrayLike]
#: A Python int or float for a scalar ``x_init``, else an array shaped like ``x_init``.
SequenceElement = int | float | npt.NDArray[Any]


def _check_dtype(dtype: Any) -> np.dtype[Any]:
    try:
        dt = np.dtype(dtype) if dtype is not None else None
    except TypeError:
        dt = None
    if dt is None or dt.kind not in "iuf":
        raise TypeError(
            f"dtype must be int, float or a numpy integer/floating dtype, got {dtype!r}"
        )
    return dt


def _cast(values: npt.ArrayLike, dt: np.dtype[Any], shape: tuple[int, ...], n: int) -> np.ndarray:
    vals = np.asarray(values, dtype=np.float64)
    if vals.shape != shape:
        raise ValueError(
            f"iterator_function must return the shape of x_init {shape}, got {vals.shape} at n={n}"
        )
    if dt.kind in "iu":
        info = np.iinfo(dt)
        # Truncation maps (min - 1, max + 1) into range; beyond that astype would silently wrap.
        in_range = np.all((vals > float(info.min) - 1.0) & (vals < float(info.max) + 1.0))
    else:
        with np.errstate(over="ignore"):
            in_range = np.all(np.isfinite(vals.astype(dt)))
    if not in_range:
        raise OverflowError(f"sequence element x_{n} = {vals} does not fit dtype {dt}")
    return vals.astype(dt)


def sequence(
    x_init: npt.ArrayLike,
    iterations: int,
    iterator_function: IteratorFunction,
    dtype: Any = int,
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """Build ``x_0 = cast(x_init)``, ``x_n = cast(iterator_function(x_0, n, x_{n-1}))``.

    ``iterator_function`` is called for ``n = 1 .. iterations`` with the initial element ``x_0``,
    the index ``n`` (an int) and the previous element ``x_{n-1}``; both elements are float64
    arrays (0-d for a scalar ``x_init``) holding already-cast values, so closed forms use
    ``x_0`` and recurrences ``x_prev``. It must return values of ``x_init``'s shape.

    Args:
        x_init: Initial element, a real scalar or array (finite).
        iterations: Index of the last element, an int >= 0.
        iterator_function: ``(x_0, n, x_prev) -> x_n``.
        dtype: ``int``, ``float`` or a numpy integer/floating dtype; int casts truncate.

    Returns:
        ``(x_iter, x_seq)``: the last element (a Python int or float for a scalar ``x_init``,
        else an array) and the array of all ``iterations + 1`` elements with shape
        ``(iterations + 1, *x_init.shape)`` and dtype ``dtype``.

    Raises:
        TypeError: If ``iterations`` is not an int, ``iterator_function`` is not callable,
            ``x_init`` is not real numeric or ``dtype`` is not an integer/floating type.
        ValueError: If ``iterations < 0``, ``x_init`` is not finite or ``iterator_function``
            returns the wrong shape.
        OverflowError: If an element does not fit ``dtype``.

    Example:
        >>> sequence(3, 4, lambda x0, n, x_prev: x_prev + x0)
        (15, array([ 3,  6,  9, 12, 15]))
        >>> sequence([1.0, 2.0], 2, lambda x0, n, x_prev: x0 / (n + 1), dtype=float)[1]
        array([[1.        , 2.        ],
               [0.5       , 1.        ],
               [0.33333333, 0.66666667]])
    """
    if not isinstance(iterations, numbers.Integral) or isinstance(iterations, (bool, np.bool_)):
        raise TypeError(f"iterations must be an int >= 0, got {iterations!r}")
    if iterations < 0:
        raise ValueError(f"iterations must be an int >= 0, got {iterations}")
    if not callable(iterator_function):
        raise TypeError(
            f"iterator_function must be callable, got {type(iterator_function).__name__}"
        )
    dt = _check_dtype(dtype)
    x0 = np.asarray(x_init)
    if x0.dtype.kind not in "biuf":
        raise TypeError(f"x_init must be a real number or array, got dtype {x0.dtype}")
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"x_init must be finite, got {x_init!r}")

    x_seq = np.empty((int(iterations) + 1, *x0.shape), dtype=dt)
    x_seq[0] = _cast(x0, dt, x0.shape, 0)
    first = x_seq[0].astype(np.float64)
    for n in range(1, int(iterations) + 1):
        x_seq[n] = _cast(
            iterator_function(first, n, x_seq[n - 1].astype(np.float64)), dt, x0.shape, n
        )
    last = x_seq[-1]
    return (last.item() if last.ndim == 0 else last.copy()), x_seq


def sequence_const(
    x_init: npt.ArrayLike, iter: int, dtype: Any = int
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """Constant sequence ``x_n = x_0``.

    Args:
        x_init: Initial element ``x_0``, a real scalar or array.
        iter: Index of the last element, an int >= 0.
        dtype: ``int`` (truncating) or ``float`` (or a numpy integer/floating dtype).

    Returns:
        ``(x_iter, x_seq)`` as described in :func:`sequence`.

    Example:
        >>> sequence_const(2, 3)
        (2, array([2, 2, 2, 2]))
    """
    return sequence(x_init, iter, lambda x0, n, x_prev: x0, dtype)


def sequence_plus_one(
    x_init: npt.ArrayLike, iter: int, dtype: Any = int
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """Sequence ``x_n = x_0 + n``.

    Args:
        x_init: Initial element ``x_0``, a real scalar or array.
        iter: Index of the last element, an int >= 0.
        dtype: ``int`` (truncating) or ``float`` (or a numpy integer/floating dtype).

    Returns:
        ``(x_iter, x_seq)`` as described in :func:`sequence`.

    Example:
        >>> sequence_plus_one(2, 3)
        (5, array([2, 3, 4, 5]))
    """
    return sequence(x_init, iter, lambda x0, n, x_prev: x0 + n, dtype)


def sequence_add_init(
    x_init: npt.ArrayLike, iter: int, dtype: Any = int
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """Sequence ``x_n = x_0 * n`` for ``n >= 1`` (element 0 is ``x_0``).

    Args:
        x_init: Initial element ``x_0``, a real scalar or array.
        iter: Index of the last element, an int >= 0.
        dtype: ``int`` (truncating) or ``float`` (or a numpy integer/floating dtype).

    Returns:
        ``(x_iter, x_seq)`` as described in :func:`sequence`.

    Example:
        >>> sequence_add_init(2, 3)
        (6, array([2, 2, 4, 6]))
    """
    return sequence(x_init, iter, lambda x0, n, x_prev: x0 * n, dtype)


def sequence_rec_double(
    x_init: npt.ArrayLike, iter: int, dtype: Any = int
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """Sequence ``x_n = 2 * x_{n-1}``.

    Args:
        x_init: Initial element ``x_0``, a real scalar or array.
        iter: Index of the last element, an int >= 0.
        dtype: ``int`` (truncating) or ``float`` (or a numpy integer/floating dtype).

    Returns:
        ``(x_iter, x_seq)`` as described in :func:`sequence`.

    Example:
        >>> sequence_rec_double(2, 3)
        (16, array([ 2,  4,  8, 16]))
    """
    return sequence(x_init, iter, lambda x0, n, x_prev: x_prev * 2, dtype)


def sequence_sqrt(
    x_init: npt.ArrayLike, iter: int, dtype: Any = int
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """Sequence ``x_n = x_0 * sqrt(n)`` for ``n >= 1`` (element 0 is ``x_0``).

    Args:
        x_init: Initial element ``x_0``, a real scalar or array.
        iter: Index of the last element, an int >= 0.
        dtype: ``int`` (truncating) or ``float`` (or a numpy integer/floating dtype).

    Returns:
        ``(x_iter, x_seq)`` as described in :func:`sequence`.

    Example:
        >>> sequence_sqrt(2, 4)
        (4, array([2, 2, 2, 3, 4]))
    """
    return sequence(x_init, iter, lambda x0, n, x_prev: x0 * np.sqrt(n), dtype)


def sequence_rec_sqrt(
    x_init: npt.ArrayLike, iter: int, dtype: Any = int
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """Sequence ``x_n = x_{n-1} * sqrt(n)``.

    Args:
        x_init: Initial element ``x_0``, a real scalar or array.
        iter: Index of the last element, an int >= 0.
        dtype: ``int`` (truncating) or ``float`` (or a numpy integer/floating dtype).

    Returns:
        ``(x_iter, x_seq)`` as described in :func:`sequence`.

    Example:
        >>> sequence_rec_sqrt(2, 5)
        (13, array([ 2,  2,  2,  3,  6, 13]))
    """
    return sequence(x_init, iter, lambda x0, n, x_prev: x_prev * np.sqrt(n), dtype)


def sequence_nlog2(
    x_init: npt.ArrayLike, iter: int, dtype: Any = int
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """Sequence ``x_n = x_0 * n * log2(n + 2)`` for ``n >= 1`` (element 0 is ``x_0``).

    Args:
        x_init: Initial element ``x_0``, a real scalar or array.
        iter: Index of the last element, an int >= 0.
        dtype: ``int`` (truncating) or ``float`` (or a numpy integer/floating dtype).

    Returns:
        ``(x_iter, x_seq)`` as described in :func:`sequence`.

    Example:
        >>> sequence_nlog2(2, 3)
        (13, array([ 2,  3,  8, 13]))
    """
    return sequence(x_init, iter, lambda x0, n, x_prev: x0 * n * np.log2(n + 2), dtype)
