"""Installing pairs: ``pull`` (hub -> staging -> verified -> renamed into place) and ``add``.

A pull stages everything in ``models_dir()/.staging/<name>`` and renames it to
``models_dir()/<name>`` only after every check passed, so a failed or interrupted pull never
leaves a half pair installed; the staging folder keeps finished and partial downloads, so running
the same pull again resumes instead of starting over.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from filelock import FileLock, Timeout

from app.models import hub, verify
from app.models.catalog import GGUF_NAME, get_pair, install_dir, use_pair
from app.models.errors import (
    BundledPairError, DownloadError, IncompatiblePairError, PairNotFoundError)
from app.models.pair import Pair
from app.models.registry import BUNDLED_NAMES, QUANTS, PairSpec, RepoFiles, load_specs
from app.paths import models_dir
from converters.files import place

if TYPE_CHECKING:
    from app.library import Library

# progress(stage, done, total): stages "download" (bytes), "convert", "verify", "install".
Progress = Callable[[str, int, int], None]
MARGIN = 1.05  # free-space head room over the computed need


def staging_dir(name: str) -> Path:
    """Where a pull of ``name`` collects its files before they are installed."""
    return models_dir() / ".staging" / name


def _folder_bytes(folder: Path) -> int:
    """Bytes under ``folder``; files renamed or deleted while counting are skipped."""
    total = 0
    for root, _, names in os.walk(folder):  # os.walk ignores folders that vanish meanwhile
        for name in names:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


class _DownloadWatcher:
    """Reports the staging folder's growth (partial files included) as download progress."""

    def __init__(self, folder: Path, total: int, progress: Progress | None) -> None:
        self.folder, self.total, self.progress = folder, total, progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.progress("download", min(_folder_bytes(self.folder), self.total), self.total)

    def __enter__(self) -> _DownloadWatcher:
        if self.progress:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.progress:
            self._thread.join()


PARTS = ("base", "hypernet", "gguf")  # the repositories of a pair, as --revision names them


def _spec_for(name: str, quant: str | None, gguf_from: str | None,
              revisions: dict[str, str] | None = None) -> PairSpec:
    specs = load_specs()
    if name in BUNDLED_NAMES:
        raise BundledPairError(f"'{name}' is bundled with DocLoRA and needs no download.")
    if name not in specs:
        raise PairNotFoundError(f"There is no downloadable pair named '{name}'; choose one of: "
                                f"{', '.join(specs)}.")
    spec = specs[name]
    if quant is not None:
        if quant not in QUANTS:
            raise IncompatiblePairError(f"Unknown quantisation '{quant}'; use one of {', '.join(QUANTS)}.")
        spec = replace(spec, quant=quant)
    if gguf_from:
        repo, sep, file = gguf_from.partition(":")
        if not sep or not file.endswith(".gguf"):
            raise IncompatiblePairError("--gguf-from takes REPO:FILE.gguf, e.g. "
                                        "'someone/Model-GGUF:model-Q4_K_M.gguf'.")
        spec = replace(spec, gguf_method="download",
                       gguf=RepoFiles(repo=repo, revision="main", patterns=(file,)))
    for part, rev in (revisions or {}).items():
        if part not in PARTS or (part == "gguf" and spec.gguf is None):
            raise IncompatiblePairError(
                f"--revision takes PART=REV with PART one of base, hypernet{', gguf' if spec.gguf else ''}; "
                f"got '{part}'.")
        spec = replace(spec, **{part: replace(getattr(spec, part), revision=rev)})
    return spec


def _needed_bytes(base: list[hub.RemoteFile], others: list[hub.RemoteFile], spec: PairSpec,
                  staged: int) -> int:
    download = sum(f.size for f in base + others)
    weights = sum(f.size for f in base if f.path.endswith(".safetensors"))
    # Converting writes an F16 GGUF (<= the bf16/f32 weights) and then the quantised copy.
    convert = 2 * weights if spec.gguf_method == "convert" else 0
    return int((max(download - staged, 0) + convert) * MARGIN)


def _make_gguf(spec: PairSpec, stage: Path, gguf_files: list[hub.RemoteFile],
               progress: Progress | None) -> Path:
    """The chat GGUF in the staging folder: converted from the base, or the downloaded one."""
    out = stage / GGUF_NAME
    if spec.gguf_method == "download":
        place(stage / "gguf" / gguf_files[0].path, out)
        shutil.rmtree(stage / "gguf")
        return out
    from converters import hf_to_gguf, quantize
    from converters.errors import ConversionError

    if progress:
        progress("convert", 0, 2)
    f16 = stage / "model-f16.gguf.tmp"
    try:
        hf_to_gguf(stage / "base", f16, outtype="f16")
        if progress:
            progress("convert", 1, 2)
        if spec.quant == "F16":
            place(f16, out)
        else:
            quantize(f16, out, spec.quant)
    except ConversionError as exc:
        raise IncompatiblePairError(f"Converting {spec.base.repo} to GGUF failed: {exc}") from exc
    finally:
        f16.unlink(missing_ok=True)
    if progress:
        progress("convert", 2, 2)
    return out


def _prune(folder: Path, files: list[hub.RemoteFile]) -> None:
    """Delete files left in ``folder`` by an earlier pull that the listing no longer names."""
    keep = {folder / f.path for f in files}
    for path in list(folder.rglob("*")) if folder.exists() else []:
        if path.is_file() and path not in keep and ".cache" not in path.relative_to(folder).parts:
            path.unlink()


def _move_into_place(stage: Path, target: Path) -> None:
    """Rename the staged pair to its final folder (replacing an older install atomically)."""
    for leftover in stage.rglob(".cache"):  # huggingface_hub's resume bookkeeping
        shutil.rmtree(leftover, ignore_errors=True)
    place(stage, target)


def pull(library: Library, name: str, quant: str | None = None, gguf_from: str | None = None,
         force: bool = False, use: bool = True, progress: Progress | None = None,
         revisions: dict[str, str] | None = None) -> Pair:
    """Download, verify and install a registry pair, recorded in ``library``; offline afterwards.

    Already installed (and not ``force``): returns at once without any network access.
    ``quant``: Q4_K_M (default), Q8_0 or F16 for the locally converted chat GGUF; ``gguf_from``:
    ``REPO:FILE`` of an existing GGUF of the same weights instead of converting;
    ``revisions``: {"base"|"hypernet"|"gguf": commit, branch or tag} pins those repositories.
    """
    spec = _spec_for(name, quant, gguf_from, revisions)
    current = get_pair(library, name)
    if current.installed and not force:
        if use:
            library.set_active_pair(name)
            current.active = True
        return current
    stage = staging_dir(name)
    stage.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(stage.with_name(f"{name}.lock"), timeout=0):
            return _pull_locked(library, spec, stage, force, use, progress)
    except Timeout:
        raise DownloadError(f"Another pull of {name} is already running; wait for it to "
                            "finish.") from None


def _pull_locked(library: Library, spec: PairSpec, stage: Path, force: bool, use: bool,
                 progress: Progress | None) -> Pair:
    """The pull itself, while holding the pair's lock."""
    name = spec.name
    if not force and get_pair(library, name).installed:  # another process finished it meanwhile
        return use_pair(library, name) if use else get_pair(library, name)
    stage.mkdir(parents=True, exist_ok=True)
    with hub.online():
        from huggingface_hub import get_token

        token = get_token()
        base = hub.list_files(spec.base, ("config.json", "*.safetensors"), token)
        hyper = hub.list_files(spec.hypernet, spec.hypernet.patterns, token)
        gguf = hub.list_files(spec.gguf, spec.gguf.patterns, token) if spec.gguf else []
        _check_unchanged(base + hyper + gguf, get_pair(library, name).source.get("files", {}), name)
        verify.check_free_space(models_dir(), _needed_bytes(base, hyper + gguf, spec,
                                                            _folder_bytes(stage)), name)
        parts = [(base, stage / "base"), (hyper, stage / "hypernet"), (gguf, stage / "gguf")]
        total = sum(f.size for f in base + hyper + gguf)
        with _DownloadWatcher(stage, total, progress):
            for files, folder in parts:
                hub.download(files, folder, token)
    if progress:
        progress("download", total, total)
        progress("verify", 0, 1)
    digests = {}
    for files, folder in parts:
        _prune(folder, files)
        digests.update(hub.verify(files, folder, name))
    # the checkpoint must load before anything is converted or installed
    verify.check_hypernet_file(stage / "hypernet" / spec.hypernet_file, stage / "base",
                               f"{spec.hypernet.repo}/{spec.hypernet_file}")
    gguf_path = _make_gguf(spec, stage, gguf, progress)
    try:
        verify.check_gguf(gguf_path, stage / "base")
    except IncompatiblePairError:
        gguf_path.unlink()  # a retry must fetch or convert it again
        raise
    if progress:
        progress("verify", 1, 1)
    target = install_dir(name)
    source = {
        "kind": "hub",
        "base": {"repo": spec.base.repo, "revision": spec.base.revision, "commit": base[0].commit},
        "hypernet": {"repo": spec.hypernet.repo, "revision": spec.hypernet.revision,
                     "commit": hyper[0].commit, "file": spec.hypernet_file},
        "gguf": ({"method": "download", "repo": spec.gguf.repo, "revision": spec.gguf.revision,
                  "commit": gguf[0].commit, "file": gguf[0].path} if spec.gguf else
                 {"method": "convert", "quant": spec.quant}),
        "files": {f"{f.repo}/{f.path}": {"commit": f.commit, "sha256": digests[f"{f.repo}/{f.path}"],
                                         "blob_id": None if f.sha256 else f.blob_id}
                  for f in base + hyper + gguf},
    }
    _move_into_place(stage, target)
    library.record_pair(name, target / "base", target / GGUF_NAME,
                        target / "hypernet" / spec.hypernet_file, source, active=use)
    if progress:
        progress("install", 1, 1)
    return get_pair(library, name)


def _check_unchanged(files: list[hub.RemoteFile], recorded: dict[str, dict], name: str) -> None:
    """DownloadError when the hub lists a file of the installed pair at the commit it was
    installed from, but with another hash: a commit's content cannot change, so the hub (or a
    mirror) is not serving what it served before."""
    for f in files:
        was = recorded.get(f"{f.repo}/{f.path}")
        if was is None or was["commit"] != f.commit:
            continue
        changed = f.sha256 != was["sha256"] if f.sha256 else f.blob_id != was.get("blob_id")
        if changed:
            raise DownloadError(
                f"{f.repo}/{f.path} now has another hash at the same commit {f.commit[:12]} than when "
                f"{name} was installed, so the pull stopped and the installed files were kept: check "
                "HF_ENDPOINT (or the mirror it names) before pulling again.")


def add_pair(library: Library, name: str, base_dir: Path, gguf: Path, hypernet: Path,
             use: bool = False) -> Pair:
    """Record a user's own pair in ``library`` (files stay where they are) after checking that
    the GGUF and the hypernetwork both fit the base model."""
    if name in BUNDLED_NAMES or name in load_specs():
        raise IncompatiblePairError(f"'{name}' is the name of a registry pair; choose another name.")
    base_dir, gguf, hypernet = (Path(p).expanduser().resolve() for p in (base_dir, gguf, hypernet))
    if not hypernet.exists():
        raise IncompatiblePairError(f"Hypernetwork checkpoint not found: {hypernet}; check the path.")
    verify.check_gguf(gguf, base_dir)
    verify.check_hypernet(hypernet, base_dir)
    library.record_pair(name, base_dir, gguf, hypernet, {"kind": "user"}, active=use)
    return get_pair(library, name)
