"""app.suggest: questions drawn from a document's defined terms, headings and frequent words."""

from __future__ import annotations

import pytest

from app.suggest import definitions, headings, suggested_questions

GUIDE = """1. Introduction

This guide covers the island ferry service.

2. Safety rules
A Personal Flotation Device (PFD) must be worn on deck.
"Slack water" means the short time between tides.
The harbor master is responsible for berths. Tickets are sold on board.

## Winter timetable
The ferries leave at 10:30 and 16:00; the ferries carry bicycles for free.
"""

# (text, the questions `definitions` draws, in order)
DEFINITION_CASES = [
    ("A Personal Flotation Device (PFD) is worn.", ["What does PFD stand for?"]),
    ('"Slack water" means the time between tides.', ["What does “Slack water” mean?"]),
    ("Berthing refers to mooring a ship.", ["What is Berthing?"]),
    ("The special magic number is 4821.", ["What is the special magic number?"]),
    ("The ferries were late. The harbor is usually calm.", ["What were the ferries?"]),
    ("The is a typo.", []),
    ("OPTIONS\n-q\nBe quiet.\n\n-h, --help\nHelp.\n\n--report\nPrint a report.",
     ["What does the --report option do?"]),  # not --help: every command has it
]


@pytest.mark.parametrize(("text", "questions"), DEFINITION_CASES)
def test_defined_terms_become_questions(text, questions):
    assert list(definitions(text)) == questions


def test_headings_become_questions_and_generic_ones_do_not():
    assert list(headings(GUIDE)) == ["What does it say about safety rules?",
                                     "What does it say about winter timetable?"]
    assert list(headings("GPU memory\nThe next line is a sentence.\nTotal: 4.")) == [
        "What does it say about GPU memory?"]
    manual = ("NAME\nblockdev - call block device ioctls\n\nMODULE TYPES PROVIDED\nauth\n\n"
              "--rereadpt\nReread partition table\n\nFor bug reports, use the issue tracker at\n"
              "\nThe following errors can occur:\nEINVAL\n\nYossi Kuperman <y@example.com>\n"
              "\nEXAMPLE\nblockdev --report")
    assert list(headings(manual)) == ["What does it say about module types provided?"]


def test_three_questions_taken_in_turn_from_terms_headings_and_words():
    questions = suggested_questions([(1, GUIDE)])
    assert questions == ["What does PFD stand for?", "What does it say about safety rules?",
                         "What does it say about “ferries”?"]


def test_a_needle_document_is_asked_its_needle_then_its_words():
    prose = ("The harbor office opens at seven. Ferries leave for the islands from the harbor "
             "office, and the islands wait. The special magic number is 4821.")
    assert suggested_questions([(1, prose)]) == [
        "What is the special magic number?", "What does it say about “harbor”?",
        "What does it say about “islands”?"]  # nouns after an article, used twice or more


def test_a_document_with_too_little_text_gets_fewer_questions():
    assert suggested_questions([(1, "Hello.")]) == []
    assert suggested_questions([]) == []
