"""Helpers shared by the hypernet tests (tests/hypernet is on pytest's ``pythonpath``)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file


def vectors(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "vectors.safetensors"))


def assert_close_rel(x: torch.Tensor, ref: torch.Tensor, name: str, rel: float = 2e-4) -> None:
    """The README's tolerance for non-logit tensors: max|x - ref| <= rel * max|ref|."""
    assert x.shape == ref.shape, f"{name}: shape {tuple(x.shape)} != {tuple(ref.shape)}"
    err = (x.float() - ref).abs().max().item()
    assert err <= rel * ref.abs().max().item(), f"{name}: max abs diff {err:.3e} > {rel} * {ref.abs().max().item():.3e}"


def assert_logits_close(x: torch.Tensor, ref: torch.Tensor, name: str, atol: float = 1e-3) -> None:
    assert x.shape == ref.shape, f"{name}: shape {tuple(x.shape)} != {tuple(ref.shape)}"
    err = (x.float() - ref).abs().max().item()
    assert err <= atol, f"{name}: max abs diff {err:.3e} > {atol}"


def tiny_config(arch: str, layers: int = 4, hidden: int = 32, intermediate: int = 64, vocab: int = 128):
    """A transformers config for a tiny random decoder-only LM of the given family."""
    from transformers import AutoConfig

    extra = {"gemma2": {"head_dim": 8, "query_pre_attn_scalar": 8}, "qwen3": {"head_dim": 8}}.get(arch, {})
    return AutoConfig.for_model(
        arch, num_hidden_layers=layers, hidden_size=hidden, intermediate_size=intermediate, vocab_size=vocab,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0, **extra,
    )  # fmt: skip


def save_tiny_base(folder: Path, arch: str = "llama", seed: int = 0, **sizes) -> Path:
    """Build a tiny random model of `arch` and save_pretrained it into `folder`."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, **sizes))
    model.save_pretrained(folder)
    return folder


# --- Real tokenizers without downloads: llama.cpp's vocabulary-only GGUFs (fetched once with the sdist) ---

MISTRAL_V02_TEMPLATE = (  # chat_template of mistralai/Mistral-7B-Instruct-v0.2's tokenizer_config.json (not in the sdist)
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}"
    "{{- bos_token }}{%- for message in loop_messages %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif %}{%- if message['role'] == 'user' %}{%- if loop.first and system_message is defined %}"
    "{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}"
    "{%- else %}{{- ' [INST] ' + message['content'] + ' [/INST]' }}{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token}}"
    "{%- else %}{{- raise_exception('Only user and assistant roles are supported!') }}{%- endif %}{%- endfor %}"
)


def _tokenizer_cache() -> Path:
    from converters.cache import cache_dir

    return cache_dir() / "test_tokenizers"  # tests/conftest.py points it into the session's temp dir


def _gguf_strings(reader, key: str) -> list[str]:
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def _gguf_numbers(reader, key: str):
    import numpy as np

    f = reader.fields[key]
    return np.concatenate([f.parts[i] for i in f.data])


def qwen2_tokenizer():
    """Qwen2/Qwen3's byte-level BPE (ggml-vocab-qwen2.gguf) as a fast tokenizer, cached as tokenizer.json."""
    from transformers import PreTrainedTokenizerFast

    cached = _tokenizer_cache() / "qwen2" / "tokenizer.json"
    if not cached.is_file():
        import gguf
        from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

        from converters.llama_src import vocab_ggufs

        reader = gguf.GGUFReader(vocab_ggufs()["qwen2"])
        tokens, types = _gguf_strings(reader, "tokenizer.ggml.tokens"), _gguf_numbers(reader, "tokenizer.ggml.token_type")
        merges = [tuple(m.split(" ", 1)) for m in _gguf_strings(reader, "tokenizer.ggml.merges")]
        tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
        split = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(split), behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
        tok.decoder = decoders.ByteLevel()
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, types) if ty == 4])
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tok.save(str(tmp))
        tmp.replace(cached)
    return PreTrainedTokenizerFast(tokenizer_file=str(cached), eos_token="<|im_end|>", pad_token="<|endoftext|>")


def spm_tokenizer(extra_special: tuple[str, ...] = (), bos: str = "<s>"):
    """Llama 2's SentencePiece model (ggml-vocab-llama-spm.gguf, the family of Mistral v0.2) as LlamaTokenizer."""
    from transformers import LlamaTokenizer

    cached = _tokenizer_cache() / "llama-spm" / "tokenizer.model"
    if not cached.is_file():
        import gguf
        from sentencepiece import sentencepiece_model_pb2 as pb

        from converters.llama_src import vocab_ggufs

        reader = gguf.GGUFReader(vocab_ggufs()["llama-spm"])
        proto = pb.ModelProto()
        proto.trainer_spec.model_type = pb.TrainerSpec.BPE
        proto.trainer_spec.byte_fallback = True
        proto.trainer_spec.unk_id, proto.trainer_spec.bos_id, proto.trainer_spec.eos_id, proto.trainer_spec.pad_id = 0, 1, 2, -1
        proto.normalizer_spec.name = "identity"
        proto.normalizer_spec.add_dummy_prefix = True
        proto.normalizer_spec.remove_extra_whitespaces = False
        proto.normalizer_spec.escape_whitespaces = True
        tokens = _gguf_strings(reader, "tokenizer.ggml.tokens")
        for t, score, ty in zip(tokens, _gguf_numbers(reader, "tokenizer.ggml.scores"), _gguf_numbers(reader, "tokenizer.ggml.token_type")):
            piece = proto.pieces.add()
            piece.piece, piece.score, piece.type = t, float(score), int(ty)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_bytes(proto.SerializeToString())
        tmp.replace(cached)
    tok = LlamaTokenizer(vocab_file=str(cached), legacy=True)
    special = {"additional_special_tokens": list(extra_special)} if extra_special else {}
    if bos != tok.bos_token:
        special["bos_token"] = bos
    if special:
        tok.add_special_tokens(special)
    return tok


def chat_template(name: str) -> str:
    from converters.llama_src import chat_templates_dir

    return (chat_templates_dir() / f"{name}.jinja").read_text()
