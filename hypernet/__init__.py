"""Doc-to-LoRA hypernetwork: turn a document into a LoRA for the base model in one forward pass.

    from hypernet import load_hypernet
    hn = load_hypernet("path/to/checkpoint")          # reference pytorch_model.bin or our folder
    adapter = hn.internalize(text)                      # -> DocumentAdapter
    adapter.save_peft("out/"); adapter.save("doc.safetensors")

The names below load on first use, so ``hypernet.errors`` imports without torch.
"""

from importlib import import_module

_HOMES = {
    "AdapterFormatError": "hypernet.errors",
    "BaseModelMismatchError": "hypernet.errors",
    "BaseModelNotFoundError": "hypernet.errors",
    "CheckpointFormatError": "hypernet.errors",
    "ChunkingError": "hypernet.errors",
    "HypernetError": "hypernet.errors",
    "UnsafeCheckpointError": "hypernet.errors",
    "DocumentAdapter": "hypernet.adapter",
    "Hypernet": "hypernet.internalize",
    "load_hypernet": "hypernet.internalize",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'hypernet' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
