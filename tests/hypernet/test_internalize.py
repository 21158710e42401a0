"""Parity with the reference implementation: every fixture folder loaded through load_hypernet."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from hn_testlib import assert_close_rel, assert_logits_close, vectors
from transformers import AutoModelForCausalLM

from hypernet import ChunkingError, DocumentAdapter, load_hypernet
from hypernet.apply import lora_applied


@functools.cache
def _loaded(folder: Path):
    hn = load_hypernet(folder, device="cpu")
    base = AutoModelForCausalLM.from_pretrained(folder / "base_model", dtype=torch.float32, attn_implementation="eager")
    return hn, base.eval(), vectors(folder)


def _case_chunks(v: dict, case: str) -> list[list[int]]:
    ids, mask = v[f"input.{case}.ctx_ids"], v[f"input.{case}.ctx_attn_mask"]
    return [row[m.bool()].tolist() for row, m in zip(ids, mask)]


def _stage_hooks(hn) -> tuple[dict, list]:
    """Capture the outputs of the modules the reference fixtures were hooked on."""
    seen, handles = {}, []
    p = hn.model.aggregator.perceiver
    named = {"modality_projection": p.modality_projection, "encoder_latents": p.encoder, "decoder_out": p.decoder,
             "aggregator_out": hn.model.aggregator, "pre_head": hn.model.layers[-1], "head_out": hn.model.head}  # fmt: skip
    for name, module in named.items():
        handles.append(module.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o.detach())))
    return seen, handles


def test_stages_features_and_per_chunk_lora_match_reference(fixture_dir):
    hn, _, v = _loaded(fixture_dir)
    ids, mask = v["input.case1.ctx_ids"], v["input.case1.ctx_attn_mask"]
    assert_close_rel(hn.encoder(ids, mask), v["case1.features"], "case1.features")
    seen, handles = _stage_hooks(hn)
    try:
        with torch.no_grad():
            A, B = hn.lora_for_batch(ids, mask)
    finally:
        for h in handles:
            h.remove()
    for name in ("modality_projection", "encoder_latents", "decoder_out", "aggregator_out", "pre_head", "head_out"):
        assert_close_rel(seen[name], v[f"case1.stage.{name}"], f"case1.stage.{name}")
    assert_close_rel(A, v["case1.lora.down_proj.A"], "case1.lora.A")
    assert_close_rel(B, v["case1.lora.down_proj.B"], "case1.lora.B")
    # case 2: three right-padded chunks in one batch
    seen, handles = _stage_hooks(hn)
    try:
        with torch.no_grad():
            A2, B2 = hn.lora_for_batch(v["input.case2.ctx_ids"], v["input.case2.ctx_attn_mask"])
    finally:
        for h in handles:
            h.remove()
    assert_close_rel(seen["aggregator_out"], v["case2.stage.aggregator_out"], "case2.stage.aggregator_out")
    assert_close_rel(A2, v["case2.lora.down_proj.A"], "case2.lora.A")
    assert_close_rel(B2, v["case2.lora.down_proj.B"], "case2.lora.B")


def _greedy(base, query):
    return base.generate(query, attention_mask=torch.ones_like(query), max_new_tokens=8, do_sample=False,
                         output_logits=True, return_dict_in_generate=True, pad_token_id=0)  # fmt: skip


def test_combined_lora_and_logits_match_reference(fixture_dir):
    hn, base, v = _loaded(fixture_dir)
    query = v["input.query.input_ids"]
    with torch.no_grad():
        assert_logits_close(base(input_ids=query).logits, v["query.logits.base"], "query.logits.base")
        base_gen = _greedy(base, query)
    assert torch.equal(base_gen.sequences, v["query.generate.base.sequences"])
    # transformers 4.57's own Gemma 2 greedy loop (no LoRA involved) differs from the fixtures' 4.51 at the
    # last step; compare the LoRA step logits on the steps where plain transformers reproduces the base ones.
    base_err = (torch.cat(base_gen.logits) - v["query.generate.base.step_logits"]).abs().amax(dim=1)
    steps = (base_err <= 1e-3).nonzero().flatten()
    assert len(steps) >= 7, f"plain transformers generation disagrees with the fixture at steps {base_err.tolist()}"
    for case, n_chunks in (("case1", 1), ("case2", 3)):
        chunks = _case_chunks(v, case)
        assert [len(c) for c in chunks][0] == 40
        adapter = hn.internalize_ids(chunks)
        assert isinstance(adapter, DocumentAdapter)
        assert adapter.n_chunks == n_chunks and adapter.rank == (n_chunks + 1) * 8
        assert abs(adapter.alpha - 2 * 8**1.5) < 1e-9
        assert_close_rel(adapter.A, v[f"{case}.combined.down_proj.A"][0], f"{case}.combined.A")
        assert_close_rel(adapter.B, v[f"{case}.combined.down_proj.B"][0], f"{case}.combined.B")
        with torch.no_grad(), lora_applied(base, adapter.A, adapter.B, adapter.alpha):
            logits = base(input_ids=query).logits
            gen = _greedy(base, query)
        assert_logits_close(logits, v[f"{case}.logits.lora"], f"{case}.logits.lora")
        assert torch.equal(gen.sequences, v[f"{case}.generate.lora.sequences"])
        step_logits = torch.cat(gen.logits)[steps]
        assert_logits_close(step_logits, v[f"{case}.generate.lora.step_logits"][steps], f"{case}.step_logits")
    # the hooks are gone after the block: base logits again
    with torch.no_grad():
        assert_logits_close(base(input_ids=query).logits, v["query.logits.base"], "base after lora_applied")


def test_identity_fields(fixture_dir):
    hn, _, _ = _loaded(fixture_dir)
    assert hn.base_model == "base_model"
    assert hn.base_model_path == (fixture_dir / "base_model").resolve()
    assert hn.max_chunk_tokens == 256  # min(8192, the base's 256-token window)
    assert len(hn.hypernet_id) == 16 and len(hn.base_fingerprint) == 16
    assert hn.device.type == "cpu" and hn.dtype == torch.float32
    adapter = hn.internalize_ids([[5, 6, 7]])
    assert (adapter.base_fingerprint, adapter.hypernet_id) == (hn.base_fingerprint, hn.hypernet_id)


def _text_pair(tmp_path):
    """A tiny Qwen3 base with the real Qwen tokenizer + template, and a random hypernet in our format."""
    from hn_testlib import chat_template, qwen2_tokenizer, save_tiny_base

    from hypernet.checkpoint import save_checkpoint
    from hypernet.model import HypernetConfig, HypernetModel

    tok = qwen2_tokenizer()
    tok.chat_template = chat_template("Qwen-Qwen3-0.6B")
    base = save_tiny_base(tmp_path / "base", "qwen3", vocab=len(tok))
    tok.save_pretrained(base)
    cfg = HypernetConfig(n_layers=4, base_hidden_size=32, d_in=64, d_out=32, latent_size=16, n_heads=4, head_dim=8,
                         n_kv_heads=2, num_blocks=2)  # fmt: skip
    torch.manual_seed(3)
    model = HypernetModel(cfg)
    with torch.no_grad():
        model.scaler_B["down_proj"].fill_(0.01)
    return save_checkpoint(tmp_path / "hypernet", model, cfg, "../base")


def test_internalize_text_end_to_end(tmp_path):
    hn = load_hypernet(_text_pair(tmp_path), device="cpu")
    assert hn.max_chunk_tokens == 128  # the tiny base's window
    text = " ".join(f"Fact {i}: the code word for box {i} is w{i * 31 % 97}." for i in range(40))
    calls = []
    adapter = hn.internalize(text, max_chunk_tokens=64, progress=lambda *a: calls.append(a))
    chunks = hn.chunk_text(text, 64)
    assert adapter.n_chunks == len(chunks) > 2 and adapter.rank == (len(chunks) + 1) * 8
    assert adapter.extra["chunk_tokens"] == [len(c) for c in chunks]
    assert calls[0] == ("tokenize", 0, 1) and calls[-1][0] == "encode" and calls[-1][1] == calls[-1][2]
    # chunks encoded one group at a time give the same LoRA as one padded batch
    hn.max_batch_tokens = 64
    grouped = hn.internalize_ids(chunks)
    assert torch.allclose(grouped.A, adapter.A, atol=1e-5) and torch.allclose(grouped.B, adapter.B, atol=1e-6)
    # the bias block is the last r rows, identical for any document
    other = hn.internalize("A different, short document.")
    assert other.n_chunks == 1 and torch.equal(other.A[:, -8:], adapter.A[:, -8:])
    assert not torch.allclose(other.A[:, :8], adapter.A[:, :8])

    class Cancelled(Exception):
        pass

    def cancel(stage, done, total):
        if stage == "encode" and done == 1:
            raise Cancelled

    with pytest.raises(Cancelled):
        hn.internalize(text, max_chunk_tokens=64, progress=cancel)


def test_fixture_base_without_tokenizer_needs_ids(parity_dir):
    hn = load_hypernet(parity_dir / "qwen3_niah", device="cpu")
    assert hn.tokenizer is None
    with pytest.raises(ChunkingError, match="no tokenizer"):
        hn.internalize("some text")
    with pytest.raises(ChunkingError, match="no empty chunk"):
        hn.internalize_ids([[1, 2], []])


def test_the_checkpoints_recorded_base_picks_the_context_format(tmp_path):
    from hn_testlib import MISTRAL_V02_TEMPLATE, save_tiny_base, spm_tokenizer

    from hypernet.checkpoint import save_checkpoint
    from hypernet.model import HypernetConfig, HypernetModel

    tok = spm_tokenizer()
    tok.chat_template = MISTRAL_V02_TEMPLATE
    base = save_tiny_base(tmp_path / "base", "mistral")
    tok.save_pretrained(base)
    cfg = HypernetConfig(n_layers=4, base_hidden_size=32, d_in=64, d_out=32, latent_size=16, n_heads=4, head_dim=8,
                         n_kv_heads=2, num_blocks=1)  # fmt: skip
    doc = " Quintel is the capital of Zorbia. "
    for recorded, text in (("mistralai/Mistral-7B-Instruct-v0.2", "<s> [INST] \n\nQuintel is the capital of Zorbia. [/INST] "),
                           ("../base", "<s> [INST] \n\nQuintel is the capital of Zorbia. [/INST]")):  # fmt: skip
        ckpt = save_checkpoint(tmp_path / f"hn-{len(recorded)}", HypernetModel(cfg), cfg, recorded)
        hn = load_hypernet(ckpt, base_model=base, device="cpu")
        assert hn.trained_on == recorded
        assert hn.chunk_text(doc) == [hn.tokenizer(text, add_special_tokens=False)["input_ids"]]
