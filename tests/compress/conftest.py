"""Fixtures for the compression tests: random document adapters of chosen shapes."""

from __future__ import annotations

import pytest
import torch

from hypernet.adapter import DocumentAdapter


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
