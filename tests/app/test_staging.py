"""The start-up sweep (app.staging): it deletes only what a dead attempt listed and no row
references, never runs for read-only commands, and refuses an empty database beside files."""

from __future__ import annotations

import os
import shutil

import pytest
from click.testing import CliRunner

from app.api import DocLoRA
from app.cli import cli
from app.library import Library
from app.paths import adapters_dir, home_dir, library_db_path
from app.staging import note_files

from app_helpers import library_state

DEAD_PID = 2**22 + 11  # above Linux's pid_max default: no process has it


@pytest.fixture
def existing(insert_document):
    """A library with two documents, so 'unchanged' means something."""
    lib = Library.open()
    insert_document(lib, "Existing", ["Some earlier text."])
    insert_document(lib, "Other", ["More text."])
    lib.close()
    return library_state()


def cli_run(*args):
    return CliRunner().invoke(cli, list(args))


def test_a_dead_attempt_is_swept_before_the_next_write_and_only_what_it_listed(existing):
    staging = adapters_dir() / ".staging" / f"{DEAD_PID}-deadbeef"
    staging.mkdir(parents=True)
    (staging / "adapter.gguf").write_bytes(b"half")
    orphan = adapters_dir() / "0123456789abcdef" / "tiny-needle-1.gguf"
    orphan.parent.mkdir()
    orphan.write_bytes(b"renamed but never committed")
    orphan_pdf = home_dir() / "documents" / "0123456789abcdef-1.pdf"
    orphan_pdf.write_bytes(b"%PDF")
    owned = sorted(Library.open().referenced_files())[0]  # listed, but a row references it
    note_files(staging, [orphan, orphan_pdf, owned])
    stranger = adapters_dir() / "fedcba9876543210" / "tiny-needle-2.gguf"  # listed by nobody
    stranger.parent.mkdir()
    stranger.write_bytes(b"whose is this?")

    assert cli_run("list").exit_code == 0
    assert staging.exists() and orphan.exists()  # read-only commands never sweep

    DocLoRA().tidy()  # what the first write (add, redo, the window) runs
    assert not staging.exists() and not orphan.exists() and not orphan.parent.exists()
    assert not orphan_pdf.exists()
    assert owned.exists() and stranger.exists()
    stranger.unlink()
    stranger.parent.rmdir()
    assert library_state() == existing

    # An attempt running in a live process protects what it listed.
    live = adapters_dir() / ".staging" / f"{os.getpid()}-cafe"
    live.mkdir()
    orphan.parent.mkdir()
    orphan.write_bytes(b"about to be committed by a live process")
    note_files(live, [orphan])
    DocLoRA().tidy()
    assert orphan.exists() and live.exists()


def test_the_sweep_removes_compositions_of_an_older_version_and_of_dead_writers(existing):
    composed = adapters_dir() / "composed"
    composed.mkdir()
    legacy = composed / "1-2-r128.gguf"  # named by ids, which SQLite gives out again
    dead_tmp = composed / f".abc-r128.gguf.{DEAD_PID}-beef.tmp"
    live_tmp = composed / f".abc-r128.gguf.{os.getpid()}-cafe.tmp"
    for path in (legacy, dead_tmp, live_tmp):
        path.write_bytes(b"GGUF")
    assert cli_run("list").exit_code == 0  # a cache: no reason to refuse the library
    DocLoRA().tidy()
    assert sorted(composed.iterdir()) == [live_tmp]
    live_tmp.unlink()
    assert library_state() == existing


def _files():
    return sorted(p for p in home_dir().rglob("*") if p.is_file() and "library.db" not in p.name)


def _drop_db():
    for suffix in ("", "-wal", "-shm"):
        library_db_path().with_name(library_db_path().name + suffix).unlink(missing_ok=True)


@pytest.mark.parametrize("damage", ["missing", "empty"])
def test_a_lost_database_beside_files_is_refused_and_nothing_is_deleted(existing, damage, tmp_path):
    backup = tmp_path / "library.db"
    db = Library.open()
    db.db.execute(f"VACUUM INTO '{backup}'")
    db.close()
    files = _files()
    _drop_db()
    if damage == "empty":
        library_db_path().write_bytes(b"")
    for args in (["list"], ["add", str(tmp_path / "x.pdf")], ["rm", "1", "--yes"]):
        result = cli_run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "holds no documents, but" in result.output and "restore library.db" in result.output
        assert "Traceback" not in result.output
    assert _files() == files
    _drop_db()
    shutil.copy(backup, library_db_path())
    assert library_state() == existing
