"""Bridges of DocLoRA: PDF -> text, HF model -> GGUF, document LoRA -> GGUF adapter.

Names are imported lazily, so `import converters` stays cheap (no pymupdf/llama_cpp load).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "pdf_to_text": "converters.pdf",
    "Document": "converters.pdf",
    "Page": "converters.pdf",
    "hf_to_gguf": "converters.hf_to_gguf",
    "quantize": "converters.hf_to_gguf",
    "adapter_to_gguf": "converters.lora_to_gguf",
    "read_gguf_info": "converters.gguf_info",
    "ConversionError": "converters.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'converters' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
