"""lora_applied: the D2L update on down_proj, per document or per batch row, removed on exit."""

from __future__ import annotations

import pytest
import torch
from hn_testlib import tiny_config
from transformers import AutoModelForCausalLM

from hypernet.apply import lora_applied


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(tiny_config("mistral", layers=3)).eval()


def test_single_lora_equals_merged_weights(model):
    torch.manual_seed(1)
    A, B, alpha = torch.randn(3, 8, 64) * 0.1, torch.randn(3, 8, 32) * 0.1, 4.0
    ids = torch.randint(1, 128, (2, 6))
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        with lora_applied(model, A, B, alpha):
            patched = model(input_ids=ids).logits
        merged = AutoModelForCausalLM.from_config(model.config).eval()
        merged.load_state_dict(model.state_dict())
        for i, layer in enumerate(merged.model.layers):
            layer.mlp.down_proj.weight += alpha * B[i].T @ A[i]  # W + alpha B^T A
        expected = merged(input_ids=ids).logits
        after = model(input_ids=ids).logits
    assert torch.allclose(patched, expected, atol=1e-4)
    assert not torch.allclose(patched, plain, atol=1e-3)
    assert torch.equal(after, plain)  # hooks removed


def test_per_row_loras_match_one_by_one(model):
    torch.manual_seed(2)
    A, B = torch.randn(2, 3, 16, 64) * 0.1, torch.randn(2, 3, 16, 32) * 0.1
    ids = torch.randint(1, 128, (2, 5))
    with torch.no_grad():
        with lora_applied(model, A, B, 2.0):
            both = model(input_ids=ids).logits
        for row in range(2):
            with lora_applied(model, A[row], B[row], 2.0):
                one = model(input_ids=ids[row : row + 1]).logits
            assert torch.allclose(both[row], one[0], atol=1e-5)


def test_gradients_reach_a_and_b(model):
    A = (torch.randn(3, 8, 64) * 0.1).requires_grad_()
    B = (torch.randn(3, 8, 32) * 0.1).requires_grad_()
    with lora_applied(model, A, B, 1.0):
        model(input_ids=torch.randint(1, 128, (1, 4))).logits.sum().backward()
    assert A.grad.abs().sum() > 0 and B.grad.abs().sum() > 0


def test_shape_errors_are_clear(model):
    with pytest.raises(ValueError, match="targets 3"):
        with lora_applied(model, torch.zeros(2, 8, 64), torch.zeros(2, 8, 32), 1.0):
            pass
    with pytest.raises(ValueError, match="must both be"):
        with lora_applied(model, torch.zeros(8, 64), torch.zeros(8, 32), 1.0):
            pass
