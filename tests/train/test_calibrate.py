"""The calibration's answers: greedy replies under a document's LoRA at a scale, ended where the chat's
turn ends (as llama.cpp does), scored against the gold answers (hypernet.train.loop.Trainer.scale_scores)."""

from __future__ import annotations

import random

import torch

from hypernet.train.config import TrainConfig
from hypernet.train.loop import Trainer
from hypernet.train.manpages import ManPage, questions, write_pages

from test_renamed import PAGE


def _trainer(tiny_base_dir, tmp_path) -> Trainer:
    pages = write_pages([ManPage("frobnicate", "/x/frobnicate.1.gz", PAGE, questions(PAGE))], tmp_path / "pages.jsonl")
    torch.manual_seed(0)
    return Trainer(TrainConfig(base_model=str(tiny_base_dir), out_dir=str(tmp_path / "o"), objective="rename",
                               train_file=str(pages), eval_file=str(pages), latent_size=16, n_heads=2, head_dim=8,
                               n_kv_heads=1, num_blocks=1, max_chunk_tokens=64, progress=False))


def test_at_scale_0_the_reply_is_the_base_models_own_greedy_answer(tiny_base_dir, tmp_path):
    trainer = _trainer(tiny_base_dir, tmp_path)
    ex = trainer.task.sample(random.Random(0))
    trainer.lora_scale = 0.0
    reply = trainer._greedy_reply(ex, 12)
    ids = torch.tensor([ex.prompt])
    expected = trainer.base.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=sorted(trainer.stop_ids),
                                     pad_token_id=trainer.pad_id)[0, ids.shape[1]:].tolist()
    expected = [t for t in expected if t not in trainer.stop_ids]
    assert reply == trainer.tok.decode(expected)


def test_the_model_end_of_turn_stops_a_reply(tiny_base_dir, tmp_path):
    trainer = _trainer(tiny_base_dir, tmp_path)
    eos = trainer.base.generation_config.eos_token_id
    assert {*([eos] if isinstance(eos, int) else eos)} <= trainer.stop_ids
    assert set(trainer.tok.all_special_ids) <= trainer.stop_ids


def test_scores_per_scale_compare_the_replies_with_the_gold_answers(tiny_base_dir, tmp_path):
    trainer = _trainer(tiny_base_dir, tmp_path)
    examples = [trainer.task.sample(random.Random(i)) for i in range(2)]
    golds = [trainer.tok.decode([t for t in ex.response if t not in trainer.stop_ids]) for ex in examples]
    made = []
    real_lora = trainer._lora
    trainer._lora = lambda ex: made.append(ex) or real_lora(ex)

    def reply(ex, n, lora):
        assert lora is not None and all(torch.equal(a, b) for a, b in zip(lora, real_lora(ex)))
        return {1.0: golds[examples.index(ex)], 0.5: "It was written by Zorblax Quemm."}.get(trainer.lora_scale,
                                                                                            "no idea")

    trainer._greedy_reply = reply
    scores = trainer.scale_scores(examples, [0.0, 0.5, 1.0])
    assert scores[1.0] == (1.0, 1.0, 0.0) and scores[0.0] == (0.0, 0.0, 0.0)
    assert scores[0.5][2] == 1.0  # a name neither the document, the question nor the base's reply holds
    assert made == examples  # each example's LoRA generated once for all three scales
    assert trainer.lora_scale == 1.0  # restored
