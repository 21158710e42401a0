"""Checks that a pair's parts fit together: GGUF header vs base config, hypernet vs base, disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gguf import MODEL_ARCH, MODEL_ARCH_NAMES, MODEL_TENSOR

from app.models.errors import IncompatiblePairError, InsufficientDiskError

# HF config `model_type` -> the GGUF `general.architecture` llama.cpp's converter writes for it.
GGUF_ARCH = {
    "llama": MODEL_ARCH_NAMES[MODEL_ARCH.LLAMA],
    "mistral": MODEL_ARCH_NAMES[MODEL_ARCH.LLAMA],  # the converter writes Mistral as llama
    "qwen2": MODEL_ARCH_NAMES[MODEL_ARCH.QWEN2],
    "qwen3": MODEL_ARCH_NAMES[MODEL_ARCH.QWEN3],
    "gemma2": MODEL_ARCH_NAMES[MODEL_ARCH.GEMMA2],
}


def base_config(base_dir: Path) -> dict:
    """The base model's config.json; IncompatiblePairError if it is missing or unreadable."""
    path = Path(base_dir) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IncompatiblePairError(
            f"{base_dir} is not a Hugging Face model folder (no readable config.json); "
            "give the folder that holds config.json and the safetensors.") from exc


def expected_shapes(config: dict) -> dict[tuple[MODEL_TENSOR, int], tuple[int, ...]]:
    """Per-layer weight shapes (PyTorch order) the base config implies, by (tensor kind, layer)."""
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or hidden // heads
    per_layer = {
        MODEL_TENSOR.FFN_DOWN: (hidden, inter),  # the tensor D2L adapts
        MODEL_TENSOR.FFN_UP: (inter, hidden),
        MODEL_TENSOR.FFN_GATE: (inter, hidden),
        MODEL_TENSOR.ATTN_Q: (heads * head_dim, hidden),
        MODEL_TENSOR.ATTN_K: (kv_heads * head_dim, hidden),
        MODEL_TENSOR.ATTN_V: (kv_heads * head_dim, hidden),
        MODEL_TENSOR.ATTN_OUT: (hidden, heads * head_dim),
    }
    return {(kind, i): shape for i in range(config["num_hidden_layers"])
            for kind, shape in per_layer.items()}


def check_gguf(gguf_path: Path, base_dir: Path) -> None:
    """The GGUF must be the base model: architecture, layer count and every layer's weight
    shapes as the base config says. IncompatiblePairError names the first difference."""
    from converters.errors import GGUFError
    from converters.gguf_info import read_gguf_info
    from converters.llama import tensor_name

    config = base_config(base_dir)
    try:
        info = read_gguf_info(gguf_path)
    except GGUFError as exc:
        raise IncompatiblePairError(str(exc)) from exc
    name = Path(gguf_path).name
    fix = "convert the GGUF from this base model, or choose the GGUF made from it."
    want_arch = GGUF_ARCH.get(config.get("model_type"))
    if want_arch is None:
        raise IncompatiblePairError(
            f"Base model type '{config.get('model_type')}' is not supported; use one of: "
            f"{', '.join(sorted(GGUF_ARCH))}.")
    if info.architecture != want_arch:
        raise IncompatiblePairError(f"{name} is a '{info.architecture}' model but the base is "
                                    f"'{config['model_type']}' (GGUF '{want_arch}'): {fix}")
    if info.n_layers != config["num_hidden_layers"]:
        raise IncompatiblePairError(f"{name} has {info.n_layers} layers but the base has "
                                    f"{config['num_hidden_layers']}: {fix}")
    embd = info.tensors.get(tensor_name(MODEL_TENSOR.TOKEN_EMBD))
    if embd is None or embd[-1] != config["hidden_size"]:
        raise IncompatiblePairError(f"{name} has token embeddings of shape {embd}, not width "
                                    f"{config['hidden_size']} as the base: {fix}")
    for (kind, layer), shape in expected_shapes(config).items():
        tensor = tensor_name(kind, layer)
        got = info.tensors.get(tensor)
        if got is None and kind != MODEL_TENSOR.FFN_DOWN:
            continue  # fused or renamed in some architectures; ffn_down is what must match
        if got != shape:
            raise IncompatiblePairError(
                f"{name} does not fit the base model: {tensor} is {got} but the base config "
                f"says {shape}; {fix}")


def check_hypernet(hypernet_path: Path, base_dir: Path) -> None:
    """The hypernetwork must load with this base (hypernet.load_hypernet on CPU)."""
    from hypernet import load_hypernet
    from hypernet.errors import HypernetError

    try:
        load_hypernet(str(hypernet_path), base_model=str(base_dir), device="cpu")
    except HypernetError as exc:
        raise IncompatiblePairError(str(exc)) from exc


def check_hypernet_file(hypernet_path: Path, base_dir: Path, name: str) -> None:
    """The cheap form of ``check_hypernet`` (no encoder, no weights copied): the checkpoint loads
    through our loader on CPU, its tensors fit its config, and that config fits the base config.
    ``name`` says in the error which file it was."""
    from hypernet.base_model import check_compatible, read_config
    from hypernet.checkpoint import load_checkpoint
    from hypernet.errors import HypernetError

    try:
        ckpt = load_checkpoint(hypernet_path)
        ckpt.check_fits()
        check_compatible(ckpt.config, read_config(base_dir), str(base_dir), name, ckpt.base_model_name_or_path)
    except HypernetError as exc:
        raise IncompatiblePairError(f"{name} cannot be used by DocLoRA, so nothing was installed: {exc}") from exc


def check_free_space(folder: Path, needed: int, pair_name: str) -> None:
    """InsufficientDiskError when ``folder``'s disk has less than ``needed`` bytes free."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise InsufficientDiskError(
            f"Installing {pair_name} needs {needed / 1e9:.1f} GB free in {folder} but only "
            f"{free / 1e9:.1f} GB is free: free some space or set DOCLORA_HOME to a bigger disk.")
