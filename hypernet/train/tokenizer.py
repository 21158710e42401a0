"""A SentencePiece tokenizer for a small chat model, saved as a Hugging Face folder whose GGUF
conversion tokenises exactly like the Hugging Face side.

Why SentencePiece *BPE* (not unigram): llama.cpp's SPM tokenizer merges adjacent pieces by score,
which is SentencePiece's BPE algorithm. On a unigram model it can segment differently from the
Viterbi search that Hugging Face runs, so a prompt would get other ids in the app than in
training. Identity normalisation and kept whitespace for the same reason (llama.cpp applies no
normaliser). Newlines are not pieces (SentencePiece trains per line): they become the byte token
``<0x0A>`` on both sides.

Chat format (one line, no newlines): ``<s>system: S user: U assistant: A</s>``; an empty
system message is dropped; the generation prompt is ``assistant:``.
"""

from __future__ import annotations

import json
import os
import string
import tempfile
from pathlib import Path

import sentencepiece as spm

# Turns are separated by a space; after </s> the tokenizer itself prefixes the next turn with "▁"
# (llama.cpp: space prefix after a special token; HF: legacy Metaspace prepend), so no separator.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(sep='') %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' and not message['content'] %}"
    "{% elif message['role'] in ['system', 'user', 'assistant'] %}"
    "{{ ns.sep }}{{ message['role'] }}: {{ message['content'] | trim }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% set ns.sep = '' %}"
    "{% else %}{% set ns.sep = ' ' %}{% endif %}"
    "{% else %}{{ raise_exception('Only system, user and assistant roles are supported.') }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ ns.sep }}assistant:{% endif %}"
)

SPECIAL = {"unk": (0, "<unk>"), "bos": (1, "<s>"), "eos": (2, "</s>"), "pad": (3, "<pad>")}


def train_sentencepiece(corpus_file: Path, out_prefix: Path, vocab_size: int = 4096,
                        extra_lines: list[str] | None = None, seed_sentences: int = 300_000) -> Path:
    """Train a SentencePiece BPE model on ``corpus_file`` (one paragraph per line)."""
    lines = [ln for ln in Path(corpus_file).read_text(encoding="utf-8").splitlines() if ln.strip()]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(lines + list(extra_lines or [])) + "\n")
        input_path = f.name
    spm.set_random_generator_seed(0)
    try:
        spm.SentencePieceTrainer.train(
            input=input_path, model_prefix=str(out_prefix), vocab_size=vocab_size,
            model_type="bpe", byte_fallback=True, split_digits=True,
            normalization_rule_name="identity", remove_extra_whitespaces=False,
            add_dummy_prefix=True, character_coverage=0.9995,
            required_chars="".join(c for c in string.printable if not c.isspace()),
            unk_id=0, bos_id=1, eos_id=2, pad_id=3, input_sentence_size=seed_sentences,
            shuffle_input_sentence=True, max_sentence_length=20_000, num_threads=2,
            minloglevel=2,
        )
    finally:
        os.unlink(input_path)
    return Path(str(out_prefix) + ".model")


def write_hf_tokenizer(sp_model: Path, out_dir: Path, model_max_length: int = 256) -> Path:
    """Write an HF tokenizer folder (tokenizer.model, tokenizer_config.json with the chat template
    and added_tokens_decoder, special_tokens_map.json) that ``AutoTokenizer`` and llama.cpp's
    converter both read."""
    from transformers import LlamaTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = LlamaTokenizerFast(
        vocab_file=str(sp_model), legacy=True, add_prefix_space=True, add_bos_token=True, add_eos_token=False,
        unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        from_slow=True, clean_up_tokenization_spaces=False, model_max_length=model_max_length,
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(str(out_dir), save_jinja_files=False)
    cfg_path = out_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("chat_template") != CHAT_TEMPLATE or "added_tokens_decoder" not in cfg:
        raise RuntimeError("tokenizer_config.json lacks the chat template or added_tokens_decoder")
    return out_dir


def chat_words() -> list[str]:
    """Lines in the chat format, added to the tokenizer's training text so its words get pieces."""
    from .needle import NEEDLE, QUESTION

    lines = []
    for i in range(400):
        lines.append(f"user: {QUESTION} assistant: {i:04d}")
        lines.append(NEEDLE.format(f"{(i * 37) % 10000:04d}"))
        lines.append("system: You are a helpful assistant. user: Summarise the document. assistant: Sure.")
    return lines


def build_tokenizer(corpus_file: Path, out_dir: Path, vocab_size: int = 4096) -> Path:
    """Train the SentencePiece model and write the HF tokenizer folder into ``out_dir``."""
    with tempfile.TemporaryDirectory() as tmp:
        model = train_sentencepiece(corpus_file, Path(tmp) / "sp", vocab_size, chat_words())
        return write_hf_tokenizer(model, out_dir)
