"""Ingestion: PDF -> pages -> token chunks -> LoRA (hypernetwork) -> GGUF adapter -> library row.

Each stage is a small function; ``Ingestor.run`` chains them, reports ``ProgressEvent``s and
checks for cancellation between steps. Files are written into a private staging folder
(``app.staging``), renamed into place only once everything succeeded (their final names listed in
the staging folder first), and the database rows are committed last; any failure removes what the
attempt wrote, and ``app.staging.clean_leftovers`` removes what a killed process left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app import errors as E
from app.chat import is_stopped
from app.library import Library, checked_title
from app.models import Pair, check_pair
from app.paths import adapters_dir, documents_dir
from app.records import ALREADY, Document, ProgressEvent, Settings
from app.staging import new_staging, note_files

Progress = Callable[[ProgressEvent], None] | None

# Where each stage starts and ends on the overall 0..1 progress scale.
_SPAN = {"extract": (0.0, 0.08), "chunk": (0.08, 0.12), "encode": (0.12, 0.9),
         "write": (0.9, 0.97), "commit": (0.97, 1.0)}


def display_name(path: Path) -> str:
    """A file's name as text: bytes that are not UTF-8 (kept by the OS as surrogates) become
    U+FFFD, so the name can be printed and stored."""
    return path.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# -- stages ---------------------------------------------------------------------------------

def file_sha256(path: Path) -> str:
    """sha256 of a regular file's bytes (InvalidDocumentError if it cannot be read, or is a
    device, FIFO or socket: reading /dev/zero or a FIFO would never end)."""
    shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    digest = hashlib.sha256()
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before we can look at it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as f:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(path)
            if not stat.S_ISREG(mode):
                raise E.InvalidDocumentError(
                    f"'{shown}' is not a regular file (a device, FIFO or socket); give a PDF file.")
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError as exc:
        raise E.InvalidDocumentError(
            f"'{shown}' does not exist (or vanished); check the path and add it again.") from exc
    except IsADirectoryError as exc:
        raise E.InvalidDocumentError(f"'{shown}' is a folder; give the PDF file inside it.") from exc
    except OSError as exc:
        raise E.InvalidDocumentError(
            f"'{shown}' cannot be read ({exc.strerror}); check its permissions.") from exc
    return digest.hexdigest()


def _pdf_message(exc: Exception, name: str) -> E.DocLoRAError:
    from converters import errors as C
    table = [
        (C.EmptyFileError, E.InvalidDocumentError, "'{n}' is empty (0 bytes); choose the real PDF file."),
        (C.NotAPdfError, E.InvalidDocumentError, "'{n}' is not a PDF file, whatever its name says; "
                                                 "export it to PDF first."),
        (C.CorruptPdfError, E.InvalidDocumentError, "'{n}' is a damaged PDF that cannot be read; "
                                                    "re-download or re-export it."),
        (C.EncryptedPdfError, E.PasswordRequiredError, "'{n}' is password-protected; add it again "
                                                       "with its password (--password)."),
        (C.WrongPasswordError, E.PasswordRequiredError, "The password for '{n}' is wrong; "
                                                        "add it again with the right password."),
        (C.NoTextError, E.InvalidDocumentError, "'{n}' has no extractable text (scanned pages?); "
                                                "install Tesseract OCR (apt install tesseract-ocr) "
                                                "or use a PDF with text."),
        (C.TooManyPagesError, E.InvalidDocumentError, "'{n}' has more pages than the limit; "
                                                      "split it or raise the limit (--max-pages)."),
        (C.FileVanishedError, E.InvalidDocumentError, "'{n}' vanished or changed while it was being "
                                                      "read; add it again once it is in place."),
    ]
    for source, target, template in table:
        if isinstance(exc, source):
            return target(template.format(n=name))
    return E.InvalidDocumentError(f"'{name}' could not be read as a PDF ({exc}); "
                                  "check that it opens in a PDF viewer.")


def extract(path: Path, password: str | None, max_pages: int | None):
    """Stage 1: the PDF's text with its page map (converters.pdf_to_text)."""
    from converters.pdf import pdf_to_text
    from converters.errors import PdfError
    try:
        return pdf_to_text(path, password=password, max_pages=max_pages)
    except PdfError as exc:
        raise _pdf_message(exc, display_name(path)) from exc
    except FileNotFoundError as exc:
        raise E.InvalidDocumentError(f"'{display_name(path)}' vanished while it was being read; "
                                     "add it again once it is in place.") from exc


def chunk(hn, text: str) -> list[list[int]]:
    """Stage 2: templated token-id chunks of at most the hypernetwork's chunk length."""
    chunks = hn.chunk_text(text, snap_to_sentences=True)  # no sentence split across chunks
    if not chunks:
        raise E.InvalidDocumentError("The document has no text to internalize; "
                                     "use a PDF with text.")
    return chunks


def encode(hn, chunks: list[list[int]], progress: Callable[[str, int, int], None]):
    """Stage 3: one LoRA per chunk, concatenated along the rank (a DocumentAdapter)."""
    return hn.internalize_ids(chunks, progress=progress)


def compress(adapter, max_rank: int | None):
    """Stage 3b: bound the rank (exact truncated SVD); returns hypernet's CompressedAdapter."""
    from hypernet.compress import maybe_compress
    return maybe_compress(adapter, max_rank)


def write_adapter(adapter, staging: Path, base_gguf: Path, full=None) -> tuple[Path, Path]:
    """Stage 4: the adapter as GGUF (for llama.cpp), and ``full`` (the uncompressed adapter, by
    default the same) as safetensors for PEFT export."""
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
        lo, hi = _SPAN.get(stage, (1.0, 1.0))
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
    def hypernet(self):
        """The pair's hypernetwork, loaded once."""
        if self._hn is None:
            from hypernet import load_hypernet
            from hypernet.device import cpu_has_native_bf16
            from hypernet.errors import HypernetError
            check_pair(self.pair)
            try:
                self._hn = load_hypernet(self.pair.hypernet, base_model=self.pair.base_dir,
                                         device=_torch_device(self.settings),
                                         cpu_bf16=self.settings.cpu_bf16 and cpu_has_native_bf16())
            except HypernetError as exc:
                raise E.ModelError(f"The hypernetwork of '{self.pair.name}' does not load "
                                   f"({exc}); reinstall the model pair.") from exc
        return self._hn

    def run(self, path: Path, password: str | None = None, progress: Progress = None,
            cancel=None, title: str | None = None) -> Document:
        """Internalize one PDF; returns the ready Document (see module docstring)."""
        report = _Reporter(progress, cancel)
        name = display_name(path)
        title = checked_title(title) if title is not None else None
        report("extract", 0, 1, f"reading {name}")
        with self._lock:
            sha = file_sha256(path)
            known = self.library.find_sha(sha)
            if known is not None:
                doc = self.library.document(known["id"], self.pair.name)
                if doc.adapter is not None and Path(doc.adapter.file).is_file():
                    report("commit", 1, 1, ALREADY)
                    return doc
            staging = None
            placed: list[Path] = []
            try:
                staging = new_staging()
                return self._run(path, sha, known, password, title, report, staging, placed)
            except E.DocLoRAError:
                _undo(placed)
                raise
            except Exception as exc:  # OSError, sqlite3.Error, safetensors' SafetensorError, ...
                _undo(placed)
                if E.is_disk_full(exc):
                    raise E.DiskFullError(f"The disk is full while adding '{name}'; "
                                          "free some space and add it again.") from exc
                if not isinstance(exc, (OSError, sqlite3.Error)):
                    raise
                raise E.DocLoRAError(f"Adding '{name}' failed ({exc}); "
                                     "check the file and the free disk space.") from exc
            except BaseException:
                _undo(placed)
                raise
            finally:
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)

    def _run(self, path, sha, known, password, title, report, staging, placed) -> Document:
        pdf = extract(path, password, self.settings.max_pages)
        if pdf.sha256 != sha:
            raise E.InvalidDocumentError(f"'{display_name(path)}' changed while it was being read; "
                                         "add it again once it is complete.")
        ocr = getattr(pdf, "ocr_pages", [])
        report("chunk", 0, 1, f"{pdf.page_count} pages" + (f" ({len(ocr)} read by OCR)" if ocr else ""))
        hn = self.hypernet
        chunks = chunk(hn, pdf.text)
        tokens = sum(len(c) for c in chunks)
        report("chunk", 1, 1, f"{tokens} tokens in {len(chunks)} chunks")
        adapter = encode(hn, chunks, lambda s, d, t: report("encode", d, t, f"{s} {d}/{t}"))
        small = compress(adapter, self.settings.max_adapter_rank)
        note = (f"rank {small.original_rank} -> {small.rank}, {small.energy:.1%} of the energy"
                if small.rank < small.original_rank else f"rank {small.rank}")
        report("write", 0, 1, f"writing the GGUF adapter ({note})")
        gguf_tmp, st_tmp = write_adapter(small.adapter, staging, self.pair.gguf, full=adapter)
        if known is None:
            src_tmp = staging / "source.pdf"
            shutil.copyfile(path, src_tmp)
        report("commit", 0, 1, "saving to the library")
        # Unique names, so a concurrent attempt (another process) never overwrites ours.
        tag = secrets.token_hex(4)
        folder = adapters_dir() / sha[:16]
        model = re.sub(r"[^\w.-]", "_", self.pair.name)
        finals = [folder / f"{model}-{tag}.gguf", folder / f"{model}-{tag}.safetensors"]
        if known is None:
            finals.append(documents_dir() / f"{sha[:16]}-{tag}.pdf")
        # Listed before they exist: if this process dies before the commit, the next start
        # knows these files are this attempt's and may delete them (see app.staging).
        note_files(staging, finals)
        folder.mkdir(parents=True, exist_ok=True)
        gguf = _place(gguf_tmp, finals[0], placed)
        st = _place(st_tmp, finals[1], placed)
        source = (_place(src_tmp, finals[2], placed)
                  if known is None else Path(self.library.abs(known["source_file"])))
        stem = Path(display_name(path)).stem
        doc_id = self.library.commit_ingest(
            sha256=sha, title=title or pdf.title or stem,
            file_name=display_name(path), source_file=str(source),
            pages=[(p.number, p.text) for p in pdf.pages], tokens=tokens,
            adapter={"model": self.pair.name, "base_model": adapter.base_fingerprint,
                     "hypernet_id": adapter.hypernet_id, "rank": int(small.rank),
                     "original_rank": int(small.original_rank), "energy": float(small.energy),
                     "n_chunks": int(adapter.n_chunks), "file": str(gguf),
                     "peft_file": str(st), "size": gguf.stat().st_size})
        placed.clear()  # committed: nothing to undo any more
        report("commit", 1, 1, "ready")
        return self.library.document(doc_id, self.pair.name)


def _place(tmp: Path, final: Path, placed: list[Path]) -> Path:
    os.replace(tmp, final)
    placed.append(final)
    return final


def _undo(placed: list[Path]) -> None:
    for path in placed:
        path.unlink(missing_ok=True)
        if path.parent.name != "documents" and path.parent.is_dir() and not any(
                path.parent.iterdir()):
            path.parent.rmdir()


def _torch_device(settings: Settings) -> str:
    if settings.device == "cpu":
        return "cpu"
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"
