"""GGUF -> Hugging Face folder: the weights a context encoder needs, taken from the chat model itself.

transformers dequantizes the GGUF's tensors (Q4_1, Q8_0, ...) to float32 and rebuilds the config,
tokenizer and chat template, so the encoder and llama.cpp's chat model hold the same weights.
"""

from __future__ import annotations

from pathlib import Path

from converters.errors import ConversionError
from converters.files import atomic_write


def drop_gguf_copy(folder: Path) -> bool:
    """Remove ``folder/tokenizer.model`` when it is a GGUF: transformers saves a tokenizer read from a GGUF
    with the GGUF itself under that name (the whole model again, and no SentencePiece file, so llama.cpp's
    HF converter fails on the folder); ``tokenizer.json`` holds the tokenizer. True when one was removed."""
    stray = Path(folder) / "tokenizer.model"
    if not stray.is_file():
        return False
    with open(stray, "rb") as f:
        if f.read(4) != b"GGUF":
            return False
    stray.unlink()
    return True


def gguf_to_hf(gguf_path: str | Path, out_dir: str | Path, dtype: str = "float32") -> Path:
    """Write ``out_dir`` (config, model.safetensors, tokenizer, chat template) from a GGUF file.

    Written atomically (``converters.files``), so ``out_dir`` is whole or absent.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    if not gguf_path.is_file():
        raise ConversionError(f"The GGUF file {gguf_path} does not exist.")
    if out_dir.exists():
        raise ConversionError(f"{out_dir} already exists; remove it or choose another folder.")

    def convert(tmp: Path) -> None:
        tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                     dtype=getattr(torch, dtype))
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        drop_gguf_copy(tmp)

    try:
        return atomic_write(out_dir, convert, replace=False)
    except FileExistsError as exc:
        raise ConversionError(f"{out_dir} already exists; remove it or choose another folder.") from exc
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        raise ConversionError(f"Could not read {gguf_path.name} as a Hugging Face model ({exc}).") from exc
