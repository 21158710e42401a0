"""TrainConfig validation and the learning-rate schedule."""

from __future__ import annotations

import json

import pytest

from hypernet.train.config import TrainConfig, chunk_cap_at, lr_at


def test_lr_warmup_then_cosine_to_floor():
    cfg = TrainConfig(base_model="b", out_dir="o", lr=1e-3, warmup=10, steps=110, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(60, cfg) == pytest.approx(0.55e-3)
    assert lr_at(110, cfg) == pytest.approx(1e-4)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 120))


def test_bad_values_are_rejected_with_a_message():
    with pytest.raises(ValueError, match="objective must be one of"):
        TrainConfig(base_model="b", out_dir="o", objective="magic")
    with pytest.raises(ValueError, match="chunk_probs must sum to 1"):
        TrainConfig(base_model="b", out_dir="o", chunk_probs=[0.5, 0.2])


def test_json_round_trip():
    cfg = TrainConfig(base_model="b", out_dir="o", steps=7, chunk_probs=[0.5, 0.5])
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg  # as `python -m hypernet.train --config` reads it


def test_chunk_curriculum_grows_to_the_window():
    cfg = TrainConfig(base_model="b", out_dir="o", max_chunk_tokens=256, curriculum_hold=20,
                      curriculum_steps=100, curriculum_start_tokens=36)
    caps = [chunk_cap_at(s, cfg) for s in range(0, 170, 10)]
    assert caps[0] == caps[2] == 36 and caps[7] == 146 and caps[-1] == 256
    assert caps == sorted(caps)
    assert chunk_cap_at(0, TrainConfig(base_model="b", out_dir="o")) == 256  # no curriculum
