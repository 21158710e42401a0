"""Device/dtype selection logic (CUDA paths checked by passing cuda_available)."""

from __future__ import annotations

import pytest
import torch

from hypernet.device import select_device, use_4bit_encoder


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


def test_4bit_encoder_only_on_cuda():
    cpu = torch.device("cpu")
    assert use_4bit_encoder(None, True, cpu) is False  # recipe asks for it, but no CUDA: full precision
    assert use_4bit_encoder(False, True, cpu) is False
    with pytest.raises(ValueError, match="needs a CUDA device"):
        use_4bit_encoder(True, False, cpu)
