"""Every file location of DocLoRA, behind one override: ``DOCLORA_HOME``.

The library's layout under ``home_dir()``::

    library.db                      the database (app.library)
    documents/<sha16>-<tag>.pdf     the stored copy of each added file
    adapters/<sha16>/<pair>-<tag>.gguf, .safetensors
                                    a document's adapter per model pair (GGUF for llama.cpp, the
                                    full adapter for PEFT export)
    adapters/composed/*.gguf        compositions of several documents' adapters (app.compose)
    adapters/.staging/<pid>-<rand>/ the files of a write in progress (app.staging)
    models/<pair>/                  installed model pairs (app.models)

``<tag>`` is random per attempt, so a name is never reused while an old file may carry it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

from converters.files import remove_empty_folder

APP_NAME = "doclora"
REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSED, STAGING = "composed", ".staging"  # adapters/ subfolders that are not a document's


def home_dir() -> Path:
    """The library's root folder: ``$DOCLORA_HOME`` or platformdirs' user data dir."""
    env = os.environ.get("DOCLORA_HOME")
    path = Path(env).expanduser() if env else Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def library_db_path() -> Path:
    """The SQLite database of documents, adapters, chats and models."""
    return home_dir() / "library.db"


def _sub(name: str) -> Path:
    path = home_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def adapters_dir() -> Path:
    """Generated adapters (GGUF and safetensors), one subfolder per document."""
    return _sub("adapters")


def documents_dir() -> Path:
    """Copies of the added source files, named by content hash."""
    return _sub("documents")


def adapter_folder(sha256: str) -> Path:
    """A document's adapters (of every pair), named by its content hash."""
    return adapters_dir() / sha256[:16]


def adapter_files(sha256: str, pair: str, tag: str) -> tuple[Path, Path]:
    """A document's adapter for the pair ``pair``: the GGUF, and the full adapter's safetensors."""
    stem = re.sub(r"[^\w.-]", "_", pair) + f"-{tag}"
    folder = adapter_folder(sha256)
    return folder / f"{stem}.gguf", folder / f"{stem}.safetensors"


def source_copy(sha256: str, tag: str) -> Path:
    """The stored copy of an added file."""
    return documents_dir() / f"{sha256[:16]}-{tag}.pdf"


def composed_dir() -> Path:
    """Where compositions of several documents' adapters are cached."""
    return _sub(f"adapters/{COMPOSED}")


def staging_root() -> Path:
    """Staging folders of running writes (one per attempt, named ``<pid>-<random>``)."""
    return _sub(f"adapters/{STAGING}")


def remove_file(path: str | Path) -> None:
    """Delete one of the library's files; a document's adapter folder goes with its last file."""
    path = Path(path)
    path.unlink(missing_ok=True)
    if path.parent.parent == adapters_dir() and path.parent.name not in (COMPOSED, STAGING):
        remove_empty_folder(path.parent)


def models_dir() -> Path:
    """Installed model pairs (base model, chat GGUF, hypernetwork)."""
    return _sub("models")


def assets_dir() -> Path:
    """Files shipped with the project (the bundled demo model pair)."""
    return REPO_ROOT / "assets"


def demo_pair_dir() -> Path:
    """The bundled ``tiny-needle`` pair: ``base/`` (HF folder), ``model.gguf``, ``hypernet/``."""
    return assets_dir() / "tiny-needle"


def smollm2_dir() -> Path:
    """The bundled ``smollm2-135m`` pair: ``hypernet/`` (shipped), ``model.gguf`` and ``base/``
    (built by ``make setup``)."""
    return assets_dir() / "smollm2-135m"
