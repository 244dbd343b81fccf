"""Schedules such as iteration-dependent sample counts: :func:`sequence` and its named variants.

Every function returns ``(x_iter, x_seq)``: the element at the last iteration and the whole
sequence ``x_0 .. x_iter`` as an array of shape ``(iter + 1, *x_init.shape)`` and the requested
dtype. The seed document's formulas are the contract (DESIGN §8): the sequence is computed in
float64, recursions included, and cast to ``dtype`` once at the end, as pyrado did; casting to
an int type truncates toward zero like ``numpy.ndarray.astype``. E.g. ``sequence_rec_sqrt(2, 5)``
is ``2, 2, 2.83, 4.90, 9.80, 21.9`` and, as ints, ``[2, 2, 2, 4, 9, 21]``.
"""

from __future__ import annotations

import inspect
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


def _check_iterations(value: Any, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value}")
    return int(value)


def _cast(values: npt.NDArray[np.float64], dt: np.dtype[Any]) -> np.ndarray:
    """The float sequence ``values`` as ``dt``; an element that does not fit is an error."""
    if dt.kind in "iu":
        info = np.iinfo(dt)
        # Truncation maps (min - 1, max + 1) into range; beyond that astype would silently wrap.
        fits = (values > float(info.min) - 1.0) & (values < float(info.max) + 1.0)
    else:
        with np.errstate(over="ignore"):
            fits = np.isfinite(values.astype(dt))
    if not fits.all():
        n = int(np.flatnonzero(~fits.reshape(len(values), -1).all(axis=1))[0])
        raise OverflowError(f"sequence element x_{n} = {values[n]} does not fit dtype {dt}")
    return values.astype(dt)


def _signature(function: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return None


def _describe(function: Callable[..., Any]) -> str:
    """``function``'s name and signature for messages, e.g. ``<lambda>(x0, n, x_prev)``."""
    name = getattr(function, "__qualname__", type(function).__name__)
    signature = _signature(function)
    return name if signature is None else f"{name}{signature}"


def _check_arity(iterator_function: Callable[..., Any]) -> None:
    """Refuse a callback that cannot take ``(x_0, n, x_prev)`` before it is first called."""
    signature = _signature(iterator_function)
    if signature is None:  # let the call tell
        return
    try:
        signature.bind(None, None, None)
    except TypeError:
        raise TypeError(
            "iterator_function must accept three positional arguments (x_0, n, x_prev), got "
            f"{_describe(iterator_function)}"
        ) from None


def sequence(
    x_init: npt.ArrayLike,
    iterations: int,
    iterator_function: IteratorFunction,
    dtype: Any = int,
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """Build ``x_0 = x_init``, ``x_n = iterator_function(x_0, n, x_{n-1})``, cast to ``dtype``.

    ``iterator_function`` is called for ``n = 1 .. iterations`` with the initial element ``x_0``,
    the index ``n`` (an int) and the previous element ``x_{n-1}``; both elements are float64
    arrays (0-d for a scalar ``x_init``), so closed forms use ``x_0`` and recurrences
    ``x_prev``. It must return values of ``x_init``'s shape. The elements stay float64 until
    the whole sequence is cast to ``dtype`` (recursions never see truncated values). pyrado
    called its iterator functions with ``(x_seq, i, x_init)`` instead.

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
            returns the wrong shape or NaN.
        OverflowError: If an element does not fit ``dtype``.

    Example:
        >>> sequence(3, 4, lambda x0, n, x_prev: x_prev + x0)
        (15, array([ 3,  6,  9, 12, 15]))
        >>> sequence([1.0, 2.0], 2, lambda x0, n, x_prev: x0 / (n + 1), dtype=float)[1]
        array([[1.        , 2.        ],
               [0.5       , 1.        ],
               [0.33333333, 0.66666667]])
    """
    iterations = _check_iterations(iterations, "iterations")
    if not callable(iterator_function):
        raise TypeError(
            f"iterator_function must be callable, got {type(iterator_function).__name__}"
        )
    _check_arity(iterator_function)
    dt = _check_dtype(dtype)
    x0 = np.asarray(x_init)
    if x0.dtype.kind not in "biuf":
        raise TypeError(f"x_init must be a real number or array, got dtype {x0.dtype}")
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"x_init must be finite, got {x_init!r}")

    values = np.empty((iterations + 1, *x0.shape), dtype=np.float64)
    values[0] = x0
    # An overflow to inf or an invalid operation's nan is reported as gymsamp's error below
    # (which names the element), so numpy's warnings about them would only repeat it.
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(1, iterations + 1):
            x_prev = values[n - 1].copy()
            x_n = np.asarray(iterator_function(values[0].copy(), n, x_prev), np.float64)
            if x_n.shape != x0.shape:
                raise ValueError(
                    f"iterator_function must return the shape of x_init {x0.shape}, got "
                    f"{x_n.shape} at n={n}"
                )
            if np.isnan(x_n).any():
                raise ValueError(
                    f"sequence element x_{n} must be a number, got {x_n} from iterator_function "
                    f"{_describe(iterator_function)}"
                )
            values[n] = x_n
    x_seq = _cast(values, dt)
    last = x_seq[-1]
    return (last.item() if last.ndim == 0 else last.copy()), x_seq


def _named(
    x_init: npt.ArrayLike, iter: int, iterator_function: IteratorFunction, dtype: Any
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """:func:`sequence` for the named variants, whose count is called ``iter``."""
    return sequence(x_init, _check_iterations(iter, "iter"), iterator_function, dtype)


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
    return _named(x_init, iter, lambda x0, n, x_prev: x0, dtype)


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
    return _named(x_init, iter, lambda x0, n, x_prev: x0 + n, dtype)


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
    return _named(x_init, iter, lambda x0, n, x_prev: x0 * n, dtype)


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
    return _named(x_init, iter, lambda x0, n, x_prev: x_prev * 2, dtype)


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
    return _named(x_init, iter, lambda x0, n, x_prev: x0 * np.sqrt(n), dtype)


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
        (21, array([ 2,  2,  2,  4,  9, 21]))
    """
    return _named(x_init, iter, lambda x0, n, x_prev: x_prev * np.sqrt(n), dtype)


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
    return _named(x_init, iter, lambda x0, n, x_prev: x0 * n * np.log2(n + 2), dtype)
