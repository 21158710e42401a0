"""Compose several documents' LoRAs into one, by concatenation along the rank.

A document's adapter is its chunk LoRAs concatenated along the rank, then the hypernetwork's
context-independent bias block (shared/design/d2l-architecture.md section 4). Concatenating
documents the same way sums their updates. Activating each document's adapter in llama.cpp at
scale 1 is that sum with the bias block counted once per document ("each"); ``compose`` can also
keep the bias block once ("once"), which is what one document made of all the chunks would get.
"""

from __future__ import annotations

import dataclasses

import torch

from hypernet.adapter import DocumentAdapter

BIAS_MODES = ("once", "each")


def compose(adapters: list[DocumentAdapter], bias: str = "once") -> DocumentAdapter:
    """One adapter whose update is the sum of the documents' chunk updates, plus the bias block
    once (``bias="once"``) or once per document (``"each"``, the plain sum of the adapters)."""
    if bias not in BIAS_MODES:
        raise ValueError(f"bias must be one of {', '.join(BIAS_MODES)}, not {bias!r}")
    if not adapters:
        raise ValueError("compose needs at least one adapter")
    first = adapters[0]
    for other in adapters[1:]:
        same = (other.alpha == first.alpha and other.layer_indices == first.layer_indices
                and other.target_module == first.target_module
                and other.chunk_rank == first.chunk_rank
                and other.A.shape[::2] == first.A.shape[::2]
                and other.B.shape[::2] == first.B.shape[::2])
        if not same:
            raise ValueError("The adapters were made by different hypernetworks or for different "
                             "layers; they cannot be composed.")
    if bias == "each":
        A = torch.cat([a.A for a in adapters], dim=1)  # (L, sum R, d_in)
        B = torch.cat([a.B for a in adapters], dim=1)
    else:
        # Every adapter's last chunk_rank rows are the same learned bias block: keep one.
        r = first.chunk_rank
        A = torch.cat([a.A[:, :a.n_chunks * r] for a in adapters] + [first.A[:, first.n_chunks * r:]], dim=1)
        B = torch.cat([a.B[:, :a.n_chunks * r] for a in adapters] + [first.B[:, first.n_chunks * r:]], dim=1)
    n_chunks = sum(a.n_chunks for a in adapters)
    extra = {"composed_of": len(adapters), "bias": bias}
    return dataclasses.replace(first, A=A, B=B, n_chunks=n_chunks, extra=extra)


def select_chunks(adapter: DocumentAdapter, indices: list[int]) -> DocumentAdapter:
    """The adapter of only some of a document's chunks (in the given order), with its bias block:
    what the hypernetwork would give for a document made of those chunks alone."""
    if not indices:
        raise ValueError("select at least one chunk")
    if any(not 0 <= i < adapter.n_chunks for i in indices):
        raise ValueError(f"chunk indices must be in 0..{adapter.n_chunks - 1}, got {indices}")
    r = adapter.chunk_rank
    rows = [j for i in indices for j in range(i * r, (i + 1) * r)]
    rows += list(range(adapter.n_chunks * r, adapter.A.shape[1]))
    keep = torch.tensor(rows, dtype=torch.long)
    extra = {**adapter.extra, "chunks": list(indices)}
    return dataclasses.replace(adapter, A=adapter.A.index_select(1, keep), B=adapter.B.index_select(1, keep),
                               n_chunks=len(indices), extra=extra)
