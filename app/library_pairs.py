"""The ``models`` table: which model pairs are installed (where, from what) and which is active.

Mixed into ``app.library.Library``, whose connection (``db``) and lock (``_lock``) it uses;
``app.models.catalog`` turns these rows into ``Pair``s.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from sqlite_utils import Database

from app.database import now


class PairTable:
    """Installed model pairs of one library (each write one ``with db.atomic():``)."""

    db: Database
    _lock: threading.RLock

    def pair_rows(self) -> dict[str, dict]:
        """Every recorded pair by name, ``source`` decoded from JSON and paths as ``Path``."""
        with self._lock:
            found = {}
            for row in self.db["models"].rows:
                row = dict(row)
                row["source"] = json.loads(row["source"] or "{}")
                for key in ("base_dir", "gguf", "hypernet"):
                    row[key] = Path(row[key]) if row[key] else None
                row["active"] = bool(row["active"])
                found[row["name"]] = row
            return found

    def record_pair(self, name: str, base_dir: Path, gguf: Path, hypernet: Path, source: dict,
                    active: bool) -> None:
        """Insert or replace one pair's row; with ``active`` it becomes the only active one."""
        with self._lock, self.db.atomic():
            if active:
                self.db.execute("UPDATE models SET active = 0")
            self.db["models"].upsert({
                "name": name, "base_dir": str(base_dir), "gguf": str(gguf),
                "hypernet": str(hypernet), "source": json.dumps(source, sort_keys=True),
                "installed_at": now(), "active": int(active),
            }, pk="name")

    def set_active_pair(self, name: str | None) -> None:
        """Mark ``name`` as the only active pair (``None``: none, i.e. the default pair)."""
        with self._lock, self.db.atomic():
            self.db.execute("UPDATE models SET active = 0")
            if name is not None:
                self.db.execute("UPDATE models SET active = 1 WHERE name = ?", [name])

    def forget_pair(self, name: str) -> None:
        """Delete one pair's row."""
        with self._lock, self.db.atomic():
            self.db.execute("DELETE FROM models WHERE name = ?", [name])
