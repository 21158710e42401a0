"""Ask the needle question through llama.cpp (the product path): question only with a document
adapter, the document in the prompt, or no context at all. Used by the tests and the benchmark."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .needle import QUESTION, extract_answer


@dataclass
class Reply:
    """A model answer and how long the first token took."""

    text: str
    answer: str
    ttft_s: float


def open_llama(gguf_path: str | Path, n_ctx: int = 8192, threads: int = 2):
    """A llama_cpp.Llama on ``gguf_path`` with an F32 KV cache (exact enough for parity)."""
    from converters.llama_models import open_model

    return open_model(gguf_path, n_ctx=n_ctx, n_threads=threads, n_batch=512, type_k=0, type_v=0,
                      seed=0)


def ask(llm, content: str = QUESTION, max_tokens: int = 8) -> Reply:
    """Greedy chat completion of one user message (rendered by the GGUF's chat template)."""
    t0 = time.perf_counter()
    stream = llm.create_chat_completion(messages=[{"role": "user", "content": content}],
                                        max_tokens=max_tokens, temperature=0.0, top_k=1, stream=True)
    text, ttft = "", None
    for part in stream:
        delta = part["choices"][0]["delta"].get("content") or ""
        if ttft is None and delta:
            ttft = time.perf_counter() - t0
        text += delta
    return Reply(text, extract_answer(text), ttft if ttft is not None else time.perf_counter() - t0)


def ask_with_adapter(llm, adapter, base_gguf: str | Path, content: str = QUESTION) -> tuple[Reply, float]:
    """Write ``adapter`` (a DocumentAdapter) as GGUF, load and activate it, ask, then free it.

    Returns the reply and the seconds spent converting and loading the adapter.
    """
    from converters import adapter_to_gguf
    from converters.llama_adapters import activate, free_adapter, load_adapter

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = adapter_to_gguf(adapter, Path(tmp) / "doc.gguf", base_gguf=base_gguf, outtype="f32")
        loaded = load_adapter(llm, path)
        activate(llm, loaded)
        load_s = time.perf_counter() - t0
        try:
            reply = ask(llm, content)
        finally:
            free_adapter(llm, loaded)
    return reply, load_s
