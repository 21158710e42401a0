"""Where converters keep re-creatable files (llama.cpp sources, the host's llama.cpp decision)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

CACHE_ENV = "DOCLORA_CACHE"


def cache_dir() -> Path:
    """``$DOCLORA_CACHE``, else platformdirs' user cache dir for "doclora" (created)."""
    env = os.environ.get(CACHE_ENV)
    path = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("doclora"))
    path.mkdir(parents=True, exist_ok=True)
    return path
