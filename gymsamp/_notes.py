"""Notes (PEP 678) on exceptions that pass through gymsamp, on every Python it supports."""

from __future__ import annotations

__all__ = ["add_note"]


def add_note(err: BaseException, note: str) -> None:
    """``err.add_note(note)`` on every Python gymsamp supports.

    Python 3.10 has no ``BaseException.add_note``: the note was dropped there, and with it the
    remote traceback of e.g. a policy's exception in an actor. This stores it where 3.11's
    ``add_note`` does (PEP 678's ``__notes__`` list), so code that reads the notes finds them on
    3.10 too (3.10's own traceback printing does not show them; the ``exceptiongroup`` backport's
    does).

    Example:
        >>> err = ValueError("bad")
        >>> add_note(err, "while sampling")
        >>> err.__notes__
        ['while sampling']
    """
    notes = getattr(err, "__notes__", None)
    if isinstance(notes, list):
        notes.append(note)
    else:
        err.__notes__ = [note]  # type: ignore[attr-defined]  # typeshed: 3.11+ only
