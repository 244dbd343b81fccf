"""What a :class:`~gymsamp.sampling.sampler_pool.SamplerPool` call is given, checked: the
function, the argument list, progress bars and counts, and the call pickled for a worker
(what cannot be pickled is named)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import cloudpickle

from gymsamp._checks import check_int
from gymsamp.sampling.pool_worker import exception_message

__all__ = [
    "argument_list",
    "check_bar",
    "check_count",
    "check_func",
    "func_name",
    "pickled_call",
    "set_bar_total",
]


def pickled_call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The call as cloudpickle bytes for a worker; what cannot be pickled is named."""
    try:
        return cloudpickle.dumps((func, args, kwargs))
    except Exception as exc:
        parts = [(f"func {func_name(func)}", func)]
        parts += [(f"argument {i} ({type(a).__name__})", a) for i, a in enumerate(args)]
        parts += [(f"keyword argument {k!r} ({type(v).__name__})", v) for k, v in kwargs.items()]
        culprit = "the call"
        for what, value in parts:
            try:
                cloudpickle.dumps(value)
            except Exception:
                culprit = what
                break
        raise TypeError(
            f"{culprit} must be picklable to reach a SamplerPool worker process (cloudpickle; "
            f"num_threads=1 runs in this process and pickles nothing), got "
            f"{type(exc).__qualname__}: {exception_message(exc)}"
        ) from exc


def func_name(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def check_func(func: Any) -> None:
    if not callable(func):
        raise TypeError(
            f"func must be callable (its first argument is the worker's G), got {func!r}"
        )


def argument_list(arglist: Any) -> list[Any]:
    """``arglist`` as a list; a non-iterable failed in ``list()`` with "'NoneType' object is
    not iterable", which names neither the argument nor the rule."""
    try:
        arguments = iter(arglist)
    except TypeError:
        raise TypeError(
            f"arglist must be an iterable of arguments (one per call), got "
            f"{type(arglist).__name__} {arglist!r}"
        ) from None
    # Outside the try: a TypeError raised while iterating (a generator's own) is not renamed.
    return list(arguments)


def check_bar(name: str, bar: Any) -> None:
    if bar is not None and not callable(getattr(bar, "update", None)):
        raise TypeError(f"{name} must be None or have an update(n) method (e.g. tqdm), got {bar!r}")


def set_bar_total(bar: Any, total: int) -> None:
    """Give a bar whose ``total`` is None (a tqdm built without one) the call's expected count,
    as pyrado did.

    A total the caller set is kept (a bar over several calls counts them all), and a bar whose
    ``total`` cannot be set (a read-only property) is left alone: the bar only has to have an
    ``update(n)`` method.
    """
    if bar is None or getattr(bar, "total", 0) is not None:
        return
    with contextlib.suppress(AttributeError):
        bar.total = total


def check_count(name: str, value: Any, minimum: int, *, optional: bool = False) -> int:
    """``value`` as an int >= ``minimum`` (None gives ``minimum`` if ``optional``), else raise."""
    if optional and value is None:
        return minimum
    return check_int(name, value, minimum)
