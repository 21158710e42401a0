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
