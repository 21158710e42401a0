"""The schema: every step applies on a new database, is recorded, and is not applied twice."""

from __future__ import annotations

import json
import sqlite3

from sqlite_utils import Database

from app.library import Library
from app.migrations import migrations
from app.paths import library_db_path
from app.settings import Settings


def test_fresh_database_gets_every_table_and_the_models_columns_exactly():
    Library.open().close()
    db = Database(sqlite3.connect(library_db_path()))
    assert {"documents", "pages", "pages_fts", "adapters", "chats", "messages", "models",
            "jobs", "collections", "collection_documents", "settings"} <= set(db.table_names())
    cols = {c.name: c.type for c in db["models"].columns}
    assert cols == {"name": "TEXT", "base_dir": "TEXT", "gguf": "TEXT", "hypernet": "TEXT",
                    "source": "TEXT", "installed_at": "TEXT", "active": "INTEGER"}
    assert db["models"].pks == ["name"]
    applied = [m.name for m in migrations.applied(db)]
    assert applied == ["m001_initial", "m002_jobs", "m003_adapter_compression",
                       "m004_collections", "m005_drop_document_status", "m006_settings"]
    assert "status" not in {c.name for c in db["documents"].columns}


def test_reopening_applies_nothing_again_and_keeps_rows():
    lib = Library.open()
    lib.db["models"].insert({"name": "x", "active": 1})
    lib.close()
    lib = Library.open()
    assert migrations.pending(lib.db) == []
    assert lib.db["models"].count == 1
    assert len(migrations.applied(lib.db)) == 6


def test_fts_index_follows_page_inserts_and_deletes():
    lib = Library.open()
    with lib.db.atomic():
        doc = lib.db["documents"].insert({"sha256": "s", "title": "t", "file_name": "f",
                                          "pages": 1, "tokens": 1, "created": "now"}).last_pk
        lib.db["pages"].insert({"document_id": doc, "number": 1, "text": "lighthouse keeper"})
    hits = lib.db.execute("SELECT rowid FROM pages_fts WHERE pages_fts MATCH 'keeper'").fetchall()
    assert len(hits) == 1
    with lib.db.atomic():
        lib.db["pages"].delete_where("document_id = ?", [doc])
    assert lib.db.execute("SELECT count(*) FROM pages_fts").fetchone()[0] == 0


def test_rows_written_before_m003_read_back_without_compression_fields():
    db = Database(sqlite3.connect(library_db_path()))
    migrations.apply(db, stop_before="m003_adapter_compression")
    with db.atomic():
        doc = db["documents"].insert({"sha256": "s", "title": "Old", "file_name": "f", "pages": 1,
                                      "tokens": 1, "status": "ready", "created": "c"}).last_pk
        db["adapters"].insert({"document_id": doc, "model": "tiny-needle", "base_model": "b",
                               "hypernet_id": "h", "rank": 16, "n_chunks": 1, "file": "a.gguf",
                               "peft_file": "a.st", "size": 1, "created": "c"})
    db.close()
    lib = Library.open()
    adapter = lib.document(doc, "tiny-needle").adapter
    assert (adapter.rank, adapter.original_rank, adapter.energy) == (16, None, None)


def test_default_rank_bound_is_the_one_measured_by_the_compression_benchmark():
    from hypernet.compress import DEFAULT_MAX_ADAPTER_RANK
    from app.settings import Settings
    assert Settings().max_adapter_rank == DEFAULT_MAX_ADAPTER_RANK


def test_a_library_from_before_m004_gets_collections_that_round_trip():
    db = Database(sqlite3.connect(library_db_path()))
    migrations.apply(db, stop_before="m004_collections")
    with db.atomic():
        ids = [db["documents"].insert({"sha256": s, "title": s, "file_name": "f", "pages": 1,
                                       "tokens": 1, "status": "ready", "created": "c",
                                       "source_file": f"{s}.pdf"}).last_pk
               for s in ("s1", "s2")]
    db.close()
    lib = Library.open()
    lib.save_collection("Both", [ids[1], ids[0], ids[1]])
    lib.close()
    lib = Library.open()
    assert [(c.name, c.documents) for c in lib.collections()] == [("Both", [ids[1], ids[0]])]
    lib.remove(ids[0])
    assert lib.collection("both").documents == [ids[1]]


def test_a_library_from_before_m005_loses_the_status_column_and_keeps_its_rows(doclora_home):
    db = Database(sqlite3.connect(library_db_path()))
    migrations.apply(db, stop_before="m005_drop_document_status")
    (doclora_home / "a.gguf").write_bytes(b"GGUF")
    with db.atomic():
        old = {"sha256": "s1", "title": "Old report", "file_name": "old.pdf", "pages": 1,
               "tokens": 7, "status": "ready", "created": "c", "source_file": "old.pdf"}
        doc = db["documents"].insert(old).last_pk
        other = db["documents"].insert(dict(old, sha256="s2", title="Other pair's",
                                            status="needs-reindex")).last_pk
        db["pages"].insert({"document_id": doc, "number": 1, "text": "the lighthouse keeper"})
        for doc_id, model in ((doc, "tiny-needle"), (other, "qwen3-4b")):
            db["adapters"].insert({"document_id": doc_id, "model": model, "base_model": "b",
                                   "hypernet_id": "h", "rank": 8, "n_chunks": 1,
                                   "file": "a.gguf", "peft_file": "a.st", "size": 4,
                                   "created": "c"})
    db.close()
    lib = Library.open()
    assert "status" not in {c.name for c in lib.db["documents"].columns}
    assert {k: v for k, v in lib.db["documents"].get(doc).items()} == {
        k: v for k, v in dict(old, id=doc).items() if k != "status"}
    listed = {d.title: d.status for d in lib.documents("tiny-needle")}
    assert listed == {"Old report": "ready", "Other pair's": "needs-reindex"}
    assert [d.title for d in lib.documents("tiny-needle", search="keeper")] == ["Old report"]
    assert lib.pages(doc) == [(1, "the lighthouse keeper")]
    assert [(i.columns, i.unique) for i in lib.db["documents"].indexes] == [(["sha256"], 1)]
    assert lib.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert {fk.other_table for t in ("pages", "adapters", "chats", "collection_documents")
            for fk in lib.db[t].foreign_keys} >= {"documents"}


def test_a_library_from_before_m006_gains_the_settings_table_and_imports_settings_json_once(
        doclora_home):
    db = Database(sqlite3.connect(library_db_path()))
    migrations.apply(db, stop_before="m006_settings")
    db.close()
    old = doclora_home / "settings.json"  # as the window wrote it before m006
    old.write_text(json.dumps({"device": "gpu", "max_tokens": 48, "temperature": -1,
                               "from_a_newer_version": 1}))
    lib = Library.open()
    assert {c.name for c in lib.db["settings"].columns} == {"key", "value"}
    assert lib.saved_settings() == Settings(device="gpu", max_tokens=48)  # -1 is refused
    imported = doclora_home / "settings.json.imported"
    assert not old.exists() and json.loads(imported.read_text())["max_tokens"] == 48
    lib.save_settings({"max_tokens": 64})
    lib.close()
    lib = Library.open()  # the import is not repeated
    assert lib.saved_settings() == Settings(device="gpu", max_tokens=64)
    lib.close()
    old.write_text(json.dumps({"max_tokens": 16, "n_ctx": 512}))  # written again by an old copy
    lib = Library.open()
    assert lib.saved_settings() == Settings(device="gpu", max_tokens=64, n_ctx=512)  # saved win
    lib.close()
    assert not old.exists()


def test_a_damaged_settings_json_is_left_where_it_is():
    old = library_db_path().parent / "settings.json"
    old.write_text("{not json")
    lib = Library.open()
    assert lib.saved_settings() == Settings() and lib.db["settings"].count == 0
    lib.close()
    assert old.read_text() == "{not json"
