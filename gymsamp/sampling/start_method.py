"""Starting worker processes without fixing the global multiprocessing start method."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.process
import os
import sys
from collections.abc import Iterator
from typing import Any

__all__ = [
    "check_main_script",
    "check_shippable",
    "check_start_method",
    "effective_start_method",
    "global_start_method_kept",
    "main_guard_hint",
    "main_script_path",
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


def main_script_path() -> str | None:
    """The file a worker started with ``"spawn"`` or ``"forkserver"`` re-runs as the main
    module before it does anything else, or None where it re-runs none.

    Python's own rule (``multiprocessing.spawn.get_preparation_data``): a main module run with
    ``python -m`` is imported by name, not by path (None here); ``python -c`` and an
    interactive session have no ``__file__`` (None); otherwise its ``__file__``, relative to
    the directory the parent started in. ``python - < script.py`` sets ``__file__`` to
    ``"<stdin>"``, a file that does not exist.

    Example:
        >>> main_script_path() is None or isinstance(main_script_path(), str)
        True
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(getattr(main, "__spec__", None), "name", None) is not None:
        return None
    path = getattr(main, "__file__", None)
    if not isinstance(path, str):
        return None
    origin = getattr(multiprocessing.process, "ORIGINAL_DIR", None)  # set at its import
    if not os.path.isabs(path) and origin is not None:
        path = os.path.join(origin, path)
    return os.path.normpath(path)


def check_main_script(method: str, start_method: str | None, *, instead: str) -> None:
    """Refuse to start workers with ``method`` where they could not re-run the main script.

    A spawned (or forkserver) worker first re-runs the main script from its file; a script
    read from standard input (``python - < script.py``, a heredoc) has none, so every worker
    dies at its start with Python's ``FileNotFoundError: '<stdin>'`` on stderr, and the caller
    saw only "worker ... died unexpectedly". Fork runs no main script; ``python -c`` and an
    interactive session have none to re-run.

    Args:
        method: The start method the workers get (:func:`effective_start_method`).
        start_method: What the caller passed (None: the platform's), for the message.
        instead: What else runs without worker processes, e.g. ``"vectorization='sync'"``.

    Raises:
        ValueError: ``method`` re-runs a main script whose file does not exist.
    """
    if method == "fork":
        return
    path = main_script_path()
    if path is None or os.path.exists(path):
        return
    given = f"{start_method!r}" + (
        "" if start_method is not None else f" (the platform's {method!r})"
    )
    fork = " or start_method='fork'" if "fork" in multiprocessing.get_all_start_methods() else ""
    raise ValueError(
        f"start_method must not be 'spawn' or 'forkserver' for a main script without a file, "
        f"got {given}: worker processes started with {method!r} first re-run the main script "
        f"from {path!r}, which does not exist (a script read from standard input, "
        f"`python - < script.py`?); save the script to a file and run that, or pass {instead}"
        f"{fork}"
    )


def main_guard_hint(method: str) -> str:
    """For the message of a worker started with ``method`` that died before its first reply:
    the missing ``if __name__ == "__main__":`` guard, where a main script is re-run ("" where
    none is: fork, ``python -c``, an interactive session).

    Without the guard, a spawned worker re-running the script reaches the script's own
    sampler or pool, Python refuses to start processes from a process still starting (its
    ``RuntimeError`` about the "bootstrapping phase" goes to the worker's stderr) and the
    worker exits with code 1: the caller's error said only that the worker died.

    Example:
        >>> main_guard_hint("fork")
        ''
    """
    if method == "fork":
        return ""
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    path = main_script_path()
    if name is not None:
        what = f"module {name}"
    elif path is not None:
        what = f"script {path}"
    else:
        return ""
    return (
        f"; a worker started with {method!r} first re-runs the main {what}: if that starts "
        "worker processes at its top level (a sampler, a pool), Python refuses in the worker "
        "(a RuntimeError about the bootstrapping phase, on stderr) and the worker dies, so keep "
        'the top-level work under `if __name__ == "__main__":`'
    )
