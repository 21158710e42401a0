"""PDF -> Document: per-page text in reading order, title, metadata and a content hash."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymupdf

from converters.errors import (
    CorruptPdfError, EmptyFileError, EncryptedPdfError, FileVanishedError, NoTextError, NotAPdfError,
    TooManyPagesError, WrongPasswordError,
)
from converters.pdf_layout import page_boxes, reading_order, strip_repeated_margins

MAX_TITLE = 120
# Characters of text one page may hold: a dense page of small print has about 10,000; a page
# with more (one endless line of text) would take hours to internalize, so it is refused at once.
MAX_PAGE_CHARS = 100_000


@dataclass
class Page:
    number: int  # 1-based
    text: str


@dataclass
class Document:
    pages: list[Page]
    title: str
    metadata: dict[str, Any]
    sha256: str
    ocr_pages: list[int] = field(default_factory=list)  # page numbers whose text came from OCR

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.pages if p.text)

    @property
    def page_count(self) -> int:
        return len(self.pages)


def tesseract_available() -> bool:
    """True when pymupdf can OCR: a tesseract binary and its language data are installed."""
    if shutil.which("tesseract") is None:
        return False
    try:
        return bool(pymupdf.get_tessdata())
    except Exception:
        return False


@dataclass(frozen=True)
class PdfFile:
    """A PDF's bytes, read once, with their sha256 and the file's name as text."""

    path: Path
    data: bytes = field(repr=False)
    sha256: str

    @property
    def name(self) -> str:
        return shown(self.path.name)


def shown(text: str) -> str:
    """A path or name as text: bytes that are not UTF-8 (kept by the OS as surrogates) become
    U+FFFD, so it can be printed and stored."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_pdf(path: str | Path) -> PdfFile:
    """A PDF file's bytes and their sha256, read once. PdfError when it is missing, unreadable,
    empty or not a PDF; a device, FIFO or socket is refused (reading /dev/zero would never end)."""
    path = Path(path)
    where = shown(str(path))
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before we can look at it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as f:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise NotAPdfError(f"'{where}' is a folder; give the PDF file inside it.")
            if not stat.S_ISREG(mode):
                raise NotAPdfError(f"'{where}' is not a regular file (a device, FIFO or socket); "
                                   "give a PDF file.")
            data = f.read()
    except FileNotFoundError as exc:
        raise FileVanishedError(f"'{where}' does not exist (or vanished); check the path and add it "
                                "again.") from exc
    except IsADirectoryError as exc:
        raise NotAPdfError(f"'{where}' is a folder; give the PDF file inside it.") from exc
    except OSError as exc:
        raise FileVanishedError(f"'{where}' cannot be read ({exc.strerror}); check its "
                                "permissions.") from exc
    pdf = PdfFile(path, data, hashlib.sha256(data).hexdigest())
    if not data:
        raise EmptyFileError(f"'{pdf.name}' is empty (0 bytes); choose the real PDF file.")
    if b"%PDF-" not in data[:1024]:
        raise NotAPdfError(f"'{pdf.name}' is not a PDF file, whatever its name says; export it to "
                           "PDF first.")
    return pdf


# What pymupdf raises on a damaged file: MuPDF's errors (a cycle in the page tree, a bad
# object, ...), FileDataError (a RuntimeError) and ValueError.
PYMUPDF_ERRORS = (pymupdf.mupdf.FzErrorBase, RuntimeError, ValueError)


def _damaged(pdf: PdfFile, exc: Exception | None = None) -> CorruptPdfError:
    """The one sentence for a PDF that pymupdf cannot read (with MuPDF's reason, if any)."""
    reason = re.sub(r"^code=\d+: ", "", " ".join(str(exc or "").split()))[:120]
    why = f" ({reason})" if reason and isinstance(exc, pymupdf.mupdf.FzErrorBase) else ""
    return CorruptPdfError(f"'{pdf.name}' is a damaged PDF that cannot be read{why}; "
                           "re-download or re-export it.")


def _open(pdf: PdfFile, password: str | None) -> pymupdf.Document:
    try:
        doc = pymupdf.open(stream=pdf.data, filetype="pdf")
    except Exception as exc:  # pymupdf raises FileDataError/RuntimeError/ValueError on bad bytes
        raise _damaged(pdf) from exc
    if doc.needs_pass:
        if password is None:
            raise EncryptedPdfError(f"'{pdf.name}' is password-protected; add it again with its "
                                    "password (--password).")
        if not doc.authenticate(password):
            raise WrongPasswordError(f"The password for '{pdf.name}' is wrong; add it again with "
                                     "the right password.")
    if doc.page_count == 0:
        raise _damaged(pdf)
    return doc


def _title(doc: pymupdf.Document, pages: list[Page], path: Path) -> str:
    title = (doc.metadata or {}).get("title", "").strip()
    if not title:
        first = next((p.text for p in pages if p.text), "")
        title = first.split("\n", 1)[0].strip()
    return (title or path.stem)[:MAX_TITLE]


def pdf_to_text(source: str | Path | PdfFile, password: str | None = None,
                max_pages: int | None = None) -> Document:
    """Extract a PDF's text page by page, in reading order, as a Document.

    ``source``: a path, or a PdfFile already read with ``read_pdf``. Multi-column pages are read
    column by column, ruled tables come out as Markdown, words hyphenated across lines are joined,
    and headers/footers repeated across pages are dropped. Image-only pages are OCRed when
    Tesseract is installed. Raises a PdfError subclass whose message is one sentence for the user.
    """
    pdf = source if isinstance(source, PdfFile) else read_pdf(source)
    doc = None
    try:
        doc = _open(pdf, password)
        return _extract(doc, pdf, max_pages)
    except PYMUPDF_ERRORS as exc:  # any part may be damaged (e.g. a cycle in the page tree)
        raise _damaged(pdf, exc) from exc
    finally:
        if doc is not None:
            doc.close()


def _extract(doc: pymupdf.Document, pdf: PdfFile, max_pages: int | None) -> Document:
    """The text of an opened PDF (see ``pdf_to_text``)."""
    if max_pages is not None and doc.page_count > max_pages:
        raise TooManyPagesError(f"'{pdf.name}' has more pages than the limit; split it or raise "
                                "the limit (--max-pages).")
    ocr = tesseract_available()
    boxes, heights, ocr_pages = [], [], []
    for page in doc:
        textpage = None
        if ocr and not page.get_text("text").strip() and page.get_images():
            textpage = page.get_textpage_ocr(full=True)
            ocr_pages.append(page.number + 1)
        boxes.append(page_boxes(page, textpage))
        heights.append(page.rect.height)
    boxes = strip_repeated_margins(boxes, heights)
    pages = [Page(i + 1, "\n\n".join(b.text for b in reading_order(bs))) for i, bs in enumerate(boxes)]
    full = next((p for p in pages if len(p.text) > MAX_PAGE_CHARS), None)
    if full is not None:
        raise TooManyPagesError(
            f"Page {full.number} of '{pdf.name}' holds {len(full.text):,} characters of text, more "
            f"than any page shows (at most {MAX_PAGE_CHARS:,}), and would take hours to "
            "internalize; split that text into pages of their own.")
    if not any(p.text for p in pages):
        hint = ("OCR found none either; use a PDF with text" if ocr else
                "install Tesseract OCR (apt install tesseract-ocr) or use a PDF with text")
        raise NoTextError(f"'{pdf.name}' has no extractable text (scanned pages?); {hint}.")
    metadata = {k: v for k, v in (doc.metadata or {}).items() if v}
    return Document(pages, _title(doc, pages, pdf.path), metadata, pdf.sha256, ocr_pages)
