"""GGUF -> Hugging Face folder: the weights a context encoder needs, taken from the chat model itself.

transformers dequantizes the GGUF's tensors (Q4_1, Q8_0, ...) to float32 and rebuilds the config,
tokenizer and chat template, so the encoder and llama.cpp's chat model hold the same weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from converters.errors import ConversionError


def gguf_to_hf(gguf_path: str | Path, out_dir: str | Path, dtype: str = "float32") -> Path:
    """Write ``out_dir`` (config, model.safetensors, tokenizer, chat template) from a GGUF file.

    Written into a sibling staging folder and renamed into place, so ``out_dir`` is whole or absent.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    if not gguf_path.is_file():
        raise ConversionError(f"The GGUF file {gguf_path} does not exist.")
    if out_dir.exists():
        raise ConversionError(f"{out_dir} already exists; remove it or choose another folder.")
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                     dtype=getattr(torch, dtype))
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConversionError(f"Could not read {gguf_path.name} as a Hugging Face model ({exc}).") from exc
    tmp.rename(out_dir)
    return out_dir
