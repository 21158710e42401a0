"""What the panels refresh (app/ui/views.py), on a real library with a scripted engine."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

import gradio as gr
import pytest

from app.api import DocLoRA
from app.errors import DocumentNotFoundError
from app.ui import views


def test_empty_library_invites_a_drop(scripted_core):
    radio = views.document_list(scripted_core, "", None)
    assert radio.choices == [] and radio.value is None
    assert radio.label == "Documents · 0" and radio.info == views.EMPTY_LIBRARY


def test_list_marks_the_selected_document_and_filters(scripted_core, insert_document):
    harbor = insert_document(scripted_core.library, "Harbor Notes", ["The ferries leave at seven."])
    orchard = insert_document(scripted_core.library, "Orchard Diary",
                              ["Apples are pressed in the barn."])
    radio = views.document_list(scripted_core, "", harbor)
    assert [v for _, v in radio.choices] == [orchard, harbor] and radio.value == harbor
    assert radio.choices[1][0].startswith("Harbor Notes\n1 page · ")
    only = views.document_list(scripted_core, "apples", harbor)
    assert [v for _, v in only.choices] == [orchard] and only.value is None
    none = views.document_list(scripted_core, "zeppelin", None)
    assert none.choices == [] and none.info == "No document matches the search."


def test_a_redrawn_list_leaves_the_mark_as_the_browser_has_it(scripted_core, insert_document):
    """A poll that started before the user picked a document answers after the pick: its list
    must not send the old mark (none) and so take the pick back."""
    harbor = insert_document(scripted_core.library, "Harbor Notes", ["The ferries leave at seven."])
    redrawn = views.document_list(scripted_core, "", None, keep_mark=True)
    assert [v for _, v in redrawn.choices] == [harbor]
    assert "value" not in redrawn.constructor_args  # Gradio updates only what is given
    assert views.document_list(scripted_core, "", None).constructor_args["value"] is None


def test_removed_document_is_no_longer_found(scripted_core, insert_document):
    doc_id = insert_document(scripted_core.library, "Harbor Notes", ["Ferries."])
    assert views.find_document(scripted_core, doc_id).title == "Harbor Notes"
    scripted_core.remove(doc_id)
    assert views.find_document(scripted_core, doc_id) is None
    assert views.find_document(scripted_core, None) is None


@pytest.mark.parametrize("ref", [99999999999999999999, "99999999999999999999", "²"])
def test_a_ref_no_id_can_be_is_no_document_in_the_window(scripted_core, insert_document, ref):
    """Issue 31: a client-made selection reached int() and the window said "Something went
    wrong (OverflowError)"."""
    doc_id = insert_document(scripted_core.library, "Harbor Notes", ["Ferries."])
    assert views.find_document(scripted_core, ref) is None
    with pytest.raises(DocumentNotFoundError, match=f"No document matches '{ref}'"):
        list(scripted_core.stream([doc_id, ref], "When do the ferries leave?"))
    assert scripted_core.history(None) == [] and scripted_core.history(doc_id) == []


def test_status_line_shows_adapter_or_the_model_error(scripted_core, insert_document):
    doc = scripted_core.get(insert_document(scripted_core.library, "Harbor Notes", ["Ferries."],
                                            rank=12, adapter_bytes=2000))
    line = views.status_line(scripted_core, doc)
    assert "Harbor Notes" in line and "rank 12 · 2.0 KB" in line
    broken = DocLoRA(model="no-such-pair")
    try:
        line = views.status_line(broken, None)
    finally:
        broken.close()
    assert "dl-status-error" in line and "no-such-pair" in line


def test_chat_history_comes_back_with_sources(scripted_core, insert_document):
    doc = scripted_core.get(insert_document(
        scripted_core.library, "Harbor Notes",
        ["The ferries leave at seven. The special magic number is 4821."]))
    scripted_core.ask(doc.id, "What is the special magic number?")
    messages = views.chat_history(scripted_core, doc)
    assert [m["role"] for m in messages] == ["user", "assistant", "assistant"]
    assert "4821" in messages[1]["content"]
    assert messages[2]["metadata"]["title"] == "Supporting pages: p. 1"


@pytest.mark.parametrize("format, check", [
    ("gguf", lambda p: p.name.endswith(".gguf") and p.read_bytes()[:4] == b"GGUF"),
    ("markdown", lambda p: p.suffix == ".md" and "# Harbor Notes" in p.read_text()),
])
def test_export_lands_in_a_served_temp_folder(scripted_core, insert_document, format, check):
    doc_id = insert_document(scripted_core.library, "Harbor Notes", ["Ferries."])
    path = Path(views.export_file(scripted_core, doc_id, format))
    assert path.is_file() and check(path)
    assert path.parent.name.startswith("doclora-export-")


def test_export_error_reaches_the_user_as_one_sentence(scripted_core, insert_document):
    doc_id = insert_document(scripted_core.library, "Harbor Notes", ["Ferries."])
    with pytest.raises(Exception) as info:
        views.export_file(scripted_core, doc_id, "pdf")
    assert "Unknown export format 'pdf'" in str(info.value)
    assert not isinstance(info.value, gr.Error)  # the handler turns it into gr.Error


def test_export_folders_do_not_pile_up(scripted_core, insert_document, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # a temp dir of this test's own
    doc_id = insert_document(scripted_core.library, "Harbor Notes", ["Ferries."])
    stale = Path(views.export_file(scripted_core, doc_id, "markdown")).parent
    recent = Path(views.export_file(scripted_core, doc_id, "markdown")).parent
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    with pytest.raises(Exception, match="Unknown export format 'pdf'"):
        views.export_file(scripted_core, doc_id, "pdf")  # a failed export leaves no folder
    assert sorted(tmp_path.iterdir()) == [recent]  # the stale one was swept on the way
    newest = Path(views.export_file(scripted_core, doc_id, "gguf")).parent
    assert sorted(tmp_path.iterdir()) == sorted([recent, newest])


def test_an_export_is_served_from_a_copy_in_gradios_cache(scripted_core, insert_document,
                                                          tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    doc_id = insert_document(scripted_core.library, "Harbor Notes", ["Ferries."])
    path = Path(views.export_file(scripted_core, doc_id, "markdown"))
    url = views.served_url(gr.HTML(), path)
    prefix = "gradio_api/file="
    assert url.startswith(prefix)
    copy = Path(unquote(url[len(prefix):]))
    assert copy.parent.parent == tmp_path / "gradio" and copy.name == path.name
    assert copy.read_bytes() == path.read_bytes()
