"""Plain dataclasses for everything the app API returns (rows, progress, answers, status).

They hold no behaviour beyond ``from_row`` (build from a sqlite-utils row dict) and ``to_dict``
(JSON-ready, used by ``--json`` output and the UI).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Stage:
    """One stage of an ingestion: what it means to a user, and where it starts and ends on the
    overall 0..1 progress scale."""

    label: str
    span: tuple[float, float]


# The stages of one ingestion, in order (ProgressEvent.stage / Job.stage).
STAGES: dict[str, Stage] = {
    "queued": Stage("Waiting in the queue", (0.0, 0.0)),
    "extract": Stage("Reading the PDF", (0.0, 0.08)),
    "chunk": Stage("Splitting into chunks", (0.08, 0.12)),
    "encode": Stage("Writing the LoRA", (0.12, 0.9)),
    "write": Stage("Saving the GGUF adapter", (0.9, 0.97)),
    "commit": Stage("Adding to the library", (0.97, 1.0)),
    "done": Stage("Ready", (1.0, 1.0)),
}

# Document.status values.
READY = "ready"  # has a usable adapter for the active model pair
NEEDS_REINDEX = "needs-reindex"  # only has adapters made by another model pair
FAILED = "failed"  # its adapter file for the active pair is missing or unreadable
KNOWN = "known"  # Job.stage of a done job whose file was already in the library
NO_SUPPORT = "No page contains this answer."  # no page holds the answer's numbers and words
SUPPORT_TITLE = "Supporting pages"  # pages that hold the answer (Source.supports)
MATCHES_TITLE = "Pages matching your question"  # keyword hits, offered when no page holds it

# Job.status values.
JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED = (
    "queued", "running", "done", "failed", "cancelled")


class _Row:
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        return asdict(self)  # type: ignore[call-overload]


@dataclass
class Adapter(_Row):
    """One document's LoRA adapter for one model pair."""

    id: int
    document_id: int
    model: str  # model pair name, e.g. "tiny-needle"
    base_model: str  # base fingerprint recorded by the hypernetwork
    hypernet_id: str
    rank: int
    n_chunks: int
    file: str  # GGUF adapter path
    peft_file: str  # DocumentAdapter safetensors (for PEFT export / re-conversion)
    size: int  # bytes of the GGUF file
    created: str
    original_rank: int | None = None  # rank before compression (None: rows from before m003)
    energy: float | None = None  # share of the LoRA update's energy kept by compression (1.0: exact)

    @classmethod
    def from_row(cls, row: dict) -> Adapter:
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__})


@dataclass
class Document(_Row):
    """A document in the library (status is relative to the active model pair)."""

    id: int
    title: str
    file_name: str
    sha256: str
    pages: int
    tokens: int
    created: str
    status: str = READY
    adapter: Adapter | None = None  # the adapter for the active model pair, if any

    @classmethod
    def from_row(cls, row: dict, adapter: Adapter | None = None, status: str = READY) -> Document:
        return cls(id=row["id"], title=row["title"], file_name=row["file_name"],
                   sha256=row["sha256"], pages=row["pages"], tokens=row["tokens"],
                   created=row["created"], status=status, adapter=adapter)


@dataclass
class Source(_Row):
    """A page shown under an answer, with a short snippet (matching words between ``**``):
    a page that holds the answer (``supports``), or else one that matches the question."""

    page: int
    snippet: str
    title: str | None = None  # the document's title, when an answer draws on several documents
    supports: bool = False  # the page holds the answer's words (app.support); stored chats before
    # this field have keyword hits only


@dataclass
class Collection(_Row):
    """A named, saved selection of documents (chatted with all together)."""

    id: int
    name: str
    documents: list[int]  # document ids, in the order they were given
    created: str


@dataclass
class Message(_Row):
    """One chat message; document_id is None in "no document" mode."""

    id: int
    document_id: int | None
    role: str  # "user" | "assistant"
    content: str
    sources: list[Source]
    created: str

    @classmethod
    def from_row(cls, row: dict) -> Message:
        sources = [Source(**s) for s in json.loads(row["sources"] or "[]")]
        return cls(id=row["id"], document_id=row["document_id"], role=row["role"],
                   content=row["content"], sources=sources, created=row["created"])


@dataclass
class Answer(_Row):
    """An answer, complete or (while streaming) partial.

    ``stream()`` yields these with ``text`` growing and ``delta`` the newly added text; the last one
    has ``done=True`` and the supporting ``sources``.
    """

    text: str
    sources: list[Source] = field(default_factory=list)
    document: int | None = None
    delta: str = ""
    done: bool = False
    documents: list[int] = field(default_factory=list)  # every selected document
    stopped: bool = False  # the user stopped generation early
    revised: bool = False  # answered again from the document's best passages (app.grounding)
    quoted: bool = False  # that answer invented too: the document's best-matching sentence, quoted
    from_passages: bool = False  # the pair does not apply the document's adapter (its kind's scale is 0):
    #                              answered from the document's best passages from the start (app.grounding)
    chunk_pages: dict[int, list[int]] = field(default_factory=dict)  # long documents: the pages whose
    #                                   chunks answered (document id -> page numbers; app.chunks)


@dataclass
class ProgressEvent(_Row):
    """Progress of one ingestion: stage (see STAGES), overall fraction 0..1, ETA in seconds."""

    stage: str
    fraction: float
    message: str = ""
    eta_s: float | None = None


@dataclass
class Ingested(_Row):
    """What one ingestion did: the ready document, and whether its file was already in the
    library for this pair (then its adapter was reused and nothing was written)."""

    document: Document
    known: bool = False


@dataclass
class Job(_Row):
    """A queued/running/finished ingestion submitted with ``DocLoRA.submit`` (kept in the library
    so progress and errors survive a page reload)."""

    id: int
    path: str
    file_name: str
    model: str
    status: str  # queued | running | done | failed | cancelled
    stage: str
    fraction: float
    eta_s: float | None
    error: str | None
    document_id: int | None
    created: str
    updated: str

    @classmethod
    def from_row(cls, row: dict) -> Job:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


@dataclass
class Status(_Row):
    """What the status line shows: active model pair, device, and the document's adapter."""

    model: str
    demo: bool  # the bundled tiny-needle pair is active
    device: str  # "cpu" or e.g. "gpu (CUDA)"
    base_gguf: str
    base_loaded: bool
    model_notes: str = ""  # what the active pair can do
    document: int | None = None
    adapter_rank: int | None = None
    adapter_size: int | None = None  # bytes
    adapter_file: str | None = None
