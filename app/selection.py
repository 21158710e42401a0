"""What a question goes to: one value, resolved once by ``DocLoRA.selection`` and used by the
CLI, the window and the chat alike.

None, one or several documents may be selected. One document (or none: the base model) has a
chat: it is replayed before a question, saved after it, cleared and regenerated. Questions to
several documents keep no chat; their adapters are composed (``app.compose``).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import DocumentNotReadyError
from app.records import NEEDS_REINDEX, READY, Adapter, Document


@dataclass(frozen=True)
class Selection:
    """The selected documents and, once resolved for a question, the adapters that answer it."""

    documents: tuple[Document, ...] = ()  # each once, in the order given (empty: the base model)
    # The adapters to activate for the question it was resolved for, in the documents' order
    # (several are composed into one, ``app.compose``); empty before a question, and with no
    # document.
    adapters: tuple[Adapter, ...] = ()
    # For long documents, the chunks that answer (adapter id, chunk indices; ``app.chunks``) and the
    # pages they cover (document id, page numbers); an adapter not listed is active whole.
    chunks: tuple[tuple[int, tuple[int, ...]], ...] = ()
    pages: tuple[tuple[int, tuple[int, ...]], ...] = ()
    scale: float = 1.0  # the update's scale (``app.chunks.adapter_scale``: sums of many chunks shrink)
    # Each adapter's own scale (adapter id, scale): the pair's for its document's kind
    # (``Pair.adapter_scales``, ``hypernet.doc_kind``); an adapter not listed is applied at 1.
    member_scales: tuple[tuple[int, float], ...] = ()

    @property
    def chunk_map(self) -> dict[int, tuple[int, ...]]:
        """Adapter id -> the chunks kept, for the adapters not active whole."""
        return dict(self.chunks)

    @property
    def scale_map(self) -> dict[int, float]:
        """Adapter id -> its own scale, for the adapters not applied at 1."""
        return {i: s for i, s in self.member_scales if s != 1.0}

    @property
    def applied(self) -> tuple[Adapter, ...]:
        """The adapters whose update is not scaled to nothing (by the selection or by their own scale)."""
        if self.scale == 0.0:
            return ()
        own = dict(self.member_scales)
        return tuple(a for a in self.adapters if own.get(a.id, 1.0) != 0.0)

    @property
    def answered_pages(self) -> dict[int, list[int]]:
        """Document id -> the pages of the chunks that answer, for the long documents whose adapter is
        applied (a document whose kind's scale is 0 answered from none of its chunks)."""
        live = {a.document_id for a in self.applied}
        return {doc_id: list(pages) for doc_id, pages in self.pages if doc_id in live}

    @property
    def whole(self) -> bool:
        """Whether the one adapter is activated as it is stored (no chunk choice, no scaling)."""
        return len(self.adapters) <= 1 and not self.chunks and self.scale == 1.0 and not self.scale_map

    @property
    def ids(self) -> list[int]:
        """The selected documents' ids, in order."""
        return [d.id for d in self.documents]

    @property
    def document(self) -> Document | None:
        """The one selected document (None: no document, or several)."""
        return self.documents[0] if len(self.documents) == 1 else None

    @property
    def history(self) -> bool:
        """Whether a chat applies (replayed, saved, cleared, regenerated): with one document or
        none; questions to several documents keep none."""
        return len(self.documents) <= 1

    @property
    def chat(self) -> int | None:
        """The document whose chat applies (None: the no-document chat)."""
        return self.documents[0].id if self.history and self.documents else None


def ready_adapter(doc: Document, model: str) -> Adapter:
    """``doc``'s adapter for the pair ``model``; DocumentNotReadyError saying how to make one."""
    if doc.status == NEEDS_REINDEX:
        raise DocumentNotReadyError(
            f"'{doc.title}' was internalized with another model; re-internalize it for "
            f"{model} with 'doclora redo {doc.id}'.")
    if doc.status != READY or doc.adapter is None:
        raise DocumentNotReadyError(
            f"The adapter of '{doc.title}' is missing; rebuild it with "
            f"'doclora redo {doc.id}'.")
    return doc.adapter
