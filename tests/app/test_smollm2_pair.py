"""The bundled real-language pair end to end: a PDF through the product, answered in words."""

from __future__ import annotations

import re

import pytest

from app.api import DocLoRA
from app.settings import Settings

from app_helpers import make_pdf

pytestmark = pytest.mark.slow

PAGE = ("NAME\n       zorbfix - repair cracked lanterns by humming\n\n"
        "DESCRIPTION\n       Zorbfix is used to repair cracked lanterns by humming. It reads FILE and reports.\n\n"
        "AUTHOR\n       Written by Quillon Ashgrove.\n")


def test_a_pdf_becomes_an_adapter_of_the_real_pair_that_changes_its_answers(tmp_path):
    app = DocLoRA(model="smollm2-135m", settings=Settings(temperature=0.0, max_tokens=24))
    try:
        assert app.pair.name == "smollm2-135m" and not app.pair.demo
        long_doc = app.add(make_pdf(tmp_path / "long.pdf", [PAGE * 6] * 4))
        # cut into chunks of at most the 512 tokens it was trained on, joined, compressed to 64
        assert long_doc.adapter.n_chunks >= 3 and long_doc.adapter.rank <= 64
        doc = app.add(make_pdf(tmp_path / "zorbfix.pdf", [PAGE]))
        with_adapter = app.ask(doc.id, "What does zorbfix do?", history=False).text
        without = app.ask(None, "What does zorbfix do?", history=False).text
    finally:
        app.close()
    # words, not the demo's four digits (the adapter's answers are short: it copies the page's words)
    assert len(re.findall(r"[A-Za-z]+", with_adapter)) >= 2 and not re.fullmatch(r"\s*\d{4}\s*", with_adapter)
    assert with_adapter != without  # the document's adapter is active in llama.cpp


def test_building_the_pair_drops_a_gguf_copy_posing_as_its_tokenizer_model(tmp_path):
    from app.models.bundled import build_smollm2

    root = tmp_path / "pair"
    (root / "base").mkdir(parents=True)
    (root / "model.gguf").write_bytes(b"GGUF" + b"\0" * 60)  # present: nothing is fetched or converted
    (root / "base" / "model.safetensors").write_bytes(b"weights")
    (root / "base" / "tokenizer.model").write_bytes(b"GGUF" + b"\0" * 60)  # as older versions derived it
    assert build_smollm2(root, log=lambda *_: None) == root
    assert sorted(p.name for p in (root / "base").iterdir()) == ["model.safetensors"]
    (root / "base" / "tokenizer.model").write_bytes(b"\n\x0esentencepiece")  # a real one stays
    build_smollm2(root, log=lambda *_: None)
    assert (root / "base" / "tokenizer.model").read_bytes() == b"\n\x0esentencepiece"
