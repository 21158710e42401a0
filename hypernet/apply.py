"""Apply a D2L LoRA to a transformers model: y = W x + alpha * (x A^T) B on each layer's down_proj."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from hypernet.encoder import decoder_of


@contextmanager
def lora_applied(
    model: nn.Module,
    A: torch.Tensor,
    B: torch.Tensor,
    alpha: float,
    layer_indices: Sequence[int] | None = None,
    target_module: str = "down_proj",
) -> Iterator[nn.Module]:
    """Patch `mlp.<target_module>` of every decoder layer while the block runs.

    A: (L, R, d_in) and B: (L, R, d_out) for one document (broadcast over the batch), or
    (batch, L, R, d) with one LoRA per batch row. Gradients flow into A and B. The patch is a forward
    hook on the shared layer modules: do not run a context encoder that shares them inside the block.
    """
    if A.dim() not in (3, 4) or A.dim() != B.dim():
        raise ValueError(f"A and B must both be (L, R, d) or (batch, L, R, d); got {tuple(A.shape)} and {tuple(B.shape)}")
    layers = decoder_of(model).layers
    indices = list(layer_indices) if layer_indices is not None else list(range(len(layers)))
    if A.shape[-3] != len(indices):
        raise ValueError(f"LoRA has {A.shape[-3]} layers but the model patch targets {len(indices)}")
    handles = []
    try:
        for slot, layer_idx in enumerate(indices):
            module = getattr(layers[layer_idx].mlp, target_module)
            handles.append(module.register_forward_hook(_hook(A[..., slot, :, :], B[..., slot, :, :], alpha)))
        yield model
    finally:
        for h in handles:
            h.remove()


def _hook(A_l: torch.Tensor, B_l: torch.Tensor, alpha: float):
    """Forward hook adding alpha * (x A_l^T) B_l; A_l (R, d_in) or (batch, R, d_in)."""

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        a, b = A_l.to(x.dtype), B_l.to(x.dtype)
        if a.dim() == 3:  # per batch row: x (batch, T, d_in)
            delta = torch.bmm(torch.bmm(x, a.transpose(1, 2)), b)
        else:
            delta = (x @ a.T) @ b
        return output + alpha * delta

    return hook
