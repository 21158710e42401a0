"""Shared test fixtures. Each area keeps its own fixtures in tests/<area>/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

# CI machines may be shared by other jobs: spinning OpenMP threads (libgomp's default) then steal
# the cores llama.cpp and torch need; sleeping at once is slower on a quiet machine but never
# pathological (see app/__init__.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PARITY_DIR = Path(__file__).resolve().parent / "fixtures" / "d2l_parity"  # MIT, see its README
ARTIFACTS_DIR = REPO_ROOT / "artifacts"


@pytest.fixture(autouse=True)
def doclora_home(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own empty library and cache, never the user's."""
    home = tmp_path_factory.mktemp("doclora_home")
    monkeypatch.setenv("DOCLORA_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def parity_dir() -> Path:
    """The reference implementation's parity fixtures (tests/fixtures/d2l_parity)."""
    if not PARITY_DIR.is_dir():
        raise RuntimeError(f"parity fixtures missing: {PARITY_DIR}")
    return PARITY_DIR


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests save screenshots and reports for humans to look at."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR
