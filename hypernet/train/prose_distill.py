"""Records for distilling the base's document-in-prompt answers about ordinary text (the paper's objective).

The prose stage trains on gold spans: a bare answer, where the base answers a user in sentences. Here
the teacher is the base itself with the document in its prompt (``teacher``), answering the questions a
user asks (``prose_qa.ASKED``: what it is about, who wrote it, its version, what a term means); the
student (base + the document's LoRA, question only) learns its top-k next-token distribution. Manual
pages of the training split are mixed in so the manual-page skills keep a teacher too.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from converters.files import atomic_write

from .prose_qa import ASKED, read_docs


def prose_records(docs_file: str | Path, n: int, per_doc: int, rng: random.Random) -> list[dict]:
    """Up to ``n`` ``{"context", "prompt", "kind", "source"}`` records, at most ``per_doc`` questions of
    ``ASKED`` kinds per document; one document's questions are consecutive (the teacher reuses its cache)."""
    docs = read_docs(docs_file)
    rng.shuffle(docs)
    records: list[dict] = []
    for doc in docs:
        asked = [qa for qa in doc.qas if qa[0] in ASKED]
        rng.shuffle(asked)
        records += [{"context": doc.text, "prompt": q, "kind": kind, "source": doc.source}
                    for kind, q, _ in asked[:per_doc]]
        if len(records) >= n:
            break
    return records[:n]


def manual_records(records_file: str | Path, n: int, per_page: int, rng: random.Random) -> list[dict]:
    """Up to ``n`` of the manual-page questions (``docqa_recipe.build_records``), ``per_page`` per page."""
    pages: dict[str, list[dict]] = {}
    for line in Path(records_file).read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            pages.setdefault(rec["page"], []).append(rec)
    names = sorted(pages)
    rng.shuffle(names)
    out: list[dict] = []
    for name in names:
        recs = pages[name]
        rng.shuffle(recs)
        out += recs[:per_page]
        if len(out) >= n:
            break
    return out[:n]


def write_records(records: list[dict], path: Path) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
