"""Starting worker processes without fixing the global multiprocessing start method."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from typing import Any

__all__ = ["check_start_method", "global_start_method_kept"]


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
