"""Schedules such as iteration-dependent sample counts: :func:`sequence` and its named variants.

Every function returns ``(x_iter, x_seq)``: the element at the last iteration and the whole
sequence ``x_0 .. x_iter`` as an array of shape ``(iter + 1, *x_init.shape)`` and the requested
dtype. The seed document's formulas are the contract (DESIGN §8): the sequence is computed in
float64, recursions included, and cast to ``dtype`` once at the end, as pyrado did; casting to
an int type truncates toward zero like ``numpy.ndarray.astype``. E.g. ``sequence_rec_sqrt(2, 5)``
is ``2, 2, 2.83, 4.90, 9.80, 21.9`` and, as ints, ``[2, 2, 2, 4, 9, 21]``.

The integral formulas (:func:`sequence_const`, :func:`sequence_plus_one`,
:func:`sequence_add_init`, :func:`sequence_rec_double`) with an integer ``x_init`` and an int
``dtype`` are computed with Python ints instead: the same values where float64 is exact, and
exact beyond ``2**53`` too (``sequence_plus_one(2**60, 1)`` ends in ``2**60 + 1``). Everywhere
else an integer ``x_init`` that float64 would change is refused rather than rounded.
"""

from __future__ import annotations

import inspect
import numbers
import reprlib
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from gymsamp.stats._checks import refuse_grad

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


def _check_init_and_dtype(x_init: npt.ArrayLike, dtype: Any) -> tuple[np.ndarray, np.dtype[Any]]:
    """``x_init`` as an array and ``dtype`` as a numpy dtype, both checked."""
    dt = _check_dtype(dtype)
    refuse_grad("x_init", x_init, "computing sequences of")
    x0 = np.asarray(x_init)
    if _is_big_int(x0):
        return x0, dt  # Python ints beyond 64 bits: exact in the integral formulas
    if x0.dtype.kind not in "biuf":
        raise TypeError(f"x_init must be a real number or array, got dtype {x0.dtype}")
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"x_init must be finite, got {x_init!r}")
    return x0, dt


def _is_big_int(x0: np.ndarray) -> bool:
    """True for Python ints that no numpy integer holds (numpy keeps them as objects)."""
    return (
        x0.dtype == object
        and x0.size > 0
        and all(isinstance(v, int) and not isinstance(v, bool) for v in x0.flat)
    )


def _check_iterations(value: Any, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value}")
    return int(value)


def _fitting(values: np.ndarray, dt: np.dtype[Any]) -> np.ndarray:
    """Per value (a float, or a Python int in an object array): whether ``dt`` holds it."""
    if dt.kind == "f":
        with np.errstate(over="ignore"):
            return np.isfinite(values.astype(dt))
    info = np.iinfo(dt)
    low, high = int(info.min), int(info.max) + 1
    if values.dtype == object:  # Python ints compare exactly
        return np.array([low <= value < high for value in values.flat], dtype=bool)
    # The cast truncates toward zero; beyond the range astype would silently wrap. The bounds
    # min and max + 1 are powers of two, so exact as float64.
    kept = np.trunc(values)
    return (kept >= np.float64(low)) & (kept < np.float64(high))


def _check_elements(
    values: np.ndarray, first: int, dt: np.dtype[Any], source: Callable[..., Any]
) -> None:
    """Refuse the first of the elements ``x_first, ...`` that is NaN or that ``dt`` cannot hold.

    Args:
        values: Elements along the first axis.
        first: Index of ``values[0]`` in the sequence.
        dt: The dtype the sequence is cast to.
        source: The iterator function (named when it returned NaN).
    """
    rows = len(values)
    nan = np.zeros(rows, dtype=bool)
    if values.dtype.kind == "f":
        nan = np.isnan(values).reshape(rows, -1).any(axis=1)
    bad = np.flatnonzero(nan | ~_fitting(values, dt).reshape(rows, -1).all(axis=1))
    if bad.size == 0:
        return
    n = int(bad[0])
    if nan[n]:
        raise ValueError(
            f"sequence element x_{first + n} must be a number, got {values[n]} from "
            f"iterator_function {_describe(source)}"
        )
    raise OverflowError(f"sequence element x_{first + n} = {values[n]} does not fit dtype {dt}")


def _element(result: Any, dt: np.dtype[Any], n: int, source: Callable[..., Any]) -> np.ndarray:
    """``iterator_function``'s result for ``x_n`` as an array of ``dt``, refusing non-numbers.

    A str came out as numpy's "could not convert string to float", naming neither the
    callback nor the element, and a numeric str ("3") was silently taken as a number. None
    stays NaN, which :func:`_check_elements` names.
    """
    try:
        raw = np.asarray(result)
    except ValueError:  # ragged nesting
        raw = None
    if raw is not None and raw.dtype.kind in "biufO":
        try:
            return raw.astype(dt)
        except (TypeError, ValueError):  # objects that are no numbers, e.g. a dict
            pass
    raise TypeError(
        f"iterator_function must return real numbers shaped like x_init, got "
        f"{reprlib.repr(result)} ({type(result).__name__}) for x_{n} from {_describe(source)}"
    )


def _start(x0: np.ndarray, dt: np.dtype[Any], *, integral: bool) -> np.ndarray:
    """``x_0`` as the sequence is computed: Python ints (exact) or float64."""
    ints = (x0.dtype.kind in "biu" or x0.dtype == object) and dt.kind in "iu"
    if ints and integral:
        return x0.astype(object)
    start = x0.astype(np.float64)
    # Python compares an int with a float exactly: a difference is a rounded x_init.
    if ints and np.any(start.astype(object) != x0.astype(object)):
        raise ValueError(
            "x_init must be exactly representable in float64 (integers up to 2**53 are) to be "
            f"computed in float64 and cast to {dt}, got {x0.tolist()!r}"
        )
    return start


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
        TypeError: If ``iterator_function`` returns something that is no real number or
            array of them (e.g. a str).
        ValueError: If ``iterations < 0``, ``x_init`` is not finite (or, with an int
            ``dtype``, is an integer that float64 cannot hold exactly) or is a tensor that
            requires grad, or ``iterator_function`` returns the wrong shape or NaN.
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
    x0, dt = _check_init_and_dtype(x_init, dtype)
    return _sequence(x0, iterations, iterator_function, dt, integral=False)


def _sequence(
    x0: np.ndarray,
    iterations: int,
    iterator_function: IteratorFunction,
    dt: np.dtype[Any],
    *,
    integral: bool,
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """:func:`sequence` on checked arguments; ``integral``: the formula maps ints to ints."""
    start = _start(x0, dt, integral=integral)
    values = np.empty((iterations + 1, *x0.shape), dtype=start.dtype)
    values[0, ...] = start  # "..." stores the values, not a 0-d array object
    # An overflow to inf or an invalid operation's nan is reported as gymsamp's error below
    # (which names the element), so numpy's warnings about them would only repeat it.
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(1, iterations + 1):
            if values.dtype == object:
                # Exact ints would grow without bound (sequence_rec_double): stop after the
                # first element past the dtype. Floats stop at inf and are checked once, below.
                _check_elements(values[n - 1 : n], n - 1, dt, iterator_function)
            # Copies, so that the callback cannot change the stored elements.
            init_arg = np.array(values[0], dtype=values.dtype)
            prev_arg = np.array(values[n - 1], dtype=values.dtype)
            x_n = _element(
                iterator_function(init_arg, n, prev_arg), values.dtype, n, iterator_function
            )
            if x_n.shape != x0.shape:
                raise ValueError(
                    f"iterator_function must return the shape of x_init {x0.shape}, got "
                    f"{x_n.shape} at n={n}"
                )
            values[n, ...] = x_n
    _check_elements(values, 0, dt, iterator_function)
    x_seq = values.astype(dt)
    last = x_seq[-1]
    return (last.item() if last.ndim == 0 else last.copy()), x_seq


def _named(
    x_init: npt.ArrayLike,
    iter: int,
    iterator_function: IteratorFunction,
    dtype: Any,
    *,
    integral: bool = False,
) -> tuple[SequenceElement, npt.NDArray[Any]]:
    """:func:`sequence` for the named variants, whose count is called ``iter``.

    ``integral``: the formula maps ints to ints, so int sequences are computed exactly.
    """
    iterations = _check_iterations(iter, "iter")
    x0, dt = _check_init_and_dtype(x_init, dtype)
    return _sequence(x0, iterations, iterator_function, dt, integral=integral)


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
    return _named(x_init, iter, lambda x0, n, x_prev: x0, dtype, integral=True)


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
    return _named(x_init, iter, lambda x0, n, x_prev: x0 + n, dtype, integral=True)


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
    return _named(x_init, iter, lambda x0, n, x_prev: x0 * n, dtype, integral=True)


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
    return _named(x_init, iter, lambda x0, n, x_prev: x_prev * 2, dtype, integral=True)


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
