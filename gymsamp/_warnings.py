"""Warnings that point at the user's line, however deep inside gymsamp they are raised."""

from __future__ import annotations

import contextlib
import os
import sys

import gymnasium

__all__ = ["user_stacklevel"]

# gymsamp's own frames, Gymnasium's between gymsamp's (e.g. a vector env's constructor calling
# back into gymsamp), and contextlib's between a @contextmanager and its with block.
_SKIPPED = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.dirname(os.path.abspath(gymnasium.__file__)) + os.sep,
    os.path.abspath(contextlib.__file__),
)


def user_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` in the calling function that names the first
    frame outside gymsamp (the user's call), whichever public function led there (Gymnasium's
    and contextlib's frames are passed over too).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warnings.warn("note", stacklevel=user_stacklevel())
        >>> caught[0].filename == __file__ or caught[0].filename.startswith("<doctest")
        True
    """
    frame = sys._getframe(1)  # the function that will call warnings.warn: stacklevel 1
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_SKIPPED):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
