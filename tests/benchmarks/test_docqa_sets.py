"""docqa's scoring and report (benchmarks/docqa_sets.py, docqa_report.py) and the evaluation-only free
phrasings of the manual-page questions (hypernet/train/manpages.py)."""

from __future__ import annotations

import pytest

from benchmarks.docqa_report import below_none, report
from benchmarks.docqa_sets import length_row, prose_docs, scores
from hypernet.train.manpages import FREE_PHRASINGS, QA, free_phrasing, questions
from hypernet.train.qa_score import gold_recall, invented_names, known_words

PAGE = """NAME
       frob - twiddle the bits of a file

OPTIONS
       -q, --quiet
              Print nothing but errors. Useful in scripts.

AUTHOR
       Written by Ada Lovelace.
"""


def test_scores_take_the_best_accepted_answer_and_fold_pdf_ligatures():
    f1, recall = scores("It was modiﬁed on 2016-08-31.", ["31 August 2016", "2016-08-31", "modified"])
    assert recall == 1.0 and f1 == pytest.approx(2 / 6)  # "modiﬁed" folded: 1 of 5 words, against 1 gold word
    assert scores("Nobody knows.", ["Thomas Leonard"]) == (0.0, 0.0)
    assert gold_recall("It is the Mozilla Foundation, of course", "the Mozilla Foundation") == 1.0
    assert gold_recall("Mozilla", "Mozilla Foundation") == 0.5


def test_invented_names_are_name_like_words_known_nowhere():
    known = known_words("The spec was written by Thomas Leonard in 2018.", "Who is the author?",
                        "The author is a developer at GNOME.")
    answer = "The author is Jikere. JDKUX wrote it with Thomas Leonard and GNOME. Yes, really."
    assert invented_names(answer, known) == ["Jikere", "JDKUX"]
    assert invented_names("Thomas Leonard wrote it in 2018.", known) == []


def test_length_rows():
    assert [length_row(n) for n in (1, 2, 3, 4, 17)] == ["one chunk", "2-3 chunks", "2-3 chunks", "4+ chunks",
                                                         "4+ chunks"]


def test_prose_docs_draws_documents_with_their_questions():
    docs = prose_docs(3, seed=5)
    assert len(docs) == 3 and [d.name for d in docs] == [d.name for d in prose_docs(3, seed=5)]
    assert all(d.pdf.is_file() and len(d.questions) >= 5 and d.questions[0].answers for d in docs)
    assert len(prose_docs(None, seed=5)) >= 40


def test_free_phrasings_keep_the_gold_answer_and_change_the_words():
    templated = questions(PAGE)
    assert [q.question for q in templated] == ["What does frob do?", "What does the --quiet option of frob do?",
                                               "Who wrote frob?"]  # the training templates are unchanged
    for qa in templated:
        free = free_phrasing(qa, seed=3)
        assert free.kind == qa.kind and free.answer == qa.answer and free.question != qa.question
        assert free.question in [t.format(name="frob", flag="--quiet") for t in FREE_PHRASINGS[qa.kind]]
        assert free == free_phrasing(qa, seed=3)
    with pytest.raises(ValueError, match="not a templated"):
        free_phrasing(QA("what", "Tell me about frob", "x"))


def _row(doc, method, f1, invented=()):
    return {"set": "prose", "length": "one chunk", "genre": "licence", "doc": doc, "kind": "who",
            "phrasing": "written", "question": "q", "gold": ["a"], "method": method, "answer": "x", "f1": f1,
            "recall": f1, "agree": 0.0, "invented": list(invented), "ttft_s": 0.1, "first": True, "kv_tokens": 10,
            "update_s": 0.0, "chunks": 1}


def test_report_counts_documents_below_no_document_and_invented_names():
    rows = [_row("a", "d2l", 0.2, ["Jikere"]), _row("a", "none", 0.4), _row("a", "prompt", 0.6),
            _row("b", "d2l", 0.5), _row("b", "none", 0.1), _row("b", "prompt", 0.7)]
    assert below_none(rows) == ["a"]
    text = report(rows, kv_bytes_per_token=1)
    assert "below no document's: 1 of 2 (a)" in text
    assert "d2l 1/2" in text and "prompt 0/2" in text and "Jikere" in text
    assert "d2l closes 25% of the F1 gap and 25% of the gold-recall gap" in text  # (0.35-0.25)/(0.65-0.25)
