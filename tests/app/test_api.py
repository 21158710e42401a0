"""The DocLoRA facade (app/api.py) on a real library with a scripted chat engine: references,
streaming, history, selections, settings, status and its one-sentence errors. The runs with the
real demo model are in test_end_to_end.py, test_chat.py and test_compose.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.api import DocLoRA
from app.errors import DocLoRAError, DocumentNotFoundError, DocumentNotReadyError
from app_helpers import library_state

TOWN = ["The harbour town woke slowly.", "The special magic number is 4821.", "The pier."]
QUESTION = "What is the special magic number?"


@pytest.fixture
def app(scripted_engine):
    core = DocLoRA(engine=scripted_engine)
    yield core
    core.close()


@pytest.fixture
def docs(app, insert_document) -> dict[str, int]:
    return {"town": insert_document(app.library, "Town guide", TOWN),
            "notes": insert_document(app.library, "Field notes", ["Nothing to see here."])}


def test_documents_newest_first_and_searched_by_page_text(app, docs):
    assert [d.id for d in app.documents()] == [docs["notes"], docs["town"]]
    assert [d.title for d in app.documents(search="harbour")] == ["Town guide"]
    assert app.documents(search="zeppelin") == []


@pytest.mark.parametrize("ref", ["town", "TOWN G", "guide"])
def test_get_by_title_prefix_or_word(app, docs, ref):
    assert app.get(ref).id == docs["town"]


def test_get_by_id_or_digits_and_an_unknown_ref_is_one_sentence(app, docs):
    assert app.get(docs["notes"]).title == "Field notes"
    assert app.get(str(docs["notes"])).title == "Field notes"
    with pytest.raises(DocumentNotFoundError) as info:
        app.get(999)
    assert str(info.value) == "No document matches '999'; run 'doclora list' to see ids and titles."


def test_rename_returns_the_renamed_document(app, docs):
    renamed = app.rename("town", "Harbour almanac")
    assert renamed.id == docs["town"] and renamed.title == "Harbour almanac"
    assert app.get("almanac").id == docs["town"]
    with pytest.raises(DocumentNotFoundError):
        app.get("Town guide")


def test_remove_deletes_the_files_and_frees_the_adapter_in_the_engine(app, docs,
                                                                     scripted_engine):
    town = app.get("town")
    removed = app.remove("town")
    assert removed.id == town.id
    assert not Path(town.adapter.file).exists() and not Path(town.adapter.peft_file).exists()
    assert town.adapter.file in scripted_engine.forgotten
    assert [d.id for d in app.documents()] == [docs["notes"]]
    with pytest.raises(DocumentNotFoundError):
        app.get(town.id)


def test_stream_grows_the_answer_and_ends_with_its_pages(app, docs, scripted_engine):
    answers = list(app.stream("town", QUESTION))
    texts = [a.text for a in answers]
    assert texts == ["The ", "The special ", "The special magic ", "The special magic number ",
                     "The special magic number is ", "The special magic number is 4821. ",
                     "The special magic number is 4821."]  # the last one is stripped
    assert not any(a.done for a in answers[:-1])
    last = answers[-1]
    assert last.done and not last.stopped and last.document == docs["town"]
    assert last.documents == [docs["town"]] and [s.page for s in last.sources][:1] == [2]
    assert "".join(a.delta for a in answers).strip() == last.text
    town = app.get("town")
    assert scripted_engine.calls == [([{"role": "user", "content": QUESTION}], town.adapter.file)]
    assert [(m.role, m.content) for m in app.history("town")] == [
        ("user", QUESTION), ("assistant", "The special magic number is 4821.")]


def test_ask_replays_the_history_unless_told_not_to(app, docs, scripted_engine):
    scripted_engine.reply = "4821"
    app.ask("town", "first?")
    app.ask("town", "second?")
    app.ask("town", "third?", history=False)
    sent = [[m["content"] for m in messages] for messages, _ in scripted_engine.calls]
    assert sent == [["first?"], ["first?", "4821", "second?"], ["third?"]]
    assert len(app.history("town")) == 6  # saved either way


def test_ask_stopped_early_keeps_the_partial_answer(app, docs):
    stop = threading.Event()
    pieces = []

    def first_piece_then_stop(piece: str) -> None:
        pieces.append(piece)
        stop.set()

    answer = app.ask("town", QUESTION, on_token=first_piece_then_stop, stop=stop)
    assert pieces == ["The "] and answer.text == "The" and answer.stopped and answer.done
    assert app.history("town")[-1].content == "The"


def test_ask_without_a_document_uses_the_base_model_and_its_own_chat(app, docs,
                                                                      scripted_engine):
    answer = app.ask(None, QUESTION)
    assert answer.document is None and answer.sources == [] and answer.documents == []
    assert scripted_engine.calls[0][1] is None
    assert [m.content for m in app.history(None)] == [QUESTION, answer.text]
    assert app.history("town") == []


def test_an_empty_question_is_one_sentence_and_changes_nothing(app, docs, scripted_engine):
    before = library_state()
    with pytest.raises(DocLoRAError) as info:
        app.ask("town", "   \n")
    assert str(info.value) == "The question is empty; type a question first."
    assert scripted_engine.calls == [] and library_state() == before


def test_a_document_whose_adapter_is_gone_says_how_to_rebuild_it(app, docs, scripted_engine):
    Path(app.get("town").adapter.file).unlink()
    with pytest.raises(DocumentNotReadyError) as info:
        app.ask("town", QUESTION)
    assert str(info.value) == (f"The adapter of 'Town guide' is missing; rebuild it with "
                               f"'doclora redo {docs['town']}'.")
    assert scripted_engine.calls == [] and app.history("town") == []


def test_pop_exchange_returns_the_question_and_clear_history_empties_the_chat(app, docs):
    app.ask("town", "first?")
    app.ask("town", "second?")
    assert app.pop_exchange("town") == "second?"
    assert [m.content for m in app.history("town")][0] == "first?"
    assert len(app.history("town")) == 2
    app.ask("notes", "kept?")
    app.clear_history("town")
    assert app.history("town") == [] and len(app.history("notes")) == 2
    assert app.pop_exchange("town") is None


def test_selection_reads_lists_commas_and_collections(app, docs):
    town, notes = docs["town"], docs["notes"]
    assert app.selection(None).documents == ()
    assert [d.id for d in app.selection("town").documents] == [town]
    assert [d.id for d in app.selection(f"{notes}, town").documents] == [notes, town]
    assert [d.id for d in app.selection([town, str(notes), "guide"]).documents] == [town, notes]
    saved = app.save_collection("Harbour", [notes, town])
    assert saved.name == "Harbour" and saved.documents == [notes, town]
    assert [(c.name, c.documents) for c in app.collections()] == [("Harbour", [notes, town])]
    assert [d.id for d in app.selection("@harbour").documents] == [notes, town]
    assert app.collection("@HARBOUR").documents == [notes, town]
    assert app.remove_collection("@Harbour").name == "Harbour"
    assert app.collections() == []
    with pytest.raises(DocLoRAError):
        app.selection("@Harbour")
    assert [d.id for d in app.documents()] == [notes, town]  # its documents stay


def test_a_selection_of_several_documents_keeps_no_chat(app, docs, scripted_engine):
    town = app.get("town")
    both = app.selection(f"town,{docs['notes']}")
    assert both.ids == [town.id, docs["notes"]] and both.adapters == ()
    assert not both.history and both.document is None and both.chat is None
    one = app.selection("town", QUESTION)
    assert one.history and one.chat == town.id and one.adapters == (town.adapter,)
    # the question's words are on the town guide's pages only: its adapter alone answers
    assert app.selection(both, QUESTION).adapters == (town.adapter,)
    app.ask("town", "first?")
    assert app.ask(both, QUESTION).documents == both.ids
    assert scripted_engine.calls[-1] == ([{"role": "user", "content": QUESTION}],
                                         town.adapter.file)
    app.clear_history(both)
    assert app.history(both) == [] and app.pop_exchange(both) is None
    assert [m.content for m in app.history(one)] == [  # the one document's chat stays
        "first?", "The special magic number is 4821."]


def test_configure_changes_settings_and_refuses_unknown_ones(app, scripted_engine):
    new = app.configure(temperature=0.5, max_tokens=32)
    assert (new.temperature, new.max_tokens) == (0.5, 32) and app.settings == new
    assert app.engine is scripted_engine  # nothing that needs a reload changed
    for changes, words in [({"colour": "blue"}, "There is no setting 'colour'; use one of n_ctx, "),
                           ({"max_composed_rank": 0}, "max_composed_rank must be a whole number "),
                           ({"llama_extra_bufts": "fast"}, "llama_extra_bufts must be one of ")]:
        with pytest.raises(DocLoRAError) as info:
            app.configure(**changes)
        assert str(info.value).startswith(words)
    assert app.settings == new


def test_configure_a_runtime_setting_reloads_the_engine(app, scripted_engine):
    assert app.status().base_loaded
    app.configure(n_ctx=128)
    assert app.settings.n_ctx == 128 and not app.status().base_loaded


RELOADS = [  # (setting, a new value, whether the engines reload: they read it as they load)
    ("n_ctx", 128, True), ("n_threads", 2, True), ("device", "cpu", True),
    ("cpu_bf16", False, True), ("llama_extra_bufts", "off", True),
    ("temperature", 0.5, False), ("max_tokens", 32, False), ("max_adapter_rank", 16, False)]


@pytest.mark.parametrize("name, value, reloads", RELOADS)
def test_only_the_settings_the_engines_load_with_reload_them(app, name, value, reloads):
    app.configure(**{name: value})
    assert app.status().base_loaded is not reloads


def test_status_names_the_pair_and_the_documents_adapter(app, docs):
    status = app.status()
    assert status.model == "tiny-needle" and status.demo and status.device == "cpu"
    assert status.base_loaded and status.document is None and status.adapter_rank is None
    town = app.get("town")
    status = app.status("town")
    assert status.document == town.id and status.adapter_rank == 9 and status.adapter_size == 64
    assert status.adapter_file == town.adapter.file


def test_export_writes_into_the_current_folder_by_default(app, docs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = app.export("town", "gguf")
    assert path == tmp_path / "Town_guide.lora.gguf"
    assert path.read_bytes() == Path(app.get("town").adapter.file).read_bytes()


def test_redo_without_the_stored_copy_is_one_sentence_and_queues_nothing(app, docs):
    Path(app.library.source_file(docs["town"])).unlink()
    with pytest.raises(DocumentNotReadyError) as info:
        app.redo("town")
    assert str(info.value) == ("The stored copy of 'Town guide' is missing; add the original "
                               "file again.")
    assert app.jobs() == []


def test_a_submitted_damaged_file_fails_as_a_job_with_one_sentence(app, tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\nnot really a PDF\n%%EOF\n")
    job = app.submit(bad)
    assert job.file_name == "broken.pdf" and job.status in ("queued", "running")
    done = app.wait(job.id, timeout=60)
    assert done.status == "failed" and done.document_id is None
    assert done.error.startswith("'broken.pdf' is a damaged PDF that cannot be read")
    assert [j.id for j in app.jobs()] == [job.id] and app.job(job.id) == done
    assert app.jobs(active_only=True) == [] and app.documents() == []

