"""Write a document LoRA as a llama.cpp LoRA adapter GGUF, checked against the base GGUF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np

from converters.errors import AdapterMismatchError, GGUFError
from converters.gguf_info import GGUFInfo, read_gguf_info
from converters.files import atomic_write
from converters.llama import lora_names, tensor_name
from converters.lora_tensors import gather

# The modules of a decoder layer a LoRA may patch, by their Hugging Face names
# ("model.layers.{bid}.<module>", the names PEFT and the D2L hypernetworks use for every supported
# architecture), and the base tensor each one is in GGUF (gguf's TENSOR_NAMES: "blk.{bid}.ffn_down",
# which llama.cpp's converter maps them to). A LoRA on any other tensor (embeddings, norms, MoE
# experts) is refused rather than silently mis-applied.
LAYERS = "model.layers."
LORA_TARGETS: dict[str, gguf.MODEL_TENSOR] = {
    "mlp.down_proj": gguf.MODEL_TENSOR.FFN_DOWN,  # where D2L writes its LoRA
    "mlp.up_proj": gguf.MODEL_TENSOR.FFN_UP,
    "mlp.gate_proj": gguf.MODEL_TENSOR.FFN_GATE,
    "self_attn.q_proj": gguf.MODEL_TENSOR.ATTN_Q,
    "self_attn.k_proj": gguf.MODEL_TENSOR.ATTN_K,
    "self_attn.v_proj": gguf.MODEL_TENSOR.ATTN_V,
    "self_attn.o_proj": gguf.MODEL_TENSOR.ATTN_OUT,
}

# llama.cpp's converter permutes the rows of q/k weights for these architectures (its
# LlamaModel.permute); the rows of lora_B must be permuted the same way. Value: the metadata key
# holding the head count used for that permutation.
PERMUTED_ROWS: dict[gguf.MODEL_ARCH, dict[gguf.MODEL_TENSOR, str]] = {
    gguf.MODEL_ARCH.LLAMA: {
        gguf.MODEL_TENSOR.ATTN_Q: gguf.Keys.Attention.HEAD_COUNT,
        gguf.MODEL_TENSOR.ATTN_K: gguf.Keys.Attention.HEAD_COUNT_KV,
    },
}

OUTTYPES = {"f32": np.float32, "f16": np.float16}
ARCH_BY_NAME = {name: arch for arch, name in gguf.MODEL_ARCH_NAMES.items()}


def permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder rows [d_out, r] from HF's rotary half-split layout to llama.cpp's interleaved one."""
    d_out = w.shape[0]
    return w.reshape(n_head, 2, d_out // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _gguf_weight(module: str, info: GGUFInfo) -> tuple[gguf.MODEL_TENSOR, str]:
    """The kind and GGUF name of the base weight ``module`` patches ("model.layers.3.mlp.down_proj"
    -> FFN_DOWN, "blk.3.ffn_down.weight")."""
    bid, _, name = module.removeprefix(LAYERS).partition(".")
    if not module.startswith(LAYERS) or not bid.isdigit() or name not in LORA_TARGETS:
        supported = sorted(gguf.TENSOR_NAMES[t].split(".")[-1] for t in LORA_TARGETS.values())
        raise AdapterMismatchError(
            f"Adapter module {module} has no LoRA-capable counterpart in the {info.architecture} base "
            f"{info.path.name}; only {', '.join(supported)} are supported."
        )
    kind = LORA_TARGETS[name]
    return kind, tensor_name(kind, int(bid))


def _adapter_label(provenance: dict[str, str]) -> str:
    return f"adapter (made for {provenance['base_model']})" if "base_model" in provenance else "adapter"


def build_tensors(adapter: Any, info: GGUFInfo) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """GGUF tensor name -> float32 array for every lora_a/lora_b, shape-checked against the base."""
    arch = ARCH_BY_NAME.get(info.architecture)
    if arch is None:
        raise GGUFError(f"Base architecture {info.architecture!r} is unknown to the gguf package.")
    pairs, provenance = gather(adapter)
    out: dict[str, np.ndarray] = {}
    for module, (a, b) in pairs.items():
        kind, weight = _gguf_weight(module, info)
        if weight not in info.tensors:
            raise AdapterMismatchError(
                f"The {_adapter_label(provenance)} patches {module}, but base {info.path.name} "
                f"({info.architecture}, {info.n_layers} layers) has no tensor {weight}."
            )
        d_out, d_in = info.tensors[weight]
        if a.shape[1] != d_in or b.shape[0] != d_out:
            raise AdapterMismatchError(
                f"The {_adapter_label(provenance)} has {module} of shape (out {b.shape[0]}, in {a.shape[1]}), "
                f"but base {info.path.name} has {weight} of shape (out {d_out}, in {d_in}); "
                "use the adapter with the base model it was made for."
            )
        head_key = PERMUTED_ROWS.get(arch, {}).get(kind)
        if head_key is not None:
            b = permute_rows(b, int(info.get(head_key)))
        # PEFT layouts as they are: lora_a (r, d_in), lora_b (d_out, r); GGUF stores them reversed.
        name_a, name_b = lora_names(weight)
        out[name_a], out[name_b] = a, b
    return out, provenance


def adapter_to_gguf(adapter: Any, out_path: str | Path, base_gguf: str | Path, outtype: str = "f16") -> Path:
    """Write a DocumentAdapter (or PEFT LoRA folder) as a llama.cpp LoRA GGUF for `base_gguf`.

    The effective scale is already in lora_B, so no adapter.lora.alpha is written and llama.cpp
    applies scale 1 (times the user scale). `outtype`: "f16" (half the size; ~1e-3 logit error)
    or "f32" (exact). The file is written to a temporary name and renamed at the end.
    """
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype must be one of {sorted(OUTTYPES)}, not {outtype!r}")
    info = read_gguf_info(base_gguf)
    if info.metadata.get(gguf.Keys.General.TYPE) == gguf.GGUFType.ADAPTER:
        raise GGUFError(f"{info.path.name} is itself an adapter; pass the base model GGUF as base_gguf.")
    tensors, provenance = build_tensors(adapter, info)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        writer = gguf.GGUFWriter(None, arch=info.architecture)  # writes general.architecture
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        for key, value in provenance.items():
            writer.add_string(f"doclora.{key}", value)
        for name, array in tensors.items():
            writer.add_tensor(name, array.astype(OUTTYPES[outtype]))
        writer.write_header_to_file(path=tmp)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    return atomic_write(out_path, write)
