"""Ingestion: PDF -> pages -> token chunks -> LoRA (hypernetwork) -> GGUF adapter -> library row.

The stages are typed functions of ``converters`` and ``hypernet`` (the PDF is read once:
hashed, extracted and stored from the same bytes); ``Ingestor.run`` chains them, reports
``ProgressEvent``s, checks for cancellation between steps, and turns every failure into one
DocLoRAError (``app.errors.translated`` for converters/hypernet errors). Files are written into a private staging folder
(``app.staging``), renamed into place only once everything succeeded (their final names listed in
the staging folder first), and the database rows are committed last; any failure removes what the
attempt wrote, and ``app.staging.clean_leftovers`` removes what a killed process left behind.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app import errors as E
from app.chunks import chunk_map
from app.chat import is_stopped
from app.library import Library, checked_title
from app.models import Pair, check_pair
from app.paths import adapter_files, remove_file, source_copy
from app.records import STAGES, Ingested, ProgressEvent
from app.settings import Settings
from app.staging import new_staging, note_files
from converters.files import place

if TYPE_CHECKING:  # torch and pymupdf load only when a file is added
    from converters.pdf import PdfFile
    from hypernet import DocumentAdapter, Hypernet

Progress = Callable[[ProgressEvent], None] | None
KNOWN_MESSAGE = "already in the library: reusing its adapter"  # the last ProgressEvent's message


def display_name(path: Path) -> str:
    """A file's name as text: bytes that are not UTF-8 (kept by the OS as surrogates) become
    U+FFFD, so the name can be printed and stored."""
    return path.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# -- stages ---------------------------------------------------------------------------------
# Reading, chunking, encoding and compressing are hypernet's and converters' typed functions
# (read_pdf, pdf_to_text, Hypernet.chunk_text, Hypernet.internalize_ids, maybe_compress); the
# pipeline adds the staging of files and the commit.

def write_adapter(adapter: DocumentAdapter, staging: Path, base_gguf: Path,
                  full: DocumentAdapter | None = None) -> tuple[Path, Path]:
    """The adapter as GGUF (for llama.cpp), and ``full`` (the uncompressed adapter, by default
    the same) as safetensors for PEFT export, both in the staging folder."""
    from converters import adapter_to_gguf
    from converters.errors import AdapterMismatchError, GGUFError
    st_path = staging / "adapter.safetensors"
    (full or adapter).save(st_path)
    try:
        gguf_path = Path(adapter_to_gguf(adapter, staging / "adapter.gguf", base_gguf=base_gguf))
    except AdapterMismatchError as exc:
        raise E.AdapterError(f"The adapter does not fit the chat model {base_gguf.name} ({exc}); "
                             "the model pair is inconsistent, reinstall it.") from exc
    except GGUFError as exc:
        raise E.AdapterError(f"The adapter could not be written as GGUF ({exc}); "
                             "reinstall the model pair.") from exc
    return gguf_path, st_path


# -- the run --------------------------------------------------------------------------------

class _Reporter:
    """Turns (stage, done, total) into ProgressEvents with an ETA; checks for cancellation."""

    def __init__(self, progress: Progress, cancel) -> None:
        self.progress, self.cancel, self.start = progress, cancel, time.monotonic()

    def __call__(self, stage: str, done: float = 0, total: float = 1, message: str = "") -> None:
        if is_stopped(self.cancel):
            raise E.CancelledError("Cancelled; nothing was added to the library.")
        lo, hi = STAGES[stage].span
        fraction = lo + (hi - lo) * (done / total if total else 1.0)
        elapsed = time.monotonic() - self.start
        eta = elapsed * (1 - fraction) / fraction if fraction > 0.05 else None
        if self.progress:
            self.progress(ProgressEvent(stage=stage, fraction=round(fraction, 4),
                                        message=message, eta_s=eta))


class Ingestor:
    """Runs ingestions for one model pair (the hypernetwork is loaded on first use)."""

    def __init__(self, library: Library, pair: Pair, settings: Settings) -> None:
        self.library, self.pair, self.settings = library, pair, settings
        self._hn = None
        self._lock = threading.Lock()  # one ingestion at a time per process

    @property
    def hypernet(self) -> Hypernet:
        """The pair's hypernetwork, loaded once."""
        if self._hn is None:
            from app.devices import encoder_device
            from hypernet import load_hypernet
            from hypernet.device import cpu_has_native_bf16
            from hypernet.errors import HypernetError
            check_pair(self.pair)
            try:
                self._hn = load_hypernet(self.pair.hypernet, base_model=self.pair.base_dir,
                                         device=encoder_device(self.settings.device),
                                         cpu_bf16=self.settings.cpu_bf16 and cpu_has_native_bf16())
            except HypernetError as exc:
                raise E.ModelError(f"The hypernetwork of '{self.pair.name}' does not load "
                                   f"({exc}); reinstall the model pair.") from exc
        return self._hn

    def run(self, path: Path, password: str | None = None, progress: Progress = None,
            cancel=None, title: str | None = None) -> Ingested:
        """Internalize one PDF; returns its ready Document and whether it was known already (see
        module docstring)."""
        from converters.pdf import read_pdf
        report = _Reporter(progress, cancel)
        name = display_name(path)
        title = checked_title(title) if title is not None else None
        report("extract", 0, 1, f"reading {name}")
        with self._lock:
            staging = None
            placed: list[Path] = []
            try:
                pdf = read_pdf(path)  # read once: hashed, extracted and stored from these bytes
                known = self.library.find_sha(pdf.sha256)
                if known is not None:
                    doc = self.library.document(known["id"], self.pair.name)
                    if doc.adapter is not None and Path(doc.adapter.file).is_file():
                        report("commit", 1, 1, KNOWN_MESSAGE)
                        return Ingested(doc, known=True)
                staging = new_staging()
                return self._run(pdf, known, password, title, report, staging, placed)
            except Exception as exc:  # PdfError, OSError, sqlite3.Error, SafetensorError, ...
                _undo(placed)
                error = _user_error(exc, name)
                if error is None:
                    raise
                raise error from exc
            except BaseException:
                _undo(placed)
                raise
            finally:
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)

    def _run(self, file: PdfFile, known, password, title, report, staging, placed) -> Ingested:
        from converters.pdf import pdf_to_text
        from hypernet.compress import maybe_compress
        pdf = pdf_to_text(file, password=password, max_pages=self.settings.max_pages)
        ocr = pdf.ocr_pages
        report("chunk", 0, 1, f"{pdf.page_count} pages" + (f" ({len(ocr)} read by OCR)" if ocr else ""))
        hn = self.hypernet
        chunks = hn.chunk_text(pdf.text, snap_to_sentences=True)  # no sentence split across chunks
        tokens = sum(len(c) for c in chunks)
        report("chunk", 1, 1, f"{tokens} tokens in {len(chunks)} chunks")
        adapter = hn.internalize_ids(chunks, progress=lambda s, d, t: report("encode", d, t, f"{s} {d}/{t}"))
        spans = hn.chunk_spans(pdf.text, chunks)  # where each chunk lies, for choosing chunks per question
        adapter.extra.update(chunk_map([(p.number, p.text) for p in pdf.pages], spans).to_extra())
        small = maybe_compress(adapter, self.settings.max_adapter_rank)
        note = (f"rank {small.original_rank} -> {small.rank}, {small.energy:.1%} of the energy"
                if small.rank < small.original_rank else f"rank {small.rank}")
        report("write", 0, 1, f"writing the GGUF adapter ({note})")
        gguf_tmp, st_tmp = write_adapter(small.adapter, staging, self.pair.gguf, full=adapter)
        if known is None:
            src_tmp = staging / "source.pdf"
            src_tmp.write_bytes(file.data)  # the very bytes that were hashed and read
        report("commit", 0, 1, "saving to the library")
        # Unique names, so a concurrent attempt (another process) never overwrites ours.
        tag = secrets.token_hex(4)
        sha = file.sha256
        finals = [*adapter_files(sha, self.pair.name, tag)]
        if known is None:
            finals.append(source_copy(sha, tag))
        # Listed before they exist: if this process dies before the commit, the next start
        # knows these files are this attempt's and may delete them (see app.staging).
        note_files(staging, finals)
        finals[0].parent.mkdir(parents=True, exist_ok=True)
        gguf = _place(gguf_tmp, finals[0], placed)
        st = _place(st_tmp, finals[1], placed)
        source = (_place(src_tmp, finals[2], placed)
                  if known is None else Path(self.library.abs(known["source_file"])))
        stem = Path(file.name).stem
        doc_id = self.library.commit_ingest(
            sha256=sha, title=title or pdf.title or stem,
            file_name=file.name, source_file=str(source),
            pages=[(p.number, p.text) for p in pdf.pages], tokens=tokens,
            adapter={"model": self.pair.name, "base_model": adapter.base_fingerprint,
                     "hypernet_id": adapter.hypernet_id, "rank": int(small.rank),
                     "original_rank": int(small.original_rank), "energy": float(small.energy),
                     "n_chunks": int(adapter.n_chunks), "file": str(gguf),
                     "peft_file": str(st), "size": gguf.stat().st_size})
        # Committed: nothing to undo any more, but what another process committed first (the
        # same file, added at once) leaves ours unused.
        unused = [p for p in placed if p not in set(self.library.files_of(doc_id))]
        placed.clear()
        _undo(unused)
        reused = gguf in unused
        report("commit", 1, 1, KNOWN_MESSAGE if reused else "ready")
        return Ingested(self.library.document(doc_id, self.pair.name), known=reused)


def _user_error(exc: Exception, name: str) -> E.DocLoRAError | None:
    """What a failed ingestion of ``name`` tells the user; None to re-raise ``exc`` as it is (a
    DocLoRAError already, or a bug)."""
    if isinstance(exc, E.DocLoRAError):
        return None
    if E.is_disk_full(exc):
        return E.DiskFullError(f"The disk is full while adding '{name}'; "
                               "free some space and add it again.")
    translated = E.translated(exc)
    if translated is not None:
        return translated
    if isinstance(exc, (OSError, sqlite3.Error)):
        return E.DocLoRAError(f"Adding '{name}' failed ({exc}); "
                              "check the file and the free disk space.")
    return None


def _place(tmp: Path, final: Path, placed: list[Path]) -> Path:
    placed.append(place(tmp, final))
    return final


def _undo(placed: list[Path]) -> None:
    for path in placed:
        remove_file(path)

