"""Needle documents: length, one needle, a 4-digit answer, real held-out prose around it."""

from __future__ import annotations

import random

import pytest
from transformers import AutoTokenizer

from hypernet.train.needle import NEEDLE, Haystacks, extract_answer

from train_helpers import HELDOUT, PAIR_DIR


@pytest.fixture(scope="module")
def haystacks():
    return Haystacks.from_file(HELDOUT, AutoTokenizer.from_pretrained(PAIR_DIR / "base"))


@pytest.mark.parametrize("n_tokens", [64, 256, 1024, 4096])
def test_document_length_and_needle(haystacks, n_tokens):
    rng = random.Random(n_tokens)
    for _ in range(5):
        doc = haystacks.document(rng, n_tokens)
        n = len(haystacks.tokenizer(doc.text, add_special_tokens=False)["input_ids"])
        assert n_tokens * 0.75 - 5 <= n <= n_tokens + 2
        assert doc.text.count("special magic number") == 1
        assert NEEDLE.format(doc.answer) in doc.text
        assert len(doc.answer) == 4 and doc.answer.isdigit()


def test_needle_depth_is_spread(haystacks):
    rng = random.Random(0)
    depths = []
    for _ in range(40):
        doc = haystacks.document(rng, 512)
        depths.append(doc.text.index("The special magic") / len(doc.text))
    assert min(depths) < 0.2 and max(depths) > 0.8


def test_extract_answer():
    assert extract_answer(" 0427") == "0427"
    assert extract_answer("The number is 12 34") == "12"
    assert extract_answer("none") == ""


def test_empty_corpus_is_a_clear_error():
    with pytest.raises(ValueError, match="corpus is empty"):
        Haystacks([], None)
