"""The library store: documents, resolution by id/title, pages search, chats, jobs, removal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.errors import AmbiguousDocumentError, DocumentNotFoundError
from app.library import Library
from app.records import FAILED, NEEDS_REINDEX, READY, Source

from app_helpers import insert_document, library_state


@pytest.fixture
def lib() -> Library:
    library = Library.open()
    yield library
    library.close()


def test_documents_are_listed_newest_first_with_their_adapter(lib):
    a = insert_document(lib, "Alpha report", ["first page", "second page"])
    b = insert_document(lib, "Beta notes", ["only page"])
    docs = lib.documents("tiny-needle")
    assert [d.id for d in docs] == [b, a]
    assert docs[1].pages == 2 and docs[1].status == READY
    assert docs[1].adapter.rank == 9 and Path(docs[1].adapter.file).is_file()


def test_status_depends_on_the_active_pair_and_the_adapter_file(lib):
    doc = insert_document(lib, "Alpha", ["text"])
    assert lib.document(doc, "qwen3-4b").status == NEEDS_REINDEX
    Path(lib.document(doc, "tiny-needle").adapter.file).unlink()
    assert lib.document(doc, "tiny-needle").status == FAILED


CASES = [  # (ref, expected title or error class, words of the message)
    ("alpha", "Alpha report", None),
    ("ALPHA R", "Alpha report", None),
    ("beta", AmbiguousDocumentError, ["several documents", "use the id"]),
    ("Beta", AmbiguousDocumentError, ["several documents"]),
    ("gamma", DocumentNotFoundError, ["No document matches 'gamma'", "doclora list"]),
    ("", DocumentNotFoundError, ["No document matches"]),
    ("999", DocumentNotFoundError, ["No document matches '999'"]),
]


@pytest.mark.parametrize("ref, expected, words", CASES)
def test_resolve_by_title_prefix(lib, ref, expected, words):
    insert_document(lib, "Alpha report", ["a"])
    insert_document(lib, "Beta one", ["b"])
    insert_document(lib, "Beta two", ["c"])
    if isinstance(expected, str):
        assert lib.resolve(ref, "tiny-needle").title == expected
    else:
        with pytest.raises(expected) as info:
            lib.resolve(ref, "tiny-needle")
        for word in words:
            assert word in str(info.value)


def test_resolve_by_id_and_exact_title_wins_over_prefix(lib):
    first = insert_document(lib, "Notes", ["a"])
    insert_document(lib, "Notes 2", ["b"])
    assert lib.resolve(str(first), "m").id == first
    assert lib.resolve(first, "m").id == first
    assert lib.resolve("notes", "m").id == first


def test_search_matches_titles_and_page_text(lib):
    insert_document(lib, "Harbour guide", ["the lighthouse keeper"])
    insert_document(lib, "Recipes", ["warm bread and butter"])
    assert [d.title for d in lib.documents("m", search="harb")] == ["Harbour guide"]
    assert [d.title for d in lib.documents("m", search="bread")] == ["Recipes"]
    assert [d.title for d in lib.documents("m", search="50%")] == []


def test_search_pages_ranks_the_page_with_the_answer_first(lib):
    doc = insert_document(lib, "Town", [
        "The harbour town woke slowly on winter mornings.",
        "The keeper wrote down the ships. The special magic number is 4821.",
        "Children ran along the pier.",
    ])
    sources = lib.search_pages(doc, "What is the special magic number? 4821")
    assert sources[0].page == 2
    assert "**4821**" in sources[0].snippet
    assert lib.search_pages(doc, "what is the") == []


def test_commit_reuses_the_document_row_for_a_second_pair(lib):
    doc = insert_document(lib, "Town", ["page one"])
    row = lib.db["documents"].get(doc)
    gguf = lib.home / "adapters" / "x.gguf"
    gguf.write_bytes(b"x")
    again = lib.commit_ingest(sha256=row["sha256"], title="ignored", file_name="f.pdf",
                              source_file=str(gguf), pages=[(1, "page one")], tokens=2,
                              adapter={"model": "other", "base_model": "b", "hypernet_id": "h",
                                       "rank": 8, "n_chunks": 1, "file": str(gguf),
                                       "peft_file": str(gguf), "size": 1})
    assert again == doc
    assert lib.db["documents"].count == 1 and lib.db["pages"].count == 1
    assert lib.document(doc, "other").adapter.rank == 8


def test_remove_deletes_rows_and_files_and_leaves_others(lib):
    keep = insert_document(lib, "Keep", ["kept text"])
    before = library_state()
    gone = insert_document(lib, "Gone", ["gone text", "more"])
    lib.add_exchange(gone, "q?", "a.", [Source(1, "s")])
    files = lib.remove(gone)
    assert all(not Path(f).exists() for f in files) and len(files) == 3
    assert library_state() == before
    assert lib.document(keep, "tiny-needle").status == READY


def test_history_round_trip_pop_and_clear(lib):
    doc = insert_document(lib, "Town", ["text"])
    lib.add_exchange(doc, "first?", "one", [Source(2, "p **two**")])
    lib.add_exchange(doc, "second?", "two", [])
    lib.add_exchange(None, "no doc?", "base", [])
    history = lib.history(doc)
    assert [(m.role, m.content) for m in history] == [
        ("user", "first?"), ("assistant", "one"), ("user", "second?"), ("assistant", "two")]
    assert history[1].sources == [Source(2, "p **two**")]
    assert lib.pop_exchange(doc) == "second?"
    assert [m.content for m in lib.history(doc)] == ["first?", "one"]
    lib.clear_history(doc)
    assert lib.history(doc) == []
    assert [m.content for m in lib.history(None)] == ["no doc?", "base"]


def test_jobs_of_dead_processes_are_marked_failed(lib):
    mine = lib.create_job("/x.pdf", "x.pdf", "m", pid=os.getpid())
    dead = lib.create_job("/y.pdf", "y.pdf", "m", pid=2**22 + 7)
    assert lib.fail_jobs_of_dead(lambda pid: pid == os.getpid()) == 1
    assert lib.job(dead.id).status == "failed"
    assert "add the file again" in lib.job(dead.id).error
    assert lib.job(mine.id).status == "queued"



def test_a_broken_adapter_of_the_same_pair_is_replaced(lib):
    doc = insert_document(lib, "Town", ["page one"])
    old = lib.document(doc, "tiny-needle").adapter
    Path(old.file).unlink()
    new_file = lib.home / "adapters" / "new.gguf"
    new_file.write_bytes(b"GGUF")
    row = lib.db["documents"].get(doc)
    lib.commit_ingest(sha256=row["sha256"], title="x", file_name="f.pdf", source_file="s",
                      pages=[(1, "page one")], tokens=2,
                      adapter={"model": "tiny-needle", "base_model": "b", "hypernet_id": "h",
                               "rank": 8, "n_chunks": 1, "file": str(new_file),
                               "peft_file": str(new_file), "size": 4})
    fixed = lib.document(doc, "tiny-needle")
    assert fixed.status == READY and fixed.adapter.file == str(new_file)
    assert lib.db["adapters"].count == 1 and not Path(old.peft_file).exists()
