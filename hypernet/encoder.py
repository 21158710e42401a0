"""Context encoders: a frozen, truncated view of the base model's decoder producing chunk features.

- per_layer_activations (main recipe): run layers[:L-1] with output_hidden_states and stack all L
  hidden states -> (chunks, L, T, H); slot 0 is the (scaled) embedding output, the last slot is the
  final norm of layer L-2's output.
- early_exit (needle recipe): run layers[:k] (k = L // 4 by default) -> last_hidden_state (chunks, T, H).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from hypernet.model import ENCODER_TYPES


def decoder_of(model: nn.Module) -> nn.Module:
    """The inner decoder (the module holding `layers`) of a transformers model, PEFT-wrapped or not."""
    m = model
    for _ in range(5):
        if isinstance(getattr(m, "layers", None), nn.ModuleList) and hasattr(m, "embed_tokens"):
            return m
        m = getattr(m, "model", None) or getattr(m, "base_model", None)
        if m is None:
            break
    raise TypeError(f"{type(model).__name__} has no decoder with embed_tokens and layers (not a decoder-only LM?)")


def truncated(decoder: nn.Module, n_layers: int) -> nn.Module:
    """A shallow view of `decoder` that runs only its first `n_layers` layers (weights shared)."""
    view = copy.copy(decoder)
    view._modules = dict(decoder._modules)
    view._modules["layers"] = nn.ModuleList(list(decoder.layers[:n_layers]))
    cfg = copy.copy(decoder.config)
    cfg.num_hidden_layers = n_layers
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = list(cfg.layer_types[:n_layers])
    view.config = cfg
    return view


class ContextEncoder(nn.Module):
    """Frozen feature extractor over a base model; never receives gradients."""

    def __init__(self, model: nn.Module, encoder_type: str, early_exit_layer: int | None = None):
        super().__init__()
        if encoder_type not in ENCODER_TYPES:
            raise ValueError(f"encoder_type must be one of {ENCODER_TYPES}, got {encoder_type!r}")
        decoder = decoder_of(model)
        n_total = len(decoder.layers)
        self.encoder_type = encoder_type
        self.n_base_layers = n_total
        keep = n_total - 1 if encoder_type == "per_layer_activations" else (early_exit_layer or max(1, n_total // 4))
        # Stored outside _modules so that .to()/.parameters() of a wrapper do not touch the base model.
        self.__dict__["decoder"] = truncated(decoder, keep)

    @property
    def device(self) -> torch.device:
        return self.decoder.embed_tokens.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.decoder.embed_tokens.weight.dtype

    @torch.no_grad()
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(chunks, T) right-padded ids -> (chunks, L, T, H) or (chunks, T, H) features."""
        out = self.decoder(
            input_ids=input_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            output_hidden_states=self.encoder_type == "per_layer_activations",
            use_cache=False,
            return_dict=True,
        )
        if self.encoder_type == "per_layer_activations":
            return torch.stack(out.hidden_states, dim=1)
        return out.last_hidden_state
