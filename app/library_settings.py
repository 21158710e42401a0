"""The ``settings`` table: the settings changed from their defaults, shared by the CLI
(``doclora config``) and the window.

Mixed into ``app.library.Library``, whose connection (``db``) and lock (``_lock``) it uses;
``app.settings`` says which values are valid.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from app.settings import Settings, read_saved, valid_saved

SETTINGS_FILE = "settings.json"  # where the window kept its settings before m006
MAX_SETTINGS_FILE = 1 << 20  # bytes read of it (it held a few settings)


class SettingsTable:
    """Saved settings of one library (each write one ``with db.atomic():``)."""

    db: Database
    home: Path
    _lock: threading.RLock

    def saved_settings(self) -> Settings:
        """The saved settings; the defaults for the others (and for values this version
        refuses: ``settings_problems`` says which)."""
        return Settings(**read_saved(self._setting_rows())[0])

    def settings_problems(self) -> list[str]:
        """One sentence for each saved value this version refuses (not JSON, out of bounds)."""
        return read_saved(self._setting_rows())[1]

    def _setting_rows(self) -> dict[str, Any]:
        with self._lock:
            return {r["key"]: r["value"] for r in self.db["settings"].rows}

    def save_settings(self, values: dict[str, Any]) -> None:
        """Save these settings (name -> value, already checked), replacing their old values."""
        with self._lock, self.db.atomic():
            self.db["settings"].upsert_all(
                [{"key": k, "value": json.dumps(v)} for k, v in values.items()], pk="key")

    def import_settings_file(self) -> None:
        """Take in the window's old ``settings.json``: its valid values become rows (settings
        already saved win), then it is renamed ``settings.json.imported``. A damaged file, and
        anything but a regular file (a FIFO would never end), is left as it is."""
        path = self.home / SETTINGS_FILE
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer.
            with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as file:
                if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                    return
                saved = json.loads(file.read(MAX_SETTINGS_FILE))  # a longer one: not JSON
        except (OSError, ValueError):
            return
        if not isinstance(saved, dict):
            return
        with self._lock, self.db.atomic():
            for key, value in valid_saved(saved).items():
                self.db.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)",
                                [key, json.dumps(value)])
        # Renamed by another process, or not now: a later start tries again, and its values never
        # replace saved ones.
        with contextlib.suppress(OSError):
            path.replace(path.with_name(f"{SETTINGS_FILE}.imported"))
