"""HypernetModel building blocks: config, combination along the rank, trainability end to end."""

from __future__ import annotations

import pytest
import torch
from hn_testlib import tiny_config
from transformers import AutoModelForCausalLM

from hypernet.apply import lora_applied
from hypernet.encoder import ContextEncoder
from hypernet.model import HypernetConfig, HypernetModel, combine
from hypernet.train.loop import mean_pairwise_cosine as mean_cos


def test_defaults_are_the_reference_geometry():
    c = HypernetConfig(n_layers=36, base_hidden_size=2560, d_in=9728, d_out=2560)
    assert (c.latent_size, c.n_heads, c.head_dim, c.n_kv_heads, c.num_blocks, c.n_latent_queries) == (512, 16, 128, 4, 9, 8)
    assert (c.rank, c.n_out, c.layer_indices) == (8, 8, list(range(36)))
    assert c.lora_alpha == pytest.approx(45.254833995939045)
    niah = HypernetConfig(n_layers=26, base_hidden_size=2304, d_in=9216, d_out=2304, encoder_type="early_exit")
    assert (niah.early_exit_layer, niah.n_out) == (6, 26 * 8)
    with pytest.raises(ValueError, match="encoder_type"):
        HypernetConfig(n_layers=2, base_hidden_size=4, d_in=8, d_out=4, encoder_type="bogus")
    assert HypernetConfig.from_dict({**c.to_dict(), "unknown_future_field": 1}) == c


def test_combine_pads_documents_with_different_chunk_counts():
    L, r = 2, 3
    A = torch.arange(3 * L * r * 4, dtype=torch.float32).view(3, L, r, 4) + 1  # chunks: doc0 = [0, 1], doc1 = [2]
    B = -A[..., :2]
    bias = (torch.full((L, r, 4), 100.0), torch.full((L, r, 2), -100.0))
    cA, cB = combine(A, B, [2, 1], bias)
    assert cA.shape == (2, L, 3 * r, 4) and cB.shape == (2, L, 3 * r, 2)
    assert torch.equal(cA[0, :, :r], A[0]) and torch.equal(cA[0, :, r : 2 * r], A[1]) and torch.equal(cA[0, :, 2 * r :], bias[0])
    assert torch.equal(cA[1, :, :r], A[2]) and torch.equal(cA[1, :, r : 2 * r], bias[0])
    assert torch.count_nonzero(cA[1, :, 2 * r :]) == 0 and torch.count_nonzero(cB[1, :, 2 * r :]) == 0
    assert combine(A, B, [3])[0].shape == (1, L, 3 * r, 4)  # no bias block
    with pytest.raises(ValueError, match="sums to 2"):
        combine(A, B, [1, 1])


def test_training_geometry_is_differentiable_end_to_end():
    """Frozen encoder over a tiny Llama, small perceiver, loss through lora_applied: every hypernet weight learns."""
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_config(tiny_config("llama", layers=4, hidden=32, intermediate=64)).eval().requires_grad_(False)
    cfg = HypernetConfig(n_layers=4, base_hidden_size=32, d_in=64, d_out=32, latent_size=16, n_heads=4, head_dim=8,
                         n_kv_heads=2, num_blocks=2)  # fmt: skip
    hyper = HypernetModel(cfg)
    encoder = ContextEncoder(base, cfg.encoder_type)
    ids = torch.randint(1, 128, (3, 10))
    mask = torch.ones_like(ids)
    mask[2, 6:] = 0  # a shorter chunk, right-padded
    query = torch.randint(1, 128, (2, 7))
    opt = torch.optim.SGD(hyper.parameters(), lr=1.0)

    def loss_fn():
        A, B = hyper(encoder(ids, mask), mask, [2, 1])  # two documents: 2 chunks and 1 chunk
        with lora_applied(base, A, B, cfg.lora_alpha):
            logits = base(input_ids=query).logits
        return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 128), query[:, 1:].reshape(-1)) + 0.1 * A.abs().mean()

    loss = loss_fn()
    loss.backward()
    no_grad = [n for n, p in hyper.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad, f"parameters without a gradient: {no_grad}"
    assert all(p.grad is None for p in base.parameters())
    opt.step()
    assert loss_fn().item() < loss.item()


def test_padding_does_not_change_a_chunk_lora():
    torch.manual_seed(1)
    cfg = HypernetConfig(n_layers=2, base_hidden_size=8, d_in=16, d_out=8, latent_size=8, n_heads=2, head_dim=4,
                         n_kv_heads=1, num_blocks=1, encoder_type="early_exit")  # fmt: skip
    hyper = HypernetModel(cfg).eval()
    with torch.no_grad():
        hyper.scaler_B["down_proj"].fill_(1.0)
        feats = torch.randn(1, 5, 8)
        alone = hyper.generate_loras(feats, torch.ones(1, 5))
        padded = torch.cat([feats, torch.randn(1, 3, 8) * 50], dim=1)
        batched = hyper.generate_loras(padded, torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]]), max_rows=1)
    assert torch.allclose(alone[0], batched[0], atol=1e-5) and torch.allclose(alone[1], batched[1], atol=1e-5)


def test_feature_norm_standardizes_valid_tokens_and_separates_documents_sharing_one_component():
    torch.manual_seed(0)
    H = 16
    cfg = HypernetConfig(n_layers=2, base_hidden_size=H, d_in=8, d_out=H, encoder_type="early_exit", latent_size=16,
                         n_heads=2, head_dim=8, n_kv_heads=1, num_blocks=1, n_latent_queries=4, feature_norm=True)
    common = torch.zeros(H)
    common[3] = 40.0  # one large dimension shared by every token, as in a real base's hidden states
    feats = common + 0.5 * torch.randn(6, 10, H)  # 6 documents' chunks of 10 tokens
    mask = torch.ones(6, 10, dtype=torch.long)
    mask[:, 8:] = 0
    feats[:, 8:] = 1e4  # padding must not enter the statistics
    model = HypernetModel(cfg).eval()
    with torch.no_grad():
        raw = mean_cos(model.generate_loras(feats, mask)[0])  # A: B is 0 at init
        model.feature_norm.fit(feats, mask)
        normed = model.feature_norm(feats)[mask.bool()]
        assert torch.allclose(normed.mean(0), torch.zeros(H), atol=1e-4)
        assert torch.allclose(normed.std(0), torch.ones(H), atol=1e-3)
        fitted = mean_cos(model.generate_loras(feats, mask)[0])
    assert raw > 0.99 and fitted < 0.9, (raw, fitted)
    state = model.state_dict()
    assert torch.equal(state["feature_norm.shift"], model.feature_norm.shift)  # saved with the weights
    plain = HypernetModel(HypernetConfig.from_dict({**cfg.to_dict(), "feature_norm": False}))
    assert not any(k.startswith("feature_norm") for k in plain.state_dict())  # reference checkpoints unchanged


def test_centered_latents_keep_what_documents_share_out_of_the_heads_gradient():
    torch.manual_seed(0)
    H = 16
    cfg = HypernetConfig(n_layers=2, base_hidden_size=H, d_in=8, d_out=H, encoder_type="early_exit", latent_size=16,
                         n_heads=2, head_dim=8, n_kv_heads=1, num_blocks=1, n_latent_queries=4, center_latents=True)
    model = HypernetModel(cfg).train()
    feats, mask = torch.randn(4, 6, H), torch.ones(4, 6, dtype=torch.long)
    A, _ = model.generate_loras(feats, mask)
    A.sum().backward()  # the same loss gradient for every document's LoRA: nothing document-specific
    assert model.head.weight.grad.abs().max() < 1e-5  # ... so the head learns nothing from it
    plain = HypernetModel(HypernetConfig.from_dict({**cfg.to_dict(), "center_latents": False})).train()
    plain.generate_loras(feats, mask)[0].sum().backward()
    assert plain.head.weight.grad.abs().max() > 1e-2  # uncentred, the shared part is what it learns first
    assert not any(k.startswith("center") for k in plain.state_dict())  # reference checkpoints unchanged
    # in training the batch mean, then a running mean (saved with the weights) for one document at a time
    assert model.center.mean.abs().max() > 0
    model.eval()
    with torch.no_grad():
        alone = model.generate_loras(feats[:1], mask[:1])[0]
        again = model.generate_loras(feats[:2], mask[:2])[0][:1]
    assert torch.allclose(alone, again, atol=1e-6) and torch.equal(model.state_dict()["center.mean"], model.center.mean)


def test_centered_latents_stay_finite_when_a_batch_holds_one_chunk_twice():
    cfg = HypernetConfig(n_layers=2, base_hidden_size=16, d_in=8, d_out=16, encoder_type="early_exit", latent_size=16,
                         n_heads=2, head_dim=8, n_kv_heads=1, num_blocks=1, n_latent_queries=4, center_latents=True)
    model = HypernetModel(cfg).train()
    feats = torch.randn(1, 6, 16).expand(2, -1, -1)  # the same chunk twice: each centres to exactly 0
    A, B = model.generate_loras(feats, torch.ones(2, 6, dtype=torch.long))
    assert torch.isfinite(A).all() and torch.isfinite(model.center_unit.mean).all()


def test_centered_latents_are_computed_in_float32_under_bf16_autocast():
    cfg = HypernetConfig(n_layers=2, base_hidden_size=16, d_in=8, d_out=16, encoder_type="early_exit", latent_size=16,
                         n_heads=2, head_dim=8, n_kv_heads=1, num_blocks=1, n_latent_queries=4)
    seen = {}
    for center in (False, True):
        model = HypernetModel(HypernetConfig.from_dict({**cfg.to_dict(), "center_latents": center})).eval()
        model.aggregator.perceiver.modality_projection.register_forward_hook(
            lambda mod, args, out, c=center: seen.__setitem__(c, out.dtype))
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            model.generate_loras(torch.randn(3, 6, 16), torch.ones(3, 6, dtype=torch.long))
    # the documents' own part of the latents is a small fraction of what they share: bf16 would round it away
    assert seen == {False: torch.bfloat16, True: torch.float32}


def _copy_config(**kw) -> HypernetConfig:
    return HypernetConfig(n_layers=2, layer_indices=[2, 3], base_hidden_size=8, d_in=12, d_out=8, encoder_type="early_exit",
                          rank=2, latent_size=16, n_heads=2, head_dim=4, n_kv_heads=1, num_blocks=1, copy_slots=3, **kw)


def test_copy_slots_write_the_feature_after_the_attended_position_into_b():
    torch.manual_seed(0)
    model = HypernetModel(_copy_config())
    pointer = model.copy
    features = torch.randn(1, 5, 8)
    features[0, :, :4] = 3 * torch.eye(5)[:, :4]  # positions 0-3 tell apart in their first 4 dims
    mask = torch.tensor([[1, 1, 1, 0, 0]])  # two pad positions; position 2 has no next token
    with torch.no_grad():
        pointer.key.weight.copy_(torch.eye(8)[:4].repeat(16, 1)[:64])  # keys: the first 4 feature dims
        pointer.query.zero_()
        pointer.query[:, :, :4] = 50 * features[0, 1, :4]  # every slot looks for position 1
        A, B = pointer(features, mask)
    assert A.shape == (1, 2, 3, 12) and B.shape == (1, 2, 3, 8)
    want = pointer.value(features[0, 2]) * pointer.scale[0, 0, 0]  # the feature after position 1
    assert torch.allclose(B[0, 0, 0], want, atol=1e-4)
    assert torch.allclose(A.norm(dim=-1), torch.ones(1, 2, 3))
    with torch.no_grad():
        pointer.query[:, :, :4] = 50 * features[0, 2, :4]  # position 2 is last: it has no next token
        _, B_last = pointer(features, mask)
    assert not torch.allclose(B_last[0, 0, 0], pointer.value(features[0, 3]) * pointer.scale[0, 0, 0], atol=1e-3)


def test_copy_slots_extend_each_chunks_rank_and_combine_keeps_one_bias_block():
    cfg = _copy_config()
    assert cfg.chunk_rank == 5
    model = HypernetModel(cfg)
    features, mask = torch.randn(3, 6, 8), torch.ones(3, 6, dtype=torch.long)
    A, B = model.generate_loras(features, mask)
    assert A.shape == (3, 2, 5, 12) and B.shape == (3, 2, 5, 8)
    cA, cB = model(features, mask, [3])
    assert cA.shape == (1, 2, 3 * 5 + 2, 12)  # three chunks of rank 5, then the rank-2 bias block
    assert torch.equal(cA[0, :, 15:], model.bias_A["down_proj"]) and torch.equal(cB[0, :, 5:10], B[1])
    cA.sum().backward()
    assert model.copy.query.grad is not None and model.copy.a_out.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="early_exit"):
        HypernetModel(HypernetConfig(n_layers=2, base_hidden_size=8, d_in=12, d_out=8, copy_slots=2, n_heads=2,
                                     head_dim=4, n_kv_heads=1, latent_size=16, num_blocks=1))
