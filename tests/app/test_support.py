"""app.support: a page supports an answer only if it holds the answer's own numbers and words."""

from __future__ import annotations

import pytest

from app.library import Library
from app.support import answer_sources, claim, held_passage, supporting_pages

QUESTION = "What is the special magic number?"
HARBOR = ("The harbor office opens at seven in the morning, when the first ferries leave for the "
          "islands. The special magic number is 4821. Fishermen bring their catch to the market "
          "hall, and the gulls follow every boat along the pier.")
ORCHARD = "The orchard lies on a gentle slope above the river. The special magic number is 7356."
PAGES = [(1, ORCHARD), (2, "Children ran along the pier at dawn."), (3, HARBOR)]

# (answer, question, the pages that support it)
CASES = [
    ("4821", QUESTION, [3]),
    ("The special magic number is 4821.", QUESTION, [3]),  # the question's words prove nothing
    ("The special magic number is 4,821.", QUESTION, [3]),  # thousands comma
    ("Jikere", QUESTION, []),  # a wrong answer: no page holds it, whatever the question matches
    ("1234", QUESTION, []),
    ("The special magic number.", QUESTION, []),  # nothing but the question's words
    ("At seven, when the ferries leave.", "When does the harbor office open?", [3]),
    ("The gulls follow the ferries.", "What follows the boats?", [3]),  # plural -s
    ("Along the pier.", "Where do children run?", [2, 3]),
    ("The orchard, by the river, at 4821.", "Where?", []),  # every number must be on the page
]


@pytest.fixture
def lib():
    library = Library.open()
    yield library
    library.close()


@pytest.mark.parametrize(("answer", "question", "pages"), CASES)
def test_a_page_supports_an_answer_only_if_it_holds_its_words(answer, question, pages):
    found = supporting_pages(PAGES, answer, question)
    assert sorted(s.page for s in found) == pages
    assert all(s.supports for s in found)


def test_pages_holding_more_of_the_answer_come_first():
    pages = [(1, "The ferry leaves the harbor at dawn with the mail."),
             (2, "The ferry leaves the harbor at dawn with the mail and the doctor.")]
    found = supporting_pages(pages, "It leaves the harbor at dawn with the mail and the doctor.",
                             "When does the ferry go?")
    assert [s.page for s in found] == [2, 1]  # page 2 holds all five words, page 1 four
    assert supporting_pages(PAGES, "Gulls follow the boats along the pier.", "Who?")[0].page == 3


def test_the_answers_words_must_stand_together_not_anywhere_on_the_page():
    far = "The kernel boots. " + "Filler words here. " * 40 + "Read the file."
    assert supporting_pages([(1, far)], "It asks the kernel to read a file.", "What?") == []
    near = "It calls the kernel to read a file from the disk."
    assert [s.page for s in supporting_pages([(1, far), (2, near)],
                                             "It asks the kernel to read a file.", "What?")] == [2]
    # three of four words: "call" is not on the page, but kernel, read and file are
    assert supporting_pages([(1, "The kernel may read any file.")],
                            "Call the kernel to read a file.")
    # a short answer needs all its words: "environmental" is nowhere
    assert not supporting_pages([(1, "NAME putenv - change or add a variable. Standard C library")],
                                "Change in environmental standards.", "What does putenv do?")


def test_the_claim_leaves_out_the_questions_words_and_filler():
    said = claim("Yes, the special magic number is 4821 and also the harbor.", QUESTION)
    assert said.numbers == {"4821"} and said.words == {"harbor"}
    assert not claim("It is the special magic number.", QUESTION)


def test_the_passage_quotes_the_answer_with_its_words_marked():
    found = supporting_pages(PAGES, "4821", QUESTION)
    assert found[0].snippet.startswith("…")
    assert "The special magic number is **4821**." in found[0].snippet
    assert found[0].snippet.count("**") == 2  # only the answer's terms are marked


def test_a_long_page_is_cut_around_the_answer():
    text = (" ".join(f"filler{i}" for i in range(200)) + " the ferry leaves at 10:30 from pier 4. "
            + " ".join(f"tail{i}" for i in range(200)))
    quoted = held_passage(text, claim("At 10:30 from pier 4.", "When does the ferry leave?"))[1]
    assert quoted.startswith("…filler") and quoted.endswith("…")
    assert "**10:30** from **pier** **4**." in quoted
    assert len(quoted.split()) <= 36


def test_a_pages_own_bold_marks_cannot_unbalance_the_passage():
    _, quoted = held_passage("Read **this** first: the code is 99.", claim("99", "The code?"))
    assert quoted == "Read *this* first: the code is **99**."


def test_without_a_supporting_page_the_question_matches_are_offered(lib, insert_document):
    doc = insert_document(lib, "Town", [HARBOR, "Ferries leave for the islands."])
    docs = [lib.document(doc, "tiny-needle")]
    held = answer_sources(lib, docs, QUESTION, "4821")
    assert [(s.page, s.supports) for s in held] == [(1, True)]
    matching = answer_sources(lib, docs, QUESTION, "Jikere")
    assert [(s.page, s.supports) for s in matching] == [(1, False)]  # a keyword hit, not support
    assert "**magic**" in matching[0].snippet


def test_several_documents_label_their_pages_with_titles(lib, insert_document):
    ids = [insert_document(lib, "Town", [HARBOR]), insert_document(lib, "Farm", [ORCHARD])]
    docs = [lib.document(i, "tiny-needle") for i in ids]
    found = answer_sources(lib, docs, QUESTION, "7356")
    assert [(s.title, s.page, s.supports) for s in found] == [("Farm", 1, True)]
    matching = answer_sources(lib, docs, QUESTION, "Jikere")
    assert [(s.title, s.supports) for s in matching] == [("Town", False), ("Farm", False)]
