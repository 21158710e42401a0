"""Shared test fixtures. Each area keeps its own fixtures in tests/<area>/conftest.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# CI machines may be shared by other jobs: spinning OpenMP threads (libgomp's default) then steal
# the cores llama.cpp and torch need; sleeping at once is slower on a quiet machine but never
# pathological (see app/__init__.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PARITY_DIR = Path(__file__).resolve().parent / "fixtures" / "d2l_parity"  # MIT, see its README
ARTIFACTS_DIR = REPO_ROOT / "artifacts"
# Every cache and temp folder the app, its libraries and pytest itself use, pointed into one
# session folder that is removed at the end: tests leave nothing in /tmp or ~/.cache (pip's cache
# stays; the llama.cpp sdist comes from it). DOCLORA_KEEP_TEST_TMP=1 keeps the folder.
SESSION_DIRS = {"DOCLORA_CACHE": "doclora-cache", "XDG_CACHE_HOME": "xdg-cache",
                "HF_HOME": "hf-home", "GRADIO_TEMP_DIR": "gradio", "TMPDIR": "tmp"}
_SESSION_ROOT = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Point the caches and temp dirs at a fresh session folder (before any test runs)."""
    root = Path(tempfile.mkdtemp(prefix="doclora-tests-"))
    config.stash[_SESSION_ROOT] = root
    for var, name in SESSION_DIRS.items():
        (root / name).mkdir()
        os.environ[var] = str(root / name)
    tempfile.tempdir = os.environ["TMPDIR"]  # gettempdir() cached /tmp before this ran


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session folder (pytest's own tmp_path folders live inside it too)."""
    root = config.stash.get(_SESSION_ROOT, None)
    if root is not None and not os.environ.get("DOCLORA_KEEP_TEST_TMP"):
        shutil.rmtree(root, ignore_errors=True)


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
