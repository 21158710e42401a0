"""The one module that drives llama.cpp, and the GGUF tensor names DocLoRA uses.

- Names: ``tensor_name`` and ``lora_names`` build ``blk.3.ffn_down.weight`` and its
  ``.lora_a``/``.lora_b`` from the gguf package's tables.
- Opening: ``open_model``, with llama.cpp's extra CPU buffer types decided per host
  (``converters.llama_host``).
- Chatting: ``ChatTemplate`` renders messages with the template the GGUF carries; ``stream_text``
  generates text pieces until the end of the turn.
- Adapters: ``load_adapter``, ``activate``, ``activate_many``, ``free_adapter``.

llama.cpp hazards the adapter functions guard against (see shared/design/gguf-and-llamacpp.md):
- a bad adapter file passed as `Llama(lora_path=...)` segfaults on the first decode, so every file
  is validated with `llama_adapter_lora_init` (NULL -> AdapterLoadError);
- freeing an adapter that is still set on the context segfaults the next decode, so the context's
  adapter list is cleared before a free;
- adapters are owned by the model and deleted with it, so an adapter is never freed after its
  model (that would be a double free);
- the KV cache holds results computed under the previous adapter, so every switch resets it.

llama_cpp is imported inside the functions, so that writing adapters does not load llama.cpp.
"""

from __future__ import annotations

import codecs
import ctypes
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import gguf

from converters.errors import AdapterLoadError, GGUFError
from converters.gguf_info import read_gguf_info
from converters.llama_host import use_extra_bufts

if TYPE_CHECKING:
    import llama_cpp

# Suffixes llama.cpp gives a weight and the two halves of its LoRA (llama-adapter.cpp reads
# "<weight>.lora_a"/".lora_b"; gguf's GGUFWriter pairs tensors by the same suffixes). The gguf
# package has tables for the stems ("blk.{bid}.ffn_down") but not for these.
WEIGHT, LORA_A, LORA_B = ".weight", ".lora_a", ".lora_b"

_patch_lock = threading.Lock()  # guards the brief swap of llama_model_default_params
# Registry: which adapters (and scales) are active on each Llama, as set through `activate`.
_ACTIVE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# -- GGUF names -----------------------------------------------------------------------------


def tensor_name(kind: gguf.MODEL_TENSOR, bid: int | None = None) -> str:
    """The GGUF name of a weight, from gguf's TENSOR_NAMES: (FFN_DOWN, 3) -> "blk.3.ffn_down.weight"."""
    return gguf.TENSOR_NAMES[kind].format(bid=bid) + WEIGHT


def lora_names(weight: str) -> tuple[str, str]:
    """The GGUF names of the LoRA halves of ``weight``: ("<weight>.lora_a", "<weight>.lora_b")."""
    return weight + LORA_A, weight + LORA_B


# -- opening models -------------------------------------------------------------------------


def open_model(path: str | Path, *, n_ctx: int, n_threads: int | None = None,
               extra_bufts: str = "auto", verbose: bool = False, **llama_kwargs) -> llama_cpp.Llama:
    """Open a GGUF as ``llama_cpp.Llama``; ``extra_bufts``: "auto" (per host), "on" or "off".

    ``n_ctx`` 0 is the model's training window; other keyword arguments go to
    ``llama_cpp.Llama``. Raises LlamaHostError when the model is
    quantized and llama.cpp crashes on this host even without its extra buffer types.
    """
    use = use_extra_bufts(path, extra_bufts, vocab_only=llama_kwargs.get("vocab_only", False))
    return _construct(Path(path), use, n_ctx=n_ctx, n_threads=n_threads, verbose=verbose,
                      **llama_kwargs)


def _construct(path: Path, extra_bufts: bool, **llama_kwargs) -> llama_cpp.Llama:
    import llama_cpp
    from llama_cpp import llama as llama_module

    if extra_bufts:
        return llama_cpp.Llama(str(path), **llama_kwargs)
    # Llama(...) takes no use_extra_bufts (llama-cpp-python 0.3.36): it starts from
    # llama_model_default_params(), so hand it defaults with that one field off while it builds.
    lib = llama_module.llama_cpp
    defaults = lib.llama_model_default_params

    def without_extra_bufts():
        params = defaults()
        params.use_extra_bufts = False
        return params

    with _patch_lock:
        lib.llama_model_default_params = without_extra_bufts
        try:
            llm = llama_cpp.Llama(str(path), **llama_kwargs)
        finally:
            lib.llama_model_default_params = defaults
    if uses_extra_bufts(llm):  # a llama-cpp-python that no longer calls it
        llm.close()
        raise RuntimeError("llama-cpp-python ignored use_extra_bufts=False; pin version 0.3.36.")
    return llm


def uses_extra_bufts(llm: llama_cpp.Llama) -> bool:
    """Whether llm was opened with llama.cpp's extra CPU buffer types (AMX, repacked weights)."""
    return bool(llm.model_params.use_extra_bufts)


def supports_gpu_offload() -> bool:
    """Whether this llama.cpp build can run layers on a GPU."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def state_bytes(llm: llama_cpp.Llama) -> int:
    """Bytes of llm's context state: the KV cache of the used cells plus the logits."""
    import llama_cpp

    return int(llama_cpp.llama_state_get_size(llm.ctx))


# -- chatting -------------------------------------------------------------------------------


def _token_text(llm: llama_cpp.Llama, token: int) -> str:
    return llm._model.token_get_text(token) if token != -1 else ""


class ChatTemplate:
    """The chat template a GGUF carries (``tokenizer.chat_template``), rendered for one model."""

    def __init__(self, llm: llama_cpp.Llama) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = llm.metadata.get(gguf.Keys.Tokenizer.CHAT_TEMPLATE)
        if not template:
            raise GGUFError(f"The model carries no chat template ({gguf.Keys.Tokenizer.CHAT_TEMPLATE}); "
                            "convert it again from its Hugging Face folder.")
        self.llm = llm
        self._format = Jinja2ChatFormatter(template, eos_token=_token_text(llm, llm.token_eos()),
                                           bos_token=_token_text(llm, llm.token_bos()))

    def render(self, messages: list[dict]) -> str:
        """The prompt text of ``messages`` (role/content dicts), ending in the assistant's turn;
        the template's own exceptions (e.g. a role it rejects) pass through."""
        return self._format(messages=messages).prompt

    def tokens(self, messages: list[dict]) -> list[int]:
        """The prompt token ids of ``messages``, special tokens parsed, BOS added unless the
        template writes it."""
        result = self._format(messages=messages)
        return self.llm.tokenize(result.prompt.encode(), add_bos=not result.added_special,
                                 special=True)


def stream_text(llm: llama_cpp.Llama, prompt: list[int], *, max_tokens: int,
                temperature: float, top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05,
                repeat_penalty: float = 1.0, should_stop: Callable[[], bool] | None = None) -> Iterator[str]:
    """Generate after ``prompt`` and yield the text piece by piece (whole UTF-8 characters) until
    an end-of-generation token, ``max_tokens`` tokens or ``should_stop()``; temperature 0 is greedy."""
    import llama_cpp

    vocab = llm._model.vocab
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tokens = llm.generate(prompt, temp=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                          repeat_penalty=repeat_penalty)
    n = 0
    try:
        for token in tokens:
            if llama_cpp.llama_vocab_is_eog(vocab, token) or (should_stop and should_stop()):
                break
            piece = decoder.decode(llm.detokenize([token]))
            if piece:
                yield piece
            n += 1
            if n >= max_tokens:
                break
    finally:
        tokens.close()


# -- adapters -------------------------------------------------------------------------------


@dataclass(eq=False)
class LoadedAdapter:
    """A LoRA adapter loaded into one Llama's model."""

    path: Path
    pointer: object = field(repr=False)
    model_pointer: object = field(repr=False)
    freed: bool = False


def _model_alive(llm: llama_cpp.Llama) -> bool:
    """Whether llm's model is still open (``Llama.close`` drops it, and its adapters with it)."""
    model = getattr(llm, "_model", None)
    return model is not None and getattr(model, "model", None) is not None


def _set_adapters(llm: llama_cpp.Llama, adapters: list[LoadedAdapter],
                  scales: list[float]) -> None:
    import llama_cpp

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
    import llama_cpp

    path = Path(path)
    if not _model_alive(llm):
        raise AdapterLoadError("The model is closed; load the model again before loading an adapter.")
    try:
        info = read_gguf_info(path)
    except GGUFError as exc:
        raise AdapterLoadError(f"Cannot load adapter {path.name}: {exc}") from exc
    kind = info.metadata.get(gguf.Keys.General.TYPE)
    if kind != gguf.GGUFType.ADAPTER:
        raise AdapterLoadError(
            f"{path.name} is not a LoRA adapter GGUF ({gguf.Keys.General.TYPE} is "
            f"{kind!r}); write it with adapter_to_gguf."
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


def free_adapter(llm: llama_cpp.Llama, adapter: LoadedAdapter) -> None:
    """Free an adapter: clear the context's adapters first, then free; idempotent.

    The other adapters that were active stay active. If the model is already closed,
    llama.cpp freed the adapter with it and nothing is done here.
    """
    import llama_cpp

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
