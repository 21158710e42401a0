"""The tokenizer and chat template: HF and llama.cpp (from the GGUF) agree on ids and prompts."""

from __future__ import annotations

import json
import random

import pytest
from transformers import AutoTokenizer

from converters.llama import ChatTemplate, open_model
from hypernet.train.needle import QUESTION, Haystacks

from train_helpers import HELDOUT, PAIR_DIR

ODD_TEXTS = [
    "Line one\nline two\n\nNew para-\ngraph with hyphen-\nation.",
    "| Name | Value |\n|------|-------|\n| alpha | 12 |\n| beta | 3.5 |",
    "Tabs\tand  double  spaces, unicode: caf\u00e9 \u00fc\u00df \u4e2d\u6587 \u2122 \u2014 end.",
    "# Heading\n\n- bullet one\n- bullet two\n\n**bold** and `code`.",
]


@pytest.fixture(scope="module")
def hf_tok():
    return AutoTokenizer.from_pretrained(PAIR_DIR / "base")


@pytest.fixture(scope="module")
def gguf_vocab():
    return open_model(PAIR_DIR / "model.gguf", n_ctx=512, vocab_only=True)


def test_tokenizer_config_has_template_and_added_tokens(tiny_tokenizer_dir):
    cfg = json.loads((tiny_tokenizer_dir / "tokenizer_config.json").read_text())
    assert "assistant:" in cfg["chat_template"]
    assert {v["content"] for v in cfg["added_tokens_decoder"].values()} >= {"<s>", "</s>", "<unk>", "<pad>"}
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    pieces = tok.convert_ids_to_tokens(tok("is 4821?", add_special_tokens=False)["input_ids"])
    assert [p for p in pieces if p.strip("\u2581").isdigit()] == ["4", "8", "2", "1"] or "\u25814" in pieces
    assert not any(p.startswith("<0x") for p in pieces)  # '?' and digits are real pieces


def test_chat_template_roles(hf_tok):
    render = lambda m, gen=True: hf_tok.apply_chat_template(m, tokenize=False, add_generation_prompt=gen)  # noqa: E731
    assert render([{"role": "system", "content": ""}, {"role": "user", "content": "Hi"}]) == "<s>user: Hi assistant:"
    assert render([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]) == \
        "<s>system: Be brief. user: Hi assistant:"
    assert render([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                   {"role": "user", "content": "Bye"}]) == "<s>user: Hi assistant: Hello</s>user: Bye assistant:"
    with pytest.raises(Exception, match="Only system, user and assistant"):
        render([{"role": "tool", "content": "x"}])


def test_question_prompt_ids_match_llama_cpp(hf_tok, gguf_vocab):
    for system in ("", "You answer questions."):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": QUESTION}]
        text = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        hf_ids = hf_tok.apply_chat_template(messages, add_generation_prompt=True)
        assert gguf_vocab.tokenize(text.encode(), add_bos=False, special=True) == hf_ids


def test_document_ids_match_llama_cpp(hf_tok, gguf_vocab):
    hay = Haystacks.from_file(HELDOUT, hf_tok)
    rng = random.Random(0)
    texts = ODD_TEXTS + [hay.document(rng, 300).text for _ in range(20)]
    for text in texts:
        assert gguf_vocab.tokenize(text.encode(), add_bos=True, special=False) == hf_tok(text)["input_ids"], text


def test_pdf_like_text_tokenises_without_unknowns(hf_tok):
    for text in ODD_TEXTS:
        ids = hf_tok(text, add_special_tokens=False)["input_ids"]
        assert hf_tok.unk_token_id not in ids
        assert hf_tok.decode(ids) == text


def test_gguf_chat_template_renders_the_same_prompt(hf_tok, gguf_vocab):
    template = gguf_vocab.metadata["tokenizer.chat_template"]
    assert template == hf_tok.chat_template
    messages = [{"role": "user", "content": "Doc text.\n" + QUESTION}]
    rendered = ChatTemplate(gguf_vocab).render(messages)
    assert rendered == hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
