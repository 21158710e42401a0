"""DocumentAdapter: our file format round trip and the PEFT export against the reference logits."""

from __future__ import annotations

import json

import pytest
import torch
from hn_testlib import assert_logits_close, vectors
from peft import PeftModel
from transformers import AutoModelForCausalLM

from hypernet import DocumentAdapter
from hypernet.adapter import AdapterFormatError


def _fixture_adapter(folder, case: str) -> DocumentAdapter:
    """The reference's combined LoRA of a fixture case, as an adapter."""
    v = vectors(folder)
    A, B = v[f"{case}.combined.down_proj.A"][0], v[f"{case}.combined.down_proj.B"][0]
    return DocumentAdapter(A=A, B=B, alpha=2 * 8**1.5, n_chunks=A.shape[1] // 8 - 1, layer_indices=[0, 1, 2, 3],
                           base_model="base_model", base_fingerprint="f" * 16, hypernet_id="h" * 16)  # fmt: skip


def test_peft_export_reproduces_reference_lora_logits(fixture_dir, tmp_path):
    v = vectors(fixture_dir)
    for case in ("case1", "case2"):
        adapter = _fixture_adapter(fixture_dir, case)
        out = adapter.save_peft(tmp_path / case)
        assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
        base = AutoModelForCausalLM.from_pretrained(fixture_dir / "base_model", dtype=torch.float32, attn_implementation="eager")
        peft_model = PeftModel.from_pretrained(base, out).eval()
        with torch.no_grad():
            logits = peft_model(input_ids=v["input.query.input_ids"]).logits
        assert_logits_close(logits, v[f"{case}.logits.lora"], f"peft {case}")


def test_lora_tensors_fold_alpha_into_b():
    A = torch.randn(2, 16, 12)
    B = torch.randn(2, 16, 6)
    adapter = DocumentAdapter(A=A, B=B, alpha=3.0, n_chunks=1, layer_indices=[0, 1])
    t = adapter.lora_tensors()
    name = "base_model.model.model.layers.1.mlp.down_proj"
    assert set(t) == {f"base_model.model.model.layers.{i}.mlp.down_proj.lora_{x}.weight" for i in (0, 1) for x in "AB"}
    assert torch.equal(t[f"{name}.lora_A.weight"], A[1])
    assert torch.allclose(t[f"{name}.lora_B.weight"], 3.0 * B[1].T)
    x = torch.randn(5, 12)  # D2L update equals PEFT's with scale 1
    assert torch.allclose(3.0 * (x @ A[1].T) @ B[1], x @ t[f"{name}.lora_A.weight"].T @ t[f"{name}.lora_B.weight"].T, atol=1e-5)
    assert adapter.rank == 16
    assert adapter.peft_config()["lora_alpha"] == adapter.peft_config()["r"] == 16


def test_subset_of_layers_sets_layers_to_transform():
    adapter = DocumentAdapter(A=torch.zeros(2, 8, 4), B=torch.zeros(2, 8, 4), alpha=1.0, n_chunks=0, layer_indices=[1, 3])
    assert adapter.peft_config()["layers_to_transform"] == [1, 3]


def test_save_load_round_trip(tmp_path, parity_dir):
    adapter = _fixture_adapter(parity_dir / "qwen3_main", "case2")
    adapter.extra = {"chunk_tokens": [40, 27, 15]}
    path = adapter.save(tmp_path / "sub" / "doc.safetensors")
    assert [p.name for p in path.parent.iterdir()] == ["doc.safetensors"]  # no temp file left
    back = DocumentAdapter.load(path)
    assert torch.equal(back.A, adapter.A) and torch.equal(back.B, adapter.B)
    assert (back.rank, back.n_chunks, back.alpha) == (32, 3, adapter.alpha)
    for field in ("layer_indices", "target_module", "base_model", "base_fingerprint", "hypernet_id", "chunk_rank", "extra"):
        assert getattr(back, field) == getattr(adapter, field), field


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"garbage")
    with pytest.raises(AdapterFormatError, match="not a readable DocLoRA adapter"):
        DocumentAdapter.load(tmp_path / "x.safetensors")


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    adapter = DocumentAdapter(A=torch.zeros(1, 8, 4), B=torch.zeros(1, 8, 4), alpha=1.0, n_chunks=0, layer_indices=[0])
    import hypernet.adapter as mod

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(mod, "save_file", boom)
    with pytest.raises(OSError):
        adapter.save(tmp_path / "doc.safetensors")
    assert list(tmp_path.iterdir()) == []
    json.dumps(adapter.metadata())  # metadata is plain JSON
