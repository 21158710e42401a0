"""Which chunks of a long document answer a question, and on which pages they lie.

A document's adapter holds one LoRA per chunk (``hypernet.adapter``: rank rows chunk by chunk, then
the bias block). Summed over a whole long document, the update grows with its length until the
model answers word salad (benchmarks/adapter_scale.py). Documents of more than ``max_chunks``
chunks are therefore answered under a few of their chunks: the opening (titles, authors, what the
document is about) and the chunks whose words best match the question (BM25 over the chunks' text).
Ingestion records each chunk's character span and pages in the adapter file (``chunk_spans``,
``chunk_pages``); documents added before that have none and are answered as before.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from app import words

BM25_K1, BM25_B = 1.2, 0.75


def terms(text: str) -> list[str]:
    """The words of ``text`` that can tell chunks apart (``app.words.terms``, asking words out)."""
    return [w for w in words.terms(text) if w not in words.ASKING and len(w) > 1]


def bm25(chunk_texts: list[str], question: str) -> list[float]:
    """Okapi BM25 score of each chunk for the question's words."""
    docs = [Counter(terms(t)) for t in chunk_texts]
    wanted = set(terms(question))
    if not docs or not wanted:
        return [0.0] * len(chunk_texts)
    avg = sum(sum(d.values()) for d in docs) / len(docs) or 1.0
    df = {w: sum(1 for d in docs if w in d) for w in wanted}
    scores = []
    for d in docs:
        length, score = sum(d.values()), 0.0
        for w in wanted:
            if d[w]:
                idf = math.log(1 + (len(docs) - df[w] + 0.5) / (df[w] + 0.5))
                score += idf * d[w] * (BM25_K1 + 1) / (d[w] + BM25_K1 * (1 - BM25_B + BM25_B * length / avg))
        scores.append(score)
    return scores


def choose(chunk_texts: list[str], question: str, max_chunks: int) -> list[int]:
    """The chunks (sorted indices) that answer ``question``: all of them up to ``max_chunks``; else the
    opening chunk and the best-matching ones (those with a score), ``max_chunks`` at most."""
    n = len(chunk_texts)
    if n <= max_chunks:
        return list(range(n))
    scores = bm25(chunk_texts, question)
    ranked = sorted((i for i in range(1, n) if scores[i] > 0), key=lambda i: (-scores[i], i))
    return sorted([0, *ranked[: max_chunks - 1]])


@dataclass(frozen=True)
class ChunkMap:
    """Where a document's chunks lie: character spans in its text and first/last page numbers."""

    spans: tuple[tuple[int, int], ...]
    pages: tuple[tuple[int, int], ...]

    def texts(self, text: str) -> list[str]:
        return [text[a:b] for a, b in self.spans]

    def pages_of(self, indices: list[int]) -> list[int]:
        """The page numbers the chunks ``indices`` cover, ascending."""
        return sorted({p for i in indices for p in range(self.pages[i][0], self.pages[i][1] + 1)})

    def to_extra(self) -> dict:
        return {"chunk_spans": [list(s) for s in self.spans], "chunk_pages": [list(p) for p in self.pages]}

    @classmethod
    def from_extra(cls, extra: dict) -> ChunkMap | None:
        spans, pages = extra.get("chunk_spans"), extra.get("chunk_pages")
        if not spans or not pages or len(spans) != len(pages):
            return None
        return cls(tuple(tuple(s) for s in spans), tuple(tuple(p) for p in pages))


def read_chunk_map(peft_file: str) -> ChunkMap | None:
    """The chunk map ingestion stored in a document's full adapter file (None: an older document, or
    an unreadable file: the adapter is then active whole)."""
    try:
        info = os.stat(peft_file)
    except OSError:
        return None
    return _chunk_map_of(peft_file, info.st_size, info.st_mtime_ns)


@lru_cache(maxsize=64)
def _chunk_map_of(peft_file: str, size: int, mtime_ns: int) -> ChunkMap | None:
    from hypernet.adapter import DocumentAdapter
    from hypernet.errors import HypernetError

    try:
        return ChunkMap.from_extra(DocumentAdapter.read_extra(peft_file))
    except HypernetError:
        return None


def document_text(pages: list[tuple[int, str]]) -> str:
    """A document's text as ingestion chunked it: its pages with text, joined by blank lines
    (``converters.pdf.Document.text``)."""
    return "\n\n".join(t for _, t in pages if t)


def chunk_map(pages: list[tuple[int, str]], spans: list[tuple[int, int]]) -> ChunkMap:
    """Each chunk's pages, from its character span in ``document_text(pages)``."""
    starts, pos = [], 0
    for number, text in pages:
        if text:
            starts.append((pos, pos + len(text), number))
            pos += len(text) + 2
    first_last = []
    for a, b in spans:
        covered = [n for s, e, n in starts if s < max(b, a + 1) and e > a] or [starts[-1][2] if starts else 1]
        first_last.append((covered[0], covered[-1]))
    return ChunkMap(tuple(tuple(s) for s in spans), tuple(first_last))


def page_ranges(pages: list[int]) -> str:
    """'1-3, 7, 9-10' for [1, 2, 3, 7, 9, 10]."""
    runs: list[list[int]] = []
    for p in pages:
        if runs and p == runs[-1][-1] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def answered_from(pages: list[int]) -> str:
    """The sentence that says which pages' chunks answered a question to a long document."""
    return f"Answered from the chunks of pages {page_ranges(pages)}."


def adapter_scale(active_chunks: int, trained_chunks: int) -> float:
    """The scale an adapter summing ``active_chunks`` chunk LoRAs is applied at: 1 up to the chunk count
    the hypernetwork was trained to sum (``trained_chunks``), then shrinking as sqrt(trained / active),
    so the update's size stays near what training saw (benchmarks/adapter_scale.py)."""
    if active_chunks <= trained_chunks:
        return 1.0
    return math.sqrt(trained_chunks / active_chunks)
