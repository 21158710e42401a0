"""Bridges of DocLoRA: PDF -> text, HF model -> GGUF, document LoRA -> GGUF adapter.

Heavy libraries (pymupdf, gguf, llama_cpp, torch) load only with the module that needs them:
``converters.errors`` imports without them, and the names below load on first use.
"""

from importlib import import_module

from converters.errors import ConversionError
from converters.hf_to_gguf import hf_to_gguf, quantize  # rebinds the name from the submodule

_HOMES = {
    "Document": "converters.pdf",
    "Page": "converters.pdf",
    "PdfFile": "converters.pdf",
    "pdf_to_text": "converters.pdf",
    "read_pdf": "converters.pdf",
    "GGUFInfo": "converters.gguf_info",
    "read_gguf_info": "converters.gguf_info",
    "adapter_to_gguf": "converters.lora_to_gguf",
}

__all__ = sorted(["ConversionError", "hf_to_gguf", "quantize", *_HOMES])


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'converters' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
