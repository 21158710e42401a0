"""The ``models`` table of the library database: which pairs are installed and which is active."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlite_utils import Database

from app.library import connect
from app.paths import library_db_path


@contextmanager
def opened() -> Iterator[Database]:
    """The library database, migrated (the app core's schema owns the ``models`` table)."""
    db = connect(library_db_path())
    try:
        yield db
    finally:
        db.close()


def rows() -> dict[str, dict]:
    """Every recorded pair by name, ``source`` decoded from JSON and paths as ``Path``."""
    with opened() as db:
        found = {}
        for row in db["models"].rows:
            row = dict(row)
            row["source"] = json.loads(row["source"] or "{}")
            for key in ("base_dir", "gguf", "hypernet"):
                row[key] = Path(row[key]) if row[key] else None
            row["active"] = bool(row["active"])
            found[row["name"]] = row
        return found


def record(name: str, base_dir: Path, gguf: Path, hypernet: Path, source: dict,
           active: bool) -> None:
    """Insert or replace one pair's row; with ``active`` it becomes the only active one."""
    with opened() as db, db.conn:
        if active:
            db.execute("UPDATE models SET active = 0")
        db["models"].upsert({
            "name": name, "base_dir": str(base_dir), "gguf": str(gguf), "hypernet": str(hypernet),
            "source": json.dumps(source, sort_keys=True),
            "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "active": int(active),
        }, pk="name")


def set_active(name: str | None) -> None:
    """Mark ``name`` as the only active pair (``None``: none, i.e. the bundled pair)."""
    with opened() as db, db.conn:
        db.execute("UPDATE models SET active = 0")
        if name is not None:
            db.execute("UPDATE models SET active = 1 WHERE name = ?", [name])


def delete(name: str) -> None:
    """Forget one pair's row."""
    with opened() as db, db.conn:
        db.execute("DELETE FROM models WHERE name = ?", [name])
