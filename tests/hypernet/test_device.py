"""Device/dtype selection logic (CUDA paths checked by passing cuda_available)."""

from __future__ import annotations

import pytest
import torch

from hypernet import device as device_mod
from hypernet.device import BNB_4BIT, encoder_quantization, select_device


def test_defaults_follow_the_hardware():
    assert select_device(cuda_available=False) == (torch.device("cpu"), torch.float32)
    assert select_device(cuda_available=True) == (torch.device("cuda"), torch.bfloat16)
    assert select_device() == (torch.device("cuda" if torch.cuda.is_available() else "cpu"),
                               torch.bfloat16 if torch.cuda.is_available() else torch.float32)  # fmt: skip


def test_overrides_win():
    assert select_device("cpu", cuda_available=True) == (torch.device("cpu"), torch.float32)
    assert select_device("cuda:1", "float32", cuda_available=True) == (torch.device("cuda:1"), torch.float32)
    assert select_device(None, "bf16", cuda_available=False) == (torch.device("cpu"), torch.bfloat16)
    with pytest.raises(ValueError, match="Unknown dtype"):
        select_device("cpu", "int3")


def test_encoder_follows_the_recipe_on_every_device(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert encoder_quantization(None, True, cpu) == "nf4"  # recipe asks for it: plain-torch NF4 on CPU
    assert encoder_quantization(None, False, cpu) is None
    assert encoder_quantization(False, True, cpu) is None and encoder_quantization(True, False, cpu) == "nf4"
    monkeypatch.setattr(device_mod.importlib.util, "find_spec", lambda name: object() if name == "bitsandbytes" else None)
    assert encoder_quantization(None, True, cuda) == "bitsandbytes" and encoder_quantization(None, True, cpu) == "nf4"
    monkeypatch.setattr(device_mod.importlib.util, "find_spec", lambda name: None)
    assert encoder_quantization(None, True, cuda) == "nf4"  # CUDA without bitsandbytes


def test_bitsandbytes_settings_are_the_reference_recipe():
    # reference model_loading.get_model: NF4, double quantization, bf16 compute (blocks of 64 by default)
    assert BNB_4BIT == {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
                        "bnb_4bit_compute_dtype": torch.bfloat16}
