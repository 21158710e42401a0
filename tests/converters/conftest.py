"""Fixtures for converters tests: a SentencePiece tokenizer trained here, tiny random HF models of
several families converted to F32 GGUF, and llama.cpp / PyTorch logit helpers."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

N_LAYERS = 2
HIDDEN = 256  # a multiple of 256, so k-quants (Q4_K_M) really apply instead of falling back
INTERMEDIATE = 512
PROMPT_LEN = 24

# family -> (transformers config class, extra config kwargs)
FAMILIES = {
    "llama": ("LlamaConfig", {}),
    "mistral": ("MistralConfig", {"sliding_window": 4096}),
    "qwen2": ("Qwen2Config", {}),
    "qwen3": ("Qwen3Config", {}),
    # Gemma2: tied embeddings (the converter drops an untied lm_head), softcapping, eager attention.
    "gemma2": ("Gemma2Config", {"tie_word_embeddings": True, "query_pre_attn_scalar": 64,
                                "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
                                "sliding_window": 4096}),
}
# Max abs logit difference llama.cpp vs PyTorch with F32 weights and KV cache: 1e-3, except the
# gemma2 figure shared/design/gguf-and-llamacpp.md records (1.6e-3 on its random model; we see 1.5e-3).
TOLERANCE = {"gemma2": 2e-3}
DEFAULT_TOLERANCE = 1e-3


def pytest_generate_tests(metafunc):
    """Every test that takes `family` runs once per model family (unless it names its own)."""
    explicit = any("family" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize"))
    if "family" in metafunc.fixturenames and not explicit:
        metafunc.parametrize("family", list(FAMILIES))


@pytest.fixture(scope="session")
def spm_dir(tmp_path_factory) -> Path:
    """A SentencePiece model trained in this session on generated text (no download)."""
    import sentencepiece as spm

    rng = random.Random(0)
    words = ["document", "adapter", "magic", "number", "llama", "model", "the", "is", "of", "and",
             "page", "chat", "token", "layer", "rank", "weight", "query", "answer", "local", "file"]
    lines = [" ".join(rng.choice(words) for _ in range(12)) + f" {rng.randint(0, 9999)}." for _ in range(400)]
    out = tmp_path_factory.mktemp("spm")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(out / "tokenizer"), vocab_size=300,
        model_type="bpe", character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0, pad_id=-1,
        num_threads=1, minloglevel=2,
    )
    return out


@dataclass
class TinyModel:
    family: str
    hf_dir: Path
    gguf_f32: Path
    model: object  # transformers model, float32, eval mode
    prompt: list[int]

    @property
    def tolerance(self) -> float:
        return TOLERANCE.get(self.family, DEFAULT_TOLERANCE)

    def open_llama(self, gguf_path: Path | None = None):
        """A llama.cpp model with an F32 KV cache (type 0) and logits for every position."""
        from converters.llama import open_model

        return open_model(gguf_path or self.gguf_f32, n_ctx=64, n_batch=64, logits_all=True,
                          type_k=0, type_v=0, n_threads=1, n_threads_batch=1)

    def llama_logits(self, llm) -> np.ndarray:
        """llama.cpp logits for every prompt position, from a fresh KV cache."""
        llm.reset()
        llm.eval(self.prompt)
        return np.array(llm.scores[: len(self.prompt)], dtype=np.float32)

    def llama_logits_with_adapter(self, adapter_path: Path, gguf_path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(base, with adapter) llama.cpp logits of a freshly opened model; frees everything after."""
        from converters.llama import activate, free_adapter, load_adapter

        llm = self.open_llama(gguf_path)
        try:
            base = self.llama_logits(llm)
            adapter = load_adapter(llm, adapter_path)
            activate(llm, adapter)
            got = self.llama_logits(llm)
            free_adapter(llm, adapter)
        finally:
            llm.close()
        return base, got

    def torch_logits(self, lora: dict | None = None) -> np.ndarray:
        """PyTorch logits; `lora` maps module names ("model.layers.0.mlp.down_proj") to (A, B),
        added as y += x A^T B^T by forward hooks (the reference the GGUF adapter must match)."""
        import torch

        def hook(a, b):
            return lambda module, inputs, output: output + (inputs[0] @ a.T) @ b.T

        handles = [self.model.get_submodule(name).register_forward_hook(hook(a, b))
                   for name, (a, b) in (lora or {}).items()]
        try:
            with torch.no_grad():
                out = self.model(torch.tensor([self.prompt])).logits[0]
        finally:
            for h in handles:
                h.remove()
        return out.float().numpy()


def _build_hf(family: str, spm_path: Path, out: Path, seed: int) -> object:
    import torch
    import transformers

    cls_name, extra = FAMILIES[family]
    vocab = 300
    cfg = getattr(transformers, cls_name)(
        vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=N_LAYERS,
        num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=256,
        bos_token_id=1, eos_token_id=2, rms_norm_eps=1e-6, initializer_range=0.08,
        torch_dtype="float32", **extra,
    )
    if "tie_word_embeddings" not in extra:
        cfg.tie_word_embeddings = False
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32, attn_implementation="eager")
    with torch.no_grad():  # non-trivial norms and biases, so a mapping error in them shows
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(0.1 * torch.randn_like(p))
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    (out / "tokenizer.model").write_bytes(spm_path.read_bytes())
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "add_bos_token": True, "chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}",
    }))
    return model


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, spm_dir):
    """Builder family -> TinyModel (HF folder + F32 GGUF via hf_to_gguf), cached per session."""
    import torch

    from converters import hf_to_gguf

    torch.set_num_threads(2)
    cache: dict[str, TinyModel] = {}

    def build(family: str) -> TinyModel:
        if family not in cache:
            root = tmp_path_factory.mktemp(f"tiny-{family}")
            model = _build_hf(family, spm_dir / "tokenizer.model", root / "hf", seed=len(cache) + 1)
            gguf_path = hf_to_gguf(root / "hf", root / "model-f32.gguf", outtype="f32")
            prompt = [1] + [int(x) for x in np.random.default_rng(7).integers(3, 300, PROMPT_LEN - 1)]
            cache[family] = TinyModel(family, root / "hf", gguf_path, model, prompt)
        return cache[family]

    return build

