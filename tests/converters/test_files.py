"""converters.files: a target appears whole or not at all, replace=False never clobbers, and only
empty folders are removed."""

from __future__ import annotations

import pytest

from converters.files import atomic_write, place, remove_empty_folder


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def half_then_fail(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk trouble")

    with pytest.raises(RuntimeError, match="disk trouble"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_replace_false_refuses_a_file_that_appeared(tmp_path):
    target = tmp_path / "out.txt"

    def write_while_another_appears(tmp):
        tmp.write_text("mine")
        target.write_text("theirs")  # created by someone else meanwhile

    with pytest.raises(FileExistsError):
        atomic_write(target, write_while_another_appears, replace=False)
    assert target.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    assert atomic_write(tmp_path / "new.txt", lambda p: p.write_text("x"), replace=False).read_text() == "x"


def test_a_folder_is_renamed_into_place_whole(tmp_path):
    def fill(tmp):
        tmp.mkdir()
        (tmp / "a.json").write_text("{}")

    out = atomic_write(tmp_path / "peft", fill)
    assert [p.name for p in out.iterdir()] == ["a.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["peft"]


def test_a_folder_placed_over_an_older_one_replaces_it_whole(tmp_path):
    old, new = tmp_path / "pair", tmp_path / "stage"
    for folder, name in ((old, "old.bin"), (new, "new.bin")):
        folder.mkdir()
        (folder / name).write_bytes(b"x")
    assert place(new, old) == old
    assert [p.name for p in old.iterdir()] == ["new.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["pair"]
    (tmp_path / "other").mkdir()
    with pytest.raises(FileExistsError):
        place(tmp_path / "other", old, replace=False)
    assert [p.name for p in old.iterdir()] == ["new.bin"]


def test_only_an_empty_folder_is_removed(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "kept.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    assert not remove_empty_folder(full) and not remove_empty_folder(tmp_path / "missing")
    assert remove_empty_folder(tmp_path / "empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]
