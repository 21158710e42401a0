"""Errors of model-pair management; every message says what to do next."""

from __future__ import annotations

from app.errors import ModelError


class PairNotFoundError(ModelError):
    """No registered or user-added pair has that name."""


class PairNotInstalledError(ModelError):
    """The pair is known but its files are not (or no longer) on disk."""


class BundledPairError(ModelError):
    """The bundled demo pair cannot be removed or replaced."""


class InsufficientDiskError(ModelError):
    """Not enough free disk space for a pull."""


class HubAccessError(ModelError):
    """The hub refused access (gated or private repository, bad token)."""


class DownloadError(ModelError):
    """The hub could not be reached or a download broke off; pulling again resumes."""


class CorruptDownloadError(ModelError):
    """A downloaded file does not match the hash the hub published for it."""


class IncompatiblePairError(ModelError):
    """The GGUF or hypernetwork does not fit the base model."""
