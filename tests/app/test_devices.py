"""The device setting decides both engines by one rule (app/devices.py)."""

from __future__ import annotations

import pytest
import torch

import converters.llama
from app.devices import chat_device, encoder_device


@pytest.mark.parametrize("cuda, gpu_build", [(False, False), (True, True)])
def test_cpu_keeps_both_engines_on_the_cpu(monkeypatch, cuda, gpu_build):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(converters.llama, "supports_gpu_offload", lambda: gpu_build)
    assert (encoder_device("cpu"), chat_device("cpu")) == ("cpu", "cpu")


@pytest.mark.parametrize("setting", ["auto", "gpu"])
def test_each_engine_uses_a_gpu_only_when_its_runtime_has_one(monkeypatch, setting):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(converters.llama, "supports_gpu_offload", lambda: False)
    assert (encoder_device(setting), chat_device(setting)) == ("cuda", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(converters.llama, "supports_gpu_offload", lambda: True)
    assert (encoder_device(setting), chat_device(setting)) == ("cpu", "gpu")
