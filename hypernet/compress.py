"""Bound a document LoRA's rank: per-layer exact truncated SVD of its low-rank product.

A document of K chunks gives a LoRA of rank R = 8 (K + 1), and llama.cpp's decode cost grows with
R. `compress_adapter` replaces each layer's update delta_l = alpha * B_l^T A_l (A_l [R, d_in],
B_l [R, d_out]) by its best rank-k approximation (Eckart-Young), without ever forming the
d_out x d_in matrix: QR of both factors, SVD of the small core, keep the top k.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from hypernet.adapter import DocumentAdapter

# Decode cost of a LoRA on ffn_down of all 28 layers of Qwen3-0.6B shapes (Q8_0, 2 cores; the rank
# sweep of benchmarks/chat.py, benchmarks/results/chat-qwen3-0.6b-cpu.md): rank 16 1.00x the base
# model, 32 0.98x, 64 0.98x, 128 0.95x, 264 0.94x. Rank 64 is the largest rank at >= 0.97x. A real
# Qwen3/Gemma D2L (8192-token chunks) exceeds rank 64 only beyond ~57k tokens (8 chunks): most
# documents stay exact.
DEFAULT_MAX_ADAPTER_RANK = 64


@dataclass(frozen=True)
class CompressedAdapter:
    """The compressed adapter and how much of the update's energy it keeps.

    energy = sum of kept squared singular values / sum of all of them (1.0 = exact);
    layer_energy has one entry per adapted layer, energy is over all layers together.
    """

    adapter: DocumentAdapter
    original_rank: int
    rank: int
    layer_energy: list[float]
    energy: float

    @property
    def exact(self) -> bool:
        """True when nothing was dropped (the product is unchanged up to float rounding)."""
        return self.rank == self.original_rank or self.energy >= 1.0 - 1e-12


def truncate_factors(
    A: torch.Tensor, B: torch.Tensor, max_rank: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best rank-k factors of B_l^T A_l for every layer; k = min(max_rank, d_in, d_out, R).

    A: (L, R, d_in), B: (L, R, d_out). Returns (A_k (L, k, d_in), B_k (L, k, d_out), kept (L,),
    total (L,)) where B_k^T A_k is the truncated SVD of B^T A and kept/total are the sums of the
    kept/all squared singular values per layer. Computed in float64; outputs in A's dtype.
    """
    if A.dim() != 3 or B.dim() != 3 or A.shape[:2] != B.shape[:2]:
        raise ValueError(f"A and B must be (L, R, d_in) and (L, R, d_out); got {tuple(A.shape)} and {tuple(B.shape)}")
    if max_rank < 1:
        raise ValueError(f"max_rank must be at least 1, not {max_rank}")
    a64, b64 = A.detach().to(torch.float64), B.detach().to(torch.float64)
    # B^T A = (Qb Rb)(Qa Ra)^T = Qb (Rb Ra^T) Qa^T with orthonormal Qb (d_out, p), Qa (d_in, q).
    qb, rb = torch.linalg.qr(b64.transpose(1, 2))  # (L, d_out, p), (L, p, R)
    qa, ra = torch.linalg.qr(a64.transpose(1, 2))  # (L, d_in, q), (L, q, R)
    u, s, vh = torch.linalg.svd(rb @ ra.transpose(1, 2), full_matrices=False)  # core (L, p, q)
    k = min(max_rank, s.shape[-1])
    root = s[:, :k].sqrt().unsqueeze(1)  # (L, 1, k): split each singular value evenly
    b_k = (qb @ u[:, :, :k]) * root  # (L, d_out, k)
    a_k = (qa @ vh[:, :k, :].transpose(1, 2)) * root  # (L, d_in, k)
    sq = s.square()
    return (
        a_k.transpose(1, 2).to(A.dtype).contiguous(),
        b_k.transpose(1, 2).to(B.dtype).contiguous(),
        sq[:, :k].sum(-1),
        sq.sum(-1),
    )


def compress_adapter(adapter: DocumentAdapter, max_rank: int) -> CompressedAdapter:
    """Compress a DocumentAdapter to rank <= max_rank per layer; alpha is kept unchanged.

    The result is the exact truncated SVD of each layer's alpha * B^T A. When max_rank is at
    least the adapter's rank, the adapter is returned as it is (energy 1.0); when max_rank is at
    least the product's true rank, the product is reproduced to float rounding at a smaller rank.
    """
    A, B = adapter.A, adapter.B
    rank = int(A.shape[-2])
    if max_rank < 1:
        raise ValueError(f"max_adapter_rank must be a positive integer, not {max_rank}; use None to keep adapters uncompressed.")
    if max_rank >= rank:
        return CompressedAdapter(adapter, rank, rank, [1.0] * int(A.shape[0]), 1.0)
    a_k, b_k, kept, total = truncate_factors(A, B, max_rank)
    layer_energy = [float(k / t) if t > 0 else 1.0 for k, t in zip(kept.tolist(), total.tolist())]
    grand_total = float(total.sum())
    energy = float(kept.sum()) / grand_total if grand_total > 0 else 1.0
    extra = {**adapter.extra, "compressed_from_rank": rank, "energy_kept": energy}
    small = dataclasses.replace(adapter, A=a_k, B=b_k, extra=extra)  # alpha and provenance kept
    return CompressedAdapter(small, rank, int(a_k.shape[1]), layer_energy, energy)


def maybe_compress(adapter: DocumentAdapter, max_rank: int | None) -> CompressedAdapter:
    """`compress_adapter` when max_rank is set; None keeps the adapter uncompressed (energy 1.0)."""
    if max_rank is None:
        return CompressedAdapter(adapter, int(adapter.A.shape[-2]), int(adapter.A.shape[-2]), [1.0] * int(adapter.A.shape[0]), 1.0)
    return compress_adapter(adapter, max_rank)
