"""Bridges of DocLoRA: PDF -> text, HF model -> GGUF, document LoRA -> GGUF adapter.

Heavy libraries (llama_cpp, torch) are imported inside the functions that need them.
"""

from converters.errors import ConversionError
from converters.gguf_info import GGUFInfo, read_gguf_info
from converters.hf_to_gguf import hf_to_gguf, quantize  # rebinds the name from the submodule
from converters.lora_to_gguf import adapter_to_gguf
from converters.pdf import Document, Page, pdf_to_text

__all__ = [
    "ConversionError", "Document", "GGUFInfo", "Page", "adapter_to_gguf", "hf_to_gguf", "pdf_to_text",
    "quantize", "read_gguf_info",
]
