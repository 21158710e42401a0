"""Doc-to-LoRA hypernetwork: turn a document into a LoRA for the base model in one forward pass.

    from hypernet import load_hypernet
    hn = load_hypernet("path/to/checkpoint")          # reference pytorch_model.bin or our folder
    adapter = hn.internalize(text)                      # -> DocumentAdapter
    adapter.save_peft("out/"); adapter.save("doc.safetensors")
"""

from hypernet.adapter import DocumentAdapter
from hypernet.errors import (
    BaseModelMismatchError,
    BaseModelNotFoundError,
    CheckpointFormatError,
    ChunkingError,
    HypernetError,
    UnsafeCheckpointError,
)
from hypernet.internalize import Hypernet, load_hypernet

__all__ = [
    "BaseModelMismatchError",
    "BaseModelNotFoundError",
    "CheckpointFormatError",
    "ChunkingError",
    "DocumentAdapter",
    "Hypernet",
    "HypernetError",
    "UnsafeCheckpointError",
    "load_hypernet",
]
