"""PDF -> Document: per-page text in reading order, title, metadata and a content hash."""

from __future__ import annotations

import hashlib
import shutil
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


def _read(path: Path) -> bytes:
    if not path.exists():
        raise FileVanishedError(f"{path} was not found; check that the file still exists.")
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise FileVanishedError(f"{path.name} disappeared while it was being read; add it again.") from exc
    except IsADirectoryError as exc:
        raise NotAPdfError(f"{path.name} is a folder, not a PDF; choose a PDF file.") from exc
    except OSError as exc:
        raise FileVanishedError(f"{path.name} could not be read ({exc.strerror}); copy it to a local disk and add it again.") from exc
    if not data:
        raise EmptyFileError(f"{path.name} is empty (0 bytes); export or download the PDF again.")
    if b"%PDF-" not in data[:1024]:
        raise NotAPdfError(f"{path.name} is not a PDF (its content does not start with %PDF); convert it to PDF first.")
    return data


def _open(path: Path, data: bytes, password: str | None) -> pymupdf.Document:
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:  # pymupdf raises FileDataError/RuntimeError/ValueError on bad bytes
        raise CorruptPdfError(f"{path.name} is damaged and cannot be read ({exc}); re-export or re-download it.") from exc
    if doc.needs_pass:
        if password is None:
            raise EncryptedPdfError(f"{path.name} is password-protected; enter its password to add it.")
        if not doc.authenticate(password):
            raise WrongPasswordError(f"The password for {path.name} is wrong; check it and try again.")
    if doc.page_count == 0:
        raise CorruptPdfError(f"{path.name} has no readable pages; it is damaged: re-export or re-download it.")
    return doc


def _title(doc: pymupdf.Document, pages: list[Page], path: Path) -> str:
    title = (doc.metadata or {}).get("title", "").strip()
    if not title:
        first = next((p.text for p in pages if p.text), "")
        title = first.split("\n", 1)[0].strip()
    return (title or path.stem)[:MAX_TITLE]


def pdf_to_text(path: str | Path, password: str | None = None, max_pages: int | None = None) -> Document:
    """Extract a PDF's text page by page, in reading order, as a Document.

    Multi-column pages are read column by column, ruled tables come out as Markdown, words
    hyphenated across lines are joined, and headers/footers repeated across pages are dropped.
    Image-only pages are OCRed when Tesseract is installed. Raises a PdfError subclass whose
    message says what to do.
    """
    path = Path(path)
    data = _read(path)
    doc = _open(path, data, password)
    try:
        if max_pages is not None and doc.page_count > max_pages:
            raise TooManyPagesError(
                f"{path.name} has {doc.page_count} pages, more than the limit of {max_pages}; "
                "split the PDF or raise the page limit."
            )
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
        if not any(p.text for p in pages):
            hint = ("OCR found no text either" if ocr else
                    "install Tesseract OCR (apt install tesseract-ocr) to read scanned pages")
            raise NoTextError(f"{path.name} has no extractable text (scanned or image-only pages); {hint}.")
        metadata = {k: v for k, v in (doc.metadata or {}).items() if v}
        return Document(pages, _title(doc, pages, path), metadata, hashlib.sha256(data).hexdigest(), ocr_pages)
    finally:
        doc.close()
