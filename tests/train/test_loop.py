"""Stage 2 (the hypernetwork) trains on CPU with both objectives; checkpoints save and resume."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch

from hypernet import load_hypernet
from hypernet.train.config import TrainConfig
from hypernet.train.data import Example, MixedTask, gather_positions, with_response
from hypernet.train.loop import Trainer, train
from hypernet.train.objectives import topk_distillation
from hypernet.train.state import list_checkpoints

from train_helpers import HELDOUT

GEOMETRY = dict(latent_size=16, n_heads=2, head_dim=8, n_kv_heads=1, num_blocks=1, lr=1e-2, warmup=1,
                batch_size=4, max_chunk_tokens=64, min_chunk_tokens=16, progress=False, l1_coef=0.01)


def _fixed_batch_losses(trainer: Trainer, steps: int) -> list[float]:
    examples = [trainer.task.sample(random.Random(i)) for i in range(4)]
    return [trainer.step(examples, step=5)["task"] for _ in range(steps)]


def _repeat_task(tmp_path):
    """A distill JSONL file: short held-out texts, each asked to be repeated (response given)."""
    data = tmp_path / "train.jsonl"
    texts = [t[:150] for t in HELDOUT.read_text().split("\n")[:40] if len(t) > 100]
    data.write_text("\n".join(json.dumps({"context": t, "prompt": "Repeat the text.", "response": t[:30]})
                              for t in texts))
    return data


def test_needle_objective_loss_decreases(tiny_base_dir, tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(base_model=str(tiny_base_dir), out_dir=str(tmp_path), train_file=str(HELDOUT), **GEOMETRY)
    trainer = Trainer(cfg)
    assert max(len(ex.chunks) for ex in [trainer.task.sample(random.Random(i)) for i in range(20)]) > 1
    losses = _fixed_batch_losses(trainer, 15)
    assert losses[-1] < losses[0] - 0.3, losses


def test_distill_objective_loss_decreases(tiny_base_dir, tmp_path):
    torch.manual_seed(0)
    data = _repeat_task(tmp_path)
    cfg = TrainConfig(base_model=str(tiny_base_dir), out_dir=str(tmp_path / "o"), objective="distill",
                      train_file=str(data), top_k=1, **GEOMETRY)
    losses = _fixed_batch_losses(Trainer(cfg), 15)
    # A random teacher is nearly uniform, so the margin is small; a broken gradient path gives none.
    assert losses[-1] < losses[0] - 0.01 and losses[-1] <= min(losses[:5]), losses


def _repeat_distill_trainer(tiny_base_dir, tmp_path) -> Trainer:
    """A distillation trainer on the repeat task that evaluates on its training file."""
    torch.manual_seed(0)
    data = _repeat_task(tmp_path)
    return Trainer(TrainConfig(base_model=str(tiny_base_dir), out_dir=str(tmp_path / "o"), objective="distill",
                               train_file=str(data), eval_file=str(data), top_k=1, **GEOMETRY))


def test_content_gap_tells_own_from_another_documents_lora(tiny_base_dir, tmp_path):
    trainer = _repeat_distill_trainer(tiny_base_dir, tmp_path)
    own, other = trainer.content_gap(4)  # scaler_B starts at 0: no document reaches the LoRA yet
    assert own == pytest.approx(other, abs=1e-6) and own == pytest.approx(trainer.eval_loss(4))
    for p in trainer.unwrapped.scaler_B.values():  # open the document path
        p.data.fill_(1.0)
    own, other = trainer.content_gap(4)
    assert abs(own - other) > 1e-3


def test_lora_similarity_is_one_when_the_hypernet_ignores_its_input(tiny_base_dir, tmp_path):
    trainer = _repeat_distill_trainer(tiny_base_dir, tmp_path)
    varied = trainer.lora_similarity(4)
    assert varied < 0.999
    with torch.no_grad():  # a perceiver that attends to nothing: every document gets the same latents
        for layer in [*trainer.unwrapped.aggregator.perceiver.encoder.layers, *trainer.unwrapped.aggregator.perceiver.decoder.layers]:
            layer.self_attn.o_proj.weight.zero_()
    assert trainer.lora_similarity(4) == pytest.approx(1.0, abs=1e-5)


def test_a_distillation_learns_its_mixed_in_gold_examples_by_cross_entropy(tiny_base_dir, tmp_path):
    trainer = _repeat_distill_trainer(tiny_base_dir, tmp_path)
    for p in trainer.unwrapped.scaler_B.values():  # documents reach their LoRAs
        p.data.fill_(1.0)
    rng = random.Random(0)
    distilled = [trainer.task.sample(rng) for _ in range(3)]
    gold = [dataclasses.replace(trainer.task.sample(rng), gold=True) for _ in range(2)]
    trainer.model.eval()

    def task_loss(examples, objective="distill"):
        trainer.cfg = dataclasses.replace(trainer.cfg, objective=objective)
        with torch.no_grad():
            return trainer.loss(examples, l1_coef=0.0)[1]["task"]

    as_distilled = [dataclasses.replace(ex, gold=False) for ex in gold]
    # gold examples: cross-entropy on their answers, as the prose objective scores every example
    assert task_loss(gold) == pytest.approx(task_loss(as_distilled, "prose"), rel=1e-5)
    assert abs(task_loss(gold) - task_loss(as_distilled)) > 1e-3  # not the teacher's top-1
    # one batch: each example's own objective, weighted by its count
    assert task_loss(distilled + gold) == pytest.approx((3 * task_loss(distilled) + 2 * task_loss(gold)) / 5, rel=1e-4)


def test_mixed_task_marks_the_other_tasks_draws_gold():
    class Task:  # a task whose examples answer with its own tag
        def __init__(self, tag):
            self.tag = tag

        def sample(self, rng, max_chunk=None, single=False):
            return Example([[1]], [2], [self.tag], [3])

    rng = random.Random(0)
    draws = [MixedTask(Task(10), Task(20), 0.3).sample(rng) for _ in range(400)]
    gold = [ex for ex in draws if ex.gold]
    assert {ex.response[0] for ex in gold} == {20}
    assert {ex.response[0] for ex in draws if not ex.gold} == {10}
    assert 0.22 < len(gold) / len(draws) < 0.38


def test_topk_distillation_is_minimal_when_student_matches_teacher():
    teacher = torch.randn(2, 3, 50)
    mask = torch.ones(2, 3, dtype=torch.bool)
    same = topk_distillation(teacher, teacher, mask, k=50)
    other = topk_distillation(torch.randn(2, 3, 50), teacher, mask, k=50)
    entropy = -(teacher.softmax(-1) * teacher.log_softmax(-1)).sum(-1).mean()
    assert same == pytest.approx(entropy.item(), rel=1e-4)
    assert other > same


def test_train_checkpoints_resume_and_final_loads(tiny_base_dir, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(base_model=str(tiny_base_dir), out_dir=str(out), train_file=str(HELDOUT),
                      eval_file=str(HELDOUT), steps=2, save_every=2, eval_every=2, eval_docs=1,
                      eval_lengths=[128], **{**GEOMETRY, "batch_size": 2})
    logs: list[str] = []
    train(cfg, log=logs.append)
    assert [s for s, _ in list_checkpoints(out / "checkpoints")] == [2]
    assert any("held-out accuracy 128:" in m for m in logs)
    cfg.steps = 3
    train(cfg, log=logs.append)
    assert any("resumed" in m and "step 2" in m for m in logs)
    hn = load_hypernet(out)
    adapter = hn.internalize("The special magic number is 1234. " * 30)
    assert adapter.n_chunks > 1 and adapter.A.shape[0] == 2


def test_init_from_fine_tunes_an_earlier_run(tiny_base_dir, tmp_path):
    first = TrainConfig(base_model=str(tiny_base_dir), out_dir=str(tmp_path / "a"), train_file=str(HELDOUT),
                        steps=2, save_every=0, eval_every=0, **{**GEOMETRY, "batch_size": 2})
    train(first)
    start = load_hypernet(tmp_path / "a").model.state_dict()
    # lr 0 and no weight decay: the fine-tuned weights are exactly the ones it started from
    tuned = TrainConfig(**{**first.__dict__, "out_dir": str(tmp_path / "b"), "init_from": str(tmp_path / "a"),
                           "lr": 0.0, "weight_decay": 0.0, "steps": 1})
    train(tuned)
    after = load_hypernet(tmp_path / "b").model.state_dict()
    assert all(torch.equal(start[k], after[k]) for k in start)
    fresh = Trainer(TrainConfig(**{**tuned.__dict__, "init_from": ""})).unwrapped.state_dict()
    assert not all(torch.equal(start[k], fresh[k]) for k in start)
    with pytest.raises(ValueError, match="geometry"):
        Trainer(TrainConfig(**{**tuned.__dict__, "latent_size": 32}))


def test_snapped_training_chunks_never_split_the_needle(tiny_base_dir, tmp_path):
    cfg = TrainConfig(base_model=str(tiny_base_dir), out_dir=str(tmp_path), train_file=str(HELDOUT),
                      snap_to_sentences=True, chunk_probs=[0.0, 0.0, 0.5, 0.5], **GEOMETRY)
    trainer = Trainer(cfg)
    for seed in range(25):
        ex = trainer.task.sample(random.Random(seed))
        assert len(ex.chunks) >= 3
        texts = [trainer.tok.decode(c) for c in ex.chunks]
        answer = trainer.tok.decode(ex.response).strip()[:4]
        assert sum(f"The special magic number is {answer}." in t for t in texts) == 1, (seed, texts)


def test_scaler_b_init_lets_the_head_learn_b_from_the_first_step(tiny_base_dir, tmp_path):
    data = _repeat_task(tmp_path)
    grads = {}
    for scaler_b_init in (0.0, 0.05):
        torch.manual_seed(0)
        cfg = TrainConfig(base_model=str(tiny_base_dir), out_dir=str(tmp_path / str(scaler_b_init)),
                          objective="distill", train_file=str(data), top_k=1, scaler_b_init=scaler_b_init,
                          **GEOMETRY)
        trainer = Trainer(cfg)
        model = trainer.unwrapped
        d_in = model.cfg.d_in
        examples = [trainer.task.sample(random.Random(i)) for i in range(2)]
        A, B = trainer.generate_loras(examples)
        assert float(B[:, :, : model.cfg.rank].detach().abs().max()) == 0.0  # both start from the base model
        loss, _ = trainer.loss(examples)
        loss.backward()
        grads[scaler_b_init] = float(model.head.weight.grad[..., d_in:].abs().sum())
        assert float(next(iter(model.scaler_B.values())).detach().mean()) == pytest.approx(scaler_b_init)
    assert grads[0.0] == 0.0 and grads[0.05] > 0.0
    with pytest.raises(ValueError, match="scaler_b_init"):
        TrainConfig(base_model="b", out_dir="o", scaler_b_init=-1)


def test_calibrated_centring_gives_training_chunks_loras_that_average_to_zero(tiny_base_dir, tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(base_model=str(tiny_base_dir), out_dir=str(tmp_path / "o"), objective="distill",
                      train_file=str(_repeat_task(tmp_path)), top_k=1, center_latents=True, **GEOMETRY)
    trainer = Trainer(cfg)
    model = trainer.unwrapped
    with torch.no_grad():  # running means that lag far behind the weights
        model.center.mean.fill_(3.0)
        model.center_unit.mean.fill_(0.5)
    chunks = trainer._sample_chunks(64)

    def mean_lora() -> float:
        model.eval()
        with torch.no_grad(), trainer.acc.autocast():
            A, _ = model.generate_loras(*trainer._features(chunks))
        return float(A.float().mean(0).abs().max() / A.float().abs().mean())

    assert mean_lora() > 0.5  # stale means: every chunk gets nearly the same LoRA
    trainer.calibrate_centering()
    assert mean_lora() < 0.02 and model.center.momentum == model.center_unit.momentum == 0.02


def test_lora_layers_generates_and_ships_loras_for_the_last_layers_only(tiny_base_dir, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(base_model=str(tiny_base_dir), out_dir=str(out), train_file=str(HELDOUT), eval_file=str(HELDOUT),
                      steps=2, save_every=0, eval_every=0, encoder_type="early_exit", early_exit_layer=1, lora_layers=1,
                      **GEOMETRY)
    trainer = Trainer(cfg)
    assert trainer.hcfg.layer_indices == [1] and trainer.encoder.decoder.config.num_hidden_layers == 1
    with torch.no_grad():
        A, B = trainer.generate_loras([trainer.task.sample(random.Random(0))])
    assert A.shape[1] == 1  # (chunks, 1 layer, r, d_in)
    # the student patches only layer 1 (a LoRA of 1 layer on a 2-layer base is refused otherwise)
    losses = [trainer.step([trainer.task.sample(random.Random(i)) for i in range(2)], step=1)["task"] for _ in range(2)]
    assert all(torch.isfinite(torch.tensor(losses)))
    train(cfg, log=lambda m: None)
    hn = load_hypernet(out)
    assert hn.config.layer_indices == [1] and hn.config.early_exit_layer == 1
    adapter = hn.internalize("The special magic number is 1234. " * 30)
    assert adapter.layer_indices == [1] and adapter.A.shape[0] == 1
    assert adapter.peft_config()["layers_to_transform"] == [1]


def test_lora_layers_out_of_range_and_per_layer_subsets_are_refused(tiny_base_dir, tmp_path):
    from hypernet.model import HypernetConfig

    cfg = TrainConfig(base_model=str(tiny_base_dir), out_dir=str(tmp_path / "r"), train_file=str(HELDOUT),
                      encoder_type="early_exit", lora_layers=3, **GEOMETRY)
    with pytest.raises(ValueError, match="lora_layers must be between 0"):
        Trainer(cfg)
    with pytest.raises(ValueError, match="needs a LoRA on every layer"):
        HypernetConfig(n_layers=1, layer_indices=[1], base_hidden_size=32, d_in=64, d_out=32)
    with pytest.raises(ValueError, match="distinct layers in order"):
        HypernetConfig(n_layers=2, layer_indices=[1, 0], base_hidden_size=32, d_in=64, d_out=32, encoder_type="early_exit")
