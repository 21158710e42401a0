"""Staging folders, and the sweep of what killed processes left behind.

Every write that could leave files behind if its process died gets a staging folder
``adapters/.staging/<pid>-<random>/``. It holds the attempt's temporary files and ``files.json``:
the final paths the attempt may leave behind (placed but not yet committed, or about to be
deleted). The folder is removed when the attempt ends. The sweep removes the folder of a dead
process and, of the files it lists, those no row of the database references. A file that no
staging folder lists is never deleted, so an empty or replaced database cannot cost a document.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from app.compose import sweep as sweep_compositions
from app.errors import LibraryError
from app.library import Library
from app.paths import (
    adapters_dir, composed_dir, documents_dir, home_dir, remove_file, staging_root)
from converters.files import atomic_write

JOURNAL = "files.json"


def new_staging() -> Path:
    """A fresh staging folder of this process."""
    folder = staging_root() / f"{os.getpid()}-{secrets.token_hex(4)}"
    folder.mkdir()
    return folder


def listed_files(staging: Path) -> set[Path]:
    """The final files a staging folder says its attempt may leave behind."""
    try:
        names = json.loads((staging / JOURNAL).read_text())
    except (OSError, ValueError):
        return set()
    return {home_dir() / name for name in names}


def note_files(staging: Path, paths: Iterable[Path]) -> None:
    """Add ``paths`` to the staging folder's list, atomically (before they are created)."""
    home = home_dir()
    names = {str(p.relative_to(home)) for p in listed_files(staging)}
    names |= {str(Path(p).relative_to(home)) for p in paths}
    text = json.dumps(sorted(names))
    atomic_write(staging / JOURNAL, lambda tmp: tmp.write_text(text))


@contextmanager
def journal(paths: Iterable[Path]) -> Iterator[Path]:
    """A staging folder listing ``paths`` while the block runs (e.g. files about to be deleted)."""
    staging = new_staging()
    try:
        note_files(staging, paths)
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_alive(staging: Path) -> bool:
    pid = staging.name.split("-")[0]
    return pid.isdigit() and _alive(int(pid))


def clean_leftovers(library: Library) -> None:
    """Remove what dead processes left behind: their staging folders, the files those list that
    no row references, and their jobs (marked failed). Files nobody lists are kept, except the
    compositions of adapters no row references (``app.compose.sweep``: a cache, never a
    document's only copy)."""
    root = staging_root()
    dead = [folder for folder in root.iterdir() if not _owner_alive(folder)]
    if dead:
        keep = library.referenced_files()
        for folder in dead:
            for path in listed_files(folder) - keep:
                remove_file(path)
            shutil.rmtree(folder, ignore_errors=True)
    sweep_compositions(library.referenced_files(), alive=_alive)
    library.fail_jobs_of_dead(_alive)


def check_owned(library: Library) -> None:
    """LibraryError when the database holds no document but adapters or stored PDFs are present
    (a lost or replaced library.db): nothing is swept, the user restores the database first.
    Compositions (``adapters/composed/``) do not count: they are caches."""
    if library.document_count():
        return
    root, cache = staging_root(), composed_dir()
    listed = set()
    for folder in root.iterdir():
        listed |= listed_files(folder)
    stray = [p for base in (adapters_dir(), documents_dir()) for p in base.rglob("*")
             if p.is_file() and root not in p.parents and cache not in p.parents
             and p not in listed]
    if stray:
        raise LibraryError(
            f"The library database {library.db_path} holds no documents, but {home_dir()} still "
            f"holds {len(stray)} adapter and document files of an earlier library; restore library.db "
            "from a backup, or move the 'adapters' and 'documents' folders away to start afresh.")
