"""Read the header of a GGUF file (architecture, layers, tensor shapes, metadata)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from converters.errors import GGUFError

CACHE_SIZE = 16
_CACHE: dict[tuple[str, int, int], "GGUFInfo"] = {}  # registry: (path, size, mtime_ns) -> info

# Arrays longer than this (tokenizer vocabularies, merges) are left out of `metadata`.
MAX_ARRAY_ITEMS = 1024


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF file declares. Tensor shapes are in PyTorch order (rows first),
    i.e. the reverse of GGUF's `ne`: a (d_out, d_in) weight reads as (d_out, d_in)."""

    path: Path
    architecture: str
    n_layers: int | None
    file_type: str | None
    tensors: dict[str, tuple[int, ...]] = field(default_factory=dict)
    tensor_types: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """One metadata value; `{arch}` in the key is replaced by the architecture."""
        return self.metadata.get(key.format(arch=self.architecture), default)


def _field_value(f: gguf.ReaderField) -> Any:
    if not f.types:
        return None
    if f.types[0] == gguf.GGUFValueType.ARRAY and len(f.data) > MAX_ARRAY_ITEMS:
        return None
    value = f.contents()
    return value.item() if hasattr(value, "item") else value


def read_gguf_info(path: str | Path) -> GGUFInfo:
    """Read a GGUF file's header; GGUFError if it is missing, not GGUF or truncated.

    Results are cached per (path, size, mtime): GGUFReader parses every metadata array eagerly,
    which takes seconds for a 150k-token vocabulary, and a base model is read once per adapter.
    """
    path = Path(path)
    if not path.is_file():
        raise GGUFError(f"GGUF file not found: {path}; check the path.")
    st = path.stat()
    if st.st_size == 0:
        raise GGUFError(f"{path.name} is empty (0 bytes); convert or download it again.")
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _read(path)
    return _CACHE[key]


def _read(path: Path) -> GGUFInfo:
    try:
        reader = gguf.GGUFReader(path)
        metadata: dict[str, Any] = {}
        for name, f in reader.fields.items():
            if name.startswith("GGUF."):  # the reader's own header pseudo-fields
                continue
            value = _field_value(f)
            if value is not None:
                metadata[name] = value
        tensors = {t.name: tuple(int(n) for n in reversed(t.shape)) for t in reader.tensors}
        tensor_types = {t.name: t.tensor_type.name for t in reader.tensors}
    except GGUFError:
        raise
    except Exception as exc:  # the reader raises ValueError/IndexError/... on bad bytes
        raise GGUFError(
            f"{path.name} is not a readable GGUF file ({exc}); it may be truncated or another "
            "format: convert the model again."
        ) from exc
    arch = metadata.get(gguf.Keys.General.ARCHITECTURE)
    if not isinstance(arch, str):
        raise GGUFError(f"{path.name} has no general.architecture key; it is not a model or adapter GGUF.")
    n_layers = metadata.get(gguf.Keys.LLM.BLOCK_COUNT.format(arch=arch))
    file_type = metadata.get(gguf.Keys.General.FILE_TYPE)
    if isinstance(file_type, int):
        try:
            file_type = gguf.LlamaFileType(file_type).name
        except ValueError:
            file_type = str(file_type)
    return GGUFInfo(
        path=path,
        architecture=arch,
        n_layers=int(n_layers) if n_layers is not None else None,
        file_type=file_type,
        tensors=tensors,
        tensor_types=tensor_types,
        metadata=metadata,
    )
