"""Shared test fixtures: the session folder, an empty library per test, a scripted chat engine and
stand-in documents. Each area keeps its own fixtures in tests/<area>/conftest.py."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# CI machines may be shared by other jobs: spinning OpenMP threads (libgomp's default) then steal
# the cores llama.cpp and torch need; sleeping at once is slower on a quiet machine but never
# pathological (see app/__init__.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# A library that chose no pair opens on the bundled SmolLM2 pair once it is built; the suite's
# libraries (and the windows it starts) open on the demo pair, whose behaviour the tests assert.
# tests/models/test_catalog.py checks the product's own default without this.
os.environ.setdefault("DOCLORA_DEFAULT_MODEL", "tiny-needle")

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


class ScriptedEngine:
    """Stands in for llama.cpp in wiring tests: answers from a script (no model is loaded) and
    records each ``generate`` call (messages, adapter file) and each forgotten adapter."""

    device = "cpu"
    loaded = True
    n_ctx = 4096

    def __init__(self, reply: str = "The special magic number is 4821.") -> None:
        self.reply = reply
        self.calls: list[tuple[list[dict], str | None]] = []
        self.forgotten: list[str] = []

    def generate(self, messages, adapter_file, stop=None) -> Iterator[str]:
        self.calls.append((messages, adapter_file))
        for word in self.reply.split(" "):
            if stop is not None and stop.is_set():
                return
            yield word + " "

    def forget_adapter(self, adapter_file: str) -> None:
        self.forgotten.append(adapter_file)

    def close(self) -> None:
        pass


@pytest.fixture
def scripted_engine() -> ScriptedEngine:
    """A fresh ScriptedEngine (set ``.reply`` to change what it answers)."""
    return ScriptedEngine()


@pytest.fixture(scope="session")
def new_scripted_engine() -> type[ScriptedEngine]:
    """The ScriptedEngine class, for tests that need several engines."""
    return ScriptedEngine


def _insert_document(library, title: str, pages: list[str], model: str = "tiny-needle",
                     rank: int = 9, adapter_bytes: int = 64) -> int:
    """A document row with pages, a stored copy and a stand-in adapter (a GGUF-looking file of
    ``adapter_bytes``), committed as the pipeline would; files go under ``$DOCLORA_HOME``."""
    from app.paths import adapter_files, source_copy

    sha = hashlib.sha256(("\n".join(pages) + title).encode()).hexdigest()
    gguf, peft = adapter_files(sha, model, "t")
    gguf.parent.mkdir(parents=True, exist_ok=True)
    gguf.write_bytes(b"GGUF" + bytes(adapter_bytes - 4))
    peft.write_bytes(b"{}")
    source = source_copy(sha, "t")
    source.write_bytes(b"%PDF-1.7 stand-in")
    return library.commit_ingest(
        sha256=sha, title=title, file_name=f"{title}.pdf", source_file=str(source),
        pages=list(enumerate(pages, start=1)), tokens=sum(len(p.split()) for p in pages),
        adapter={"model": model, "base_model": "fp", "hypernet_id": "hn", "rank": rank,
                 "n_chunks": 1, "file": str(gguf), "peft_file": str(peft),
                 "size": adapter_bytes})


@pytest.fixture(scope="session")
def insert_document() -> Callable[..., int]:
    """``insert_document(library, title, pages, model=, rank=, adapter_bytes=)`` -> document id:
    a ready document without running the pipeline (its adapter files are stand-ins)."""
    return _insert_document
