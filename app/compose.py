"""One temporary adapter for a selection of several documents, cached per selection.

The documents' full adapters (the safetensors next to their GGUFs) are concatenated along the
rank with the bias block once (``hypernet.compose``; benchmarks/compose.py: keeping it once per
document fails at 8 documents on the demo pair), compressed to ``max_rank`` by the exact
truncated SVD when the total rank is above it, and written as a GGUF under
``adapters/composed/``. The file name lists the member adapter ids, so removing a document
removes the compositions it belongs to (``forget``).

A question whose words point to only some of the selected documents is answered under those
documents' adapters alone (``focus``): summed updates interfere, and on the real pair two
documents composed answer a question about one of them worse than its own adapter does
(benchmarks/docqa.py).
"""

from __future__ import annotations

from pathlib import Path

from app.errors import AdapterError
from app.paths import adapters_dir
from app.records import Adapter

FOLDER = "composed"
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


def composed_dir() -> Path:
    """Where composed adapters are cached."""
    path = adapters_dir() / FOLDER
    path.mkdir(parents=True, exist_ok=True)
    return path


def composed_path(adapters: list[Adapter], max_rank: int) -> Path:
    """The cache file of this selection: sorted adapter ids and the rank bound."""
    ids = "-".join(str(i) for i in sorted({a.id for a in adapters}))
    return composed_dir() / f"{ids}-r{max_rank}.gguf"


def composed_file(adapters: list[Adapter], max_rank: int, base_gguf: Path) -> Path:
    """The composed GGUF of several documents' adapters (built on first use, then cached)."""
    from converters import adapter_to_gguf
    from converters.errors import ConversionError
    from hypernet.adapter import DocumentAdapter
    from hypernet.errors import HypernetError
    from hypernet.compose import compose
    from hypernet.compress import compress_adapter
    path = composed_path(adapters, max_rank)
    if path.is_file():
        return path
    try:
        full = [DocumentAdapter.load(a.peft_file) for a in sorted(adapters, key=lambda a: a.id)]
        small = compress_adapter(compose(full, bias="once"), max_rank).adapter
        # written atomically: a concurrent reader sees the whole file or none
        return adapter_to_gguf(small, path, base_gguf=base_gguf)
    except (OSError, ValueError, HypernetError, ConversionError) as exc:
        raise AdapterError(f"The selected documents' adapters cannot be composed ({exc}); "
                           "re-internalize them with 'doclora redo ID'.") from exc


def forget(adapter_ids: set[int]) -> list[Path]:
    """Delete the cached compositions that contain any of these adapters; returns them."""
    gone = []
    for path in composed_dir().glob("*.gguf"):
        members = {int(x) for x in path.stem.split("-r")[0].split("-") if x.isdigit()}
        if members & adapter_ids:
            path.unlink(missing_ok=True)
            gone.append(path)
    return gone
