"""Files appear whole or not at all: the one owner of atomic writes, moves into place and the
removal of emptied folders, for converters/, hypernet/ and app/ alike (it imports none of them).

``atomic_write`` has a writer fill a temporary path beside the target, renamed into place only
when the writer succeeded; ``place`` renames what was written elsewhere on the same file system
(a staging folder) into place.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path


def _beside(target: Path, suffix: str) -> Path:
    """A fresh hidden name in ``target``'s folder (unique per process and call)."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.{suffix}")


def atomic_write(target: str | Path, write: Callable[[Path], object], *, replace: bool = True) -> Path:
    """Call ``write(tmp)``, then rename ``tmp`` to ``target``; returns ``target``.

    ``tmp`` is a fresh path beside ``target`` that the writer creates (a file, or a folder), so it
    gets the usual permissions. On any failure it is removed and ``target`` is untouched.
    ``replace`` is as for ``place``.
    """
    target = Path(target)
    tmp = _beside(target, "tmp")
    try:
        write(tmp)
        place(tmp, target, replace=replace)
    finally:
        _remove(tmp)
    return target


def place(src: str | Path, target: str | Path, *, replace: bool = True) -> Path:
    """Rename the finished file or folder ``src`` (on ``target``'s file system) to ``target``;
    returns ``target``.

    A folder replaces an older folder by setting it aside first (the old one is deleted after).
    ``replace=False`` never replaces an existing ``target`` (FileExistsError): a file goes into
    place by a hard link, which fails rather than replace; a folder, or a file on a file system
    without hard links, is checked just before the rename.
    """
    src, target = Path(src), Path(target)
    if not replace:
        _into_place_unless_taken(src, target)
    elif src.is_dir() and target.is_dir() and not target.is_symlink():
        old = _beside(target, "old")
        os.replace(target, old)
        try:
            os.replace(src, target)
        except BaseException:
            os.replace(old, target)
            raise
        _remove(old)
    else:
        os.replace(src, target)
    return target


def _into_place_unless_taken(tmp: Path, target: Path) -> None:
    if not tmp.is_dir():
        try:
            os.link(tmp, target)
            tmp.unlink()
            return
        except FileExistsError:
            raise
        except OSError:  # no hard links here (FAT, some network shares)
            pass
    if target.exists() or target.is_symlink():
        raise FileExistsError(target)
    os.replace(tmp, target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_empty_folder(folder: str | Path) -> bool:
    """Remove ``folder`` if it exists and is empty; returns whether it went (a folder that another
    process fills or removes meanwhile is left to it)."""
    try:
        Path(folder).rmdir()
    except OSError:
        return False
    return True
