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
    from converters.llama import open_model

    return open_model(gguf_path, n_ctx=n_ctx, n_threads=threads, n_batch=512, type_k=0, type_v=0,
                      seed=0)


def ask(llm, content: str = QUESTION, max_tokens: int = 8) -> Reply:
    """Greedy answer to one user message (rendered by the GGUF's chat template)."""
    from converters.llama import ChatTemplate, stream_text

    template = ChatTemplate(llm)  # compiled outside the timing, as llama_cpp.Llama does at load
    t0 = time.perf_counter()
    prompt = template.tokens([{"role": "user", "content": content}])
    text, ttft = "", None
    for piece in stream_text(llm, prompt, max_tokens=max_tokens, temperature=0.0, top_k=1):
        if ttft is None:
            ttft = time.perf_counter() - t0
        text += piece
    return Reply(text, extract_answer(text), ttft if ttft is not None else time.perf_counter() - t0)


def ask_with_adapter(llm, adapter, base_gguf: str | Path, content: str = QUESTION) -> tuple[Reply, float]:
    """Write ``adapter`` (a DocumentAdapter) as GGUF, load and activate it, ask, then free it.

    Returns the reply and the seconds spent converting and loading the adapter.
    """
    from converters import adapter_to_gguf
    from converters.llama import activate, free_adapter, load_adapter

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
