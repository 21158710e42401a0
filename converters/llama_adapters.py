"""Load, switch and free LoRA adapters on a llama_cpp.Llama without crashing the process.

llama.cpp hazards this module guards against (see shared/design/gguf-and-llamacpp.md):
- a bad adapter file passed as `Llama(lora_path=...)` segfaults on the first decode, so every file
  is validated with `llama_adapter_lora_init` (NULL -> AdapterLoadError);
- freeing an adapter that is still set on the context segfaults the next decode, so the context's
  adapter list is cleared before a free;
- adapters are owned by the model and deleted with it, so an adapter is never freed after its
  model (that would be a double free);
- the KV cache holds results computed under the previous adapter, so every switch resets it.
"""

from __future__ import annotations

import ctypes
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp

from converters.errors import AdapterLoadError, GGUFError
from converters.gguf_info import read_gguf_info

# Registry: which adapters (and scales) are active on each Llama, as set through `activate`.
_ACTIVE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(eq=False)
class LoadedAdapter:
    """A LoRA adapter loaded into one Llama's model."""

    path: Path
    pointer: object = field(repr=False)
    model_pointer: object = field(repr=False)
    freed: bool = False


def _model_alive(llm: llama_cpp.Llama) -> bool:
    model = getattr(llm, "_model", None)
    return model is not None and getattr(model, "model", None) is not None


def _set_adapters(llm: llama_cpp.Llama, adapters: list[LoadedAdapter],
                  scales: list[float]) -> None:
    n = len(adapters)
    if n == 0:
        rc = llama_cpp.llama_set_adapters_lora(llm.ctx, None, 0, None)
    else:
        pointers = (llama_cpp.llama_adapter_lora_p_ctypes * n)(*[a.pointer for a in adapters])
        values = (ctypes.c_float * n)(*scales)
        rc = llama_cpp.llama_set_adapters_lora(llm.ctx, pointers, n, values)
    if rc != 0:
        raise AdapterLoadError(f"llama.cpp refused to set the adapter (code {rc}); reload the model.")
    llm.reset()  # the KV cache was computed under the previous adapter


def load_adapter(llm: llama_cpp.Llama, path: str | Path) -> LoadedAdapter:
    """Load a LoRA GGUF into llm's model; AdapterLoadError if llama.cpp rejects it."""
    path = Path(path)
    if not _model_alive(llm):
        raise AdapterLoadError("The model is closed; load the model again before loading an adapter.")
    try:
        info = read_gguf_info(path)
    except GGUFError as exc:
        raise AdapterLoadError(f"Cannot load adapter {path.name}: {exc}") from exc
    if info.metadata.get("general.type") != "adapter":
        raise AdapterLoadError(
            f"{path.name} is not a LoRA adapter GGUF (general.type is "
            f"{info.metadata.get('general.type')!r}); write it with adapter_to_gguf."
        )
    pointer = llama_cpp.llama_adapter_lora_init(llm.model, str(path).encode("utf-8"))
    if not pointer:
        raise AdapterLoadError(
            f"llama.cpp could not load adapter {path.name} (architecture {info.architecture!r}); "
            "it was probably written for another base model: convert the document again."
        )
    return LoadedAdapter(path=path, pointer=pointer, model_pointer=llm.model)


def _check_owner(llm: llama_cpp.Llama, adapter: LoadedAdapter) -> None:
    if adapter.freed:
        raise AdapterLoadError(f"Adapter {adapter.path.name} was already freed; load it again.")
    if not _model_alive(llm) or adapter.model_pointer != llm.model:
        raise AdapterLoadError(
            f"Adapter {adapter.path.name} was loaded into another model; load it into this one."
        )


def activate(llm: llama_cpp.Llama, adapter: LoadedAdapter | None, scale: float = 1.0) -> None:
    """Make `adapter` the only active adapter at `scale` (None clears); resets the KV cache."""
    activate_many(llm, [] if adapter is None else [adapter], [scale])


def activate_many(llm: llama_cpp.Llama, adapters: list[LoadedAdapter],
                  scales: list[float] | None = None) -> None:
    """Make `adapters` the active list, each at its scale (default 1: their updates add up);
    an empty list clears. Resets the KV cache."""
    scales = [1.0] * len(adapters) if scales is None else list(scales)[:len(adapters)]
    if len(scales) != len(adapters):
        raise ValueError(f"{len(adapters)} adapters but {len(scales)} scales")
    for adapter in adapters:
        _check_owner(llm, adapter)
    _set_adapters(llm, list(adapters), scales)
    if adapters:
        _ACTIVE[llm] = (list(adapters), scales)
    else:
        _ACTIVE.pop(llm, None)


def active_adapters(llm: llama_cpp.Llama) -> list[LoadedAdapter]:
    """The adapters set through `activate`/`activate_many` on llm (empty: none)."""
    entry = _ACTIVE.get(llm)
    return list(entry[0]) if entry else []


def active_adapter(llm: llama_cpp.Llama) -> LoadedAdapter | None:
    """The first adapter set through `activate` on llm, or None."""
    active = active_adapters(llm)
    return active[0] if active else None


def free_adapter(llm: llama_cpp.Llama, adapter: LoadedAdapter) -> None:
    """Free an adapter: clear the context's adapters first, then free; idempotent.

    The other adapters that were active stay active. If the model is already closed,
    llama.cpp freed the adapter with it and nothing is done here.
    """
    if adapter.freed:
        return
    if not _model_alive(llm) or adapter.model_pointer != llm.model:
        adapter.freed = True  # llama.cpp deletes a model's adapters together with the model
        return
    entry = _ACTIVE.get(llm)
    # Clear unconditionally: a list set outside `activate` may still hold this adapter.
    _set_adapters(llm, [], [])
    _ACTIVE.pop(llm, None)
    llama_cpp.llama_adapter_lora_free(adapter.pointer)
    adapter.freed = True
    if entry is not None:
        kept = [(a, s) for a, s in zip(*entry) if a is not adapter]
        if kept:
            activate_many(llm, [a for a, _ in kept], [s for _, s in kept])
