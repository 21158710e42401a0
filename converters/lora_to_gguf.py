"""Write a document LoRA as a llama.cpp LoRA adapter GGUF, checked against the base GGUF."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from converters.errors import AdapterMismatchError, GGUFError
from converters.gguf_info import GGUFInfo, read_gguf_info
from converters.llama import WEIGHT, lora_names
from converters.lora_tensors import gather
from converters.files import atomic_write

# The base tensors a LoRA may patch. HF module names are mapped to them by gguf's own
# TensorNameMap ("model.layers.{bid}.mlp.down_proj" -> "blk.{bid}.ffn_down"); a LoRA on any
# other tensor (embeddings, norms, MoE experts) is refused rather than silently mis-applied.
LORA_TARGETS: frozenset[gguf.MODEL_TENSOR] = frozenset({
    gguf.MODEL_TENSOR.FFN_DOWN,  # mlp.down_proj: where D2L writes its LoRA
    gguf.MODEL_TENSOR.FFN_UP,  # mlp.up_proj
    gguf.MODEL_TENSOR.FFN_GATE,  # mlp.gate_proj
    gguf.MODEL_TENSOR.ATTN_Q,  # self_attn.q_proj
    gguf.MODEL_TENSOR.ATTN_K,  # self_attn.k_proj
    gguf.MODEL_TENSOR.ATTN_V,  # self_attn.v_proj
    gguf.MODEL_TENSOR.ATTN_OUT,  # self_attn.o_proj
})

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


def _gguf_name(module: str, info: GGUFInfo, tmap: gguf.TensorNameMap) -> tuple[gguf.MODEL_TENSOR, str]:
    found = tmap.get_type_and_name(module)
    if found is None or found[0] not in LORA_TARGETS:
        raise AdapterMismatchError(
            f"Adapter module {module} has no LoRA-capable counterpart in the {info.architecture} base "
            f"{info.path.name}; only {', '.join(sorted(gguf.TENSOR_NAMES[t].split('.')[-1] for t in LORA_TARGETS))} are supported."
        )
    return found


def _adapter_label(provenance: dict[str, str]) -> str:
    return f"adapter (made for {provenance['base_model']})" if "base_model" in provenance else "adapter"


def build_tensors(adapter: Any, info: GGUFInfo) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """GGUF tensor name -> float32 array for every lora_a/lora_b, shape-checked against the base."""
    arch = ARCH_BY_NAME.get(info.architecture)
    if arch is None:
        raise GGUFError(f"Base architecture {info.architecture!r} is unknown to the gguf package.")
    pairs, provenance = gather(adapter)
    # Map as many blocks as the adapter names, so a too-deep layer is reported as missing in the base.
    n_blocks = max([info.n_layers or 0] + [int(i) + 1 for i in re.findall(r"layers\.(\d+)\.", " ".join(pairs))])
    tmap = gguf.get_tensor_name_map(arch, n_blocks)
    out: dict[str, np.ndarray] = {}
    for module, (a, b) in pairs.items():
        kind, base_name = _gguf_name(module, info, tmap)
        weight = base_name + WEIGHT
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
