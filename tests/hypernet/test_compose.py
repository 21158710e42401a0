"""hypernet.compose: documents' LoRAs concatenated along the rank, the bias block once or each."""

from __future__ import annotations

import pytest
import torch

from hypernet.adapter import DocumentAdapter
from hypernet.compose import compose

L, R, D_IN, D_OUT = 2, 4, 6, 5


def make(n_chunks: int, bias: tuple[torch.Tensor, torch.Tensor], seed: int) -> DocumentAdapter:
    g = torch.Generator().manual_seed(seed)
    A = torch.cat([torch.randn(L, n_chunks * R, D_IN, generator=g), bias[0]], dim=1)
    B = torch.cat([torch.randn(L, n_chunks * R, D_OUT, generator=g), bias[1]], dim=1)
    return DocumentAdapter(A=A, B=B, alpha=2.0, n_chunks=n_chunks, layer_indices=[0, 1],
                           chunk_rank=R)


def delta(a: DocumentAdapter) -> torch.Tensor:
    return a.alpha * a.B.transpose(1, 2) @ a.A  # (L, d_out, d_in)


@pytest.fixture
def bias():
    g = torch.Generator().manual_seed(0)
    return torch.randn(L, R, D_IN, generator=g), torch.randn(L, R, D_OUT, generator=g)


CASES = [("once", 1), ("each", 3)]


@pytest.mark.parametrize("mode,bias_count", CASES)
def test_composition_sums_the_chunk_updates_and_counts_the_bias(bias, mode, bias_count):
    docs = [make(n, bias, seed) for n, seed in ((1, 1), (3, 2), (2, 3))]
    out = compose(docs, bias=mode)
    bias_delta = 2.0 * bias[1].transpose(1, 2) @ bias[0]
    chunks = sum(delta(d) - bias_delta for d in docs)
    assert out.n_chunks == 6 and out.rank == (6 + bias_count) * R
    torch.testing.assert_close(delta(out), chunks + bias_count * bias_delta)
    assert out.extra == {"composed_of": 3, "bias": mode}


def test_adapters_of_different_shapes_or_alphas_are_refused(bias):
    a, b = make(1, bias, 1), make(1, bias, 2)
    b.alpha = 3.0
    with pytest.raises(ValueError, match="cannot be composed"):
        compose([a, b])
    with pytest.raises(ValueError, match="bias must be one of once, each"):
        compose([a], bias="twice")
