"""Typed errors of the converters package; every message says what to do next."""

from __future__ import annotations


class ConversionError(Exception):
    """Base class of every error raised by converters/."""


class PdfError(ConversionError):
    """A PDF could not be turned into text."""


class EmptyFileError(PdfError):
    """The file has zero bytes."""


class NotAPdfError(PdfError):
    """The file is not a PDF (whatever its name says)."""


class CorruptPdfError(PdfError):
    """The file claims to be a PDF but cannot be parsed."""


class EncryptedPdfError(PdfError):
    """The PDF is password-protected and no password was given."""


class WrongPasswordError(PdfError):
    """The PDF is password-protected and the given password is wrong."""


class NoTextError(PdfError):
    """The PDF has no extractable text (scanned or image-only pages)."""


class TooManyPagesError(PdfError):
    """The PDF has more pages than the allowed maximum, or a page more text than a page shows."""


class FileVanishedError(PdfError):
    """The file disappeared or became unreadable while it was being read."""


class GGUFError(ConversionError):
    """A GGUF file is missing, unreadable or not what was expected."""


class AdapterMismatchError(GGUFError):
    """A LoRA adapter does not fit the base model's tensors."""


class AdapterLoadError(GGUFError):
    """llama.cpp refused to load a LoRA adapter file."""


class ConverterUnavailableError(ConversionError):
    """llama.cpp's converter (from the llama-cpp-python source distribution) cannot be obtained."""


class LlamaHostError(ConversionError):
    """llama.cpp crashes on this computer's CPU with quantized models, even on its safe path."""
