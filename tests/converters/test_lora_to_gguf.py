"""adapter_to_gguf: llama.cpp with the written adapter equals PyTorch + LoRA on down_proj."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from converters import adapter_to_gguf, quantize
from converters.errors import AdapterMismatchError, GGUFError
from converters.gguf_info import read_gguf_info
from converters.llama import activate, free_adapter, load_adapter

D_IN, D_OUT = 512, 256  # down_proj of the tiny models: intermediate -> hidden


@dataclass
class LoraWeights:
    """The DocumentAdapter surface adapter_to_gguf relies on: (A, B) by module name, scale in B."""

    modules: dict[str, tuple[torch.Tensor, torch.Tensor]]  # "model.layers.0.mlp.down_proj" -> (A [r, d_in], B [d_out, r])
    base_model: str = "tiny"
    hypernet_id: str = "test-hypernet"

    def lora_modules(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return dict(self.modules)


def random_lora(ranks: dict[int, int], seed: int, d_in: int = D_IN, d_out: int = D_OUT, gain: float = 1.0,
                module: str = "mlp.down_proj") -> LoraWeights:
    """A random LoRA on `module` of the layers in `ranks` (layer -> rank)."""
    g = torch.Generator().manual_seed(seed)
    modules = {}
    for i, r in ranks.items():
        a = torch.randn(r, d_in, generator=g) / d_in**0.5
        b = gain * torch.randn(d_out, r, generator=g) / r**0.5
        modules[f"model.layers.{i}.{module}"] = (a, b)
    return LoraWeights(modules)


def test_lora_matches_pytorch_for_ranks_8_72_264(tiny_models, family, tmp_path):
    tm = tiny_models(family)
    base_torch = tm.torch_logits()
    llm = tm.open_llama()
    base_llama = tm.llama_logits(llm)
    for rank in (8, 72, 264):
        lora = random_lora({0: rank, 1: rank}, seed=rank)
        path = adapter_to_gguf(lora, tmp_path / f"r{rank}.gguf", base_gguf=tm.gguf_f32, outtype="f32")
        expected = tm.torch_logits(lora.modules)
        assert np.abs(expected - base_torch).max() > 0.5  # the LoRA really moves the logits
        adapter = load_adapter(llm, path)
        activate(llm, adapter)
        got = tm.llama_logits(llm)
        diff = np.abs(got - expected).max()
        print(f"{family} rank {rank}: max |llama.cpp+LoRA - PyTorch+LoRA| = {diff:.1e}")
        assert diff <= tm.tolerance, f"rank {rank}"
        activate(llm, None)
        assert np.array_equal(tm.llama_logits(llm), base_llama)  # clearing restores the base exactly
        free_adapter(llm, adapter)
    llm.close()


# module -> (d_in, d_out) in the tiny models: 4 query heads and 2 key/value heads of 64
ALL_MODULES = {
    "self_attn.q_proj": (256, 256), "self_attn.k_proj": (256, 128), "self_attn.v_proj": (256, 128),
    "self_attn.o_proj": (256, 256), "mlp.gate_proj": (256, 512), "mlp.up_proj": (256, 512),
}


@pytest.mark.parametrize("family", ["llama", "qwen3"])  # llama: q/k rows permuted by the converter
def test_lora_on_every_projection_matches_pytorch(tiny_models, tmp_path, family):
    tm = tiny_models(family)
    for seed, (module, (d_in, d_out)) in enumerate(ALL_MODULES.items()):
        lora = random_lora({0: 8, 1: 8}, seed=seed, d_in=d_in, d_out=d_out, module=module, gain=2.0)
        path = adapter_to_gguf(lora, tmp_path / f"{seed}.gguf", base_gguf=tm.gguf_f32, outtype="f32")
        expected = tm.torch_logits(lora.modules)
        base, got = tm.llama_logits_with_adapter(path)
        assert np.abs(expected - base).max() > 0.3, module
        assert np.abs(got - expected).max() <= tm.tolerance, module


def test_adapter_file_layout_and_metadata(tiny_models, tmp_path):
    tm = tiny_models("qwen3")
    lora = random_lora({1: 16}, seed=3)  # one layer only
    path = adapter_to_gguf(lora, tmp_path / "a.gguf", base_gguf=tm.gguf_f32)  # default F16
    info = read_gguf_info(path)
    assert info.architecture == "qwen3"
    assert info.metadata["general.type"] == "adapter"
    assert info.metadata["adapter.type"] == "lora"
    assert "adapter.lora.alpha" not in info.metadata  # the scale is folded into lora_b
    assert info.metadata["doclora.hypernet_id"] == "test-hypernet"
    assert info.tensors == {"blk.1.ffn_down.weight.lora_a": (16, D_IN), "blk.1.ffn_down.weight.lora_b": (D_OUT, 16)}
    assert set(info.tensor_types.values()) == {"F16"}
    assert [p.name for p in tmp_path.iterdir()] == ["a.gguf"]


def test_f16_adapter_and_uneven_ranks_match_pytorch(tiny_models, tmp_path):
    tm = tiny_models("llama")
    lora = random_lora({0: 24, 1: 40}, seed=11)
    path = adapter_to_gguf(lora, tmp_path / "f16.gguf", base_gguf=tm.gguf_f32, outtype="f16")
    expected = tm.torch_logits(lora.modules)
    _, got = tm.llama_logits_with_adapter(path)
    assert np.abs(got - expected).max() <= 5e-3  # F16 tensors: ~1e-3 (design page: 1.6e-3)


def test_peft_folder_with_rslora_and_alpha_pattern(tiny_models, tmp_path):
    from peft import LoraConfig, get_peft_model

    tm = tiny_models("llama")
    cfg = LoraConfig(r=8, lora_alpha=16, target_modules=["down_proj"], use_rslora=True,
                     alpha_pattern={"layers.1.mlp.down_proj": 4}, init_lora_weights=False)
    torch.manual_seed(5)
    peft_model = get_peft_model(copy.deepcopy(tm.model), cfg).eval()
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
        expected = peft_model(torch.tensor([tm.prompt])).logits[0].numpy()
    peft_model.save_pretrained(tmp_path / "peft")
    path = adapter_to_gguf(tmp_path / "peft", tmp_path / "peft.gguf", base_gguf=tm.gguf_f32, outtype="f32")
    base, got = tm.llama_logits_with_adapter(path)
    assert np.abs(expected - base).max() > 0.5
    assert np.abs(got - expected).max() <= tm.tolerance


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_K_M"])
def test_adapter_on_quantized_base_stays_within_quantization_error(tiny_models, tmp_path, qtype):
    """|(q + lora) - (f32 + lora)| is of the size of |q - f32|: the adapter adds no error of its own."""
    tm = tiny_models("llama")
    qpath = quantize(tm.gguf_f32, tmp_path / f"{qtype}.gguf", qtype)
    lora = random_lora({0: 72, 1: 72}, seed=1, gain=3.0)
    logits = {}
    for name, model_path in (("f32", tm.gguf_f32), ("q", qpath)):
        adapter_path = adapter_to_gguf(lora, tmp_path / f"{name}.gguf", base_gguf=model_path, outtype="f32")
        logits[name], logits[name + "+lora"] = tm.llama_logits_with_adapter(adapter_path, model_path)
    rms = lambda x: float(np.sqrt(np.mean(np.square(x))))  # noqa: E731
    quant_err = rms(logits["q"] - logits["f32"])
    lora_err = rms(logits["q+lora"] - logits["f32+lora"])
    lora_effect = rms(logits["f32+lora"] - logits["f32"])
    assert quant_err > 0  # really quantized
    assert lora_effect > 2 * quant_err  # the adapter's effect stands out of the quantization noise
    assert lora_err <= 1.5 * quant_err, (qtype, quant_err, lora_err)


def test_shape_mismatch_names_adapter_and_base(tiny_models, tmp_path):
    tm = tiny_models("qwen2")
    wrong = random_lora({0: 8}, seed=2, d_in=1024)
    with pytest.raises(AdapterMismatchError, match=r"adapter \(made for tiny\) has model.layers.0.mlp.down_proj "
                       r"of shape \(out 256, in 1024\), but base model-f32.gguf has blk.0.ffn_down.weight "
                       r"of shape \(out 256, in 512\)"):
        adapter_to_gguf(wrong, tmp_path / "x.gguf", base_gguf=tm.gguf_f32)
    too_deep = random_lora({5: 8}, seed=2)
    with pytest.raises(AdapterMismatchError, match=r"patches model.layers.5.mlp.down_proj, but base "
                       r"model-f32.gguf \(qwen2, 2 layers\) has no tensor blk.5.ffn_down.weight"):
        adapter_to_gguf(too_deep, tmp_path / "x.gguf", base_gguf=tm.gguf_f32)
    stray = random_lora({0: 8}, seed=2)
    stray.modules["lm_head"] = stray.modules["model.layers.0.mlp.down_proj"]
    with pytest.raises(AdapterMismatchError, match="Adapter module lm_head has no LoRA-capable counterpart"):
        adapter_to_gguf(stray, tmp_path / "x.gguf", base_gguf=tm.gguf_f32)
    with pytest.raises(GGUFError, match="GGUF file not found"):
        adapter_to_gguf(random_lora({0: 8}, seed=2), tmp_path / "x.gguf", base_gguf=tmp_path / "none.gguf")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_failed_write_leaves_nothing_and_keeps_old_file(tiny_models, tmp_path):
    tm = tiny_models("qwen2")
    out = tmp_path / "doc.gguf"
    out.write_bytes(b"previous adapter")

    class Exploding(LoraWeights):
        def lora_modules(self):
            modules = super().lora_modules()
            # a tensor that numpy cannot turn into float32 breaks the write midway
            modules["model.layers.1.mlp.down_proj"] = (object(), modules["model.layers.1.mlp.down_proj"][1])
            return modules

    with pytest.raises(Exception):
        adapter_to_gguf(Exploding(random_lora({0: 8, 1: 8}, seed=1).modules), out, base_gguf=tm.gguf_f32)
    assert out.read_bytes() == b"previous adapter"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.gguf"]


@pytest.mark.parametrize("layers", [[0, 1], [1]], ids=["every-layer", "last-layer-only"])
def test_real_document_adapter_and_its_peft_export_match_lora_applied(tiny_models, tmp_path, layers):
    """hypernet's DocumentAdapter (D2L layout: B (L, R, d_out), scale alpha) through both inputs, on
    every layer or on the last only (a hypernetwork trained with ``lora_layers``)."""
    from hypernet import DocumentAdapter
    from hypernet.apply import lora_applied

    tm = tiny_models("qwen3")
    g = torch.Generator().manual_seed(42)
    rank = 3 * 8  # two chunks of rank 8 plus the bias block
    adapter = DocumentAdapter(
        A=torch.randn(len(layers), rank, D_IN, generator=g) / D_IN**0.5,
        B=torch.randn(len(layers), rank, D_OUT, generator=g) / 20,
        alpha=2 * 8**1.5, n_chunks=2, layer_indices=layers, base_model="tiny-qwen3",
    )
    with torch.no_grad(), lora_applied(tm.model, adapter.A, adapter.B, adapter.alpha, adapter.layer_indices):
        expected = tm.model(torch.tensor([tm.prompt])).logits[0].numpy()
    adapter.save_peft(tmp_path / "peft")
    llm = tm.open_llama()
    base = tm.llama_logits(llm)
    for source in (adapter, tmp_path / "peft"):
        path = adapter_to_gguf(source, tmp_path / "doc.gguf", base_gguf=tm.gguf_f32, outtype="f32")
        loaded = load_adapter(llm, path)
        activate(llm, loaded)
        got = tm.llama_logits(llm)
        free_adapter(llm, loaded)
        assert np.abs(expected - base).max() > 0.5
        assert np.abs(got - expected).max() <= tm.tolerance, type(source).__name__
    llm.close()
    assert read_gguf_info(tmp_path / "doc.gguf").metadata["doclora.base_model"] == "tiny-qwen3"
