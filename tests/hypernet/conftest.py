"""Fixtures for hypernet tests: parity fixture folders, loaded vectors, tiny random models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

FIXTURES = ("gemma2_main", "gemma2_niah", "qwen3_main", "qwen3_niah")


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture(params=FIXTURES)
def fixture_dir(request, parity_dir) -> Path:
    """One reference parity fixture folder (base_model/, pytorch_model.bin, vectors.safetensors)."""
    return parity_dir / request.param


def vectors(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "vectors.safetensors"))


def assert_close_rel(x: torch.Tensor, ref: torch.Tensor, name: str, rel: float = 2e-4) -> None:
    """The README's tolerance for non-logit tensors: max|x - ref| <= rel * max|ref|."""
    assert x.shape == ref.shape, f"{name}: shape {tuple(x.shape)} != {tuple(ref.shape)}"
    err = (x.float() - ref).abs().max().item()
    assert err <= rel * ref.abs().max().item(), f"{name}: max abs diff {err:.3e} > {rel} * {ref.abs().max().item():.3e}"


def assert_logits_close(x: torch.Tensor, ref: torch.Tensor, name: str, atol: float = 1e-3) -> None:
    assert x.shape == ref.shape, f"{name}: shape {tuple(x.shape)} != {tuple(ref.shape)}"
    err = (x.float() - ref).abs().max().item()
    assert err <= atol, f"{name}: max abs diff {err:.3e} > {atol}"


def tiny_config(arch: str, layers: int = 4, hidden: int = 32, intermediate: int = 64, vocab: int = 128):
    """A transformers config for a tiny random decoder-only LM of the given family."""
    from transformers import AutoConfig

    extra = {"gemma2": {"head_dim": 8, "query_pre_attn_scalar": 8}, "qwen3": {"head_dim": 8}}.get(arch, {})
    return AutoConfig.for_model(
        arch, num_hidden_layers=layers, hidden_size=hidden, intermediate_size=intermediate, vocab_size=vocab,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0, **extra,
    )  # fmt: skip


def save_tiny_base(folder: Path, arch: str = "llama", seed: int = 0, **sizes) -> Path:
    """Build a tiny random model of `arch` and save_pretrained it into `folder`."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, **sizes))
    model.save_pretrained(folder)
    return folder
