"""llama_host: the per-host decision on llama.cpp's extra buffer types, probed in a child process.

A host whose AMX kernels fault is played by a probe command that kills itself with SIGSEGV when
the extra buffer types are on, so these tests need no such host.
"""

from __future__ import annotations

import json
import sys

import pytest

from app.paths import demo_pair_dir
from converters import llama_host, quantize
from converters.errors import LlamaHostError
from converters.llama import open_model

DEMO_GGUF = demo_pair_dir() / "model.gguf"
SEGFAULT = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"


@pytest.fixture(scope="module")
def demo_q8(tmp_path_factory):
    """The demo model quantized to Q8_0 (what crashes on a faulty AMX host)."""
    return quantize(DEMO_GGUF, tmp_path_factory.mktemp("q8") / "demo-q8_0.gguf", "Q8_0")


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache dir of the test's own, so no decision of the session's real probe applies."""
    monkeypatch.setenv("DOCLORA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(llama_host.EXTRA_BUFTS_ENV, raising=False)
    return tmp_path / "cache"


def faulty_probe(monkeypatch, crash_without_extra_bufts: bool = False) -> list[bool]:
    """Make the probe's child crash with extra buffer types (and without, if asked); returns the
    list of probes run (True: with extra buffer types)."""
    real, runs = llama_host.probe_command, []

    def command(source, gguf, extra_bufts):
        runs.append(extra_bufts)
        if extra_bufts or crash_without_extra_bufts:
            return [sys.executable, "-c", SEGFAULT]
        return real(source, gguf, extra_bufts)  # the real safe-path probe

    monkeypatch.setattr(llama_host, "probe_command", command)
    return runs


def no_probe(monkeypatch) -> None:
    def command(*args):
        raise AssertionError("the host was probed again")
    monkeypatch.setattr(llama_host, "probe_command", command)


def decode_one(llm) -> int:
    return next(llm.generate(llm.tokenize(b"The special magic number is"), top_k=1, temp=0.0))


def test_faulty_host_opens_quantized_models_without_extra_bufts_and_remembers(
        demo_q8, own_cache, monkeypatch):
    runs = faulty_probe(monkeypatch)
    llm = open_model(demo_q8, n_ctx=64)
    assert runs == [True, False]  # crashed with them, then the safe path decoded
    assert llm.model_params.use_extra_bufts is False
    decode_one(llm)
    llm.close()
    saved = json.loads(llama_host.decisions_path().read_text())
    key, about = llama_host.host_key()
    assert saved[key]["extra_bufts"] == "off"
    assert saved[key]["detail"] == "with extra buffer types: killed by SIGSEGV; without: decoded"
    assert saved[key]["cpu"] == about["cpu"] and saved[key]["llama_cpp"] == about["llama_cpp"]
    assert list(own_cache.iterdir()) == [llama_host.decisions_path()]  # probe files removed

    no_probe(monkeypatch)  # the decision is cached: opening again probes nothing
    llm = open_model(demo_q8, n_ctx=64)
    assert llm.model_params.use_extra_bufts is False
    llm.close()


CASES = [  # (setting, environment variable, extra buffer types used) on a host decided "off"
    ("auto", None, False),
    ("on", None, True),
    ("off", None, False),
    ("auto", "on", True),
    ("auto", "off", False),
    ("off", "on", False),  # an explicit setting wins over the environment
    ("on", "off", True),
]


@pytest.mark.parametrize("setting, env, expected", CASES)
def test_overrides(setting, env, expected, demo_q8, own_cache, monkeypatch):
    faulty_probe(monkeypatch)
    assert llama_host.probe_host() == "off"
    no_probe(monkeypatch)
    if env is not None:
        monkeypatch.setenv(llama_host.EXTRA_BUFTS_ENV, env)
    llm = open_model(demo_q8, n_ctx=64, extra_bufts=setting)
    assert llm.model_params.use_extra_bufts is expected
    llm.close()


def test_unknown_modes_are_refused(own_cache, monkeypatch):
    with pytest.raises(ValueError, match="extra_bufts must be one of auto, on, off, not 'fast'"):
        llama_host.use_extra_bufts(DEMO_GGUF, "fast")
    monkeypatch.setenv(llama_host.EXTRA_BUFTS_ENV, "yes")
    with pytest.raises(ValueError, match="DOCLORA_LLAMA_EXTRA_BUFTS must be one of auto, on, off"):
        llama_host.use_extra_bufts(DEMO_GGUF)


def test_unquantized_models_need_no_probe(own_cache, monkeypatch):
    no_probe(monkeypatch)
    assert not llama_host.is_quantized(DEMO_GGUF)
    llm = open_model(DEMO_GGUF, n_ctx=64)
    assert llm.model_params.use_extra_bufts is True
    llm.close()
    assert not llama_host.decisions_path().exists()


def test_host_where_even_the_safe_path_crashes_gets_one_sentence(demo_q8, own_cache, monkeypatch):
    runs = faulty_probe(monkeypatch, crash_without_extra_bufts=True)
    with pytest.raises(LlamaHostError, match=r"^llama.cpp crashes on this computer's CPU with "
                       r"quantized models such as demo-q8_0.gguf, even without its extra CPU "
                       r"kernels; use an F16 or F32 model.$"):
        open_model(demo_q8, n_ctx=64)
    assert runs == [True, False]
    assert llama_host.cached_decision() == "broken"
    llm = open_model(DEMO_GGUF, n_ctx=64)  # F32 still works there
    decode_one(llm)
    llm.close()


def test_a_decision_of_another_host_does_not_apply(own_cache):
    own_cache.mkdir()
    llama_host.decisions_path().write_text(json.dumps({"another-host": {"extra_bufts": "off"}}))
    assert llama_host.cached_decision() is None


def test_real_probe_of_this_host(demo_q8, own_cache):
    decision = llama_host.probe_host()
    assert decision in ("on", "off")  # "on" on AMD hosts, "off" where the AMX kernels fault
    llm = open_model(demo_q8, n_ctx=64)
    assert llm.model_params.use_extra_bufts is (decision == "on")
    assert decode_one(llm) >= 0
    llm.close()


def test_a_probe_that_fails_without_crashing_turns_them_off_but_is_not_broken(
        demo_q8, own_cache, monkeypatch):
    monkeypatch.setattr(llama_host, "probe_command",
                        lambda *args: [sys.executable, "-c", "raise SystemExit('no llama_cpp')"])
    assert llama_host.probe_host() == "off"
    saved = json.loads(llama_host.decisions_path().read_text())[llama_host.host_key()[0]]
    assert saved["detail"] == ("with extra buffer types: exit 1: no llama_cpp; "
                               "without: exit 1: no llama_cpp")
    llm = open_model(demo_q8, n_ctx=64)  # the safe path, in this process
    assert llm.model_params.use_extra_bufts is False
    decode_one(llm)
    llm.close()
