"""The CLI wiring, through CliRunner with a scripted chat engine (no model needed).

End-to-end runs with the real demo model are in test_end_to_end.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import fields

import pytest
from click.testing import CliRunner

import app.cli as cli_module
from app.api import DocLoRA
from app.cli import cli
from app.errors import DocLoRAError, DocumentNotFoundError
from app.library import Library
from app.paths import REPO_ROOT, home_dir, library_db_path
from app.settings import Settings

from app_helpers import library_state

TOWN = ["The harbour town woke slowly.", "The special magic number is 4821.", "The pier."]


@pytest.fixture
def engine(monkeypatch, scripted_engine):
    scripted_engine.reply = "4821"
    monkeypatch.setattr(cli_module, "DocLoRA",
                        lambda model=None: DocLoRA(model, engine=scripted_engine))
    return scripted_engine


@pytest.fixture
def docs(insert_document) -> dict[str, int]:
    lib = Library.open()
    ids = {"town": insert_document(lib, "Town guide", TOWN),
           "notes": insert_document(lib, "Notes", ["Nothing to see here."])}
    lib.close()
    return ids


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_list_json_has_the_documented_fields(engine, docs):
    result = run("list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == [docs["notes"], docs["town"]]
    town = rows[1]
    assert {k: town[k] for k in ("title", "status", "pages", "tokens")} == {
        "title": "Town guide", "status": "ready", "pages": 3, "tokens": 13}


def test_a_command_opens_the_library_once(engine, docs, monkeypatch):
    opened = []
    real_open = Library.open.__func__

    def counted(cls, path=None):
        opened.append(path)
        return real_open(cls, path)
    monkeypatch.setattr(Library, "open", classmethod(counted))
    assert run("list").exit_code == 0 and len(opened) == 1
    assert run("models", "list").exit_code == 0 and len(opened) == 2


def test_list_on_an_empty_library_says_how_to_add(engine):
    result = run("list")
    assert result.exit_code == 0
    assert "doclora add FILE.pdf" in result.stdout
    assert json.loads(run("list", "--json").stdout) == []


def test_ask_json_shape_and_sources(engine, docs):
    result = run("ask", "town", "What is the special magic number?", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == "4821" and data["document"] == docs["town"]
    assert data["sources"][0]["page"] == 2 and "**4821**" in data["sources"][0]["snippet"]
    assert engine.calls[0][0] == [{"role": "user", "content": "What is the special magic number?"}]
    assert engine.calls[0][1].endswith(".gguf")
    assert (data["from_passages"], data["revised"], data["quoted"]) == (False, False, False)


def test_ask_streams_then_prints_pages_and_announces_the_demo_once(engine, docs):
    result = run("ask", str(docs["town"]), "What is the special magic number?")
    assert result.exit_code == 0
    assert result.stdout.startswith("4821")
    # the page that holds the answer, its passage quoted without raw ** marks (bold on a terminal)
    assert "Supporting pages:\n  p. 2: The special magic number is 4821." in result.stdout
    assert "**" not in result.stdout
    assert result.stderr.count("Using the bundled demo model tiny-needle") == 1


def test_ask_marks_the_answers_words_in_bold_on_a_terminal(engine, docs):
    result = CliRunner().invoke(cli, ["ask", "town", "What is the special magic number?"],
                                color=True, catch_exceptions=False)
    assert "The special magic number is \x1b[1m4821\x1b[0m." in result.stdout
    assert "**" not in result.stdout


def test_ask_says_when_no_page_holds_the_answer_and_lists_the_questions_pages(engine, docs):
    engine.reply = "Jikere"  # a wrong answer: page 2 matches the question but does not hold it
    result = run("ask", "town", "What is the special magic number?")
    assert "No page contains this answer.\n\nPages matching your question:\n  p. 2: The " \
        "special magic number is 4821." in result.stdout
    assert "Supporting pages" not in result.stdout and "**" not in result.stdout


def test_ask_replays_history_only_with_continue(engine, docs):
    run("ask", "town", "first?")
    run("ask", "town", "second?")
    assert len(engine.calls[1][0]) == 1
    run("ask", "town", "third?", "-c")
    assert [m["content"] for m in engine.calls[2][0]] == ["first?", "4821", "second?", "4821",
                                                          "third?"]


def test_ask_without_document(engine, docs):
    result = run("ask", "-", "Hello?", "--json")
    assert json.loads(result.stdout) == {"answer": "4821", "sources": [], "document": None,
                                          "documents": [], "answered_from_pages": {}, "from_passages": False,
                                          "revised": False, "quoted": False}
    assert engine.calls[0][1] is None


ERRORS = [  # (args, words in the one-sentence message)
    (["ask", "nothing", "q?"], "No document matches 'nothing'; run 'doclora list'"),
    (["ask", "town", "   "], "The question is empty"),
    (["rm", "999", "--yes"], "No document matches '999'"),
    (["rename", "town", " "], "The new title is empty"),
    (["export", "town", "--format", "gguf", "--out", "/nonexistent/dir/x.gguf"],
     "does not exist; create it"),
    (["--model", "no-such-pair", "ask", "town", "q?"], "'no-such-pair'"),
    (["train", "--preset", "nope"], "Unknown preset 'nope'; choose one of tiny-needle"),
]


@pytest.mark.parametrize("args, words", ERRORS)
def test_domain_errors_are_one_sentence_with_status_2(engine, docs, args, words):
    before = library_state()
    result = run(*args)
    assert result.exit_code == 2
    assert words in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 2  # the demo notice + the error
    assert library_state() == before


REF_COMMANDS = [["ask", "{}", "q?"], ["ask", "town,{}", "q?"], ["chat", "{}"], ["rm", "{}", "--yes"],
                ["rename", "{}", "New"], ["export", "{}"], ["status", "{}"], ["redo", "{}"],
                ["collections", "add", "pair", "town,{}"]]


@pytest.mark.parametrize("ref", ["99999999999999999999", "²"], ids=["huge", "superscript"])
@pytest.mark.parametrize("args", REF_COMMANDS, ids=lambda args: " ".join(args[:2]))
def test_a_ref_too_large_for_an_id_or_of_non_ascii_digits_is_no_document(engine, docs, args, ref):
    """Issue 31: int() of such a ref was an OverflowError or ValueError traceback."""
    before = library_state()
    result = run(*[a.format(ref) for a in args])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith(f"Error: No document matches '{ref}'")
    assert library_state() == before and run("collections", "list").stdout.startswith("No coll")


def test_a_selection_of_no_document_is_refused_and_nothing_is_saved(engine, docs):
    """Issue 31: an emptied collection, or only commas, asked the base model and saved it."""
    assert run("collections", "add", "solo", "notes").exit_code == 0
    assert run("rm", "notes", "--yes").exit_code == 0
    before = library_state()
    for args, words in [
            (["ask", "@solo", "q?"], "Error: The collection 'solo' holds no documents any more; "
                                     "put some in it with 'doclora collections add solo IDS'."),
            (["chat", "@solo"], "Error: The collection 'solo' holds no documents any more"),
            (["ask", ",", "q?"], "Error: No document is selected; give ids or titles separated "
                                 "by commas, or '-' for no document."),
            (["ask", " , ,", "q?"], "Error: No document is selected"),
            (["collections", "add", "other", ","], "Error: No document is selected")]:
        result = run(*args, input="q?\n/exit\n")
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.splitlines()[-1].startswith(words), args
        assert engine.calls == [] and library_state() == before


def test_collection_names_are_capped_and_lose_invisible_characters(engine, docs):
    before = library_state()
    result = run("collections", "add", "x" * 130_000, "town")
    assert result.exit_code == 2
    assert result.stderr == ("Error: A collection name has at most 64 characters, not 130000; "
                             "give a shorter one.\n")
    assert run("collections", "list").stdout.startswith("No collections yet")
    assert library_state() == before
    assert run("collections", "add", "so\u200blo\u2060", "town").exit_code == 0
    assert run("collections", "list").stdout == f"@solo: {docs['town']}\n"
    assert run("ask", "@so\u200dlo", "q?").exit_code == 0  # the same name


def test_train_without_the_train_extra_says_how_to_install_it(engine, monkeypatch):
    monkeypatch.setattr("app.api_pairs.find_spec", lambda name: None)  # accelerate is missing
    result = run("train", "--preset", "tiny-needle", "--out", "unused")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == ("Error: Training needs DocLoRA's 'train' extra; install it "
                                     "with pip install -e '.[train]'.")


def test_raise_errors_env_shows_the_exception(engine, docs, monkeypatch):
    monkeypatch.setenv("DOCLORA_RAISE_ERRORS", "1")
    result = CliRunner().invoke(cli, ["ask", "nothing", "q?"])
    assert isinstance(result.exception, DocumentNotFoundError)


def test_rm_asks_first_and_removes_rows_and_files(engine, docs):
    before = library_state()
    result = run("rm", "notes", input="n\n")
    assert result.exit_code == 1 and library_state() == before
    result = run("rm", "notes", input="y\n")
    assert result.exit_code == 0 and "Removed" in result.stdout
    after = library_state()
    assert after["counts"]["documents"] == 1 and after["counts"]["pages"] == 3
    assert len(after["files"]) == len(before["files"]) - 3
    assert after["integrity"] == "ok"
    assert run("rm", "town", "--yes").exit_code == 0
    assert library_state()["counts"]["pages_fts"] == 0


def test_rename_then_find_by_the_new_title(engine, docs):
    assert run("rename", "town", "Harbour").exit_code == 0
    rows = json.loads(run("list", "--json").stdout)
    assert {r["title"] for r in rows} == {"Harbour", "Notes"}
    assert run("ask", "harb", "q?", "--json").exit_code == 0


def test_export_markdown_and_gguf(engine, docs, tmp_path):
    run("ask", "town", "What is the special magic number?")
    md = run("export", "town", "--format", "markdown", "--out", str(tmp_path))
    text = (tmp_path / "Town_guide.chat.md").read_text()
    assert md.stdout.strip().endswith("Town_guide.chat.md")
    assert "**You:** What is the special magic number?" in text
    assert "> Supporting pages:\n> p. 2: The special magic number is **4821**." in text
    out = tmp_path / "town.gguf"
    assert run("export", "town", "--format", "gguf", "--out", str(out)).exit_code == 0
    assert out.read_bytes().startswith(b"GGUF")


@pytest.mark.parametrize("prose, note", [
    (1.0, None),
    (0.5, "Note: DocLoRA applies this adapter at scale 0.5 (its document reads as prose); with llama.cpp: "
          "--lora-scaled {out} 0.5."),
    (0.0, "Note: DocLoRA does not apply this adapter (its document reads as prose, where the model's adapters "
          "do not help)"),
])
def test_an_exported_adapter_says_the_scale_its_document_is_applied_at(engine, docs, tmp_path, monkeypatch,
                                                                        prose, note):
    from app.models.pair import Pair

    monkeypatch.setattr(Pair, "adapter_scales", property(lambda self: {"prose": prose, "manual page": 1.0}))
    out = tmp_path / "town.gguf"
    lines = run("export", "town", "--out", str(out)).stdout.splitlines()
    assert lines[0] == str(out) and out.read_bytes().startswith(b"GGUF")
    if note is None:
        assert len(lines) == 1
    else:
        assert len(lines) == 2 and lines[1].startswith(note.format(out=out))
    assert run("export", "town", "--format", "markdown", "--out", str(tmp_path)).stdout.count("\n") == 1


def test_chat_interactive_with_clear_and_exit(engine, docs):
    result = run("chat", "town", input="What is it?\n/clear\nAgain?\n/exit\n")
    assert result.exit_code == 0
    assert result.stdout.count("doclora> 4821") == 2
    assert "History cleared." in result.stdout
    lib = Library.open()
    assert [m.content for m in lib.history(docs["town"])] == ["Again?", "4821"]


def test_status_json(engine, docs):
    data = json.loads(run("status", "town", "--json").stdout)
    assert data["model"] == "tiny-needle" and data["demo"] is True
    assert data["adapter_rank"] == 9 and data["adapter_size"] == 64


def test_status_line_gives_the_adapter_size_in_decimal_units(engine, insert_document):
    lib = Library.open()
    doc = insert_document(lib, "Big adapter", ["text"], adapter_bytes=2_400_000)
    lib.close()
    result = run("status", str(doc))
    assert result.exit_code == 0
    assert f"document {doc}: rank 9, 2.4 MB" in result.stdout  # 2.3 MB in 1024s


def test_a_document_of_another_pair_or_without_adapter_says_how_to_redo(
        engine, docs, insert_document):
    lib = Library.open()
    other = insert_document(lib, "Other pair doc", ["text"], model="qwen3-4b")
    result = run("ask", str(other), "q?")
    assert result.exit_code == 2
    assert "was internalized with another model; re-internalize it for tiny-needle with " \
           f"'doclora redo {other}'" in result.stderr
    from pathlib import Path
    Path(lib.document(docs["town"], "tiny-needle").adapter.file).unlink()
    result = run("ask", "town", "q?")
    assert result.exit_code == 2 and f"rebuild it with 'doclora redo {docs['town']}'" in result.stderr
    listed = {d["title"]: d["status"] for d in json.loads(run("list", "--json").stdout)}
    assert listed == {"Other pair doc": "needs-reindex", "Town guide": "failed", "Notes": "ready"}


def test_redo_goes_through_the_queue_and_a_failure_is_one_sentence(engine, docs):
    """The stand-in's stored copy is no real PDF: the queued redo fails with the converter's
    sentence, and nothing in the library changes."""
    before = library_state()
    result = run("redo", "town")
    assert result.exit_code == 2
    assert "Error: '" in result.stderr and "is a damaged PDF that cannot be read" in result.stderr
    assert "Traceback" not in result.output
    assert [j.status for j in DocLoRA().jobs()] == ["failed"]  # it ran as a job (DocLoRA.redo)
    after = library_state()
    assert after["counts"] == before["counts"] and after["files"] == before["files"]


def test_ui_binds_to_localhost_without_share_by_default(monkeypatch):
    import app.ui
    calls = []
    monkeypatch.setattr(app.ui, "launch", lambda **kw: calls.append(kw))
    assert run("ui", "--no-browser", "--port", "7999").exit_code == 0
    assert calls == [{"host": "127.0.0.1", "port": 7999, "open_browser": False, "share": False,
                      "model": None, "allow_hosts": (), "max_upload_mb": 200}]
    run("--model", "tiny-needle", "ui", "--share")
    assert calls[1]["share"] is True and calls[1]["open_browser"] is True
    assert calls[1]["model"] == "tiny-needle"


def test_models_group_is_mounted():
    result = run("models", "list", "--json")
    assert result.exit_code == 0, result.output
    names = {p["name"] for p in json.loads(result.stdout)}
    assert "tiny-needle" in names


def test_config_set_get_and_list_share_the_saved_settings(engine):
    listed = run("config", "list").stdout.splitlines()
    assert [line.split()[0] for line in listed] == [f.name for f in fields(Settings)]
    assert "n_threads            none" in listed and "temperature          0.0" in listed
    result = run("config", "set", "temperature", "0.7")
    assert result.exit_code == 0 and result.stdout == "temperature = 0.7\n"
    assert run("config", "set", "n_threads", "2").exit_code == 0
    assert run("config", "get", "temperature").stdout == "0.7\n"
    assert json.loads(run("config", "list", "--json").stdout)["n_threads"] == 2
    app = DocLoRA()  # a new process, e.g. the window
    assert (app.settings.temperature, app.settings.n_threads) == (0.7, 2)
    app.close()
    assert run("config", "set", "n_threads", "none").stdout == "n_threads = none\n"
    assert run("config", "get", "n_threads").stdout == "none\n"


CONFIG_ERRORS = [
    (("get", "sampler"), "There is no setting 'sampler'; use one of n_ctx, n_threads, device"),
    (("set", "sampler", "greedy"), "There is no setting 'sampler'; use one of n_ctx"),
    (("set", "n_threads", "0"), "n_threads must be a whole number from 1 to "),
    (("set", "max_adapter_rank", "0"), "max_adapter_rank must be a whole number from 1 to 65536"),
    (("set", "device", "tpu"), "device must be one of auto, cpu, gpu, not 'tpu'."),
    (("set", "temperature", "warm"), "temperature must be a number from 0 to 10, not 'warm'."),
]


@pytest.mark.parametrize("args, words", CONFIG_ERRORS)
def test_config_with_a_bad_key_or_value_is_one_sentence_with_status_2(engine, args, words):
    run("config", "set", "max_tokens", "64")
    result = run("config", *args)
    assert result.exit_code == 2 and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    app = DocLoRA()
    assert app.settings == Settings(max_tokens=64)
    app.close()


def test_add_max_pages_applies_to_that_command_only(engine, tmp_path):
    result = run("add", str(tmp_path / "missing.pdf"), "--max-pages", "3")
    assert result.exit_code == 2
    assert run("config", "get", "max_pages").stdout == "2000\n"


def test_leading_space_of_an_answer_is_not_streamed(engine, docs):
    engine.reply = " 4821"  # ScriptedEngine splits on spaces: yields " ", "4821 "
    result = run("ask", "town", "q?")
    assert result.stdout.startswith("4821")


# -- issue 14: overwrites, titles, limits, searches, chat ------------------------------------

def test_export_never_overwrites_without_force_nor_writes_into_the_library(engine, docs, tmp_path):
    before = library_state()
    db = library_db_path()
    db_bytes = db.read_bytes()
    kept = tmp_path / "kept.gguf"
    kept.write_bytes(b"mine")
    cases = [  # (args, words of the message)
        (["export", "town", "-o", str(kept)], f"{kept} already exists; add --force"),
        (["export", "town", "--format", "markdown", "-o", str(kept)], "already exists"),
        (["export", "town", "-o", str(db), "--force"], "is inside the library folder"),
        (["export", "town", "-o", str(home_dir()) + "/"], "is inside the library folder"),
        (["export", "town", "-o", str(home_dir() / "adapters" / "x.gguf")],
         "is inside the library folder"),
    ]
    for args, words in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.stderr and "Traceback" not in result.output
    assert kept.read_bytes() == b"mine" and db.read_bytes() == db_bytes
    assert library_state() == before
    assert run("export", "town", "-o", str(kept), "--force").exit_code == 0
    assert kept.read_bytes().startswith(b"GGUF")


def test_export_to_a_trailing_slash_makes_a_folder(engine, docs, tmp_path):
    result = run("export", "town", "-o", f"{tmp_path}/new/folder/")
    assert result.exit_code == 0, result.output
    out = tmp_path / "new" / "folder" / "Town_guide.lora.gguf"
    assert result.stdout.strip() == str(out) and out.read_bytes().startswith(b"GGUF")


def test_rename_caps_the_title_and_drops_control_characters(engine, docs):
    before = library_state()
    result = run("rename", "town", "x" * 10_000)
    assert result.exit_code == 2
    assert "The title has 10000 characters; give one of at most 120." in result.stderr
    assert library_state() == before
    result = run("rename", "town", "Harbour\x1b[31m\u202e guide\x00")
    assert result.exit_code == 0 and "Renamed [1] to Harbour[31m guide." in result.stdout
    assert Library.open().document(docs["town"], "tiny-needle").title == "Harbour[31m guide"


def test_list_escapes_control_characters_of_older_titles(engine, docs):
    db = sqlite3.connect(library_db_path())
    with db:  # as an older version stored it, before titles were cleaned
        db.execute("UPDATE documents SET title = ? WHERE id = ?",
                   ["Evil\x1b[2J\u202eTitle", docs["town"]])
    result = run("list")
    assert result.exit_code == 0
    assert "Evil\\x1b[2J\\u202eTitle" in result.stdout
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout


def test_a_search_without_match_says_so(engine, docs):
    result = run("list", "--search", "zeppelin")
    assert result.exit_code == 0
    assert result.stdout.strip() == "No document matches 'zeppelin'; 'doclora list' shows them all."


def test_chat_asks_again_after_an_over_long_question(engine, docs):
    generate = engine.generate

    def refuse_long(messages, adapter_file, stop=None):
        if len(messages[-1]["content"]) > 1000:
            raise DocLoRAError("The question is too long for this model's window; shorten it.")
        yield from generate(messages, adapter_file, stop)

    engine.generate = refuse_long
    result = run("chat", "town", input="x" * 5000 + "\nWhat is it?\n/exit\n")
    assert result.exit_code == 0
    assert "Error: The question is too long" in result.stderr
    assert result.stdout.count("doclora> 4821") == 1


@pytest.fixture
def composed(monkeypatch, tmp_path) -> list:
    """Records the selections the API composes, every selected document kept whatever the
    question (the real composition and focus: tests/app/test_compose)."""
    calls = []
    monkeypatch.setattr("app.api.focus", lambda scores: list(scores))

    def fake(adapters, max_rank, base_gguf, chunks=None, scale=1.0, scales=None):
        calls.append(sorted(a.document_id for a in adapters))
        return tmp_path / "composed.gguf"
    monkeypatch.setattr("app.api.composed_file", fake)
    return calls


def test_ask_several_documents_by_ids_and_prints_each_pages_title(engine, docs, composed):
    result = run("ask", f"{docs['town']},{docs['notes']}", "What is the special magic number?")
    assert result.exit_code == 0, result.output
    assert composed == [sorted(docs.values())]
    assert engine.calls[-1][1].endswith("composed.gguf")
    assert "Town guide, p. 2:" in result.stdout
    data = json.loads(run("ask", f"{docs['notes']},town", "magic number?", "--json").stdout)
    assert data["documents"] == [docs["notes"], docs["town"]] and data["document"] is None
    assert {s["title"] for s in data["sources"]} == {"Town guide"}


def test_collections_add_list_ask_and_rm(engine, docs, composed):
    result = run("collections", "add", "Harbour", f"{docs['town']},notes")
    assert result.exit_code == 0, result.output
    assert f"Saved @Harbour: [{docs['town']}] Town guide, [{docs['notes']}] Notes." in result.stdout
    assert run("collections", "list").stdout.strip() == f"@Harbour: {docs['town']}, {docs['notes']}"
    rows = json.loads(run("collections", "list", "--json").stdout)
    assert [(r["name"], r["documents"]) for r in rows] == [("Harbour", [docs["town"], docs["notes"]])]
    assert run("ask", "@harbour", "magic number?").exit_code == 0
    assert composed == [sorted(docs.values())]
    assert "Removed @Harbour." in run("collections", "rm", "@harbour").stdout
    assert "No collections yet" in run("collections", "list").stdout
    missing = CliRunner().invoke(cli, ["ask", "@harbour", "q?"])
    assert missing.exit_code == 2 and "No collection is called 'harbour'" in missing.output


def test_chat_with_several_documents(engine, docs, composed):
    result = run("chat", f"{docs['town']},{docs['notes']}", input="magic number?\n/exit\n")
    assert result.exit_code == 0, result.output
    assert "Chatting with Town guide, Notes." in result.stdout
    assert "doclora> 4821" in result.stdout and composed


def test_list_has_column_headings(engine, docs):
    lines = run("list").stdout.splitlines()
    assert lines[0].split() == ["ID", "TITLE", "PAGES", "TOKENS", "RANK", "STATUS", "ADDED"]
    assert lines[1].split()[:4] == [str(docs["notes"]), "Notes", "1", "4"]


REFS = [  # (reference, the title it finds)
    ("town", "Town guide"),         # a title prefix
    ("GUIDE", "Town guide"),        # a later word of the title
    ("gui", "Town guide"),          # the start of a later word
    (" notes ", "Notes"),
]


@pytest.mark.parametrize("ref, title", REFS)
def test_a_reference_matches_any_word_of_a_title(engine, docs, ref, title):
    result = run("ask", ref, "What is the special magic number?", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["document"] == docs[title.split()[0].lower()]


def test_a_reference_inside_a_word_does_not_match_and_a_near_miss_says_did_you_mean(engine, docs):
    assert "No document matches 'own'" in run("ask", "own", "q?").stderr
    result = run("ask", "tonw", "q?")
    assert result.exit_code == 2
    assert "No document matches 'tonw' (did you mean 'Town guide'?)" in result.stderr


def test_adding_a_missing_file_prints_only_the_error(engine, tmp_path):
    result = run("add", str(tmp_path / "missing.pdf"))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: '{tmp_path / 'missing.pdf'}' does not exist; check the path and add it again.")
    assert [l for l in result.stderr.splitlines() if not l.startswith("Using the bundled")] \
        == [result.stderr.splitlines()[-1]]


def test_a_reader_that_leaves_early_ends_the_command_quietly(docs):
    """Issue 31: `doclora list | head -1` said "[Errno 32] Broken pipe" with status 2."""
    before = library_state()
    proc = subprocess.Popen([sys.executable, "-m", "app", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO_ROOT, env=dict(os.environ))
    proc.stdout.close()  # as `head` does once it has its line; long before `list` prints
    assert (proc.wait(timeout=120), proc.stderr.read()) == (1, b"")  # click's quiet exit
    assert library_state() == before
