"""The library store: documents, resolution by id/title, pages search, chats, jobs, removal."""

from __future__ import annotations

import ctypes
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from app.errors import AmbiguousDocumentError, DocumentNotFoundError
from app.library import Library
from app.paths import REPO_ROOT
from app.records import FAILED, NEEDS_REINDEX, READY, Source

from app_helpers import library_state


@pytest.fixture
def lib() -> Library:
    library = Library.open()
    yield library
    library.close()


def test_documents_are_listed_newest_first_with_their_adapter(lib, insert_document):
    a = insert_document(lib, "Alpha report", ["first page", "second page"])
    b = insert_document(lib, "Beta notes", ["only page"])
    docs = lib.documents("tiny-needle")
    assert [d.id for d in docs] == [b, a]
    assert docs[1].pages == 2 and docs[1].status == READY
    assert docs[1].adapter.rank == 9 and Path(docs[1].adapter.file).is_file()


def test_status_depends_on_the_active_pair_and_the_adapter_file(lib, insert_document):
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
def test_resolve_by_title_prefix(lib, ref, expected, words, insert_document):
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


def test_resolve_by_id_and_exact_title_wins_over_prefix(lib, insert_document):
    first = insert_document(lib, "Notes", ["a"])
    insert_document(lib, "Notes 2", ["b"])
    assert lib.resolve(str(first), "m").id == first
    assert lib.resolve(first, "m").id == first
    assert lib.resolve("notes", "m").id == first


def test_search_matches_titles_and_page_text(lib, insert_document):
    insert_document(lib, "Harbour guide", ["the lighthouse keeper"])
    insert_document(lib, "Recipes", ["warm bread and butter"])
    assert [d.title for d in lib.documents("m", search="harb")] == ["Harbour guide"]
    assert [d.title for d in lib.documents("m", search="bread")] == ["Recipes"]
    assert [d.title for d in lib.documents("m", search="50%")] == []


def test_search_pages_ranks_the_page_with_the_answer_first(lib, insert_document):
    doc = insert_document(lib, "Town", [
        "The harbour town woke slowly on winter mornings.",
        "The keeper wrote down the ships. The special magic number is 4821.",
        "Children ran along the pier.",
    ])
    sources = lib.search_pages(doc, "What is the special magic number?", "4821")
    assert sources[0].page == 2
    assert "**4821**" in sources[0].snippet
    assert lib.search_pages(doc, "what is the", "4821") == []


def test_search_pages_ranks_by_the_question_and_only_a_grounded_answer(lib, insert_document):
    doc = insert_document(lib, "Spec", [
        "Desktops: the specification unifies GNOME and KDE menus.",
        "Types: 50:text/x-diff:*.diff and 51:text/x-patch.",
        "Desktops differ in their icons; the specification unifies KDE themes.",
    ])
    question = "Which desktops does the specification unify?"
    # "50" occurs in the document but on no page the question matches: it cites nothing new.
    assert [s.page for s in lib.search_pages(doc, question, "50")] == [1, 3]
    # a grounded answer ranks the pages the question matches: "GNOME" is on page 1 only.
    assert [s.page for s in lib.search_pages(doc, question, "GNOME")] == [1, 3]
    assert [s.page for s in lib.search_pages(doc, question, "icons")] == [3, 1]
    assert [s.page for s in lib.search_pages(doc, "Which icons differ?", "KDE themes")] == [3]
    assert lib.search_pages(doc, "Who wrote the preface?", "50") == []


def test_commit_reuses_the_document_row_for_a_second_pair(lib, insert_document):
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


def test_remove_deletes_rows_and_files_and_leaves_others(lib, insert_document):
    keep = insert_document(lib, "Keep", ["kept text"])
    before = library_state()
    gone = insert_document(lib, "Gone", ["gone text", "more"])
    lib.add_exchange(gone, "q?", "a.", [Source(1, "s")])
    files = lib.remove(gone)
    assert all(not Path(f).exists() for f in files) and len(files) == 3
    assert library_state() == before
    assert lib.document(keep, "tiny-needle").status == READY


def test_remove_takes_the_jobs_that_made_the_document(lib, insert_document):
    made, other = (lib.create_job(f"/tmp/{n}.pdf", f"{n}.pdf", "tiny-needle", 1) for n in "ab")
    doc = insert_document(lib, "Made", ["text"])
    lib.update_job(made.id, status="done", stage="done", document_id=doc)
    lib.remove(doc)
    assert [j.id for j in lib.jobs()] == [other.id]


def test_history_round_trip_pop_and_clear(lib, insert_document):
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



def test_a_broken_adapter_of_the_same_pair_is_replaced(lib, insert_document):
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


# -- opening the library: concurrency, damage, permissions (issue 14) -------------------------

def _cli(home: Path, *args: str, preexec_fn=None):
    env = dict(os.environ, DOCLORA_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "app", *args], env=env, capture_output=True,
                          text=True, timeout=300, preexec_fn=preexec_fn, cwd=REPO_ROOT)


def test_several_commands_at_once_on_a_fresh_home_all_work(tmp_path):
    home = tmp_path / "fresh"
    env = dict(os.environ, DOCLORA_HOME=str(home))
    procs = [subprocess.Popen([sys.executable, "-m", "app", "list"], env=env, cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert [rc for rc, _ in results] == [0] * 6, results
    conn = sqlite3.connect(home / "library.db")
    applied = conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id").fetchall()
    assert [n for (n,) in applied] == ["m001_initial", "m002_jobs", "m003_adapter_compression",
                                       "m004_collections", "m005_drop_document_status",
                                       "m006_settings"]


def test_a_starting_command_waits_for_another_one_migrating(doclora_home):
    db = doclora_home / "library.db"
    env = dict(os.environ, DOCLORA_HOME=str(doclora_home))
    with FileLock(f"{db}.lock"):  # as a process in the middle of its migrations holds it
        proc = subprocess.Popen([sys.executable, "-m", "app", "list"], env=env, cwd=REPO_ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(5)  # `doclora list` takes about 1 s on its own
        assert proc.poll() is None and not db.exists()
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert "The library is empty" in proc.stdout.read()


def test_a_damaged_database_is_one_sentence_and_left_as_it_was(doclora_home):
    db = doclora_home / "library.db"
    db.write_bytes(b"this is not an SQLite database at all" * 100)
    before = db.read_bytes()
    result = _cli(doclora_home, "list")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"Error: The library database {db} is damaged")
    assert "restore it from a backup" in result.stderr and "Traceback" not in result.stderr
    assert db.read_bytes() == before


def _without_root_powers() -> None:
    """In the child: drop the capabilities that let root ignore file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_read_only_home_is_one_sentence_even_for_list(doclora_home, insert_document):
    lib = Library.open()
    insert_document(lib, "Existing", ["Some earlier text."])
    lib.close()
    state = library_state()
    for path in [doclora_home, *doclora_home.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        for args in (["list"], ["rename", "1", "New"]):
            result = _cli(doclora_home, *args, preexec_fn=_without_root_powers)
            assert result.returncode == 2, (args, result.stdout, result.stderr)
            assert f"Error: The library folder {doclora_home} cannot be written" in result.stderr
            assert "Traceback" not in result.stderr
    finally:
        for path in [doclora_home, *doclora_home.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert library_state() == state
