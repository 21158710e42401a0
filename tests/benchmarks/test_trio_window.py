"""The pure parts of benchmarks/trio_window.py: which page is the best page, what counts as right or
invented, and the acceptance lines."""

from __future__ import annotations

import pytest

from benchmarks.trio_window import acceptance, best_page, judge
from hypernet.train.qa_score import known_words

PAGES = [
    "Libtasn1 manual. This manual is for GNU Libtasn1, version 4.19.0. The library parses ASN.1.",
    "Invoking asn1Parser. The program reads a file and writes C code. The library parses ASN.1.",
    "Options of asn1Parser: the -c option checks the syntax only; -o names the output file.",
]


def test_the_best_page_holds_the_questions_rare_words():
    assert best_page(PAGES, "What does asn1Parser's -c option do?") == 2  # asn1Parser on two pages, "option" on one
    assert best_page(PAGES, "Which program writes C code?") == 1
    assert best_page(PAGES, "What version of Libtasn1 is this?") == 0


def test_with_no_matching_word_or_a_tie_the_earliest_page_wins():
    assert best_page(PAGES, "What is this document about?") == 0  # stopwords only: the first page
    assert best_page(["nothing here", "a library", "a library"], "Which library?") == 1


def test_right_means_half_the_gold_words_and_invented_names_are_known_nowhere():
    known = known_words("The specification was written by Thomas Leonard.", "Who is the author?",
                        "The author is a person.")
    assert judge("Thomas Leonard wrote it.", ["Thomas Leonard"], known) == {
        "f1": pytest.approx(2 / 3), "recall": 1.0, "right": True, "invented": []}
    half = judge("The author is Leonard.", ["Thomas Leonard"], known)
    assert half["recall"] == 0.5 and half["right"]
    wrong = judge("The author is Jikere Smoth.", ["Thomas Leonard"], known)
    assert wrong["recall"] == 0.0 and not wrong["right"] and wrong["invented"] == ["Jikere", "Smoth"]


def row(method: str, right: bool, invented: list[str] | None = None) -> dict:
    return {"method": method, "right": right, "invented": invented or []}


def test_acceptance_needs_as_many_right_as_the_best_page_and_no_invented_name():
    tie = [row("adapter", True), row("adapter", False), row("best page", False), row("best page", True),
           row("none", True), row("adapter (API)", True, ["Jikere"])]  # other methods do not count
    assert acceptance(tie) == (["adapter right 1 vs best page 1: PASS",
                                "invented names in adapter answers: 0: PASS"], True)
    fewer = [row("adapter", True), row("best page", True), row("best page", True)]
    assert acceptance(fewer)[0][0] == "adapter right 1 vs best page 2: FAIL" and not acceptance(fewer)[1]
    named = [row("adapter", True, ["Jikere", "Smoth"]), row("adapter", True, ["JDKUX"]), row("best page", False)]
    assert acceptance(named) == (["adapter right 2 vs best page 0: PASS",
                                  "invented names in adapter answers: 2: FAIL"], False)
