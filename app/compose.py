"""One temporary adapter for a selection of several documents, cached per selection.

The documents' full adapters (the safetensors next to their GGUFs) are concatenated along the
rank with the bias block once (``hypernet.compose``; benchmarks/compose.py: keeping it once per
document fails at 8 documents on the demo pair), compressed to ``max_rank`` by the exact
truncated SVD when the total rank is above it, and written as a GGUF under
``adapters/composed/`` (``app.paths.composed_dir``). The file is named by the content hashes of
the members' full adapters and the rank bound, so a name never comes back for other documents
(SQLite reuses ids, and a long-running process keeps loaded adapters by path); a JSON file
beside it lists the members (written first), and a composition is used only when that list
matches the members' hashes. ``sweep`` removes the compositions of adapters the library no longer holds (after ``rm``,
``redo``, and when a process starts writing: a killed ``rm`` leaves them).

A question whose words point to only some of the selected documents is answered under those
documents' adapters alone (``focus``): summed updates interfere, and on the real pair two
documents composed answer a question about one of them worse than its own adapter does
(benchmarks/docqa.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from app.errors import AdapterError
from app.paths import composed_dir, home_dir
from app.records import Adapter
from converters.files import atomic_write

Chunks = dict[int, tuple[int, ...]] | None  # adapter id -> the chunks kept (absent: all of them)
# A document stays in focus when its best page matches the question at least this share as well
# as the best-matching document's does.
FOCUS_SHARE = 0.5


def focus(scores: dict[int, float]) -> list[int]:
    """The documents a question is about, from their relevance (``Library.relevance``): those
    scoring at least FOCUS_SHARE of the best; all of them when no page matches."""
    best = max(scores.values(), default=0.0)
    if best <= 0.0:
        return list(scores)
    return [doc_id for doc_id, score in scores.items() if score >= FOCUS_SHARE * best]


def content_hash(path: str | Path) -> str:
    """sha256 of a file's bytes (remembered while its size, time and inode stay the same)."""
    info = os.stat(path)
    key = (str(path), info.st_size, info.st_mtime_ns, info.st_ino)
    if key not in _HASHES:
        with open(path, "rb") as f:
            _HASHES[key] = hashlib.file_digest(f, "sha256").hexdigest()
    return _HASHES[key]


_HASHES: dict[tuple, str] = {}


def _members(adapters: list[Adapter]) -> dict[str, str]:
    """Each member's full adapter file (relative to the home folder) -> its content hash."""
    return {_rel(a.peft_file): content_hash(a.peft_file) for a in sorted(adapters, key=lambda a: a.peft_file)}


def _rel(path: str) -> str:
    return os.path.relpath(path, home_dir())


def composed_path(adapters: list[Adapter], max_rank: int, chunks: Chunks = None, scale: float = 1.0,
                  scales: dict[int, float] | None = None) -> Path:
    """The cache file of this selection: named by its members' content hashes, the chunks chosen of
    each, each one's own scale, the scale and the rank bound (never by row ids, which SQLite reuses)."""
    members = _members(adapters)
    picked, own = chunks or {}, scales or {}
    hashes = sorted(f"{members[_rel(a.peft_file)]}{list(picked.get(a.id) or [])}"
                    + (f"x{own[a.id]:.6g}" if own.get(a.id, 1.0) != 1.0 else "") for a in adapters)
    digest = hashlib.sha256(f"r{max_rank}:s{scale:.6g}:{','.join(hashes)}".encode()).hexdigest()[:32]
    return composed_dir() / f"{digest}-r{max_rank}.gguf"


def _listed(path: Path) -> dict[str, str] | None:
    """The members a composition's JSON file lists (None: missing or damaged)."""
    try:
        members = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    return members if isinstance(members, dict) else None


def composed_file(adapters: list[Adapter], max_rank: int, base_gguf: Path, chunks: Chunks = None,
                  scale: float = 1.0, scales: dict[int, float] | None = None) -> Path:
    """The composed GGUF of one or several documents' adapters (built on first use, then cached; a
    cached file is used only when its list of members is these adapters, byte for byte). ``chunks``
    (adapter id -> chunk indices) keeps only those chunks of an adapter (``app.chunks``); ``scale``
    multiplies the whole update (the guard against sums that break the model), ``scales`` (adapter id ->
    scale) one member's (the pair's scale for its document's kind; the bias block, kept once, takes the
    first member's)."""
    from converters import adapter_to_gguf
    from converters.errors import ConversionError
    from hypernet.adapter import DocumentAdapter
    from hypernet.errors import HypernetError
    from hypernet.compose import compose
    from hypernet.compress import compress_adapter
    try:
        members = _members(adapters)
        path = composed_path(adapters, max_rank, chunks, scale, scales)
        if path.is_file() and _listed(path) == members:
            return path
        picked, own = chunks or {}, scales or {}
        full = []
        for a in sorted(adapters, key=lambda a: a.id):
            member = DocumentAdapter.load(a.peft_file, picked.get(a.id) or None)
            full.append(dataclasses.replace(member, B=member.B * own[a.id]) if a.id in own else member)
        whole = compose(full, bias="once")
        if scale != 1.0:
            whole = dataclasses.replace(whole, B=whole.B * scale)
        small = compress_adapter(whole, max_rank).adapter
        # The list first: a GGUF without one is a leftover that ``sweep`` removes. Both are
        # written atomically: a concurrent reader sees a whole file or none.
        text = json.dumps(members, indent=1)
        atomic_write(path.with_suffix(".json"), lambda tmp: tmp.write_text(text))
        return adapter_to_gguf(small, path, base_gguf=base_gguf)
    except (OSError, ValueError, HypernetError, ConversionError) as exc:
        raise AdapterError(f"The selected documents' adapters cannot be composed ({exc}); "
                           "re-internalize them with 'doclora redo ID'.") from exc


def sweep(live: set[Path], alive: Callable[[int], bool] | None = None) -> list[Path]:
    """Delete the compositions whose members are not all in ``live`` (the full adapter files
    the library's rows reference): a member removed or redone, no list of members (a name of an
    older version, or a writer that lost a race with ``rm``). With ``alive`` (pid -> running),
    the temporary files of dead writers go too. Returns the deleted GGUFs."""
    home = home_dir()
    gone = []
    for path in composed_dir().iterdir():
        if path.name.startswith("."):  # atomic_write's .NAME.PID-RANDOM.tmp
            pid = path.name.rsplit(".", 2)[-2].split("-")[0]
            if alive is not None and not (pid.isascii() and pid.isdigit() and alive(int(pid))):
                path.unlink(missing_ok=True)
            continue
        members = _listed(path)
        if members is not None and all(home / name in live for name in members):
            continue  # live (a list without its GGUF yet: a writer is at work)
        path.unlink(missing_ok=True)
        if path.suffix == ".gguf":
            gone.append(path)
    return gone
