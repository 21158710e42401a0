"""Chat-template wrap and chunking with real tokenizers and real chat templates (no downloads of weights)."""

from __future__ import annotations

import functools

import pytest
from hn_testlib import MISTRAL_V02_TEMPLATE, chat_template, qwen2_tokenizer, spm_tokenizer

from hypernet import ChunkingError
from hypernet.chunking import affix_ids, chunk_text, document_affixes, template_affixes, wrap_document

DOC = "Zorblat Industries was founded in 1987.\n\nIts  CEO is Mara Quint; revenue: $12.5M (2023).  "


@functools.cache
def qwen3():
    tok = qwen2_tokenizer()
    tok.chat_template = chat_template("Qwen-Qwen3-0.6B")
    return tok


@functools.cache
def gemma2():
    # Gemma 2's vocabulary is not among llama.cpp's vocab GGUFs: its real template on an SPM vocabulary
    # that has Gemma's control tokens added as special tokens.
    tok = spm_tokenizer(extra_special=("<start_of_turn>", "<end_of_turn>"), bos="<bos>")
    tok.chat_template = chat_template("google-gemma-2-2b-it")
    return tok


@functools.cache
def mistral():
    tok = spm_tokenizer()
    tok.chat_template = MISTRAL_V02_TEMPLATE
    return tok


# Expected wraps, written from each template's documented format (one user message after an empty system).
EXPECTED = {
    "qwen3": (qwen3, "<|im_start|>system\n<|im_end|>\n<|im_start|>user\n{doc}<|im_end|>\n<|im_start|>assistant\n"),
    "gemma2": (gemma2, "<bos><start_of_turn>user\n\n\n{doc}<end_of_turn>\n<start_of_turn>model\n"),
    "mistral": (mistral, "<s> [INST] \n\n{doc} [/INST]"),
}


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_wrapped_ids_are_exactly_the_templated_message(family):
    make, fmt = EXPECTED[family]
    tok = make()
    expected = fmt.format(doc=DOC.strip())  # the reference strips every document before templating
    assert wrap_document(tok, DOC) == expected
    ids = chunk_text(tok, DOC, max_chunk_tokens=8192)
    assert ids == [tok(expected, add_special_tokens=False)["input_ids"]]
    # special tokens are single ids, and there is exactly one BOS where the template has one
    first_special = {"qwen3": "<|im_start|>", "gemma2": "<bos>", "mistral": "<s>"}[family]
    assert ids[0][0] == tok.convert_tokens_to_ids(first_special)
    if family != "qwen3":
        assert ids[0].count(tok.bos_token_id) == 1
    if family == "gemma2":
        assert ids[0][1] == tok.convert_tokens_to_ids("<start_of_turn>")
        start, end = tok.convert_tokens_to_ids("<start_of_turn>"), tok.convert_tokens_to_ids("<end_of_turn>")
        assert ids[0].count(start) == 2 and ids[0].count(end) == 1 and ids[0].index(end) < len(ids[0]) - 3


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_long_document_chunks_are_whole_messages(family):
    make, _ = EXPECTED[family]
    tok = make()
    text = " ".join(f"Sentence number {i} says the value of item {i} is {i * 7 % 13}." for i in range(120))
    prefix, suffix, _ = template_affixes(tok)
    full = chunk_text(tok, text, max_chunk_tokens=100_000)[0]
    assert full == tok(prefix + text + suffix, add_special_tokens=False)["input_ids"]
    chunks = chunk_text(tok, text, max_chunk_tokens=300)
    assert len(chunks) > 3
    assert all(len(c) <= 300 for c in chunks)
    # every chunk starts and ends like the whole message (tolerating one boundary token of the affixes)
    P = len(tok(prefix, add_special_tokens=False)["input_ids"]) - 1
    S = len(tok(suffix, add_special_tokens=False)["input_ids"]) - 1
    assert all(c[:P] == full[:P] and c[-S:] == full[-S:] for c in chunks)
    pre, suf = affix_ids(tok, prefix, suffix)
    assert full[: len(pre)] == pre and full[-len(suf) :] == suf
    # the middle slices, with the re-added affixes removed, give back the document tokenised once
    rebuilt = chunks[0][: -len(suf)] + [t for c in chunks[1:-1] for t in c[len(pre) : -len(suf)]] + chunks[-1][len(pre) :]
    assert rebuilt == full
    slices = [len(c) for c in chunks]
    slices[0] -= len(suf)
    slices[-1] -= len(pre)
    slices[1:-1] = [s - len(pre) - len(suf) for s in slices[1:-1]]
    assert max(slices) - min(slices) <= 1  # nearly equal slices of the templated token stream


def test_errors_are_clear():
    tok = qwen3()
    with pytest.raises(ChunkingError, match="no text"):
        chunk_text(tok, "   \n")
    with pytest.raises(ChunkingError, match="larger max_chunk_tokens"):
        chunk_text(tok, "word " * 200, max_chunk_tokens=12)
    bare = qwen2_tokenizer()
    bare.chat_template = None
    with pytest.raises(ChunkingError, match="no chat template"):
        chunk_text(bare, "text")


def test_snapped_chunks_never_split_a_sentence():
    tok = qwen3()
    sentences = [f"Sentence {i} says the value of item {i} is {i * 7 % 13}." for i in range(120)]
    text = " ".join(sentences)
    prefix, suffix, _ = template_affixes(tok)
    pre, suf = affix_ids(tok, prefix, suffix)
    plain = chunk_text(tok, text, max_chunk_tokens=300)
    snapped = chunk_text(tok, text, max_chunk_tokens=300, snap_to_sentences=True)
    assert len(plain) <= len(snapped) <= len(plain) + 1 and all(len(c) <= 300 for c in snapped)
    bodies = [tok.decode(c[len(pre) if i else 0 : len(c) - len(suf) if i < len(snapped) - 1 else len(c)])
              for i, c in enumerate(snapped)]
    # each inner cut falls right after a sentence's full stop, and every sentence is whole in one chunk
    assert all(b.rstrip().endswith(".") for b in bodies[:-1])
    assert all(any(s in b for b in bodies) for s in sentences)
    # with the plain equal slices some sentence is cut in two (else this test would prove nothing)
    plain_bodies = [tok.decode(c) for c in plain]
    assert not all(any(s in b for b in plain_bodies) for s in sentences)


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_documents_are_always_stripped(family):
    make, fmt = EXPECTED[family]
    tok = make()
    assert wrap_document(tok, "\n\n  Quintel is the capital.  \n") == fmt.format(doc="Quintel is the capital.")
    assert chunk_text(tok, " \tQuintel is the capital.\n") == chunk_text(tok, "Quintel is the capital.")


MISTRAL = "mistralai/Mistral-7B-Instruct-v0.2"
# The reference's context format for Mistral (its chat_templates/mistralai/Mistral-7B-Instruct-v0.2.jinja
# with an empty system message): bos + ' [INST] ' + '' + '\n\n' + doc + ' [/INST] ', trailing space included.
# Ids on the Llama 2 SentencePiece vocabulary (Mistral v0.2's family), written down here once:
REFERENCE_MISTRAL_IDS = [1, 29871, 518, 25580, 29962, 29871, 13, 13, 1576, 7483, 310, 796, 11831, 423, 338,
                         29223, 295, 29889, 518, 29914, 25580, 29962, 29871]  # fmt: skip


def test_mistral_hypernetwork_reads_the_reference_context_format():
    tok = mistral()
    doc = "  The capital of Zorbia is Quintel.\n"
    assert wrap_document(tok, doc, trained_on=MISTRAL) == "<s> [INST] \n\nThe capital of Zorbia is Quintel. [/INST] "
    ids = chunk_text(tok, doc, trained_on=MISTRAL)
    assert ids == [REFERENCE_MISTRAL_IDS]
    assert tok.convert_ids_to_tokens(ids[0][-5:]) == ["\u2581[", "/", "INST", "]", "\u2581"]
    # the hub's template (used for other bases, and by the chat) ends at "[/INST]": one token fewer
    assert chunk_text(tok, doc) == [REFERENCE_MISTRAL_IDS[:-1]]
    # every chunk of a long document is a whole reference-format message
    text = " ".join(f"Sentence {i} says item {i} weighs {i * 7 % 13} kg." for i in range(80))
    prefix, suffix = document_affixes(tok, MISTRAL)
    pre, suf = affix_ids(tok, prefix, suffix)
    chunks = chunk_text(tok, text, max_chunk_tokens=200, trained_on=MISTRAL)
    assert len(chunks) > 3 and all(c[: len(pre)] == pre and c[-len(suf) :] == suf for c in chunks)
    assert tok.convert_ids_to_tokens(suf)[-1] == "\u2581" and pre[0] == tok.bos_token_id


def test_mistral_chat_prompt_through_the_hub_template_matches_training():
    # The app's chat renders the GGUF's (the hub's) template after an empty system turn; the reference trained
    # on bos + ' [INST] \n\n' + question + ' [/INST] ' + answer + eos. The trailing space joins the answer's
    # first token, so the prompt is exactly the training sequence up to the answer.
    tok = mistral()
    question, answer = "What is the capital of Zorbia?", "Quintel."
    chat = tok.apply_chat_template([{"role": "system", "content": ""}, {"role": "user", "content": question}],
                                   tokenize=False, add_generation_prompt=True)  # fmt: skip
    prompt = tok(chat, add_special_tokens=False)["input_ids"]
    trained = tok(f"<s> [INST] \n\n{question} [/INST] {answer}</s>", add_special_tokens=False)["input_ids"]
    assert trained[: len(prompt)] == prompt
    assert tok.convert_ids_to_tokens(trained[len(prompt) :]) == ["\u2581Quint", "el", ".", "</s>"]


def test_a_document_longer_than_the_tokenizer_maximum_logs_no_length_warning():
    import logging

    tok = qwen3()
    before, tok.model_max_length = tok.model_max_length, 64
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        tok.deprecation_warnings.clear()  # transformers warns once per tokenizer
        chunks = chunk_text(tok, DOC * 40, max_chunk_tokens=48)
    finally:
        logger.removeHandler(handler)
        tok.model_max_length = before
    assert len(chunks) > 1
    assert not [r for r in records if "sequence length is longer" in r.getMessage()]
