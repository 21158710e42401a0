"""settings.json: a round trip, atomic writes, and defaults for what is missing or damaged."""

from __future__ import annotations

import pytest

from app.records import Settings
from app.settings_file import load_settings, save_settings, settings_path


def test_saved_settings_come_back():
    settings = Settings(n_threads=2, device="gpu", temperature=0.7, max_tokens=64)
    path = save_settings(settings)
    assert path == settings_path() and load_settings() == settings
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


CASES = [  # (file content, expected)
    (None, Settings()),
    ("{not json", Settings()),
    ("[1, 2]", Settings()),
    ('{"max_tokens": 32, "from_a_newer_version": 1}', Settings(max_tokens=32)),
]


@pytest.mark.parametrize("content, expected", CASES)
def test_missing_damaged_or_unknown_settings_fall_back_to_the_defaults(content, expected):
    if content is not None:
        settings_path().parent.mkdir(parents=True, exist_ok=True)
        settings_path().write_text(content)
    assert load_settings() == expected
