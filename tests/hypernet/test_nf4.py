"""NF4 quantize -> dequantize in plain torch (hypernet/nf4.py) against the published scheme and bitsandbytes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hn_testlib import save_tiny_base
from safetensors import safe_open
from safetensors.torch import load_file

from hypernet import load_hypernet
from hypernet.checkpoint import save_checkpoint
from hypernet.model import HypernetConfig, HypernetModel
from hypernet.nf4 import BLOCK_SIZE, NF4_CODE, dynamic_code, nf4_roundtrip, nf4_roundtrip_linears_

BNB_FIXTURE = Path(__file__).parents[1] / "fixtures" / "nf4" / "bitsandbytes_nf4.safetensors"


def qlora_nf4() -> torch.Tensor:
    """NF4 as the QLoRA paper builds it: N(0, 1) quantiles, 8 positive and 7 negative, plus 0, scaled to [-1, 1]."""
    offset = 0.5 * (1 / 32 + 1 / 30)  # 0.9677 = 1 - offset: the outermost quantile used
    pos = torch.special.ndtri(torch.linspace(1 - offset, 0.5, 9, dtype=torch.float64)[:-1])
    neg = -torch.special.ndtri(torch.linspace(1 - offset, 0.5, 8, dtype=torch.float64)[:-1])
    v = torch.cat([pos, torch.zeros(1, dtype=torch.float64), neg]).sort().values
    return v / v.abs().max()


def test_codebook_is_the_published_nf4():
    assert NF4_CODE.shape == (16,) and NF4_CODE[7] == 0 and NF4_CODE[0] == -1 and NF4_CODE[15] == 1
    assert torch.allclose(NF4_CODE.double(), qlora_nf4(), atol=1e-6)
    code = dynamic_code()
    assert code.shape == (256,) and torch.all(code[1:] >= code[:-1]) and code.max() == 1
    assert code.min().item() == pytest.approx(-0.99296875)  # the most negative: no -1 in the signed map
    assert int((code == 0).sum()) == 1 and code[code > 0].min().item() == pytest.approx(5.5e-7)  # 1e-6 * mean(0.1, 1)


def test_hand_computed_double_quantization():
    # two blocks: block 0 holds 2 * every NF4 value (absmax 2), block 1 holds 4 * values a third of the way
    # to the next NF4 value (absmax 4). Double quant: mean absmax 3, centred -1 and +1, one 8-bit block
    # with absmax 1; the signed dynamic map holds 1.0 but not -1.0 (its lowest value is
    # -(0.9859375 + 1) / 2 = -0.99296875), so the absmaxes come back as 3 - 0.99296875 = 2.00703125 and 4.0.
    code = qlora_nf4().float()
    k = torch.arange(64) % 16
    block0 = 2 * code[k]
    step = torch.cat([code[1:] - code[:-1], torch.zeros(1)])
    block1 = 4 * (code[k] + step[k] / 3)
    w = torch.cat([block0, block1]).view(2, 64).to(torch.bfloat16).float()
    expected_single = torch.cat([2 * code[k], 4 * code[k]]).to(torch.bfloat16).float()
    expected_double = torch.cat([2.00703125 * code[k], 4 * code[k]]).to(torch.bfloat16).float()
    assert torch.equal(nf4_roundtrip(w, double_quant=False).view(-1), expected_single)
    assert torch.equal(nf4_roundtrip(w).view(-1), expected_double)


def test_matches_bitsandbytes_bit_for_bit():
    # made by tests/fixtures/nf4/make_fixture.py with bitsandbytes 0.50.2 (pure-torch kernels)
    v = load_file(str(BNB_FIXTURE))
    with safe_open(str(BNB_FIXTURE), framework="pt") as f:
        assert f.metadata()["bitsandbytes"] == "0.50.2"
    assert torch.equal(NF4_CODE, v["nf4_code"]) and torch.equal(dynamic_code(), v["dynamic_map"])
    w = v["weight"]
    assert w.numel() % BLOCK_SIZE and (w.numel() // BLOCK_SIZE) > 256  # a short last block; two absmax blocks
    assert torch.equal(nf4_roundtrip(w), v["double_quant"])
    assert torch.equal(nf4_roundtrip(w, double_quant=False), v["single_quant"])
    assert torch.equal(nf4_roundtrip(w.float()), v["double_quant"].float())  # fp32 weights: same values in fp32


def test_round_trip_error_bounds():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(128, 384, generator=gen) * 0.02
    w[5, :64] = 0
    half_gap = ((NF4_CODE[1:] - NF4_CODE[:-1]) / 2).max().item()  # 0.152, between 0.72 and 1
    for double, slack in ((False, 0.005), (True, 0.02)):
        r = nf4_roundtrip(w, double_quant=double)
        assert r.dtype == w.dtype and r.shape == w.shape
        blocks, rblocks = w.view(-1, 64), r.view(-1, 64)
        absmax = blocks.abs().amax(1)
        err = (rblocks - blocks).abs().amax(1)
        assert torch.all(err <= (half_gap + slack) * absmax)
        assert torch.all(rblocks[absmax == 0] == 0)
        assert ((r - w).norm() / w.norm()).item() < 0.1  # NF4's RMS error on Gaussian weights is ~9%


def test_only_linear_weights_change():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 64), torch.nn.Linear(64, 64), torch.nn.LayerNorm(64))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert nf4_roundtrip_linears_(model) == 1
    after = model.state_dict()
    assert torch.equal(after["1.weight"], nf4_roundtrip(before["1.weight"]))
    assert all(torch.equal(after[k], before[k]) for k in before if k != "1.weight")


def _checkpoint(tmp_path: Path, quantize_encoder: bool) -> Path:
    save_tiny_base(tmp_path / "base", "qwen3", hidden=64, intermediate=128)
    cfg = HypernetConfig(n_layers=4, base_hidden_size=64, d_in=128, d_out=64, latent_size=32, n_heads=2,
                         head_dim=16, n_kv_heads=1, num_blocks=1, quantize_encoder=quantize_encoder)  # fmt: skip
    return save_checkpoint(tmp_path / f"hn-{quantize_encoder}", HypernetModel(cfg), cfg, "../base")


def test_a_quantize_encoder_checkpoint_encodes_with_nf4_weights_on_cpu(tmp_path):
    hn = load_hypernet(_checkpoint(tmp_path, True), device="cpu")
    assert hn.encoder_quantization == "nf4"
    plain = load_hypernet(_checkpoint(tmp_path, False), device="cpu")
    assert plain.encoder_quantization is None
    assert load_hypernet(tmp_path / "hn-True", device="cpu", quantize_encoder=False).encoder_quantization is None
    layer, ref = hn.encoder.decoder.layers[0], plain.encoder.decoder.layers[0]
    for name in ("self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj"):
        w, w0 = layer.get_submodule(name).weight, ref.get_submodule(name).weight
        assert not torch.equal(w, w0) and torch.equal(w, nf4_roundtrip(w0))
        blocks = w.detach().reshape(-1, BLOCK_SIZE)
        scale = blocks.abs().amax(1, keepdim=True)  # the block's dequantized absmax (its +-1 entry), in bf16
        assert all(len(b.unique()) <= 16 for b in blocks)
        nearest = (blocks / scale).unsqueeze(-1).sub(NF4_CODE).abs().amin(-1)
        assert nearest.max().item() < 2**-7  # value / absmax is an NF4 value, up to bf16 rounding
    assert torch.equal(hn.encoder.decoder.embed_tokens.weight, plain.encoder.decoder.embed_tokens.weight)
    assert torch.equal(layer.input_layernorm.weight, ref.input_layernorm.weight)
    ids, mask = torch.tensor([[1, 5, 9, 3]]), torch.ones(1, 4, dtype=torch.long)
    assert not torch.allclose(hn.encoder(ids, mask), plain.encoder(ids, mask))
