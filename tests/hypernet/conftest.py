"""Fixtures for hypernet tests: parity fixture folders, loaded vectors, tiny random models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # for `import hn_testlib`

FIXTURES = ("gemma2_main", "gemma2_niah", "qwen3_main", "qwen3_niah")


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture(params=FIXTURES)
def fixture_dir(request, parity_dir) -> Path:
    """One reference parity fixture folder (base_model/, pytorch_model.bin, vectors.safetensors)."""
    return parity_dir / request.param
