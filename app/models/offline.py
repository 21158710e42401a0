"""Offline after install: the app calls ``enforce_offline()`` once at start.

Mechanism: huggingface_hub (and transformers through it) refuse every request while
``HF_HUB_OFFLINE=1``. It is read from the environment when huggingface_hub is imported, so this
sets the environment variables and, if the hub library is already imported, also flips
``huggingface_hub.constants.HF_HUB_OFFLINE`` and drops its cached HTTP sessions. Only ``pull``
lifts it again, for its own duration (``app.models.hub.online``).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.library import Library

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def enforce_offline(library: Library) -> bool:
    """Switch the hub libraries to offline mode when the library's active pair is installed (the
    demo pair always is); returns whether offline mode is now on."""
    from app.models.catalog import active_pair
    from app.models.errors import ModelError

    try:
        active_pair(library)
    except ModelError:
        return False  # the user still has to pull the chosen pair; keep the hub reachable
    for var in OFFLINE_VARS:
        os.environ[var] = "1"
    if "huggingface_hub" in sys.modules:
        from huggingface_hub import constants
        from huggingface_hub.utils import reset_sessions

        constants.HF_HUB_OFFLINE = True
        reset_sessions()
    return True
