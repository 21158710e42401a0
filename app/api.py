"""The one facade the CLI and the Gradio UI both use.

    from app.api import DocLoRA
    app = DocLoRA()                       # active model pair (DOCLORA_MODEL, library, or demo)
    doc = app.add("paper.pdf", progress=print)
    answer = app.ask(doc.id, "What is the special magic number?")
    print(answer.text, [s.page for s in answer.sources])

Documents are referred to by ``ref``: an int id, a str of digits (id), or a unique title prefix
(case-insensitive). ``ask``/``stream`` also take several documents at once: a list of refs, a
str "3,5,8", or "@NAME" for a saved collection; their adapters are composed (``app.compose``).
``selection`` resolves any of these once into a ``Selection`` (``app.selection``), which the chat
methods also take.
Every method raises ``app.errors.DocLoRAError`` subclasses only (their message is one sentence
for the user). Methods are thread-safe: the UI may call them from several handlers
while the background queue ingests files.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from app import exports
from app.api_pairs import PairCommands
from app.chunks import adapter_scale, choose, document_text, read_chunk_map
from app.grounding import (MIN_PASSAGE_WORDS, PASSAGE_WORDS, QUOTED_NOTE, REVISED_NOTE, best_passages, best_quote,
                           unfounded)
from app.compose import composed_file, focus
from app.chat import ChatEngine, build_messages, is_stopped
from app.errors import DocLoRAError, DocumentNotFoundError, DocumentNotReadyError, translated_errors
from app.jobs import JobQueue
from app.library import Library
from app.models import Pair, active_pair, check_pair
from app.pipeline import Ingestor
from app.selection import Selection, ready_adapter
from app.settings import RELOADING, Settings, checked, context_refusal
from app.staging import check_owned, clean_leftovers, journal
from app.suggest import suggested_questions
from app.support import answer_sources
from app.records import (
    Adapter, Answer, Collection, Document, Ingested, Job, Message, ProgressEvent, Source, Status)
from hypernet.doc_kind import document_kind

Ref = int | str
Refs = Ref | list[Ref] | tuple[Ref, ...] | None
StopFlag = threading.Event | Callable[[], bool] | None

__all__ = ["DocLoRA", "Answer", "Document", "Ingested", "Job", "Message", "ProgressEvent",
           "Selection", "Settings", "Status", "DocLoRAError"]


class DocLoRA(PairCommands):
    """Library + ingestion + chat for one active model pair.

    ``model``: pair name (else ``$DOCLORA_MODEL``, else the pair marked active, else the bundled
    demo ``tiny-needle``). ``settings``: instead of the ones saved in the library. ``engine``: a
    chat engine to use instead of llama.cpp (tests). ``warnings``: sentences for the user about
    the library (saved settings ignored).
    """

    def __init__(self, model: str | None = None, *, settings: Settings | None = None,
                 engine: ChatEngine | None = None) -> None:
        self.library = Library.open()
        try:
            check_owned(self.library)
        except DocLoRAError:
            self.library.close()
            raise
        self.settings = settings or self.library.saved_settings()
        self.warnings = [] if settings else self.library.settings_problems()
        self._model_name = model
        self._pair: Pair | None = None
        self._engine = engine
        self._ingestor: Ingestor | None = None
        self._queue: JobQueue | None = None
        self._lock = threading.RLock()
        self._kinds: dict[str, str] = {}  # adapter file -> its document's kind (``_kind``)
        self._tidied = False

    def tidy(self) -> None:
        """Remove what killed processes left behind (once; before the first write, and when the
        window starts). Read-only commands never sweep."""
        with self._lock:
            if not self._tidied:
                clean_leftovers(self.library)
                self._tidied = True

    # -- model pair and engines (created on first use) -------------------------------------

    @property
    def pair(self) -> Pair:
        """The active model pair (its files are checked when the engines load)."""
        with self._lock:
            if self._pair is None:
                self._pair = active_pair(self.library, self._model_name)
            return self._pair

    @property
    def engine(self) -> ChatEngine:
        """The chat engine (the base GGUF is loaded on the first answer, not here)."""
        with self._lock:
            if self._engine is None:
                self._engine = ChatEngine(check_pair(self.pair).gguf, self.settings)
            return self._engine

    @property
    def ingestor(self) -> Ingestor:
        """The ingestion pipeline for the active pair (loads the hypernetwork on first use)."""
        with self._lock:
            if self._ingestor is None:
                self.tidy()
                self._ingestor = Ingestor(self.library, self.pair, self.settings)
            return self._ingestor

    def configure(self, *, save: bool = True, **changes) -> Settings:
        """Change settings (see ``Settings``) and/or ``model=NAME``; reloads what they affect.

        The values are checked first (a bad one: DocLoRAError, nothing changed), then saved in
        the library for the next start (``save=False``: for this session only); the model pair
        is chosen for this session (``doclora models use`` makes one active)."""
        model = changes.pop("model", None)
        changes = checked(changes)
        with self._lock:
            if changes.get("n_ctx"):  # bounded by the model it will run
                pair = active_pair(self.library, model) if model else self.pair
                too_long = context_refusal(changes["n_ctx"], pair.gguf)
                if too_long:
                    raise too_long
            if save and changes:
                self.library.save_settings(changes)
            new = replace(self.settings, **changes)
            if model and model != self.pair.name:
                self._model_name, self._pair = model, None
                self._drop_engines()
            elif any(getattr(new, k) != getattr(self.settings, k) for k in RELOADING):
                self._drop_engines()
            self.settings = new
            if self._engine is not None:
                self._engine.settings = new
            if self._ingestor is not None:
                self._ingestor.settings = new
            return new

    def _pairs_changed(self) -> None:
        """The active pair may have changed (pulled, used, removed): unless this session chose
        its pair, it is looked up again, with fresh engines, on next use."""
        with self._lock:
            if self._model_name is None:
                self._pair = None
                self._drop_engines()

    def _drop_engines(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self._engine = None
        self._ingestor = None

    # -- documents -------------------------------------------------------------------------

    def documents(self, search: str | None = None) -> list[Document]:
        """All documents, newest first; ``search`` matches titles and page text."""
        return self.library.documents(self.pair.name, search=search)

    def get(self, ref: Ref) -> Document:
        """One document by id or unique title prefix (DocumentNotFound/AmbiguousDocument)."""
        return self.library.resolve(ref, self.pair.name)

    def ingest(self, path: str | Path, password: str | None = None,
               progress: Callable[[ProgressEvent], None] | None = None,
               cancel: StopFlag = None, title: str | None = None) -> Ingested:
        """Internalize one PDF (synchronous); returns its ready document, and whether the same
        file (sha256) was already internalized for this pair (then it is returned at once).

        ``progress`` gets ProgressEvents; ``cancel`` (Event or callable) aborts with
        CancelledError. On any failure nothing is left behind in the library.
        """
        return self.ingestor.run(Path(path), password=password, progress=progress,
                                 cancel=cancel, title=title)

    def add(self, path: str | Path, password: str | None = None,
            progress: Callable[[ProgressEvent], None] | None = None,
            cancel: StopFlag = None, title: str | None = None) -> Document:
        """``ingest``, returning the ready document alone."""
        return self.ingest(path, password, progress, cancel, title).document

    def submit(self, path: str | Path, password: str | None = None) -> Job:
        """Queue a PDF for ingestion in the background; returns its Job at once."""
        return self._jobs().submit(Path(path), password)

    def redo(self, ref: Ref, password: str | None = None) -> Job:
        """Internalize a document again for the active pair (from its stored copy), queued."""
        doc = self.get(ref)
        source = Path(self.library.source_file(doc.id))
        if not source.is_file():
            raise DocumentNotReadyError(f"The stored copy of '{doc.title}' is missing; add the "
                                        "original file again.")
        return self._jobs().submit(source, password, file_name=doc.file_name)

    def jobs(self, active_only: bool = False) -> list[Job]:
        """Submitted jobs, newest first (progress, ETA, errors; persisted in the library)."""
        return self.library.jobs(active_only=active_only)

    def job(self, job_id: int) -> Job:
        """One job by id."""
        return self.library.job(job_id)

    def cancel(self, job_id: int) -> Job:
        """Cancel a queued or running job (the running one stops at its next progress step)."""
        return self._jobs().cancel(job_id)

    def wait(self, job_id: int, timeout: float | None = None) -> Job:
        """Block until a job is finished (done, failed or cancelled) or ``timeout`` passes."""
        return self._jobs().wait(job_id, timeout)

    def _jobs(self) -> JobQueue:
        with self._lock:
            if self._queue is None:
                self.tidy()
                self._queue = JobQueue(self.library, lambda: self.ingestor)
            return self._queue

    def rename(self, ref: Ref, title: str) -> Document:
        """Give a document a new title."""
        doc = self.get(ref)
        self.library.rename(doc.id, title)
        return self.get(doc.id)

    def remove(self, ref: Ref) -> Document:
        """Delete a document, its adapters (all pairs), pages, chat and files."""
        doc = self.get(ref)
        with journal(self.library.files_of(doc.id)):  # a kill after the commit leaves no orphans
            files = self.library.remove(doc.id)
        if self._engine is not None:
            for file in files:
                self._engine.forget_adapter(file)
        return doc

    def export(self, ref: Ref, format: str, out: str | Path | None = None,
               force: bool = False) -> Path:
        """Export the adapter (``gguf``, ``peft``) or the chat (``markdown``); returns the path.

        ``out``: a file, or a folder (an existing one, or any path ending with a slash) that gets
        the default name; an existing file is replaced only with ``force``."""
        doc = self.get(ref)
        with translated_errors():
            return exports.export(self.library, doc, format, out or None, force)

    # -- chat ------------------------------------------------------------------------------

    def selection(self, refs: Refs | Selection, question: str | None = None) -> Selection:
        """The documents of a ref, a list of refs, "3,5,8" or "@NAME" (a collection), each once,
        in order (none for ``None``). With ``question``: also the adapters that answer it (with
        ``compose_focus``, those of the documents its words point to); DocumentNotReadyError
        when a selected document has no usable adapter. A ``Selection``'s documents are read
        again (one may have been re-internalized or removed since). A selection of no document
        (only commas, an emptied collection) is refused, so nothing is asked of the base model by
        mistake."""
        if isinstance(refs, Selection):
            refs = refs.ids or None
        docs = tuple(self._documents(refs))
        if question is None:
            return Selection(docs)
        adapters = [ready_adapter(doc, self.pair.name) for doc in docs]
        if len(docs) > 1 and self.settings.compose_focus:
            kept = set(focus(self.library.relevance([d.id for d in docs], question)))
            adapters = [a for a in adapters if a.document_id in kept]
        chunks, pages = self._chunks(adapters, question)
        active = sum(len(chunks[a.id]) if a.id in chunks else a.n_chunks for a in adapters)
        return Selection(docs, tuple(adapters), tuple(chunks.items()), tuple(pages.items()),
                         adapter_scale(active, self.settings.max_chunks),
                         tuple((a.id, self._kind_scale(a)[1]) for a in adapters))

    def applied_scale(self, ref: Ref) -> tuple[str, float]:
        """The kind of ``ref``'s document and the scale the active pair applies its adapter at (what an
        exported adapter needs to answer as it does here)."""
        with translated_errors():
            return self._kind_scale(ready_adapter(self.get(ref), self.pair.name))

    def _kind_scale(self, adapter: Adapter) -> tuple[str, float]:
        """The adapter's document kind and the active pair's scale for that kind."""
        kind = self._kind(adapter)
        return kind, self.pair.adapter_scales[kind]

    def _kind(self, adapter: Adapter) -> str:
        """The kind of the adapter's document (``hypernet.doc_kind``), from its opening text; remembered
        per adapter file (a file's name is never reused)."""
        if adapter.peft_file not in self._kinds:
            self._kinds[adapter.peft_file] = document_kind(document_text(self.library.pages(adapter.document_id)))
        return self._kinds[adapter.peft_file]

    def _chunks(self, adapters: list[Adapter], question: str) -> tuple[dict, dict]:
        """For each adapter of more than ``max_chunks`` chunks whose chunk map ingestion recorded: the
        chunks that answer ``question`` (``app.chunks.choose``) and the pages they cover."""
        chunks, pages = {}, {}
        for a in adapters:
            if a.n_chunks <= self.settings.max_chunks:
                continue
            cmap = read_chunk_map(a.peft_file)
            if cmap is None or len(cmap.spans) != a.n_chunks:
                continue
            text = document_text(self.library.pages(a.document_id))
            chosen = choose(cmap.texts(text), question, self.settings.max_chunks)
            chunks[a.id] = tuple(chosen)
            pages[a.document_id] = tuple(cmap.pages_of(chosen))
        return chunks, pages

    def _documents(self, refs: Refs) -> list[Document]:
        if refs is None:
            return []
        if isinstance(refs, str):
            text = refs.strip()
            if text.startswith("@"):
                found = self.collection(text)
                if not found.documents:
                    raise DocumentNotFoundError(
                        f"The collection '{found.name}' holds no documents any more; put some in "
                        f"it with 'doclora collections add {found.name} IDS'.")
                return [self.get(d) for d in found.documents]
            refs = [p for p in text.split(",") if p.strip()] if "," in text else [text]
        elif not isinstance(refs, (list, tuple)):
            refs = [refs]
        if not refs:
            raise DocumentNotFoundError("No document is selected; give ids or titles separated "
                                        "by commas, or '-' for no document.")
        docs: dict[int, Document] = {}
        for ref in refs:
            doc = self.get(ref)
            docs.setdefault(doc.id, doc)
        return list(docs.values())

    def ask(self, ref: Refs | Selection, question: str,
            on_token: Callable[[str], None] | None = None, stop: StopFlag = None,
            history: bool = True) -> Answer:
        """Answer a question about a document (``None``: the base model, no document), or about
        several at once (a list of refs, "3,5,8", "@NAME", or a ``Selection``).

        ``on_token`` gets each new piece of text; ``stop`` ends generation early (the partial
        answer is kept). ``history=False`` asks without replaying the earlier chat. The exchange
        is saved to the chat either way; questions to several documents keep no chat
        (``Selection.history``).
        """
        answer = Answer(text="")
        for answer in self.stream(ref, question, stop=stop, history=history):
            if on_token and answer.delta:
                on_token(answer.delta)
        return answer

    def stream(self, ref: Refs | Selection, question: str, stop: StopFlag = None,
               history: bool = True) -> Iterator[Answer]:
        """Like ``ask`` but yields growing Answers; the last has ``done=True`` and ``sources``."""
        with translated_errors():
            yield from self._stream(ref, question, stop, history)

    def _stream(self, ref: Refs | Selection, question: str, stop: StopFlag,
                history: bool) -> Iterator[Answer]:
        question = question.strip()
        if not question:
            raise DocLoRAError("The question is empty; type a question first.")
        chosen = self.selection(ref, question)
        past = self.library.history(chosen.chat) if history and chosen.history else []
        doc_id = chosen.document.id if chosen.document else None
        room = (self.engine.n_ctx - self.settings.max_tokens) // 3  # passage words that fit the window
        grounded = self.settings.grounding and chosen.document is not None and room >= MIN_PASSAGE_WORDS
        document = functools.cache(lambda: document_text(self.library.pages(doc_id)))  # read when first needed

        def with_passages() -> list[dict]:  # the question after the document's best passages
            passages = best_passages(document(), question, words=min(PASSAGE_WORDS, room // 2))
            return build_messages(past, f"{passages}\n\n{question}")

        # an adapter the pair does not apply leaves the base without the document: its passages instead
        from_passages = grounded and not chosen.applied
        answer = Answer(text="")
        first = (with_passages(), None) if from_passages else (build_messages(past, question), self._adapter_file(chosen))
        for answer in self._generate(*first, stop, chosen, from_passages=from_passages):
            yield answer
        text, revised, quoted = answer.text, False, False
        if grounded and text and not is_stopped(stop) and unfounded(text, document(), question):  # names what it lacks
            if not from_passages:
                for answer in self._generate(with_passages(), None, stop, chosen, revised=True):
                    yield answer
                text, revised = answer.text, True
            if not is_stopped(stop) and unfounded(text, document(), question):  # invented again: quote it
                text, quoted = best_quote(document(), question), True
                yield Answer(text=text, delta=f"\n[{QUOTED_NOTE}]\n{text}", document=doc_id,
                             documents=chosen.ids, revised=True, quoted=True, from_passages=from_passages)
        stopped = is_stopped(stop)
        text = text.strip()
        sources = self._sources(chosen, question, text)
        if chosen.history:
            self.library.add_exchange(chosen.chat, question, text, sources)
        yield Answer(text=text, sources=sources, document=doc_id, documents=chosen.ids, done=True,
                     stopped=stopped, chunk_pages=chosen.answered_pages, revised=revised,
                     quoted=quoted, from_passages=from_passages)

    def _generate(self, messages: list[dict], adapter_file: str | None, stop: StopFlag, chosen: Selection,
                  revised: bool = False, from_passages: bool = False) -> Iterator[Answer]:
        """Growing Answers of one generation (``revised``: a second answer that replaces the first;
        ``from_passages``: the document's passages answer, not its adapter)."""
        doc_id = chosen.document.id if chosen.document else None
        text = ""
        for piece in self.engine.generate(messages, adapter_file, stop=stop):
            grown = (text + piece).lstrip()  # templates often start the answer with a space
            if grown != text:
                delta = grown[len(text):]
                if revised and not text:
                    delta = f"\n[{REVISED_NOTE}]\n{delta}"
                yield Answer(text=grown, delta=delta, document=doc_id, documents=chosen.ids, revised=revised,
                             from_passages=from_passages)
            text = grown

    def _adapter_file(self, chosen: Selection) -> str | None:
        """The file to activate: none, the one adapter, or the composition of several (built
        on first use, then cached)."""
        applied = chosen.applied
        if not applied:  # no document, or a pair whose adapters do not help on these documents
            return None
        if chosen.whole:
            return chosen.adapters[0].file
        with self._lock:
            return str(composed_file(list(applied), self.settings.max_composed_rank, self.pair.gguf,
                                     chosen.chunk_map, chosen.scale, chosen.scale_map))

    def _sources(self, chosen: Selection, question: str, answer: str) -> list[Source]:
        """The pages that hold the answer (each selected document's two best, labelled with its
        title, for several), or when none does the pages that match the question."""
        return answer_sources(self.library, list(chosen.documents), question, answer)

    def suggestions(self, ref: Ref, limit: int = 3) -> list[str]:
        """Questions to start a chat with a document, drawn from its text (``app.suggest``)."""
        return suggested_questions(self.library.pages(self.get(ref).id), limit)

    def history(self, ref: Refs | Selection) -> list[Message]:
        """The selection's chat (``None``: the no-document chat), oldest first; none for
        several documents."""
        chosen = self.selection(ref)
        return self.library.history(chosen.chat) if chosen.history else []

    def clear_history(self, ref: Refs | Selection) -> None:
        """Delete the selection's chat messages (several documents have none)."""
        chosen = self.selection(ref)
        if chosen.history:
            self.library.clear_history(chosen.chat)

    def pop_exchange(self, ref: Refs | Selection) -> str | None:
        """Remove the last question and its answer; returns the question (for "regenerate"),
        None when there is none (several documents keep none)."""
        chosen = self.selection(ref)
        return self.library.pop_exchange(chosen.chat) if chosen.history else None

    # -- collections -----------------------------------------------------------------------

    def collections(self) -> list[Collection]:
        """The saved collections, by name."""
        return self.library.collections()

    def collection(self, name: str) -> Collection:
        """One collection by name (case-insensitive, with or without its '@')."""
        return self.library.collection(name.strip().removeprefix("@"))

    def save_collection(self, name: str, refs: Refs) -> Collection:
        """Save (or replace) a named selection of documents; ``ask("@NAME", ...)`` uses it."""
        return self.library.save_collection(name, self.selection(refs).ids)

    def remove_collection(self, name: str) -> Collection:
        """Delete a collection (its documents stay in the library)."""
        return self.library.remove_collection(name.strip().removeprefix("@"))

    # -- status ----------------------------------------------------------------------------

    def status(self, ref: Ref | None = None) -> Status:
        """Active model pair, device, and (with ``ref``) the document's adapter rank and size."""
        pair = self.pair
        engine = self._engine
        status = Status(model=pair.name, demo=pair.demo,
                        device=engine.device if engine else ChatEngine.planned_device(self.settings),
                        base_gguf=str(pair.gguf), base_loaded=bool(engine and engine.loaded),
                        model_notes=pair.facts.notes)
        if ref is not None:
            doc = self.get(ref)
            status.document = doc.id
            if doc.adapter is not None:
                status.adapter_rank = doc.adapter.rank
                status.adapter_size = doc.adapter.size
                status.adapter_file = doc.adapter.file
        return status

    def close(self) -> None:
        """Stop the queue worker and free the model."""
        if self._queue is not None:
            self._queue.close()
        self._drop_engines()
        self.library.close()

