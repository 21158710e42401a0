"""The prose evaluation set (benchmarks/data/prose) and the issue's trio are whole and sound: enough
documents, genres, questions and long documents; every PDF opens; every gold answer is non-empty and
(nearly always) words of its document; the holdout list names every source."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

import pymupdf
import pytest

from converters.pdf import pdf_to_text
from hypernet.train.qa_score import fold, normalise

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
PROSE = DATA / "prose"
KINDS = {"fact", "number", "definition", "summary", "who", "when", "where", "option"}


def words(text: str) -> set[str]:
    """Normalised words, PDF ligatures and typographic punctuation folded."""
    return set(normalise(fold(text)))


@pytest.fixture(scope="module")
def manifest() -> list[dict]:
    return json.loads((PROSE / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    lines = (PROSE / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def doc_words(manifest) -> dict[str, set[str]]:
    """Each document's words, as the product extracts its text (lines joined, hyphenated words whole)."""
    return {e["id"]: words(pdf_to_text(PROSE / e["file"]).text) for e in manifest}


def test_size_genres_and_long_documents(manifest, questions):
    by_id = {e["id"]: e for e in manifest}
    assert len(by_id) == len(manifest) >= 40
    assert len({e["genre"] for e in manifest}) >= 5
    assert len(questions) >= 200
    assert sum(by_id[q["doc"]]["tokens"] > 2048 for q in questions) >= 50  # longer than 4 chunks
    assert sum(e["chunks"] == 1 for e in manifest) >= 10
    per_doc = Counter(q["doc"] for q in questions)
    assert set(per_doc) == set(by_id)
    assert min(per_doc.values()) >= 5


def test_every_pdf_exists_and_opens(manifest):
    for e in manifest:
        with pymupdf.open(PROSE / e["file"]) as doc:
            assert doc.page_count == e["pages"] >= 1, e["id"]
            assert doc[0].get_text().strip(), e["id"]
    assert sum(e["fmt"] == "pdf" for e in manifest) >= 5  # real PDFs as installed
    assert sum(p.stat().st_size for p in PROSE.iterdir()) < 12 * 2**20


def test_questions_are_well_formed_and_unique(questions):
    assert all(q["kind"] in KINDS and len(q["question"].split()) >= 3 for q in questions)
    assert all(q["answers"] and all(normalise(a) for a in q["answers"]) for q in questions)
    pairs = Counter((q["doc"], q["question"].strip().lower()) for q in questions)
    assert [p for p, n in pairs.items() if n > 1] == []


def test_gold_answers_are_words_of_their_document(questions, doc_words):
    coverage = {(q["doc"], q["question"]): max(len(words(a) & doc_words[q["doc"]]) / len(words(a))
                                               for a in q["answers"]) for q in questions}
    abstractive = sorted(k for k, c in coverage.items() if c < 1)
    if abstractive:
        warnings.warn(f"{len(abstractive)} gold answers hold words not in their document: {abstractive}")
    assert len(abstractive) <= 0.1 * len(questions)
    assert min(coverage.values()) >= 0.5


def test_holdout_names_every_package_and_path(manifest):
    holdout = json.loads((PROSE / "holdout.json").read_text(encoding="utf-8"))
    trio = json.loads((DATA / "trio.json").read_text(encoding="utf-8"))
    assert {e["package"] for e in manifest} | {"base-files", "shared-mime-info", "libtasn1-doc"} <= set(
        holdout["packages"])
    assert {e["path"] for e in manifest} | {"/usr/share/common-licenses/Apache-2.0"} <= set(holdout["paths"])
    assert set(holdout["fingerprints"]) == {e["id"] for e in manifest}
    assert all(holdout["fingerprints"].values())
    files = Counter(q["file"] for q in trio["questions"])
    assert files == {"apache-2.0.pdf": 4, "shared-mime-info-spec.pdf": 4, "libtasn1.pdf": 4}
    assert "What does asn1Parser's -c option do?" in {q["question"] for q in trio["questions"]}
    assert all(q["answers"] and q["kind"] in KINDS for q in trio["questions"])
