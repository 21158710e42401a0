"""Fixtures for hypernet tests: parity fixture folders and random document adapters (helpers
live in hn_testlib.py; tests/hypernet is on pytest's ``pythonpath``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hypernet.adapter import DocumentAdapter

FIXTURES = ("gemma2_main", "gemma2_niah", "qwen3_main", "qwen3_niah")


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture(params=FIXTURES)
def fixture_dir(request, parity_dir) -> Path:
    """One reference parity fixture folder (base_model/, pytorch_model.bin, vectors.safetensors)."""
    return parity_dir / request.param


@pytest.fixture
def make_adapter():
    """make_adapter(L, R, d_in, d_out, A=None, B=None) -> DocumentAdapter with random float32 factors."""

    def make(L: int, R: int, d_in: int, d_out: int, A: torch.Tensor | None = None, B: torch.Tensor | None = None):
        g = torch.Generator().manual_seed(1000 * L + R)
        A = torch.randn(L, R, d_in, generator=g) if A is None else A
        B = torch.randn(L, R, d_out, generator=g) * 0.05 if B is None else B
        return DocumentAdapter(
            A=A.float(), B=B.float(), alpha=45.2548, n_chunks=max(1, R // 8 - 1), layer_indices=list(range(L)),
            base_model="tiny-base", base_fingerprint="fp123", hypernet_id="hn456", extra={"tokens": 1234},
        )

    return make
