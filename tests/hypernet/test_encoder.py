"""Context encoders over each supported family, checked against the full model's own hidden states."""

from __future__ import annotations

import pytest
import torch
from hn_testlib import tiny_config
from transformers import AutoModelForCausalLM

from hypernet.encoder import ContextEncoder, decoder_of

ARCHS = ("llama", "mistral", "qwen2", "qwen3", "gemma2")


@pytest.mark.parametrize("arch", ARCHS)
def test_per_layer_activations_and_early_exit(arch):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, layers=8), attn_implementation="eager").eval()
    ids = torch.randint(1, 128, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states  # L + 1 states
    norm = decoder_of(model).norm
    feats = ContextEncoder(model, "per_layer_activations")(ids, mask)
    assert feats.shape == (2, 8, 9, 32)
    for k in range(7):  # slot k = input of layer k (slot 0: the embedding output, scaled for Gemma)
        assert torch.allclose(feats[:, k], full[k], atol=1e-5), k
    with torch.no_grad():
        assert torch.allclose(feats[:, 7], norm(full[7]), atol=1e-5)  # final norm of layer L-2's output
        early = ContextEncoder(model, "early_exit")(ids, mask)  # L // 4 = 2 layers
        assert torch.allclose(early, norm(full[2]), atol=1e-5)
    assert len(decoder_of(model).layers) == 8  # the base model itself is untouched


def test_encoder_needs_a_decoder_only_lm():
    with pytest.raises(TypeError, match="not a decoder-only LM"):
        ContextEncoder(torch.nn.Linear(2, 2), "early_exit")
