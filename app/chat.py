"""Chat engine on llama-cpp-python: one base GGUF, per-document GGUF adapters swapped in and out.

The base model is loaded once (on the first answer). Each document's adapter is loaded on first
use (validated by ``converters.llama``) and kept in a small LRU; evicted adapters are
freed safely (cleared before freed). Switching documents swaps the active adapter without
reloading the base and resets the KV cache. The chat template is the one the GGUF carries.
Several documents' adapters can be active at once (a list of files, each at scale 1: their
updates add up, as the chunks of one document do). ``base_loads`` and ``adapter_loads`` count the
expensive loads (tests and benchmarks read them).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

from app.errors import AdapterError, DocLoRAError, ModelError
from app.records import Message
from app.settings import Settings, context_refusal

StopFlag = threading.Event | Callable[[], bool] | None
AdapterFiles = str | list[str] | tuple[str, ...] | None
_BUSY_TIMEOUT_S = 300


def is_stopped(flag: StopFlag) -> bool:
    """True once a stop Event is set or a stop callable returns True."""
    if flag is None:
        return False
    return flag.is_set() if hasattr(flag, "is_set") else bool(flag())


def build_messages(past: list[Message], question: str) -> list[dict]:
    """Chat messages for the template: the replayed history, then the new question."""
    out = [{"role": m.role, "content": m.content} for m in past if m.content.strip()]
    return out + [{"role": "user", "content": question}]


class ChatEngine:
    """Generates answers with llama.cpp; thread-safe (one generation at a time)."""

    def __init__(self, gguf: str | Path, settings: Settings | None = None,
                 cache_size: int | None = None) -> None:
        self.gguf = Path(gguf)
        self.settings = settings or Settings()
        self.cache_size = cache_size  # None: settings.adapter_cache_size
        self.llm = None
        self.base_loads = 0
        self.adapter_loads = 0
        self._adapters: OrderedDict[str, object] = OrderedDict()  # path -> LoadedAdapter
        self._active: tuple[str, ...] = ()
        self._template = None  # the GGUF's chat template, built on first use
        # Guards every use of the llama context. Not reentrant on purpose: a streaming generator
        # may be advanced by different threads (Gradio), and a plain Lock may be released by any.
        self._busy = threading.Lock()

    def _acquire(self) -> None:
        if not self._busy.acquire(timeout=_BUSY_TIMEOUT_S):
            raise DocLoRAError("The model is still busy with another answer; try again when it "
                               "has finished.")

    @staticmethod
    def planned_device(settings: Settings) -> str:
        """The device llama.cpp will run on with these settings."""
        from app.devices import chat_device
        return chat_device(settings.device)

    @property
    def device(self) -> str:
        """"gpu" or "cpu"."""
        return self.planned_device(self.settings)

    @property
    def loaded(self) -> bool:
        """Whether the base model is in memory."""
        return self.llm is not None

    @property
    def n_ctx(self) -> int:
        """The context window in tokens (loads the base)."""
        return self._base().n_ctx()

    def _base(self):
        if self.llm is None:
            from converters.errors import GGUFError, LlamaHostError
            from converters.llama import open_model
            if not self.gguf.is_file():
                raise ModelError(f"The chat model {self.gguf} is missing; "
                                 "reinstall the model pair ('doclora models').")
            too_long = context_refusal(self.settings.n_ctx, self.gguf)
            if too_long:  # saved for another model: llama.cpp would take minutes and gigabytes
                raise too_long
            try:
                self.llm = open_model(self.gguf, n_ctx=self.settings.n_ctx,
                                      n_threads=self.settings.n_threads,
                                      n_gpu_layers=-1 if self.device == "gpu" else 0,
                                      extra_bufts=self.settings.llama_extra_bufts)
            except LlamaHostError as exc:
                raise ModelError(f"{str(exc).rstrip('.')} (e.g. 'doclora models pull NAME "
                                 "--quant F16').") from exc
            except (ValueError, RuntimeError, GGUFError) as exc:
                raise ModelError(f"The chat model {self.gguf.name} does not load ({exc}); "
                                 "reinstall the model pair.") from exc
            self.base_loads += 1
            self._adapters.clear()
            self._active, self._template = (), None
        return self.llm

    @staticmethod
    def _files(adapter_file: AdapterFiles) -> tuple[str, ...]:
        if adapter_file is None:
            return ()
        return (adapter_file,) if isinstance(adapter_file, str) else tuple(dict.fromkeys(adapter_file))

    @property
    def active(self) -> tuple[str, ...]:
        """The adapter files active now (empty: the base model alone)."""
        return self._active

    def use(self, adapter_file: AdapterFiles) -> None:
        """Make ``adapter_file`` (a file, a list of files all active together, or None: no adapter)
        the active set; resets the KV cache on change."""
        self._acquire()
        try:
            self._use(adapter_file)
        finally:
            self._busy.release()

    def _use(self, adapter_file: AdapterFiles) -> None:
        from converters.llama import activate_many, free_adapter
        llm = self._base()
        files = self._files(adapter_file)
        if files == self._active:
            return
        loaded = [self._load(file) for file in files]
        # Evict the least recently used, never one of the set about to be active.
        for old_file in list(self._adapters):
            keep = self.cache_size or self.settings.adapter_cache_size
            if len(self._adapters) <= max(keep, len(files)):
                break
            if old_file not in files:
                free_adapter(llm, self._adapters.pop(old_file))  # clears the context first
        activate_many(llm, loaded)  # also resets the KV cache
        self._active = files

    def _load(self, adapter_file: str):
        from converters.errors import AdapterLoadError
        from converters.llama import load_adapter
        loaded = self._adapters.get(adapter_file)
        if loaded is None:
            try:
                loaded = load_adapter(self.llm, adapter_file)
            except AdapterLoadError as exc:
                raise AdapterError(
                    f"This document's adapter does not fit the chat model "
                    f"{self.gguf.name}; remove the document and add it again.") from exc
            self.adapter_loads += 1
            self._adapters[adapter_file] = loaded
        self._adapters.move_to_end(adapter_file)
        return loaded

    def forget_adapter(self, adapter_file: str) -> None:
        """Free a document's adapter (after it was removed from the library)."""
        from converters.llama import activate, free_adapter
        self._acquire()
        try:
            loaded = self._adapters.pop(adapter_file, None)
            if self.llm is None or loaded is None:
                return
            if adapter_file in self._active:
                activate(self.llm, None)
                self._active = ()
            free_adapter(self.llm, loaded)
        finally:
            self._busy.release()

    def fit(self, messages: list[dict]) -> tuple[list[int], int]:
        """Drop the oldest turns until the prompt leaves room for an answer; returns (prompt
        token ids, max_tokens for the answer)."""
        self._acquire()
        try:
            return self._fit(messages)
        finally:
            self._busy.release()

    def _chat_template(self):
        """The chat template the GGUF carries (a ``converters.llama.ChatTemplate``)."""
        if self._template is None:
            from converters.errors import GGUFError
            from converters.llama import ChatTemplate
            try:
                self._template = ChatTemplate(self._base())
            except GGUFError as exc:
                raise ModelError(f"The chat model {self.gguf.name} carries no chat template; "
                                 "convert it again from its Hugging Face folder.") from exc
        return self._template

    def _prompt(self, messages: list[dict]) -> list[int]:
        """Token ids of the chat after an empty system turn, as the hypernetworks were trained
        (templates such as SmolLM2's add a default system prompt otherwise); templates that
        reject a system role (Gemma 2) get the messages alone."""
        template = self._chat_template()
        try:
            return template.tokens([{"role": "system", "content": ""}, *messages])
        except Exception:  # noqa: BLE001 - jinja raises its template's own exception types
            return template.tokens(messages)

    def _fit(self, messages: list[dict]) -> tuple[list[int], int]:
        n_ctx = self._base().n_ctx()
        reserve = max(8, min(self.settings.max_tokens, n_ctx // 4))
        prompt = self._prompt(messages)
        while len(messages) > 1 and len(prompt) + reserve > n_ctx:
            messages = messages[2 if len(messages) > 2 else 1:]  # a whole user/assistant turn
            prompt = self._prompt(messages)
        if len(prompt) + reserve > n_ctx:
            raise DocLoRAError(f"The question is too long for this model's window of {n_ctx} "
                               "tokens; shorten it.")
        # Decoding the token at position n_ctx has no KV slot: keep one spare.
        return prompt, min(self.settings.max_tokens, n_ctx - len(prompt) - 1)

    def generate(self, messages: list[dict], adapter_file: AdapterFiles,
                 stop: StopFlag = None) -> Iterator[str]:
        """Stream the answer to ``messages`` under the documents' adapters, piece by piece."""
        from converters.llama import stream_text
        self._acquire()
        try:
            self._use(adapter_file)
            prompt, max_tokens = self._fit(messages)
            s = self.settings
            yield from stream_text(self.llm, prompt, max_tokens=max_tokens, temperature=s.temperature,
                                   top_k=s.top_k, top_p=s.top_p, min_p=s.min_p, repeat_penalty=s.repeat_penalty,
                                   should_stop=lambda: is_stopped(stop))
        finally:
            self._busy.release()

    def close(self) -> None:
        """Free every adapter and the base model."""
        from converters.llama import activate, free_adapter
        self._acquire()
        try:
            if self.llm is not None:
                activate(self.llm, None)
                for loaded in self._adapters.values():
                    free_adapter(self.llm, loaded)
                self.llm.close()
            self._adapters.clear()
            self.llm, self._active = None, ()
        finally:
            self._busy.release()
