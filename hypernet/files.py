"""Atomic file writes, the one helper of hypernet/, converters/ and app/: the writer fills a
temporary path beside the target, which is renamed into place only when the writer succeeded."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path


def atomic_write(target: str | Path, write: Callable[[Path], object], *, replace: bool = True) -> Path:
    """Call ``write(tmp)``, then rename ``tmp`` to ``target``; returns ``target``.

    ``tmp`` is a fresh path beside ``target`` that the writer creates (a file, or a folder), so it
    gets the usual permissions. On any failure it is removed and ``target`` is untouched.
    ``replace=False`` never replaces an existing ``target`` (FileExistsError): a file goes into
    place by a hard link, which fails rather than replace; a folder, or a file on a file system
    without hard links, is checked just before the rename.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        if replace:
            os.replace(tmp, target)
        else:
            _into_place_unless_taken(tmp, target)
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    return target


def _into_place_unless_taken(tmp: Path, target: Path) -> None:
    if not tmp.is_dir():
        try:
            os.link(tmp, target)
            return
        except FileExistsError:
            raise
        except OSError:  # no hard links here (FAT, some network shares)
            pass
    if target.exists() or target.is_symlink():
        raise FileExistsError(target)
    os.replace(tmp, target)
