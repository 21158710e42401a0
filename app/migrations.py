"""The whole library schema as named, transactional steps (applied by ``app.database.connect``).

Never edit a step that has shipped: add ``m00N_...`` instead.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("doclora")


@migrations()
def m001_initial(db: Database) -> None:
    """Documents, pages (+FTS5), adapters, chats, messages, installed model pairs."""
    db["documents"].create({
        "id": int, "sha256": str, "title": str, "file_name": str, "source_file": str,
        "pages": int, "tokens": int, "status": str, "created": str,
    }, pk="id", not_null={"sha256", "title", "file_name", "pages", "tokens", "status", "created"})
    db["documents"].create_index(["sha256"], unique=True)

    db["pages"].create({"id": int, "document_id": int, "number": int, "text": str}, pk="id",
                       foreign_keys=[("document_id", "documents", "id")],
                       not_null={"document_id", "number", "text"})
    db["pages"].create_index(["document_id", "number"], unique=True)
    db["pages"].enable_fts(["text"], fts_version="FTS5", create_triggers=True,
                           tokenize="unicode61 remove_diacritics 2")

    db["adapters"].create({
        "id": int, "document_id": int, "model": str, "base_model": str, "hypernet_id": str,
        "rank": int, "n_chunks": int, "file": str, "peft_file": str, "size": int, "created": str,
    }, pk="id", foreign_keys=[("document_id", "documents", "id")],
        not_null={"document_id", "model", "rank", "file", "size", "created"})
    db["adapters"].create_index(["document_id", "model"], unique=True)

    db["chats"].create({"id": int, "document_id": int, "created": str}, pk="id",
                       foreign_keys=[("document_id", "documents", "id")])
    db["chats"].create_index(["document_id"], unique=True)
    db["messages"].create({
        "id": int, "chat_id": int, "role": str, "content": str, "sources": str, "created": str,
    }, pk="id", foreign_keys=[("chat_id", "chats", "id")],
        not_null={"chat_id", "role", "content", "created"})
    db["messages"].create_index(["chat_id"])

    # Installed model pairs; written by app/models (issue 6). Keep these columns exactly.
    db.execute("""
        CREATE TABLE models (
            name TEXT PRIMARY KEY, base_dir TEXT, gguf TEXT, hypernet TEXT,
            source TEXT, installed_at TEXT, active INTEGER
        )""")


@migrations()
def m002_jobs(db: Database) -> None:
    """Background ingestion jobs, so progress and errors survive a UI reload."""
    db["jobs"].create({
        "id": int, "path": str, "file_name": str, "model": str, "status": str, "stage": str,
        "fraction": float, "eta_s": float, "error": str, "document_id": int, "pid": int,
        "created": str, "updated": str,
    }, pk="id", not_null={"path", "file_name", "model", "status", "stage", "fraction", "created",
                          "updated"})


@migrations()
def m003_adapter_compression(db: Database) -> None:
    """Rank compression: the rank before compression and the share of the update's energy kept."""
    db["adapters"].add_column("original_rank", int)
    db["adapters"].add_column("energy", float)


@migrations()
def m004_collections(db: Database) -> None:
    """Collections: named selections of documents to chat with together."""
    db["collections"].create({"id": int, "name": str, "created": str}, pk="id",
                             not_null={"name", "created"})
    db["collections"].create_index(["name"], unique=True)
    db["collection_documents"].create(
        {"collection_id": int, "document_id": int, "position": int},
        pk=("collection_id", "document_id"),
        foreign_keys=[("collection_id", "collections", "id"), ("document_id", "documents", "id")],
        not_null={"position"})


@migrations()
def m005_drop_document_status(db: Database) -> None:
    """Drop ``documents.status``: a document's status depends on the active pair and is computed
    from its adapters (``app.library.document_status``); the stored value was never read.
    sqlite-utils rebuilds the table (any SQLite version), keeping its index and the foreign keys
    that point to it."""
    db["documents"].transform(drop={"status"})


@migrations()
def m006_settings(db: Database) -> None:
    """Settings (``app.settings.Settings``) kept in the library: one row per setting that was
    ever set, its value as JSON (the window kept them in ``settings.json`` before; the library
    imports that file when it opens, ``app.library_settings``)."""
    db["settings"].create({"key": str, "value": str}, pk="key", not_null={"value"})
