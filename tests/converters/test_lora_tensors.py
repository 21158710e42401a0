"""lora_tensors: PEFT folders are read with PEFT's scaling; what GGUF cannot carry is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from converters.errors import AdapterMismatchError
from converters.lora_tensors import gather, read_peft_dir, split_pairs

KEY = "base_model.model.model.layers.{i}.mlp.down_proj.lora_{ab}.weight"


def peft_dir(tmp_path, config: dict, rank: int = 4, layers=(0, 1)):
    tensors = {}
    for i in layers:
        tensors[KEY.format(i=i, ab="A")] = torch.ones(rank, 6)
        tensors[KEY.format(i=i, ab="B")] = torch.ones(5, rank, dtype=torch.bfloat16)
    save_file(tensors, tmp_path / "adapter_model.safetensors")
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", **config}))
    return tmp_path


def test_scaling_alpha_over_r_rslora_and_patterns(tmp_path):
    pairs = read_peft_dir(peft_dir(tmp_path, {"r": 4, "lora_alpha": 8, "alpha_pattern": {"layers.1.mlp.down_proj": 2}}))
    a0, b0 = pairs["model.layers.0.mlp.down_proj"]
    assert a0.shape == (4, 6) and a0.dtype == np.float32
    assert np.all(b0 == 2.0)  # 8 / 4, bf16 read through torch
    assert np.all(pairs["model.layers.1.mlp.down_proj"][1] == 0.5)  # 2 / 4
    rs = read_peft_dir(peft_dir(tmp_path, {"r": 4, "lora_alpha": 8, "use_rslora": True}))
    assert np.all(rs["model.layers.0.mlp.down_proj"][1] == 4.0)  # 8 / sqrt(4)


def test_refusals(tmp_path):
    with pytest.raises(AdapterMismatchError, match="DoRA adapter; only plain LoRA converts to GGUF"):
        read_peft_dir(peft_dir(tmp_path, {"r": 4, "lora_alpha": 8, "use_dora": True}))
    with pytest.raises(AdapterMismatchError, match="adapter_config.json says rank 8 but lora_A has 4 rows"):
        read_peft_dir(peft_dir(tmp_path, {"r": 8, "lora_alpha": 8}))
    (tmp_path / "adapter_model.safetensors").unlink()
    (tmp_path / "adapter_model.bin").write_bytes(b"pickle")
    with pytest.raises(AdapterMismatchError, match=r"no adapter_model.safetensors \(only the pickled .bin"):
        read_peft_dir(tmp_path)
    with pytest.raises(AdapterMismatchError, match="neither a DocumentAdapter nor a PEFT adapter folder"):
        gather(tmp_path / "nope")


def test_split_pairs_needs_both_halves_and_one_rank():
    a, b = np.zeros((4, 6)), np.zeros((5, 3))
    with pytest.raises(AdapterMismatchError, match=r"lora_A \(4, 6\) and lora_B \(5, 3\) disagree on the rank"):
        split_pairs({KEY.format(i=0, ab="A"): a, KEY.format(i=0, ab="B"): b})
    with pytest.raises(AdapterMismatchError, match="has lora_A but not its partner"):
        split_pairs({KEY.format(i=0, ab="A"): a})
    with pytest.raises(AdapterMismatchError, match="holds no LoRA tensors"):
        split_pairs({})
    with pytest.raises(AdapterMismatchError, match="is not a LoRA A/B weight"):
        split_pairs({KEY.format(i=0, ab="A"): a, KEY.format(i=0, ab="B"): b.T,
                     "base_model.model.lm_head.weight": np.zeros((3, 3))})
