"""The library: one store class that owns the SQLite database (sqlite-utils).

Every public write is one ``with db.atomic():``; rows come back as the dataclasses of
``app.records``. File paths are stored relative to ``home_dir()`` and returned absolute. One
connection is shared by the app's threads behind a lock (the UI's handlers and the job worker).
"""

from __future__ import annotations

import difflib
import errno
import json
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout
from sqlite_utils import Database

from app.compose import forget as forget_compositions
from app.errors import (
    AmbiguousDocumentError, DiskFullError, DocLoRAError, DocumentNotFoundError, LibraryError,
    is_disk_full)
from app.migrations import migrations
from app.paths import home_dir, library_db_path
from app.records import (
    FAILED, JOB_FAILED, JOB_QUEUED, JOB_RUNNING, NEEDS_REINDEX, READY, Adapter, Collection,
    Document, Job, Message, Source)

# Words too common to help find the page that supports an answer.
_STOPWORDS = frozenset("""a an and are as at be by do does for from has have how i in is it its
me my of on or please reply say that the their this to was what when where which who why with
you your only number""".split())

MAX_TITLE = 120  # as converters.pdf caps a PDF's own title
# Bidirectional overrides and isolates: they reorder what a terminal or page shows.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def now() -> str:
    """UTC timestamp, ISO 8601, second precision."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def clean_title(text: str) -> str:
    """A title without control characters (NUL, terminal escapes, bidi overrides); line breaks
    and tabs become spaces, runs of spaces one."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in _BIDI or (category in ("Cc", "Cs") and not ch.isspace()):
            continue
        kept.append(" " if ch.isspace() or category in ("Zl", "Zp") else ch)
    return " ".join("".join(kept).split())


def checked_title(text: str) -> str:
    """A title a user typed, cleaned; refused when empty or longer than MAX_TITLE."""
    title = clean_title(text)
    if not title:
        raise LibraryError("The new title is empty; give a title with some text.")
    if len(title) > MAX_TITLE:
        raise LibraryError(f"The title has {len(title)} characters; give one of at most "
                           f"{MAX_TITLE}.")
    return title


def storage_error(exc: BaseException, path: Path | None = None) -> DocLoRAError:
    """One sentence for a failure of the library's database or folder (``exc`` from sqlite3 or
    the file system)."""
    home = home_dir()
    if is_disk_full(exc):
        return DiskFullError(f"The disk holding {home} is full; free some space and try again.")
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
            or "readonly" in text or "unable to open database" in text):
        return LibraryError(f"The library folder {home} cannot be written ({text}); give "
                            "yourself write access to it or set DOCLORA_HOME to another folder.")
    if isinstance(exc, Timeout):
        return LibraryError(f"Another DocLoRA process has held the library lock {exc.lock_file} "
                            "for a minute; wait for it to finish and try again.")
    if isinstance(exc, sqlite3.DatabaseError):
        return LibraryError(f"The library database {path or library_db_path()} is damaged "
                            f"({text}); restore it from a backup, or move it away together with "
                            "the 'adapters' and 'documents' folders to start afresh.")
    return LibraryError(f"The library in {home} could not be used ({text}); check the folder "
                        "and the free disk space.")


def connect(path: Path | None = None) -> Database:
    """The library database, created and migrated under a file lock: migrations read what is
    pending before they write, so two processes starting at once must not interleave."""
    path = path or library_db_path()
    try:
        with FileLock(f"{path}.lock", timeout=60):
            conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
            db = Database(conn)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            migrations.apply(db)
            db.execute("SELECT count(*) FROM documents").fetchone()  # a damaged file fails here
            return db
    except (sqlite3.Error, OSError, Timeout) as exc:
        raise storage_error(exc, path) from exc


def _terms(text: str) -> list[str]:
    return [w for w in re.findall(r"\w+", text.lower()) if w not in _STOPWORDS]


def _fts_any(text: str) -> str:
    """An FTS5 query matching any of the words of ``text`` (stopwords left out); "" if none."""
    return " OR ".join(f'"{t}"' for t in list(dict.fromkeys(_terms(text)))[:32])


def _did_you_mean(text: str, rows: list[dict]) -> str:
    """`` (did you mean 'Town guide'?)`` when a title or a word of one is close to ``text``."""
    words = {w: r["title"] for r in rows for w in [r["title"].lower(), *_terms(r["title"])]}
    close = difflib.get_close_matches(text.lower(), list(words), n=1, cutoff=0.6)
    return f" (did you mean '{words[close[0]]}'?)" if close else ""


class Library:
    """Documents, pages (FTS5), adapters, chats and jobs of one DOCLORA_HOME."""

    def __init__(self, db: Database, db_path: Path | None = None) -> None:
        self.db = db
        self.db_path = db_path or library_db_path()
        self.home = home_dir()
        self._lock = threading.RLock()
        migrations.apply(db)

    @classmethod
    def open(cls, path: Path | None = None) -> Library:
        """Open (creating and migrating) the library database, by default ``library_db_path()``;
        LibraryError/DiskFullError with a sentence when it cannot be used."""
        path = path or library_db_path()
        return cls(connect(path), path)

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
        adapters = list(self.db["adapters"].rows_where("document_id = ?", [row["id"]]))
        mine = next((self._adapter(a) for a in adapters if a["model"] == model), None)
        if mine is not None:
            status = READY if Path(mine.file).is_file() else FAILED
        else:
            status = NEEDS_REINDEX if adapters else FAILED
        return Document.from_row(row, adapter=mine, status=status)

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
            if text.isdigit() and self.db["documents"].count_where("id = ?", [int(text)]):
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

    def find_sha(self, sha256: str) -> dict | None:
        """The document row with this content hash, if any."""
        with self._lock:
            rows = list(self.db["documents"].rows_where("sha256 = ?", [sha256]))
            return rows[0] if rows else None

    def commit_ingest(self, *, sha256: str, title: str, file_name: str, source_file: str,
                      pages: list[tuple[int, str]], tokens: int, adapter: dict) -> int:
        """Insert a document (unless its hash is known), its pages and its adapter, atomically."""
        with self._lock, self.db.atomic():
            existing = self.find_sha(sha256)
            if existing is None:
                doc_id = self.db["documents"].insert({
                    "sha256": sha256, "title": clean_title(title)[:MAX_TITLE] or file_name, "file_name": file_name,
                    "source_file": self.rel(source_file), "pages": len(pages), "tokens": tokens,
                    "status": READY, "created": now(),
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
                    Path(self.abs(old[key])).unlink(missing_ok=True)
        return doc_id

    def rename(self, doc_id: int, title: str) -> None:
        """Set a document's title (see ``checked_title``)."""
        title = checked_title(title)
        with self._lock, self.db.atomic():
            self.db["documents"].update(doc_id, {"title": title})

    def remove(self, doc_id: int) -> list[str]:
        """Delete a document's rows (and the finished jobs that made it); returns its files
        (absolute) for the caller to delete."""
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
            Path(file).unlink(missing_ok=True)
            _remove_empty_parent(Path(file), self.home)
        composed = [str(p) for p in forget_compositions({a["id"] for a in adapters})]
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

    # -- collections -----------------------------------------------------------------------

    def _collection(self, row: dict) -> Collection:
        ids = [r["document_id"] for r in self.db["collection_documents"].rows_where(
            "collection_id = ?", [row["id"]], order_by="position")]
        return Collection(id=row["id"], name=row["name"], documents=ids, created=row["created"])

    def collections(self) -> list[Collection]:
        """Every collection, by name."""
        with self._lock:
            return [self._collection(r) for r in self.db["collections"].rows_where(order_by="name")]

    def collection(self, name: str) -> Collection:
        """A collection by its name (case-insensitive); DocumentNotFoundError if none."""
        with self._lock:
            rows = list(self.db["collections"].rows_where("lower(name) = lower(?)", [name.strip()]))
            if not rows:
                raise DocumentNotFoundError(
                    f"No collection is called '{name}'; run 'doclora collections list'.")
            return self._collection(rows[0])

    def save_collection(self, name: str, doc_ids: list[int]) -> Collection:
        """Create or replace the collection ``name`` with these documents."""
        name = clean_title(name)
        if not name or name.startswith("@") or "," in name:
            raise DocLoRAError("A collection name must be non-empty, without commas, and not "
                               "start with '@'.")
        if not doc_ids:
            raise DocLoRAError("A collection needs at least one document.")
        with self._lock, self.db.atomic():
            old = list(self.db["collections"].rows_where("lower(name) = lower(?)", [name]))
            if old:
                self.db["collection_documents"].delete_where("collection_id = ?", [old[0]["id"]])
                self.db["collections"].delete(old[0]["id"])
            cid = self.db["collections"].insert({"name": name, "created": now()}).last_pk
            self.db["collection_documents"].insert_all(
                {"collection_id": cid, "document_id": d, "position": i}
                for i, d in enumerate(dict.fromkeys(doc_ids)))
        return self.collection(name)

    def remove_collection(self, name: str) -> Collection:
        """Delete a collection (its documents stay)."""
        found = self.collection(name)
        with self._lock, self.db.atomic():
            self.db["collection_documents"].delete_where("collection_id = ?", [found.id])
            self.db["collections"].delete(found.id)
        return found

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


def _remove_empty_parent(path: Path, stop: Path) -> None:
    parent = path.parent
    if parent != stop and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
