"""Fixtures of the app-core tests; helpers live in app_helpers.py (tests/app is on pytest's
``pythonpath``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.paths import demo_pair_dir
from app_helpers import demo_ready


@pytest.fixture
def pdfs(tmp_path) -> Path:
    """A folder for the test's input files (outside DOCLORA_HOME)."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    return folder


@pytest.fixture
def demo_pair() -> Path:
    """The bundled demo pair; its absence is a failure, not a skip."""
    if not demo_ready():
        raise RuntimeError(f"the demo pair is missing in {demo_pair_dir()}; build it first "
                           "(doclora train --preset tiny-needle)")
    return demo_pair_dir()
