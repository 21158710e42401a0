"""The chat engine on the real llama.cpp with the demo pair's GGUF and real document adapters."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from app.api import DocLoRA
from app.chat import ChatEngine, build_messages
from app.errors import AdapterError, ModelError
from app.records import Message
from app.settings import Settings

from app.paths import demo_pair_dir

from app_helpers import QUESTION, demo_ready, make_pdf, needle_text


@pytest.fixture(scope="module")
def three_docs(tmp_path_factory):
    """Three real document adapters, built once for this module in a library of its own."""
    if not demo_ready():
        raise RuntimeError("the demo pair is missing; build it first (doclora train)")
    root = tmp_path_factory.mktemp("three_docs")
    saved = os.environ.get("DOCLORA_HOME")
    os.environ["DOCLORA_HOME"] = str(root / "home")
    try:
        app = DocLoRA()
        docs = [app.add(make_pdf(root / f"d{n}.pdf", [needle_text(n)]))
                for n in ("1111", "2929", "8080")]
        app.close()
    finally:
        if saved is None:
            os.environ.pop("DOCLORA_HOME", None)
        else:
            os.environ["DOCLORA_HOME"] = saved
    return demo_pair_dir() / "model.gguf", [d.adapter.file for d in docs]


def answer(engine, adapter, question=QUESTION, stop=None):
    return "".join(engine.generate([{"role": "user", "content": question}], adapter, stop=stop))


def test_lru_evicts_and_reloads_adapters_without_reloading_the_base(three_docs):
    gguf, (a, b, c) = three_docs
    engine = ChatEngine(gguf, Settings(), cache_size=2)
    assert "1111" in answer(engine, a)
    assert "2929" in answer(engine, b)
    assert "8080" in answer(engine, c)  # evicts a (freed after clearing the context)
    assert "1111" in answer(engine, a)  # loaded again
    assert "8080" in answer(engine, c)  # still cached
    assert engine.base_loads == 1 and engine.adapter_loads == 4
    assert list(engine._adapters) == [a, c]  # least recently used first
    engine.close()


def test_several_adapters_active_at_once_and_switching_sets_keeps_the_base(three_docs):
    """A list of files is activated together (plain sum, scale 1 each) from the LRU cache."""
    gguf, (a, b, c) = three_docs
    engine = ChatEngine(gguf, Settings(), cache_size=3)
    single = answer(engine, a)
    for selection in ([a, b], [b, c], [a, b, c], [a, b]):
        answer(engine, selection)
        assert engine.active == tuple(selection)
    assert engine.adapter_loads == 3  # each file loaded once, then taken from the cache
    assert answer(engine, a) == single  # back to one document: its answer, bit for bit
    assert engine.base_loads == 1
    engine.close()


def test_a_set_larger_than_the_cache_is_active_whole_and_the_cache_shrinks_after(three_docs):
    gguf, (a, b, c) = three_docs
    engine = ChatEngine(gguf, Settings(), cache_size=1)
    answer(engine, [a, b, c])
    assert list(engine._adapters) == [a, b, c]  # never evicts a member of the active set
    answer(engine, b)
    assert list(engine._adapters) == [b] and engine.active == (b,)
    engine.close()


def test_forgetting_the_active_adapter_falls_back_to_the_base(three_docs):
    gguf, (a, b, _) = three_docs
    engine = ChatEngine(gguf, Settings())
    base_answer = answer(engine, None)
    assert "1111" in answer(engine, a)
    engine.forget_adapter(a)
    assert answer(engine, None) == base_answer
    assert "2929" in answer(engine, b)
    engine.close()


def test_switching_resets_the_kv_cache(three_docs):
    """The same prompt under another adapter must not reuse the previous adapter's cache."""
    gguf, (a, b, _) = three_docs
    engine = ChatEngine(gguf, Settings())
    answers = [answer(engine, x) for x in (a, b, a, b)]
    assert "1111" in answers[0] and "2929" in answers[1]
    assert answers[0] == answers[2] and answers[1] == answers[3]
    engine.close()


def test_history_is_trimmed_to_the_window(three_docs):
    gguf, (a, _, _) = three_docs
    engine = ChatEngine(gguf, Settings(max_tokens=32))
    past = []
    for i in range(40):
        past += [Message(2 * i, 1, "user", f"question number {i} about the harbour", [], ""),
                 Message(2 * i + 1, 1, "assistant", "4821", [], "")]
    prompt, max_tokens = engine.fit(build_messages(past, QUESTION))
    assert len(prompt) + max_tokens < engine.n_ctx and 0 < max_tokens <= 32
    text = engine.llm.detokenize(prompt).decode()
    assert text.count("question number") < 40 and "question number 39" in text
    assert text.rstrip().endswith(QUESTION) or QUESTION in text[-200:]
    assert "1111" in "".join(engine.generate(build_messages(past, QUESTION), a))
    engine.close()


def test_a_too_long_question_is_a_clear_error(three_docs):
    gguf, (a, _, _) = three_docs
    engine = ChatEngine(gguf, Settings())
    with pytest.raises(Exception, match="too long for this model's window"):
        list(engine.generate([{"role": "user", "content": "word " * 2000}], a))
    engine.close()


def test_an_adapter_that_does_not_fit_is_refused(three_docs, tmp_path):
    gguf, _ = three_docs
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(gguf.read_bytes()[:4096])  # truncated: not an adapter llama.cpp accepts
    engine = ChatEngine(gguf, Settings())
    with pytest.raises(AdapterError, match="does not fit the chat model"):
        answer(engine, str(bad))
    assert engine.adapter_loads == 0
    engine.close()


def test_stop_ends_generation(three_docs):
    gguf, (a, _, _) = three_docs
    engine = ChatEngine(gguf, Settings(max_tokens=64))
    stop = threading.Event()
    stop.set()
    assert answer(engine, a, "Tell me a long story about the harbour.", stop=stop) == ""
    engine.close()


def crash_with_extra_bufts(monkeypatch, tmp_path, also_without: bool = False) -> None:
    """Play a host whose AMX kernels fault: the probe's child dies with SIGSEGV when the extra
    buffer types are on (and without them too, if asked), in a cache of the test's own."""
    from converters import llama_host
    real = llama_host.probe_command
    segfault = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    monkeypatch.setenv("DOCLORA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(llama_host.EXTRA_BUFTS_ENV, raising=False)
    monkeypatch.setattr(llama_host, "probe_command", lambda source, gguf, on: (
        segfault if on or also_without else real(source, gguf, on)))


def test_quantized_model_answers_on_a_host_whose_extra_kernels_crash(three_docs, tmp_path,
                                                                     monkeypatch):
    from converters import quantize
    from converters.llama_host import cached_decision
    gguf, (a, b, _) = three_docs
    q8 = quantize(gguf, tmp_path / "demo-q8_0.gguf", "Q8_0")
    crash_with_extra_bufts(monkeypatch, tmp_path)
    engine = ChatEngine(q8, Settings())
    assert "1111" in answer(engine, a)  # the document's adapter on the Q8_0 base
    assert "2929" in answer(engine, b)
    assert engine.llm.model_params.use_extra_bufts is False
    assert cached_decision() == "off"
    engine.close()
    engine = ChatEngine(q8, Settings(llama_extra_bufts="on"))  # the setting overrides the probe
    engine.n_ctx  # loads the base; no decode: on a real faulty host that would crash
    assert engine.llm.model_params.use_extra_bufts is True
    engine.close()


def test_quantized_model_on_a_host_where_llama_cpp_always_crashes(three_docs, tmp_path,
                                                                  monkeypatch):
    from converters import quantize
    gguf, (a, _, _) = three_docs
    q8 = quantize(gguf, tmp_path / "demo-q8_0.gguf", "Q8_0")
    crash_with_extra_bufts(monkeypatch, tmp_path, also_without=True)
    engine = ChatEngine(q8, Settings())
    with pytest.raises(ModelError, match=r"^llama.cpp crashes on this computer's CPU with quantized "
                       r"models such as demo-q8_0.gguf, even without its extra CPU kernels; use an "
                       r"F16 or F32 model \(e.g. 'doclora models pull NAME --quant F16'\).$"):
        answer(engine, a)
    assert not engine.loaded


def test_the_extra_bufts_setting_reaches_the_engine(demo_pair):
    from app.errors import DocLoRAError
    app = DocLoRA()
    app.engine.n_ctx  # loads the base with the default "auto"
    assert app.engine.llm.model_params.use_extra_bufts is True  # F32: nothing to decide
    app.configure(llama_extra_bufts="off")  # reloads the base
    app.engine.n_ctx
    assert app.engine.llm.model_params.use_extra_bufts is False
    with pytest.raises(DocLoRAError, match="llama_extra_bufts must be one of auto, on, off, not 'fast'"):
        app.configure(llama_extra_bufts="fast")
    assert app.settings.llama_extra_bufts == "off"
    app.close()
