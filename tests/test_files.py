"""Files written whole or not at all (gymsamp._files)."""

from pathlib import Path

import pytest

from gymsamp._files import written_atomically


def _write_then_fail(target: Path) -> None:
    with written_atomically(target) as tmp:
        tmp.write_text("half")
        raise ValueError("boom")


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(ValueError, match="boom"):
        _write_then_fail(target)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_the_folder_is_made_and_a_file_in_its_way_named(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "a.txt"
    with written_atomically(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    blocker = tmp_path / "file"
    blocker.write_text("")
    # It failed on the temporary path beside the target, which the caller never named.
    with (
        pytest.raises(
            ValueError, match=rf"path must be in a folder, got .*, but {str(blocker)!r} is a file"
        ),
        written_atomically(blocker / "sub" / "a.txt"),
    ):
        pass


@pytest.mark.parametrize("name", ["out.png", "."])
def test_a_folder_at_the_path_is_named(tmp_path: Path, monkeypatch, name: str) -> None:
    # A folder named out.png gave IsADirectoryError on 'out.png.tmp' -> 'out.png'; "." gave
    # pathlib's "PosixPath('.') has an empty name".
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.png").mkdir()
    with (
        pytest.raises(ValueError, match=rf"path must be a file path, got '{name}' \(a folder\)"),
        written_atomically(Path(name)),
    ):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert (tmp_path / "out.png").is_dir()


def _write_then_fail_while_handling(target: Path, first: BaseException) -> None:
    """A write that fails while closing after ``first``, and again while handling that."""
    with written_atomically(target) as tmp:
        tmp.write_text("half")
        try:
            try:
                raise first
            except BaseException:
                raise ValueError("Can't close the ZIP file") from None
        except ValueError:
            raise OSError("cleanup failed") from None


@pytest.mark.parametrize(
    ("first", "raised"),
    [(KeyboardInterrupt(), KeyboardInterrupt), (RuntimeError("x"), OSError)],
    ids=["an interrupt two errors back", "no interrupt"],
)
def test_an_interrupt_behind_the_errors_of_closing_is_raised_instead(
    tmp_path: Path, first: BaseException, raised: type[BaseException]
) -> None:
    target = tmp_path / "a.txt"
    with pytest.raises(raised) as info:
        _write_then_fail_while_handling(target, first)
    if raised is KeyboardInterrupt:
        assert info.value is first
    assert list(tmp_path.iterdir()) == []
