"""converters.llama: GGUF names, the chat template, generation; adapters: bad files are clear
errors (never a segfault), freeing is safe in any order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gguf import MODEL_TENSOR

from app.paths import demo_pair_dir
from converters import adapter_to_gguf, read_gguf_info
from converters.errors import AdapterLoadError, GGUFError
from converters.llama import (
    ChatTemplate, activate, activate_many, active_adapters, free_adapter, load_adapter,
    lora_names, open_model, stream_text, tensor_name)


class DownProjLora:
    """A LoRA on down_proj of every layer, by module name (the DocumentAdapter surface)."""

    def __init__(self, seed: int, rank: int = 8, n_layers: int = 2):
        g = torch.Generator().manual_seed(seed)
        self.modules = {}
        for i in range(n_layers):
            a = torch.randn(rank, 512, generator=g) / 512**0.5
            self.modules[f"model.layers.{i}.mlp.down_proj"] = (a, torch.randn(256, rank, generator=g))

    def lora_modules(self):
        return self.modules


@pytest.fixture
def llama_and_adapters(tiny_models, tmp_path):
    tm = tiny_models("llama")
    paths = [adapter_to_gguf(DownProjLora(seed), tmp_path / f"a{seed}.gguf", base_gguf=tm.gguf_f32, outtype="f32")
             for seed in (1, 2)]
    llm = tm.open_llama()
    yield tm, llm, paths
    llm.close()


def test_names_are_llama_cpps(tiny_models, tmp_path):
    assert tensor_name(MODEL_TENSOR.FFN_DOWN, 3) == "blk.3.ffn_down.weight"
    assert tensor_name(MODEL_TENSOR.ATTN_OUT, 0) == "blk.0.attn_output.weight"
    assert tensor_name(MODEL_TENSOR.TOKEN_EMBD) == "token_embd.weight"
    assert lora_names("blk.0.ffn_down.weight") == ("blk.0.ffn_down.weight.lora_a", "blk.0.ffn_down.weight.lora_b")
    tm = tiny_models("llama")  # the names llama.cpp's converter and our adapter writer really use
    assert {tensor_name(MODEL_TENSOR.FFN_DOWN, i) for i in range(2)} <= set(read_gguf_info(tm.gguf_f32).tensors)
    written = read_gguf_info(adapter_to_gguf(DownProjLora(1), tmp_path / "a.gguf", base_gguf=tm.gguf_f32)).tensors
    assert set(written) == {n for i in range(2) for n in lora_names(tensor_name(MODEL_TENSOR.FFN_DOWN, i))}


@pytest.fixture(scope="module")
def demo_llm():
    """The bundled demo model (its GGUF carries a real chat template) and its HF tokenizer."""
    from transformers import AutoTokenizer

    pair = demo_pair_dir()
    llm = open_model(pair / "model.gguf", n_ctx=512, n_threads=1)
    yield llm, AutoTokenizer.from_pretrained(pair / "base")
    llm.close()


def test_chat_template_renders_like_transformers(demo_llm):
    llm, hf_tok = demo_llm
    template = ChatTemplate(llm)
    for messages in ([{"role": "user", "content": "What is the special magic number?"}],
                     [{"role": "system", "content": ""}, {"role": "user", "content": "Hello."},
                      {"role": "assistant", "content": "Hi."}, {"role": "user", "content": "And now?"}]):
        assert template.render(messages) == hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert template.tokens(messages) == hf_tok.apply_chat_template(messages, add_generation_prompt=True)


def test_chat_template_missing_is_a_gguf_error(demo_llm):
    llm, _ = demo_llm
    kept = llm.metadata
    llm.metadata = {k: v for k, v in kept.items() if k != "tokenizer.chat_template"}
    try:
        with pytest.raises(GGUFError, match=r"carries no chat template \(tokenizer.chat_template\)"):
            ChatTemplate(llm)
    finally:
        llm.metadata = kept


def test_stream_text_is_greedy_decoding_up_to_max_tokens(demo_llm):
    llm, _ = demo_llm
    prompt = ChatTemplate(llm).tokens([{"role": "user", "content": "The special magic number is 4821. What is it?"}])
    text = "".join(stream_text(llm, prompt, max_tokens=6, temperature=0.0))
    reference = llm.create_completion(prompt, max_tokens=6, temperature=0.0)["choices"][0]["text"]
    assert text and text == reference  # llama-cpp-python's own greedy completion of the same prompt
    assert list(stream_text(llm, prompt, max_tokens=6, temperature=0.0, should_stop=lambda: True)) == []


def test_bad_files_raise_adapter_load_error(llama_and_adapters, tiny_models, tmp_path):
    tm, llm, _ = llama_and_adapters
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"this is not a gguf file at all")
    with pytest.raises(AdapterLoadError, match="Cannot load adapter junk.gguf: junk.gguf is not a readable GGUF file"):
        load_adapter(llm, junk)
    with pytest.raises(AdapterLoadError, match=r"model-f32.gguf is not a LoRA adapter GGUF \(general.type is 'model'\)"):
        load_adapter(llm, tm.gguf_f32)
    qwen3 = tiny_models("qwen3")
    other_arch = adapter_to_gguf(DownProjLora(3), tmp_path / "qwen3.gguf", base_gguf=qwen3.gguf_f32)
    with pytest.raises(AdapterLoadError, match=r"llama.cpp could not load adapter qwen3.gguf \(architecture 'qwen3'\)"):
        load_adapter(llm, other_arch)
    with pytest.raises(AdapterLoadError, match="GGUF file not found"):
        load_adapter(llm, tmp_path / "missing.gguf")
    base = tm.llama_logits(llm)  # the model still works after all of that
    assert np.isfinite(base).all()


def test_switching_and_freeing_in_any_order_is_safe(llama_and_adapters):
    tm, llm, (p1, p2) = llama_and_adapters
    base = tm.llama_logits(llm)
    a1, a2 = load_adapter(llm, p1), load_adapter(llm, p2)
    activate(llm, a1)
    out1 = tm.llama_logits(llm)
    activate(llm, a2, scale=0.5)
    out2 = tm.llama_logits(llm)
    assert active_adapters(llm) == [a2]
    assert not np.allclose(out1, out2) and not np.allclose(out1, base)
    free_adapter(llm, a1)  # a1 is not active: a2 stays active
    assert active_adapters(llm) == [a2]
    assert np.array_equal(tm.llama_logits(llm), out2)
    free_adapter(llm, a2)  # the active one: cleared first, so the next decode is the base model
    assert active_adapters(llm) == []
    assert np.array_equal(tm.llama_logits(llm), base)
    free_adapter(llm, a2)  # twice: a no-op
    with pytest.raises(AdapterLoadError, match="a2.gguf was already freed; load it again"):
        activate(llm, a2)


class Concatenated(DownProjLora):
    """Two LoRAs concatenated along the rank: the sum of their updates in one adapter."""

    def __init__(self, first: DownProjLora, second: DownProjLora):
        self.modules = {m: (torch.cat([a, second.modules[m][0]], dim=0), torch.cat([b, second.modules[m][1]], dim=1))
                        for m, (a, b) in first.modules.items()}


def test_several_active_adapters_add_up_and_freeing_one_keeps_the_others(llama_and_adapters, tmp_path):
    tm, llm, (p1, p2) = llama_and_adapters
    both = adapter_to_gguf(Concatenated(DownProjLora(1), DownProjLora(2)), tmp_path / "both.gguf",
                           base_gguf=tm.gguf_f32, outtype="f32")
    a1, a2, a12 = (load_adapter(llm, p) for p in (p1, p2, both))
    activate(llm, a12)
    summed = tm.llama_logits(llm)
    activate(llm, a2)
    only2 = tm.llama_logits(llm)
    activate_many(llm, [a1, a2])
    assert active_adapters(llm) == [a1, a2]
    np.testing.assert_allclose(tm.llama_logits(llm), summed, atol=1e-4)
    free_adapter(llm, a1)  # cleared, freed, and a2 set again alone
    assert active_adapters(llm) == [a2]
    assert np.array_equal(tm.llama_logits(llm), only2)
    with pytest.raises(ValueError, match="2 adapters but 1 scales"):
        activate_many(llm, [a2, a12], [1.0])


def test_adapter_of_another_model_and_after_close(llama_and_adapters):
    tm, llm, (p1, _) = llama_and_adapters
    other = tm.open_llama()
    foreign = load_adapter(other, p1)
    with pytest.raises(AdapterLoadError, match="was loaded into another model; load it into this one"):
        activate(llm, foreign)
    activate(other, foreign)
    other.close()  # llama.cpp frees the model's adapters with it
    free_adapter(other, foreign)  # must not double-free
    assert foreign.freed
    with pytest.raises(AdapterLoadError, match="The model is closed"):
        load_adapter(other, p1)
