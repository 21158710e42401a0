"""Typed errors of the hypernet package; messages say what to do next."""

from __future__ import annotations


class HypernetError(Exception):
    """Base class of every error raised by the hypernet package."""


class UnsafeCheckpointError(HypernetError):
    """The checkpoint pickles a class outside the allow-list; it was not executed."""


class CheckpointFormatError(HypernetError):
    """The checkpoint is missing, truncated or not a D2L hypernetwork checkpoint."""


class BaseModelMismatchError(HypernetError):
    """The hypernetwork was trained for a different base model than the one given."""


class BaseModelNotFoundError(HypernetError):
    """The base model could not be found locally (and could not be downloaded)."""


class AdapterFormatError(HypernetError):
    """The file is not a DocLoRA adapter (or is damaged)."""


class ChunkingError(HypernetError):
    """The document cannot be wrapped or chunked with the base model's tokenizer."""
