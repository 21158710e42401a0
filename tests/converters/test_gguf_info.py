"""read_gguf_info on a converted model, a written adapter, and broken files."""

from __future__ import annotations

import pytest

from converters.errors import GGUFError
from converters.gguf_info import read_gguf_info


def test_model_header(tiny_models):
    info = read_gguf_info(tiny_models("gemma2").gguf_f32)
    assert info.architecture == "gemma2"
    assert info.n_layers == 2
    assert info.file_type == "ALL_F32"
    assert info.tensors["token_embd.weight"] == (300, 256)  # (vocab, hidden)
    assert "output.weight" not in info.tensors  # tied embeddings
    assert info.get("{arch}.embedding_length") == 256
    assert info.metadata["general.type"] == "model"
    assert len(info.metadata["tokenizer.ggml.tokens"]) == 300  # arrays up to 1024 items are kept


@pytest.mark.parametrize("cut", [0, 3, 64, 2000])
def test_truncated_or_foreign_files(tiny_models, tmp_path, cut):
    data = tiny_models("gemma2").gguf_f32.read_bytes()[:cut]
    path = tmp_path / "cut.gguf"
    path.write_bytes(data)
    expected = "cut.gguf is empty" if cut == 0 else "cut.gguf is not a readable GGUF file"
    with pytest.raises(GGUFError, match=expected):
        read_gguf_info(path)


def test_not_gguf_and_missing(tmp_path):
    (tmp_path / "x.gguf").write_text("hello world, not a model" * 10)
    with pytest.raises(GGUFError, match=r"x.gguf is not a readable GGUF file \(GGUF magic invalid\)"):
        read_gguf_info(tmp_path / "x.gguf")
    with pytest.raises(GGUFError, match="GGUF file not found"):
        read_gguf_info(tmp_path / "nothing.gguf")
