"""Talking to the Hugging Face hub: the only module that goes online, and only inside ``online()``.

Endpoint: ``$HF_ENDPOINT`` (read at call time, so it also works when set after import), else
huggingface_hub's default. Token: huggingface_hub's usual places (``$HF_TOKEN``, ``hf auth login``).
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from app.models.errors import (
    CorruptDownloadError, DownloadError, HubAccessError, InsufficientDiskError)
from app.models.registry import RepoFiles


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repository at a fixed commit, with what the hub says about its content."""

    repo: str
    commit: str
    path: str
    size: int
    sha256: str | None  # LFS files: sha256 of the content
    blob_id: str | None  # regular files: git blob id (sha1 of "blob <size>\0" + content)


def endpoint() -> str:
    """The hub's base URL: ``$HF_ENDPOINT`` if set, else huggingface_hub's default."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


@contextmanager
def online() -> Iterator[None]:
    """Lift huggingface_hub's offline mode for an explicit pull, then restore it."""
    from huggingface_hub import constants
    from huggingface_hub.utils import reset_sessions

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    reset_sessions()  # sessions created while offline refuse every request
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved
        reset_sessions()


def _explain(exc: Exception, repo: str, downloading: bool = False) -> Exception:
    """A hub or network exception as one of our errors with a next step."""
    from huggingface_hub.errors import (
        GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError,
        RevisionNotFoundError, EntryNotFoundError)
    import requests

    page = f"{endpoint()}/{repo}"
    if isinstance(exc, GatedRepoError):
        return HubAccessError(
            f"{repo} is gated and this account has no access yet: accept its licence at {page} "
            "while logged in with the same account as here ('hf auth login' or HF_TOKEN), then "
            "pull again.")
    if isinstance(exc, RepositoryNotFoundError):
        return HubAccessError(
            f"{repo} was not found or needs a token: check the name at {page}, log in with "
            "'hf auth login' (or set HF_TOKEN) and pull again.")
    if isinstance(exc, (RevisionNotFoundError, EntryNotFoundError)):
        return DownloadError(f"{repo} no longer has the expected file or revision ({exc}); "
                             "update DocLoRA or report it.")
    if isinstance(exc, OfflineModeIsEnabled):
        return DownloadError("The hub was not reached because offline mode is on; "
                             "unset HF_HUB_OFFLINE and pull again.")
    if isinstance(exc, HfHubHTTPError):
        return DownloadError(f"The hub answered with an error for {repo} ({exc}); "
                             "try the pull again later.")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return InsufficientDiskError("The disk filled up during the download from "
                                     f"{repo}: free some space and pull again to resume.")
    if isinstance(exc, (requests.RequestException, OSError)) and not downloading:
        return DownloadError(
            f"Could not reach the hub at {endpoint()} for {repo} ({type(exc).__name__}): check "
            "the internet connection (and HF_ENDPOINT, if set), then pull again.")
    if isinstance(exc, (requests.RequestException, OSError)):
        return DownloadError(
            f"The download from {repo} was interrupted ({type(exc).__name__}); run the same "
            "pull again to resume where it stopped.")
    return exc


def list_files(spec: RepoFiles, required: tuple[str, ...], token: str | None = None
               ) -> list[RemoteFile]:
    """The repository's files matching ``spec.patterns`` at the commit ``spec.revision`` names;
    DownloadError when one of the ``required`` patterns matches nothing."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        info = HfApi(endpoint=endpoint(), token=token).model_info(
            spec.repo, revision=spec.revision, files_metadata=True)
    except RevisionNotFoundError as exc:
        raise DownloadError(f"{spec.repo} has no revision '{spec.revision}': check the commit, "
                            "branch or tag given to --revision (or update DocLoRA if you gave "
                            "none).") from exc
    except Exception as exc:
        raise _explain(exc, spec.repo) from exc
    if info.gated and not token:
        raise HubAccessError(
            f"{spec.repo} is gated: accept its licence at {endpoint()}/{spec.repo} while logged "
            "in, then log in here with 'hf auth login' (or set HF_TOKEN) and pull again.")
    wanted = [s for s in info.siblings or []
              if any(fnmatch.fnmatch(s.rfilename, p) for p in spec.patterns)]
    for pattern in required:
        if not any(fnmatch.fnmatch(s.rfilename, pattern) for s in wanted):
            raise DownloadError(f"{spec.repo} has no file matching {pattern} at revision "
                                f"{spec.revision}; update DocLoRA or report it.")
    return [RemoteFile(repo=spec.repo, commit=info.sha, path=s.rfilename,
                       size=(s.lfs.size if s.lfs else s.size) or 0,
                       sha256=s.lfs.sha256 if s.lfs else None, blob_id=s.blob_id)
            for s in wanted]


def download(files: list[RemoteFile], local_dir: Path, token: str | None = None) -> None:
    """Fetch ``files`` into ``local_dir`` (resuming partial files), with tqdm progress bars."""
    from huggingface_hub import hf_hub_download

    for f in files:
        try:
            hf_hub_download(f.repo, f.path, revision=f.commit, local_dir=local_dir, token=token,
                            endpoint=endpoint())
        except Exception as exc:
            raise _explain(exc, f.repo, downloading=True) from exc


def file_digest(path: Path, algorithm: str, prefix: bytes = b"") -> str:
    """Hex digest of ``prefix`` + the file's bytes, read in 8 MiB blocks."""
    h = hashlib.new(algorithm)
    h.update(prefix)
    with path.open("rb") as fh:
        while block := fh.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def verify(files: list[RemoteFile], local_dir: Path, pair_name: str) -> dict[str, str]:
    """Check every file against the hub's hashes; a bad file is deleted (so a retry fetches it
    again) and CorruptDownloadError raised. Returns {"repo/path": sha256} of what arrived."""
    digests = {}
    for f in files:
        path = local_dir / f.path
        size = path.stat().st_size
        sha256 = file_digest(path, "sha256")
        if f.sha256:
            ok = sha256 == f.sha256 and size == f.size
        else:
            ok = f.blob_id is None or file_digest(path, "sha1", b"blob %d\0" % size) == f.blob_id
        if not ok:
            path.unlink()
            raise CorruptDownloadError(
                f"{f.repo}/{f.path} arrived corrupted (its hash does not match the hub's); the "
                f"bad copy was deleted: run 'doclora models pull {pair_name}' again.")
        digests[f"{f.repo}/{f.path}"] = sha256
    return digests
