"""The ``collections`` and ``collection_documents`` tables: named selections of documents.

Mixed into ``app.library.Library``, whose connection (``db``) and lock (``_lock``) they use.
"""

from __future__ import annotations

import threading
import unicodedata

from sqlite_utils import Database

from app.database import now
from app.errors import DocLoRAError, DocumentNotFoundError
from app.records import Collection
from app.titles import clean_title

MAX_NAME = 64


def collection_name(text: str) -> str:
    """A collection's name as stored and looked up: a clean title (``clean_title``) without
    invisible format characters (zero-width spaces and joiners), so look-alikes are one name."""
    visible = "".join(ch for ch in clean_title(text) if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


class CollectionTables:
    """Collections of one library (each write one ``with db.atomic():``)."""

    db: Database
    _lock: threading.RLock

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
            rows = list(self.db["collections"].rows_where("lower(name) = lower(?)",
                                                          [collection_name(name)]))
            if not rows:
                raise DocumentNotFoundError(
                    f"No collection is called '{name}'; run 'doclora collections list'.")
            return self._collection(rows[0])

    def save_collection(self, name: str, doc_ids: list[int]) -> Collection:
        """Create or replace the collection ``name`` with these documents."""
        name = collection_name(name)
        if not name or name.startswith("@") or "," in name:
            raise DocLoRAError("A collection name must be non-empty, without commas, and not "
                               "start with '@'.")
        if len(name) > MAX_NAME:
            raise DocLoRAError(f"A collection name has at most {MAX_NAME} characters, not "
                               f"{len(name)}; give a shorter one.")
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
