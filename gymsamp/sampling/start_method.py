"""Starting worker processes without fixing the global multiprocessing start method."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from typing import Any

__all__ = [
    "check_shippable",
    "check_start_method",
    "effective_start_method",
    "global_start_method_kept",
]


@contextlib.contextmanager
def global_start_method_kept() -> Iterator[None]:
    """Leave the global start method as it was: unset stays unset.

    ``multiprocessing.get_context(None)`` and starting a spawn or forkserver process (its
    preparation data asks for the start method) both fix the global default as a side effect,
    after which the caller's own ``multiprocessing.set_start_method(...)`` raises
    ``RuntimeError: context has already been set``. The contexts and processes made inside
    stay valid.

    Example:
        >>> import multiprocessing
        >>> unset = multiprocessing.get_start_method(allow_none=True) is None
        >>> with global_start_method_kept():
        ...     ctx = multiprocessing.get_context(None)
        >>> (multiprocessing.get_start_method(allow_none=True) is None) == unset
        True
    """
    unset = multiprocessing.get_start_method(allow_none=True) is None
    try:
        yield
    finally:
        if unset and multiprocessing.get_start_method(allow_none=True) is not None:
            multiprocessing.set_start_method(None, force=True)  # the public way to unset it


def check_start_method(start_method: Any) -> str | None:
    """``start_method`` if it is None or one of this platform's multiprocessing start methods.

    Raises:
        TypeError: ``start_method`` is not a str.
        ValueError: ``start_method`` is not available here.

    Example:
        >>> check_start_method("spawn")
        'spawn'
        >>> check_start_method("foo")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: start_method must be None or one of [...], got 'foo'
    """
    if start_method is None:
        return None
    methods = multiprocessing.get_all_start_methods()
    if not isinstance(start_method, str):
        raise TypeError(f"start_method must be None or one of {methods}, got {start_method!r}")
    if start_method not in methods:
        raise ValueError(f"start_method must be None or one of {methods}, got {start_method!r}")
    return start_method


def effective_start_method(start_method: str | None) -> str:
    """The start method worker processes get: ``start_method``, or for None the platform's
    default, found without fixing it (``get_context(None)`` would, see
    :func:`global_start_method_kept`).

    Only fork hands a worker its env factory by inheritance; the others pickle it.

    Example:
        >>> effective_start_method("spawn")
        'spawn'
        >>> effective_start_method(None) in multiprocessing.get_all_start_methods()
        True
    """
    if start_method is not None:
        return start_method
    # The first of get_all_start_methods() is the platform's default (Python's docs).
    return (
        multiprocessing.get_start_method(allow_none=True)
        or (multiprocessing.get_all_start_methods()[0])
    )


def check_shippable(name: str, value: Any, *, destination: str) -> None:
    """Refuse ``value`` now if cloudpickle cannot send it to ``destination``.

    Without this check the error surfaces at the first ``sample()``, as cloudpickle's bare
    message ("cannot pickle '_thread.lock' object") with nothing naming what failed.

    Args:
        name: The argument that supplied ``value``, for the message.
        value: What is sent (an env factory, a policy).
        destination: Where it goes, e.g. ``"Ray actors (backend='ray')"``.

    Raises:
        TypeError: cloudpickle cannot pickle ``value``.

    Example:
        >>> import threading
        >>> check_shippable("env", lambda: 1, destination="spawned workers")
        >>> lock = threading.Lock()
        >>> try:
        ...     check_shippable("env", lambda: lock, destination="spawned workers")
        ... except TypeError as err:
        ...     message = str(err)
        >>> print(message.split(", got")[0])
        env must be picklable with cloudpickle to reach spawned workers
        >>> print(message.split(": ")[-1])
        cannot pickle '_thread.lock' object
    """
    import cloudpickle

    try:
        cloudpickle.dumps(value)
    except Exception as err:  # pickling may fail with any error the object's reducers raise
        raise TypeError(
            f"{name} must be picklable with cloudpickle to reach {destination}, got "
            f"{value!r}: {err}"
        ) from err
