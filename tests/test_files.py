"""Files written whole or not at all (gymsamp._files)."""

from pathlib import Path

import pytest

from gymsamp._files import written_atomically


def _fail_writing(target: Path, message: str) -> None:
    with written_atomically(target) as tmp:
        if tmp.parent.is_dir():
            tmp.write_text("half")
        raise ValueError(message)


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(ValueError, match="boom"):
        _fail_writing(target, "boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_the_clean_up_never_replaces_the_error(tmp_path: Path) -> None:
    # Under a file instead of a folder the clean-up's unlink fails too: its NotADirectoryError
    # was raised instead of the writer's own error.
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="the writer's own error"):
        _fail_writing(blocker / "a.txt", "the writer's own error")
