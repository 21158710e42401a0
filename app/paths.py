"""Every file location of DocLoRA, behind one override: ``DOCLORA_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "doclora"
REPO_ROOT = Path(__file__).resolve().parent.parent


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
