"""The llama.cpp source tree matching the installed llama-cpp-python (converter, gguf-py, vocabularies).

The installed wheel lacks `convert_hf_to_gguf.py`; the source distribution on the package index
has it under `vendor/llama.cpp/`. It is fetched once with pip and the parts we use are extracted
into the cache dir (``$DOCLORA_CACHE``, else platformdirs' user cache dir for "doclora"),
atomically (``converters.files``).
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from converters.cache import cache_dir
from converters.errors import ConverterUnavailableError
from converters.files import atomic_write

DIST = "llama-cpp-python"
# Parts of vendor/llama.cpp/ we extract: the converter and its package, its own gguf-py, and the
# vocabulary-only GGUFs + chat templates under models/ (tests use them). The rest (C++ sources,
# docs: ~100 MB) is skipped.
KEEP = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "models/", "LICENSE")
# Environment override: a local llama_cpp_python-<version>.tar.gz to use instead of downloading.
SDIST_ENV = "DOCLORA_LLAMA_CPP_SDIST"


def installed_version() -> str:
    """Version of the installed llama-cpp-python."""
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ConverterUnavailableError("llama-cpp-python is not installed; run `make setup`.") from exc


def cache_root() -> Path:
    """Where extracted llama.cpp sources live (one folder per version)."""
    return cache_dir() / "llama_cpp_src"


def _download_sdist(version: str, dest: Path) -> Path:
    override = os.environ.get(SDIST_ENV)
    if override:
        return Path(override)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"{DIST}=={version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(dest.glob("llama_cpp_python-*.tar.gz"))
    if proc.returncode != 0 or not found:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
        raise ConverterUnavailableError(
            f"Could not download the llama-cpp-python {version} source distribution (needed for the "
            f"model converter): {tail or 'pip gave no reason'}. Connect to the package index once, "
            f"or set {SDIST_ENV} to a local llama_cpp_python-{version}.tar.gz."
        )
    return found[0]


def _extract(sdist: Path, version: str, dest: Path) -> None:
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    try:
        with tarfile.open(sdist) as tar:
            members = [
                m for m in tar.getmembers()
                if m.name.startswith(prefix) and m.name[len(prefix):].startswith(KEEP) and (m.isfile() or m.isdir())
            ]
            if not any(m.name.endswith("convert_hf_to_gguf.py") for m in members):
                raise ConverterUnavailableError(f"{sdist.name} has no vendor/llama.cpp/convert_hf_to_gguf.py.")
            for m in members:
                m.name = m.name[len(prefix):]
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ConverterUnavailableError(f"Cannot unpack {sdist.name} ({exc}); delete it and try again.") from exc


def llama_cpp_source_dir() -> Path:
    """The `vendor/llama.cpp` tree of the installed llama-cpp-python's sdist (fetched once)."""
    version = installed_version()
    target = cache_root() / f"llama_cpp_python-{version}"
    if (target / "convert_hf_to_gguf.py").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        sdist = _download_sdist(version, Path(tmp))
        try:
            atomic_write(target, lambda tree: _extract(sdist, version, tree), replace=False)
        except FileExistsError:
            if not (target / "convert_hf_to_gguf.py").is_file():  # not a concurrent winner: real error
                raise
    return target


def vocab_ggufs() -> dict[str, Path]:
    """Vocabulary-only GGUFs shipped with llama.cpp, by name: {"llama-spm": .../ggml-vocab-llama-spm.gguf}."""
    models = llama_cpp_source_dir() / "models"
    return {p.stem.removeprefix("ggml-vocab-"): p for p in sorted(models.glob("ggml-vocab-*.gguf"))}


def chat_templates_dir() -> Path:
    """llama.cpp's collection of real chat templates (models/templates/*.jinja)."""
    return llama_cpp_source_dir() / "models" / "templates"
