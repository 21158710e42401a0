"""The window's settings across restarts: ``settings.json`` in the home folder (DOCLORA_HOME).

Written atomically (a temporary file renamed over the old one); a missing or damaged file, and
keys this version does not know, fall back to the defaults.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

from app.paths import home_dir
from app.records import Settings
from hypernet.files import atomic_write


def settings_path() -> Path:
    """Where the settings are kept."""
    return home_dir() / "settings.json"


def load_settings() -> Settings:
    """The saved settings (the defaults for what is missing, unknown or unreadable)."""
    try:
        saved = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    if not isinstance(saved, dict):
        return Settings()
    return Settings(**{f.name: saved[f.name] for f in fields(Settings) if f.name in saved})


def save_settings(settings: Settings) -> Path:
    """Write ``settings`` atomically; returns the file."""
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(asdict(settings), indent=2)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
