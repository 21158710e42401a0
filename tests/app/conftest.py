"""Fixtures of the app-core tests; helpers live in app_helpers.py (this folder is on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from app_helpers import demo_ready  # noqa: E402
from app.paths import demo_pair_dir  # noqa: E402


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
