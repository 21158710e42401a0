"""hf_to_gguf / quantize: llama.cpp's own converter on tiny random models; logits match PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from converters import hf_to_gguf, quantize
from converters.errors import ConversionError, GGUFError
from converters.gguf_info import read_gguf_info

EXPECTED_ARCH = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma2": "gemma2"}


def test_f32_gguf_logits_equal_pytorch(tiny_models, family):
    tm = tiny_models(family)
    info = read_gguf_info(tm.gguf_f32)
    assert info.architecture == EXPECTED_ARCH[family]
    assert info.n_layers == 2
    assert info.tensors["blk.1.ffn_down.weight"] == (256, 512)  # (d_out, d_in), PyTorch order
    assert info.get("tokenizer.chat_template").startswith("{% for m in messages %}")
    expected = tm.torch_logits()
    llm = tm.open_llama()
    got = tm.llama_logits(llm)
    llm.close()
    assert expected.std() > 0.5, "logits too flat for the comparison to mean anything"
    diff = np.abs(got - expected).max()
    print(f"{family}: max |llama.cpp - PyTorch| = {diff:.1e} (logit std {expected.std():.2f})")
    assert diff <= tm.tolerance
    assert (got.argmax(-1) == expected.argmax(-1)).all()


def test_quantize_writes_requested_type(tiny_models, tmp_path):
    tm = tiny_models("llama")
    q8 = quantize(tm.gguf_f32, tmp_path / "q8.gguf", "Q8_0")
    q4 = quantize(tm.gguf_f32, tmp_path / "q4km.gguf", "Q4_K_M")
    assert read_gguf_info(q8).tensor_types["blk.0.ffn_down.weight"] == "Q8_0"
    assert read_gguf_info(q4).file_type == "MOSTLY_Q4_K_M"
    assert read_gguf_info(q4).tensor_types["blk.0.attn_q.weight"] == "Q4_K"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q4km.gguf", "q8.gguf"]  # no temp files left


def test_quantize_rejects_unknown_type_and_broken_input(tiny_models, tmp_path):
    tm = tiny_models("llama")
    with pytest.raises(ValueError, match="Unknown quantization 'Q9_X'"):
        quantize(tm.gguf_f32, tmp_path / "x.gguf", "Q9_X")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tm.gguf_f32.read_bytes()[:1000])
    with pytest.raises(GGUFError, match="broken.gguf is not a readable GGUF file"):
        quantize(broken, tmp_path / "out.gguf", "Q8_0")
    assert not (tmp_path / "out.gguf").exists()


def test_hf_to_gguf_errors_quote_the_converter(tiny_models, tmp_path):
    with pytest.raises(ConversionError, match="has no config.json; pass a Hugging Face model folder"):
        hf_to_gguf(tmp_path, tmp_path / "m.gguf")
    gemma = tmp_path / "gemma"
    gemma.mkdir()
    (gemma / "config.json").write_text('{"architectures": ["Gemma2ForCausalLM"], "tie_word_embeddings": false}')
    with pytest.raises(ConversionError, match="gemma is a Gemma2 model with an untied lm_head, which llama.cpp's converter drops"):
        hf_to_gguf(gemma, tmp_path / "m.gguf")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"architectures": ["NoSuchForCausalLM"]}')
    with pytest.raises(ConversionError, match=r"(?s)could not convert bad \(exit 1\); its last messages:.*NoSuchForCausalLM"):
        hf_to_gguf(bad, tmp_path / "m.gguf", outtype="f32")
    assert not any(p.suffix in (".gguf", ".tmp") for p in tmp_path.iterdir())


def test_gguf_to_hf_writes_a_folder_that_tokenizes_alike_and_converts_back(tiny_models, tmp_path):
    from transformers import AutoTokenizer

    from converters.gguf_to_hf import gguf_to_hf

    tm = tiny_models("llama")
    out = gguf_to_hf(tm.gguf_f32, tmp_path / "hf")
    # no copy of the GGUF posing as a SentencePiece model (transformers writes one)
    assert not (out / "tokenizer.model").exists() or (out / "tokenizer.model").read_bytes()[:4] != b"GGUF"
    text = "the magic number of the document is 4242."
    assert AutoTokenizer.from_pretrained(out)(text).input_ids == AutoTokenizer.from_pretrained(tm.hf_dir)(text).input_ids
    back = hf_to_gguf(out, tmp_path / "back.gguf", outtype="f32")  # llama.cpp's converter reads the folder
    assert read_gguf_info(back).n_layers == 2
