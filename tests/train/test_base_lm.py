"""Stage 1 (the base chat model) trains from scratch on CPU: the loss goes down, the model saves."""

from __future__ import annotations

import random

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from hypernet.train.base_lm import BaseLMConfig, answer_ids, lm_loss, make_batch, new_model, question_prompt, train_base
from hypernet.train.needle import Haystacks

from train_helpers import HELDOUT

TINY = BaseLMConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, window=128,
                    batch_size=4, steps=3, eval_every=3, eval_docs=2, min_haystack=8)


def test_loss_decreases_on_a_fixed_batch(tiny_tokenizer_dir):
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    batch = make_batch(Haystacks.from_file(HELDOUT, tok), random.Random(0), TINY)
    model = new_model(TINY, tok)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = lm_loss(model, *batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_batch_weights_mark_the_answer(tiny_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    ids, mask, weights = make_batch(Haystacks.from_file(HELDOUT, tok), random.Random(1), TINY)
    assert ids.shape[1] <= TINY.window
    row_len = int(mask[0].sum())
    answer_len = len(answer_ids(tok, "1234"))
    assert (weights[0, row_len - answer_len: row_len] == TINY.answer_weight).all()
    assert (weights[0, : row_len - answer_len] == 1).all() and (weights[0, row_len:] == 0).all()


def test_answer_follows_the_generation_prompt(tiny_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    assert tok.decode(answer_ids(tok, "0427"), skip_special_tokens=True).strip() == "0427"
    assert answer_ids(tok, "0427")[-1] == tok.eos_token_id
    assert tok.decode(question_prompt(tok, None)).endswith("assistant:")


def test_train_base_saves_a_loadable_model(tiny_tokenizer_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    hay = Haystacks.from_file(HELDOUT, tok)
    out = train_base(TINY, tok, hay, hay, tmp_path / "base", log=lambda m: None)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.max_position_embeddings == TINY.window
    assert AutoTokenizer.from_pretrained(out).chat_template == tok.chat_template
