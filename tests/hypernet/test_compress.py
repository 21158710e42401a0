"""hypernet.compress against the dense product it approximates (computed independently here)."""

from __future__ import annotations

import math
import time

import pytest
import torch

from hypernet.compress import DEFAULT_MAX_ADAPTER_RANK, compress_adapter, maybe_compress, truncate_factors


def dense(adapter) -> torch.Tensor:
    """alpha * B_l^T A_l for every layer, float64: (L, d_out, d_in)."""
    return adapter.alpha * adapter.B.double().transpose(1, 2) @ adapter.A.double()


def test_keeps_adapter_as_is_when_max_rank_reaches_its_rank(make_adapter):
    adapter = make_adapter(L=3, R=24, d_in=48, d_out=16)
    out = compress_adapter(adapter, max_rank=24)
    assert out.adapter is adapter and out.rank == out.original_rank == 24
    assert out.energy == 1.0 and out.layer_energy == [1.0, 1.0, 1.0] and out.exact


def test_exact_when_target_rank_at_least_true_rank(make_adapter):
    # R = 40 rows, but B spans only d_out = 16 dimensions: the true rank is 16 per layer.
    adapter = make_adapter(L=3, R=40, d_in=48, d_out=16)
    out = compress_adapter(adapter, max_rank=20)
    assert out.rank == 16 and out.adapter.A.shape == (3, 16, 48) and out.adapter.B.shape == (3, 16, 16)
    assert out.adapter.alpha == adapter.alpha
    assert out.adapter.A.dtype == torch.float32 and out.adapter.B.dtype == torch.float32
    torch.testing.assert_close(dense(out.adapter), dense(adapter), rtol=1e-5, atol=1e-5 * dense(adapter).abs().max().item())
    assert out.energy == pytest.approx(1.0, abs=1e-12) and out.exact


def test_exact_on_low_rank_rows(make_adapter):
    # 32 rows that are combinations of 6: the true rank is 6 although R = 32.
    base = make_adapter(L=2, R=6, d_in=40, d_out=24)
    mix = torch.randn(2, 32, 6, generator=torch.Generator().manual_seed(5))
    adapter = make_adapter(L=2, R=32, d_in=40, d_out=24, A=mix @ base.A, B=torch.randn(2, 32, 24))
    out = compress_adapter(adapter, max_rank=6)
    torch.testing.assert_close(dense(out.adapter), dense(adapter), rtol=1e-5, atol=1e-4)
    assert out.rank == 6 and min(out.layer_energy) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("max_rank", [1, 5, 17])
def test_truncation_error_is_the_dropped_singular_values(make_adapter, max_rank):
    adapter = make_adapter(L=4, R=32, d_in=64, d_out=48)
    out = compress_adapter(adapter, max_rank=max_rank)
    assert out.rank == max_rank and out.original_rank == 32
    full = dense(adapter)
    s = torch.linalg.svdvals(full)  # (L, 32 nonzero + zeros), descending
    err = torch.linalg.matrix_norm(full - dense(out.adapter))  # Frobenius, per layer
    expected = s[:, max_rank:].square().sum(-1).sqrt()
    torch.testing.assert_close(err, expected, rtol=1e-4, atol=1e-6 * s.max().item())
    kept = s[:, :max_rank].square().sum(-1) / s.square().sum(-1)
    assert out.layer_energy == pytest.approx(kept.tolist(), rel=1e-6)
    overall = s[:, :max_rank].square().sum() / s.square().sum()
    assert out.energy == pytest.approx(overall.item(), rel=1e-6)
    assert 0.0 < out.energy < 1.0 and not out.exact


def test_energy_is_per_layer(make_adapter):
    # Layer 0 has rank 2 (fully kept at k = 2), layer 1 is full rank (partly dropped).
    adapter = make_adapter(L=2, R=16, d_in=32, d_out=32)
    A = adapter.A.clone()
    A[0, 2:] = 0.0
    out = compress_adapter(make_adapter(L=2, R=16, d_in=32, d_out=32, A=A, B=adapter.B), max_rank=2)
    assert out.layer_energy[0] == pytest.approx(1.0, abs=1e-10)
    assert out.layer_energy[1] < 0.9
    assert out.layer_energy[1] < out.energy < 1.0


def test_zero_layer_counts_as_fully_kept(make_adapter):
    adapter = make_adapter(L=2, R=8, d_in=16, d_out=8)
    A = adapter.A.clone()
    A[1] = 0.0
    out = compress_adapter(make_adapter(L=2, R=8, d_in=16, d_out=8, A=A, B=adapter.B), max_rank=3)
    assert out.layer_energy[1] == 1.0
    assert torch.count_nonzero(out.adapter.A[1]) == 0


def test_maybe_compress_none_keeps_the_adapter(make_adapter):
    adapter = make_adapter(L=2, R=24, d_in=16, d_out=8)
    out = maybe_compress(adapter, None)
    assert out.adapter is adapter and out.rank == 24 and out.energy == 1.0
    assert maybe_compress(adapter, 4).rank == 4


@pytest.mark.parametrize("bad", [0, -3])
def test_rejects_non_positive_rank(make_adapter, bad):
    with pytest.raises(ValueError, match="max_adapter_rank must be a positive integer"):
        compress_adapter(make_adapter(L=1, R=8, d_in=8, d_out=8), max_rank=bad)


def test_truncate_factors_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"must be \(L, R, d_in\) and \(L, R, d_out\)"):
        truncate_factors(torch.zeros(2, 8, 16), torch.zeros(2, 7, 4), 4)


def test_realistic_shape_is_fast(make_adapter):
    # The demo model (4 layers, intermediate 384, hidden 128) with a 32-chunk document: R = 264.
    adapter = make_adapter(L=4, R=264, d_in=384, d_out=128)
    compress_adapter(make_adapter(L=1, R=16, d_in=8, d_out=8), max_rank=2)  # load LAPACK once
    # CPU time on one thread: the compute cost itself, whatever else the shared machine is running.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        timings = []
        for _ in range(3):
            start = time.process_time()
            out = compress_adapter(adapter, max_rank=DEFAULT_MAX_ADAPTER_RANK)
            timings.append(time.process_time() - start)
    finally:
        torch.set_num_threads(threads)
    assert min(timings) < 0.5, f"compression took {min(timings):.2f} CPU seconds"
    assert out.adapter.A.shape == (4, DEFAULT_MAX_ADAPTER_RANK, 384)
    s = torch.linalg.svdvals(dense(adapter))
    err = torch.linalg.matrix_norm(dense(adapter) - dense(out.adapter))
    torch.testing.assert_close(err, s[:, DEFAULT_MAX_ADAPTER_RANK:].square().sum(-1).sqrt(), rtol=1e-4, atol=1e-6)
    assert math.isfinite(out.energy) and 0.0 < out.energy < 1.0


def test_keeps_identity_and_records_compression(make_adapter, tmp_path):
    adapter = make_adapter(L=2, R=40, d_in=32, d_out=24)
    out = compress_adapter(adapter, max_rank=8)
    small = out.adapter
    assert (small.alpha, small.layer_indices, small.base_model, small.base_fingerprint, small.hypernet_id) == (
        adapter.alpha, adapter.layer_indices, "tiny-base", "fp123", "hn456")
    assert small.rank == 8 and small.extra["tokens"] == 1234
    assert small.extra["compressed_from_rank"] == 40 and small.extra["energy_kept"] == pytest.approx(out.energy)
    assert adapter.extra == {"tokens": 1234}  # the input is untouched
    # Serialises like any adapter; its PEFT tensors (alpha folded into lora_B) give the same product.
    again = type(small).load(small.save(tmp_path / "small.safetensors"))
    torch.testing.assert_close(dense(again), dense(small))
    t = small.lora_tensors()
    peft = t["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"].double() @ t["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"].double()
    torch.testing.assert_close(peft, dense(small)[1], rtol=1e-5, atol=1e-6)
