"""The document sets `benchmarks/docqa.py` asks, and how their answers are scored.

- ``manual``: held-out manual pages with templated questions (``hypernet.train.manpages``) and the
  same questions asked in other words (``manpages.FREE_PHRASINGS``, never used in training);
- ``prose``: the ordinary documents of ``benchmarks/data/prose`` (PDFs as they are) with the
  questions written by reading them.

Scores: token F1 and gold recall (the share of the gold answer's words in the answer), each the
best over the accepted answers; an answer holding a proper-name-like word found neither in the
document, the question nor the no-document answer holds an invented name.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from hypernet.train.manpages import collect, free_phrasing, unnamed_questions
from hypernet.train.qa_score import fold, gold_recall, token_f1

PROSE_DIR = Path(__file__).resolve().parent / "data" / "prose"


@dataclass
class EvalQA:
    """A question, its accepted answers, its kind and how it is phrased (templated or free)."""

    kind: str
    question: str
    answers: list[str]
    phrasing: str = "written"


@dataclass
class EvalDoc:
    """A document: a PDF as it is (prose) or a text the benchmark lays out as a PDF (manual pages)."""

    name: str
    genre: str
    questions: list[EvalQA]
    pdf: Path | None = None
    text: str = ""
    length: str = ""  # the row it is reported in; prose documents get theirs from the product's chunks


def manual_docs(short: int, long: int, seed: int, options: int, unnamed: bool, phrasings: list[str]) -> list[EvalDoc]:
    """Held-out manual pages, one-chunk ones then long ones, with templated and/or free-phrased questions."""
    docs = []
    for length, pages in (("one chunk", collect(heldout=True, limit=short, seed=seed, min_chars=600, max_chars=1800)),
                          ("4+ chunks", collect(heldout=True, limit=long, seed=seed + 1, min_chars=8500,
                                                max_chars=16000))):
        for page in pages:
            qas = ([q for q in page.questions if q.kind != "option"]
                   + [q for q in page.questions if q.kind == "option"][:options]
                   + (unnamed_questions(page.text) if unnamed else []))
            asked = [EvalQA(q.kind, phrased.question, [q.answer], phrasing) for q in qas  # each in both ways
                     for phrasing, phrased in (("templated", q), ("free", free_phrasing(q, seed)))
                     if phrasing in phrasings]
            docs.append(EvalDoc(page.name, "manual page", asked, text=page.text, length=length))
    return docs


def prose_docs(docs: int | None, seed: int, folder: Path = PROSE_DIR) -> list[EvalDoc]:
    """The prose set's documents (all, or ``docs`` of them drawn with ``seed``), in manifest order."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    questions: dict[str, list[EvalQA]] = {}
    for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            questions.setdefault(q["doc"], []).append(EvalQA(q["kind"], q["question"], q["answers"]))
    if docs is not None and docs < len(manifest):
        chosen = set(random.Random(seed).sample(range(len(manifest)), docs))
        manifest = [e for n, e in enumerate(manifest) if n in chosen]
    return [EvalDoc(e["id"], e["genre"], questions.get(e["id"], []), pdf=folder / e["file"]) for e in manifest]


def length_row(n_chunks: int) -> str:
    """The report row of a document of ``n_chunks`` chunks."""
    return "one chunk" if n_chunks <= 1 else "2-3 chunks" if n_chunks < 4 else "4+ chunks"


def scores(answer: str, golds: list[str]) -> tuple[float, float]:
    """(F1, gold recall) of an answer, each the best over the accepted answers."""
    answer = fold(answer)
    return (max(token_f1(answer, fold(g)) for g in golds), max(gold_recall(answer, fold(g)) for g in golds))
