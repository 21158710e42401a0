"""Fixtures of the training tests: a tokenizer and a tiny random base model built from the shipped
held-out text (no download), and the bundled demo pair."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from train_helpers import HELDOUT


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A 600-piece SentencePiece tokenizer with the chat template, trained on the held-out text."""
    from hypernet.train.tokenizer import build_tokenizer

    return build_tokenizer(HELDOUT, tmp_path_factory.mktemp("tok"), vocab_size=600)


@pytest.fixture(scope="session")
def tiny_base_dir(tiny_tokenizer_dir, tmp_path_factory) -> Path:
    """A random 2-layer Llama (hidden 32) saved with the tiny tokenizer."""
    from transformers import AutoTokenizer

    from hypernet.train.base_lm import BaseLMConfig, new_model

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    cfg = BaseLMConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)
    out = tmp_path_factory.mktemp("tiny_base")
    new_model(cfg, tok).save_pretrained(out)
    tok.save_pretrained(out, save_jinja_files=False)
    return out
