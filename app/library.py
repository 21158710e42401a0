"""The library: one store class that owns the SQLite database (sqlite-utils), every table.

Documents, pages, adapters, chats and jobs are here; collections (``app.library_collections``),
installed model pairs (``app.library_pairs``) and saved settings (``app.library_settings``) are
mixed in. Every public write is one ``with db.atomic():``; rows come back as the dataclasses of
``app.records``. File paths are stored relative to ``home_dir()`` and returned absolute. One
connection (``app.database``) is shared by the app's threads behind a lock (the UI's handlers
and the job worker).
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from sqlite_utils import Database

from app.compose import sweep as sweep_compositions
from app.database import connect, now, storage_error
from app.errors import AmbiguousDocumentError, DocumentNotFoundError
from app.library_collections import CollectionTables
from app.library_pairs import PairTable
from app.library_settings import SettingsTable
from app.paths import home_dir, library_db_path, remove_file
from app.records import (
    FAILED, JOB_FAILED, JOB_QUEUED, JOB_RUNNING, NEEDS_REINDEX, READY, Adapter, Document, Job,
    Message, Source)
from app.titles import MAX_TITLE, checked_title, clean_title
from app.words import terms




def document_status(adapters: list[Adapter], model: str) -> str:
    """The one re-index rule: READY with a usable adapter made by ``model``, NEEDS_REINDEX when
    the document only has adapters made by other pairs, FAILED otherwise (its adapter file is
    missing, or it has none)."""
    mine = next((a for a in adapters if a.model == model), None)
    if mine is not None:
        return READY if Path(mine.file).is_file() else FAILED
    return NEEDS_REINDEX if adapters else FAILED


def _fts_any(text: str) -> str:
    """An FTS5 query matching any of the words of ``text`` (stopwords left out); "" if none."""
    return " OR ".join(f'"{t}"' for t in list(dict.fromkeys(terms(text)))[:32])


def _did_you_mean(text: str, rows: list[dict]) -> str:
    """`` (did you mean 'Town guide'?)`` when a title or a word of one is close to ``text``."""
    words = {w: r["title"] for r in rows for w in [r["title"].lower(), *terms(r["title"])]}
    close = difflib.get_close_matches(text.lower(), list(words), n=1, cutoff=0.6)
    return f" (did you mean '{words[close[0]]}'?)" if close else ""


class Library(CollectionTables, PairTable, SettingsTable):
    """Documents, pages (FTS5), adapters, chats, jobs, collections, model pairs and settings of
    one DOCLORA_HOME, through one connection."""

    def __init__(self, db: Database, db_path: Path | None = None) -> None:
        """``db``: a connection from ``app.database.connect`` (created and migrated)."""
        self.db = db
        self.db_path = db_path or library_db_path()
        self.home = home_dir()
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path | None = None) -> Library:
        """Open (creating and migrating) the library database, by default ``library_db_path()``;
        LibraryError/DiskFullError with a sentence when it cannot be used. An old
        ``settings.json`` is imported here (``import_settings_file``)."""
        path = path or library_db_path()
        library = cls(connect(path), path)
        try:
            library.import_settings_file()
        except sqlite3.Error as exc:
            library.close()
            raise storage_error(exc, path) from exc
        return library

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.db.close()

    # -- paths -----------------------------------------------------------------------------

    def rel(self, path: str | Path) -> str:
        """A path as stored: relative to the home folder when inside it."""
        path = Path(path)
        try:
            return str(path.resolve().relative_to(self.home.resolve()))
        except ValueError:
            return str(path)

    def abs(self, stored: str | None) -> str | None:
        """A stored path made absolute."""
        return None if stored is None else str(self.home / stored)

    # -- documents -------------------------------------------------------------------------

    def _adapter(self, row: dict) -> Adapter:
        row = dict(row)
        row["file"], row["peft_file"] = self.abs(row["file"]), self.abs(row["peft_file"])
        return Adapter.from_row(row)

    def _document(self, row: dict, model: str) -> Document:
        adapters = [self._adapter(a) for a in
                    self.db["adapters"].rows_where("document_id = ?", [row["id"]])]
        mine = next((a for a in adapters if a.model == model), None)
        return Document.from_row(row, adapter=mine, status=document_status(adapters, model))

    def documents(self, model: str, search: str | None = None) -> list[Document]:
        """Documents newest first; ``search`` matches title substrings or words in the text."""
        with self._lock:
            where, args = "1", []
            words = re.findall(r"\w+", search or "")
            if search and search.strip():
                where = "title LIKE ? ESCAPE '\\'"
                like = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                args = [f"%{like}%"]
                if words:
                    match = " AND ".join(f'"{w}"*' for w in words)
                    where += (" OR id IN (SELECT document_id FROM pages WHERE id IN "
                              "(SELECT rowid FROM pages_fts WHERE pages_fts MATCH ?))")
                    args.append(match)
            rows = self.db["documents"].rows_where(where, args, order_by="id DESC")
            return [self._document(r, model) for r in rows]

    def document(self, doc_id: int, model: str) -> Document:
        """One document by id."""
        with self._lock:
            rows = list(self.db["documents"].rows_where("id = ?", [doc_id]))
            if not rows:
                raise DocumentNotFoundError(
                    f"No document has id {doc_id}; run 'doclora list' to see the ids.")
            return self._document(rows[0], model)

    def resolve(self, ref: int | str, model: str) -> Document:
        """A document by id (int or digits), a unique case-insensitive title prefix, or else
        the start of any word of a title ("millbrook" finds "The Millbrook Report")."""
        with self._lock:
            text = str(ref).strip()
            # ASCII digits only ('²'.isdigit() too), and few enough for SQLite's 64-bit ids.
            if re.fullmatch(r"[0-9]{1,18}", text) and self.db["documents"].count_where(
                    "id = ?", [int(text)]):
                return self.document(int(text), model)
            every = list(self.db["documents"].rows_where(order_by="id")) if text else []
            rows = [r for r in every if r["title"].lower().startswith(text.lower())]
            if not rows:
                word = re.compile(r"(?<!\w)" + re.escape(text.lower()))
                rows = [r for r in every if word.search(r["title"].lower())]
            if not rows:
                raise DocumentNotFoundError(
                    f"No document matches '{text}'{_did_you_mean(text, every)}; "
                    "run 'doclora list' to see ids and titles.")
            exact = [r for r in rows if r["title"].lower() == text.lower()]
            if len(rows) > 1 and len(exact) != 1:
                names = ", ".join(f"{r['id']} ({r['title']})" for r in rows[:5])
                raise AmbiguousDocumentError(
                    f"'{text}' matches several documents: {names}; use the id instead.")
            return self._document((exact or rows)[0], model)

    def document_count(self) -> int:
        """How many documents the library holds."""
        with self._lock:
            return self.db["documents"].count

    def find_sha(self, sha256: str) -> dict | None:
        """The document row with this content hash, if any."""
        with self._lock:
            rows = list(self.db["documents"].rows_where("sha256 = ?", [sha256]))
            return rows[0] if rows else None

    def commit_ingest(self, *, sha256: str, title: str, file_name: str, source_file: str,
                      pages: list[tuple[int, str]], tokens: int, adapter: dict) -> int:
        """Insert a document (unless its hash is known), its pages and its adapter, atomically.

        A known document keeps its stored copy, and its adapter of the same pair unless that
        adapter's file is missing (another process added the same file meanwhile): the files
        given then belong to no row, and the caller deletes them (``files_of`` says which)."""
        with self._lock, self.db.atomic():
            existing = self.find_sha(sha256)
            if existing is not None and any(
                    Path(self.abs(r["file"])).is_file() for r in self.db["adapters"].rows_where(
                        "document_id = ? AND model = ?", [existing["id"], adapter["model"]])):
                return existing["id"]
            if existing is None:
                doc_id = self.db["documents"].insert({
                    "sha256": sha256, "title": clean_title(title)[:MAX_TITLE] or file_name, "file_name": file_name,
                    "source_file": self.rel(source_file), "pages": len(pages), "tokens": tokens,
                    "created": now(),
                }).last_pk
                self.db["pages"].insert_all(
                    {"document_id": doc_id, "number": n, "text": text} for n, text in pages)
            else:
                doc_id = existing["id"]
            # A broken adapter of the same pair (its file went missing) is replaced.
            stale = list(self.db["adapters"].rows_where("document_id = ? AND model = ?",
                                                        [doc_id, adapter["model"]]))
            self.db["adapters"].delete_where("document_id = ? AND model = ?",
                                             [doc_id, adapter["model"]])
            row = dict(adapter, document_id=doc_id, created=now(),
                       file=self.rel(adapter["file"]), peft_file=self.rel(adapter["peft_file"]))
            self.db["adapters"].insert(row)
        for old in stale:
            for key in ("file", "peft_file"):
                if old[key]:
                    remove_file(self.abs(old[key]))
        if stale:  # their compositions too
            sweep_compositions(self.referenced_files())
        return doc_id

    def rename(self, doc_id: int, title: str) -> None:
        """Set a document's title (see ``checked_title``)."""
        title = checked_title(title)
        with self._lock, self.db.atomic():
            self.db["documents"].update(doc_id, {"title": title})

    def remove(self, doc_id: int) -> list[str]:
        """Delete a document's rows (and the finished jobs that made it), then its files and the
        compositions of its adapters; returns the files deleted (absolute), for the chat
        engine to forget."""
        with self._lock, self.db.atomic():
            doc = self.db["documents"].get(doc_id)
            adapters = list(self.db["adapters"].rows_where("document_id = ?", [doc_id]))
            files = [self.abs(a[k]) for a in adapters for k in ("file", "peft_file") if a[k]]
            files.append(self.abs(doc["source_file"]))
            self.db["collection_documents"].delete_where("document_id = ?", [doc_id])
            chat_ids = [r["id"] for r in self.db["chats"].rows_where("document_id = ?", [doc_id])]
            for chat_id in chat_ids:
                self.db["messages"].delete_where("chat_id = ?", [chat_id])
            self.db["chats"].delete_where("document_id = ?", [doc_id])
            self.db["adapters"].delete_where("document_id = ?", [doc_id])
            self.db["pages"].delete_where("document_id = ?", [doc_id])
            self.db["jobs"].delete_where("document_id = ?", [doc_id])  # its "Ready" cards go too
            self.db["documents"].delete(doc_id)
        for file in files:
            remove_file(file)
        composed = [str(p) for p in sweep_compositions(self.referenced_files())]
        return [f for f in files if f] + composed

    def source_file(self, doc_id: int) -> str:
        """The stored copy of a document's PDF (absolute path)."""
        with self._lock:
            return self.abs(self.db["documents"].get(doc_id)["source_file"])

    def files_of(self, doc_id: int) -> list[Path]:
        """A document's files: its stored PDF and every adapter's files (absolute)."""
        with self._lock:
            rows = list(self.db["adapters"].rows_where("document_id = ?", [doc_id]))
            files = [self.abs(a[k]) for a in rows for k in ("file", "peft_file") if a[k]]
            files.append(self.abs(self.db["documents"].get(doc_id)["source_file"]))
            return [Path(f) for f in files]

    def referenced_files(self) -> set[Path]:
        """Every file the library's rows point to (for sweeping orphans)."""
        with self._lock:
            out = {self.home / r["source_file"] for r in self.db["documents"].rows}
            for r in self.db["adapters"].rows:
                out.update(self.home / r[k] for k in ("file", "peft_file") if r[k])
            return out

    # -- pages -----------------------------------------------------------------------------

    def pages(self, doc_id: int) -> list[tuple[int, str]]:
        """(number, text) of every page, in order."""
        with self._lock:
            return [(r["number"], r["text"]) for r in
                    self.db["pages"].rows_where("document_id = ?", [doc_id], order_by="number")]

    def search_pages(self, doc_id: int, question: str, answer: str = "",
                     limit: int = 3) -> list[Source]:
        """The pages of a document that match the question's words, best first (FTS5, bm25).

        The answer's words rank them too, but only when they all occur on one page of the
        document (a grounded answer): a wrong answer never brings in a page of its own."""
        asked = _fts_any(question)
        if not asked:
            return []
        said = _fts_any(answer)
        sql = """SELECT pages.number AS page,
                        snippet(pages_fts, 0, '**', '**', '…', 16) AS snippet
                 FROM pages_fts JOIN pages ON pages.id = pages_fts.rowid
                 WHERE pages_fts MATCH ? AND pages.document_id = ?
                   AND pages_fts.rowid IN (SELECT rowid FROM pages_fts WHERE pages_fts MATCH ?)
                 ORDER BY bm25(pages_fts) LIMIT ?"""
        with self._lock:
            grounded = said and self.db.execute(
                """SELECT 1 FROM pages_fts JOIN pages ON pages.id = pages_fts.rowid
                   WHERE pages_fts MATCH ? AND pages.document_id = ? LIMIT 1""",
                [said.replace(" OR ", " AND "), doc_id]).fetchone()
            ranked = f"{asked} OR {said}" if grounded else asked
            rows = self.db.execute(sql, [ranked, doc_id, asked, limit]).fetchall()
        return [Source(page=page, snippet=" ".join(snippet.split())) for page, snippet in rows]

    def relevance(self, doc_ids: list[int], question: str) -> dict[int, float]:
        """How well the best page of each document matches the question's words: minus its
        FTS5 bm25 score (higher is better; 0.0 where no page matches)."""
        scores = dict.fromkeys(doc_ids, 0.0)
        asked = _fts_any(question)
        if not asked or not doc_ids:
            return scores
        marks = ", ".join("?" * len(doc_ids))
        sql = f"""SELECT pages.document_id, -bm25(pages_fts)
                  FROM pages_fts JOIN pages ON pages.id = pages_fts.rowid
                  WHERE pages_fts MATCH ? AND pages.document_id IN ({marks})"""
        with self._lock:  # bm25() cannot sit under an aggregate: the best page is taken here
            for doc_id, score in self.db.execute(sql, [asked, *doc_ids]).fetchall():
                scores[doc_id] = max(scores[doc_id], float(score))
        return scores

    # -- chats -----------------------------------------------------------------------------

    def _chat_id(self, doc_id: int | None, create: bool) -> int | None:
        where = "document_id IS NULL" if doc_id is None else "document_id = ?"
        args = [] if doc_id is None else [doc_id]
        rows = list(self.db["chats"].rows_where(where, args))
        if rows:
            return rows[0]["id"]
        if not create:
            return None
        return self.db["chats"].insert({"document_id": doc_id, "created": now()}).last_pk

    def history(self, doc_id: int | None) -> list[Message]:
        """Messages of a document's chat (None: the no-document chat), oldest first."""
        with self._lock:
            chat_id = self._chat_id(doc_id, create=False)
            if chat_id is None:
                return []
            rows = self.db["messages"].rows_where("chat_id = ?", [chat_id], order_by="id")
            return [Message.from_row(dict(r, document_id=doc_id)) for r in rows]

    def add_exchange(self, doc_id: int | None, question: str, answer: str,
                     sources: Iterable[Source]) -> None:
        """Append a question and its answer (with sources) to the chat."""
        sources_json = json.dumps([s.to_dict() for s in sources])
        with self._lock, self.db.atomic():
            chat_id = self._chat_id(doc_id, create=True)
            self.db["messages"].insert_all([
                {"chat_id": chat_id, "role": "user", "content": question, "sources": "[]",
                 "created": now()},
                {"chat_id": chat_id, "role": "assistant", "content": answer,
                 "sources": sources_json, "created": now()},
            ])

    def clear_history(self, doc_id: int | None) -> None:
        """Delete all messages of the chat."""
        with self._lock, self.db.atomic():
            chat_id = self._chat_id(doc_id, create=False)
            if chat_id is not None:
                self.db["messages"].delete_where("chat_id = ?", [chat_id])

    def pop_exchange(self, doc_id: int | None) -> str | None:
        """Remove the last user message and what follows it; returns that question."""
        with self._lock, self.db.atomic():
            chat_id = self._chat_id(doc_id, create=False)
            if chat_id is None:
                return None
            users = list(self.db["messages"].rows_where(
                "chat_id = ? AND role = 'user'", [chat_id], order_by="id DESC", limit=1))
            if not users:
                return None
            self.db["messages"].delete_where("chat_id = ? AND id >= ?", [chat_id, users[0]["id"]])
            return users[0]["content"]

    # -- jobs ------------------------------------------------------------------------------

    def create_job(self, path: str, file_name: str, model: str, pid: int) -> Job:
        """Record a queued ingestion job."""
        with self._lock, self.db.atomic():
            job_id = self.db["jobs"].insert({
                "path": path, "file_name": file_name, "model": model, "status": JOB_QUEUED,
                "stage": "queued", "fraction": 0.0, "eta_s": None, "error": None,
                "document_id": None, "pid": pid, "created": now(), "updated": now(),
            }).last_pk
        return self.job(job_id)

    def update_job(self, job_id: int, **values) -> None:
        """Update a job's status/stage/fraction/eta/error/document_id."""
        with self._lock, self.db.atomic():
            self.db["jobs"].update(job_id, dict(values, updated=now()))

    def job(self, job_id: int) -> Job:
        """One job by id."""
        with self._lock:
            rows = list(self.db["jobs"].rows_where("id = ?", [job_id]))
        if not rows:
            raise DocumentNotFoundError(f"No job has id {job_id}; list the jobs to see their ids.")
        return Job.from_row(rows[0])

    def jobs(self, active_only: bool = False) -> list[Job]:
        """Jobs newest first (``active_only``: queued or running)."""
        where = f"status IN ('{JOB_QUEUED}', '{JOB_RUNNING}')" if active_only else "1"
        with self._lock:
            return [Job.from_row(r) for r in self.db["jobs"].rows_where(where, order_by="id DESC")]

    def fail_jobs_of_dead(self, alive) -> int:
        """Mark queued/running jobs whose process is gone as failed; returns how many."""
        with self._lock, self.db.atomic():
            stale = [r["id"] for r in self.db["jobs"].rows_where(
                f"status IN ('{JOB_QUEUED}', '{JOB_RUNNING}')") if not alive(r["pid"])]
            for job_id in stale:
                self.db["jobs"].update(job_id, {
                    "status": JOB_FAILED, "updated": now(),
                    "error": "Interrupted because the app stopped; add the file again."})
            return len(stale)
