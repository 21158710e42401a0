"""Settings: what each one accepts, saved in the library's ``settings`` table, and the same
values in every new DocLoRA (the CLI's ``doclora config`` and the window's Settings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, fields, replace

import pytest
from click.testing import CliRunner

from app.api import DocLoRA
from app.chat import ChatEngine
from app.cli import cli
from app.errors import DocLoRAError
from app.library import Library
from app.settings import CORES, RULES, Settings, checked, parsed, value_text

from app.paths import REPO_ROOT, demo_pair_dir

from app_helpers import QUESTION, demo_ready, library_state, make_pdf, needle_text


def saved_rows() -> dict:
    lib = Library.open()
    try:
        return {r["key"]: json.loads(r["value"]) for r in lib.db["settings"].rows}
    finally:
        lib.close()


def test_every_setting_has_a_rule_that_accepts_its_default():
    assert list(RULES) == [f.name for f in fields(Settings)]
    assert checked(asdict(Settings())) == asdict(Settings())


def test_settings_survive_a_new_docLoRA_and_an_explicit_one_wins(new_scripted_engine):
    app = DocLoRA(engine=new_scripted_engine())
    new = app.configure(temperature=0.7, n_threads=2, device="cpu", max_adapter_rank=None,
                        top_k=1, adapter_cache_size=2, cpu_bf16=False)
    app.close()
    wanted = Settings(temperature=0.7, n_threads=2, device="cpu", max_adapter_rank=None,
                      top_k=1, adapter_cache_size=2, cpu_bf16=False)
    assert new == wanted
    again = DocLoRA(engine=new_scripted_engine())
    assert again.settings == wanted
    again.close()
    explicit = DocLoRA(settings=Settings(max_tokens=8), engine=new_scripted_engine())
    assert explicit.settings == Settings(max_tokens=8)
    explicit.close()


def test_only_the_changed_settings_are_saved_and_save_false_keeps_them_for_the_session(new_scripted_engine):
    app = DocLoRA(engine=new_scripted_engine())
    app.configure(max_tokens=64)
    app.configure(max_pages=3, save=False)
    assert app.settings == Settings(max_tokens=64, max_pages=3)
    app.close()
    assert saved_rows() == {"max_tokens": 64}
    again = DocLoRA(engine=new_scripted_engine())
    assert again.settings == Settings(max_tokens=64)
    again.close()


BAD = [  # (changes, words of the sentence)
    ({"max_adapter_rank": 0}, "max_adapter_rank must be a whole number from 1 to 65536, or none"),
    ({"n_threads": 0}, f"n_threads must be a whole number from 1 to {4 * CORES}, or none"),
    ({"temperature": -0.1}, "temperature must be a number from 0 to 10, not -0.1."),
    ({"temperature": float("nan")}, "temperature must be a number from 0 to 10"),
    ({"device": "tpu"}, "device must be one of auto, cpu, gpu, not 'tpu'"),
    ({"max_tokens": 0}, "max_tokens must be a whole number from 1 to 1048576, not 0."),
    ({"max_tokens": 12.5}, "max_tokens must be a whole number from 1 to 1048576, not 12.5"),
    ({"top_p": 0}, "top_p must be a number above 0 and at most 1"),
    ({"min_p": 2}, "min_p must be a number from 0 to 1"),
    ({"repeat_penalty": 0}, "repeat_penalty must be a number above 0"),
    ({"adapter_cache_size": 0}, "adapter_cache_size must be a whole number from 1 to 256"),
    ({"max_composed_rank": 0}, "max_composed_rank must be a whole number from 1 to 65536"),
    ({"cpu_bf16": "yes"}, "cpu_bf16 must be true or false"),
    ({"llama_extra_bufts": "fast"}, "llama_extra_bufts must be one of auto, on, off"),
    ({"max_tokens": 32, "sampler": "greedy"}, "There is no setting 'sampler'; use one of n_ctx,"),
    # Upper bounds: what the machine and the models can use, and why (issue 31).
    ({"n_threads": 100000}, f"n_threads must be a whole number from 1 to {4 * CORES}, or none "
                            f"(llama.cpp decides), not 100000 (this computer has {CORES} CPU "
                            "cores; more than 4 threads per core only slow llama.cpp down"),
    ({"n_ctx": 10**9}, "n_ctx must be a whole number from 0 to 1048576, not 1000000000 (0 is "
                       "the model's own window"),
    ({"n_ctx": 257}, "n_ctx must be at most 256, the context length model.gguf was trained on "
                     "(0 uses all of it), not 257."),
    ({"temperature": 1e6}, "temperature must be a number from 0 to 10, not 1000000.0 (above 10"),
    ({"max_tokens": 10**7}, "max_tokens must be a whole number from 1 to 1048576, not 10000000 ("),
    ({"top_k": 10**7}, "top_k must be a whole number from 0 to 1048576, not 10000000 (no vocab"),
    ({"repeat_penalty": 1e3}, "repeat_penalty must be a number above 0 and at most 10, not 1000.0"),
    ({"adapter_cache_size": 10**6}, "adapter_cache_size must be a whole number from 1 to 256, not"),
    ({"max_pages": 10**9}, "max_pages must be a whole number from 1 to 100000, not 1000000000 (a"),
    ({"max_adapter_rank": 10**9}, "max_adapter_rank must be a whole number from 1 to 65536, or no"),
    ({"max_composed_rank": 10**9}, "max_composed_rank must be a whole number from 1 to 65536, not"),
]


@pytest.mark.parametrize("changes, words", BAD)
def test_a_bad_value_is_one_sentence_and_changes_nothing(changes, words, new_scripted_engine):
    app = DocLoRA(engine=new_scripted_engine())
    app.configure(temperature=0.5)
    with pytest.raises(DocLoRAError) as err:
        app.configure(**changes)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert app.settings == Settings(temperature=0.5)
    app.close()
    assert saved_rows() == {"temperature": 0.5}


TEXTS = [  # (setting, typed text, value)
    ("temperature", "0.7", 0.7), ("temperature", "1", 1.0), ("n_threads", "none", None),
    ("n_threads", "4", 4), ("max_adapter_rank", "None", None), ("cpu_bf16", "off", False),
    ("cpu_bf16", "True", True), ("device", "GPU", "gpu"), ("llama_extra_bufts", "on", "on"),
]


@pytest.mark.parametrize("name, text, value", TEXTS)
def test_typed_text_becomes_the_fields_type_and_prints_back_the_same(name, text, value):
    got = parsed(name, text)
    assert got == value and type(got) is type(value)
    assert parsed(name, value_text(got)) == got


@pytest.mark.parametrize("name, text", [("n_threads", "0"), ("n_threads", "two"),
                                        ("max_tokens", "1.5"), ("cpu_bf16", "maybe"),
                                        ("n_ctx", "none"), ("temperature", "inf")])
def test_typed_text_that_is_not_a_valid_value_names_the_valid_ones(name, text):
    with pytest.raises(DocLoRAError, match=f"{name} must be .*, not '{text}'"):
        parsed(name, text)


def test_saved_values_this_version_refuses_fall_back_to_the_defaults():
    lib = Library.open()
    lib.db["settings"].insert_all([{"key": "device", "value": '"tpu"'},
                                   {"key": "max_tokens", "value": "32"},
                                   {"key": "from_a_newer_version", "value": "1"}])
    assert lib.saved_settings() == Settings(max_tokens=32)
    lib.close()


def cli_run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_a_saved_value_that_is_not_json_or_out_of_bounds_is_one_warning_and_config_set_repairs_it(
        insert_document):
    """Issue 31: one such row made every command crash, `config set` included."""
    lib = Library.open()
    insert_document(lib, "Existing", ["Some earlier text."])
    lib.db["settings"].insert_all([{"key": "temperature", "value": "0.7x"},
                                   {"key": "n_threads", "value": "100000"},
                                   {"key": "max_tokens", "value": "32"}])
    lib.close()
    before = library_state()
    for args in (["list"], ["config", "get", "max_tokens"]):
        result = cli_run(*args)
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines() == [
            "Warning: Ignoring the saved temperature: temperature must be a number from 0 to 10, "
            "not '0.7x'; the default 0.0 applies until 'doclora config set temperature VALUE' "
            "replaces it.",
            f"Warning: Ignoring the saved n_threads: n_threads must be a whole number from 1 to "
            f"{4 * CORES}, or none (llama.cpp decides), not 100000 (this computer has {CORES} CPU "
            "cores; more than 4 threads per core only slow llama.cpp down, and thousands crash "
            "it); the default none applies until 'doclora config set n_threads VALUE' replaces "
            "it."]
    assert result.stdout == "32\n" and library_state() == before
    assert saved_rows_text()["temperature"] == "0.7x"  # kept until replaced
    assert cli_run("config", "set", "temperature", "0.5").stdout == "temperature = 0.5\n"
    assert cli_run("config", "set", "n_threads", "none").exit_code == 0
    result = cli_run("config", "get", "temperature")
    assert (result.stdout, result.stderr) == ("0.5\n", "")
    assert saved_rows() == {"temperature": 0.5, "n_threads": None, "max_tokens": 32}


def saved_rows_text() -> dict:
    lib = Library.open()
    try:
        return {r["key"]: r["value"] for r in lib.db["settings"].rows}
    finally:
        lib.close()


def test_a_saved_context_longer_than_the_model_was_trained_on_is_refused_before_loading_it(
        demo_pair, insert_document):
    lib = Library.open()
    insert_document(lib, "Existing", ["Some earlier text."])
    lib.db["settings"].insert({"key": "n_ctx", "value": "100000"})  # saved for another model
    lib.close()
    before = library_state()
    result = cli_run("ask", "-", "Hello?")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: n_ctx must be at most 256, the context length model.gguf was trained on (0 uses "
        "all of it), not 100000.")
    assert library_state() == before


def test_a_fifo_named_settings_json_in_the_home_is_left_alone(doclora_home):
    """Issue 31: reading it waited for a writer forever, in every command."""
    os.mkfifo(doclora_home / "settings.json")
    result = subprocess.run([sys.executable, "-m", "app", "list"], env=dict(os.environ),
                            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert (result.returncode, result.stderr) == (0, "")
    assert "The library is empty" in result.stdout
    assert (doclora_home / "settings.json").is_fifo() and library_state()["counts"]["documents"] == 0


@pytest.fixture(scope="module")
def two_docs(tmp_path_factory):
    """Two real document adapters of the demo pair, built once in a library of their own."""
    if not demo_ready():
        raise RuntimeError("the demo pair is missing; build it first (doclora train)")
    root = tmp_path_factory.mktemp("two_docs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCLORA_HOME", str(root / "home"))
        app = DocLoRA()
        docs = [app.add(make_pdf(root / f"d{n}.pdf", [needle_text(n)])) for n in ("1111", "2929")]
        app.close()
    return demo_pair_dir() / "model.gguf", [d.adapter.file for d in docs]


def answer(engine, adapter) -> str:
    return "".join(engine.generate([{"role": "user", "content": QUESTION}], adapter))


def test_the_adapter_cache_size_is_read_from_the_settings(two_docs):
    gguf, (a, b) = two_docs
    engine = ChatEngine(gguf, Settings(adapter_cache_size=1))
    assert "1111" in answer(engine, a) and "2929" in answer(engine, b)
    assert list(engine._adapters) == [b]  # a was evicted
    engine.settings = replace(engine.settings, adapter_cache_size=2)  # as configure does
    answer(engine, a)
    assert list(engine._adapters) == [b, a] and engine.adapter_loads == 3
    engine.close()


def test_the_sampling_settings_reach_llama_cpp(two_docs):
    """At a hot temperature with every other cut off, top_k=1 alone makes the answer greedy."""
    gguf, (a, _) = two_docs
    engine = ChatEngine(gguf, Settings(max_tokens=24))
    greedy = answer(engine, a)
    engine.settings = replace(engine.settings, temperature=5.0, top_k=1, top_p=1.0, min_p=0.0)
    assert [answer(engine, a) for _ in range(3)] == [greedy] * 3
    engine.close()
