"""Files written whole or not at all (a leaf module: it imports nothing of gymsamp)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["written_atomically"]


@contextlib.contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; it replaces ``path`` once the block
    ends, so a crash or Ctrl-C never leaves a half-written file (nor destroys the old one).

    The folder of ``path`` is created if needed (a file standing in its way is a ValueError
    naming that file; writing would fail on the temporary path, which the caller never named);
    a ``path`` that is a folder is a ValueError too.

    A Ctrl-C that lands while the writer closes its file often surfaces as another error
    (numpy's ``savez`` closing its zip: ``ValueError: Can't close the ZIP file while there is
    an open writing handle``); the ``KeyboardInterrupt`` behind it is raised instead.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     target = Path(folder) / "a.txt"
        ...     with written_atomically(target) as tmp:
        ...         _ = tmp.write_text("whole")
        ...     target.read_text(), sorted(p.name for p in Path(folder).iterdir())
        ('whole', ['a.txt'])
    """
    if not path.name or path.is_dir():
        # Checked first: the temporary file's name, or replacing a folder by a file, would
        # give an error about the temporary path.
        raise ValueError(f"path must be a file path, got {str(path)!r} (a folder)")
    _make_folder(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        tmp.replace(path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        interrupt = _interrupt_behind(err)
        if interrupt is not None:
            raise interrupt from None
        raise


def _make_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        # mkdir names the folder it could not make; the user needs the file in its way.
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        raise ValueError(
            f"path must be in a folder, got {str(path)!r}, but {str(blocker)!r} is a file"
        ) from None


def _interrupt_behind(err: BaseException) -> KeyboardInterrupt | None:
    """The ``KeyboardInterrupt`` that ``err`` replaced while it was being handled, if any."""
    seen: set[int] = set()
    cause: BaseException | None = err.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__context__
    return None
