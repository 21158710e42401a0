"""The library's SQLite connection: opened and migrated under a file lock, and its failures as
one sentence."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout
from sqlite_utils import Database

from app.errors import DiskFullError, DocLoRAError, LibraryError, is_disk_full
from app.migrations import migrations
from app.paths import home_dir, library_db_path


def now() -> str:
    """UTC timestamp, ISO 8601, second precision."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def storage_error(exc: BaseException, path: Path | None = None) -> DocLoRAError:
    """One sentence for a failure of the library's database or folder (``exc`` from sqlite3 or
    the file system)."""
    home = home_dir()
    if is_disk_full(exc):
        return DiskFullError(f"The disk holding {home} is full; free some space and try again.")
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
            or "readonly" in text or "unable to open database" in text):
        return LibraryError(f"The library folder {home} cannot be written ({text}); give "
                            "yourself write access to it or set DOCLORA_HOME to another folder.")
    if isinstance(exc, Timeout):
        return LibraryError(f"Another DocLoRA process has held the library lock {exc.lock_file} "
                            "for a minute; wait for it to finish and try again.")
    if isinstance(exc, sqlite3.DatabaseError):
        return LibraryError(f"The library database {path or library_db_path()} is damaged "
                            f"({text}); restore it from a backup, or move it away together with "
                            "the 'adapters' and 'documents' folders to start afresh.")
    return LibraryError(f"The library in {home} could not be used ({text}); check the folder "
                        "and the free disk space.")


class _Database(Database):
    """sqlite-utils' Database whose outermost ``atomic()`` begins IMMEDIATE: it takes the write
    lock first (waiting up to the busy timeout), so a transaction that reads before it writes
    (``commit_ingest`` looks for the file's hash) never fails with "database is locked" because
    another process wrote in between."""

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def connect(path: Path | None = None) -> Database:
    """The library database, created and migrated under a file lock: migrations read what is
    pending before they write, so two processes starting at once must not interleave."""
    path = path or library_db_path()
    try:
        with FileLock(f"{path}.lock", timeout=60):
            conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
            db = _Database(conn)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            migrations.apply(db)
            db.execute("SELECT count(*) FROM documents").fetchone()  # a damaged file fails here
            return db
    except (sqlite3.Error, OSError, Timeout) as exc:
        raise storage_error(exc, path) from exc
