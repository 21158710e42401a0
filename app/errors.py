"""App-level errors. Every message is one sentence that says what to do next.

The core raises these; only the edges (CLI, UI) turn them into readable text. Errors of
``converters`` and ``hypernet`` reach API callers as one of these, by class (``translated``), with
their message (already one sentence) and the original kept as ``__cause__``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from converters import errors as C
from hypernet import errors as H


class DocLoRAError(Exception):
    """Base class of every error the app shows to a user."""


class DocumentNotFoundError(DocLoRAError):
    """No document matches the given id or title prefix."""


class AmbiguousDocumentError(DocLoRAError):
    """A title prefix matches more than one document."""


class DocumentNotReadyError(DocLoRAError):
    """The document has no usable adapter for the active model pair."""


class InvalidDocumentError(DocLoRAError):
    """The file cannot be read as a PDF with text (corrupt, empty, encrypted, scanned, ...)."""


class PasswordRequiredError(InvalidDocumentError):
    """The PDF is encrypted and no (or a wrong) password was given."""


class DiskFullError(DocLoRAError):
    """The disk ran out of space while writing the library's files."""


class LibraryError(DocLoRAError):
    """The library's database or folder cannot be used (damaged, read-only, or out of step)."""


class CancelledError(DocLoRAError):
    """The user cancelled an ingestion; nothing was kept."""


class ModelError(DocLoRAError):
    """The model pair is missing, incomplete or does not load."""


class AdapterError(DocLoRAError):
    """An adapter does not fit the active base model or cannot be loaded."""


class ExportError(DocLoRAError):
    """An export format or target is not possible."""


def raise_errors() -> bool:
    """Whether ``DOCLORA_RAISE_ERRORS`` is set: the edges (CLI, window) then re-raise the
    original exception instead of showing its sentence (tests, debugging)."""
    return bool(os.environ.get("DOCLORA_RAISE_ERRORS"))


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says the disk is full: ENOSPC/EDQUOT, SQLite's
    "database or disk is full", or a Rust library's "os error 28" (safetensors)."""
    for _ in range(8):  # a chain is short; the bound guards against a cycle
        if exc is None:
            return False
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc)
        if "database or disk is full" in text or f"os error {errno.ENOSPC}" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


# The DocLoRAError class each converters/hypernet error reaches API callers as; the first
# matching row wins, so subclasses come before their bases.
_BY_CLASS: tuple[tuple[type[Exception], type[DocLoRAError]], ...] = (
    (C.EncryptedPdfError, PasswordRequiredError),
    (C.WrongPasswordError, PasswordRequiredError),
    (C.PdfError, InvalidDocumentError),
    (C.GGUFError, AdapterError),
    (C.ConversionError, ModelError),
    (H.ChunkingError, InvalidDocumentError),
    (H.AdapterFormatError, AdapterError),
    (H.HypernetError, ModelError),
)

FOREIGN_ERRORS = (C.ConversionError, H.HypernetError)  # what ``translated`` turns into ours


@contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise converters/hypernet errors raised in the block as the DocLoRAError of their
    class (``translated``)."""
    try:
        yield
    except FOREIGN_ERRORS as exc:
        raise translated(exc) from exc


def translated(exc: BaseException) -> DocLoRAError | None:
    """The DocLoRAError for a converters/hypernet error (same message, ``exc`` as its cause);
    None for any other exception."""
    for source, target in _BY_CLASS:
        if isinstance(exc, source):
            error = target(str(exc))
            error.__cause__ = exc
            return error
    return None
